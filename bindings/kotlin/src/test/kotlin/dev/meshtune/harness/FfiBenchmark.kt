package dev.meshtune.harness

import dev.meshtune.MeshTuneFastPath
import dev.meshtune.MetricSample
import dev.meshtune.OptimizerConfig
import dev.meshtune.OptimizerException
import dev.meshtune.fastRecorder
import dev.meshtune.ffiFloor
import dev.meshtune.startOptimizer
import dev.meshtune.use
import org.junit.jupiter.api.Tag
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout

/**
 * The cost of a call from Kotlin through the generated bindings (JNA direct mapping), in one run:
 *   (a) ffiFloor(): an empty exported Rust function, the floor of any call;
 *   (b) record(MessageDelivered): lowering the sample into a RustBuffer (itself one FFI call to
 *       allocate it), the call, validation and the push into the ingestion buffer;
 *   (c) recordBatch(100 samples), per sample;
 *   (d) for the breakdown: allocating the JNA Structure (UniffiRustCallStatus) that the
 *       generated code creates for every call, without any call.
 * and the hand-written fast path (FastRecorder, src/fastpath.rs; since ADR 7 its (f)-(h) go over JNI
 * when the library has it, FastPathTransportBenchmark compares the two transports), in the same run:
 *   (e) the JNA direct-mapping floor: meshtune_fast_abi_version(), an exported Rust function
 *       that returns a constant, called with no argument and no allocation;
 *   (f) FastRecorder.record(MessageDelivered): the same prebuilt sample object as (b);
 *   (g) FastRecorder.recordDelivered(latency, hops, bytes): the primitive overload;
 *   (h) FastRecorder.recordBatch(the same 100 samples as (c)), per sample.
 * Median ns per call over the measured rounds, after warm-up rounds for the JIT.
 *
 * Not part of the test run (tag "bench"):  mvn -B -f bindings/kotlin/pom.xml -Pbench test
 * (or scripts/test-kotlin.sh bench, which generates the bindings first).
 */
@Tag("bench")
class FfiBenchmark {

    private val warmupNanos = 2_000_000_000L // JIT warm-up: 2 s of calls
    private val roundNanos = 200_000_000L // each measured round runs for about 200 ms
    private val rounds = 15

    /**
     * Warms up for [warmupNanos], sizes a round from the warm-up's last second, then runs
     * [rounds] measured rounds; returns the median in ns per unit (call, or sample of a batch).
     */
    private inline fun measure(name: String, unitsPerCall: Int = 1, block: () -> Unit): Double {
        val start = System.nanoTime()
        var lateCalls = 0L
        while (true) {
            for (i in 0 until 100) block()
            val elapsed = System.nanoTime() - start
            if (elapsed > warmupNanos / 2) lateCalls += 100
            if (elapsed >= warmupNanos) break
        }
        val calls = maxOf(100L, lateCalls * roundNanos / (warmupNanos / 2)).toInt()
        val perUnit = DoubleArray(rounds)
        for (r in 0 until rounds) {
            val t0 = System.nanoTime()
            for (i in 0 until calls) block()
            perUnit[r] = (System.nanoTime() - t0).toDouble() / (calls.toDouble() * unitsPerCall)
        }
        perUnit.sort()
        val median = perUnit[rounds / 2]
        println(
            String.format(
                "%-36s median %9.1f ns  (min %9.1f, max %9.1f; %d rounds of %d calls, after %d ms of warm-up)",
                name,
                median,
                perUnit.first(),
                perUnit.last(),
                rounds,
                calls,
                warmupNanos / 1_000_000,
            ),
        )
        return median
    }

    @Test
    @Timeout(600)
    fun `ffi floor, record, recordBatch`() {
        // The largest ingestion buffer allowed, so that calls are measured rather than drops;
        // Overloaded is caught and counted anyway. Default ticks (1 s).
        val config = OptimizerConfig(sampleProcess = false, sampleQueueCapacity = 16_777_216u)
        startOptimizer(config, RecordingListener()).use { optimizer ->
            var overloaded = 0L
            val sample = MetricSample.MessageDelivered(latencyMs = 42.0, hops = 2u, bytes = 100u)
            val batch = List(100) { MetricSample.MessageDelivered(latencyMs = 40.0 + it, hops = 2u, bytes = 100u) }

            println("MeshTune FFI benchmark (Kotlin ${KotlinVersion.CURRENT}, JVM ${System.getProperty("java.vm.version")}, JNA ${com.sun.jna.Native.VERSION})")
            val floor = measure("(a) ffiFloor()") { ffiFloor() }
            val one = measure("(b) record(MessageDelivered)") {
                try {
                    optimizer.record(sample)
                } catch (e: OptimizerException.Overloaded) {
                    overloaded++
                }
            }
            val batched = measure("(c) recordBatch(100), per sample", unitsPerCall = 100) {
                try {
                    optimizer.recordBatch(batch)
                } catch (e: OptimizerException.Overloaded) {
                    overloaded += 100
                }
            }
            val status = measure("(d) UniffiRustCallStatus() alone") { dev.meshtune.UniffiRustCallStatus() }

            val fast = optimizer.fastRecorder()
            var abi = 0
            val directFloor = measure("(e) JNA direct floor (fast_abi_version)") { abi += MeshTuneFastPath.meshtune_fast_abi_version() }
            val fastOne = measure("(f) FastRecorder.record(MessageDelivered)") {
                try {
                    fast.record(sample)
                } catch (e: OptimizerException.Overloaded) {
                    overloaded++
                }
            }
            var latency = 40.0
            val fastPrimitive = measure("(g) FastRecorder.recordDelivered(..)") {
                latency = if (latency > 200.0) 40.0 else latency + 1.0
                try {
                    fast.recordDelivered(latency, 2u, 100u)
                } catch (e: OptimizerException.Overloaded) {
                    overloaded++
                }
            }
            val fastBatched = measure("(h) FastRecorder.recordBatch(100), per sample", unitsPerCall = 100) {
                try {
                    fast.recordBatch(batch)
                } catch (e: OptimizerException.Overloaded) {
                    overloaded += 100
                }
            }
            check(abi != 0)
            val c = optimizer.snapshot().counters
            assertCountersBalance(c)
            println(
                "samples offered ${c.samplesOffered}, accepted ${c.samplesAccepted}, dropped (Overloaded) ${c.samplesDropped} (caught: $overloaded), rejected ${c.samplesRejected}",
            )
            println(
                String.format(
                    "summary (generated API): floor %.0f ns, record %.0f ns (target <= 1000), batched %.1f ns/sample (target <= 100); JNA status struct alone %.0f ns",
                    floor,
                    one,
                    batched,
                    status,
                ),
            )
            println(
                String.format(
                    "summary (FastRecorder): JNA direct floor %.0f ns, record %.0f ns, recordDelivered %.0f ns (target <= 1000), batched %.1f ns/sample (target <= 100)",
                    directFloor,
                    fastOne,
                    fastPrimitive,
                    fastBatched,
                ),
            )
        }
    }

    /**
     * What the BLE coordinator costs per raw event through the generated calls (the Android and
     * iOS ScanDriver call these on every scan result): a re-sighting of one of 64 present
     * peers, a re-sighting at 4 096 peers (each also through [dev.meshtune.FastScanResults],
     * the Android ScanDriver's path), and a `step` of the schedule. Time advances by 1 ms a
     * call, so a million calls span about 17 minutes of coordinator time.
     */
    @Test
    @Timeout(600)
    fun `ble coordinator scanResult and step`() {
        println("MeshTune BLE coordinator benchmark (generated calls, JNA ${com.sun.jna.Native.VERSION})")
        for (peers in listOf(64, 4_096)) {
            val c = dev.meshtune.BleCoordinator(dev.meshtune.BleRules())
            var now = 0uL
            c.setPlan(dev.meshtune.OptimizationAction.SetScanMode(dev.meshtune.ScanMode.LOW_LATENCY, 10_000u, 0u), now)
            c.scanStarted(dev.meshtune.ScanMode.LOW_LATENCY, now)
            val ids = List(peers) { "AA:BB:CC:%02X:%02X:%02X".format(it shr 16 and 0xff, it shr 8 and 0xff, it and 0xff) }
            ids.forEach { c.scanResult(it, now) }
            var i = 0
            measure("scanResult, re-sighting of $peers peers") {
                now += 1uL
                c.scanResult(ids[i], now)
                i = if (i + 1 == peers) 0 else i + 1
            }
            check(c.stats(now).discoveries == peers.toULong()) { "re-sightings counted as discoveries" }
            // The same through FastScanResults (JNI; ScanDriver's path): a re-sighting is one call.
            val fast = dev.meshtune.FastScanResults(c)
            check(fast.jni) { "the benchmark's library has the JNI entry points" }
            var updates = 0L
            measure("FastScanResults, re-sighting of $peers") {
                now += 1uL
                if (fast.scanResult(ids[i], now) != null) updates++
                i = if (i + 1 == peers) 0 else i + 1
            }
            check(c.stats(now).discoveries == peers.toULong()) { "re-sightings counted as discoveries" }
            println("  ($updates of the fast calls had an update to follow)")
        }
        val c = dev.meshtune.BleCoordinator(dev.meshtune.BleRules())
        var now = 0uL
        c.setPlan(dev.meshtune.OptimizationAction.SetScanMode(dev.meshtune.ScanMode.BALANCED, 8_000u, 2_000u), now)
        measure("step (schedule, quota)") {
            now += 1uL
            c.step(now)
        }
    }
}

package dev.meshtune.harness

import dev.meshtune.FastRecorder
import dev.meshtune.MeshTuneFastPath
import dev.meshtune.MeshTuneJni
import dev.meshtune.MetricSample
import dev.meshtune.OptimizerConfig
import dev.meshtune.OptimizerException
import dev.meshtune.PerformanceOptimizer
import dev.meshtune.ffiFloor
import dev.meshtune.startOptimizer
import dev.meshtune.use
import org.junit.jupiter.api.Tag
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout
import java.io.File

/**
 * The three ways into the library from Kotlin, interleaved in one JVM (ADR 7): the generated
 * uniffi/JNA calls, and [FastRecorder] over each of its two transports: forced onto JNA direct
 * mapping to the C functions of src/fastpath.rs, and over JNI native methods
 * (src/fastpath/jni.rs), the same Kotlin code but for the call itself. Each
 * round runs every variant once, for about [roundNanos], in an order that rotates from round to
 * round, so that a noisy neighbour, a GC or a tick of the optimizer's loop falls on all of them
 * alike; the figures are the distribution over [rounds] rounds (ns per sample), and for the two
 * fast paths the ratio JNA / JNI within each round.
 *
 * Not part of the test run (tag "bench"):
 *   mvn -B -f bindings/kotlin/pom.xml -Pbench -Dtest=FastPathTransportBenchmark test
 * against a library built with the `jni-fastpath` feature (scripts/test-kotlin.sh builds it so).
 */
@Tag("bench")
class FastPathTransportBenchmark {

    private val warmupPasses = 6
    private val roundNanos = 60_000_000L // each variant runs for about 60 ms per round
    private val rounds = 31

    private class Variant(val label: String, val unitsPerCall: Int)

    private val variants = listOf(
        Variant("floor: generated ffiFloor()", 1),
        Variant("floor: JNA direct (fast_abi_version)", 1),
        Variant("floor: JNI (MeshTuneJni.abiVersion)", 1),
        Variant("record(MessageDelivered): generated", 1),
        Variant("record(MessageDelivered): FastRecorder/JNA", 1),
        Variant("record(MessageDelivered): JNI", 1),
        Variant("recordDelivered(..): FastRecorder/JNA", 1),
        Variant("recordDelivered(..): JNI", 1),
        Variant("recordBatch(100)/sample: generated", 100),
        Variant("recordBatch(100)/sample: FastRecorder/JNA", 100),
        Variant("recordBatch(100)/sample: JNI", 100),
        // The transport alone, for a batch: the raw call with the three arrays of 100 samples,
        // refused at the first sample (code 99, BAD_CODE) after the arrays were handed over, so
        // nothing is ingested: JNA copies the arrays into native memory, JNI reads them in place.
        Variant("batch(100) handed over, refused/sample: JNA raw", 100),
        Variant("batch(100) handed over, refused/sample: JNI raw", 100),
    )

    /** Variants measured side by side: each pair runs the same number of calls per round. */
    private val pairs = listOf(1 to 2, 4 to 5, 6 to 7, 9 to 10, 11 to 12)

    private lateinit var optimizer: PerformanceOptimizer
    private lateinit var jna: FastRecorder
    private lateinit var jni: FastRecorder
    private val sample = MetricSample.MessageDelivered(latencyMs = 42.0, hops = 2u, bytes = 100u)
    private val batch = List(100) { MetricSample.MessageDelivered(latencyMs = 40.0 + it, hops = 2u, bytes = 100u) }
    private var latency = 40.0
    private var sink = 0L
    private var overloaded = 0L
    private var h = 0L
    private val badCodes = IntArray(100) { 99 }
    private val rawDoubles = DoubleArray(300) { 20.0 }
    private val rawLongs = LongArray(200) { 1L }

    private fun nextLatency(): Double {
        latency = if (latency > 200.0) 40.0 else latency + 1.0
        return latency
    }

    /** Calls [body] [calls] times; an Overloaded (a counted drop) is counted here too. */
    private inline fun loop(calls: Int, body: () -> Unit) {
        repeat(calls) {
            try {
                body()
            } catch (e: OptimizerException.Overloaded) {
                overloaded++
            }
        }
    }

    /** Runs variant [v] [calls] times; each branch is its own loop, so no dispatch is timed. */
    private fun run(v: Int, calls: Int) {
        when (v) {
            0 -> loop(calls) { ffiFloor() }
            1 -> loop(calls) { sink += MeshTuneFastPath.meshtune_fast_abi_version() }
            2 -> loop(calls) { sink += MeshTuneJni.abiVersion() }
            3 -> loop(calls) { optimizer.record(sample) }
            4 -> loop(calls) { jna.record(sample) }
            5 -> loop(calls) { jni.record(sample) }
            6 -> loop(calls) { jna.recordDelivered(nextLatency(), 2u, 100u) }
            7 -> loop(calls) { jni.recordDelivered(nextLatency(), 2u, 100u) }
            8 -> loop(calls) { optimizer.recordBatch(batch) }
            9 -> loop(calls) { jna.recordBatch(batch) }
            10 -> loop(calls) { jni.recordBatch(batch) }
            11 -> loop(calls) { sink += MeshTuneFastPath.meshtune_fast_record_batch(h, 100, badCodes, rawDoubles, rawLongs) }
            12 -> loop(calls) { sink += MeshTuneJni.recordBatch(h, 100, badCodes, rawDoubles, rawLongs) }
            else -> error("variant $v")
        }
    }

    private fun load(): String = File("/proc/loadavg").readText().trim().split(" ").take(3).joinToString(" ")

    private fun percentile(sorted: DoubleArray, p: Double): Double = sorted[((sorted.size - 1) * p).toInt()]

    @Test
    @Timeout(900)
    fun `generated, JNA direct and JNI, interleaved`() {
        // The largest ingestion buffer allowed, so that calls are measured rather than drops.
        val config = OptimizerConfig(sampleProcess = false, sampleQueueCapacity = 16_777_216u)
        startOptimizer(config, RecordingListener()).use { o ->
            optimizer = o
            jna = FastRecorder(o, viaJni = false)
            jni = FastRecorder(o, viaJni = true)
            check(!jna.jni && jni.jni) { "the library has no JNI entry points: build it with --features jni-fastpath" }
            h = o.fastPathHandle().toLong()
            check(MeshTuneJni.recordBatch(h, 100, badCodes, rawDoubles, rawLongs) == MeshTuneFastPath.BAD_CODE)
            check(MeshTuneFastPath.meshtune_fast_record_batch(h, 100, badCodes, rawDoubles, rawLongs) == MeshTuneFastPath.BAD_CODE)
            println(
                "MeshTune fast-path transports (Kotlin ${KotlinVersion.CURRENT}, JVM ${System.getProperty(
                    "java.vm.version",
                )}, JNA ${com.sun.jna.Native.VERSION}); load at start: ${load()}",
            )

            // Warm-up, interleaved too: every variant for about roundNanos per pass. The last
            // pass's rate sizes the measured rounds.
            val calls = IntArray(variants.size) { 16 }
            repeat(warmupPasses) {
                for (v in variants.indices) {
                    var done = 0L
                    val t0 = System.nanoTime()
                    while (System.nanoTime() - t0 < roundNanos) {
                        run(v, calls[v])
                        done += calls[v]
                    }
                    val perCall = (System.nanoTime() - t0).toDouble() / done
                    calls[v] = maxOf(1, (roundNanos / perCall).toInt())
                }
            }
            // A pair runs the same calls (the slower one's count): the same samples reach the
            // optimizer's loop, which drains them on the other core, in either variant's rounds.
            for ((a, b) in pairs) {
                val n = minOf(calls[a], calls[b])
                calls[a] = n
                calls[b] = n
            }

            val ns = Array(variants.size) { DoubleArray(rounds) }
            val overloadedBefore = overloaded
            for (r in 0 until rounds) {
                for (k in variants.indices) {
                    val v = (k + r) % variants.size
                    val t0 = System.nanoTime()
                    run(v, calls[v])
                    ns[v][r] = (System.nanoTime() - t0).toDouble() / (calls[v].toDouble() * variants[v].unitsPerCall)
                }
            }
            check(sink != 0L)

            println(
                "$rounds rounds, each variant about ${roundNanos / 1_000_000} ms per round (a pair: the slower one's count), order rotated per round; ns per sample (per call for floors)",
            )
            println(String.format("%-50s %9s %9s %9s %9s %9s  %s", "variant", "median", "p25", "p75", "min", "max", "calls/round"))
            for (v in variants.indices) {
                val s = ns[v].copyOf().also { it.sort() }
                println(
                    String.format(
                        "%-50s %9.1f %9.1f %9.1f %9.1f %9.1f  %d",
                        variants[v].label,
                        percentile(s, 0.5),
                        percentile(s, 0.25),
                        percentile(s, 0.75),
                        s.first(),
                        s.last(),
                        calls[v],
                    ),
                )
            }
            // Within-round ratios: the two fast paths side by side in the same round.
            for ((a, b) in pairs + listOf(3 to 5, 8 to 10)) {
                val ratio = DoubleArray(rounds) { ns[a][it] / ns[b][it] }.also { it.sort() }
                println(
                    String.format(
                        "ratio %-38s median %6.2f  (p25 %6.2f, p75 %6.2f, min %6.2f, max %6.2f)",
                        "${variants[a].label.substringAfter(": ")} / ${variants[b].label.substringAfter(": ")} [${variants[a].label.substringBefore(":")}]",
                        percentile(ratio, 0.5),
                        percentile(ratio, 0.25),
                        percentile(ratio, 0.75),
                        ratio.first(),
                        ratio.last(),
                    ),
                )
            }
            val c = o.snapshot().counters
            assertCountersBalance(c)
            println(
                "Overloaded (counted drops) during the measured rounds: ${overloaded - overloadedBefore}; counters: offered ${c.samplesOffered}, accepted ${c.samplesAccepted}, dropped ${c.samplesDropped}, rejected ${c.samplesRejected}",
            )
            println("load at end: ${load()}")
            o.stop()
        }
    }
}

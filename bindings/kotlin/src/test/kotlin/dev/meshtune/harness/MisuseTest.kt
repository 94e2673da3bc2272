package dev.meshtune.harness

import dev.meshtune.ActionEvent
import dev.meshtune.ActionListener
import dev.meshtune.FfiConverterString
import dev.meshtune.MetricSample
import dev.meshtune.OptimizerException
import dev.meshtune.OptimizerSnapshot
import dev.meshtune.OutcomeEvent
import dev.meshtune.PerformanceOptimizer
import dev.meshtune.RustBuffer
import dev.meshtune.ThermalState
import dev.meshtune.UniffiLib
import dev.meshtune.UniffiRustCallStatus
import dev.meshtune.fastRecorder
import dev.meshtune.startOptimizer
import dev.meshtune.use
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout
import java.lang.ref.WeakReference
import java.util.concurrent.CountDownLatch
import java.util.concurrent.CyclicBarrier
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicReference
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertTrue

/**
 * The API as a careless app developer uses it (issue 6): calls after stop, stop and close from
 * inside the listener, huge batches, extreme numbers in every field, unknown action ids, a
 * listener the app forgot, a listener that blocks. Every answer is a typed exception or a
 * documented value; nothing crashes or hangs (every test has a hard timeout, and a deadlock
 * would fail it instead of hanging the suite). What the existing tests already cover (one stop
 * from inside the listener, a throwing listener, use after stop) is extended here, not repeated.
 */
class MisuseTest {

    // --- calls after stop ---------------------------------------------------------------------

    @Test
    @Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    fun `after stop from 4 threads at once, every call answers Stopped or its documented value and changes no counter`() {
        val optimizer = startOptimizer(fastConfig(), RecordingListener())
        optimizer.recordBatch(List(10) { slowDelivery() })
        val fastBefore = optimizer.fastRecorder()

        // Four threads stop at once (stop is idempotent and thread-safe).
        val gate = CyclicBarrier(4)
        val stoppers = List(4) {
            Thread {
                gate.await()
                optimizer.stop()
            }.apply { start() }
        }
        stoppers.forEach { it.join(20_000) }
        assertTrue(stoppers.none { it.isAlive }, "a concurrent stop() did not return")
        assertTrue(optimizer.isStopped())
        val counters = optimizer.snapshot().counters

        assertFailsWith<OptimizerException.Stopped> { optimizer.recordBatch(emptyList()) }
        assertFailsWith<OptimizerException.Stopped> { optimizer.recordBatch(List(100_000) { slowDelivery() }) }
        assertFailsWith<OptimizerException.Stopped> { optimizer.reportActionResult(0uL, false, "radio off") }
        assertFailsWith<OptimizerException.Stopped> { optimizer.reportActionResult(ULong.MAX_VALUE, true, null) }
        assertFailsWith<OptimizerException.Stopped> { optimizer.record(MetricSample.LinkRssi(peerId = "", rssiDbm = Int.MIN_VALUE)) }
        // A FastRecorder made before stop, and one made after: Stopped from every entry point.
        val fastAfter = optimizer.fastRecorder()
        for (fast in listOf(fastBefore, fastAfter)) {
            assertFailsWith<OptimizerException.Stopped> { fast.record(slowDelivery()) }
            assertFailsWith<OptimizerException.Stopped> { fast.recordDelivered(Double.NaN, 1u, 1u) }
            assertFailsWith<OptimizerException.Stopped> { fast.recordLost(UInt.MAX_VALUE) }
            assertFailsWith<OptimizerException.Stopped> { fast.recordBatch(List(100_000) { slowDelivery() }) }
        }
        // snapshot keeps working (documented), again and again, and nothing refused after stop
        // was counted: Stopped is not a rejection or a drop.
        repeat(3) { assertEquals(counters, optimizer.snapshot().counters) }
        assertEquals(10uL, counters.samplesAccepted, "counters: $counters")
        assertCountersBalance(counters)
        optimizer.stop()
        optimizer.close()
        optimizer.close()
        assertFailsWith<IllegalStateException> { optimizer.snapshot() }
        assertFailsWith<IllegalStateException> { optimizer.reportActionResult(1uL, true, null) }
    }

    // --- stop, close and record from inside the listener ----------------------------------------

    /** Stops (or closes) its optimizer from inside a callback, while other threads record. */
    private class StopsInside(val inOutcome: Boolean, val close: Boolean = false) : ActionListener {
        @Volatile var optimizer: PerformanceOptimizer? = null // strong: the careless way
        val returned = CountDownLatch(1)
        val calls = AtomicInteger()
        val actions = AtomicInteger()
        val insideFailure = AtomicReference<Throwable?>(null)

        private fun stopHere() {
            val o = optimizer ?: return
            try {
                if (close) o.close() else o.stop()
                returned.countDown()
            } catch (t: Throwable) {
                insideFailure.compareAndSet(null, t)
            }
        }

        override fun onAction(event: ActionEvent) {
            calls.incrementAndGet()
            actions.incrementAndGet()
            if (!inOutcome) stopHere()
        }

        override fun onOutcome(event: OutcomeEvent) {
            calls.incrementAndGet()
            if (inOutcome) stopHere()
        }
    }

    /** Records slow deliveries from 2 threads until the optimizer refuses; returns the threads. */
    private fun recordersUntilRefused(optimizer: PerformanceOptimizer, unexpected: AtomicReference<Throwable?>): List<Thread> = List(2) {
        Thread {
            try {
                while (true) optimizer.record(slowDelivery())
            } catch (e: OptimizerException.Stopped) {
                // the answer once stopped
            } catch (e: IllegalStateException) {
                // the answer once closed
            } catch (e: OptimizerException.Overloaded) {
                // a full queue while the listener runs: typed, fine; stop recording
            } catch (t: Throwable) {
                unexpected.compareAndSet(null, t)
            }
        }.apply { start() }
    }

    @Test
    @Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    fun `stop from inside onOutcome while two threads record does not deadlock and the process goes on`() {
        val listener = StopsInside(inOutcome = true)
        // ackTimeoutMs 100: the unacknowledged action gets its Unacknowledged outcome quickly.
        val optimizer = startOptimizer(fastConfig(ackTimeoutMs = 100uL), listener)
        listener.optimizer = optimizer
        val unexpected = AtomicReference<Throwable?>(null)
        val recorders = recordersUntilRefused(optimizer, unexpected)
        assertTrue(listener.returned.await(30, TimeUnit.SECONDS), "stop() inside onOutcome never returned: ${listener.insideFailure.get()}")
        recorders.forEach { it.join(20_000) }
        assertTrue(recorders.none { it.isAlive }, "a recorder is still running after stop")
        unexpected.get()?.let { throw AssertionError("record answered with something untyped", it) }
        assertTrue(optimizer.isStopped())
        val actionsAtStop = listener.actions.get()
        val c = optimizer.snapshot().counters
        assertCountersBalance(c)
        assertTrue(c.samplesAccepted > 0uL, "counters: $c")
        // No action after the one that stopped (only the final outcomes: every open action gets
        // one), and the process (this JVM) is alive to see it.
        Thread.sleep(200)
        assertEquals(actionsAtStop, listener.actions.get(), "an action was delivered after stop()")
        optimizer.stop()
        optimizer.close()
    }

    @Test
    @Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    fun `stop inside onAction racing stop from outside returns on both sides`() {
        // A long stop_timeout_ms: the outside stop() waits for the listener call, which is
        // itself in stop(). (Before the fix in src/runtime.rs both waited the whole timeout.)
        val entered = CountDownLatch(1)
        val insideDone = CountDownLatch(1)
        val listener = object : ActionListener {
            @Volatile var optimizer: PerformanceOptimizer? = null
            override fun onAction(event: ActionEvent) {
                val o = optimizer ?: return
                if (entered.count == 0L) return
                entered.countDown()
                eventually("stop() from outside has begun") { o.isStopped() }
                Thread.sleep(200) // let the outside stop() reach its wait for this call
                o.stop()
                insideDone.countDown()
            }
            override fun onOutcome(event: OutcomeEvent) {}
        }
        val optimizer = startOptimizer(fastConfig().copy(stopTimeoutMs = 600_000uL), listener)
        listener.optimizer = optimizer
        optimizer.recordBatch(List(50) { slowDelivery() })
        assertTrue(entered.await(20, TimeUnit.SECONDS), "no action arrived")
        val outside = Thread { optimizer.stop() }.apply { start() }
        outside.join(30_000)
        assertFalse(outside.isAlive, "stop() from outside did not return (deadlock with the stop() inside the listener)")
        assertTrue(insideDone.await(10, TimeUnit.SECONDS), "stop() inside the listener did not return")
        optimizer.close()
    }

    /** Starts an optimizer whose listener holds it strongly and stops it from inside onAction. */
    private fun startForgottenCycle(): Pair<WeakReference<StopsInside>, WeakReference<PerformanceOptimizer>> {
        val listener = StopsInside(inOutcome = false)
        val optimizer = startOptimizer(fastConfig(), listener)
        listener.optimizer = optimizer
        optimizer.recordBatch(List(50) { slowDelivery() })
        assertTrue(listener.returned.await(20, TimeUnit.SECONDS), "stop() inside onAction never returned")
        return WeakReference(listener) to WeakReference(optimizer)
    }

    @Test
    @Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    fun `a listener that holds the optimizer and stops it from inside is collected with it, without close`() {
        // The app never calls close(). stop() releases the listener, which breaks the cycle
        // listener -> optimizer -> (Rust) listener, so the garbage collector takes both.
        // (Before the fix in src/runtime.rs, stop() from inside the listener kept the listener,
        // and neither was ever freed.)
        val (listener, optimizer) = startForgottenCycle()
        eventually("the listener and the optimizer were collected") {
            System.gc()
            listener.get() == null && optimizer.get() == null
        }
    }

    @Test
    @Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    fun `close from inside onAction frees the optimizer without deadlock`() {
        val listener = StopsInside(inOutcome = false, close = true)
        val optimizer = startOptimizer(fastConfig(), listener)
        listener.optimizer = optimizer
        val unexpected = AtomicReference<Throwable?>(null)
        val recorders = recordersUntilRefused(optimizer, unexpected)
        optimizer.recordBatch(List(50) { slowDelivery() })
        assertTrue(listener.returned.await(30, TimeUnit.SECONDS), "close() inside onAction never returned: ${listener.insideFailure.get()}")
        recorders.forEach { it.join(20_000) }
        assertTrue(recorders.none { it.isAlive })
        unexpected.get()?.let { throw AssertionError("record answered with something untyped", it) }
        // Closed: the Kotlin object refuses every call itself.
        assertFailsWith<IllegalStateException> { optimizer.record(slowDelivery()) }
        assertFailsWith<IllegalStateException> { optimizer.snapshot() }
        optimizer.close()
    }

    @Test
    @Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    fun `record, recordBatch and a FastRecorder from inside onAction are counted and do not deadlock`() {
        val insideRecorded = AtomicInteger()
        val insideFailure = AtomicReference<Throwable?>(null)
        val listener = object : ActionListener {
            @Volatile var optimizer: PerformanceOptimizer? = null
            override fun onAction(event: ActionEvent) {
                val o = optimizer ?: return
                try {
                    // Counted as each call returns: the test's stop() may refuse a later one.
                    o.record(MetricSample.AppState(foreground = true))
                    insideRecorded.addAndGet(1)
                    o.recordBatch(List(10) { MetricSample.MessageDelivered(latencyMs = 30.0, hops = 1u, bytes = 10u) })
                    insideRecorded.addAndGet(10)
                    val fast = o.fastRecorder()
                    fast.recordDelivered(30.0, 1u, 10u)
                    insideRecorded.addAndGet(1)
                    fast.recordBatch(List(5) { MetricSample.MessageLost(hops = 3u) })
                    insideRecorded.addAndGet(5)
                    o.snapshot()
                    o.reportActionResult(event.id, true, null)
                } catch (e: OptimizerException.Stopped) {
                    // the test stopped the optimizer while this call ran
                } catch (t: Throwable) {
                    insideFailure.compareAndSet(null, t)
                }
            }
            override fun onOutcome(event: OutcomeEvent) {}
        }
        startOptimizer(fastConfig(), listener).use { optimizer ->
            listener.optimizer = optimizer
            optimizer.recordBatch(List(50) { slowDelivery() })
            eventually("an action acknowledged from inside the listener") { optimizer.snapshot().counters.actionsApplied >= 1uL }
            optimizer.stop()
            insideFailure.get()?.let { throw AssertionError("a call inside the listener failed", it) }
            val c = optimizer.snapshot().counters
            assertTrue(insideRecorded.get() >= 17, "recorded inside: ${insideRecorded.get()}")
            assertEquals(50uL + insideRecorded.get().toULong(), c.samplesAccepted, "every sample recorded inside is counted: $c")
            assertCountersBalance(c)
        }
    }

    // --- huge batches -------------------------------------------------------------------------

    @Test
    @Timeout(value = 240, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    fun `a batch of 1,000,000 samples is BatchTooLarge at the default capacity and accepted whole when the capacity holds it`() {
        val million = 1_000_000
        val batch = List(million) { MetricSample.MessageDelivered(latencyMs = 20.0 + it % 100, hops = 2u, bytes = 64u) }

        // Default sample_queue_capacity (16 384): refused whole, through both paths, every
        // sample counted once as rejected, nothing recorded.
        startOptimizer(fastConfig(), RecordingListener()).use { optimizer ->
            val generated = assertFailsWith<OptimizerException.BatchTooLarge> { optimizer.recordBatch(batch) }
            assertEquals(million.toUInt(), generated.size)
            assertEquals(16_384u, generated.capacity)
            val fast = assertFailsWith<OptimizerException.BatchTooLarge> { optimizer.fastRecorder().recordBatch(batch) }
            assertEquals(generated.message, fast.message)
            optimizer.record(slowDelivery()) // still working
            val c = optimizer.snapshot().counters
            assertEquals((2 * million).toULong(), c.samplesRejected, "counters: $c")
            assertEquals(1uL, c.samplesAccepted, "counters: $c")
            assertCountersBalance(c)
            assertEquals(1uL, optimizer.snapshot().metrics.meshPerformance.delivered)
            optimizer.stop()
        }

        // A capacity that holds it (the largest accepted is 16 777 216): accepted whole, once
        // through each path; the queue is drained into the engine's fixed-size windows.
        val config = fastConfig(sampleQueueCapacity = 1_048_576u)
        startOptimizer(config, RecordingListener()).use { optimizer ->
            optimizer.recordBatch(batch)
            eventually("the first million drained") { optimizer.snapshot().counters.samplesAccepted == million.toULong() }
            optimizer.fastRecorder().recordBatch(batch)
            val c = optimizer.snapshot().counters
            assertEquals((2 * million).toULong(), c.samplesAccepted, "counters: $c")
            assertEquals(0uL, c.samplesRejected + c.samplesDropped, "counters: $c")
            assertCountersBalance(c)
            assertAllFinite(optimizer.snapshot())
            optimizer.stop()
        }
    }

    // --- extreme numbers in every field ---------------------------------------------------------

    /** One sample of each numeric field carrying [v], with the field that must refuse it (null: accepted). */
    private fun withDouble(v: Double): List<Pair<MetricSample, String?>> {
        // The documented rules (src/metrics/sample.rs): durations and cpu are finite and in
        // 0..=max, Battery 0..=100, heap figures 0..=1 TiB and limit_mb > 0. -0.0 is inside
        // every 0..=max range (IEEE: -0.0 >= 0.0), so it is accepted as zero, except as a heap
        // limit, which must be above 0.
        val okDuration = v == 0.0 // true for -0.0 too; NaN, infinities and MAX are refused
        fun field(name: String, accepted: Boolean = okDuration) = if (accepted) null else name
        return listOf(
            MetricSample.MessageDelivered(latencyMs = v, hops = 1u, bytes = 1u) to field("MessageDelivered.latency_ms"),
            MetricSample.ConnectionEstablished(durationMs = v) to field("ConnectionEstablished.duration_ms"),
            MetricSample.PeerDiscovered(durationMs = v) to field("PeerDiscovered.duration_ms"),
            MetricSample.ConsensusRound(proposalMs = v, voteMs = 1.0, finalizationMs = 1.0, operations = 1u) to field("ConsensusRound.proposal_ms"),
            MetricSample.ConsensusRound(proposalMs = 1.0, voteMs = v, finalizationMs = 1.0, operations = 1u) to field("ConsensusRound.vote_ms"),
            MetricSample.ConsensusRound(proposalMs = 1.0, voteMs = 1.0, finalizationMs = v, operations = 1u) to field("ConsensusRound.finalization_ms"),
            MetricSample.Battery(levelPercent = v, charging = false) to field("Battery.level_percent"),
            MetricSample.Heap(usedMb = v, limitMb = 512.0) to field("Heap.used_mb"),
            MetricSample.Heap(usedMb = 0.0, limitMb = v) to "Heap.limit_mb", // NaN, +-inf, +-MAX, and -0.0 ("must be above 0")
            MetricSample.ProcessUsage(cpuPercent = v, residentMb = 1.0) to field("ProcessUsage.cpu_percent"),
            MetricSample.ProcessUsage(cpuPercent = 1.0, residentMb = v) to field("ProcessUsage.resident_mb"),
            MetricSample.ThermalHeadroom(headroom = v, forecastS = 10u) to field("ThermalHeadroom.headroom"),
        )
    }

    /** The integer fields at their extremes (UInt.MAX_VALUE is u32::MAX in Rust). */
    private fun extremeIntegers(): List<Pair<MetricSample, String?>> = listOf(
        MetricSample.MessageDelivered(latencyMs = 1.0, hops = 16u, bytes = 67_108_864u) to null,
        MetricSample.MessageDelivered(latencyMs = 1.0, hops = 1u, bytes = UInt.MAX_VALUE) to "MessageDelivered.bytes",
        MetricSample.MessageDelivered(latencyMs = 1.0, hops = UInt.MAX_VALUE, bytes = 1u) to "MessageDelivered.hops",
        MetricSample.MessageDelivered(latencyMs = 1.0, hops = 17u, bytes = 1u) to "MessageDelivered.hops",
        MetricSample.MessageLost(hops = 16u) to null,
        MetricSample.MessageLost(hops = UInt.MAX_VALUE) to "MessageLost.hops",
        MetricSample.PeerCount(connected = 65_535u, discovered = 65_535u) to null,
        MetricSample.PeerCount(connected = UInt.MAX_VALUE, discovered = UInt.MAX_VALUE) to "PeerCount.connected",
        MetricSample.PeerCount(connected = UInt.MAX_VALUE, discovered = 0u) to "PeerCount.connected",
        MetricSample.PeerCount(connected = 0u, discovered = UInt.MAX_VALUE) to "PeerCount.discovered",
        MetricSample.ConsensusRound(proposalMs = 1.0, voteMs = 1.0, finalizationMs = 1.0, operations = 1_000_000u) to null,
        MetricSample.ConsensusRound(proposalMs = 1.0, voteMs = 1.0, finalizationMs = 1.0, operations = UInt.MAX_VALUE) to "ConsensusRound.operations",
        MetricSample.LinkRssi(peerId = "p", rssiDbm = Int.MIN_VALUE) to "LinkRssi.rssi_dbm",
        MetricSample.LinkRssi(peerId = "p", rssiDbm = Int.MAX_VALUE) to "LinkRssi.rssi_dbm",
        // The largest values each rule accepts.
        MetricSample.MessageDelivered(latencyMs = 86_400_000.0, hops = 0u, bytes = 0u) to null,
        MetricSample.Heap(usedMb = 1_048_576.0, limitMb = 1_048_576.0) to null,
        MetricSample.ProcessUsage(cpuPercent = 100_000.0, residentMb = 1_048_576.0) to null,
        MetricSample.ThermalHeadroom(headroom = 10.0, forecastS = 60u) to null,
        MetricSample.ThermalHeadroom(headroom = 1.0, forecastS = 61u) to "ThermalHeadroom.forecast_s",
        MetricSample.ThermalHeadroom(headroom = 1.0, forecastS = UInt.MAX_VALUE) to "ThermalHeadroom.forecast_s",
        MetricSample.Battery(levelPercent = Double.MIN_VALUE, charging = true) to null,
    )

    /** Every Double of the snapshot's metrics (the snapshot documents: never NaN or infinite). */
    private fun assertAllFinite(s: OptimizerSnapshot) {
        val m = s.metrics
        val stats = listOfNotNull(m.networkLatency, m.consensusPerformance.finalization, m.meshPerformance.connectionSetup, m.meshPerformance.discovery)
        val values = stats.flatMap { listOf(it.meanMs, it.p50Ms, it.p95Ms, it.p99Ms, it.maxMs) } + listOfNotNull(
            m.consensusPerformance.opsPerSec, m.consensusPerformance.meanProposalMs, m.consensusPerformance.meanVoteMs,
            m.memoryUsage.heapUsedMb, m.memoryUsage.heapLimitMb, m.memoryUsage.processResidentMb, m.cpuUsage.processCpuPercent,
            m.meshPerformance.lossRatio, m.meshPerformance.meanHopCount, m.meshPerformance.bytesPerSec,
            m.meshPerformance.meanRssiDbm, m.device.batteryPercent,
        )
        assertTrue(values.all { it.isFinite() }, "a metric is NaN or infinite: $m")
    }

    @Test
    @Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    fun `NaN, infinities, negative zero, MAX_VALUE and extreme integers in every numeric field - typed InvalidSample or accepted, counters consistent`() {
        val cases = listOf(Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY, -0.0, Double.MAX_VALUE, -Double.MAX_VALUE)
            .flatMap { withDouble(it) } + extremeIntegers()
        startOptimizer(fastConfig(), RecordingListener()).use { optimizer ->
            val fast = optimizer.fastRecorder()
            var accepted = 0uL
            var rejected = 0uL
            for ((sample, field) in cases) {
                // Three ways in: record, the FastRecorder, and a batch of one good sample and this one.
                val batch = listOf(slowDelivery(), sample)
                if (field == null) {
                    optimizer.record(sample)
                    fast.record(sample)
                    optimizer.recordBatch(batch)
                    accepted += 4uL
                } else {
                    val viaRecord = assertFailsWith<OptimizerException.InvalidSample>("$sample") { optimizer.record(sample) }
                    val viaFast = assertFailsWith<OptimizerException.InvalidSample>("$sample") { fast.record(sample) }
                    val viaBatch = assertFailsWith<OptimizerException.InvalidSample>("$sample") { optimizer.recordBatch(batch) }
                    for (e in listOf(viaRecord, viaFast, viaBatch)) {
                        assertEquals(field, e.field, "$sample: ${e.reason}")
                        assertTrue(e.reason.isNotBlank())
                    }
                    assertEquals(viaRecord.reason, viaFast.reason)
                    rejected += 1uL + 1uL + 2uL // a refused batch counts every sample in it
                }
            }
            val c = optimizer.snapshot().counters
            assertEquals(rejected, c.samplesRejected, "counters: $c")
            assertEquals(accepted, c.samplesAccepted, "counters: $c")
            assertEquals(0uL, c.samplesDropped, "counters: $c")
            assertEquals(accepted + rejected, c.samplesOffered, "accepted + rejected = offered: $c")
            // The accepted extremes (the largest hops, bytes, peers and operations; a day-long latency;
            // a 1 TiB heap) leave no NaN or infinity in the metrics, through ticks as well.
            val ticks = c.ticks
            eventually("two more ticks") { optimizer.snapshot().counters.ticks >= ticks + 2uL }
            assertAllFinite(optimizer.snapshot())
            optimizer.stop()
        }
    }

    // --- out-of-range enums and unknown action ids ----------------------------------------------

    @Test
    @Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    fun `an out-of-range enum cannot be expressed through the API, and a forged one is refused without a crash`() {
        // ThermalState, MemoryPressureLevel and MetricSample are closed Kotlin types (an enum
        // class and a sealed class): an app cannot pass Thermal(state = 7). The FastRecorder's
        // raw ordinal is checked in FastRecorderTest (BAD_FIELD). What a corrupted binding could
        // still send is a forged buffer, so this test forges one below the generated API.
        startOptimizer(fastConfig(), RecordingListener()).use { optimizer ->
            fun forged(vararg ints: Int): dev.meshtune.RustBuffer.ByValue {
                val buf = RustBuffer.alloc((4 * ints.size).toULong())
                val bb = assertNotNull(buf.asByteBuffer())
                ints.forEach { bb.putInt(it) }
                return buf
            }
            // MetricSample variant 99 (there are 14, numbered from 1); Thermal (10) with state 7
            // (there are 4); and a buffer cut short (MessageDelivered with no fields).
            for (buf in listOf(forged(99), forged(10, 7), forged(1))) {
                val status = UniffiRustCallStatus()
                optimizer.callWithHandle { h -> UniffiLib.uniffi_meshtune_fn_method_performanceoptimizer_record(h, buf, status) }
                // Not a typed OptimizerError (that would need the argument lifted): uniffi
                // reports the failed lift as an unexpected error with its message.
                assertEquals(2.toByte(), status.code, "UNIFFI_CALL_UNEXPECTED_ERROR")
                val message = FfiConverterString.lift(status.error_buf)
                assertTrue(message.contains("sample"), message)
                println("forged buffer refused: $message")
            }
            // Nothing was recorded or counted, and the optimizer goes on.
            optimizer.record(MetricSample.Thermal(state = ThermalState.FAIR))
            val c = optimizer.snapshot().counters
            assertEquals(1uL, c.samplesOffered, "counters: $c")
            optimizer.stop()
        }
    }

    @Test
    @Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    fun `unknown and extreme action ids throw UnknownAction naming the id, an expired one is taken once late`() {
        val listener = RecordingListener()
        // ackTimeoutMs 100: an action not acknowledged in time expires.
        startOptimizer(fastConfig(ackTimeoutMs = 100uL), listener).use { optimizer ->
            for (id in listOf(0uL, ULong.MAX_VALUE, Long.MAX_VALUE.toULong() + 1uL)) {
                val e = assertFailsWith<OptimizerException.UnknownAction> { optimizer.reportActionResult(id, true, "x".repeat(100_000)) }
                assertEquals(id, e.actionId)
            }
            optimizer.recordBatch(List(50) { slowDelivery() })
            val action = assertNotNull(listener.actions.poll(20, TimeUnit.SECONDS), "no action arrived")
            eventually("the action expired unacknowledged") {
                listener.outcomes.any { it is OutcomeEvent.Unacknowledged && it.actionId == action.id }
            }
            // A late acknowledgement still tells MeshTune what the radio has (no second outcome,
            // not counted again); a second one is refused, naming the id.
            optimizer.reportActionResult(action.id, true, null)
            val again = assertFailsWith<OptimizerException.UnknownAction> { optimizer.reportActionResult(action.id, true, null) }
            assertEquals(action.id, again.actionId)
            val c = optimizer.snapshot().counters
            assertEquals(0uL, c.actionsApplied + c.actionsRefused, "the late acknowledgement was not counted again: $c")
            optimizer.stop()
        }
    }

    // --- a listener the app forgot -----------------------------------------------------------

    /** A listener that counts its calls in [calls] and holds nothing else. */
    private class Counting(val calls: AtomicInteger) : ActionListener {
        override fun onAction(event: ActionEvent) {
            calls.incrementAndGet()
        }
        override fun onOutcome(event: OutcomeEvent) {
            calls.incrementAndGet()
        }
    }

    /** Starts an optimizer with a listener to which nothing but the optimizer keeps a reference. */
    private fun startWithForgottenListener(calls: AtomicInteger): Pair<PerformanceOptimizer, WeakReference<Counting>> {
        val listener = Counting(calls)
        return startOptimizer(fastConfig(ackTimeoutMs = 100uL), listener) to WeakReference(listener)
    }

    @Test
    @Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    fun `a listener the app dropped is kept alive by the running optimizer and keeps getting calls`() {
        val calls = AtomicInteger()
        val (optimizer, listener) = startWithForgottenListener(calls)
        repeat(5) { System.gc() }
        assertNotNull(listener.get(), "the running optimizer keeps its listener (uniffi's handle map holds it)")
        // Calls keep arriving after the collections: a latency breach, then thermal changes
        // (each a safety constraint that acts at once).
        optimizer.recordBatch(List(50) { slowDelivery() })
        eventually("a call to the dropped listener") {
            System.gc()
            calls.get() >= 1
        }
        val before = calls.get()
        optimizer.record(MetricSample.Thermal(state = ThermalState.CRITICAL))
        eventually("more calls after more collections") {
            System.gc()
            calls.get() > before
        }
        assertEquals(0uL, optimizer.snapshot().counters.listenerFailures)
        // stop() releases it; then nothing holds it.
        optimizer.stop()
        eventually("the listener was collected after stop") {
            System.gc()
            listener.get() == null
        }
        optimizer.close()
    }

    // --- a listener that blocks ---------------------------------------------------------------

    @Test
    @Timeout(value = 90, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    fun `a listener blocked for seconds in onAction - record stays non-blocking and stop returns after stop_timeout_ms`() {
        val entered = CountDownLatch(1)
        val release = CountDownLatch(1)
        val afterRelease = AtomicReference<Throwable?>(null)
        val finished = CountDownLatch(1)
        val listener = object : ActionListener {
            @Volatile var optimizer: PerformanceOptimizer? = null
            override fun onAction(event: ActionEvent) {
                if (entered.count == 0L) return
                entered.countDown()
                // Blocks (sleeping) until released or 60 s, as a listener doing blocking I/O would.
                val until = System.nanoTime() + 60_000_000_000L
                while (release.count > 0 && System.nanoTime() < until) Thread.sleep(50)
                try {
                    optimizer?.reportActionResult(event.id, true, null)
                } catch (t: Throwable) {
                    afterRelease.set(t)
                }
                finished.countDown()
            }
            override fun onOutcome(event: OutcomeEvent) {}
        }
        val optimizer = startOptimizer(fastConfig().copy(stopTimeoutMs = 500uL), listener)
        listener.optimizer = optimizer
        optimizer.recordBatch(List(50) { slowDelivery() })
        assertTrue(entered.await(20, TimeUnit.SECONDS), "no action arrived")

        // While the listener blocks: 20 000 records (generated and fast) all complete, and the
        // listener is still blocked when they have (it waits for `release`, not for a time).
        val fast = optimizer.fastRecorder()
        var overloaded = 0uL
        repeat(10_000) {
            try {
                optimizer.record(slowDelivery())
            } catch (e: OptimizerException.Overloaded) {
                overloaded++
            }
            try {
                fast.recordDelivered(500.0, 2u, 100u)
            } catch (e: OptimizerException.Overloaded) {
                overloaded++
            }
        }
        assertEquals(1L, release.count, "the listener is still blocked")
        assertEquals(1L, finished.count, "the listener is still blocked")
        val c = optimizer.snapshot().counters
        assertEquals(50uL + 20_000uL, c.samplesOffered, "counters: $c")
        assertEquals(overloaded, c.samplesDropped, "every Overloaded is a counted drop: $c")
        assertCountersBalance(c)

        // stop() gives up on the blocked listener after stop_timeout_ms (500 ms): it returns
        // while the listener is still blocked. The bound here only catches a hang.
        val stopper = Thread { optimizer.stop() }.apply { start() }
        stopper.join(30_000)
        assertFalse(stopper.isAlive, "stop() did not return while the listener was blocked")
        assertEquals(1L, finished.count, "stop() returned before the listener did, as documented")
        assertTrue(optimizer.isStopped())

        // The listener wakes up after stop: its acknowledgement gets Stopped, and nothing crashes.
        release.countDown()
        assertTrue(finished.await(20, TimeUnit.SECONDS))
        assertTrue(afterRelease.get() is OptimizerException.Stopped, "got ${afterRelease.get()}")
        optimizer.close()
    }
}

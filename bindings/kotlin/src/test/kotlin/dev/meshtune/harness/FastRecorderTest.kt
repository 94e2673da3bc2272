package dev.meshtune.harness

import dev.meshtune.FastRecorder
import dev.meshtune.MemoryPressureLevel
import dev.meshtune.MeshTuneFastPath
import dev.meshtune.MetricSample
import dev.meshtune.OptimizerConfig
import dev.meshtune.OptimizerException
import dev.meshtune.OptimizerSnapshot
import dev.meshtune.ThermalState
import dev.meshtune.fastRecorder
import dev.meshtune.startOptimizer
import dev.meshtune.use
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout
import java.util.concurrent.CyclicBarrier
import java.util.concurrent.atomic.AtomicLong
import java.util.concurrent.atomic.AtomicReference
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNotEquals

/**
 * FastRecorder (bindings/kotlin/src/main/kotlin/dev/meshtune/FastRecorder.kt, over
 * src/fastpath.rs): the same samples, counters and errors as the generated record/recordBatch.
 */
class FastRecorderTest {

    /** One sample of every variant, each with a value that shows in the snapshot. */
    private fun everyVariant(): List<MetricSample> = listOf(
        MetricSample.MessageDelivered(latencyMs = 250.0, hops = 4u, bytes = 300u),
        MetricSample.MessageLost(hops = 2u),
        MetricSample.LinkRssi(peerId = "peer-a", rssiDbm = -61),
        MetricSample.PeerCount(connected = 3u, discovered = 7u),
        MetricSample.ConnectionEstablished(durationMs = 81.0),
        MetricSample.PeerDiscovered(durationMs = 1_234.0),
        MetricSample.ConsensusRound(proposalMs = 11.0, voteMs = 22.0, finalizationMs = 33.0, operations = 5u),
        MetricSample.Battery(levelPercent = 37.0, charging = true),
        MetricSample.PowerSaveMode(enabled = true),
        MetricSample.Thermal(state = ThermalState.SERIOUS),
        MetricSample.MemoryPressure(level = MemoryPressureLevel.MODERATE),
        MetricSample.Heap(usedMb = 123.0, limitMb = 456.0),
        MetricSample.AppState(foreground = false),
        MetricSample.ProcessUsage(cpuPercent = 12.5, residentMb = 78.0),
        MetricSample.ThermalHeadroom(headroom = 0.875, forecastS = 10u),
    )

    /** Whether the snapshot shows every sample of [everyVariant], each recorded once. */
    private fun showsEveryVariant(s: OptimizerSnapshot): Boolean {
        val m = s.metrics
        val mesh = m.meshPerformance
        val d = m.device
        return mesh.delivered == 1uL &&
            mesh.meanHopCount == 4.0 &&
            mesh.lost == 1uL &&
            mesh.meanRssiDbm == -61.0 &&
            mesh.connectedPeers == 3u &&
            mesh.discoveredPeers == 7u &&
            mesh.connectionSetup?.count == 1uL &&
            mesh.discovery?.count == 1uL &&
            m.consensusPerformance.rounds == 1uL &&
            m.consensusPerformance.meanProposalMs == 11.0 &&
            m.consensusPerformance.meanVoteMs == 22.0 &&
            m.consensusPerformance.finalization?.count == 1uL &&
            d.batteryPercent == 37.0 &&
            d.charging == true &&
            d.powerSave &&
            d.thermal == ThermalState.SERIOUS &&
            d.memoryPressure == MemoryPressureLevel.MODERATE &&
            !d.foreground &&
            m.memoryUsage.heapUsedMb == 123.0 &&
            m.memoryUsage.heapLimitMb == 456.0 &&
            d.thermalHeadroom?.headroom == 0.875 &&
            d.thermalHeadroom?.forecastS == 10u &&
            m.cpuUsage.processCpuPercent == 12.5 &&
            m.memoryUsage.processResidentMb == 78.0
    }

    @Test
    @Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    fun `every variant recorded one by one shows in the snapshot`() {
        startOptimizer(fastConfig(), RecordingListener()).use { optimizer ->
            val fast = optimizer.fastRecorder()
            everyVariant().forEach { fast.record(it) }
            val c = optimizer.snapshot().counters
            assertEquals(everyVariant().size.toULong(), c.samplesAccepted, "counters: $c")
            assertEquals(0uL, c.samplesRejected + c.samplesDropped, "counters: $c")
            assertCountersBalance(c)
            eventually("every variant in the metrics") { showsEveryVariant(optimizer.snapshot()) }
            optimizer.stop()
        }
    }

    @Test
    @Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    fun `every variant recorded as one batch shows in the snapshot`() {
        startOptimizer(fastConfig(), RecordingListener()).use { optimizer ->
            val fast = FastRecorder(optimizer)
            // Contains a LinkRssi: the whole batch takes the generated path, all at once.
            fast.recordBatch(everyVariant())
            eventually("every variant in the metrics") { showsEveryVariant(optimizer.snapshot()) }
            // Without it, the fast path carries the whole batch.
            val numeric = everyVariant().filter { it !is MetricSample.LinkRssi }
            fast.recordBatch(numeric)
            fast.recordBatch(emptyList())
            val c = optimizer.snapshot().counters
            assertEquals((everyVariant().size + numeric.size).toULong(), c.samplesAccepted, "counters: $c")
            assertCountersBalance(c)
            eventually("the second batch in the metrics") {
                val mesh = optimizer.snapshot().metrics.meshPerformance
                mesh.delivered == 2uL && mesh.lost == 2uL
            }
            optimizer.stop()
        }
    }

    @Test
    @Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    fun `primitive overloads record the same samples`() {
        startOptimizer(fastConfig(), RecordingListener()).use { optimizer ->
            val fast = optimizer.fastRecorder()
            fast.recordDelivered(latencyMs = 120.0, hops = 5u, bytes = 64u)
            fast.recordDelivered(latencyMs = 80.0, hops = 1u, bytes = 64u)
            fast.recordLost(hops = 3u)
            assertEquals(3uL, optimizer.snapshot().counters.samplesAccepted)
            eventually("the deliveries and the loss in the metrics") {
                val mesh = optimizer.snapshot().metrics.meshPerformance
                mesh.delivered == 2uL && mesh.lost == 1uL && mesh.meanHopCount == 3.0
            }
            // Values above Int.MAX_VALUE travel as unsigned 32-bit values, not as negatives: the
            // largest valid ones (16 hops, 64 MiB) are accepted, UInt.MAX_VALUE bytes is refused
            // by name, as the generated record refuses it.
            fast.recordDelivered(latencyMs = 1.0, hops = 16u, bytes = 67_108_864u)
            val e = kotlin.test.assertFailsWith<dev.meshtune.OptimizerException.InvalidSample> {
                fast.recordDelivered(latencyMs = 1.0, hops = 1u, bytes = UInt.MAX_VALUE)
            }
            assertEquals("MessageDelivered.bytes", e.field)
            assertEquals(4uL, optimizer.snapshot().counters.samplesAccepted)
            optimizer.stop()
        }
    }

    @Test
    @Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    fun `an invalid sample throws the same InvalidSample as record and is counted once`() {
        val invalid = listOf(
            MetricSample.Battery(levelPercent = 150.0, charging = false) to "Battery.level_percent",
            MetricSample.MessageDelivered(latencyMs = Double.NaN, hops = 1u, bytes = 1u) to "MessageDelivered.latency_ms",
            MetricSample.Heap(usedMb = 600.0, limitMb = 512.0) to "Heap.used_mb",
            MetricSample.PeerCount(connected = 5u, discovered = 4u) to "PeerCount.connected",
            MetricSample.ConsensusRound(proposalMs = 1.0, voteMs = -2.0, finalizationMs = 1.0, operations = 1u) to "ConsensusRound.vote_ms",
            MetricSample.LinkRssi(peerId = "", rssiDbm = -60) to "LinkRssi.peer_id",
        )
        startOptimizer(fastConfig(), RecordingListener()).use { optimizer ->
            val fast = optimizer.fastRecorder()
            for ((sample, field) in invalid) {
                val viaFast = assertFailsWith<OptimizerException.InvalidSample> { fast.record(sample) }
                val viaRecord = assertFailsWith<OptimizerException.InvalidSample> { optimizer.record(sample) }
                assertEquals(field, viaFast.field)
                assertEquals(viaRecord.field, viaFast.field)
                assertEquals(viaRecord.reason, viaFast.reason)
            }
            val nan = assertFailsWith<OptimizerException.InvalidSample> { fast.recordDelivered(Double.NaN, 1u, 1u) }
            assertEquals("MessageDelivered.latency_ms", nan.field)
            val c = optimizer.snapshot().counters
            // Each refusal counted once: 6 through the fast path, 6 through record, 1 primitive.
            assertEquals((2 * invalid.size + 1).toULong(), c.samplesRejected, "counters: $c")
            assertEquals(0uL, c.samplesAccepted, "counters: $c")
            assertCountersBalance(c)
            // Still working afterwards.
            fast.record(slowDelivery())
            assertEquals(1uL, optimizer.snapshot().counters.samplesAccepted)
            optimizer.stop()
        }
    }

    @Test
    @Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    fun `a batch with one invalid sample records nothing, like recordBatch`() {
        startOptimizer(fastConfig(sampleQueueCapacity = 8u), RecordingListener()).use { optimizer ->
            val fast = optimizer.fastRecorder()
            val batch = listOf(slowDelivery(), slowDelivery(), MetricSample.Heap(usedMb = 600.0, limitMb = 512.0), slowDelivery())
            val viaFast = assertFailsWith<OptimizerException.InvalidSample> { fast.recordBatch(batch) }
            val viaRecord = assertFailsWith<OptimizerException.InvalidSample> { optimizer.recordBatch(batch) }
            assertEquals("Heap.used_mb", viaFast.field)
            assertEquals(viaRecord.reason, viaFast.reason)
            // Larger than sample_queue_capacity (8): BatchTooLarge, nothing recorded.
            val tooLarge = assertFailsWith<OptimizerException.BatchTooLarge> { fast.recordBatch(List(9) { slowDelivery() }) }
            assertEquals(9u, tooLarge.size)
            assertEquals(8u, tooLarge.capacity)
            val c = optimizer.snapshot().counters
            assertEquals(0uL, c.samplesAccepted, "counters: $c")
            assertEquals((4 + 4 + 9).toULong(), c.samplesRejected, "every sample of a refused batch counts, once: $c")
            assertCountersBalance(c)
            assertEquals(0uL, optimizer.snapshot().metrics.meshPerformance.delivered)
            optimizer.stop()
        }
    }

    @Test
    @Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    fun `a full queue throws Overloaded like record and counts the drop`() {
        // Capacity 1 and one tick a minute: only a snapshot drains the queue.
        val config = OptimizerConfig(sampleProcess = false, sampleQueueCapacity = 1u, minTickIntervalMs = 60_000uL, maxTickIntervalMs = 60_000uL)
        startOptimizer(config, RecordingListener()).use { optimizer ->
            val fast = optimizer.fastRecorder()
            fast.record(slowDelivery())
            val one = assertFailsWith<OptimizerException.Overloaded> { fast.record(slowDelivery()) }
            val viaRecord = assertFailsWith<OptimizerException.Overloaded> { optimizer.record(slowDelivery()) }
            assertEquals(viaRecord.capacity, one.capacity)
            assertEquals(1u, one.capacity)
            assertEquals(1u, one.dropped)
            assertEquals(viaRecord.message, one.message)
            assertFailsWith<OptimizerException.Overloaded> { fast.recordDelivered(10.0, 1u, 1u) }
            // Last, because a batch refused as Overloaded wakes the loop to drain the queue.
            val batch = assertFailsWith<OptimizerException.Overloaded> { fast.recordBatch(listOf(slowDelivery())) }
            assertEquals(1u, batch.dropped)
            val c = optimizer.snapshot().counters
            assertEquals(1uL, c.samplesAccepted, "counters: $c")
            assertEquals(4uL, c.samplesDropped, "counters: $c")
            assertCountersBalance(c)
            optimizer.stop()
        }
    }

    @Test
    @Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    fun `after stop the fast path throws Stopped like record, and after close IllegalStateException`() {
        val optimizer = startOptimizer(fastConfig(), RecordingListener())
        val fast = optimizer.fastRecorder()
        fast.record(slowDelivery())
        optimizer.stop()
        assertFailsWith<OptimizerException.Stopped> { optimizer.record(slowDelivery()) }
        assertFailsWith<OptimizerException.Stopped> { fast.record(slowDelivery()) }
        assertFailsWith<OptimizerException.Stopped> { fast.recordDelivered(10.0, 1u, 1u) }
        assertFailsWith<OptimizerException.Stopped> { fast.recordBatch(listOf(slowDelivery(), slowDelivery())) }
        assertFailsWith<OptimizerException.Stopped> { fast.recordBatch(emptyList()) }
        assertFailsWith<OptimizerException.Stopped> { fast.record(MetricSample.LinkRssi(peerId = "p", rssiDbm = -50)) }
        // As with record, Stopped comes before validation.
        assertFailsWith<OptimizerException.Stopped> { fast.record(MetricSample.Battery(levelPercent = 150.0, charging = false)) }
        val c = optimizer.snapshot().counters
        assertEquals(1uL, c.samplesAccepted, "counters: $c")
        assertEquals(0uL, c.samplesRejected, "counters: $c")
        assertCountersBalance(c)

        // close() frees the native object: its handle is no longer known, and the recorder
        // answers as the generated API does after close.
        val handle = optimizer.fastPathHandle().toLong()
        optimizer.close()
        assertEquals(MeshTuneFastPath.UNKNOWN_HANDLE, MeshTuneFastPath.meshtune_fast_record(handle, 0, 10.0, 0.0, 0.0, 1L, 1L))
        assertFailsWith<IllegalStateException> { optimizer.record(slowDelivery()) }
        assertFailsWith<IllegalStateException> { fast.record(slowDelivery()) }
        assertFailsWith<IllegalStateException> { fast.recordBatch(listOf(slowDelivery())) }
        assertFailsWith<IllegalStateException> { optimizer.fastRecorder() }
    }

    @Test
    @Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    fun `fast records from 8 threads are all counted`() {
        startOptimizer(fastConfig(sampleQueueCapacity = 4_096u), RecordingListener()).use { optimizer ->
            val fast = optimizer.fastRecorder()
            val threads = 8
            val singles = 20_000
            val batches = 200
            val gate = CyclicBarrier(threads)
            val overloaded = AtomicLong()
            val failure = AtomicReference<Throwable?>(null)
            val workers = (0 until threads).map { t ->
                Thread {
                    try {
                        gate.await()
                        val batch = List(50) { MetricSample.MessageDelivered(latencyMs = 10.0 + it, hops = 2u, bytes = 64u) }
                        for (i in 0 until singles) {
                            try {
                                if (i % 2 == 0) fast.recordDelivered(20.0 + t, 3u, 100u) else fast.record(slowDelivery())
                            } catch (e: OptimizerException.Overloaded) {
                                overloaded.addAndGet(e.dropped.toLong())
                            }
                            if (i % (singles / batches) == 0) {
                                try {
                                    fast.recordBatch(batch)
                                } catch (e: OptimizerException.Overloaded) {
                                    overloaded.addAndGet(e.dropped.toLong())
                                }
                            }
                        }
                    } catch (e: Throwable) {
                        failure.compareAndSet(null, e)
                    }
                }.apply { start() }
            }
            workers.forEach { it.join(50_000) }
            failure.get()?.let { throw AssertionError("a fast record failed on a worker thread", it) }
            val c = optimizer.snapshot().counters
            val total = (threads * (singles + batches * 50)).toULong()
            assertEquals(total, c.samplesOffered, "every sample offered is counted: $c")
            assertEquals(overloaded.get().toULong(), c.samplesDropped, "every Overloaded is a counted drop: $c")
            assertEquals(total - c.samplesDropped, c.samplesAccepted, "counters: $c")
            assertEquals(0uL, c.samplesRejected)
            assertCountersBalance(c)
            optimizer.stop()
        }
    }

    @Test
    @Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    fun `an unknown handle or a bad encoding is refused by the library`() {
        startOptimizer(fastConfig(), RecordingListener()).use { optimizer ->
            val handle = optimizer.fastPathHandle().toLong()
            assertEquals(handle, optimizer.fastPathHandle().toLong(), "one optimizer, one handle")
            val lib = MeshTuneFastPath
            assertEquals(lib.ABI_VERSION, lib.meshtune_fast_abi_version())
            for (unknown in listOf(0L, -1L, Long.MAX_VALUE, handle + 1_000_000L)) {
                assertNotEquals(handle, unknown)
                assertEquals(lib.UNKNOWN_HANDLE, lib.meshtune_fast_record(unknown, 0, 10.0, 0.0, 0.0, 1L, 1L), "handle $unknown")
                assertEquals(lib.UNKNOWN_HANDLE, lib.meshtune_fast_record_batch(unknown, 1, IntArray(1), DoubleArray(3), LongArray(2)))
                assertEquals(-lib.UNKNOWN_HANDLE.toLong(), lib.meshtune_fast_sample_queue_capacity(unknown))
            }
            assertEquals(lib.BAD_CODE, lib.meshtune_fast_record(handle, 99, 10.0, 0.0, 0.0, 1L, 1L))
            assertEquals(lib.BAD_FIELD, lib.meshtune_fast_record(handle, 0, 10.0, 0.0, 0.0, -1L, 1L))
            assertEquals(lib.BAD_FIELD, lib.meshtune_fast_record(handle, 9, 0.0, 0.0, 0.0, ThermalState.entries.size.toLong(), 0L))
            assertEquals(lib.NOT_CARRIED, lib.meshtune_fast_record(handle, 2, 0.0, 0.0, 0.0, 0L, 0L))
            assertEquals(lib.BAD_ARGUMENT, lib.meshtune_fast_record_batch(handle, -1, IntArray(0), DoubleArray(0), LongArray(0)))
            assertEquals(lib.OK, lib.meshtune_fast_record(handle, 0, 10.0, 0.0, 0.0, 1L, 1L))
            assertEquals(16_384L, lib.meshtune_fast_sample_queue_capacity(handle))
            val c = optimizer.snapshot().counters
            assertEquals(1uL, c.samplesAccepted, "only the well-formed call with the right handle recorded: $c")
            assertEquals(1uL, c.samplesOffered, "counters: $c")
            optimizer.stop()
        }
    }
}

package dev.meshtune.harness

import dev.meshtune.BleCoordinator
import dev.meshtune.BleRules
import dev.meshtune.BleUpdate
import dev.meshtune.FastRecorder
import dev.meshtune.FastScanResults
import dev.meshtune.MeshTuneFastPath
import dev.meshtune.MeshTuneJni
import dev.meshtune.MetricSample
import dev.meshtune.OptimizationAction
import dev.meshtune.OptimizerConfig
import dev.meshtune.OptimizerException
import dev.meshtune.ScanMode
import dev.meshtune.ThermalState
import dev.meshtune.startOptimizer
import dev.meshtune.use
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNull
import kotlin.test.assertTrue

/**
 * The JNI variant of the fast path (src/fastpath/jni.rs over src/fastpath.rs, cargo feature
 * `jni-fastpath`; ADR 7): the same statuses as the JNA-direct C functions for the same calls,
 * through the handle registry the generated code registered the optimizer in; and FastRecorder,
 * which takes JNI when it can, answering as the generated API does over either transport.
 */
class JniFastPathTest {

    @Test
    @Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    fun `the JNI entry points give the statuses of the C functions`() {
        startOptimizer(fastConfig(sampleQueueCapacity = 8u), RecordingListener()).use { optimizer ->
            val h = optimizer.fastPathHandle().toLong()
            val jna = MeshTuneFastPath
            assertEquals(MeshTuneFastPath.ABI_VERSION, MeshTuneJni.abiVersion())
            // Every single-sample case, through both transports: the same status.
            class Case(val handle: Long, val code: Int, val d0: Double, val i0: Long, val i1: Long, val want: Int)
            val cases = listOf(
                Case(h, 0, 10.0, 1, 1, jna.OK),
                Case(h, 99, 10.0, 1, 1, jna.BAD_CODE),
                Case(h, 0, 10.0, -1, 1, jna.BAD_FIELD), // hops below u32
                Case(h, 0, 10.0, 1, 1L shl 32, jna.BAD_FIELD), // bytes above u32
                Case(h, 9, 0.0, ThermalState.entries.size.toLong(), 0, jna.BAD_FIELD), // no such thermal state
                Case(h, 2, 0.0, 0, 0, jna.NOT_CARRIED),
                Case(h, 0, Double.NaN, 1, 1, jna.INVALID_SAMPLE),
                Case(h + 1_000_000, 0, 10.0, 1, 1, jna.UNKNOWN_HANDLE),
                Case(0, 0, 10.0, 1, 1, jna.UNKNOWN_HANDLE),
            )
            for (k in cases) {
                val viaJni = MeshTuneJni.record(k.handle, k.code, k.d0, 0.0, 0.0, k.i0, k.i1)
                val viaJna = jna.meshtune_fast_record(k.handle, k.code, k.d0, 0.0, 0.0, k.i0, k.i1)
                assertEquals(k.want, viaJni, "JNI, code ${k.code}, ${k.d0}, ${k.i0}, ${k.i1}")
                assertEquals(viaJna, viaJni, "JNA and JNI agree on code ${k.code}, ${k.d0}, ${k.i0}, ${k.i1}")
            }
            // Batches: the C function's checks, in its order.
            val two = Triple(IntArray(2), DoubleArray(6) { 20.0 }, LongArray(4) { 1L })
            assertEquals(jna.OK, MeshTuneJni.recordBatch(h, 2, two.first, two.second, two.third))
            assertEquals(jna.OK, MeshTuneJni.recordBatch(h, 0, IntArray(0), DoubleArray(0), LongArray(0)))
            assertEquals(jna.BAD_ARGUMENT, MeshTuneJni.recordBatch(h, -1, IntArray(0), DoubleArray(0), LongArray(0)))
            assertEquals(jna.BATCH_TOO_LARGE, MeshTuneJni.recordBatch(h, Int.MAX_VALUE, IntArray(0), DoubleArray(0), LongArray(0)))
            assertEquals(jna.UNKNOWN_HANDLE, MeshTuneJni.recordBatch(h + 1_000_000, 2, two.first, two.second, two.third))
            assertEquals(jna.BATCH_TOO_LARGE, MeshTuneJni.recordBatch(h, 9, IntArray(9), DoubleArray(27) { 20.0 }, LongArray(18) { 1L }))
            assertEquals(jna.BAD_CODE, MeshTuneJni.recordBatch(h, 2, intArrayOf(0, 99), two.second, two.third))
            // What only JNI can check: arrays shorter than the length claimed (JNA passes bare
            // pointers, and the C function would read past them).
            assertEquals(jna.BAD_ARGUMENT, MeshTuneJni.recordBatch(h, 2, IntArray(1), two.second, two.third))
            assertEquals(jna.BAD_ARGUMENT, MeshTuneJni.recordBatch(h, 2, two.first, DoubleArray(5), two.third))
            assertEquals(jna.BAD_ARGUMENT, MeshTuneJni.recordBatch(h, 2, two.first, two.second, LongArray(3)))
            // Longer arrays are fine: the first len samples are read.
            assertEquals(jna.OK, MeshTuneJni.recordBatch(h, 1, two.first, two.second, two.third))
            val c = optimizer.snapshot().counters
            // 2 singles (one per transport) + 2 + 1 batched; the refusals are not counted (the
            // recorder re-submits them).
            assertEquals(5uL, c.samplesAccepted, "counters: $c")
            assertEquals(5uL, c.samplesOffered, "counters: $c")
            optimizer.stop()
            assertEquals(jna.STOPPED, MeshTuneJni.record(h, 0, 10.0, 0.0, 0.0, 1L, 1L))
            assertEquals(jna.STOPPED, MeshTuneJni.recordBatch(h, 0, IntArray(0), DoubleArray(0), LongArray(0)))
        }
    }

    @Test
    @Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    fun `FastRecorder over JNI, and forced onto JNA, answers as the generated API does`() {
        for (viaJni in listOf(true, false)) recorderAnswersAsTheGeneratedApi(viaJni)
    }

    private fun recorderAnswersAsTheGeneratedApi(viaJni: Boolean) {
        startOptimizer(fastConfig(sampleQueueCapacity = 8u), RecordingListener()).use { optimizer ->
            val fast = FastRecorder(optimizer, viaJni)
            assertEquals(viaJni, fast.jni, "the test build has the JNI entry points")
            if (viaJni) assertTrue(FastRecorder(optimizer).jni, "FastRecorder takes JNI when it can")
            fast.recordDelivered(latencyMs = 120.0, hops = 5u, bytes = 64u)
            fast.recordLost(hops = 3u)
            fast.record(MetricSample.Battery(levelPercent = 37.0, charging = true))
            fast.recordBatch(List(4) { slowDelivery() })
            assertEquals(7uL, optimizer.snapshot().counters.samplesAccepted)
            eventually("the samples in the metrics") {
                val m = optimizer.snapshot().metrics
                m.meshPerformance.delivered == 5uL && m.meshPerformance.lost == 1uL && m.device.batteryPercent == 37.0
            }
            val bad = assertFailsWith<OptimizerException.InvalidSample> { fast.recordDelivered(1.0, 1u, UInt.MAX_VALUE) }
            assertEquals("MessageDelivered.bytes", bad.field)
            val heap = assertFailsWith<OptimizerException.InvalidSample> {
                fast.recordBatch(listOf(slowDelivery(), MetricSample.Heap(usedMb = 600.0, limitMb = 512.0)))
            }
            assertEquals("Heap.used_mb", heap.field)
            val tooLarge = assertFailsWith<OptimizerException.BatchTooLarge> { fast.recordBatch(List(9) { slowDelivery() }) }
            assertEquals(8u, tooLarge.capacity)
            val c = optimizer.snapshot().counters
            assertEquals(7uL, c.samplesAccepted, "counters: $c")
            assertEquals((1 + 2 + 9).toULong(), c.samplesRejected, "each refusal counted once: $c")
            assertCountersBalance(c)
            optimizer.stop()
            assertFailsWith<OptimizerException.Stopped> { fast.recordDelivered(10.0, 1u, 1u) }
            assertFailsWith<OptimizerException.Stopped> { fast.recordBatch(listOf(slowDelivery())) }
        }
    }

    @Test
    @Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    fun `a full queue throws Overloaded through either transport and counts the drop`() {
        for (viaJni in listOf(true, false)) fullQueue(viaJni)
    }

    private fun fullQueue(viaJni: Boolean) {
        val config = OptimizerConfig(sampleProcess = false, sampleQueueCapacity = 1u, minTickIntervalMs = 60_000uL, maxTickIntervalMs = 60_000uL)
        startOptimizer(config, RecordingListener()).use { optimizer ->
            val fast = FastRecorder(optimizer, viaJni)
            assertEquals(viaJni, fast.jni)
            fast.recordDelivered(10.0, 1u, 1u)
            val one = assertFailsWith<OptimizerException.Overloaded> { fast.recordDelivered(10.0, 1u, 1u) }
            assertEquals(1u, one.dropped)
            val batch = assertFailsWith<OptimizerException.Overloaded> { fast.recordBatch(listOf(slowDelivery())) }
            assertEquals(1u, batch.dropped)
            val c = optimizer.snapshot().counters
            assertEquals(1uL, c.samplesAccepted, "counters: $c")
            assertEquals(2uL, c.samplesDropped, "counters: $c")
            assertCountersBalance(c)
            optimizer.stop()
        }
    }

    @Test
    @Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    fun `FastScanResults gives the app what the generated scanResult gives, and refuses what it refuses`() {
        val slow = BleCoordinator(BleRules())
        val fast = FastScanResults(BleCoordinator(BleRules()))
        assertTrue(fast.jni, "the test command's library has the JNI entry points")
        val got = mutableListOf<BleUpdate>()
        val want = mutableListOf<BleUpdate>()
        val plan = OptimizationAction.SetScanMode(mode = ScanMode.LOW_POWER, dutyOnMs = 2_000u, dutyOffMs = 28_000u)
        want += slow.setPlan(plan, 0u)
        got += fast.coordinator.setPlan(plan, 0u)
        want += slow.scanStarted(ScanMode.LOW_POWER, 0u)
        got += fast.coordinator.scanStarted(ScanMode.LOW_POWER, 0u)
        // New peers, re-sightings and an id with an embedded NUL, through the end of the
        // on-phase (a timer change) and into the next.
        val ids = listOf("A", "B", "A", "A\u0000x", "B", "C", "A", "A\u0000x")
        var skipped = 0
        for ((k, id) in (ids + ids).withIndex()) {
            val now = (k * 150).toULong()
            val w = slow.scanResult(id, now)
            val g = fast.scanResult(id, now)
            if (g == null) {
                skipped++
                assertTrue(w.samples.isEmpty(), "nothing to do at $now, but $w")
                assertEquals(want.last().scan.mode, w.scan.mode)
                assertEquals(want.last().scan.nextStepAtMs, w.scan.nextStepAtMs)
            } else {
                got += g
            }
            want += w
        }
        assertTrue(skipped >= 8, "re-sightings need no update: $skipped of ${2 * ids.size}")
        // An unpaired surrogate is not valid UTF-16: the fast path leaves it to the generated
        // call, whose string conversion refuses it (not an OptimizerException: uniffi's own).
        assertFailsWith<java.nio.charset.CharacterCodingException> { slow.scanResult("\uD800", 2_500u) }
        assertFailsWith<java.nio.charset.CharacterCodingException> { fast.scanResult("\uD800", 2_500u) }
        val samples = { u: List<BleUpdate> -> u.flatMap { it.samples } }
        assertEquals(samples(want), samples(got))
        assertEquals(want.last().scan.mode, got.last().scan.mode)
        assertEquals(slow.stats(3_000u), fast.coordinator.stats(3_000u))
        // Refusals are the generated call's, by name, and change nothing.
        for (bad in listOf("", "x".repeat(129))) {
            val e = assertFailsWith<OptimizerException.InvalidSample> { fast.scanResult(bad, 3_000u) }
            assertEquals("scan_result.peer_id", e.field)
        }
        assertEquals(slow.stats(3_000u), fast.coordinator.stats(3_000u))
        assertEquals(MeshTuneFastPath.UNKNOWN_HANDLE, MeshTuneJni.scanResult(0, "A", 0))
        assertNull(fast.scanResult("C", 3_000u), "a present peer, seen again")
    }
}

package dev.meshtune.harness

import dev.meshtune.MetricSample
import dev.meshtune.OptimizerException
import dev.meshtune.startOptimizer
import dev.meshtune.use
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertTrue

/** Errors arrive as the generated exception types, name what was wrong, and change nothing. */
class ErrorsTest {

    @Test
    @Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    fun `an invalid sample throws InvalidSample naming the field and the optimizer keeps working`() {
        startOptimizer(fastConfig(), RecordingListener()).use { optimizer ->
            val e = assertFailsWith<OptimizerException.InvalidSample> {
                optimizer.record(MetricSample.Battery(levelPercent = 150.0, charging = false))
            }
            assertEquals("Battery.level_percent", e.field)
            assertTrue(e.reason.contains("150"), "reason quotes the value: ${e.reason}")
            // It is an ordinary Kotlin exception an app can catch as OptimizerException.
            assertTrue((e as Throwable) is OptimizerException)

            val nan = assertFailsWith<OptimizerException.InvalidSample> {
                optimizer.record(MetricSample.MessageDelivered(latencyMs = Double.NaN, hops = 1u, bytes = 1u))
            }
            assertEquals("MessageDelivered.latency_ms", nan.field)

            // A negative hop count wrapped into UInt (what `(-1).toUInt()` gives) is refused,
            // on the generated path and on the fast path alike.
            val wrapped = assertFailsWith<OptimizerException.InvalidSample> {
                optimizer.record(MetricSample.MessageDelivered(latencyMs = 10.0, hops = (-1).toUInt(), bytes = 1u))
            }
            assertEquals("MessageDelivered.hops", wrapped.field)
            val fastWrapped = assertFailsWith<OptimizerException.InvalidSample> {
                dev.meshtune.FastRecorder(optimizer).recordLost(hops = (-1).toUInt())
            }
            assertEquals("MessageLost.hops", fastWrapped.field)

            // A batch is all or nothing: one bad sample refuses the 3 good ones too.
            val batch = listOf(slowDelivery(), slowDelivery(), MetricSample.LinkRssi(peerId = "", rssiDbm = -60), slowDelivery())
            val b = assertFailsWith<OptimizerException.InvalidSample> { optimizer.recordBatch(batch) }
            assertEquals("LinkRssi.peer_id", b.field)

            // Still working afterwards.
            optimizer.record(MetricSample.Battery(levelPercent = 80.0, charging = false))
            optimizer.record(slowDelivery())
            val c = optimizer.snapshot().counters
            assertEquals(1uL + 1uL + 2uL + 4uL, c.samplesRejected, "counters: $c")
            assertEquals(2uL, c.samplesAccepted, "counters: $c")
            assertCountersBalance(c)
            // Metrics are recomputed at ticks (see KnownBugsTest for why this is a poll).
            eventually("the battery level in the metrics") { optimizer.snapshot().metrics.device.batteryPercent == 80.0 }
        }
    }

    @Test
    @Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    fun `acknowledging an unknown action throws UnknownAction`() {
        startOptimizer(fastConfig(), RecordingListener()).use { optimizer ->
            val e = assertFailsWith<OptimizerException.UnknownAction> { optimizer.reportActionResult(424_242uL, true, null) }
            assertEquals(424_242uL, e.actionId)
            optimizer.record(slowDelivery())
        }
    }

    @Test
    @Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    fun `use after stop throws Stopped and stopping twice is fine`() {
        val optimizer = startOptimizer(fastConfig(), RecordingListener())
        optimizer.record(slowDelivery())
        assertFalse(optimizer.isStopped())

        optimizer.stop()
        optimizer.stop() // idempotent
        assertTrue(optimizer.isStopped())

        assertFailsWith<OptimizerException.Stopped> { optimizer.record(slowDelivery()) }
        assertFailsWith<OptimizerException.Stopped> { optimizer.recordBatch(listOf(slowDelivery())) }
        assertFailsWith<OptimizerException.Stopped> { optimizer.reportActionResult(1uL, true, null) }
        // Validation errors are not reported once stopped: Stopped comes first.
        assertFailsWith<OptimizerException.Stopped> {
            optimizer.record(MetricSample.Battery(levelPercent = 150.0, charging = false))
        }
        // snapshot keeps working after stop (documented), for a last report.
        val c = optimizer.snapshot().counters
        assertEquals(1uL, c.samplesAccepted)
        assertCountersBalance(c)

        optimizer.close()
        optimizer.close() // idempotent too
        // After close the Kotlin object refuses calls itself (no native call, no crash).
        assertFailsWith<IllegalStateException> { optimizer.record(slowDelivery()) }
        assertFailsWith<IllegalStateException> { optimizer.stop() }
    }

    @Test
    @Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    fun `an invalid config refuses to start naming the key`() {
        val e = assertFailsWith<OptimizerException.InvalidConfig> {
            startOptimizer(fastConfig().copy(minTickIntervalMs = 5_000uL), RecordingListener())
        }
        assertEquals("min_tick_interval_ms", e.field)
    }
}

package dev.meshtune.harness

import dev.meshtune.MetricSample
import dev.meshtune.ThermalState
import dev.meshtune.startOptimizer
import dev.meshtune.use
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout
import kotlin.test.assertEquals
import kotlin.test.assertTrue

/**
 * A Kotlin exception thrown from a callback method that returns no Result reaches Rust as a
 * panic ("Callback interface failure: ..."); MeshTune's dispatcher must contain it.
 */
class ThrowingListenerTest {

    @Test
    @Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    fun `a listener that throws on every call does not stop the optimizer`() {
        val listener = ThrowingListener()
        // Short ack timeout: the never-acknowledged actions get Unacknowledged outcomes quickly,
        // so onOutcome is called (and throws) too.
        startOptimizer(fastConfig(ackTimeoutMs = 100uL), listener).use { optimizer ->
            optimizer.recordBatch(List(50) { slowDelivery() })
            eventually("onAction and onOutcome were both called and threw") {
                optimizer.record(slowDelivery())
                listener.actionCalls.get() >= 1 && listener.outcomeCalls.get() >= 1
            }
            // Every throw is counted, none is lost (poll: the last call may still be finishing).
            eventually("every throw counted in listenerFailures") {
                val calls = listener.actionCalls.get() + listener.outcomeCalls.get()
                optimizer.snapshot().counters.listenerFailures == calls.toULong()
            }

            // Ticking and ingestion go on after the failures.
            val before = optimizer.snapshot().counters
            eventually("more ticks after the failures") { optimizer.snapshot().counters.ticks > before.ticks + 3uL }
            repeat(100) { optimizer.record(slowDelivery()) }
            val after = optimizer.snapshot().counters
            assertEquals(before.samplesAccepted + 100uL, after.samplesAccepted, "counters: $after")
            assertTrue(after.listenerFailures >= before.listenerFailures && after.listenerFailures >= 2uL, "counters: $after")
            assertCountersBalance(after)
            // New events still reach the (still throwing) listener: thermal Critical is a
            // safety constraint, so it yields new actions at once.
            val actionsBefore = listener.actionCalls.get()
            optimizer.record(MetricSample.Thermal(state = ThermalState.CRITICAL))
            eventually("a new action after the failures, contained again") {
                listener.actionCalls.get() > actionsBefore &&
                    optimizer.snapshot().counters.listenerFailures > after.listenerFailures
            }
            optimizer.stop()
        }
    }
}

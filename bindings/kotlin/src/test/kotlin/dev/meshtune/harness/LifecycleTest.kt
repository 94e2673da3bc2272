package dev.meshtune.harness

import dev.meshtune.ActionEvent
import dev.meshtune.ActionListener
import dev.meshtune.OptimizerException
import dev.meshtune.OutcomeEvent
import dev.meshtune.TargetMetric
import dev.meshtune.startOptimizer
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout
import java.util.concurrent.CountDownLatch
import java.util.concurrent.CyclicBarrier
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicReference
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertIs
import kotlin.test.assertNotNull
import kotlin.test.assertTrue

/** The whole loop as an app drives it: samples in from many threads, action, ack, outcome. */
class LifecycleTest {

    @Test
    @Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    fun `samples from 8 threads lead to an action, an acknowledgement and a measured outcome`() {
        val listener = RecordingListener()
        val optimizer = startOptimizer(fastConfig(verificationWindowMs = 200uL, windowMs = 3_000uL), listener)

        // 8 threads × 50 slow deliveries, all released at once.
        val threads = 8
        val perThread = 50
        val gate = CyclicBarrier(threads)
        val failure = AtomicReference<Throwable?>(null)
        val workers = (1..threads).map {
            Thread {
                try {
                    gate.await()
                    repeat(perThread) { optimizer.record(slowDelivery()) }
                } catch (t: Throwable) {
                    failure.compareAndSet(null, t)
                }
            }.apply { start() }
        }
        workers.forEach { it.join(20_000) }
        failure.get()?.let { throw AssertionError("record failed on a worker thread", it) }

        // Every message later than the 100 ms deadline: the network strategy acts.
        val first: ActionEvent = assertNotNull(listener.actions.poll(20, TimeUnit.SECONDS), "no action arrived")
        assertEquals("network", first.strategy)
        optimizer.reportActionResult(first.id, true, null)
        // A second acknowledgement of the same id is refused, naming it.
        val again = assertFailsWith<OptimizerException.UnknownAction> { optimizer.reportActionResult(first.id, true, null) }
        assertEquals(first.id, again.actionId)

        // Keep traffic flowing (so the verification has data after the change) and acknowledge
        // every further action, as an app would, until the first action's outcome arrives.
        eventually("an outcome for action ${first.id}") {
            optimizer.recordBatch(List(20) { slowDelivery() })
            while (true) {
                val next = listener.actions.poll() ?: break
                optimizer.reportActionResult(next.id, true, null)
            }
            listener.outcomes.any { it.aboutAction == first.id }
        }
        val snapshot = optimizer.snapshot()
        val outcome = listener.outcomes.first { it.aboutAction == first.id }
        // Every message was late before and after (the stream does not depend on the knob): the
        // measurement says so, and claims no improvement.
        assertIs<OutcomeEvent.NoEffect>(outcome, "outcome was $outcome")
        assertEquals(TargetMetric.ON_TIME_RATIO, outcome.metric)
        assertEquals(0.0, outcome.before, 1e-9)
        assertEquals(0.0, outcome.after, 1e-9)
        assertNotNull(outcome.interval)
        assertTrue(outcome.samplesAfter > 0uL, "$outcome")
        val c = snapshot.counters
        assertCountersBalance(c)
        assertTrue(c.samplesOffered >= (threads * perThread).toULong(), "offered: $c")
        assertEquals(0uL, c.samplesRejected)
        assertEquals(0uL, c.samplesDropped)
        assertTrue(c.ticks > 0uL && c.actionsEmitted >= 1uL && c.actionsApplied >= 1uL, "counters: $c")
        assertTrue(c.outcomesNoEffect >= 1uL, "counters: $c")
        assertEquals(0uL, c.listenerFailures)
        val latency = assertNotNull(snapshot.metrics.networkLatency)
        assertEquals(500.0, latency.p95Ms, 500.0 * 0.01)
        // Listener calls come from MeshTune's dispatcher, never from a thread that records.
        // (Unless MeshTuneJvm.keepListenerThreadAttached() was called, JNA attaches the native
        // thread for each callback, so Kotlin sees a fresh "Thread-N" name each time.)
        val recordingThreads = (workers.map { it.name } + Thread.currentThread().name).toSet()
        assertTrue(listener.callerThreads.none { it in recordingThreads }, "callers: ${listener.callerThreads}")

        optimizer.stop()
        assertTrue(optimizer.isStopped())
        optimizer.close()
    }

    @Test
    @Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    fun `a listener can acknowledge and stop the optimizer from inside its own callback`() {
        val stoppedInside = CountDownLatch(1)
        val listener = object : ActionListener {
            @Volatile var optimizer: dev.meshtune.PerformanceOptimizer? = null
            override fun onAction(event: ActionEvent) {
                val o = optimizer ?: return
                o.reportActionResult(event.id, true, null)
                o.stop() // must not deadlock: stop() does not wait for the calling listener
                stoppedInside.countDown()
            }
            override fun onOutcome(event: OutcomeEvent) {}
        }
        val optimizer = startOptimizer(fastConfig(), listener)
        listener.optimizer = optimizer
        optimizer.recordBatch(List(50) { slowDelivery() })
        assertTrue(stoppedInside.await(20, TimeUnit.SECONDS), "the listener never got an action")
        assertTrue(optimizer.isStopped())
        assertFailsWith<OptimizerException.Stopped> { optimizer.record(slowDelivery()) }
        optimizer.stop() // and once more from the outside
        optimizer.close()
    }

    /** A listener that blocks in onAction until released, then tries to acknowledge. */
    private class BusyListener : ActionListener {
        @Volatile var optimizer: dev.meshtune.PerformanceOptimizer? = null
        val entered = CountDownLatch(1)
        val release = CountDownLatch(1)
        val ackFailure = AtomicReference<Throwable?>(null)
        val done = CountDownLatch(1)
        override fun onAction(event: ActionEvent) {
            if (entered.count == 0L) return
            entered.countDown()
            release.await(20, TimeUnit.SECONDS)
            try {
                optimizer!!.reportActionResult(event.id, true, null)
            } catch (t: Throwable) {
                ackFailure.set(t)
            }
            done.countDown()
        }
        override fun onOutcome(event: OutcomeEvent) {}
    }

    @Test
    @Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    fun `shutting down while the listener is busy - stop() first gives it Stopped, close() alone IllegalStateException`() {
        // stop(), then close(): the listener call in progress sees OptimizerException.Stopped.
        run {
            val listener = BusyListener()
            val optimizer = startOptimizer(fastConfig(), listener)
            listener.optimizer = optimizer
            optimizer.recordBatch(List(50) { slowDelivery() })
            assertTrue(listener.entered.await(20, TimeUnit.SECONDS))
            val stopper = Thread { optimizer.stop() }.apply { start() }
            eventually("stop() has begun") { optimizer.isStopped() }
            listener.release.countDown()
            stopper.join(20_000)
            assertTrue(listener.done.await(20, TimeUnit.SECONDS))
            assertIs<OptimizerException.Stopped>(listener.ackFailure.get())
            optimizer.close()
        }
        // close() alone: the Kotlin wrapper is destroyed before Rust's Drop stops the
        // dispatcher, so the listener call in progress gets IllegalStateException ("object has
        // already been destroyed") from the generated code, not OptimizerException.Stopped.
        run {
            val listener = BusyListener()
            val optimizer = startOptimizer(fastConfig(), listener)
            listener.optimizer = optimizer
            optimizer.recordBatch(List(50) { slowDelivery() })
            assertTrue(listener.entered.await(20, TimeUnit.SECONDS))
            val closer = Thread { optimizer.close() }.apply { start() }
            eventually("close() has begun") { optimizer.uniffiIsDestroyed }
            listener.release.countDown()
            closer.join(20_000)
            assertTrue(listener.done.await(20, TimeUnit.SECONDS))
            assertIs<IllegalStateException>(listener.ackFailure.get())
        }
    }
}

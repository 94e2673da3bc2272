package dev.meshtune.harness

import dev.meshtune.BleCoordinator
import dev.meshtune.BleRules
import dev.meshtune.FastRecorder
import dev.meshtune.FastScanResults
import dev.meshtune.MetricSample
import dev.meshtune.OptimizerException
import dev.meshtune.ScanMode
import dev.meshtune.meshtuneTestArmPanic
import dev.meshtune.startOptimizer
import dev.meshtune.use
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertTrue

/**
 * No panic inside MeshTune reaches the app. The library the tests load is built with the
 * test-only switch `meshtuneTestArmPanic` (cargo feature `test-hooks`, never in an app build),
 * which makes the next call that reaches a named place panic.
 */
class PanicTest {

    @Test
    @Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    fun `a panic in snapshot, a tick, the fast path's registration, isActionCurrent or stop does not reach the app`() {
        startOptimizer(fastConfig(), RecordingListener()).use { optimizer ->
            optimizer.record(MetricSample.Battery(levelPercent = 80.0, charging = false))
            val before = optimizer.snapshot()

            // snapshot(): the last snapshot built comes back, and the panic is counted.
            meshtuneTestArmPanic("snapshot")
            val again = optimizer.snapshot()
            assertEquals(1uL, again.counters.internalPanics)
            assertEquals(before.nowMs, again.nowMs, "the last snapshot built")
            assertEquals(1uL, optimizer.snapshot().counters.internalPanics, "then fresh ones again")

            // A tick: the loop goes on ticking.
            val ticks = optimizer.snapshot().counters.ticks
            meshtuneTestArmPanic("tick")
            eventually("a tick panicked and later ticks ran") {
                val c = optimizer.snapshot().counters
                c.internalPanics == 2uL && c.ticks > ticks + 1uL
            }

            // The fast path's registration: FastRecorder records through the generated calls.
            meshtuneTestArmPanic("fast_path_handle")
            val fast = FastRecorder(optimizer)
            fast.record(MetricSample.Battery(levelPercent = 79.0, charging = false))
            fast.recordDelivered(latencyMs = 20.0, hops = 2u, bytes = 100u)
            val c = optimizer.snapshot().counters
            assertEquals(3uL, c.internalPanics)
            assertEquals(3uL, c.samplesAccepted, "counters: $c")

            // isActionCurrent(): "not current" (the app then refuses the action), counted.
            meshtuneTestArmPanic("is_action_current")
            assertEquals(false, optimizer.isActionCurrent(1uL))
            assertEquals(4uL, optimizer.snapshot().counters.internalPanics)

            // stop(): it returns, and the optimizer is stopped.
            meshtuneTestArmPanic("stop")
            optimizer.stop()
            assertTrue(optimizer.isStopped())
            assertEquals(5uL, optimizer.snapshot().counters.internalPanics)
        }
    }

    @Test
    fun `a panic inside the BLE coordinator is an Internal error and changes nothing`() {
        val c = BleCoordinator(BleRules())
        c.scanStarted(ScanMode.LOW_LATENCY, 0uL)
        meshtuneTestArmPanic("ble")
        val e = assertFailsWith<OptimizerException.Internal> { c.scanResult("A", 10uL) }
        assertTrue(e.reason.contains("scan_result"), e.reason)
        assertEquals(0uL, c.stats(20uL).discoveries, "the refused call changed nothing")
        assertEquals(MetricSample.PeerDiscovered(30.0), c.scanResult("A", 30uL).samples.first())
        meshtuneTestArmPanic("ble")
        assertEquals(2uL, c.stats(40uL).internalPanics, "stats() answers with the panic counted")
        c.close()
    }

    @Test
    fun `a panic in the fast scan path falls back to the generated call and loses nothing`() {
        val c = BleCoordinator(BleRules())
        c.scanStarted(ScanMode.LOW_LATENCY, 0uL)
        // In the registration: no handle, so every scan result takes the generated call.
        meshtuneTestArmPanic("ble_fast_handle")
        assertFalse(FastScanResults(c).jni)
        assertEquals(1uL, c.stats(1uL).internalPanics)
        // Inside the JNI call: the status says so, and the generated call takes the event.
        val fast = FastScanResults(c)
        assertTrue(fast.jni)
        meshtuneTestArmPanic("ble")
        val update = fast.scanResult("A", 10uL)
        assertEquals(MetricSample.PeerDiscovered(10.0), update?.samples?.first())
        val s = c.stats(20uL)
        assertEquals(2uL, s.internalPanics)
        assertEquals(1uL, s.discoveries, "the event counted once")
        c.close()
    }
}

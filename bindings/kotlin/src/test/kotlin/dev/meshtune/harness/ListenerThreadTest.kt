package dev.meshtune.harness

import dev.meshtune.MeshTuneJvm
import dev.meshtune.startOptimizer
import dev.meshtune.use
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout
import kotlin.test.assertEquals

/** With MeshTuneJvm.keepListenerThreadAttached(), every listener call runs on one thread. */
class ListenerThreadTest {
    @Test
    @Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    fun `listener calls arrive on one long-lived thread named meshtune-dispatch`() {
        MeshTuneJvm.keepListenerThreadAttached()
        val listener = RecordingListener()
        val threads = java.util.concurrent.CopyOnWriteArraySet<Thread>()
        val probe = object : dev.meshtune.ActionListener {
            override fun onAction(event: dev.meshtune.ActionEvent) {
                threads += Thread.currentThread()
                listener.onAction(event)
            }
            override fun onOutcome(event: dev.meshtune.OutcomeEvent) {
                threads += Thread.currentThread()
                listener.onOutcome(event)
            }
        }
        startOptimizer(fastConfig(ackTimeoutMs = 50uL), probe).use { optimizer ->
            repeat(3) { optimizer.recordBatch(List(50) { slowDelivery() }) }
            // Critical memory pressure: the memory strategy's safety actions come with the
            // latency repair's first move (which changes one knob at a time).
            optimizer.record(dev.meshtune.MetricSample.MemoryPressure(dev.meshtune.MemoryPressureLevel.CRITICAL))
            // Several actions, and their Unacknowledged outcomes after 50 ms.
            eventually("several listener calls") { listener.callerThreads.size >= 4 }
            assertEquals(1, threads.size, "threads: ${threads.map { it.name }}")
            assertEquals(setOf("meshtune-dispatch"), listener.callerThreads.toSet())
        }
        // Kept attached does not mean kept forever: when an optimizer stops, its native
        // dispatcher thread ends and JNA detaches it. 30 start/stop cycles leave no such thread.
        repeat(30) {
            val seen = RecordingListener()
            startOptimizer(fastConfig(), seen).use { optimizer ->
                optimizer.recordBatch(List(50) { slowDelivery() })
                eventually("a listener call") { seen.callerThreads.isNotEmpty() }
                optimizer.stop()
            }
        }
        eventually("the dispatcher threads are gone") {
            Thread.getAllStackTraces().keys.count { it.name == "meshtune-dispatch" && it.isAlive } == 0
        }
    }
}

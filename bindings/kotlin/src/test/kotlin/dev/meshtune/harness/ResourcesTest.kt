package dev.meshtune.harness

import dev.meshtune.MetricSample
import dev.meshtune.OptimizerException
import dev.meshtune.PerformanceOptimizer
import dev.meshtune.startOptimizer
import dev.meshtune.use
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout
import java.lang.ref.WeakReference
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertTrue

/** Native objects are released, and nothing grows per call. */
class ResourcesTest {

    @Test
    @Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    fun `use {} closes the optimizer and stops it`() {
        var seen: PerformanceOptimizer? = null
        startOptimizer(fastConfig(), RecordingListener()).use { optimizer ->
            seen = optimizer
            optimizer.record(slowDelivery())
        }
        val closed = seen!!
        // Closing dropped the Rust object (its Drop stops the threads); the Kotlin wrapper
        // refuses further calls with IllegalStateException instead of touching freed memory.
        assertFailsWith<IllegalStateException> { closed.isStopped() }
        // AutoCloseable works the standard way too (kotlin.use / try-with-resources).
        val auto: AutoCloseable = startOptimizer(fastConfig(), RecordingListener())
        auto.use { (it as PerformanceOptimizer).record(slowDelivery()) }
        assertFailsWith<IllegalStateException> { (auto as PerformanceOptimizer).record(slowDelivery()) }
    }

    @Test
    @Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    fun `closing the optimizer releases the Kotlin listener`() {
        val ref = startAndClose()
        // The generated code keeps the listener in a handle map until Rust frees it; after close
        // nothing holds it, so the garbage collector can take it.
        eventually("the listener was collected") {
            System.gc()
            ref.get() == null
        }
    }

    private fun startAndClose(): WeakReference<RecordingListener> {
        val listener = RecordingListener()
        startOptimizer(fastConfig(), listener).use { it.recordBatch(List(10) { slowDelivery() }) }
        return WeakReference(listener)
    }

    @Test
    @Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    fun `100k record calls do not grow native memory`() {
        // Default ticks (1 s): the loop drains the 16 384-sample buffer early when it is half
        // full; a full buffer gives Overloaded, which is counted here, not fatal.
        startOptimizer(fastConfig().copy(minTickIntervalMs = 1_000uL, maxTickIntervalMs = 30_000uL), RecordingListener()).use { optimizer ->
            var overloaded = 0L
            val sample = MetricSample.MessageDelivered(latencyMs = 42.0, hops = 2u, bytes = 100u)
            fun recordMany(n: Int) {
                repeat(n) {
                    try {
                        optimizer.record(sample)
                    } catch (e: OptimizerException.Overloaded) {
                        overloaded++
                    }
                }
            }

            recordMany(10_000) // warm-up: JIT, JNA structures, the engine's windows
            System.gc()
            val rssBefore = vmRssKb()
            recordMany(100_000)
            System.gc()
            val rssAfter = vmRssKb()

            val growthKb = rssAfter - rssBefore
            println("VmRSS before $rssBefore KiB, after $rssAfter KiB, growth $growthKb KiB over 100000 records (overloaded: $overloaded)")
            assertTrue(growthKb < 64 * 1024, "resident memory grew by $growthKb KiB over 100 000 record calls")

            val c = optimizer.snapshot().counters
            assertCountersBalance(c)
            assertEquals(110_000uL, c.samplesOffered, "counters: $c")
            assertEquals(overloaded.toULong(), c.samplesDropped, "every Overloaded is a counted drop: $c")
        }
    }
}

package dev.meshtune.harness

import dev.meshtune.MetricSample
import dev.meshtune.startOptimizer
import dev.meshtune.use
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout
import kotlin.test.assertEquals

/**
 * A snapshot shows what was recorded just before it. This was a core bug found from Kotlin
 * (metrics stale until the next tick, up to 30 s); it is fixed and this test keeps it fixed.
 */
class SnapshotTest {

    @Test
    @Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    fun `snapshot metrics include a sample recorded before the snapshot`() {
        // No tick during the test: the first one is due 60 s after start.
        val config = fastConfig().copy(minTickIntervalMs = 60_000uL, maxTickIntervalMs = 60_000uL)
        startOptimizer(config, RecordingListener()).use { optimizer ->
            optimizer.record(MetricSample.Battery(levelPercent = 80.0, charging = false))
            val snapshot = optimizer.snapshot()
            assertEquals(1uL, snapshot.counters.samplesAccepted)
            assertEquals(80.0, snapshot.metrics.device.batteryPercent, "metrics: ${snapshot.metrics.device}")
        }
    }
}

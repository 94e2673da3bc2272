// The docs' example imports the whole API, as an app's first try would.
@file:Suppress("ktlint:standard:no-wildcard-imports")

package com.example.meshapp

import dev.meshtune.*
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import kotlin.test.assertTrue

// The typical use of MeshTune from Kotlin (quoted in docs/android.md, checked by scripts/check-docs.sh).

/** Stands in for the app's BLE layer. */
class Ble {
    fun setScanMode(mode: ScanMode, onMs: UInt, offMs: UInt) = true
    fun setCompression(enabled: Boolean, minSizeBytes: UInt) = true
}

/** Applies MeshTune's actions to the app's BLE stack, then acknowledges each one. */
class Radio(private val ble: Ble) : ActionListener {
    @Volatile var optimizer: PerformanceOptimizer? = null
    val acknowledged = CountDownLatch(1)

    override fun onAction(event: ActionEvent) { // on MeshTune's dispatcher thread
        val applied = when (val action = event.action) {
            is OptimizationAction.SetScanMode -> ble.setScanMode(action.mode, action.dutyOnMs, action.dutyOffMs)
            is OptimizationAction.SetCompression -> ble.setCompression(action.enabled, action.minSizeBytes)
            else -> false // not supported by this app
        }
        try {
            optimizer?.reportActionResult(event.id, applied, if (applied) null else "unsupported")
        } catch (e: OptimizerException.Stopped) {
            // the app stopped MeshTune while this action was being applied
        }
        acknowledged.countDown()
    }

    override fun onOutcome(event: OutcomeEvent) {
        println("MeshTune: $event") // Improved, NoEffect, Worse, ...
    }
}

class ReadmeExample {
    @Test
    @Timeout(30)
    fun typicalUse() {
        val radio = Radio(Ble())
        startOptimizer(OptimizerConfig(targetP95LatencyMs = 100.0), radio).use { optimizer ->
            radio.optimizer = optimizer

            // Record what happens, from any thread.
            repeat(20) { optimizer.record(MetricSample.MessageDelivered(latencyMs = 240.0, hops = 3u, bytes = 512u)) }
            optimizer.record(MetricSample.Battery(levelPercent = 42.0, charging = false))

            assertTrue(radio.acknowledged.await(10, TimeUnit.SECONDS)) // p95 240 ms > 100 ms: it acts
            val snapshot = optimizer.snapshot()
            println(
                "p95 ${snapshot.metrics.networkLatency?.p95Ms} ms, actions applied ${snapshot.counters.actionsApplied}, refused ${snapshot.counters.actionsRefused}",
            )

            optimizer.stop() // waits for a listener call in progress
        } // use {} frees it
    }

    /** The "Fast ingestion from Kotlin" snippet of docs/android.md. */
    @Test
    @Timeout(30)
    fun fastIngestion() {
        startOptimizer(OptimizerConfig(), Radio(Ble())).use { optimizer ->
            val samples = List(100) { MetricSample.MessageDelivered(latencyMs = 40.0 + it, hops = 2u, bytes = 128u) }

            val fast = optimizer.fastRecorder() // or FastRecorder(optimizer); share it across threads
            fast.record(MetricSample.MessageDelivered(latencyMs = 240.0, hops = 3u, bytes = 512u))
            fast.recordDelivered(latencyMs = 240.0, hops = 3u, bytes = 512u) // same sample, nothing allocated
            fast.recordBatch(samples) // all or nothing, like recordBatch

            kotlin.test.assertEquals(102uL, optimizer.snapshot().counters.samplesAccepted)
            optimizer.stop()
        }
    }
}

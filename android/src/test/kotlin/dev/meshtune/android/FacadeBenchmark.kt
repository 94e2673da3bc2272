package dev.meshtune.android

import android.app.Application
import dev.meshtune.MetricSample
import dev.meshtune.OptimizerConfig
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.RobolectricTestRunner
import org.robolectric.RuntimeEnvironment
import org.robolectric.annotation.Config

/**
 * The Android facade's cost per sample against the generated `record`, in one run (a benchmark,
 * not a test: the test command does not run it, and nothing is asserted about speed):
 *   (a) meshTune.ble.messageDelivered(latency, hops, bytes): the recommended path (the facade's
 *       guard, the sample object, FastRecorder's call: JNI when the library has it, else JNA direct);
 *   (b) optimizer.record(MessageDelivered) through the generated bindings, the sample prebuilt.
 * On the host JVM under Robolectric (no Android framework call is on either path), as a proxy
 * for ART. Median ns per call over the measured rounds, after warm-up rounds.
 *
 *   scripts/test-android.sh bench
 */
@RunWith(RobolectricTestRunner::class)
@Config(sdk = [34], manifest = Config.NONE)
class FacadeBenchmark {
    private val app: Application = RuntimeEnvironment.getApplication()

    @Test
    fun facadePerSampleCostAgainstTheGeneratedRecord() {
        // No tick during a round (the queue is drained by the snapshot between blocks).
        val config = OptimizerConfig(minTickIntervalMs = 60_000uL, maxTickIntervalMs = 60_000uL, sampleProcess = false)
        val options = MeshTune.Options(battery = false, powerSave = false, thermal = false, memory = false, appState = false)
        val mt = MeshTune.start(app, config, applier = null, options = options)
        val block = 10_000 // under the default queue capacity, 16 384
        val sample = MetricSample.MessageDelivered(latencyMs = 20.0, hops = 2u, bytes = 100u)
        val facade = mutableListOf<Double>()
        val generated = mutableListOf<Double>()
        try {
            repeat(25) { round ->
                var t = System.nanoTime()
                repeat(block) { mt.ble.messageDelivered(latencyMs = 20.0, hops = 2, bytes = 100) }
                val a = (System.nanoTime() - t).toDouble() / block
                mt.snapshot()
                t = System.nanoTime()
                repeat(block) { mt.optimizer.record(sample) }
                val b = (System.nanoTime() - t).toDouble() / block
                mt.snapshot()
                if (round >= 10) {
                    facade += a
                    generated += b
                }
            }
            val c = mt.snapshot().counters
            check(c.samplesAccepted == 50uL * block.toUInt() && c.samplesRejected == 0uL && c.samplesDropped == 0uL) { "counters: $c" }
        } finally {
            mt.stop()
        }
        fun median(xs: List<Double>) = xs.sorted()[xs.size / 2]
        println(
            "FacadeBenchmark (15 rounds of $block after 10 warm-up; ns per sample, median [min-max]; " +
                "FastRecorder over ${if (dev.meshtune.MeshTuneJni.available) "JNI" else "JNA direct"}):\n" +
                "  facade ble.messageDelivered (fast path): %.0f [%.0f-%.0f]\n".format(median(facade), facade.min(), facade.max()) +
                "  generated optimizer.record:              %.0f [%.0f-%.0f]".format(median(generated), generated.min(), generated.max()),
        )
    }
}

package dev.meshtune.android

import dev.meshtune.FastRecorder
import dev.meshtune.MetricSample
import dev.meshtune.OptimizerException
import dev.meshtune.PerformanceOptimizer
import dev.meshtune.PerformanceOptimizerInterface

/**
 * Where collectors push their samples. The seam between the Android glue and the Rust core:
 * [OptimizerSampleSink] forwards to a running optimizer; tests use a recording fake.
 */
fun interface SampleSink {
    /** Offers one sample. Implementations must not throw and must not block. */
    fun record(sample: MetricSample)
}

/**
 * Forwards samples to [optimizer], through the JVM fast path ([FastRecorder]: JNI or JNA-direct calls,
 * nothing allocated for a delivery) when [optimizer] is the real one, through the generated
 * `record` otherwise. A refused sample (`InvalidSample`, `Overloaded`) is counted and logged at
 * most once per [Diagnostics.RATE_LIMIT_MS] per kind of refusal, so an overloaded optimizer does
 * not flood logcat; a stopped optimizer is ignored; any other failure is reported to
 * [diagnostics]. Nothing is thrown to the collector.
 */
class OptimizerSampleSink(private val optimizer: PerformanceOptimizerInterface, private val diagnostics: Diagnostics) : SampleSink {
    private val fast: FastRecorder? = (optimizer as? PerformanceOptimizer)?.let { o ->
        try {
            FastRecorder(o)
        } catch (t: Throwable) {
            diagnostics.report("fast path unavailable; samples go through the generated calls", t)
            null
        }
    }

    override fun record(sample: MetricSample) {
        try {
            if (fast != null) fast.record(sample) else optimizer.record(sample)
        } catch (e: OptimizerException.Stopped) {
            // Stopped between the platform callback and this call: nothing to record into.
        } catch (e: OptimizerException.InvalidSample) {
            diagnostics.reportRateLimited("invalid ${e.field}", "sample ${sample.javaClass.simpleName} refused", e)
        } catch (e: OptimizerException.Overloaded) {
            diagnostics.reportRateLimited("overloaded", "sample ${sample.javaClass.simpleName} dropped: MeshTune's queue is full", e)
        } catch (t: Throwable) {
            diagnostics.report("sample ${sample.javaClass.simpleName} not recorded", t)
        }
    }
}

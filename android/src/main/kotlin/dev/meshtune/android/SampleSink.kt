package dev.meshtune.android

import dev.meshtune.MetricSample
import dev.meshtune.OptimizerException
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
 * Forwards samples to [optimizer]. A refused sample (`InvalidSample`, `Overloaded`), a stopped
 * optimizer or any other failure is reported to [diagnostics], never thrown to the collector.
 */
class OptimizerSampleSink(
    private val optimizer: PerformanceOptimizerInterface,
    private val diagnostics: Diagnostics,
) : SampleSink {
    override fun record(sample: MetricSample) {
        try {
            optimizer.record(sample)
        } catch (e: OptimizerException.Stopped) {
            // Stopped between the platform callback and this call: nothing to record into.
        } catch (t: Throwable) {
            diagnostics.report("sample ${sample.javaClass.simpleName} not recorded", t)
        }
    }
}

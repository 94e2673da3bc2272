package dev.meshtune.android

import android.content.ComponentCallbacks2
import android.content.Context
import android.content.res.Configuration
import android.os.Handler
import android.os.Looper
import dev.meshtune.MemoryPressureLevel
import dev.meshtune.MetricSample

/**
 * Memory: `onTrimMemory` levels become `MemoryPressure` samples ([AndroidMappings.memoryPressure];
 * `onLowMemory` is Critical), and the Java heap (`Runtime`) becomes a `Heap` sample at start,
 * after every trim signal and every [heapIntervalMs] on [looper] (0 disables the periodic one).
 */
class MemoryCollector(
    context: Context,
    private val sink: SampleSink,
    private val diagnostics: Diagnostics,
    private val heapIntervalMs: Long = DEFAULT_HEAP_INTERVAL_MS,
    looper: Looper = Looper.getMainLooper(),
    private val runtime: Runtime = Runtime.getRuntime(),
) : Collector {
    private val context = context.applicationContext ?: context
    private val handler = Handler(looper)
    private val lock = Any()
    private var callbacks: ComponentCallbacks2? = null

    override val name = "memory"
    override val isActive: Boolean get() = synchronized(lock) { callbacks != null }

    private val heapTick = object : Runnable {
        override fun run() {
            diagnostics.guard("$name heap sample failed") {
                if (!isActive) return@guard
                recordHeap()
                handler.postDelayed(this, heapIntervalMs)
            }
        }
    }

    override fun start() = diagnostics.guard("$name collector did not start") {
        synchronized(lock) {
            if (callbacks != null) return@guard
            val c = object : ComponentCallbacks2 {
                override fun onTrimMemory(level: Int) = diagnostics.guard("$name onTrimMemory($level) not handled") { onTrim(level) }

                @Deprecated("Deprecated in Android; kept because older releases still call it")
                override fun onLowMemory() = diagnostics.guard("$name onLowMemory not handled") { onPressure(MemoryPressureLevel.CRITICAL) }

                override fun onConfigurationChanged(newConfig: Configuration) {}
            }
            context.registerComponentCallbacks(c)
            callbacks = c
        }
        recordHeap()
        if (heapIntervalMs > 0) handler.postDelayed(heapTick, heapIntervalMs)
    }

    override fun stop() = diagnostics.guard("$name collector did not stop cleanly") {
        handler.removeCallbacks(heapTick)
        val c = synchronized(lock) { callbacks.also { callbacks = null } } ?: return@guard
        context.unregisterComponentCallbacks(c)
    }

    private fun onTrim(level: Int) {
        val pressure = AndroidMappings.memoryPressure(level) ?: return
        onPressure(pressure)
    }

    private fun onPressure(level: MemoryPressureLevel) {
        sink.record(MetricSample.MemoryPressure(level))
        recordHeap()
    }

    private fun recordHeap() = sink.record(AndroidMappings.heapSample(runtime))

    companion object {
        /** Default heap sampling period: 15 s (a window of 60 s then holds four readings). */
        const val DEFAULT_HEAP_INTERVAL_MS: Long = 15_000
    }
}

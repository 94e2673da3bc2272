package dev.meshtune.android

import android.content.Context
import android.os.Build
import android.os.PowerManager
import dev.meshtune.MetricSample

/**
 * Thermal status (API 29+): `PowerManager.currentThermalStatus` at start, then every change
 * through an `OnThermalStatusChangedListener` (called on the main thread), mapped with
 * [AndroidMappings.thermalState]. Below API 29 Android has no thermal status for apps: the
 * collector records nothing and stays inactive (MeshTune then assumes Nominal).
 */
class ThermalCollector(context: Context, private val sink: SampleSink, private val diagnostics: Diagnostics, private val sdkInt: Int = Build.VERSION.SDK_INT) :
    Collector {
    private val context = context.applicationContext ?: context
    private val lock = Any()
    private var registration: Registration? = null

    override val name = "thermal"
    override val isActive: Boolean get() = synchronized(lock) { registration != null }

    override fun start() = diagnostics.guard("$name collector did not start") {
        if (sdkInt < Build.VERSION_CODES.Q) return@guard
        synchronized(lock) {
            if (registration != null) return@guard
            val powerManager = context.getSystemService(Context.POWER_SERVICE) as? PowerManager
            if (powerManager == null) {
                diagnostics.report("$name collector: no PowerManager on this device")
                return@guard
            }
            registration = Registration.register(powerManager, sink, diagnostics)
        }
    }

    override fun stop() = diagnostics.guard("$name collector did not stop cleanly") {
        val r = synchronized(lock) { registration.also { registration = null } } ?: return@guard
        r.unregister()
    }

    /** The API 29 part, in its own class so that older runtimes never resolve the listener type. */
    private class Registration private constructor(private val powerManager: PowerManager, private val listener: PowerManager.OnThermalStatusChangedListener) {
        fun unregister() = powerManager.removeThermalStatusListener(listener)

        companion object {
            fun register(powerManager: PowerManager, sink: SampleSink, diagnostics: Diagnostics): Registration {
                val listener = PowerManager.OnThermalStatusChangedListener { status ->
                    diagnostics.guard("thermal status $status not handled") {
                        sink.record(MetricSample.Thermal(AndroidMappings.thermalState(status)))
                    }
                }
                sink.record(MetricSample.Thermal(AndroidMappings.thermalState(powerManager.currentThermalStatus)))
                powerManager.addThermalStatusListener(listener)
                return Registration(powerManager, listener)
            }
        }
    }
}

package dev.meshtune.android

import android.content.Context
import android.os.Build
import android.os.Handler
import android.os.Looper
import android.os.PowerManager
import dev.meshtune.MetricSample

/**
 * Thermal status (API 29+): `PowerManager.currentThermalStatus` at start, then every change
 * through an `OnThermalStatusChangedListener` (called on the main thread), mapped with
 * [AndroidMappings.thermalState]. Below API 29 Android has no thermal status for apps: the
 * collector records nothing and stays inactive (MeshTune then assumes Nominal).
 *
 * Thermal headroom (API 30+): while the status is LIGHT or hotter, `getThermalHeadroom(`
 * [HEADROOM_FORECAST_S]`)` every [headroomIntervalMs] on [looper] becomes a `ThermalHeadroom`
 * sample (1.0 is severe throttling; the engine takes a forecast at 1.0 as Serious). It is not
 * read while the phone is cool (no wake-ups for nothing), and a NaN answer (the OS cannot tell,
 * or was asked again within a second) is no reading and is not recorded. 0 disables it.
 */
class ThermalCollector(
    context: Context,
    private val sink: SampleSink,
    private val diagnostics: Diagnostics,
    private val sdkInt: Int = Build.VERSION.SDK_INT,
    looper: Looper = Looper.getMainLooper(),
    private val headroomIntervalMs: Long = DEFAULT_HEADROOM_INTERVAL_MS,
    /** Reads the headroom (tests stand in for the OS); by default `PowerManager.getThermalHeadroom`. */
    private val readHeadroom: (PowerManager, Int) -> Float = { pm, forecastS -> Headroom.read(pm, forecastS) },
) : Collector {
    private val context = context.applicationContext ?: context
    private val handler = Handler(looper)
    private val lock = Any()
    private var registration: Registration? = null
    private var polling = false

    override val name = "thermal"
    override val isActive: Boolean get() = synchronized(lock) { registration != null }

    private val headroomTick = object : Runnable {
        override fun run() {
            diagnostics.guard("$name headroom not read") {
                val pm = synchronized(lock) { registration?.powerManager.takeIf { polling } } ?: return@guard
                val headroom = readHeadroom(pm, HEADROOM_FORECAST_S)
                if (headroom.isFinite() && headroom >= 0f) {
                    sink.record(MetricSample.ThermalHeadroom(headroom.toDouble(), HEADROOM_FORECAST_S.toUInt()))
                }
                handler.postDelayed(this, headroomIntervalMs)
            }
        }
    }

    override fun start() = diagnostics.guard("$name collector did not start") {
        if (sdkInt < Build.VERSION_CODES.Q) return@guard
        val r = synchronized(lock) {
            if (registration != null) return@guard
            val powerManager = context.getSystemService(Context.POWER_SERVICE) as? PowerManager
            if (powerManager == null) {
                diagnostics.report("$name collector: no PowerManager on this device")
                return@guard
            }
            Registration.create(powerManager) { status -> onStatus(status) }.also { registration = it }
        }
        // The state at start first, then every change.
        onStatus(r.powerManager.currentThermalStatus)
        synchronized(lock) { if (registration === r) r.listen() }
    }

    override fun stop() = diagnostics.guard("$name collector did not stop cleanly") {
        val r = synchronized(lock) {
            polling = false
            registration.also { registration = null }
        } ?: return@guard
        handler.removeCallbacks(headroomTick)
        r.unregister()
    }

    private fun onStatus(status: Int) = diagnostics.guard("thermal status $status not handled") {
        sink.record(MetricSample.Thermal(AndroidMappings.thermalState(status)))
        val warm = status >= PowerManager.THERMAL_STATUS_LIGHT && sdkInt >= Build.VERSION_CODES.R && headroomIntervalMs > 0
        val startPolling = synchronized(lock) {
            val was = polling
            polling = warm && registration != null
            polling && !was
        }
        if (startPolling) {
            handler.post(headroomTick)
        } else if (!warm) {
            handler.removeCallbacks(headroomTick)
        }
    }

    /** The API 29 part, in its own class so that older runtimes never resolve the listener type. */
    private class Registration private constructor(val powerManager: PowerManager, private val listener: PowerManager.OnThermalStatusChangedListener) {
        fun listen() = powerManager.addThermalStatusListener(listener)

        fun unregister() = powerManager.removeThermalStatusListener(listener)

        companion object {
            fun create(powerManager: PowerManager, onStatus: (Int) -> Unit): Registration =
                Registration(powerManager, PowerManager.OnThermalStatusChangedListener { status -> onStatus(status) })
        }
    }

    /** The API 30 call, in its own object so that older runtimes never resolve it. */
    private object Headroom {
        fun read(powerManager: PowerManager, forecastS: Int): Float = powerManager.getThermalHeadroom(forecastS)
    }

    companion object {
        /** How far ahead the headroom is forecast, s (Android accepts 0..60). */
        const val HEADROOM_FORECAST_S: Int = 10

        /** How often the headroom is read while the phone is warm: 10 s. */
        const val DEFAULT_HEADROOM_INTERVAL_MS: Long = 10_000
    }
}

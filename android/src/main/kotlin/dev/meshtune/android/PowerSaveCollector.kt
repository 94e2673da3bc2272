package dev.meshtune.android

import android.content.BroadcastReceiver
import android.content.Context
import android.content.Intent
import android.content.IntentFilter
import android.os.PowerManager
import dev.meshtune.MetricSample

/**
 * Power save mode: `PowerManager.isPowerSaveMode` at start and on every
 * `ACTION_POWER_SAVE_MODE_CHANGED` (a system broadcast, registered without an export flag).
 */
class PowerSaveCollector(context: Context, private val sink: SampleSink, private val diagnostics: Diagnostics) : Collector {
    private val context = context.applicationContext ?: context
    private val lock = Any()
    private var receiver: BroadcastReceiver? = null

    override val name = "power-save"
    override val isActive: Boolean get() = synchronized(lock) { receiver != null }

    override fun start() = diagnostics.guard("$name collector did not start") {
        synchronized(lock) {
            if (receiver != null) return@guard
            val powerManager = context.getSystemService(Context.POWER_SERVICE) as? PowerManager
            if (powerManager == null) {
                diagnostics.report("$name collector: no PowerManager on this device")
                return@guard
            }
            val r = object : BroadcastReceiver() {
                override fun onReceive(context: Context?, intent: Intent?) = diagnostics.guard("$name broadcast not handled") { sample(powerManager) }
            }
            context.registerReceiver(r, IntentFilter(PowerManager.ACTION_POWER_SAVE_MODE_CHANGED))
            receiver = r
            sample(powerManager)
        }
    }

    override fun stop() = diagnostics.guard("$name collector did not stop cleanly") {
        val r = synchronized(lock) { receiver.also { receiver = null } } ?: return@guard
        context.unregisterReceiver(r)
    }

    private fun sample(powerManager: PowerManager) {
        sink.record(MetricSample.PowerSaveMode(enabled = powerManager.isPowerSaveMode))
    }
}

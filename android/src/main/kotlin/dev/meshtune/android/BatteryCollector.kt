package dev.meshtune.android

import android.content.BroadcastReceiver
import android.content.Context
import android.content.Intent
import android.content.IntentFilter

/**
 * Battery level and charging: reads the sticky `ACTION_BATTERY_CHANGED` at start, then follows
 * it and `ACTION_POWER_CONNECTED` / `ACTION_POWER_DISCONNECTED` (after which it re-reads the
 * sticky battery intent, which already carries the new plug state). `ACTION_BATTERY_CHANGED`
 * also fires for voltage and temperature changes: only a change of level or charging becomes a
 * sample. These are system broadcasts, registered without an export flag as Android asks.
 */
class BatteryCollector(context: Context, private val sink: SampleSink, private val diagnostics: Diagnostics) : Collector {
    private val context = context.applicationContext ?: context
    private val lock = Any()
    private var receiver: BroadcastReceiver? = null
    private var lastLevel = Double.NaN
    private var lastCharging: Boolean? = null

    override val name = "battery"
    override val isActive: Boolean get() = synchronized(lock) { receiver != null }

    override fun start() = diagnostics.guard("$name collector did not start") {
        synchronized(lock) {
            if (receiver != null) return@guard
            val r = object : BroadcastReceiver() {
                override fun onReceive(context: Context?, intent: Intent?) =
                    diagnostics.guard("$name broadcast ${intent?.action} not handled") { onBroadcast(intent) }
            }
            val filter = IntentFilter().apply {
                addAction(Intent.ACTION_BATTERY_CHANGED)
                addAction(Intent.ACTION_POWER_CONNECTED)
                addAction(Intent.ACTION_POWER_DISCONNECTED)
            }
            val sticky = this.context.registerReceiver(r, filter)
            receiver = r
            offer(sticky)
        }
    }

    override fun stop() = diagnostics.guard("$name collector did not stop cleanly") {
        val r = synchronized(lock) { receiver.also { receiver = null } } ?: return@guard
        context.unregisterReceiver(r)
    }

    private fun onBroadcast(intent: Intent?) {
        when (intent?.action) {
            Intent.ACTION_BATTERY_CHANGED -> offer(intent)
            // The plug state changed: the sticky battery intent is the authoritative reading.
            Intent.ACTION_POWER_CONNECTED, Intent.ACTION_POWER_DISCONNECTED ->
                offer(context.registerReceiver(null, IntentFilter(Intent.ACTION_BATTERY_CHANGED)))
        }
    }

    private fun offer(intent: Intent?) {
        val sample = AndroidMappings.batterySample(intent) ?: return
        synchronized(lock) {
            if (sample.levelPercent == lastLevel && sample.charging == lastCharging) return
            lastLevel = sample.levelPercent
            lastCharging = sample.charging
        }
        sink.record(sample)
    }
}

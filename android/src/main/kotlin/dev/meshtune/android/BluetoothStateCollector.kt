package dev.meshtune.android

import android.bluetooth.BluetoothAdapter
import android.bluetooth.BluetoothManager
import android.content.BroadcastReceiver
import android.content.Context
import android.content.Intent
import android.content.IntentFilter

/**
 * Bluetooth turned off or on, an OS-side change the glue can observe: every
 * `BluetoothAdapter.ACTION_STATE_CHANGED` goes to [driver], whose core then keeps the scanner
 * off without retrying (`STATE_TURNING_OFF`, `STATE_OFF`) or starts the schedule again at once
 * (`STATE_ON`). At start, an adapter already off is reported. A system broadcast, registered
 * without an export flag; reading `isEnabled` needs no permission from API 31 on, and a
 * refusal on older releases is reported in [diagnostics], not thrown.
 */
class BluetoothStateCollector(context: Context, private val driver: ScanDriver, private val diagnostics: Diagnostics) : Collector {
    private val context = context.applicationContext ?: context
    private val lock = Any()
    private var receiver: BroadcastReceiver? = null

    override val name = "bluetooth"
    override val isActive: Boolean get() = synchronized(lock) { receiver != null }

    override fun start() = diagnostics.guard("$name collector did not start") {
        synchronized(lock) {
            if (receiver != null) return@guard
            val r = object : BroadcastReceiver() {
                override fun onReceive(context: Context?, intent: Intent?) = diagnostics.guard("$name broadcast not handled") {
                    when (intent?.getIntExtra(BluetoothAdapter.EXTRA_STATE, BluetoothAdapter.ERROR)) {
                        BluetoothAdapter.STATE_ON -> driver.radioStateChanged(true)
                        BluetoothAdapter.STATE_TURNING_OFF, BluetoothAdapter.STATE_OFF -> driver.radioStateChanged(false)
                        else -> {} // turning on: wait for STATE_ON
                    }
                }
            }
            context.registerReceiver(r, IntentFilter(BluetoothAdapter.ACTION_STATE_CHANGED))
            receiver = r
            val adapter = (context.getSystemService(Context.BLUETOOTH_SERVICE) as? BluetoothManager)?.adapter
            if (adapter == null) {
                driver.radioStateChanged(false) // no Bluetooth on this device
            } else {
                diagnostics.guard("$name collector: reading BluetoothAdapter.isEnabled") {
                    if (!adapter.isEnabled) driver.radioStateChanged(false)
                }
            }
        }
    }

    override fun stop() = diagnostics.guard("$name collector did not stop cleanly") {
        val r = synchronized(lock) { receiver.also { receiver = null } } ?: return@guard
        context.unregisterReceiver(r)
    }
}

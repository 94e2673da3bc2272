package dev.meshtune.android

import android.bluetooth.BluetoothGatt
import android.bluetooth.le.AdvertiseSettings
import android.bluetooth.le.ScanSettings
import android.content.ComponentCallbacks2
import android.content.Intent
import android.os.BatteryManager
import android.os.PowerManager
import dev.meshtune.AdvertiseMode
import dev.meshtune.ConnectionPriority
import dev.meshtune.MemoryPressureLevel
import dev.meshtune.MetricSample
import dev.meshtune.OptimizationAction
import dev.meshtune.ScanMode
import dev.meshtune.ThermalState
import dev.meshtune.TxPower

/**
 * The pure translations between Android's values and MeshTune's, kept apart from the
 * collectors and the applier so that each one is tested on its own.
 */
object AndroidMappings {
    private const val BYTES_PER_MB = 1024.0 * 1024.0

    /**
     * A `Battery` sample from an `ACTION_BATTERY_CHANGED` intent (the sticky one or a later
     * one): level as `EXTRA_LEVEL * 100 / EXTRA_SCALE`, charging when a power source is plugged
     * in (`EXTRA_PLUGGED != 0`) or the status says charging. Null when the intent lacks a level.
     */
    fun batterySample(intent: Intent?): MetricSample.Battery? {
        if (intent == null) return null
        val level = intent.getIntExtra(BatteryManager.EXTRA_LEVEL, -1)
        val scale = intent.getIntExtra(BatteryManager.EXTRA_SCALE, -1)
        if (level < 0 || scale <= 0) return null
        val percent = (level * 100.0 / scale).coerceIn(0.0, 100.0)
        val plugged = intent.getIntExtra(BatteryManager.EXTRA_PLUGGED, 0)
        val status = intent.getIntExtra(BatteryManager.EXTRA_STATUS, BatteryManager.BATTERY_STATUS_UNKNOWN)
        val charging = plugged != 0 || status == BatteryManager.BATTERY_STATUS_CHARGING
        return MetricSample.Battery(levelPercent = percent, charging = charging)
    }

    /**
     * The pressure an `onTrimMemory` level signals, or null for a level that is not memory
     * pressure (`TRIM_MEMORY_UI_HIDDEN` only says the UI went away; the app-state collector
     * covers that). `RUNNING_CRITICAL` and `COMPLETE` are Critical (the process is about to be
     * killed); `RUNNING_MODERATE`, `RUNNING_LOW`, `BACKGROUND` and `MODERATE` are Moderate.
     * Since API 34 the system sends only `UI_HIDDEN` and `BACKGROUND`.
     */
    @Suppress("DEPRECATION")
    fun memoryPressure(trimLevel: Int): MemoryPressureLevel? = when {
        trimLevel >= ComponentCallbacks2.TRIM_MEMORY_COMPLETE -> MemoryPressureLevel.CRITICAL
        trimLevel == ComponentCallbacks2.TRIM_MEMORY_UI_HIDDEN -> null
        trimLevel >= ComponentCallbacks2.TRIM_MEMORY_BACKGROUND -> MemoryPressureLevel.MODERATE
        trimLevel == ComponentCallbacks2.TRIM_MEMORY_RUNNING_CRITICAL -> MemoryPressureLevel.CRITICAL
        trimLevel >= ComponentCallbacks2.TRIM_MEMORY_RUNNING_MODERATE -> MemoryPressureLevel.MODERATE
        else -> null
    }

    /**
     * Android's `THERMAL_STATUS_*` onto MeshTune's four states (iOS's scale): NONE is Nominal;
     * LIGHT and MODERATE ("UX not largely impacted") are Fair; SEVERE ("UX largely impacted",
     * iOS's "performance reduced") is Serious; CRITICAL, EMERGENCY and SHUTDOWN are Critical.
     */
    fun thermalState(status: Int): ThermalState = when {
        status >= PowerManager.THERMAL_STATUS_CRITICAL -> ThermalState.CRITICAL
        status == PowerManager.THERMAL_STATUS_SEVERE -> ThermalState.SERIOUS
        status >= PowerManager.THERMAL_STATUS_LIGHT -> ThermalState.FAIR
        else -> ThermalState.NOMINAL
    }

    /** The Java heap in use (`totalMemory - freeMemory`) against its limit (`maxMemory`), in MB. */
    fun heapSample(runtime: Runtime = Runtime.getRuntime()): MetricSample.Heap {
        val limit = runtime.maxMemory().toDouble()
        val used = (runtime.totalMemory() - runtime.freeMemory()).toDouble().coerceIn(0.0, limit)
        return MetricSample.Heap(usedMb = used / BYTES_PER_MB, limitMb = limit / BYTES_PER_MB)
    }

    /** `ScanSettings.SCAN_MODE_*` for a MeshTune scan mode. */
    fun scanMode(mode: ScanMode): Int = when (mode) {
        ScanMode.OPPORTUNISTIC -> ScanSettings.SCAN_MODE_OPPORTUNISTIC
        ScanMode.LOW_POWER -> ScanSettings.SCAN_MODE_LOW_POWER
        ScanMode.BALANCED -> ScanSettings.SCAN_MODE_BALANCED
        ScanMode.LOW_LATENCY -> ScanSettings.SCAN_MODE_LOW_LATENCY
    }

    /** The `ScanSettings` for a `SetScanMode` action (results delivered at once, no batching). */
    fun scanSettings(action: OptimizationAction.SetScanMode): ScanSettings = scanSettings(action.mode)

    /** `ScanSettings` for [mode], results delivered at once (no batching). */
    fun scanSettings(mode: ScanMode): ScanSettings = ScanSettings.Builder()
        .setScanMode(scanMode(mode))
        .setReportDelay(0)
        .build()

    /** `AdvertiseSettings.ADVERTISE_MODE_*` for a MeshTune advertising mode. */
    fun advertiseMode(mode: AdvertiseMode): Int = when (mode) {
        AdvertiseMode.LOW_POWER -> AdvertiseSettings.ADVERTISE_MODE_LOW_POWER
        AdvertiseMode.BALANCED -> AdvertiseSettings.ADVERTISE_MODE_BALANCED
        AdvertiseMode.LOW_LATENCY -> AdvertiseSettings.ADVERTISE_MODE_LOW_LATENCY
    }

    /** `AdvertiseSettings.ADVERTISE_TX_POWER_*` for a MeshTune TX power. */
    fun txPower(power: TxPower): Int = when (power) {
        TxPower.ULTRA_LOW -> AdvertiseSettings.ADVERTISE_TX_POWER_ULTRA_LOW
        TxPower.LOW -> AdvertiseSettings.ADVERTISE_TX_POWER_LOW
        TxPower.MEDIUM -> AdvertiseSettings.ADVERTISE_TX_POWER_MEDIUM
        TxPower.HIGH -> AdvertiseSettings.ADVERTISE_TX_POWER_HIGH
    }

    /** The `AdvertiseSettings` for a `SetAdvertising` action; a mesh node advertises connectable, without timeout. */
    fun advertiseSettings(action: OptimizationAction.SetAdvertising, connectable: Boolean = true): AdvertiseSettings = AdvertiseSettings.Builder()
        .setAdvertiseMode(advertiseMode(action.mode))
        .setTxPowerLevel(txPower(action.txPower))
        .setConnectable(connectable)
        .setTimeout(0)
        .build()

    /** `BluetoothGatt.CONNECTION_PRIORITY_*` for a MeshTune connection priority. */
    fun connectionPriority(priority: ConnectionPriority): Int = when (priority) {
        ConnectionPriority.LOW_POWER -> BluetoothGatt.CONNECTION_PRIORITY_LOW_POWER
        ConnectionPriority.BALANCED -> BluetoothGatt.CONNECTION_PRIORITY_BALANCED
        ConnectionPriority.HIGH -> BluetoothGatt.CONNECTION_PRIORITY_HIGH
    }

    /** The name of a `CONNECTION_PRIORITY_*` value, for acknowledgement details. */
    fun connectionPriorityName(value: Int): String = when (value) {
        BluetoothGatt.CONNECTION_PRIORITY_LOW_POWER -> "CONNECTION_PRIORITY_LOW_POWER"
        BluetoothGatt.CONNECTION_PRIORITY_BALANCED -> "CONNECTION_PRIORITY_BALANCED"
        BluetoothGatt.CONNECTION_PRIORITY_HIGH -> "CONNECTION_PRIORITY_HIGH"
        else -> "connection priority $value"
    }
}

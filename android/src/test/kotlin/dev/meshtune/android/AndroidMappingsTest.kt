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
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.RobolectricTestRunner
import org.robolectric.annotation.Config
import kotlin.test.assertEquals
import kotlin.test.assertNull
import kotlin.test.assertTrue

@RunWith(RobolectricTestRunner::class)
@Config(sdk = [34], manifest = Config.NONE)
class AndroidMappingsTest {
    @Test
    fun batteryIntentBecomesBatterySample() {
        assertEquals(MetricSample.Battery(42.0, false), AndroidMappings.batterySample(batteryIntent(42)))
        // Level relative to the scale, and plugged in means charging.
        assertEquals(
            MetricSample.Battery(50.0, true),
            AndroidMappings.batterySample(batteryIntent(100, scale = 200, plugged = BatteryManager.BATTERY_PLUGGED_USB)),
        )
        assertEquals(
            MetricSample.Battery(80.0, true),
            AndroidMappings.batterySample(batteryIntent(80, status = BatteryManager.BATTERY_STATUS_CHARGING)),
        )
        // A full battery on the desk, unplugged, is not charging.
        assertEquals(
            MetricSample.Battery(100.0, false),
            AndroidMappings.batterySample(batteryIntent(100, status = BatteryManager.BATTERY_STATUS_FULL)),
        )
    }

    @Test
    fun batteryIntentWithoutLevelGivesNoSample() {
        assertNull(AndroidMappings.batterySample(null))
        assertNull(AndroidMappings.batterySample(Intent(Intent.ACTION_BATTERY_CHANGED)))
        assertNull(AndroidMappings.batterySample(batteryIntent(50, scale = 0)))
    }

    @Suppress("DEPRECATION")
    @Test
    fun trimLevelsBecomeMemoryPressure() {
        assertEquals(MemoryPressureLevel.CRITICAL, AndroidMappings.memoryPressure(ComponentCallbacks2.TRIM_MEMORY_RUNNING_CRITICAL))
        assertEquals(MemoryPressureLevel.CRITICAL, AndroidMappings.memoryPressure(ComponentCallbacks2.TRIM_MEMORY_COMPLETE))
        assertEquals(MemoryPressureLevel.MODERATE, AndroidMappings.memoryPressure(ComponentCallbacks2.TRIM_MEMORY_RUNNING_LOW))
        assertEquals(MemoryPressureLevel.MODERATE, AndroidMappings.memoryPressure(ComponentCallbacks2.TRIM_MEMORY_RUNNING_MODERATE))
        assertEquals(MemoryPressureLevel.MODERATE, AndroidMappings.memoryPressure(ComponentCallbacks2.TRIM_MEMORY_BACKGROUND))
        assertEquals(MemoryPressureLevel.MODERATE, AndroidMappings.memoryPressure(ComponentCallbacks2.TRIM_MEMORY_MODERATE))
        assertNull(AndroidMappings.memoryPressure(ComponentCallbacks2.TRIM_MEMORY_UI_HIDDEN))
        assertNull(AndroidMappings.memoryPressure(0))
    }

    @Test
    fun thermalStatusesMapOntoFourStates() {
        assertEquals(ThermalState.NOMINAL, AndroidMappings.thermalState(PowerManager.THERMAL_STATUS_NONE))
        assertEquals(ThermalState.FAIR, AndroidMappings.thermalState(PowerManager.THERMAL_STATUS_LIGHT))
        assertEquals(ThermalState.FAIR, AndroidMappings.thermalState(PowerManager.THERMAL_STATUS_MODERATE))
        assertEquals(ThermalState.SERIOUS, AndroidMappings.thermalState(PowerManager.THERMAL_STATUS_SEVERE))
        assertEquals(ThermalState.CRITICAL, AndroidMappings.thermalState(PowerManager.THERMAL_STATUS_CRITICAL))
        assertEquals(ThermalState.CRITICAL, AndroidMappings.thermalState(PowerManager.THERMAL_STATUS_EMERGENCY))
        assertEquals(ThermalState.CRITICAL, AndroidMappings.thermalState(PowerManager.THERMAL_STATUS_SHUTDOWN))
    }

    @Test
    fun heapSampleIsWithinTheLimit() {
        val heap = AndroidMappings.heapSample()
        assertTrue(heap.limitMb > 0.0, "$heap")
        assertTrue(heap.usedMb in 0.0..heap.limitMb, "$heap")
    }

    @Test
    fun setScanModeLowPowerBuildsLowPowerScanSettings() {
        val settings = AndroidMappings.scanSettings(OptimizationAction.SetScanMode(ScanMode.LOW_POWER, 2_000u, 28_000u))
        assertEquals(ScanSettings.SCAN_MODE_LOW_POWER, settings.scanMode)
        assertEquals(0L, settings.reportDelayMillis)
        assertEquals(ScanSettings.SCAN_MODE_OPPORTUNISTIC, AndroidMappings.scanMode(ScanMode.OPPORTUNISTIC))
        assertEquals(ScanSettings.SCAN_MODE_BALANCED, AndroidMappings.scanMode(ScanMode.BALANCED))
        assertEquals(ScanSettings.SCAN_MODE_LOW_LATENCY, AndroidMappings.scanMode(ScanMode.LOW_LATENCY))
    }

    @Test
    fun setAdvertisingBuildsAdvertiseSettings() {
        val settings = AndroidMappings.advertiseSettings(OptimizationAction.SetAdvertising(AdvertiseMode.LOW_POWER, TxPower.ULTRA_LOW))
        assertEquals(AdvertiseSettings.ADVERTISE_MODE_LOW_POWER, settings.mode)
        assertEquals(AdvertiseSettings.ADVERTISE_TX_POWER_ULTRA_LOW, settings.txPowerLevel)
        assertTrue(settings.isConnectable)
        assertEquals(0, settings.timeout)
        val fast = AndroidMappings.advertiseSettings(OptimizationAction.SetAdvertising(AdvertiseMode.LOW_LATENCY, TxPower.HIGH))
        assertEquals(AdvertiseSettings.ADVERTISE_MODE_LOW_LATENCY, fast.mode)
        assertEquals(AdvertiseSettings.ADVERTISE_TX_POWER_HIGH, fast.txPowerLevel)
    }

    @Test
    fun connectionPrioritiesAreTheGattConstants() {
        assertEquals(BluetoothGatt.CONNECTION_PRIORITY_LOW_POWER, AndroidMappings.connectionPriority(ConnectionPriority.LOW_POWER))
        assertEquals(BluetoothGatt.CONNECTION_PRIORITY_BALANCED, AndroidMappings.connectionPriority(ConnectionPriority.BALANCED))
        assertEquals(BluetoothGatt.CONNECTION_PRIORITY_HIGH, AndroidMappings.connectionPriority(ConnectionPriority.HIGH))
    }
}

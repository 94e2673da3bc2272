package dev.meshtune.android

import android.bluetooth.BluetoothAdapter
import android.bluetooth.BluetoothGatt
import android.bluetooth.le.AdvertiseSettings
import android.bluetooth.le.ScanCallback
import android.bluetooth.le.ScanSettings
import android.os.Looper
import dev.meshtune.AdvertiseMode
import dev.meshtune.ConnectionPriority
import dev.meshtune.OptimizationAction
import dev.meshtune.ScanMode
import dev.meshtune.TxPower
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.RobolectricTestRunner
import org.robolectric.Shadows.shadowOf
import org.robolectric.annotation.Config
import org.robolectric.shadows.ShadowBluetoothGatt
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertIs
import kotlin.test.assertTrue

@RunWith(RobolectricTestRunner::class)
@Config(sdk = [34], manifest = Config.NONE)
class DefaultActionApplierTest {
    private val scan = FakeScanControl()
    private val advertise = FakeAdvertiseControl()
    private val maxConnections = mutableListOf<Int>()
    private val controller = object : MeshController {
        override fun setMaxConnections(max: Int): ApplyResult {
            maxConnections += max
            return ApplyResult.Applied
        }

        override fun setCompression(enabled: Boolean, minSizeBytes: Int): ApplyResult = throw IllegalStateException("codec not loaded")
    }
    private val applier = DefaultActionApplier(controller, scan, advertise, Looper.getMainLooper())

    private fun notApplied(result: ApplyResult): String {
        assertIs<ApplyResult.NotApplied>(result)
        assertFalse(result.applied)
        return result.reason
    }

    @Test
    fun setScanModeLowPowerStartsLowPowerScanSettingsAndDutyCycles() {
        val result = applier.apply(OptimizationAction.SetScanMode(ScanMode.LOW_POWER, 2_000u, 28_000u))
        assertEquals(ApplyResult.Applied, result)
        assertEquals(listOf(ScanSettings.SCAN_MODE_LOW_POWER), scan.starts.map { it.scanMode })
        assertTrue(scan.scanning)
        advanceMain(2_000) // virtual time: the on phase ends
        assertFalse(scan.scanning)
        assertEquals(1, scan.stops)
        advanceMain(28_000) // the off phase ends
        assertTrue(scan.scanning)
        assertEquals(2, scan.starts.size)
        // A new mode replaces the cycle: continuous low latency, no more stops.
        applier.apply(OptimizationAction.SetScanMode(ScanMode.LOW_LATENCY, 10_000u, 0u))
        assertEquals(ScanSettings.SCAN_MODE_LOW_LATENCY, scan.starts.last().scanMode)
        val stops = scan.stops
        advanceMain(120_000)
        assertEquals(stops, scan.stops)
        assertTrue(scan.scanning)
    }

    @Test
    fun aScanCycleTooShortForAndroidsQuotaIsStretchedNotRefused() {
        // 1 s on, 1 s off would start 15 scans in 30 s; Android blocks the sixth. The core runs
        // five, then waits for the quota (the old glue refused the action).
        assertEquals(ApplyResult.Applied, applier.apply(OptimizationAction.SetScanMode(ScanMode.BALANCED, 1_000u, 1_000u)))
        advanceMain(29_000)
        assertEquals(5, scan.starts.size)
        advanceMain(2_000)
        assertEquals(6, scan.starts.size)
        assertEquals(1uL, applier.scanDriver.stats().startsDeferredByQuota)
    }

    @Test
    fun aSecurityExceptionIsAcknowledgedAsNotAppliedAndThePreviousCycleKept() {
        applier.apply(OptimizationAction.SetScanMode(ScanMode.BALANCED, 8_000u, 2_000u))
        scan.refuseNext = SecurityException("Need android.permission.BLUETOOTH_SCAN permission for AttributionSource")
        val reason = notApplied(applier.apply(OptimizationAction.SetScanMode(ScanMode.LOW_POWER, 2_000u, 28_000u)))
        assertTrue(reason.startsWith("startScan(LOW_POWER): SecurityException: Need android.permission.BLUETOOTH_SCAN"), reason)
        // The balanced cycle was restarted and goes on: off after 8 s, on again 2 s later.
        assertEquals(listOf(ScanSettings.SCAN_MODE_BALANCED, ScanSettings.SCAN_MODE_BALANCED), scan.starts.map { it.scanMode })
        advanceMain(2_000)
        assertTrue(scan.scanning, "the refused cycle's 2 s on phase did not stay scheduled")
        advanceMain(6_000)
        assertFalse(scan.scanning)
        advanceMain(2_000)
        assertTrue(scan.scanning)
        assertEquals(ScanSettings.SCAN_MODE_BALANCED, scan.starts.last().scanMode)
    }

    @Test
    fun aCycleWhoseStartsAreRefusedRetriesAtItsNextOnPhase() {
        scan.refuseWith = SecurityException("Need android.permission.BLUETOOTH_SCAN permission")
        notApplied(applier.apply(OptimizationAction.SetScanMode(ScanMode.BALANCED, 8_000u, 2_000u)))
        assertTrue(scan.starts.isEmpty())
        // Nothing was running before, so nothing is left scheduled by the refused cycle.
        scan.refuseWith = null
        advanceMain(60_000)
        assertTrue(scan.starts.isEmpty())
    }

    @Test
    fun withoutAScanControlScanningIsNotApplied() {
        val bare = DefaultActionApplier(controller)
        val reason = notApplied(bare.apply(OptimizationAction.SetScanMode(ScanMode.LOW_POWER, 2_000u, 28_000u)))
        assertTrue(reason.contains("no ScanControl"), reason)
    }

    @Test
    fun leScanControlStartsTheRealScannerWithTheSettings() {
        @Suppress("DEPRECATION")
        val adapter = BluetoothAdapter.getDefaultAdapter()
        shadowOf(adapter).setEnabled(true)
        val callback = object : ScanCallback() {}
        val real = DefaultActionApplier(controller, LeScanControl({ adapter }, emptyList(), callback))
        assertEquals(ApplyResult.Applied, real.apply(OptimizationAction.SetScanMode(ScanMode.LOW_POWER, 2_000u, 28_000u)))
        val active = shadowOf(adapter.bluetoothLeScanner).activeScans
        assertEquals(listOf(ScanSettings.SCAN_MODE_LOW_POWER), active.map { it.scanSettings()!!.scanMode })
        advanceMain(2_000)
        assertTrue(shadowOf(adapter.bluetoothLeScanner).activeScans.isEmpty(), "stopped for the off phase")
        real.close() // ends the cycle with scanning on again
        assertEquals(1, shadowOf(adapter.bluetoothLeScanner).activeScans.size)

        shadowOf(adapter).setEnabled(false)
        val reason = notApplied(real.apply(OptimizationAction.SetScanMode(ScanMode.BALANCED, 8_000u, 2_000u)))
        assertTrue(reason.contains("Bluetooth is off"), reason)
    }

    @Test
    fun setAdvertisingRestartsAdvertisingWithModeAndTxPower() {
        assertEquals(ApplyResult.Applied, applier.apply(OptimizationAction.SetAdvertising(AdvertiseMode.LOW_POWER, TxPower.ULTRA_LOW)))
        val settings = advertise.starts.single()
        assertEquals(AdvertiseSettings.ADVERTISE_MODE_LOW_POWER, settings.mode)
        assertEquals(AdvertiseSettings.ADVERTISE_TX_POWER_ULTRA_LOW, settings.txPowerLevel)
        advertise.refuseWith = SecurityException("Need android.permission.BLUETOOTH_ADVERTISE permission")
        val reason = notApplied(applier.apply(OptimizationAction.SetAdvertising(AdvertiseMode.BALANCED, TxPower.MEDIUM)))
        assertTrue(reason.contains("SecurityException") && reason.contains("BLUETOOTH_ADVERTISE"), reason)
    }

    @Test
    fun connectionPriorityGoesToEveryConnectionThroughRequestConnectionPriority() {
        @Suppress("DEPRECATION")
        val device = BluetoothAdapter.getDefaultAdapter().getRemoteDevice("00:11:22:33:AA:BB")
        val gatt: BluetoothGatt = ShadowBluetoothGatt.newInstance(device)
        applier.addConnection(gatt)
        assertEquals(ApplyResult.Applied, applier.apply(OptimizationAction.SetConnectionPriority(ConnectionPriority.HIGH)))
        assertEquals(BluetoothGatt.CONNECTION_PRIORITY_HIGH, shadowOf(gatt).connectionPriority)
        // A connection made later gets the current priority too.
        val later = FakeGattLink("peer-later")
        assertEquals(ApplyResult.Applied, applier.addConnection(later))
        assertEquals(listOf(BluetoothGatt.CONNECTION_PRIORITY_HIGH), later.requests)
        applier.removeConnection(gatt)
        assertEquals(setOf<GattLink>(later), applier.connections)
    }

    @Test
    fun aRefusedConnectionPriorityRequestIsNotApplied() {
        applier.addConnection(FakeGattLink("peer-ok"))
        applier.addConnection(FakeGattLink("peer-busy", answer = false))
        val reason = notApplied(applier.apply(OptimizationAction.SetConnectionPriority(ConnectionPriority.LOW_POWER)))
        assertEquals("requestConnectionPriority(CONNECTION_PRIORITY_LOW_POWER) returned false for peer-busy", reason)

        val noPermission = FakeGattLink("peer-x", throws = SecurityException("Need android.permission.BLUETOOTH_CONNECT permission"))
        val bare = DefaultActionApplier(controller)
        bare.addConnection(noPermission)
        val denied = notApplied(bare.apply(OptimizationAction.SetConnectionPriority(ConnectionPriority.HIGH)))
        assertTrue(denied.contains("SecurityException: Need android.permission.BLUETOOTH_CONNECT"), denied)
    }

    @Test
    fun meshKnobsGoToTheAppsController() {
        assertEquals(ApplyResult.Applied, applier.apply(OptimizationAction.SetMaxConnections(4u)))
        assertEquals(listOf(4), maxConnections)
        // Not implemented by this app: the interface's default.
        val unsupported = notApplied(applier.apply(OptimizationAction.SetMessageBatching(true, 8u, 50u)))
        assertEquals("SetMessageBatching is not supported by this app", unsupported)
        // The app's code threw: acknowledged as not applied, not rethrown.
        val threw = notApplied(applier.apply(OptimizationAction.SetCompression(true, 256u)))
        assertEquals("SetCompression threw IllegalStateException: codec not loaded", threw)
        assertEquals(ApplyResult.Applied, applier.apply(OptimizationAction.RequestGarbageCollection))
    }
}

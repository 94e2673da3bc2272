package dev.meshtune.android

import android.bluetooth.BluetoothAdapter
import android.bluetooth.BluetoothGatt
import android.bluetooth.BluetoothProfile
import android.bluetooth.le.ScanResult
import dev.meshtune.MetricSample
import dev.meshtune.ScanMode
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.RobolectricTestRunner
import org.robolectric.annotation.Config
import org.robolectric.shadows.ShadowBluetoothGatt
import kotlin.test.assertEquals
import kotlin.test.assertTrue

@RunWith(RobolectricTestRunner::class)
@Config(sdk = [34], manifest = Config.NONE)
class BleMetricsTest {
    private val sink = RecordingSink()
    private val diagnostics = Diagnostics()
    private var now = 1_000L
    private val ble = BleMetrics(sink, diagnostics) { now }

    @Suppress("DEPRECATION")
    private val device = BluetoothAdapter.getDefaultAdapter().getRemoteDevice("00:11:22:33:AA:BB")
    private val gatt: BluetoothGatt = ShadowBluetoothGatt.newInstance(device)

    @Test
    fun successfulRssiReadsBecomeLinkRssi() {
        ble.onReadRemoteRssi(gatt, -67, BluetoothGatt.GATT_SUCCESS)
        ble.onReadRemoteRssi(gatt, -20, BluetoothGatt.GATT_FAILURE)
        assertEquals(listOf(MetricSample.LinkRssi("00:11:22:33:AA:BB", -67)), sink.all<MetricSample.LinkRssi>())
    }

    @Test
    fun connectionSetUpTimeIsMeasuredFromConnecting() {
        ble.connecting(device.address)
        now += 420
        ble.onConnectionStateChange(gatt, BluetoothGatt.GATT_SUCCESS, BluetoothProfile.STATE_CONNECTED)
        assertEquals(listOf(MetricSample.ConnectionEstablished(420.0)), sink.all<MetricSample.ConnectionEstablished>())
        assertEquals(MetricSample.PeerCount(1u, 1u), sink.all<MetricSample.PeerCount>().last())
        ble.onConnectionStateChange(gatt, BluetoothGatt.GATT_SUCCESS, BluetoothProfile.STATE_DISCONNECTED)
        assertEquals(MetricSample.PeerCount(0u, 1u), sink.all<MetricSample.PeerCount>().last())
        // A failed attempt is no connection.
        ble.connecting(device.address)
        ble.onConnectionStateChange(gatt, 133, BluetoothProfile.STATE_CONNECTED)
        assertEquals(1, sink.all<MetricSample.ConnectionEstablished>().size)
    }

    @Suppress("DEPRECATION")
    @Test
    fun discoveriesAreDecidedInTheCoreAndReSightingsNeverCount() {
        ble.scanStarted(ScanMode.LOW_LATENCY) // an app that runs its own scans reports them
        now += 1_500
        ble.onScanResult(ScanResult(device, null, -70, 0L))
        now += 500
        ble.onScanResult(ScanResult(device, null, -71, 0L)) // seen again: not a discovery
        ble.peerSeen("peer-2")
        assertEquals(listOf(1_500.0, 2_000.0), sink.all<MetricSample.PeerDiscovered>().map { it.durationMs })
        assertEquals(MetricSample.PeerCount(0u, 2u), sink.all<MetricSample.PeerCount>().last())
        // A restart of the scan within the session: the same peers are not discovered again
        // (the old glue re-recorded every peer at each scan start).
        ble.scanStopped()
        now += 1_000
        ble.scanStarted(ScanMode.LOW_LATENCY)
        now += 100
        ble.peerSeen("peer-2")
        ble.onScanResult(ScanResult(device, null, -70, 0L))
        assertEquals(2, sink.all<MetricSample.PeerDiscovered>().size)
        val stats = ble.driver.stats()
        assertEquals(2uL, stats.discoveries)
        assertEquals(3uL, stats.resightings)
        assertEquals(0 to 2, ble.peerCount)
    }

    @Test
    fun messagesBecomeDeliveredAndLostSamples() {
        ble.messageDelivered(latencyMs = 240.0, hops = 3, bytes = 512)
        ble.messageLost(hops = 7)
        assertEquals(
            listOf(MetricSample.MessageDelivered(240.0, 3u, 512u), MetricSample.MessageLost(7u)),
            sink.samples.toList(),
        )
    }

    @Test
    fun aThrowingSinkDoesNotReachTheCallback() {
        val failing = BleMetrics({ throw IllegalStateException("core gone") }, diagnostics) { now }
        failing.messageDelivered(1.0, 1, 1) // must not throw
        assertEquals(1, diagnostics.problemCount)
        assertTrue(diagnostics.lastProblem!!.contains("core gone"))
    }
}

package dev.meshtune.android

import android.bluetooth.BluetoothGatt
import android.bluetooth.BluetoothProfile
import android.bluetooth.le.ScanCallback
import android.bluetooth.le.ScanResult
import android.os.SystemClock
import dev.meshtune.MetricSample
import dev.meshtune.ScanMode

/**
 * Helpers the app calls from its own `BluetoothGattCallback`, `ScanCallback` and mesh code;
 * each turns an event into samples. Nothing here throws into the callback that called it.
 *
 * ```kotlin
 * override fun onReadRemoteRssi(gatt: BluetoothGatt, rssi: Int, status: Int) =
 *     meshTune.ble.onReadRemoteRssi(gatt, rssi, status)
 * override fun onConnectionStateChange(gatt: BluetoothGatt, status: Int, newState: Int) =
 *     meshTune.ble.onConnectionStateChange(gatt, status, newState)
 * override fun onScanResult(callbackType: Int, result: ScanResult) = meshTune.ble.onScanResult(result)
 * override fun onScanFailed(errorCode: Int) = meshTune.ble.onScanFailed(errorCode)
 * ```
 *
 * What a discovery is, and its time, is decided in the core ([ScanDriver], `BleCoordinator`),
 * the same on iOS: a peer's first sighting, or its first after it went unseen for 20 s of
 * scanning; re-sightings never count. Discoveries are timed from the start of a scan session
 * for the peers found in its first 20 s of scanning; peers found later are counted as arrivals
 * without a time (a phone cannot see when a peer came into range). Peers are identified by
 * their Bluetooth address (or any id the app passes).
 */
class BleMetrics @JvmOverloads constructor(
    private val sink: SampleSink,
    private val diagnostics: Diagnostics,
    driver: ScanDriver? = null,
    clock: () -> Long = { SystemClock.elapsedRealtime() },
) {
    /**
     * The scan driver whose core coordinator decides discoveries: the one given (the facade
     * passes its applier's), or one of its own on [clock] that drives no scanner.
     */
    val driver: ScanDriver = (driver ?: ScanDriver(diagnostics = diagnostics, clock = clock)).also { it.sink = sink }

    /** From `BluetoothGattCallback.onReadRemoteRssi`: a successful read becomes `LinkRssi`. */
    fun onReadRemoteRssi(gatt: BluetoothGatt, rssi: Int, status: Int) = diagnostics.guard("onReadRemoteRssi") {
        if (status == BluetoothGatt.GATT_SUCCESS) rssiRead(gatt.device.address, rssi)
    }

    /** An RSSI reading of the link to [peerId], in dBm. */
    fun rssiRead(peerId: String, rssiDbm: Int) = diagnostics.guard("rssiRead") {
        sink.record(MetricSample.LinkRssi(peerId = peerId, rssiDbm = rssiDbm))
    }

    /** Call right before `connectGatt` to [peerId]: the set-up time is measured from here. */
    fun connecting(peerId: String) = driver.report("connecting") { c, now -> c.connectRequested(peerId, now) }

    /**
     * From `BluetoothGattCallback.onConnectionStateChange`: a successful connection records its
     * set-up time (since [connecting]) as `ConnectionEstablished`; connections and
     * disconnections update `PeerCount`.
     */
    fun onConnectionStateChange(gatt: BluetoothGatt, status: Int, newState: Int) = diagnostics.guard("onConnectionStateChange") {
        val peer = gatt.device.address
        when {
            newState == BluetoothProfile.STATE_CONNECTED && status == BluetoothGatt.GATT_SUCCESS -> connected(peer)
            newState == BluetoothProfile.STATE_DISCONNECTED || newState == BluetoothProfile.STATE_CONNECTED -> disconnected(peer)
        }
    }

    /** [peerId] is connected: records its set-up time if [connecting] was called, and the peer count. */
    fun connected(peerId: String) = driver.report("connected") { c, now -> c.connectionChanged(peerId, true, now) }

    /** [peerId] disconnected (or failed to connect): updates the peer count. */
    fun disconnected(peerId: String) = driver.report("disconnected") { c, now -> c.connectionChanged(peerId, false, now) }

    /** A connection set-up measured by the app itself. */
    fun connectionEstablished(durationMs: Double) = diagnostics.guard("connectionEstablished") {
        sink.record(MetricSample.ConnectionEstablished(durationMs = durationMs))
    }

    /** From `ScanCallback.onScanResult`: a scan result for the peer's address ([peerSeen]). */
    fun onScanResult(result: ScanResult) = diagnostics.guard("onScanResult") {
        peerSeen(result.device.address)
    }

    /** [peerId] was seen in a scan; the core decides whether that is a discovery, and its time. */
    fun peerSeen(peerId: String) = driver.scanResult(peerId)

    /**
     * From `ScanCallback.onScanFailed`: the scan is not running (the core retries on its
     * schedule). `SCAN_FAILED_ALREADY_STARTED` means a scan is running, and is ignored.
     */
    fun onScanFailed(errorCode: Int) {
        if (errorCode == ScanCallback.SCAN_FAILED_ALREADY_STARTED) return
        driver.scanFailed("onScanFailed($errorCode)")
    }

    /** For an app that runs its own scans (no `ScanControl`): a scan started in [mode]. It counts against Android's quota. */
    fun scanStarted(mode: ScanMode) = driver.report("scanStarted") { c, now -> c.scanStarted(mode, now) }

    /** For an app that runs its own scans: the scan stopped. */
    fun scanStopped() = driver.report("scanStopped") { c, now -> c.scanStopped(now) }

    /** A mesh message arrived (or was acknowledged end to end) after [latencyMs] over [hops] hops. */
    fun messageDelivered(latencyMs: Double, hops: Int, bytes: Int) = diagnostics.guard("messageDelivered") {
        sink.record(
            MetricSample.MessageDelivered(
                latencyMs = latencyMs,
                // A negative hop count is passed on as it is (wrapped), and the core refuses it
                // naming MessageDelivered.hops: the glue does not decide what a bad value means.
                hops = hops.toUInt(),
                bytes = bytes.coerceAtLeast(0).toUInt(),
            ),
        )
    }

    /** A mesh message is known lost (TTL expired, no acknowledgement in time) after [hops] hops. */
    fun messageLost(hops: Int) = diagnostics.guard("messageLost") {
        sink.record(MetricSample.MessageLost(hops = hops.toUInt()))
    }

    /** Peers connected now, and present (seen within the last 20 s of scanning, or connected). */
    val peerCount: Pair<Int, Int>
        get() = driver.stats().let { it.connectedPeers.toInt() to it.presentPeers.toInt() }
}

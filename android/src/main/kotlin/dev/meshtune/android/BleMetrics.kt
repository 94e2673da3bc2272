package dev.meshtune.android

import android.bluetooth.BluetoothGatt
import android.bluetooth.BluetoothProfile
import android.bluetooth.le.ScanResult
import android.os.SystemClock
import dev.meshtune.MetricSample

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
 * ```
 *
 * Durations use [clock] (default `SystemClock.elapsedRealtime`, which keeps counting in deep
 * sleep). Peers are identified by their Bluetooth address (or any id the app passes).
 */
class BleMetrics(
    private val sink: SampleSink,
    private val diagnostics: Diagnostics,
    private val clock: () -> Long = { SystemClock.elapsedRealtime() },
) {
    private val lock = Any()
    private val connectStartedAt = HashMap<String, Long>()
    private val connected = LinkedHashSet<String>()
    private val discovered = object : LinkedHashMap<String, Unit>() {
        override fun removeEldestEntry(eldest: MutableMap.MutableEntry<String, Unit>?) = size > MAX_KNOWN_PEERS
    }
    private var scanStartedAt: Long? = null
    private val seenThisScan = HashSet<String>()
    private var lastCount: Pair<Int, Int>? = null

    /** From `BluetoothGattCallback.onReadRemoteRssi`: a successful read becomes `LinkRssi`. */
    fun onReadRemoteRssi(gatt: BluetoothGatt, rssi: Int, status: Int) = diagnostics.guard("onReadRemoteRssi") {
        if (status == BluetoothGatt.GATT_SUCCESS) rssiRead(gatt.device.address, rssi)
    }

    /** An RSSI reading of the link to [peerId], in dBm. */
    fun rssiRead(peerId: String, rssiDbm: Int) = diagnostics.guard("rssiRead") {
        sink.record(MetricSample.LinkRssi(peerId = peerId, rssiDbm = rssiDbm))
    }

    /** Call right before `connectGatt` to [peerId]: the set-up time is measured from here. */
    fun connecting(peerId: String) = diagnostics.guard("connecting") {
        synchronized(lock) { connectStartedAt[peerId] = clock() }
    }

    /**
     * From `BluetoothGattCallback.onConnectionStateChange`: a successful connection records its
     * set-up time (since [connecting]) as `ConnectionEstablished`; connections and
     * disconnections update `PeerCount`.
     */
    fun onConnectionStateChange(gatt: BluetoothGatt, status: Int, newState: Int) =
        diagnostics.guard("onConnectionStateChange") {
            val peer = gatt.device.address
            when {
                newState == BluetoothProfile.STATE_CONNECTED && status == BluetoothGatt.GATT_SUCCESS -> connected(peer)
                newState == BluetoothProfile.STATE_DISCONNECTED || newState == BluetoothProfile.STATE_CONNECTED -> disconnected(peer)
            }
        }

    /** [peerId] is connected: records its set-up time if [connecting] was called, and the peer count. */
    fun connected(peerId: String) = diagnostics.guard("connected") {
        val startedAt = synchronized(lock) {
            connected.add(peerId)
            discovered[peerId] = Unit
            connectStartedAt.remove(peerId)
        }
        if (startedAt != null) connectionEstablished((clock() - startedAt).coerceAtLeast(0).toDouble())
        recordPeerCount()
    }

    /** [peerId] disconnected (or failed to connect): updates the peer count. */
    fun disconnected(peerId: String) = diagnostics.guard("disconnected") {
        synchronized(lock) {
            connected.remove(peerId)
            connectStartedAt.remove(peerId)
        }
        recordPeerCount()
    }

    /** A connection set-up measured by the app itself. */
    fun connectionEstablished(durationMs: Double) = diagnostics.guard("connectionEstablished") {
        sink.record(MetricSample.ConnectionEstablished(durationMs = durationMs))
    }

    /** A scan started (the default applier calls this at every duty-cycle start). */
    fun scanStarted() = diagnostics.guard("scanStarted") {
        synchronized(lock) {
            scanStartedAt = clock()
            seenThisScan.clear()
        }
    }

    /** From `ScanCallback.onScanResult`: the first sighting of a peer in a scan is a `PeerDiscovered`. */
    fun onScanResult(result: ScanResult) = diagnostics.guard("onScanResult") {
        peerDiscovered(result.device.address)
    }

    /** [peerId] was seen in a scan: its first sighting since [scanStarted] records the discovery time. */
    fun peerDiscovered(peerId: String) = diagnostics.guard("peerDiscovered") {
        val (firstThisScan, startedAt, isNew) = synchronized(lock) {
            val isNew = discovered.put(peerId, Unit) == null
            Triple(seenThisScan.add(peerId), scanStartedAt, isNew)
        }
        if (firstThisScan && startedAt != null) {
            sink.record(MetricSample.PeerDiscovered(durationMs = (clock() - startedAt).coerceAtLeast(0).toDouble()))
        }
        if (isNew) recordPeerCount()
    }

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

    /** Peers connected now and known (connected ones included). */
    val peerCount: Pair<Int, Int> get() = synchronized(lock) { connected.size to maxOf(discovered.size, connected.size) }

    private fun recordPeerCount() {
        val count = synchronized(lock) {
            val now = connected.size to maxOf(discovered.size, connected.size)
            if (now == lastCount) return
            lastCount = now
            now
        }
        sink.record(MetricSample.PeerCount(connected = count.first.toUInt(), discovered = count.second.toUInt()))
    }

    companion object {
        /** Known peers kept for `PeerCount.discovered`; the oldest are forgotten beyond it. */
        const val MAX_KNOWN_PEERS = 1024
    }
}

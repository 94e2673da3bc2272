package dev.meshtune.android

import android.annotation.SuppressLint
import android.bluetooth.BluetoothAdapter
import android.bluetooth.BluetoothGatt
import android.bluetooth.le.AdvertiseCallback
import android.bluetooth.le.AdvertiseData
import android.bluetooth.le.AdvertiseSettings
import android.bluetooth.le.ScanCallback
import android.bluetooth.le.ScanFilter
import android.bluetooth.le.ScanSettings

/** Thrown by the controls below when Bluetooth is off or absent; acknowledged as not applied. */
class BluetoothUnavailableException(message: String) : IllegalStateException(message)

/**
 * Starts and stops the app's BLE scan. [LeScanControl] drives `BluetoothLeScanner` with the
 * app's filters and callback; an app that owns its scanning implements this itself. Both may
 * throw (a `SecurityException` for a missing `BLUETOOTH_SCAN` permission, for example): the
 * applier acknowledges that as not applied.
 */
interface ScanControl {
    /** (Re)starts scanning with [settings]. */
    fun start(settings: ScanSettings)

    /** Stops scanning (no-op when not scanning). */
    fun stop()
}

/** Starts and stops the app's advertising; [LeAdvertiseControl] drives `BluetoothLeAdvertiser`. */
interface AdvertiseControl {
    /** (Re)starts advertising with [settings]. */
    fun start(settings: AdvertiseSettings)

    /** Stops advertising (no-op when not advertising). */
    fun stop()
}

/** One GATT connection whose priority MeshTune sets. [BluetoothGattLink] wraps a `BluetoothGatt`. */
interface GattLink {
    /** The peer's id (its address), for acknowledgement details. */
    val peerId: String

    /** `BluetoothGatt.requestConnectionPriority`: false when the stack refused the request. */
    fun requestConnectionPriority(priority: Int): Boolean
}

/** A `BluetoothGatt` as a [GattLink]. Needs `BLUETOOTH_CONNECT` on Android 12+. */
class BluetoothGattLink(val gatt: BluetoothGatt) : GattLink {
    override val peerId: String get() = gatt.device.address

    @SuppressLint("MissingPermission")
    override fun requestConnectionPriority(priority: Int): Boolean = gatt.requestConnectionPriority(priority)

    override fun equals(other: Any?) = other is BluetoothGattLink && other.gatt === gatt
    override fun hashCode() = System.identityHashCode(gatt)
}

/**
 * Scans with `BluetoothLeScanner` using the app's [filters] and [callback] (the app keeps
 * handling results in its callback). Needs `BLUETOOTH_SCAN` on Android 12+
 * (`BLUETOOTH_ADMIN` and location before).
 */
class LeScanControl(private val adapter: () -> BluetoothAdapter?, private val filters: List<ScanFilter>, private val callback: ScanCallback) : ScanControl {
    private val lock = Any()
    private var scanning = false

    @SuppressLint("MissingPermission")
    override fun start(settings: ScanSettings) {
        synchronized(lock) {
            val scanner = adapter()?.takeIf { it.isEnabled }?.bluetoothLeScanner
                ?: throw BluetoothUnavailableException("Bluetooth is off or absent (no BluetoothLeScanner)")
            if (scanning) scanner.stopScan(callback) // the same callback twice is SCAN_FAILED_ALREADY_STARTED
            scanning = false
            scanner.startScan(filters, settings, callback)
            scanning = true
        }
    }

    @SuppressLint("MissingPermission")
    override fun stop() {
        synchronized(lock) {
            if (!scanning) return
            scanning = false
            adapter()?.takeIf { it.isEnabled }?.bluetoothLeScanner?.stopScan(callback)
        }
    }
}

/**
 * Advertises with `BluetoothLeAdvertiser` using the app's [data], [scanResponse] and [callback]
 * (the callback learns of `onStartFailure`). Needs `BLUETOOTH_ADVERTISE` on Android 12+.
 */
class LeAdvertiseControl(
    private val adapter: () -> BluetoothAdapter?,
    private val data: AdvertiseData,
    private val scanResponse: AdvertiseData?,
    private val callback: AdvertiseCallback,
) : AdvertiseControl {
    private val lock = Any()
    private var advertising = false

    @SuppressLint("MissingPermission")
    override fun start(settings: AdvertiseSettings) {
        synchronized(lock) {
            val advertiser = adapter()?.takeIf { it.isEnabled }?.bluetoothLeAdvertiser
                ?: throw BluetoothUnavailableException("Bluetooth is off or absent (no BluetoothLeAdvertiser)")
            if (advertising) advertiser.stopAdvertising(callback)
            advertising = false
            advertiser.startAdvertising(settings, data, scanResponse, callback)
            advertising = true
        }
    }

    @SuppressLint("MissingPermission")
    override fun stop() {
        synchronized(lock) {
            if (!advertising) return
            advertising = false
            adapter()?.takeIf { it.isEnabled }?.bluetoothLeAdvertiser?.stopAdvertising(callback)
        }
    }
}

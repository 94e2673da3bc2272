package dev.meshtune.android

import android.bluetooth.BluetoothGatt
import android.os.Looper
import dev.meshtune.OptimizationAction
import java.util.concurrent.CopyOnWriteArraySet

/**
 * The default [ActionApplier]:
 * - `SetScanMode` → the core's scan schedule, run by [scanDriver] on [looper]: `ScanSettings`
 *   ([AndroidMappings.scanSettings]) started through [scan], on for `dutyOnMs`, off for
 *   `dutyOffMs`, again (continuous when `dutyOffMs` is 0). The core never starts more than 5
 *   scans in 30 s (Android 7+ silently blocks apps that do): a cycle too short for that is
 *   stretched, and a mode change waits for the quota (acknowledged as applied meanwhile).
 * - `SetAdvertising` → `AdvertiseSettings` (mode, TX power) restarted through [advertise].
 * - `SetConnectionPriority` → `BluetoothGatt.requestConnectionPriority` on every connection
 *   registered with [addConnection], and on each one registered later.
 * - everything else → the app's [controller].
 *
 * Refusals are results, not exceptions: no [scan]/[advertise] control, Bluetooth off, a
 * `SecurityException` (missing `BLUETOOTH_SCAN`/`BLUETOOTH_CONNECT`/`BLUETOOTH_ADVERTISE`), or
 * `requestConnectionPriority` returning false all come back as [ApplyResult.NotApplied] with
 * the platform's reason. A scan start that fails leaves the previous scan cycle running.
 */
class DefaultActionApplier @JvmOverloads constructor(
    private val controller: MeshController,
    private val scan: ScanControl? = null,
    private val advertise: AdvertiseControl? = null,
    looper: Looper = Looper.getMainLooper(),
    private val diagnostics: Diagnostics = Diagnostics(),
) : ActionApplier {
    private val links = CopyOnWriteArraySet<GattLink>()

    /** Runs the core's scan schedule with [scan]; the facade's [BleMetrics] reports through it too. */
    val scanDriver = ScanDriver(scan, looper, diagnostics)

    @Volatile
    private var priority: Int? = null

    override fun apply(action: OptimizationAction): ApplyResult = try {
        when (action) {
            is OptimizationAction.SetScanMode -> applyScan(action)
            is OptimizationAction.SetAdvertising -> applyAdvertising(action)
            is OptimizationAction.SetConnectionPriority -> applyPriority(AndroidMappings.connectionPriority(action.priority))
            is OptimizationAction.SetMaxConnections -> controller.setMaxConnections(action.max.toInt())
            is OptimizationAction.SetMessageBatching ->
                controller.setMessageBatching(action.enabled, action.maxBatch.toInt(), action.maxDelayMs.toInt())
            is OptimizationAction.SetCompression -> controller.setCompression(action.enabled, action.minSizeBytes.toInt())
            is OptimizationAction.SetRelayPolicy -> controller.setRelayPolicy(action.maxHops.toInt(), action.minRssiDbm)
            is OptimizationAction.TrimCaches -> controller.trimCaches(action.percent.toInt())
            is OptimizationAction.SetObjectPooling -> controller.setObjectPooling(action.enabled)
            OptimizationAction.RequestGarbageCollection -> controller.requestGarbageCollection()
            is OptimizationAction.SetConsensusBatchSize -> controller.setConsensusBatchSize(action.size.toInt())
            is OptimizationAction.SetParallelValidation -> controller.setParallelValidation(action.enabled)
            is OptimizationAction.SetVoteCache -> controller.setVoteCache(action.enabled)
        }
    } catch (t: Throwable) {
        ApplyResult.NotApplied("${action.javaClass.simpleName} threw ${Diagnostics.describe(t)}")
    }

    /**
     * Registers a connection: it gets the current connection priority now (the result says
     * whether the stack took it) and every later `SetConnectionPriority`.
     */
    fun addConnection(link: GattLink): ApplyResult {
        links.add(link)
        val p = priority ?: return ApplyResult.Applied
        return request(link, p)?.let { reason ->
            diagnostics.report(reason)
            ApplyResult.NotApplied(reason)
        } ?: ApplyResult.Applied
    }

    /** [addConnection] for a `BluetoothGatt` (call it from `onConnectionStateChange`). */
    fun addConnection(gatt: BluetoothGatt): ApplyResult = addConnection(BluetoothGattLink(gatt))

    /** Forgets a connection (call it when it disconnects). */
    fun removeConnection(link: GattLink) {
        links.remove(link)
    }

    /** [removeConnection] for a `BluetoothGatt`. */
    fun removeConnection(gatt: BluetoothGatt) = removeConnection(BluetoothGattLink(gatt))

    /** The connections registered now. */
    val connections: Set<GattLink> get() = links.toSet()

    /**
     * Ends the duty cycle. Scanning is left on, continuously, in the last mode applied (an off
     * phase is ended), so the mesh keeps working after MeshTune stops; stop it through your
     * [ScanControl] if you want it off.
     */
    override fun close() = scanDriver.close()

    private fun applyScan(action: OptimizationAction.SetScanMode): ApplyResult = scanDriver.apply(action)

    private fun applyAdvertising(action: OptimizationAction.SetAdvertising): ApplyResult {
        val control = advertise
            ?: return ApplyResult.NotApplied("advertising is not managed through MeshTune (no AdvertiseControl given)")
        return try {
            control.start(AndroidMappings.advertiseSettings(action))
            ApplyResult.Applied
        } catch (t: Throwable) {
            ApplyResult.NotApplied("startAdvertising(${action.mode}, ${action.txPower}): ${Diagnostics.describe(t)}")
        }
    }

    private fun applyPriority(value: Int): ApplyResult {
        val failures = links.mapNotNull { request(it, value) }
        if (failures.isNotEmpty()) return ApplyResult.NotApplied(failures.joinToString("; "))
        priority = value
        return ApplyResult.Applied
    }

    /** Null when the stack took [value], the reason otherwise. */
    private fun request(link: GattLink, value: Int): String? {
        val name = AndroidMappings.connectionPriorityName(value)
        return try {
            if (link.requestConnectionPriority(value)) {
                null
            } else {
                "requestConnectionPriority($name) returned false for ${link.peerId}"
            }
        } catch (t: Throwable) {
            "requestConnectionPriority($name) for ${link.peerId}: ${Diagnostics.describe(t)}"
        }
    }
}

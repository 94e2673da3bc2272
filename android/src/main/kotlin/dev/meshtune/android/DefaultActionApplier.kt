package dev.meshtune.android

import android.bluetooth.BluetoothGatt
import android.bluetooth.le.ScanSettings
import android.os.Handler
import android.os.Looper
import dev.meshtune.OptimizationAction
import java.util.concurrent.CopyOnWriteArraySet

/**
 * The default [ActionApplier]:
 * - `SetScanMode` → `ScanSettings` ([AndroidMappings.scanSettings]) started through [scan];
 *   with `dutyOffMs > 0` scanning is duty-cycled on [looper]: on for `dutyOnMs`, off for
 *   `dutyOffMs`, again. A cycle shorter than [AndroidMappings.MIN_SCAN_DUTY_PERIOD_MS] is
 *   refused (Android 7+ silently blocks apps that start scans more than 5 times in 30 s).
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
    private val handler = Handler(looper)
    private val links = CopyOnWriteArraySet<GattLink>()
    private val scanLock = Any()
    private var cycle: DutyCycle? = null

    @Volatile
    private var priority: Int? = null

    /** Called at every scan start (the facade points it at [BleMetrics.scanStarted] for discovery times). */
    @Volatile
    var onScanStarted: (() -> Unit)? = null

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
    override fun close() {
        synchronized(scanLock) {
            val last = cycle ?: return
            cycle = null
            last.cancel()
            if (!last.scanning) diagnostics.guard("restarting the scan on close") { last.control.start(last.settings) }
        }
    }

    private fun applyScan(action: OptimizationAction.SetScanMode): ApplyResult {
        val control = scan
            ?: return ApplyResult.NotApplied("scanning is not managed through MeshTune (no ScanControl given)")
        val onMs = action.dutyOnMs.toLong()
        val offMs = action.dutyOffMs.toLong()
        if (offMs > 0 && onMs + offMs < AndroidMappings.MIN_SCAN_DUTY_PERIOD_MS) {
            return ApplyResult.NotApplied(
                "a ${onMs} ms on / ${offMs} ms off scan cycle starts scans more than 5 times in 30 s, " +
                    "which Android 7+ answers by silently blocking the app's scans",
            )
        }
        val settings = AndroidMappings.scanSettings(action)
        synchronized(scanLock) {
            val previous = cycle
            previous?.cancel()
            val next = DutyCycle(control, settings, onMs, offMs)
            return try {
                next.begin()
                cycle = next
                ApplyResult.Applied
            } catch (t: Throwable) {
                // Keep what was running: the engine restores its belief to the previous value.
                next.cancel()
                cycle = previous
                previous?.let { diagnostics.guard("restarting the previous scan cycle") { it.begin() } }
                ApplyResult.NotApplied("startScan(${action.mode}): ${Diagnostics.describe(t)}")
            }
        }
    }

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
            if (link.requestConnectionPriority(value)) null
            else "requestConnectionPriority($name) returned false for ${link.peerId}"
        } catch (t: Throwable) {
            "requestConnectionPriority($name) for ${link.peerId}: ${Diagnostics.describe(t)}"
        }
    }

    /** One scan configuration, on continuously (offMs == 0) or on/off on the handler. */
    private inner class DutyCycle(
        val control: ScanControl,
        val settings: ScanSettings,
        private val onMs: Long,
        private val offMs: Long,
    ) {
        @Volatile
        var scanning = false
            private set
        private val stopPhase = Runnable { phase(start = false) }
        private val startPhase = Runnable { phase(start = true) }

        /**
         * Starts scanning now (throws what the control throws) and schedules the off phase,
         * also when the start failed: the cycle then retries at its next on phase.
         */
        fun begin() {
            if (offMs > 0) handler.postDelayed(stopPhase, onMs)
            control.start(settings)
            scanning = true
            onScanStarted?.let { diagnostics.guard("onScanStarted") { it() } }
        }

        fun cancel() {
            handler.removeCallbacks(stopPhase)
            handler.removeCallbacks(startPhase)
        }

        private fun phase(start: Boolean): Unit = diagnostics.guard("scan duty cycle (${if (start) "on" else "off"} phase)") {
            synchronized(scanLock) {
                if (cycle !== this) return@guard
                if (start) {
                    // A failed restart (permission revoked, Bluetooth off) is retried next period.
                    handler.postDelayed(stopPhase, onMs)
                    control.start(settings)
                    scanning = true
                    onScanStarted?.let { it() }
                } else {
                    handler.postDelayed(startPhase, offMs)
                    scanning = false
                    control.stop()
                }
            }
        }
    }
}

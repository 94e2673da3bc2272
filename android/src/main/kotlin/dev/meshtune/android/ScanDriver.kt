package dev.meshtune.android

import android.os.Handler
import android.os.Looper
import android.os.SystemClock
import dev.meshtune.BleCoordinator
import dev.meshtune.BleRules
import dev.meshtune.BleStats
import dev.meshtune.BleUpdate
import dev.meshtune.FastScanResults
import dev.meshtune.OptimizationAction
import dev.meshtune.OptimizerException
import dev.meshtune.ScanMode

/**
 * Runs the core's scan schedule. MeshTune's [BleCoordinator] (in Rust, the same for Android
 * and iOS) decides when the scanner is on and in which mode, keeps Android's scan-start quota
 * (never more than 5 starts in 30 s: a duty cycle too short for it is stretched, not refused)
 * and defines what a discovery is. This class only adapts: it starts and stops [control] when
 * the core says, reports every start, stop and failure back, records the samples the core
 * returns, and keeps the one timer the core asks for, on [looper].
 *
 * [BleMetrics] reports scan results and connections through the same driver. Times come from
 * [clock] (default `SystemClock.elapsedRealtime`, which counts deep sleep).
 */
class ScanDriver @JvmOverloads constructor(
    private val control: ScanControl? = null,
    looper: Looper = Looper.getMainLooper(),
    private val diagnostics: Diagnostics = Diagnostics(),
    private val clock: () -> Long = { SystemClock.elapsedRealtime() },
    rules: BleRules = BleRules(),
) : AutoCloseable {
    /** The core's coordinator (its `stats` count discoveries, arrivals, starts held back by the quota). */
    val coordinator: BleCoordinator = BleCoordinator(rules)

    /** Scan results go to [coordinator] through the fast path (JNI where the library has it). */
    private val fastScanResults = FastScanResults(coordinator)

    /** Whether scan results go over JNI (false: the generated call, for a library without `jni-fastpath`). */
    val scanResultsOverJni: Boolean get() = fastScanResults.jni

    /** Where the samples the core returns go (the facade points it at the optimizer). */
    @Volatile
    var sink: SampleSink? = null

    private val handler = Handler(looper)
    private val lock = Any()
    private var running: ScanMode? = null
    private var plan: OptimizationAction.SetScanMode? = null
    private var startFailure: String? = null
    private var closed = false
    private val timer = Runnable {
        diagnostics.guard("scan schedule step") { synchronized(lock) { if (!closed) follow(coordinator.step(now())) } }
    }

    /** The mode the scanner runs in now, as far as this driver started it (null: off). */
    val scanning: ScanMode? get() = synchronized(lock) { running }

    private fun now(): ULong = clock().coerceAtLeast(0).toULong()

    /** The core's counts now: discoveries timed and untimed, re-sightings, starts, starts held back by the quota. */
    fun stats(): BleStats = coordinator.stats(now())

    /**
     * Runs the schedule of [action]. Applied when the scanner runs it, or waits for the quota
     * to start it; not applied, with the platform's reason, when the start fails (the previous
     * schedule is then restored, as the engine restores its belief). After [close], it starts
     * driving the scanner again.
     */
    fun apply(action: OptimizationAction.SetScanMode): ApplyResult {
        if (control == null) return ApplyResult.NotApplied("scanning is not managed through MeshTune (no ScanControl given)")
        synchronized(lock) {
            // An action after close runs a schedule again (an applier reused by a new MeshTune).
            closed = false
            val previous = plan
            startFailure = null
            val update = try {
                coordinator.setPlan(action, now())
            } catch (e: OptimizerException) {
                return ApplyResult.NotApplied(e.message ?: e.toString())
            }
            follow(update)
            val failure = startFailure ?: run {
                plan = action
                return ApplyResult.Applied
            }
            diagnostics.guard("restoring the previous scan schedule") {
                follow(if (previous != null) coordinator.setPlan(previous, now()) else coordinator.clearPlan(now()))
            }
            return ApplyResult.NotApplied("startScan(${action.mode}): $failure")
        }
    }

    /** An event for the core (from [BleMetrics]): records its samples and follows its answer. */
    internal fun report(what: String, event: (BleCoordinator, ULong) -> BleUpdate) = diagnostics.guard(what) {
        synchronized(lock) { follow(event(coordinator, now())) }
    }

    /**
     * A scan result (from [BleMetrics]), through [FastScanResults]: a re-sighting that changes
     * nothing costs one JNI call, and anything else is followed as any other answer.
     */
    internal fun scanResult(peerId: String) = diagnostics.guard("peerSeen") {
        synchronized(lock) { fastScanResults.scanResult(peerId, now())?.let { follow(it) } }
    }

    /** The OS stopped the scan (Bluetooth turned off): the core retries on its schedule. */
    fun scanStoppedByOs() = diagnostics.guard("scanStoppedByOs") {
        synchronized(lock) {
            running = null
            follow(coordinator.scanStopped(now()))
        }
    }

    /**
     * The radio became unavailable (Bluetooth turned off, the scan permission revoked) or
     * available again. While unavailable the core keeps the scanner off and retries nothing;
     * once available it starts the schedule again at once (within the quota). The facade calls
     * this from `BluetoothAdapter.ACTION_STATE_CHANGED`.
     */
    fun radioStateChanged(available: Boolean) = diagnostics.guard("radioStateChanged") {
        synchronized(lock) {
            if (!available) running = null
            follow(coordinator.radioStateChanged(available, now()))
        }
    }

    /** A scan failed after it started (`ScanCallback.onScanFailed`): [reason] is logged, the core retries. */
    fun scanFailed(reason: String) = diagnostics.guard("scanFailed") {
        synchronized(lock) {
            running = null
            follow(coordinator.scanStartFailed(reason, now()))
        }
    }

    /**
     * Ends the schedule. Scanning is left on, continuously, in the last mode applied (an off
     * phase is ended), so the mesh keeps working after MeshTune stops; stop it through your
     * [ScanControl] if you want it off.
     */
    override fun close() {
        synchronized(lock) {
            if (closed) return
            closed = true
            handler.removeCallbacks(timer)
            val mode = plan?.mode ?: return
            val control = control ?: return
            if (running == null) {
                diagnostics.guard("restarting the scan on close") {
                    control.start(AndroidMappings.scanSettings(mode))
                    running = mode
                    coordinator.scanStarted(mode, now())
                }
            }
        }
    }

    /** Records the samples of [update] and makes the scanner and the timer match it (under [lock]). */
    private fun follow(update: BleUpdate) {
        sink?.let { s -> update.samples.forEach { diagnostics.guard("recording ${it.javaClass.simpleName}") { s.record(it) } } }
        if (closed) return
        handler.removeCallbacks(timer)
        update.scan.nextStepAtMs?.let { at -> handler.postDelayed(timer, (at.toLong() - clock()).coerceAtLeast(0)) }
        val control = control ?: return
        val want = update.scan.mode
        if (want == running) return
        val next = if (want != null) {
            try {
                control.start(AndroidMappings.scanSettings(want))
                running = want
                coordinator.scanStarted(want, now())
            } catch (t: Throwable) {
                running = null
                val reason = Diagnostics.describe(t)
                startFailure = reason
                diagnostics.reportRateLimited("startScan", "startScan($want) failed", t)
                coordinator.scanStartFailed(reason, now())
            }
        } else {
            running = null
            diagnostics.guard("stopScan") { control.stop() }
            coordinator.scanStopped(now())
        }
        follow(next)
    }
}

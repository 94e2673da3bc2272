package dev.meshtune.android

import android.content.Context
import android.os.Looper
import dev.meshtune.ActionEvent
import dev.meshtune.ActionListener
import dev.meshtune.LogLevel
import dev.meshtune.MeshTuneJvm
import dev.meshtune.MetricSample
import dev.meshtune.OptimizationAction
import dev.meshtune.OptimizerConfig
import dev.meshtune.OptimizerException
import dev.meshtune.OptimizerSnapshot
import dev.meshtune.OutcomeEvent
import dev.meshtune.PerformanceOptimizer
import dev.meshtune.initLogging
import dev.meshtune.startOptimizer
import kotlinx.coroutines.channels.BufferOverflow
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.filter
import kotlinx.coroutines.flow.receiveAsFlow
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicLong

/**
 * MeshTune on Android: the Rust optimizer, the platform collectors (battery, power save,
 * thermal, memory, foreground/background) and, when given one, an [ActionApplier] whose
 * results are acknowledged for you.
 *
 * ```kotlin
 * val meshTune = MeshTune.start(context, OptimizerConfig(targetP95LatencyMs = 150.0),
 *     DefaultActionApplier(myMeshController, LeScanControl({ adapter }, filters, scanCallback)))
 * meshTune.ble.messageDelivered(latencyMs = 240.0, hops = 3, bytes = 512)   // from your mesh code
 * lifecycleScope.launch { meshTune.outcomes.collect { Log.i("mesh", "$it") } }
 * // ...
 * meshTune.stop()                                                          // unregisters everything
 * ```
 *
 * Without an applier, collect [actions], apply each one and call [acknowledge].
 */
class MeshTune private constructor(
    /** The Rust optimizer (record, snapshot, reportActionResult). */
    val optimizer: PerformanceOptimizer,
    private val listener: Listener,
    private val collectors: List<Collector>,
    private val applier: ActionApplier?,
    /** What the glue caught instead of throwing (refused samples, collector failures). */
    val diagnostics: Diagnostics,
    /** BLE helpers for the app's GATT and scan callbacks and its mesh code. */
    val ble: BleMetrics,
) {
    private val stopped = AtomicBoolean(false)

    /**
     * Every action, in order. With an applier the actions here are already applied and
     * acknowledged (watch them; beyond [Options.eventBuffer] uncollected ones the oldest is
     * dropped from this flow); without one, apply each and call [acknowledge]: then an action
     * that finds [Options.eventBuffer] uncollected ones is acknowledged NotApplied for you
     * ("never delivered"), and the core restores its belief. Without an applier, an action
     * collected after it expired (its `ackTimeoutMs` ran out, or a newer action replaced it)
     * is not emitted: it is acknowledged NotApplied for you ("expired before the app took it")
     * and counted in [expiredActions]. Collect it once.
     */
    val actions: Flow<ActionEvent> get() = listener.actions()

    /** Actions not applied because they had expired when the app (or the applier) took them. */
    val expiredActions: Long get() = listener.expired.get()

    /** What became of each action (verified, reverted, not applied, ...), buffered like [actions]. */
    val outcomes: Flow<OutcomeEvent> get() = listener.outcomeChannel.receiveAsFlow()

    /** The collectors and whether each is registered (thermal is inactive below API 29). */
    val collectorStates: Map<String, Boolean> get() = collectors.associate { it.name to it.isActive }

    /** Records a sample; a refusal goes to [diagnostics], never thrown. */
    fun record(sample: MetricSample) = listener.sink.record(sample)

    /** Acknowledges action [actionId] (for apps that apply actions from [actions] themselves). */
    fun acknowledge(actionId: ULong, result: ApplyResult) = listener.acknowledge(actionId, result)

    /**
     * Tells MeshTune what the app actually runs, one action per knob that sets it: at start
     * (your scan and advertising settings, say) and whenever a knob changes outside MeshTune
     * (you or the user changed it, the OS forced it). A knob whose acknowledgement never came is
     * unknown to the engine (`snapshot().unknownKnobs`) until this or a late acknowledgement
     * says what you have. An action that expired before you took it from [actions] is answered
     * for you; if you queue actions elsewhere, ask `optimizer.isActionCurrent(id)` before you
     * apply one, and acknowledge it NotApplied when it is not. Throws `OptimizerException.InvalidAction` naming
     * `report_state.actual[i]` for a value out of bounds, `RequestGarbageCollection` or a knob
     * given twice (nothing changes then), and `OptimizerException.Stopped` after [stop].
     */
    @Throws(OptimizerException::class)
    fun reportState(actual: List<OptimizationAction>) = optimizer.reportState(actual)

    /** The optimizer's current view. */
    fun snapshot(): OptimizerSnapshot = optimizer.snapshot()

    /** Whether [stop] was called. */
    val isStopped: Boolean get() = stopped.get()

    /**
     * Unregisters every receiver, listener and callback, ends the applier's duty cycle, stops
     * the optimizer (joining its threads) and closes [actions] and [outcomes]. Idempotent.
     */
    fun stop() {
        if (!stopped.compareAndSet(false, true)) return
        collectors.forEach { it.stop() }
        applier?.let { diagnostics.guard("applier.close()") { it.close() } }
        diagnostics.guard("optimizer.stop()") { optimizer.stop() }
        listener.actionChannel.close()
        listener.outcomeChannel.close()
    }

    /** What [start] sets up besides the optimizer. */
    data class Options(
        /** Battery level and charging. */
        val battery: Boolean = true,
        /** Power save mode. */
        val powerSave: Boolean = true,
        /** Thermal status (API 29+). */
        val thermal: Boolean = true,
        /** onTrimMemory and the Java heap. */
        val memory: Boolean = true,
        /** Foreground/background. */
        val appState: Boolean = true,
        /** Bluetooth turned off or on (to the scan driver, which then retries nothing while off). */
        val bluetoothState: Boolean = true,
        /** Heap sampling period, ms (0: only at start and on trim signals). */
        val heapIntervalMs: Long = MemoryCollector.DEFAULT_HEAP_INTERVAL_MS,
        /** The Rust core's log level in logcat (tag `meshtune`); null leaves logging off. */
        val logLevel: LogLevel? = null,
        /** Actions and outcomes buffered for [actions] / [outcomes] until collected. */
        val eventBuffer: Int = 64,
        /** Where the memory collector's heap timer runs. */
        val looper: Looper = Looper.getMainLooper(),
    )

    /** The optimizer's listener: applies, acknowledges, and feeds the flows. Never throws. */
    private class Listener(private val applier: ActionApplier?, val diagnostics: Diagnostics, eventBuffer: Int) : ActionListener {
        // Without an applier the app applies what it collects from [actions]: an action the
        // channel cannot hold never reaches it, so it is acknowledged NotApplied (the core
        // restores its belief), as the iOS session does. With an applier the flow only observes.
        val actionChannel =
            Channel<ActionEvent>(eventBuffer, if (applier == null) BufferOverflow.SUSPEND else BufferOverflow.DROP_OLDEST)
        val outcomeChannel = Channel<OutcomeEvent>(eventBuffer, BufferOverflow.DROP_OLDEST)
        private val ready = CountDownLatch(1)

        @Volatile
        private var optimizer: PerformanceOptimizer? = null

        @Volatile
        var sink: SampleSink = SampleSink { }
            private set

        fun attach(optimizer: PerformanceOptimizer) {
            this.optimizer = optimizer
            sink = OptimizerSampleSink(optimizer, diagnostics)
            ready.countDown()
        }

        val expired = AtomicLong()

        /** The flow the app collects: without an applier, expired actions are answered, not emitted. */
        fun actions(): Flow<ActionEvent> {
            val flow = actionChannel.receiveAsFlow()
            return if (applier == null) flow.filter { current(it) } else flow
        }

        /**
         * Whether [event] may still be applied; if not (the core says it expired or was
         * replaced), it is acknowledged NotApplied and counted. Decided by the core's clock.
         */
        private fun current(event: ActionEvent): Boolean {
            if (!ready.await(ATTACH_WAIT_SECONDS, TimeUnit.SECONDS)) return true
            val current = try {
                optimizer?.isActionCurrent(event.id) ?: true
            } catch (t: Throwable) {
                diagnostics.report("isActionCurrent(${event.id})", t)
                true
            }
            if (!current) {
                expired.incrementAndGet()
                acknowledge(event.id, ApplyResult.NotApplied("expired before the app took it (ackTimeoutMs ran out, or a newer action replaced it)"))
            }
            return current
        }

        override fun onAction(event: ActionEvent) = diagnostics.guard("action ${event.id} not handled") {
            val delivered = actionChannel.trySend(event).isSuccess
            val a = applier
            if (a == null) {
                if (!delivered) {
                    acknowledge(event.id, ApplyResult.NotApplied("never delivered: the actions flow was full (Options.eventBuffer)"))
                }
                return@guard
            }
            // The listener thread may have been held up (a slow applier before this action).
            if (!current(event)) return@guard
            val result = try {
                a.apply(event.action)
            } catch (t: Throwable) {
                ApplyResult.NotApplied("applier threw ${Diagnostics.describe(t)}")
            }
            acknowledge(event.id, result)
        }

        override fun onOutcome(event: OutcomeEvent) = diagnostics.guard("outcome not handled") {
            outcomeChannel.trySend(event)
        }

        fun acknowledge(actionId: ULong, result: ApplyResult) = diagnostics.guard("acknowledging action $actionId") {
            // The first action can in principle arrive before start() has stored the optimizer.
            if (!ready.await(ATTACH_WAIT_SECONDS, TimeUnit.SECONDS)) {
                diagnostics.report("action $actionId: the optimizer was not attached in time")
                return@guard
            }
            try {
                optimizer?.reportActionResult(actionId, result.applied, result.detail)
            } catch (e: OptimizerException.Stopped) {
                // MeshTune was stopped while the action was being applied.
            }
        }
    }

    companion object {
        private const val ATTACH_WAIT_SECONDS = 5L

        /**
         * Starts the optimizer with [config], registers the collectors chosen in [options] and,
         * with an [applier], applies and acknowledges every action. Throws
         * `OptimizerException.InvalidConfig` for an invalid [config] (nothing is registered
         * then). A collector that cannot start is reported in [diagnostics] and skipped.
         */
        @JvmStatic
        @JvmOverloads
        fun start(context: Context, config: OptimizerConfig = OptimizerConfig(), applier: ActionApplier? = null, options: Options = Options()): MeshTune {
            val diagnostics = Diagnostics()
            // Every listener call on one long-lived thread (thread-locals persist).
            diagnostics.guard("keepListenerThreadAttached") { MeshTuneJvm.keepListenerThreadAttached() }
            options.logLevel?.let { level -> diagnostics.guard("initLogging") { initLogging(level) } }
            val listener = Listener(applier, diagnostics, options.eventBuffer)
            val optimizer = startOptimizer(config, listener)
            listener.attach(optimizer)
            val sink = SampleSink { listener.sink.record(it) }
            // Scan results go to the applier's scan driver, so that the core that runs the scan
            // schedule also decides what a discovery is.
            val driver = (applier as? DefaultActionApplier)?.scanDriver ?: ScanDriver(diagnostics = diagnostics)
            val ble = BleMetrics(sink, diagnostics, driver = driver)
            val collectors = buildList {
                if (options.battery) add(BatteryCollector(context, sink, diagnostics))
                if (options.powerSave) add(PowerSaveCollector(context, sink, diagnostics))
                if (options.thermal) add(ThermalCollector(context, sink, diagnostics))
                if (options.memory) add(MemoryCollector(context, sink, diagnostics, options.heapIntervalMs, options.looper))
                if (options.appState) add(AppStateCollector(context, sink, diagnostics))
                if (options.bluetoothState) add(BluetoothStateCollector(context, driver, diagnostics))
            }
            collectors.forEach { it.start() }
            return MeshTune(optimizer, listener, collectors, applier, diagnostics, ble)
        }
    }
}

package dev.meshtune.android

import android.app.Application
import android.bluetooth.le.ScanSettings
import android.content.ComponentCallbacks2
import android.content.Context
import android.content.Intent
import android.os.PowerManager
import dev.meshtune.ActionEvent
import dev.meshtune.MemoryPressureLevel
import dev.meshtune.OptimizationAction
import dev.meshtune.OptimizerConfig
import dev.meshtune.OptimizerException
import dev.meshtune.OutcomeEvent
import dev.meshtune.ScanMode
import dev.meshtune.ThermalState
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.After
import org.junit.Before
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.RobolectricTestRunner
import org.robolectric.RuntimeEnvironment
import org.robolectric.Shadows.shadowOf
import org.robolectric.annotation.Config
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertTrue

/**
 * The facade against the real Rust core (host libmeshtune.so through JNA): platform signals in,
 * actions applied and acknowledged, outcomes out, everything unregistered by stop().
 */
@RunWith(RobolectricTestRunner::class)
@Config(sdk = [34], manifest = Config.NONE)
class MeshTuneTest {
    private val app: Application = RuntimeEnvironment.getApplication()
    private val powerManager = app.getSystemService(Context.POWER_SERVICE) as PowerManager
    private val scan = FakeScanControl()
    private val maxConnections = java.util.concurrent.CopyOnWriteArrayList<Int>()
    private val controller = object : MeshController {
        override fun setMaxConnections(max: Int): ApplyResult {
            maxConnections += max
            return ApplyResult.Applied
        }
    }
    private var meshTune: MeshTune? = null

    /** Ticks every 10–50 ms instead of 1–30 s, no process sampling: decisions come fast. */
    private val fastConfig = OptimizerConfig(minTickIntervalMs = 10uL, maxTickIntervalMs = 50uL, sampleProcess = false)

    @Before
    fun bluetoothOn() {
        // Robolectric's adapter starts off; the facade's Bluetooth collector would then keep the
        // scanner off.
        shadowOf(android.bluetooth.BluetoothAdapter.getDefaultAdapter()).setEnabled(true)
    }

    @After
    fun tearDown() {
        meshTune?.stop()
    }

    @Test
    fun theAppReportsItsStateAndABadReportChangesNothing() {
        val m = MeshTune.start(app, fastConfig).also { meshTune = it }
        val scanState = OptimizationAction.SetScanMode(ScanMode.LOW_POWER, 2_000u, 28_000u)
        m.reportState(listOf(scanState))
        // One snapshot: the belief is the report, unless the engine has since asked for another
        // scan setting (that action is then pending, and is the belief).
        fun believedOrAskedAgain() = m.snapshot().let { s ->
            s.profile.first() == scanState || s.pendingActions.any { it.action is OptimizationAction.SetScanMode }
        }
        assertTrue(believedOrAskedAgain())
        assertEquals(1uL, m.snapshot().counters.externalChanges)
        val e = kotlin.test.assertFailsWith<OptimizerException.InvalidAction> {
            m.reportState(listOf(OptimizationAction.SetScanMode(ScanMode.BALANCED, 8_000u, 2_000u), OptimizationAction.RequestGarbageCollection))
        }
        assertEquals("report_state.actual[1]", e.field)
        assertTrue(believedOrAskedAgain(), "all or nothing: the refused report changed nothing")
        assertEquals(1uL, m.snapshot().counters.externalChanges, "all or nothing")
        assertEquals(emptyList(), m.snapshot().unknownKnobs)
    }

    /** Waits (bounded) for the first item of [flow] that matches; a hang guard, not a timing check. */
    private fun <T> firstOf(flow: kotlinx.coroutines.flow.Flow<T>, match: (T) -> Boolean): T = runBlocking { withTimeout(20_000) { flow.first(match) } }

    @Suppress("DEPRECATION")
    @Test
    fun criticalBatteryLeadsToAppliedAndAcknowledgedPowerSavingAndStopUnregistersEverything() {
        app.sendStickyBroadcast(batteryIntent(5)) // 5 %, unplugged: a safety case for the power strategy
        val applier = DefaultActionApplier(controller, scan, advertise = null)
        val mt = MeshTune.start(app, fastConfig, applier, MeshTune.Options(heapIntervalMs = 0))
        meshTune = mt
        assertEquals(
            mapOf("battery" to true, "power-save" to true, "thermal" to true, "memory" to true, "app-state" to true, "bluetooth" to true),
            mt.collectorStates,
        )

        // The battery collector's sample reached the core, which decided to save power.
        val scanAction = firstOf(mt.actions) { it.action is OptimizationAction.SetScanMode }
        val mode = (scanAction.action as OptimizationAction.SetScanMode).mode
        eventually("the applier started a scan") { scan.starts.isNotEmpty() }
        assertEquals(AndroidMappings.scanMode(mode), scan.starts.first().scanMode)
        assertEquals(ScanSettings.SCAN_MODE_LOW_POWER, scan.starts.first().scanMode)
        eventually("the core saw the battery") { mt.snapshot().metrics.device.batteryPercent == 5.0 }

        // Advertising has no control here: acknowledged as not applied, with the reason, and
        // the core answers with a NotApplied outcome.
        val refused = firstOf(mt.outcomes) { it is OutcomeEvent.NotApplied } as OutcomeEvent.NotApplied
        assertTrue(refused.detail!!.contains("no AdvertiseControl"), refused.detail)
        eventually("acknowledgements counted") {
            val c = mt.snapshot().counters
            c.actionsApplied >= 1uL && c.actionsRefused >= 1uL
        }
        eventually("SetMaxConnections reached the controller") { maxConnections.isNotEmpty() }

        // Platform signals through the collectors.
        shadowOf(powerManager).setCurrentThermalStatus(PowerManager.THERMAL_STATUS_SEVERE)
        @Suppress("DEPRECATION")
        app.onTrimMemory(ComponentCallbacks2.TRIM_MEMORY_RUNNING_CRITICAL)
        eventually("thermal and memory pressure reached the core") {
            val d = mt.snapshot().metrics.device
            d.thermal == ThermalState.SERIOUS && d.memoryPressure == MemoryPressureLevel.CRITICAL
        }
        assertEquals(0L, mt.diagnostics.problemCount, "${mt.diagnostics.lastProblem}")

        mt.stop()
        assertTrue(mt.isStopped)
        assertTrue(mt.optimizer.isStopped())
        assertEquals(emptyMap<String, Boolean>(), mt.collectorStates.filterValues { it })
        assertEquals(0, shadowOf(app).registeredReceivers.count { it.intentFilter.hasAction(Intent.ACTION_BATTERY_CHANGED) })
        assertEquals(0, shadowOf(app).registeredReceivers.count { it.intentFilter.hasAction(PowerManager.ACTION_POWER_SAVE_MODE_CHANGED) })
        assertEquals(0, shadowOf(powerManager).thermalStatusListeners.size)
        assertEquals(0, shadowOf(app).registeredReceivers.count { it.intentFilter.hasAction(android.bluetooth.BluetoothAdapter.ACTION_STATE_CHANGED) })
        // The flows complete after stop (what was buffered is still delivered).
        val rest: List<ActionEvent> = runBlocking { withTimeout(20_000) { mt.actions.toList() } }
        assertTrue(rest.all { it.id > scanAction.id }, "in order: $rest")
        // After stop nothing throws into the app: samples are dropped quietly.
        mt.ble.messageDelivered(10.0, 1, 10)
        mt.stop() // idempotent
    }

    @Test
    fun withoutAnApplierTheAppAcknowledgesFromTheFlow() {
        val mt = MeshTune.start(app, fastConfig, applier = null, MeshTune.Options(heapIntervalMs = 0, appState = false))
        meshTune = mt
        // A slow mesh: p95 far above the 100 ms target, so the network strategy acts.
        repeat(200) { mt.ble.messageDelivered(latencyMs = 500.0, hops = 2, bytes = 100) }
        val event = firstOf(mt.actions) { true }
        mt.acknowledge(event.id, ApplyResult.NotApplied("radio busy"))
        val outcome = firstOf(mt.outcomes) { it.actionId == event.id }
        assertEquals(OutcomeEvent.NotApplied(event.id, "radio busy"), outcome)
    }

    @Test
    fun anInvalidConfigRegistersNothing() {
        val before = shadowOf(app).registeredReceivers.size
        assertFailsWith<OptimizerException.InvalidConfig> {
            MeshTune.start(app, OptimizerConfig(targetP95LatencyMs = -1.0))
        }
        assertEquals(before, shadowOf(app).registeredReceivers.size)
    }
}

/** The action an outcome is about (Rust's `OutcomeEvent::action_id`, not exported). */
private val OutcomeEvent.actionId: ULong
    get() = when (this) {
        is OutcomeEvent.Improved -> actionId
        is OutcomeEvent.NoEffect -> actionId
        is OutcomeEvent.Worse -> actionId
        is OutcomeEvent.Inconclusive -> actionId
        is OutcomeEvent.NotApplied -> actionId
        is OutcomeEvent.Superseded -> actionId
        is OutcomeEvent.Unacknowledged -> actionId
    }

/** The overflow and logging contract of the facade, against the real core. */
@RunWith(RobolectricTestRunner::class)
@Config(sdk = [34], manifest = Config.NONE)
class MeshTuneOverflowTest {
    private val app: Application = RuntimeEnvironment.getApplication()
    private val fastConfig = OptimizerConfig(minTickIntervalMs = 10uL, maxTickIntervalMs = 50uL, sampleProcess = false)

    @Test
    fun withoutAnApplierAnActionTheFlowCannotHoldIsNotAppliedAndTheBeliefRestored() {
        // A buffer of one, never collected: the first action waits in it, the next find it full.
        val config = fastConfig.copy(ackTimeoutMs = 600_000uL) // the buffered action stays pending
        val mt = MeshTune.start(app, config, applier = null, MeshTune.Options(heapIntervalMs = 0, appState = false, eventBuffer = 1))
        try {
            repeat(200) { mt.ble.messageDelivered(latencyMs = 500.0, hops = 2, bytes = 100) }
            // Several actions in one tick: the latency repair changes one knob at a time, the
            // memory strategy's safety actions come together.
            mt.optimizer.record(dev.meshtune.MetricSample.MemoryPressure(dev.meshtune.MemoryPressureLevel.CRITICAL))
            eventually("actions beyond the buffer were acknowledged NotApplied") { mt.snapshot().counters.actionsRefused >= 1uL }
            val c = mt.snapshot().counters
            assertTrue(c.actionsEmitted >= 2uL, "counters: $c")
            // The one in the buffer is delivered (and still pending); the refused ones are not.
            val first = runBlocking { withTimeout(20_000) { mt.actions.first() } }
            val pending = mt.snapshot().pendingActions.map { it.id }
            assertTrue(first.id in pending, "pending: $pending")
            assertTrue(pending.size.toULong() <= c.actionsEmitted - c.actionsRefused, "pending: $pending, counters: $c")
        } finally {
            mt.stop()
        }
    }

    @Test
    fun anActionCollectedAfterItExpiredIsNotEmittedButAnsweredNotApplied() {
        // Acknowledgements time out after 200 ms; the app collects the flow only later.
        val config = fastConfig.copy(ackTimeoutMs = 200uL)
        val mt = MeshTune.start(app, config, applier = null, MeshTune.Options(heapIntervalMs = 0, appState = false))
        try {
            repeat(200) { mt.ble.messageDelivered(latencyMs = 500.0, hops = 2, bytes = 100) }
            val timedOut = runBlocking { withTimeout(20_000) { mt.outcomes.first { it is OutcomeEvent.Unacknowledged } } }
            // The buffered actions are older than 200 ms now: none of those is emitted.
            val seen = runBlocking { kotlinx.coroutines.withTimeoutOrNull(1_000) { mt.actions.first() } }
            assertTrue(seen == null || seen.id > timedOut.actionId, "an expired action was emitted: $seen after $timedOut")
            assertTrue(mt.expiredActions >= 1, "expired: ${mt.expiredActions}")
            // Each was answered NotApplied, a late acknowledgement the core takes (it counted the
            // action once, as unacknowledged): none was refused as unknown.
            assertEquals(0L, mt.diagnostics.problemCount, "${mt.diagnostics.lastProblem}")
        } finally {
            mt.stop()
        }
    }

    @Test
    fun anActionThatExpiredBehindASlowApplierIsNotApplied() {
        val calls = java.util.concurrent.atomic.AtomicInteger()
        val slowFirst = object : ActionApplier {
            override fun apply(action: OptimizationAction): ApplyResult {
                if (calls.getAndIncrement() == 0) Thread.sleep(600) // beyond the 200 ms timeout
                return ApplyResult.Applied
            }
        }
        val config = fastConfig.copy(ackTimeoutMs = 200uL)
        val mt = MeshTune.start(app, config, slowFirst, MeshTune.Options(heapIntervalMs = 0, appState = false))
        try {
            // The memory strategy's safety actions come in one tick: the ones behind the first
            // wait 600 ms on the listener thread, and have expired when their turn comes.
            mt.optimizer.record(dev.meshtune.MetricSample.MemoryPressure(dev.meshtune.MemoryPressureLevel.CRITICAL))
            eventually("an action expired behind the slow applier") { mt.expiredActions >= 1 }
            // Every action emitted was either applied or answered as expired, never both.
            eventually("every action applied or expired") {
                calls.get().toLong() + mt.expiredActions == mt.snapshot().counters.actionsEmitted.toLong()
            }
        } finally {
            mt.stop()
        }
    }

    @Test
    fun refusedSamplesAreCountedAndLoggedAtMostOncePerInterval() {
        org.robolectric.shadows.ShadowLog.clear()
        val mt = MeshTune.start(app, fastConfig, applier = null, MeshTune.Options(heapIntervalMs = 0, appState = false))
        try {
            // 5 000 deliveries with a negative hop count: the core refuses each, naming the field.
            repeat(5_000) { mt.ble.messageDelivered(latencyMs = 10.0, hops = -1, bytes = 100) }
            assertEquals(5_000L, mt.diagnostics.problemCount, "every refusal is counted")
            assertEquals(4_999L, mt.diagnostics.suppressedCount, "all but the first are not logged")
            assertTrue(mt.diagnostics.lastProblem!!.contains("MessageDelivered.hops"), "${mt.diagnostics.lastProblem}")
            val lines = org.robolectric.shadows.ShadowLog.getLogsForTag(Diagnostics.TAG).filter { it.msg.contains("refused") }
            assertEquals(1, lines.size, "logcat: ${lines.map { it.msg }}")
            assertEquals(5_000uL, mt.snapshot().counters.samplesRejected)
        } finally {
            mt.stop()
        }
    }
}

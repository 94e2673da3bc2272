package dev.meshtune.android

import android.app.Activity
import android.app.Application
import android.content.ComponentCallbacks2
import android.content.Context
import android.content.Intent
import android.os.BatteryManager
import android.os.Looper
import android.os.PowerManager
import dev.meshtune.MemoryPressureLevel
import dev.meshtune.MetricSample
import dev.meshtune.ThermalState
import org.junit.After
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.Robolectric
import org.robolectric.RobolectricTestRunner
import org.robolectric.RuntimeEnvironment
import org.robolectric.Shadows.shadowOf
import org.robolectric.annotation.Config
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertTrue

@RunWith(RobolectricTestRunner::class)
@Config(sdk = [34], manifest = Config.NONE)
class CollectorsTest {
    private val app: Application = RuntimeEnvironment.getApplication()
    private val sink = RecordingSink()
    private val diagnostics = Diagnostics()
    private val powerManager = app.getSystemService(Context.POWER_SERVICE) as PowerManager

    @After
    fun noProblems() = assertEquals(null, diagnostics.lastProblem)

    private fun receiversFor(action: String) = shadowOf(app).registeredReceivers.count { it.intentFilter.hasAction(action) }

    @Test
    fun bluetoothTurnedOffStopsTheScheduleWithoutRetriesAndOnStartsItAgain() {
        val adapter = android.bluetooth.BluetoothAdapter.getDefaultAdapter()
        shadowOf(adapter).setEnabled(true)
        val scan = FakeScanControl()
        val driver = ScanDriver(scan, Looper.getMainLooper(), diagnostics)
        assertEquals(ApplyResult.Applied, driver.apply(dev.meshtune.OptimizationAction.SetScanMode(dev.meshtune.ScanMode.LOW_POWER, 1_000u, 0u)))
        val collector = BluetoothStateCollector(app, driver, diagnostics)
        collector.start()
        assertTrue(collector.isActive)
        assertEquals(1, scan.starts.size, "an enabled adapter changes nothing at start")
        fun state(s: Int) =
            app.sendBroadcast(Intent(android.bluetooth.BluetoothAdapter.ACTION_STATE_CHANGED).putExtra(android.bluetooth.BluetoothAdapter.EXTRA_STATE, s))
        state(android.bluetooth.BluetoothAdapter.STATE_TURNING_OFF)
        idleMain()
        assertEquals(null, driver.scanning)
        assertEquals(1uL, driver.stats().radioUnavailable)
        // Off for two minutes: the core asks for no retry (a stopped scan would be retried every 10 s).
        state(android.bluetooth.BluetoothAdapter.STATE_OFF)
        advanceMain(120_000)
        assertEquals(1, scan.starts.size, "retried while Bluetooth was off")
        state(android.bluetooth.BluetoothAdapter.STATE_TURNING_ON)
        idleMain()
        assertEquals(1, scan.starts.size)
        state(android.bluetooth.BluetoothAdapter.STATE_ON)
        idleMain()
        assertEquals(2, scan.starts.size, "the schedule starts again at once")
        assertEquals(dev.meshtune.ScanMode.LOW_POWER, driver.scanning)
        collector.stop()
        assertFalse(collector.isActive)
        assertEquals(0, receiversFor(android.bluetooth.BluetoothAdapter.ACTION_STATE_CHANGED))
        driver.close()

        // An adapter already off at start is reported at once.
        shadowOf(adapter).setEnabled(false)
        val scan2 = FakeScanControl()
        val driver2 = ScanDriver(scan2, Looper.getMainLooper(), diagnostics)
        val collector2 = BluetoothStateCollector(app, driver2, diagnostics)
        collector2.start()
        driver2.apply(dev.meshtune.OptimizationAction.SetScanMode(dev.meshtune.ScanMode.LOW_POWER, 1_000u, 0u))
        assertEquals(0, scan2.starts.size, "started a scan with Bluetooth off")
        collector2.stop()
        driver2.close()
    }

    @Suppress("DEPRECATION")
    @Test
    fun stickyBatteryIntentBecomesABatterySampleAtStart() {
        app.sendStickyBroadcast(batteryIntent(37))
        val collector = BatteryCollector(app, sink, diagnostics)
        collector.start()
        assertEquals(listOf(MetricSample.Battery(37.0, false)), sink.all<MetricSample.Battery>())
        collector.stop()
    }

    @Suppress("DEPRECATION")
    @Test
    fun batteryBroadcastsBecomeSamplesOnlyWhenLevelOrChargingChange() {
        val collector = BatteryCollector(app, sink, diagnostics)
        collector.start()
        assertTrue(collector.isActive)
        app.sendBroadcast(batteryIntent(60))
        idleMain()
        app.sendBroadcast(batteryIntent(60)) // a voltage/temperature update: same level, same plug
        idleMain()
        app.sendBroadcast(batteryIntent(59))
        idleMain()
        // Plugged in: the sticky intent now says so, and POWER_CONNECTED makes the collector re-read it.
        app.sendStickyBroadcast(batteryIntent(59, plugged = BatteryManager.BATTERY_PLUGGED_AC))
        app.sendBroadcast(Intent(Intent.ACTION_POWER_CONNECTED))
        idleMain()
        assertEquals(
            listOf(MetricSample.Battery(60.0, false), MetricSample.Battery(59.0, false), MetricSample.Battery(59.0, true)),
            sink.all<MetricSample.Battery>(),
        )
        assertEquals(1, receiversFor(Intent.ACTION_BATTERY_CHANGED))

        collector.stop()
        assertFalse(collector.isActive)
        assertEquals(0, receiversFor(Intent.ACTION_BATTERY_CHANGED))
        app.sendBroadcast(batteryIntent(10))
        idleMain()
        assertEquals(3, sink.all<MetricSample.Battery>().size, "nothing recorded after stop")
        collector.stop() // idempotent
    }

    @Test
    fun powerSaveModeAtStartAndOnChange() {
        shadowOf(powerManager).setIsPowerSaveMode(false)
        val collector = PowerSaveCollector(app, sink, diagnostics)
        collector.start()
        shadowOf(powerManager).setIsPowerSaveMode(true)
        app.sendBroadcast(Intent(PowerManager.ACTION_POWER_SAVE_MODE_CHANGED))
        idleMain()
        assertEquals(listOf(MetricSample.PowerSaveMode(false), MetricSample.PowerSaveMode(true)), sink.all<MetricSample.PowerSaveMode>())
        collector.stop()
        assertEquals(0, receiversFor(PowerManager.ACTION_POWER_SAVE_MODE_CHANGED))
    }

    @Test
    fun thermalStatusChangesBecomeThermalSamples() {
        shadowOf(powerManager).setCurrentThermalStatus(PowerManager.THERMAL_STATUS_NONE)
        val collector = ThermalCollector(app, sink, diagnostics)
        collector.start()
        assertTrue(collector.isActive)
        assertEquals(1, shadowOf(powerManager).thermalStatusListeners.size)
        shadowOf(powerManager).setCurrentThermalStatus(PowerManager.THERMAL_STATUS_SEVERE)
        idleMain()
        shadowOf(powerManager).setCurrentThermalStatus(PowerManager.THERMAL_STATUS_EMERGENCY)
        idleMain()
        assertEquals(
            listOf(ThermalState.NOMINAL, ThermalState.SERIOUS, ThermalState.CRITICAL),
            sink.all<MetricSample.Thermal>().map { it.state },
        )
        collector.stop()
        assertEquals(0, shadowOf(powerManager).thermalStatusListeners.size)
    }

    @Test
    fun thermalHeadroomIsReadOnlyWhileThePhoneIsWarmAndANanIsNoReading() {
        shadowOf(powerManager).setCurrentThermalStatus(PowerManager.THERMAL_STATUS_NONE)
        // The OS stands in: 0.80, then NaN (asked too soon), then 1.05.
        val answers = ArrayDeque(listOf(0.80f, Float.NaN, 1.05f, 0.9f, 0.9f, 0.9f))
        var reads = 0
        val collector = ThermalCollector(app, sink, diagnostics, readHeadroom = { _, forecastS ->
            assertEquals(ThermalCollector.HEADROOM_FORECAST_S, forecastS)
            reads++
            answers.removeFirst()
        })
        collector.start()
        advanceMain(60_000)
        assertEquals(0, reads, "not read while the status is NONE")
        shadowOf(powerManager).setCurrentThermalStatus(PowerManager.THERMAL_STATUS_LIGHT)
        advanceMain(25_000) // read at once, then at 10 and 20 s
        assertEquals(3, reads)
        assertEquals(listOf(0.80, 1.05), sink.all<MetricSample.ThermalHeadroom>().map { Math.round(it.headroom * 100) / 100.0 })
        assertTrue(sink.all<MetricSample.ThermalHeadroom>().all { it.forecastS == 10u })
        // Cooled: no more reads.
        shadowOf(powerManager).setCurrentThermalStatus(PowerManager.THERMAL_STATUS_NONE)
        advanceMain(60_000)
        assertEquals(3, reads)
        // Warm again, then stopped: the reads stop with the collector.
        shadowOf(powerManager).setCurrentThermalStatus(PowerManager.THERMAL_STATUS_SEVERE)
        advanceMain(5_000)
        assertEquals(4, reads)
        collector.stop()
        advanceMain(60_000)
        assertEquals(4, reads)
    }

    @Test
    fun thermalHeadroomIsNotReadBeforeApi30() {
        shadowOf(powerManager).setCurrentThermalStatus(PowerManager.THERMAL_STATUS_SEVERE)
        var reads = 0
        val collector = ThermalCollector(app, sink, diagnostics, sdkInt = 29, readHeadroom = { _, _ ->
            reads++
            1f
        })
        collector.start()
        advanceMain(60_000)
        assertEquals(0, reads)
        assertEquals(listOf(ThermalState.SERIOUS), sink.all<MetricSample.Thermal>().map { it.state })
        collector.stop()
    }

    @Test
    fun thermalCollectorDoesNothingBeforeApi29() {
        val collector = ThermalCollector(app, sink, diagnostics, sdkInt = 28)
        collector.start()
        assertFalse(collector.isActive)
        assertEquals(0, shadowOf(powerManager).thermalStatusListeners.size)
        assertTrue(sink.samples.isEmpty())
    }

    @Test
    fun trimMemoryRunningCriticalBecomesCriticalPressure() {
        val collector = MemoryCollector(app, sink, diagnostics, heapIntervalMs = 0)
        collector.start()
        assertEquals(1, sink.all<MetricSample.Heap>().size, "a heap sample at start")
        @Suppress("DEPRECATION")
        app.onTrimMemory(ComponentCallbacks2.TRIM_MEMORY_RUNNING_CRITICAL)
        app.onTrimMemory(ComponentCallbacks2.TRIM_MEMORY_UI_HIDDEN) // not pressure
        app.onTrimMemory(ComponentCallbacks2.TRIM_MEMORY_BACKGROUND)
        assertEquals(
            listOf(MemoryPressureLevel.CRITICAL, MemoryPressureLevel.MODERATE),
            sink.all<MetricSample.MemoryPressure>().map { it.level },
        )
        assertEquals(3, sink.all<MetricSample.Heap>().size, "and one after each pressure signal")
        collector.stop()
        @Suppress("DEPRECATION")
        app.onTrimMemory(ComponentCallbacks2.TRIM_MEMORY_RUNNING_CRITICAL)
        assertEquals(2, sink.all<MetricSample.MemoryPressure>().size, "component callbacks unregistered")
    }

    @Test
    fun heapIsSampledPeriodicallyUntilStop() {
        val collector = MemoryCollector(app, sink, diagnostics, heapIntervalMs = 10_000, looper = Looper.getMainLooper())
        collector.start()
        advanceMain(30_000) // virtual time on the paused main looper
        assertEquals(4, sink.all<MetricSample.Heap>().size, "at start, then at 10, 20 and 30 s")
        sink.all<MetricSample.Heap>().forEach { assertTrue(it.usedMb <= it.limitMb, "$it") }
        collector.stop()
        advanceMain(60_000)
        assertEquals(4, sink.all<MetricSample.Heap>().size, "the timer stops with the collector")
    }

    @Test
    fun startedActivitiesMeanForeground() {
        val collector = AppStateCollector(app, sink, diagnostics)
        collector.start()
        fun state() = sink.all<MetricSample.AppState>().lastOrNull()?.foreground
        val first = Robolectric.buildActivity(Activity::class.java).setup()
        assertEquals(true, state())
        val second = Robolectric.buildActivity(Activity::class.java).setup()
        second.pause().stop() // back to the first: still foreground
        assertEquals(true, state())
        first.pause().stop() // nothing started: background
        assertEquals(false, state())
        first.start().resume()
        assertEquals(true, state())
        // Only changes are recorded.
        val states = sink.all<MetricSample.AppState>().map { it.foreground }
        assertEquals(0, states.zipWithNext().count { (a, b) -> a == b }, "$states")
        collector.stop()
        val count = states.size
        first.pause().stop()
        assertEquals(count, sink.all<MetricSample.AppState>().size, "lifecycle callbacks unregistered")
    }

    @Test
    fun activityStartedBeforeTheCollectorIsLearnt() {
        val early = Robolectric.buildActivity(Activity::class.java).setup()
        val collector = AppStateCollector(app, sink, diagnostics)
        collector.start()
        early.pause()
        early.stop()
        assertEquals(false, sink.all<MetricSample.AppState>().last().foreground)
        collector.stop()
    }
}

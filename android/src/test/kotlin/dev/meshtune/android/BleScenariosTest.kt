package dev.meshtune.android

import android.bluetooth.le.ScanSettings
import android.os.Looper
import android.os.SystemClock
import dev.meshtune.MetricSample
import dev.meshtune.OptimizationAction
import dev.meshtune.ScanMode
import org.json.JSONArray
import org.json.JSONObject
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.RobolectricTestRunner
import org.robolectric.annotation.Config
import java.io.File
import kotlin.test.assertEquals
import kotlin.test.assertTrue

/**
 * The shared BLE scenarios (`tests/ble_scenarios/scenarios.json`, also run against the Rust
 * core and the iOS glue) through the Android glue: [DefaultActionApplier]'s [ScanDriver] on the
 * main looper in virtual time, and [BleMetrics] for scan results and connections.
 */
@RunWith(RobolectricTestRunner::class)
@Config(sdk = [34], manifest = Config.NONE)
class BleScenariosTest {
    /** A scanner that records when it started (ms since the scenario began) and can fail once. */
    private class TimedScanControl(private val clock: () -> Long) : ScanControl {
        val starts = mutableListOf<Long>()
        var mode: Int? = null
        var failNext: String? = null

        override fun start(settings: ScanSettings) {
            failNext?.let {
                failNext = null
                mode = null
                throw BluetoothUnavailableException(it)
            }
            starts += clock()
            mode = settings.scanMode
        }

        override fun stop() {
            mode = null
        }
    }

    private fun modeName(scanMode: Int?): String = when (scanMode) {
        null -> "off"
        ScanSettings.SCAN_MODE_OPPORTUNISTIC -> "Opportunistic"
        ScanSettings.SCAN_MODE_LOW_POWER -> "LowPower"
        ScanSettings.SCAN_MODE_BALANCED -> "Balanced"
        ScanSettings.SCAN_MODE_LOW_LATENCY -> "LowLatency"
        else -> "unknown $scanMode"
    }

    private fun mode(name: String): ScanMode = when (name) {
        "Opportunistic" -> ScanMode.OPPORTUNISTIC
        "LowPower" -> ScanMode.LOW_POWER
        "Balanced" -> ScanMode.BALANCED
        "LowLatency" -> ScanMode.LOW_LATENCY
        else -> error("unknown scan mode $name")
    }

    private fun doubles(a: JSONArray) = (0 until a.length()).map { a.getDouble(it) }

    private fun run(scenario: JSONObject) {
        val name = scenario.getString("name")
        val t0 = SystemClock.elapsedRealtime()
        val since = { SystemClock.elapsedRealtime() - t0 }
        val control = TimedScanControl(since)
        val sink = RecordingSink()
        val applier = DefaultActionApplier(object : MeshController {}, control, null, Looper.getMainLooper())
        val ble = BleMetrics(sink, Diagnostics(), driver = applier.scanDriver)
        // Scan results take the fast path (JNI), as in an app: the scenarios check it too.
        assertTrue(applier.scanDriver.scanResultsOverJni, "$name: ScanDriver's scan results over JNI")
        val events = scenario.getJSONArray("events")
        for (i in 0 until events.length()) {
            val e = events.getJSONObject(i)
            val at = e.getLong("at")
            val wait = at - since()
            if (wait > 0) advanceMain(wait)
            when {
                e.has("plan") -> {
                    val p = e.getJSONArray("plan")
                    val action = OptimizationAction.SetScanMode(mode(p.getString(0)), p.getInt(1).toUInt(), p.getInt(2).toUInt())
                    assertEquals(ApplyResult.Applied, applier.apply(action), "$name: plan at $at")
                }
                e.has("seen") -> ble.peerSeen(e.getString("seen"))
                e.has("os_stop") -> {
                    control.mode = null
                    applier.scanDriver.scanStoppedByOs()
                }
                e.has("radio") -> {
                    // Bluetooth off ends the scan, as the OS does; on, the core starts it.
                    val on = e.getString("radio") == "on"
                    if (!on) control.mode = null
                    applier.scanDriver.radioStateChanged(on)
                }
                e.has("fail_next_start") -> control.failNext = e.getString("fail_next_start")
                e.has("connect") -> ble.connecting(e.getString("connect"))
                e.has("connected") -> ble.connected(e.getString("connected"))
                e.has("disconnected") -> ble.disconnected(e.getString("disconnected"))
                e.has("check") -> {
                    val c = e.getJSONObject("check")
                    assertEquals(c.getString("scanner"), modeName(control.mode), "$name: scanner at $at")
                    val starts = c.getJSONArray("starts")
                    assertEquals((0 until starts.length()).map { starts.getLong(it) }, control.starts, "$name: starts at $at")
                    // Every duration of one kind recorded so far, against the expected list.
                    fun durations(key: String, got: List<Double>) {
                        if (c.has(key)) assertEquals(doubles(c.getJSONArray(key)), got, "$name: $key at $at")
                    }
                    durations("discovered", sink.all<MetricSample.PeerDiscovered>().map { it.durationMs })
                    durations("established", sink.all<MetricSample.ConnectionEstablished>().map { it.durationMs })
                    if (c.has("peer_count")) {
                        val pc = c.getJSONArray("peer_count")
                        assertEquals(
                            MetricSample.PeerCount(pc.getInt(0).toUInt(), pc.getInt(1).toUInt()),
                            sink.all<MetricSample.PeerCount>().last(),
                            "$name: peer count at $at",
                        )
                    }
                }
                else -> error("$name: unknown event $e")
            }
        }
        applier.close()
    }

    @Test
    fun theSharedBleScenariosHoldOnAndroid() {
        val path = System.getProperty("meshtune.ble.scenarios") ?: error("meshtune.ble.scenarios is not set (android/host-test/pom.xml)")
        val scenarios = JSONObject(File(path).readText()).getJSONArray("scenarios")
        assertTrue(scenarios.length() >= 6)
        for (i in 0 until scenarios.length()) run(scenarios.getJSONObject(i))
    }
}

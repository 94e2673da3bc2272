package dev.meshtune.android

import android.bluetooth.le.AdvertiseSettings
import android.bluetooth.le.ScanSettings
import android.content.Intent
import android.os.BatteryManager
import android.os.Looper
import dev.meshtune.MetricSample
import org.robolectric.Shadows.shadowOf
import java.time.Duration
import java.util.concurrent.CopyOnWriteArrayList
import kotlin.test.fail

/** Keeps every sample it is offered. */
class RecordingSink : SampleSink {
    val samples = CopyOnWriteArrayList<MetricSample>()
    override fun record(sample: MetricSample) {
        samples += sample
    }

    inline fun <reified T : MetricSample> all(): List<T> = samples.filterIsInstance<T>()
}

/** An ACTION_BATTERY_CHANGED intent as the system sends it. */
fun batteryIntent(level: Int, scale: Int = 100, plugged: Int = 0, status: Int = BatteryManager.BATTERY_STATUS_DISCHARGING) =
    Intent(Intent.ACTION_BATTERY_CHANGED)
        .putExtra(BatteryManager.EXTRA_LEVEL, level)
        .putExtra(BatteryManager.EXTRA_SCALE, scale)
        .putExtra(BatteryManager.EXTRA_PLUGGED, plugged)
        .putExtra(BatteryManager.EXTRA_STATUS, status)

/** Runs what is due on the (paused) main looper: broadcasts, posted runnables. */
fun idleMain() = shadowOf(Looper.getMainLooper()).idle()

/** Advances the main looper's virtual clock by [ms], running what falls due (no real waiting). */
fun advanceMain(ms: Long) = shadowOf(Looper.getMainLooper()).idleFor(Duration.ofMillis(ms))

/** A ScanControl that records what it was asked, and can be told to refuse. */
class FakeScanControl : ScanControl {
    val starts = CopyOnWriteArrayList<ScanSettings>()
    var stops = 0
        private set
    var scanning = false
        private set

    /** Thrown by every [start] call while set. */
    @Volatile
    var refuseWith: Throwable? = null

    /** Thrown by the next [start] call only. */
    @Volatile
    var refuseNext: Throwable? = null

    override fun start(settings: ScanSettings) {
        refuseWith?.let { throw it }
        refuseNext?.let {
            refuseNext = null
            throw it
        }
        starts += settings
        scanning = true
    }

    override fun stop() {
        stops++
        scanning = false
    }
}

/** An AdvertiseControl that records what it was asked. */
class FakeAdvertiseControl : AdvertiseControl {
    val starts = CopyOnWriteArrayList<AdvertiseSettings>()

    @Volatile
    var refuseWith: Throwable? = null

    override fun start(settings: AdvertiseSettings) {
        refuseWith?.let { throw it }
        starts += settings
    }

    override fun stop() {}
}

/** A GATT link whose stack answers [answer] (or throws [throws]). */
class FakeGattLink(override val peerId: String, var answer: Boolean = true, var throws: Throwable? = null) : GattLink {
    val requests = CopyOnWriteArrayList<Int>()
    override fun requestConnectionPriority(priority: Int): Boolean {
        throws?.let { throw it }
        requests += priority
        return answer
    }
}

/**
 * Polls [condition] every 10 ms until it holds; fails after [seconds]. A hang guard for the
 * real optimizer's threads, not a timing assertion: the bound is far above what is needed.
 */
fun eventually(what: String, seconds: Long = 20, condition: () -> Boolean) {
    val deadline = System.nanoTime() + seconds * 1_000_000_000L
    while (!condition()) {
        if (System.nanoTime() > deadline) fail("never happened within ${seconds}s: $what")
        Thread.sleep(10)
    }
}

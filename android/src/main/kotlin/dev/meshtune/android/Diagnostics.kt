package dev.meshtune.android

import android.util.Log
import java.util.concurrent.atomic.AtomicLong
import java.util.concurrent.atomic.AtomicReference

/**
 * Where the glue reports what it caught instead of throwing into the app: a collector that
 * could not start, a sample the core refused, an exception from the app's own controller.
 * Each problem is logged (tag `MeshTune`) and counted; the last one is kept for inspection.
 */
class Diagnostics {
    private val count = AtomicLong()
    private val last = AtomicReference<String?>(null)

    /** How many problems were reported since start. */
    val problemCount: Long get() = count.get()

    /** The most recent problem, or null when there was none. */
    val lastProblem: String? get() = last.get()

    /** Logs and counts [message] (with [error], if any). Never throws. */
    fun report(message: String, error: Throwable? = null) {
        count.incrementAndGet()
        val text = if (error == null) message else "$message: ${describe(error)}"
        last.set(text)
        try {
            Log.w(TAG, text)
        } catch (_: Throwable) {
            // android.util.Log itself failed (a test JVM without Android): counted above.
        }
    }

    /** Runs [block]; anything it throws is reported as [what] instead of reaching the caller. */
    inline fun guard(what: String, block: () -> Unit) {
        try {
            block()
        } catch (t: Throwable) {
            report(what, t)
        }
    }

    companion object {
        /** The logcat tag of the glue (the Rust core logs under `meshtune`, see `initLogging`). */
        const val TAG = "MeshTune"

        /** `SecurityException: message` — the form in which platform refusals are acknowledged. */
        fun describe(error: Throwable): String = "${error.javaClass.simpleName}: ${error.message ?: "(no message)"}"
    }
}

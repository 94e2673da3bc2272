package dev.meshtune.android

import android.util.Log
import java.util.concurrent.ConcurrentHashMap
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

    private class Limited(var lastLogNanos: Long, var suppressed: Long)

    private val limited = ConcurrentHashMap<String, Limited>()

    /** Problems [reportRateLimited] counted without logging them. */
    private val suppressedTotal = AtomicLong()

    /** How many problems were counted but not logged, because of the rate limit. */
    val suppressedCount: Long get() = suppressedTotal.get()

    /**
     * Counts [message] like [report], but logs it at most once per [RATE_LIMIT_MS] for the same
     * [key] (a refused sample can come thousands of times a second); the next line logged for
     * the key says how many were not. Never throws.
     */
    fun reportRateLimited(key: String, message: String, error: Throwable? = null) {
        val now = System.nanoTime()
        var skipped = -1L
        val state = limited.getOrPut(key) { Limited(now - RATE_LIMIT_MS * 1_000_000 - 1, 0) }
        synchronized(state) {
            if (now - state.lastLogNanos > RATE_LIMIT_MS * 1_000_000) {
                skipped = state.suppressed
                state.suppressed = 0
                state.lastLogNanos = now
            } else {
                state.suppressed++
            }
        }
        if (skipped < 0) {
            count.incrementAndGet()
            suppressedTotal.incrementAndGet()
            val text = if (error == null) message else "$message: ${describe(error)}"
            last.set(text)
            return
        }
        report(if (skipped > 0) "$message ($skipped more like it not logged)" else message, error)
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

        /** [reportRateLimited] logs one line per key at most this often, ms. */
        const val RATE_LIMIT_MS = 10_000L

        /** `SecurityException: message` — the form in which platform refusals are acknowledged. */
        fun describe(error: Throwable): String = "${error.javaClass.simpleName}: ${error.message ?: "(no message)"}"
    }
}

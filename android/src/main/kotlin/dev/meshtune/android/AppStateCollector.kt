package dev.meshtune.android

import android.app.Activity
import android.app.ActivityManager
import android.app.Application
import android.content.Context
import android.os.Bundle
import dev.meshtune.MetricSample
import java.util.Collections
import java.util.IdentityHashMap

/**
 * Foreground and background, from `Application.ActivityLifecycleCallbacks`: the app is in the
 * foreground while at least one of its activities is started. (androidx's
 * `ProcessLifecycleOwner` does the same, but it is an AAR, which this module's host build
 * cannot compile against, and it would add a dependency for one signal.)
 *
 * Activities started before [start] are learnt when they resume, pause or stop. The initial
 * state comes from `ActivityManager.getMyMemoryState` (importance FOREGROUND or VISIBLE), when
 * the platform reports one. A configuration change (rotation) that stops the last activity
 * and starts its replacement is not reported as a trip to the background.
 */
class AppStateCollector(context: Context, private val sink: SampleSink, private val diagnostics: Diagnostics) : Collector {
    private val application: Application? = context.applicationContext as? Application
    private val lock = Any()
    private val started: MutableSet<Activity> = Collections.newSetFromMap(IdentityHashMap())
    private var callbacks: Application.ActivityLifecycleCallbacks? = null
    private var foreground: Boolean? = null

    override val name = "app-state"
    override val isActive: Boolean get() = synchronized(lock) { callbacks != null }

    override fun start() = diagnostics.guard("$name collector did not start") {
        val app = application
        if (app == null) {
            diagnostics.report("$name collector: the context's application is not an android.app.Application")
            return@guard
        }
        synchronized(lock) {
            if (callbacks != null) return@guard
            val c = Callbacks()
            app.registerActivityLifecycleCallbacks(c)
            callbacks = c
        }
        initialState()?.let { report(it) }
    }

    override fun stop() = diagnostics.guard("$name collector did not stop cleanly") {
        val c = synchronized(lock) {
            started.clear()
            foreground = null
            callbacks.also { callbacks = null }
        } ?: return@guard
        application?.unregisterActivityLifecycleCallbacks(c)
    }

    /** FOREGROUND or VISIBLE importance is the foreground; null when the platform reports none. */
    private fun initialState(): Boolean? {
        val info = ActivityManager.RunningAppProcessInfo()
        ActivityManager.getMyMemoryState(info)
        if (info.importance == 0) return null
        return info.importance <= ActivityManager.RunningAppProcessInfo.IMPORTANCE_VISIBLE
    }

    private fun seen(activity: Activity) {
        val becameForeground = synchronized(lock) { started.add(activity) && started.size == 1 }
        if (becameForeground) report(true)
    }

    private fun stopped(activity: Activity) {
        val becameBackground = synchronized(lock) {
            started.remove(activity)
            started.isEmpty() && !activity.isChangingConfigurations
        }
        if (becameBackground) report(false)
    }

    private fun report(isForeground: Boolean) {
        val changed = synchronized(lock) {
            (foreground != isForeground).also { foreground = isForeground }
        }
        if (changed) sink.record(MetricSample.AppState(foreground = isForeground))
    }

    private inner class Callbacks : Application.ActivityLifecycleCallbacks {
        override fun onActivityStarted(activity: Activity) = diagnostics.guard("$name onActivityStarted") { seen(activity) }
        override fun onActivityResumed(activity: Activity) = diagnostics.guard("$name onActivityResumed") { seen(activity) }
        override fun onActivityPaused(activity: Activity) = diagnostics.guard("$name onActivityPaused") { seen(activity) }
        override fun onActivityStopped(activity: Activity) = diagnostics.guard("$name onActivityStopped") { stopped(activity) }
        override fun onActivityDestroyed(activity: Activity) =
            diagnostics.guard("$name onActivityDestroyed") { synchronized(lock) { started.remove(activity) } }
        override fun onActivityCreated(activity: Activity, savedInstanceState: Bundle?) {}
        override fun onActivitySaveInstanceState(activity: Activity, outState: Bundle) {}
    }
}

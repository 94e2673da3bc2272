package dev.meshtune.android

/**
 * One platform signal turned into samples. [start] registers with the platform and records the
 * current state at once; [stop] unregisters everything it registered. Both are idempotent and
 * neither throws: failures go to the [Diagnostics] the collector was given.
 */
interface Collector {
    /** A short name for logs ("battery", "thermal", ...). */
    val name: String

    /** Registers with the platform; records the current value where the platform has one. */
    fun start()

    /** Unregisters every receiver, listener and callback that [start] registered. */
    fun stop()

    /** Whether the collector is registered now (false before [start], after [stop], and when start failed or the platform lacks the signal). */
    val isActive: Boolean
}

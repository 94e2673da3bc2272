package dev.meshtune

import com.sun.jna.CallbackThreadInitializer
import com.sun.jna.Native
import java.util.concurrent.atomic.AtomicBoolean

/**
 * JVM-side settings of the bindings that the generated code cannot make itself.
 *
 * [keepListenerThreadAttached]: MeshTune calls the listener from one native thread of its own
 * (`meshtune-dispatch`). By default JNA attaches that thread to the JVM for each callback and
 * detaches it afterwards, so every call arrives on a new `Thread` object (a fresh name each
 * time, thread-locals lost). Called once, before the first call into MeshTune in the process
 * (JNA reads the setting when the library registers its callbacks, as it loads), it keeps the
 * thread attached: every listener call then runs on the same long-lived daemon thread, named
 * `meshtune-dispatch`. Called later, it has no effect. The Android facade (`MeshTune.start`)
 * calls it first. It reaches into the generated code's internal callback objects (same
 * module), so it is tied to the uniffi version the bindings come from (0.32).
 */
object MeshTuneJvm {
    private val attached = AtomicBoolean(false)

    /** Makes every listener call run on one long-lived thread; idempotent, thread-safe. */
    @JvmStatic
    fun keepListenerThreadAttached() {
        if (!attached.compareAndSet(false, true)) return
        val init = CallbackThreadInitializer(true, false, "meshtune-dispatch")
        Native.setCallbackThreadInitializer(uniffiCallbackInterfaceActionListener.`onAction`, init)
        Native.setCallbackThreadInitializer(uniffiCallbackInterfaceActionListener.`onOutcome`, init)
    }
}

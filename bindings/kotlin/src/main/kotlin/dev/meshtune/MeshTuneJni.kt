package dev.meshtune

import com.sun.jna.NativeLibrary

/**
 * The fast path's hot calls as JNI native methods (src/fastpath/jni.rs, in a library built with
 * the cargo feature `jni-fastpath`; ADR 7). Same encoding and statuses as [MeshTuneFastPath], at
 * a fraction of a JNA direct call's cost. The JVM binds these methods to the exported
 * `Java_dev_meshtune_MeshTuneJni_*` functions, so this class's name is part of the ABI.
 *
 * It loads the very library JNA loaded (the file JNA resolved for "meshtune", or the
 * `uniffi.component.meshtune.libraryOverride` property, on `jna.library.path`): loading one path
 * twice maps it once, so the handle registry is the one the generated code registered the
 * optimizer in. Where JNA resolved no file (Android: the app's native libraries), it is
 * `System.loadLibrary("meshtune")`, the same file.
 *
 * @suppress Internal to MeshTune; apps use [FastRecorder] and [FastScanResults].
 */
internal object MeshTuneJni {
    /**
     * Whether the native methods are bound and speak [MeshTuneFastPath.ABI_VERSION]. False for a
     * library built without `jni-fastpath`, and for a second class loader in one JVM (the JVM
     * binds a library's JNI methods to one class loader only): [FastRecorder] then stays on JNA.
     */
    @JvmField
    val available: Boolean = try {
        val name = System.getProperty("uniffi.component.meshtune.libraryOverride") ?: "meshtune"
        val file = NativeLibrary.getInstance(name).file
        if (file != null) System.load(file.absolutePath) else System.loadLibrary(name)
        abiVersion() == MeshTuneFastPath.ABI_VERSION
    } catch (e: LinkageError) { // UnsatisfiedLinkError: no such library or method, or bound elsewhere
        false
    }

    @JvmStatic external fun abiVersion(): Int

    @JvmStatic external fun record(handle: Long, code: Int, d0: Double, d1: Double, d2: Double, i0: Long, i1: Long): Int

    @JvmStatic external fun recordBatch(handle: Long, len: Int, codes: IntArray, doubles: DoubleArray, ints: LongArray): Int

    /** A scan result for the [BleCoordinator] with this `fastHandle` ([FastScanResults]). */
    @JvmStatic external fun scanResult(handle: Long, peerId: String, nowMs: Long): Int
}

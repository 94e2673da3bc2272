package dev.meshtune

import com.sun.jna.NativeLibrary

/**
 * The fast path's hot calls as JNI native methods (src/fastpath/jni.rs, in a library built with
 * the cargo feature `jni-fastpath`; the test command's build has it, app builds do not), for the
 * comparison of docs/adr/0007-jni-or-jna-for-the-fast-path.md. Same encoding and statuses as
 * [MeshTuneFastPath]; the JVM binds these methods to the exported `Java_dev_meshtune_MeshTuneJni_*`
 * functions when they are first called.
 *
 * It loads the very library JNA loaded (the file JNA resolved for "meshtune", or the
 * `uniffi.component.meshtune.libraryOverride` property, on `jna.library.path`): loading one path
 * twice maps it once, so the handle registry is the one the generated code registered the
 * optimizer in. On Android this would be `System.loadLibrary("meshtune")` (the same file from the
 * app's native libraries).
 */
internal object MeshTuneJni {
    init {
        val name = System.getProperty("uniffi.component.meshtune.libraryOverride") ?: "meshtune"
        val file = NativeLibrary.getInstance(name).file
        if (file != null) System.load(file.absolutePath) else System.loadLibrary(name)
    }

    @JvmStatic external fun abiVersion(): Int

    @JvmStatic external fun record(handle: Long, code: Int, d0: Double, d1: Double, d2: Double, i0: Long, i1: Long): Int

    @JvmStatic external fun recordBatch(handle: Long, len: Int, codes: IntArray, doubles: DoubleArray, ints: LongArray): Int
}

/**
 * [FastRecorder]'s hot calls over [MeshTuneJni] instead of JNA direct mapping: the same Kotlin
 * code line for line (encoding, refusals re-submitted through the generated API, Overloaded and
 * panics thrown), so that a benchmark of the two measures the transport and nothing else.
 */
internal class JniFastRecorder(val optimizer: PerformanceOptimizer) {
    private val handle: Long

    init {
        val version = MeshTuneJni.abiVersion()
        check(version == MeshTuneFastPath.ABI_VERSION) { "JNI fast path is version $version" }
        handle = optimizer.fastPathHandle().toLong()
    }

    fun record(sample: MetricSample) {
        val status = FastRecorder.encode(sample) { code, d0, d1, d2, i0, i1 ->
            MeshTuneJni.record(handle, code, d0, d1, d2, i0, i1)
        }
        if (status != MeshTuneFastPath.OK) refused(status, 1) { optimizer.record(sample) }
    }

    fun recordDelivered(latencyMs: Double, hops: UInt, bytes: UInt) {
        val status = MeshTuneJni.record(handle, 0, latencyMs, 0.0, 0.0, hops.toLong(), bytes.toLong())
        if (status != MeshTuneFastPath.OK) {
            refused(status, 1) { optimizer.record(MetricSample.MessageDelivered(latencyMs, hops, bytes)) }
        }
    }

    fun recordLost(hops: UInt) {
        val status = MeshTuneJni.record(handle, 1, 0.0, 0.0, 0.0, hops.toLong(), 0L)
        if (status != MeshTuneFastPath.OK) refused(status, 1) { optimizer.record(MetricSample.MessageLost(hops)) }
    }

    fun recordBatch(samples: List<MetricSample>) {
        val n = samples.size
        val codes = IntArray(n)
        val doubles = DoubleArray(3 * n)
        val longs = LongArray(2 * n)
        for (k in 0 until n) {
            FastRecorder.encode(samples[k]) { code, d0, d1, d2, i0, i1 ->
                codes[k] = code
                doubles[3 * k] = d0
                doubles[3 * k + 1] = d1
                doubles[3 * k + 2] = d2
                longs[2 * k] = i0
                longs[2 * k + 1] = i1
            }
        }
        val status = MeshTuneJni.recordBatch(handle, n, codes, doubles, longs)
        if (status != MeshTuneFastPath.OK) refused(status, n) { optimizer.recordBatch(samples) }
    }

    private inline fun refused(status: Int, count: Int, resubmit: () -> Unit) {
        when (status) {
            MeshTuneFastPath.OVERLOADED -> {
                val capacity = MeshTuneFastPath.meshtune_fast_sample_queue_capacity(handle).coerceAtLeast(0L)
                throw OptimizerException.Overloaded(capacity.toUInt(), count.toUInt())
            }
            MeshTuneFastPath.PANIC -> throw InternalException("MeshTune panicked in its fast ingestion path")
            else -> resubmit()
        }
    }
}

package dev.meshtune

import com.sun.jna.Native

/**
 * Fast sample ingestion for Kotlin: the same samples as [PerformanceOptimizer.record] and
 * [PerformanceOptimizer.recordBatch], at a fraction of the cost per call.
 *
 * The generated bindings allocate JNA structures for every call (tens of microseconds each on
 * the JVM); this class passes the sample as primitives to a few functions of the same library,
 * which allocate nothing on the Kotlin side: JNI native methods ([MeshTuneJni], about a third of
 * the cost per sample, ADR 7) when the library has them and this class loader could bind them,
 * else plain C functions bound with JNA direct mapping ([MeshTuneFastPath]). Validation
 * and ingestion are the optimizer's own, so what is accepted, counted and refused is exactly
 * what `record` and `recordBatch` accept, count and refuse:
 *
 * - An invalid sample throws the same [OptimizerException.InvalidSample] naming the field;
 *   after [PerformanceOptimizer.stop], [OptimizerException.Stopped]; a batch larger than
 *   `sampleQueueCapacity`, [OptimizerException.BatchTooLarge]; after `close()`,
 *   [IllegalStateException]. These are the generated API's own answers: whenever the fast
 *   path refuses a call, the call is re-submitted through the generated `record` /
 *   `recordBatch`, whose exception (or success) is then the answer. Nothing is counted twice.
 * - A full ingestion queue throws [OptimizerException.Overloaded]; the samples were dropped
 *   and counted, as with `record`.
 * - A batch is all or nothing, like `recordBatch`.
 * - [MetricSample.LinkRssi] (which carries a string) always takes the generated path; a batch
 *   that contains one is recorded whole through `recordBatch`.
 *
 * Thread-safe: one recorder can be shared by every thread. It does not keep the optimizer's
 * native object alive; [PerformanceOptimizer.stop] and `close()` work as usual.
 */
class FastRecorder internal constructor(val optimizer: PerformanceOptimizer, viaJni: Boolean) {
    private val handle: Long

    /**
     * Whether the hot calls go through JNI ([MeshTuneJni], ADR 7) rather than JNA direct mapping
     * ([MeshTuneFastPath]): when the library has the JNI entry points (cargo feature
     * `jni-fastpath`) and this class loader could bind them. Same statuses either way.
     */
    internal val jni: Boolean = viaJni && MeshTuneJni.available

    /** A recorder for [optimizer], over JNI when the library allows it, over JNA direct otherwise. */
    constructor(optimizer: PerformanceOptimizer) : this(optimizer, viaJni = true)

    init {
        val version = MeshTuneFastPath.meshtune_fast_abi_version()
        check(version == MeshTuneFastPath.ABI_VERSION) {
            "libmeshtune's fast path is version $version, this FastRecorder expects ${MeshTuneFastPath.ABI_VERSION}: " +
                "the library and the Kotlin bindings come from different builds"
        }
        handle = optimizer.fastPathHandle().toLong()
    }

    /** Records one sample, like [PerformanceOptimizer.record]. */
    @Throws(OptimizerException::class)
    fun record(sample: MetricSample) {
        val status = encode(sample) { code, d0, d1, d2, i0, i1 -> call(code, d0, d1, d2, i0, i1) }
        if (status != MeshTuneFastPath.OK) refused(status, 1) { optimizer.record(sample) }
    }

    /**
     * Records a [MetricSample.MessageDelivered] without building it: nothing is allocated
     * unless the sample is refused.
     */
    @Throws(OptimizerException::class)
    fun recordDelivered(latencyMs: Double, hops: UInt, bytes: UInt) {
        val status = call(CODE_DELIVERED, latencyMs, 0.0, 0.0, hops.toLong(), bytes.toLong())
        if (status != MeshTuneFastPath.OK) {
            refused(status, 1) { optimizer.record(MetricSample.MessageDelivered(latencyMs, hops, bytes)) }
        }
    }

    /** Records a [MetricSample.MessageLost] without building it. */
    @Throws(OptimizerException::class)
    fun recordLost(hops: UInt) {
        val status = call(CODE_LOST, 0.0, 0.0, 0.0, hops.toLong(), 0L)
        if (status != MeshTuneFastPath.OK) refused(status, 1) { optimizer.record(MetricSample.MessageLost(hops)) }
    }

    /** Records all samples or none, like [PerformanceOptimizer.recordBatch]. */
    @Throws(OptimizerException::class)
    fun recordBatch(samples: List<MetricSample>) {
        val n = samples.size
        val codes = IntArray(n)
        val doubles = DoubleArray(3 * n)
        val longs = LongArray(2 * n)
        for (k in 0 until n) {
            encode(samples[k]) { code, d0, d1, d2, i0, i1 ->
                codes[k] = code
                doubles[3 * k] = d0
                doubles[3 * k + 1] = d1
                doubles[3 * k + 2] = d2
                longs[2 * k] = i0
                longs[2 * k + 1] = i1
            }
        }
        val status = if (jni) {
            MeshTuneJni.recordBatch(handle, n, codes, doubles, longs)
        } else {
            MeshTuneFastPath.meshtune_fast_record_batch(handle, n, codes, doubles, longs)
        }
        if (status != MeshTuneFastPath.OK) refused(status, n) { optimizer.recordBatch(samples) }
    }

    /** One encoded sample, through the transport chosen at construction. */
    private fun call(code: Int, d0: Double, d1: Double, d2: Double, i0: Long, i1: Long): Int = if (jni) {
        MeshTuneJni.record(handle, code, d0, d1, d2, i0, i1)
    } else {
        MeshTuneFastPath.meshtune_fast_record(handle, code, d0, d1, d2, i0, i1)
    }

    /**
     * What to do with a refusal: a drop is reported as `Overloaded` (the samples were dropped
     * and counted; sending them again would be a retry), a caught panic as [InternalException];
     * everything else is answered by the generated API, to which the call is re-submitted.
     */
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

    internal companion object {
        const val CODE_DELIVERED = 0
        const val CODE_LOST = 1

        fun flag(b: Boolean): Long = if (b) 1L else 0L

        /**
         * The encoding of src/fastpath.rs (a variant code, three doubles, two longs), handed to
         * [emit]. `LinkRssi` gets its code with no fields: the library answers "not carried",
         * and the sample goes through the generated API.
         */
        inline fun <R> encode(s: MetricSample, emit: (Int, Double, Double, Double, Long, Long) -> R): R = when (s) {
            is MetricSample.MessageDelivered -> emit(CODE_DELIVERED, s.latencyMs, 0.0, 0.0, s.hops.toLong(), s.bytes.toLong())
            is MetricSample.MessageLost -> emit(CODE_LOST, 0.0, 0.0, 0.0, s.hops.toLong(), 0L)
            is MetricSample.LinkRssi -> emit(2, 0.0, 0.0, 0.0, 0L, 0L)
            is MetricSample.PeerCount -> emit(3, 0.0, 0.0, 0.0, s.connected.toLong(), s.discovered.toLong())
            is MetricSample.ConnectionEstablished -> emit(4, s.durationMs, 0.0, 0.0, 0L, 0L)
            is MetricSample.PeerDiscovered -> emit(5, s.durationMs, 0.0, 0.0, 0L, 0L)
            is MetricSample.ConsensusRound -> emit(6, s.proposalMs, s.voteMs, s.finalizationMs, s.operations.toLong(), 0L)
            is MetricSample.Battery -> emit(7, s.levelPercent, 0.0, 0.0, flag(s.charging), 0L)
            is MetricSample.PowerSaveMode -> emit(8, 0.0, 0.0, 0.0, flag(s.enabled), 0L)
            is MetricSample.Thermal -> emit(9, 0.0, 0.0, 0.0, s.state.ordinal.toLong(), 0L)
            is MetricSample.MemoryPressure -> emit(10, 0.0, 0.0, 0.0, s.level.ordinal.toLong(), 0L)
            is MetricSample.Heap -> emit(11, s.usedMb, s.limitMb, 0.0, 0L, 0L)
            is MetricSample.AppState -> emit(12, 0.0, 0.0, 0.0, flag(s.foreground), 0L)
            is MetricSample.ProcessUsage -> emit(13, s.cpuPercent, s.residentMb, 0.0, 0L, 0L)
            is MetricSample.ThermalHeadroom -> emit(14, s.headroom, 0.0, 0.0, s.forecastS.toLong(), 0L)
        }
    }
}

/** A [FastRecorder] for this optimizer (cheap: make one and share it). */
fun PerformanceOptimizer.fastRecorder(): FastRecorder = FastRecorder(this)

/**
 * The C functions of src/fastpath.rs, bound with JNA direct mapping (primitive arguments
 * only, so JNA allocates nothing per call). The library is the one the generated code loads:
 * "meshtune", or the `uniffi.component.meshtune.libraryOverride` system property, found by JNA
 * on `jna.library.path` (the JVM) or in the app's native libraries (Android).
 *
 * @suppress Internal to MeshTune; apps use [FastRecorder].
 */
@Suppress("ktlint:standard:function-naming") // the C symbols' names: JNA direct mapping binds by name
internal object MeshTuneFastPath {
    const val ABI_VERSION = 2

    // Statuses, as in src/fastpath.rs.
    const val OK = 0
    const val INVALID_SAMPLE = 1
    const val STOPPED = 2
    const val OVERLOADED = 3
    const val BATCH_TOO_LARGE = 4
    const val UNKNOWN_HANDLE = 5
    const val BAD_CODE = 6
    const val BAD_FIELD = 7
    const val NOT_CARRIED = 8
    const val BAD_ARGUMENT = 9
    const val PANIC = 10
    const val UPDATE_PENDING = 11

    init {
        Native.register(
            MeshTuneFastPath::class.java,
            System.getProperty("uniffi.component.meshtune.libraryOverride") ?: "meshtune",
        )
    }

    external fun meshtune_fast_abi_version(): Int

    external fun meshtune_fast_record(handle: Long, code: Int, d0: Double, d1: Double, d2: Double, i0: Long, i1: Long): Int

    external fun meshtune_fast_record_batch(handle: Long, len: Int, codes: IntArray, doubles: DoubleArray, ints: LongArray): Int

    external fun meshtune_fast_sample_queue_capacity(handle: Long): Long
}

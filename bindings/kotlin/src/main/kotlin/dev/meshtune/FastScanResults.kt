package dev.meshtune

/**
 * Scan results for a [BleCoordinator] at a fraction of [BleCoordinator.scanResult]'s cost, for
 * the JVM and Android (the Android layer's `ScanDriver` uses it).
 *
 * A scan callback fires for every advertisement heard, and most are re-sightings of a peer
 * already present, which change nothing. The generated `scanResult` still builds and returns a
 * [BleUpdate] through JNA for each (about a hundred microseconds on the JVM, BENCHMARKS.md).
 * Here the event goes to the core over JNI ([MeshTuneJni.scanResult]), which answers with a
 * status: nothing to do, or an update to follow, which is then fetched with one generated call
 * ([BleCoordinator.takeUpdate]: this event's samples and the scanner state it decided). Validation and
 * decisions are the coordinator's own, so the app gets exactly the samples and scanner state
 * the generated calls give, in the same order (a property test in src/ble.rs checks it).
 *
 * Without the JNI entry points (a library built without the cargo feature `jni-fastpath`, or a
 * second class loader), every call is the generated `scanResult`. A call the fast path refuses
 * (an empty or over-long id, one that is not valid UTF-16, too many samples waiting, a failure
 * inside) is re-submitted through the generated `scanResult`, whose answer (an
 * [OptimizerException.InvalidSample] naming `scan_result.peer_id`, for instance) is then the
 * caller's. Thread-safe. It does not keep the coordinator's native object alive.
 */
class FastScanResults(val coordinator: BleCoordinator) {
    private val handle: Long = coordinator.fastHandle().toLong()

    /** Whether scan results go through JNI; false: every call is the generated `scanResult`. */
    val jni: Boolean = handle != 0L && MeshTuneJni.available

    /**
     * A scan result for [peerId] at [nowMs] (as [BleCoordinator.scanResult]). Null when there is
     * nothing to do: no sample to record, and the scanner mode and timer are those of the last
     * update the app got from the coordinator. Otherwise the update to follow, as any other.
     */
    @Throws(OptimizerException::class)
    fun scanResult(peerId: String, nowMs: ULong): BleUpdate? {
        if (jni) {
            when (MeshTuneJni.scanResult(handle, peerId, nowMs.toLong())) {
                MeshTuneFastPath.OK -> return null
                MeshTuneFastPath.UPDATE_PENDING -> return coordinator.takeUpdate(nowMs)
            }
        }
        return coordinator.scanResult(peerId, nowMs)
    }
}

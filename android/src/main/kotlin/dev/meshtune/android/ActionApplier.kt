package dev.meshtune.android

import dev.meshtune.OptimizationAction

/** What became of applying one action, as it is acknowledged with `reportActionResult`. */
sealed class ApplyResult {
    /** The action is in place. */
    object Applied : ApplyResult() {
        override fun toString() = "Applied"
    }

    /** The action could not be applied; [reason] is the platform's (or the app's) word for why. */
    data class NotApplied(val reason: String) : ApplyResult()

    /** Whether the action is in place. */
    val applied: Boolean get() = this is Applied

    /** The acknowledgement detail: null when applied, the reason otherwise. */
    val detail: String? get() = (this as? NotApplied)?.reason

    companion object {
        /** NotApplied for an action the app does not support. */
        fun unsupported(what: String) = NotApplied("$what is not supported by this app")
    }
}

/**
 * Applies MeshTune's actions to the app. `MeshTune` calls [apply] on its dispatcher thread, one
 * action at a time, and acknowledges the result; an exception thrown by [apply] is acknowledged
 * as not applied (with the exception as the reason), never rethrown. [close] is called by
 * `MeshTune.stop()`.
 */
interface ActionApplier {
    /** Applies [action] and says whether it is in place. */
    fun apply(action: OptimizationAction): ApplyResult

    /** Releases what the applier holds (duty-cycle timers, scans it started). */
    fun close() {}
}

/**
 * The app's mesh layer, for the knobs only the app can turn. Each method applies one setting
 * and returns the result; the defaults say "not supported", so an app implements only what it
 * has. Called on MeshTune's dispatcher thread: hand long work to your own thread and return.
 */
interface MeshController {
    /** Hold at most [max] simultaneous connections. */
    fun setMaxConnections(max: Int): ApplyResult = ApplyResult.unsupported("SetMaxConnections")

    /** Batch outgoing messages: up to [maxBatch] per packet, held at most [maxDelayMs]. */
    fun setMessageBatching(enabled: Boolean, maxBatch: Int, maxDelayMs: Int): ApplyResult = ApplyResult.unsupported("SetMessageBatching")

    /** Compress messages of at least [minSizeBytes]. */
    fun setCompression(enabled: Boolean, minSizeBytes: Int): ApplyResult = ApplyResult.unsupported("SetCompression")

    /** Relay only messages with fewer than [maxHops] hops, over links of at least [minRssiDbm]. */
    fun setRelayPolicy(maxHops: Int, minRssiDbm: Int): ApplyResult = ApplyResult.unsupported("SetRelayPolicy")

    /** Hold caches at `100 - percent` percent of their capacity; 0 restores them. */
    fun trimCaches(percent: Int): ApplyResult = ApplyResult.unsupported("TrimCaches")

    /** Pool (reuse) message and buffer objects. */
    fun setObjectPooling(enabled: Boolean): ApplyResult = ApplyResult.unsupported("SetObjectPooling")

    /** A garbage collection now. The default asks the VM (`Runtime.gc()`), which may ignore it. */
    fun requestGarbageCollection(): ApplyResult {
        Runtime.getRuntime().gc()
        return ApplyResult.Applied
    }

    /** Put [size] operations into each consensus batch. */
    fun setConsensusBatchSize(size: Int): ApplyResult = ApplyResult.unsupported("SetConsensusBatchSize")

    /** Validate consensus messages in parallel. */
    fun setParallelValidation(enabled: Boolean): ApplyResult = ApplyResult.unsupported("SetParallelValidation")

    /** Cache votes already verified. */
    fun setVoteCache(enabled: Boolean): ApplyResult = ApplyResult.unsupported("SetVoteCache")
}

package dev.meshtune

/**
 * What Java needs and cannot reach in the generated Kotlin: Kotlin's unsigned types (`UInt`,
 * `ULong`) make constructors and getters invisible or name-mangled from Java, so four sample
 * types could not be built, and action ids, action fields and counters could not be read
 * without reflection. These functions take and return `int`/`long`, check ranges, and name the
 * field in the error:
 *
 * ```java
 * OptimizerConfig config = MeshtuneKt.optimizerConfigFromJson("{\"target_p95_latency_ms\": 150}");
 * PerformanceOptimizer optimizer = MeshtuneKt.startOptimizer(config, listener);
 * optimizer.record(MeshTuneJava.messageDelivered(240.0, 3, 512));
 * long id = MeshTuneJava.actionId(event);
 * MeshTuneJava.acknowledge(optimizer, id, true, null);
 * ```
 *
 * A configuration with defaults: `MeshtuneKt.defaultOptimizerConfig()`, or
 * `MeshtuneKt.optimizerConfigFromJson` with only the keys to change (every other key keeps its
 * default; an unknown key or a bad value is `OptimizerException.InvalidConfig` naming the key).
 * The example `bindings/kotlin/src/test/java/com/example/meshapp/JavaExampleTest.java` is
 * compiled and run by the test command.
 */
object MeshTuneJava {
    private fun u32(field: String, v: Long): UInt {
        require(v in 0L..0xFFFF_FFFFL) { "$field: $v is outside 0..4294967295" }
        return v.toUInt()
    }

    private fun u32(field: String, v: Int): UInt = u32(field, v.toLong())

    /** `MetricSample.MessageDelivered`. */
    @JvmStatic
    fun messageDelivered(latencyMs: Double, hops: Int, bytes: Long): MetricSample =
        MetricSample.MessageDelivered(latencyMs, u32("MessageDelivered.hops", hops), u32("MessageDelivered.bytes", bytes))

    /** `MetricSample.MessageLost`. */
    @JvmStatic
    fun messageLost(hops: Int): MetricSample = MetricSample.MessageLost(u32("MessageLost.hops", hops))

    /** `MetricSample.PeerCount`. */
    @JvmStatic
    fun peerCount(connected: Int, discovered: Int): MetricSample =
        MetricSample.PeerCount(u32("PeerCount.connected", connected), u32("PeerCount.discovered", discovered))

    /** `OptimizationAction.SetScanMode` (for `reportState`, which takes the app's actual knob values). */
    @JvmStatic
    fun setScanMode(mode: ScanMode, dutyOnMs: Long, dutyOffMs: Long): OptimizationAction =
        OptimizationAction.SetScanMode(mode, u32("SetScanMode.duty_on_ms", dutyOnMs), u32("SetScanMode.duty_off_ms", dutyOffMs))

    /** `OptimizationAction.SetMaxConnections`. */
    @JvmStatic
    fun setMaxConnections(max: Int): OptimizationAction = OptimizationAction.SetMaxConnections(u32("SetMaxConnections.max", max))

    /** `OptimizationAction.SetMessageBatching`. */
    @JvmStatic
    fun setMessageBatching(enabled: Boolean, maxBatch: Int, maxDelayMs: Long): OptimizationAction =
        OptimizationAction.SetMessageBatching(enabled, u32("SetMessageBatching.max_batch", maxBatch), u32("SetMessageBatching.max_delay_ms", maxDelayMs))

    /** `OptimizationAction.SetCompression`. */
    @JvmStatic
    fun setCompression(enabled: Boolean, minSizeBytes: Long): OptimizationAction =
        OptimizationAction.SetCompression(enabled, u32("SetCompression.min_size_bytes", minSizeBytes))

    /** `OptimizationAction.SetRelayPolicy`. */
    @JvmStatic
    fun setRelayPolicy(maxHops: Int, minRssiDbm: Int): OptimizationAction =
        OptimizationAction.SetRelayPolicy(u32("SetRelayPolicy.max_hops", maxHops), minRssiDbm)

    /** `OptimizationAction.TrimCaches`. */
    @JvmStatic
    fun trimCaches(percent: Int): OptimizationAction = OptimizationAction.TrimCaches(u32("TrimCaches.percent", percent))

    /** `OptimizationAction.SetConsensusBatchSize`. */
    @JvmStatic
    fun setConsensusBatchSize(size: Int): OptimizationAction = OptimizationAction.SetConsensusBatchSize(u32("SetConsensusBatchSize.size", size))

    /** `MetricSample.ConsensusRound`. */
    @JvmStatic
    fun consensusRound(proposalMs: Double, voteMs: Double, finalizationMs: Double, operations: Int): MetricSample =
        MetricSample.ConsensusRound(proposalMs, voteMs, finalizationMs, u32("ConsensusRound.operations", operations))

    /** The id of an action (ids stay far below `Long.MAX_VALUE`). */
    @JvmStatic
    fun actionId(event: ActionEvent): Long = event.id.toLong()

    /** When the action was decided, engine ms. */
    @JvmStatic
    fun actionAtMs(event: ActionEvent): Long = event.atMs.toLong()

    /** The action an outcome is about. */
    @JvmStatic
    fun outcomeActionId(outcome: OutcomeEvent): Long = when (outcome) {
        is OutcomeEvent.Improved -> outcome.actionId
        is OutcomeEvent.NoEffect -> outcome.actionId
        is OutcomeEvent.Worse -> outcome.actionId
        is OutcomeEvent.Inconclusive -> outcome.actionId
        is OutcomeEvent.NotApplied -> outcome.actionId
        is OutcomeEvent.Superseded -> outcome.actionId
        is OutcomeEvent.Unacknowledged -> outcome.actionId
    }.toLong()

    /** `reportActionResult` with a `long` id. */
    @JvmStatic
    @Throws(OptimizerException::class)
    fun acknowledge(optimizer: PerformanceOptimizerInterface, actionId: Long, applied: Boolean, detail: String?) {
        require(actionId >= 0) { "actionId: $actionId is negative" }
        optimizer.reportActionResult(actionId.toULong(), applied, detail)
    }

    /** `isActionCurrent` with a `long` id: false for a negative one (never an action's). */
    @JvmStatic
    fun isActionCurrent(optimizer: PerformanceOptimizerInterface, actionId: Long): Boolean = actionId >= 0 && optimizer.isActionCurrent(actionId.toULong())

    /**
     * Every field of an action by its Kotlin name, unsigned values as `Long`, enums as their
     * name (`{"kind": "SetScanMode", "mode": "LOW_POWER", "dutyOnMs": 1000, "dutyOffMs": 29000}`).
     */
    @JvmStatic
    fun actionFields(action: OptimizationAction): Map<String, Any> = when (action) {
        is OptimizationAction.SetScanMode ->
            mapOf("kind" to "SetScanMode", "mode" to action.mode.name, "dutyOnMs" to action.dutyOnMs.toLong(), "dutyOffMs" to action.dutyOffMs.toLong())
        is OptimizationAction.SetAdvertising -> mapOf("kind" to "SetAdvertising", "mode" to action.mode.name, "txPower" to action.txPower.name)
        is OptimizationAction.SetConnectionPriority -> mapOf("kind" to "SetConnectionPriority", "priority" to action.priority.name)
        is OptimizationAction.SetMaxConnections -> mapOf("kind" to "SetMaxConnections", "max" to action.max.toLong())
        is OptimizationAction.SetMessageBatching ->
            mapOf(
                "kind" to "SetMessageBatching",
                "enabled" to action.enabled,
                "maxBatch" to action.maxBatch.toLong(),
                "maxDelayMs" to action.maxDelayMs.toLong(),
            )
        is OptimizationAction.SetCompression -> mapOf("kind" to "SetCompression", "enabled" to action.enabled, "minSizeBytes" to action.minSizeBytes.toLong())
        is OptimizationAction.SetRelayPolicy -> mapOf(
            "kind" to "SetRelayPolicy",
            "maxHops" to action.maxHops.toLong(),
            "minRssiDbm" to action.minRssiDbm.toLong(),
        )
        is OptimizationAction.TrimCaches -> mapOf("kind" to "TrimCaches", "percent" to action.percent.toLong())
        is OptimizationAction.SetObjectPooling -> mapOf("kind" to "SetObjectPooling", "enabled" to action.enabled)
        is OptimizationAction.RequestGarbageCollection -> mapOf("kind" to "RequestGarbageCollection")
        is OptimizationAction.SetConsensusBatchSize -> mapOf("kind" to "SetConsensusBatchSize", "size" to action.size.toLong())
        is OptimizationAction.SetParallelValidation -> mapOf("kind" to "SetParallelValidation", "enabled" to action.enabled)
        is OptimizationAction.SetVoteCache -> mapOf("kind" to "SetVoteCache", "enabled" to action.enabled)
    }

    /** Every counter of a snapshot by its Kotlin name, as `Long`. */
    @JvmStatic
    fun counters(snapshot: OptimizerSnapshot): Map<String, Long> = with(snapshot.counters) {
        linkedMapOf(
            "samplesOffered" to samplesOffered.toLong(),
            "samplesAccepted" to samplesAccepted.toLong(),
            "samplesRejected" to samplesRejected.toLong(),
            "samplesDropped" to samplesDropped.toLong(),
            "ticks" to ticks.toLong(),
            "actionsEmitted" to actionsEmitted.toLong(),
            "actionsApplied" to actionsApplied.toLong(),
            "actionsRefused" to actionsRefused.toLong(),
            "actionsUndelivered" to actionsUndelivered.toLong(),
            "externalChanges" to externalChanges.toLong(),
            "outcomesImproved" to outcomesImproved.toLong(),
            "outcomesNoEffect" to outcomesNoEffect.toLong(),
            "outcomesWorse" to outcomesWorse.toLong(),
            "outcomesInconclusive" to outcomesInconclusive.toLong(),
            "outcomesSuperseded" to outcomesSuperseded.toLong(),
            "outcomesUnacknowledged" to outcomesUnacknowledged.toLong(),
            "proposalsDiscarded" to proposalsDiscarded.toLong(),
            "eventsDropped" to eventsDropped.toLong(),
            "listenerFailures" to listenerFailures.toLong(),
            "internalPanics" to internalPanics.toLong(),
        )
    }

    /**
     * Every unsigned field of a snapshot outside its counters, by its path, as `Long` (null where
     * the Kotlin field is null): `nowMs`, `tickIntervalMs`, the sample counts of the metrics
     * (`metrics.networkLatency.count`, `metrics.meshPerformance.delivered`, `.lost`, `.onTime`,
     * ...), the peer counts, and `backingOff.<i>.untilMs`. Java cannot read Kotlin's unsigned
     * types without this (they are inline classes, mangled in the Java view).
     */
    @JvmStatic
    fun unsignedFields(snapshot: OptimizerSnapshot): Map<String, Long?> {
        val out = linkedMapOf<String, Long?>(
            "nowMs" to snapshot.nowMs.toLong(),
            "tickIntervalMs" to snapshot.tickIntervalMs.toLong(),
        )
        val m = snapshot.metrics
        out["metrics.networkLatency.count"] = m.networkLatency?.count?.toLong()
        out["metrics.consensusPerformance.rounds"] = m.consensusPerformance.rounds.toLong()
        out["metrics.consensusPerformance.finalization.count"] = m.consensusPerformance.finalization?.count?.toLong()
        with(m.meshPerformance) {
            out["metrics.meshPerformance.delivered"] = delivered.toLong()
            out["metrics.meshPerformance.lost"] = lost.toLong()
            out["metrics.meshPerformance.onTime"] = onTime.toLong()
            out["metrics.meshPerformance.connectedPeers"] = connectedPeers?.toLong()
            out["metrics.meshPerformance.discoveredPeers"] = discoveredPeers?.toLong()
            out["metrics.meshPerformance.connectionSetup.count"] = connectionSetup?.count?.toLong()
            out["metrics.meshPerformance.discovery.count"] = discovery?.count?.toLong()
        }
        snapshot.backingOff.forEachIndexed { i, b -> out["backingOff.$i.untilMs"] = b.untilMs.toLong() }
        return out
    }
}

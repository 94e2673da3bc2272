// The facade apps use: start the core, get actions and outcomes as AsyncStreams, acknowledge,
// record samples without try, stop.
import Foundation

/// Receives samples (collectors push into it). `MeshTuneSession` is one.
public protocol SampleSink: AnyObject, Sendable {
    /// Records `sample`; returns whether the core accepted it. Never throws.
    @discardableResult
    func record(_ sample: MetricSample) -> Bool
}

/// Why `MeshTuneSession.start` refused.
public enum MeshTuneSessionError: Error, Equatable, Sendable {
    /// `start` was already called.
    case alreadyStarted
    /// The session was stopped; a session runs once (make a new one).
    case stopped
}

/// Counters of the glue itself (the core's are in `snapshot()`).
public struct MeshTuneSessionCounters: Equatable, Sendable {
    /// Samples the core refused (invalid, overloaded, stopped).
    public var samplesRefused: UInt64 = 0
    /// Actions the `actions` stream could not take (buffer full or finished); each was
    /// acknowledged as not applied unless an applier had applied it.
    public var actionsNotDelivered: UInt64 = 0
    /// Outcomes the `outcomes` stream could not take.
    public var outcomesNotDelivered: UInt64 = 0
    /// Acknowledgements the core refused (other than for a stopped optimizer).
    public var acknowledgementFailures: UInt64 = 0
    /// Actions not applied because they had expired when the app (or the applier) took them;
    /// each was acknowledged as not applied.
    public var actionsExpired: UInt64 = 0
}

/// One running MeshTune optimizer with iOS-friendly edges.
///
/// Actions arrive on `actions`, in order. Without an applier, the app applies each and calls
/// `acknowledge(_:_:)` once. With an `applier`, the session applies and acknowledges every action
/// itself (on MeshTune's dispatcher thread) before publishing it on `actions`, which is then
/// for observation only. An action the stream cannot take (the buffer of `streamCapacity` is full,
/// or the stream ended) is acknowledged as not applied, so the core restores its belief and
/// emits `.notApplied` instead of waiting for a timeout. Nothing here throws into the app from a
/// callback; `stop()` ends both streams.
///
/// Each stream supports one consumer (an `AsyncStream` rule).
public final class MeshTuneSession: SampleSink, @unchecked Sendable {
    private enum State { case idle, running, stopped }

    /// The core's actions, in order; ends when the session stops. Without an applier, an action
    /// taken from the stream after it expired (its `ackTimeoutMs` ran out, or a newer action
    /// replaced it; the core decides) is not yielded: it is acknowledged as not applied for you
    /// ("expired before the app took it") and counted in `counters.actionsExpired`.
    public var actions: AsyncStream<ActionEvent> {
        let stream = actionChannel.stream
        guard applier == nil else { return stream }
        // Pulled as the app asks for the next action, so the check is made when it takes one.
        let source = ActionSource(stream.makeAsyncIterator())
        return AsyncStream(unfolding: { [weak self] in
            while let event = await source.next() {
                if self?.takeIfCurrent(event) ?? true { return event }
            }
            return nil
        })
    }
    /// The core's outcomes, in order; ends when the session stops.
    public var outcomes: AsyncStream<OutcomeEvent> { outcomeChannel.stream }

    private let config: OptimizerConfig
    private let streamCapacity: Int
    private let applier: ActionApplier?
    private let actionChannel: EventChannel<ActionEvent>
    private let outcomeChannel: EventChannel<OutcomeEvent>
    private let lock = NSLock()
    private var state = State.idle
    private var optimizer: PerformanceOptimizer?
    private var ledger = AcknowledgementLedger()
    private var glueCounters = MeshTuneSessionCounters()

    /// A session with `config`; `applier`, if given, applies and acknowledges every action.
    /// `streamCapacity` bounds each stream's buffer.
    public init(config: OptimizerConfig = OptimizerConfig(), applier: ActionApplier? = nil, streamCapacity: Int = 256) {
        self.config = config
        self.applier = applier
        self.streamCapacity = Swift.max(1, streamCapacity)
        actionChannel = EventChannel(capacity: streamCapacity)
        outcomeChannel = EventChannel(capacity: streamCapacity)
    }

    deinit {
        stop()
    }

    /// Starts the core. Throws `OptimizerError.InvalidConfig` for a bad configuration and
    /// `MeshTuneSessionError` when called twice or after `stop()`.
    public func start() throws {
        lock.lock()
        defer { lock.unlock() }
        switch state {
        case .running: throw MeshTuneSessionError.alreadyStarted
        case .stopped: throw MeshTuneSessionError.stopped
        case .idle: break
        }
        // The lock is held until `optimizer` is set: a listener call that comes first waits
        // for it (in `running()`), so an applier can always acknowledge.
        optimizer = try startOptimizer(config: config, listener: SessionListener(self))
        state = .running
    }

    /// Stops the core and ends both streams. Idempotent; works from any thread, also from an
    /// applier or a stream consumer.
    public func stop() {
        lock.lock()
        let optimizer = self.optimizer
        let wasStopped = state == .stopped
        state = .stopped
        lock.unlock()
        guard !wasStopped else { return }
        optimizer?.stop()
        actionChannel.finish()
        outcomeChannel.finish()
    }

    /// Whether the session runs (started and not stopped).
    public var isRunning: Bool {
        lock.lock()
        defer { lock.unlock() }
        return state == .running
    }

    /// Records `sample` from any thread. False if the core refused it (see `tryRecord` for
    /// the reason) or the session is not running.
    @discardableResult
    public func record(_ sample: MetricSample) -> Bool {
        do {
            try tryRecord(sample)
            return true
        } catch {
            count { $0.samplesRefused += 1 }
            return false
        }
    }

    /// Records `sample`, throwing the core's `OptimizerError` (or `.Stopped` when the session
    /// is not running).
    public func tryRecord(_ sample: MetricSample) throws {
        guard let optimizer = running() else { throw OptimizerError.Stopped }
        try optimizer.record(sample: sample)
    }

    /// Acknowledges `event`: applied, or not with the reason. Once per action; never throws.
    @discardableResult
    public func acknowledge(_ event: ActionEvent, _ result: ApplyResult) -> AcknowledgementStatus {
        acknowledge(actionId: event.id, result)
    }

    /// Acknowledges the action `actionId`.
    @discardableResult
    public func acknowledge(actionId: UInt64, _ result: ApplyResult) -> AcknowledgementStatus {
        lock.lock()
        guard state == .running, let optimizer else {
            lock.unlock()
            return .stopped
        }
        guard ledger.claim(actionId) else {
            lock.unlock()
            return .notPending
        }
        lock.unlock()
        do {
            try optimizer.reportActionResult(actionId: actionId, applied: result.isApplied, detail: result.detail)
            return .reported
        } catch OptimizerError.Stopped {
            return .stopped
        } catch OptimizerError.UnknownAction {
            return .notPending  // the core closed it in the meantime (ack timeout)
        } catch {
            count { $0.acknowledgementFailures += 1 }
            return .failed(String(describing: error))
        }
    }

    /// Tells MeshTune what the app actually runs, one action per knob that sets it: at start
    /// (the scan and advertising settings) and whenever a knob changes outside MeshTune (the
    /// app or the user changed it, the OS forced it). A knob whose acknowledgement never came
    /// is unknown to the engine (`snapshot()?.unknownKnobs`) until this or a late
    /// acknowledgement says what the app has. An action that expired before you took it
    /// from `actions` is answered for you; if you queue actions elsewhere, ask
    /// `isActionCurrent(_:)` before you apply one. Throws
    /// `OptimizerError.InvalidAction` naming `report_state.actual[i]` (nothing changes), and
    /// `OptimizerError.Stopped` when the session is not running.
    public func reportState(_ actual: [OptimizationAction]) throws {
        lock.lock()
        let optimizer = state == .running ? self.optimizer : nil
        lock.unlock()
        guard let optimizer else { throw OptimizerError.Stopped }
        try optimizer.reportState(actual: actual)
    }

    /// Whether `event` should still be applied (the core's answer: awaiting its
    /// acknowledgement, within `ackTimeoutMs`, not replaced). False when not running.
    public func isActionCurrent(_ event: ActionEvent) -> Bool {
        running()?.isActionCurrent(actionId: event.id) ?? false
    }

    /// The core's snapshot (metrics, profile, counters); nil before `start()`. Works after stop.
    public func snapshot() -> OptimizerSnapshot? {
        lock.lock()
        let optimizer = self.optimizer
        lock.unlock()
        return optimizer?.snapshot()
    }

    /// The glue's own counters.
    public var counters: MeshTuneSessionCounters {
        lock.lock()
        defer { lock.unlock() }
        return glueCounters
    }

    // MARK: - From the listener (MeshTune's dispatcher thread)

    fileprivate func deliver(_ event: ActionEvent) {
        guard running() != nil else { return }
        lock.lock()
        ledger.delivered(event.id)
        lock.unlock()
        var acknowledged = false
        if let applier {
            // The dispatcher may have been held up (a slow applier before this action).
            if takeIfCurrent(event) {
                acknowledge(event, applier.apply(event.action))
            }
            acknowledged = true
        }
        switch actionChannel.send(event) {
        case .enqueued:
            break
        case let .dropped(event):
            count { $0.actionsNotDelivered += 1 }
            if !acknowledged {
                acknowledge(event, .notApplied(reason: "the app's action stream is full (\(streamCapacity) actions buffered)"))
            }
        case let .finished(event):
            count { $0.actionsNotDelivered += 1 }
            if !acknowledged {
                acknowledge(event, .notApplied(reason: "the app's action stream has ended"))
            }
        }
    }

    fileprivate func deliver(_ outcome: OutcomeEvent) {
        lock.lock()
        if case .unacknowledged = outcome {
            ledger.timedOut(outcome.actionId)
        } else {
            ledger.closed(outcome.actionId)
        }
        lock.unlock()
        switch outcomeChannel.send(outcome) {
        case .enqueued: break
        case .dropped, .finished: count { $0.outcomesNotDelivered += 1 }
        }
    }

    /// Whether `event` may still be applied; if not, acknowledges it as not applied and counts
    /// it. True when the session is not running (the acknowledgement then reports `.stopped`).
    private func takeIfCurrent(_ event: ActionEvent) -> Bool {
        guard let optimizer = running() else { return true }
        if optimizer.isActionCurrent(actionId: event.id) { return true }
        count { $0.actionsExpired += 1 }
        acknowledge(event, .notApplied(reason: "expired before the app took it (ackTimeoutMs ran out, or a newer action replaced it)"))
        return false
    }

    /// The optimizer if running (waits for a `start()` in progress).
    private func running() -> PerformanceOptimizer? {
        lock.lock()
        defer { lock.unlock() }
        return state == .running ? optimizer : nil
    }

    private func count(_ body: (inout MeshTuneSessionCounters) -> Void) {
        lock.lock()
        body(&glueCounters)
        lock.unlock()
    }
}

/// The channel's iterator, pulled by the `actions` stream (one consumer, as for any AsyncStream).
private final class ActionSource: @unchecked Sendable {
    private var iterator: AsyncStream<ActionEvent>.Iterator

    init(_ iterator: AsyncStream<ActionEvent>.Iterator) {
        self.iterator = iterator
    }

    func next() async -> ActionEvent? {
        await iterator.next()
    }
}

/// The core's listener: forwards to the session, which it holds weakly (the optimizer holds
/// the listener until it stops; the session holds the optimizer).
private final class SessionListener: ActionListener, @unchecked Sendable {
    private weak var session: MeshTuneSession?

    init(_ session: MeshTuneSession) {
        self.session = session
    }

    func onAction(event: ActionEvent) {
        session?.deliver(event)
    }

    func onOutcome(event: OutcomeEvent) {
        session?.deliver(event)
    }
}

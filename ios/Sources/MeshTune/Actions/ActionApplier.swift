// The action applier protocol, what it answers, and a router that splits radio actions from
// the app's own (batching, caches, consensus, ...).
import Foundation

/// What the app did with an action. The reason of `.notApplied` reaches the core as the
/// `detail` of `reportActionResult` and comes back in the `.notApplied` outcome.
public enum ApplyResult: Equatable, Sendable {
    /// The action is in place.
    case applied
    /// The action could not be applied; `reason` says why (for logs and the outcome).
    case notApplied(reason: String)

    /// Whether the action is in place.
    public var isApplied: Bool {
        if case .applied = self { return true }
        return false
    }

    /// The `detail` argument of `reportActionResult`: nil when applied.
    public var detail: String? {
        if case let .notApplied(reason) = self { return reason }
        return nil
    }
}

/// Applies MeshTune's actions to the app.
///
/// `MeshTuneSession` calls `apply` on MeshTune's dispatcher thread, one action at a time and in
/// order, then acknowledges the result to the core. `apply` cannot throw: return
/// `.notApplied(reason:)` for what it cannot do. Keep it short (hop to your own queue for
/// the work itself): later actions wait for it.
public protocol ActionApplier: AnyObject, Sendable {
    /// Applies `action` and says whether it is in place.
    func apply(_ action: OptimizationAction) -> ApplyResult
}

/// An applier made of a closure, for the app's non-radio knobs.
public final class ClosureApplier: ActionApplier, @unchecked Sendable {
    private let body: (OptimizationAction) -> ApplyResult

    /// `body` is called as `ActionApplier.apply` is.
    public init(_ body: @escaping (OptimizationAction) -> ApplyResult) {
        self.body = body
    }

    public func apply(_ action: OptimizationAction) -> ApplyResult {
        body(action)
    }
}

/// Sends radio actions (scan, advertising, connection priority, connection limit) to one
/// applier, typically `CoreBluetoothApplier`, and every other action to the app's applier.
/// An action with no applier is refused with a reason naming its knob.
public final class ActionRouter: ActionApplier, @unchecked Sendable {
    /// The knobs that `radio` receives.
    public static let radioKnobs: Set<Knob> = [.scanMode, .advertising, .connectionPriority, .maxConnections]

    private let radio: ActionApplier?
    private let app: ActionApplier?

    /// `radio` gets the radio knobs, `app` the rest; either may be nil.
    public init(radio: ActionApplier?, app: ActionApplier?) {
        self.radio = radio
        self.app = app
    }

    public func apply(_ action: OptimizationAction) -> ApplyResult {
        let knob = action.knob
        let target = Self.radioKnobs.contains(knob) ? radio : app
        guard let target else {
            return .notApplied(reason: "this app has no applier for \(knob)")
        }
        return target.apply(action)
    }
}

extension OptimizationAction {
    /// The knob this action sets (the same as the core's `OptimizationAction::knob`).
    public var knob: Knob {
        switch self {
        case .setScanMode: return .scanMode
        case .setAdvertising: return .advertising
        case .setConnectionPriority: return .connectionPriority
        case .setMaxConnections: return .maxConnections
        case .setMessageBatching: return .messageBatching
        case .setCompression: return .compression
        case .setRelayPolicy: return .relayPolicy
        case .trimCaches: return .cacheTrim
        case .setObjectPooling: return .objectPooling
        case .requestGarbageCollection: return .garbageCollection
        case .setConsensusBatchSize: return .consensusBatchSize
        case .setParallelValidation: return .parallelValidation
        case .setVoteCache: return .voteCache
        }
    }
}

extension OutcomeEvent {
    /// The action this outcome is about.
    public var actionId: UInt64 {
        switch self {
        case let .improved(actionId, _, _, _, _, _, _, _, _): return actionId
        case let .noEffect(actionId, _, _, _, _, _, _, _, _): return actionId
        case let .worse(actionId, _, _, _, _, _, _, _, _): return actionId
        case let .inconclusive(actionId, _, _): return actionId
        case let .notApplied(actionId, _): return actionId
        case let .superseded(actionId, _): return actionId
        case let .unacknowledged(actionId, _): return actionId
        }
    }
}

// Which actions still await an acknowledgement from this app: each is acknowledged once.
import Foundation

/// What became of an acknowledgement.
public enum AcknowledgementStatus: Equatable, Sendable {
    /// The core has it.
    case reported
    /// Nothing awaits it: the action was already acknowledged, this session never delivered
    /// it, or the core already closed it (for example as unacknowledged after
    /// `ackTimeoutMs`).
    case notPending
    /// The session is not running (not started, or stopped).
    case stopped
    /// The core refused it for another reason (its error, as text).
    case failed(String)
}

/// The ids of actions delivered and not yet acknowledged or closed by an outcome.
/// Not thread-safe: MeshTuneSession guards it with its lock.
struct AcknowledgementLedger {
    private(set) var pending = Set<UInt64>()

    /// An action was delivered to the app.
    mutating func delivered(_ actionId: UInt64) {
        pending.insert(actionId)
    }

    /// Claims the right to acknowledge `actionId`: true once per delivered action.
    mutating func claim(_ actionId: UInt64) -> Bool {
        pending.remove(actionId) != nil
    }

    /// The core gave the action an outcome: nothing to acknowledge any more.
    mutating func closed(_ actionId: UInt64) {
        pending.remove(actionId)
    }
}

// Which actions still await an acknowledgement from this app: each is acknowledged once.
import Foundation

/// What became of an acknowledgement.
public enum AcknowledgementStatus: Equatable, Sendable {
    /// The core has it.
    case reported
    /// Nothing awaits it: the action was already acknowledged, this session never delivered
    /// it, or the core already closed it with an outcome (an action closed as unacknowledged
    /// after `ackTimeoutMs` still takes one late acknowledgement: the core learns from it
    /// what the app has, for the last 64 such actions).
    case notPending
    /// The session is not running (not started, or stopped).
    case stopped
    /// The core refused it for another reason (its error, as text).
    case failed(String)
}

/// The ids of actions delivered and not yet acknowledged or closed by an outcome, and of the
/// last ones closed as unacknowledged (the core takes their late acknowledgement).
/// Not thread-safe: MeshTuneSession guards it with its lock.
struct AcknowledgementLedger {
    /// Timed-out actions whose late acknowledgement is still passed on: as many as the core
    /// remembers.
    static let lateLimit = 64

    private(set) var pending = Set<UInt64>()
    /// Timed out and not yet acknowledged, oldest first.
    private(set) var late: [UInt64] = []

    /// An action was delivered to the app.
    mutating func delivered(_ actionId: UInt64) {
        pending.insert(actionId)
    }

    /// Claims the right to acknowledge `actionId`: true once per delivered action.
    mutating func claim(_ actionId: UInt64) -> Bool {
        if pending.remove(actionId) != nil { return true }
        guard let i = late.firstIndex(of: actionId) else { return false }
        late.remove(at: i)
        return true
    }

    /// The core closed the action as unacknowledged: one late acknowledgement may still come.
    mutating func timedOut(_ actionId: UInt64) {
        guard pending.remove(actionId) != nil else { return }
        late.append(actionId)
        if late.count > Self.lateLimit { late.removeFirst(late.count - Self.lateLimit) }
    }

    /// The core gave the action an outcome: nothing to acknowledge any more.
    mutating func closed(_ actionId: UInt64) {
        pending.remove(actionId)
    }
}

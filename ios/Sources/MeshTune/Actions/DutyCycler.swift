// Runs a RadioSchedule: turns a radio function on and off on time. The clock is a scheduler
// (a DispatchQueue in the app, a manual one in the tests), so the cycling logic is tested
// without sleeping.
import Dispatch
import Foundation

/// Something scheduled that can be cancelled.
public protocol RadioTimerToken: AnyObject {
    func cancel()
}

/// Runs work after a delay, on one serial context.
public protocol RadioScheduler: AnyObject {
    /// Runs `work` after `ms` milliseconds unless the returned token is cancelled first.
    func schedule(afterMs ms: UInt32, _ work: @escaping () -> Void) -> RadioTimerToken
}

/// A RadioScheduler on a serial DispatchQueue (the CoreBluetooth managers' queue).
public final class DispatchRadioScheduler: RadioScheduler {
    private final class Token: RadioTimerToken {
        let item: DispatchWorkItem
        init(_ item: DispatchWorkItem) { self.item = item }
        func cancel() { item.cancel() }
    }

    private let queue: DispatchQueue

    public init(queue: DispatchQueue) {
        self.queue = queue
    }

    public func schedule(afterMs ms: UInt32, _ work: @escaping () -> Void) -> RadioTimerToken {
        let item = DispatchWorkItem(block: work)
        queue.asyncAfter(deadline: .now() + .milliseconds(Int(ms)), execute: item)
        return Token(item)
    }
}

/// Turns a function on and off per a RadioSchedule. Not thread-safe: call it, and let the
/// scheduler run its work, on one serial context (the scheduler's queue).
public final class DutyCycler {
    private let scheduler: RadioScheduler
    private let turnOn: () -> Void
    private let turnOff: () -> Void
    private var pending: RadioTimerToken?
    /// Incremented by every run/stop, so that work scheduled for an older schedule does nothing
    /// even if its cancellation came too late.
    private var generation: UInt64 = 0
    /// Whether the function is on (as far as this cycler turned it).
    public private(set) var isOn = false
    /// The schedule being run, nil when stopped.
    public private(set) var schedule: RadioSchedule?

    /// `turnOn` starts the function (it may be called while on, to restart it with new
    /// options); `turnOff` stops it.
    public init(scheduler: RadioScheduler, turnOn: @escaping () -> Void, turnOff: @escaping () -> Void) {
        self.scheduler = scheduler
        self.turnOn = turnOn
        self.turnOff = turnOff
    }

    /// Starts (or restarts) `schedule` from its on-phase.
    public func run(_ schedule: RadioSchedule) {
        cancelPending()
        self.schedule = schedule
        on(generation)
    }

    /// Turns the function off and forgets the schedule.
    public func stop() {
        cancelPending()
        schedule = nil
        if isOn {
            isOn = false
            turnOff()
        }
    }

    private func cancelPending() {
        generation &+= 1
        pending?.cancel()
        pending = nil
    }

    private func on(_ gen: UInt64) {
        guard gen == generation, let schedule else { return }
        isOn = true
        turnOn()
        if case let .dutyCycled(onMs, _) = schedule {
            pending = scheduler.schedule(afterMs: onMs) { [weak self] in self?.off(gen) }
        }
    }

    private func off(_ gen: UInt64) {
        guard gen == generation, case let .dutyCycled(_, offMs) = schedule else { return }
        isOn = false
        turnOff()
        pending = scheduler.schedule(afterMs: offMs) { [weak self] in self?.on(gen) }
    }
}

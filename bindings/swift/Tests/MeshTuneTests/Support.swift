// Helpers shared by the tests: bounded polling, a thread-safe recording listener, configs.
import Foundation
import MeshTune
import XCTest

/// Polls `condition` every 5 ms until it holds or `timeout` seconds pass; returns whether it
/// held. Every wait in this suite is such a bounded poll (no timing assertions).
func waitUntil(timeout: TimeInterval = 10, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if condition() { return true }
        Thread.sleep(forTimeInterval: 0.005)
    }
    return condition()
}

/// A fast-ticking configuration for tests: ticks every 10 to 50 ms, no process sampling.
func fastConfig(
    verificationWindowMs: UInt64 = 200,
    sampleQueueCapacity: UInt32 = 16_384,
    eventQueueCapacity: UInt32 = 1_024,
    stopTimeoutMs: UInt64 = 2_000,
    windowMs: UInt64 = 60_000
) -> OptimizerConfig {
    OptimizerConfig(
        windowMs: windowMs,
        minTickIntervalMs: 10,
        maxTickIntervalMs: 50,
        verificationWindowMs: verificationWindowMs,
        sampleQueueCapacity: sampleQueueCapacity,
        eventQueueCapacity: eventQueueCapacity,
        sampleProcess: false,
        stopTimeoutMs: stopTimeoutMs
    )
}

/// A delivery slow enough (p95 above the default 100 ms target) to engage the network strategy.
let slowDelivery = MetricSample.messageDelivered(latencyMs: 400, hops: 2, bytes: 256)

/// A small thread-safe box.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func get() -> Value { lock.lock(); defer { lock.unlock() }; return value }
    func mutate<R>(_ body: (inout Value) -> R) -> R { lock.lock(); defer { lock.unlock() }; return body(&value) }
}

/// A listener that records every call (they arrive on MeshTune's dispatcher thread) and then
/// runs the test's hooks. `optimizer` is weak: the optimizer already holds its listener.
final class RecordingListener: ActionListener, @unchecked Sendable {
    private let actionsBox = Locked<[ActionEvent]>([])
    private let outcomesBox = Locked<[OutcomeEvent]>([])
    private let optimizerBox = Locked<WeakOptimizer>(WeakOptimizer())
    private let threadsBox = Locked<[String]>([])
    private let actionHook: (RecordingListener, ActionEvent) -> Void
    private let outcomeHook: (RecordingListener, OutcomeEvent) -> Void

    init(
        onAction: @escaping (RecordingListener, ActionEvent) -> Void = { _, _ in },
        onOutcome: @escaping (RecordingListener, OutcomeEvent) -> Void = { _, _ in }
    ) {
        actionHook = onAction
        outcomeHook = onOutcome
    }

    var optimizer: PerformanceOptimizer? {
        get { optimizerBox.get().value }
        set { optimizerBox.mutate { $0.value = newValue } }
    }
    var actions: [ActionEvent] { actionsBox.get() }
    var outcomes: [OutcomeEvent] { outcomesBox.get() }
    /// The names of the threads that called this listener.
    var callerThreads: [String] { threadsBox.get() }

    func onAction(event: ActionEvent) {
        threadsBox.mutate { $0.append(currentThreadName()) }
        actionsBox.mutate { $0.append(event) }
        actionHook(self, event)
    }

    func onOutcome(event: OutcomeEvent) {
        threadsBox.mutate { $0.append(currentThreadName()) }
        outcomesBox.mutate { $0.append(event) }
        outcomeHook(self, event)
    }

    func outcome(for actionId: UInt64) -> OutcomeEvent? {
        outcomes.first { $0.actionId == actionId }
    }
}

/// The OS name of the calling thread (Rust names its threads, e.g. "meshtune-dispatch").
func currentThreadName() -> String {
    let comm = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "?"
    return comm.trimmingCharacters(in: .whitespacesAndNewlines)
}

/// Resident memory of this process (VmRSS), KiB.
func residentKiB() -> Int {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? -1
    }
    return -1
}

struct WeakOptimizer {
    weak var value: PerformanceOptimizer?
}

extension OutcomeEvent {
    /// The action this outcome is about.
    var actionId: UInt64 {
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

/// Records `sample` on a background thread every `intervalMs` until `stop()`; counts errors.
final class BackgroundRecorder: @unchecked Sendable {
    private let running = Locked(true)
    private let errors = Locked<[Error]>([])
    private let done = DispatchSemaphore(value: 0)

    init(_ optimizer: PerformanceOptimizer, sample: MetricSample, intervalMs: UInt32 = 2) {
        Thread.detachNewThread { [running, errors, done] in
            while running.get() {
                do { try optimizer.record(sample: sample) } catch { errors.mutate { $0.append(error) } }
                Thread.sleep(forTimeInterval: Double(intervalMs) / 1000)
            }
            done.signal()
        }
    }

    /// Stops recording (waits for the thread) and returns the errors it saw.
    @discardableResult
    func stop() -> [Error] {
        running.mutate { $0 = false }
        _ = done.wait(timeout: .now() + 10)
        return errors.get()
    }
}

/// Asserts that `body` throws an `OptimizerError` and hands it over.
func assertThrowsOptimizerError(
    _ body: @autoclosure () throws -> Void,
    file: StaticString = #filePath,
    line: UInt = #line,
    _ check: (OptimizerError) -> Void
) {
    do {
        try body()
        XCTFail("expected an OptimizerError, nothing was thrown", file: file, line: line)
    } catch let error as OptimizerError {
        check(error)
    } catch {
        XCTFail("expected an OptimizerError, got \(error)", file: file, line: line)
    }
}

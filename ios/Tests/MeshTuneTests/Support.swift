// Helpers shared by the glue tests: bounded polling, a lock box, a fast-ticking config, and a
// manual scheduler for duty cycles.
import Foundation
@testable import MeshTune
import XCTest

/// Polls `condition` every 5 ms until it holds or `timeout` seconds pass; returns whether it
/// held. Every wait in this suite is such a bounded poll: nothing asserts on timing.
func waitUntil(timeout: TimeInterval = 10, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if condition() { return true }
        Thread.sleep(forTimeInterval: 0.005)
    }
    return condition()
}

/// A small thread-safe box.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func get() -> Value { lock.lock(); defer { lock.unlock() }; return value }
    func mutate<R>(_ body: (inout Value) -> R) -> R { lock.lock(); defer { lock.unlock() }; return body(&value) }
}

/// Ticks every 10 to 50 ms, no process sampling: the core reacts within a test's patience.
func fastConfig(ackTimeoutMs: UInt64 = 10_000) -> OptimizerConfig {
    OptimizerConfig(
        minTickIntervalMs: 10,
        maxTickIntervalMs: 50,
        verificationWindowMs: 200,
        ackTimeoutMs: ackTimeoutMs,
        sampleProcess: false,
        stopTimeoutMs: 2_000
    )
}

/// Deliveries later than the default 100 ms deadline, for the network strategy to act, and
/// critical memory pressure: several actions in one tick (the memory strategy's safety actions;
/// the latency repair changes one knob at a time).
let slowDeliveries =
    Array(repeating: MetricSample.messageDelivered(latencyMs: 400, hops: 2, bytes: 256), count: 20)
    + [MetricSample.memoryPressure(level: .critical)]

/// Consumes a stream on a task, collecting its elements; `finished` turns true when it ends.
final class StreamCollector<Element>: @unchecked Sendable {
    private let items = Locked<[Element]>([])
    private let ended = Locked(false)
    private var task: Task<Void, Never>?

    init(_ stream: AsyncStream<Element>, onElement: @escaping @Sendable (Element) -> Void = { _ in }) {
        task = Task { [items, ended] in
            for await element in stream {
                items.mutate { $0.append(element) }
                onElement(element)
            }
            ended.mutate { $0 = true }
        }
    }

    var elements: [Element] { items.get() }
    var finished: Bool { ended.get() }
}

/// A RadioScheduler whose time the test advances by hand.
final class ManualScheduler: RadioScheduler {
    final class Token: RadioTimerToken {
        var cancelled = false
        func cancel() { cancelled = true }
    }

    private(set) var pending: [(ms: UInt32, token: Token, work: () -> Void)] = []

    func schedule(afterMs ms: UInt32, _ work: @escaping () -> Void) -> RadioTimerToken {
        let token = Token()
        pending.append((ms, token, work))
        return token
    }

    /// The delays of the work still due (not cancelled), in scheduling order.
    var dueDelays: [UInt32] { pending.filter { !$0.token.cancelled }.map(\.ms) }

    /// Runs the oldest scheduled work (also cancelled work, as a late timer would), and
    /// returns its delay.
    @discardableResult
    func fireNext() -> UInt32? {
        guard !pending.isEmpty else { return nil }
        let next = pending.removeFirst()
        if !next.token.cancelled { next.work() }
        return next.ms
    }

    /// Runs the oldest work even if it was cancelled (a timer that fired just as it was
    /// cancelled): the cycler must ignore it.
    func fireNextIgnoringCancellation() {
        guard !pending.isEmpty else { return }
        pending.removeFirst().work()
    }
}

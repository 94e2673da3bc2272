// The API as a careless app developer uses it (issue 6): calls after concurrent stops, stop from
// inside the listener (also racing a stop from outside, also with a listener that holds the
// optimizer strongly), huge batches, extreme numbers in every field, unknown action ids, a
// listener that went out of scope, a listener that blocks. Every answer is a thrown
// OptimizerError or a documented value; nothing crashes. Whatever could deadlock runs on its own
// thread under an XCTest expectation with a timeout: a deadlock fails the test instead of
// hanging the suite. (Record from inside the listener is ListenerTests'; one stop from inside
// the listener and use after one stop are ListenerTests' and ErrorTests': extended here.)
//
// Out-of-range enums: ThermalState, MemoryPressureLevel and MetricSample are closed Swift
// enums, so an app cannot construct `.thermal(state: 7)`; the generated code writes only the
// cases it knows. There is nothing to test from Swift (the Kotlin suite forges such a buffer
// below the generated API, and Rust refuses it without a crash).
import Foundation
import MeshTune
import XCTest

/// A listener that holds its optimizer strongly (the careless way) and stops it from inside a
/// callback, optionally once a stop() from outside has begun.
final class StopsInsideListener: ActionListener, @unchecked Sendable {
    private let box = Locked<PerformanceOptimizer?>(nil)
    let inOutcome: Bool
    let waitForOutsideStop: Bool
    let calls = Locked(0)
    let actions = Locked(0)
    let stoppedInside = Locked(false)

    init(inOutcome: Bool = false, waitForOutsideStop: Bool = false) {
        self.inOutcome = inOutcome
        self.waitForOutsideStop = waitForOutsideStop
    }

    var optimizer: PerformanceOptimizer? {
        get { box.get() }
        set { box.mutate { $0 = newValue } }
    }

    private func stopHere() {
        guard let optimizer = optimizer, !stoppedInside.get() else { return }
        if waitForOutsideStop {
            _ = waitUntil(timeout: 20) { optimizer.isStopped() }
            Thread.sleep(forTimeInterval: 0.2)  // let the outside stop() reach its wait for this call
        }
        optimizer.stop()
        stoppedInside.mutate { $0 = true }
    }

    func onAction(event: ActionEvent) {
        calls.mutate { $0 += 1 }
        actions.mutate { $0 += 1 }
        if !inOutcome { stopHere() }
    }

    func onOutcome(event: OutcomeEvent) {
        calls.mutate { $0 += 1 }
        if inOutcome { stopHere() }
    }
}

/// Counts its calls in a box it does not own, and holds nothing else.
final class CountingListener: ActionListener, @unchecked Sendable {
    let calls: Locked<Int>
    init(_ calls: Locked<Int>) { self.calls = calls }
    func onAction(event: ActionEvent) { calls.mutate { $0 += 1 } }
    func onOutcome(event: OutcomeEvent) { calls.mutate { $0 += 1 } }
}

final class MisuseTests: XCTestCase {
    /// Runs `body` on its own thread and fails if it does not return within `timeout` seconds
    /// (a hang guard: the stuck thread is left behind, the suite goes on).
    func runWithin(_ timeout: TimeInterval, _ what: String, _ body: @escaping @Sendable () -> Void) {
        let done = expectation(description: what)
        Thread.detachNewThread {
            body()
            done.fulfill()
        }
        wait(for: [done], timeout: timeout)
    }

    func config(ackTimeoutMs: UInt64 = 10_000, stopTimeoutMs: UInt64 = 2_000, sampleQueueCapacity: UInt32 = 16_384) -> OptimizerConfig {
        var c = fastConfig(sampleQueueCapacity: sampleQueueCapacity, stopTimeoutMs: stopTimeoutMs)
        c.ackTimeoutMs = ackTimeoutMs
        return c
    }

    func assertBalanced(_ c: OptimizerCounters, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(c.samplesOffered, c.samplesAccepted + c.samplesRejected + c.samplesDropped, "\(c)", file: file, line: line)
    }

    // MARK: calls after stop

    func testEveryCallAfterConcurrentStopsThrowsStoppedAndChangesNoCounter() throws {
        let optimizer = try startOptimizer(config: config(), listener: RecordingListener())
        try optimizer.recordBatch(samples: Array(repeating: slowDelivery, count: 10))
        runWithin(30, "4 concurrent stop() calls return") {
            DispatchQueue.concurrentPerform(iterations: 4) { _ in optimizer.stop() }
        }
        XCTAssertTrue(optimizer.isStopped())
        let counters = optimizer.snapshot().counters

        for call in [
            { try optimizer.recordBatch(samples: []) },
            { try optimizer.recordBatch(samples: Array(repeating: slowDelivery, count: 100_000)) },
            { try optimizer.record(sample: .linkRssi(peerId: "", rssiDbm: Int32.min)) },
            { try optimizer.reportActionResult(actionId: 0, applied: false, detail: "radio off") },
            { try optimizer.reportActionResult(actionId: UInt64.max, applied: true, detail: nil) },
        ] as [() throws -> Void] {
            assertThrowsOptimizerError(try call()) { XCTAssertEqual($0, .Stopped) }
        }
        // The snapshot keeps working (documented); Stopped is neither a rejection nor a drop.
        for _ in 0..<3 { XCTAssertEqual(optimizer.snapshot().counters, counters) }
        XCTAssertEqual(counters.samplesAccepted, 10)
        assertBalanced(counters)
        optimizer.stop()
    }

    // MARK: stop from inside the listener

    func testStopFromInsideOnOutcomeWhileTwoThreadsRecordDoesNotDeadlock() throws {
        let listener = StopsInsideListener(inOutcome: true)
        // ackTimeoutMs 100: the unacknowledged action gets its Unacknowledged outcome quickly.
        let optimizer = try startOptimizer(config: config(ackTimeoutMs: 100), listener: listener)
        listener.optimizer = optimizer
        let unexpected = Locked<[Error]>([])
        runWithin(30, "stop() inside onOutcome; two recorders end with Stopped") {
            DispatchQueue.concurrentPerform(iterations: 2) { _ in
                while true {
                    do {
                        try optimizer.record(sample: slowDelivery)
                    } catch OptimizerError.Stopped {
                        return
                    } catch OptimizerError.Overloaded {
                        continue  // a full queue: typed, counted; go on
                    } catch {
                        unexpected.mutate { $0.append(error) }
                        return
                    }
                }
            }
        }
        // The recorders see Stopped as soon as stop() inside onOutcome has marked the optimizer
        // stopped, which can be before that stop() returns: wait for it to return.
        XCTAssertTrue(waitUntil(timeout: 20) { listener.stoppedInside.get() }, "stop() inside onOutcome did not return")
        XCTAssertTrue(unexpected.get().isEmpty, "\(unexpected.get())")
        // After stop() only the final outcomes arrive (every open action gets one); no action.
        let actions = listener.actions.get()
        Thread.sleep(forTimeInterval: 0.2)
        XCTAssertEqual(listener.actions.get(), actions, "an action was delivered after stop()")
        let c = optimizer.snapshot().counters
        XCTAssertGreaterThan(c.samplesAccepted, 0)
        assertBalanced(c)
        listener.optimizer = nil
    }

    func testStopInsideTheListenerRacingStopFromOutsideReturnsOnBothSides() throws {
        // A long stop_timeout_ms: the outside stop() waits for the listener call, which is itself
        // in stop(). (Before the fix in src/runtime.rs both waited the whole timeout.)
        let listener = StopsInsideListener(waitForOutsideStop: true)
        let optimizer = try startOptimizer(config: config(stopTimeoutMs: 600_000), listener: listener)
        listener.optimizer = optimizer
        try optimizer.recordBatch(samples: Array(repeating: slowDelivery, count: 50))
        XCTAssertTrue(waitUntil(timeout: 20) { listener.calls.get() >= 1 }, "no action arrived")
        runWithin(30, "stop() from outside returns while the listener stops from inside") { optimizer.stop() }
        XCTAssertTrue(waitUntil(timeout: 10) { listener.stoppedInside.get() }, "stop() inside the listener did not return")
        listener.optimizer = nil
    }

    func testAListenerThatHoldsTheOptimizerAndStopsItFromInsideIsFreedWithIt() throws {
        // The app forgets both: stop() releases the listener, which breaks the cycle
        // listener -> optimizer -> (Rust) listener. (Before the fix in src/runtime.rs, stop()
        // from inside the listener kept the listener, and neither was ever freed.)
        weak var weakListener: StopsInsideListener?
        weak var weakOptimizer: PerformanceOptimizer?
        try {
            let listener = StopsInsideListener()
            let optimizer = try startOptimizer(config: config(), listener: listener)
            listener.optimizer = optimizer  // strong
            weakListener = listener
            weakOptimizer = optimizer
            try optimizer.recordBatch(samples: Array(repeating: slowDelivery, count: 50))
            XCTAssertTrue(waitUntil(timeout: 20) { listener.stoppedInside.get() }, "stop() inside onAction never returned")
        }()
        XCTAssertTrue(waitUntil(timeout: 20) { weakListener == nil && weakOptimizer == nil }, "listener and optimizer leaked")
    }

    // MARK: huge batches

    func testAMillionSampleBatchIsBatchTooLargeAtTheDefaultCapacityAndAcceptedWhenItFits() throws {
        let million = 1_000_000
        let batch = (0..<million).map { MetricSample.messageDelivered(latencyMs: 20 + Double($0 % 100), hops: 2, bytes: 64) }

        // Default sample_queue_capacity (16 384): refused whole, every sample counted as
        // rejected, nothing recorded; refusing it again and again does not grow memory.
        do {
            let optimizer = try startOptimizer(config: config(), listener: RecordingListener())
            defer { optimizer.stop() }
            assertThrowsOptimizerError(try optimizer.recordBatch(samples: batch)) {
                XCTAssertEqual($0, .BatchTooLarge(size: UInt32(million), capacity: 16_384))
            }
            // A second refusal lifts the allocator's high-water mark once (about 50 MB); from
            // then on resident memory stays flat.
            assertThrowsOptimizerError(try optimizer.recordBatch(samples: batch)) { _ in }
            let before = residentKiB()
            for _ in 0..<5 {
                assertThrowsOptimizerError(try optimizer.recordBatch(samples: batch)) {
                    guard case .BatchTooLarge = $0 else { return XCTFail("got \($0)") }
                }
            }
            let after = residentKiB()
            print("VmRSS before \(before) KiB, after \(after) KiB over 5 refused batches of \(million)")
            XCTAssertLessThan(after - before, 64 * 1024, "resident memory grew by \(after - before) KiB")
            try optimizer.record(sample: slowDelivery)  // still working
            let c = optimizer.snapshot().counters
            XCTAssertEqual(c.samplesRejected, UInt64(7 * million))
            XCTAssertEqual(c.samplesAccepted, 1)
            assertBalanced(c)
            XCTAssertEqual(optimizer.snapshot().metrics.meshPerformance.delivered, 1)
        }

        // A capacity that holds it (the largest accepted is 16 777 216): accepted whole.
        do {
            let optimizer = try startOptimizer(config: config(sampleQueueCapacity: 1_048_576), listener: RecordingListener())
            defer { optimizer.stop() }
            try optimizer.recordBatch(samples: batch)
            let c = optimizer.snapshot().counters
            XCTAssertEqual(c.samplesAccepted, UInt64(million))
            XCTAssertEqual(c.samplesRejected + c.samplesDropped, 0)
            assertBalanced(c)
            assertAllFinite(optimizer.snapshot())
        }
    }

    // MARK: extreme numbers in every field

    /// One sample per floating-point field carrying `v`, with the field that must refuse it
    /// (nil: accepted). The documented rules (src/metrics/sample.rs): durations and cpu finite
    /// and in 0...max, battery 0...100, heap figures 0...1 TiB and limit above 0. -0.0 is inside
    /// every 0...max range (IEEE: -0.0 >= 0), so it is accepted as zero, except as a heap limit.
    func withDouble(_ v: Double) -> [(MetricSample, String?)] {
        let ok = v == 0  // true for -0.0 too; NaN, infinities and the greatest magnitudes are refused
        func field(_ name: String) -> String? { ok ? nil : name }
        return [
            (.messageDelivered(latencyMs: v, hops: 1, bytes: 1), field("MessageDelivered.latency_ms")),
            (.connectionEstablished(durationMs: v), field("ConnectionEstablished.duration_ms")),
            (.peerDiscovered(durationMs: v), field("PeerDiscovered.duration_ms")),
            (.consensusRound(proposalMs: v, voteMs: 1, finalizationMs: 1, operations: 1), field("ConsensusRound.proposal_ms")),
            (.consensusRound(proposalMs: 1, voteMs: v, finalizationMs: 1, operations: 1), field("ConsensusRound.vote_ms")),
            (.consensusRound(proposalMs: 1, voteMs: 1, finalizationMs: v, operations: 1), field("ConsensusRound.finalization_ms")),
            (.battery(levelPercent: v, charging: false), field("Battery.level_percent")),
            (.heap(usedMb: v, limitMb: 512), field("Heap.used_mb")),
            (.heap(usedMb: 0, limitMb: v), "Heap.limit_mb"),  // -0.0 too: "must be above 0"
            (.processUsage(cpuPercent: v, residentMb: 1), field("ProcessUsage.cpu_percent")),
            (.processUsage(cpuPercent: 1, residentMb: v), field("ProcessUsage.resident_mb")),
            (.thermalHeadroom(headroom: v, forecastS: 10), field("ThermalHeadroom.headroom")),
        ]
    }

    let extremeIntegers: [(MetricSample, String?)] = [
        (.messageDelivered(latencyMs: 1, hops: 16, bytes: 67_108_864), nil),
        (.messageDelivered(latencyMs: 1, hops: 1, bytes: UInt32.max), "MessageDelivered.bytes"),
        (.messageDelivered(latencyMs: 1, hops: UInt32.max, bytes: 1), "MessageDelivered.hops"),
        (.messageDelivered(latencyMs: 1, hops: 17, bytes: 1), "MessageDelivered.hops"),
        (.messageLost(hops: 16), nil),
        (.messageLost(hops: UInt32.max), "MessageLost.hops"),
        (.peerCount(connected: 65_535, discovered: 65_535), nil),
        (.peerCount(connected: UInt32.max, discovered: UInt32.max), "PeerCount.connected"),
        (.peerCount(connected: UInt32.max, discovered: 0), "PeerCount.connected"),
        (.peerCount(connected: 0, discovered: UInt32.max), "PeerCount.discovered"),
        (.consensusRound(proposalMs: 1, voteMs: 1, finalizationMs: 1, operations: 1_000_000), nil),
        (.consensusRound(proposalMs: 1, voteMs: 1, finalizationMs: 1, operations: UInt32.max), "ConsensusRound.operations"),
        (.linkRssi(peerId: "p", rssiDbm: Int32.min), "LinkRssi.rssi_dbm"),
        (.linkRssi(peerId: "p", rssiDbm: Int32.max), "LinkRssi.rssi_dbm"),
        // The largest values each rule accepts.
        (.messageDelivered(latencyMs: 86_400_000, hops: 0, bytes: 0), nil),
        (.heap(usedMb: 1_048_576, limitMb: 1_048_576), nil),
        (.processUsage(cpuPercent: 100_000, residentMb: 1_048_576), nil),
        (.thermalHeadroom(headroom: 10, forecastS: 60), nil),
        (.thermalHeadroom(headroom: 1, forecastS: 61), "ThermalHeadroom.forecast_s"),
        (.thermalHeadroom(headroom: 1, forecastS: UInt32.max), "ThermalHeadroom.forecast_s"),
        (.battery(levelPercent: Double.leastNonzeroMagnitude, charging: true), nil),
    ]

    /// Every Double of the snapshot's metrics (documented: never NaN or infinite).
    func assertAllFinite(_ s: OptimizerSnapshot, file: StaticString = #filePath, line: UInt = #line) {
        let m = s.metrics
        let stats = [m.networkLatency, m.consensusPerformance.finalization, m.meshPerformance.connectionSetup, m.meshPerformance.discovery]
            .compactMap { $0 }
        var values = stats.flatMap { [$0.meanMs, $0.p50Ms, $0.p95Ms, $0.p99Ms, $0.maxMs] }
        values += [m.consensusPerformance.opsPerSec, m.meshPerformance.lossRatio, m.meshPerformance.bytesPerSec]
        values += [
            m.consensusPerformance.meanProposalMs, m.consensusPerformance.meanVoteMs, m.memoryUsage.heapUsedMb,
            m.memoryUsage.heapLimitMb, m.memoryUsage.processResidentMb, m.cpuUsage.processCpuPercent,
            m.meshPerformance.meanHopCount, m.meshPerformance.meanRssiDbm, m.device.batteryPercent,
        ].compactMap { $0 }
        XCTAssertTrue(values.allSatisfy { $0.isFinite }, "a metric is NaN or infinite: \(m)", file: file, line: line)
    }

    func testExtremeNumbersInEveryNumericFieldAreRefusedNamingTheFieldOrAcceptedAndCountersAddUp() throws {
        let doubles: [Double] = [.nan, .infinity, -.infinity, -0.0, .greatestFiniteMagnitude, -.greatestFiniteMagnitude]
        let cases = doubles.flatMap { withDouble($0) } + extremeIntegers
        let optimizer = try startOptimizer(config: config(), listener: RecordingListener())
        defer { optimizer.stop() }
        var accepted: UInt64 = 0, rejected: UInt64 = 0
        for (sample, field) in cases {
            // Two ways in: record, and a batch of one good sample and this one.
            let batch = [slowDelivery, sample]
            if let field {
                for call in [{ try optimizer.record(sample: sample) }, { try optimizer.recordBatch(samples: batch) }] as [() throws -> Void]
                {
                    assertThrowsOptimizerError(try call()) {
                        guard case let .InvalidSample(got, reason) = $0 else { return XCTFail("\(sample): got \($0)") }
                        XCTAssertEqual(got, field, "\(sample): \(reason)")
                        XCTAssertFalse(reason.isEmpty)
                    }
                }
                rejected += 1 + 2  // a refused batch counts every sample in it
            } else {
                XCTAssertNoThrow(try optimizer.record(sample: sample), "\(sample)")
                XCTAssertNoThrow(try optimizer.recordBatch(samples: batch), "\(sample)")
                accepted += 1 + 2
            }
        }
        let c = optimizer.snapshot().counters
        XCTAssertEqual(c.samplesRejected, rejected)
        XCTAssertEqual(c.samplesAccepted, accepted)
        XCTAssertEqual(c.samplesDropped, 0)
        XCTAssertEqual(c.samplesOffered, accepted + rejected, "accepted + rejected = offered")
        // The accepted extremes leave no NaN or infinity in the metrics, through ticks as well.
        let ticks = c.ticks
        XCTAssertTrue(waitUntil { optimizer.snapshot().counters.ticks >= ticks + 2 }, "ticks stopped")
        assertAllFinite(optimizer.snapshot())
    }

    // MARK: unknown action ids

    func testUnknownAndExtremeActionIdsThrowUnknownActionAndAnExpiredOneIsTakenOnceLate() throws {
        let listener = RecordingListener()
        let optimizer = try startOptimizer(config: config(ackTimeoutMs: 100), listener: listener)
        defer { optimizer.stop() }
        for id: UInt64 in [0, UInt64.max, UInt64(Int64.max) + 1] {
            assertThrowsOptimizerError(
                try optimizer.reportActionResult(actionId: id, applied: true, detail: String(repeating: "x", count: 100_000))
            ) {
                XCTAssertEqual($0, .UnknownAction(actionId: id))
            }
        }
        try optimizer.recordBatch(samples: Array(repeating: slowDelivery, count: 50))
        XCTAssertTrue(waitUntil(timeout: 20) { !listener.actions.isEmpty }, "no action arrived")
        let action = listener.actions[0]
        XCTAssertTrue(
            waitUntil(timeout: 20) {
                if case .unacknowledged = listener.outcome(for: action.id) { return true }
                return false
            }, "the action did not expire")
        // A late acknowledgement still tells MeshTune what the radio has; a second is refused.
        try optimizer.reportActionResult(actionId: action.id, applied: true, detail: nil)
        assertThrowsOptimizerError(try optimizer.reportActionResult(actionId: action.id, applied: true, detail: nil)) {
            XCTAssertEqual($0, .UnknownAction(actionId: action.id))
        }
        let c = optimizer.snapshot().counters
        XCTAssertEqual(c.actionsApplied + c.actionsRefused, 0)
    }

    // MARK: a listener that went out of scope

    func testAListenerOutOfScopeIsKeptByTheRunningOptimizerAndKeepsGettingCalls() throws {
        let calls = Locked(0)
        weak var weakListener: CountingListener?
        var optimizer: PerformanceOptimizer?
        try {
            let listener = CountingListener(calls)
            weakListener = listener
            optimizer = try startOptimizer(config: config(ackTimeoutMs: 100), listener: listener)
        }()
        let running = try XCTUnwrap(optimizer)
        XCTAssertNotNil(weakListener, "the running optimizer keeps its listener")
        try running.recordBatch(samples: Array(repeating: slowDelivery, count: 50))
        XCTAssertTrue(waitUntil(timeout: 20) { calls.get() >= 1 }, "no call to the listener out of scope")
        let before = calls.get()
        try running.record(sample: .thermal(state: .critical))
        XCTAssertTrue(waitUntil(timeout: 20) { calls.get() > before }, "calls stopped")
        XCTAssertEqual(running.snapshot().counters.listenerFailures, 0)
        running.stop()
        XCTAssertTrue(waitUntil { weakListener == nil }, "stop() did not release the listener")
        optimizer = nil
    }

    // MARK: a listener that blocks

    func testAListenerBlockedForSecondsLeavesRecordNonBlockingAndStopReturnsAfterStopTimeout() throws {
        let entered = Locked(false)
        let release = Locked(false)
        let finished = Locked(false)
        let ackAfterRelease = Locked<Error?>(nil)
        let listener = RecordingListener(onAction: { listener, action in
            guard !entered.get() else { return }
            entered.mutate { $0 = true }
            // Blocks (sleeping) until released or 60 s, as a listener doing blocking I/O would.
            _ = waitUntil(timeout: 60) { release.get() }
            do {
                try listener.optimizer?.reportActionResult(actionId: action.id, applied: true, detail: nil)
            } catch {
                ackAfterRelease.mutate { $0 = error }
            }
            finished.mutate { $0 = true }
        })
        let optimizer = try startOptimizer(config: config(stopTimeoutMs: 500), listener: listener)
        listener.optimizer = optimizer
        try optimizer.recordBatch(samples: Array(repeating: slowDelivery, count: 50))
        XCTAssertTrue(waitUntil(timeout: 20) { entered.get() }, "no action arrived")

        // While the listener blocks, 20 000 records complete, and it is still blocked after them
        // (it waits for `release`, not for a time).
        var overloaded: UInt64 = 0
        for _ in 0..<20_000 {
            do { try optimizer.record(sample: slowDelivery) } catch OptimizerError.Overloaded { overloaded += 1 }
        }
        XCTAssertFalse(finished.get(), "the listener is still blocked")
        let c = optimizer.snapshot().counters
        XCTAssertEqual(c.samplesOffered, 50 + 20_000)
        XCTAssertEqual(c.samplesDropped, overloaded)
        assertBalanced(c)

        // stop() gives up on the blocked listener after stop_timeout_ms (500 ms) and returns
        // while it is still blocked. The expectation's timeout only catches a hang.
        runWithin(30, "stop() returns while the listener is blocked") { optimizer.stop() }
        XCTAssertFalse(finished.get(), "stop() returned before the listener did, as documented")
        XCTAssertTrue(optimizer.isStopped())

        // The listener wakes up after stop: its acknowledgement throws Stopped; nothing crashes.
        release.mutate { $0 = true }
        XCTAssertTrue(waitUntil(timeout: 20) { finished.get() })
        XCTAssertEqual(ackAfterRelease.get() as? OptimizerError, .Stopped)
    }
}

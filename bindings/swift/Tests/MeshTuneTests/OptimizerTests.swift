// The optimizer as an app uses it: record from several threads, receive actions, acknowledge
// them, receive their outcomes, read the snapshot, stop.
import Foundation
import MeshTune
import XCTest

final class OptimizerTests: XCTestCase {
    func testConcurrentRecordActionAcknowledgeOutcomeSnapshotStop() throws {
        let acknowledged = Locked<[UInt64]>([])
        let ackErrors = Locked<[Error]>([])
        let listener = RecordingListener(onAction: { listener, action in
            // Apply the action (nothing to do here), then acknowledge it.
            do {
                try listener.optimizer?.reportActionResult(actionId: action.id, applied: true, detail: nil)
                acknowledged.mutate { $0.append(action.id) }
            } catch {
                ackErrors.mutate { $0.append(error) }
            }
        })
        let optimizer = try startOptimizer(config: fastConfig(verificationWindowMs: 200, windowMs: 3_000), listener: listener)
        listener.optimizer = optimizer
        defer { optimizer.stop() }

        // Four threads record 250 slow deliveries each, concurrently.
        let threads = 4, perThread = 250
        let recordErrors = Locked<[Error]>([])
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
            for _ in 0..<perThread {
                do { try optimizer.record(sample: slowDelivery) } catch { recordErrors.mutate { $0.append(error) } }
            }
        }
        XCTAssertTrue(recordErrors.get().isEmpty, "record failed: \(recordErrors.get())")

        // Keep recording, so that the verification window has data from after the change.
        let recorder = BackgroundRecorder(optimizer, sample: slowDelivery)
        XCTAssertTrue(waitUntil { !acknowledged.get().isEmpty }, "no action was received and acknowledged")
        let first = try XCTUnwrap(listener.actions.first)
        XCTAssertEqual(first.strategy, "network")
        XCTAssertEqual(first.priority, .sloRepair)
        XCTAssertTrue(first.reason.contains("on-time ratio"), first.reason)

        XCTAssertTrue(waitUntil { listener.outcome(for: first.id) != nil }, "no outcome for action \(first.id)")
        // Every message was late before and after (the stream does not depend on the knob): the
        // measurement says so, and claims no improvement.
        guard case let .noEffect(_, metric, before, after, interval, _, samplesAfter, _, _) = try XCTUnwrap(listener.outcome(for: first.id))
        else {
            return XCTFail("expected .noEffect, got \(String(describing: listener.outcome(for: first.id)))")
        }
        XCTAssertEqual(metric, .onTimeRatio)
        XCTAssertEqual(before, 0, accuracy: 1e-9)
        XCTAssertEqual(after, 0, accuracy: 1e-9)
        XCTAssertNotNil(interval)
        XCTAssertGreaterThan(samplesAfter, 0)
        XCTAssertTrue(ackErrors.get().isEmpty, "reportActionResult failed: \(ackErrors.get())")

        // An action is acknowledged once: a second acknowledgement names its id.
        assertThrowsOptimizerError(try optimizer.reportActionResult(actionId: first.id, applied: true, detail: nil)) {
            guard case let .UnknownAction(actionId) = $0 else { return XCTFail("got \($0)") }
            XCTAssertEqual(actionId, first.id)
        }

        let snapshot = optimizer.snapshot()
        XCTAssertTrue(recorder.stop().isEmpty)
        let c = snapshot.counters
        XCTAssertEqual(c.samplesOffered, c.samplesAccepted + c.samplesRejected + c.samplesDropped)
        XCTAssertGreaterThanOrEqual(c.samplesAccepted, UInt64(threads * perThread))
        XCTAssertEqual(c.samplesRejected, 0)
        XCTAssertGreaterThanOrEqual(c.actionsApplied, 1)
        XCTAssertGreaterThanOrEqual(c.actionsEmitted, c.actionsApplied)
        XCTAssertGreaterThan(c.ticks, 0)
        XCTAssertGreaterThanOrEqual(c.outcomesNoEffect, 1)
        XCTAssertEqual(c.listenerFailures, 0)
        // Listener calls come from MeshTune's dispatcher thread, never from a recording thread.
        // (Linux keeps 15 characters of a thread name: "meshtune-dispat".)
        XCTAssertEqual(Set(listener.callerThreads), [String("meshtune-dispatch".prefix(15))])
        XCTAssertEqual(try XCTUnwrap(snapshot.metrics.networkLatency).p95Ms, 400, accuracy: 4)
        XCTAssertTrue(snapshot.engagedStrategies.contains("network"), "\(snapshot.engagedStrategies)")

        XCTAssertFalse(optimizer.isStopped())
        optimizer.stop()
        XCTAssertTrue(optimizer.isStopped())
    }

    func testRefusedActionGetsNotAppliedOutcomeWithTheDetail() throws {
        let listener = RecordingListener(onAction: { listener, action in
            try? listener.optimizer?.reportActionResult(actionId: action.id, applied: false, detail: "radio busy")
        })
        let optimizer = try startOptimizer(config: fastConfig(), listener: listener)
        listener.optimizer = optimizer
        defer { optimizer.stop() }

        try optimizer.recordBatch(samples: Array(repeating: slowDelivery, count: 20))
        XCTAssertTrue(waitUntil { !listener.actions.isEmpty })
        let first = listener.actions[0]
        XCTAssertTrue(waitUntil { listener.outcome(for: first.id) != nil })
        XCTAssertEqual(listener.outcome(for: first.id), .notApplied(actionId: first.id, detail: "radio busy"))
        XCTAssertGreaterThanOrEqual(optimizer.snapshot().counters.actionsRefused, 1)
    }

    func testSnapshotReflectsRecordedDeviceState() throws {
        let optimizer = try startOptimizer(config: fastConfig(), listener: RecordingListener())
        defer { optimizer.stop() }
        try optimizer.recordBatch(samples: [
            .battery(levelPercent: 42, charging: false),
            .thermal(state: .fair),
            .appState(foreground: false),
            .peerCount(connected: 3, discovered: 7),
        ])
        XCTAssertTrue(waitUntil { optimizer.snapshot().metrics.device.batteryPercent == 42 })
        let snapshot = optimizer.snapshot()
        XCTAssertEqual(snapshot.metrics.device.charging, false)
        XCTAssertEqual(snapshot.metrics.device.thermal, .fair)
        XCTAssertFalse(snapshot.metrics.device.foreground)
        XCTAssertEqual(snapshot.metrics.meshPerformance.connectedPeers, 3)
        XCTAssertEqual(snapshot.metrics.meshPerformance.discoveredPeers, 7)
        XCTAssertEqual(snapshot.counters.samplesOffered, 4)
        XCTAssertEqual(snapshot.counters.samplesAccepted, 4)
    }
}

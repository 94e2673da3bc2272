// What a listener may do: block, stop the optimizer, record. (Swift listener methods cannot
// throw, so the "listener fails" case of the Kotlin suite is a listener that blocks here.)
import Foundation
import MeshTune
import XCTest

final class ListenerTests: XCTestCase {
    func testBlockingListenerDoesNotStopIngestionOrTicksAndOverflowIsCounted() throws {
        let calls = Locked(0)
        let listener = RecordingListener(
            onAction: { _, _ in
                calls.mutate { $0 += 1 }; Thread.sleep(forTimeInterval: 0.3)
            },
            onOutcome: { _, _ in
                calls.mutate { $0 += 1 }; Thread.sleep(forTimeInterval: 0.3)
            }
        )
        let optimizer = try startOptimizer(config: fastConfig(eventQueueCapacity: 1), listener: listener)
        defer { optimizer.stop() }

        // Critical memory pressure gives several actions in one tick (the memory strategy's
        // safety actions; the latency repair changes one knob at a time): the listener blocks
        // on the first, one waits in the queue, the rest overflow.
        try optimizer.recordBatch(samples: Array(repeating: slowDelivery, count: 20) + [.memoryPressure(level: .critical)])
        XCTAssertTrue(waitUntil { optimizer.snapshot().counters.eventsDropped > 0 }, "no event was dropped")
        XCTAssertTrue(waitUntil { calls.get() >= 1 }, "the listener was never called")

        // While the listener blocks, record and ticks go on.
        let before = optimizer.snapshot().counters
        for _ in 0..<100 { try optimizer.record(sample: slowDelivery) }
        XCTAssertTrue(waitUntil { optimizer.snapshot().counters.ticks > before.ticks + 3 }, "ticks stopped")
        let after = optimizer.snapshot().counters
        XCTAssertEqual(after.samplesAccepted, before.samplesAccepted + 100)
        XCTAssertEqual(after.samplesOffered, after.samplesAccepted + after.samplesRejected + after.samplesDropped)
        XCTAssertEqual(after.listenerFailures, 0)
    }

    func testStopFromInsideTheListenerDoesNotDeadlock() throws {
        let stoppedInside = Locked(false)
        let listener = RecordingListener(onAction: { listener, _ in
            listener.optimizer?.stop()
            stoppedInside.mutate { $0 = true }
        })
        let optimizer = try startOptimizer(config: fastConfig(), listener: listener)
        listener.optimizer = optimizer

        try optimizer.recordBatch(samples: Array(repeating: slowDelivery, count: 20))
        XCTAssertTrue(waitUntil { stoppedInside.get() }, "stop() inside the listener did not return")
        XCTAssertTrue(optimizer.isStopped())
        optimizer.stop()  // and again from outside: still fine
        assertThrowsOptimizerError(try optimizer.record(sample: slowDelivery)) { XCTAssertEqual($0, .Stopped) }
        XCTAssertEqual(listener.actions.count, 1, "no event is delivered after stop")
    }

    func testRecordAndAcknowledgeFromInsideTheListener() throws {
        let insideErrors = Locked<[Error]>([])
        let recordedInside = Locked<UInt64>(0)
        let listener = RecordingListener(onAction: { listener, action in
            guard let optimizer = listener.optimizer else { return }
            do {
                try optimizer.record(sample: .appState(foreground: true))
                try optimizer.recordBatch(samples: [.battery(levelPercent: 80, charging: true)])
                recordedInside.mutate { $0 += 2 }
                _ = optimizer.snapshot()
                try optimizer.reportActionResult(actionId: action.id, applied: true, detail: nil)
            } catch {
                insideErrors.mutate { $0.append(error) }
            }
        })
        let optimizer = try startOptimizer(config: fastConfig(), listener: listener)
        listener.optimizer = optimizer
        defer { optimizer.stop() }

        try optimizer.recordBatch(samples: Array(repeating: slowDelivery, count: 20))
        XCTAssertTrue(waitUntil { optimizer.snapshot().counters.actionsApplied >= 1 })
        XCTAssertTrue(insideErrors.get().isEmpty, "\(insideErrors.get())")
        let inside = recordedInside.get()
        XCTAssertGreaterThanOrEqual(inside, 2)
        let c = optimizer.snapshot().counters
        XCTAssertGreaterThanOrEqual(c.samplesAccepted, 20 + inside)
        XCTAssertEqual(c.samplesOffered, c.samplesAccepted + c.samplesRejected + c.samplesDropped)
    }
}

// Refusals reach Swift as thrown `OptimizerError`s that name what was wrong, and never change
// the optimizer's state.
import Foundation
import MeshTune
import XCTest

final class ErrorTests: XCTestCase {
    func testInvalidSampleThrowsInvalidSampleNamingTheFieldAndOptimizerKeepsWorking() throws {
        let optimizer = try startOptimizer(config: fastConfig(), listener: RecordingListener())
        defer { optimizer.stop() }

        assertThrowsOptimizerError(try optimizer.record(sample: .battery(levelPercent: 150, charging: false))) {
            guard case let .InvalidSample(field, reason) = $0 else { return XCTFail("got \($0)") }
            XCTAssertEqual(field, "Battery.level_percent")
            XCTAssertTrue(reason.contains("150"), reason)
        }
        assertThrowsOptimizerError(try optimizer.record(sample: .messageDelivered(latencyMs: .nan, hops: 1, bytes: 1))) {
            guard case let .InvalidSample(field, _) = $0 else { return XCTFail("got \($0)") }
            XCTAssertEqual(field, "MessageDelivered.latency_ms")
        }
        assertThrowsOptimizerError(try optimizer.record(sample: .linkRssi(peerId: "peer-1", rssiDbm: 40))) {
            guard case let .InvalidSample(field, _) = $0 else { return XCTFail("got \($0)") }
            XCTAssertEqual(field, "LinkRssi.rssi_dbm")
        }

        // Still working: a valid sample is recorded and shows up after the next tick.
        try optimizer.record(sample: .battery(levelPercent: 42, charging: false))
        XCTAssertTrue(waitUntil { optimizer.snapshot().metrics.device.batteryPercent == 42 })
        let c = optimizer.snapshot().counters
        XCTAssertEqual(c.samplesRejected, 3)
        XCTAssertEqual(c.samplesAccepted, 1)
        XCTAssertEqual(c.samplesOffered, 4)
    }

    func testInvalidBatchIsRefusedAsAWhole() throws {
        let optimizer = try startOptimizer(config: fastConfig(), listener: RecordingListener())
        defer { optimizer.stop() }

        let batch: [MetricSample] = [slowDelivery, slowDelivery, .heap(usedMb: 600, limitMb: 512)]
        assertThrowsOptimizerError(try optimizer.recordBatch(samples: batch)) {
            guard case let .InvalidSample(field, _) = $0 else { return XCTFail("got \($0)") }
            XCTAssertEqual(field, "Heap.used_mb")
        }
        let c = optimizer.snapshot().counters
        XCTAssertEqual(c.samplesAccepted, 0)
        XCTAssertEqual(c.samplesRejected, 3)
        XCTAssertEqual(c.samplesOffered, 3)
        XCTAssertNil(optimizer.snapshot().metrics.networkLatency)
    }

    func testABatchLargerThanTheQueueIsRefusedAsSuch() throws {
        // (A full queue gives .Overloaded and counts the drop, but when it happens depends on
        // how fast the loop drains the queue, so that is left to the counter checks elsewhere.)
        let optimizer = try startOptimizer(config: fastConfig(sampleQueueCapacity: 4), listener: RecordingListener())
        defer { optimizer.stop() }

        assertThrowsOptimizerError(try optimizer.recordBatch(samples: Array(repeating: slowDelivery, count: 5))) {
            XCTAssertEqual($0, .BatchTooLarge(size: 5, capacity: 4))
        }
        try optimizer.recordBatch(samples: Array(repeating: slowDelivery, count: 2))
        let c = optimizer.snapshot().counters
        XCTAssertEqual(c.samplesRejected, 5)
        XCTAssertEqual(c.samplesAccepted + c.samplesDropped, 2)
        XCTAssertEqual(c.samplesOffered, c.samplesAccepted + c.samplesRejected + c.samplesDropped)
    }

    func testUnknownActionIdThrowsUnknownAction() throws {
        let optimizer = try startOptimizer(config: fastConfig(), listener: RecordingListener())
        defer { optimizer.stop() }
        assertThrowsOptimizerError(try optimizer.reportActionResult(actionId: 999, applied: true, detail: nil)) {
            XCTAssertEqual($0, .UnknownAction(actionId: 999))
        }
    }

    func testInvalidConfigIsRefusedAtStartNamingTheKey() {
        let config = OptimizerConfig(minTickIntervalMs: 5_000, maxTickIntervalMs: 1_000)
        assertThrowsOptimizerError(try _ = startOptimizer(config: config, listener: RecordingListener())) {
            guard case let .InvalidConfig(field, _) = $0 else { return XCTFail("got \($0)") }
            XCTAssertEqual(field, "min_tick_interval_ms")
        }
        assertThrowsOptimizerError(try _ = startOptimizer(config: OptimizerConfig(eventQueueCapacity: 0), listener: RecordingListener())) {
            guard case let .InvalidConfig(field, _) = $0 else { return XCTFail("got \($0)") }
            XCTAssertEqual(field, "event_queue_capacity")
        }
    }

    func testCallsAfterStopThrowStoppedAndDoubleStopIsFine() throws {
        let optimizer = try startOptimizer(config: fastConfig(), listener: RecordingListener())
        try optimizer.record(sample: slowDelivery)
        optimizer.stop()
        optimizer.stop()  // idempotent
        XCTAssertTrue(optimizer.isStopped())

        assertThrowsOptimizerError(try optimizer.record(sample: slowDelivery)) { XCTAssertEqual($0, .Stopped) }
        assertThrowsOptimizerError(try optimizer.recordBatch(samples: [slowDelivery])) { XCTAssertEqual($0, .Stopped) }
        assertThrowsOptimizerError(try optimizer.reportActionResult(actionId: 1, applied: true, detail: nil)) {
            XCTAssertEqual($0, .Stopped)
        }
        // The snapshot keeps working after stop.
        let c = optimizer.snapshot().counters
        XCTAssertEqual(c.samplesAccepted, 1)
        XCTAssertEqual(c.samplesOffered, c.samplesAccepted + c.samplesRejected + c.samplesDropped)
    }
}

// Native objects are released, and nothing grows per call.
import Foundation
import MeshTune
import XCTest

final class ResourceTests: XCTestCase {
    func testReleasingTheStoppedOptimizerReleasesTheListener() throws {
        weak var weakListener: RecordingListener?
        var optimizer: PerformanceOptimizer?
        do {
            let listener = RecordingListener()
            weakListener = listener
            optimizer = try startOptimizer(config: fastConfig(), listener: listener)
            try optimizer?.recordBatch(samples: Array(repeating: slowDelivery, count: 10))
        }
        XCTAssertNotNil(weakListener, "the optimizer holds its listener while it exists")
        optimizer?.stop()
        optimizer = nil  // the last reference: Rust frees the optimizer and releases the listener
        XCTAssertTrue(waitUntil { weakListener == nil }, "the listener leaked after stop and release")
    }

    func testReleasingARunningOptimizerStopsIt() throws {
        weak var weakListener: RecordingListener?
        do {
            let listener = RecordingListener()
            weakListener = listener
            let optimizer = try startOptimizer(config: fastConfig(), listener: listener)
            try optimizer.record(sample: slowDelivery)
            // No stop(): the last reference goes away here, and Rust's Drop stops the threads.
        }
        XCTAssertTrue(waitUntil { weakListener == nil }, "the listener leaked after release without stop")
    }

    func test100kRecordCallsDoNotGrowResidentMemory() throws {
        // Default ticks (1 s): the loop drains the 16 384-sample buffer early when it is half
        // full; a full buffer gives Overloaded, which is counted here, not fatal.
        let config = OptimizerConfig(minTickIntervalMs: 1_000, maxTickIntervalMs: 30_000, sampleProcess: false)
        let optimizer = try startOptimizer(config: config, listener: RecordingListener())
        defer { optimizer.stop() }
        let sample = MetricSample.messageDelivered(latencyMs: 42, hops: 2, bytes: 100)
        var overloaded: UInt64 = 0
        func recordMany(_ n: Int) throws {
            for _ in 0..<n {
                do { try optimizer.record(sample: sample) } catch OptimizerError.Overloaded { overloaded += 1 }
            }
        }

        try recordMany(10_000)  // warm-up: the engine's windows, the buffers
        let before = residentKiB()
        try recordMany(100_000)
        let after = residentKiB()
        print(
            "VmRSS before \(before) KiB, after \(after) KiB, growth \(after - before) KiB over 100000 records (overloaded: \(overloaded))")
        XCTAssertGreaterThan(before, 0)
        XCTAssertLessThan(after - before, 64 * 1024, "resident memory grew by \(after - before) KiB over 100 000 record calls")

        let c = optimizer.snapshot().counters
        XCTAssertEqual(c.samplesOffered, 110_000)
        XCTAssertEqual(c.samplesDropped, overloaded, "every Overloaded is a counted drop")
        XCTAssertEqual(c.samplesOffered, c.samplesAccepted + c.samplesRejected + c.samplesDropped)
    }
}

// What a snapshot shows right after recording, and what the counters count. Both were core
// bugs found from Swift (stale metrics until the next tick; the optimizer's own process samples
// counted as the app's) and are fixed; these tests keep them fixed.
import Foundation
import MeshTune
import XCTest

final class SnapshotCountersTests: XCTestCase {
    /// A sample recorded just before `snapshot()` shows in its metrics, without waiting for a tick.
    func testSnapshotMetricsIncludeASampleRecordedBeforeTheSnapshot() throws {
        // No tick during the test: the first one is due 60 s after start.
        let config = OptimizerConfig(minTickIntervalMs: 60_000, maxTickIntervalMs: 60_000, sampleProcess: false)
        let optimizer = try startOptimizer(config: config, listener: RecordingListener())
        defer { optimizer.stop() }
        try optimizer.record(sample: .battery(levelPercent: 80, charging: false))
        let snapshot = optimizer.snapshot()
        XCTAssertEqual(snapshot.counters.samplesAccepted, 1)
        XCTAssertEqual(snapshot.metrics.device.batteryPercent, 80, "\(snapshot.metrics.device)")
    }

    /// `samplesOffered` counts the app's samples only, not the optimizer's own process samples.
    func testSamplesOfferedCountsOnlyTheAppsSamples() throws {
        let config = OptimizerConfig(minTickIntervalMs: 10, maxTickIntervalMs: 50, sampleProcess: true)
        let optimizer = try startOptimizer(config: config, listener: RecordingListener())
        defer { optimizer.stop() }
        XCTAssertTrue(waitUntil { optimizer.snapshot().counters.ticks >= 3 })
        let c = optimizer.snapshot().counters
        XCTAssertEqual(c.samplesOffered, 0, "the app offered no sample; counters: \(c)")
    }
}

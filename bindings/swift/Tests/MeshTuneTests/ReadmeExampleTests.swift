// The example quoted in docs/ios.md ("The Swift API"; checked by scripts/check-docs.sh): typical use, start to stop.
import MeshTune
import XCTest

/// Applies MeshTune's actions to the app's BLE stack and acknowledges them.
final class Radio: ActionListener, @unchecked Sendable {
    weak var optimizer: PerformanceOptimizer?  // weak: the optimizer holds its listener

    func onAction(event: ActionEvent) {  // on MeshTune's dispatcher thread
        // ... apply event.action (for example .setScanMode(mode:dutyOnMs:dutyOffMs:)), then:
        try? optimizer?.reportActionResult(actionId: event.id, applied: true, detail: nil)
    }

    func onOutcome(event: OutcomeEvent) {
        print("MeshTune outcome: \(event)")  // .improved, .noEffect, .worse, .inconclusive, ...
    }
}

final class ReadmeExampleTests: XCTestCase {
    func testTypicalUse() throws {
        let radio = Radio()
        let optimizer = try startOptimizer(config: OptimizerConfig(), listener: radio)
        radio.optimizer = optimizer

        // From any thread; an invalid sample throws OptimizerError.InvalidSample(field:reason:).
        try optimizer.record(sample: .messageDelivered(latencyMs: 240, hops: 3, bytes: 512))
        try optimizer.record(sample: .battery(levelPercent: 42, charging: false))

        let counters = optimizer.snapshot().counters
        XCTAssertEqual(counters.samplesRejected, 0)

        optimizer.stop()  // idempotent; later calls throw OptimizerError.Stopped
        XCTAssertThrowsError(try optimizer.record(sample: .appState(foreground: false)))
    }
}

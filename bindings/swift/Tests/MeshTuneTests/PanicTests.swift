// No panic inside MeshTune reaches the app. The generated Swift calls the non-throwing
// `snapshot()`, `stop()` and `isStopped()` with `try!`, so a Rust panic there would end the
// process: this test would then not fail, it would crash the test run. The library the tests
// load is built with the test-only switch `meshtuneTestArmPanic` (cargo feature `test-hooks`,
// never in an app build).
import Foundation
import MeshTune
import XCTest

final class PanicTests: XCTestCase {
    func testAPanicInSnapshotATickIsActionCurrentOrStopDoesNotReachTheApp() throws {
        let optimizer = try startOptimizer(config: fastConfig(), listener: RecordingListener())
        try optimizer.record(sample: .battery(levelPercent: 80, charging: false))
        let before = optimizer.snapshot()

        meshtuneTestArmPanic(site: "snapshot")
        let again = optimizer.snapshot()
        XCTAssertEqual(again.counters.internalPanics, 1)
        XCTAssertEqual(again.nowMs, before.nowMs, "the last snapshot built comes back")
        XCTAssertEqual(optimizer.snapshot().counters.internalPanics, 1, "then fresh ones again")

        let ticks = optimizer.snapshot().counters.ticks
        meshtuneTestArmPanic(site: "tick")
        XCTAssertTrue(
            waitUntil {
                let c = optimizer.snapshot().counters
                return c.internalPanics == 2 && c.ticks > ticks + 1
            }, "a tick panicked and later ticks ran")

        // isActionCurrent: "not current" (the app then refuses the action), counted.
        meshtuneTestArmPanic(site: "is_action_current")
        XCTAssertFalse(optimizer.isActionCurrent(actionId: 1))
        XCTAssertEqual(optimizer.snapshot().counters.internalPanics, 3)

        meshtuneTestArmPanic(site: "stop")
        optimizer.stop()
        XCTAssertTrue(optimizer.isStopped())
        XCTAssertEqual(optimizer.snapshot().counters.internalPanics, 4)
    }

    func testAPanicInsideTheBleCoordinatorIsAnInternalErrorAndChangesNothing() throws {
        let c = try BleCoordinator(rules: BleRules())
        _ = try c.scanStarted(mode: .lowLatency, nowMs: 0)
        meshtuneTestArmPanic(site: "ble")
        XCTAssertThrowsError(try c.scanResult(peerId: "A", nowMs: 10)) { error in
            guard case let OptimizerError.Internal(reason) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(reason.contains("scan_result"), reason)
        }
        XCTAssertEqual(c.stats(nowMs: 20).discoveries, 0, "the refused call changed nothing")
        let update = try c.scanResult(peerId: "A", nowMs: 30)
        XCTAssertEqual(update.samples.first, .peerDiscovered(durationMs: 30))
        // stats() is called without try: a panic inside returns the counts, not a crash.
        meshtuneTestArmPanic(site: "ble")
        XCTAssertEqual(c.stats(nowMs: 40).internalPanics, 2)
        // fastHandle() is called without try too: a panic inside returns 0 (no handle), counted.
        meshtuneTestArmPanic(site: "ble_fast_handle")
        XCTAssertEqual(c.fastHandle(), 0)
        XCTAssertEqual(c.stats(nowMs: 50).internalPanics, 3)
        XCTAssertNotEqual(c.fastHandle(), 0)
    }
}

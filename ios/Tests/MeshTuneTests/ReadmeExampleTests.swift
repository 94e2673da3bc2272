// The iOS quick start of README.md (checked by scripts/check-docs.sh) and the portable part of
// docs/ios.md, compiled and run: start a session, consume the action stream, acknowledge,
// stop. (The CoreBluetooth and UIKit lines of the docs need an Apple SDK and are not here.)
import MeshTune
import XCTest

/// Stands in for the app's BLE layer.
final class AppRadio: @unchecked Sendable {
    private let lock = NSLock()
    private var compression = false
    func setCompression(_ enabled: Bool, minSizeBytes: UInt32) -> Bool {
        lock.lock(); defer { lock.unlock() }
        compression = enabled
        return true
    }
    var isCompressing: Bool { lock.lock(); defer { lock.unlock() }; return compression }
}

final class ReadmeExampleTests: XCTestCase {
    func testReadmeExample() async throws {
        let radio = AppRadio()
        let config = OptimizerConfig(minTickIntervalMs: 10, maxTickIntervalMs: 50, sampleProcess: false)

        // --- README ---
        let session = MeshTuneSession(config: config)
        try session.start()

        let consumer = Task {
            for await event in session.actions {  // in order; ends when the session stops
                switch event.action {
                case let .setCompression(enabled, minSizeBytes):
                    let ok = radio.setCompression(enabled, minSizeBytes: minSizeBytes)
                    session.acknowledge(event, ok ? .applied : .notApplied(reason: "compression failed"))
                default:
                    session.acknowledge(event, .notApplied(reason: "not supported by this app"))
                }
            }
        }

        // Samples from anywhere; `record` never throws (it returns false if refused).
        for _ in 0..<20 { session.record(.messageDelivered(latencyMs: 400, hops: 3, bytes: 512)) }
        session.record(.battery(levelPercent: 42, charging: false))
        // --- end of README ---

        let deadline = Date().addingTimeInterval(10)
        while !radio.isCompressing, Date() < deadline { try await Task.sleep(nanoseconds: 5_000_000) }
        XCTAssertTrue(radio.isCompressing, "the network strategy's first repair move (compression) was not applied")
        // The acknowledgement follows the radio call: wait for the core to have it (it raced
        // the assertion once, on a loaded machine).
        while (session.snapshot()?.counters.actionsApplied ?? 0) < 1, Date() < deadline { try await Task.sleep(nanoseconds: 5_000_000) }
        XCTAssertGreaterThanOrEqual(session.snapshot()?.counters.actionsApplied ?? 0, 1)

        session.stop()  // ends `actions`, so the loop returns
        await consumer.value
    }
}

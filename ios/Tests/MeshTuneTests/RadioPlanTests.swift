// Actions → iOS scan / advertising / connection parameters.
@testable import MeshTune
import XCTest

final class RadioPlanTests: XCTestCase {
    private let planner = RadioPlanner()
    private let baseline = RadioSettings.baseline()

    private func settings(_ action: OptimizationAction, from current: RadioSettings? = nil) -> RadioSettings? {
        if case let .settings(s) = planner.plan(action, from: current ?? baseline) { return s }
        return nil
    }

    func testLowPowerScanIsDutyCycledWithoutDuplicates() throws {
        let s = try XCTUnwrap(settings(.setScanMode(mode: .lowPower, dutyOnMs: 2_000, dutyOffMs: 28_000)))
        XCTAssertEqual(s.scan.schedule, .dutyCycled(onMs: 2_000, offMs: 28_000))
        XCTAssertFalse(s.scan.allowDuplicates)
        XCTAssertEqual(s.scan.schedule.dutyRatio, 2_000.0 / 30_000.0, accuracy: 1e-12)
        // Only the scan knob moved.
        XCTAssertEqual(s.advertising, baseline.advertising)
        XCTAssertEqual(s.connectionLatency, baseline.connectionLatency)
        XCTAssertEqual(s.maxConnections, baseline.maxConnections)
    }

    func testLowLatencyScanIsContinuousWithDuplicates() throws {
        let s = try XCTUnwrap(settings(.setScanMode(mode: .lowLatency, dutyOnMs: 10_000, dutyOffMs: 0)))
        XCTAssertEqual(s.scan.schedule, .continuous)
        XCTAssertTrue(s.scan.allowDuplicates)
        XCTAssertEqual(s.scan.schedule.dutyRatio, 1)
    }

    func testBalancedAndOpportunisticScansFollowTheirDutyCycleWithoutDuplicates() throws {
        let balanced = try XCTUnwrap(settings(.setScanMode(mode: .balanced, dutyOnMs: 8_000, dutyOffMs: 2_000)))
        XCTAssertEqual(balanced.scan.schedule, .dutyCycled(onMs: 8_000, offMs: 2_000))
        XCTAssertFalse(balanced.scan.allowDuplicates)
        let opportunistic = try XCTUnwrap(settings(.setScanMode(mode: .opportunistic, dutyOnMs: 1_000, dutyOffMs: 29_000)))
        XCTAssertEqual(opportunistic.scan.schedule, .dutyCycled(onMs: 1_000, offMs: 29_000))
        XCTAssertFalse(opportunistic.scan.allowDuplicates)
        // Even LowLatency duty-cycles when the core gives it an off-time.
        let cycledFast = try XCTUnwrap(settings(.setScanMode(mode: .lowLatency, dutyOnMs: 500, dutyOffMs: 500)))
        XCTAssertEqual(cycledFast.scan.schedule, .dutyCycled(onMs: 500, offMs: 500))
        XCTAssertTrue(cycledFast.scan.allowDuplicates)
    }

    func testAScanWindowOfZeroIsRefused() {
        guard case let .refused(reason) = planner.plan(.setScanMode(mode: .balanced, dutyOnMs: 0, dutyOffMs: 1_000), from: baseline) else {
            return XCTFail("a 0 ms scan window was accepted")
        }
        XCTAssertTrue(reason.contains("0 ms"), reason)
    }

    func testAdvertisingModesMapToIntervalClassesAndSchedules() throws {
        let fast = try XCTUnwrap(settings(.setAdvertising(mode: .lowLatency, txPower: .high)))
        XCTAssertEqual(fast.advertising.intervalClass, .fast)
        XCTAssertEqual(fast.advertising.intervalClass.nominalIntervalMs, 100)
        XCTAssertEqual(fast.advertising.schedule, .continuous)
        XCTAssertEqual(fast.advertising.requestedTxPower, .high)

        let balanced = try XCTUnwrap(settings(.setAdvertising(mode: .balanced, txPower: .medium)))
        XCTAssertEqual(balanced.advertising.intervalClass, .balanced)
        XCTAssertEqual(balanced.advertising.intervalClass.nominalIntervalMs, 250)
        XCTAssertEqual(balanced.advertising.schedule, .continuous)

        let slow = try XCTUnwrap(settings(.setAdvertising(mode: .lowPower, txPower: .ultraLow)))
        XCTAssertEqual(slow.advertising.intervalClass, .slow)
        XCTAssertEqual(slow.advertising.intervalClass.nominalIntervalMs, 1_000)
        XCTAssertEqual(slow.advertising.schedule, .dutyCycled(onMs: 1_000, offMs: 3_000), "advertising pauses for the slow class")
        XCTAssertEqual(slow.advertising.schedule.dutyRatio, 0.25, accuracy: 1e-12)
        XCTAssertEqual(slow.advertising.requestedTxPower, .ultraLow)
        XCTAssertEqual(slow.scan, baseline.scan)
    }

    func testAdvertisingPolicyIsTheApps() throws {
        let policy = AdvertisingPolicy(slow: .dutyCycled(onMs: 500, offMs: 4_500))
        let custom = RadioPlanner(policy: policy)
        guard case let .settings(s) = custom.plan(.setAdvertising(mode: .lowPower, txPower: .low), from: .baseline(policy: policy)) else {
            return XCTFail("refused")
        }
        XCTAssertEqual(s.advertising.schedule, .dutyCycled(onMs: 500, offMs: 4_500))
    }

    func testConnectionPriorityMapsToPeripheralLatency() throws {
        XCTAssertEqual(try XCTUnwrap(settings(.setConnectionPriority(priority: .high))).connectionLatency, .low)
        XCTAssertEqual(try XCTUnwrap(settings(.setConnectionPriority(priority: .balanced))).connectionLatency, .medium)
        XCTAssertEqual(try XCTUnwrap(settings(.setConnectionPriority(priority: .lowPower))).connectionLatency, .high)
        // Raw values are CBPeripheralManagerConnectionLatency's (low 0, medium 1, high 2).
        XCTAssertEqual([ConnectionLatencyClass.low, .medium, .high].map(\.rawValue), [0, 1, 2])
    }

    func testMaxConnectionsAndItsFloor() throws {
        XCTAssertEqual(try XCTUnwrap(settings(.setMaxConnections(max: 4))).maxConnections, 4)
        guard case .refused = planner.plan(.setMaxConnections(max: 0), from: baseline) else {
            return XCTFail("a limit of 0 was accepted")
        }
    }

    func testNonRadioActionsAreRefusedWithTheirKnob() {
        for action: OptimizationAction in [
            .setMessageBatching(enabled: true, maxBatch: 8, maxDelayMs: 50),
            .trimCaches(percent: 30),
            .requestGarbageCollection,
            .setVoteCache(enabled: true),
        ] {
            guard case let .refused(reason) = planner.plan(action, from: baseline) else {
                XCTFail("\(action) was planned as a radio setting"); continue
            }
            XCTAssertTrue(reason.contains("\(action.knob)"), reason)
        }
    }

    func testBaselineMatchesTheCoresBaselineProfile() {
        XCTAssertEqual(baseline.scan, ScanPlan(mode: .balanced, dutyOnMs: 8_000, dutyOffMs: 2_000))
        XCTAssertEqual(baseline.advertising.intervalClass, .balanced)
        XCTAssertEqual(baseline.advertising.requestedTxPower, .medium)
        XCTAssertEqual(baseline.connectionLatency, .medium)
        XCTAssertEqual(baseline.maxConnections, 8)
    }

    func testConnectionLimitDropsWeakestThenNewest() {
        let peers = [
            ConnectedPeer(id: "a", rssiDbm: -50, connectedAtMs: 10),
            ConnectedPeer(id: "b", rssiDbm: -90, connectedAtMs: 20),
            ConnectedPeer(id: "c", rssiDbm: nil, connectedAtMs: 30),
            ConnectedPeer(id: "d", rssiDbm: -70, connectedAtMs: 40),
            ConnectedPeer(id: "e", rssiDbm: -70, connectedAtMs: 50),
        ]
        XCTAssertEqual(ConnectionLimit.excess(of: peers, max: 5), [])
        XCTAssertEqual(ConnectionLimit.excess(of: peers, max: 8), [])
        XCTAssertEqual(ConnectionLimit.excess(of: peers, max: 4), ["c"], "no RSSI counts as the weakest")
        XCTAssertEqual(ConnectionLimit.excess(of: peers, max: 2), ["c", "b", "e"], "at equal RSSI the newer link goes first")
        XCTAssertEqual(Set(ConnectionLimit.excess(of: peers, max: 1)), ["b", "c", "d", "e"])
        XCTAssertTrue(ConnectionLimit.allowsNewConnection(current: 3, max: 4))
        XCTAssertFalse(ConnectionLimit.allowsNewConnection(current: 4, max: 4))
    }

    func testWriteBudget() {
        XCTAssertEqual(WriteBudget.messagesPerWrite(maxBatch: 16, messageBytes: 100, maxWriteBytes: 512), 5)
        XCTAssertEqual(WriteBudget.messagesPerWrite(maxBatch: 3, messageBytes: 100, maxWriteBytes: 512), 3)
        XCTAssertEqual(
            WriteBudget.messagesPerWrite(maxBatch: 16, messageBytes: 600, maxWriteBytes: 512), 1, "a message larger than a write still goes"
        )
        XCTAssertEqual(WriteBudget.messagesPerWrite(maxBatch: 16, messageBytes: 0, maxWriteBytes: 512), 1)
    }
}

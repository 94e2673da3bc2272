// The shared BLE scenarios (tests/ble_scenarios/scenarios.json, also run against the Rust core
// and the Android glue) through the iOS glue: a ScanDriver on a virtual-time scheduler, and
// BluetoothMetrics for scan results and connections.
import Foundation
@testable import MeshTune
import XCTest

/// A RadioScheduler in virtual time: `advance(to:)` runs the work due, in time order.
final class VirtualScheduler: RadioScheduler {
    final class Token: RadioTimerToken {
        var cancelled = false
        func cancel() { cancelled = true }
    }

    private(set) var now: UInt64 = 0
    private var seq: UInt64 = 0
    private var pending: [(at: UInt64, seq: UInt64, token: Token, work: () -> Void)] = []

    func schedule(afterMs ms: UInt32, _ work: @escaping () -> Void) -> RadioTimerToken {
        let token = Token()
        seq += 1
        pending.append((now + UInt64(ms), seq, token, work))
        return token
    }

    func advance(to t: UInt64) {
        while let next = pending.filter({ !$0.token.cancelled && $0.at <= t }).min(by: { ($0.at, $0.seq) < ($1.at, $1.seq) }) {
            pending.removeAll { $0.seq == next.seq }
            now = max(now, next.at)
            next.work()
        }
        pending.removeAll { $0.token.cancelled }
        now = max(now, t)
    }
}

/// A radio that records when it started (ms since the scenario began) and can fail once.
final class TimedRadio: ScanRadio {
    private let clock: () -> UInt64
    private(set) var starts: [UInt64] = []
    var mode: ScanMode?
    var failNext: String?

    init(clock: @escaping () -> UInt64) { self.clock = clock }

    func startScan(mode: ScanMode) throws {
        if let reason = failNext {
            failNext = nil
            self.mode = nil
            throw ScanRadioError(reason)
        }
        starts.append(clock())
        self.mode = mode
    }

    func stopScan() { mode = nil }
}

final class BleScenarioTests: XCTestCase {
    private func mode(_ name: String) -> ScanMode {
        switch name {
        case "Opportunistic": return .opportunistic
        case "LowPower": return .lowPower
        case "Balanced": return .balanced
        case "LowLatency": return .lowLatency
        default: fatalError("unknown scan mode \(name)")
        }
    }

    private func name(_ mode: ScanMode?) -> String {
        switch mode {
        case nil: return "off"
        case .opportunistic?: return "Opportunistic"
        case .lowPower?: return "LowPower"
        case .balanced?: return "Balanced"
        case .lowLatency?: return "LowLatency"
        }
    }

    private func run(_ scenario: [String: Any]) throws {
        let title = scenario["name"] as? String ?? "?"
        let scheduler = VirtualScheduler()
        let radio = TimedRadio(clock: { scheduler.now })
        // The shared scenarios use the core's default rules (Android's), on every platform.
        let driver = try ScanDriver(radio: radio, scheduler: scheduler, clock: { scheduler.now }, rules: BleRules())
        let recorded = Locked<[MetricSample]>([])
        driver.sink = { s in recorded.mutate { $0.append(s) } }
        let metrics = BluetoothMetrics(driver: driver)
        for case let e as [String: Any] in scenario["events"] as? [Any] ?? [] {
            let at = (e["at"] as? NSNumber)?.uint64Value ?? 0
            scheduler.advance(to: at)
            if let p = e["plan"] as? [Any], let m = p[0] as? String, let on = p[1] as? NSNumber, let off = p[2] as? NSNumber {
                let action = OptimizationAction.setScanMode(mode: mode(m), dutyOnMs: on.uint32Value, dutyOffMs: off.uint32Value)
                XCTAssertEqual(driver.apply(action), .applied, "\(title): plan at \(at)")
            } else if let peer = e["seen"] as? String {
                metrics.peerSeen(peer)
            } else if e["os_stop"] != nil {
                radio.mode = nil
                driver.scanStoppedByOs()
            } else if let state = e["radio"] as? String {
                // Bluetooth off ends the scan, as the OS does; on, the core starts it.
                if state != "on" { radio.mode = nil }
                driver.radioStateChanged(available: state == "on")
            } else if let reason = e["fail_next_start"] as? String {
                radio.failNext = reason
            } else if let peer = e["connect"] as? String {
                metrics.connectionRequested(peer)
            } else if let peer = e["connected"] as? String {
                metrics.connected(peer)
            } else if let peer = e["disconnected"] as? String {
                metrics.disconnected(peer)
            } else if let check = e["check"] as? [String: Any] {
                XCTAssertEqual(name(radio.mode), check["scanner"] as? String, "\(title): scanner at \(at)")
                let starts = (check["starts"] as? [NSNumber] ?? []).map(\.uint64Value)
                XCTAssertEqual(radio.starts, starts, "\(title): starts at \(at)")
                let samples = recorded.get()
                if let d = check["discovered"] as? [NSNumber] {
                    let got = samples.compactMap { s -> Double? in if case let .peerDiscovered(ms) = s { return ms } else { return nil } }
                    XCTAssertEqual(got, d.map(\.doubleValue), "\(title): discoveries at \(at)")
                }
                if let d = check["established"] as? [NSNumber] {
                    let got = samples.compactMap { s -> Double? in
                        if case let .connectionEstablished(ms) = s { return ms } else { return nil }
                    }
                    XCTAssertEqual(got, d.map(\.doubleValue), "\(title): set-ups at \(at)")
                }
                if let pc = check["peer_count"] as? [NSNumber] {
                    let last = samples.last { if case .peerCount = $0 { return true } else { return false } }
                    XCTAssertEqual(
                        last, .peerCount(connected: pc[0].uint32Value, discovered: pc[1].uint32Value), "\(title): peer count at \(at)")
                }
            } else {
                XCTFail("\(title): unknown event \(e)")
            }
        }
        driver.close()
    }

    func testTheSharedBleScenariosHoldOnIOS() throws {
        let url = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()  // MeshTuneTests
            .deletingLastPathComponent()  // Tests
            .deletingLastPathComponent()  // ios
            .deletingLastPathComponent()  // repository
            .appendingPathComponent("tests/ble_scenarios/scenarios.json")
        let doc = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let scenarios = try XCTUnwrap(doc["scenarios"] as? [[String: Any]])
        XCTAssertGreaterThanOrEqual(scenarios.count, 6)
        for s in scenarios { try run(s) }
    }

    func testAFailedStartIsNotAppliedAndThePreviousScheduleRestored() throws {
        let scheduler = VirtualScheduler()
        let radio = TimedRadio(clock: { scheduler.now })
        // The shared scenarios use the core's default rules (Android's), on every platform.
        let driver = try ScanDriver(radio: radio, scheduler: scheduler, clock: { scheduler.now }, rules: BleRules())
        XCTAssertEqual(driver.apply(.setScanMode(mode: .balanced, dutyOnMs: 8_000, dutyOffMs: 2_000)), .applied)
        radio.failNext = "Bluetooth is not powered on"
        guard case let .notApplied(reason) = driver.apply(.setScanMode(mode: .lowPower, dutyOnMs: 2_000, dutyOffMs: 28_000)) else {
            return XCTFail("a failed start was applied")
        }
        XCTAssertTrue(reason.contains("Bluetooth is not powered on"), reason)
        XCTAssertEqual(radio.mode, .balanced, "the balanced schedule runs again")
        scheduler.advance(to: 8_000)
        XCTAssertNil(radio.mode, "off after the balanced 8 s")
        scheduler.advance(to: 10_000)
        XCTAssertEqual(radio.mode, .balanced)
        guard case let .notApplied(refusal) = driver.apply(.setObjectPooling(enabled: true)) else {
            return XCTFail("a non-scan action was applied")
        }
        XCTAssertTrue(refusal.contains("set_plan.action"), refusal)
    }
}

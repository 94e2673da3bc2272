// The collectors' mappings: iOS raw values → samples that the core accepts.
@testable import MeshTune
import XCTest

final class MappingTests: XCTestCase {
    func testThermalStateRawValues() {
        XCTAssertEqual(DeviceSampleMapping.thermalState(rawValue: 0), .nominal)
        XCTAssertEqual(DeviceSampleMapping.thermalState(rawValue: 1), .fair)
        XCTAssertEqual(DeviceSampleMapping.thermalState(rawValue: 2), .serious)
        XCTAssertEqual(DeviceSampleMapping.thermalState(rawValue: 3), .critical)
        XCTAssertNil(DeviceSampleMapping.thermalState(rawValue: 4))
        XCTAssertNil(DeviceSampleMapping.thermalState(rawValue: -1))
        XCTAssertEqual(DeviceSampleMapping.thermal(rawValue: 2), .thermal(state: .serious))
        #if canImport(UIKit)
            XCTAssertEqual(DeviceSampleMapping.thermalState(rawValue: ProcessInfo.ThermalState.critical.rawValue), .critical)
        #endif
    }

    func testBatteryLevelAndState() {
        XCTAssertEqual(DeviceSampleMapping.battery(level: 0.35, stateRawValue: 1), .battery(levelPercent: 35, charging: false))
        XCTAssertEqual(DeviceSampleMapping.battery(level: 0.5, stateRawValue: 2), .battery(levelPercent: 50, charging: true))
        XCTAssertEqual(
            DeviceSampleMapping.battery(level: 1.0, stateRawValue: 3), .battery(levelPercent: 100, charging: true), "full means plugged in")
        XCTAssertEqual(DeviceSampleMapping.battery(level: 0, stateRawValue: 1), .battery(levelPercent: 0, charging: false))
        XCTAssertNil(DeviceSampleMapping.battery(level: -1, stateRawValue: 1), "-1 is UIDevice's unknown level")
        XCTAssertNil(DeviceSampleMapping.battery(level: 0.5, stateRawValue: 0), "unknown state")
        XCTAssertNil(DeviceSampleMapping.battery(level: .nan, stateRawValue: 1))
        XCTAssertEqual(DeviceSampleMapping.battery(level: 1.0000001, stateRawValue: 3), .battery(levelPercent: 100, charging: true))
    }

    func testLowPowerMemoryAndLifecycle() {
        XCTAssertEqual(DeviceSampleMapping.lowPowerMode(enabled: true), .powerSaveMode(enabled: true))
        XCTAssertEqual(DeviceSampleMapping.memoryWarning(), .memoryPressure(level: .critical))
        XCTAssertEqual(DeviceSampleMapping.appState(applicationStateRawValue: 0), .appState(foreground: true))
        XCTAssertEqual(
            DeviceSampleMapping.appState(applicationStateRawValue: 1), .appState(foreground: true), "inactive is still on screen")
        XCTAssertEqual(DeviceSampleMapping.appState(applicationStateRawValue: 2), .appState(foreground: false))
        XCTAssertNil(DeviceSampleMapping.appState(applicationStateRawValue: 3))
    }

    func testHeapFromFootprintAndAvailableMemory() {
        let mib: UInt64 = 1_048_576
        XCTAssertEqual(DeviceSampleMapping.heap(footprintBytes: 300 * mib, availableBytes: 1_700 * mib), .heap(usedMb: 300, limitMb: 2_000))
        XCTAssertNil(DeviceSampleMapping.heap(footprintBytes: 300 * mib, availableBytes: 0), "0 available means iOS gave no limit")
    }

    /// Every sample the mappings produce is one the core accepts (the core validates at the
    /// door; a mapping that produced invalid samples would lose them silently).
    func testMappedSamplesPassTheCoresValidation() throws {
        let session = MeshTuneSession(config: fastConfig())
        try session.start()
        defer { session.stop() }
        var samples: [MetricSample] = []
        for raw in 0...3 { samples.append(try XCTUnwrap(DeviceSampleMapping.thermal(rawValue: raw))) }
        for level: Float in [0, 0.01, 0.2, 0.35, 0.999, 1] {
            for state in 1...3 { samples.append(try XCTUnwrap(DeviceSampleMapping.battery(level: level, stateRawValue: state))) }
        }
        samples.append(DeviceSampleMapping.lowPowerMode(enabled: false))
        samples.append(DeviceSampleMapping.memoryWarning())
        samples.append(try XCTUnwrap(DeviceSampleMapping.heap(footprintBytes: 123_456_789, availableBytes: 987_654_321)))
        samples.append(try XCTUnwrap(DeviceSampleMapping.heap(footprintBytes: 0, availableBytes: 1)))
        for raw in 0...2 { samples.append(try XCTUnwrap(DeviceSampleMapping.appState(applicationStateRawValue: raw))) }
        for sample in samples {
            XCTAssertNoThrow(try session.tryRecord(sample), "\(sample)")
        }
        XCTAssertEqual(session.snapshot()?.counters.samplesRejected, 0)
    }
}

final class BluetoothMetricsTests: XCTestCase {
    private let now = Locked<UInt64>(1_000)
    private let recorded = Locked<[MetricSample]>([])
    private lazy var metrics = try! BluetoothMetrics(
        clock: { [now] in now.get() }, sink: { [recorded] s in recorded.mutate { $0.append(s) } })

    private func advance(_ ms: UInt64) { now.mutate { $0 += ms } }
    private var discoveries: [Double] {
        recorded.get().compactMap { if case let .peerDiscovered(ms) = $0 { return ms } else { return nil } }
    }

    func testDiscoveriesAreDecidedInTheCoreAndReSightingsNeverCount() {
        metrics.peerSeen("p1")
        XCTAssertEqual(discoveries, [], "no scan session yet: an untimed arrival")
        metrics.scanStarted(.lowLatency)  // an app that runs its own scans reports them
        advance(1_500)
        metrics.peerSeen("p2")
        XCTAssertEqual(discoveries, [1_500])
        advance(500)
        metrics.peerSeen("p2")
        XCTAssertEqual(discoveries, [1_500], "a peer seen again is not rediscovered")
        metrics.peerSeen("p1")
        XCTAssertEqual(discoveries, [1_500, 2_000], "a session's start makes every peer new: p1 is timed from it")
        // A restart of the scan within the session (the old glue's discoveryStarted() timed
        // every peer again from there).
        metrics.scanStopped()
        advance(1_000)
        metrics.scanStarted(.lowLatency)
        advance(10)
        metrics.peerSeen("p2")
        XCTAssertEqual(discoveries, [1_500, 2_000])
        let stats = metrics.driver.stats()
        XCTAssertEqual(stats.discoveries, 3)
        XCTAssertEqual(stats.resightings, 2)
        XCTAssertEqual(metrics.driver.problems.count, 0)
        metrics.peerSeen("")
        XCTAssertEqual(metrics.driver.problems.count, 1, "an empty id is refused by the core, counted")
    }

    func testConnectionTimingAndPeerCount() {
        metrics.scanStarted(.lowLatency)
        metrics.peerSeen("a")
        metrics.peerSeen("b")
        metrics.connectionRequested("a")
        advance(250)
        metrics.connected("a")
        XCTAssertEqual(
            recorded.get().filter { if case .connectionEstablished = $0 { return true } else { return false } },
            [.connectionEstablished(durationMs: 250)])
        metrics.connected("c")  // incoming: no request to time
        XCTAssertEqual(metrics.peerCount(), .peerCount(connected: 2, discovered: 3))
        metrics.disconnected("a")
        XCTAssertEqual(metrics.peerCount(), .peerCount(connected: 1, discovered: 3))
        metrics.connectionRequested("b")
        metrics.disconnected("b")  // failed
        metrics.connected("b")
        XCTAssertEqual(
            recorded.get().filter { if case .connectionEstablished = $0 { return true } else { return false } }.count, 1,
            "a failed attempt is not timed later")
    }

    func testRssi() {
        XCTAssertEqual(metrics.rssi("p", dbm: -67), .linkRssi(peerId: "p", rssiDbm: -67))
        XCTAssertNil(metrics.rssi("p", dbm: 127), "127 is CoreBluetooth's 'unavailable'")
        XCTAssertNil(metrics.rssi("p", dbm: -128))
        XCTAssertNil(metrics.rssi("", dbm: -60))
        XCTAssertEqual(metrics.rssi("p", dbm: 20), .linkRssi(peerId: "p", rssiDbm: 20))
    }
}

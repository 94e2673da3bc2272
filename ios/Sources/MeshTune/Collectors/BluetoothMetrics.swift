// The CoreBluetooth helpers' events as samples: scan results, connections, RSSI, peer counts.
// What a discovery is, and its time, is decided in the core (BleCoordinator through a
// ScanDriver), the same as on Android; this file only reports raw events. Keyed by peer id
// strings (CoreBluetooth: the peripheral's identifier), with an injectable clock, so that it
// runs and is tested without CoreBluetooth.
import Dispatch
import Foundation

/// Turns Bluetooth events into MetricSamples, which go to the driver's `sink`. Thread-safe.
///
/// A discovery is a peer's first sighting, or its first after it went unseen for 20 s of
/// scanning; re-sightings never count. Discoveries are timed from the start of a scan session
/// for the peers found in its first 20 s of scanning; peers found later are counted as
/// arrivals without a time (a phone cannot see when a peer came into range).
public final class BluetoothMetrics: @unchecked Sendable {
    /// The RSSI value CoreBluetooth reports when it has none.
    public static let rssiUnavailable = 127

    /// Milliseconds of a clock that counts suspend (the continuous clock on Apple platforms,
    /// `CLOCK_BOOTTIME` on Linux): the core's `bootTimeMs()`.
    public static func clockMs() -> UInt64 {
        bootTimeMs()
    }

    /// The driver whose core coordinator decides discoveries (the CoreBluetoothApplier's, when
    /// MeshTune runs the scanner).
    public let driver: ScanDriver

    /// Reports through `driver` (its `sink` receives the samples).
    public init(driver: ScanDriver) {
        self.driver = driver
    }

    /// A driver of its own that runs no scanner (an app that scans itself reports
    /// `scanStarted`/`scanStopped`); samples go to `sink`. `clock` returns boot-time ms.
    /// Throws only if the core cannot build its coordinator (never with the default rules).
    public convenience init(
        clock: @escaping () -> UInt64 = BluetoothMetrics.clockMs,
        sink: ((MetricSample) -> Void)? = nil
    ) throws {
        let driver = try ScanDriver(radio: nil, scheduler: DispatchRadioScheduler(queue: .global()), clock: clock)
        driver.sink = sink
        self.init(driver: driver)
    }

    /// A scan result for `peerId` (`centralManager(_:didDiscover:advertisementData:rssi:)`):
    /// the core decides whether it is a discovery, and its time.
    public func peerSeen(_ peerId: String) {
        driver.report { try $0.scanResult(peerId: peerId, nowMs: $1) }
    }

    /// For an app that runs its own scans: a scan started in `mode` (it counts against the
    /// scan-start quota and starts a scan session).
    public func scanStarted(_ mode: ScanMode) {
        driver.report { try $0.scanStarted(mode: mode, nowMs: $1) }
    }

    /// For an app that runs its own scans: the scan stopped.
    public func scanStopped() {
        driver.report { try $0.scanStopped(nowMs: $1) }
    }

    /// A connection to `peerId` was requested (`CBCentralManager.connect`): the set-up time
    /// counts from here.
    public func connectionRequested(_ peerId: String) {
        driver.report { try $0.connectRequested(peerId: peerId, nowMs: $1) }
    }

    /// `peerId` connected: a `.connectionEstablished` sample timed from the request (none for
    /// an incoming connection), and the peer count.
    public func connected(_ peerId: String) {
        driver.report { try $0.connectionChanged(peerId: peerId, connected: true, nowMs: $1) }
    }

    /// A connection attempt failed, or the link went down.
    public func disconnected(_ peerId: String) {
        driver.report { try $0.connectionChanged(peerId: peerId, connected: false, nowMs: $1) }
    }

    /// A `.linkRssi` sample, or nil for CoreBluetooth's "unavailable" (127) and values outside
    /// what BLE reports (-127...20).
    public func rssi(_ peerId: String, dbm: Int) -> MetricSample? {
        guard dbm != Self.rssiUnavailable, (-127...20).contains(dbm), !peerId.isEmpty else { return nil }
        return .linkRssi(peerId: peerId, rssiDbm: Int32(dbm))
    }

    /// A `.peerCount` sample now: connected peers, and peers present (seen within the last
    /// 20 s of scanning) or connected.
    public func peerCount() -> MetricSample {
        let s = driver.stats()
        return .peerCount(connected: s.connectedPeers, discovered: s.presentPeers)
    }
}

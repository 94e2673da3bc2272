// The CoreBluetooth helpers' bookkeeping: discovery and connection timings, RSSI, peer counts,
// as samples. Keyed by peer id strings (CoreBluetooth: the peripheral's identifier), with an
// injectable clock, so that it runs and is tested without CoreBluetooth.
import Dispatch
import Foundation

/// Turns Bluetooth events into MetricSamples. Thread-safe.
public final class BluetoothMetrics: @unchecked Sendable {
    /// Peers remembered as discovered (bounded; the set restarts when it is full).
    public static let maxRememberedPeers = 4_096
    /// The RSSI value CoreBluetooth reports when it has none.
    public static let rssiUnavailable = 127

    /// A monotonic clock in ms (not wall time, which can jump).
    public static func monotonicMs() -> UInt64 {
        DispatchTime.now().uptimeNanoseconds / 1_000_000
    }

    private let clock: () -> UInt64
    private let lock = NSLock()
    private var discoveryStartedAt: UInt64?
    private var discovered = Set<String>()
    private var connecting = [String: UInt64]()
    private var connected = Set<String>()

    /// `clock` returns monotonic milliseconds (tests pass their own).
    public init(clock: @escaping () -> UInt64 = BluetoothMetrics.monotonicMs) {
        self.clock = clock
    }

    /// The app started looking for peers (its first scan, not each duty cycle): discovery
    /// times count from here, so the time spent in scan pauses is part of them.
    public func discoveryStarted() {
        withLock {
            discoveryStartedAt = clock()
            discovered.removeAll()
        }
    }

    /// A peer was seen. A `.peerDiscovered` sample the first time since `discoveryStarted()`,
    /// nil otherwise (or when discovery was never started).
    public func peerDiscovered(_ peerId: String) -> MetricSample? {
        withLock {
            guard let start = discoveryStartedAt else { return nil }
            if discovered.count >= Self.maxRememberedPeers { discovered.removeAll() }
            guard discovered.insert(peerId).inserted else { return nil }
            return .peerDiscovered(durationMs: Double(clock() &- start))
        }
    }

    /// A connection to `peerId` was requested (`CBCentralManager.connect`).
    public func connectionRequested(_ peerId: String) {
        withLock {
            if connecting.count >= Self.maxRememberedPeers { connecting.removeAll() }
            connecting[peerId] = clock()
        }
    }

    /// `peerId` connected: a `.connectionEstablished` sample timed from the request, or nil if
    /// none was recorded (an incoming connection).
    public func connected(_ peerId: String) -> MetricSample? {
        withLock {
            connected.insert(peerId)
            discovered.insert(peerId)
            guard let since = connecting.removeValue(forKey: peerId) else { return nil }
            return .connectionEstablished(durationMs: Double(clock() &- since))
        }
    }

    /// A connection attempt failed, or the link went down.
    public func disconnected(_ peerId: String) {
        withLock {
            connecting.removeValue(forKey: peerId)
            connected.remove(peerId)
        }
    }

    /// A `.linkRssi` sample, or nil for CoreBluetooth's "unavailable" (127) and values outside
    /// what BLE reports (-127...20).
    public func rssi(_ peerId: String, dbm: Int) -> MetricSample? {
        guard dbm != Self.rssiUnavailable, (-127...20).contains(dbm), !peerId.isEmpty else { return nil }
        return .linkRssi(peerId: peerId, rssiDbm: Int32(dbm))
    }

    /// A `.peerCount` sample: connected peers, and peers known (discovered or connected).
    public func peerCount() -> MetricSample {
        withLock {
            let known = discovered.union(connected).count
            return .peerCount(connected: UInt32(clamping: connected.count), discovered: UInt32(clamping: known))
        }
    }

    private func withLock<R>(_ body: () -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body()
    }
}

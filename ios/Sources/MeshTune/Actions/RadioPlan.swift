// What the radio actions mean on iOS, as plain values: the scan plan, the advertising plan,
// the connection latency class and the connection limit. CoreBluetoothApplier enacts them;
// everything here is pure and tested on Linux.
//
// iOS exposes fewer radio controls than Android: no scan modes, no advertising interval, no TX
// power, no connection interval for a central. What it does expose, and how each action maps:
//   SetScanMode        -> scanning on/off per the duty cycle (start/stopScan) and
//                         CBCentralManagerScanOptionAllowDuplicatesKey (true for LowLatency only)
//   SetAdvertising     -> an interval class; iOS picks the interval itself, so the slower classes
//                         are approximated by pausing advertising (AdvertisingPolicy)
//   SetConnectionPriority -> CBPeripheralManager.setDesiredConnectionLatency for subscribed centrals
//   SetMaxConnections  -> a limit the glue enforces (iOS has none): excess links are cancelled
import Foundation

/// When a radio function (scanning, advertising) runs.
public enum RadioSchedule: Equatable, Sendable {
    /// Always on.
    case continuous
    /// On for `onMs`, then off for `offMs`, repeated.
    case dutyCycled(onMs: UInt32, offMs: UInt32)

    /// The schedule of a duty cycle as the core sends it: an off-time of 0 means continuous.
    public init(onMs: UInt32, offMs: UInt32) {
        self = offMs == 0 ? .continuous : .dutyCycled(onMs: onMs, offMs: offMs)
    }

    /// Share of the time the function is on, 0...1.
    public var dutyRatio: Double {
        switch self {
        case .continuous: return 1
        case let .dutyCycled(onMs, offMs): return Double(onMs) / (Double(onMs) + Double(offMs))
        }
    }
}

/// How the app scans, on iOS terms.
public struct ScanPlan: Equatable, Sendable {
    /// The mode the core asked for.
    public var mode: ScanMode
    /// When scanning runs (start/stopScan).
    public var schedule: RadioSchedule
    /// `CBCentralManagerScanOptionAllowDuplicatesKey`: report every advertisement of a peer
    /// (fresh RSSI, fastest reaction) instead of one per discovery. Only `lowLatency` pays for
    /// it; Apple documents its cost in battery, and iOS ignores it in the background.
    public var allowDuplicates: Bool

    /// The plan for `SetScanMode(mode, dutyOnMs, dutyOffMs)`. iOS has no opportunistic mode:
    /// `opportunistic` scans on its duty cycle without duplicates, like `lowPower`.
    public init(mode: ScanMode, dutyOnMs: UInt32, dutyOffMs: UInt32) {
        self.mode = mode
        self.schedule = RadioSchedule(onMs: dutyOnMs, offMs: dutyOffMs)
        self.allowDuplicates = Self.allowsDuplicates(mode)
    }

    /// Whether `mode` scans with `CBCentralManagerScanOptionAllowDuplicatesKey`.
    public static func allowsDuplicates(_ mode: ScanMode) -> Bool {
        mode == .lowLatency
    }

    /// The `setScanMode` action of this plan (for the core's ScanDriver; a continuous plan's
    /// on-time is not kept, and any valid one means the same).
    public var action: OptimizationAction {
        switch schedule {
        case .continuous: return .setScanMode(mode: mode, dutyOnMs: 1_000, dutyOffMs: 0)
        case let .dutyCycled(onMs, offMs): return .setScanMode(mode: mode, dutyOnMs: onMs, dutyOffMs: offMs)
        }
    }
}

/// Advertising interval classes: the nominal intervals of the core's `AdvertiseMode` values
/// (Android's `AdvertiseSettings`), which iOS cannot set directly.
public enum AdvertisingIntervalClass: Equatable, Sendable {
    /// About 100 ms (`AdvertiseMode.lowLatency`).
    case fast
    /// About 250 ms (`AdvertiseMode.balanced`).
    case balanced
    /// About 1 s (`AdvertiseMode.lowPower`).
    case slow

    /// The class of an `AdvertiseMode`.
    public init(_ mode: AdvertiseMode) {
        switch mode {
        case .lowLatency: self = .fast
        case .balanced: self = .balanced
        case .lowPower: self = .slow
        }
    }

    /// The nominal interval, ms (from the core's `AdvertiseMode` documentation).
    public var nominalIntervalMs: UInt32 {
        switch self {
        case .fast: return 100
        case .balanced: return 250
        case .slow: return 1_000
        }
    }
}

/// How the applier approximates each advertising interval class on iOS, where the system
/// chooses the interval: by advertising continuously, or in bursts with pauses between them.
/// The defaults are MeshTune's choice, not an Apple figure, and are not measured yet: the
/// `slow` class advertises a quarter of the time, the same airtime ratio as going from the
/// `balanced` 250 ms to the `slow` 1 s nominal interval.
public struct AdvertisingPolicy: Equatable, Sendable {
    /// Schedule for `.fast`. Default continuous.
    public var fast: RadioSchedule
    /// Schedule for `.balanced`. Default continuous.
    public var balanced: RadioSchedule
    /// Schedule for `.slow`. Default 1 s on, 3 s off.
    public var slow: RadioSchedule

    public init(
        fast: RadioSchedule = .continuous,
        balanced: RadioSchedule = .continuous,
        slow: RadioSchedule = .dutyCycled(onMs: 1_000, offMs: 3_000)
    ) {
        self.fast = fast
        self.balanced = balanced
        self.slow = slow
    }

    /// The schedule for `intervalClass`.
    public func schedule(for intervalClass: AdvertisingIntervalClass) -> RadioSchedule {
        switch intervalClass {
        case .fast: return fast
        case .balanced: return balanced
        case .slow: return slow
        }
    }
}

/// How the app advertises, on iOS terms.
public struct AdvertisingPlan: Equatable, Sendable {
    /// The interval class asked for.
    public var intervalClass: AdvertisingIntervalClass
    /// When advertising runs (start/stopAdvertising).
    public var schedule: RadioSchedule
    /// The TX power the core asked for. iOS sets advertising power itself: this is recorded
    /// (and shown in the snapshot of the applier) but cannot be enacted.
    public var requestedTxPower: TxPower

    /// The plan for `SetAdvertising(mode, txPower)` under `policy`.
    public init(mode: AdvertiseMode, txPower: TxPower, policy: AdvertisingPolicy = AdvertisingPolicy()) {
        intervalClass = AdvertisingIntervalClass(mode)
        schedule = policy.schedule(for: intervalClass)
        requestedTxPower = txPower
    }
}

/// `CBPeripheralManagerConnectionLatency`, as a plain value (raw values are Apple's).
public enum ConnectionLatencyClass: Int, Equatable, Sendable {
    /// Rapid communication over battery life.
    case low = 0
    /// Balanced.
    case medium = 1
    /// Battery life over rapid communication.
    case high = 2

    /// The latency for a GATT connection priority: `high` priority is `low` latency.
    public init(_ priority: ConnectionPriority) {
        switch priority {
        case .high: self = .low
        case .balanced: self = .medium
        case .lowPower: self = .high
        }
    }
}

/// A connected peer, as the connection limit sees it.
public struct ConnectedPeer: Equatable, Sendable {
    /// The app's id of the peer (for CoreBluetooth, the peripheral's identifier).
    public var id: String
    /// The last RSSI read on the link, if any.
    public var rssiDbm: Int32?
    /// When the connection was made (any monotonic clock, ms).
    public var connectedAtMs: UInt64

    public init(id: String, rssiDbm: Int32?, connectedAtMs: UInt64) {
        self.id = id
        self.rssiDbm = rssiDbm
        self.connectedAtMs = connectedAtMs
    }
}

/// The connection limit: iOS has none of its own, so the glue keeps it.
public enum ConnectionLimit {
    /// Whether one more connection fits under `max` with `current` open.
    public static func allowsNewConnection(current: Int, max: UInt32) -> Bool {
        current < Int(max)
    }

    /// The peers to disconnect to get down to `max`: the weakest links first (a link with no
    /// RSSI reading counts as the weakest), then, at equal RSSI, the newest connection (the
    /// older one has proven itself). Ties beyond that go by id, so the choice is deterministic.
    public static func excess(of peers: [ConnectedPeer], max: UInt32) -> [String] {
        let surplus = peers.count - Int(max)
        guard surplus > 0 else { return [] }
        let weakestFirst = peers.sorted { a, b in
            let ra = a.rssiDbm ?? Int32.min
            let rb = b.rssiDbm ?? Int32.min
            if ra != rb { return ra < rb }
            if a.connectedAtMs != b.connectedAtMs { return a.connectedAtMs > b.connectedAtMs }
            return a.id < b.id
        }
        return weakestFirst.prefix(surplus).map(\.id)
    }
}

/// The state of the four radio knobs, as the applier holds them.
public struct RadioSettings: Equatable, Sendable {
    public var scan: ScanPlan
    public var advertising: AdvertisingPlan
    public var connectionLatency: ConnectionLatencyClass
    public var maxConnections: UInt32

    /// The core's baseline profile (`OptimizationAction::baseline`): balanced scanning 8 s on,
    /// 2 s off; balanced advertising at medium power; balanced priority; 8 connections.
    public static func baseline(policy: AdvertisingPolicy = AdvertisingPolicy()) -> RadioSettings {
        RadioSettings(
            scan: ScanPlan(mode: .balanced, dutyOnMs: 8_000, dutyOffMs: 2_000),
            advertising: AdvertisingPlan(mode: .balanced, txPower: .medium, policy: policy),
            connectionLatency: ConnectionLatencyClass(.balanced),
            maxConnections: 8
        )
    }

    public init(scan: ScanPlan, advertising: AdvertisingPlan, connectionLatency: ConnectionLatencyClass, maxConnections: UInt32) {
        self.scan = scan
        self.advertising = advertising
        self.connectionLatency = connectionLatency
        self.maxConnections = maxConnections
    }
}

/// What a radio action does to the settings.
public enum RadioPlanResult: Equatable, Sendable {
    /// The settings with the action in them.
    case settings(RadioSettings)
    /// The action cannot be applied by the radio; the reason is for `ApplyResult.notApplied`.
    case refused(reason: String)
}

/// Turns radio actions into new `RadioSettings` (pure; CoreBluetoothApplier enacts the result).
public struct RadioPlanner: Equatable, Sendable {
    /// How advertising classes are approximated.
    public var policy: AdvertisingPolicy

    public init(policy: AdvertisingPolicy = AdvertisingPolicy()) {
        self.policy = policy
    }

    /// `current` with `action` applied, or why not. Non-radio actions and values no radio
    /// can run (a scan window of 0 ms, no connection at all) are refused.
    public func plan(_ action: OptimizationAction, from current: RadioSettings) -> RadioPlanResult {
        var next = current
        switch action {
        case let .setScanMode(mode, dutyOnMs, dutyOffMs):
            guard dutyOnMs > 0 else { return .refused(reason: "a scan window of 0 ms never scans") }
            next.scan = ScanPlan(mode: mode, dutyOnMs: dutyOnMs, dutyOffMs: dutyOffMs)
        case let .setAdvertising(mode, txPower):
            next.advertising = AdvertisingPlan(mode: mode, txPower: txPower, policy: policy)
        case let .setConnectionPriority(priority):
            next.connectionLatency = ConnectionLatencyClass(priority)
        case let .setMaxConnections(max):
            guard max > 0 else { return .refused(reason: "a limit of 0 connections would cut the mesh off") }
            next.maxConnections = max
        default:
            return .refused(reason: "\(action.knob) is not a radio setting")
        }
        return .settings(next)
    }
}

/// How many messages of `messageBytes` to pack into one write: the batch size the core asked
/// for (`SetMessageBatching.maxBatch`), capped by what fits in the link's
/// `maximumWriteValueLength`, and at least one.
public enum WriteBudget {
    public static func messagesPerWrite(maxBatch: UInt32, messageBytes: Int, maxWriteBytes: Int) -> UInt32 {
        guard messageBytes > 0, maxWriteBytes > 0 else { return 1 }
        let fit = UInt32(clamping: maxWriteBytes / messageBytes)
        return Swift.max(1, Swift.min(maxBatch, fit))
    }
}

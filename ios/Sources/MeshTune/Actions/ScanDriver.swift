// Runs the core's scan schedule. MeshTune's BleCoordinator (Rust, the same for Android and iOS)
// decides when the scanner is on and in which mode, keeps a scan-start quota (5 starts per 30 s,
// Android's, kept on iOS too so that both platforms behave the same) and defines what a
// discovery is. This class only adapts: it starts and stops a ScanRadio when the core says,
// reports every start, stop and failure back, passes the samples the core returns to `sink`,
// and keeps the one timer the core asks for on a RadioScheduler.
import Foundation

/// Starts and stops the app's scan (CoreBluetoothApplier: `scanForPeripherals` / `stopScan`).
public protocol ScanRadio: AnyObject {
    /// Scans in `mode` now (restarting with that mode's options if already scanning). Throws
    /// when the radio cannot scan (Bluetooth off, not authorized): the core retries later.
    func startScan(mode: ScanMode) throws
    /// Stops scanning (no-op when not scanning).
    func stopScan()
}

/// Why a ScanRadio could not scan (its text is the reason the core and the outcome carry).
public struct ScanRadioError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The core's scan schedule and discovery rules on a RadioScheduler. Thread-safe.
public final class ScanDriver: @unchecked Sendable {
    /// The core's coordinator; `stats()` reads its counts.
    public let coordinator: BleCoordinator
    /// Where the samples the core returns go (the app records them: `try? session.record($0)`).
    public var sink: ((MetricSample) -> Void)? {
        get { withLock { sinkValue } }
        set { withLock { sinkValue = newValue } }
    }

    private let radio: ScanRadio?
    private let scheduler: RadioScheduler
    private let clock: () -> UInt64
    private let lock = NSRecursiveLock()
    private var sinkValue: ((MetricSample) -> Void)?
    private var running: ScanMode?
    private var plan: OptimizationAction?
    private var timer: RadioTimerToken?
    private var startFailure: String?
    private var closed = false
    private var failures: UInt64 = 0
    private var lastFailure: String?

    /// `radio` nil: the driver only keeps the discovery rules (an app that scans itself
    /// reports `scanStarted`/`scanStopped`). `clock` returns boot-time milliseconds, which count
    /// suspend (the default, `bootTimeMs()`, is the core's). Throws `OptimizerError.InvalidConfig`
    /// naming the field for invalid `rules`.
    public init(
        radio: ScanRadio?,
        scheduler: RadioScheduler,
        clock: @escaping () -> UInt64 = { bootTimeMs() },
        rules: BleRules = ScanDriver.iosRules
    ) throws {
        self.coordinator = try BleCoordinator(rules: rules)
        self.radio = radio
        self.scheduler = scheduler
        self.clock = clock
    }

    /// The default rules on iOS: the core's, without Android's downgrade of a scan that ran
    /// 10 minutes (CoreBluetooth has none, so the core restarts nothing).
    public static let iosRules = BleRules(osScanLimitMs: 0)

    /// The mode the scanner runs in, as far as this driver started it (nil: off).
    public var scanning: ScanMode? { withLock { running } }

    /// Calls into the core that failed (an invalid peer id, say), and the last one's message.
    public var problems: (count: UInt64, last: String?) { withLock { (failures, lastFailure) } }

    /// The core's counts now: discoveries timed and untimed, re-sightings, starts, deferrals.
    public func stats() -> BleStats { coordinator.stats(nowMs: clock()) }

    /// Runs the schedule of a `setScanMode` action. `.applied` when the scanner runs it or
    /// waits for the quota; `.notApplied` with the reason when the start fails (the previous
    /// schedule is restored, as the core restores its belief) or the action is invalid.
    public func apply(_ action: OptimizationAction) -> ApplyResult {
        guard radio != nil else { return .notApplied(reason: "scanning is not managed through MeshTune (no ScanRadio)") }
        return withLock {
            closed = false
            let previous = plan
            startFailure = nil
            let update: BleUpdate
            do {
                update = try coordinator.setPlan(action: action, nowMs: clock())
            } catch {
                return .notApplied(reason: "\(error)")
            }
            follow(update)
            guard let failure = startFailure else {
                plan = action
                return .applied
            }
            if let previous {
                report { try $0.setPlan(action: previous, nowMs: $1) }
            } else {
                report { try $0.clearPlan(nowMs: $1) }
            }
            return .notApplied(reason: "scanForPeripherals: \(failure)")
        }
    }

    /// Ends the schedule and stops the scanner (the app stopped scanning).
    public func clear() {
        withLock {
            plan = nil
            report { try $0.clearPlan(nowMs: $1) }
        }
    }

    /// The OS stopped the scan (Bluetooth powered off, not authorized): the core retries on
    /// its schedule.
    public func scanStoppedByOs() {
        withLock {
            running = nil
            report { try $0.scanStopped(nowMs: $1) }
        }
    }

    /// The radio became unavailable (Bluetooth powered off, resetting, not authorized) or
    /// available again: while unavailable the core keeps the scanner off and retries nothing;
    /// once available it starts the schedule again at once (within the quota).
    public func radioStateChanged(available: Bool) {
        withLock {
            if !available { running = nil }
            report { try $0.radioStateChanged(available: available, nowMs: $1) }
        }
    }

    /// An event for the core (from BluetoothMetrics): its samples go to `sink`, the scanner
    /// follows the answer. A refused event (an invalid id) is counted in `problems`.
    func report(_ event: (BleCoordinator, UInt64) throws -> BleUpdate) {
        withLock {
            do {
                follow(try event(coordinator, clock()))
            } catch {
                failures &+= 1
                lastFailure = "\(error)"
            }
        }
    }

    /// Stops following the schedule. Scanning is left on in the last mode applied (an off
    /// phase is ended), so the mesh keeps working after MeshTune stops.
    public func close() {
        withLock {
            guard !closed else { return }
            closed = true
            timer?.cancel()
            timer = nil
            guard case let .setScanMode(mode, _, _)? = plan, let radio, running == nil else { return }
            if (try? radio.startScan(mode: mode)) != nil {
                running = mode
                _ = try? coordinator.scanStarted(mode: mode, nowMs: clock())
            }
        }
    }

    private func follow(_ update: BleUpdate) {
        if let sink = sinkValue {
            for sample in update.samples { sink(sample) }
        }
        guard !closed else { return }
        timer?.cancel()
        timer = nil
        if let at = update.scan.nextStepAtMs {
            let now = clock()
            let delay = at > now ? UInt32(clamping: at - now) : 0
            timer = scheduler.schedule(afterMs: delay) { [weak self] in self?.timerFired() }
        }
        guard let radio, update.scan.mode != running else { return }
        let next: BleUpdate?
        if let mode = update.scan.mode {
            do {
                try radio.startScan(mode: mode)
                running = mode
                next = try? coordinator.scanStarted(mode: mode, nowMs: clock())
            } catch {
                running = nil
                startFailure = "\(error)"
                next = try? coordinator.scanStartFailed(reason: "\(error)", nowMs: clock())
            }
        } else {
            running = nil
            radio.stopScan()
            next = try? coordinator.scanStopped(nowMs: clock())
        }
        if let next { follow(next) }
    }

    private func timerFired() {
        withLock {
            guard !closed else { return }
            report { try $0.step(nowMs: $1) }
        }
    }

    private func withLock<R>(_ body: () -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body()
    }
}

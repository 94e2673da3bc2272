// The collectors' mapping from what iOS reports to MetricSamples, as pure functions of raw
// values (so they run, and are tested, where UIKit does not exist). DeviceCollectors feeds
// them from UIDevice, ProcessInfo and UIApplication.
import Foundation

/// iOS device signals → MetricSample.
public enum DeviceSampleMapping {
    /// `ProcessInfo.ThermalState` by raw value (0 nominal, 1 fair, 2 serious, 3 critical; the
    /// core's ThermalState matches it one to one). Nil for a value iOS does not define.
    public static func thermalState(rawValue: Int) -> ThermalState? {
        switch rawValue {
        case 0: return .nominal
        case 1: return .fair
        case 2: return .serious
        case 3: return .critical
        default: return nil
        }
    }

    /// A `.thermal` sample for a `ProcessInfo.ThermalState` raw value.
    public static func thermal(rawValue: Int) -> MetricSample? {
        thermalState(rawValue: rawValue).map { .thermal(state: $0) }
    }

    /// A `.battery` sample from `UIDevice.batteryLevel` (0...1, or -1 when unknown: monitoring
    /// off, or the simulator) and `UIDevice.BatteryState` by raw value (0 unknown, 1 unplugged,
    /// 2 charging, 3 full). `full` counts as charging: the charger is connected. Nil when either
    /// is unknown.
    public static func battery(level: Float, stateRawValue: Int) -> MetricSample? {
        let charging: Bool
        switch stateRawValue {
        case 1: charging = false
        case 2, 3: charging = true
        default: return nil
        }
        guard level.isFinite, level >= 0 else { return nil }
        // Float → Double adds binary noise (0.35 becomes 35.000001430511475): keep 0.01 %.
        let percent = (Double(level) * 10_000).rounded() / 100
        return .battery(levelPercent: Swift.min(percent, 100), charging: charging)
    }

    /// A `.powerSaveMode` sample from `ProcessInfo.isLowPowerModeEnabled`.
    public static func lowPowerMode(enabled: Bool) -> MetricSample {
        .powerSaveMode(enabled: enabled)
    }

    /// A `.memoryPressure` sample for `UIApplication.didReceiveMemoryWarningNotification`: the
    /// app may be terminated next, which the core treats as critical.
    public static func memoryWarning() -> MetricSample {
        .memoryPressure(level: .critical)
    }

    /// A `.heap` sample from the process's physical footprint (`task_vm_info.phys_footprint`)
    /// and `os_proc_available_memory()`: used is the footprint, the limit is footprint plus what
    /// is still available before iOS terminates the app. Nil when iOS gives no limit
    /// (`os_proc_available_memory` returns 0 outside an app, e.g. on the simulator).
    public static func heap(footprintBytes: UInt64, availableBytes: UInt64) -> MetricSample? {
        guard availableBytes > 0 else { return nil }
        let mib = 1_048_576.0
        let used = Double(footprintBytes) / mib
        let limit = (Double(footprintBytes) + Double(availableBytes)) / mib
        return .heap(usedMb: used, limitMb: limit)
    }

    /// An `.appState` sample from `UIApplication.State` by raw value (0 active, 1 inactive,
    /// 2 background). Inactive (a call overlay, the app switcher) is still foreground. Nil for
    /// an unknown value.
    public static func appState(applicationStateRawValue: Int) -> MetricSample? {
        switch applicationStateRawValue {
        case 0, 1: return .appState(foreground: true)
        case 2: return .appState(foreground: false)
        default: return nil
        }
    }
}

// iOS device collectors: battery, thermal state, Low Power Mode, memory warnings and
// footprint, app lifecycle → samples into a SampleSink (a MeshTuneSession). Apple-only; the
// mappings they use are DeviceSampleMapping (tested on Linux).
#if canImport(UIKit)
    import Foundation
    import UIKit
    import os

    /// Observes the device and the app and records what changes. Start it on the main thread
    /// after the session starts; stop it before (or when) the session stops.
    public final class DeviceCollectors {
        private let sink: SampleSink
        private let center: NotificationCenter
        private let heapIntervalSeconds: TimeInterval
        private var observers: [NSObjectProtocol] = []
        private var heapTimer: DispatchSourceTimer?
        private var enabledBatteryMonitoring = false

        /// `heapIntervalSeconds` is how often the memory footprint is sampled besides on memory
        /// warnings and lifecycle changes (0 disables the timer).
        public init(sink: SampleSink, heapIntervalSeconds: TimeInterval = 30, center: NotificationCenter = .default) {
            self.sink = sink
            self.center = center
            self.heapIntervalSeconds = heapIntervalSeconds
        }

        deinit {
            observers.forEach(center.removeObserver)
            heapTimer?.cancel()
        }

        /// Records the current state once, then every change. Idempotent.
        @MainActor
        public func start() {
            guard observers.isEmpty else { return }
            let device = UIDevice.current
            if !device.isBatteryMonitoringEnabled {
                device.isBatteryMonitoringEnabled = true
                enabledBatteryMonitoring = true
            }
            let main = OperationQueue.main
            let sink = self.sink
            func observe(_ name: Notification.Name, _ body: @escaping () -> Void) {
                observers.append(center.addObserver(forName: name, object: nil, queue: main) { _ in body() })
            }
            observe(UIDevice.batteryLevelDidChangeNotification) { Self.recordBattery(sink) }
            observe(UIDevice.batteryStateDidChangeNotification) { Self.recordBattery(sink) }
            observe(ProcessInfo.thermalStateDidChangeNotification) { Self.recordThermal(sink) }
            observe(Notification.Name.NSProcessInfoPowerStateDidChange) { Self.recordLowPowerMode(sink) }
            observe(UIApplication.didReceiveMemoryWarningNotification) {
                sink.record(DeviceSampleMapping.memoryWarning())
                Self.recordHeap(sink)
            }
            observe(UIApplication.didEnterBackgroundNotification) {
                sink.record(.appState(foreground: false))
                Self.recordHeap(sink)
            }
            observe(UIApplication.willEnterForegroundNotification) {
                sink.record(.appState(foreground: true))
                Self.recordHeap(sink)
            }

            Self.recordBattery(sink)
            Self.recordThermal(sink)
            Self.recordLowPowerMode(sink)
            if let state = DeviceSampleMapping.appState(applicationStateRawValue: UIApplication.shared.applicationState.rawValue) {
                sink.record(state)
            }
            Self.recordHeap(sink)

            if heapIntervalSeconds > 0 {
                let timer = DispatchSource.makeTimerSource(queue: .global(qos: .utility))
                timer.schedule(deadline: .now() + heapIntervalSeconds, repeating: heapIntervalSeconds)
                timer.setEventHandler { Self.recordHeap(sink) }
                timer.resume()
                heapTimer = timer
            }
        }

        /// Stops observing (and turns battery monitoring off again if `start` turned it on).
        @MainActor
        public func stop() {
            observers.forEach(center.removeObserver)
            observers.removeAll()
            heapTimer?.cancel()
            heapTimer = nil
            if enabledBatteryMonitoring {
                UIDevice.current.isBatteryMonitoringEnabled = false
                enabledBatteryMonitoring = false
            }
        }

        /// The current footprint as a `.heap` sample, nil where iOS gives no limit.
        public static func heapSample() -> MetricSample? {
            guard let footprint = physicalFootprintBytes() else { return nil }
            return DeviceSampleMapping.heap(footprintBytes: footprint, availableBytes: UInt64(os_proc_available_memory()))
        }

        /// `task_vm_info.phys_footprint`: the memory iOS counts against the app's limit.
        public static func physicalFootprintBytes() -> UInt64? {
            var info = task_vm_info_data_t()
            var count = mach_msg_type_number_t(MemoryLayout<task_vm_info_data_t>.size / MemoryLayout<natural_t>.size)
            let result = withUnsafeMutablePointer(to: &info) {
                $0.withMemoryRebound(to: integer_t.self, capacity: Int(count)) {
                    task_info(mach_task_self_, task_flavor_t(TASK_VM_INFO), $0, &count)
                }
            }
            return result == KERN_SUCCESS ? info.phys_footprint : nil
        }

        private static func recordBattery(_ sink: SampleSink) {
            let device = UIDevice.current
            if let sample = DeviceSampleMapping.battery(level: device.batteryLevel, stateRawValue: device.batteryState.rawValue) {
                sink.record(sample)
            }
        }

        private static func recordThermal(_ sink: SampleSink) {
            if let sample = DeviceSampleMapping.thermal(rawValue: ProcessInfo.processInfo.thermalState.rawValue) {
                sink.record(sample)
            }
        }

        private static func recordLowPowerMode(_ sink: SampleSink) {
            sink.record(DeviceSampleMapping.lowPowerMode(enabled: ProcessInfo.processInfo.isLowPowerModeEnabled))
        }

        private static func recordHeap(_ sink: SampleSink) {
            if let sample = heapSample() { sink.record(sample) }
        }
    }
#endif

// The CoreBluetooth action applier: enacts the radio actions (RadioPlanner's settings) with the
// app's CBCentralManager and CBPeripheralManager. Apple-only; the mapping, the core's scan
// schedule (ScanDriver) and the advertising duty cycles (DutyCycler) it relies on are tested on
// Linux. This file itself is not compiled on Linux (no CoreBluetooth there).
#if canImport(CoreBluetooth)
    import CoreBluetooth
    import Foundation

    /// Applies scan, advertising, connection latency and connection-limit actions.
    ///
    /// The app keeps its managers and their delegates, created on `queue`, and:
    /// - calls `startScanning()` / `startAdvertising()` instead of `scanForPeripherals` /
    ///   `startAdvertising` (the applier runs the duty cycles and the scan options);
    /// - forwards `managersDidUpdateState()`, `didConnect`, `didDisconnect`, `didReadRSSI`,
    ///   `centralDidSubscribe` / `centralDidUnsubscribe` from its delegates;
    /// - asks `mayConnect()` before `connect` (the connection limit).
    /// Radio actions need the manager in question powered on; otherwise they are refused with the
    /// manager's state as the reason, and the previous settings stay.
    public final class CoreBluetoothApplier: ActionApplier, @unchecked Sendable {
        /// The queue of the managers; everything here runs on it.
        public let queue: DispatchQueue
        private let central: CBCentralManager?
        private let peripheralManager: CBPeripheralManager?
        private let serviceUUIDs: [CBUUID]?
        private let advertisementData: [String: Any]
        private let planner: RadioPlanner
        private let queueKey = DispatchSpecificKey<UInt8>()
        private let clock: () -> UInt64
        private var settings: RadioSettings
        /// The core's scan schedule (and discovery rules); `nil` only if the core refused to build
        /// its coordinator, and then scan actions are not applied.
        public let scanDriver: ScanDriver?
        private var advertisingCycler: DutyCycler?
        private var wantsScanning = false
        private var wantsAdvertising = false
        private var centrals: [UUID: CBCentral] = [:]
        private var links: [UUID: (peripheral: CBPeripheral, peer: ConnectedPeer)] = [:]

        /// `serviceUUIDs` filter scanning (iOS requires them for background scans);
        /// `advertisementData` is what `startAdvertising` advertises. Settings start at the core's
        /// baseline unless `initial` says otherwise.
        public init(
            central: CBCentralManager?,
            peripheralManager: CBPeripheralManager?,
            queue: DispatchQueue,
            serviceUUIDs: [CBUUID]?,
            advertisementData: [String: Any] = [:],
            policy: AdvertisingPolicy = AdvertisingPolicy(),
            initial: RadioSettings? = nil
        ) {
            self.central = central
            self.peripheralManager = peripheralManager
            self.queue = queue
            self.serviceUUIDs = serviceUUIDs
            self.advertisementData = advertisementData
            self.planner = RadioPlanner(policy: policy)
            self.settings = initial ?? RadioSettings.baseline(policy: policy)
            self.clock = BluetoothMetrics.clockMs
            queue.setSpecific(key: queueKey, value: 1)
            let scheduler = DispatchRadioScheduler(queue: queue)
            scanDriver = try? ScanDriver(
                radio: CentralScanRadio(central: central, serviceUUIDs: serviceUUIDs),
                scheduler: scheduler
            )
            advertisingCycler = DutyCycler(
                scheduler: scheduler,
                turnOn: { [weak self] in self?.advertiseOn() },
                turnOff: { [weak self] in self?.advertiseOff() }
            )
        }

        /// The settings in force.
        public var currentSettings: RadioSettings {
            onQueue { settings }
        }

        // MARK: - ActionApplier

        public func apply(_ action: OptimizationAction) -> ApplyResult {
            onQueue {
                switch planner.plan(action, from: settings) {
                case let .refused(reason):
                    return .notApplied(reason: reason)
                case let .settings(next):
                    if let problem = readinessProblem(for: action.knob) {
                        return .notApplied(reason: problem)
                    }
                    if action.knob == .scanMode, wantsScanning {
                        guard let scanDriver else { return .notApplied(reason: "MeshTune's scan driver is unavailable") }
                        let result = scanDriver.apply(action)
                        guard result.isApplied else { return result }
                    }
                    let previous = settings
                    settings = next
                    enact(from: previous, to: next)
                    return .applied
                }
            }
        }

        // MARK: - What the app calls

        /// Starts scanning under the current scan plan (and keeps following later actions).
        public func startScanning() {
            onQueue {
                wantsScanning = true
                if isPoweredOn(central) { _ = scanDriver?.apply(settings.scan.action) }
            }
        }

        /// Stops scanning.
        public func stopScanning() {
            onQueue {
                wantsScanning = false
                scanDriver?.clear()
            }
        }

        /// Starts advertising `advertisementData` under the current advertising plan.
        public func startAdvertising() {
            onQueue {
                wantsAdvertising = true
                if isPoweredOn(peripheralManager) { advertisingCycler?.run(settings.advertising.schedule) }
            }
        }

        /// Stops advertising.
        public func stopAdvertising() {
            onQueue {
                wantsAdvertising = false
                advertisingCycler?.stop()
            }
        }

        /// Forward from `centralManagerDidUpdateState` and `peripheralManagerDidUpdateState`:
        /// resumes (or drops) scanning and advertising with the radio's state.
        public func managersDidUpdateState() {
            onQueue {
                if wantsScanning, isPoweredOn(central) {
                    // Bluetooth came (back) on: the core starts the schedule's on-phase now;
                    // a schedule never given (scanning asked for while off) is given now.
                    scanDriver?.radioStateChanged(available: true)
                    if scanDriver?.scanning == nil { _ = scanDriver?.apply(settings.scan.action) }
                } else if wantsScanning {
                    // Off, resetting or not authorized: the scanner is off, and the core
                    // retries nothing until the radio is back.
                    scanDriver?.radioStateChanged(available: false)
                } else {
                    scanDriver?.clear()
                }
                if wantsAdvertising, isPoweredOn(peripheralManager) {
                    if advertisingCycler?.schedule == nil { advertisingCycler?.run(settings.advertising.schedule) }
                } else {
                    advertisingCycler?.stop()
                }
            }
        }

        /// Whether one more outgoing connection fits under the connection limit.
        public func mayConnect() -> Bool {
            onQueue { ConnectionLimit.allowsNewConnection(current: links.count, max: settings.maxConnections) }
        }

        /// Forward from `centralManager(_:didConnect:)`.
        public func didConnect(_ peripheral: CBPeripheral) {
            onQueue {
                let peer = ConnectedPeer(id: peripheral.identifier.uuidString, rssiDbm: nil, connectedAtMs: clock())
                links[peripheral.identifier] = (peripheral, peer)
                enforceConnectionLimit()
            }
        }

        /// Forward from `centralManager(_:didDisconnectPeripheral:error:)` and
        /// `centralManager(_:didFailToConnect:error:)`.
        public func didDisconnect(_ peripheral: CBPeripheral) {
            onQueue { _ = links.removeValue(forKey: peripheral.identifier) }
        }

        /// Forward from `peripheral(_:didReadRSSI:error:)` (the limit drops the weakest links).
        public func didReadRSSI(_ peripheral: CBPeripheral, rssi: NSNumber) {
            onQueue {
                let value = rssi.intValue
                guard value != BluetoothMetrics.rssiUnavailable, (-127...20).contains(value) else { return }
                links[peripheral.identifier]?.peer.rssiDbm = Int32(value)
            }
        }

        /// Forward from `peripheralManager(_:central:didSubscribeTo:)`: the central gets the
        /// connection latency in force.
        public func centralDidSubscribe(_ central: CBCentral) {
            onQueue {
                centrals[central.identifier] = central
                peripheralManager?.setDesiredConnectionLatency(cbLatency(settings.connectionLatency), for: central)
            }
        }

        /// Forward from `peripheralManager(_:central:didUnsubscribeFrom:)`.
        public func centralDidUnsubscribe(_ central: CBCentral) {
            onQueue { _ = centrals.removeValue(forKey: central.identifier) }
        }

        // MARK: - Enacting

        private func enact(from old: RadioSettings, to new: RadioSettings) {
            if old.advertising.schedule != new.advertising.schedule, wantsAdvertising, isPoweredOn(peripheralManager) {
                advertisingCycler?.run(new.advertising.schedule)
            }
            if old.connectionLatency != new.connectionLatency, let peripheralManager {
                let latency = cbLatency(new.connectionLatency)
                for central in centrals.values {
                    peripheralManager.setDesiredConnectionLatency(latency, for: central)
                }
            }
            if new.maxConnections < old.maxConnections {
                enforceConnectionLimit()
            }
        }

        private func enforceConnectionLimit() {
            guard let central else { return }
            let excess = ConnectionLimit.excess(of: links.values.map(\.peer), max: settings.maxConnections)
            for id in excess {
                guard let uuid = UUID(uuidString: id), let link = links[uuid] else { continue }
                central.cancelPeripheralConnection(link.peripheral)
            }
        }

        private func readinessProblem(for knob: Knob) -> String? {
            switch knob {
            case .scanMode, .maxConnections:
                guard let central else { return "this app gave MeshTune no CBCentralManager" }
                return isPoweredOn(central) ? nil : "Bluetooth is \(describe(central.state))"
            case .advertising:
                guard let peripheralManager else { return "this app gave MeshTune no CBPeripheralManager" }
                return isPoweredOn(peripheralManager) ? nil : "Bluetooth is \(describe(peripheralManager.state))"
            case .connectionPriority:
                // iOS lets only the peripheral side ask for a connection latency.
                guard let peripheralManager else {
                    return "iOS sets connection latency only as a peripheral, and this app gave MeshTune no CBPeripheralManager"
                }
                return isPoweredOn(peripheralManager) ? nil : "Bluetooth is \(describe(peripheralManager.state))"
            default:
                return "\(knob) is not a radio setting"
            }
        }

        private func advertiseOn() {
            guard let peripheralManager, isPoweredOn(peripheralManager) else { return }
            if peripheralManager.isAdvertising { peripheralManager.stopAdvertising() }
            peripheralManager.startAdvertising(advertisementData.isEmpty ? nil : advertisementData)
        }

        private func advertiseOff() {
            guard let peripheralManager, isPoweredOn(peripheralManager) else { return }
            peripheralManager.stopAdvertising()
        }

        private func isPoweredOn(_ manager: CBManager?) -> Bool {
            manager?.state == .poweredOn
        }

        private func cbLatency(_ latency: ConnectionLatencyClass) -> CBPeripheralManagerConnectionLatency {
            CBPeripheralManagerConnectionLatency(rawValue: latency.rawValue) ?? .medium
        }

        private func describe(_ state: CBManagerState) -> String {
            switch state {
            case .poweredOn: return "powered on"
            case .poweredOff: return "powered off"
            case .unauthorized: return "not authorized for this app"
            case .unsupported: return "not supported on this device"
            case .resetting: return "resetting"
            case .unknown: return "in an unknown state"
            @unknown default: return "in state \(state.rawValue)"
            }
        }

        /// Runs `body` on `queue`: inline when already there (delegate callbacks), else waiting.
        private func onQueue<R>(_ body: () -> R) -> R {
            if DispatchQueue.getSpecific(key: queueKey) != nil { return body() }
            return queue.sync(execute: body)
        }
    }

    /// The app's CBCentralManager as the ScanDriver's radio (on the managers' queue).
    private final class CentralScanRadio: ScanRadio {
        private let central: CBCentralManager?
        private let serviceUUIDs: [CBUUID]?

        init(central: CBCentralManager?, serviceUUIDs: [CBUUID]?) {
            self.central = central
            self.serviceUUIDs = serviceUUIDs
        }

        func startScan(mode: ScanMode) throws {
            guard let central else { throw ScanRadioError("this app gave MeshTune no CBCentralManager") }
            guard central.state == .poweredOn else { throw ScanRadioError("Bluetooth is not powered on (state \(central.state.rawValue))") }
            central.scanForPeripherals(
                withServices: serviceUUIDs,
                options: [CBCentralManagerScanOptionAllowDuplicatesKey: ScanPlan.allowsDuplicates(mode)]
            )
        }

        func stopScan() {
            guard let central, central.state == .poweredOn else { return }
            central.stopScan()
        }
    }

    extension BluetoothMetrics {
        /// `peerSeen` for a peripheral from `centralManager(_:didDiscover:advertisementData:rssi:)`.
        public func peerSeen(_ peripheral: CBPeripheral) {
            peerSeen(peripheral.identifier.uuidString)
        }

        /// `connectionRequested` for `CBCentralManager.connect(peripheral)`.
        public func connectionRequested(_ peripheral: CBPeripheral) {
            connectionRequested(peripheral.identifier.uuidString)
        }

        /// `connected` for `centralManager(_:didConnect:)`.
        public func connected(_ peripheral: CBPeripheral) {
            connected(peripheral.identifier.uuidString)
        }

        /// `disconnected` for a disconnection or a failed connection.
        public func disconnected(_ peripheral: CBPeripheral) {
            disconnected(peripheral.identifier.uuidString)
        }

        /// `rssi` for `peripheral(_:didReadRSSI:error:)` or a discovery's RSSI.
        public func rssi(_ peripheral: CBPeripheral, _ rssi: NSNumber) -> MetricSample? {
            self.rssi(peripheral.identifier.uuidString, dbm: rssi.intValue)
        }

        /// The largest write without response the link takes now (`maximumWriteValueLength`),
        /// for `WriteBudget.messagesPerWrite`.
        public static func maxWriteBytes(_ peripheral: CBPeripheral) -> Int {
            peripheral.maximumWriteValueLength(for: .withoutResponse)
        }
    }
#endif

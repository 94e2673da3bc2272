//! The policies compared, and the settings (knob values) that a simulated app holds.
//!
//! Baselines decide from what an app can see, exactly as described on each variant; MeshTune
//! is the real [`meshtune::Engine`] with the default configuration (only the latency target
//! and the heap budget come from the scenario, as an app would configure them). Two reference
//! policies frame them: `radio-off` (the sanity floor) and `oracle-static` (the best fixed
//! configuration in hindsight, [`crate::oracle`]).

use meshtune::{
    AdvertiseMode, ConnectionPriority, Knob, MemoryPressureLevel, OptimizationAction, PerformanceMetrics, ScanMode,
    ThermalState, TxPower,
};

/// A policy that decides the knobs of every phone in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Policy {
    /// Reference: the mesh radio is off (no scanning, advertising or connections). Delivers
    /// nothing; every scoreboard must rank it last.
    RadioOff,
    /// Fixed baseline settings: balanced scanning 8 s on / 2 s off, balanced advertising,
    /// balanced connections, 8 connections, no batching.
    StaticBalanced,
    /// Fixed performance settings: continuous low-latency scanning, low-latency advertising
    /// at high power, high connection priority, 10 connections.
    StaticPerformance,
    /// Reference: the best fixed configuration in hindsight for the scenario, found by the
    /// search in [`crate::oracle`] (precomputed for the built-in scenarios).
    OracleStatic,
    /// The power-mode policy BLE mesh apps shipped in 2025 (BitChat's Android PowerManager):
    /// charging and foreground → performance; battery ≤ 10 % → ultra low power; ≤ 20 % →
    /// power saver; background and ≤ 50 % → power saver; otherwise balanced. Re-evaluated
    /// every 5 s; no latency feedback, no hysteresis.
    BatteryModes,
    /// BitChat Android's current policy (`PowerProfileResolver`, 2026): any background state →
    /// power saver (ultra low at ≤ 10 %), scanning 1 s on / 29 s off with direct peers and
    /// 1 s / 59 s without; charging → performance only in the foreground; ≤ 10 % → ultra low;
    /// ≤ 20 % → power saver; else balanced. Up to 8 connections in every mode, gated by the
    /// mode's RSSI floor. No hysteresis, no latency, thermal or memory input.
    BitChat2026,
    /// The ancestor's strategies taken literally, every 5 s on 60 s windows: a metric over its
    /// threshold switches its knobs, back under it switches them back. No hysteresis, no
    /// dwell time, no verification.
    Threshold,
    /// MeshTune's engine with the default configuration.
    MeshTune,
}

impl Policy {
    /// Every policy, in the order of the table.
    pub const ALL: [Policy; 8] = [
        Policy::RadioOff,
        Policy::StaticBalanced,
        Policy::StaticPerformance,
        Policy::OracleStatic,
        Policy::BatteryModes,
        Policy::BitChat2026,
        Policy::Threshold,
        Policy::MeshTune,
    ];

    /// The baselines MeshTune is judged against (what apps ship or could ship without it).
    pub const BASELINES: [Policy; 5] = [
        Policy::StaticBalanced,
        Policy::StaticPerformance,
        Policy::BatteryModes,
        Policy::BitChat2026,
        Policy::Threshold,
    ];

    /// Whether this is a reference policy (a floor or a bound, not something an app ships).
    pub fn is_reference(self) -> bool {
        matches!(self, Policy::RadioOff | Policy::OracleStatic)
    }

    /// The policy's name on the command line and in the report.
    pub fn name(self) -> &'static str {
        match self {
            Policy::RadioOff => "radio-off",
            Policy::OracleStatic => "oracle-static",
            Policy::BitChat2026 => "bitchat-2026",
            Policy::StaticBalanced => "static-balanced",
            Policy::StaticPerformance => "static-performance",
            Policy::BatteryModes => "battery-modes",
            Policy::Threshold => "threshold",
            Policy::MeshTune => "meshtune",
        }
    }

    /// A policy by name.
    pub fn from_name(name: &str) -> Option<Policy> {
        Policy::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// The knob values an app holds: what the radio and the work queue are doing now.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The value of every knob, as the action that set it (indexed by [`Knob::index`]).
    pub profile: Vec<OptimizationAction>,
    /// The mesh radio is on (only `radio-off` turns it off).
    pub radio_on: bool,
    /// Weakest link the app connects over, dBm (BitChat's per-mode RSSI gate; None: any link).
    pub connect_min_rssi_dbm: Option<f32>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            profile: Knob::ALL.iter().map(|k| OptimizationAction::baseline(*k)).collect(),
            radio_on: true,
            connect_min_rssi_dbm: None,
        }
    }
}

impl Settings {
    /// Sets a knob; returns whether its value changed (a garbage collection request is a
    /// one-shot and never counts as a change).
    pub fn apply(&mut self, action: &OptimizationAction) -> bool {
        if action.is_one_shot() {
            return false;
        }
        let slot = &mut self.profile[action.knob().index()];
        if slot == action {
            return false;
        }
        *slot = action.clone();
        true
    }

    /// Scan mode and duty cycle (on ms, off ms).
    pub fn scan(&self) -> (ScanMode, u32, u32) {
        match self.profile[Knob::ScanMode.index()] {
            OptimizationAction::SetScanMode { mode, duty_on_ms, duty_off_ms } => (mode, duty_on_ms, duty_off_ms),
            _ => (ScanMode::Balanced, 8_000, 2_000),
        }
    }

    /// Advertising mode and power.
    pub fn advertising(&self) -> (AdvertiseMode, TxPower) {
        match self.profile[Knob::Advertising.index()] {
            OptimizationAction::SetAdvertising { mode, tx_power } => (mode, tx_power),
            _ => (AdvertiseMode::Balanced, TxPower::Medium),
        }
    }

    /// Connection priority.
    pub fn priority(&self) -> ConnectionPriority {
        match self.profile[Knob::ConnectionPriority.index()] {
            OptimizationAction::SetConnectionPriority { priority } => priority,
            _ => ConnectionPriority::Balanced,
        }
    }

    /// Maximum connections.
    pub fn max_connections(&self) -> usize {
        match self.profile[Knob::MaxConnections.index()] {
            OptimizationAction::SetMaxConnections { max } => max as usize,
            _ => 8,
        }
    }

    /// Batching: (max messages per transfer, max hold ms); (1, 0) when off.
    pub fn batching(&self) -> (u32, u32) {
        match self.profile[Knob::MessageBatching.index()] {
            OptimizationAction::SetMessageBatching { enabled: true, max_batch, max_delay_ms } => {
                (max_batch.max(1), max_delay_ms)
            }
            _ => (1, 0),
        }
    }

    /// Compression threshold in bytes, if compression is on.
    pub fn compression(&self) -> Option<u32> {
        match self.profile[Knob::Compression.index()] {
            OptimizationAction::SetCompression { enabled: true, min_size_bytes } => Some(min_size_bytes),
            _ => None,
        }
    }

    /// Relay policy: (hop limit, weakest link in dBm).
    pub fn relay(&self) -> (u32, i32) {
        match self.profile[Knob::RelayPolicy.index()] {
            OptimizationAction::SetRelayPolicy { max_hops, min_rssi_dbm } => (max_hops, min_rssi_dbm),
            _ => (7, -127),
        }
    }

    /// Cache trim, percent.
    pub fn trim_percent(&self) -> u32 {
        match self.profile[Knob::CacheTrim.index()] {
            OptimizationAction::TrimCaches { percent } => percent,
            _ => 0,
        }
    }

    /// Consensus batch size, parallel validation, vote cache.
    pub fn consensus(&self) -> (u32, bool, bool) {
        let size = match self.profile[Knob::ConsensusBatchSize.index()] {
            OptimizationAction::SetConsensusBatchSize { size } => size.max(1),
            _ => 8,
        };
        let par = matches!(
            self.profile[Knob::ParallelValidation.index()],
            OptimizationAction::SetParallelValidation { enabled: true }
        );
        let cache = matches!(self.profile[Knob::VoteCache.index()], OptimizationAction::SetVoteCache { enabled: true });
        (size, par, cache)
    }
}

/// The radio settings of a power mode of the `battery-modes` policy (and of the static ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RadioMode {
    /// Continuous low-latency scanning, low-latency advertising at high power.
    Performance,
    /// Scan 8 s on / 2 s off, balanced advertising, 8 connections.
    Balanced,
    /// Scan 2 s on / 28 s off, low-power advertising, 8 connections.
    PowerSaver,
    /// Scan 1 s on / 29 s off, ultra-low advertising power, 4 connections.
    UltraLow,
}

impl RadioMode {
    /// The actions that put a phone in this mode. The duty cycles and connection caps are the
    /// ones the issue quotes from BitChat's PowerManager (performance keeps 8 connections);
    /// the connection priority is left balanced, which BitChat does not change per mode.
    pub fn actions(self) -> Vec<OptimizationAction> {
        use OptimizationAction as A;
        let (scan, on, off, adv, tx, max) = match self {
            RadioMode::Performance => (ScanMode::LowLatency, 10_000, 0, AdvertiseMode::LowLatency, TxPower::High, 8),
            RadioMode::Balanced => (ScanMode::Balanced, 8_000, 2_000, AdvertiseMode::Balanced, TxPower::Medium, 8),
            RadioMode::PowerSaver => (ScanMode::LowPower, 2_000, 28_000, AdvertiseMode::LowPower, TxPower::Low, 8),
            RadioMode::UltraLow => (ScanMode::LowPower, 1_000, 29_000, AdvertiseMode::LowPower, TxPower::UltraLow, 4),
        };
        vec![
            A::SetScanMode { mode: scan, duty_on_ms: on, duty_off_ms: off },
            A::SetAdvertising { mode: adv, tx_power: tx },
            A::SetMaxConnections { max },
        ]
    }
}

/// What an app can see of its own phone (the inputs of `battery-modes`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeviceView {
    /// Battery level, percent.
    pub battery_percent: f64,
    /// On a charger.
    pub charging: bool,
    /// App in the foreground.
    pub foreground: bool,
}

/// `battery-modes`: the mode for the device state, without hysteresis.
pub fn battery_mode(d: DeviceView) -> RadioMode {
    if d.charging && d.foreground {
        RadioMode::Performance
    } else if !d.charging && d.battery_percent <= 10.0 {
        RadioMode::UltraLow
    } else if !d.charging && (d.battery_percent <= 20.0 || (!d.foreground && d.battery_percent <= 50.0)) {
        // <= 20 %, or in the background at <= 50 %.
        RadioMode::PowerSaver
    } else {
        RadioMode::Balanced
    }
}

/// A mode of BitChat Android's current policy, with its scan timing, connection cap and RSSI
/// gate (`PowerProfileResolver` and `PowerManager`, 2026).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitChatMode {
    /// Foreground on a charger: continuous scanning.
    Performance,
    /// Scan 8 s on / 2 s off.
    Balanced,
    /// Scan 2 s on / 28 s off.
    PowerSaver,
    /// Scan 1 s on / 29 s off.
    UltraLow,
    /// Any background state above 10 %: power saver with 1 s on / 29 s off when the phone
    /// has direct peers, 1 s / 59 s without.
    Background,
}

/// What `bitchat-2026` reads: the device view and whether any peer is connected.
pub fn bitchat_2026_mode(d: DeviceView) -> BitChatMode {
    let b = d.battery_percent;
    if !d.foreground {
        if !d.charging && b <= 10.0 {
            BitChatMode::UltraLow
        } else {
            BitChatMode::Background
        }
    } else if d.charging {
        BitChatMode::Performance
    } else if b <= 10.0 {
        BitChatMode::UltraLow
    } else if b <= 20.0 {
        BitChatMode::PowerSaver
    } else {
        BitChatMode::Balanced
    }
}

impl BitChatMode {
    /// The actions of the mode (advertising as the 2025 modes had it) and its RSSI gate, dBm.
    pub fn settings(self, has_direct_peers: bool) -> (Vec<OptimizationAction>, f32) {
        use OptimizationAction as A;
        let (radio, on, off, gate) = match self {
            BitChatMode::Performance => (RadioMode::Performance, 10_000, 0, -95.0),
            BitChatMode::Balanced => (RadioMode::Balanced, 8_000, 2_000, -85.0),
            BitChatMode::PowerSaver => (RadioMode::PowerSaver, 2_000, 28_000, -75.0),
            BitChatMode::UltraLow => (RadioMode::UltraLow, 1_000, 29_000, -65.0),
            BitChatMode::Background if has_direct_peers => (RadioMode::PowerSaver, 1_000, 29_000, -75.0),
            BitChatMode::Background => (RadioMode::PowerSaver, 1_000, 59_000, -75.0),
        };
        let mut actions = radio.actions();
        for a in &mut actions {
            match a {
                A::SetScanMode { duty_on_ms, duty_off_ms, .. } => {
                    *duty_on_ms = on;
                    *duty_off_ms = off;
                }
                A::SetMaxConnections { max } => *max = 8,
                _ => {}
            }
        }
        (actions, gate)
    }
}

/// `static-performance`'s settings.
pub fn static_performance() -> Vec<OptimizationAction> {
    let mut v = RadioMode::Performance.actions();
    v.push(OptimizationAction::SetMaxConnections { max: 10 });
    v.push(OptimizationAction::SetConnectionPriority { priority: ConnectionPriority::High });
    v
}

/// `threshold`: the ancestor's four strategies in its order (network, power, memory,
/// consensus; a later one overrides an earlier one on a shared knob), each a plain threshold on
/// the 60 s window: over → its settings, under → the baseline values of its knobs.
pub fn threshold_actions(
    m: &PerformanceMetrics,
    slo_p95_ms: f64,
    ops_target: f64,
    heap_limit_mb: f64,
) -> Vec<OptimizationAction> {
    use OptimizationAction as A;
    let mut out: Vec<OptimizationAction> = Vec::new();
    let mut set = |a: OptimizationAction| {
        out.retain(|x| x.knob() != a.knob());
        out.push(a);
    };
    // Network: p95 over the SLO → batching, compression, more connections, fast radio.
    let slow = m.network_latency.is_some_and(|l| l.p95_ms > slo_p95_ms);
    if slow {
        set(A::SetMessageBatching { enabled: true, max_batch: 8, max_delay_ms: 20 });
        set(A::SetCompression { enabled: true, min_size_bytes: 256 });
        set(A::SetMaxConnections { max: 12 });
        set(A::SetConnectionPriority { priority: ConnectionPriority::High });
        set(A::SetScanMode { mode: ScanMode::LowLatency, duty_on_ms: 10_000, duty_off_ms: 0 });
    } else {
        for k in
            [Knob::MessageBatching, Knob::Compression, Knob::MaxConnections, Knob::ConnectionPriority, Knob::ScanMode]
        {
            set(OptimizationAction::baseline(k));
        }
    }
    // Power: battery under 20 % unplugged, or thermal Serious and above → power saver radio.
    let d = &m.device;
    let low = d.charging == Some(false) && d.battery_percent.is_some_and(|b| b < 20.0);
    let hot = matches!(d.thermal, ThermalState::Serious | ThermalState::Critical);
    if low || hot {
        for a in RadioMode::PowerSaver.actions() {
            set(a);
        }
        set(A::SetConnectionPriority { priority: ConnectionPriority::LowPower });
    } else {
        set(OptimizationAction::baseline(Knob::Advertising));
    }
    // Memory: heap over 80 % of its limit, or any pressure signal → trim half the caches.
    let heap_high = m.memory_usage.heap_used_mb.is_some_and(|h| h > 0.8 * heap_limit_mb);
    let pressure = m.memory_usage.pressure != MemoryPressureLevel::Normal;
    if heap_high || pressure {
        set(A::TrimCaches { percent: 50 });
    } else {
        set(A::TrimCaches { percent: 0 });
    }
    // Consensus: throughput under target (with rounds seen) → big batches, parallel, cache.
    let cp = &m.consensus_performance;
    if cp.rounds > 0 {
        if cp.ops_per_sec < ops_target {
            set(A::SetConsensusBatchSize { size: 32 });
            set(A::SetParallelValidation { enabled: true });
            set(A::SetVoteCache { enabled: true });
        } else {
            for k in [Knob::ConsensusBatchSize, Knob::ParallelValidation, Knob::VoteCache] {
                set(OptimizationAction::baseline(k));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn battery_modes_follow_the_published_table() {
        let d = |battery_percent, charging, foreground| DeviceView { battery_percent, charging, foreground };
        assert_eq!(battery_mode(d(80.0, true, true)), RadioMode::Performance);
        assert_eq!(battery_mode(d(8.0, false, true)), RadioMode::UltraLow);
        assert_eq!(battery_mode(d(15.0, false, true)), RadioMode::PowerSaver);
        assert_eq!(battery_mode(d(45.0, false, false)), RadioMode::PowerSaver);
        assert_eq!(battery_mode(d(45.0, false, true)), RadioMode::Balanced);
        assert_eq!(battery_mode(d(60.0, false, false)), RadioMode::Balanced);
    }

    #[test]
    fn bitchat_2026_follows_its_resolver() {
        let d = |battery_percent, charging, foreground| DeviceView { battery_percent, charging, foreground };
        // Background first: charging does not buy performance there.
        assert_eq!(bitchat_2026_mode(d(80.0, true, false)), BitChatMode::Background);
        assert_eq!(bitchat_2026_mode(d(8.0, false, false)), BitChatMode::UltraLow);
        assert_eq!(bitchat_2026_mode(d(80.0, true, true)), BitChatMode::Performance);
        assert_eq!(bitchat_2026_mode(d(8.0, false, true)), BitChatMode::UltraLow);
        assert_eq!(bitchat_2026_mode(d(15.0, false, true)), BitChatMode::PowerSaver);
        assert_eq!(bitchat_2026_mode(d(45.0, false, true)), BitChatMode::Balanced);
        let scan = |m: BitChatMode, peers| {
            let (actions, gate) = m.settings(peers);
            let s = actions.iter().find_map(|a| match a {
                OptimizationAction::SetScanMode { duty_on_ms, duty_off_ms, .. } => Some((*duty_on_ms, *duty_off_ms)),
                _ => None,
            });
            (s, gate)
        };
        assert_eq!(scan(BitChatMode::Background, true), (Some((1_000, 29_000)), -75.0));
        assert_eq!(scan(BitChatMode::Background, false), (Some((1_000, 59_000)), -75.0));
        assert_eq!(scan(BitChatMode::Balanced, false), (Some((8_000, 2_000)), -85.0));
        for m in [BitChatMode::Performance, BitChatMode::UltraLow, BitChatMode::Background] {
            assert!(m.settings(false).0.contains(&OptimizationAction::SetMaxConnections { max: 8 }), "{m:?}");
        }
    }

    #[test]
    fn settings_count_only_real_changes() {
        let mut s = Settings::default();
        assert!(!s.apply(&OptimizationAction::baseline(Knob::ScanMode)));
        assert!(!s.apply(&OptimizationAction::RequestGarbageCollection));
        assert!(s.apply(&OptimizationAction::SetMaxConnections { max: 3 }));
        assert_eq!(s.max_connections(), 3);
        for name in Policy::ALL.map(Policy::name) {
            assert_eq!(Policy::from_name(name).map(Policy::name), Some(name));
        }
    }
}

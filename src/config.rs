#![forbid(unsafe_code)]
//! `OptimizerConfig`: every threshold the engine uses, with documented defaults.
//!
//! The record is declared once, through `optimizer_config!`, which also generates its
//! `Default`, the JSON reader and writer, and the list of keys, so the four can never disagree.
//! JSON keys are the field names; a key that is missing keeps its default.
//!
//! ```
//! use meshtune::OptimizerConfig;
//! let c = OptimizerConfig::from_json(r#"{"target_p95_latency_ms": 80, "window_ms": 30000}"#).unwrap();
//! assert_eq!(c.target_p95_latency_ms, 80.0);
//! assert_eq!(c.max_heap_mb, 512.0); // untouched default
//! let err = OptimizerConfig::from_json(r#"{"battery_low_percent": 5}"#).unwrap_err();
//! assert!(err.to_string().contains("battery_low_percent"));
//! ```

use crate::OptimizerError;

/// Largest JSON document `from_json` reads (remote config is small; this bounds parsing work).
pub const MAX_CONFIG_JSON_BYTES: usize = 64 * 1024;

/// The longest duration any `*_ms` setting may take: one week (keeps all clock arithmetic far
/// from overflow).
pub const MAX_DURATION_MS: u64 = 7 * 24 * 3_600_000;

macro_rules! optimizer_config {
    ($( $(#[doc = $doc:literal])* $name:ident : $ty:ty = $default:tt ),* $(,)?) => {
        /// Thresholds and stability parameters of the optimizer. Every field has a default
        /// (`Default` in Rust, default arguments in Kotlin and Swift).
        #[derive(Debug, Clone, PartialEq, uniffi::Record)]
        pub struct OptimizerConfig {
            $( $(#[doc = $doc])* #[uniffi(default = $default)] pub $name: $ty, )*
        }

        impl Default for OptimizerConfig {
            fn default() -> Self {
                OptimizerConfig { $( $name: $default, )* }
            }
        }

        impl OptimizerConfig {
            /// Every configuration key, in declaration order.
            pub const KEYS: &'static [&'static str] = &[$(stringify!($name)),*];

            fn set_json_field(&mut self, key: &str, value: serde_json::Value) -> Result<(), OptimizerError> {
                match key {
                    $( stringify!($name) => {
                        self.$name = serde_json::from_value(value)
                            .map_err(|e| OptimizerError::config(key, format!("expected {}: {e}", stringify!($ty))))?;
                    } )*
                    _ => return Err(OptimizerError::config(key, "unknown key")),
                }
                Ok(())
            }

            /// The configuration as a JSON object with every key (a round trip through
            /// `from_json` gives the same configuration back).
            pub fn to_json(&self) -> String {
                let mut map = serde_json::Map::new();
                $( map.insert(stringify!($name).to_owned(), serde_json::json!(self.$name)); )*
                serde_json::Value::Object(map).to_string()
            }
        }
    };
}

optimizer_config! {
    /// Network SLO, the deadline: a message is on time when it arrives within this many ms
    /// (a lost one never is). The network repair keeps the share of messages on time at
    /// `target_on_time_ratio`; with the default 0.95 this is the p95 latency, counting lost
    /// messages as infinitely late. Default 100.
    target_p95_latency_ms: f64 = 100.0,
    /// Network SLO: the share of messages (delivered and lost) that must arrive within
    /// `target_p95_latency_ms`. Judged with a 95 % interval, never on a point estimate.
    /// Default 0.95.
    target_on_time_ratio: f64 = 0.95,
    /// Battery capacity of the phone, mAh: turns the measured battery drain into the phone's
    /// current, against which the mesh's share of the heat is judged (phones have about
    /// 3 300–5 000 mAh). Default 4 000.
    battery_capacity_mah: f64 = 4_000.0,
    /// At thermal Serious and Critical, radio work is shed only when it is a material part of
    /// the heat: when shedding it (to the power saver at Serious, ultra low at Critical) would
    /// save at least this share of the phone's measured current (by the cost table of
    /// `strategy::costs`), judged on the profile that ran before any shed. With the phone's
    /// current unknown it is shed. Default 0.1.
    thermal_material_share: f64 = 0.1,
    /// The cost table of the network repair's moves (`strategy::costs`): the extra mean current
    /// each adds to a phone in the baseline profile, mA. The defaults are estimates from public
    /// radio figures; a team that measured its phone sets its own. Compression of large
    /// messages: default 0.01.
    repair_cost_compression_ma: f64 = 0.01,
    /// Fast advertising (low latency at high power): default 0.1.
    repair_cost_fast_advertising_ma: f64 = 0.1,
    /// More connections (`network_max_connections`): default 0.5.
    repair_cost_more_connections_ma: f64 = 0.5,
    /// High connection priority: default 1.1.
    repair_cost_high_priority_ma: f64 = 1.1,
    /// Continuous low-latency scanning: default 10 (also the scan figure of the thermal
    /// judgement's estimate of the radio's current).
    repair_cost_continuous_scan_ma: f64 = 10.0,
    /// Thermal hysteresis: after the OS thermal state falls below Serious (or Critical), the
    /// power strategy keeps the hotter band's mode this long, so a state that flickers at a
    /// band's edge moves the knobs once. Default 120 000.
    thermal_exit_hold_ms: u64 = 120_000,
    /// p95 time to discover a peer that came into range, in ms. The latency repair buys
    /// continuous low-latency scanning only while discovery is slower than this. Default 10 000.
    target_discovery_p95_ms: f64 = 10_000.0,
    /// Without a power constraint, the scan and advertising setting is the cheapest one the
    /// discovery planner (`discovery::plan_discovery`, docs/discovery.md) predicts to find a
    /// peer in range within `target_discovery_p95_ms` at p95, for the peers seen around; off:
    /// the fixed balanced setting (scan balanced 8 s on / 2 s off, balanced advertising).
    /// Default true.
    discovery_planner: bool = true,
    /// The OS lowers this app's scans to `LOW_POWER` while it is in the background (Android,
    /// for an app without a foreground service: `ScanManager` caps a background app's scan
    /// mode, without telling it). Then, in the background, the engine's estimates of the
    /// radio's current (the thermal judgement) use the mode the OS runs, and the snapshot
    /// reports it (`os_scan_mode`); what the engine asks for, and believes the app applied, is
    /// unchanged. Default false: mesh apps scan from a foreground service, which the cap spares.
    os_caps_background_scans: bool = false,
    /// Heap budget of the app, in MB. Memory acts above `heap_pressure_ratio` of it. Default 512.
    max_heap_mb: f64 = 512.0,
    /// Consensus SLO: operations finalized per second. Default 100.
    target_consensus_ops_per_sec: f64 = 100.0,
    /// Consensus SLO: p95 finalization time, in ms. Default 500.
    max_finalization_ms: f64 = 500.0,
    /// Topology SLO: mean hop count of delivered messages. Default 3.0.
    max_avg_hop_count: f64 = 3.0,
    /// Battery level (unplugged) at or below which the power strategy saves power. Default 20.
    battery_low_percent: f64 = 20.0,
    /// Battery level (unplugged) at or below which power saving becomes a safety constraint
    /// that beats latency repair. Default 10.
    battery_critical_percent: f64 = 10.0,
    /// A battery state is left only this many points above its threshold. Default 5.
    battery_hysteresis_percent: f64 = 5.0,
    /// In the background, at or below this battery level the power strategy saves power
    /// (the policy BLE mesh apps ship today): the saver's TX power, connection priority and
    /// cap, with the discovery planner's scan and advertising (savings never break the
    /// discovery target). Default 50.
    background_saver_battery_percent: f64 = 50.0,
    /// Share of `max_heap_mb` above which the memory strategy acts. Default 0.8.
    heap_pressure_ratio: f64 = 0.8,
    /// Exit threshold = enter threshold × this ratio (for "above" thresholds; divided for
    /// "below" thresholds), so that noise around a threshold does not flap a knob. Default 0.8.
    hysteresis_ratio: f64 = 0.8,
    /// A platform memory-pressure signal (onTrimMemory, memory warning) holds this long unless
    /// renewed or cleared by a `Normal` sample; platforms do not announce the end of pressure.
    /// Default 60 000.
    memory_pressure_hold_ms: u64 = 60_000,
    /// Length of the sliding statistics window, in ms. Default 60 000.
    window_ms: u64 = 60_000,
    /// Shortest tick interval (used while a change is made, acknowledged, measured or held
    /// back). Default 1 000.
    min_tick_interval_ms: u64 = 1_000,
    /// Longest tick interval (reached after a quiet period, by doubling). Default 60 000: an
    /// idle optimizer wakes once a minute. Late samples (`LateWatch`) and samples that raise
    /// the thermal, memory or battery state (`UrgentSamples`) make it tick at once (at most
    /// every `min_tick_interval_ms`), whatever the interval has grown to; other breaches are
    /// seen at the next tick.
    max_tick_interval_ms: u64 = 60_000,
    /// Samples a statistic needs in its window before a strategy may act on it, and that a
    /// verification needs before and after. Default 5.
    min_samples: u32 = 5,
    /// A knob keeps a value at least this long before a non-safety change. Default 30 000.
    min_dwell_ms: u64 = 30_000,
    /// Cap on non-safety actions in any 60 s. Default 6.
    max_actions_per_minute: u32 = 6,
    /// An SLO repair (latency, hop count) stays on at least this long after its metric last
    /// breached, so that releasing it does not immediately cause the next breach. Default
    /// 120 000.
    repair_hold_ms: u64 = 120_000,
    /// When a breach returns within `repair_relapse_window_ms` of a release, the next hold
    /// doubles, up to this. Default 3 600 000.
    repair_hold_max_ms: u64 = 3_600_000,
    /// A breach this soon after a release counts as a relapse. Default 600 000.
    repair_relapse_window_ms: u64 = 600_000,
    /// How long an acknowledged action's metric is watched at least before its outcome (an
    /// on-time ratio is then watched until it has the samples its comparison needs, at most
    /// `verification_max_ms`). Default 30 000.
    verification_window_ms: u64 = 30_000,
    /// The resolution of the battery level the platform reports, percent: Android's
    /// `BatteryManager.EXTRA_LEVEL` is whole percent (1). A battery drain measured over a span is
    /// uncertain by ± one step over that span, and power actions are judged on those bounds
    /// (`judge_drain`). 0 for a level reported exactly. Default 1.
    battery_level_step_percent: f64 = 1.0,
    /// Verification window for power actions (battery drain needs longer). Default 600 000.
    power_verification_window_ms: u64 = 600_000,
    /// Longest measurement of an on-time ratio: when the samples its comparison needs have not
    /// come by then, it is judged once on what came (often `Inconclusive`). Default 600 000.
    verification_max_ms: u64 = 600_000,
    /// A metric worse by more than this percentage after an action reverts it. Default 10.
    revert_tolerance_percent: f64 = 10.0,
    /// First back-off after a revert or a refusal; doubles on each repeat. Default 120 000.
    backoff_base_ms: u64 = 120_000,
    /// Longest back-off. Default 3 600 000.
    backoff_max_ms: u64 = 3_600_000,
    /// An action not acknowledged within this time is given up (outcome `Unacknowledged`).
    /// Default 10 000.
    ack_timeout_ms: u64 = 10_000,
    /// Smallest consensus batch the consensus strategy sets. Default 1.
    consensus_batch_min: u32 = 1,
    /// Largest consensus batch the consensus strategy sets (at most 256). Default 64.
    consensus_batch_max: u32 = 64,
    /// Additive increase of the consensus batch per step. Default 4.
    consensus_batch_step: u32 = 4,
    /// Relay hop limit set when mean hops exceed `max_avg_hop_count`. Default 4.
    relay_max_hops: u32 = 4,
    /// Weakest link, as dBm below zero (85 means -85 dBm), over which relays forward when
    /// topology repair is on. Default 85.
    relay_min_rssi_below_zero_dbm: u32 = 85,
    /// Maximum connections during latency repair. Default 12.
    network_max_connections: u32 = 12,
    /// Messages per batch during latency repair. Default 8.
    batch_max_messages: u32 = 8,
    /// Longest hold of a batch during latency repair, in ms. The hold is paid again at every
    /// relay: at 20 ms, four hops spent most of a 100 ms p95 budget waiting for batches to fill
    /// (the simulator's game-night SLO went from 74 % to 90 % at 5 ms, seeds 1 to 4), while
    /// a flood's copies, which arrive at a relay together, still share packets. Default 5.
    batch_max_delay_ms: u32 = 5,
    /// Smallest message compressed during latency repair, in bytes. Default 256.
    compression_min_size_bytes: u32 = 256,
    /// Cache trim under moderate pressure or heap above the pressure ratio. Default 25.
    trim_moderate_percent: u32 = 25,
    /// Cache trim under critical pressure or heap above budget. Default 50.
    trim_critical_percent: u32 = 50,
    /// Shortest time between two garbage collection requests. Default 60 000.
    gc_min_interval_ms: u64 = 60_000,
    /// Runtime: samples buffered between ticks before `record` reports `Overloaded`.
    /// The loop drains it early when it is half full. Default 16 384.
    sample_queue_capacity: u32 = 16_384,
    /// Runtime: events buffered for the listener before new ones are dropped and counted.
    /// Default 1 024.
    event_queue_capacity: u32 = 1_024,
    /// Runtime: sample this process's CPU and resident memory at each tick. Default true.
    sample_process: bool = true,
    /// Runtime: how long `stop` waits for a listener call in progress. Default 2 000.
    stop_timeout_ms: u64 = 2_000,
}

impl OptimizerConfig {
    /// Reads a configuration from a JSON object (for remote config). Missing keys keep their
    /// defaults; unknown keys, wrong types and invalid values are errors naming the key.
    pub fn from_json(json: &str) -> Result<OptimizerConfig, OptimizerError> {
        if json.len() > MAX_CONFIG_JSON_BYTES {
            return Err(OptimizerError::config(
                "(document)",
                format!("{} bytes is over the limit of {MAX_CONFIG_JSON_BYTES}", json.len()),
            ));
        }
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|e| OptimizerError::config("(document)", e.to_string()))?;
        let serde_json::Value::Object(map) = value else {
            return Err(OptimizerError::config("(document)", "expected a JSON object"));
        };
        let mut config = OptimizerConfig::default();
        for (key, value) in map {
            config.set_json_field(&key, value)?;
        }
        config.validate()?;
        Ok(config)
    }

    /// The minimum RSSI for relays in dBm (negative), from `relay_min_rssi_below_zero_dbm`.
    pub fn relay_min_rssi_dbm(&self) -> i32 {
        -(self.relay_min_rssi_below_zero_dbm.min(127) as i32)
    }

    /// Checks every field; the first error names the field.
    pub fn validate(&self) -> Result<(), OptimizerError> {
        positive("target_p95_latency_ms", self.target_p95_latency_ms)?;
        ratio("target_on_time_ratio", self.target_on_time_ratio)?;
        ratio("thermal_material_share", self.thermal_material_share)?;
        let step = self.battery_level_step_percent;
        if !step.is_finite() || !(0.0..=10.0).contains(&step) {
            return Err(OptimizerError::config("battery_level_step_percent", format!("{step} is outside 0..=10")));
        }
        for (field, v) in [
            ("repair_cost_compression_ma", self.repair_cost_compression_ma),
            ("repair_cost_fast_advertising_ma", self.repair_cost_fast_advertising_ma),
            ("repair_cost_more_connections_ma", self.repair_cost_more_connections_ma),
            ("repair_cost_high_priority_ma", self.repair_cost_high_priority_ma),
            ("repair_cost_continuous_scan_ma", self.repair_cost_continuous_scan_ma),
        ] {
            if !v.is_finite() || !(0.0..=1_000.0).contains(&v) {
                return Err(OptimizerError::config(field, format!("{v} mA is outside 0..=1000")));
            }
        }
        positive("battery_capacity_mah", self.battery_capacity_mah)?;
        duration("thermal_exit_hold_ms", self.thermal_exit_hold_ms, 0)?;
        positive("target_discovery_p95_ms", self.target_discovery_p95_ms)?;
        positive("max_heap_mb", self.max_heap_mb)?;
        positive("target_consensus_ops_per_sec", self.target_consensus_ops_per_sec)?;
        positive("max_finalization_ms", self.max_finalization_ms)?;
        positive("max_avg_hop_count", self.max_avg_hop_count)?;
        percent("battery_low_percent", self.battery_low_percent)?;
        percent("battery_critical_percent", self.battery_critical_percent)?;
        percent("battery_hysteresis_percent", self.battery_hysteresis_percent)?;
        percent("background_saver_battery_percent", self.background_saver_battery_percent)?;
        if self.battery_low_percent <= self.battery_critical_percent {
            return Err(OptimizerError::config(
                "battery_low_percent",
                format!(
                    "{} must be above battery_critical_percent ({})",
                    self.battery_low_percent, self.battery_critical_percent
                ),
            ));
        }
        ratio("heap_pressure_ratio", self.heap_pressure_ratio)?;
        ratio("hysteresis_ratio", self.hysteresis_ratio)?;
        duration("memory_pressure_hold_ms", self.memory_pressure_hold_ms, 1)?;
        duration("window_ms", self.window_ms, 1_000)?;
        duration("min_tick_interval_ms", self.min_tick_interval_ms, 10)?;
        duration("max_tick_interval_ms", self.max_tick_interval_ms, 10)?;
        if self.min_tick_interval_ms > self.max_tick_interval_ms {
            return Err(OptimizerError::config(
                "min_tick_interval_ms",
                format!("{} is above max_tick_interval_ms ({})", self.min_tick_interval_ms, self.max_tick_interval_ms),
            ));
        }
        if self.min_samples == 0 {
            return Err(OptimizerError::config("min_samples", "must be at least 1"));
        }
        duration("min_dwell_ms", self.min_dwell_ms, 0)?;
        if self.max_actions_per_minute == 0 {
            return Err(OptimizerError::config("max_actions_per_minute", "must be at least 1"));
        }
        duration("repair_hold_ms", self.repair_hold_ms, 0)?;
        duration("repair_hold_max_ms", self.repair_hold_max_ms, 0)?;
        duration("repair_relapse_window_ms", self.repair_relapse_window_ms, 0)?;
        if self.repair_hold_ms > self.repair_hold_max_ms {
            return Err(OptimizerError::config(
                "repair_hold_ms",
                format!("{} is above repair_hold_max_ms ({})", self.repair_hold_ms, self.repair_hold_max_ms),
            ));
        }
        duration("verification_window_ms", self.verification_window_ms, 1)?;
        duration("power_verification_window_ms", self.power_verification_window_ms, 1)?;
        duration("verification_max_ms", self.verification_max_ms, 1)?;
        if self.verification_max_ms < self.verification_window_ms {
            return Err(OptimizerError::config(
                "verification_max_ms",
                format!(
                    "{} is below verification_window_ms ({})",
                    self.verification_max_ms, self.verification_window_ms
                ),
            ));
        }
        positive("revert_tolerance_percent", self.revert_tolerance_percent)?;
        duration("backoff_base_ms", self.backoff_base_ms, 1)?;
        duration("backoff_max_ms", self.backoff_max_ms, 1)?;
        if self.backoff_base_ms > self.backoff_max_ms {
            return Err(OptimizerError::config(
                "backoff_base_ms",
                format!("{} is above backoff_max_ms ({})", self.backoff_base_ms, self.backoff_max_ms),
            ));
        }
        duration("ack_timeout_ms", self.ack_timeout_ms, 1)?;
        let (lo, hi) = crate::action::bounds::CONSENSUS_BATCH;
        within_u32("consensus_batch_min", self.consensus_batch_min, lo, hi)?;
        within_u32("consensus_batch_max", self.consensus_batch_max, lo, hi)?;
        if self.consensus_batch_min > self.consensus_batch_max {
            return Err(OptimizerError::config(
                "consensus_batch_min",
                format!("{} is above consensus_batch_max ({})", self.consensus_batch_min, self.consensus_batch_max),
            ));
        }
        within_u32("consensus_batch_step", self.consensus_batch_step, 1, hi)?;
        let (lo, hi) = crate::action::bounds::RELAY_MAX_HOPS;
        within_u32("relay_max_hops", self.relay_max_hops, lo, hi)?;
        within_u32("relay_min_rssi_below_zero_dbm", self.relay_min_rssi_below_zero_dbm, 0, 127)?;
        let (lo, hi) = crate::action::bounds::MAX_CONNECTIONS;
        within_u32("network_max_connections", self.network_max_connections, lo, hi)?;
        let (lo, hi) = crate::action::bounds::MAX_BATCH;
        within_u32("batch_max_messages", self.batch_max_messages, lo, hi)?;
        let (lo, hi) = crate::action::bounds::BATCH_DELAY_MS;
        within_u32("batch_max_delay_ms", self.batch_max_delay_ms, lo, hi)?;
        let (lo, hi) = crate::action::bounds::COMPRESSION_MIN_BYTES;
        within_u32("compression_min_size_bytes", self.compression_min_size_bytes, lo, hi)?;
        let (lo, hi) = crate::action::bounds::TRIM_PERCENT;
        within_u32("trim_moderate_percent", self.trim_moderate_percent, lo, hi)?;
        within_u32("trim_critical_percent", self.trim_critical_percent, lo, hi)?;
        duration("gc_min_interval_ms", self.gc_min_interval_ms, 0)?;
        within_u32("sample_queue_capacity", self.sample_queue_capacity, 1, 16_777_216)?;
        within_u32("event_queue_capacity", self.event_queue_capacity, 1, 1_048_576)?;
        duration("stop_timeout_ms", self.stop_timeout_ms, 0)?;
        Ok(())
    }
}

fn positive(field: &str, v: f64) -> Result<(), OptimizerError> {
    if !v.is_finite() || v <= 0.0 {
        return Err(OptimizerError::config(field, format!("{v} must be a finite number above 0")));
    }
    Ok(())
}

fn percent(field: &str, v: f64) -> Result<(), OptimizerError> {
    if !v.is_finite() || !(0.0..=100.0).contains(&v) {
        return Err(OptimizerError::config(field, format!("{v} is outside 0..=100")));
    }
    Ok(())
}

fn ratio(field: &str, v: f64) -> Result<(), OptimizerError> {
    if !v.is_finite() || v <= 0.0 || v >= 1.0 {
        return Err(OptimizerError::config(field, format!("{v} must be strictly between 0 and 1")));
    }
    Ok(())
}

fn duration(field: &str, v: u64, min: u64) -> Result<(), OptimizerError> {
    if v < min || v > MAX_DURATION_MS {
        return Err(OptimizerError::config(field, format!("{v} ms is outside {min}..={MAX_DURATION_MS}")));
    }
    Ok(())
}

fn within_u32(field: &str, v: u32, lo: u32, hi: u32) -> Result<(), OptimizerError> {
    if v < lo || v > hi {
        return Err(OptimizerError::config(field, format!("{v} is outside {lo}..={hi}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(e: OptimizerError) -> String {
        match e {
            OptimizerError::InvalidConfig { field, .. } => field,
            other => panic!("expected InvalidConfig, got {other:?}"),
        }
    }

    #[test]
    fn defaults_are_valid_and_documented_values() {
        let c = OptimizerConfig::default();
        c.validate().unwrap();
        assert_eq!(c.target_p95_latency_ms, 100.0);
        assert_eq!(c.max_heap_mb, 512.0);
        assert_eq!(c.target_consensus_ops_per_sec, 100.0);
        assert_eq!(c.max_finalization_ms, 500.0);
        assert_eq!(c.max_avg_hop_count, 3.0);
        assert_eq!(c.relay_min_rssi_dbm(), -85);
    }

    #[test]
    fn json_round_trip_keeps_every_key() {
        let c = OptimizerConfig { window_ms: 12_345, sample_process: false, ..OptimizerConfig::default() };
        let back = OptimizerConfig::from_json(&c.to_json()).unwrap();
        assert_eq!(back, c);
        let v: serde_json::Value = serde_json::from_str(&c.to_json()).unwrap();
        assert_eq!(v.as_object().unwrap().len(), OptimizerConfig::KEYS.len());
    }

    #[test]
    fn json_errors_name_the_key() {
        let cases = [
            (r#"{"target_p95_latency_ms": -1}"#, "target_p95_latency_ms"),
            (r#"{"target_p95_latency_ms": "fast"}"#, "target_p95_latency_ms"),
            (r#"{"min_tick_interval_ms": 5000, "max_tick_interval_ms": 1000}"#, "min_tick_interval_ms"),
            (r#"{"battery_low_percent": 10, "battery_critical_percent": 10}"#, "battery_low_percent"),
            (r#"{"no_such_key": 1}"#, "no_such_key"),
            (r#"{"window_ms": -5}"#, "window_ms"),
            (r#"{"hysteresis_ratio": 1.0}"#, "hysteresis_ratio"),
            (r#"{"target_on_time_ratio": 1.0}"#, "target_on_time_ratio"),
            (r#"{"target_on_time_ratio": 0}"#, "target_on_time_ratio"),
            (r#"{"repair_cost_high_priority_ma": -1}"#, "repair_cost_high_priority_ma"),
            (r#"{"repair_cost_continuous_scan_ma": 1e9}"#, "repair_cost_continuous_scan_ma"),
            (r#"{"consensus_batch_min": 70}"#, "consensus_batch_min"),
            (r#"[1, 2]"#, "(document)"),
            (r#"{"window_ms": "#, "(document)"),
        ];
        for (json, key) in cases {
            assert_eq!(field_of(OptimizerConfig::from_json(json).unwrap_err()), key, "{json}");
        }
    }

    /// Found by tests/config_fuzz.rs: without serde_json's `float_roundtrip` feature the
    /// shortest representation written for 1.3319951706387203e18 was read back one ULP off.
    #[test]
    fn json_round_trip_is_exact_for_every_float() {
        for v in [1.3319951706387203e18, 0.1, 1e308, 5e-324, 123.456_789_012_345_68, 2.2250738585072014e-308] {
            let c = OptimizerConfig { target_p95_latency_ms: v, ..OptimizerConfig::default() };
            assert_eq!(OptimizerConfig::from_json(&c.to_json()).unwrap(), c, "{v:e}");
        }
    }

    #[test]
    fn oversized_json_is_refused_before_parsing() {
        let big = format!("{{\"window_ms\": 60000{}}}", " ".repeat(MAX_CONFIG_JSON_BYTES));
        assert_eq!(field_of(OptimizerConfig::from_json(&big).unwrap_err()), "(document)");
    }
}

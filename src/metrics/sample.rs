#![forbid(unsafe_code)]
//! `MetricSample`: what apps push in, and its validation at the door.
//!
//! A sample that fails validation is rejected with [`OptimizerError::InvalidSample`] naming the
//! field, and nothing is recorded. Validation is a pure function, so the runtime can run it on
//! the caller's thread and return the error synchronously.

use crate::OptimizerError;

/// Thermal state as the platforms report it (Android's `THERMAL_STATUS_*` are mapped onto it,
/// iOS's `ProcessInfo.ThermalState` matches it one to one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, uniffi::Enum)]
pub enum ThermalState {
    /// No thermal constraint.
    #[default]
    Nominal,
    /// Slightly elevated.
    Fair,
    /// The system is throttling; MeshTune treats it as a safety constraint.
    Serious,
    /// Imminent shutdown territory; the strongest safety constraint.
    Critical,
}

/// Memory pressure as the platform signals it (Android `onTrimMemory`, iOS memory warnings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, uniffi::Enum)]
pub enum MemoryPressureLevel {
    /// No pressure (also the state after `memory_pressure_hold_ms` without a signal).
    #[default]
    Normal,
    /// The system asks apps to trim (Android `TRIM_MEMORY_RUNNING_LOW`).
    Moderate,
    /// The app may be killed (Android `TRIM_MEMORY_RUNNING_CRITICAL`, iOS memory warning).
    Critical,
}

/// One observation from the app. Push samples as they happen, from any thread.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum MetricSample {
    /// A mesh message reached this phone (or was acknowledged end to end).
    MessageDelivered { latency_ms: f64, hops: u32, bytes: u32 },
    /// A message is known lost (TTL expired, no acknowledgement in time).
    MessageLost { hops: u32 },
    /// A link's RSSI was read.
    LinkRssi { peer_id: String, rssi_dbm: i32 },
    /// How many peers are connected and how many are known.
    PeerCount { connected: u32, discovered: u32 },
    /// A connection was set up, taking `duration_ms`.
    ConnectionEstablished { duration_ms: f64 },
    /// A peer was discovered `duration_ms` after scanning started.
    PeerDiscovered { duration_ms: f64 },
    /// A consensus round finished (BitCraps tables).
    ConsensusRound { proposal_ms: f64, vote_ms: f64, finalization_ms: f64, operations: u32 },
    /// Battery level and whether a charger is connected.
    Battery { level_percent: f64, charging: bool },
    /// The OS power save / Low Power Mode switched.
    PowerSaveMode { enabled: bool },
    /// The OS thermal state changed.
    Thermal { state: ThermalState },
    /// The OS signalled memory pressure.
    MemoryPressure { level: MemoryPressureLevel },
    /// The app's heap usage and limit.
    Heap { used_mb: f64, limit_mb: f64 },
    /// The app moved to the foreground or the background.
    AppState { foreground: bool },
    /// This process's CPU use (percent of one core, may exceed 100 on several cores) and
    /// resident memory; the runtime samples it itself (procfs on Linux and Android).
    ProcessUsage { cpu_percent: f64, resident_mb: f64 },
    /// Android's thermal headroom (`PowerManager.getThermalHeadroom(forecast_s)`, API 30+): 0
    /// is no throttling and 1.0 the SEVERE threshold (MeshTune's `Serious`); above 1 the phone
    /// is past it. `forecast_s` is how far ahead the OS forecast it (0 = now; Android accepts
    /// 0..=60). The OS answers NaN when it cannot tell (no support, or asked again within a
    /// second): that is no reading, do not record it. iOS has no such figure.
    ThermalHeadroom { headroom: f64, forecast_s: u32 },
}

/// Longest duration a sample may carry: one day, in ms (beyond it a value is a bug upstream).
pub const MAX_SAMPLE_DURATION_MS: f64 = 86_400_000.0;
/// Largest thermal headroom accepted. Android scales it so that 1.0 is the SEVERE threshold and
/// 0.0 is 30 °C below it (`ThermalManagerService`), so 10 would be 270 °C past throttling: a bug
/// upstream, not a reading.
pub const MAX_THERMAL_HEADROOM: f64 = 10.0;
/// Longest headroom forecast accepted, s (`getThermalHeadroom` takes 0..=60).
pub const MAX_HEADROOM_FORECAST_S: u32 = 60;
/// Longest peer id accepted, in bytes (ids are addresses or short keys).
pub const MAX_PEER_ID_BYTES: usize = 256;
/// Largest heap figure accepted, in MB (1 TiB).
pub const MAX_HEAP_MB: f64 = 1_048_576.0;
/// Most hops a message may report: the mesh's TTL bound (`SetRelayPolicy.max_hops` at most),
/// so that a wrapped negative (`(-1).toUInt()` from Kotlin is 4 294 967 295) is refused.
pub const MAX_HOPS: u32 = crate::action::bounds::RELAY_MAX_HOPS.1;

/// Largest message a delivery may report, bytes (64 MiB: far above any mesh message, far below
/// a wrapped negative).
pub const MAX_MESSAGE_BYTES: u32 = 64 * 1024 * 1024;
/// Most peers a count may report (a phone keeps a few dozen connections and discovers thousands
/// in a stadium at most).
pub const MAX_PEERS: u32 = 65_535;
/// Most operations one consensus round may report.
pub const MAX_ROUND_OPERATIONS: u32 = 1_000_000;

/// Whether a delivery's fields are valid (the engine's hot path decides it inline).
#[inline(always)]
pub(crate) fn is_valid_delivery(latency_ms: f64, hops: u32, bytes: u32) -> bool {
    is_valid_duration_ms(latency_ms) && hops <= MAX_HOPS && bytes <= MAX_MESSAGE_BYTES
}

fn at_most(field: &str, v: u32, max: u32) -> Result<(), OptimizerError> {
    if v > max {
        return Err(OptimizerError::sample(field, format!("{v} is over {max}")));
    }
    Ok(())
}

fn hops(field: &str, v: u32) -> Result<(), OptimizerError> {
    if v > MAX_HOPS {
        return Err(OptimizerError::sample(field, format!("{v} is over the mesh's TTL bound of {MAX_HOPS} hops")));
    }
    Ok(())
}

/// Whether `v` is a valid duration: finite, not negative, at most `MAX_SAMPLE_DURATION_MS`
/// (NaN and infinities fail the range test). The engine's hot path uses it inline.
#[inline(always)]
pub(crate) fn is_valid_duration_ms(v: f64) -> bool {
    (0.0..=MAX_SAMPLE_DURATION_MS).contains(&v)
}

fn duration(field: &str, v: f64) -> Result<(), OptimizerError> {
    if is_valid_duration_ms(v) {
        return Ok(());
    }
    if !v.is_finite() {
        return Err(OptimizerError::sample(field, format!("{v} is not a finite number")));
    }
    if v < 0.0 {
        return Err(OptimizerError::sample(field, format!("{v} is negative")));
    }
    if v > MAX_SAMPLE_DURATION_MS {
        return Err(OptimizerError::sample(field, format!("{v} ms is over one day")));
    }
    Ok(())
}

fn megabytes(field: &str, v: f64) -> Result<(), OptimizerError> {
    if !(0.0..=MAX_HEAP_MB).contains(&v) {
        return Err(OptimizerError::sample(field, format!("{v} is outside 0..={MAX_HEAP_MB} MB")));
    }
    Ok(())
}

impl MetricSample {
    /// The variant's name, as used in error fields and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            MetricSample::MessageDelivered { .. } => "MessageDelivered",
            MetricSample::MessageLost { .. } => "MessageLost",
            MetricSample::LinkRssi { .. } => "LinkRssi",
            MetricSample::PeerCount { .. } => "PeerCount",
            MetricSample::ConnectionEstablished { .. } => "ConnectionEstablished",
            MetricSample::PeerDiscovered { .. } => "PeerDiscovered",
            MetricSample::ConsensusRound { .. } => "ConsensusRound",
            MetricSample::Battery { .. } => "Battery",
            MetricSample::PowerSaveMode { .. } => "PowerSaveMode",
            MetricSample::Thermal { .. } => "Thermal",
            MetricSample::ThermalHeadroom { .. } => "ThermalHeadroom",
            MetricSample::MemoryPressure { .. } => "MemoryPressure",
            MetricSample::Heap { .. } => "Heap",
            MetricSample::AppState { .. } => "AppState",
            MetricSample::ProcessUsage { .. } => "ProcessUsage",
        }
    }

    /// Checks the sample; the error names the field as `Variant.field`.
    pub fn validate(&self) -> Result<(), OptimizerError> {
        match self {
            MetricSample::MessageDelivered { latency_ms, hops: h, bytes } => {
                duration("MessageDelivered.latency_ms", *latency_ms)?;
                hops("MessageDelivered.hops", *h)?;
                at_most("MessageDelivered.bytes", *bytes, MAX_MESSAGE_BYTES)
            }
            MetricSample::MessageLost { hops: h } => hops("MessageLost.hops", *h),
            MetricSample::LinkRssi { peer_id, rssi_dbm } => {
                if peer_id.is_empty() {
                    return Err(OptimizerError::sample("LinkRssi.peer_id", "is empty"));
                }
                if peer_id.len() > MAX_PEER_ID_BYTES {
                    return Err(OptimizerError::sample(
                        "LinkRssi.peer_id",
                        format!("{} bytes is over {MAX_PEER_ID_BYTES}", peer_id.len()),
                    ));
                }
                if !(-127..=20).contains(rssi_dbm) {
                    return Err(OptimizerError::sample(
                        "LinkRssi.rssi_dbm",
                        format!("{rssi_dbm} is outside -127..=20"),
                    ));
                }
                Ok(())
            }
            MetricSample::PeerCount { connected, discovered } => {
                at_most("PeerCount.connected", *connected, MAX_PEERS)?;
                at_most("PeerCount.discovered", *discovered, MAX_PEERS)?;
                if connected > discovered {
                    return Err(OptimizerError::sample(
                        "PeerCount.connected",
                        format!("{connected} is above discovered ({discovered})"),
                    ));
                }
                Ok(())
            }
            MetricSample::ConnectionEstablished { duration_ms } => {
                duration("ConnectionEstablished.duration_ms", *duration_ms)
            }
            MetricSample::PeerDiscovered { duration_ms } => duration("PeerDiscovered.duration_ms", *duration_ms),
            MetricSample::ConsensusRound { proposal_ms, vote_ms, finalization_ms, operations } => {
                duration("ConsensusRound.proposal_ms", *proposal_ms)?;
                duration("ConsensusRound.vote_ms", *vote_ms)?;
                duration("ConsensusRound.finalization_ms", *finalization_ms)?;
                at_most("ConsensusRound.operations", *operations, MAX_ROUND_OPERATIONS)
            }
            MetricSample::Battery { level_percent, .. } => {
                if !level_percent.is_finite() || !(0.0..=100.0).contains(level_percent) {
                    return Err(OptimizerError::sample(
                        "Battery.level_percent",
                        format!("{level_percent} is outside 0..=100"),
                    ));
                }
                Ok(())
            }
            MetricSample::Heap { used_mb, limit_mb } => {
                megabytes("Heap.used_mb", *used_mb)?;
                megabytes("Heap.limit_mb", *limit_mb)?;
                if *limit_mb <= 0.0 {
                    return Err(OptimizerError::sample("Heap.limit_mb", "must be above 0"));
                }
                if used_mb > limit_mb {
                    return Err(OptimizerError::sample(
                        "Heap.used_mb",
                        format!("{used_mb} is above limit_mb ({limit_mb})"),
                    ));
                }
                Ok(())
            }
            MetricSample::ThermalHeadroom { headroom, forecast_s } => {
                if !headroom.is_finite() || !(0.0..=MAX_THERMAL_HEADROOM).contains(headroom) {
                    return Err(OptimizerError::sample(
                        "ThermalHeadroom.headroom",
                        format!("{headroom} is outside 0..={MAX_THERMAL_HEADROOM}"),
                    ));
                }
                at_most("ThermalHeadroom.forecast_s", *forecast_s, MAX_HEADROOM_FORECAST_S)
            }
            MetricSample::ProcessUsage { cpu_percent, resident_mb } => {
                if !cpu_percent.is_finite() || *cpu_percent < 0.0 || *cpu_percent > 100_000.0 {
                    return Err(OptimizerError::sample(
                        "ProcessUsage.cpu_percent",
                        format!("{cpu_percent} is outside 0..=100000"),
                    ));
                }
                megabytes("ProcessUsage.resident_mb", *resident_mb)
            }
            MetricSample::PowerSaveMode { .. }
            | MetricSample::Thermal { .. }
            | MetricSample::MemoryPressure { .. }
            | MetricSample::AppState { .. } => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(s: MetricSample) -> String {
        match s.validate() {
            Err(OptimizerError::InvalidSample { field, .. }) => field,
            other => panic!("expected InvalidSample for {s:?}, got {other:?}"),
        }
    }

    #[test]
    fn invalid_values_name_their_field() {
        assert_eq!(
            field(MetricSample::MessageDelivered { latency_ms: f64::NAN, hops: 1, bytes: 1 }),
            "MessageDelivered.latency_ms"
        );
        assert_eq!(
            field(MetricSample::MessageDelivered { latency_ms: -1.0, hops: 1, bytes: 1 }),
            "MessageDelivered.latency_ms"
        );
        assert_eq!(
            field(MetricSample::MessageDelivered { latency_ms: f64::INFINITY, hops: 1, bytes: 1 }),
            "MessageDelivered.latency_ms"
        );
        // A wrapped negative from Kotlin ((-1).toUInt()) and one hop over the TTL bound.
        assert_eq!(
            field(MetricSample::MessageDelivered { latency_ms: 1.0, hops: u32::MAX, bytes: 1 }),
            "MessageDelivered.hops"
        );
        assert_eq!(
            field(MetricSample::MessageDelivered { latency_ms: 1.0, hops: MAX_HOPS + 1, bytes: 1 }),
            "MessageDelivered.hops"
        );
        assert!(MetricSample::MessageDelivered { latency_ms: 1.0, hops: MAX_HOPS, bytes: 1 }.validate().is_ok());
        assert_eq!(field(MetricSample::MessageLost { hops: u32::MAX }), "MessageLost.hops");
        assert!(MetricSample::MessageLost { hops: MAX_HOPS }.validate().is_ok());
        // Every other integer field has a bound too: the largest value passes, one more fails.
        assert!(MetricSample::MessageDelivered { latency_ms: 1.0, hops: 1, bytes: MAX_MESSAGE_BYTES }
            .validate()
            .is_ok());
        assert_eq!(
            field(MetricSample::MessageDelivered { latency_ms: 1.0, hops: 1, bytes: MAX_MESSAGE_BYTES + 1 }),
            "MessageDelivered.bytes"
        );
        assert!(MetricSample::PeerCount { connected: MAX_PEERS, discovered: MAX_PEERS }.validate().is_ok());
        assert_eq!(field(MetricSample::PeerCount { connected: 0, discovered: MAX_PEERS + 1 }), "PeerCount.discovered");
        assert_eq!(field(MetricSample::PeerCount { connected: u32::MAX, discovered: u32::MAX }), "PeerCount.connected");
        let round = |operations| MetricSample::ConsensusRound {
            proposal_ms: 1.0,
            vote_ms: 1.0,
            finalization_ms: 1.0,
            operations,
        };
        assert!(round(MAX_ROUND_OPERATIONS).validate().is_ok());
        assert_eq!(field(round(MAX_ROUND_OPERATIONS + 1)), "ConsensusRound.operations");
        assert_eq!(field(MetricSample::Battery { level_percent: 100.5, charging: false }), "Battery.level_percent");
        assert_eq!(field(MetricSample::Battery { level_percent: -0.1, charging: true }), "Battery.level_percent");
        assert_eq!(field(MetricSample::LinkRssi { peer_id: "a".into(), rssi_dbm: -128 }), "LinkRssi.rssi_dbm");
        assert_eq!(field(MetricSample::LinkRssi { peer_id: "a".into(), rssi_dbm: 21 }), "LinkRssi.rssi_dbm");
        assert_eq!(field(MetricSample::LinkRssi { peer_id: String::new(), rssi_dbm: -60 }), "LinkRssi.peer_id");
        assert_eq!(field(MetricSample::Heap { used_mb: 600.0, limit_mb: 512.0 }), "Heap.used_mb");
        assert_eq!(field(MetricSample::Heap { used_mb: 1.0, limit_mb: 0.0 }), "Heap.limit_mb");
        assert_eq!(field(MetricSample::PeerCount { connected: 5, discovered: 4 }), "PeerCount.connected");
        assert_eq!(
            field(MetricSample::ConsensusRound {
                proposal_ms: 1.0,
                vote_ms: f64::NAN,
                finalization_ms: 1.0,
                operations: 1
            }),
            "ConsensusRound.vote_ms"
        );
        assert_eq!(
            field(MetricSample::ConnectionEstablished { duration_ms: 1e12 }),
            "ConnectionEstablished.duration_ms"
        );
        let headroom = |headroom, forecast_s| MetricSample::ThermalHeadroom { headroom, forecast_s };
        for bad in [f64::NAN, f64::INFINITY, -0.01, MAX_THERMAL_HEADROOM + 0.01] {
            assert_eq!(field(headroom(bad, 10)), "ThermalHeadroom.headroom", "{bad}");
        }
        assert!(headroom(0.0, 0).validate().is_ok());
        assert!(headroom(MAX_THERMAL_HEADROOM, MAX_HEADROOM_FORECAST_S).validate().is_ok());
        assert_eq!(field(headroom(0.5, MAX_HEADROOM_FORECAST_S + 1)), "ThermalHeadroom.forecast_s");
    }

    #[test]
    fn edge_values_are_accepted() {
        for s in [
            MetricSample::MessageDelivered { latency_ms: 0.0, hops: 0, bytes: 0 },
            MetricSample::Battery { level_percent: 0.0, charging: false },
            MetricSample::Battery { level_percent: 100.0, charging: true },
            MetricSample::LinkRssi { peer_id: "p".into(), rssi_dbm: -127 },
            MetricSample::LinkRssi { peer_id: "p".into(), rssi_dbm: 20 },
            MetricSample::Heap { used_mb: 512.0, limit_mb: 512.0 },
            MetricSample::PeerCount { connected: 0, discovered: 0 },
        ] {
            assert!(s.validate().is_ok(), "{s:?}");
        }
    }
}

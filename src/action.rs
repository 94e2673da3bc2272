#![forbid(unsafe_code)]
//! The typed knobs that MeshTune turns, and the actions that turn them.
//!
//! Every knob has exactly one action variant that sets it, so the engine's belief about the
//! app's configuration (its *profile*) is simply one action per knob: the last one the app
//! applied. An [`ActionEvent`](crate::ActionEvent) is emitted only when a knob's value changes.
//!
//! ```
//! use meshtune::{Knob, OptimizationAction, ScanMode};
//! let a = OptimizationAction::SetScanMode { mode: ScanMode::LowPower, duty_on_ms: 2_000, duty_off_ms: 28_000 };
//! assert_eq!(a.knob(), Knob::ScanMode);
//! assert!(a.validate().is_ok());
//! ```

use crate::OptimizerError;

/// BLE scan modes, in Android's `ScanSettings` terms (iOS maps them to scan duty cycles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, uniffi::Enum)]
pub enum ScanMode {
    /// Listen only when another app scans (`SCAN_MODE_OPPORTUNISTIC`).
    Opportunistic,
    /// `SCAN_MODE_LOW_POWER`: 512 ms window every 5120 ms in AOSP.
    LowPower,
    /// `SCAN_MODE_BALANCED`: 1024 ms window every 4096 ms in AOSP.
    Balanced,
    /// `SCAN_MODE_LOW_LATENCY`: continuous scanning.
    LowLatency,
}

/// BLE advertising modes, in Android's `AdvertiseSettings` terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, uniffi::Enum)]
pub enum AdvertiseMode {
    /// `ADVERTISE_MODE_LOW_POWER`: about 1 s between advertisements.
    LowPower,
    /// `ADVERTISE_MODE_BALANCED`: about 250 ms.
    Balanced,
    /// `ADVERTISE_MODE_LOW_LATENCY`: about 100 ms.
    LowLatency,
}

/// Advertising transmit power levels, in Android's `AdvertiseSettings` terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, uniffi::Enum)]
pub enum TxPower {
    /// `ADVERTISE_TX_POWER_ULTRA_LOW` (about -21 dBm).
    UltraLow,
    /// `ADVERTISE_TX_POWER_LOW` (about -15 dBm).
    Low,
    /// `ADVERTISE_TX_POWER_MEDIUM` (about -7 dBm).
    Medium,
    /// `ADVERTISE_TX_POWER_HIGH` (about 1 dBm).
    High,
}

/// GATT connection priority, as `BluetoothGatt.requestConnectionPriority` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, uniffi::Enum)]
pub enum ConnectionPriority {
    /// `CONNECTION_PRIORITY_LOW_POWER`: 100–125 ms connection interval.
    LowPower,
    /// `CONNECTION_PRIORITY_BALANCED`: 30–50 ms.
    Balanced,
    /// `CONNECTION_PRIORITY_HIGH`: 11.25–15 ms.
    High,
}

/// The knobs MeshTune can turn. Each has one [`OptimizationAction`] variant that sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, uniffi::Enum)]
pub enum Knob {
    /// Scan mode and duty cycle.
    ScanMode,
    /// Advertising mode and TX power.
    Advertising,
    /// GATT connection priority.
    ConnectionPriority,
    /// Maximum simultaneous connections.
    MaxConnections,
    /// Outgoing message batching.
    MessageBatching,
    /// Compression of large messages.
    Compression,
    /// Relay (flooding) policy.
    RelayPolicy,
    /// Share of cache capacity the app holds back.
    CacheTrim,
    /// Object pooling.
    ObjectPooling,
    /// One-shot garbage collection request (not a state: never reverted).
    GarbageCollection,
    /// Consensus batch size.
    ConsensusBatchSize,
    /// Parallel validation of consensus messages.
    ParallelValidation,
    /// Vote cache.
    VoteCache,
}

impl Knob {
    /// All knobs, in the fixed order the engine evaluates them (deterministic output order).
    pub const ALL: [Knob; 13] = [
        Knob::ScanMode,
        Knob::Advertising,
        Knob::ConnectionPriority,
        Knob::MaxConnections,
        Knob::MessageBatching,
        Knob::Compression,
        Knob::RelayPolicy,
        Knob::CacheTrim,
        Knob::ObjectPooling,
        Knob::GarbageCollection,
        Knob::ConsensusBatchSize,
        Knob::ParallelValidation,
        Knob::VoteCache,
    ];

    /// Position in [`Knob::ALL`], used to index per-knob state.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Bounds of every numeric action parameter. The engine never emits a value outside them, and
/// [`OptimizationAction::validate`] rejects one (so a custom strategy cannot either).
pub mod bounds {
    /// Scan duty-cycle on-time: 100 ms to 10 min.
    pub const DUTY_ON_MS: (u32, u32) = (100, 600_000);
    /// Scan duty-cycle off-time: 0 (continuous) to 10 min.
    pub const DUTY_OFF_MS: (u32, u32) = (0, 600_000);
    /// Maximum connections: 1 to 32 (Android stacks allow about 7–15 in practice).
    pub const MAX_CONNECTIONS: (u32, u32) = (1, 32);
    /// Messages per batch: 1 (no batching) to 64.
    pub const MAX_BATCH: (u32, u32) = (1, 64);
    /// Batch hold time: 0 to 1 s.
    pub const BATCH_DELAY_MS: (u32, u32) = (0, 1_000);
    /// Compression threshold: 0 to 64 KiB.
    pub const COMPRESSION_MIN_BYTES: (u32, u32) = (0, 65_536);
    /// Relay hop limit (TTL): 1 to 16.
    pub const RELAY_MAX_HOPS: (u32, u32) = (1, 16);
    /// Minimum RSSI for relays: -127 to 20 dBm (the range BLE reports).
    pub const RELAY_MIN_RSSI_DBM: (i32, i32) = (-127, 20);
    /// Cache trim: 0 (full caches) to 90 percent.
    pub const TRIM_PERCENT: (u32, u32) = (0, 90);
    /// Consensus batch size: 1 to 256 operations.
    pub const CONSENSUS_BATCH: (u32, u32) = (1, 256);
}

/// One typed instruction to the app: set a knob to a value. Parameters are bounded (see
/// [`bounds`]); the app applies the action and reports back with `report_action_result`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum OptimizationAction {
    /// Scan in `mode`, `duty_on_ms` on then `duty_off_ms` off (0 off = continuous).
    SetScanMode { mode: ScanMode, duty_on_ms: u32, duty_off_ms: u32 },
    /// Advertise in `mode` at `tx_power`.
    SetAdvertising { mode: AdvertiseMode, tx_power: TxPower },
    /// Request this GATT connection priority on every connection.
    SetConnectionPriority { priority: ConnectionPriority },
    /// Hold at most `max` simultaneous connections.
    SetMaxConnections { max: u32 },
    /// Batch outgoing messages: up to `max_batch` per packet, held at most `max_delay_ms`.
    SetMessageBatching { enabled: bool, max_batch: u32, max_delay_ms: u32 },
    /// Compress messages of at least `min_size_bytes`.
    SetCompression { enabled: bool, min_size_bytes: u32 },
    /// Relay only messages with fewer than `max_hops` hops, and only over links of at least
    /// `min_rssi_dbm`.
    SetRelayPolicy { max_hops: u32, min_rssi_dbm: i32 },
    /// Hold caches at `100 - percent` percent of their normal capacity; 0 restores them.
    TrimCaches { percent: u32 },
    /// Pool (reuse) message and buffer objects.
    SetObjectPooling { enabled: bool },
    /// Ask the runtime for a garbage collection now (a one-shot, never reverted).
    RequestGarbageCollection,
    /// Put `size` operations into each consensus batch.
    SetConsensusBatchSize { size: u32 },
    /// Validate consensus messages in parallel.
    SetParallelValidation { enabled: bool },
    /// Cache votes already verified.
    SetVoteCache { enabled: bool },
}

fn check_u32(field: &str, value: u32, (lo, hi): (u32, u32)) -> Result<(), OptimizerError> {
    if value < lo || value > hi {
        return Err(OptimizerError::InvalidAction {
            field: field.to_owned(),
            reason: format!("{value} is outside {lo}..={hi}"),
        });
    }
    Ok(())
}

impl OptimizationAction {
    /// The knob this action sets.
    pub fn knob(&self) -> Knob {
        use OptimizationAction as A;
        match self {
            A::SetScanMode { .. } => Knob::ScanMode,
            A::SetAdvertising { .. } => Knob::Advertising,
            A::SetConnectionPriority { .. } => Knob::ConnectionPriority,
            A::SetMaxConnections { .. } => Knob::MaxConnections,
            A::SetMessageBatching { .. } => Knob::MessageBatching,
            A::SetCompression { .. } => Knob::Compression,
            A::SetRelayPolicy { .. } => Knob::RelayPolicy,
            A::TrimCaches { .. } => Knob::CacheTrim,
            A::SetObjectPooling { .. } => Knob::ObjectPooling,
            A::RequestGarbageCollection => Knob::GarbageCollection,
            A::SetConsensusBatchSize { .. } => Knob::ConsensusBatchSize,
            A::SetParallelValidation { .. } => Knob::ParallelValidation,
            A::SetVoteCache { .. } => Knob::VoteCache,
        }
    }

    /// One-shot actions request something once; they are not a state to restore.
    pub fn is_one_shot(&self) -> bool {
        matches!(self, OptimizationAction::RequestGarbageCollection)
    }

    /// Checks every parameter against [`bounds`]; the error names the parameter.
    pub fn validate(&self) -> Result<(), OptimizerError> {
        use OptimizationAction as A;
        match *self {
            A::SetScanMode { duty_on_ms, duty_off_ms, .. } => {
                check_u32("SetScanMode.duty_on_ms", duty_on_ms, bounds::DUTY_ON_MS)?;
                check_u32("SetScanMode.duty_off_ms", duty_off_ms, bounds::DUTY_OFF_MS)
            }
            A::SetMaxConnections { max } => check_u32("SetMaxConnections.max", max, bounds::MAX_CONNECTIONS),
            A::SetMessageBatching { max_batch, max_delay_ms, .. } => {
                check_u32("SetMessageBatching.max_batch", max_batch, bounds::MAX_BATCH)?;
                check_u32("SetMessageBatching.max_delay_ms", max_delay_ms, bounds::BATCH_DELAY_MS)
            }
            A::SetCompression { min_size_bytes, .. } => {
                check_u32("SetCompression.min_size_bytes", min_size_bytes, bounds::COMPRESSION_MIN_BYTES)
            }
            A::SetRelayPolicy { max_hops, min_rssi_dbm } => {
                check_u32("SetRelayPolicy.max_hops", max_hops, bounds::RELAY_MAX_HOPS)?;
                let (lo, hi) = bounds::RELAY_MIN_RSSI_DBM;
                if !(lo..=hi).contains(&min_rssi_dbm) {
                    return Err(OptimizerError::InvalidAction {
                        field: "SetRelayPolicy.min_rssi_dbm".to_owned(),
                        reason: format!("{min_rssi_dbm} is outside {lo}..={hi}"),
                    });
                }
                Ok(())
            }
            A::TrimCaches { percent } => check_u32("TrimCaches.percent", percent, bounds::TRIM_PERCENT),
            A::SetConsensusBatchSize { size } => check_u32("SetConsensusBatchSize.size", size, bounds::CONSENSUS_BATCH),
            A::SetAdvertising { .. }
            | A::SetConnectionPriority { .. }
            | A::SetObjectPooling { .. }
            | A::RequestGarbageCollection
            | A::SetParallelValidation { .. }
            | A::SetVoteCache { .. } => Ok(()),
        }
    }

    /// The value every knob is assumed to have when the optimizer starts (apps start in this
    /// profile, or apply it first): balanced radio, no batching, no compression, TTL 7, full
    /// caches, consensus batches of 8.
    pub fn baseline(knob: Knob) -> OptimizationAction {
        use OptimizationAction as A;
        match knob {
            Knob::ScanMode => A::SetScanMode { mode: ScanMode::Balanced, duty_on_ms: 8_000, duty_off_ms: 2_000 },
            Knob::Advertising => A::SetAdvertising { mode: AdvertiseMode::Balanced, tx_power: TxPower::Medium },
            Knob::ConnectionPriority => A::SetConnectionPriority { priority: ConnectionPriority::Balanced },
            Knob::MaxConnections => A::SetMaxConnections { max: 8 },
            Knob::MessageBatching => A::SetMessageBatching { enabled: false, max_batch: 1, max_delay_ms: 0 },
            Knob::Compression => A::SetCompression { enabled: false, min_size_bytes: 0 },
            Knob::RelayPolicy => A::SetRelayPolicy { max_hops: 7, min_rssi_dbm: -127 },
            Knob::CacheTrim => A::TrimCaches { percent: 0 },
            Knob::ObjectPooling => A::SetObjectPooling { enabled: false },
            Knob::GarbageCollection => A::RequestGarbageCollection,
            Knob::ConsensusBatchSize => A::SetConsensusBatchSize { size: 8 },
            Knob::ParallelValidation => A::SetParallelValidation { enabled: false },
            Knob::VoteCache => A::SetVoteCache { enabled: false },
        }
    }
}

impl std::fmt::Display for OptimizationAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use OptimizationAction as A;
        match self {
            A::SetScanMode { mode, duty_on_ms, duty_off_ms } => {
                write!(f, "scan {mode:?} {duty_on_ms} ms on / {duty_off_ms} ms off")
            }
            A::SetAdvertising { mode, tx_power } => write!(f, "advertise {mode:?} at {tx_power:?} power"),
            A::SetConnectionPriority { priority } => write!(f, "connection priority {priority:?}"),
            A::SetMaxConnections { max } => write!(f, "at most {max} connections"),
            A::SetMessageBatching { enabled: false, .. } => write!(f, "no message batching"),
            A::SetMessageBatching { enabled: true, max_batch, max_delay_ms } => {
                write!(f, "batch up to {max_batch} messages, held at most {max_delay_ms} ms")
            }
            A::SetCompression { enabled: false, .. } => write!(f, "no compression"),
            A::SetCompression { enabled: true, min_size_bytes } => {
                write!(f, "compress messages of {min_size_bytes} bytes or more")
            }
            A::SetRelayPolicy { max_hops, min_rssi_dbm } => {
                write!(f, "relay up to {max_hops} hops over links of {min_rssi_dbm} dBm or better")
            }
            A::TrimCaches { percent } => write!(f, "trim caches by {percent}%"),
            A::SetObjectPooling { enabled } => write!(f, "object pooling {}", on_off(*enabled)),
            A::RequestGarbageCollection => write!(f, "garbage collection"),
            A::SetConsensusBatchSize { size } => write!(f, "consensus batches of {size}"),
            A::SetParallelValidation { enabled } => write!(f, "parallel validation {}", on_off(*enabled)),
            A::SetVoteCache { enabled } => write!(f, "vote cache {}", on_off(*enabled)),
        }
    }
}

fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_knob_has_a_valid_baseline_that_sets_it() {
        for (i, knob) in Knob::ALL.iter().enumerate() {
            assert_eq!(knob.index(), i);
            let a = OptimizationAction::baseline(*knob);
            assert_eq!(a.knob(), *knob);
            assert!(a.validate().is_ok(), "{a:?}");
        }
    }

    #[test]
    fn out_of_bounds_parameters_are_named() {
        let a = OptimizationAction::SetMaxConnections { max: 0 };
        match a.validate() {
            Err(OptimizerError::InvalidAction { field, .. }) => assert_eq!(field, "SetMaxConnections.max"),
            other => panic!("{other:?}"),
        }
        let a = OptimizationAction::SetRelayPolicy { max_hops: 3, min_rssi_dbm: 40 };
        assert!(
            matches!(a.validate(), Err(OptimizerError::InvalidAction { field, .. }) if field == "SetRelayPolicy.min_rssi_dbm")
        );
        assert!(OptimizationAction::TrimCaches { percent: 91 }.validate().is_err());
    }
}

#![forbid(unsafe_code)]
//! Plain records that describe the optimizer's view of the world, for strategies and for apps.
//!
//! The groups mirror the ancestor's `PerformanceMetrics` (network latency, consensus
//! performance, memory usage, CPU usage, mesh performance) plus the device state. Missing data
//! is `None`, never a made-up zero, and no field is ever NaN or infinite.

use crate::{ActionEvent, MemoryPressureLevel, OptimizationAction, ThermalState};

/// A knob value that is backing off.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct BackingOff {
    /// The value that is not proposed again until `until_ms`.
    pub action: OptimizationAction,
    /// Engine time at which it may be proposed again, ms.
    pub until_ms: u64,
    /// The app refused it (`report_action_result(applied = false)`); otherwise it was reverted
    /// after it made its metric worse.
    pub refused_by_app: bool,
}

/// Distribution of a duration over the statistics window (ms; quantiles within 1%).
#[derive(Debug, Clone, Copy, PartialEq, uniffi::Record)]
pub struct LatencyStats {
    /// Samples in the window.
    pub count: u64,
    /// Arithmetic mean.
    pub mean_ms: f64,
    /// Median (nearest rank).
    pub p50_ms: f64,
    /// 95th percentile (nearest rank).
    pub p95_ms: f64,
    /// 99th percentile (nearest rank).
    pub p99_ms: f64,
    /// Largest value (exact).
    pub max_ms: f64,
}

/// Consensus rounds in the window (BitCraps tables).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ConsensusPerformance {
    /// Rounds finished in the window.
    pub rounds: u64,
    /// Of those, the rounds that finalized within `max_finalization_ms` (to the quantile
    /// sketch's 1 % resolution): the finalization target is met when 95 % of rounds are.
    pub rounds_in_time: u64,
    /// Operations finalized per second over the window.
    pub ops_per_sec: f64,
    /// Half-width of a 95 % interval of `ops_per_sec`, rounds taken as a compound Poisson
    /// process (variance Σ ops² / T²; wide for rounds that come more regularly). None without
    /// a round.
    pub ops_per_sec_half_width: Option<f64>,
    /// Time since the last round finished, ms (None without a round in the window): a table
    /// that has paused shows here, while its rate only decays.
    pub last_round_age_ms: Option<u64>,
    /// Finalization times.
    pub finalization: Option<LatencyStats>,
    /// Mean proposal phase.
    pub mean_proposal_ms: Option<f64>,
    /// Mean vote phase.
    pub mean_vote_ms: Option<f64>,
}

/// Memory as the app and the platform report it.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct MemoryUsage {
    /// Latest heap in use.
    pub heap_used_mb: Option<f64>,
    /// Latest heap limit.
    pub heap_limit_mb: Option<f64>,
    /// Latest resident memory of the process (procfs on Linux and Android; None on Apple platforms).
    pub process_resident_mb: Option<f64>,
    /// Current platform memory pressure (decays to Normal after `memory_pressure_hold_ms`).
    pub pressure: MemoryPressureLevel,
}

/// CPU use of the process.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CpuUsage {
    /// Latest process CPU use, percent of one core (procfs on Linux and Android; None on Apple platforms).
    pub process_cpu_percent: Option<f64>,
}

/// How the mesh is doing over the window.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct MeshPerformance {
    /// Messages delivered in the window.
    pub delivered: u64,
    /// Messages lost in the window.
    pub lost: u64,
    /// lost / (delivered + lost); 0 when there was no traffic.
    pub loss_ratio: f64,
    /// Messages delivered within the deadline (`target_p95_latency_ms`) in the window.
    pub on_time: u64,
    /// on_time / (delivered + lost): a lost message is never on time. None without traffic.
    pub on_time_ratio: Option<f64>,
    /// Mean hops of delivered messages.
    pub mean_hop_count: Option<f64>,
    /// Payload bytes delivered per second.
    pub bytes_per_sec: f64,
    /// Latest connected peer count.
    pub connected_peers: Option<u32>,
    /// Latest discovered peer count.
    pub discovered_peers: Option<u32>,
    /// Mean RSSI of the links read in the window.
    pub mean_rssi_dbm: Option<f64>,
    /// Connection set-up times.
    pub connection_setup: Option<LatencyStats>,
    /// Discovery times.
    pub discovery: Option<LatencyStats>,
}

/// The device's state as last reported.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct DeviceState {
    /// Latest battery level.
    pub battery_percent: Option<f64>,
    /// Whether a charger is connected (None before the first Battery sample).
    pub charging: Option<bool>,
    /// OS power save / Low Power Mode.
    pub power_save: bool,
    /// OS thermal state.
    pub thermal: ThermalState,
    /// The latest thermal headroom reading (Android, `MetricSample::ThermalHeadroom`), while it
    /// is at most [`HEADROOM_FRESH_MS`] old; None without one (iOS, Android before API 30).
    pub thermal_headroom: Option<HeadroomReading>,
    /// Platform memory pressure (same as `MemoryUsage.pressure`).
    pub memory_pressure: MemoryPressureLevel,
    /// Whether the app is in the foreground (assumed true until told otherwise).
    pub foreground: bool,
    /// Battery drain over the last 30 minutes, percent per hour, when the phone stayed
    /// unplugged and the readings span at least a minute.
    pub battery_drain_percent_per_hour: Option<f64>,
}

/// How long a thermal headroom reading stands for the phone's state, ms. Android's collector
/// reads it every 10 s while the phone is warm and stops when it cools, so a reading this old
/// is no longer news.
pub const HEADROOM_FRESH_MS: u64 = 60_000;

/// A thermal headroom reading (see `MetricSample::ThermalHeadroom`).
#[derive(Debug, Clone, Copy, PartialEq, uniffi::Record)]
pub struct HeadroomReading {
    /// 0: no throttling; 1.0: the SEVERE threshold (Serious); above 1: past it.
    pub headroom: f64,
    /// How far ahead the OS forecast it, s (0: now).
    pub forecast_s: u32,
    /// How old the reading is, ms.
    pub age_ms: u64,
}

/// Everything strategies decide on, built afresh at every tick.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PerformanceMetrics {
    /// End-to-end latency of delivered messages.
    pub network_latency: Option<LatencyStats>,
    /// Consensus rounds.
    pub consensus_performance: ConsensusPerformance,
    /// Heap, resident memory, pressure.
    pub memory_usage: MemoryUsage,
    /// Process CPU.
    pub cpu_usage: CpuUsage,
    /// Delivery, loss, hops, peers, links.
    pub mesh_performance: MeshPerformance,
    /// Battery, charging, power save, thermal, pressure, foreground.
    pub device: DeviceState,
}

/// Counters since the optimizer started. `samples_offered = samples_accepted +
/// samples_rejected + samples_dropped` always holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct OptimizerCounters {
    /// Samples the app passed to record / record_batch (not the optimizer's own process
    /// samples).
    pub samples_offered: u64,
    /// Samples recorded.
    pub samples_accepted: u64,
    /// Samples refused by validation (the whole batch, for a batch with one bad sample).
    pub samples_rejected: u64,
    /// Samples dropped because the ingestion queue was full.
    pub samples_dropped: u64,
    /// Ticks run.
    pub ticks: u64,
    /// Actions emitted (including restores).
    pub actions_emitted: u64,
    /// Actions acknowledged as applied.
    pub actions_applied: u64,
    /// Actions acknowledged as not applied.
    pub actions_refused: u64,
    /// Actions the runtime could not deliver to the app (its event queue was full, or the
    /// optimizer stopped first): their outcome is `NotApplied` and the belief was restored.
    pub actions_undelivered: u64,
    /// Knob values the app reported (`report_state`) that differed from the engine's belief,
    /// or settled a knob it did not know: changes outside MeshTune.
    pub external_changes: u64,
    /// Outcomes emitted, by kind: `Improved`.
    pub outcomes_improved: u64,
    /// `NoEffect` outcomes.
    pub outcomes_no_effect: u64,
    /// `Worse` outcomes (each reverted).
    pub outcomes_worse: u64,
    /// Inconclusive outcomes.
    pub outcomes_inconclusive: u64,
    /// Superseded outcomes.
    pub outcomes_superseded: u64,
    /// Unacknowledged outcomes.
    pub outcomes_unacknowledged: u64,
    /// Proposals discarded because a parameter was out of bounds (custom strategies).
    pub proposals_discarded: u64,
    /// Events the runtime could not queue for the listener (queue full, or stopped).
    pub events_dropped: u64,
    /// Listener calls that panicked or threw.
    pub listener_failures: u64,
    /// Panics inside MeshTune caught before they reached the app (in a tick, a snapshot, a
    /// stop, the fast path's registration): each is a bug worth reporting; the optimizer went on.
    pub internal_panics: u64,
}

/// A point-in-time view of the optimizer, for dashboards, logs and tests.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct OptimizerSnapshot {
    /// Engine time of the snapshot, ms.
    pub now_ms: u64,
    /// Knob values that are backing off and will not be proposed again before `until_ms`:
    /// values the app refused (a fact about the phone, safety actions included) and values
    /// reverted after measurement.
    pub backing_off: Vec<BackingOff>,
    /// The metrics, including every sample recorded so far (windows expire at ticks).
    pub metrics: PerformanceMetrics,
    /// The value of every knob as the engine believes the app has it, in `Knob::ALL` order.
    pub profile: Vec<OptimizationAction>,
    /// The scan mode the OS runs while it lowers the one in `profile` (in the background, with
    /// `os_caps_background_scans`); None when the OS runs what the app applied.
    pub os_scan_mode: Option<crate::ScanMode>,
    /// Knobs whose value the engine does not know (an acknowledgement never came; their
    /// `profile` entry is the value the app last confirmed): any proposal for them is asked
    /// for again, and `report_state` settles them.
    pub unknown_knobs: Vec<crate::Knob>,
    /// Actions emitted and not yet acknowledged.
    pub pending_actions: Vec<ActionEvent>,
    /// Strategies whose `should_apply` held at the last tick.
    pub engaged_strategies: Vec<String>,
    /// Current tick interval, ms.
    pub tick_interval_ms: u64,
    /// Counters.
    pub counters: OptimizerCounters,
}

#![forbid(unsafe_code)]
//! What leaves the engine: actions for the app to apply, and outcomes of those it applied.

use crate::OptimizationAction;

/// Which class of need a proposal serves. Arbitration per knob: a higher class always wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, uniffi::Enum)]
pub enum Priority {
    /// Saving power or resources when nothing is wrong (and the baseline profile).
    Savings,
    /// Repairing a breached service level (latency, throughput, hops, heap budget).
    SloRepair,
    /// Protecting the device: battery critical, thermal Serious/Critical, memory Critical.
    /// Safety changes skip dwell times and the rate cap, and are never reverted for a metric.
    Safety,
}

/// The metric an action is verified against: the metric of the strategy that proposed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum TargetMetric {
    /// p95 end-to-end latency of delivered messages (lower is better).
    P95LatencyMs,
    /// Mean hop count of delivered messages (lower is better).
    MeanHopCount,
    /// Heap in use (lower is better).
    HeapUsedMb,
    /// Consensus operations finalized per second (higher is better).
    ConsensusOpsPerSec,
    /// p95 consensus finalization time (lower is better).
    P95FinalizationMs,
    /// Battery drain while unplugged, percent per hour (lower is better).
    BatteryDrainPercentPerHour,
    /// p95 time to discover a peer that came into range (lower is better).
    P95DiscoveryMs,
    /// Share of messages, delivered and lost, that arrived within the deadline
    /// (`target_p95_latency_ms`); a lost message is never on time (higher is better).
    OnTimeRatio,
}

impl TargetMetric {
    /// Whether a larger value is an improvement.
    pub fn higher_is_better(self) -> bool {
        matches!(self, TargetMetric::ConsensusOpsPerSec | TargetMetric::OnTimeRatio)
    }

    /// A short name for reasons and logs.
    pub fn label(self) -> &'static str {
        match self {
            TargetMetric::P95LatencyMs => "p95 latency (ms)",
            TargetMetric::MeanHopCount => "mean hop count",
            TargetMetric::HeapUsedMb => "heap used (MB)",
            TargetMetric::ConsensusOpsPerSec => "consensus throughput (ops/s)",
            TargetMetric::P95FinalizationMs => "p95 finalization (ms)",
            TargetMetric::BatteryDrainPercentPerHour => "battery drain (%/h)",
            TargetMetric::P95DiscoveryMs => "p95 discovery (ms)",
            TargetMetric::OnTimeRatio => "on-time ratio",
        }
    }
}

/// An instruction to the app: apply `action`, then call `report_action_result(id, ...)`.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ActionEvent {
    /// Unique (per optimizer), increasing id to acknowledge.
    pub id: u64,
    /// The strategy that proposed it (`baseline` for a return to the default, `revert` for a
    /// rollback).
    pub strategy: String,
    /// What to change.
    pub action: OptimizationAction,
    /// Why, quoting the metric and threshold that triggered it.
    pub reason: String,
    /// The engine time at which it was decided, in ms.
    pub at_ms: u64,
    /// The class of need it serves.
    pub priority: Priority,
}

/// A 95 % interval for the change a measurement found, `after - before`, in the metric's units.
#[derive(Debug, Clone, Copy, PartialEq, uniffi::Record)]
pub struct ChangeInterval {
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
}

/// What became of an action. Every action gets exactly one outcome.
///
/// In the measured outcomes, `shared_with` lists the other actions whose measurement of the
/// same metric overlapped this one (the knobs of one power mode, say): the change measured is
/// theirs jointly, not this action's alone. A latency repair changes one knob at a time, so its
/// list is empty.
///
/// The three measured outcomes follow one fixed rule per metric, decided once, when the
/// measurement ends (no re-testing until a result passes): an on-time ratio is compared as a
/// proportion (Newcombe's interval for the difference), a p95 by its order-statistic interval, and
/// the other metrics by `revert_tolerance_percent`. See `docs/verification.md`.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum OutcomeEvent {
    /// The metric got better, beyond the interval's doubt: `before` is the level settled
    /// before the breach (not the extreme that triggered the action), `after` the level
    /// measured since, over `samples_after` samples.
    Improved {
        action_id: u64,
        metric: TargetMetric,
        before: f64,
        after: f64,
        improvement_percent: f64,
        interval: Option<ChangeInterval>,
        samples_before: u64,
        samples_after: u64,
        shared_with: Vec<u64>,
    },
    /// Measured, and no change that matters: the interval lies within the margin (for an
    /// on-time ratio, half of `1 - target_on_time_ratio`), or the change is inside
    /// `revert_tolerance_percent`. A repair that bought nothing is taken back by
    /// `restore_action_id` (emitted in the same tick) and backs off; other actions stay.
    NoEffect {
        action_id: u64,
        metric: TargetMetric,
        before: f64,
        after: f64,
        interval: Option<ChangeInterval>,
        samples_before: u64,
        samples_after: u64,
        restore_action_id: Option<u64>,
        shared_with: Vec<u64>,
    },
    /// The metric got worse beyond doubt (or beyond `revert_tolerance_percent`): the previous
    /// value is restored by the action `restore_action_id`, emitted in the same tick, and the
    /// proposal backs off. A safety change or a return to the baseline is kept
    /// (`restore_action_id` None): the worse metric is the price of protection, or the
    /// strategy sees the breach and repairs it.
    Worse {
        action_id: u64,
        metric: TargetMetric,
        before: f64,
        after: f64,
        improvement_percent: f64,
        interval: Option<ChangeInterval>,
        reason: String,
        restore_action_id: Option<u64>,
        shared_with: Vec<u64>,
    },
    /// Not enough data to tell (too few samples before or after, an interval too wide for any
    /// conclusion, a recovery that cannot be told from the action's effect, or a changed
    /// context such as a charger plugged in during a power measurement). No effect is claimed.
    Inconclusive { action_id: u64, metric: TargetMetric, reason: String },
    /// The app reported that it could not apply the action; the engine's belief about the knob
    /// was restored and the proposal backs off.
    NotApplied { action_id: u64, detail: Option<String> },
    /// Another change to the same knob, `by_action_id`, replaced the action before its
    /// measurement ended: a higher class (safety over SLO repair over savings) within
    /// `verification_window_ms`, or any allowed change after it (the long power measurements).
    /// No effect is claimed.
    Superseded { action_id: u64, by_action_id: u64 },
    /// The app did not acknowledge within `ack_timeout_ms`. The engine does not assume the
    /// action took effect: its belief returns to what the app last confirmed (a strategy that
    /// still wants the value asks again), and a late acknowledgement still sets it. No effect
    /// is claimed.
    Unacknowledged { action_id: u64, waited_ms: u64 },
}

impl OutcomeEvent {
    /// The action this outcome is about.
    pub fn action_id(&self) -> u64 {
        match self {
            OutcomeEvent::Improved { action_id, .. }
            | OutcomeEvent::NoEffect { action_id, .. }
            | OutcomeEvent::Worse { action_id, .. }
            | OutcomeEvent::Inconclusive { action_id, .. }
            | OutcomeEvent::NotApplied { action_id, .. }
            | OutcomeEvent::Superseded { action_id, .. }
            | OutcomeEvent::Unacknowledged { action_id, .. } => *action_id,
        }
    }
}

/// One thing the engine tells the app, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineEvent {
    /// Apply this action.
    Action(ActionEvent),
    /// This is what became of an earlier action.
    Outcome(OutcomeEvent),
}

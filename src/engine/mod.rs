#![forbid(unsafe_code)]
//! The deterministic decision engine: samples and a clock in, typed events out.
//!
//! `Engine` has no threads, no wall clock and no randomness: the same calls with the same
//! timestamps give the same events, which is what lets the tests and the simulator run it
//! exactly as phones do. The runtime (`start_optimizer`) drives it on a background thread.
//!
//! ```
//! use meshtune::{Engine, EngineEvent, MetricSample, OptimizationAction, OptimizerConfig};
//!
//! let mut engine = Engine::new(OptimizerConfig::default()).unwrap();
//! // Every message later than the 100 ms deadline, for 20 s...
//! let mut repair = None;
//! for t in (0..20_000u64).step_by(1_000) {
//!     for i in 0..10 {
//!         engine.record(MetricSample::MessageDelivered { latency_ms: 400.0, hops: 2, bytes: 120 }, t + i * 100).unwrap();
//!     }
//!     for e in engine.tick(t + 1_000) {
//!         if let EngineEvent::Action(a) = e {
//!             repair.get_or_insert(a);
//!         }
//!     }
//! }
//! // ...gives the cheapest repair move, with the reason quoting the on-time ratio and the target.
//! let repair = repair.unwrap();
//! assert!(matches!(repair.action, OptimizationAction::SetCompression { enabled: true, .. }));
//! assert!(repair.reason.contains("on-time ratio 0.000"), "{}", repair.reason);
//! // The app applies it and says so; the engine then measures whether it helped.
//! engine.report_action_result(repair.id, true, None, repair.at_ms + 100).unwrap();
//! ```

pub mod arbitration;
pub mod stats;
pub mod verification;

use std::collections::VecDeque;

use crate::metrics::collector::MetricsCollector;
use crate::metrics::sample::is_valid_delivery;
#[cfg(test)]
use crate::metrics::sample::MAX_SAMPLE_DURATION_MS;
use crate::snapshot::{BackingOff, OptimizerCounters, OptimizerSnapshot, PerformanceMetrics};
use crate::strategy::{builtin_strategies, AdaptiveTick, OptimizationStrategy, Proposal, StrategyContext};
use crate::{
    ActionEvent, EngineEvent, Knob, MetricSample, OptimizationAction, OptimizerConfig, OptimizerError, OutcomeEvent,
    Priority, TargetMetric,
};
use arbitration::{arbitrate, Candidate};
use stats::{judge_slo, Blocks, SloJudgement};
use verification::{
    judge_drain, judge_level, judge_on_time, judge_percent, judge_quantile, judge_rate, metric_value, Accumulator,
    Measured, QuantileSide, Verdict,
};

/// Longest `detail` kept from an acknowledgement, in bytes (longer text is cut at a char
/// boundary).
pub const MAX_ACK_DETAIL_BYTES: usize = 1_024;
/// The rate cap's period: `max_actions_per_minute` counts actions in any such span.
const RATE_PERIOD_MS: u64 = 60_000;

/// A knob's state as the engine believes it.
#[derive(Debug, Clone)]
struct KnobState {
    value: OptimizationAction,
    /// Strategy that set the current value, and the metric it is judged by.
    owner: String,
    metric: TargetMetric,
    last_change_ms: Option<u64>,
    /// The class of the action that set the current value.
    priority: Priority,
    /// Action id waiting for an acknowledgement or under verification.
    busy_with: Option<u64>,
    backoff: Option<Backoff>,
    /// The engine does not know what the app has (an acknowledgement never came, or one came
    /// that a report of the app's state makes ambiguous): any proposal, the same value
    /// included, is asked for again, and a report of the app's state (`report_state`) settles it.
    unknown: bool,
}

/// After a revert or a refusal, the same value is not proposed again until `until_ms`.
#[derive(Debug, Clone)]
struct Backoff {
    value: OptimizationAction,
    until_ms: u64,
    level: u32,
    /// The app refused the value (then even a safety proposal of it backs off: the app cannot
    /// take it, and asking at every tick changes nothing).
    refused: bool,
}

impl Backoff {
    /// Whether `proposal` is held back by this back-off at `now`.
    fn holds(&self, proposal: &Proposal, now: u64) -> bool {
        self.value == proposal.action && now < self.until_ms && (self.refused || proposal.priority != Priority::Safety)
    }
}

/// An action emitted and not yet acknowledged.
#[derive(Debug, Clone)]
struct Pending {
    event: ActionEvent,
    previous: OptimizationAction,
    /// Whether the knob's value was unknown when the action was emitted (a refusal restores that).
    previous_unknown: bool,
    /// What the app reported the knob to be while this action waited (`report_state`): the
    /// acknowledgement can then no longer say alone what the app has.
    reported: Option<OptimizationAction>,
    /// Timed out, then a newer action on the knob was emitted: its late acknowledgement says
    /// nothing about what the app has now (the app applies actions in order).
    superseded: bool,
    /// An older action on the knob was acknowledged late as applied while this one waited:
    /// if this one is refused, the app has that older value, or another; the engine does not
    /// know which.
    refusal_unknown: bool,
    metric: TargetMetric,
    revertible: bool,
}

/// An applied action whose metric is being watched.
#[derive(Debug, Clone)]
struct Verification {
    action_id: u64,
    /// The action measured.
    action: OptimizationAction,
    knob: Knob,
    strategy: String,
    previous: OptimizationAction,
    metric: TargetMetric,
    priority: Priority,
    revertible: bool,
    started_ms: u64,
    /// The earliest end of the measurement.
    ends_ms: u64,
    /// The latest end: judged then on what came, if `need` samples did not.
    max_ends_ms: u64,
    /// Samples the comparison needs after the change (0: none beyond the window).
    need: u64,
    before: Before,
    acc: Accumulator,
    /// Other actions measured on the same metric over an overlapping period.
    shared_with: Vec<u64>,
}

/// The reference side of a measurement, taken when the action was applied.
#[derive(Debug, Clone)]
enum Before {
    /// On-time blocks of the window when the action was applied, the level settled before
    /// the breach (if known), and the smallest change that matters.
    OnTime { breach: Blocks, settled: Option<Blocks>, delta: f64 },
    /// A p95 with its order-statistic interval.
    Quantile(Option<QuantileSide>),
    /// A battery drain with the bounds of the level's resolution.
    Drain(Option<QuantileSide>),
    /// A rate with its variance and its rounds.
    Rate(Option<(f64, f64, u64)>),
    /// A level in readings: (mean, variance of the readings, readings) (the heap).
    Level(Option<(f64, f64, u64)>),
    /// A mean without an interval (the mean hop count).
    Value(Option<f64>),
}

/// Windows of history before a breach that make its settled level (10 minutes by default).
const SETTLED_WINDOWS: u64 = 10;

/// The deterministic core. See the module documentation.
pub struct Engine {
    config: OptimizerConfig,
    collector: MetricsCollector,
    strategies: Vec<Box<dyn OptimizationStrategy>>,
    knobs: Vec<KnobState>,
    pending: Vec<Pending>,
    verifying: Vec<Verification>,
    /// Whether a measurement in `verifying` takes deliveries sample by sample (a p95 latency
    /// or a mean hop count): then deliveries leave the hot path of `record`. Kept by
    /// [`Engine::verifying_changed`].
    deliveries_measured: bool,
    recent_actions_ms: VecDeque<u64>,
    next_id: u64,
    now_ms: u64,
    tick: AdaptiveTick,
    engaged: Vec<String>,
    counters: OptimizerCounters,
    metrics: PerformanceMetrics,
    /// Events decided and not yet returned: outcomes decided outside `tick` (refusals,
    /// withdrawals), and what a tick decided before a panic cut it short (a strategy's, say).
    /// They leave with the next tick that completes, or with [`Engine::close`].
    outbox: Vec<EngineEvent>,
    /// Actions whose acknowledgement timed out, newest last (at most [`TIMED_OUT_REMEMBERED`]):
    /// a late acknowledgement still tells the engine what the app has.
    timed_out: std::collections::VecDeque<Pending>,
    /// When the on-time SLO's current breach began (the start of the window that first showed
    /// it); None while it is not breached.
    on_time_breach_since_ms: Option<u64>,
    /// When the last on-time repair move was applied (acknowledged), ms.
    last_on_time_repair_ms: Option<u64>,
}

/// `action` as the OS runs it: a scan above `LOW_POWER` is lowered to it while the app is in the
/// background and `config.os_caps_background_scans` says the OS caps background scans (Android
/// without a foreground service); any other action, or in the foreground, unchanged.
pub fn os_capped(action: OptimizationAction, config: &OptimizerConfig, foreground: bool) -> OptimizationAction {
    match action {
        OptimizationAction::SetScanMode { mode, duty_on_ms, duty_off_ms }
            if config.os_caps_background_scans && !foreground && mode > crate::ScanMode::LowPower =>
        {
            OptimizationAction::SetScanMode { mode: crate::ScanMode::LowPower, duty_on_ms, duty_off_ms }
        }
        other => other,
    }
}

/// The `format` of a learned-state document.
pub const LEARNED_STATE_FORMAT: &str = "meshtune-learned-state";
/// The version of the learned-state document this library writes and reads.
pub const LEARNED_STATE_VERSION: u64 = 1;
/// Largest learned-state document `import_learned_state` reads.
pub const MAX_LEARNED_STATE_BYTES: usize = 256 * 1024;

/// Timed-out actions remembered for a late acknowledgement.
const TIMED_OUT_REMEMBERED: usize = 64;

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("now_ms", &self.now_ms).field("next_id", &self.next_id).finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine with the built-in strategies. Fails if the configuration is invalid.
    pub fn new(config: OptimizerConfig) -> Result<Engine, OptimizerError> {
        Self::with_strategies(config, builtin_strategies())
    }

    /// An engine with exactly these strategies (in arbitration order).
    pub fn with_strategies(
        config: OptimizerConfig,
        strategies: Vec<Box<dyn OptimizationStrategy>>,
    ) -> Result<Engine, OptimizerError> {
        config.validate()?;
        let collector = MetricsCollector::new(config.window_ms, config.memory_pressure_hold_ms)
            .with_deadline(config.target_p95_latency_ms)
            .with_finalization_max(config.max_finalization_ms);
        let metrics = collector.metrics();
        let knobs = Knob::ALL
            .iter()
            .map(|&k| KnobState {
                value: OptimizationAction::baseline(k),
                owner: "baseline".to_owned(),
                metric: default_metric(k),
                last_change_ms: None,
                priority: Priority::Savings,
                busy_with: None,
                backoff: None,
                unknown: false,
            })
            .collect();
        Ok(Engine {
            tick: AdaptiveTick::new(config.min_tick_interval_ms),
            config,
            collector,
            strategies,
            knobs,
            pending: Vec::new(),
            verifying: Vec::new(),
            deliveries_measured: false,
            recent_actions_ms: VecDeque::new(),
            next_id: 1,
            now_ms: 0,
            engaged: Vec::new(),
            counters: OptimizerCounters::default(),
            metrics,
            outbox: Vec::new(),
            timed_out: std::collections::VecDeque::new(),
            on_time_breach_since_ms: None,
            last_on_time_repair_ms: None,
        })
    }

    /// Adds a strategy after the existing ones (it loses ties within a priority class).
    pub fn add_strategy(&mut self, strategy: Box<dyn OptimizationStrategy>) {
        self.strategies.push(strategy);
    }

    /// The configuration in force.
    pub fn config(&self) -> &OptimizerConfig {
        &self.config
    }

    /// Validates and records one sample at `at_ms`. Time never goes backwards: an earlier
    /// timestamp counts as the latest time seen. A rejected sample changes no statistic.
    #[inline]
    pub fn record(&mut self, sample: MetricSample, at_ms: u64) -> Result<(), OptimizerError> {
        // The hot path (every BLE delivery callback): a valid delivery while no measurement
        // takes deliveries sample by sample (an on-time ratio is read from the collector's
        // blocks, so its measurement does not). It does exactly what the general path below
        // does for such a sample.
        if let MetricSample::MessageDelivered { latency_ms, hops, bytes } = sample {
            if is_valid_delivery(latency_ms, hops, bytes) && !self.deliveries_measured {
                self.counters.samples_offered += 1;
                self.counters.samples_accepted += 1;
                self.now_ms = self.now_ms.max(at_ms);
                self.collector.record_delivery(latency_ms, hops, bytes, self.now_ms);
                return Ok(());
            }
        }
        self.record_general(sample, at_ms)
    }

    /// `record` for every sample but the hot case.
    #[inline(never)]
    fn record_general(&mut self, sample: MetricSample, at_ms: u64) -> Result<(), OptimizerError> {
        self.counters.samples_offered += 1;
        if let Err(e) = check(&sample) {
            self.counters.samples_rejected += 1;
            return Err(e);
        }
        self.record_valid(&sample, at_ms);
        Ok(())
    }

    /// Records all samples, or none if any is invalid (the error names the first bad field,
    /// and every sample of the batch counts as rejected).
    pub fn record_batch(&mut self, samples: Vec<MetricSample>, at_ms: u64) -> Result<(), OptimizerError> {
        let n = samples.len() as u64;
        self.counters.samples_offered += n;
        if let Some(e) = samples.iter().find_map(|s| check(s).err()) {
            self.counters.samples_rejected += n;
            return Err(e);
        }
        for s in &samples {
            self.record_valid(s, at_ms);
        }
        Ok(())
    }

    /// Records a sample that the caller already validated (the runtime validates on the
    /// caller's thread). Counts it as offered and accepted.
    pub(crate) fn record_prevalidated(&mut self, sample: &MetricSample, at_ms: u64) {
        self.counters.samples_offered += 1;
        self.record_valid(sample, at_ms);
    }

    /// Records a sample the optimizer took itself (process CPU and memory): it is not one of
    /// the app's, so it is not counted as offered or accepted.
    pub(crate) fn record_own(&mut self, sample: &MetricSample, at_ms: u64) {
        self.ingest(sample, at_ms);
    }

    #[inline]
    fn record_valid(&mut self, sample: &MetricSample, at_ms: u64) {
        self.counters.samples_accepted += 1;
        self.ingest(sample, at_ms);
    }

    #[inline]
    fn ingest(&mut self, sample: &MetricSample, at_ms: u64) {
        self.now_ms = self.now_ms.max(at_ms);
        self.collector.record(sample, self.now_ms);
        if !self.verifying.is_empty() {
            self.feed_verifications(sample);
        }
    }

    /// Shows a sample to every verification in progress (kept out of line: most samples
    /// arrive while nothing is being verified).
    #[inline(never)]
    fn feed_verifications(&mut self, sample: &MetricSample) {
        for v in &mut self.verifying {
            v.acc.feed(v.metric, sample);
        }
    }

    /// The app's acknowledgement of action `action_id`: applied, or not (with the platform's
    /// reason in `detail`). Applied actions are then verified; refused ones restore the
    /// engine's belief about the knob and back off. A late acknowledgement (after
    /// `ack_timeout_ms`, when the outcome `Unacknowledged` was already given) still sets the
    /// belief to what the app has, unless the knob has changed since; it gets no second outcome.
    pub fn report_action_result(
        &mut self,
        action_id: u64,
        applied: bool,
        detail: Option<String>,
        at_ms: u64,
    ) -> Result<(), OptimizerError> {
        let Some(pos) = self.pending.iter().position(|p| p.event.id == action_id) else {
            if let Some(late) = self.timed_out.iter().position(|p| p.event.id == action_id) {
                let p = self.timed_out.remove(late).ok_or(OptimizerError::UnknownAction { action_id })?;
                self.now_ms = self.now_ms.max(at_ms);
                let knob = p.event.action.knob();
                let newer_pending = self.knobs[knob.index()]
                    .busy_with
                    .and_then(|id| self.pending.iter_mut().find(|q| q.event.id == id));
                if p.event.action.is_one_shot() {
                    // Not a state: nothing to believe.
                } else if let Some(newer) = newer_pending {
                    // The app applies actions in order: the newer one's acknowledgement settles
                    // the knob, unless it is refused.
                    if applied {
                        newer.refusal_unknown = true;
                    }
                } else {
                    let k = &mut self.knobs[knob.index()];
                    // Unambiguous only if nothing else happened to the knob since: no newer
                    // action, no report of the app's state.
                    let clean = !p.superseded && p.reported.is_none();
                    match (applied, clean) {
                        (true, true) => {
                            k.value = p.event.action.clone();
                            k.unknown = false;
                            k.last_change_ms = Some(self.now_ms);
                        }
                        (false, true) => {
                            k.value = p.previous.clone();
                            k.unknown = p.previous_unknown;
                        }
                        // A newer action was emitted: its own acknowledgement (or timeout) says.
                        (_, false) if p.reported.is_none() => {}
                        // Applied before or after the app's report? Only the same value says.
                        (true, false) => k.unknown |= k.value != p.event.action,
                        (false, false) => {}
                    }
                }
                // Counted once already, as unacknowledged: not again as applied or refused.
                return Ok(());
            }
            return Err(OptimizerError::UnknownAction { action_id });
        };
        self.now_ms = self.now_ms.max(at_ms);
        let now = self.now_ms;
        let p = self.pending.remove(pos);
        let knob = p.event.action.knob();
        if !applied {
            self.counters.actions_refused += 1;
            let detail = detail.map(truncate_detail);
            tracing::info!(action_id, ?detail, "action not applied by the app");
            let k = &mut self.knobs[knob.index()];
            k.busy_with = None;
            let refused = p.event.action.clone();
            if !refused.is_one_shot() {
                restore_kept(k, p);
            }
            set_backoff(k, refused, now, &self.config, true);
            self.push_outcome_later(OutcomeEvent::NotApplied { action_id, detail });
            return Ok(());
        }
        self.counters.actions_applied += 1;
        if let Some(r) = &p.reported {
            // The app reported another value while this action waited: whether it applied the
            // action before or after that, the engine cannot tell. It asks again.
            if *r != p.event.action && !p.event.action.is_one_shot() {
                let k = &mut self.knobs[knob.index()];
                k.busy_with = None;
                k.value = r.clone();
                k.unknown = true;
                self.push_outcome_later(OutcomeEvent::Inconclusive {
                    action_id,
                    metric: p.metric,
                    reason: "the app reported another value of this knob before acknowledging it: it is asked again"
                        .to_owned(),
                });
                return Ok(());
            }
        }
        self.collector.advance(now);
        let metrics = self.collector.metrics();
        let min = u64::from(self.config.min_samples);
        let window = if p.metric == TargetMetric::BatteryDrainPercentPerHour {
            self.config.power_verification_window_ms
        } else {
            self.config.verification_window_ms
        };
        let (before, need) = match p.metric {
            TargetMetric::BatteryDrainPercentPerHour => (
                Before::Drain(self.collector.battery_drain_bounds(
                    now.saturating_sub(window),
                    now,
                    self.config.battery_level_step_percent,
                )),
                0,
            ),
            TargetMetric::OnTimeRatio => {
                let breach = self.blocks_before(now);
                let settled = self.on_time_breach_since_ms.map(|since| {
                    Blocks::from_counts(self.collector.on_time_blocks_overlapping(
                        since.saturating_sub(SETTLED_WINDOWS.saturating_mul(self.config.window_ms)),
                        since,
                    ))
                });
                // The smallest change worth detecting: half the way to the target, and never
                // less than the SLO's slack.
                let target = self.config.target_on_time_ratio;
                let level = if breach.n == 0 { target } else { breach.mean };
                let delta = ((target - level) / 2.0).max(1.0 - target).min(0.5);
                let need = breach.needed_for(delta);
                (Before::OnTime { breach, settled, delta }, need)
            }
            TargetMetric::P95LatencyMs | TargetMetric::P95FinalizationMs | TargetMetric::P95DiscoveryMs => {
                (Before::Quantile(self.collector.window_p95_with_interval(p.metric)), 0)
            }
            TargetMetric::ConsensusOpsPerSec => (Before::Rate(self.collector.consensus_rate_with_variance()), 0),
            // Two readings after the change at least (the interval needs a spread), waited for
            // up to `verification_max_ms` as on-time blocks are: heap readings can be sparse.
            TargetMetric::HeapUsedMb => (Before::Level(self.collector.heap_level_with_variance()), 2),
            m => (Before::Value(metric_value(&metrics, m, min)), 0),
        };
        if p.metric == TargetMetric::OnTimeRatio && p.event.priority == Priority::SloRepair {
            self.last_on_time_repair_ms = Some(now);
        }
        let shared_with: Vec<u64> =
            self.verifying.iter().filter(|v| v.metric == p.metric).map(|v| v.action_id).collect();
        for v in self.verifying.iter_mut().filter(|v| v.metric == p.metric) {
            v.shared_with.push(action_id);
        }
        let max_window = if matches!(p.metric, TargetMetric::OnTimeRatio | TargetMetric::HeapUsedMb) {
            self.config.verification_max_ms
        } else {
            window
        };
        self.verifying.push(Verification {
            action_id,
            action: p.event.action.clone(),
            knob,
            strategy: p.event.strategy.clone(),
            previous: p.previous,
            metric: p.metric,
            priority: p.event.priority,
            revertible: p.revertible && !p.event.action.is_one_shot(),
            started_ms: now,
            ends_ms: now.saturating_add(window),
            max_ends_ms: now.saturating_add(max_window.max(window)),
            need,
            before,
            acc: Accumulator::for_metric(p.metric, min),
            shared_with,
        });
        self.verifying_changed();
        Ok(())
    }

    /// The action never reached the app (the runtime's event queue was full, or the optimizer
    /// stopped first): the engine's belief about the knob is restored and the outcome is
    /// `NotApplied` with `reason`, with the next tick (or [`Engine::close`]). Unlike a refusal
    /// it does not back off: the app said nothing about the value. Returns false for an id that
    /// is not awaiting its acknowledgement.
    pub fn withdraw(&mut self, action_id: u64, reason: &str) -> bool {
        let Some(pos) = self.pending.iter().position(|p| p.event.id == action_id) else {
            return false;
        };
        let p = self.pending.remove(pos);
        let k = &mut self.knobs[p.event.action.knob().index()];
        if k.busy_with == Some(action_id) {
            k.busy_with = None;
        }
        if !p.event.action.is_one_shot() {
            restore_kept(k, p);
        }
        self.counters.actions_undelivered += 1;
        self.push_outcome_later(OutcomeEvent::NotApplied { action_id, detail: Some(reason.to_owned()) });
        true
    }

    /// The app's actual configuration of these knobs: at start, and whenever it changes outside
    /// MeshTune (the OS downgraded a scan, Bluetooth went off, the user changed a setting). The
    /// engine's belief becomes what is reported, an unknown knob is known again, and an action
    /// on the knob still waiting for its acknowledgement can then no longer say alone what the
    /// app has (a later `applied` with another value leaves the knob unknown, and it is asked
    /// again). A measurement of an action on a knob that changed under it ends `Inconclusive`.
    /// All or nothing: a value out of bounds, a one-shot action or a knob given twice is
    /// `InvalidAction` naming `report_state.actual[i]`, and nothing changes.
    pub fn report_state(&mut self, actual: &[OptimizationAction], at_ms: u64) -> Result<(), OptimizerError> {
        let mut given = [false; Knob::ALL.len()];
        for (i, a) in actual.iter().enumerate() {
            let at =
                |reason: String| OptimizerError::InvalidAction { field: format!("report_state.actual[{i}]"), reason };
            if let Err(OptimizerError::InvalidAction { field, reason }) = a.validate() {
                return Err(at(format!("{field}: {reason}")));
            }
            if a.is_one_shot() {
                return Err(at(format!("{a} is not a state")));
            }
            let idx = a.knob().index();
            if given[idx] {
                return Err(at(format!("a second value for {:?} in the same report", a.knob())));
            }
            given[idx] = true;
        }
        self.now_ms = self.now_ms.max(at_ms);
        for a in actual {
            let knob = a.knob();
            let k = &mut self.knobs[knob.index()];
            if k.value != *a || k.unknown {
                self.counters.external_changes += 1;
            }
            k.value = a.clone();
            k.unknown = false;
            for p in self.pending.iter_mut().chain(self.timed_out.iter_mut()).filter(|p| p.event.action.knob() == knob)
            {
                p.reported = Some(a.clone());
            }
            let mut i = 0;
            while i < self.verifying.len() {
                let v = &self.verifying[i];
                if v.knob != knob || v.action == *a {
                    i += 1;
                    continue;
                }
                let v = self.verifying.remove(i);
                if self.knobs[knob.index()].busy_with == Some(v.action_id) {
                    self.knobs[knob.index()].busy_with = None;
                }
                self.push_outcome_later(OutcomeEvent::Inconclusive {
                    action_id: v.action_id,
                    metric: v.metric,
                    reason: format!("the app reported {a} during the measurement (a change outside MeshTune)"),
                });
            }
        }
        self.verifying_changed();
        Ok(())
    }

    /// Whether action `action_id` should still be applied at `now_ms`: it awaits its
    /// acknowledgement, its `ack_timeout_ms` has not run out, and it is still the engine's
    /// latest word on its knob. False for an expired, answered, withdrawn or unknown action:
    /// the app should not apply it, but acknowledge it as not applied (the engine then keeps
    /// or restores its belief, as for any refusal) and report what it has if that changed.
    pub fn is_action_current(&self, action_id: u64, now_ms: u64) -> bool {
        let now = self.now_ms.max(now_ms);
        self.pending.iter().any(|p| {
            p.event.id == action_id
                && now.saturating_sub(p.event.at_ms) < self.config.ack_timeout_ms
                && (p.event.action.is_one_shot()
                    || self.knobs[p.event.action.knob().index()].busy_with == Some(action_id))
        })
    }

    /// Whether the engine does not know the app's value of `knob` (its acknowledgement never
    /// came, and no report of the app's state since).
    pub fn is_unknown(&self, knob: Knob) -> bool {
        self.knobs[knob.index()].unknown
    }

    /// Ends every open action, as the optimizer stops: the outcomes not yet emitted, then
    /// `Inconclusive` for each action still awaiting its acknowledgement or its measurement.
    /// Afterwards every action the engine emitted has had exactly one outcome.
    pub fn close(&mut self, now_ms: u64) -> Vec<EngineEvent> {
        self.now_ms = self.now_ms.max(now_ms);
        let mut out: Vec<OutcomeEvent> = Vec::new();
        for ev in std::mem::take(&mut self.outbox) {
            match ev {
                EngineEvent::Outcome(o) => out.push(o),
                // Emitted by a tick that panicked before returning it: the app never saw it.
                EngineEvent::Action(a) => {
                    if let Some(pos) = self.pending.iter().position(|p| p.event.id == a.id) {
                        let p = self.pending.remove(pos);
                        let k = &mut self.knobs[p.event.action.knob().index()];
                        if !p.event.action.is_one_shot() && k.value == p.event.action {
                            k.value = p.previous;
                        }
                        self.counters.actions_undelivered += 1;
                        out.push(OutcomeEvent::NotApplied {
                            action_id: a.id,
                            detail: Some("never delivered: the optimizer stopped first".to_owned()),
                        });
                    }
                }
            }
        }
        for p in self.pending.drain(..) {
            out.push(OutcomeEvent::Inconclusive {
                action_id: p.event.id,
                metric: p.metric,
                reason: "the optimizer stopped before the app acknowledged it".to_owned(),
            });
        }
        for v in self.verifying.drain(..) {
            out.push(OutcomeEvent::Inconclusive {
                action_id: v.action_id,
                metric: v.metric,
                reason: "the optimizer stopped before the measurement ended".to_owned(),
            });
        }
        self.verifying_changed();
        for k in &mut self.knobs {
            k.busy_with = None;
        }
        for o in &out {
            self.count_outcome(o);
        }
        out.into_iter().map(EngineEvent::Outcome).collect()
    }

    /// Outcomes decided outside `tick` (refusals) wait here and leave with the next tick.
    fn push_outcome_later(&mut self, outcome: OutcomeEvent) {
        self.outbox.push(EngineEvent::Outcome(outcome));
    }
}

impl Engine {
    /// Runs one decision round at `now_ms` and returns what the app must know, outcomes first,
    /// then actions, in a deterministic order.
    pub fn tick(&mut self, now_ms: u64) -> Vec<EngineEvent> {
        self.now_ms = self.now_ms.max(now_ms);
        let now = self.now_ms;
        self.counters.ticks += 1;
        self.collector.advance(now);
        self.metrics = self.collector.metrics();
        let mp = &self.metrics.mesh_performance;
        let slo = judge_slo(mp.on_time, mp.delivered + mp.lost, self.config.target_on_time_ratio);
        match slo {
            SloJudgement::Breached if self.on_time_breach_since_ms.is_none() => {
                self.on_time_breach_since_ms = Some(now.saturating_sub(self.config.window_ms));
            }
            SloJudgement::Met => self.on_time_breach_since_ms = None,
            _ => {}
        }
        let mut events: Vec<EngineEvent> = Vec::new();
        self.expire_acks(now, &mut events);
        if slo == SloJudgement::Breached {
            self.cut_short_outlasted_repairs(now);
        }
        self.finish_verifications(now, &mut events);
        // What is decided is kept in the outbox at once, so that a panic later in this tick
        // (a strategy's, say) loses none of it: the next tick returns it.
        self.outbox.append(&mut events);

        // Strategies propose.
        let mut candidates: Vec<Candidate> = Vec::new();
        self.engaged.clear();
        {
            let profile: Vec<OptimizationAction> = self.knobs.iter().map(|k| k.value.clone()).collect();
            // Only while the OS's cap can apply does what the radio runs differ from the profile.
            let capped =
                (self.config.os_caps_background_scans && !self.metrics.device.foreground).then(|| self.os_profile());
            let os_profile = capped.as_deref().unwrap_or(&profile);
            let held_back: Vec<OptimizationAction> = self
                .knobs
                .iter()
                .filter_map(|k| k.backoff.as_ref().filter(|b| now < b.until_ms).map(|b| b.value.clone()))
                .collect();
            let ctx = StrategyContext {
                config: &self.config,
                now_ms: now,
                profile: &profile,
                os_profile,
                held_back: &held_back,
            };
            for (order, strategy) in self.strategies.iter_mut().enumerate() {
                if !strategy.should_apply(&self.metrics, &ctx) {
                    continue;
                }
                let name = strategy.name().to_owned();
                for proposal in strategy.propose(&self.metrics, &ctx) {
                    if let Err(e) = proposal.action.validate() {
                        self.counters.proposals_discarded += 1;
                        tracing::warn!(strategy = %name, error = %e, "proposal out of bounds discarded");
                        continue;
                    }
                    candidates.push(Candidate { order, strategy: name.clone(), proposal });
                }
                self.engaged.push(name);
            }
        }

        // A value that is backing off (reverted, or refused by the app) does not compete: the
        // knob follows the next proposal meanwhile, instead of staying where it was because
        // its winner is blocked. A safety proposal is held back only by the app's own refusal of it.
        // A knob whose only proposals are backing off keeps its value: the strategy still wants
        // it away from the baseline, so a return to the baseline would be a change nobody asked for.
        let mut blocked = [false; Knob::ALL.len()];
        candidates.retain(|c| {
            let k = &self.knobs[c.proposal.action.knob().index()];
            let held = k.backoff.as_ref().is_some_and(|b| b.holds(&c.proposal, now));
            if held {
                blocked[c.proposal.action.knob().index()] = true;
            }
            !held
        });

        // One winner per knob; knobs nobody proposes go back to their baseline.
        let mut winners = arbitrate(candidates);
        let mut emitted_any = false;
        let mut held_back = false;
        for knob in Knob::ALL {
            let winner = winners.get_mut(knob.index()).and_then(Option::take);
            let (strategy, proposal) = match winner {
                Some(c) => (c.strategy, c.proposal),
                None if knob == Knob::GarbageCollection => continue,
                // Nothing can change before the back-off ends: not a reason to tick fast.
                None if blocked[knob.index()] => continue,
                // Already at its baseline: `try_change` would refuse the change before
                // anything else, so the reason is not even written.
                None if self.knobs[knob.index()].value == OptimizationAction::baseline(knob)
                    && !self.knobs[knob.index()].unknown =>
                {
                    continue
                }
                None => {
                    let k = &self.knobs[knob.index()];
                    let min = u64::from(self.config.min_samples);
                    let now_value = metric_value(&self.metrics, k.metric, min)
                        .map_or_else(|| "no recent data".to_owned(), |v| format!("now {v:.1}"));
                    let action = OptimizationAction::baseline(knob);
                    let reason = format!(
                        "{} no longer proposes it ({}: {now_value}); back to baseline",
                        k.owner,
                        k.metric.label()
                    );
                    ("baseline".to_owned(), Proposal { action, priority: Priority::Savings, metric: k.metric, reason })
                }
            };
            let k = &self.knobs[knob.index()];
            let wanted = !proposal.action.is_one_shot() && (proposal.action != k.value || k.unknown);
            match self.try_change(knob, strategy, proposal, now, &mut events) {
                Some(event) => {
                    events.push(EngineEvent::Action(event));
                    emitted_any = true;
                }
                None => held_back |= wanted,
            }
            self.outbox.append(&mut events);
        }
        let events = std::mem::take(&mut self.outbox);

        // Busy (tick at the minimum interval): something changed, waits for the app or for a
        // measurement, or a wanted change is held back by a dwell, the rate cap or a back-off.
        // A repair that is fully in place and stable is not busy: the interval then doubles.
        let busy = emitted_any || held_back || !self.pending.is_empty() || !self.verifying.is_empty();
        self.tick.update(busy, self.config.min_tick_interval_ms, self.config.max_tick_interval_ms);
        for e in &events {
            if let EngineEvent::Outcome(o) = e {
                self.count_outcome(o);
            }
        }
        events
    }

    /// The interval the runtime should wait before the next tick.
    pub fn next_tick_interval_ms(&self) -> u64 {
        self.tick.interval_ms()
    }

    /// The engine's view: metrics from every sample recorded so far, profile, counters.
    pub fn snapshot(&self) -> OptimizerSnapshot {
        // Built now, so that a sample recorded just before shows (windows expire at ticks).
        let metrics = self.collector.metrics();
        let foreground = metrics.device.foreground;
        OptimizerSnapshot {
            now_ms: self.now_ms,
            backing_off: self
                .knobs
                .iter()
                .filter_map(|k| k.backoff.as_ref())
                .filter(|b| self.now_ms < b.until_ms)
                .map(|b| BackingOff { action: b.value.clone(), until_ms: b.until_ms, refused_by_app: b.refused })
                .collect(),
            metrics,
            profile: self.knobs.iter().map(|k| k.value.clone()).collect(),
            os_scan_mode: match (
                self.knob(Knob::ScanMode),
                os_capped(self.knob(Knob::ScanMode).clone(), &self.config, foreground),
            ) {
                (
                    OptimizationAction::SetScanMode { mode: asked, .. },
                    OptimizationAction::SetScanMode { mode: runs, .. },
                ) if *asked != runs => Some(runs),
                _ => None,
            },
            unknown_knobs: Knob::ALL.iter().copied().filter(|&k| self.knobs[k.index()].unknown).collect(),
            pending_actions: self.pending.iter().map(|p| p.event.clone()).collect(),
            engaged_strategies: self.engaged.clone(),
            tick_interval_ms: self.tick.interval_ms(),
            counters: self.counters.clone(),
        }
    }

    /// What the radio runs as far as the engine knows: every knob's value, with the scan mode
    /// lowered by the OS's background cap ([`os_capped`]).
    fn os_profile(&self) -> Vec<OptimizationAction> {
        let foreground = self.metrics.device.foreground;
        self.knobs.iter().map(|k| os_capped(k.value.clone(), &self.config, foreground)).collect()
    }

    /// The current value of one knob.
    pub fn knob(&self, knob: Knob) -> &OptimizationAction {
        &self.knobs[knob.index()].value
    }

    fn count_outcome(&mut self, o: &OutcomeEvent) {
        let c = &mut self.counters;
        match o {
            OutcomeEvent::Improved { .. } => c.outcomes_improved += 1,
            OutcomeEvent::NoEffect { .. } => c.outcomes_no_effect += 1,
            OutcomeEvent::Worse { .. } => c.outcomes_worse += 1,
            OutcomeEvent::Inconclusive { .. } => c.outcomes_inconclusive += 1,
            OutcomeEvent::NotApplied { .. } => {}
            OutcomeEvent::Superseded { .. } => c.outcomes_superseded += 1,
            OutcomeEvent::Unacknowledged { .. } => c.outcomes_unacknowledged += 1,
        }
    }

    fn expire_acks(&mut self, now: u64, events: &mut Vec<EngineEvent>) {
        let timeout = self.config.ack_timeout_ms;
        let mut i = 0;
        while i < self.pending.len() {
            let waited = now.saturating_sub(self.pending[i].event.at_ms);
            if waited < timeout {
                i += 1;
                continue;
            }
            let p = self.pending.remove(i);
            let k = &mut self.knobs[p.event.action.knob().index()];
            let latest = k.busy_with == Some(p.event.id);
            if latest {
                k.busy_with = None;
            }
            // Never assume an unacknowledged action took effect, nor that it did not (the app
            // may still apply it, even after reporting another value): the knob is unknown
            // (shown as the value the app last confirmed or reported) until a late
            // acknowledgement or a report of the app's state says what the app has; meanwhile
            // any proposal for it, the same value included, is asked for again.
            if !p.event.action.is_one_shot() && latest {
                if k.value == p.event.action {
                    k.value = p.reported.clone().unwrap_or_else(|| p.previous.clone());
                }
                k.unknown = true;
            }
            tracing::warn!(action_id = p.event.id, waited, "action not acknowledged in time");
            events
                .push(EngineEvent::Outcome(OutcomeEvent::Unacknowledged { action_id: p.event.id, waited_ms: waited }));
            if self.timed_out.len() >= TIMED_OUT_REMEMBERED {
                self.timed_out.pop_front();
            }
            self.timed_out.push_back(p);
        }
    }

    /// A repair move whose breach outlasted a full window of messages sent after it did not end
    /// the breach: its measurement ends now, with what came (at least that window), so that the
    /// next move is bought now and measured on its own, instead of waiting up to
    /// `verification_max_ms` for this one's blocks while the breach goes on. The rule is fixed
    /// when the measurement begins (it ends at the first of: its blocks, its latest end, a
    /// breach a full window after the move); it can only end a measurement on data that still
    /// show the breach, so it never ends one early to catch a favourable result. In the
    /// simulator, waiting cost on-time delivery (commute 0.821 -> 0.844, stadium 0.634 -> 0.673,
    /// 8 seeds), for some energy and, in the stadium, more changes (docs/verification.md).
    /// Called only while the window's on-time judgement is `Breached`.
    fn cut_short_outlasted_repairs(&mut self, now: u64) {
        let full_window = self.window_after_move_ms();
        for v in self.verifying.iter_mut().filter(|v| {
            v.metric == TargetMetric::OnTimeRatio
                && v.priority == Priority::SloRepair
                && now.saturating_sub(v.started_ms) >= full_window
        }) {
            v.ends_ms = v.ends_ms.min(now);
            v.max_ends_ms = v.max_ends_ms.min(now);
        }
    }

    /// How long after a move the statistics window holds only messages sent after it, ms: the
    /// window and one slot (the window's oldest slot may reach one slot further back).
    fn window_after_move_ms(&self) -> u64 {
        let slot = self.config.window_ms.div_ceil(crate::metrics::collector::WINDOW_SLOTS as u64);
        self.config.window_ms.saturating_add(slot)
    }

    fn finish_verifications(&mut self, now: u64, events: &mut Vec<EngineEvent>) {
        let min = u64::from(self.config.min_samples);
        let tolerance = self.config.revert_tolerance_percent;
        let mut i = 0;
        while i < self.verifying.len() {
            let v = &self.verifying[i];
            // The measurement ends once, by a rule fixed when it began: after its window, when
            // it has the samples its comparison needs, or at its latest end with what came.
            let samples = match v.before {
                Before::OnTime { .. } => Blocks::from_counts(self.collector.on_time_blocks_since(v.started_ms)).n,
                _ => v.acc.samples(),
            };
            let due = now >= v.ends_ms && (samples >= v.need || now >= v.max_ends_ms);
            if !due {
                i += 1;
                continue;
            }
            let v = self.verifying.remove(i);
            self.verifying_changed();
            let k = &mut self.knobs[v.knob.index()];
            if k.busy_with == Some(v.action_id) {
                k.busy_with = None;
            }
            let elapsed = now.saturating_sub(v.started_ms);
            let verdict = match &v.before {
                Before::OnTime { breach, settled, delta } => {
                    let after = Blocks::from_counts(self.collector.on_time_blocks_since(v.started_ms));
                    judge_on_time(breach, settled.as_ref(), &after, *delta)
                }
                Before::Quantile(before) => judge_quantile(*before, v.acc.p95_with_interval(), tolerance),
                Before::Rate(before) => judge_rate(*before, v.acc.rate_with_variance(elapsed), tolerance, min),
                Before::Drain(before) => {
                    let after = self.collector.battery_drain_bounds(
                        v.started_ms,
                        now.saturating_add(1),
                        self.config.battery_level_step_percent,
                    );
                    judge_drain(*before, after, tolerance)
                }
                Before::Level(before) => match v.acc.result(min, elapsed) {
                    Ok(_) => judge_level(v.metric, *before, v.acc.mean_with_variance(), tolerance),
                    Err(reason) => Verdict::Inconclusive(reason),
                },
                Before::Value(None) => Verdict::Inconclusive("not enough data before the change".to_owned()),
                Before::Value(Some(b)) => match v.acc.result(min, elapsed) {
                    Ok(a) => judge_percent(v.metric, *b, a, tolerance, v.acc.samples()),
                    Err(reason) => Verdict::Inconclusive(reason),
                },
            };
            let can_revert = v.revertible && v.priority < Priority::Safety;
            let first_new = events.len();
            match verdict {
                Verdict::Inconclusive(reason) => {
                    events.push(EngineEvent::Outcome(OutcomeEvent::Inconclusive {
                        action_id: v.action_id,
                        metric: v.metric,
                        reason,
                    }));
                }
                Verdict::Improved(m) => {
                    events.push(EngineEvent::Outcome(OutcomeEvent::Improved {
                        action_id: v.action_id,
                        metric: v.metric,
                        before: m.before,
                        after: m.after,
                        improvement_percent: change_percent(v.metric, &m),
                        interval: interval_of(&m),
                        samples_before: m.samples_before,
                        samples_after: m.samples_after,
                        shared_with: v.shared_with.clone(),
                    }));
                }
                Verdict::NoEffect(m) => {
                    // A repair that bought nothing is taken back: it costs and does not help.
                    let take_back =
                        can_revert && v.priority == Priority::SloRepair && v.metric == TargetMetric::OnTimeRatio;
                    let restore_action_id = take_back.then_some(self.next_id);
                    events.push(EngineEvent::Outcome(OutcomeEvent::NoEffect {
                        action_id: v.action_id,
                        metric: v.metric,
                        before: m.before,
                        after: m.after,
                        interval: interval_of(&m),
                        samples_before: m.samples_before,
                        samples_after: m.samples_after,
                        restore_action_id,
                        shared_with: v.shared_with.clone(),
                    }));
                    if take_back {
                        let reason = format!(
                            "{} {:.3} before, {:.3} after: no change that matters",
                            v.metric.label(),
                            m.before,
                            m.after
                        );
                        self.roll_back(&v, reason, now, events);
                    }
                }
                Verdict::Worse(m) => {
                    let improvement = change_percent(v.metric, &m);
                    let reason = match m.interval {
                        Some((lo, hi)) => format!(
                            "{} went from {:.3} to {:.3} (change {lo:+.3} to {hi:+.3} at 95 %)",
                            v.metric.label(),
                            m.before,
                            m.after
                        ),
                        None => format!(
                            "{} went from {:.2} to {:.2} ({improvement:+.1}%), worse than the {tolerance}% tolerance",
                            v.metric.label(),
                            m.before,
                            m.after
                        ),
                    };
                    // Safety changes and releases stay: a worse metric is the price of
                    // protection, or the strategy sees the breach and repairs it again.
                    let restore_action_id = can_revert.then_some(self.next_id);
                    events.push(EngineEvent::Outcome(OutcomeEvent::Worse {
                        action_id: v.action_id,
                        metric: v.metric,
                        before: m.before,
                        after: m.after,
                        improvement_percent: improvement,
                        interval: interval_of(&m),
                        reason: if can_revert { reason.clone() } else { format!("{reason}; kept (not revertible)") },
                        restore_action_id,
                        shared_with: v.shared_with.clone(),
                    }));
                    if can_revert {
                        self.roll_back(&v, reason, now, events);
                    }
                }
            }
            let outcome = events[first_new..].iter().find_map(|e| match e {
                EngineEvent::Outcome(o) if o.action_id() == v.action_id => Some(o.clone()),
                _ => None,
            });
            if let Some(o) = outcome {
                self.tell_strategy(&v, &o);
            }
        }
    }

    /// Tells the strategy whose action was measured what came of it (a strategy's panic here is
    /// caught: the outcome stands, the strategy learns nothing from it).
    fn tell_strategy(&mut self, v: &Verification, outcome: &OutcomeEvent) {
        for s in self.strategies.iter_mut().filter(|s| s.name() == v.strategy) {
            let told = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s.observe(&v.action, outcome)));
            if told.is_err() {
                tracing::error!(strategy = %v.strategy, "strategy panicked while observing an outcome");
            }
        }
    }

    /// What the strategies have learned, as one JSON document: `{"format":
    /// "meshtune-learned-state", "version": 1, "strategies": {name: state}}`. Save it and give it
    /// to [`Engine::import_learned_state`] after a restart, so that what this phone measured is
    /// not measured again.
    pub fn export_learned_state(&self) -> String {
        let mut strategies = serde_json::Map::new();
        for s in &self.strategies {
            if let Some(state) = s.export_state() {
                strategies.insert(s.name().to_owned(), state);
            }
        }
        serde_json::json!({"format": LEARNED_STATE_FORMAT, "version": LEARNED_STATE_VERSION, "strategies": strategies})
            .to_string()
    }

    /// Takes in a document from [`Engine::export_learned_state`]. All of it, or nothing: a
    /// document that is not JSON, of another format or version, too large, or with a part a
    /// strategy refuses, is `InvalidConfig` naming the part (`learned_state.version`,
    /// `learned_state.strategies.network.contexts...`), and nothing changes. A strategy the
    /// document does not mention keeps what it has.
    pub fn import_learned_state(&mut self, json: &str) -> Result<(), OptimizerError> {
        let err = |field: &str, reason: String| OptimizerError::config(&format!("learned_state{field}"), reason);
        if json.len() > MAX_LEARNED_STATE_BYTES {
            return Err(err("", format!("{} bytes is over the limit of {MAX_LEARNED_STATE_BYTES}", json.len())));
        }
        let doc: serde_json::Value = serde_json::from_str(json).map_err(|e| err("", e.to_string()))?;
        let Some(doc) = doc.as_object() else {
            return Err(err("", "expected a JSON object".to_owned()));
        };
        if doc.get("format").and_then(|f| f.as_str()) != Some(LEARNED_STATE_FORMAT) {
            return Err(err(".format", format!("expected \"{LEARNED_STATE_FORMAT}\"")));
        }
        match doc.get("version").and_then(|v| v.as_u64()) {
            Some(LEARNED_STATE_VERSION) => {}
            other => {
                return Err(err(
                    ".version",
                    format!("{other:?} is not a version this library reads ({LEARNED_STATE_VERSION})"),
                ))
            }
        }
        let Some(parts) = doc.get("strategies").and_then(|s| s.as_object()) else {
            return Err(err(".strategies", "expected an object of states by strategy name".to_owned()));
        };
        for (name, state) in parts {
            let Some(s) = self.strategies.iter().find(|s| s.name() == name) else {
                return Err(err(&format!(".strategies.{name}"), "no such strategy in this engine".to_owned()));
            };
            s.check_state(state).map_err(|reason| err(&format!(".strategies.{name}"), reason))?;
        }
        for (name, state) in parts {
            if let Some(s) = self.strategies.iter_mut().find(|s| s.name() == name) {
                s.import_state(state);
            }
        }
        Ok(())
    }

    /// Recomputes [`Engine::deliveries_measured`] after `verifying` changed.
    fn verifying_changed(&mut self) {
        self.deliveries_measured =
            self.verifying.iter().any(|v| matches!(v.metric, TargetMetric::P95LatencyMs | TargetMetric::MeanHopCount));
    }

    /// Restores the value before action `v` and backs the reverted value off. A rollback is
    /// not held by the rate cap (it undoes a change the cap already counted), so the verdict is
    /// never re-measured while it waits.
    fn roll_back(&mut self, v: &Verification, reason: String, now: u64, events: &mut Vec<EngineEvent>) {
        let reverted = self.knobs[v.knob.index()].value.clone();
        set_backoff(&mut self.knobs[v.knob.index()], reverted, now, &self.config, false);
        let proposal = Proposal {
            action: v.previous.clone(),
            priority: v.priority,
            metric: v.metric,
            reason: format!("revert of action {}: {reason}", v.action_id),
        };
        let event = self.emit(v.knob, format!("revert:{}", v.strategy), proposal, now, false);
        events.push(EngineEvent::Action(event));
    }

    /// Applies the stability rules to one knob's winning proposal; emits the change if allowed.
    fn try_change(
        &mut self,
        knob: Knob,
        strategy: String,
        proposal: Proposal,
        now: u64,
        events: &mut Vec<EngineEvent>,
    ) -> Option<ActionEvent> {
        let cfg = &self.config;
        let safety = proposal.priority == Priority::Safety;
        let k = &self.knobs[knob.index()];
        let one_shot = proposal.action.is_one_shot();
        if !one_shot && proposal.action == k.value && !k.unknown {
            return None;
        }
        // Waiting for the app: no change. Measuring: for `verification_window_ms` only a higher
        // class may interrupt; after that (the long power measurements) any allowed change
        // supersedes the measurement.
        let mut superseded: Option<u64> = None;
        if let Some(id) = k.busy_with {
            if self.pending.iter().any(|p| p.event.id == id) {
                return None;
            }
            let v = self.verifying.iter().find(|v| v.action_id == id)?;
            let locked = now < v.started_ms.saturating_add(cfg.verification_window_ms);
            if locked && proposal.priority <= v.priority {
                return None;
            }
            superseded = Some(id);
        }
        if k.backoff.as_ref().is_some_and(|b| b.holds(&proposal, now)) {
            return None;
        }
        // One repair per metric in flight: each is measured on its own, so no outcome reports
        // a joint change as its own.
        if proposal.priority == Priority::SloRepair && self.repair_in_flight(knob, proposal.metric) {
            return None;
        }
        // The next repair move waits until the statistics window holds only messages sent
        // after the last move: the breach that calls for it must be seen after the last move
        // took effect, not in the messages from before it.
        if proposal.priority == Priority::SloRepair
            && proposal.metric == TargetMetric::OnTimeRatio
            && self.last_on_time_repair_ms.is_some_and(|t| now.saturating_sub(t) < self.window_after_move_ms())
        {
            return None;
        }
        // A safety change enters protection at once; between two safety values (a thermal band
        // flickering, a battery band) it keeps the dwell like any other change.
        if safety
            && k.priority == Priority::Safety
            && !one_shot
            && k.last_change_ms.is_some_and(|t| now.saturating_sub(t) < cfg.min_dwell_ms)
        {
            return None;
        }
        if !safety {
            let dwell = if one_shot { cfg.gc_min_interval_ms } else { cfg.min_dwell_ms };
            if k.last_change_ms.is_some_and(|t| now.saturating_sub(t) < dwell) {
                return None;
            }
            if !self.rate_available(now) {
                return None;
            }
        } else if one_shot && k.last_change_ms.is_some_and(|t| now.saturating_sub(t) < cfg.gc_min_interval_ms) {
            return None;
        }
        // A return to the baseline is not reverted for its metric: if releasing a repair lets
        // the breach come back, the strategy sees the breach and repairs again (a revert here
        // is how the engine used to undo its own releases).
        let revertible = strategy != "baseline";
        let event = self.emit(knob, strategy, proposal, now, revertible);
        if let Some(old) = superseded {
            self.verifying.retain(|v| v.action_id != old);
            self.verifying_changed();
            events.push(EngineEvent::Outcome(OutcomeEvent::Superseded { action_id: old, by_action_id: event.id }));
        }
        Some(event)
    }

    /// The on-time blocks of the window before `now` (the reference side of a measurement).
    fn blocks_before(&self, now: u64) -> Blocks {
        Blocks::from_counts(self.collector.on_time_blocks_overlapping(now.saturating_sub(self.config.window_ms), now))
    }

    /// Whether an SLO repair for `metric` on a knob other than `knob` awaits its acknowledgement
    /// or its measurement.
    fn repair_in_flight(&self, knob: Knob, metric: TargetMetric) -> bool {
        self.pending
            .iter()
            .any(|p| p.metric == metric && p.event.priority == Priority::SloRepair && p.event.action.knob() != knob)
            || self.verifying.iter().any(|v| v.metric == metric && v.priority == Priority::SloRepair && v.knob != knob)
    }

    /// Whether the rate cap leaves room for one more non-safety action at `now`.
    fn rate_available(&mut self, now: u64) -> bool {
        while self.recent_actions_ms.front().is_some_and(|&t| now.saturating_sub(t) >= RATE_PERIOD_MS) {
            self.recent_actions_ms.pop_front();
        }
        self.recent_actions_ms.len() < self.config.max_actions_per_minute as usize
    }

    /// Emits an action: new id, belief updated, waiting for the app's acknowledgement.
    fn emit(&mut self, knob: Knob, strategy: String, proposal: Proposal, now: u64, revertible: bool) -> ActionEvent {
        let id = self.next_id;
        self.next_id += 1;
        self.counters.actions_emitted += 1;
        if proposal.priority < Priority::Safety {
            self.recent_actions_ms.push_back(now);
        }
        let k = &mut self.knobs[knob.index()];
        let previous = std::mem::replace(&mut k.value, proposal.action.clone());
        let previous_unknown = k.unknown;
        if proposal.action.is_one_shot() {
            k.value = previous.clone();
        } else {
            k.unknown = false;
        }
        k.owner = strategy.clone();
        k.metric = proposal.metric;
        if !proposal.action.is_one_shot() {
            k.priority = proposal.priority;
        }
        k.last_change_ms = Some(now);
        k.busy_with = Some(id);
        if !proposal.action.is_one_shot() {
            for t in self.timed_out.iter_mut().filter(|t| t.event.action.knob() == knob) {
                t.superseded = true;
            }
        }
        let event = ActionEvent {
            id,
            strategy,
            action: proposal.action,
            reason: proposal.reason,
            at_ms: now,
            priority: proposal.priority,
        };
        tracing::debug!(id, action = %event.action, reason = %event.reason, "action");
        self.pending.push(Pending {
            event: event.clone(),
            previous,
            previous_unknown,
            reported: None,
            superseded: false,
            refusal_unknown: false,
            metric: proposal.metric,
            revertible,
        });
        event
    }
}

/// The app kept what it had, because `p` was refused or never reached it: the value it reported
/// while `p` waited, or the value before `p`. Unknown if that was unknown, or if an older action
/// on the knob was acknowledged late as applied while `p` waited (then the app may have that).
fn restore_kept(k: &mut KnobState, p: Pending) {
    match p.reported {
        Some(r) => {
            k.value = r;
            k.unknown = p.refusal_unknown;
        }
        None => {
            k.value = p.previous;
            k.unknown = p.previous_unknown || p.refusal_unknown;
        }
    }
}

/// Exactly `sample.validate()`, with the hot case decided inline: a delivery whose latency and
/// hops are valid (`metrics::sample::is_valid_delivery`) is valid, and everything else,
/// including every invalid delivery, goes through `validate` (which names the bad field).
#[inline]
fn check(sample: &MetricSample) -> Result<(), OptimizerError> {
    match sample {
        MetricSample::MessageDelivered { latency_ms, hops, bytes } if is_valid_delivery(*latency_ms, *hops, *bytes) => {
            Ok(())
        }
        _ => sample.validate(),
    }
}

fn set_backoff(k: &mut KnobState, value: OptimizationAction, now: u64, cfg: &OptimizerConfig, refused: bool) {
    let level = match &k.backoff {
        Some(b) if b.value == value => b.level.saturating_add(1),
        _ => 0,
    };
    let factor = 1u64.checked_shl(level.min(32)).unwrap_or(u64::MAX);
    let wait = cfg.backoff_base_ms.saturating_mul(factor).min(cfg.backoff_max_ms);
    k.backoff = Some(Backoff { value, until_ms: now.saturating_add(wait), level, refused });
}

/// The change in percent of the reference, positive when better (0 when the reference is 0);
/// for an on-time ratio, in percentage points (a share that rose from 0.40 to 0.90 gained 50).
fn change_percent(metric: TargetMetric, m: &Measured) -> f64 {
    if metric == TargetMetric::OnTimeRatio {
        return (m.after - m.before) * 100.0;
    }
    verification::improvement_percent(metric, m.before, m.after).unwrap_or(0.0)
}

fn interval_of(m: &Measured) -> Option<crate::ChangeInterval> {
    m.interval.map(|(low, high)| crate::ChangeInterval { low, high })
}

fn truncate_detail(mut s: String) -> String {
    if s.len() > MAX_ACK_DETAIL_BYTES {
        let mut cut = MAX_ACK_DETAIL_BYTES;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

/// The metric a knob is judged by before any strategy has set it.
fn default_metric(knob: Knob) -> TargetMetric {
    match knob {
        Knob::ScanMode | Knob::Advertising => TargetMetric::BatteryDrainPercentPerHour,
        Knob::ConnectionPriority
        | Knob::MaxConnections
        | Knob::MessageBatching
        | Knob::Compression
        | Knob::RelayPolicy => TargetMetric::OnTimeRatio,
        Knob::CacheTrim | Knob::ObjectPooling | Knob::GarbageCollection => TargetMetric::HeapUsedMb,
        Knob::ConsensusBatchSize | Knob::ParallelValidation | Knob::VoteCache => TargetMetric::ConsensusOpsPerSec,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The inline validity test of the hot path agrees with `MetricSample::validate`.
    #[test]
    fn fast_latency_check_matches_validate() {
        let edge = [
            0.0,
            -0.0,
            f64::MIN_POSITIVE,
            1.0,
            MAX_SAMPLE_DURATION_MS,
            f64::from_bits(MAX_SAMPLE_DURATION_MS.to_bits() + 1),
            -f64::MIN_POSITIVE,
            -1.0,
            f64::NAN,
            -f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MAX,
        ];
        for latency_ms in edge {
            let sample = MetricSample::MessageDelivered { latency_ms, hops: 1, bytes: 1 };
            assert_eq!(is_valid_delivery(latency_ms, 1, 1), sample.validate().is_ok(), "{latency_ms}");
            assert_eq!(check(&sample).is_ok(), sample.validate().is_ok(), "{latency_ms}");
        }
        for bytes in
            [0, crate::metrics::sample::MAX_MESSAGE_BYTES, crate::metrics::sample::MAX_MESSAGE_BYTES + 1, u32::MAX]
        {
            let sample = MetricSample::MessageDelivered { latency_ms: 10.0, hops: 1, bytes };
            assert_eq!(is_valid_delivery(10.0, 1, bytes), sample.validate().is_ok(), "{bytes}");
            assert_eq!(check(&sample).is_ok(), sample.validate().is_ok(), "{bytes}");
        }
        for hops in [0, crate::metrics::sample::MAX_HOPS, crate::metrics::sample::MAX_HOPS + 1, u32::MAX] {
            let sample = MetricSample::MessageDelivered { latency_ms: 10.0, hops, bytes: 1 };
            assert_eq!(is_valid_delivery(10.0, hops, 1), sample.validate().is_ok(), "{hops}");
            assert_eq!(check(&sample).is_ok(), sample.validate().is_ok(), "{hops}");
        }
        let other = MetricSample::Battery { level_percent: 101.0, charging: false };
        assert_eq!(check(&other).map_err(|e| e.to_string()), other.validate().map_err(|e| e.to_string()));
    }

    /// The hot path and the general path (taken while a verification runs) leave the same
    /// statistics and counters.
    #[test]
    fn hot_and_general_record_paths_agree() {
        let mut a = Engine::new(OptimizerConfig::default()).unwrap();
        let mut b = Engine::new(OptimizerConfig::default()).unwrap();
        for (i, t) in (0..5_000u64).map(|i| (i, i * 37 % 90_000)).collect::<Vec<_>>() {
            let s =
                MetricSample::MessageDelivered { latency_ms: (i % 97) as f64 * 3.5, hops: (i % 7) as u32, bytes: 100 };
            a.record(s.clone(), t).unwrap();
            b.record_general(s, t).unwrap();
        }
        assert!(a.record(MetricSample::MessageDelivered { latency_ms: f64::NAN, hops: 1, bytes: 1 }, 1).is_err());
        assert!(b
            .record_general(MetricSample::MessageDelivered { latency_ms: f64::NAN, hops: 1, bytes: 1 }, 1)
            .is_err());
        a.collector.advance(100_000);
        b.collector.advance(100_000);
        assert_eq!(a.collector.metrics(), b.collector.metrics());
        assert_eq!(a.counters, b.counters);
        assert_eq!(a.now_ms, b.now_ms);
    }
}

#![forbid(unsafe_code)]
//! Consensus (BitCraps tables): the consensus batch size, grown fast and cut fast.
//!
//! Finalization p95 above the maximum → halve the batch (multiplicative decrease, bounded
//! below, and not below the batch predicted to keep the throughput target), unless throughput
//! is below target too or no cut is predicted to keep it (then the batch is held and validation
//! made cheaper: halving would trade away throughput that is missing or needed); otherwise throughput
//! below target → grow it to the batch predicted to meet the target (throughput proportional
//! to the batch; at most 4×, at least `consensus_batch_step` more, bounded above: each step is
//! a knob change, so the search takes few of them) and switch on parallel validation and the
//! vote cache. When both are fine, when too few rounds came to judge, or when the table has
//! paused (no round for ln(1000) mean intervals: its rate decays, but it is no breach), the
//! current settings are held (proposed at `Savings`) so that a batch size that works is not
//! undone.
//! The engine changes a knob at most once per dwell and never during its verification, which
//! paces the additive increase.
//!
//! Both conditions are judged with an interval, not on the window's point estimates (calm by
//! construction: a knob moves on noise only when the statistics say the state changed):
//! - finalization: the maximum is a p95, so it is met when 95 % of the window's rounds
//!   finalized within it; that share is judged as the on-time SLO is (`judge_slo`);
//! - throughput: the window's rate with its 95 % interval (compound Poisson) against the target,
//!   with a slack of `1 - hysteresis_ratio` of it (`judge_at_least`).
//!
//! Rounds are the ones the app reports, that is, finished ones: a round that times out and is
//! retried is no sample, so the finalization share is of finished rounds only, and a table
//! whose rounds keep failing shows in its throughput (fewer operations finalized), not there.
//!
//! Between "breached" and "met" the last judgement stands. With thresholds on point estimates
//! instead, the simulator's game-night tables, whose p95 hovered around the maximum whatever
//! the batch, halved the batch from 32 to 1 in five dwells, and grew it again at 115 ops/s
//! because 115 was not yet past the exit threshold of 125.
//!
//! A cut for slow rounds is followed by another only when it was measured to help (`Improved`
//! on the p95 of finalization): otherwise the batch is not shown to be what makes the rounds
//! slow (lossy links can be), and for `repair_hold_max_ms` the batch is held and validation made
//! cheaper instead. Cutting on the strength of the breach alone took the batch from 8 to 1 under
//! rounds whose slowness did not depend on it.
//!
//! A batch size whose rounds were too slow is remembered as a ceiling (for
//! `repair_hold_max_ms`, or until a smaller one is found): growth for throughput then goes
//! halfway to it, not past it, and holds once the gap is below `consensus_batch_step`. Without
//! it, a table whose throughput needs a batch its rounds cannot finalize in time swung between
//! the two (16 → 32 → 64 → 32 → 16 → 32 ... every dwell in the simulator's game-night).

use super::{Hysteresis, OptimizationStrategy, Proposal, StrategyContext};
use crate::engine::stats::{judge_at_least, judge_slo};
use crate::{Knob, OptimizationAction, PerformanceMetrics, Priority, TargetMetric};

/// Share of rounds that must finalize within `max_finalization_ms` (it is a p95).
const FINALIZATION_SHARE: f64 = 0.95;

/// ln(1000): rounds coming as a Poisson process at the window's rate leave a gap this many mean
/// intervals long once in a thousand.
const PAUSE_GAPS: f64 = 6.907_755;

/// Whether the table has paused: no round for longer than [`PAUSE_GAPS`] mean intervals between
/// the window's rounds (the window's length over its rounds: an overestimate while the window
/// is not yet full, so a pause is called late rather than early). Some((time since the last
/// round, mean interval)), ms. A pause is no throughput breach: the window's rate decays while
/// no round comes, and a bigger batch cannot raise the rate of a table that is not playing (the
/// batch was once grown 19 s into a pause).
fn paused(cp: &crate::snapshot::ConsensusPerformance, c: &crate::OptimizerConfig) -> Option<(u64, f64)> {
    let age = cp.last_round_age_ms?;
    if cp.rounds == 0 {
        return None;
    }
    let gap = c.window_ms as f64 / cp.rounds as f64;
    (age as f64 > PAUSE_GAPS * gap).then_some((age, gap))
}

/// Tunes consensus batching.
#[derive(Debug, Default)]
pub struct ConsensusStrategy {
    slow_finalization: Hysteresis,
    low_throughput: Hysteresis,
    /// The smallest batch size found too slow to finalize, and when.
    ceiling: Option<(u32, u64)>,
    /// The batch size last seen in force, and since when.
    size_since: Option<(u32, u64)>,
    /// The size of the last cut for slow rounds, until its measurement comes.
    cut_to: Option<u32>,
    /// A cut for slow rounds was measured not to help (`NoEffect`, `Worse` or `Inconclusive`),
    /// and since when (`Some(None)`: measured, time not yet noted): no further cut for
    /// `repair_hold_max_ms`.
    cut_unproven: Option<Option<u64>>,
}

/// The batch size in force.
fn batch_in_force(ctx: &StrategyContext<'_>) -> u32 {
    match ctx.current(Knob::ConsensusBatchSize) {
        Some(OptimizationAction::SetConsensusBatchSize { size }) => *size,
        _ => ctx.config.consensus_batch_min,
    }
}

/// The batch predicted to give `target` ops/s, throughput taken as proportional to the batch
/// (`current` gives `rate`); None without a rate to predict from.
fn batch_for(current: u32, rate: f64, target: f64) -> Option<u32> {
    (rate > 0.0).then(|| (f64::from(current) * target / rate).ceil().min(f64::from(u32::MAX)) as u32)
}

impl ConsensusStrategy {
    /// Notes when the batch size in force changed (called at every tick, proposing or not).
    fn track_size(&mut self, ctx: &StrategyContext<'_>) {
        let current = batch_in_force(ctx);
        if self.size_since.is_none_or(|(size, _)| size != current) {
            self.size_since = Some((current, ctx.now_ms));
            // Judged afresh at the new size, on its own rounds (see `settled`): a judgement of
            // the size before is no evidence about this one. Standing on it, noise around the
            // finalization maximum cut the batch window after window (8 -> 4 -> 2 -> 1).
            self.slow_finalization.reset();
            self.low_throughput.reset();
        }
    }

    /// Whether the window holds only rounds run at the current batch size (`track_size` noted
    /// when it changed): a change is judged on those, not on the rounds of the size before it.
    fn settled(&self, ctx: &StrategyContext<'_>) -> bool {
        self.size_since.is_some_and(|(_, since)| ctx.now_ms.saturating_sub(since) >= ctx.config.window_ms)
    }
}

impl OptimizationStrategy for ConsensusStrategy {
    fn name(&self) -> &str {
        "consensus"
    }

    fn should_apply(&mut self, m: &PerformanceMetrics, ctx: &StrategyContext<'_>) -> bool {
        self.track_size(ctx);
        match self.cut_unproven {
            Some(None) => self.cut_unproven = Some(Some(ctx.now_ms)),
            Some(Some(at)) if ctx.now_ms.saturating_sub(at) >= ctx.config.repair_hold_max_ms => {
                self.cut_unproven = None
            }
            _ => {}
        }
        let c = ctx.config;
        let cp = &m.consensus_performance;
        if cp.rounds < u64::from(c.min_samples) || paused(cp, c).is_some() {
            // Too few rounds to judge, or a table that has paused: hold what is in place (see
            // `propose`).
            let tuned = [Knob::ConsensusBatchSize, Knob::ParallelValidation, Knob::VoteCache]
                .iter()
                .any(|&k| ctx.current(k).is_some_and(|v| *v != OptimizationAction::baseline(k)));
            return self.slow_finalization.engaged() || self.low_throughput.engaged() || tuned;
        }
        if self.settled(ctx) {
            self.slow_finalization.judged(judge_slo(cp.rounds_in_time, cp.rounds, FINALIZATION_SHARE));
            let target = c.target_consensus_ops_per_sec;
            let half = cp.ops_per_sec_half_width.unwrap_or(f64::INFINITY);
            self.low_throughput.judged(judge_at_least(
                cp.ops_per_sec,
                half,
                target,
                target * (1.0 - c.hysteresis_ratio),
            ));
        }
        true
    }

    fn propose(&mut self, m: &PerformanceMetrics, ctx: &StrategyContext<'_>) -> Vec<Proposal> {
        let c = ctx.config;
        let cp = &m.consensus_performance;
        let current = batch_in_force(ctx);
        let current_bool = |knob| match ctx.current(knob) {
            Some(OptimizationAction::SetParallelValidation { enabled })
            | Some(OptimizationAction::SetVoteCache { enabled }) => *enabled,
            _ => false,
        };
        let fin = || {
            let p95 = cp.finalization.map_or_else(|| "unknown".to_owned(), |f| format!("{:.1}", f.p95_ms));
            format!(
                "{} of {} rounds finalized within {} ms (p95 {p95} ms; target 95 %)",
                cp.rounds_in_time.min(cp.rounds),
                cp.rounds,
                c.max_finalization_ms
            )
        };
        let ops = || {
            format!(
                "throughput {:.1} ± {} ops/s, target {}",
                cp.ops_per_sec,
                cp.ops_per_sec_half_width.map_or_else(|| "?".to_owned(), |h| format!("{h:.1}")),
                c.target_consensus_ops_per_sec
            )
        };
        if self.ceiling.is_some_and(|(_, at)| ctx.now_ms.saturating_sub(at) >= c.repair_hold_max_ms) {
            self.ceiling = None;
        }
        let settled = self.settled(ctx);
        let hold = |reason: String| {
            let p = |action| Proposal {
                action,
                priority: Priority::Savings,
                metric: TargetMetric::ConsensusOpsPerSec,
                reason: reason.clone(),
            };
            vec![
                p(OptimizationAction::SetConsensusBatchSize {
                    size: current.clamp(c.consensus_batch_min, c.consensus_batch_max),
                }),
                p(OptimizationAction::SetParallelValidation { enabled: current_bool(Knob::ParallelValidation) }),
                p(OptimizationAction::SetVoteCache { enabled: current_bool(Knob::VoteCache) }),
            ]
        };
        if cp.rounds < u64::from(c.min_samples) {
            return hold(format!(
                "{} consensus round(s) in the window, {} needed to judge: holding batch {current}",
                cp.rounds, c.min_samples
            ));
        }
        if let Some((age, gap)) = paused(cp, c) {
            return hold(format!(
                "no consensus round for {:.1} s, against {:.2} s between rounds in the window: the table has paused, holding batch {current}",
                age as f64 / 1000.0,
                gap / 1000.0
            ));
        }
        let cheaper = |reason: String| {
            let p = |action| Proposal {
                action,
                priority: Priority::SloRepair,
                metric: TargetMetric::P95FinalizationMs,
                reason: reason.clone(),
            };
            vec![
                p(OptimizationAction::SetConsensusBatchSize {
                    size: current.clamp(c.consensus_batch_min, c.consensus_batch_max),
                }),
                p(OptimizationAction::SetParallelValidation { enabled: true }),
                p(OptimizationAction::SetVoteCache { enabled: true }),
            ]
        };
        if self.slow_finalization.engaged() && self.low_throughput.engaged() {
            // Slow rounds *and* too little throughput: a smaller batch would cut throughput
            // further, and the batch is not what makes the rounds slow (in the simulator, lossy
            // links were: halving there spiralled down to batches of 1). Hold the batch and
            // make validation cheaper instead.
            return cheaper(format!(
                "rounds too slow: {}; but {}, too low: holding batch {current}, cheaper validation",
                fin(),
                ops()
            ));
        }
        if (self.slow_finalization.engaged() || self.low_throughput.engaged()) && !settled {
            return hold(format!(
                "batch {current} changed less than a window ago ({} ms): holding it until the window holds only its rounds",
                c.window_ms
            ));
        }
        if self.slow_finalization.engaged() {
            if self.ceiling.is_none_or(|(cap, _)| current <= cap) {
                self.ceiling = Some((current, ctx.now_ms));
            }
            // Halve, but not below the smallest batch predicted to keep the throughput target,
            // throughput taken as proportional to the batch (the pessimistic case: rounds no
            // faster for being smaller). A cut that would trade the throughput target for the
            // finalization one is no repair (the two then swung in the simulator's game-night:
            // cut, throughput too low, grown, cut again); nor is one smaller than
            // `consensus_batch_step` or half the batch, whichever is less (as growth holds
            // below a step). Validation is made cheaper instead.
            let keeps = batch_for(current, cp.ops_per_sec, c.target_consensus_ops_per_sec).unwrap_or(u32::MAX);
            let size = (current / 2).max(keeps).clamp(c.consensus_batch_min, c.consensus_batch_max);
            if current.saturating_sub(size) < c.consensus_batch_step.max(1).min(current / 2).max(1) {
                return cheaper(format!(
                    "rounds too slow: {}; a smaller batch is predicted to cut {}: holding batch {current}, cheaper validation",
                    fin(),
                    ops()
                ));
            }
            if let Some(at) = self.cut_unproven {
                let ago = at.map_or(0, |at| ctx.now_ms.saturating_sub(at) / 1000);
                return cheaper(format!(
                    "rounds too slow: {}; the last cut was not measured to help ({ago} s ago), so the batch is not shown to be the cause: holding batch {current}, cheaper validation",
                    fin()
                ));
            }
            self.cut_to = Some(size);
            let reason = format!("rounds too slow: {}: batch {current} -> {size}", fin());
            // Validation settings stay as they are (a smaller batch is the repair here).
            let mut out = hold(reason.clone());
            out[0] = Proposal {
                action: OptimizationAction::SetConsensusBatchSize { size },
                priority: Priority::SloRepair,
                metric: TargetMetric::P95FinalizationMs,
                reason,
            };
            return out;
        }
        if self.low_throughput.engaged() {
            // To the batch predicted to meet the target, throughput taken as proportional to
            // the batch: one change where doubling took several (in the simulator's
            // game-night, 8 -> 16 -> 32 at first). At most four times the batch in one step (a
            // low rate is a noisy guide), at least `consensus_batch_step` more; doubling when
            // no operation finalized to predict from.
            let predicted = batch_for(current, cp.ops_per_sec, c.target_consensus_ops_per_sec)
                .unwrap_or_else(|| current.saturating_mul(2));
            let mut size = predicted
                .min(current.saturating_mul(4))
                .max(current.saturating_add(c.consensus_batch_step))
                .clamp(c.consensus_batch_min, c.consensus_batch_max);
            let mut why = String::new();
            if let Some((cap, at)) = self.ceiling.filter(|&(cap, _)| size >= cap) {
                // Halfway to the size whose rounds were too slow, and no further; once the gap
                // is below a step, the batch is held (validation is still made cheaper).
                let mid = current + cap.saturating_sub(current) / 2;
                let ago = ctx.now_ms.saturating_sub(at) / 1000;
                if cap <= current || mid.saturating_sub(current) < c.consensus_batch_step.max(1) {
                    size = current.clamp(c.consensus_batch_min, c.consensus_batch_max);
                    why = format!(" (held: batch {cap} was too slow to finalize {ago} s ago)");
                } else {
                    size = mid;
                    why = format!(" (halfway to batch {cap}, too slow to finalize {ago} s ago)");
                }
            }
            let reason = format!("consensus {}, too low: batch {current} -> {size}{why}", ops());
            self.cut_to = None;
            let p = |action| Proposal {
                action,
                priority: Priority::SloRepair,
                metric: TargetMetric::ConsensusOpsPerSec,
                reason: reason.clone(),
            };
            return vec![
                p(OptimizationAction::SetConsensusBatchSize { size }),
                p(OptimizationAction::SetParallelValidation { enabled: true }),
                p(OptimizationAction::SetVoteCache { enabled: true }),
            ];
        }
        hold(format!("consensus healthy ({}): holding batch {current}", ops()))
    }

    fn observe(&mut self, action: &OptimizationAction, outcome: &crate::OutcomeEvent) {
        use crate::OutcomeEvent as O;
        let OptimizationAction::SetConsensusBatchSize { size } = action else {
            return;
        };
        if self.cut_to != Some(*size) {
            return;
        }
        match outcome {
            O::Improved { .. } => self.cut_to = None,
            O::NoEffect { .. } | O::Worse { .. } | O::Inconclusive { .. } => {
                self.cut_to = None;
                self.cut_unproven = Some(None);
            }
            _ => {}
        }
    }
}

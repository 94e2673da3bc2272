#![forbid(unsafe_code)]
//! Consensus (BitCraps tables): the consensus batch size, grown fast and cut fast.
//!
//! Finalization p95 above the maximum → halve the batch (multiplicative decrease, bounded
//! below), unless throughput is below target too (then the batch is held and validation made
//! cheaper: halving would trade away throughput that is already missing); otherwise throughput
//! below target → double it (at least `consensus_batch_step` more, bounded above: each step is
//! a knob change, so the search takes few of them) and switch on parallel validation and the
//! vote cache. When both are fine, or when too few rounds came to judge (a table pausing), the
//! current settings are held (proposed at `Savings`) so that a batch size that works is not
//! undone.
//! The engine changes a knob at most once per dwell and never during its verification, which
//! paces the additive increase.
//!
//! A batch size whose rounds were too slow is remembered as a ceiling (for
//! `repair_hold_max_ms`, or until a smaller one is found): growth for throughput then goes
//! halfway to it, not past it, and holds once the gap is below `consensus_batch_step`. Without
//! it, a table whose throughput needs a batch its rounds cannot finalize in time swung between
//! the two (16 → 32 → 64 → 32 → 16 → 32 ... every dwell in the simulator's game-night).

use super::{Hysteresis, OptimizationStrategy, Proposal, StrategyContext};
use crate::{Knob, OptimizationAction, PerformanceMetrics, Priority, TargetMetric};

/// Tunes consensus batching.
#[derive(Debug, Default)]
pub struct ConsensusStrategy {
    slow_finalization: Hysteresis,
    low_throughput: Hysteresis,
    /// The smallest batch size found too slow to finalize, and when.
    ceiling: Option<(u32, u64)>,
    /// The batch size last seen in force, and since when.
    size_since: Option<(u32, u64)>,
}

impl ConsensusStrategy {
    /// Notes when the batch size in force changed (called at every tick, proposing or not).
    fn track_size(&mut self, ctx: &StrategyContext<'_>) {
        let current = match ctx.current(Knob::ConsensusBatchSize) {
            Some(OptimizationAction::SetConsensusBatchSize { size }) => *size,
            _ => ctx.config.consensus_batch_min,
        };
        if self.size_since.is_none_or(|(size, _)| size != current) {
            self.size_since = Some((current, ctx.now_ms));
        }
    }
}

impl OptimizationStrategy for ConsensusStrategy {
    fn name(&self) -> &str {
        "consensus"
    }

    fn should_apply(&mut self, m: &PerformanceMetrics, ctx: &StrategyContext<'_>) -> bool {
        self.track_size(ctx);
        let c = ctx.config;
        let cp = &m.consensus_performance;
        if cp.rounds < u64::from(c.min_samples) {
            // Too few rounds to judge: hold what is in place (see `propose`).
            let tuned = [Knob::ConsensusBatchSize, Knob::ParallelValidation, Knob::VoteCache]
                .iter()
                .any(|&k| ctx.current(k).is_some_and(|v| *v != OptimizationAction::baseline(k)));
            return self.slow_finalization.engaged() || self.low_throughput.engaged() || tuned;
        }
        if let Some(f) = cp.finalization {
            self.slow_finalization.above(f.p95_ms, c.max_finalization_ms, c.max_finalization_ms * c.hysteresis_ratio);
        }
        let target = c.target_consensus_ops_per_sec;
        self.low_throughput.below(cp.ops_per_sec, target, target / c.hysteresis_ratio);
        true
    }

    fn propose(&mut self, m: &PerformanceMetrics, ctx: &StrategyContext<'_>) -> Vec<Proposal> {
        let c = ctx.config;
        let cp = &m.consensus_performance;
        let current = match ctx.current(Knob::ConsensusBatchSize) {
            Some(OptimizationAction::SetConsensusBatchSize { size }) => *size,
            _ => c.consensus_batch_min,
        };
        let current_bool = |knob| match ctx.current(knob) {
            Some(OptimizationAction::SetParallelValidation { enabled })
            | Some(OptimizationAction::SetVoteCache { enabled }) => *enabled,
            _ => false,
        };
        let fin = cp.finalization.map_or_else(|| "unknown".to_owned(), |f| format!("{:.1}", f.p95_ms));
        if self.ceiling.is_some_and(|(_, at)| ctx.now_ms.saturating_sub(at) >= c.repair_hold_max_ms) {
            self.ceiling = None;
        }
        // Whether the window holds only rounds run at the current batch size (`should_apply`
        // noted when it changed): a change is judged on those, not on the rounds of the size
        // before it.
        let settled = self.size_since.is_some_and(|(_, since)| ctx.now_ms.saturating_sub(since) >= c.window_ms);
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
        if self.slow_finalization.engaged() && self.low_throughput.engaged() {
            // Slow rounds *and* too little throughput: a smaller batch would cut throughput
            // further, and the batch is not what makes the rounds slow (in the simulator, lossy
            // links were: halving there spiralled down to batches of 1). Hold the batch and
            // make validation cheaper instead.
            let reason = format!(
                "p95 finalization {fin} ms > max {} ms but throughput {:.1} ops/s < target {}: holding batch {current}, cheaper validation",
                c.max_finalization_ms, cp.ops_per_sec, c.target_consensus_ops_per_sec
            );
            let p = |action| Proposal {
                action,
                priority: Priority::SloRepair,
                metric: TargetMetric::P95FinalizationMs,
                reason: reason.clone(),
            };
            return vec![
                p(OptimizationAction::SetConsensusBatchSize {
                    size: current.clamp(c.consensus_batch_min, c.consensus_batch_max),
                }),
                p(OptimizationAction::SetParallelValidation { enabled: true }),
                p(OptimizationAction::SetVoteCache { enabled: true }),
            ];
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
            let size = (current / 2).clamp(c.consensus_batch_min, c.consensus_batch_max);
            let reason =
                format!("p95 finalization {fin} ms > max {} ms: batch {current} -> {size}", c.max_finalization_ms);
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
            let mut size = current
                .saturating_mul(2)
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
            let reason = format!(
                "consensus throughput {:.1} ops/s < target {} ops/s: batch {current} -> {size}{why}",
                cp.ops_per_sec, c.target_consensus_ops_per_sec
            );
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
        hold(format!(
            "consensus healthy ({:.1} ops/s, target {}): holding batch {current}",
            cp.ops_per_sec, c.target_consensus_ops_per_sec
        ))
    }
}

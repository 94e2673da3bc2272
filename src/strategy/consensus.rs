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

use super::{Hysteresis, OptimizationStrategy, Proposal, StrategyContext};
use crate::{Knob, OptimizationAction, PerformanceMetrics, Priority, TargetMetric};

/// Tunes consensus batching.
#[derive(Debug, Default)]
pub struct ConsensusStrategy {
    slow_finalization: Hysteresis,
    low_throughput: Hysteresis,
}

impl OptimizationStrategy for ConsensusStrategy {
    fn name(&self) -> &str {
        "consensus"
    }

    fn should_apply(&mut self, m: &PerformanceMetrics, ctx: &StrategyContext<'_>) -> bool {
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
        if self.slow_finalization.engaged() {
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
            let size = current
                .saturating_mul(2)
                .max(current.saturating_add(c.consensus_batch_step))
                .clamp(c.consensus_batch_min, c.consensus_batch_max);
            let reason = format!(
                "consensus throughput {:.1} ops/s < target {} ops/s: batch {current} -> {size}",
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

#![forbid(unsafe_code)]
//! Arbitration: one winning proposal per knob.
//!
//! Rules, in order:
//! 1. The higher priority class wins: `Safety` (critical battery, thermal Serious/Critical,
//!    memory Critical) beats `SloRepair`, which beats `Savings`. So thermal Critical with high
//!    latency never yields low-latency scanning, while batching, which no safety rule
//!    contests, is still used.
//! 2. Within a class, the strategy registered first wins (the built-ins: power, memory,
//!    network, mesh-topology, consensus); within one strategy, its first proposal for the knob.
//!
//! The result depends only on the proposals and their order: arbitration is deterministic.
//! Before it, the engine removes every proposal of a value that is backing off (a reverted
//! value, or one the app refused; a safety proposal only in the second case: the app cannot take
//! it), so that the knob follows the next proposal meanwhile.
//! Stability rules (dwell, rate cap, verification in progress) are applied afterwards, by the
//! engine, to the winner.

use crate::strategy::Proposal;
use crate::Knob;

/// A proposal with where it came from.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Position of the strategy in the engine's list (lower wins ties).
    pub order: usize,
    /// The strategy's name.
    pub strategy: String,
    /// What it proposes.
    pub proposal: Proposal,
}

/// The winner for each knob, indexed by `Knob::index()`.
pub fn arbitrate(candidates: Vec<Candidate>) -> Vec<Option<Candidate>> {
    let mut winners: Vec<Option<Candidate>> = vec![None; Knob::ALL.len()];
    for c in candidates {
        let slot = &mut winners[c.proposal.action.knob().index()];
        let better = match slot {
            None => true,
            Some(w) => {
                c.proposal.priority > w.proposal.priority
                    || (c.proposal.priority == w.proposal.priority && c.order < w.order)
            }
        };
        if better {
            *slot = Some(c);
        }
    }
    winners
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{OptimizationAction, Priority, ScanMode, TargetMetric};

    fn cand(order: usize, priority: Priority, mode: ScanMode) -> Candidate {
        Candidate {
            order,
            strategy: format!("s{order}"),
            proposal: Proposal {
                action: OptimizationAction::SetScanMode { mode, duty_on_ms: 1_000, duty_off_ms: 0 },
                priority,
                metric: TargetMetric::P95LatencyMs,
                reason: String::new(),
            },
        }
    }

    #[test]
    fn safety_beats_repair_beats_savings_regardless_of_order() {
        let all = [
            cand(0, Priority::Savings, ScanMode::Balanced),
            cand(1, Priority::SloRepair, ScanMode::LowLatency),
            cand(2, Priority::Safety, ScanMode::LowPower),
        ];
        for perm in [[0, 1, 2], [2, 1, 0], [1, 2, 0], [1, 0, 2]] {
            let input: Vec<_> = perm.iter().map(|&i| all[i].clone()).collect();
            let w = arbitrate(input);
            let winner = w[Knob::ScanMode.index()].as_ref().unwrap();
            assert_eq!(winner.proposal.priority, Priority::Safety);
            assert!(w[Knob::VoteCache.index()].is_none());
        }
    }

    #[test]
    fn ties_go_to_the_earlier_strategy() {
        let w = arbitrate(vec![
            cand(3, Priority::SloRepair, ScanMode::LowLatency),
            cand(1, Priority::SloRepair, ScanMode::Balanced),
        ]);
        assert_eq!(w[Knob::ScanMode.index()].as_ref().unwrap().order, 1);
    }
}

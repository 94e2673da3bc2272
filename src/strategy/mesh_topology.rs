#![forbid(unsafe_code)]
//! MeshTopology: mean hop count above the maximum → a tighter relay policy (hop limit and a
//! minimum link RSSI for relays), so messages stop wandering over long, weak paths.
//!
//! The trigger is the hop count, but the action is judged by on-time delivery, counting
//! losses: cutting relays lowers the mean hop count of the messages that still arrive by losing
//! the others, and that must show as worse, not better.

use super::{Hysteresis, OptimizationStrategy, Proposal, RepairHold, StrategyContext};
use crate::{OptimizationAction, PerformanceMetrics, Priority, TargetMetric};

/// Keeps paths short.
#[derive(Debug, Default)]
pub struct MeshTopologyStrategy {
    breach: Hysteresis,
    hold: RepairHold,
}

impl OptimizationStrategy for MeshTopologyStrategy {
    fn name(&self) -> &str {
        "mesh-topology"
    }

    fn should_apply(&mut self, m: &PerformanceMetrics, ctx: &StrategyContext<'_>) -> bool {
        let c = ctx.config;
        let breach = match m.mesh_performance.mean_hop_count {
            Some(h) if m.mesh_performance.delivered >= u64::from(c.min_samples) => {
                self.breach.above(h, c.max_avg_hop_count, c.max_avg_hop_count * c.hysteresis_ratio)
            }
            _ => self.breach.engaged(),
        };
        self.hold.update(breach, ctx.now_ms, c)
    }

    fn propose(&mut self, m: &PerformanceMetrics, ctx: &StrategyContext<'_>) -> Vec<Proposal> {
        let c = ctx.config;
        let reason = match m.mesh_performance.mean_hop_count {
            Some(h) => format!(
                "mean hop count {h:.2} vs max {:.2} (exit below {:.2})",
                c.max_avg_hop_count,
                c.max_avg_hop_count * c.hysteresis_ratio
            ),
            None => format!("relay policy held: no deliveries in the window (max {:.2} hops)", c.max_avg_hop_count),
        };
        vec![Proposal {
            action: OptimizationAction::SetRelayPolicy {
                max_hops: c.relay_max_hops,
                min_rssi_dbm: c.relay_min_rssi_dbm(),
            },
            priority: Priority::SloRepair,
            metric: TargetMetric::OnTimeRatio,
            reason,
        }]
    }
}

//! Network: p95 latency above target → latency repair; relaxed below the exit threshold.
//!
//! Repair means: batch outgoing messages (fewer, fuller packets contend less for airtime),
//! more parallel connections (more paths), compression of large messages (less airtime),
//! high connection priority (short connection interval, the largest per-hop delay in BLE) and
//! low-latency scanning. Safety constraints (thermal, critical battery) win over the radio
//! settings in arbitration; batching and compression then still apply.

use super::{Hysteresis, OptimizationStrategy, Proposal, StrategyContext};
use crate::{ConnectionPriority, OptimizationAction, PerformanceMetrics, Priority, ScanMode, TargetMetric};

/// Repairs end-to-end latency.
#[derive(Debug, Default)]
pub struct NetworkStrategy {
    breach: Hysteresis,
}

impl OptimizationStrategy for NetworkStrategy {
    fn name(&self) -> &str {
        "network"
    }

    fn should_apply(&mut self, m: &PerformanceMetrics, ctx: &StrategyContext<'_>) -> bool {
        let c = ctx.config;
        match m.network_latency {
            Some(l) if l.count >= u64::from(c.min_samples) => {
                let target = c.target_p95_latency_ms;
                self.breach.above(l.p95_ms, target, target * c.hysteresis_ratio)
            }
            // Too little traffic to judge: keep the current state rather than flip on no evidence.
            _ => self.breach.engaged(),
        }
    }

    fn propose(&mut self, m: &PerformanceMetrics, ctx: &StrategyContext<'_>) -> Vec<Proposal> {
        let c = ctx.config;
        let target = c.target_p95_latency_ms;
        let reason = match m.network_latency {
            Some(l) if l.p95_ms > target => format!("p95 latency {:.1} ms > target {target} ms", l.p95_ms),
            Some(l) => format!(
                "p95 latency {:.1} ms not yet below exit threshold {:.1} ms",
                l.p95_ms,
                target * c.hysteresis_ratio
            ),
            None => format!("latency repair held: no deliveries in the window (target {target} ms)"),
        };
        let p = |action| Proposal { action, priority: Priority::SloRepair, metric: TargetMetric::P95LatencyMs, reason: reason.clone() };
        vec![
            p(OptimizationAction::SetMessageBatching {
                enabled: true,
                max_batch: c.batch_max_messages,
                max_delay_ms: c.batch_max_delay_ms,
            }),
            p(OptimizationAction::SetMaxConnections { max: c.network_max_connections }),
            p(OptimizationAction::SetCompression { enabled: true, min_size_bytes: c.compression_min_size_bytes }),
            p(OptimizationAction::SetConnectionPriority { priority: ConnectionPriority::High }),
            p(OptimizationAction::SetScanMode { mode: ScanMode::LowLatency, duty_on_ms: 10_000, duty_off_ms: 0 }),
        ]
    }
}

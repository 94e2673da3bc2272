#![forbid(unsafe_code)]
//! Network: p95 latency above target → latency repair; relaxed below the exit threshold.
//!
//! Repair means: batch outgoing messages (fewer, fuller packets contend less for airtime),
//! more parallel connections (more paths), compression of large messages (less airtime),
//! high connection priority (short connection interval, the largest per-hop delay in BLE) and
//! low-latency scanning. Safety constraints (thermal, critical battery) win over the radio
//! settings in arbitration; batching and compression then still apply.
//!
//! The repair escalates by cost: first the cheap knobs (connection priority, batching,
//! compression), then more connections, then continuous low-latency scanning (the most
//! expensive setting a phone has: about 10 mA). Each stage gets a verification window and a
//! dwell before the next; a breach that the cheap stage fixed never pays for the scanner (the
//! simulator showed full repairs costing several times the energy of the policy apps ship).

use super::{Hysteresis, OptimizationStrategy, Proposal, RepairHold, StrategyContext};
use crate::{ConnectionPriority, OptimizationAction, PerformanceMetrics, Priority, ScanMode, TargetMetric};

/// Repairs end-to-end latency.
#[derive(Debug, Default)]
pub struct NetworkStrategy {
    breach: Hysteresis,
    hold: RepairHold,
    /// Escalation stage (1 to 3) of the repair in place, and when it was reached.
    stage: u8,
    stage_since_ms: u64,
}

/// The last escalation stage: every repair knob.
const FULL_REPAIR: u8 = 3;

impl OptimizationStrategy for NetworkStrategy {
    fn name(&self) -> &str {
        "network"
    }

    fn should_apply(&mut self, m: &PerformanceMetrics, ctx: &StrategyContext<'_>) -> bool {
        let c = ctx.config;
        let breach = match m.network_latency {
            Some(l) if l.count >= u64::from(c.min_samples) => {
                let target = c.target_p95_latency_ms;
                self.breach.above(l.p95_ms, target, target * c.hysteresis_ratio)
            }
            // Too little traffic to judge: keep the current state rather than flip on no evidence.
            _ => self.breach.engaged(),
        };
        let on = self.hold.update(breach, ctx.now_ms, c);
        if !on {
            self.stage = 0;
        } else if self.stage == 0 {
            self.stage = 1;
            self.stage_since_ms = ctx.now_ms;
        } else if breach
            && self.stage < FULL_REPAIR
            && ctx.now_ms.saturating_sub(self.stage_since_ms) >= c.verification_window_ms.saturating_add(c.min_dwell_ms)
        {
            // Still breached after the last stage was in place and measured: escalate.
            self.stage += 1;
            self.stage_since_ms = ctx.now_ms;
        }
        on
    }

    fn propose(&mut self, m: &PerformanceMetrics, ctx: &StrategyContext<'_>) -> Vec<Proposal> {
        let c = ctx.config;
        let target = c.target_p95_latency_ms;
        let held = self.hold.holding(self.breach.engaged());
        let reason = match m.network_latency {
            Some(l) if held => format!(
                "p95 latency {:.1} ms recovered; repair held {} s after the last breach (longer after each relapse)",
                l.p95_ms,
                self.hold.hold_ms() / 1000
            ),
            Some(l) if l.p95_ms > target => format!("p95 latency {:.1} ms > target {target} ms", l.p95_ms),
            Some(l) => format!(
                "p95 latency {:.1} ms not yet below exit threshold {:.1} ms",
                l.p95_ms,
                target * c.hysteresis_ratio
            ),
            None => format!("latency repair held: no deliveries in the window (target {target} ms)"),
        };
        let reason = format!("{reason} (repair stage {}/{FULL_REPAIR})", self.stage);
        let p = |action| Proposal { action, priority: Priority::SloRepair, metric: TargetMetric::P95LatencyMs, reason: reason.clone() };
        let mut out = vec![
            p(OptimizationAction::SetConnectionPriority { priority: ConnectionPriority::High }),
            p(OptimizationAction::SetMessageBatching {
                enabled: true,
                max_batch: c.batch_max_messages,
                max_delay_ms: c.batch_max_delay_ms,
            }),
            p(OptimizationAction::SetCompression { enabled: true, min_size_bytes: c.compression_min_size_bytes }),
        ];
        if self.stage >= 2 {
            out.push(p(OptimizationAction::SetMaxConnections { max: c.network_max_connections }));
        }
        if self.stage >= FULL_REPAIR {
            out.push(p(OptimizationAction::SetScanMode { mode: ScanMode::LowLatency, duty_on_ms: 10_000, duty_off_ms: 0 }));
        }
        out
    }
}

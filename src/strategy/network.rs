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
//!
//! The scanner is bought only where it can help and the phone is not saving power:
//! - Scanning finds peers; it does not speed up messages over connections already open (their
//!   per-hop delay is the connection interval and the queue). So the scanner stage needs
//!   evidence that discovery is slow: p95 of `PeerDiscovered` above `target_discovery_p95_ms`
//!   (with the usual enter/exit hysteresis), and it is verified against that metric.
//! - In the background, in OS power save, or on a low battery (unplugged), the power strategy
//!   saves energy; the latency repair still overrides its cheap knobs, but never with
//!   continuous scanning. (The simulator's commute scenario spent 20 of 23 mAh per phone on a
//!   scanner that, in the background, bought no latency.)

use super::{Hysteresis, OptimizationStrategy, Proposal, RepairHold, StrategyContext};
use crate::{ConnectionPriority, OptimizationAction, OptimizerConfig, PerformanceMetrics, Priority, ScanMode, TargetMetric};

/// Repairs end-to-end latency.
#[derive(Debug, Default)]
pub struct NetworkStrategy {
    breach: Hysteresis,
    /// Discovery slower than `target_discovery_p95_ms`.
    slow_discovery: Hysteresis,
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
        match m.mesh_performance.discovery {
            Some(d) if d.count >= u64::from(c.min_samples) => {
                let target = c.target_discovery_p95_ms;
                self.slow_discovery.above(d.p95_ms, target, target * c.hysteresis_ratio);
            }
            // No peers came into range: keep the last judgement.
            _ => {}
        }
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
        let stage = format!("(repair stage {}/{FULL_REPAIR})", self.stage);
        let latency_reason = format!("{reason} {stage}");
        let p = |action| Proposal {
            action,
            priority: Priority::SloRepair,
            metric: TargetMetric::P95LatencyMs,
            reason: latency_reason.clone(),
        };
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
        if self.stage >= FULL_REPAIR && self.slow_discovery.engaged() && !saving_power(m, c) {
            let (target, exit) = (c.target_discovery_p95_ms, c.target_discovery_p95_ms * c.hysteresis_ratio);
            let discovery = match m.mesh_performance.discovery {
                Some(d) if d.p95_ms > target => format!("p95 discovery {:.0} ms > target {target:.0} ms", d.p95_ms),
                Some(d) => format!("p95 discovery {:.0} ms not yet below exit threshold {exit:.0} ms", d.p95_ms),
                None => format!("discovery judged slow (target {target:.0} ms); no peer discovered in the window since"),
            };
            out.push(Proposal {
                action: OptimizationAction::SetScanMode { mode: ScanMode::LowLatency, duty_on_ms: 10_000, duty_off_ms: 0 },
                priority: Priority::SloRepair,
                metric: TargetMetric::P95DiscoveryMs,
                reason: format!("{reason}; {discovery} {stage}"),
            });
        }
        out
    }
}

/// Whether the phone is saving power: in the background, in OS power save, or unplugged at or
/// below `battery_low_percent`. The scanner stage is not bought then.
fn saving_power(m: &PerformanceMetrics, c: &OptimizerConfig) -> bool {
    let d = &m.device;
    let low = d.charging == Some(false) && d.battery_percent.is_some_and(|b| b <= c.battery_low_percent);
    !d.foreground || d.power_save || low
}

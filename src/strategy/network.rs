#![forbid(unsafe_code)]
//! Network: on-time delivery below its target → repair, one move at a time, cheapest first.
//!
//! The service level is the share of messages, delivered and lost, that arrive within the
//! deadline (`target_on_time_ratio` of them within `target_p95_latency_ms`): a lost message is
//! never on time, so an action that drops slow messages cannot look like an improvement. It is
//! judged with a 95 % interval (`engine::stats::judge_slo`): a breach is declared only when the
//! share is below the target beyond doubt, and over only when it is back at the target and a
//! breach is implausible; between the two the judgement stands, so noise around the target
//! moves nothing.
//!
//! While breached, the strategy proposes the moves already in place plus the next one from the
//! cost table (`strategy::costs`): compression, fast advertising, more connections, high
//! connection priority, and last continuous low-latency scanning. The engine measures each move
//! alone (one repair per metric in flight) and takes back a move that bought nothing or hurt;
//! such a move is then backing off and the next one is tried. When the breach is over, the moves
//! in place are kept until `repair_hold_max_ms` (an hour) passes without a breach: the repair is
//! what keeps the service level met, so releasing it sooner only brought the breach back (a
//! release and a relapse are two changes for nothing; releasing at every device-state change
//! made the simulator's commuters buy the whole ladder again at every foreground switch). A
//! move the device state forbids (the scanner, when the phone saves power) leaves at once.
//! Calm by construction: knobs move when the statistics show a breach, or when the device state
//! changes.
//!
//! The scanner is bought only where it can help and the phone is not saving power:
//! - Scanning finds peers; it does not speed up messages over connections already open. So the
//!   scanner needs evidence that discovery is slow: p95 of `PeerDiscovered` above
//!   `target_discovery_p95_ms` (with enter/exit hysteresis).
//! - In the background, in OS power save, or on a low battery (unplugged), never continuous
//!   scanning (the simulator's commute scenario once spent 20 of 23 mAh per phone on a scanner
//!   that, in the background, bought no latency).
//!
//! Message batching is not a repair move: it holds every message at every relay, which costs
//! on-time delivery by construction.

use super::costs::repair_moves;
use super::{Hysteresis, OptimizationStrategy, Proposal, RepairHold, StrategyContext};
use crate::engine::stats::{judge_slo, wilson, SloJudgement};
use crate::{OptimizerConfig, PerformanceMetrics, Priority, TargetMetric, ThermalState};

/// Repairs on-time delivery.
#[derive(Debug, Default)]
pub struct NetworkStrategy {
    breach: bool,
    /// Discovery slower than `target_discovery_p95_ms`.
    slow_discovery: Hysteresis,
    hold: RepairHold,
    /// The device state the repair in place was bought in (`Some` while a repair is in place).
    repair_context: Option<DeviceContext>,
    last_breach_ms: u64,
    /// Moves the engine took back in this device state (measured: no effect, or worse), and
    /// when the state began: not tried again until the state changes or
    /// `repair_hold_max_ms` passes, however short their back-off.
    failed: Vec<crate::OptimizationAction>,
    failed_context: Option<(DeviceContext, u64)>,
}

/// What the device state is, for the repair's release: foreground, charging, battery band (0
/// critical, 1 low, 2 at or below the background saver level, 3 above, 4 charging), thermal
/// state, power save.
type DeviceContext = (bool, u8, ThermalState, bool);

fn device_context(m: &PerformanceMetrics, c: &OptimizerConfig) -> DeviceContext {
    let d = &m.device;
    let band = match (d.charging, d.battery_percent) {
        (Some(true), _) => 4,
        (_, Some(b)) if b <= c.battery_critical_percent => 0,
        (_, Some(b)) if b <= c.battery_low_percent => 1,
        (_, Some(b)) if b <= c.background_saver_battery_percent => 2,
        _ => 3,
    };
    (d.foreground, band, d.thermal, d.power_save)
}

impl OptimizationStrategy for NetworkStrategy {
    fn name(&self) -> &str {
        "network"
    }

    fn should_apply(&mut self, m: &PerformanceMetrics, ctx: &StrategyContext<'_>) -> bool {
        let c = ctx.config;
        let mp = &m.mesh_performance;
        match judge_slo(mp.on_time, mp.delivered + mp.lost, c.target_on_time_ratio) {
            SloJudgement::Breached => self.breach = true,
            SloJudgement::Met => self.breach = false,
            SloJudgement::Unclear => {}
        }
        match mp.discovery {
            Some(d) if d.count >= u64::from(c.min_samples) => {
                let target = c.target_discovery_p95_ms;
                self.slow_discovery.above(d.p95_ms, target, target * c.hysteresis_ratio);
            }
            // No peers came into range: keep the last judgement.
            _ => {}
        }
        let now_context = device_context(m, c);
        match self.failed_context {
            Some((context, since))
                if context == now_context && ctx.now_ms.saturating_sub(since) < c.repair_hold_max_ms => {}
            _ => {
                self.failed.clear();
                self.failed_context = Some((now_context, ctx.now_ms));
            }
        }
        if self.breach {
            self.last_breach_ms = ctx.now_ms;
            self.repair_context.get_or_insert(now_context);
        }
        if self.hold.update(self.breach, ctx.now_ms, c) {
            return true;
        }
        // Past the hold: kept until `repair_hold_max_ms` passes without a breach.
        match self.repair_context {
            Some(_) if ctx.now_ms.saturating_sub(self.last_breach_ms) < c.repair_hold_max_ms => true,
            _ => {
                self.repair_context = None;
                false
            }
        }
    }

    fn propose(&mut self, m: &PerformanceMetrics, ctx: &StrategyContext<'_>) -> Vec<Proposal> {
        let c = ctx.config;
        let mp = &m.mesh_performance;
        let total = mp.delivered + mp.lost;
        let target = c.target_on_time_ratio;
        let (lo, hi) = wilson(mp.on_time, total);
        let share = if total == 0 { None } else { Some(mp.on_time as f64 / total as f64) };
        let held = !self.breach;
        let level = match share {
            Some(r) => format!(
                "on-time ratio {r:.3} [{lo:.3}, {hi:.3}] of {total} messages ({} lost) within {} ms",
                mp.lost, c.target_p95_latency_ms
            ),
            None => "no message delivered or lost in the window".to_owned(),
        };
        let reason = if held {
            format!(
                "{level}: recovered; repair kept since the breach {} s ago, until an hour passes without one",
                ctx.now_ms.saturating_sub(self.last_breach_ms) / 1000
            )
        } else {
            format!("{level}, target {target}")
        };
        let scanner = self.slow_discovery.engaged() && !saving_power(m, c);
        let mut out = Vec::new();
        for mv in repair_moves(c, scanner) {
            let in_place = ctx.current(mv.action.knob()) == Some(&mv.action);
            if !in_place && ctx.is_held_back(&mv.action) && !self.failed.contains(&mv.action) {
                self.failed.push(mv.action.clone());
            }
            if !in_place && self.failed.contains(&mv.action) {
                // Measured and found useless or harmful in this device state: the next move
                // is tried instead.
                continue;
            }
            if in_place {
                out.push(Proposal {
                    action: mv.action,
                    priority: Priority::SloRepair,
                    metric: TargetMetric::OnTimeRatio,
                    reason: reason.clone(),
                });
                continue;
            }
            if self.breach {
                out.push(Proposal {
                    action: mv.action,
                    priority: Priority::SloRepair,
                    metric: TargetMetric::OnTimeRatio,
                    reason: format!("{reason}; next repair move by cost (about +{} mA)", mv.extra_ma),
                });
            }
            break;
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

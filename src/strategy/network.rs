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
//! What the measurements showed is kept per device state and move (exported and imported with
//! the engine's learned state): the moves that improved on-time delivery in this device state are
//! tried first, most points per mA first; a move measured useless or harmful twice there, and
//! never an improvement, is left out.
//!
//! Message batching is not a repair move: it holds every message at every relay, which costs
//! on-time delivery by construction.

use super::costs::repair_moves;
use super::{Hysteresis, OptimizationStrategy, Proposal, RepairHold, StrategyContext};
use crate::engine::stats::{judge_slo, wilson, SloJudgement};
use crate::{
    Knob, OptimizationAction, OptimizerConfig, OutcomeEvent, PerformanceMetrics, Priority, TargetMetric, ThermalState,
};

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
    /// What each move's measurements showed, by device state and knob (exported and imported
    /// with the engine's learned state, so a restart does not measure it all again).
    learned: std::collections::BTreeMap<(DeviceContext, Knob), Tally>,
    /// The device state each move in flight was bought in, by knob.
    bought_in: Vec<(Knob, DeviceContext)>,
}

/// What the measurements of one move in one device state showed.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Tally {
    improved: u32,
    no_effect: u32,
    worse: u32,
    inconclusive: u32,
    /// Sum of the improvements measured, in percentage points of on-time delivery.
    effect_points: f64,
}

impl Tally {
    /// Measured useless or harmful at least twice, and never an improvement: not tried again in
    /// this device state (an hour's back-off is not needed to remember it).
    fn useless(&self) -> bool {
        self.no_effect + self.worse >= 2 && self.improved == 0
    }

    /// The mean improvement measured, points, when it ever improved.
    fn helpful_points(&self) -> Option<f64> {
        (self.improved > 0 && self.effect_points > 0.0).then(|| self.effect_points / f64::from(self.improved))
    }
}

/// The knobs of the repair moves, by the names the learned state uses.
const MOVE_KNOBS: [Knob; 5] =
    [Knob::Compression, Knob::Advertising, Knob::MaxConnections, Knob::ConnectionPriority, Knob::ScanMode];

fn knob_name(k: Knob) -> String {
    format!("{k:?}")
}

fn context_key(c: &DeviceContext) -> String {
    format!("foreground={},battery={},thermal={:?},power_save={}", c.0, c.1, c.2, c.3)
}

fn parse_context(s: &str) -> Option<DeviceContext> {
    let mut parts = s.split(',').map(|kv| kv.split_once('='));
    let mut next = |key: &str| parts.next().flatten().filter(|(k, _)| *k == key).map(|(_, v)| v);
    let foreground = next("foreground")?.parse::<bool>().ok()?;
    let band = next("battery")?.parse::<u8>().ok().filter(|b| *b <= 4)?;
    let thermal = match next("thermal")? {
        "Nominal" => ThermalState::Nominal,
        "Fair" => ThermalState::Fair,
        "Serious" => ThermalState::Serious,
        "Critical" => ThermalState::Critical,
        _ => return None,
    };
    let power_save = next("power_save")?.parse::<bool>().ok()?;
    parts.next().is_none().then_some((foreground, band, thermal, power_save))
}

/// Reads one entry of an exported state; the error names the part.
fn parse_entry(e: &serde_json::Value) -> Result<((DeviceContext, Knob), Tally), String> {
    let context = e.get("context").and_then(|v| v.as_str()).ok_or("context: expected a string")?;
    let context = parse_context(context)
        .ok_or_else(|| format!("context: {context:?} is not foreground=...,battery=0..4,thermal=...,power_save=..."))?;
    let knob = e.get("knob").and_then(|v| v.as_str()).ok_or("knob: expected a string")?;
    let knob = MOVE_KNOBS
        .into_iter()
        .find(|k| knob_name(*k) == knob)
        .ok_or_else(|| format!("knob: {knob:?} is not a repair move's knob"))?;
    let count = |name: &str| -> Result<u32, String> {
        e.get(name)
            .and_then(|v| v.as_u64())
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| format!("{name}: expected a count"))
    };
    let effect_points = e
        .get("effect_points")
        .and_then(|v| v.as_f64())
        .filter(|x| x.is_finite())
        .ok_or("effect_points: expected a finite number")?;
    Ok((
        (context, knob),
        Tally {
            improved: count("improved")?,
            no_effect: count("no_effect")?,
            worse: count("worse")?,
            inconclusive: count("inconclusive")?,
            effect_points,
        },
    ))
}

fn parse_state(state: &serde_json::Value) -> Result<std::collections::BTreeMap<(DeviceContext, Knob), Tally>, String> {
    let moves = state.get("moves").and_then(|m| m.as_array()).ok_or("moves: expected an array")?;
    let mut out = std::collections::BTreeMap::new();
    for (i, e) in moves.iter().enumerate() {
        let (key, tally) = parse_entry(e).map_err(|r| format!("moves[{i}].{r}"))?;
        out.insert(key, tally);
    }
    Ok(out)
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
        let fresh_breach = judge_slo(mp.on_time, total, target) == SloJudgement::Breached;
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
        let now_context = device_context(m, c);
        // What this phone measured in this device state orders the moves: the ones that
        // improved on-time delivery first (most points per mA first), then the rest by cost;
        // the ones measured useless at least twice are left out.
        let mut moves = repair_moves(c, scanner);
        let tally = |k: Knob| self.learned.get(&(now_context, k)).copied().unwrap_or_default();
        moves.retain(|mv| !tally(mv.action.knob()).useless() || ctx.current(mv.action.knob()) == Some(&mv.action));
        moves.sort_by(|a, b| {
            let score =
                |mv: &super::costs::RepairMove| tally(mv.action.knob()).helpful_points().map(|p| p / mv.extra_ma);
            match (score(a), score(b)) {
                (Some(x), Some(y)) => y.total_cmp(&x),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            }
        });
        let mut out = Vec::new();
        // Whether the next move has been considered: after it, only the moves in place are
        // proposed (kept). Stopping the walk there instead released every move in place that
        // came later in the order (in the simulator's stadium, high priority, when a move
        // before it was no longer marked failed after a switch to the background), to be
        // bought again at the next breach: two changes for nothing.
        let mut next_considered = false;
        for mv in moves {
            let in_place = ctx.current(mv.action.knob()) == Some(&mv.action);
            if next_considered && !in_place {
                continue;
            }
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
            // A new move needs a breach the statistics show in this window (after a move, the
            // engine lets the next one wait until the window holds only messages sent since):
            // the breach state outlives windows too thin to judge, such as one message after
            // a move, and a move bought on those would be bought on noise.
            if self.breach && fresh_breach {
                let knob = mv.action.knob();
                self.bought_in.retain(|(k, _)| *k != knob);
                self.bought_in.push((knob, now_context));
                let learned = match tally(knob).helpful_points() {
                    Some(p) => format!("; it gained {p:.1} points here before"),
                    None => String::new(),
                };
                out.push(Proposal {
                    action: mv.action,
                    priority: Priority::SloRepair,
                    metric: TargetMetric::OnTimeRatio,
                    reason: format!("{reason}; next repair move (about +{} mA{learned})", mv.extra_ma),
                });
            }
            next_considered = true;
        }
        out
    }

    fn observe(&mut self, action: &OptimizationAction, outcome: &OutcomeEvent) {
        let knob = action.knob();
        let Some(&(_, context)) = self.bought_in.iter().find(|(k, _)| *k == knob) else {
            return;
        };
        let t = self.learned.entry((context, knob)).or_default();
        match outcome {
            OutcomeEvent::Improved { improvement_percent, .. } => {
                t.improved = t.improved.saturating_add(1);
                t.effect_points += improvement_percent;
            }
            OutcomeEvent::NoEffect { .. } => t.no_effect = t.no_effect.saturating_add(1),
            OutcomeEvent::Worse { .. } => t.worse = t.worse.saturating_add(1),
            OutcomeEvent::Inconclusive { .. } => t.inconclusive = t.inconclusive.saturating_add(1),
            _ => {}
        }
    }

    fn export_state(&self) -> Option<serde_json::Value> {
        let moves: Vec<serde_json::Value> = self
            .learned
            .iter()
            .map(|((context, knob), t)| {
                serde_json::json!({
                    "context": context_key(context),
                    "knob": knob_name(*knob),
                    "improved": t.improved,
                    "no_effect": t.no_effect,
                    "worse": t.worse,
                    "inconclusive": t.inconclusive,
                    "effect_points": t.effect_points,
                })
            })
            .collect();
        Some(serde_json::json!({ "moves": moves }))
    }

    fn check_state(&self, state: &serde_json::Value) -> Result<(), String> {
        parse_state(state).map(|_| ())
    }

    fn import_state(&mut self, state: &serde_json::Value) {
        if let Ok(learned) = parse_state(state) {
            self.learned = learned;
        }
    }
}

/// Whether the phone is saving power: in the background, in OS power save, or unplugged at or
/// below `battery_low_percent`. The scanner stage is not bought then.
fn saving_power(m: &PerformanceMetrics, c: &OptimizerConfig) -> bool {
    let d = &m.device;
    let low = d.charging == Some(false) && d.battery_percent.is_some_and(|b| b <= c.battery_low_percent);
    !d.foreground || d.power_save || low
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::collector::MetricsCollector;
    use crate::{ConnectionPriority, MetricSample};

    #[test]
    fn the_moves_in_place_after_the_next_move_in_the_order_are_kept() {
        let c = OptimizerConfig::default();
        // A window in breach beyond doubt: 20 of 100 messages late.
        let mut collector =
            MetricsCollector::new(c.window_ms, c.memory_pressure_hold_ms).with_deadline(c.target_p95_latency_ms);
        for i in 0..100u64 {
            let latency_ms = if i % 5 == 0 { 500.0 } else { 20.0 };
            collector.record(&MetricSample::MessageDelivered { latency_ms, hops: 2, bytes: 100 }, i * 500);
        }
        collector.advance(50_000);
        let m = collector.metrics();
        // In place: compression and high priority. Fast advertising, before high priority in
        // the cost order, is not (taken back, say, and no longer marked failed).
        let mut profile: Vec<OptimizationAction> = Knob::ALL.iter().map(|&k| OptimizationAction::baseline(k)).collect();
        let compression =
            OptimizationAction::SetCompression { enabled: true, min_size_bytes: c.compression_min_size_bytes };
        let high = OptimizationAction::SetConnectionPriority { priority: ConnectionPriority::High };
        profile[Knob::Compression.index()] = compression.clone();
        profile[Knob::ConnectionPriority.index()] = high.clone();
        let ctx =
            StrategyContext { config: &c, now_ms: 50_000, profile: &profile, os_profile: &profile, held_back: &[] };
        let mut s = NetworkStrategy::default();
        assert!(s.should_apply(&m, &ctx));
        let proposed: Vec<OptimizationAction> = s.propose(&m, &ctx).into_iter().map(|p| p.action).collect();
        // Kept: both moves in place; bought: the next one, fast advertising; nothing else.
        assert_eq!(
            proposed,
            [
                compression,
                OptimizationAction::SetAdvertising {
                    mode: crate::AdvertiseMode::LowLatency,
                    tx_power: crate::TxPower::High
                },
                high
            ],
        );
    }
}

#![forbid(unsafe_code)]
//! Power: battery, charging, power save, foreground/background and thermal → a power mode that
//! sets scan mode and duty cycle, advertising mode and TX power, connection priority and the
//! connection cap.
//!
//! The mode table starts from what BLE mesh apps ship today (BitChat's Android PowerManager:
//! scan 8 s on / 2 s off balanced, 2 s / 28 s power saver, 1 s / 29 s ultra low; 8, 8 and 4
//! connections) and adds what it lacks: battery thresholds with hysteresis, and the split
//! between *safety* (critical battery; thermal Serious/Critical when radio work is a material
//! part of the heat: nothing overrides them) and *savings* (low battery, power save,
//! background: latency repair may override them). A thermal headroom forecast at severe
//! throttling (Android's `getThermalHeadroom` at 1.0) counts as Serious before the OS state
//! says so.

use std::fmt::Write as _;

use super::{Hysteresis, OptimizationStrategy, Proposal, StrategyContext};
use crate::discovery::{plan_discovery, DiscoveryTarget};
use crate::{
    AdvertiseMode, ConnectionPriority, OptimizationAction, PerformanceMetrics, Priority, ScanMode, TargetMetric,
    ThermalState, TxPower,
};

/// The radio profiles the power strategy chooses between.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PowerMode {
    /// Charging and in the foreground: continuous low-latency scanning.
    Performance,
    /// The baseline profile.
    Balanced,
    /// Low battery, OS power save, background on a half-empty battery, thermal Serious.
    PowerSaver,
    /// Critical battery or thermal Critical.
    UltraLow,
}

impl PowerMode {
    /// The knob settings of the mode.
    pub fn actions(self) -> [OptimizationAction; 4] {
        use OptimizationAction as A;
        let (scan, on, off, adv, tx, prio, max) = match self {
            PowerMode::Performance => (
                ScanMode::LowLatency,
                10_000,
                0,
                AdvertiseMode::LowLatency,
                TxPower::High,
                ConnectionPriority::Balanced,
                10,
            ),
            PowerMode::Balanced => (
                ScanMode::Balanced,
                8_000,
                2_000,
                AdvertiseMode::Balanced,
                TxPower::Medium,
                ConnectionPriority::Balanced,
                8,
            ),
            PowerMode::PowerSaver => (
                ScanMode::LowPower,
                2_000,
                28_000,
                AdvertiseMode::LowPower,
                TxPower::Low,
                ConnectionPriority::LowPower,
                8,
            ),
            PowerMode::UltraLow => (
                ScanMode::LowPower,
                1_000,
                29_000,
                AdvertiseMode::LowPower,
                TxPower::UltraLow,
                ConnectionPriority::LowPower,
                4,
            ),
        };
        [
            A::SetScanMode { mode: scan, duty_on_ms: on, duty_off_ms: off },
            A::SetAdvertising { mode: adv, tx_power: tx },
            A::SetConnectionPriority { priority: prio },
            A::SetMaxConnections { max },
        ]
    }
}

/// Radio work shed for heat.
///
/// Whether shedding is material is judged on the profile that ran before the first shed
/// (`unshed`), never on the shed profile itself: judged on what runs once shed, shedding saves
/// nothing, so the next tick would call it not material and restore the radio, and the tick
/// after that shed it again (a knob change every dwell, found by
/// `a_headroom_forecast_of_severe_throttling_is_taken_as_serious_while_it_is_fresh`).
#[derive(Debug)]
struct ThermalShed {
    band: ThermalState,
    reason: String,
    unshed: Vec<OptimizationAction>,
}

/// Chooses the power mode.
#[derive(Debug, Default)]
pub struct PowerStrategy {
    critical: Hysteresis,
    low: Hysteresis,
    background_half: Hysteresis,
    /// The thermal band in force: the OS state, or a hotter one it left less than
    /// `thermal_exit_hold_ms` ago.
    thermal_band: ThermalState,
    /// When the OS state last fell below `thermal_band`.
    cooled_since_ms: Option<u64>,
    /// Radio work shed for heat: the band it was shed in and why. It stays shed while that band
    /// holds: judged again at the next band, not at every tick (see [`ThermalShed`]).
    shed: Option<ThermalShed>,
    /// The peer band the discovery planner plans for (see [`peer_band`]).
    peer_band: Option<u32>,
    /// The last plan, with the target and scan cost it was solved for.
    plan: Option<(DiscoveryTarget, f64, crate::discovery::DiscoveryPlan)>,
    /// Since when the peers seen have fit a lower band (see [`PEER_BAND_EXIT_HOLD_MS`]).
    band_down_since_ms: Option<u64>,
}

impl PowerStrategy {
    /// Thermal with its own hysteresis: a hotter state takes effect at once; a cooler one only
    /// after it has lasted `thermal_exit_hold_ms` (a state flickering at a band's edge moves
    /// the knobs once).
    fn thermal(&mut self, now: ThermalState, now_ms: u64, hold_ms: u64) -> ThermalState {
        if now >= self.thermal_band {
            self.thermal_band = now;
            self.cooled_since_ms = None;
        } else {
            let since = *self.cooled_since_ms.get_or_insert(now_ms);
            if now_ms.saturating_sub(since) >= hold_ms {
                self.thermal_band = now;
                self.cooled_since_ms = None;
            }
        }
        self.thermal_band
    }

    /// The band to plan for now: [`peer_band`], with a move down only once the peers seen have
    /// fit the lower band for [`PEER_BAND_EXIT_HOLD_MS`] without a break.
    fn next_band(&mut self, discovered: Option<u32>, now_ms: u64) -> u32 {
        let wanted = peer_band(self.peer_band, discovered);
        match self.peer_band {
            Some(current) if wanted < current => {
                let since = *self.band_down_since_ms.get_or_insert(now_ms);
                if now_ms.saturating_sub(since) < PEER_BAND_EXIT_HOLD_MS {
                    return current;
                }
                self.band_down_since_ms = None;
                wanted
            }
            _ => {
                self.band_down_since_ms = None;
                wanted
            }
        }
    }

    /// The mode, its priority and why, for the current device state (updates hysteresis).
    pub fn decide(&mut self, m: &PerformanceMetrics, ctx: &StrategyContext<'_>) -> (PowerMode, Priority, String) {
        let c = ctx.config;
        let d = &m.device;
        let unplugged_level = match (d.battery_percent, d.charging) {
            (Some(level), Some(false)) => Some(level),
            _ => None,
        };
        let h = c.battery_hysteresis_percent;
        let (critical, low, background_half) = match unplugged_level {
            Some(level) => (
                self.critical.at_or_below(level, c.battery_critical_percent, c.battery_critical_percent + h),
                self.low.at_or_below(level, c.battery_low_percent, c.battery_low_percent + h),
                self.background_half.at_or_below(
                    level,
                    c.background_saver_battery_percent,
                    c.background_saver_battery_percent + h,
                ),
            ),
            None => {
                self.critical.reset();
                self.low.reset();
                self.background_half.reset();
                (false, false, false)
            }
        };
        let level = unplugged_level.map_or_else(String::new, |l| format!("battery {l:.0}% unplugged, "));
        // The OS state, or Serious when the OS forecasts severe throttling (headroom 1.0)
        // before its state says so.
        let forecast = d.thermal_headroom.filter(|h| h.headroom >= 1.0 && d.thermal < ThermalState::Serious);
        let os_band = if forecast.is_some() { ThermalState::Serious } else { d.thermal };
        let thermal = self.thermal(os_band, ctx.now_ms, c.thermal_exit_hold_ms);
        let mut held = if thermal != os_band {
            format!(" (now {:?}, held {} s after it cooled)", d.thermal, c.thermal_exit_hold_ms / 1000)
        } else {
            String::new()
        };
        if let Some(h) = forecast.filter(|_| thermal == ThermalState::Serious) {
            let _ = write!(
                held,
                " (forecast: the OS state is {:?}, its headroom {:.2} in {} s reaches severe throttling at 1.0)",
                d.thermal, h.headroom, h.forecast_s
            );
        } else if let Some(h) = d.thermal_headroom.filter(|_| thermal >= ThermalState::Serious) {
            let _ = write!(held, ", headroom {:.2} in {} s", h.headroom, h.forecast_s);
        }
        // Radio work is shed for heat only when it is a material part of the heat, at Serious
        // and at Critical alike: shedding a small share of the phone's current cools nothing
        // and costs every message. The mode it would shed to: the power saver at Serious, ultra
        // low at Critical.
        let mut not_material = String::new();
        if thermal < ThermalState::Serious {
            self.shed = None;
        } else if !(critical && thermal == ThermalState::Serious) {
            // (A critical battery sheds further than Serious would: ultra low, below.)
            let shed_to = if thermal == ThermalState::Critical { PowerMode::UltraLow } else { PowerMode::PowerSaver };
            if let Some(shed) = self.shed.as_ref().filter(|s| s.band == thermal) {
                return (shed_to, Priority::Safety, shed.reason.clone());
            }
            let unshed = self.shed.take().map_or_else(|| ctx.os_profile.to_vec(), |s| s.unshed);
            let reason = match shed_share(m, ctx, &unshed, shed_to) {
                Some((saved, phone, share)) if share < c.thermal_material_share => {
                    not_material = format!(
                        "thermal state {thermal:?}{held}, but shedding radio work would save about {saved:.1} mA of the phone's {phone:.0} mA ({:.1} %, under {:.0} %): not a material part of the heat; ",
                        share * 100.0,
                        c.thermal_material_share * 100.0
                    );
                    None
                }
                Some((saved, phone, share)) => Some(format!(
                    "thermal state {thermal:?}{held}: radio work is about {saved:.1} mA of the phone's {phone:.0} mA ({:.1} %)",
                    share * 100.0
                )),
                None => Some(format!(
                    "thermal state {thermal:?}{held} (the phone's current is not known: charging, or too few battery readings)"
                )),
            };
            if let Some(reason) = reason {
                self.shed = Some(ThermalShed { band: thermal, reason: reason.clone(), unshed });
                return (shed_to, Priority::Safety, reason);
            }
        }
        if critical {
            return (
                PowerMode::UltraLow,
                Priority::Safety,
                format!("{not_material}{level}critical at or below {}%", c.battery_critical_percent),
            );
        }
        let level = format!("{not_material}{level}");
        if d.power_save {
            return (PowerMode::PowerSaver, Priority::Savings, format!("{not_material}OS power save mode on"));
        }
        if low {
            return (
                PowerMode::PowerSaver,
                Priority::Savings,
                format!("{level}low at or below {}%", c.battery_low_percent),
            );
        }
        if !d.foreground && background_half {
            return (
                PowerMode::PowerSaver,
                Priority::Savings,
                format!("{level}in the background at or below {}%", c.background_saver_battery_percent),
            );
        }
        if d.charging == Some(true) && d.foreground && not_material.is_empty() {
            return (PowerMode::Performance, Priority::Savings, "charging and in the foreground".to_owned());
        }
        (PowerMode::Balanced, Priority::Savings, format!("{level}no power constraint"))
    }
}

/// The peer bands the planner plans for (the peers seen, rounded up).
const PEER_BANDS: [u32; 4] = [4, 16, 64, 256];

/// How long the peers seen must fit a lower band before the planner plans for it. The count is
/// of the peers this phone has discovered, so it falls with the scanning the plan itself
/// chooses, and with every walk out of range and back. In the simulator's stadium, with the
/// engine's network strategy left out (so that nothing else moved these knobs), phone 0's count
/// swung across the edges so that its plan flipped five times in the hour (two knobs each time),
/// twice within 80 s. A crowd that has really thinned stays thin; ten minutes tells the two
/// apart, and the cost of waiting is planning for more peers than are there: more scanning,
/// never a missed discovery. A move up is at once.
const PEER_BAND_EXIT_HOLD_MS: u64 = 600_000;

/// The band the planner plans for, with hysteresis: up as soon as the peers seen exceed the band,
/// down only once they fit in half of the band below, so that a count at a band's edge does not
/// move the setting back and forth. The last band (or 16) while no count is known.
fn peer_band(current: Option<u32>, discovered: Option<u32>) -> u32 {
    let Some(n) = discovered else { return current.unwrap_or(16) };
    let fitting = PEER_BANDS.iter().copied().find(|&b| n <= b).unwrap_or(256);
    match current {
        Some(c) if fitting > c => fitting,
        Some(c) => {
            // Down one band at a time, and only well inside it.
            let below = PEER_BANDS.iter().copied().filter(|&b| b < c).max();
            match below {
                Some(b) if n <= b / 2 => b.max(fitting),
                _ => c,
            }
        }
        None => fitting,
    }
}

/// What shedding radio work from `profile` (what runs, the OS's background cap applied) to the
/// profile of `to` would save against what the phone draws: (saved mA, phone mA, share). None
/// when the phone's current is not known (charging, or too few battery readings): then the heat
/// is assumed to be the mesh's to shed.
fn shed_share(
    m: &PerformanceMetrics,
    ctx: &StrategyContext<'_>,
    profile: &[OptimizationAction],
    to: PowerMode,
) -> Option<(f64, f64, f64)> {
    let drain = m.device.battery_drain_percent_per_hour.filter(|d| *d > 0.0)?;
    let phone_ma = drain / 100.0 * ctx.config.battery_capacity_mah;
    let links = m.mesh_performance.connected_peers;
    let scan_ma = ctx.config.repair_cost_continuous_scan_ma;
    let now = super::costs::profile_ma(profile, links, scan_ma);
    let mut shed = profile.to_vec();
    for a in to.actions() {
        if let Some(slot) = shed.get_mut(a.knob().index()) {
            *slot = crate::engine::os_capped(a, ctx.config, m.device.foreground);
        }
    }
    let saved = (now - super::costs::profile_ma(&shed, links, scan_ma)).max(0.0);
    Some((saved, phone_ma, saved / phone_ma))
}

impl OptimizationStrategy for PowerStrategy {
    fn name(&self) -> &str {
        "power"
    }

    fn should_apply(&mut self, _m: &PerformanceMetrics, _ctx: &StrategyContext<'_>) -> bool {
        // The power mode always has a value; Balanced is the baseline, so proposing it changes
        // nothing until the device state calls for another mode.
        true
    }

    fn propose(&mut self, m: &PerformanceMetrics, ctx: &StrategyContext<'_>) -> Vec<Proposal> {
        let (mode, priority, why) = self.decide(m, ctx);
        let mut reason = format!("power mode {mode:?}: {why}");
        let mut actions = mode.actions();
        // The planner needs the peers around (their advertisements collide): until the app
        // reports a count, the fixed setting stays (no change made only to be made again).
        let known = m.mesh_performance.discovered_peers.is_some() || self.peer_band.is_some();
        // Savings never break the discovery SLO: the power saver as a saving (low battery, OS
        // power save, the background on a half-empty battery) keeps its TX power, connection
        // priority and cap, and takes the planner's scan and advertising, the cheapest setting
        // predicted to meet `target_discovery_p95_ms`. Its fixed 2 s / 28 s scan did not: in
        // the simulator's commute it put the p95 discovery at 37 s against a 10 s target, and
        // the mesh drew more per phone-hour with it than without (docs/discovery.md). A shed for
        // safety (heat, a critical battery) keeps the fixed table: safety wins over the SLO.
        let planned = mode == PowerMode::Balanced || (mode == PowerMode::PowerSaver && priority == Priority::Savings);
        if planned && ctx.config.discovery_planner && known {
            let peers = self.next_band(m.mesh_performance.discovered_peers, ctx.now_ms);
            self.peer_band = Some(peers);
            let target = DiscoveryTarget {
                latency_ms: ctx.config.target_discovery_p95_ms,
                probability: 0.95,
                peers,
                // Planned as in the foreground: in the background Android lowers the scan to
                // LOW_POWER by itself, and a setting that followed the app's state would
                // change the knobs at every switch (in the stadium scenario, about twice
                // the changes per hour).
                background: false,
            };
            let scan_ma = ctx.config.repair_cost_continuous_scan_ma;
            // The plan depends on its target and the scan's cost alone: solved again only
            // when they change (the band, or the config), not at every tick.
            let plan = match &self.plan {
                Some((t, ma, plan)) if *t == target && *ma == scan_ma => plan.clone(),
                _ => {
                    let plan = plan_discovery(&target, scan_ma);
                    self.plan = Some((target, scan_ma, plan.clone()));
                    plan
                }
            };
            let _ = write!(
                reason,
                "; discovery planner: {} and {:?} advertising, predicted p95 discovery {:.1} s for up to {peers} peers (target {:.1} s{}), {:.2} mA",
                plan.scan,
                plan.advertise,
                plan.predicted_ms / 1000.0,
                ctx.config.target_discovery_p95_ms / 1000.0,
                if plan.meets_target { "" } else { ", not met: the fastest setting" },
                plan.current_ma
            );
            actions[0] = plan.scan;
            if let OptimizationAction::SetAdvertising { tx_power, .. } = actions[1] {
                actions[1] = OptimizationAction::SetAdvertising { mode: plan.advertise, tx_power };
            }
        }
        actions
            .into_iter()
            .map(|action| Proposal {
                action,
                priority,
                metric: TargetMetric::BatteryDrainPercentPerHour,
                reason: reason.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::{plan_discovery, DiscoveryTarget};
    use crate::{Engine, EngineEvent, MetricSample, OptimizerConfig};

    fn scan_actions(events: &[EngineEvent]) -> Vec<OptimizationAction> {
        events
            .iter()
            .filter_map(|e| match e {
                EngineEvent::Action(a) if matches!(a.action, OptimizationAction::SetScanMode { .. }) => {
                    Some(a.action.clone())
                }
                _ => None,
            })
            .collect()
    }

    fn engine_with(peers: Option<u32>, planner: bool) -> Vec<OptimizationAction> {
        let config =
            OptimizerConfig { discovery_planner: planner, sample_process: false, ..OptimizerConfig::default() };
        let mut e = Engine::new(config).unwrap();
        e.record(MetricSample::Battery { level_percent: 80.0, charging: false }, 1_000).unwrap();
        if let Some(n) = peers {
            e.record(MetricSample::PeerCount { connected: 0, discovered: n }, 1_000).unwrap();
        }
        scan_actions(&e.tick(2_000))
    }

    #[test]
    fn without_a_power_constraint_the_scan_is_the_planners_for_the_peers_seen() {
        let want = plan_discovery(
            &DiscoveryTarget { latency_ms: 10_000.0, probability: 0.95, peers: 16, background: false },
            OptimizerConfig::default().repair_cost_continuous_scan_ma,
        );
        assert_eq!(engine_with(Some(12), true), vec![want.scan.clone()]);
        assert_ne!(want.scan, OptimizationAction::baseline(crate::Knob::ScanMode), "the test needs a change");
        // No count yet, or the planner off: the fixed balanced setting (the baseline) stays.
        assert_eq!(engine_with(None, true), vec![]);
        assert_eq!(engine_with(Some(12), false), vec![]);
    }

    #[test]
    fn the_planner_moves_down_a_band_only_once_the_peers_have_fit_it_for_the_hold() {
        let mut s = PowerStrategy::default();
        let step = |s: &mut PowerStrategy, peers: u32, at_s: u64| {
            let band = s.next_band(Some(peers), at_s * 1000);
            s.peer_band = Some(band);
            band
        };
        assert_eq!(step(&mut s, 100, 0), 256);
        // A dip below 32 peers (a cheaper plan sees fewer, a walk out of range and back) that
        // ends before the hold: the plan stays.
        for t in 1..=500 {
            assert_eq!(step(&mut s, 20, t), 256, "at {t} s");
        }
        assert_eq!(step(&mut s, 70, 501), 256);
        // The hold starts again after the break: 599 s more of a thin crowd are not enough...
        for t in 502..=1101 {
            assert_eq!(step(&mut s, 20, t), 256, "at {t} s");
        }
        // ...600 s are.
        assert_eq!(step(&mut s, 20, 1102), 64);
        // Up again at once.
        assert_eq!(step(&mut s, 70, 1103), 256);
    }

    #[test]
    fn the_peer_band_rises_at_once_and_falls_only_well_inside_the_band_below() {
        assert_eq!(peer_band(None, None), 16);
        assert_eq!(peer_band(None, Some(3)), 4);
        assert_eq!(peer_band(Some(16), Some(17)), 64);
        // 64 → 16 only at 8 peers or fewer: 9 to 16 keep 64.
        assert_eq!(peer_band(Some(64), Some(16)), 64);
        assert_eq!(peer_band(Some(64), Some(9)), 64);
        assert_eq!(peer_band(Some(64), Some(8)), 16);
        assert_eq!(peer_band(Some(64), Some(1)), 16, "one band at a time");
        assert_eq!(peer_band(Some(256), None), 256, "no count: the band stays");
        assert_eq!(peer_band(Some(64), Some(1_000)), 256);
    }
}

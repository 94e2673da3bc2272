#![forbid(unsafe_code)]
//! Power: battery, charging, power save, foreground/background and thermal → a power mode that
//! sets scan mode and duty cycle, advertising mode and TX power, connection priority and the
//! connection cap.
//!
//! The mode table starts from what BLE mesh apps ship today (BitChat's Android PowerManager:
//! scan 8 s on / 2 s off balanced, 2 s / 28 s power saver, 1 s / 29 s ultra low; 8, 8 and 4
//! connections) and adds what it lacks: battery thresholds with hysteresis, and the split
//! between *safety* (critical battery, thermal Serious/Critical: nothing overrides them) and
//! *savings* (low battery, power save, background: latency repair may override them).

use super::{Hysteresis, OptimizationStrategy, Proposal, StrategyContext};
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
}

impl PowerStrategy {
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
        let thermal = self.thermal(d.thermal, ctx.now_ms, c.thermal_exit_hold_ms);
        let held = if thermal != d.thermal {
            format!(" (now {:?}, held {} s after it cooled)", d.thermal, c.thermal_exit_hold_ms / 1000)
        } else {
            String::new()
        };
        if thermal == ThermalState::Critical {
            return (PowerMode::UltraLow, Priority::Safety, format!("thermal state Critical{held}"));
        }
        if critical {
            return (
                PowerMode::UltraLow,
                Priority::Safety,
                format!("{level}critical at or below {}%", c.battery_critical_percent),
            );
        }
        let mut not_material = String::new();
        if thermal == ThermalState::Serious {
            match shed_share(m, ctx) {
                Some((saved, phone, share)) if share < c.thermal_material_share => {
                    not_material = format!(
                        "thermal state Serious{held}, but shedding radio work would save about {saved:.1} mA of the phone's {phone:.0} mA ({:.1} %, under {:.0} %): not a material part of the heat; ",
                        share * 100.0,
                        c.thermal_material_share * 100.0
                    );
                }
                Some((saved, phone, share)) => {
                    return (
                        PowerMode::PowerSaver,
                        Priority::Safety,
                        format!("thermal state Serious{held}: radio work is about {saved:.1} mA of the phone's {phone:.0} mA ({:.1} %)", share * 100.0),
                    );
                }
                None => {
                    return (
                        PowerMode::PowerSaver,
                        Priority::Safety,
                        format!("thermal state Serious{held} (the phone's current is not known: charging, or too few battery readings)"),
                    );
                }
            }
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

/// What shedding radio work to the power saver profile would save against what the phone draws:
/// (saved mA, phone mA, share). None when the phone's current is not known (charging, or too
/// few battery readings): then the heat is assumed to be the mesh's to shed.
fn shed_share(m: &PerformanceMetrics, ctx: &StrategyContext<'_>) -> Option<(f64, f64, f64)> {
    let drain = m.device.battery_drain_percent_per_hour.filter(|d| *d > 0.0)?;
    let phone_ma = drain / 100.0 * ctx.config.battery_capacity_mah;
    let links = m.mesh_performance.connected_peers;
    let scan_ma = ctx.config.repair_cost_continuous_scan_ma;
    let now = super::costs::profile_ma(ctx.profile, links, scan_ma);
    let mut shed = ctx.profile.to_vec();
    for a in PowerMode::PowerSaver.actions() {
        if let Some(slot) = shed.get_mut(a.knob().index()) {
            *slot = a;
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
        let reason = format!("power mode {mode:?}: {why}");
        mode.actions()
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

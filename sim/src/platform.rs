//! What the phone's OS does to an app's radio and work, whatever the policy asks: the scan
//! schedule Android really runs (its scan-mode table, the caps on background and screen-off
//! scanning, the scan timeout, the scan-start quota), the cap on connections, and the
//! consequences of heat (CPU throttling, the app limited, thermal shutdown).
//!
//! Every parameter is a field of [`PlatformModel`] with its source; the old scan table is kept
//! as a parameter ([`PlatformModel::legacy_scan_table`]) for comparison with earlier runs.
//!
//! ```
//! use meshtune::ScanMode;
//! use meshtune_sim::platform::{OsScanMode, PlatformModel, ScanContext};
//! let os = PlatformModel::default();
//! // AOSP's current SCAN_MODE_BALANCED listens 183 ms of every 730 ms.
//! assert_eq!(os.window_interval_ms(OsScanMode::Balanced), (183.0, 730.0));
//! // With the screen off, a low-power scan runs at the SCREEN_OFF schedule (5 %).
//! let ctx = ScanContext { foreground: false, screen_off: true, timed_out: false, thermal_limited: false };
//! assert_eq!(os.schedule(ScanMode::LowPower, 10_000, 0, ctx).mode, OsScanMode::ScreenOff);
//! // An app without a foreground service is capped harder in the background.
//! let plain = PlatformModel { foreground_service: false, ..PlatformModel::default() };
//! assert_eq!(plain.schedule(ScanMode::LowLatency, 10_000, 0, ctx).mode, OsScanMode::ScreenOff);
//! ```

use meshtune::{ScanMode, ThermalState};

/// The scan modes the Bluetooth stack runs, in order of listening time (`SCREEN_OFF` is applied
/// by the OS, never requested by an app).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OsScanMode {
    /// No scan of its own: results of other apps' scans only.
    Opportunistic,
    /// The schedule the OS imposes on background scans with the screen off.
    ScreenOff,
    /// `SCAN_MODE_LOW_POWER`.
    LowPower,
    /// `SCAN_MODE_BALANCED`.
    Balanced,
    /// `SCAN_MODE_LOW_LATENCY`.
    LowLatency,
}

impl OsScanMode {
    /// The stack's mode for a mode an app requests.
    pub fn from_requested(mode: ScanMode) -> OsScanMode {
        match mode {
            ScanMode::Opportunistic => OsScanMode::Opportunistic,
            ScanMode::LowPower => OsScanMode::LowPower,
            ScanMode::Balanced => OsScanMode::Balanced,
            ScanMode::LowLatency => OsScanMode::LowLatency,
        }
    }
}

/// What the OS knows about the app when it schedules its scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScanContext {
    /// The app is in the foreground (then the screen is on).
    pub foreground: bool,
    /// The screen is off (only in the background in this model).
    pub screen_off: bool,
    /// The current scan has run longer than [`PlatformModel::scan_timeout_s`] without a restart.
    pub timed_out: bool,
    /// The phone is at thermal Critical and the OS limits the app ([`PlatformModel::critical_scan_cap`]).
    pub thermal_limited: bool,
}

/// The scan the radio really runs for a request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScanSchedule {
    /// The mode the stack runs after the OS's caps.
    pub mode: OsScanMode,
    /// Scan window and interval of that mode, ms.
    pub window_ms: f64,
    /// Scan interval of that mode, ms.
    pub interval_ms: f64,
    /// The app's duty cycle: on ms, off ms (off 0: continuous).
    pub on_ms: u32,
    /// Off part of the app's duty cycle, ms.
    pub off_ms: u32,
    /// Share of the app's duty cycles that may start under the scan-start quota.
    pub cycles_allowed: f64,
    /// Scan starts the quota refuses, per second.
    pub refused_per_s: f64,
    /// The mode was lowered by the background cap or the screen-off rule.
    pub capped: bool,
    /// The mode was lowered by the scan timeout.
    pub timed_out: bool,
    /// Share of time another app scans, for opportunistic scanning.
    opportunistic_duty: f64,
}

impl ScanSchedule {
    /// Share of time the receiver listens.
    pub fn listening_share(&self) -> f64 {
        let radio = if self.mode == OsScanMode::Opportunistic {
            self.opportunistic_duty
        } else {
            self.window_ms / self.interval_ms
        };
        let on = f64::from(self.on_ms);
        radio * on / (on + f64::from(self.off_ms)) * self.cycles_allowed
    }

    /// Share of time the app's own scanner listens (opportunistic scanning costs it nothing).
    pub fn own_listening_share(&self) -> f64 {
        if self.mode == OsScanMode::Opportunistic {
            0.0
        } else {
            self.listening_share()
        }
    }

    /// Scan starts per second that the quota lets through (a continuous scan starts once).
    pub fn starts_per_s(&self) -> f64 {
        if self.off_ms == 0 {
            0.0
        } else {
            1000.0 / f64::from(self.on_ms + self.off_ms) * self.cycles_allowed
        }
    }
}

/// The OS's rules and the consequences of heat; defaults from AOSP and the platforms' docs.
#[derive(Debug, Clone, PartialEq)]
pub struct PlatformModel {
    /// Use the scan table of Android 8–12 (`LOW_POWER` 512/5120, `BALANCED` 1024/4096,
    /// `LOW_LATENCY` 4096/4096 ms) instead of the current one. Off by default; kept to compare
    /// with runs made on the old table.
    pub legacy_scan_table: bool,
    /// Scan starts allowed per app in any 30 s (AOSP `ScanUtil.kt` `DEFAULT_SCAN_QUOTA_COUNT =
    /// 5` over `DEFAULT_SCAN_QUOTA_WINDOW = 30.seconds`, checked in `AppScanStats`: the sixth
    /// start within 30 s fails with `SCAN_FAILED_SCANNING_TOO_FREQUENTLY` or gets no results).
    pub scan_starts_per_30s: u32,
    /// A scan running longer than this without a restart is downgraded, s (AOSP
    /// `le_scan/ScanUtil.kt` `DEFAULT_SCAN_TIMEOUT = 10.minutes`; 30 minutes before Android 14).
    pub scan_timeout_s: u64,
    /// The mode a timed-out scan is downgraded to, for the rest of that scan (AOSP
    /// `ScanManager.regularScanTimeout`: a filtered scan moves to `SCAN_MODE_FORCE_DOWNGRADED`
    /// = `SCAN_MODE_LOW_POWER`, an unfiltered one to opportunistic; mesh apps filter on their
    /// service UUID). Duty-cycled scans restart every cycle and never time out.
    pub timeout_mode: OsScanMode,
    /// The app keeps a foreground service while in the background (default true: a mesh app
    /// must, to keep running under Android's background execution limits; BitChat's
    /// `MeshForegroundService` does). AOSP's scan throttling counts such an app as foreground
    /// (`ScanManager` importance cutoff `IMPORTANCE_FOREGROUND_SERVICE`), so only the
    /// screen-off rule applies to it: `LOW_POWER` → `SCREEN_OFF`, `BALANCED` →
    /// `SCREEN_OFF_BALANCED` (183/730 ms, the same as `BALANCED`), `LOW_LATENCY` unchanged.
    /// Without one, [`PlatformModel::background_cap`] applies.
    pub foreground_service: bool,
    /// Background apps (without a foreground service) with the screen on are capped at this
    /// mode, with the screen off at `SCREEN_OFF` (AOSP `le_scan/ScanThrottler.kt`).
    pub background_cap: OsScanMode,
    /// Connections the Bluetooth stack keeps at once: 7 (AOSP `bt_target.h`
    /// `GATT_MAX_PHY_CHANNEL 7`, which `gatt_utils.cc` clamps the OEM property
    /// `bluetooth.core.le.max_number_of_concurrent_connections` to; many Samsung and Xiaomi
    /// builds set 10, newest AOSP allows 8 to 16). The cap is phone-wide.
    pub max_connections: u32,
    /// Transmit power of connections, dBm: 0. Apps set the TX power of advertising only; a
    /// connection transmits at the controller's default (0 dBm is the common default of BLE
    /// controllers; an assumption, phones do not document it).
    pub connection_tx_dbm: f64,
    /// CPU speed (share of nominal throughput) at thermal Serious: 0.6. Phones cap the cores'
    /// frequencies step by step above the skin thresholds (the Pixel 4a thermal HAL removes up
    /// to 12 cpufreq steps within 6 °C; Android documents SEVERE as "throttling where UX is
    /// largely impacted"; Apple's "serious": "the system reduces performance"). Neither gives
    /// a percentage: 0.6 is an estimate (range 0.5–0.8; press benchmarks of hot phones lost
    /// 22–34 %). Consensus validation and message handling slow by this factor.
    pub cpu_speed_serious: f64,
    /// CPU speed at thermal Critical: 0.4 (an estimate, range 0.3–0.5: "the platform has done
    /// everything to reduce power").
    pub cpu_speed_critical: f64,
    /// At Critical the OS limits the app: its scans run at most at this mode (Apple: at
    /// critical, "reduce to the minimum required for user interaction"; Android's thermal
    /// mitigation at CRITICAL restricts background work). The app stays connected.
    pub critical_scan_cap: OsScanMode,
    /// Skin temperature at which the phone shuts itself down, °C: the Pixel 3 thermal HAL's
    /// SHUTDOWN skin threshold, 55 (the Pixel 4a's is 58).
    pub shutdown_c: f64,
    /// A phone that shut down from heat restarts once it has cooled this far below the
    /// Critical threshold, °C, and at least [`PlatformModel::restart_after_shutdown_s`] later.
    pub restart_cooling_c: f64,
    /// Shortest time between a thermal shutdown and the restart, s (boot and app start).
    pub restart_after_shutdown_s: u64,
    /// Share of time another app scans, for opportunistic scanning (an assumption: no public
    /// figure exists).
    pub opportunistic_duty: f64,
    /// Thermal headroom (`PowerManager.getThermalHeadroom`), as AOSP's `ThermalManagerService`
    /// computes it: 1.0 at the SEVERE skin threshold (Serious here), 0.0 this many °C below it,
    /// linear in between and beyond: 30.
    pub headroom_degrees_per_unit: f64,
    /// The forecast AOSP makes: a least-squares line through the skin temperatures of the last
    /// this many seconds (its ring buffer holds 30 samples, taken about once a second while an
    /// app asks), extended `headroom_forecast_s` ahead: 30.
    pub headroom_history_s: usize,
    /// How far ahead MeshTune's Android collector asks for the forecast, s, and how often it
    /// asks while the thermal status is LIGHT (Fair) or hotter: 10 and 10 (the collector's
    /// constants; it does not ask while the phone is cool).
    pub headroom_forecast_s: u32,
    pub headroom_read_every_s: u64,
}

impl Default for PlatformModel {
    fn default() -> Self {
        PlatformModel {
            legacy_scan_table: false,
            scan_starts_per_30s: 5,
            scan_timeout_s: 600,
            timeout_mode: OsScanMode::LowPower,
            foreground_service: true,
            background_cap: OsScanMode::LowPower,
            max_connections: 7,
            connection_tx_dbm: 0.0,
            cpu_speed_serious: 0.6,
            cpu_speed_critical: 0.4,
            critical_scan_cap: OsScanMode::ScreenOff,
            shutdown_c: 55.0,
            restart_cooling_c: 3.0,
            restart_after_shutdown_s: 120,
            opportunistic_duty: 0.02,
            headroom_degrees_per_unit: 30.0,
            headroom_history_s: 30,
            headroom_forecast_s: 10,
            headroom_read_every_s: 10,
        }
    }
}

impl PlatformModel {
    /// The headroom the OS reports for skin temperatures `history` (oldest first, one a second)
    /// `forecast_s` ahead, with `severe_c` the SEVERE threshold; None with fewer than 3
    /// samples (AOSP's `MINIMUM_SAMPLE_COUNT`: it answers NaN, which an app does not record).
    pub fn thermal_headroom(&self, history: &[f64], severe_c: f64, forecast_s: u32) -> Option<f64> {
        let n = history.len();
        if n < 3 {
            return None;
        }
        let mean_t = (n as f64 - 1.0) / 2.0;
        let mean_c = history.iter().sum::<f64>() / n as f64;
        let (mut cov, mut var) = (0.0, 0.0);
        for (i, c) in history.iter().enumerate() {
            let dt = i as f64 - mean_t;
            cov += dt * (c - mean_c);
            var += dt * dt;
        }
        // The fitted line at the forecast time, as AOSP does; with no forecast, the last sample.
        let forecast_c = if forecast_s == 0 {
            history[n - 1]
        } else {
            mean_c + cov / var * (n as f64 - 1.0 - mean_t + f64::from(forecast_s))
        };
        let zero_c = severe_c - self.headroom_degrees_per_unit;
        Some(((forecast_c - zero_c) / self.headroom_degrees_per_unit).max(0.0))
    }

    /// Scan window and interval of a mode, ms. Current AOSP (`le_scan/ScanUtil`): `LOW_POWER`
    /// 140/1400, `BALANCED` 183/730, `LOW_LATENCY` 100/100, `SCREEN_OFF` 512/10240; with
    /// [`PlatformModel::legacy_scan_table`] the Android 8–12 figures.
    pub fn window_interval_ms(&self, mode: OsScanMode) -> (f64, f64) {
        match (mode, self.legacy_scan_table) {
            (OsScanMode::Opportunistic, _) => (0.0, 4096.0),
            (OsScanMode::ScreenOff, _) => (512.0, 10240.0),
            (OsScanMode::LowPower, false) => (140.0, 1400.0),
            (OsScanMode::Balanced, false) => (183.0, 730.0),
            (OsScanMode::LowLatency, false) => (100.0, 100.0),
            (OsScanMode::LowPower, true) => (512.0, 5120.0),
            (OsScanMode::Balanced, true) => (1024.0, 4096.0),
            (OsScanMode::LowLatency, true) => (4096.0, 4096.0),
        }
    }

    /// The schedule the OS runs for a requested scan in a context: the background cap, the
    /// screen-off rule, the timeout and the thermal limit lower the mode; the quota drops the
    /// duty cycles that start too often.
    pub fn schedule(&self, mode: ScanMode, on_ms: u32, off_ms: u32, ctx: ScanContext) -> ScanSchedule {
        let requested = OsScanMode::from_requested(mode);
        let mut run = requested;
        let mut timed_out = false;
        if ctx.timed_out && off_ms == 0 && run > self.timeout_mode && run != OsScanMode::Opportunistic {
            run = self.timeout_mode;
            timed_out = true;
        }
        let before_caps = run;
        let counts_as_foreground = ctx.foreground || self.foreground_service;
        if run != OsScanMode::Opportunistic {
            if !counts_as_foreground {
                let cap = if ctx.screen_off { OsScanMode::ScreenOff } else { self.background_cap };
                run = run.min(cap);
            } else if ctx.screen_off && run == OsScanMode::LowPower {
                run = OsScanMode::ScreenOff;
            }
        }
        if ctx.thermal_limited && run != OsScanMode::Opportunistic {
            run = run.min(self.critical_scan_cap);
        }
        let (window_ms, interval_ms) = self.window_interval_ms(run);
        let on_ms = on_ms.max(1);
        let (cycles_allowed, refused_per_s) = if off_ms == 0 {
            (1.0, 0.0)
        } else {
            let demanded_per_30s = 30_000.0 / f64::from(on_ms + off_ms);
            let quota = f64::from(self.scan_starts_per_30s);
            if demanded_per_30s > quota {
                (quota / demanded_per_30s, (demanded_per_30s - quota) / 30.0)
            } else {
                (1.0, 0.0)
            }
        };
        ScanSchedule {
            mode: run,
            window_ms,
            interval_ms,
            on_ms,
            off_ms,
            cycles_allowed,
            refused_per_s,
            capped: run < before_caps,
            timed_out,
            opportunistic_duty: self.opportunistic_duty,
        }
    }

    /// Share of nominal CPU throughput at a thermal state.
    pub fn cpu_speed(&self, thermal: ThermalState) -> f64 {
        match thermal {
            ThermalState::Serious => self.cpu_speed_serious,
            ThermalState::Critical => self.cpu_speed_critical,
            _ => 1.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FG: ScanContext =
        ScanContext { foreground: true, screen_off: false, timed_out: false, thermal_limited: false };

    #[test]
    fn the_headroom_follows_aosps_scale_and_its_fitted_line() {
        let os = PlatformModel::default();
        // 1.0 at the SEVERE threshold, 0 at 30 °C below it (and never below 0), linear.
        assert_eq!(os.thermal_headroom(&[45.0; 30], 45.0, 10), Some(1.0));
        assert_eq!(os.thermal_headroom(&[30.0; 30], 45.0, 10), Some(0.5));
        assert_eq!(os.thermal_headroom(&[10.0; 30], 45.0, 10), Some(0.0));
        // Rising 0.1 °C/s to 44 °C: the line reaches 45 °C 10 s later, so the forecast is 1.0
        // while the temperature now is 0.967.
        let rising: Vec<f64> = (0..30).map(|i| 44.0 - 0.1 * f64::from(29 - i)).collect();
        let f = os.thermal_headroom(&rising, 45.0, 10).unwrap();
        assert!((f - 1.0).abs() < 1e-9, "{f}");
        let now = os.thermal_headroom(&rising, 45.0, 0).unwrap();
        assert!((now - 29.0 / 30.0).abs() < 1e-9, "{now}");
        // Fewer than 3 samples: no answer (AOSP's NaN).
        assert_eq!(os.thermal_headroom(&[44.0, 45.0], 45.0, 10), None);
    }

    #[test]
    fn the_current_aosp_table_and_the_legacy_one() {
        let os = PlatformModel::default();
        let duty = |m| {
            let (w, i) = os.window_interval_ms(m);
            w / i
        };
        assert_eq!(duty(OsScanMode::LowPower), 0.1);
        assert!((duty(OsScanMode::Balanced) - 183.0 / 730.0).abs() < 1e-12);
        assert_eq!(duty(OsScanMode::LowLatency), 1.0);
        assert_eq!(duty(OsScanMode::ScreenOff), 0.05);
        let old = PlatformModel { legacy_scan_table: true, ..PlatformModel::default() };
        assert_eq!(old.window_interval_ms(OsScanMode::Balanced), (1024.0, 4096.0));
        assert_eq!(old.window_interval_ms(OsScanMode::LowPower), (512.0, 5120.0));
    }

    #[test]
    fn with_a_foreground_service_only_the_screen_off_rule_applies() {
        let os = PlatformModel::default();
        let bg_off = ScanContext { foreground: false, screen_off: true, ..FG };
        assert_eq!(os.schedule(ScanMode::LowPower, 2_000, 28_000, bg_off).mode, OsScanMode::ScreenOff);
        assert_eq!(os.schedule(ScanMode::Balanced, 8_000, 2_000, bg_off).mode, OsScanMode::Balanced);
        assert_eq!(os.schedule(ScanMode::LowLatency, 10_000, 0, bg_off).mode, OsScanMode::LowLatency);
        let bg_on = ScanContext { foreground: false, ..FG };
        assert!(!os.schedule(ScanMode::LowLatency, 10_000, 0, bg_on).capped);
    }

    #[test]
    fn background_and_screen_off_cap_the_mode() {
        let os = PlatformModel { foreground_service: false, ..PlatformModel::default() };
        let fg = os.schedule(ScanMode::LowLatency, 10_000, 0, FG);
        assert_eq!((fg.mode, fg.capped), (OsScanMode::LowLatency, false));
        let bg_on = os.schedule(ScanMode::LowLatency, 10_000, 0, ScanContext { foreground: false, ..FG });
        assert_eq!((bg_on.mode, bg_on.capped), (OsScanMode::LowPower, true));
        let bg_off =
            os.schedule(ScanMode::Balanced, 8_000, 2_000, ScanContext { foreground: false, screen_off: true, ..FG });
        assert_eq!(bg_off.mode, OsScanMode::ScreenOff);
        // A request at or under the cap is not capped.
        let low = os.schedule(ScanMode::LowPower, 2_000, 28_000, ScanContext { foreground: false, ..FG });
        assert!(!low.capped);
        // Opportunistic scanning is never raised or capped.
        let opp =
            os.schedule(ScanMode::Opportunistic, 10_000, 0, ScanContext { foreground: false, screen_off: true, ..FG });
        assert_eq!((opp.mode, opp.capped), (OsScanMode::Opportunistic, false));
        assert_eq!(opp.own_listening_share(), 0.0);
    }

    #[test]
    fn a_continuous_scan_times_out_a_duty_cycled_one_does_not() {
        let os = PlatformModel::default();
        let t = ScanContext { timed_out: true, ..FG };
        let cont = os.schedule(ScanMode::LowLatency, 10_000, 0, t);
        assert_eq!((cont.mode, cont.timed_out), (OsScanMode::LowPower, true));
        let cycled = os.schedule(ScanMode::LowLatency, 8_000, 2_000, t);
        assert_eq!((cycled.mode, cycled.timed_out), (OsScanMode::LowLatency, false));
    }

    #[test]
    fn the_quota_drops_cycles_beyond_five_starts_per_30_s() {
        let os = PlatformModel::default();
        // 3 s cycles: 10 starts demanded per 30 s, 5 allowed.
        let fast = os.schedule(ScanMode::Balanced, 1_000, 2_000, FG);
        assert!((fast.cycles_allowed - 0.5).abs() < 1e-12);
        assert!((fast.refused_per_s - 5.0 / 30.0).abs() < 1e-12);
        assert!((fast.starts_per_s() - 5.0 / 30.0).abs() < 1e-12);
        // 6 s cycles: exactly 5 per 30 s, all allowed.
        let ok = os.schedule(ScanMode::Balanced, 4_000, 2_000, FG);
        assert_eq!((ok.cycles_allowed, ok.refused_per_s), (1.0, 0.0));
        // Half the cycles run: half the listening of the requested duty cycle.
        let (w, i) = os.window_interval_ms(OsScanMode::Balanced);
        assert!((fast.listening_share() - w / i / 3.0 * 0.5).abs() < 1e-12);
    }

    #[test]
    fn heat_slows_the_cpu_and_limits_the_scan_at_critical() {
        let os = PlatformModel::default();
        assert_eq!(os.cpu_speed(ThermalState::Nominal), 1.0);
        assert!(os.cpu_speed(ThermalState::Critical) < os.cpu_speed(ThermalState::Serious));
        assert!(os.cpu_speed(ThermalState::Serious) < 1.0);
        let hot = os.schedule(ScanMode::LowLatency, 10_000, 0, ScanContext { thermal_limited: true, ..FG });
        assert_eq!(hot.mode, OsScanMode::ScreenOff);
    }
}

#![forbid(unsafe_code)]
//! Discovery by design (issue 11, item 3): the lower bound on neighbour-discovery latency, and a
//! planner in the spirit of BLEnd that picks the cheapest scan and advertising setting predicted
//! to meet a discovery target within Android's quantized scan modes, the scan-start quota and
//! the background cap. The formulas and their assumptions are in `docs/discovery.md`.
//!
//! **The bound** is MeshTune's own derivation from a coverage argument (`docs/discovery.md`),
//! after Kindt & Chakraborty, "On Optimal Neighbor Discovery", SIGCOMM 2019, whose theorem text
//! was not read: the paper's constant is unverified. For one sender → one listener, worst case,
//! no collisions: a device that sends beacons of airtime ω with transmit duty β, one every
//! λ = ω/β, heard by one that listens with receive duty γ, is not discovered by it within a
//! worst-case latency shorter than ⌈1/γ⌉·λ ≥ λ/γ = ω/(β·γ), whatever the schedules (a listener
//! schedule that repeats, at an arbitrary offset; one channel, one packet per advertising event;
//! reception windows at least one beacon long). The code uses λ/γ: the bound depends only on how
//! often the peer advertises and how much of the time this phone listens. Two devices with the
//! same total duty η = β + γ, transmit and receive time weighted equally, do best at
//! β = γ = η/2, where it is 4ω/η² (12ω/η² if all three advertising channels' packets count as
//! radio time). When discovery by either end counts, the bound is lower, down to half of λ/γ.
//!
//! **The planner** predicts, for each candidate setting, the time by which a peer in range is
//! found with probability `probability`, by MeshTune's memoryless approximation, which the
//! simulator also uses. It is not BLEnd's model, whose scan window always holds a beacon (see
//! `docs/discovery.md`). Each advertising event is heard with probability (scan-mode share) ×
//! (survival against `peers` advertisers' advertisements, pure ALOHA: e^(−2·N·ω/λ)),
//! independently; an app duty cycle listens only during its on-phases, and the peer may come
//! into range just as an off-phase begins (the worst phase is assumed). Among the settings
//! predicted to meet the target it returns the one of least current (the cost table's
//! figures); when none does, the fastest.
//!
//! ```
//! use meshtune::discovery::{discovery_lower_bound_ms, plan_discovery, DiscoveryTarget};
//! // A peer advertising every 1 000 ms, this phone listening 10 % of the time: a worst case of
//! // 10 s at best.
//! assert_eq!(discovery_lower_bound_ms(0.10, 1_000.0), Some(10_000.0));
//! let plan = plan_discovery(&DiscoveryTarget { latency_ms: 10_000.0, probability: 0.95, peers: 8, background: false }, 10.0);
//! assert!(plan.meets_target && plan.predicted_ms <= 10_000.0);
//! ```

use crate::{AdvertiseMode, OptimizationAction, ScanMode};

/// Airtime of one advertising packet, ms: a 31-byte advertising payload with its header,
/// address, preamble and CRC, 47 bytes at 1 Mbit/s, 8 µs a byte (Bluetooth Core 5.x, LE 1M PHY).
pub const ADV_PACKET_MS: f64 = 0.376;

/// Share of the time the radio listens in each scan mode, from the scan windows and intervals of
/// Android 13 and later (AOSP commit a076e7982a, 2022-03-15, "Scan parameter optimization"):
/// `LOW_POWER` 140/1400 ms, `BALANCED` 183/730 ms, `LOW_LATENCY` 100/100 ms (continuous);
/// `OPPORTUNISTIC` runs no scan of its own. Android 9–12 used 512/5120, 1024/4096 and
/// 4096/4096 ms (about the same shares), Android 5–8.1 500/5000, 2000/5000 and 5000/5000 ms
/// (`docs/discovery.md`).
pub fn scan_mode_share(mode: ScanMode) -> f64 {
    match mode {
        ScanMode::Opportunistic => 0.0,
        ScanMode::LowPower => 140.0 / 1_400.0,
        ScanMode::Balanced => 183.0 / 730.0,
        ScanMode::LowLatency => 1.0,
    }
}

/// Nominal advertising interval of each mode, ms (Android's `AdvertiseSettings`).
pub fn advertising_interval_ms(mode: AdvertiseMode) -> f64 {
    match mode {
        AdvertiseMode::LowPower => 1_000.0,
        AdvertiseMode::Balanced => 250.0,
        AdvertiseMode::LowLatency => 100.0,
    }
}

/// Average current of advertising in each mode, mA (the cost table's figures,
/// `strategy::costs::profile_ma`).
pub fn advertising_current_ma(mode: AdvertiseMode) -> f64 {
    match mode {
        AdvertiseMode::LowLatency => 0.14,
        AdvertiseMode::Balanced => 0.04,
        AdvertiseMode::LowPower => 0.01,
    }
}

/// The lower bound on the worst-case latency for this phone, listening a share `scan_duty` of the
/// time, to discover a peer advertising every `adv_interval_ms`: λ/γ, ms. MeshTune's derivation,
/// after Kindt & Chakraborty (see the module documentation), for one direction: one sender → one
/// listener, worst case, no collisions. When either end's discovery counts, the bound is lower,
/// down to half of this. None when the phone does not listen (or the inputs are not finite and
/// positive).
pub fn discovery_lower_bound_ms(scan_duty: f64, adv_interval_ms: f64) -> Option<f64> {
    let ok = |v: f64| v.is_finite() && v > 0.0;
    (ok(scan_duty) && ok(adv_interval_ms)).then(|| adv_interval_ms / scan_duty.min(1.0))
}

/// What the planner aims at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiscoveryTarget {
    /// Find a peer that came into range within this time, ms (`target_discovery_p95_ms`).
    pub latency_ms: f64,
    /// With this probability (0.95 for a p95).
    pub probability: f64,
    /// Peers advertising nearby (their advertisements collide with each other's).
    pub peers: u32,
    /// The app is in the background: Android caps its scans at `LOW_POWER`.
    pub background: bool,
}

/// A setting the planner chose, with what it predicts.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscoveryPlan {
    /// The scan: mode and app duty cycle.
    pub scan: OptimizationAction,
    /// The advertising mode.
    pub advertise: AdvertiseMode,
    /// Predicted time to find a peer in range with the target's probability, ms.
    pub predicted_ms: f64,
    /// The lower bound (one direction) at this setting's listening share, for a peer advertising
    /// like this phone, ms.
    pub bound_ms: f64,
    /// Predicted current of the scan and the advertising, mA.
    pub current_ma: f64,
    /// Whether `predicted_ms` meets the target (else this is the fastest setting there is).
    pub meets_target: bool,
}

/// The app duty cycles the planner considers, (on, off) ms: continuous, and cycles whose period
/// of at least 6 s keeps within Android's 5 scan starts per 30 s.
pub const DUTY_CYCLES: [(u32, u32); 6] =
    [(10_000, 0), (8_000, 2_000), (5_000, 5_000), (4_000, 8_000), (3_000, 12_000), (2_000, 28_000)];

/// The predicted time to find a peer in range with probability `probability`, ms, for a scan
/// in `mode` on for `on_ms` of every `on_ms + off_ms`, a peer advertising every `adv_ms`, and
/// `peers` advertisers around.
pub fn predicted_discovery_ms(
    mode: ScanMode,
    on_ms: u32,
    off_ms: u32,
    adv_ms: f64,
    peers: u32,
    probability: f64,
) -> f64 {
    let share = scan_mode_share(mode);
    let survive = (-2.0 * f64::from(peers) * ADV_PACKET_MS / adv_ms).exp();
    let p = (share * survive).clamp(0.0, 1.0);
    if p <= 0.0 || !(0.0..1.0).contains(&probability) {
        return f64::INFINITY;
    }
    // Events until one is heard, at the probability asked (geometric), as listening time.
    let events = if p >= 1.0 { 1.0 } else { ((1.0 - probability).ln() / (1.0 - p).ln()).ceil().max(1.0) };
    let listening_ms = events * adv_ms;
    if off_ms == 0 {
        return listening_ms;
    }
    // Listening only during on-phases, from the worst phase (the peer comes into range as an
    // off-phase begins): the off-phase, then whole periods for the on-time used up, plus the rest.
    let (on, off) = (f64::from(on_ms), f64::from(off_ms));
    let full = (listening_ms / on).floor();
    off + full * (on + off) + (listening_ms - full * on)
}

/// The cheapest setting predicted to meet `target` (the fastest when none does); see the module
/// documentation. `scan_continuous_ma` is the current of continuous low-latency scanning (the
/// cost table's `repair_cost_continuous_scan_ma`).
pub fn plan_discovery(target: &DiscoveryTarget, scan_continuous_ma: f64) -> DiscoveryPlan {
    let modes: &[ScanMode] = if target.background {
        &[ScanMode::LowPower]
    } else {
        &[ScanMode::LowPower, ScanMode::Balanced, ScanMode::LowLatency]
    };
    let mut best: Option<DiscoveryPlan> = None;
    let mut fastest: Option<DiscoveryPlan> = None;
    for &mode in modes {
        for &(on, off) in &DUTY_CYCLES {
            for adv in [AdvertiseMode::LowPower, AdvertiseMode::Balanced, AdvertiseMode::LowLatency] {
                let adv_ms = advertising_interval_ms(adv);
                let predicted = predicted_discovery_ms(mode, on, off, adv_ms, target.peers, target.probability);
                let listening = scan_mode_share(mode) * f64::from(on) / (f64::from(on) + f64::from(off));
                let plan = DiscoveryPlan {
                    scan: OptimizationAction::SetScanMode { mode, duty_on_ms: on, duty_off_ms: off },
                    advertise: adv,
                    predicted_ms: predicted,
                    bound_ms: discovery_lower_bound_ms(listening, adv_ms).unwrap_or(f64::INFINITY),
                    current_ma: scan_continuous_ma * listening + advertising_current_ma(adv),
                    meets_target: predicted <= target.latency_ms,
                };
                if plan.meets_target && best.as_ref().is_none_or(|b| plan.current_ma < b.current_ma) {
                    best = Some(plan.clone());
                }
                if fastest.as_ref().is_none_or(|f| plan.predicted_ms < f.predicted_ms) {
                    fastest = Some(plan);
                }
            }
        }
    }
    match (best, fastest) {
        (Some(b), _) => b,
        (None, Some(f)) => f,
        // `modes`, `DUTY_CYCLES` and the advertising modes are never empty.
        (None, None) => DiscoveryPlan {
            scan: OptimizationAction::baseline(crate::Knob::ScanMode),
            advertise: AdvertiseMode::Balanced,
            predicted_ms: f64::INFINITY,
            bound_ms: f64::INFINITY,
            current_ma: f64::INFINITY,
            meets_target: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(latency_ms: f64, peers: u32, background: bool) -> DiscoveryTarget {
        DiscoveryTarget { latency_ms, probability: 0.95, peers, background }
    }

    #[test]
    fn the_bound_is_the_advertising_interval_over_the_listening_share() {
        assert_eq!(discovery_lower_bound_ms(1.0, 100.0), Some(100.0));
        assert_eq!(discovery_lower_bound_ms(0.25, 250.0), Some(1_000.0));
        assert_eq!(discovery_lower_bound_ms(0.0, 250.0), None);
        assert_eq!(discovery_lower_bound_ms(f64::NAN, 250.0), None);
        // The symmetric form: total duty η split evenly, 4ω/η² (η = 2 % of a 0.376 ms beacon).
        let eta: f64 = 0.02;
        let beta = eta / 2.0;
        let lambda = ADV_PACKET_MS / beta;
        let b = discovery_lower_bound_ms(eta / 2.0, lambda).unwrap();
        assert!((b - 4.0 * ADV_PACKET_MS / (eta * eta)).abs() < 1e-9, "{b}");
    }

    #[test]
    fn no_setting_is_predicted_to_beat_the_bound() {
        for mode in [ScanMode::LowPower, ScanMode::Balanced, ScanMode::LowLatency] {
            for &(on, off) in &DUTY_CYCLES {
                for adv in [AdvertiseMode::LowPower, AdvertiseMode::Balanced, AdvertiseMode::LowLatency] {
                    let adv_ms = advertising_interval_ms(adv);
                    let listening = scan_mode_share(mode) * f64::from(on) / f64::from(on + off);
                    let bound = discovery_lower_bound_ms(listening, adv_ms).unwrap();
                    // The bound is on the worst case, and a p95 could in principle lie below it;
                    // on the planner's candidates the model never promises that.
                    let p95 = predicted_discovery_ms(mode, on, off, adv_ms, 1, 0.95);
                    assert!(p95 >= bound * 0.999 || listening >= 1.0, "{mode:?} {on}/{off} {adv:?}: {p95} < {bound}");
                }
            }
        }
    }

    #[test]
    fn the_planner_buys_the_cheapest_setting_that_meets_the_target() {
        // A relaxed target: a low-power, duty-cycled scan suffices.
        let relaxed = plan_discovery(&target(60_000.0, 4, false), 10.0);
        assert!(relaxed.meets_target, "{relaxed:?}");
        // A tight target needs more listening, and costs more.
        let tight = plan_discovery(&target(2_000.0, 4, false), 10.0);
        assert!(tight.meets_target, "{tight:?}");
        assert!(tight.current_ma > relaxed.current_ma, "{tight:?} vs {relaxed:?}");
        assert!(tight.predicted_ms <= 2_000.0);
        // Whatever it chose is the cheapest of those that meet the target.
        for mode in [ScanMode::LowPower, ScanMode::Balanced, ScanMode::LowLatency] {
            for &(on, off) in &DUTY_CYCLES {
                for adv in [AdvertiseMode::LowPower, AdvertiseMode::Balanced, AdvertiseMode::LowLatency] {
                    let adv_ms = advertising_interval_ms(adv);
                    let ok = predicted_discovery_ms(mode, on, off, adv_ms, 4, 0.95) <= 2_000.0;
                    let listening = scan_mode_share(mode) * f64::from(on) / f64::from(on + off);
                    let ma = 10.0 * listening + advertising_current_ma(adv);
                    assert!(!ok || ma >= tight.current_ma - 1e-12, "{mode:?} {on}/{off} {adv:?} is cheaper");
                }
            }
        }
    }

    #[test]
    fn in_the_background_only_low_power_and_an_impossible_target_gets_the_fastest() {
        let bg = plan_discovery(&target(5_000.0, 4, true), 10.0);
        assert!(matches!(bg.scan, OptimizationAction::SetScanMode { mode: ScanMode::LowPower, .. }), "{bg:?}");
        let impossible = plan_discovery(&target(1.0, 4, false), 10.0);
        assert!(!impossible.meets_target);
        assert!(matches!(
            impossible.scan,
            OptimizationAction::SetScanMode { mode: ScanMode::LowLatency, duty_off_ms: 0, .. }
        ));
        assert_eq!(impossible.advertise, AdvertiseMode::LowLatency);
        // More peers: more collisions, a slower prediction for the same setting.
        let few = predicted_discovery_ms(ScanMode::Balanced, 10_000, 0, 100.0, 2, 0.95);
        let many = predicted_discovery_ms(ScanMode::Balanced, 10_000, 0, 100.0, 200, 0.95);
        assert!(many > few, "{few} {many}");
    }
}

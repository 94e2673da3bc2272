//! The discovery planner against encounters timed event by event (issue 11): every plan it
//! makes over a grid of targets, densities and app states must find the share of peers it
//! promises within its predicted time. `cargo test --release --test discovery_encounters --
//! --nocapture` prints the table that docs/discovery.md quotes.

mod common;

use common::Rng;
use meshtune::discovery::{
    advertising_interval_ms, plan_discovery, predicted_discovery_ms, DiscoveryTarget, ADV_PACKET_MS,
};
use meshtune::{OptimizationAction, ScanMode};

fn target(latency_ms: f64, peers: u32, background: bool) -> DiscoveryTarget {
    DiscoveryTarget { latency_ms, probability: 0.95, peers, background }
}

/// Android 13's scan window and interval of each mode, ms (the sources of
/// `meshtune::discovery::scan_mode_share`).
fn windows(mode: ScanMode) -> (f64, f64) {
    match mode {
        ScanMode::LowPower => (140.0, 1_400.0),
        ScanMode::Balanced => (183.0, 730.0),
        _ => (100.0, 100.0),
    }
}

/// One encounter, timed event by event rather than by the planner's memoryless
/// approximation: the peer comes into range at a uniform phase of the app's duty cycle; the
/// scan runs Android's windows from the start of each on-phase; the peer advertises every
/// `adv_ms` plus the random advertising delay of 0–10 ms (Bluetooth Core, Vol 6, Part B,
/// 4.4.2.2.1), starting at a uniform phase, with a packet on every channel, so an event is
/// heard when it falls inside a window, unless it collides (pure ALOHA against `peers`
/// advertisers, the one assumption the planner's model shares). The time to discovery, ms
/// (infinite past `horizon_ms`).
fn encounter(rng: &mut Rng, mode: ScanMode, on: u32, off: u32, adv_ms: f64, peers: u32, horizon_ms: f64) -> f64 {
    let (window, interval) = windows(mode);
    let (on, off) = (f64::from(on), f64::from(off));
    let period = on + off;
    let arrival = rng.unit() * period;
    let survive = (-2.0 * f64::from(peers) * ADV_PACKET_MS / adv_ms).exp();
    let mut t = arrival + rng.unit() * adv_ms;
    while t - arrival <= horizon_ms {
        let in_cycle = t % period;
        let listening = in_cycle < on && (in_cycle % interval) < window;
        if listening && rng.unit() < survive {
            return t - arrival;
        }
        t += adv_ms + rng.unit() * 10.0;
    }
    f64::INFINITY
}

#[test]
fn the_planners_settings_meet_their_target_in_encounters_timed_event_by_event() {
    // For every plan the planner makes over a grid of targets, densities and app states,
    // 4 000 encounters: the share found within the predicted time must be at least the
    // probability asked (0.95, less three standard errors of the estimate, 0.01).
    let mut rng = Rng(7);
    let mut checked = 0;
    for latency_ms in [2_000.0, 5_000.0, 10_000.0, 30_000.0] {
        for peers in [4u32, 16, 64, 256] {
            for background in [false, true] {
                let plan = plan_discovery(&target(latency_ms, peers, background), 10.0);
                let OptimizationAction::SetScanMode { mode, duty_on_ms, duty_off_ms } = plan.scan else {
                    unreachable!()
                };
                if !plan.meets_target {
                    continue;
                }
                let adv_ms = advertising_interval_ms(plan.advertise);
                let n = 4_000;
                let found = (0..n)
                    .filter(|_| {
                        encounter(&mut rng, mode, duty_on_ms, duty_off_ms, adv_ms, peers, plan.predicted_ms)
                            <= plan.predicted_ms
                    })
                    .count();
                let share = found as f64 / f64::from(n);
                // The timed p95, for docs/discovery.md (`cargo test --release --test
                // discovery_encounters -- --nocapture` prints the table).
                let mut times: Vec<f64> = (0..n)
                    .map(|_| encounter(&mut rng, mode, duty_on_ms, duty_off_ms, adv_ms, peers, f64::INFINITY))
                    .collect();
                times.sort_by(f64::total_cmp);
                eprintln!(
                    "{latency_ms:>6} ms target, {peers:>3} peers, background {background:<5}: {mode:?} {duty_on_ms}/{duty_off_ms}, advertising {adv_ms} ms: predicted {:.1} s, timed p95 {:.1} s, {:.1} % found in time",
                    plan.predicted_ms / 1000.0,
                    times[(n as usize * 95) / 100] / 1000.0,
                    share * 100.0
                );
                assert!(
                    share >= 0.94,
                    "{latency_ms} ms, {peers} peers, background {background}: {plan:?} found {share:.3} within {:.0} ms",
                    plan.predicted_ms
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 20, "{checked} plans checked");
    // The check can fail: a setting predicted by the memoryless model to need a tenth of
    // its time is not found in time.
    let (mode, on, off, adv_ms, peers) = (ScanMode::LowPower, 2_000, 28_000, 1_000.0, 4);
    let predicted = predicted_discovery_ms(mode, on, off, adv_ms, peers, 0.95);
    let found =
        (0..4_000).filter(|_| encounter(&mut rng, mode, on, off, adv_ms, peers, predicted) <= predicted / 10.0).count();
    assert!(found < 3_760, "{found}");
}

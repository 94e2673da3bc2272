//! The simulator's own tests: determinism, model sanity, scenario files, and every policy on
//! every scenario. Short runs: the main job is the benchmark.

use meshtune::{AdvertiseMode, ScanMode};
use meshtune_sim::policy::Policy;
use meshtune_sim::radio::RadioModel;
use meshtune_sim::scenario::Scenario;
use meshtune_sim::{report, run_matrix, world};

fn short(name: &str, hours: f64) -> Scenario {
    let mut s = Scenario::built_in(name).unwrap();
    s.hours = hours;
    s
}

#[test]
fn same_seed_gives_identical_results_and_report() {
    let s = vec![short("commute", 0.2), short("game-night", 0.1)];
    let a = run_matrix(&s, &Policy::ALL, 42, 2, &|_, _| {}).unwrap();
    let b = run_matrix(&s, &Policy::ALL, 42, 1, &|_, _| {}).unwrap();
    assert_eq!(a, b, "thread count must not change results");
    assert_eq!(report::html(&s, &a, 42).unwrap(), report::html(&s, &b, 42).unwrap());
    let c = run_matrix(&s, &Policy::ALL, 43, 2, &|_, _| {}).unwrap();
    assert_ne!(a, c, "another seed is another run");
}

#[test]
fn every_policy_runs_every_scenario() {
    let mut scenarios = Scenario::all_built_in();
    for s in &mut scenarios {
        s.hours = 0.05;
        if s.phones > 40 {
            s.phones = 40;
        }
    }
    let results = run_matrix(&scenarios, &Policy::ALL, 1, 2, &|_, _| {}).unwrap();
    assert_eq!(results.len(), scenarios.len() * Policy::ALL.len());
    for r in &results {
        assert!(r.messages_sent > 0, "{} {}: no traffic", r.scenario, r.policy);
        assert!((0.0..=1.0).contains(&r.delivery_ratio), "{r:?}");
        assert!((0.0..=1.0).contains(&r.slo_attainment), "{r:?}");
        assert!(r.energy_mah_per_phone.is_finite() && r.energy_mah_per_phone > 0.0, "{r:?}");
        assert!(r.battery_left_percent.is_finite());
        assert!(r.p95_latency_ms.unwrap_or(0.0).is_finite());
        assert!(!r.series.battery_percent.is_empty());
    }
    let json = serde_json::to_string(&results.iter().map(|r| r.to_json()).collect::<Vec<_>>()).unwrap();
    assert!(!json.contains("NaN") && !json.contains("inf"));
}

#[test]
fn energy_grows_with_scan_duty_cycle() {
    let m = RadioModel::default();
    let low = m.scan_current(ScanMode::LowPower, 2_000, 28_000);
    let balanced = m.scan_current(ScanMode::Balanced, 8_000, 2_000);
    let continuous = m.scan_current(ScanMode::LowLatency, 10_000, 0);
    assert!(low < balanced && balanced < continuous, "{low} {balanced} {continuous}");
    // And end to end: the same afternoon costs more under static-performance.
    let s = short("heatwave", 0.2);
    let bal = world::run(&s, Policy::StaticBalanced, 3, &mut |_| {}).unwrap();
    let perf = world::run(&s, Policy::StaticPerformance, 3, &mut |_| {}).unwrap();
    assert!(perf.energy_mah_per_phone > 1.5 * bal.energy_mah_per_phone, "{} vs {}", perf.energy_mah_per_phone, bal.energy_mah_per_phone);
}

#[test]
fn discovery_latency_falls_with_the_scan_window() {
    let m = RadioModel::default();
    let adv = m.adv_interval_ms(AdvertiseMode::Balanced);
    let mean = |mode| m.discovery_mean_ms(m.scan_duty(mode, 10_000, 0), adv, 1.0);
    assert!(mean(ScanMode::LowPower) > mean(ScanMode::Balanced));
    assert!(mean(ScanMode::Balanced) > mean(ScanMode::LowLatency));
    // Advertising collisions slow discovery too.
    assert!(m.discovery_mean_ms(0.25, adv, 0.5) > m.discovery_mean_ms(0.25, adv, 1.0));
}

#[test]
fn loss_grows_with_contention_and_weak_signal() {
    let m = RadioModel::default();
    let mut last = 0.0;
    for load in [0.0, 0.2, 0.5, 0.8, 0.95] {
        let p = m.transfer_loss_probability(-70.0, load, 0.01);
        assert!(p >= last, "load {load}: {p} < {last}");
        last = p;
    }
    assert!(m.transfer_loss_probability(-93.0, 0.1, 0.0) > m.transfer_loss_probability(-60.0, 0.1, 0.0));
    assert!(m.attempt_failure_probability(-60.0, 2.0, 0.0) > m.attempt_failure_probability(-60.0, 0.1, 0.0));
}

#[test]
fn batteries_never_go_negative() {
    let mut s = short("commute", 1.0);
    s.battery_start_min_percent = 3.0;
    s.battery_start_max_percent = 6.0;
    for policy in [Policy::StaticPerformance, Policy::MeshTune] {
        let r = world::run(&s, policy, 9, &mut |_| {}).unwrap();
        assert!(r.phones_empty > 0, "{policy:?}: the scenario must drain some battery");
        assert!(r.first_empty_h.is_some());
        assert!(r.battery_left_percent >= 0.0);
        assert!(r.series.battery_percent.iter().all(|&b| b >= 0.0));
    }
}

#[test]
fn scenario_files_load_and_errors_name_the_key() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let s = Scenario::from_file(&dir.join("scenarios/small-festival.toml")).unwrap();
    assert_eq!((s.name.as_str(), s.phones), ("small-festival", 40));
    let tmp = std::env::temp_dir().join(format!("meshtune-sim-test-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let bad = tmp.join("bad.json");
    std::fs::write(&bad, r#"{"base": "stadium", "phonez": 10}"#).unwrap();
    let e = Scenario::from_file(&bad).unwrap_err();
    assert_eq!(e.key, "phonez");
    assert!(e.to_string().contains("unknown key"), "{e}");
    std::fs::write(&bad, r#"{"hours": 100}"#).unwrap();
    assert_eq!(Scenario::from_file(&bad).unwrap_err().key, "hours");
    let missing = Scenario::from_file(&tmp.join("missing.toml")).unwrap_err();
    assert_eq!(missing.key, "file");
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn dominance_needs_every_outcome() {
    let s = short("low-memory", 0.05);
    let r = world::run(&s, Policy::StaticBalanced, 1, &mut |_| {}).unwrap();
    let mut cheaper = r.clone();
    cheaper.energy_mah_per_phone *= 0.5;
    assert!(report::dominates(&cheaper, &r));
    assert!(!report::dominates(&r, &cheaper));
    assert!(!report::dominates(&r, &r), "equal is not dominating");
    let mut mixed = cheaper.clone();
    mixed.kills = r.kills + 1;
    assert!(!report::dominates(&mixed, &r), "fewer kills is an outcome too");
}

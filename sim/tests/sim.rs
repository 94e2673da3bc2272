//! The simulator's own tests: the scoreboard counts every message, dominance can fail, the
//! reference policies frame the others, the OS's rules and heat bite, results are
//! deterministic across seeds and thread counts, and the JSON keeps its names. Short runs: the
//! main job is the benchmark.

use std::collections::BTreeMap;

use meshtune::{AdvertiseMode, ScanMode};
use meshtune_sim::oracle::{self, better, KnobSpace, StaticConfig};
use meshtune_sim::platform::ScanContext;
use meshtune_sim::policy::Policy;
use meshtune_sim::radio::RadioModel;
use meshtune_sim::scenario::Scenario;
use meshtune_sim::stats::{summarize, Summary};
use meshtune_sim::{evaluate_fixed, report, run_matrix, world};

fn short(name: &str, hours: f64) -> Scenario {
    let mut s = Scenario::built_in(name).unwrap();
    s.hours = hours;
    s
}

fn no_oracle() -> BTreeMap<String, StaticConfig> {
    BTreeMap::new()
}

const FG: ScanContext = ScanContext { foreground: true, screen_off: false, timed_out: false, thermal_limited: false };

#[test]
fn same_seeds_give_identical_results_and_report_whatever_the_threads() {
    let s = vec![short("commute", 0.2), short("game-night", 0.1)];
    let seeds = [42, 43];
    let a = run_matrix(&s, &Policy::ALL, &seeds, &no_oracle(), 2, &|_, _| {}).unwrap();
    let b = run_matrix(&s, &Policy::ALL, &seeds, &no_oracle(), 1, &|_, _| {}).unwrap();
    assert_eq!(a, b, "thread count must not change results");
    let (sa, sb) = (summarize(&a), summarize(&b));
    assert_eq!(report::html(&s, &sa, &seeds, &[]).unwrap(), report::html(&s, &sb, &seeds, &[]).unwrap());
    assert_eq!(report::json_document(&s, &sa, &seeds, &[]), report::json_document(&s, &sb, &seeds, &[]));
    let c = run_matrix(&s, &Policy::ALL, &[44, 45], &no_oracle(), 2, &|_, _| {}).unwrap();
    assert_ne!(a, c, "other seeds are other runs");
    // Every (scenario, policy) carries both seeds, in order.
    assert!(sa.iter().all(|x| x.seeds == seeds));
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
    let oracle: BTreeMap<String, StaticConfig> =
        scenarios.iter().map(|s| (s.name.clone(), StaticConfig::BALANCED)).collect();
    let results = run_matrix(&scenarios, &Policy::ALL, &[1], &oracle, 2, &|_, _| {}).unwrap();
    assert_eq!(results.len(), scenarios.len() * Policy::ALL.len());
    for r in &results {
        assert!(r.messages_sent > 0 && r.intended_deliveries > 0, "{} {}: no traffic", r.scenario, r.policy);
        assert!((0.0..=1.0).contains(&r.on_time_ratio) && r.on_time_ratio <= r.delivery_ratio, "{r:?}");
        assert!((0.0..=1.0).contains(&r.slo_attainment), "{r:?}");
        assert!(r.mesh_mah_per_phone_hour.is_finite() && r.battery_hours.is_finite() && r.battery_hours > 0.0, "{r:?}");
        if r.policy == "radio-off" {
            assert_eq!((r.on_time_ratio, r.mesh_mah_per_phone_hour), (0.0, 0.0), "{r:?}");
        } else {
            assert!(r.mesh_mah_per_phone_hour > 0.0, "{r:?}");
        }
        assert!(!r.series.battery_percent.is_empty());
    }
    // The world is the same for every policy: the same intended deliveries.
    for s in &scenarios {
        let counts: Vec<u64> = results.iter().filter(|r| r.scenario == s.name).map(|r| r.intended_deliveries).collect();
        assert!(counts.windows(2).all(|w| w[0] == w[1]), "{}: {counts:?}", s.name);
    }
}

#[test]
fn lost_messages_lower_the_on_time_ratio_and_slo_attainment() {
    let mut clean = short("low-memory", 0.3);
    clean.memory_critical_per_hour = 0.0;
    clean.background_loss = 0.0;
    let mut lossy = clean.clone();
    // Nine attempts in ten fail: half the transfers are lost after six attempts, and the rest
    // are late from the retransmissions.
    lossy.background_loss = 0.9;
    let a = world::run(&clean, Policy::StaticBalanced, 5, &mut |_| {}).unwrap();
    let b = world::run(&lossy, Policy::StaticBalanced, 5, &mut |_| {}).unwrap();
    assert_eq!(a.intended_deliveries, b.intended_deliveries, "the same messages were written");
    assert!(b.delivery_ratio < a.delivery_ratio - 0.05, "{} vs {}", b.delivery_ratio, a.delivery_ratio);
    assert!(b.on_time_ratio < a.on_time_ratio, "{} vs {}", b.on_time_ratio, a.on_time_ratio);
    assert!(b.slo_attainment < a.slo_attainment, "{} vs {}", b.slo_attainment, a.slo_attainment);
    // Energy per on-time delivery rises when fewer arrive on time.
    assert!(b.energy_per_on_time_uah.unwrap() > a.energy_per_on_time_uah.unwrap());
}

#[test]
fn phones_that_are_off_still_count_as_recipients() {
    // The low-memory killer takes phones off; their messages are lost, not forgiven.
    let mut s = short("low-memory", 0.5);
    s.memory_critical_per_hour = 60.0;
    let r = world::run(&s, Policy::StaticBalanced, 2, &mut |_| {}).unwrap();
    assert!(r.kills > 0, "the scenario must kill some processes");
    let mut calm = s.clone();
    calm.memory_critical_per_hour = 0.0;
    let c = world::run(&calm, Policy::StaticBalanced, 2, &mut |_| {}).unwrap();
    assert!(
        r.delivery_ratio < c.delivery_ratio,
        "killed phones must lose deliveries: {} vs {}",
        r.delivery_ratio,
        c.delivery_ratio
    );
}

fn summaries(s: &Scenario, policies: &[Policy], seeds: &[u64]) -> Vec<Summary> {
    summarize(&run_matrix(std::slice::from_ref(s), policies, seeds, &no_oracle(), 2, &|_, _| {}).unwrap())
}

#[test]
fn radio_off_is_dominated_by_every_static_policy_and_never_passes() {
    for name in ["commute", "low-memory"] {
        let s = short(name, 0.2);
        let sums = summaries(&s, &[Policy::RadioOff, Policy::StaticBalanced, Policy::StaticPerformance], &[1, 2]);
        let off = &sums[0];
        assert!(off.mean("battery_hours").unwrap() > sums[1].mean("battery_hours").unwrap(), "radio-off saves battery");
        for stat in &sums[1..] {
            assert!(report::dominates(stat, off), "{name}: {} must dominate radio-off", stat.policy);
            assert!(!report::dominates(off, stat));
        }
        // Scored in MeshTune's place, radio-off fails the goals: it is dominated.
        let mut as_meshtune = sums.clone();
        as_meshtune[0].policy = "meshtune".to_owned();
        let goals = report::goals(&as_meshtune);
        let first = goals.iter().find(|g| g.text.contains("dominated")).unwrap();
        assert!(!first.met, "{}", first.line());
        assert!(first.line().contains("NOT met"));
    }
}

#[test]
fn dominance_needs_a_margin_beyond_the_tie_bands() {
    let s = short("low-memory", 0.1);
    let base = summaries(&s, &[Policy::StaticBalanced], &[1, 2]).remove(0);
    let scaled = |name: &str, factor: f64| {
        let mut x = base.clone();
        for (n, e) in &mut x.figures {
            if *n == name {
                e.mean = e.mean.map(|m| m * factor);
            }
        }
        x
    };
    assert!(!report::dominates(&base, &base), "equal is not dominating");
    // 3 % less energy per on-time delivery is inside the 5 % band: a tie.
    assert!(!report::dominates(&scaled("energy_per_on_time_uah", 0.97), &base));
    // 10 % less is beyond it.
    assert!(report::dominates(&scaled("energy_per_on_time_uah", 0.90), &base));
    // Cheaper but 2 points less on time is not dominating, either way.
    let mut cheaper_later = scaled("energy_per_on_time_uah", 0.5);
    for (n, e) in &mut cheaper_later.figures {
        if *n == "on_time_ratio" {
            e.mean = e.mean.map(|m| m - 0.02);
        }
    }
    assert!(!report::dominates(&cheaper_later, &base) && !report::dominates(&base, &cheaper_later));
    // Hotter beyond the band spoils it.
    let mut hot = scaled("energy_per_on_time_uah", 0.5);
    for (n, e) in &mut hot.figures {
        if *n == "thermal_serious_share" {
            e.mean = e.mean.map(|m| m + 0.05);
        }
    }
    assert!(!report::dominates(&hot, &base));
}

#[test]
fn oracle_static_is_at_least_as_good_as_each_static_policy_on_its_objective() {
    let mut s = short("low-memory", 0.1);
    s.memory_critical_per_hour = 0.0;
    let seeds = [1];
    let space = KnobSpace::radio();
    let r = oracle::search(&s, &space, &seeds, &|cs| evaluate_fixed(&s, cs, &seeds, 2)).unwrap();
    let statics = evaluate_fixed(&s, &[StaticConfig::BALANCED, StaticConfig::PERFORMANCE], &seeds, 2).unwrap();
    for e in &statics {
        assert!(!better(e, &r.evaluation, s.target_on_time_ratio), "a static policy beat the oracle: {e:?} vs {r:?}");
    }
    assert!(r.evaluations > 2 && r.evaluations < space.size());
    // The oracle is what static-balanced and static-performance are: run the same way.
    let direct = world::run(&s, Policy::StaticBalanced, 1, &mut |_| {}).unwrap();
    let fixed = world::run_fixed(&s, &StaticConfig::BALANCED, 1).unwrap();
    assert_eq!(
        (direct.on_time_ratio, direct.mesh_mah_per_phone_hour),
        (fixed.on_time_ratio, fixed.mesh_mah_per_phone_hour)
    );
}

#[test]
fn the_shipped_oracle_file_covers_every_built_in_scenario() {
    let shipped = oracle::shipped();
    for name in Scenario::BUILT_IN {
        let p = shipped.get(name).unwrap_or_else(|| panic!("{name} missing from sim/oracle-static.json"));
        assert!(p.evaluations > 0);
        assert_eq!(
            p.fingerprint,
            oracle::fingerprint(&Scenario::built_in(name).unwrap()),
            "{name}: the oracle file is stale: recompute it"
        );
    }
}

#[test]
fn a_hot_phone_meets_the_modelled_thermal_consequences() {
    let mut cool = short("game-night", 0.5);
    cool.ambient_start_c = 20.0;
    cool.ambient_end_c = 20.0;
    let mut hot = cool.clone();
    hot.ambient_start_c = 44.0;
    hot.ambient_end_c = 50.0;
    let c = world::run(&cool, Policy::StaticPerformance, 3, &mut |_| {}).unwrap();
    let h = world::run(&hot, Policy::StaticPerformance, 3, &mut |_| {}).unwrap();
    assert_eq!((c.thermal_serious_share, c.thermal_critical_share, c.thermal_shutdowns), (0.0, 0.0, 0));
    assert!(h.thermal_critical_share > 0.0 && h.thermal_shutdowns > 0, "{h:?}");
    // Throttled CPUs and phones that shut down finalize fewer operations and deliver less.
    assert!(h.consensus_ops_per_sec_per_table.unwrap() < c.consensus_ops_per_sec_per_table.unwrap());
    assert!(h.on_time_ratio < c.on_time_ratio);
}

#[test]
fn the_os_caps_timeouts_and_quota_show_in_the_run() {
    let os = meshtune_sim::platform::PlatformModel::default();
    // Continuous scanning: timed out after 10 minutes, once per phone per scan.
    let s = short("heatwave", 0.5);
    let perf = world::run(&s, Policy::StaticPerformance, 1, &mut |_| {}).unwrap();
    assert_eq!(perf.scans_downgraded_timeout, u64::from(s.phones), "{perf:?}");
    let bal = world::run(&s, Policy::StaticBalanced, 1, &mut |_| {}).unwrap();
    assert_eq!(bal.scans_downgraded_timeout, 0, "duty-cycled scans restart and never time out");
    // In the background (commute is mostly background) the OS caps the scan.
    let c = world::run(&short("commute", 0.5), Policy::StaticPerformance, 1, &mut |_| {}).unwrap();
    assert!(c.scans_capped_background > 0);
    // A fast duty cycle over the quota: the starts beyond five per 30 s are refused.
    let q = os.schedule(ScanMode::Balanced, 1_000, 1_000, FG);
    assert!((q.refused_per_s - 10.0 / 30.0).abs() < 1e-12);
}

#[test]
fn energy_grows_with_scan_duty_cycle() {
    let m = RadioModel::default();
    let cur = |mode, on, off| m.scan_current(&m.os.schedule(mode, on, off, FG));
    let low = cur(ScanMode::LowPower, 2_000, 28_000);
    let balanced = cur(ScanMode::Balanced, 8_000, 2_000);
    let continuous = cur(ScanMode::LowLatency, 10_000, 0);
    assert!(low < balanced && balanced < continuous, "{low} {balanced} {continuous}");
    // And end to end: the same afternoon costs more under static-performance.
    let s = short("heatwave", 0.2);
    let bal = world::run(&s, Policy::StaticBalanced, 3, &mut |_| {}).unwrap();
    let perf = world::run(&s, Policy::StaticPerformance, 3, &mut |_| {}).unwrap();
    assert!(
        perf.mesh_mah_per_phone_hour > 1.2 * bal.mesh_mah_per_phone_hour,
        "{} vs {}",
        perf.mesh_mah_per_phone_hour,
        bal.mesh_mah_per_phone_hour
    );
}

#[test]
fn discovery_latency_falls_with_the_scan_window() {
    let m = RadioModel::default();
    let adv = m.adv_interval_ms(AdvertiseMode::Balanced);
    let mean = |mode| m.discovery_mean_ms(m.os.schedule(mode, 10_000, 0, FG).listening_share(), adv, 1.0);
    assert!(mean(ScanMode::LowPower) > mean(ScanMode::Balanced));
    assert!(mean(ScanMode::Balanced) > mean(ScanMode::LowLatency));
    // Advertising collisions slow discovery too.
    assert!(m.discovery_mean_ms(0.25, adv, 0.5) > m.discovery_mean_ms(0.25, adv, 1.0));
}

#[test]
fn discoveries_are_reported_against_the_lower_bound_counting_the_missed_ones() {
    let s = vec![short("commute", 0.3)];
    let policies = [Policy::BatteryModes, Policy::StaticBalanced, Policy::RadioOff];
    let runs = run_matrix(&s, &policies, &[7], &no_oracle(), 1, &|_, _| {}).unwrap();
    let get = |name: &str| runs.iter().find(|r| r.policy == name).unwrap();
    // A pair that came into range and left it undiscovered is infinitely late: the p95 is
    // infinite (None) exactly when more than 5 % of the pairs were missed.
    for r in [get("battery-modes"), get("static-balanced")] {
        let pairs = r.discoveries + r.discoveries_missed;
        assert!(r.discoveries > 10, "{}: {}", r.policy, r.discoveries);
        let missed_share = r.discoveries_missed as f64 / pairs as f64;
        assert_eq!(r.p95_discovery_ms.is_none(), missed_share > 0.05, "{}: {missed_share}", r.policy);
        assert_eq!(r.discovery_over_bound_p95.is_none(), missed_share > 0.05, "{}", r.policy);
    }
    // The memoryless model's p95 lies above the bound (about three means, each at least the
    // bound) where the pairs are found.
    let balanced = get("static-balanced");
    assert!(balanced.discovery_over_bound_p95.unwrap() > 1.0);
    assert!(get("battery-modes").discoveries_missed > 0, "heavy duty cycling misses passing phones");
    // No radio, no pair in range: nothing to report, not a zero.
    let off = get("radio-off");
    assert_eq!((off.discoveries, off.discoveries_missed, off.p95_discovery_ms), (0, 0, None));
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
    std::fs::write(&bad, r#"{"target_on_time_ratio": 1.5}"#).unwrap();
    assert_eq!(Scenario::from_file(&bad).unwrap_err().key, "target_on_time_ratio");
    let missing = Scenario::from_file(&tmp.join("missing.toml")).unwrap_err();
    assert_eq!(missing.key, "file");
    std::fs::remove_dir_all(&tmp).unwrap();
    // A file scenario has no precomputed oracle: oracle-static says so instead of guessing.
    let err = world::run(&s, Policy::OracleStatic, 1, &mut |_| {}).err().unwrap();
    assert!(err.contains("--search-oracle"), "{err}");
}

#[test]
fn the_json_document_keeps_its_names() {
    let s = vec![short("game-night", 0.05)];
    let sums = summaries(&s[0], &[Policy::RadioOff, Policy::StaticBalanced, Policy::MeshTune], &[1, 2, 3]);
    let v = report::json_document(&s, &sums, &[1, 2, 3], &[]);
    let sc = &v["scenarios"][0];
    assert_eq!(sc["name"], "game-night");
    assert_eq!(sc["seeds"], 3);
    for p in sc["policies"].as_array().unwrap() {
        assert!(p["policy"].is_string());
        for key in [
            "on_time_ratio",
            "delivery_ratio",
            "slo_attainment",
            "energy_per_on_time_uah",
            "mesh_mah_per_phone_hour",
            "battery_hours",
            "thermal_serious_share",
            "thermal_critical_share",
            "scan_starts_refused",
            "p95_discovery_ms",
            "discovery_over_bound_p95",
            "knob_changes_per_phone_hour",
            "knob_changes_state_driven_per_phone_hour",
            "consensus_ops_per_sec_per_table",
        ] {
            let f = &p[key];
            assert!(f.get("mean").is_some() && f.get("ci95").is_some(), "{key} in {p}");
        }
        assert!(p["dominated_by"].is_array());
        if p["policy"] == "static-balanced" {
            let ci = p["on_time_ratio"]["ci95"].as_array().unwrap();
            let mean = p["on_time_ratio"]["mean"].as_f64().unwrap();
            assert!(ci[0].as_f64().unwrap() <= mean && mean <= ci[1].as_f64().unwrap());
        }
    }
    let off = sc["policies"].as_array().unwrap().iter().find(|p| p["policy"] == "radio-off").unwrap();
    assert!(off["energy_per_on_time_uah"]["mean"].is_null(), "infinite is null");
    assert!(off["dominated_by"].as_array().unwrap().iter().any(|x| x == "static-balanced"));
    let text = serde_json::to_string(&v).unwrap();
    assert!(!text.contains("NaN"));
}

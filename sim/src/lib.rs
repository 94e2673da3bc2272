//! # meshtune-sim
//!
//! A seeded, deterministic simulator of a Bluetooth LE mesh of phones. Every phone runs the
//! policy under test; for `meshtune` that is the real [`meshtune::Engine`] (the code apps run),
//! driven by the simulated clock, fed samples the way the bindings deliver them, its actions
//! applied (after a delay, sometimes refused as Android refuses) and acknowledged.
//!
//! ```
//! use meshtune_sim::{policy::Policy, scenario::Scenario, world};
//! let mut s = Scenario::built_in("low-memory").unwrap();
//! s.hours = 0.05;
//! let a = world::run(&s, Policy::MeshTune, 7, &mut |_| {}).unwrap();
//! let b = world::run(&s, Policy::MeshTune, 7, &mut |_| {}).unwrap();
//! assert_eq!(a, b); // same seed, same run
//! ```

#![forbid(unsafe_code)]

pub mod oracle;
pub mod platform;
pub mod policy;
pub mod radio;
pub mod report;
pub mod results;
pub mod rng;
pub mod scenario;
pub mod score;
pub mod stats;
pub mod world;

use oracle::{Evaluation, StaticConfig};
use policy::Policy;
use results::RunResult;
use scenario::Scenario;

/// Maps `f` over `items` on `threads` threads, longest first by `cost`; the results come back
/// in the order of the items whatever the scheduling, so the output is deterministic.
pub fn par_map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    cost: &(dyn Fn(&T) -> f64 + Sync),
    f: &(dyn Fn(usize, &T) -> R + Sync),
) -> Vec<R> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| cost(&items[b]).total_cmp(&cost(&items[a])).then(a.cmp(&b)));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<R>>> = items.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| loop {
                let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(&j) = order.get(k) else { break };
                let r = f(j, &items[j]);
                if let Ok(mut slot) = slots[j].lock() {
                    *slot = Some(r);
                }
            });
        }
    });
    slots.into_iter().map(|m| m.into_inner().ok().flatten()).collect::<Option<Vec<R>>>().unwrap_or_default()
}

fn cost(s: &Scenario) -> f64 {
    f64::from(s.phones).powf(1.5) * s.hours
}

/// Runs every (scenario, policy, seed) on `threads` threads, in that order. `oracle-static`
/// runs only on scenarios with a configuration in `oracle` (the others are left out: the
/// caller says so). `on_progress(job, share)` reports each job's progress.
pub fn run_matrix(
    scenarios: &[Scenario],
    policies: &[Policy],
    seeds: &[u64],
    oracle: &std::collections::BTreeMap<String, StaticConfig>,
    threads: usize,
    on_progress: &(dyn Fn(usize, f64) + Sync),
) -> Result<Vec<RunResult>, String> {
    let mut jobs: Vec<(&Scenario, Policy, u64)> = Vec::new();
    for s in scenarios {
        for &p in policies {
            if p == Policy::OracleStatic && !oracle.contains_key(&s.name) {
                continue;
            }
            for &seed in seeds {
                jobs.push((s, p, seed));
            }
        }
    }
    par_map(&jobs, threads, &|j| cost(j.0), &|idx, &(scenario, policy, seed)| {
        let mut progress = |f| on_progress(idx, f);
        match (policy, oracle.get(&scenario.name)) {
            (Policy::OracleStatic, Some(c)) => {
                world::World::with_fixed(scenario, c, seed, radio::RadioModel::default()).map(|w| w.run(&mut progress))
            }
            _ => world::run(scenario, policy, seed, &mut progress),
        }
    })
    .into_iter()
    .collect::<Result<Vec<_>, _>>()
    .and_then(|v| if v.len() == jobs.len() { Ok(v) } else { Err("a simulation thread failed".to_owned()) })
}

/// How many jobs [`run_matrix`] runs for these inputs.
pub fn matrix_jobs(
    scenarios: &[Scenario],
    policies: &[Policy],
    seeds: &[u64],
    oracle: &std::collections::BTreeMap<String, StaticConfig>,
) -> usize {
    scenarios
        .iter()
        .map(|s| {
            policies.iter().filter(|&&p| p != Policy::OracleStatic || oracle.contains_key(&s.name)).count()
                * seeds.len()
        })
        .sum()
}

/// Evaluates fixed configurations on a scenario over seeds, in parallel (the oracle's search).
pub fn evaluate_fixed(
    scenario: &Scenario,
    configs: &[StaticConfig],
    seeds: &[u64],
    threads: usize,
) -> Result<Vec<Evaluation>, String> {
    let jobs: Vec<(StaticConfig, u64)> = configs.iter().flat_map(|c| seeds.iter().map(move |&s| (*c, s))).collect();
    let runs = par_map(&jobs, threads, &|_| 1.0, &|_, (c, seed)| world::run_fixed(scenario, c, *seed));
    if runs.len() != jobs.len() {
        return Err("a simulation thread failed".to_owned());
    }
    let runs = runs.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok(runs
        .chunks(seeds.len().max(1))
        .map(|rs| {
            let n = rs.len() as f64;
            Evaluation {
                on_time_ratio: rs.iter().map(|r| r.on_time_ratio).sum::<f64>() / n,
                energy_per_on_time_uah: rs
                    .iter()
                    .map(|r| r.energy_per_on_time_uah.unwrap_or(f64::INFINITY))
                    .sum::<f64>()
                    / n,
            }
        })
        .collect())
}

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

pub mod policy;
pub mod radio;
pub mod report;
pub mod results;
pub mod rng;
pub mod scenario;
pub mod world;

use policy::Policy;
use results::RunResult;
use scenario::Scenario;

/// Runs every (scenario, policy) pair on `threads` threads; results come back in the order of
/// the inputs whatever the scheduling, so the output is deterministic.
pub fn run_matrix(
    scenarios: &[Scenario],
    policies: &[Policy],
    seed: u64,
    threads: usize,
    on_progress: &(dyn Fn(usize, f64) + Sync),
) -> Result<Vec<RunResult>, String> {
    let jobs: Vec<(usize, &Scenario, Policy)> = scenarios
        .iter()
        .flat_map(|s| policies.iter().map(move |p| (s, *p)))
        .enumerate()
        .map(|(i, (s, p))| (i, s, p))
        .collect();
    // Longest jobs first (phones × hours), for a shorter wall time on few threads.
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    order.sort_by(|&a, &b| {
        let cost = |j: usize| f64::from(jobs[j].1.phones).powf(1.5) * jobs[j].1.hours;
        cost(b).total_cmp(&cost(a)).then(a.cmp(&b))
    });
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<Result<RunResult, String>>>> = jobs.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| loop {
                let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(&j) = order.get(k) else { break };
                let (idx, scenario, policy) = jobs[j];
                let r = world::run(scenario, policy, seed, &mut |f| on_progress(idx, f));
                if let Ok(mut slot) = slots[idx].lock() {
                    *slot = Some(r);
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|m| m.into_inner().ok().flatten().unwrap_or_else(|| Err("a simulation thread failed".to_owned())))
        .collect()
}

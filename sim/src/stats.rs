//! Several seeds of one (scenario, policy): every figure as a mean with a 95 % confidence
//! interval (Student's t over the seeds' values: mean ± t(0.975, n−1) · s/√n).
//!
//! A figure that is infinite or undefined on any seed (a p95 that falls among lost messages,
//! energy per on-time delivery when nothing arrived on time) has no mean: it is None, shown as
//! `inf` in the table and `null` in the JSON.
//!
//! ```
//! use meshtune_sim::stats::Estimate;
//! let e = Estimate::of(&[Some(0.90), Some(0.92), Some(0.94)]);
//! assert!((e.mean.unwrap() - 0.92).abs() < 1e-12);
//! let (lo, hi) = e.ci95.unwrap();
//! assert!(lo < 0.90 && hi > 0.94); // three seeds: a wide interval (t = 4.30)
//! ```

use crate::results::{RunResult, Series};

/// A mean over seeds with its 95 % confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// The mean (None: infinite or undefined on some seed).
    pub mean: Option<f64>,
    /// The 95 % interval (with one seed, the value itself).
    pub ci95: Option<(f64, f64)>,
    /// Seeds the estimate rests on.
    pub n: usize,
}

/// Two-sided 97.5 % quantiles of Student's t for 1 to 30 degrees of freedom.
const T975: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120,
    2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/// t(0.975, df); the normal 1.96 beyond 30 degrees of freedom.
pub fn t975(df: usize) -> f64 {
    match df {
        0 => f64::INFINITY,
        d if d <= 30 => T975[d - 1],
        _ => 1.96,
    }
}

impl Estimate {
    /// The estimate of a figure's values over seeds.
    pub fn of(values: &[Option<f64>]) -> Estimate {
        let n = values.len();
        let finite: Option<Vec<f64>> = values.iter().map(|v| v.filter(|x| x.is_finite())).collect();
        let Some(xs) = finite.filter(|xs| !xs.is_empty()) else {
            return Estimate { mean: None, ci95: None, n };
        };
        let mean = xs.iter().sum::<f64>() / n as f64;
        if n == 1 {
            return Estimate { mean: Some(mean), ci95: Some((mean, mean)), n };
        }
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let half = t975(n - 1) * (var / n as f64).sqrt();
        Estimate { mean: Some(mean), ci95: Some((mean - half, mean + half)), n }
    }

    /// Half the interval's width (0 with one seed; None without a mean).
    pub fn half_width(&self) -> Option<f64> {
        self.ci95.map(|(lo, hi)| (hi - lo) / 2.0)
    }
}

/// A figure of a run, by its name in the JSON document.
pub struct Figure {
    /// The key other tools read.
    pub name: &'static str,
    /// Its value on one run (None: infinite or undefined, or absent from the scenario).
    pub value: fn(&RunResult) -> Option<f64>,
    /// Present only in some scenarios (consensus): left out where every seed lacks it.
    pub optional: bool,
}

macro_rules! figures {
    ($( $name:ident $(: $optional:ident)? => $value:expr ),* $(,)?) => {
        /// Every figure a summary carries, in the order of the JSON document.
        pub const FIGURES: &[Figure] = &[
            $( Figure { name: stringify!($name), value: $value, optional: figures!(@opt $($optional)?) }, )*
        ];
    };
    (@opt optional) => { true };
    (@opt) => { false };
}

figures! {
    on_time_ratio => |r| Some(r.on_time_ratio),
    delivery_ratio => |r| Some(r.delivery_ratio),
    slo_attainment => |r| Some(r.slo_attainment),
    p50_latency_ms => |r| r.p50_latency_ms,
    p95_latency_ms => |r| r.p95_latency_ms,
    energy_per_on_time_uah => |r| r.energy_per_on_time_uah,
    mesh_mah_per_phone_hour => |r| Some(r.mesh_mah_per_phone_hour),
    battery_hours => |r| Some(r.battery_hours),
    thermal_serious_share => |r| Some(r.thermal_serious_share),
    thermal_critical_share => |r| Some(r.thermal_critical_share),
    thermal_shutdowns => |r| Some(r.thermal_shutdowns as f64),
    scan_starts_refused => |r| Some(r.scan_starts_refused as f64),
    p95_discovery_ms => |r| r.p95_discovery_ms,
    discovery_over_bound_p95 => |r| r.discovery_over_bound_p95,
    scans_downgraded_timeout => |r| Some(r.scans_downgraded_timeout as f64),
    scans_capped_background => |r| Some(r.scans_capped_background as f64),
    kills => |r| Some(r.kills as f64),
    knob_changes_per_phone_hour => |r| Some(r.knob_changes_per_phone_hour),
    knob_changes_state_driven_per_phone_hour => |r| Some(r.knob_changes_state_driven_per_phone_hour),
    knob_changes_other_per_phone_hour => |r| Some(r.knob_changes_other_per_phone_hour()),
    battery_left_percent => |r| Some(r.battery_left_percent),
    phones_empty => |r| Some(f64::from(r.phones_empty)),
    actions_reverted => |r| Some(r.actions_reverted as f64),
    actions_refused => |r| Some(r.actions_refused as f64),
    intended_deliveries => |r| Some(r.intended_deliveries as f64),
    consensus_ops_per_sec_per_table: optional => |r| r.consensus_ops_per_sec_per_table,
    energy_uah_per_op: optional => |r| r.energy_uah_per_op,
    consensus_ops_dropped: optional => |r| r.consensus_ops_per_sec_per_table.map(|_| r.consensus_ops_dropped),
}

/// One (scenario, policy) over its seeds.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Scenario name.
    pub scenario: String,
    /// Policy name.
    pub policy: String,
    /// The seeds, in order.
    pub seeds: Vec<u64>,
    /// Every figure present, in the order of [`FIGURES`].
    pub figures: Vec<(&'static str, Estimate)>,
    /// The per-minute series, averaged over the seeds.
    pub series: Series,
}

impl Summary {
    /// Summarizes the runs of one (scenario, policy); None if `runs` is empty.
    pub fn of(runs: &[&RunResult]) -> Option<Summary> {
        let first = runs.first()?;
        let mut figures = Vec::new();
        for f in FIGURES {
            let values: Vec<Option<f64>> = runs.iter().map(|r| (f.value)(r)).collect();
            if f.optional && values.iter().all(Option::is_none) {
                continue;
            }
            figures.push((f.name, Estimate::of(&values)));
        }
        Some(Summary {
            scenario: first.scenario.clone(),
            policy: first.policy.clone(),
            seeds: runs.iter().map(|r| r.seed).collect(),
            figures,
            series: mean_series(runs),
        })
    }

    /// A figure by name (None if the scenario does not have it).
    pub fn get(&self, name: &str) -> Option<Estimate> {
        self.figures.iter().find(|(n, _)| *n == name).map(|(_, e)| *e)
    }

    /// A figure's mean (None if absent, infinite or undefined).
    pub fn mean(&self, name: &str) -> Option<f64> {
        self.get(name).and_then(|e| e.mean)
    }
}

/// Groups runs by (scenario, policy) in the order they first appear, and summarizes each.
pub fn summarize(results: &[RunResult]) -> Vec<Summary> {
    let mut keys: Vec<(&str, &str)> = Vec::new();
    for r in results {
        let k = (r.scenario.as_str(), r.policy.as_str());
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys.into_iter()
        .filter_map(|(s, p)| {
            let runs: Vec<&RunResult> = results.iter().filter(|r| r.scenario == s && r.policy == p).collect();
            Summary::of(&runs)
        })
        .collect()
}

fn mean_series(runs: &[&RunResult]) -> Series {
    let len = runs.iter().map(|r| r.series.battery_percent.len()).max().unwrap_or(0);
    let avg = |get: &dyn Fn(&RunResult, usize) -> Option<f64>, m: usize| {
        let xs: Vec<f64> = runs.iter().filter_map(|r| get(r, m)).collect();
        if xs.is_empty() {
            None
        } else {
            Some(xs.iter().sum::<f64>() / xs.len() as f64)
        }
    };
    let mut s = Series::default();
    for m in 0..len {
        s.on_time_ratio.push(avg(&|r, m| r.series.on_time_ratio.get(m).copied().flatten(), m));
        s.battery_percent.push(avg(&|r, m| r.series.battery_percent.get(m).copied(), m).unwrap_or(0.0));
        s.scan_duty_percent.push(avg(&|r, m| r.series.scan_duty_percent.get(m).copied(), m).unwrap_or(0.0));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_infinite_seed_makes_the_mean_infinite() {
        let e = Estimate::of(&[Some(1.0), None, Some(3.0)]);
        assert_eq!((e.mean, e.ci95, e.n), (None, None, 3));
        assert_eq!(Estimate::of(&[Some(f64::INFINITY)]).mean, None);
    }

    #[test]
    fn the_interval_narrows_with_more_seeds_and_covers_one_seed_exactly() {
        let one = Estimate::of(&[Some(2.0)]);
        assert_eq!(one.ci95, Some((2.0, 2.0)));
        let few = Estimate::of(&[Some(1.0), Some(3.0)]);
        let many =
            Estimate::of(&[Some(1.0), Some(3.0), Some(1.0), Some(3.0), Some(1.0), Some(3.0), Some(1.0), Some(3.0)]);
        assert_eq!(few.mean, many.mean);
        assert!(many.half_width().unwrap() < few.half_width().unwrap());
        // Two seeds 1 and 3: s = √2, half width = 12.706 · √2/√2.
        assert!((few.half_width().unwrap() - 12.706).abs() < 1e-9);
        assert_eq!(t975(100), 1.96);
    }
}

//! `oracle-static`: the best fixed configuration in hindsight for a scenario.
//!
//! Of the fixed configurations whose on-time ratio meets the scenario's target
//! (`target_on_time_ratio`, 0.95 by default), the one with the least mesh energy per on-time
//! delivery; if none meets it, the one with the highest on-time ratio, where ratios within the
//! scoreboard's 1-point tie band of the highest count as equal and the least energy wins among
//! them (so a noise-sized edge is not bought at any price). Means over the search's seeds
//! decide; [`choose`] applies the rule to everything the search evaluated.
//!
//! **The knob space** ([`KnobSpace::radio`]): the radio knobs an app sets: scan mode × duty
//! cycle (opportunistic; low power, balanced or low latency, each continuous, 8 s / 2 s,
//! 2 s / 28 s or 1 s / 29 s), advertising mode × TX power (3 × 4), connection priority (3) and
//! the connection cap (2, 4, 7), 1 404 configurations. Batching, compression, relaying, memory and
//! consensus knobs stay at their baselines.
//!
//! **The search**: coordinate descent from `static-balanced` and from `static-performance`:
//! each pass tries every value of one knob with the others held, keeps the best, and moves to
//! the next knob, until a pass changes nothing (at most [`MAX_PASSES`]). It is not exhaustive:
//! the result is at least as good as both starting points (they are candidates), and the
//! docs say so. The built-in scenarios' results are precomputed in `sim/oracle-static.json`
//! (the main job cannot afford the search); `meshtune-sim --search-oracle --write-oracle
//! sim/oracle-static.json` recomputes them. The file records a fingerprint of the model and
//! the scenario, and the report says when it is stale.

use std::collections::BTreeMap;

use meshtune::{AdvertiseMode, ConnectionPriority, OptimizationAction, ScanMode, TxPower};
use serde_json::{json, Value};

use crate::radio::RadioModel;
use crate::rng::mix;
use crate::scenario::Scenario;

/// Coordinate-descent passes at most, per starting point.
pub const MAX_PASSES: usize = 3;

/// The seeds the precomputed search used (the first seeds of every run, so the oracle is, if
/// anything, flattered on them).
pub const SEARCH_SEEDS: [u64; 2] = [1, 2];

/// A fixed configuration of the radio knobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StaticConfig {
    /// Scan mode, on ms, off ms.
    pub scan: (ScanModeKey, u32, u32),
    /// Advertising mode and TX power.
    pub advertising: (AdvertiseModeKey, TxPowerKey),
    /// Connection priority.
    pub priority: PriorityKey,
    /// Connection cap.
    pub max_connections: u32,
}

macro_rules! key_enum {
    ($(#[$doc:meta])* $name:ident, $target:ty, [$($variant:ident = $text:literal),*]) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $( #[doc = $text] $variant ),* }
        impl $name {
            /// Every value.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];
            /// Its name in the JSON file.
            pub fn text(self) -> &'static str { match self { $($name::$variant => $text),* } }
            /// From its name.
            pub fn parse(s: &str) -> Option<$name> { Self::ALL.iter().copied().find(|k| k.text() == s) }
            /// The engine's value.
            pub fn value(self) -> $target { match self { $($name::$variant => <$target>::$variant),* } }
        }
    };
}

key_enum!(
    /// A scan mode as the oracle file names it.
    ScanModeKey, ScanMode, [Opportunistic = "opportunistic", LowPower = "low_power", Balanced = "balanced", LowLatency = "low_latency"]
);
key_enum!(
    /// An advertising mode as the oracle file names it.
    AdvertiseModeKey, AdvertiseMode, [LowPower = "low_power", Balanced = "balanced", LowLatency = "low_latency"]
);
key_enum!(
    /// A TX power level as the oracle file names it.
    TxPowerKey, TxPower, [UltraLow = "ultra_low", Low = "low", Medium = "medium", High = "high"]
);
key_enum!(
    /// A connection priority as the oracle file names it.
    PriorityKey, ConnectionPriority, [LowPower = "low_power", Balanced = "balanced", High = "high"]
);

impl StaticConfig {
    /// `static-balanced`: balanced scanning 8 s on / 2 s off, balanced advertising at medium
    /// power, balanced connections, 8 connections (the OS caps them at 7).
    pub const BALANCED: StaticConfig = StaticConfig {
        scan: (ScanModeKey::Balanced, 8_000, 2_000),
        advertising: (AdvertiseModeKey::Balanced, TxPowerKey::Medium),
        priority: PriorityKey::Balanced,
        max_connections: 8,
    };
    /// `static-performance`: continuous low-latency scanning, low-latency advertising at high
    /// power, high connection priority, 10 connections (capped at 7).
    pub const PERFORMANCE: StaticConfig = StaticConfig {
        scan: (ScanModeKey::LowLatency, 10_000, 0),
        advertising: (AdvertiseModeKey::LowLatency, TxPowerKey::High),
        priority: PriorityKey::High,
        max_connections: 10,
    };

    /// The actions that set it.
    pub fn actions(&self) -> Vec<OptimizationAction> {
        use OptimizationAction as A;
        vec![
            A::SetScanMode { mode: self.scan.0.value(), duty_on_ms: self.scan.1, duty_off_ms: self.scan.2 },
            A::SetAdvertising { mode: self.advertising.0.value(), tx_power: self.advertising.1.value() },
            A::SetConnectionPriority { priority: self.priority.value() },
            A::SetMaxConnections { max: self.max_connections },
        ]
    }

    /// One line for the report.
    pub fn label(&self) -> String {
        let scan = if self.scan.2 == 0 {
            format!("{} continuous", self.scan.0.text())
        } else {
            format!("{} {}/{} s", self.scan.0.text(), f64::from(self.scan.1) / 1000.0, f64::from(self.scan.2) / 1000.0)
        };
        format!(
            "scan {scan}; advertise {} at {}; priority {}; up to {} connections",
            self.advertising.0.text(),
            self.advertising.1.text(),
            self.priority.text(),
            self.max_connections
        )
    }

    /// The configuration as a JSON object.
    pub fn to_json(&self) -> Value {
        json!({
            "scan_mode": self.scan.0.text(),
            "duty_on_ms": self.scan.1,
            "duty_off_ms": self.scan.2,
            "advertise_mode": self.advertising.0.text(),
            "tx_power": self.advertising.1.text(),
            "connection_priority": self.priority.text(),
            "max_connections": self.max_connections,
        })
    }

    /// A configuration from its JSON object; the error names the field.
    pub fn from_json(v: &Value) -> Result<StaticConfig, String> {
        let text = |k: &str| v.get(k).and_then(Value::as_str).ok_or_else(|| format!("`{k}`: expected a string"));
        let num = |k: &str| {
            v.get(k)
                .and_then(Value::as_u64)
                .and_then(|x| u32::try_from(x).ok())
                .ok_or_else(|| format!("`{k}`: expected a whole number"))
        };
        let bad = |k: &str, s: &str| format!("`{k}`: unknown value '{s}'");
        let scan_mode = text("scan_mode")?;
        let adv = text("advertise_mode")?;
        let tx = text("tx_power")?;
        let pr = text("connection_priority")?;
        let c = StaticConfig {
            scan: (
                ScanModeKey::parse(scan_mode).ok_or_else(|| bad("scan_mode", scan_mode))?,
                num("duty_on_ms")?,
                num("duty_off_ms")?,
            ),
            advertising: (
                AdvertiseModeKey::parse(adv).ok_or_else(|| bad("advertise_mode", adv))?,
                TxPowerKey::parse(tx).ok_or_else(|| bad("tx_power", tx))?,
            ),
            priority: PriorityKey::parse(pr).ok_or_else(|| bad("connection_priority", pr))?,
            max_connections: num("max_connections")?,
        };
        for a in c.actions() {
            a.validate().map_err(|e| e.to_string())?;
        }
        Ok(c)
    }
}

/// The values the search tries for each knob.
#[derive(Debug, Clone, PartialEq)]
pub struct KnobSpace {
    /// Scan settings.
    pub scans: Vec<(ScanModeKey, u32, u32)>,
    /// Advertising settings.
    pub advertising: Vec<(AdvertiseModeKey, TxPowerKey)>,
    /// Connection priorities.
    pub priorities: Vec<PriorityKey>,
    /// Connection caps.
    pub max_connections: Vec<u32>,
}

impl KnobSpace {
    /// The radio knob space described in the module docs.
    pub fn radio() -> KnobSpace {
        let mut scans = vec![(ScanModeKey::Opportunistic, 10_000, 0)];
        for m in [ScanModeKey::LowPower, ScanModeKey::Balanced, ScanModeKey::LowLatency] {
            for (on, off) in [(10_000, 0), (8_000, 2_000), (2_000, 28_000), (1_000, 29_000)] {
                scans.push((m, on, off));
            }
        }
        let mut advertising = Vec::new();
        for m in AdvertiseModeKey::ALL {
            for t in TxPowerKey::ALL {
                advertising.push((*m, *t));
            }
        }
        KnobSpace { scans, advertising, priorities: PriorityKey::ALL.to_vec(), max_connections: vec![2, 4, 7] }
    }

    /// How many configurations the space holds.
    pub fn size(&self) -> usize {
        self.scans.len() * self.advertising.len() * self.priorities.len() * self.max_connections.len()
    }

    /// The neighbours of `c` along knob `dim` (0 scan, 1 advertising, 2 priority, 3 cap).
    fn along(&self, c: StaticConfig, dim: usize) -> Vec<StaticConfig> {
        match dim {
            0 => self.scans.iter().map(|&scan| StaticConfig { scan, ..c }).collect(),
            1 => self.advertising.iter().map(|&advertising| StaticConfig { advertising, ..c }).collect(),
            2 => self.priorities.iter().map(|&priority| StaticConfig { priority, ..c }).collect(),
            _ => self.max_connections.iter().map(|&max_connections| StaticConfig { max_connections, ..c }).collect(),
        }
    }
}

/// A configuration's means over the search's seeds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation {
    /// Mean on-time ratio.
    pub on_time_ratio: f64,
    /// Mean energy per on-time delivery, µAh (infinite if some seed had none).
    pub energy_per_on_time_uah: f64,
}

/// Whether `a` is a better fixed configuration than `b` for a target on-time ratio: meeting
/// the target beats missing it; among those that meet it, less energy per on-time delivery;
/// among those that miss it, a higher on-time ratio (then less energy).
pub fn better(a: &Evaluation, b: &Evaluation, target: f64) -> bool {
    let (ma, mb) = (a.on_time_ratio >= target, b.on_time_ratio >= target);
    match (ma, mb) {
        (true, false) => true,
        (false, true) => false,
        (true, true) => a.energy_per_on_time_uah < b.energy_per_on_time_uah,
        (false, false) => {
            a.on_time_ratio > b.on_time_ratio
                || (a.on_time_ratio == b.on_time_ratio && a.energy_per_on_time_uah < b.energy_per_on_time_uah)
        }
    }
}

/// The result of a search for one scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchResult {
    /// The best configuration found.
    pub best: StaticConfig,
    /// Its evaluation.
    pub evaluation: Evaluation,
    /// Configurations evaluated.
    pub evaluations: usize,
    /// The seeds.
    pub seeds: Vec<u64>,
}

/// Evaluates a batch of configurations, returning their evaluations in order.
pub type EvaluateAll<'a> = dyn Fn(&[StaticConfig]) -> Result<Vec<Evaluation>, String> + 'a;

/// Runs the coordinate-descent search for a scenario; `evaluate_all` evaluates a batch of
/// configurations (in parallel if it likes).
pub fn search(
    scenario: &Scenario,
    space: &KnobSpace,
    seeds: &[u64],
    evaluate_all: &EvaluateAll,
) -> Result<SearchResult, String> {
    let target = scenario.target_on_time_ratio;
    let mut memo: BTreeMap<StaticConfig, Evaluation> = BTreeMap::new();
    let eval =
        |cs: &[StaticConfig], memo: &mut BTreeMap<StaticConfig, Evaluation>| -> Result<Vec<Evaluation>, String> {
            let missing: Vec<StaticConfig> = {
                let mut m: Vec<StaticConfig> = cs.iter().copied().filter(|c| !memo.contains_key(c)).collect();
                m.sort();
                m.dedup();
                m
            };
            if !missing.is_empty() {
                for (c, e) in missing.iter().zip(evaluate_all(&missing)?) {
                    memo.insert(*c, e);
                }
            }
            Ok(cs.iter().map(|c| memo[c]).collect())
        };
    let starts = [StaticConfig::BALANCED, StaticConfig::PERFORMANCE];
    let start_evals = eval(&starts, &mut memo)?;
    let mut best: Option<(StaticConfig, Evaluation)> = None;
    for (start, start_eval) in starts.into_iter().zip(start_evals) {
        let (mut current, mut current_eval) = (start, start_eval);
        for _ in 0..MAX_PASSES {
            let mut moved = false;
            for dim in 0..4 {
                let candidates = space.along(current, dim);
                let evals = eval(&candidates, &mut memo)?;
                for (c, e) in candidates.into_iter().zip(evals) {
                    if better(&e, &current_eval, target) {
                        current = c;
                        current_eval = e;
                        moved = true;
                    }
                }
            }
            if !moved {
                break;
            }
        }
        if best.as_ref().is_none_or(|(_, b)| better(&current_eval, b, target)) {
            best = Some((current, current_eval));
        }
    }
    if best.is_none() {
        return Err("the search had no starting point".to_owned());
    }
    let (best, evaluation) = choose(&memo, target).ok_or("the search evaluated nothing")?;
    Ok(SearchResult { best, evaluation, evaluations: memo.len(), seeds: seeds.to_vec() })
}

/// The oracle's rule over a set of evaluated configurations: the least energy per on-time
/// delivery among those that meet the target; if none does, among those within
/// [`ON_TIME_TIE`] of the highest on-time ratio.
pub fn choose(evaluated: &BTreeMap<StaticConfig, Evaluation>, target: f64) -> Option<(StaticConfig, Evaluation)> {
    let best_on_time = evaluated.values().map(|e| e.on_time_ratio).fold(f64::NEG_INFINITY, f64::max);
    let floor = if best_on_time >= target { target } else { best_on_time - ON_TIME_TIE };
    evaluated
        .iter()
        .filter(|(_, e)| e.on_time_ratio >= floor)
        .min_by(|a, b| {
            a.1.energy_per_on_time_uah
                .total_cmp(&b.1.energy_per_on_time_uah)
                .then(b.1.on_time_ratio.total_cmp(&a.1.on_time_ratio))
        })
        .map(|(c, e)| (*c, *e))
}

/// On-time ratios this close to the highest count as equal when no configuration meets the
/// target (the scoreboard's tie band).
pub const ON_TIME_TIE: f64 = 0.01;

/// A fingerprint of what a search result depends on: the default radio and platform model and
/// the scenario. A precomputed result with another fingerprint is stale.
pub fn fingerprint(scenario: &Scenario) -> String {
    let text = format!("{:?}|{:?}|{:?}", RadioModel::default(), crate::world::ConsensusModel::default(), scenario);
    let h = text.bytes().fold(0x9e37_79b9_7f4a_7c15u64, |h, b| mix(h ^ u64::from(b)));
    format!("{h:016x}")
}

/// The precomputed table, as shipped in `sim/oracle-static.json`.
const PRECOMPUTED: &str = include_str!("../oracle-static.json");

/// One precomputed entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Precomputed {
    /// The configuration.
    pub config: StaticConfig,
    /// The fingerprint it was searched under.
    pub fingerprint: String,
    /// Its evaluation in the search.
    pub evaluation: Evaluation,
    /// Configurations the search evaluated.
    pub evaluations: usize,
}

/// Parses an oracle file (the document [`to_file`] writes); the error names what is wrong.
pub fn parse_file(text: &str) -> Result<BTreeMap<String, Precomputed>, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("oracle file: not valid JSON: {e}"))?;
    if v.get("version").and_then(Value::as_u64) != Some(1) {
        return Err("oracle file: `version` must be 1".to_owned());
    }
    let scenarios =
        v.get("scenarios").and_then(Value::as_object).ok_or("oracle file: `scenarios` must be an object")?;
    let mut out = BTreeMap::new();
    for (name, e) in scenarios {
        let config = StaticConfig::from_json(e.get("config").unwrap_or(&Value::Null))
            .map_err(|m| format!("oracle file: {name}: {m}"))?;
        let fingerprint = e
            .get("fingerprint")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("oracle file: {name}: `fingerprint` missing"))?;
        let f = |k: &str| e.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN);
        out.insert(
            name.clone(),
            Precomputed {
                config,
                fingerprint: fingerprint.to_owned(),
                evaluation: Evaluation {
                    on_time_ratio: f("on_time_ratio"),
                    energy_per_on_time_uah: f("energy_per_on_time_uah"),
                },
                evaluations: e.get("evaluations").and_then(Value::as_u64).unwrap_or(0) as usize,
            },
        );
    }
    Ok(out)
}

/// The oracle file for search results.
pub fn to_file(results: &[(&Scenario, &SearchResult)]) -> String {
    let mut scenarios = serde_json::Map::new();
    for (s, r) in results {
        scenarios.insert(
            s.name.clone(),
            json!({
                "config": r.best.to_json(),
                "label": r.best.label(),
                "fingerprint": fingerprint(s),
                "seeds": r.seeds,
                "on_time_ratio": (r.evaluation.on_time_ratio * 1e4).round() / 1e4,
                "energy_per_on_time_uah": if r.evaluation.energy_per_on_time_uah.is_finite() { json!((r.evaluation.energy_per_on_time_uah * 1e3).round() / 1e3) } else { Value::Null },
                "evaluations": r.evaluations,
            }),
        );
    }
    let doc = json!({
        "version": 1,
        "about": "oracle-static: the best fixed radio configuration per scenario, found by coordinate descent (sim/src/oracle.rs)",
        "command": "cargo run --release --bin meshtune-sim -- --search-oracle --write-oracle sim/oracle-static.json",
        "scenarios": scenarios,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

/// The shipped table (empty if the shipped file is broken: a test checks it is not).
pub fn shipped() -> BTreeMap<String, Precomputed> {
    parse_file(PRECOMPUTED).unwrap_or_default()
}

/// The shipped configuration for a scenario, by name.
pub fn precomputed(name: &str) -> Option<StaticConfig> {
    shipped().get(name).map(|p| p.config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meeting_the_target_beats_missing_it_then_energy_decides() {
        let e = |on_time_ratio, energy_per_on_time_uah| Evaluation { on_time_ratio, energy_per_on_time_uah };
        assert!(better(&e(0.96, 50.0), &e(0.94, 1.0), 0.95));
        assert!(!better(&e(0.94, 1.0), &e(0.96, 50.0), 0.95));
        assert!(better(&e(0.96, 5.0), &e(0.99, 6.0), 0.95));
        assert!(better(&e(0.80, 9.0), &e(0.70, 1.0), 0.95));
        assert!(!better(&e(0.80, 9.0), &e(0.80, 9.0), 0.95), "equal is not better");
    }

    #[test]
    fn below_the_target_a_noise_sized_edge_is_not_bought_at_any_price() {
        let e = |on_time_ratio, energy_per_on_time_uah| Evaluation { on_time_ratio, energy_per_on_time_uah };
        let mut m = BTreeMap::new();
        m.insert(StaticConfig::PERFORMANCE, e(0.860, 5.5));
        m.insert(StaticConfig::BALANCED, e(0.867, 7.3));
        assert_eq!(choose(&m, 0.95).unwrap().0, StaticConfig::PERFORMANCE, "within 1 point: the cheaper");
        m.insert(StaticConfig::BALANCED, e(0.880, 7.3));
        assert_eq!(choose(&m, 0.95).unwrap().0, StaticConfig::BALANCED, "beyond 1 point: the higher");
        // Once one meets the target, only those that do count.
        m.insert(StaticConfig { max_connections: 2, ..StaticConfig::BALANCED }, e(0.95, 9.0));
        assert_eq!(choose(&m, 0.95).unwrap().0.max_connections, 2);
    }

    #[test]
    fn configurations_round_trip_and_bad_fields_are_named() {
        let space = KnobSpace::radio();
        assert_eq!(space.size(), 13 * 12 * 3 * 3);
        for c in [StaticConfig::BALANCED, StaticConfig::PERFORMANCE] {
            assert_eq!(StaticConfig::from_json(&c.to_json()), Ok(c));
        }
        let mut v = StaticConfig::BALANCED.to_json();
        v["tx_power"] = json!("loud");
        assert!(StaticConfig::from_json(&v).unwrap_err().contains("tx_power"));
        let mut v = StaticConfig::BALANCED.to_json();
        v["duty_on_ms"] = json!(0);
        assert!(StaticConfig::from_json(&v).unwrap_err().contains("duty_on_ms"));
        assert!(parse_file("{\"version\": 2, \"scenarios\": {}}").unwrap_err().contains("version"));
    }

    #[test]
    fn the_search_finds_the_best_of_a_known_landscape() {
        // A synthetic landscape: on-time grows with the scan duty, energy with everything;
        // the target is met only from a 25 % listening share up (balanced continuous is the
        // cheapest such), and the cheapest values of the other knobs win.
        let s = Scenario::built_in("commute").unwrap();
        let space = KnobSpace::radio();
        let score = |c: &StaticConfig| {
            let duty = match c.scan.0 {
                ScanModeKey::Opportunistic => 0.02,
                ScanModeKey::LowPower => 0.1,
                ScanModeKey::Balanced => 0.25,
                ScanModeKey::LowLatency => 1.0,
            } * f64::from(c.scan.1)
                / f64::from(c.scan.1 + c.scan.2);
            let on_time = (0.71 + duty).min(1.0);
            let energy = 1.0
                + 10.0 * duty
                + f64::from(c.max_connections)
                + c.priority as u8 as f64
                + c.advertising.1 as u8 as f64;
            Evaluation { on_time_ratio: on_time, energy_per_on_time_uah: energy }
        };
        let r = search(&s, &space, &[1], &|cs| Ok(cs.iter().map(score).collect())).unwrap();
        assert!(r.evaluation.on_time_ratio >= 0.95, "{r:?}");
        assert_eq!(r.best.scan, (ScanModeKey::Balanced, 10_000, 0), "the cheapest schedule that meets 0.95: {r:?}");
        assert_eq!(
            (r.best.max_connections, r.best.priority, r.best.advertising.1),
            (2, PriorityKey::LowPower, TxPowerKey::UltraLow)
        );
        assert!(!better(&score(&StaticConfig::BALANCED), &r.evaluation, s.target_on_time_ratio));
        assert!(r.evaluations < space.size(), "coordinate descent, not exhaustive");
    }
}

//! The scoreboard: the table on stdout, dominance with tie bands, the goals check, the JSON
//! document and the HTML report with SVG plots.

use std::fmt::Write as _;

use plotters::prelude::*;
use serde_json::{json, Value};

use crate::policy::Policy;
use crate::scenario::Scenario;
use crate::stats::{Estimate, Summary};

/// Tie band of the on-time ratio, absolute (1 point).
pub const TIE_ON_TIME: f64 = 0.01;
/// Tie band of energy per on-time delivery, battery hours and consensus throughput, relative
/// (5 %).
pub const TIE_RELATIVE: f64 = 0.05;
/// Tie band of thermal exposure (share of phone-time at Serious or Critical), absolute (1 point).
pub const TIE_THERMAL: f64 = 0.01;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Better,
    Tie,
    Worse,
}

/// Higher is better, an absolute band.
fn higher_abs(a: f64, b: f64, band: f64) -> Cmp {
    if a > b + band {
        Cmp::Better
    } else if a < b - band {
        Cmp::Worse
    } else {
        Cmp::Tie
    }
}

/// Lower is better, a relative band; None is infinite.
fn lower_rel(a: Option<f64>, b: Option<f64>, band: f64) -> Cmp {
    match (a, b) {
        (None, None) => Cmp::Tie,
        (None, Some(_)) => Cmp::Worse,
        (Some(_), None) => Cmp::Better,
        (Some(a), Some(b)) if a < b * (1.0 - band) => Cmp::Better,
        (Some(a), Some(b)) if a > b * (1.0 + band) => Cmp::Worse,
        _ => Cmp::Tie,
    }
}

/// Higher is better, a relative band.
fn higher_rel(a: f64, b: f64, band: f64) -> Cmp {
    if a > b * (1.0 + band) {
        Cmp::Better
    } else if a < b * (1.0 - band) {
        Cmp::Worse
    } else {
        Cmp::Tie
    }
}

/// Whether `a` dominates `b` (two policies on one scenario, on their means over seeds): no
/// worse beyond the tie band on on-time ratio (1 point), energy per on-time delivery (5 %),
/// battery hours (5 %), thermal exposure (1 point) and, where the scenario has tables,
/// consensus throughput (5 %), and better beyond its band on at least one.
///
/// A policy that delivers nothing on time (on-time ratio within the band of 0, so energy per
/// on-time delivery is infinite) provides no service: every policy that delivers beyond the
/// band dominates it, whatever battery it saves.
pub fn dominates(a: &Summary, b: &Summary) -> bool {
    let m = |s: &Summary, k: &str| s.mean(k).unwrap_or(0.0);
    let (ot_a, ot_b) = (m(a, "on_time_ratio"), m(b, "on_time_ratio"));
    if ot_b <= TIE_ON_TIME && ot_a > TIE_ON_TIME {
        return true;
    }
    let thermal = |s: &Summary| m(s, "thermal_serious_share") + m(s, "thermal_critical_share");
    let mut cmps = vec![
        higher_abs(ot_a, ot_b, TIE_ON_TIME),
        lower_rel(a.mean("energy_per_on_time_uah"), b.mean("energy_per_on_time_uah"), TIE_RELATIVE),
        higher_rel(m(a, "battery_hours"), m(b, "battery_hours"), TIE_RELATIVE),
        lower_abs(thermal(a), thermal(b), TIE_THERMAL),
    ];
    if let (Some(x), Some(y)) = (a.mean("consensus_ops_per_sec_per_table"), b.mean("consensus_ops_per_sec_per_table")) {
        cmps.push(higher_rel(x, y, TIE_RELATIVE));
    }
    !cmps.contains(&Cmp::Worse) && cmps.contains(&Cmp::Better)
}

fn lower_abs(a: f64, b: f64, band: f64) -> Cmp {
    higher_abs(-a, -b, band)
}

/// For each summary of one scenario, the policies that dominate it.
pub fn dominated_by<'a>(runs: &[&'a Summary]) -> Vec<Vec<&'a str>> {
    runs.iter()
        .map(|b| runs.iter().filter(|a| a.policy != b.policy && dominates(a, b)).map(|a| a.policy.as_str()).collect())
        .collect()
}

fn num(e: Option<Estimate>, digits: usize) -> String {
    match e {
        None => "-".to_owned(),
        Some(Estimate { mean: None, .. }) => "inf".to_owned(),
        Some(Estimate { mean: Some(v), .. }) => format!("{v:.digits$}"),
    }
}

fn with_ci(e: Option<Estimate>, digits: usize) -> String {
    match e {
        Some(Estimate { mean: Some(v), ci95: Some((lo, hi)), n }) if n > 1 => {
            format!("{v:.digits$}±{:.digits$}", (hi - lo) / 2.0)
        }
        other => num(other, digits),
    }
}

fn pct(e: Option<Estimate>) -> String {
    match e.and_then(|e| e.mean) {
        Some(v) => format!("{:.1}%", v * 100.0),
        None => "-".to_owned(),
    }
}

/// The table of one scenario's summaries, as plain text.
pub fn table(scenario: &Scenario, runs: &[&Summary]) -> String {
    let mut out = String::new();
    let seeds = runs.first().map_or(0, |r| r.seeds.len());
    let _ = writeln!(out, "\n{}: {}", scenario.name, scenario.description);
    let _ = writeln!(
        out,
        "  {} phones, {:.2} h, {} seed{}; deadline {} ms, target on-time {:.0} %",
        scenario.phones,
        scenario.hours,
        seeds,
        if seeds == 1 { "" } else { "s" },
        scenario.slo_p95_latency_ms,
        scenario.target_on_time_ratio * 100.0
    );
    let consensus = runs.iter().any(|r| r.get("consensus_ops_per_sec_per_table").is_some());
    let _ = write!(
        out,
        "  {:<19}{:>14}{:>7}{:>7}{:>7}{:>9}{:>7}{:>6}{:>15}{:>9}{:>7}{:>8}{:>6}{:>6}{:>8}{:>7}{:>7}{:>6}{:>7}{:>8}",
        "policy",
        "on-time",
        "deliv",
        "p50",
        "p95",
        "disc p95",
        "xbound",
        "SLO",
        "uAh/on-time",
        "mAh/ph-h",
        "batt h",
        "serious",
        "crit",
        "shut",
        "refused",
        "downgr",
        "capped",
        "kills",
        "knob/h",
        "other/h"
    );
    if consensus {
        let _ = write!(out, "{:>9}{:>8}", "ops/s/tb", "uAh/op");
    }
    out.push_str("  dominated by\n");
    let dom = dominated_by(runs);
    for (r, d) in runs.iter().zip(dom) {
        let g = |k: &str| r.get(k);
        let _ = write!(
            out,
            "  {:<19}{:>14}{:>7}{:>7}{:>7}{:>9}{:>7}{:>6}{:>15}{:>9}{:>7}{:>8}{:>6}{:>6}{:>8}{:>7}{:>7}{:>6}{:>7}{:>8}",
            r.policy,
            with_ci(g("on_time_ratio"), 3),
            num(g("delivery_ratio"), 3),
            num(g("p50_latency_ms"), 0),
            num(g("p95_latency_ms"), 0),
            num(g("p95_discovery_ms").map(|e| Estimate { mean: e.mean.map(|m| m / 1000.0), ci95: None, ..e }), 1),
            num(g("discovery_over_bound_p95"), 1),
            format!("{:.0}%", g("slo_attainment").and_then(|e| e.mean).unwrap_or(0.0) * 100.0),
            with_ci(g("energy_per_on_time_uah"), 2),
            num(g("mesh_mah_per_phone_hour"), 2),
            num(g("battery_hours"), 0),
            pct(g("thermal_serious_share")),
            pct(g("thermal_critical_share")),
            num(g("thermal_shutdowns"), 1),
            num(g("scan_starts_refused"), 0),
            num(g("scans_downgraded_timeout"), 0),
            num(g("scans_capped_background"), 0),
            num(g("kills"), 1),
            num(g("knob_changes_per_phone_hour"), 2),
            num(g("knob_changes_other_per_phone_hour"), 2),
        );
        if consensus {
            let _ =
                write!(out, "{:>9}{:>8}", num(g("consensus_ops_per_sec_per_table"), 1), num(g("energy_uah_per_op"), 2));
        }
        let _ = writeln!(out, "  {}", if d.is_empty() { "-".to_owned() } else { d.join(", ") });
    }
    out
}

/// What the table's columns mean (printed once under the tables).
pub const LEGEND: &str =
    "  Every figure is the mean over the seeds; ± is the half-width of its 95 % confidence interval
  (Student's t). An intended delivery is a message x a recipient in the mesh when it was sent; a
  recipient whose phone is off (empty, killed, shut down from heat) still counts, and loses it.
  on-time: intended deliveries that arrived within the deadline / all intended deliveries (lost =
  late); deliv: arrived at all; p50/p95: latency over intended deliveries, a lost one infinitely
  late (inf: the quantile falls among the lost); disc p95: p95 time from coming into range to
  discovery, a pair that left range undiscovered infinitely late (inf: more than 5 % were missed),
  s; xbound: p95 over pairs of that time / one direction's lower bound on the worst case
  (advertising interval / listening share in force; MeshTune's derivation after Kindt & Chakraborty,
  docs/discovery.md): below 1 is possible, as the bound is on the worst case and discovery by either
  end can come up to 2x sooner; SLO: minutes in which the target share of intended deliveries was on
  time; uAh/on-time: mesh energy (radio, transfers, consensus CPU) per on-time delivery; mAh/ph-h:
  mesh energy per phone-hour; batt h: projected battery hours at the scenario's screen-off standby
  current plus the mesh's mean current; serious/crit: share of phone-time at thermal Serious /
  Critical; shut: thermal shutdowns; refused: scan starts the OS refused (5 per 30 s); downgr: scans
  downgraded by the 10-minute timeout; capped: scans the OS lowered for the background or the screen
  off (each time it starts); kills: processes killed for memory; knob/h: knob changes per
  phone-hour, other/h: those not within 30 s of a device-state change (foreground, charger, battery
  band, thermal state, power save, an OS memory-pressure signal, the app's start); ops/s/tb:
  consensus operations finalized per table per second; uAh/op: mesh energy per finalized operation;
  dominated by: policies no worse on on-time ratio (1 point), energy per on-time delivery (5 %),
  battery hours (5 %), thermal exposure (1 point) and consensus throughput (5 %), and better on one
  beyond its band (a policy with no on-time delivery is dominated by every policy that has some).
";

/// One goal of the engine issue checked against the scoreboard.
#[derive(Debug, Clone, PartialEq)]
pub struct Goal {
    /// The scenario.
    pub scenario: String,
    /// What was checked, with the figures.
    pub text: String,
    /// Whether it is met.
    pub met: bool,
}

impl Goal {
    /// The goal as one line, `met` or `NOT met`.
    pub fn line(&self) -> String {
        format!("{}: {} ({})", self.scenario, self.text, if self.met { "met" } else { "NOT met" })
    }
}

fn scenario_names(summaries: &[Summary]) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    for s in summaries {
        if !names.contains(&s.scenario.as_str()) {
            names.push(&s.scenario);
        }
    }
    names
}

fn energy_text(e: Option<f64>) -> String {
    e.map_or_else(|| "inf".to_owned(), |v| format!("{v:.2}"))
}

/// The goals of the engine issue, checked on these summaries: per scenario, MeshTune is
/// dominated by no baseline and dominates `battery-modes` and `bitchat-2026`; its on-time
/// ratio is at least the best baseline's minus 1 point at no more energy per on-time delivery
/// than that baseline, and within 2 points of `oracle-static` (or above) at no more than 1.1×
/// its energy; on `commute` and `game-night`, at least 25 % less energy per on-time delivery
/// than `battery-modes` at an on-time ratio no worse than its (1-point band); at most 1 knob
/// change per phone-hour not driven by a device-state change, and at most 6 in all.
pub fn goals(summaries: &[Summary]) -> Vec<Goal> {
    let mut out = Vec::new();
    for s in scenario_names(summaries) {
        let runs: Vec<&Summary> = summaries.iter().filter(|r| r.scenario == s).collect();
        let Some(mt) = runs.iter().find(|r| r.policy == "meshtune") else { continue };
        let mut goal = |text: String, met: bool| out.push(Goal { scenario: s.to_owned(), text, met });
        let find = |p: Policy| runs.iter().find(|r| r.policy == p.name());
        let baselines: Vec<&&Summary> = Policy::BASELINES.iter().filter_map(|&p| find(p)).collect();
        let dominating: Vec<&str> = baselines.iter().filter(|b| dominates(b, mt)).map(|b| b.policy.as_str()).collect();
        goal(
            if dominating.is_empty() {
                "meshtune is dominated by no baseline".to_owned()
            } else {
                format!("meshtune is dominated by {}", dominating.join(", "))
            },
            dominating.is_empty(),
        );
        for p in [Policy::BatteryModes, Policy::BitChat2026] {
            if let Some(b) = find(p) {
                goal(format!("meshtune dominates {}", p.name()), dominates(mt, b));
            }
        }
        let ot = |r: &Summary| r.mean("on_time_ratio").unwrap_or(0.0);
        let en = |r: &Summary| r.mean("energy_per_on_time_uah");
        let le = |a: Option<f64>, b: Option<f64>, factor: f64| match (a, b) {
            (Some(a), Some(b)) => a <= b * factor,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if let Some(best) = baselines.iter().max_by(|a, b| ot(a).total_cmp(&ot(b))) {
            goal(
                format!(
                    "on-time {:.3} vs best baseline {} {:.3} (goal >= -1 point), energy per on-time {} vs {} uAh (goal <=)",
                    ot(mt),
                    best.policy,
                    ot(best),
                    energy_text(en(mt)),
                    energy_text(en(best))
                ),
                ot(mt) >= ot(best) - TIE_ON_TIME && le(en(mt), en(best), 1.0),
            );
        }
        match find(Policy::OracleStatic) {
            Some(o) => goal(
                format!(
                    "on-time {:.3} vs oracle-static {:.3} (goal >= -2 points), energy per on-time {} vs {} uAh (goal <= 1.1x)",
                    ot(mt),
                    ot(o),
                    energy_text(en(mt)),
                    energy_text(en(o))
                ),
                ot(mt) >= ot(o) - 0.02 && le(en(mt), en(o), 1.1),
            ),
            None => goal("oracle-static was not run on this scenario, so the oracle goal is unchecked".to_owned(), false),
        }
        if s == "commute" || s == "game-night" {
            if let Some(bm) = find(Policy::BatteryModes) {
                let saving = match (en(mt), en(bm)) {
                    (Some(a), Some(b)) if b > 0.0 => Some((1.0 - a / b) * 100.0),
                    _ => None,
                };
                goal(
                    format!(
                        "energy per on-time {} vs battery-modes {} uAh ({} saved; goal >= 25 %) at on-time {:.3} vs {:.3}",
                        energy_text(en(mt)),
                        energy_text(en(bm)),
                        saving.map_or_else(|| "-".to_owned(), |v| format!("{v:+.1} %")),
                        ot(mt),
                        ot(bm)
                    ),
                    saving.is_some_and(|v| v >= 25.0) && ot(mt) >= ot(bm) - TIE_ON_TIME,
                );
            }
        }
        let other = mt.mean("knob_changes_other_per_phone_hour").unwrap_or(0.0);
        let all = mt.mean("knob_changes_per_phone_hour").unwrap_or(0.0);
        goal(
            format!(
                "knob changes per phone-hour: {other:.2} not state-driven (goal <= 1), {all:.2} in all (goal <= 6)"
            ),
            other <= 1.0 && all <= 6.0,
        );
    }
    out
}

/// The headline table in Markdown: per scenario and policy, on-time ratio and energy per
/// on-time delivery with their intervals, battery hours, knob changes and who dominates it;
/// then the goals. The README's results block is this, written by the program.
pub fn headline_markdown(scenarios: &[Scenario], summaries: &[Summary]) -> String {
    let mut out = String::from(
        "| scenario | policy | on-time ratio | µAh per on-time delivery | battery h | knob changes /phone-h (not state-driven) | dominated by |\n|---|---|---|---|---|---|---|\n",
    );
    for s in scenarios {
        let runs: Vec<&Summary> = summaries.iter().filter(|r| r.scenario == s.name).collect();
        for (r, d) in runs.iter().zip(dominated_by(&runs)) {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} ({}) | {} |",
                s.name,
                r.policy,
                with_ci(r.get("on_time_ratio"), 3),
                with_ci(r.get("energy_per_on_time_uah"), 2),
                num(r.get("battery_hours"), 0),
                num(r.get("knob_changes_per_phone_hour"), 1),
                num(r.get("knob_changes_other_per_phone_hour"), 1),
                if d.is_empty() { "-".to_owned() } else { d.join(", ") }
            );
        }
    }
    out.push_str("\nGoals of the engine issue, checked on these figures:\n\n");
    for g in goals(summaries) {
        let _ = writeln!(out, "- {}", g.line());
    }
    out.push_str("\nWhere MeshTune loses (beyond the tie bands):\n\n");
    for l in losses(summaries) {
        let _ = writeln!(out, "- {l}");
    }
    out
}

/// Replaces the text between `<!-- results:begin -->` and `<!-- results:end -->` in `doc`.
pub fn replace_block(doc: &str, block: &str) -> Result<String, String> {
    const BEGIN: &str = "<!-- results:begin -->";
    const END: &str = "<!-- results:end -->";
    let a = doc.find(BEGIN).ok_or("no `<!-- results:begin -->` marker")? + BEGIN.len();
    let b = doc[a..].find(END).ok_or("no `<!-- results:end -->` marker after the begin marker")? + a;
    Ok(format!("{}\n{}{}", &doc[..a], block, &doc[b..]))
}

/// Where MeshTune loses, said plainly: per scenario, every policy (references included) that
/// delivers more on time beyond the tie band, or spends less per on-time delivery beyond it.
pub fn losses(summaries: &[Summary]) -> Vec<String> {
    let mut out = Vec::new();
    for s in scenario_names(summaries) {
        let runs: Vec<&Summary> = summaries.iter().filter(|r| r.scenario == s).collect();
        let Some(mt) = runs.iter().find(|r| r.policy == "meshtune") else { continue };
        let ot = |r: &Summary| r.mean("on_time_ratio").unwrap_or(0.0);
        for r in runs.iter().filter(|r| r.policy != "meshtune") {
            if higher_abs(ot(r), ot(mt), TIE_ON_TIME) == Cmp::Better {
                out.push(format!(
                    "{s}: {} delivers more on time than meshtune ({:.3} vs {:.3})",
                    r.policy,
                    ot(r),
                    ot(mt)
                ));
            }
            let (er, em) = (r.mean("energy_per_on_time_uah"), mt.mean("energy_per_on_time_uah"));
            if lower_rel(er, em, TIE_RELATIVE) == Cmp::Better {
                out.push(format!(
                    "{s}: {} spends less per on-time delivery than meshtune ({} vs {} uAh)",
                    r.policy,
                    energy_text(er),
                    energy_text(em)
                ));
            }
        }
    }
    out
}

fn estimate_json(e: &Estimate) -> Value {
    let r = |x: f64| (x * 1e6).round() / 1e6;
    match (e.mean, e.ci95) {
        (Some(m), Some((lo, hi))) => json!({"mean": r(m), "ci95": [r(lo), r(hi)]}),
        _ => json!({"mean": Value::Null, "ci95": Value::Null}),
    }
}

/// The machine-readable document: per scenario, per policy, every figure as
/// `{"mean", "ci95": [lo, hi]}` (null when infinite or undefined) and `dominated_by`.
pub fn json_document(scenarios: &[Scenario], summaries: &[Summary], seeds: &[u64], notes: &[String]) -> Value {
    let mut out = Vec::new();
    for s in scenarios {
        let runs: Vec<&Summary> = summaries.iter().filter(|r| r.scenario == s.name).collect();
        if runs.is_empty() {
            continue;
        }
        let dom = dominated_by(&runs);
        let policies: Vec<Value> = runs
            .iter()
            .zip(dom)
            .map(|(r, d)| {
                let mut m = serde_json::Map::new();
                m.insert("policy".to_owned(), json!(r.policy));
                for (name, e) in &r.figures {
                    m.insert((*name).to_owned(), estimate_json(e));
                }
                m.insert("dominated_by".to_owned(), json!(d));
                Value::Object(m)
            })
            .collect();
        out.push(json!({
            "name": s.name,
            "seeds": runs[0].seeds.len(),
            "deadline_ms": s.slo_p95_latency_ms,
            "target_on_time_ratio": s.target_on_time_ratio,
            "policies": policies,
        }));
    }
    let goals: Vec<Value> =
        goals(summaries).iter().map(|g| json!({"scenario": g.scenario, "goal": g.text, "met": g.met})).collect();
    json!({"seeds": seeds, "scenarios": out, "goals": goals, "meshtune_loses": losses(summaries), "notes": notes})
}

const COLORS: [RGBColor; 8] = [
    RGBColor(0, 0, 0),
    RGBColor(120, 120, 120),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(140, 86, 75),
    RGBColor(148, 103, 189),
    RGBColor(31, 119, 180),
];

fn color_of(policy: &str) -> RGBColor {
    let k = Policy::ALL.iter().position(|p| p.name() == policy).unwrap_or(0);
    COLORS[k % COLORS.len()]
}

fn chart(
    title: &str,
    y_label: &str,
    runs: &[&Summary],
    line_at: Option<f64>,
    value: &dyn Fn(&Summary) -> Vec<Option<f64>>,
) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (560, 300)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let series: Vec<Vec<Option<f64>>> = runs.iter().map(|r| value(r)).collect();
        let minutes = series.iter().map(Vec::len).max().unwrap_or(1).max(1);
        let y_max = series.iter().flatten().flatten().copied().fold(line_at.unwrap_or(0.0), f64::max).max(1e-9) * 1.1;
        let mut c = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(32)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..minutes as f64, 0f64..y_max)
            .map_err(|e| e.to_string())?;
        c.configure_mesh()
            .x_desc("minute")
            .y_desc(y_label)
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(|e| e.to_string())?;
        for (r, s) in runs.iter().zip(&series) {
            let color = color_of(&r.policy);
            let points: Vec<(f64, f64)> = s.iter().enumerate().filter_map(|(m, v)| v.map(|v| (m as f64, v))).collect();
            c.draw_series(LineSeries::new(points, color.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(r.policy.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
        }
        if let Some(y) = line_at {
            c.draw_series(LineSeries::new(vec![(0.0, y), (minutes as f64, y)], BLACK.mix(0.6).stroke_width(1)))
                .map_err(|e| e.to_string())?
                .label("target")
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLACK.mix(0.6)));
        }
        c.configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .label_font(("sans-serif", 11))
            .background_style(WHITE.mix(0.7))
            .border_style(BLACK.mix(0.4))
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// Energy per on-time delivery (x) against on-time ratio (y), one point per policy with its
/// 95 % intervals on both axes. Policies with no on-time delivery (infinite energy) are listed
/// under the plot instead.
fn scatter(runs: &[&Summary]) -> Result<String, String> {
    let points: Vec<(&Summary, Estimate, Estimate)> = runs
        .iter()
        .filter_map(|r| Some((*r, r.get("energy_per_on_time_uah")?, r.get("on_time_ratio")?)))
        .filter(|(_, e, _)| e.mean.is_some())
        .collect();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (560, 300)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let x_max = points.iter().filter_map(|(_, e, _)| e.ci95.map(|c| c.1)).fold(1e-9, f64::max) * 1.15;
        let mut c = ChartBuilder::on(&root)
            .caption("on-time ratio against energy per on-time delivery", ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(32)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..x_max, 0f64..1.05f64)
            .map_err(|e| e.to_string())?;
        c.configure_mesh()
            .x_desc("uAh per on-time delivery")
            .y_desc("on-time ratio")
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(|e| e.to_string())?;
        for (r, e, o) in &points {
            let color = color_of(&r.policy);
            let (Some(x), Some(y)) = (e.mean, o.mean) else { continue };
            let (xl, xh) = e.ci95.unwrap_or((x, x));
            let (yl, yh) = o.ci95.unwrap_or((y, y));
            c.draw_series([
                PathElement::new(vec![(xl, y), (xh, y)], color.stroke_width(1)),
                PathElement::new(vec![(x, yl), (x, yh)], color.stroke_width(1)),
            ])
            .map_err(|e| e.to_string())?;
            c.draw_series([Circle::new((x, y), 4, color.filled())]).map_err(|e| e.to_string())?;
            c.draw_series([Text::new(r.policy.clone(), (x, y), ("sans-serif", 11).into_font().color(&color))])
                .map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The HTML report: the goals, then per scenario its table and plots: on-time ratio per
/// minute, the energy/on-time scatter, battery and scan duty (means over the seeds).
pub fn html(scenarios: &[Scenario], summaries: &[Summary], seeds: &[u64], notes: &[String]) -> Result<String, String> {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>MeshTune simulation report</title>\
         <style>body{{font-family:sans-serif;max-width:1400px;margin:2em auto}}pre{{background:#f6f6f6;padding:1em;overflow-x:auto}}\
         .plots{{display:flex;flex-wrap:wrap;gap:8px}}.no{{color:#b00}}</style></head><body>\
         <h1>MeshTune simulation report</h1><p>Seeds {seeds:?}. Every phone runs the policy; <code>meshtune</code> is the real engine \
         with the default configuration. Model parameters and their sources: <code>sim/src/radio.rs</code>, \
         <code>sim/src/platform.rs</code> and <code>sim/src/world.rs</code>; how it is scored: <code>sim/src/score.rs</code>.</p>"
    );
    for n in notes {
        let _ = write!(out, "<p><b>Note:</b> {}</p>", esc(n));
    }
    out.push_str("<h2>Goals</h2><ul>");
    for g in goals(summaries) {
        let _ = write!(out, "<li{}>{}</li>", if g.met { "" } else { " class=\"no\"" }, esc(&g.line()));
    }
    out.push_str("</ul>");
    for s in scenarios {
        let runs: Vec<&Summary> = summaries.iter().filter(|r| r.scenario == s.name).collect();
        if runs.is_empty() {
            continue;
        }
        let _ = write!(
            out,
            "<h2>{}</h2><pre>{}\n{}</pre><div class=\"plots\">",
            esc(&s.name),
            esc(&table(s, &runs)),
            esc(LEGEND)
        );
        out.push_str(&chart("on-time ratio per minute", "share on time", &runs, Some(s.target_on_time_ratio), &|r| {
            r.series.on_time_ratio.clone()
        })?);
        out.push_str(&scatter(&runs)?);
        out.push_str(&chart("mean battery", "%", &runs, None, &|r| {
            r.series.battery_percent.iter().map(|v| Some(*v)).collect()
        })?);
        out.push_str(&chart("mean scan duty the OS runs", "% of time listening", &runs, None, &|r| {
            r.series.scan_duty_percent.iter().map(|v| Some(*v)).collect()
        })?);
        out.push_str("</div>");
        let none: Vec<&str> =
            runs.iter().filter(|r| r.mean("energy_per_on_time_uah").is_none()).map(|r| r.policy.as_str()).collect();
        if !none.is_empty() {
            let _ = write!(
                out,
                "<p>Not in the scatter (no on-time delivery, infinite energy per on-time delivery): {}</p>",
                esc(&none.join(", "))
            );
        }
    }
    out.push_str("</body></html>\n");
    Ok(out)
}

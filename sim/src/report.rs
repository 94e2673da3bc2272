//! The table on stdout, the goals check, and the HTML report with SVG plots.

use std::fmt::Write as _;

use plotters::prelude::*;

use crate::results::RunResult;
use crate::scenario::Scenario;

fn f(x: Option<f64>, digits: usize) -> String {
    x.map_or_else(|| "-".to_owned(), |v| format!("{v:.digits$}"))
}

/// The table of one scenario's runs, as plain text.
pub fn table(scenario: &Scenario, runs: &[&RunResult]) -> String {
    let mut out = String::new();
    let hours = runs.first().map_or(scenario.hours, |r| r.hours);
    let phones = runs.first().map_or(scenario.phones, |r| r.phones);
    let _ = writeln!(out, "\n{}: {}", scenario.name, scenario.description);
    let _ = writeln!(out, "  {phones} phones, {hours:.2} h, SLO p95 <= {} ms", scenario.slo_p95_latency_ms);
    let consensus = runs.iter().any(|r| r.consensus_ops_per_sec_per_table.is_some());
    let memory = scenario.memory_critical_per_hour > 0.0;
    let _ = write!(
        out,
        "  {:<19}{:>7}{:>8}{:>8}{:>6}{:>10}{:>9}{:>7}{:>9}{:>8}{:>8}{:>10}{:>7}",
        "policy", "deliv", "p50 ms", "p95 ms", "SLO", "mAh/phone", "uAh/msg", "batt%", "empty", "knob/h", "react s", "breach", "revert"
    );
    if consensus {
        let _ = write!(out, "{:>9}{:>8}", "ops/s/tb", "uAh/op");
    }
    if memory {
        let _ = write!(out, "{:>6}", "kills");
    }
    out.push('\n');
    for r in runs {
        let _ = write!(
            out,
            "  {:<19}{:>7.3}{:>8}{:>8}{:>5.0}%{:>10.2}{:>9}{:>7.1}{:>9}{:>8.2}{:>8}{:>10}{:>7}",
            r.policy,
            r.delivery_ratio,
            f(r.p50_latency_ms, 0),
            f(r.p95_latency_ms, 0),
            r.slo_attainment * 100.0,
            r.energy_mah_per_phone,
            f(r.energy_uah_per_delivered, 2),
            r.battery_left_percent,
            match r.first_empty_h {
                Some(h) => format!("{}@{h:.1}h", r.phones_empty),
                None => "0".to_owned(),
            },
            r.knob_changes_per_phone_hour,
            f(r.reaction_median_s, 0),
            format!("{}/{}", r.breaches_answered, r.breaches_answered + r.breaches_unanswered),
            r.actions_reverted,
        );
        if consensus {
            let _ = write!(out, "{:>9}{:>8}", f(r.consensus_ops_per_sec_per_table, 1), f(r.energy_uah_per_op, 2));
        }
        if memory {
            let _ = write!(out, "{:>6}", r.kills);
        }
        out.push('\n');
    }
    out
}

/// What the table's columns mean (printed once under the tables).
pub const LEGEND: &str = "  deliv: receptions / (messages x phones online at send); p50/p95: end-to-end latency of all receptions;
  SLO: share of minutes whose network-wide p95 met the scenario's SLO; mAh/phone: energy of the mesh
  (radio, transfers, consensus CPU) per phone; uAh/msg: that energy per reception; batt%: mean battery
  left; empty: phones whose battery ran out (@ when the first did); knob/h: knob changes per phone-hour; react s: median time
  from the start of a sustained latency breach (60 s p95 over the SLO for 60 s) to the phone's next
  knob change; breach: sustained breaches answered by a change / all; revert: MeshTune actions rolled
  back after measurement; ops/s/tb: consensus operations finalized per table per second (120 offered);
  uAh/op: mesh energy per finalized operation; kills: processes killed by the low-memory killer.
";

/// Whether `a` is at least as good as `b` on every outcome (delivery, p95 latency, SLO
/// attainment, energy per phone, consensus operations finalized, processes killed), and strictly
/// better on one: then `a` dominates `b`.
pub fn dominates(a: &RunResult, b: &RunResult) -> bool {
    let lat = |r: &RunResult| r.p95_latency_ms.unwrap_or(f64::INFINITY);
    let ops = |r: &RunResult| r.consensus_ops_per_sec_per_table.unwrap_or(0.0);
    let no_worse = a.delivery_ratio >= b.delivery_ratio
        && lat(a) <= lat(b)
        && a.slo_attainment >= b.slo_attainment
        && a.energy_mah_per_phone <= b.energy_mah_per_phone
        && ops(a) >= ops(b)
        && a.kills <= b.kills;
    let better = a.delivery_ratio > b.delivery_ratio
        || lat(a) < lat(b)
        || a.slo_attainment > b.slo_attainment
        || a.energy_mah_per_phone < b.energy_mah_per_phone
        || ops(a) > ops(b)
        || a.kills < b.kills;
    no_worse && better
}

/// The goals for the report, checked on these results and said plainly: MeshTune not
/// dominated by any baseline; on `commute` and `game-night`, at least 25 % less energy per
/// delivered message than `battery-modes` at equal or better SLO attainment.
pub fn goals(results: &[RunResult]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut scenarios: Vec<&str> = Vec::new();
    for r in results {
        if !scenarios.contains(&r.scenario.as_str()) {
            scenarios.push(&r.scenario);
        }
    }
    for s in scenarios {
        let runs: Vec<&RunResult> = results.iter().filter(|r| r.scenario == s).collect();
        let Some(mt) = runs.iter().find(|r| r.policy == "meshtune") else { continue };
        let dominating: Vec<&str> = runs.iter().filter(|r| r.policy != "meshtune" && dominates(r, mt)).map(|r| r.policy.as_str()).collect();
        if dominating.is_empty() {
            lines.push(format!("{s}: meshtune is not dominated by any baseline (met)"));
        } else {
            lines.push(format!("{s}: meshtune is DOMINATED by {} (not met)", dominating.join(", ")));
        }
        if s == "commute" || s == "game-night" {
            if let Some(bm) = runs.iter().find(|r| r.policy == "battery-modes") {
                match (mt.energy_uah_per_delivered, bm.energy_uah_per_delivered) {
                    (Some(a), Some(b)) if b > 0.0 => {
                        let saving = (1.0 - a / b) * 100.0;
                        let slo_ok = mt.slo_attainment >= bm.slo_attainment;
                        let met = saving >= 25.0 && slo_ok;
                        lines.push(format!(
                            "{s}: energy per delivered message {a:.2} vs battery-modes {b:.2} uAh ({saving:+.1} % saved; goal >= 25 %), SLO {:.0} % vs {:.0} % ({})",
                            mt.slo_attainment * 100.0,
                            bm.slo_attainment * 100.0,
                            if met { "met" } else { "NOT met" }
                        ));
                    }
                    _ => lines.push(format!("{s}: no deliveries to compare energy per message (not met)")),
                }
                if let (Some(a), Some(b)) = (mt.energy_uah_per_op, bm.energy_uah_per_op) {
                    lines.push(format!(
                        "{s}: energy per finalized consensus operation {a:.2} vs battery-modes {b:.2} uAh ({:+.1} % saved); operations per table per second {} vs {}",
                        (1.0 - a / b) * 100.0,
                        f(mt.consensus_ops_per_sec_per_table, 1),
                        f(bm.consensus_ops_per_sec_per_table, 1)
                    ));
                }
                lines.push(format!("{s}: meshtune knob changes per phone-hour {:.2}", mt.knob_changes_per_phone_hour));
            }
        }
    }
    lines
}

const COLORS: [RGBColor; 5] = [
    RGBColor(120, 120, 120),
    RGBColor(214, 39, 40),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(31, 119, 180),
];

fn chart(
    title: &str,
    y_label: &str,
    runs: &[&RunResult],
    line_at: Option<f64>,
    value: &dyn Fn(&RunResult) -> Vec<Option<f64>>,
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
        c.configure_mesh().x_desc("minute").y_desc(y_label).light_line_style(WHITE.mix(0.0)).draw().map_err(|e| e.to_string())?;
        for (k, (r, s)) in runs.iter().zip(&series).enumerate() {
            let color = COLORS[k % COLORS.len()];
            let points: Vec<(f64, f64)> = s.iter().enumerate().filter_map(|(m, v)| v.map(|v| (m as f64, v))).collect();
            c.draw_series(LineSeries::new(points, color.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(r.policy.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
        }
        if let Some(y) = line_at {
            c.draw_series(LineSeries::new(vec![(0.0, y), (minutes as f64, y)], BLACK.mix(0.6).stroke_width(1)))
                .map_err(|e| e.to_string())?
                .label("SLO")
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLACK.mix(0.6)));
        }
        c.configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font(("sans-serif", 11))
            .background_style(WHITE.mix(0.7))
            .border_style(BLACK.mix(0.4))
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The HTML report: the goals, then per scenario its table and three plots (p95 latency,
/// battery, scan duty) with one line per policy.
pub fn html(scenarios: &[Scenario], results: &[RunResult], seed: u64) -> Result<String, String> {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>MeshTune simulation report</title>\
         <style>body{{font-family:sans-serif;max-width:1200px;margin:2em auto}}pre{{background:#f6f6f6;padding:1em;overflow-x:auto}}\
         .plots{{display:flex;flex-wrap:wrap;gap:8px}}</style></head><body>\
         <h1>MeshTune simulation report</h1><p>Seed {seed}. Every phone runs the policy; <code>meshtune</code> is the real engine \
         with the default configuration. Model parameters and their sources: <code>sim/src/radio.rs</code> and \
         <code>sim/src/world.rs</code>.</p><h2>Goals</h2><ul>"
    );
    for g in goals(results) {
        let _ = write!(out, "<li>{}</li>", esc(&g));
    }
    out.push_str("</ul>");
    for s in scenarios {
        let runs: Vec<&RunResult> = results.iter().filter(|r| r.scenario == s.name).collect();
        if runs.is_empty() {
            continue;
        }
        let _ = write!(out, "<h2>{}</h2><pre>{}\n{}</pre><div class=\"plots\">", esc(&s.name), esc(&table(s, &runs)), esc(LEGEND));
        out.push_str(&chart("p95 latency per minute", "ms", &runs, Some(s.slo_p95_latency_ms), &|r| r.series.p95_latency_ms.clone())?);
        out.push_str(&chart("mean battery", "%", &runs, None, &|r| r.series.battery_percent.iter().map(|v| Some(*v)).collect())?);
        out.push_str(&chart("mean scan duty (knob)", "% of time listening", &runs, None, &|r| {
            r.series.scan_duty_percent.iter().map(|v| Some(*v)).collect()
        })?);
        out.push_str("</div>");
    }
    out.push_str("</body></html>\n");
    Ok(out)
}

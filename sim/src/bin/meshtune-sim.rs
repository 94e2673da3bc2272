//! `meshtune-sim`: every built-in scenario under every policy over several seeds, the
//! scoreboard on stdout (or `--json`), the HTML report under target/meshtune-report/. See
//! `--help`.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use meshtune_sim::oracle::{self, KnobSpace, StaticConfig};
use meshtune_sim::policy::Policy;
use meshtune_sim::scenario::Scenario;
use meshtune_sim::{evaluate_fixed, matrix_jobs, report, run_matrix, stats};

/// Simulates a Bluetooth LE mesh of phones and compares MeshTune with the policies apps ship.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// A scenario file (TOML, or JSON if it ends in .json) instead of the built-in scenarios;
    /// or the name of one built-in scenario (commute, stadium, game-night, heatwave,
    /// low-memory). May be repeated.
    #[arg(long = "scenario", value_name = "FILE|NAME")]
    scenarios: Vec<String>,
    /// Only these policies (radio-off, static-balanced, static-performance, oracle-static,
    /// battery-modes, bitchat-2026, threshold, meshtune). May be repeated.
    #[arg(long = "policy", value_name = "NAME")]
    policies: Vec<String>,
    /// Seeds per scenario and policy: every figure is the mean with a 95 % interval. The
    /// default, 4, keeps the main job near 20 s on two cores.
    #[arg(long, default_value_t = 4)]
    seeds: u64,
    /// The first seed (the seeds are this, this + 1, ...).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Override the number of phones of every scenario.
    #[arg(long)]
    phones: Option<u32>,
    /// Override the simulated hours of every scenario.
    #[arg(long)]
    hours: Option<f64>,
    /// Directory of the HTML report.
    #[arg(long, default_value = "target/meshtune-report")]
    out: PathBuf,
    /// Print the scoreboard as one JSON document on stdout instead of the table.
    #[arg(long)]
    json: bool,
    /// Also write the tables, the legend and the goals as Markdown to this file (the docs'
    /// results page is written this way, never by hand).
    #[arg(long, value_name = "FILE")]
    markdown: Option<PathBuf>,
    /// Rewrite the results block of this Markdown file (between `<!-- results:begin -->` and
    /// `<!-- results:end -->`) with the headline table and the goals.
    #[arg(long, value_name = "FILE")]
    readme: Option<PathBuf>,
    /// Search the best fixed configuration (oracle-static) for the scenarios on the search
    /// seeds, and use it in this run.
    #[arg(long)]
    search_oracle: bool,
    /// With --search-oracle: write the results as an oracle file (sim/oracle-static.json is
    /// the one shipped).
    #[arg(long, value_name = "FILE")]
    write_oracle: Option<PathBuf>,
    /// Worker threads (default: the machine's cores).
    #[arg(long)]
    threads: Option<usize>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    let mut scenarios = Vec::new();
    if args.scenarios.is_empty() {
        scenarios = Scenario::all_built_in();
    }
    for s in &args.scenarios {
        match Scenario::built_in(s) {
            Some(b) => scenarios.push(b),
            None => scenarios.push(Scenario::from_file(std::path::Path::new(s)).map_err(|e| format!("{s}: {e}"))?),
        }
    }
    for s in &mut scenarios {
        if let Some(p) = args.phones {
            s.phones = p;
            if s.tables * s.table_size > p {
                s.tables = p / s.table_size;
            }
        }
        if let Some(h) = args.hours {
            s.hours = h;
        }
        s.validate().map_err(|e| format!("{}: {e} (after --phones/--hours)", s.name))?;
    }
    let policies: Vec<Policy> = if args.policies.is_empty() {
        Policy::ALL.to_vec()
    } else {
        args.policies
            .iter()
            .map(|p| {
                Policy::from_name(p).ok_or_else(|| {
                    format!("unknown policy '{p}' (one of {})", Policy::ALL.map(Policy::name).join(", "))
                })
            })
            .collect::<Result<_, _>>()?
    };
    if args.seeds == 0 || args.seeds > 1000 {
        return Err(format!("--seeds {} is outside 1..=1000", args.seeds));
    }
    if args.write_oracle.is_some() && !args.search_oracle {
        return Err("--write-oracle goes with --search-oracle".to_owned());
    }
    let seeds: Vec<u64> = (0..args.seeds).map(|k| args.seed.wrapping_add(k)).collect();
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
    let started = Instant::now();

    // oracle-static: the shipped table, or a fresh search.
    let mut notes = Vec::new();
    let mut oracle_table: BTreeMap<String, StaticConfig> = BTreeMap::new();
    if args.search_oracle {
        let space = KnobSpace::radio();
        let mut found = Vec::new();
        for s in &scenarios {
            eprintln!(
                "searching oracle-static for {} ({} configurations in the space, seeds {:?})",
                s.name,
                space.size(),
                oracle::SEARCH_SEEDS
            );
            let r = oracle::search(s, &space, &oracle::SEARCH_SEEDS, &|cs| {
                evaluate_fixed(s, cs, &oracle::SEARCH_SEEDS, threads)
            })?;
            eprintln!(
                "  {}: {} ({} evaluated; on-time {:.3}, {:.2} uAh per on-time delivery)",
                s.name,
                r.best.label(),
                r.evaluations,
                r.evaluation.on_time_ratio,
                r.evaluation.energy_per_on_time_uah
            );
            oracle_table.insert(s.name.clone(), r.best);
            found.push(r);
        }
        if let Some(path) = &args.write_oracle {
            let pairs: Vec<(&Scenario, &oracle::SearchResult)> = scenarios.iter().zip(&found).collect();
            std::fs::write(path, oracle::to_file(&pairs)).map_err(|e| format!("{}: {e}", path.display()))?;
            eprintln!("oracle file: {}", path.display());
        }
    } else if policies.contains(&Policy::OracleStatic) {
        let shipped = oracle::shipped();
        for s in &scenarios {
            match shipped.get(&s.name) {
                Some(p) => {
                    if p.fingerprint != oracle::fingerprint(s) {
                        notes.push(format!(
                            "oracle-static for {} was searched on another model or scenario definition (or --phones/--hours changed it): its configuration may no longer be the best; recompute with --search-oracle",
                            s.name
                        ));
                    }
                    oracle_table.insert(s.name.clone(), p.config);
                }
                None => notes.push(format!(
                    "oracle-static was not run on {}: no precomputed configuration (--search-oracle runs the search)",
                    s.name
                )),
            }
        }
    }

    let jobs = matrix_jobs(&scenarios, &policies, &seeds, &oracle_table);
    let bar = if args.quiet || args.json { ProgressBar::hidden() } else { ProgressBar::new(jobs as u64 * 1000) };
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {percent:>3}% {msg}")
            .map_err(|e| e.to_string())?,
    );
    bar.set_message(format!("{jobs} runs on {threads} threads"));
    let done: Vec<std::sync::atomic::AtomicU64> = (0..jobs).map(|_| std::sync::atomic::AtomicU64::new(0)).collect();
    let results = run_matrix(&scenarios, &policies, &seeds, &oracle_table, threads, &|job, share| {
        let now = (share * 1000.0) as u64;
        if let Some(d) = done.get(job) {
            let before = d.swap(now, std::sync::atomic::Ordering::Relaxed);
            bar.inc(now.saturating_sub(before));
        }
    })?;
    bar.finish_and_clear();
    let wall_s = started.elapsed().as_secs_f64();
    let phone_hours: f64 = results.iter().map(|r| f64::from(r.phones) * r.hours).sum();
    let summaries = stats::summarize(&results);
    for (s, c) in &oracle_table {
        notes.push(format!("oracle-static on {s}: {}", c.label()));
    }

    if args.json {
        let v = report::json_document(&scenarios, &summaries, &seeds, &notes);
        println!("{}", serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?);
    } else {
        print!("{}", text_report(&scenarios, &summaries, &notes));
    }
    if let Some(path) = &args.markdown {
        let command = command_line();
        let md = format!(
            "# Simulator results\n\nWritten by `{command}` (seeds {seeds:?}); do not edit by hand: run the command again.\n\n```\n{}```\n",
            text_report(&scenarios, &summaries, &notes)
        );
        std::fs::write(path, md).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if let Some(path) = &args.readme {
        let doc = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let command = command_line();
        let block = format!(
            "Written by `{command}` (seeds {seeds:?}; means with 95 % intervals); do not edit by hand.\n\n{}",
            report::headline_markdown(&scenarios, &summaries)
        );
        let new = report::replace_block(&doc, &block).map_err(|e| format!("{}: {e}", path.display()))?;
        std::fs::write(path, new).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let html = report::html(&scenarios, &summaries, &seeds, &notes)?;
    let path = args.out.join("index.html");
    std::fs::write(&path, html).map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!(
        "report: {}\nsimulated {phone_hours:.0} phone-hours in {wall_s:.1} s ({:.0} phone-hours per second, {threads} threads)",
        path.display(),
        phone_hours / wall_s.max(1e-9)
    );
    Ok(())
}

/// The command line as a reader would type it.
fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("cargo run --release --bin meshtune-sim -- {}", args.join(" "))
}

fn text_report(scenarios: &[Scenario], summaries: &[stats::Summary], notes: &[String]) -> String {
    let mut out = String::new();
    for s in scenarios {
        let runs: Vec<_> = summaries.iter().filter(|r| r.scenario == s.name).collect();
        if !runs.is_empty() {
            out.push_str(&report::table(s, &runs));
        }
    }
    out.push('\n');
    out.push_str(report::LEGEND);
    if !notes.is_empty() {
        out.push_str("\nNotes:\n");
        for n in notes {
            out.push_str(&format!("  {n}\n"));
        }
    }
    out.push_str("\nGoals of the engine issue (checked on these figures, not assumed):\n");
    for g in report::goals(summaries) {
        out.push_str(&format!("  {}\n", g.line()));
    }
    out.push_str("\nWhere MeshTune loses (beyond the tie bands):\n");
    for l in report::losses(summaries) {
        out.push_str(&format!("  {l}\n"));
    }
    out
}

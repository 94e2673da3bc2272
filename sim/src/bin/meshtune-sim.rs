//! `meshtune-sim`: every built-in scenario under every policy, the table on stdout, the HTML
//! report under target/meshtune-report/. See `--help`.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use meshtune_sim::policy::Policy;
use meshtune_sim::scenario::Scenario;
use meshtune_sim::{report, run_matrix};

/// Simulates a Bluetooth LE mesh of phones and compares MeshTune with the policies apps ship.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// A scenario file (TOML, or JSON if it ends in .json) instead of the built-in scenarios;
    /// or the name of one built-in scenario (commute, stadium, game-night, heatwave,
    /// low-memory). May be repeated.
    #[arg(long = "scenario", value_name = "FILE|NAME")]
    scenarios: Vec<String>,
    /// Only these policies (static-balanced, static-performance, battery-modes, threshold,
    /// meshtune). May be repeated.
    #[arg(long = "policy", value_name = "NAME")]
    policies: Vec<String>,
    /// Seed of every random stream.
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
    /// Print the results as JSON on stdout instead of the table.
    #[arg(long)]
    json: bool,
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
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let jobs = scenarios.len() * policies.len();
    let bar = if args.quiet || args.json { ProgressBar::hidden() } else { ProgressBar::new(jobs as u64 * 1000) };
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {percent:>3}% {msg}")
            .map_err(|e| e.to_string())?,
    );
    bar.set_message(format!("{jobs} runs on {threads} threads"));
    let done: Vec<std::sync::atomic::AtomicU64> = (0..jobs).map(|_| std::sync::atomic::AtomicU64::new(0)).collect();
    let started = Instant::now();
    let results = run_matrix(&scenarios, &policies, args.seed, threads, &|job, share| {
        let now = (share * 1000.0) as u64;
        let before = done[job].swap(now, std::sync::atomic::Ordering::Relaxed);
        bar.inc(now.saturating_sub(before));
    })?;
    bar.finish_and_clear();
    let wall_s = started.elapsed().as_secs_f64();
    let phone_hours: f64 = results.iter().map(|r| f64::from(r.phones) * r.hours).sum();

    if args.json {
        let v = serde_json::json!({
            "seed": args.seed,
            "results": results.iter().map(|r| r.to_json()).collect::<Vec<_>>(),
            "goals": report::goals(&results),
        });
        println!("{}", serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?);
    } else {
        for s in &scenarios {
            let runs: Vec<_> = results.iter().filter(|r| r.scenario == s.name).collect();
            print!("{}", report::table(s, &runs));
        }
        print!("\n{}", report::LEGEND);
        println!("\nGoals (from the issue; checked, not assumed):");
        for g in report::goals(&results) {
            println!("  {g}");
        }
    }
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let html = report::html(&scenarios, &results, args.seed)?;
    let path = args.out.join("index.html");
    std::fs::write(&path, html).map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!(
        "report: {}\nsimulated {phone_hours:.0} phone-hours in {wall_s:.1} s ({:.0} phone-hours per second, {threads} threads)",
        path.display(),
        phone_hours / wall_s.max(1e-9)
    );
    Ok(())
}

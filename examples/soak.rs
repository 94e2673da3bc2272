//! Real-time soak of the runtime: `start_optimizer` with the default configuration, fed at a
//! steady rate (default 100 000 samples/s) for N minutes by two producer threads, with a listener
//! that hands each action to an "app" thread which applies it 50 ms later and acknowledges it
//! (one in ten refused, as a platform sometimes refuses).
//!
//! ```sh
//! nice -n 10 cargo run --release --example soak -- --minutes 3
//! cargo run --release --example soak -- --minutes 10 --rate 100000 --rss-growth-mb 16
//! ```
//!
//! The load cycles through what makes the strategies act: latency under and over the SLO (two
//! minutes a cycle), the app going to the background and back, the battery draining, critical
//! memory pressure and thermal Serious now and then, consensus rounds.
//!
//! Every 10 s it prints resident memory (VmRSS) and the counters. At the end it checks, and
//! exits with status 1 if one fails:
//! - resident memory stays flat: its highest value after the first minute is at most
//!   `--rss-growth-mb` (default 16) above its highest value in the first minute;
//! - the rate cap: in any 60 s of engine time, at most `max_actions_per_minute` non-safety
//!   actions (safety actions are exempt by design and counted apart);
//! - every sample is counted: accepted + rejected + dropped = offered, and each equals what the
//!   producers were told;
//! - the producers kept up with the requested rate (within 2 %).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use meshtune::{
    start_optimizer, ActionEvent, ActionListener, ListenerError, MemoryPressureLevel, MetricSample, OptimizerConfig,
    OptimizerError, OutcomeEvent, PerformanceOptimizer, Priority, ThermalState,
};

struct Args {
    minutes: f64,
    rate: u64,
    rss_growth_mb: f64,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args { minutes: 3.0, rate: 100_000, rss_growth_mb: 16.0 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--minutes" => a.minutes = value()?.parse().map_err(|e| format!("--minutes: {e}"))?,
            "--rate" => a.rate = value()?.parse().map_err(|e| format!("--rate: {e}"))?,
            "--rss-growth-mb" => a.rss_growth_mb = value()?.parse().map_err(|e| format!("--rss-growth-mb: {e}"))?,
            "-h" | "--help" => {
                println!("soak [--minutes N (3)] [--rate SAMPLES_PER_S (100000)] [--rss-growth-mb MB (16)]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if !a.minutes.is_finite() || a.minutes <= 0.0 || a.rate == 0 {
        return Err("--minutes and --rate must be positive".into());
    }
    Ok(a)
}

fn rss_mb() -> f64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

#[derive(Default)]
struct Listener {
    /// (wall seconds since start, engine ms, priority, strategy) of every action.
    actions: Mutex<Vec<(f64, u64, Priority, String)>>,
    outcomes: Mutex<BTreeMap<&'static str, u64>>,
    to_app: Mutex<Option<mpsc::Sender<ActionEvent>>>,
    start: Mutex<Option<Instant>>,
}

impl ActionListener for Listener {
    fn on_action(&self, event: ActionEvent) -> Result<(), ListenerError> {
        let t = self.start.lock().unwrap().map_or(0.0, |s| s.elapsed().as_secs_f64());
        self.actions.lock().unwrap().push((t, event.at_ms, event.priority, event.strategy.clone()));
        if let Some(tx) = self.to_app.lock().unwrap().as_ref() {
            let _ = tx.send(event);
        }
        Ok(())
    }
    fn on_outcome(&self, event: OutcomeEvent) -> Result<(), ListenerError> {
        let kind = match event {
            OutcomeEvent::Improved { .. } => "improved",
            OutcomeEvent::NoEffect { .. } => "no_effect",
            OutcomeEvent::Worse { .. } => "worse",
            OutcomeEvent::Inconclusive { .. } => "inconclusive",
            OutcomeEvent::NotApplied { .. } => "not_applied",
            OutcomeEvent::Superseded { .. } => "superseded",
            OutcomeEvent::Unacknowledged { .. } => "unacknowledged",
        };
        *self.outcomes.lock().unwrap().entry(kind).or_default() += 1;
        Ok(())
    }
}

/// What the producers were told.
#[derive(Default)]
struct Told {
    ok: AtomicU64,
    invalid: AtomicU64,
    overloaded: AtomicU64,
}

impl Told {
    fn note(&self, r: Result<(), OptimizerError>, n: u64) {
        let c = match r {
            Ok(()) => &self.ok,
            Err(OptimizerError::Overloaded { .. }) => &self.overloaded,
            Err(OptimizerError::InvalidSample { .. } | OptimizerError::BatchTooLarge { .. }) => &self.invalid,
            Err(e) => panic!("unexpected error from the optimizer: {e}"),
        };
        c.fetch_add(n, Ordering::Relaxed);
    }
}

/// The `i`-th sample of producer `p` at `secs` into the run.
fn sample(p: u64, i: u64, secs: f64) -> MetricSample {
    let cycle = secs % 120.0;
    match i % 1_000 {
        0 => MetricSample::Battery {
            level_percent: (95.0 - secs / 20.0).max(3.0),
            charging: (secs / 600.0) as u64 % 3 == 2,
        },
        1 => MetricSample::AppState { foreground: (secs / 45.0) as u64 % 2 == 0 },
        2 => MetricSample::Heap { used_mb: 200.0 + 250.0 * ((secs / 90.0).sin().abs()), limit_mb: 512.0 },
        3 => MetricSample::PeerCount { connected: 4 + (i % 5) as u32, discovered: 12 },
        4 => MetricSample::LinkRssi { peer_id: format!("peer-{}", i % 8), rssi_dbm: -55 - (i % 40) as i32 },
        5 => MetricSample::Thermal {
            state: if (secs / 60.0) as u64 % 5 == 3 { ThermalState::Serious } else { ThermalState::Nominal },
        },
        6 if (secs as u64) % 180 < 2 => MetricSample::MemoryPressure { level: MemoryPressureLevel::Critical },
        7..=99 => MetricSample::ConsensusRound {
            proposal_ms: 5.0 + (i % 7) as f64,
            vote_ms: 10.0 + (i % 11) as f64,
            finalization_ms: if cycle < 60.0 { 80.0 } else { 700.0 } + (i % 50) as f64,
            operations: 4,
        },
        // One invalid sample in 100 000 (counted as rejected).
        500 if i % 100_000 == 500 => MetricSample::Battery { level_percent: f64::NAN, charging: false },
        _ => {
            let base = if cycle < 60.0 { 40.0 } else { 300.0 };
            MetricSample::MessageDelivered {
                latency_ms: base + ((i * 7919 + p) % 200) as f64,
                hops: 1 + (i % 4) as u32,
                bytes: 180,
            }
        }
    }
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("soak: {e}");
            std::process::exit(2);
        }
    };
    let config = OptimizerConfig::default();
    let cap = config.max_actions_per_minute as usize;
    let listener = Arc::new(Listener::default());
    let optimizer = start_optimizer(config.clone(), listener.clone()).expect("the default configuration is valid");
    let start = Instant::now();
    *listener.start.lock().unwrap() = Some(start);

    // The app: applies each action 50 ms after it arrives, refuses one in ten.
    let (tx, rx) = mpsc::channel::<ActionEvent>();
    *listener.to_app.lock().unwrap() = Some(tx);
    let app = {
        let opt: Arc<PerformanceOptimizer> = Arc::clone(&optimizer);
        std::thread::spawn(move || {
            let mut n = 0u64;
            for a in rx {
                std::thread::sleep(Duration::from_millis(50));
                n += 1;
                let applied = n % 10 != 0;
                let detail = (!applied).then(|| "refused by the platform (soak)".to_owned());
                match opt.report_action_result(a.id, applied, detail) {
                    Ok(()) | Err(OptimizerError::UnknownAction { .. }) | Err(OptimizerError::Stopped) => {}
                    Err(e) => panic!("acknowledgement failed: {e}"),
                }
            }
        })
    };

    let total = Duration::from_secs_f64(args.minutes * 60.0);
    let told = Arc::new(Told::default());
    let done = Arc::new(AtomicBool::new(false));
    let producers: Vec<_> = (0..2u64)
        .map(|p| {
            let opt = Arc::clone(&optimizer);
            let told = Arc::clone(&told);
            let done = Arc::clone(&done);
            let per_thread = args.rate as f64 / 2.0;
            std::thread::spawn(move || {
                let mut sent = 0u64;
                while !done.load(Ordering::Relaxed) {
                    let secs = start.elapsed().as_secs_f64();
                    let due = (secs * per_thread) as u64;
                    while sent < due {
                        // Half the traffic one sample a call, half in batches of 100.
                        if (sent / 100) % 2 == 0 {
                            let batch: Vec<_> = (sent..sent + 100).map(|i| sample(p, i, secs)).collect();
                            told.note(opt.record_batch(batch), 100);
                            sent += 100;
                        } else {
                            told.note(opt.record(sample(p, sent, secs)), 1);
                            sent += 1;
                        }
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
                sent
            })
        })
        .collect();

    println!(
        "soak: {} min at {} samples/s, default configuration (max_actions_per_minute {cap})",
        args.minutes, args.rate
    );
    println!(
        "{:>6} {:>8} {:>12} {:>12} {:>9} {:>9} {:>7} {:>8} {:>7}",
        "t s", "RSS MB", "offered", "accepted", "dropped", "rejected", "ticks", "actions", "ev.drop"
    );
    let mut rss: Vec<(f64, f64)> = Vec::new();
    let mut next = Duration::from_secs(10);
    while start.elapsed() < total {
        let now = start.elapsed();
        if now < next {
            std::thread::sleep((next - now).min(total.saturating_sub(now)).max(Duration::from_millis(1)));
            continue;
        }
        next += Duration::from_secs(10);
        let t = start.elapsed().as_secs_f64();
        let r = rss_mb();
        rss.push((t, r));
        let c = optimizer.snapshot().counters;
        println!(
            "{t:>6.0} {r:>8.1} {:>12} {:>12} {:>9} {:>9} {:>7} {:>8} {:>7}",
            c.samples_offered,
            c.samples_accepted,
            c.samples_dropped,
            c.samples_rejected,
            c.ticks,
            c.actions_emitted,
            c.events_dropped
        );
    }
    done.store(true, Ordering::Relaxed);
    let sent: u64 = producers.into_iter().map(|p| p.join().expect("producer")).sum();
    let elapsed = start.elapsed().as_secs_f64();
    let c = optimizer.snapshot().counters;
    optimizer.stop();
    listener.to_app.lock().unwrap().take();
    app.join().expect("app thread");

    let mut failures: Vec<String> = Vec::new();

    // Memory.
    let first_minute = rss.iter().filter(|(t, _)| *t <= 60.5).map(|(_, r)| *r).fold(f64::NAN, f64::max);
    let later = rss.iter().filter(|(t, _)| *t > 60.5).map(|(_, r)| *r).fold(f64::NAN, f64::max);
    let lowest = rss.iter().map(|(_, r)| *r).fold(f64::NAN, f64::min);
    let last = rss.last().map_or(f64::NAN, |(_, r)| *r);
    println!("\nresident memory: first sample {:.1} MB, lowest {lowest:.1}, highest in the first minute {first_minute:.1}, highest after it {later:.1}, last {last:.1}",
        rss.first().map_or(f64::NAN, |(_, r)| *r));
    if later.is_finite() && later - first_minute > args.rss_growth_mb {
        failures.push(format!(
            "resident memory grew by {:.1} MB after the first minute (bound {} MB)",
            later - first_minute,
            args.rss_growth_mb
        ));
    }

    // Actions and the rate cap.
    let actions = listener.actions.lock().unwrap().clone();
    let non_safety: Vec<u64> = actions.iter().filter(|a| a.2 < Priority::Safety).map(|a| a.1).collect();
    let safety = actions.len() - non_safety.len();
    let mut worst = 0usize;
    for (i, &t) in non_safety.iter().enumerate() {
        let in_window = non_safety[..=i].iter().filter(|&&s| t.saturating_sub(s) < 60_000).count();
        worst = worst.max(in_window);
    }
    let mut per_minute: BTreeMap<u64, (usize, usize)> = BTreeMap::new();
    for a in &actions {
        let e = per_minute.entry((a.0 / 60.0) as u64).or_default();
        if a.2 < Priority::Safety {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
    }
    let minutes: Vec<String> = per_minute.iter().map(|(m, (n, s))| format!("{m}:{n}+{s}")).collect();
    let mut by_strategy: BTreeMap<&str, usize> = BTreeMap::new();
    for a in &actions {
        *by_strategy.entry(a.3.as_str()).or_default() += 1;
    }
    println!(
        "actions: {} ({} non-safety, {safety} safety); per wall minute (non-safety+safety): {}",
        actions.len(),
        non_safety.len(),
        minutes.join(" ")
    );
    println!("actions by strategy: {by_strategy:?}");
    println!("most non-safety actions in any 60 s of engine time: {worst} (cap {cap})");
    println!("outcomes: {:?}", listener.outcomes.lock().unwrap());
    if worst > cap {
        failures.push(format!("{worst} non-safety actions within 60 s; the cap is {cap}"));
    }

    // Counting.
    let (ok, invalid, overloaded) = (
        told.ok.load(Ordering::Relaxed),
        told.invalid.load(Ordering::Relaxed),
        told.overloaded.load(Ordering::Relaxed),
    );
    println!(
        "samples: offered {} (sent {sent}, {:.0}/s), accepted {}, dropped {}, rejected {}; events dropped {}; listener failures {}; ticks {}",
        c.samples_offered, sent as f64 / elapsed, c.samples_accepted, c.samples_dropped, c.samples_rejected, c.events_dropped, c.listener_failures, c.ticks
    );
    if c.samples_offered != c.samples_accepted + c.samples_rejected + c.samples_dropped {
        failures.push("accepted + rejected + dropped != offered".into());
    }
    if (c.samples_accepted, c.samples_rejected, c.samples_dropped, c.samples_offered) != (ok, invalid, overloaded, sent)
    {
        failures.push(format!("counters {c:?} disagree with what the producers were told ({ok} ok, {invalid} invalid, {overloaded} overloaded of {sent})"));
    }
    let expected = args.rate as f64 * elapsed;
    if (sent as f64) < expected * 0.98 {
        failures.push(format!("the producers sent {sent} samples, under 98 % of the {expected:.0} due"));
    }

    if failures.is_empty() {
        println!("soak: PASS");
    } else {
        for f in &failures {
            println!("soak: FAIL: {f}");
        }
        std::process::exit(1);
    }
}

//! Footprint of a running optimizer (issue 13): memory, thread wake-ups and CPU time, measured on
//! the host (Linux) build as a proxy for an Android ABI: the same code and the same threads, but
//! the host's allocator, page size and scheduler, not a phone's.
//!
//! ```sh
//! cargo build --release --locked --example footprint
//! target/release/examples/footprint engine                          # the engine's own structures
//! target/release/examples/footprint run --minutes 15 --rate 0       # an idle optimizer
//! target/release/examples/footprint run --minutes 15 --rate 50      # fed 50 samples/s
//! target/release/examples/footprint run --minutes 15 --rate 50 --late-percent 3   # 3 % late
//! target/release/examples/footprint record-cost --samples 180000    # record's CPU on the app's thread
//! ```
//!
//! `engine` weighs, with a counting global allocator, what `Engine::new` with the default
//! configuration allocates, and what is live after ten simulated minutes at 50 samples/s
//! (the engine driven directly on a simulated clock, a tick every second).
//!
//! `run` starts the optimizer through the public API (`start_optimizer`, default configuration)
//! with a listener that acknowledges every action at once, and, with `--rate R > 0`, a producer
//! thread (the app's, not MeshTune's) that records R healthy deliveries a second (log-normal
//! latency, median 40 ms, p95 about 65 ms, under the default 100 ms deadline; 2 hops, 200 bytes),
//! so that nothing calls for a change (with `--late-percent P`, that share of them is late instead,
//! 500 ms: 3 % is a mesh within its 95 % SLO but near it). Every minute, and at the end, it reads for each thread of
//! the process `voluntary_ctxt_switches` (each one is the thread going to sleep, so one wake-up)
//! and `nonvoluntary_ctxt_switches` from `/proc/self/task/<tid>/status`, its CPU time on the
//! scheduler's nanosecond clock (`/proc/self/task/<tid>/schedstat`, first field), VmRSS from
//! `/proc/self/status`, and the live heap from the counting allocator. The summary scales the
//! runtime threads' (`meshtune-loop`, `meshtune-dispatch`) figures to one hour, over the whole run
//! and over the steady part after `--warmup-s` (default 120: the tick interval grows from 1 s to
//! its 30 s maximum in the first minute).

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use meshtune::{
    start_optimizer, ActionEvent, ActionListener, Engine, ListenerError, MetricSample, OptimizerConfig, OutcomeEvent,
    PerformanceOptimizer,
};

/// Counts live heap bytes, their peak and the number of allocations.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static ALLOCS: AtomicU64 = AtomicU64::new(0);

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on as it is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        grew(new_size);
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn kb(bytes: usize) -> f64 {
    bytes as f64 / 1024.0
}

/// splitmix64, for a reproducible stream of latencies.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        ((self.next() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }
    /// A healthy delivery: latency log-normal, median 40 ms, sigma 0.3 (p95 about 65 ms).
    fn delivery(&mut self) -> MetricSample {
        let (u1, u2) = (self.unit(), self.unit());
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        MetricSample::MessageDelivered { latency_ms: (40f64.ln() + 0.3 * z).exp(), hops: 2, bytes: 200 }
    }
}

fn engine() {
    println!("## The engine's own structures (default configuration; counting global allocator)\n");
    let config = OptimizerConfig::default();
    let (live0, allocs0) = (LIVE.load(Ordering::SeqCst), ALLOCS.load(Ordering::SeqCst));
    PEAK.store(live0, Ordering::SeqCst);
    let collector =
        meshtune::metrics::collector::MetricsCollector::new(config.window_ms, config.memory_pressure_hold_ms);
    let collector_bytes = LIVE.load(Ordering::SeqCst) - live0 + std::mem::size_of_val(&collector);
    drop(collector);
    let live0 = LIVE.load(Ordering::SeqCst);
    let mut engine = match Engine::new(config) {
        Ok(e) => e,
        Err(e) => panic!("default configuration refused: {e}"),
    };
    let inline = std::mem::size_of_val(&engine);
    let new_bytes = LIVE.load(Ordering::SeqCst) - live0 + inline;
    let new_allocs = ALLOCS.load(Ordering::SeqCst) - allocs0;
    let mut rng = Rng(13);
    let mut events = 0usize;
    for second in 1..=600u64 {
        for k in 0..50u64 {
            let t = (second - 1) * 1_000 + k * 20;
            if let Err(e) = engine.record(rng.delivery(), t) {
                panic!("record: {e}");
            }
        }
        events += engine.tick(second * 1_000).len();
    }
    let after = LIVE.load(Ordering::SeqCst) - live0 + std::mem::size_of_val(&engine);
    let peak = PEAK.load(Ordering::SeqCst) - live0;
    println!("| what | bytes | KB |");
    println!("|---|---|---|");
    println!("| `MetricsCollector::new` (the windows) | {collector_bytes} | {:.1} |", kb(collector_bytes));
    println!(
        "| `Engine::new` ({new_allocs} allocations; {inline} bytes of it the value itself) | {new_bytes} | {:.1} |",
        kb(new_bytes)
    );
    println!(
        "| the engine after 600 s at 50 samples/s, a tick a second ({} samples, {events} events) | {after} | {:.1} |",
        engine.snapshot().counters.samples_accepted,
        kb(after)
    );
    println!("| highest live heap since before `Engine::new`, above its start (the value itself not included) | {peak} | {:.1} |", kb(peak));
}

/// One thread's figures at one moment.
#[derive(Clone, Copy, Debug, Default)]
struct ThreadStat {
    voluntary: u64,
    involuntary: u64,
    cpu_ns: u64,
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn field(status: &str, key: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// (thread name, tid) → figures, for every thread of this process.
fn threads() -> BTreeMap<(String, u64), ThreadStat> {
    let mut out = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else { return out };
    for entry in dir.flatten() {
        let tid = entry.file_name().to_string_lossy().to_string();
        let base = format!("/proc/self/task/{tid}");
        let name = read(&format!("{base}/comm")).trim().to_owned();
        let status = read(&format!("{base}/status"));
        let cpu_ns = read(&format!("{base}/schedstat")).split_whitespace().next().and_then(|v| v.parse().ok());
        out.insert(
            (name, tid.parse().unwrap_or(0)),
            ThreadStat {
                voluntary: field(&status, "voluntary_ctxt_switches:"),
                involuntary: field(&status, "nonvoluntary_ctxt_switches:"),
                cpu_ns: cpu_ns.unwrap_or(0),
            },
        );
    }
    out
}

fn rss_kb() -> u64 {
    field(&read("/proc/self/status"), "VmRSS:")
}

#[derive(Default)]
struct Acknowledges {
    optimizer: OnceLock<Arc<PerformanceOptimizer>>,
    actions: AtomicU64,
    outcomes: AtomicU64,
}

impl ActionListener for Acknowledges {
    fn on_action(&self, event: ActionEvent) -> Result<(), ListenerError> {
        self.actions.fetch_add(1, Ordering::Relaxed);
        eprintln!("action: {:?} ({})", event.action, event.reason);
        if let Some(o) = self.optimizer.get() {
            let _ = o.report_action_result(event.id, true, None);
        }
        Ok(())
    }
    fn on_outcome(&self, event: OutcomeEvent) -> Result<(), ListenerError> {
        self.outcomes.fetch_add(1, Ordering::Relaxed);
        eprintln!("outcome: {event:?}");
        Ok(())
    }
}

struct Point {
    at_s: f64,
    rss_kb: u64,
    heap: usize,
    threads: BTreeMap<(String, u64), ThreadStat>,
}

fn point(start: Instant) -> Point {
    Point {
        at_s: start.elapsed().as_secs_f64(),
        rss_kb: rss_kb(),
        heap: LIVE.load(Ordering::SeqCst),
        threads: threads(),
    }
}

/// The runtime's threads as `/proc` names them (`comm` keeps 15 bytes: `meshtune-dispatch` is
/// `meshtune-dispat` there).
const RUNTIME_THREADS: [&str; 2] = ["meshtune-loop", "meshtune-dispat"];

/// The runtime threads' totals (and each one's) between two points, scaled to one hour.
fn per_hour(from: &Point, to: &Point) -> Vec<(String, f64, f64, f64)> {
    let hours = (to.at_s - from.at_s) / 3600.0;
    let mut rows = Vec::new();
    let mut total = (0.0, 0.0, 0.0);
    for name in RUNTIME_THREADS {
        let pick = |p: &Point| p.threads.iter().find(|((n, _), _)| n == name).map(|(_, s)| *s).unwrap_or_default();
        let (a, b) = (pick(from), pick(to));
        let vol = (b.voluntary - a.voluntary) as f64 / hours;
        let inv = (b.involuntary - a.involuntary) as f64 / hours;
        let cpu = (b.cpu_ns - a.cpu_ns) as f64 / 1e9 / hours;
        total = (total.0 + vol, total.1 + inv, total.2 + cpu);
        rows.push((name.to_owned(), vol, inv, cpu));
    }
    rows.push(("runtime (both)".to_owned(), total.0, total.1, total.2));
    rows
}

fn run(minutes: f64, rate: u64, warmup_s: f64, late_percent: f64) {
    let start = Instant::now();
    let before = point(start);
    let listener = Arc::new(Acknowledges::default());
    let optimizer = match start_optimizer(OptimizerConfig::default(), listener.clone()) {
        Ok(o) => o,
        Err(e) => panic!("start_optimizer: {e}"),
    };
    let _ = listener.optimizer.set(Arc::clone(&optimizer));
    let started = point(start);
    let stop = Arc::new(AtomicBool::new(false));
    let producer = (rate > 0).then(|| {
        let (opt, stop) = (Arc::clone(&optimizer), Arc::clone(&stop));
        std::thread::Builder::new()
            .name("app-producer".into())
            .spawn(move || {
                let mut rng = Rng(50);
                let period = Duration::from_nanos(1_000_000_000 / rate);
                let mut next = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    let mut sample = rng.delivery();
                    if rng.unit() * 100.0 < late_percent {
                        // Past the default 100 ms deadline: late, as a slow mesh's messages are.
                        sample = MetricSample::MessageDelivered { latency_ms: 500.0, hops: 2, bytes: 200 };
                    }
                    if let Err(e) = opt.record(sample) {
                        eprintln!("record: {e}");
                    }
                    next += period;
                    if let Some(wait) = next.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                }
            })
            .ok()
    });
    println!(
        "| minute | VmRSS KB | live heap KB | loop: voluntary / involuntary switches, CPU ms | dispatch: the same |"
    );
    println!("|---|---|---|---|---|");
    let end = Duration::from_secs_f64(minutes * 60.0);
    let mut warm: Option<Point> = None;
    let mut minute = 0u64;
    let last = loop {
        minute += 1;
        let next = Duration::from_secs(60 * minute).min(end);
        if let Some(wait) = next.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
        let p = point(start);
        let show = |name: &str| {
            p.threads.iter().find(|((n, _), _)| n == name).map_or("-".to_owned(), |(_, s)| {
                format!("{} / {}, {:.1}", s.voluntary, s.involuntary, s.cpu_ns as f64 / 1e6)
            })
        };
        println!(
            "| {:.1} | {} | {:.1} | {} | {} |",
            p.at_s / 60.0,
            p.rss_kb,
            kb(p.heap),
            show("meshtune-loop"),
            show("meshtune-dispat")
        );
        if start.elapsed() >= end {
            break p;
        }
        // The steady part starts at the first whole minute after the warm-up.
        if warm.is_none() && p.at_s + 0.5 >= warmup_s {
            warm = Some(p);
        }
    };
    stop.store(true, Ordering::Relaxed);
    if let Some(Some(h)) = producer {
        let _ = h.join();
    }
    let snap = optimizer.snapshot();
    optimizer.stop();
    println!();
    println!(
        "Run: {:.1} min, rate {rate} samples/s; counters: {} samples accepted, {} dropped, {} ticks, {} actions, {} outcomes; tick interval at the end {} ms",
        last.at_s / 60.0,
        snap.counters.samples_accepted,
        snap.counters.samples_dropped,
        snap.counters.ticks,
        listener.actions.load(Ordering::Relaxed),
        listener.outcomes.load(Ordering::Relaxed),
        snap.tick_interval_ms
    );
    println!(
        "Memory: VmRSS {} KB before start, {} KB after start, {} KB at the end; live heap {:.1} KB before, {:.1} KB after start, {:.1} KB at the end (peak {:.1} KB)",
        before.rss_kb,
        started.rss_kb,
        last.rss_kb,
        kb(before.heap),
        kb(started.heap),
        kb(last.heap),
        kb(PEAK.load(Ordering::SeqCst))
    );
    println!();
    println!("| span | thread | wake-ups (voluntary switches) per hour | involuntary per hour | CPU s per hour |");
    println!("|---|---|---|---|---|");
    let mut spans = vec![("whole run".to_owned(), &started, &last)];
    if let Some(w) = warm.as_ref() {
        spans.push((format!("after {:.0} s", w.at_s), w, &last));
    }
    for (span, from, to) in spans {
        for (name, vol, inv, cpu) in per_hour(from, to) {
            println!("| {span} ({:.1} min) | {name} | {vol:.0} | {inv:.0} | {cpu:.3} |", (to.at_s - from.at_s) / 60.0);
        }
    }
    // Other threads (the app's producer, the main thread that measures), for reference.
    for ((name, _), s) in &last.threads {
        if !RUNTIME_THREADS.contains(&name.as_str()) {
            println!(
                "| whole run, not the runtime's | {name} | total {} | total {} | total {:.3} s |",
                s.voluntary,
                s.involuntary,
                s.cpu_ns as f64 / 1e9
            );
        }
    }
}

/// CPU time of this thread so far, ns (the scheduler's clock).
fn own_cpu_ns() -> u64 {
    read("/proc/thread-self/schedstat").split_whitespace().next().and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// The caller's side of `record`: `n` healthy deliveries recorded back to back from this thread
/// into a default optimizer, the CPU time this thread spent on them (a tick's drain runs on the
/// loop thread, not here).
fn record_cost(n: u64) {
    let optimizer = match start_optimizer(OptimizerConfig::default(), Arc::new(Acknowledges::default())) {
        Ok(o) => o,
        Err(e) => panic!("start_optimizer: {e}"),
    };
    let mut rng = Rng(51);
    let samples: Vec<MetricSample> = (0..4096).map(|_| rng.delivery()).collect();
    let mut refused = 0u64;
    let before = own_cpu_ns();
    for i in 0..n {
        if optimizer.record(samples[i as usize % samples.len()].clone()).is_err() {
            refused += 1;
        }
    }
    let cpu = own_cpu_ns() - before;
    optimizer.stop();
    println!(
        "{n} records on the caller's thread: {:.1} ms of CPU, {:.0} ns per record, {refused} refused; at 50 samples/s that is {:.1} ms per hour",
        cpu as f64 / 1e6,
        cpu as f64 / n as f64,
        cpu as f64 / n as f64 * 50.0 * 3600.0 / 1e6
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str, default: f64| -> f64 {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    match args.first().map(String::as_str) {
        Some("engine") => engine(),
        Some("record-cost") => record_cost(value("--samples", 180_000.0) as u64),
        Some("run") => run(
            value("--minutes", 10.0),
            value("--rate", 50.0) as u64,
            value("--warmup-s", 120.0),
            value("--late-percent", 0.0),
        ),
        _ => {
            eprintln!(
                "usage: footprint engine | footprint run [--minutes M] [--rate SAMPLES_PER_S] [--warmup-s S] [--late-percent P] | footprint record-cost [--samples N]"
            );
            std::process::exit(2);
        }
    }
}

//! The quantile sketch against the `hdrhistogram` crate (ADR 6): memory per window, accuracy on
//! the same windows and the same data, and a harness for instruction counts under callgrind.
//! The timings are `benches/sketch_vs_hdr.rs`; the HDR window is `benches/support/hdr_window.rs`.
//!
//! ```sh
//! cargo run --release --locked --example sketch_vs_hdr                  # memory and accuracy
//! cargo build --release --locked --example sketch_vs_hdr
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/sketch_vs_hdr ops hour sketch 2            # then with 1: the difference is one hour
//! ```
//!
//! `ops OP IMPL N` runs N units of OP with IMPL (`sketch`, `hdr` = closed slots plus open slot
//! as the sketch's window, `hdr_total` = the running-total layout) and prints a checksum; run it
//! with two N and divide the difference of callgrind's instruction totals by the difference of
//! N (set-up cancels out). OPs: `record` (1 000 samples into one histogram), `window_record`
//! (1 000 samples into a window, +1 ms each), `merge_subtract` (a 500-sample slot added to and
//! subtracted from a six-slot aggregate), `summary` (p50, p95 and p99 of a full window),
//! `hour` (one hour at 50 samples/s, a summary every 30 s: an idle-ticking optimizer's window).

use std::alloc::{GlobalAlloc, Layout as AllocLayout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

use hdrhistogram::Histogram;
use meshtune::metrics::sketch::LogHistogram;
use meshtune::metrics::window::WindowedQuantiles;

#[path = "../benches/support/hdr_window.rs"]
mod hdr_window;

use hdr_window::{hdr, table, to_us, Dist, HdrWindow, Layout, SplitMix64};

/// Counts the bytes live on the heap, to weigh each structure by what it really allocates.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: AllocLayout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on as it is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: AllocLayout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: AllocLayout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: AllocLayout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// The default configuration's latency window (`OptimizerConfig::window_ms`,
/// `collector::WINDOW_SLOTS`).
const WINDOW_MS: u64 = 60_000;
const SLOTS: usize = meshtune::metrics::collector::WINDOW_SLOTS;

/// Heap bytes `make` leaves allocated, plus the value's own size.
fn weigh<T>(make: impl FnOnce() -> T) -> (usize, T) {
    let before = LIVE.load(Ordering::SeqCst);
    let value = make();
    let heap = LIVE.load(Ordering::SeqCst) - before;
    (heap + std::mem::size_of::<T>(), value)
}

fn memory() {
    println!("## Memory (heap allocated by the constructor + the value's own size; default window {WINDOW_MS} ms in {SLOTS} slots)\n");
    println!("| structure | bytes | histograms |");
    println!("|---|---|---|");
    let (b, h) = weigh(LogHistogram::new);
    println!("| `LogHistogram` | {b} | 1 |");
    drop(h);
    let (b, h) = weigh(hdr::<u64>);
    println!("| HDR `Histogram<u64>` (1 µs – 2^30 ms, 2 digits: {} counters) | {b} | 1 |", h.distinct_values());
    drop(h);
    let (b, h) = weigh(hdr::<u32>);
    println!("| HDR `Histogram<u32>` (the same, 32-bit counters) | {b} | 1 |");
    drop(h);
    let (b, hs) = weigh(|| (0..SLOTS + 2).map(|_| hdr::<u32>()).collect::<Vec<_>>());
    println!(
        "| {} HDR `Histogram<u32>` in a `Vec` (what a running-total window of 32-bit counters holds) | {b} | {} |",
        hs.len(),
        hs.len()
    );
    drop(hs);
    let (b, w) = weigh(|| WindowedQuantiles::new(WINDOW_MS, SLOTS));
    println!("| `WindowedQuantiles` (open slot, {SLOTS} closed, closed aggregate) | {b} | {} |", SLOTS + 2);
    drop(w);
    for (name, layout) in [
        ("HDR window, closed + open (and the query's scratch copy)", Layout::ClosedPlusOpen),
        ("HDR window, running total", Layout::RunningTotal),
    ] {
        let (b, w) = weigh(|| HdrWindow::new(WINDOW_MS, SLOTS, layout));
        println!("| {name} | {b} | {} |", w.histograms());
    }
    println!();
}

/// Nearest rank, as the sketch's `quantile` and HDR's `value_at_quantile`.
fn exact(sorted: &[f64], per_mille: u32) -> f64 {
    let k = (per_mille as usize * sorted.len()).div_ceil(1000).clamp(1, sorted.len());
    sorted[k - 1]
}

#[derive(Default, Clone, Copy)]
struct RelErr {
    max: f64,
    sum: f64,
    n: u64,
}

impl RelErr {
    fn add(&mut self, est: f64, exact: f64) {
        let rel = (est - exact).abs() / exact;
        self.max = self.max.max(rel);
        self.sum += rel;
        self.n += 1;
    }
}

/// Both windows (and the exact samples of the window) fed the same stream at `rate` samples/s
/// for `minutes`; from the second minute on, once a second, p50/p95/p99 of each against the
/// exact nearest-rank quantile of the samples the window holds.
fn accuracy(dist: Dist, rate: u64, minutes: u64, seed: u64) -> [[RelErr; 3]; 3] {
    let mut rng = SplitMix64(seed);
    let mut sketch = WindowedQuantiles::new(WINDOW_MS, SLOTS);
    let mut hdr_w = HdrWindow::new(WINDOW_MS, SLOTS, Layout::RunningTotal);
    let slot_ms = WINDOW_MS.div_ceil(SLOTS as u64);
    let mut live: std::collections::VecDeque<(u64, f64)> = std::collections::VecDeque::new();
    let mut errs = [[RelErr::default(); 3]; 3]; // [implementation][quantile]
    let step_us = 1_000_000 / rate;
    let end_ms = minutes * 60_000;
    let (mut t_us, mut next_query) = (0u64, 60_000u64);
    let mut sorted = Vec::new();
    while t_us / 1000 < end_ms {
        t_us += step_us;
        let t = t_us / 1000;
        while t >= next_query {
            let q = next_query;
            next_query += 1_000;
            sketch.advance(q);
            hdr_w.advance(q);
            let oldest = q.saturating_sub(WINDOW_MS - 1) / slot_ms;
            while live.front().is_some_and(|&(slot, _)| slot < oldest) {
                live.pop_front();
            }
            sorted.clear();
            sorted.extend(live.iter().map(|&(_, v)| v));
            sorted.sort_by(f64::total_cmp);
            assert_eq!(sketch.count(), sorted.len() as u64);
            assert_eq!(hdr_w.count(), sorted.len() as u64);
            let hq = hdr_w.quantiles(&[0.5, 0.95, 0.99]);
            for (j, pm) in [500u32, 950, 990].into_iter().enumerate() {
                let x = exact(&sorted, pm);
                errs[0][j].add(sketch.quantile(pm).unwrap_or(f64::NAN), x);
                let h = hq[j].unwrap_or(f64::NAN);
                errs[1][j].add(h, x);
                // The midpoint of HDR's bucket (`median_equivalent`), which an app could use instead.
                let mid = hdr_w_median_equivalent(h);
                errs[2][j].add(mid, x);
            }
        }
        let v = dist.sample(&mut rng);
        sketch.record(v, t);
        hdr_w.record(v, t);
        live.push_back((t / slot_ms, v));
    }
    errs
}

/// `median_equivalent` of a value HDR returned (in ms), with the comparison's bounds.
fn hdr_w_median_equivalent(ms: f64) -> f64 {
    thread_local!(static H: Histogram<u64> = hdr());
    H.with(|h| h.median_equivalent(to_us(ms)) as f64 / 1_000.0)
}

fn accuracy_tables() {
    println!("## Accuracy: relative error against the exact nearest-rank quantile of the window's samples\n");
    println!("Both windows get the same stream; from minute 1 on, once a second, p50/p95/p99 of each are compared");
    println!("with the exact quantile of the samples the window holds. Max and mean over the queries.\n");
    println!("| distribution | samples/s | queries | quantile | sketch max | sketch mean | HDR max | HDR mean | HDR midpoint max | HDR midpoint mean |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (i, dist) in Dist::ALL.into_iter().enumerate() {
        for (rate, minutes) in [(50u64, 30u64), (1_000, 10)] {
            let errs = accuracy(dist, rate, minutes, 0xACC0 + i as u64);
            for (j, q) in ["p50", "p95", "p99"].into_iter().enumerate() {
                let pct = |e: &RelErr| (100.0 * e.max, 100.0 * e.sum / e.n as f64);
                let ((smx, smn), (hmx, hmn), (mmx, mmn)) = (pct(&errs[0][j]), pct(&errs[1][j]), pct(&errs[2][j]));
                println!(
                    "| {} | {rate} | {} | {q} | {smx:.3} % | {smn:.3} % | {hmx:.3} % | {hmn:.3} % | {mmx:.3} % | {mmn:.3} % |",
                    dist.name(),
                    errs[0][j].n
                );
            }
        }
    }
    println!();
}

/// `ops OP IMPL N`: N units of work for callgrind (see the module docs).
fn ops(op: &str, imp: &str, n: u64) -> Result<u64, String> {
    const TABLE: usize = 4096;
    let values = table(Dist::Lognormal, TABLE, 7);
    let layout = match imp {
        "sketch" => None,
        "hdr" => Some(Layout::ClosedPlusOpen),
        "hdr_total" => Some(Layout::RunningTotal),
        other => return Err(format!("unknown implementation {other}")),
    };
    let mut check = 0u64;
    match (op, layout) {
        ("record", None) => {
            let mut h = LogHistogram::new();
            for i in 0..n * 1_000 {
                h.record(black_box(values[i as usize & (TABLE - 1)]));
            }
            check += h.count();
        }
        ("record", Some(_)) => {
            let mut h: Histogram<u64> = hdr();
            for i in 0..n * 1_000 {
                h.saturating_record(to_us(black_box(values[i as usize & (TABLE - 1)])));
            }
            check += h.len();
        }
        ("window_record", None) => {
            let mut w = WindowedQuantiles::new(WINDOW_MS, SLOTS);
            for i in 0..n * 1_000 {
                w.record(black_box(values[i as usize & (TABLE - 1)]), i + 1);
            }
            check += w.count();
        }
        ("window_record", Some(l)) => {
            let mut w = HdrWindow::new(WINDOW_MS, SLOTS, l);
            for i in 0..n * 1_000 {
                w.record(black_box(values[i as usize & (TABLE - 1)]), i + 1);
            }
            check += w.count();
        }
        ("merge_subtract", None) => {
            let (mut agg, mut slot) = (LogHistogram::new(), LogHistogram::new());
            values.iter().take(3_000).for_each(|&v| agg.record(v));
            values.iter().skip(3_000).take(500).for_each(|&v| slot.record(v));
            for _ in 0..n {
                agg.merge_from(black_box(&slot));
                agg.subtract(black_box(&slot));
            }
            check += agg.count();
        }
        ("merge_subtract", Some(_)) => {
            let (mut agg, mut slot): (Histogram<u64>, Histogram<u64>) = (hdr(), hdr());
            values.iter().take(3_000).for_each(|&v| agg.saturating_record(to_us(v)));
            values.iter().skip(3_000).take(500).for_each(|&v| slot.saturating_record(to_us(v)));
            for _ in 0..n {
                agg.add(black_box(&slot)).map_err(|e| format!("{e:?}"))?;
                agg.subtract(black_box(&slot)).map_err(|e| format!("{e:?}"))?;
            }
            check += agg.len();
        }
        ("summary", None) => {
            let mut w = WindowedQuantiles::new(WINDOW_MS, SLOTS);
            (1..=125_000u64).for_each(|t| w.record(values[t as usize & (TABLE - 1)], t));
            for _ in 0..n {
                check += black_box(&w).summary().map_or(0, |s| s.p99_ms as u64);
            }
        }
        ("summary", Some(l)) => {
            let mut w = HdrWindow::new(WINDOW_MS, SLOTS, l);
            (1..=125_000u64).for_each(|t| w.record(values[t as usize & (TABLE - 1)], t));
            for _ in 0..n {
                check += black_box(&w).quantiles(&[0.5, 0.95, 0.99])[2].unwrap_or(0.0) as u64;
            }
        }
        ("hour", l) => {
            // 50 samples/s (one every 20 ms) and a summary every 30 s (the idle tick), N hours.
            let mut sketch = l.is_none().then(|| WindowedQuantiles::new(WINDOW_MS, SLOTS));
            let mut w = l.map(|l| HdrWindow::new(WINDOW_MS, SLOTS, l));
            for k in 1..=n * 180_000 {
                let (t, v) = (k * 20, values[k as usize & (TABLE - 1)]);
                if let Some(s) = sketch.as_mut() {
                    s.record(v, t);
                    if t % 30_000 == 0 {
                        check += s.summary().map_or(0, |s| s.p99_ms as u64);
                    }
                }
                if let Some(w) = w.as_mut() {
                    w.record(v, t);
                    if t % 30_000 == 0 {
                        check += w.quantiles(&[0.5, 0.95, 0.99])[2].unwrap_or(0.0) as u64;
                    }
                }
            }
        }
        (other, _) => return Err(format!("unknown op {other}")),
    }
    Ok(check)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("ops") {
        let n = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1);
        match ops(args.get(1).map_or("", String::as_str), args.get(2).map_or("", String::as_str), n) {
            Ok(check) => println!("checksum {check}"),
            Err(e) => {
                eprintln!("{e}; usage: sketch_vs_hdr [ops OP IMPL N]");
                std::process::exit(2);
            }
        }
        return;
    }
    memory();
    accuracy_tables();
}

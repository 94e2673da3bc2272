//! MeshTune's quantile sketch (`LogHistogram`, `WindowedQuantiles`) against the `hdrhistogram`
//! crate on the same windows and the same data (issue 13; the decision is ADR 6). Timings only;
//! accuracy, memory and instruction counts are `examples/sketch_vs_hdr.rs`.
//!
//! ```text
//! cargo bench --bench sketch_vs_hdr --locked -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! The HDR side and the equivalence of range and precision are in `benches/support/hdr_window.rs`
//! (1 µs to 2^30 ms, 2 significant digits: 0.78 % worst case, as the sketch). Each pair (or
//! triple) of benchmarks runs in one group, one after the other, so that they see the same machine.
//!
//! Groups:
//! * `hdr/record`: one sample into one histogram (the hot path's histogram write).
//! * `hdr/window_record`: one sample into a 60 s window of 6 slots, +1 ms per call (rotations
//!   every 10 000 calls included, as `parts/windowed_quantiles_record` in `benches/core.rs`).
//! * `hdr/merge_subtract/<n>`: a slot of `n` samples added into and subtracted from an aggregate
//!   of six such slots: what a window does when a slot closes and one expires (every 10 s).
//!   `n` = 500 is 50 samples/s, 10 000 is 1 000 samples/s.
//! * `hdr/p95` and `hdr/summary`: p95, and p50 + p95 + p99 together (what a tick's summary
//!   reads), on a full window (65 000 samples: six closed slots and half an open one).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use hdrhistogram::Histogram;
use meshtune::metrics::sketch::LogHistogram;
use meshtune::metrics::window::WindowedQuantiles;

#[path = "support/hdr_window.rs"]
mod hdr_window;

use hdr_window::{hdr, table, to_us, Dist, HdrWindow, Layout};

const TABLE: usize = 4096;
const WINDOW_MS: u64 = 60_000;
const SLOTS: usize = 6;

fn record(c: &mut Criterion) {
    let values = table(Dist::Lognormal, TABLE, 1);
    let mut g = c.benchmark_group("hdr/record");
    let mut sketch = LogHistogram::new();
    let mut i = 0usize;
    g.bench_function("sketch", |b| {
        b.iter(|| {
            i = (i + 1) & (TABLE - 1);
            sketch.record(black_box(values[i]));
        })
    });
    let mut h: Histogram<u64> = hdr();
    g.bench_function("hdr", |b| {
        b.iter(|| {
            i = (i + 1) & (TABLE - 1);
            h.saturating_record(to_us(black_box(values[i])));
        })
    });
    g.finish();
    black_box((sketch.count(), h.len()));
}

fn window_record(c: &mut Criterion) {
    let values = table(Dist::Lognormal, TABLE, 2);
    let mut g = c.benchmark_group("hdr/window_record");
    let (mut i, mut t) = (0usize, 0u64);
    let mut sketch = WindowedQuantiles::new(WINDOW_MS, SLOTS);
    g.bench_function("sketch", |b| {
        b.iter(|| {
            i = (i + 1) & (TABLE - 1);
            t += 1;
            sketch.record(black_box(values[i]), t);
        })
    });
    for (name, layout) in
        [("hdr_closed_plus_open", Layout::ClosedPlusOpen), ("hdr_running_total", Layout::RunningTotal)]
    {
        let mut w = HdrWindow::new(WINDOW_MS, SLOTS, layout);
        let mut t = 0u64;
        g.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) & (TABLE - 1);
                t += 1;
                w.record(black_box(values[i]), t);
            })
        });
        black_box(w.count());
    }
    g.finish();
    black_box(sketch.count());
}

fn merge_subtract(c: &mut Criterion) {
    for n in [500usize, 10_000] {
        let values = table(Dist::Lognormal, n * 7, 3);
        let mut g = c.benchmark_group(format!("hdr/merge_subtract/{n}"));
        let (mut agg, mut slot) = (LogHistogram::new(), LogHistogram::new());
        values[..6 * n].iter().for_each(|&v| agg.record(v));
        values[6 * n..].iter().for_each(|&v| slot.record(v));
        g.bench_function("sketch", |b| {
            b.iter(|| {
                agg.merge_from(black_box(&slot));
                agg.subtract(black_box(&slot));
            })
        });
        let (mut hagg, mut hslot): (Histogram<u64>, Histogram<u64>) = (hdr(), hdr());
        values[..6 * n].iter().for_each(|&v| hagg.saturating_record(to_us(v)));
        values[6 * n..].iter().for_each(|&v| hslot.saturating_record(to_us(v)));
        g.bench_function("hdr", |b| {
            b.iter(|| {
                let _ = hagg.add(black_box(&hslot));
                let _ = hagg.subtract(black_box(&hslot));
            })
        });
        g.finish();
        black_box((agg.count(), hagg.len()));
    }
}

/// The three windows after 125 000 samples at one per ms (six closed slots, half an open one).
fn full_windows() -> (WindowedQuantiles, HdrWindow, HdrWindow) {
    let values = table(Dist::Lognormal, TABLE, 4);
    let mut sketch = WindowedQuantiles::new(WINDOW_MS, SLOTS);
    let mut a = HdrWindow::new(WINDOW_MS, SLOTS, Layout::ClosedPlusOpen);
    let mut b = HdrWindow::new(WINDOW_MS, SLOTS, Layout::RunningTotal);
    for t in 1..=125_000u64 {
        let v = values[t as usize & (TABLE - 1)];
        sketch.record(v, t);
        a.record(v, t);
        b.record(v, t);
    }
    assert_eq!(sketch.count(), a.count());
    assert_eq!(sketch.count(), b.count());
    (sketch, a, b)
}

fn queries(c: &mut Criterion) {
    let (sketch, a, b) = full_windows();
    let mut g = c.benchmark_group("hdr/p95");
    g.bench_function("sketch", |bch| bch.iter(|| black_box(&sketch).quantile(950)));
    g.bench_function("hdr_closed_plus_open", |bch| bch.iter(|| black_box(&a).quantile(0.95)));
    g.bench_function("hdr_running_total", |bch| bch.iter(|| black_box(&b).quantile(0.95)));
    g.finish();
    let mut g = c.benchmark_group("hdr/summary");
    g.bench_function("sketch", |bch| bch.iter(|| black_box(&sketch).summary()));
    let qs = [0.5, 0.95, 0.99];
    g.bench_function("hdr_closed_plus_open", |bch| bch.iter(|| black_box(&a).quantiles(&qs)));
    g.bench_function("hdr_running_total", |bch| bch.iter(|| black_box(&b).quantiles(&qs)));
    g.finish();
}

criterion_group!(benches, record, window_record, merge_subtract, queries);
criterion_main!(benches);

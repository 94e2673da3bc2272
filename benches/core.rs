//! Criterion benchmarks of MeshTune's hot paths, and of the ancestor's method for comparison.
//!
//! Run everything in one go (about a minute on 2 cores):
//!
//! ```text
//! cargo bench --bench core -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Groups (see BENCHMARKS.md for exactly what each one times):
//! * `record/one`: `Engine::record` of one `MessageDelivered`, +1 ms per call.
//! * `record/batch100`: `Engine::record_batch` of 100 samples (throughput per sample).
//! * `query/p95`: `WindowedQuantiles::quantile(950)` on a full 60 s window; `query/snapshot`:
//!   `Engine::snapshot`; `query/collector_metrics`: `MetricsCollector::metrics` (what a tick
//!   builds first).
//! * `tick/all_strategies`: one `Engine::tick`, with data in every window so that all five
//!   built-in strategies evaluate and propose.
//! * `ancestor/record_sorted_1000`: the ancestor's method, a `VecDeque<f64>` capped at 1000
//!   samples copied to a `Vec` and sorted on every insert.
//! * `parts/*`: the building blocks of `record/one`, for diagnosis.

use std::collections::VecDeque;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use meshtune::metrics::collector::MetricsCollector;
use meshtune::metrics::sketch::LogHistogram;
use meshtune::metrics::window::{WindowedQuantiles, WindowedSum};
use meshtune::{Engine, EngineEvent, MetricSample, OptimizerConfig, ThermalState};

/// Length of the pre-computed table of latencies (a power of two, indexed with a mask).
const TABLE: usize = 4096;

/// splitmix64: a tiny deterministic PRNG, so every run measures the same inputs.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    /// Log-normal latency in ms: median `e^mu`, spread `sigma` (a BLE mesh hop is tens of ms,
    /// with a long tail of retries).
    fn lognormal(&mut self, mu: f64, sigma: f64) -> f64 {
        let (u1, u2) = (self.unit(), self.unit());
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        (mu + sigma * z).exp().min(60_000.0)
    }
}

/// Realistic mesh deliveries: latency log-normal around 55 ms (p95 ≈ 150 ms, above the
/// default 100 ms target), 1–6 hops, 20–244 bytes.
fn delivered_table(seed: u64) -> Vec<MetricSample> {
    let mut rng = SplitMix64(seed);
    (0..TABLE)
        .map(|_| MetricSample::MessageDelivered {
            latency_ms: rng.lognormal(4.0, 0.6),
            hops: 1 + (rng.next_u64() % 6) as u32,
            bytes: 20 + (rng.next_u64() % 225) as u32,
        })
        .collect()
}

/// An engine that has seen two minutes of traffic at one delivery per ms (plus the other
/// sample kinds), so every window is full and slots have rotated. Returns the next timestamp.
fn warmed_engine(table: &[MetricSample]) -> (Engine, u64) {
    let mut engine = Engine::new(OptimizerConfig::default()).expect("default config is valid");
    let mut t = 0u64;
    for i in 0..120_000usize {
        engine.record(table[i % TABLE].clone(), t).expect("valid sample");
        if i % 1_000 == 0 {
            feed_other_kinds(&mut engine, t, i as u64 / 1_000);
        }
        t += 1;
    }
    (engine, t)
}

/// One second's worth of everything but deliveries: losses, consensus rounds (throughput
/// under target), heap above the pressure ratio, a low unplugged battery, thermal Fair, RSSI,
/// peer counts.
fn feed_other_kinds(engine: &mut Engine, t: u64, second: u64) {
    let samples = [
        MetricSample::MessageLost { hops: 4 },
        MetricSample::ConsensusRound {
            proposal_ms: 40.0,
            vote_ms: 60.0,
            finalization_ms: 250.0 + (second % 7) as f64 * 40.0,
            operations: 10,
        },
        MetricSample::ConsensusRound { proposal_ms: 45.0, vote_ms: 55.0, finalization_ms: 300.0, operations: 12 },
        MetricSample::Heap { used_mb: 440.0 + (second % 5) as f64, limit_mb: 512.0 },
        MetricSample::Battery { level_percent: 15.0, charging: false },
        MetricSample::Thermal { state: ThermalState::Fair },
        MetricSample::LinkRssi { peer_id: "peer-7".to_owned(), rssi_dbm: -70 },
        MetricSample::PeerCount { connected: 4, discovered: 9 },
        MetricSample::ConnectionEstablished { duration_ms: 350.0 },
        MetricSample::PeerDiscovered { duration_ms: 1_200.0 },
    ];
    for s in samples {
        engine.record(s, t).expect("valid sample");
    }
}

fn bench_record(c: &mut Criterion) {
    let table = delivered_table(0x5EED);
    let mut group = c.benchmark_group("record");

    // The app builds each sample from its callback's figures.
    let figures: Vec<(f64, u32, u32)> = table
        .iter()
        .map(|s| match *s {
            MetricSample::MessageDelivered { latency_ms, hops, bytes } => (latency_ms, hops, bytes),
            _ => (0.0, 0, 0),
        })
        .collect();
    let (mut engine, mut t) = warmed_engine(&table);
    let mut i = 0usize;
    group.throughput(Throughput::Elements(1));
    group.bench_function("one", |b| {
        b.iter(|| {
            let (latency_ms, hops, bytes) = figures[i & (TABLE - 1)];
            let sample = MetricSample::MessageDelivered { latency_ms, hops, bytes };
            i = i.wrapping_add(1);
            t += 1;
            engine.record(sample, t).is_ok()
        })
    });
    // Everything recorded is observable afterwards: nothing above may be optimized away.
    black_box(&engine);

    let (mut engine, mut t) = warmed_engine(&table);
    let mut next = 0usize;
    group.throughput(Throughput::Elements(100));
    group.bench_function("batch100", |b| {
        b.iter_batched(
            || {
                let start = next;
                next = next.wrapping_add(100);
                (0..100).map(|k| table[(start + k) & (TABLE - 1)].clone()).collect::<Vec<_>>()
            },
            |batch| {
                // A batch arrives every 100 ms at 1 delivery per ms.
                t += 100;
                engine.record_batch(batch, t).is_ok()
            },
            BatchSize::SmallInput,
        )
    });
    black_box(&engine);
    group.finish();
}

fn bench_query(c: &mut Criterion) {
    let table = delivered_table(0xC0FFEE);
    let latencies: Vec<f64> = table
        .iter()
        .map(|s| match s {
            MetricSample::MessageDelivered { latency_ms, .. } => *latency_ms,
            _ => 0.0,
        })
        .collect();
    let mut group = c.benchmark_group("query");

    // A full 60 s window at one sample per ms, stopped mid-slot so the open slot holds data.
    let mut window = WindowedQuantiles::new(60_000, 6);
    for t in 0..125_000u64 {
        window.record(latencies[t as usize & (TABLE - 1)], t);
    }
    assert!(window.count() > 60_000, "the window is full");
    group.bench_function("p95", |b| b.iter(|| black_box(&window).quantile(black_box(950))));

    let (mut engine, t) = warmed_engine(&table);
    engine.tick(t);
    group.bench_function("snapshot", |b| b.iter(|| black_box(&engine).snapshot()));

    let mut collector = MetricsCollector::new(60_000, 60_000);
    for (k, s) in table.iter().cycle().take(125_000).enumerate() {
        collector.record(s, k as u64);
        if k % 1_000 == 0 {
            collector.record(
                &MetricSample::ConsensusRound {
                    proposal_ms: 40.0,
                    vote_ms: 60.0,
                    finalization_ms: 300.0,
                    operations: 10,
                },
                k as u64,
            );
            collector.record(&MetricSample::ConnectionEstablished { duration_ms: 350.0 }, k as u64);
            collector.record(&MetricSample::PeerDiscovered { duration_ms: 1_200.0 }, k as u64);
        }
    }
    group.bench_function("collector_metrics", |b| b.iter(|| black_box(&collector).metrics()));
    group.finish();
}

fn bench_tick(c: &mut Criterion) {
    let table = delivered_table(0xBEEF);
    let mut group = c.benchmark_group("tick");
    let (mut engine, mut t) = warmed_engine(&table);
    let mut i = 0usize;
    let mut second = 120u64;
    let mut total_events = 0u64;
    let mut ticks = 0u64;
    group.bench_function("all_strategies", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                // Untimed: one second of traffic (20 deliveries + the other kinds).
                for _ in 0..20 {
                    t += 50;
                    engine.record(table[i & (TABLE - 1)].clone(), t).expect("valid sample");
                    i = i.wrapping_add(1);
                }
                feed_other_kinds(&mut engine, t, second);
                second += 1;
                // Timed: the tick alone (the returned events are dropped after the clock stops).
                let start = Instant::now();
                let events = engine.tick(black_box(t));
                timed += start.elapsed();
                // Untimed: the app applies every action, so verifications run and end.
                ticks += 1;
                total_events += events.len() as u64;
                for e in events {
                    if let EngineEvent::Action(a) = e {
                        engine.report_action_result(a.id, true, None, t).expect("pending action");
                    }
                }
            }
            timed
        })
    });
    group.finish();
    let snap = engine.snapshot();
    println!(
        "tick/all_strategies: {ticks} ticks timed, {total_events} events in all; engaged at the end: {:?}",
        snap.engaged_strategies
    );
}

/// The ancestor's method: samples in a `VecDeque<f64>` capped at 1000, and on every insert a
/// copy into a `Vec` that is sorted to read fresh percentiles.
struct AncestorSorted {
    samples: VecDeque<f64>,
    p50: f64,
    p95: f64,
    p99: f64,
}

impl AncestorSorted {
    const CAP: usize = 1_000;

    fn record(&mut self, value: f64) {
        if self.samples.len() == Self::CAP {
            self.samples.pop_front();
        }
        self.samples.push_back(value);
        let mut sorted: Vec<f64> = self.samples.iter().copied().collect();
        sorted.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        let at = |q: f64| sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)];
        self.p50 = at(0.50);
        self.p95 = at(0.95);
        self.p99 = at(0.99);
    }
}

fn bench_ancestor(c: &mut Criterion) {
    let mut rng = SplitMix64(0xA5CE);
    let latencies: Vec<f64> = (0..TABLE).map(|_| rng.lognormal(4.0, 0.6)).collect();
    let mut ancestor =
        AncestorSorted { samples: VecDeque::with_capacity(AncestorSorted::CAP), p50: 0.0, p95: 0.0, p99: 0.0 };
    for &v in &latencies[..AncestorSorted::CAP] {
        ancestor.record(v);
    }
    let mut i = 0usize;
    let mut group = c.benchmark_group("ancestor");
    group.throughput(Throughput::Elements(1));
    group.bench_function("record_sorted_1000", |b| {
        b.iter(|| {
            ancestor.record(black_box(latencies[i & (TABLE - 1)]));
            i = i.wrapping_add(1);
            black_box(ancestor.p95)
        })
    });
    group.finish();
    black_box((ancestor.p50, ancestor.p99));
}

fn bench_parts(c: &mut Criterion) {
    let mut rng = SplitMix64(0x9A27);
    let latencies: Vec<f64> = (0..TABLE).map(|_| rng.lognormal(4.0, 0.6)).collect();
    let mut group = c.benchmark_group("parts");
    group.throughput(Throughput::Elements(1));

    let mut h = LogHistogram::new();
    let mut i = 0usize;
    group.bench_function("histogram_record", |b| {
        b.iter(|| {
            h.record(black_box(latencies[i & (TABLE - 1)]));
            i = i.wrapping_add(1);
        })
    });

    let mut q = WindowedQuantiles::new(60_000, 6);
    let mut t = 0u64;
    group.bench_function("windowed_quantiles_record", |b| {
        b.iter(|| {
            t += 1;
            q.record(black_box(latencies[t as usize & (TABLE - 1)]), black_box(t));
        })
    });

    let mut s = WindowedSum::new(60_000, 6);
    let mut t = 0u64;
    group.bench_function("windowed_sum_record", |b| {
        b.iter(|| {
            t += 1;
            s.record(black_box(3.0), black_box(t));
        })
    });
    group.finish();
}

/// What the loop pays once per tick to sample the process (`sample_process`, on by default).
fn bench_process(c: &mut Criterion) {
    let mut group = c.benchmark_group("process");
    let mut sampler = meshtune::platform::process::ProcessSampler::new();
    group.bench_function("sample", |b| b.iter(|| black_box(sampler.sample())));
    group.finish();
}

criterion_group!(benches, bench_record, bench_query, bench_tick, bench_ancestor, bench_parts, bench_process);
criterion_main!(benches);

//! The `hdrhistogram` crate on MeshTune's windows, for the comparison of ADR 6 only: shared by
//! `benches/sketch_vs_hdr.rs` (criterion timings) and `examples/sketch_vs_hdr.rs` (accuracy,
//! memory, instruction counts). Never part of the library.
//!
//! Equivalence with `LogHistogram` (`src/metrics/sketch.rs`): the sketch covers
//! 2^-10 ms (0.98 µs) to 2^30 ms (12.4 days) with 64 sub-buckets per octave, reporting the
//! bucket's midpoint: at most 0.5/64 = 0.78 % relative error. The HDR histogram here counts
//! integer microseconds from 1 µs to 2^30 ms = 1 073 741 824 000 µs with 2 significant digits:
//! 256 sub-buckets of which 128 per octave above the first, reporting the highest value
//! equivalent to the bucket, so at most one bucket width, 1/128 = 0.78 % above the exact
//! value. Same worst-case relative error bound, same range (below 128 µs its buckets are 1 µs
//! wide: an absolute error of at most 1 µs there, which the sketch does not have).

#![allow(dead_code)] // each of the two users uses a part

use hdrhistogram::Histogram;

/// Lowest value the HDR histogram distinguishes: 1 µs (the sketch: 2^-10 ms = 0.977 µs).
pub const HDR_LOW_US: u64 = 1;
/// Highest trackable value: 2^30 ms in µs, the sketch's upper end.
pub const HDR_HIGH_US: u64 = (1u64 << 30) * 1_000;
/// Significant digits: 2 gives 1/128 = 0.78 % worst case, the sketch's 0.5/64.
pub const HDR_SIGFIG: u8 = 2;

/// A new HDR histogram with the bounds above (counters of type `T`).
pub fn hdr<T: hdrhistogram::Counter>() -> Histogram<T> {
    match Histogram::new_with_bounds(HDR_LOW_US, HDR_HIGH_US, HDR_SIGFIG) {
        Ok(h) => h,
        Err(e) => panic!("hdrhistogram bounds refused: {e:?}"),
    }
}

/// A latency in ms as the HDR histogram's integer microseconds (values past the range are
/// clamped by `saturating_record`).
#[inline(always)]
pub fn to_us(ms: f64) -> u64 {
    (ms * 1_000.0).round() as u64
}

/// How the window answers a quantile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// As `WindowedQuantiles`: the open slot plus an aggregate of the closed slots (added when a
    /// slot closes, subtracted when it expires). HDR has no query over two histograms, so a
    /// query copies the aggregate into a scratch histogram and adds the open slot.
    ClosedPlusOpen,
    /// The layout HDR suggests: every sample is recorded twice, into its slot and into a running
    /// total of the window; an expiring slot is subtracted from the total. A query reads the
    /// total only.
    RunningTotal,
}

struct Slot {
    index: u64,
    live: bool,
    hist: Histogram<u64>,
}

impl Slot {
    fn new() -> Self {
        Slot { index: 0, live: false, hist: hdr() }
    }
}

/// `WindowedQuantiles`' slot semantics (`src/metrics/window.rs`) over HDR histograms:
/// `window_ms` in `slots` slots of `ceil(window_ms / slots)`, a slot expires once it lies
/// entirely before `latest - window_ms`, so the ring holds `slots` closed slots and the open one.
pub struct HdrWindow {
    layout: Layout,
    window_ms: u64,
    slot_ms: u64,
    latest_ms: u64,
    next_check_ms: u64,
    open: Slot,
    ring: Vec<Slot>,
    /// ClosedPlusOpen: the closed live slots; RunningTotal: every live sample.
    agg: Histogram<u64>,
    /// ClosedPlusOpen only: where a query merges the aggregate and the open slot.
    scratch: Option<std::cell::RefCell<Histogram<u64>>>,
}

impl HdrWindow {
    pub fn new(window_ms: u64, slots: usize, layout: Layout) -> Self {
        let slot_ms = window_ms.div_ceil(slots as u64);
        let spanned = window_ms.div_ceil(slot_ms) as usize;
        HdrWindow {
            layout,
            window_ms,
            slot_ms,
            latest_ms: 0,
            next_check_ms: 0,
            open: Slot::new(),
            ring: (0..spanned).map(|_| Slot::new()).collect(),
            agg: hdr(),
            scratch: (layout == Layout::ClosedPlusOpen).then(|| std::cell::RefCell::new(hdr())),
        }
    }

    /// Histograms this window holds (for the memory comparison).
    pub fn histograms(&self) -> usize {
        self.ring.len() + 2 + usize::from(self.scratch.is_some())
    }

    #[inline]
    pub fn record(&mut self, value_ms: f64, at_ms: u64) {
        self.advance(at_ms);
        let v = to_us(value_ms);
        self.open.hist.saturating_record(v);
        if self.layout == Layout::RunningTotal {
            self.agg.saturating_record(v);
        }
    }

    #[inline]
    pub fn advance(&mut self, now_ms: u64) {
        if now_ms < self.next_check_ms {
            self.latest_ms = self.latest_ms.max(now_ms);
        } else {
            self.rotate(now_ms);
        }
    }

    #[cold]
    #[inline(never)]
    fn rotate(&mut self, now_ms: u64) {
        let now_ms = now_ms.max(self.latest_ms);
        self.latest_ms = now_ms;
        let cur = now_ms / self.slot_ms;
        let oldest = now_ms.saturating_sub(self.window_ms - 1) / self.slot_ms;
        for slot in self.ring.iter_mut().filter(|s| s.live && s.index < oldest) {
            subtract(&mut self.agg, &slot.hist);
            slot.hist.reset();
            slot.live = false;
        }
        if !self.open.live || self.open.index != cur {
            let prev = self.open.index;
            if self.open.live && !self.open.hist.is_empty() {
                if prev >= oldest {
                    let pos = (prev % self.ring.len() as u64) as usize;
                    let target = &mut self.ring[pos];
                    if self.layout == Layout::ClosedPlusOpen {
                        add(&mut self.agg, &self.open.hist);
                    }
                    std::mem::swap(target, &mut self.open);
                    target.index = prev;
                    target.live = true;
                } else if self.layout == Layout::RunningTotal {
                    subtract(&mut self.agg, &self.open.hist);
                }
            }
            self.open.hist.reset();
            self.open.index = cur;
            self.open.live = true;
        }
        let next_slot = (cur + 1) * self.slot_ms;
        let next_expiry = (oldest + 1) * self.slot_ms + self.window_ms - 1;
        self.next_check_ms = next_slot.min(next_expiry);
    }

    /// Samples in the window.
    pub fn count(&self) -> u64 {
        match self.layout {
            Layout::ClosedPlusOpen => self.agg.len() + self.open.hist.len(),
            Layout::RunningTotal => self.agg.len(),
        }
    }

    /// Nearest-rank quantile in ms (`None` when empty), as `WindowedQuantiles::quantile`.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        self.quantiles(&[q])[0]
    }

    /// Several quantiles (ascending), one merge and one pass: what a tick's summary (p50, p95,
    /// p99) costs. Nothing is allocated.
    pub fn quantiles<const N: usize>(&self, qs: &[f64; N]) -> [Option<f64>; N] {
        let read = |h: &Histogram<u64>| -> [Option<f64>; N] {
            let mut out = [None; N];
            if !h.is_empty() {
                for (o, v) in out.iter_mut().zip(h.value_at_quantiles(qs.iter().copied())) {
                    *o = Some(v as f64 / 1_000.0);
                }
            }
            out
        };
        match (&self.scratch, self.layout) {
            (Some(scratch), Layout::ClosedPlusOpen) => {
                let mut s = scratch.borrow_mut();
                if let Err(e) = s.set_to(&self.agg) {
                    panic!("set_to: {e:?}");
                }
                add(&mut s, &self.open.hist);
                read(&s)
            }
            _ => read(&self.agg),
        }
    }
}

fn add(into: &mut Histogram<u64>, h: &Histogram<u64>) {
    if let Err(e) = into.add(h) {
        panic!("add: {e:?}");
    }
}

fn subtract(from: &mut Histogram<u64>, h: &Histogram<u64>) {
    if let Err(e) = from.subtract(h) {
        panic!("subtract: {e:?}");
    }
}

/// splitmix64: a tiny deterministic PRNG, so every run measures the same inputs.
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    pub fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    pub fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.unit(), self.unit());
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// The latency distributions of the comparison, in ms.
#[derive(Clone, Copy, Debug)]
pub enum Dist {
    /// Log-normal, median 55 ms, sigma 0.61 (p95 ≈ 150 ms): the deliveries of `benches/core.rs`.
    Lognormal,
    /// 80 % log-normal around 20 ms (one hop), 20 % around 400 ms (retries, relays); sigma 0.3.
    Bimodal,
    /// Pareto, minimum 10 ms, shape 1.2 (infinite variance), capped at 10 minutes.
    HeavyTail,
}

impl Dist {
    pub const ALL: [Dist; 3] = [Dist::Lognormal, Dist::Bimodal, Dist::HeavyTail];

    pub fn name(self) -> &'static str {
        match self {
            Dist::Lognormal => "lognormal (median 55 ms, sigma 0.61)",
            Dist::Bimodal => "bimodal (80 % ~20 ms, 20 % ~400 ms)",
            Dist::HeavyTail => "heavy tail (Pareto 10 ms, alpha 1.2)",
        }
    }

    pub fn sample(self, rng: &mut SplitMix64) -> f64 {
        match self {
            Dist::Lognormal => (55f64.ln() + 0.61 * rng.normal()).exp(),
            Dist::Bimodal => {
                let median: f64 = if rng.unit() <= 0.8 { 20.0 } else { 400.0 };
                (median.ln() + 0.3 * rng.normal()).exp()
            }
            Dist::HeavyTail => (10.0 / rng.unit().powf(1.0 / 1.2)).min(600_000.0),
        }
    }
}

/// A table of `n` latencies (a power of two, indexed with a mask).
pub fn table(dist: Dist, n: usize, seed: u64) -> Vec<f64> {
    let mut rng = SplitMix64(seed);
    (0..n).map(|_| dist.sample(&mut rng)).collect()
}

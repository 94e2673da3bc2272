#![forbid(unsafe_code)]
//! Streaming log-linear latency histogram with a guaranteed relative error.
//!
//! [`LogHistogram`] buckets non-negative millisecond values by their `f64` bit
//! pattern (exponent + top [`SUB_BITS`] mantissa bits), so `record` is O(1)
//! with no logarithm, memory is fixed at construction, and nearest-rank
//! quantiles inside the trackable range
//! [`TRACKABLE_MIN_MS`, `TRACKABLE_MAX_MS`) are within
//! [`MAX_RELATIVE_ERROR`] (0.78 %, i.e. below 1 %) of the exact answer.

use std::fmt;

/// Mantissa bits used to split each octave; 6 gives 64 sub-buckets per
/// power of two and a worst-case relative error of 0.5/64 ≈ 0.78 %.
pub const SUB_BITS: u32 = 6;

/// Sub-buckets per octave (`2^SUB_BITS`), the linear resolution inside an octave.
pub const SUB_BUCKETS: usize = 1 << SUB_BITS;

/// Lowest tracked binary exponent: `2^-10 ms` ≈ 0.98 µs, the finest latency
/// we care to distinguish.
pub const MIN_EXP: i32 = -10;

/// Highest tracked binary exponent: values up to `2^(MAX_EXP+1) = 2^30 ms`
/// (≈ 12.4 days) keep the error guarantee.
pub const MAX_EXP: i32 = 29;

/// Number of tracked octaves (`MAX_EXP - MIN_EXP + 1`), which bounds memory.
pub const OCTAVES: usize = (MAX_EXP - MIN_EXP + 1) as usize;

/// Number of non-zero buckets (`OCTAVES * SUB_BUCKETS`); fixed so memory is bounded.
pub const BUCKETS: usize = OCTAVES * SUB_BUCKETS;

/// Smallest value (ms) inside the trackable range, `2^MIN_EXP`; smaller
/// positive values are clamped into the lowest bucket (no error guarantee).
pub const TRACKABLE_MIN_MS: f64 = 1.0 / 1024.0;

/// Exclusive upper end (ms) of the trackable range, `2^(MAX_EXP+1)`; larger
/// values are clamped into the highest bucket (no error guarantee).
pub const TRACKABLE_MAX_MS: f64 = (1u64 << (MAX_EXP + 1)) as f64;

/// Worst-case relative error of a quantile inside the trackable range
/// (half a sub-bucket relative to the octave start: `0.5 / 64`).
pub const MAX_RELATIVE_ERROR: f64 = 0.5 / SUB_BUCKETS as f64;

const MANTISSA_BITS: u32 = 52;
const SUB_SHIFT: u32 = MANTISSA_BITS - SUB_BITS;
const SUB_MASK: u64 = (SUB_BUCKETS as u64) - 1;
const EXP_BIAS: i32 = 1023;

/// Maps a raw input to the value the histogram accounts for: NaN, negative
/// values and `-0.0` become `0.0`; `+inf` becomes [`TRACKABLE_MAX_MS`].
#[inline]
pub(crate) fn sanitize_ms(value_ms: f64) -> f64 {
    // `> 0.0` is false for NaN, so NaN, negatives and -0.0 all become 0.0.
    if value_ms > 0.0 {
        if value_ms == f64::INFINITY {
            TRACKABLE_MAX_MS
        } else {
            value_ms
        }
    } else {
        0.0
    }
}

/// `(biased exponent << SUB_BITS) | sub` of the lowest tracked bucket.
const FIRST_BUCKET_KEY: i64 = ((MIN_EXP + EXP_BIAS) as i64) << SUB_BITS;

/// Bucket of a value known to be `> 0` (possibly `+inf`): the biased
/// exponent and the top [`SUB_BITS`] mantissa bits, read in one shift, then
/// clamped into `0..BUCKETS` (out-of-range values go to the first/last
/// bucket). Branch-free.
#[inline]
fn positive_bucket(value_ms: f64) -> usize {
    // The sign bit is 0 for a positive value, so the shift leaves exactly
    // `biased_exponent << SUB_BITS | sub` (at most 2^17, no overflow).
    let key = (value_ms.to_bits() >> SUB_SHIFT) as i64;
    (key - FIRST_BUCKET_KEY).clamp(0, BUCKETS as i64 - 1) as usize
}

/// Bucket for a sanitized value: `None` is the zero bucket, otherwise an
/// index `< BUCKETS` (out-of-range values clamped to the first/last bucket).
#[inline]
pub(crate) fn bucket_of(value_ms: f64) -> Option<usize> {
    // `> 0.0` is false for NaN, zeros and negatives.
    if value_ms > 0.0 {
        Some(positive_bucket(value_ms))
    } else {
        None
    }
}

/// Midpoint of bucket `index`: `2^e * (1 + (sub + 0.5) / 64)`, built
/// directly from bits so it is exact.
#[inline]
fn representative(index: usize) -> f64 {
    let octave = (index >> SUB_BITS) as i32;
    let sub = (index as u64) & SUB_MASK;
    let biased = (octave + MIN_EXP + EXP_BIAS) as u64;
    f64::from_bits((biased << MANTISSA_BITS) | (sub << SUB_SHIFT) | (1u64 << (SUB_SHIFT - 1)))
}

/// Nearest rank `k = ceil(per_mille * n / 1000)` for `n >= 1` samples,
/// clamped to `1..=n`; `per_mille > 1000` counts as 1000.
#[inline]
fn nearest_rank(per_mille: u32, n: u64) -> u64 {
    let p = u64::from(per_mille.min(1000));
    // 64-bit arithmetic whenever it cannot overflow (n < 2^54 in practice);
    // the same value through 128 bits otherwise.
    let k = match p.checked_mul(n) {
        Some(product) => product.div_ceil(1000),
        None => {
            let k = (u128::from(p) * u128::from(n)).div_ceil(1000);
            u64::try_from(k).unwrap_or(n)
        }
    };
    k.clamp(1, n)
}

/// Nearest-rank quantile of the union of `a` and `b` (e.g. a window's closed
/// slots and its open slot): exactly what `a.clone().merge_from(b)` followed
/// by [`LogHistogram::quantile`] returns, without the O(BUCKETS) merge. Reads
/// at most `2 * (OCTAVES + SUB_BUCKETS)` counters.
pub(crate) fn union_quantile(a: &LogHistogram, b: &LogHistogram, per_mille: u32) -> Option<f64> {
    union_quantile_counted(a, a.count(), b, b.count(), per_mille)
}

/// [`union_quantile`] with `na == a.count()` and `nb == b.count()` already
/// known (a window's summary counts once for three quantiles).
pub(crate) fn union_quantile_counted(
    a: &LogHistogram,
    na: u64,
    b: &LogHistogram,
    nb: u64,
    per_mille: u32,
) -> Option<f64> {
    // `merge_from` skips an empty side: the union is then the other side.
    if nb == 0 {
        return a.quantile_counted(na, per_mille);
    }
    if na == 0 {
        return b.quantile_counted(nb, per_mille);
    }
    let n = na.wrapping_add(nb);
    let k = nearest_rank(per_mille, n);
    let (min_ms, max_ms) = (a.min_ms.min(b.min_ms), a.max_ms.max(b.max_ms));
    if a.bounds_exact && b.bounds_exact {
        if k == n {
            return Some(max_ms);
        }
        if k == 1 {
            return Some(min_ms);
        }
    }
    let zeros = a.zero_count.wrapping_add(b.zero_count);
    // Wrapping sums: counters hold fewer than 2^64 samples (see `LogHistogram::count`).
    let octave = |o: usize| at(&a.octave_counts, o).wrapping_add(at(&b.octave_counts, o));
    let bucket = |i: usize| at(&a.counts[..], i).wrapping_add(at(&b.counts[..], i));
    let value = value_at_rank_in(k, zeros, octave, bucket, max_ms);
    Some(value.max(min_ms).min(max_ms))
}

/// `counts[i]`, or 0 out of range.
#[inline(always)]
fn at(counts: &[u64], i: usize) -> u64 {
    counts.get(i).copied().unwrap_or(0)
}

/// Buckets summed per step when skipping through an octave.
const GROUP: usize = 8;

/// Representative of the bucket holding the `rank`-th smallest sample
/// (1-based), given the zero count and accessors for octave totals and
/// bucket counts: whole octaves are skipped, then whole groups of [`GROUP`]
/// buckets (a group sum is a short vectorizable loop), then single buckets.
/// Returns `fallback` if the counters are inconsistent (only possible after
/// saturation or misuse of `subtract`).
#[inline(always)]
fn value_at_rank_in(
    rank: u64,
    zeros: u64,
    octave_count: impl Fn(usize) -> u64,
    bucket: impl Fn(usize) -> u64,
    fallback: f64,
) -> f64 {
    let mut remaining = rank;
    if remaining <= zeros {
        return 0.0;
    }
    remaining -= zeros;
    for octave in 0..OCTAVES {
        let in_octave = octave_count(octave);
        if remaining > in_octave {
            remaining -= in_octave;
            continue;
        }
        let start = octave << SUB_BITS;
        for group in (start..start + SUB_BUCKETS).step_by(GROUP) {
            let in_group = (group..group + GROUP).fold(0u64, |acc, i| acc.wrapping_add(bucket(i)));
            if remaining > in_group {
                remaining -= in_group;
                continue;
            }
            for index in group..group + GROUP {
                let c = bucket(index);
                if remaining <= c {
                    return representative(index);
                }
                remaining -= c;
            }
            break;
        }
        break;
    }
    fallback
}

/// Streaming log-linear histogram of non-negative latencies in milliseconds.
///
/// * `record` is O(1) and never allocates; memory is fixed (≈ 21 KB).
/// * Inside [`TRACKABLE_MIN_MS`, `TRACKABLE_MAX_MS`) every nearest-rank
///   quantile is within [`MAX_RELATIVE_ERROR`] (< 1 %) of the exact value;
///   exact zeros are reported as exactly `0.0`.
/// * Tiny positive values below the range are clamped into the lowest bucket
///   and values above it into the highest; the returned quantile is further
///   clamped into `[min, max]`, so those stay bounded but lose the guarantee.
/// * `min`/`max` are exact while the histogram is only recorded into or
///   merged; after [`LogHistogram::subtract`] they are stale (but still
///   valid outer) bounds, see [`LogHistogram::bounds_exact`].
#[derive(Clone)]
pub struct LogHistogram {
    /// Count of exact zeros (and sanitized NaN/negative inputs).
    zero_count: u64,
    /// Per-bucket counts, `BUCKETS` long, allocated once.
    counts: Box<[u64; BUCKETS]>,
    /// Per-octave totals so quantile queries skip whole octaves; together
    /// with `zero_count` they give the total count, which is therefore not
    /// kept separately (one write less per `record`).
    octave_counts: [u64; OCTAVES],
    /// Running sum of sanitized values, ms.
    sum_ms: f64,
    /// Smallest recorded value, `+inf` when empty.
    min_ms: f64,
    /// Largest recorded value, `-inf` when empty.
    max_ms: f64,
    /// False once `subtract` may have left `min_ms`/`max_ms` stale.
    bounds_exact: bool,
}

impl LogHistogram {
    /// Creates an empty histogram; allocates the bucket array once so that
    /// `record` never allocates.
    pub fn new() -> Self {
        Self {
            zero_count: 0,
            counts: Box::new([0; BUCKETS]),
            octave_counts: [0; OCTAVES],
            sum_ms: 0.0,
            min_ms: f64::INFINITY,
            max_ms: f64::NEG_INFINITY,
            bounds_exact: true,
        }
    }

    /// Records one latency sample in O(1). Callers should pass finite values
    /// `>= 0`; anything else is accepted without panicking (NaN/negative count
    /// as `0.0`, `+inf` as [`TRACKABLE_MAX_MS`]).
    #[inline]
    pub fn record(&mut self, value_ms: f64) {
        let value_ms = sanitize_ms(value_ms);
        // Counters are u64 incremented by one: they cannot wrap before 2^64
        // samples (centuries at a sample per nanosecond), so plain wrapping
        // increments are used here (no panic, one instruction each).
        match bucket_of(value_ms) {
            None => self.zero_count = self.zero_count.wrapping_add(1),
            Some(index) => {
                if let Some(c) = self.counts.get_mut(index) {
                    *c = c.wrapping_add(1);
                }
                if let Some(c) = self.octave_counts.get_mut(index >> SUB_BITS) {
                    *c = c.wrapping_add(1);
                }
            }
        }
        self.sum_ms += value_ms;
        if value_ms < self.min_ms {
            self.min_ms = value_ms;
        }
        if value_ms > self.max_ms {
            self.max_ms = value_ms;
        }
    }

    /// Number of recorded samples: the zero bucket plus the octave totals
    /// (O(OCTAVES), a vectorized sum of 40 counters). The counters hold fewer
    /// than 2^64 samples in any realistic use, so the sum does not wrap.
    #[inline]
    pub fn count(&self) -> u64 {
        self.octave_counts.iter().fold(self.zero_count, |acc, &c| acc.wrapping_add(c))
    }

    /// Samples at or below `value_ms`, to the sketch's resolution: every sample in the bucket
    /// that holds `value_ms` counts (buckets are under 1 % wide, so a sample at most 1 % above
    /// the value may count too). O(OCTAVES + SUB_BUCKETS).
    pub fn count_at_most(&self, value_ms: f64) -> u64 {
        let Some(index) = bucket_of(sanitize_ms(value_ms)) else {
            return self.zero_count;
        };
        let octave = index >> SUB_BITS;
        let below: u64 = self.octave_counts.iter().take(octave).fold(0u64, |a, &c| a.wrapping_add(c));
        let first = octave << SUB_BITS;
        let within: u64 = self.counts.get(first..=index).map_or(0, |c| c.iter().fold(0u64, |a, &x| a.wrapping_add(x)));
        self.zero_count.wrapping_add(below).wrapping_add(within)
    }

    /// True when no samples are held.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }

    /// Sum (ms) of recorded values, for means; an `f64` running sum, so it is
    /// exact up to floating-point rounding.
    #[inline]
    pub fn sum(&self) -> f64 {
        self.sum_ms
    }

    /// Arithmetic mean (ms) of recorded values; `None` when empty.
    pub fn mean(&self) -> Option<f64> {
        let n = self.count();
        if n == 0 {
            None
        } else {
            Some(self.sum_ms / n as f64)
        }
    }

    /// Smallest recorded value (ms); `None` when empty. Exact unless
    /// [`bounds_exact`](Self::bounds_exact) is false (then a lower bound).
    pub fn min(&self) -> Option<f64> {
        if self.is_empty() {
            None
        } else {
            Some(self.min_ms)
        }
    }

    /// Largest recorded value (ms); `None` when empty. Exact unless
    /// [`bounds_exact`](Self::bounds_exact) is false (then an upper bound).
    pub fn max(&self) -> Option<f64> {
        if self.is_empty() {
            None
        } else {
            Some(self.max_ms)
        }
    }

    /// Whether `min`/`max` are exact; false after a `subtract` that left
    /// samples behind, because removed extremes cannot be recovered.
    pub fn bounds_exact(&self) -> bool {
        self.bounds_exact
    }

    /// Nearest-rank quantile in ms: rank `k = ceil(per_mille * n / 1000)`
    /// (integer arithmetic, clamped to `1..=n`); `per_mille > 1000` is
    /// treated as 1000. Returns the bucket midpoint clamped into
    /// `[min, max]` (ranks 1 and n return the exact min/max while
    /// [`bounds_exact`](Self::bounds_exact)); `None` when empty. Scans at most
    /// `OCTAVES + SUB_BUCKETS` counters.
    pub fn quantile(&self, per_mille: u32) -> Option<f64> {
        self.quantile_counted(self.count(), per_mille)
    }

    /// [`LogHistogram::quantile`] with `n == self.count()` already known.
    fn quantile_counted(&self, n: u64, per_mille: u32) -> Option<f64> {
        if n == 0 {
            return None;
        }
        let k = nearest_rank(per_mille, n);
        if self.bounds_exact {
            // The extreme ranks are known exactly.
            if k == n {
                return Some(self.max_ms);
            }
            if k == 1 {
                return Some(self.min_ms);
            }
        }
        let value = self.value_at_rank(k);
        // min/max are always valid outer bounds when non-empty, so clamping
        // can only move the estimate closer to the true value. max/min (not
        // clamp) so inconsistent bounds can never panic.
        Some(value.max(self.min_ms).min(self.max_ms))
    }

    /// Representative of the bucket holding the `rank`-th smallest sample
    /// (1-based). Falls back to `max_ms` if counters are inconsistent (only
    /// possible after saturation or misuse of `subtract`).
    fn value_at_rank(&self, rank: u64) -> f64 {
        let octave = |o: usize| at(&self.octave_counts, o);
        let bucket = |i: usize| at(&self.counts[..], i);
        value_at_rank_in(rank, self.zero_count, octave, bucket, self.max_ms)
    }

    /// Adds all samples of `other` into `self` (e.g. to aggregate slots);
    /// saturating. Visits only the octaves `other` uses, so it costs
    /// O(OCTAVES + SUB_BUCKETS * octaves used) rather than O(BUCKETS).
    pub fn merge_from(&mut self, other: &LogHistogram) {
        if other.is_empty() {
            return;
        }
        for (octave, (a, &b)) in self.octave_counts.iter_mut().zip(other.octave_counts.iter()).enumerate() {
            if b == 0 {
                // Every bucket of an octave with a zero total is zero: nothing to add.
                continue;
            }
            *a = a.saturating_add(b);
            let range = octave << SUB_BITS..(octave + 1) << SUB_BITS;
            let mine = self.counts.get_mut(range.clone()).unwrap_or(&mut []);
            let theirs = other.counts.get(range).unwrap_or(&[]);
            for (x, y) in mine.iter_mut().zip(theirs.iter()) {
                *x = x.saturating_add(*y);
            }
        }
        self.zero_count = self.zero_count.saturating_add(other.zero_count);
        self.sum_ms += other.sum_ms;
        self.min_ms = self.min_ms.min(other.min_ms);
        self.max_ms = self.max_ms.max(other.max_ms);
        self.bounds_exact = self.bounds_exact && other.bounds_exact;
    }

    /// Removes samples previously merged in from `other` (e.g. an expiring
    /// window slot); saturating per bucket, never panics. Visits only the
    /// octaves `other` uses. Afterwards
    /// `min`/`max` are stale outer bounds unless the histogram became empty.
    pub fn subtract(&mut self, other: &LogHistogram) {
        if other.is_empty() {
            return;
        }
        let mut total = 0u64;
        for (octave, (octave_count, &theirs_total)) in
            self.octave_counts.iter_mut().zip(other.octave_counts.iter()).enumerate()
        {
            if theirs_total != 0 {
                // An octave `other` does not use is unchanged; the others are recounted.
                let range = octave << SUB_BITS..(octave + 1) << SUB_BITS;
                let mine = self.counts.get_mut(range.clone()).unwrap_or(&mut []);
                let theirs = other.counts.get(range).unwrap_or(&[]);
                let mut sum = 0u64;
                for (a, b) in mine.iter_mut().zip(theirs.iter()) {
                    *a = a.saturating_sub(*b);
                    sum = sum.saturating_add(*a);
                }
                *octave_count = sum;
            }
            total = total.saturating_add(*octave_count);
        }
        self.zero_count = self.zero_count.saturating_sub(other.zero_count);
        if total.saturating_add(self.zero_count) == 0 {
            self.reset_summary();
        } else {
            self.sum_ms = (self.sum_ms - other.sum_ms).max(0.0);
            self.bounds_exact = false;
        }
    }

    /// Overwrites sum/min/max with exact values computed by an owner that
    /// knows them (the sliding window recomputes them from live slots after
    /// an expiry, removing float drift and stale bounds). Ignored when empty.
    pub(crate) fn restore_exact_summary(&mut self, sum_ms: f64, min_ms: f64, max_ms: f64) {
        if self.is_empty() {
            self.reset_summary();
        } else {
            self.sum_ms = sum_ms;
            self.min_ms = min_ms;
            self.max_ms = max_ms;
            self.bounds_exact = true;
        }
    }

    /// Forgets all samples without reallocating, so slots can be reused.
    pub fn clear(&mut self) {
        if !self.is_empty() {
            // A non-zero bucket always lies in an octave with a non-zero total
            // (both are incremented together and octave totals are recounted
            // by `subtract`), so only those octaves need zeroing.
            for (octave, octave_count) in self.octave_counts.iter_mut().enumerate() {
                if *octave_count != 0 {
                    let range = octave << SUB_BITS..(octave + 1) << SUB_BITS;
                    self.counts.get_mut(range).unwrap_or(&mut []).fill(0);
                    *octave_count = 0;
                }
            }
            self.zero_count = 0;
        }
        self.reset_summary();
    }

    fn reset_summary(&mut self) {
        self.sum_ms = 0.0;
        self.min_ms = f64::INFINITY;
        self.max_ms = f64::NEG_INFINITY;
        self.bounds_exact = true;
    }

    /// True when both histograms hold identical bucket counts (test helper).
    #[cfg(test)]
    pub(crate) fn same_counts(&self, other: &LogHistogram) -> bool {
        self.zero_count == other.zero_count
            && self.count() == other.count()
            && self.counts[..] == other.counts[..]
            && self.octave_counts == other.octave_counts
    }
}

impl Default for LogHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for LogHistogram {
    /// Summarises instead of dumping thousands of counters.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogHistogram")
            .field("count", &self.count())
            .field("zero_count", &self.zero_count)
            .field("sum_ms", &self.sum_ms)
            .field("min_ms", &self.min())
            .field("max_ms", &self.max())
            .field("bounds_exact", &self.bounds_exact)
            .field("nonzero_buckets", &self.counts.iter().filter(|&&c| c != 0).count())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use crate::test_rng::SplitMix64;

    fn next_down(x: f64) -> f64 {
        f64::from_bits(x.to_bits() - 1)
    }

    fn in_range(x: f64) -> f64 {
        x.clamp(TRACKABLE_MIN_MS, next_down(TRACKABLE_MAX_MS))
    }

    fn exact_rank(n: usize, per_mille: u32) -> usize {
        ((per_mille as usize * n).div_ceil(1000)).clamp(1, n)
    }

    fn assert_close(est: f64, exact: f64, ctx: &str) {
        if exact == 0.0 {
            assert_eq!(est, 0.0, "{ctx}: exact zero must be reported as 0");
        } else {
            let rel = (est - exact).abs() / exact;
            assert!(rel <= 0.01, "{ctx}: est {est} exact {exact} rel {rel}");
        }
    }

    const QUANTILES: [u32; 6] = [10, 500, 950, 990, 1000, 0];

    fn distributions() -> Vec<(&'static str, Vec<f64>)> {
        const N: usize = 2000;
        let mut rng = SplitMix64(0x5EED);
        let mut d: Vec<(&'static str, Vec<f64>)> = Vec::new();
        d.push(("uniform", (0..N).map(|_| in_range(0.001 + rng.unit() * 10_000.0)).collect()));
        d.push(("lognormal", (0..N).map(|_| in_range((3.0 + 2.0 * rng.normal()).exp())).collect()));
        d.push(("all_equal", vec![42.424_242; N]));
        d.push(("clusters_alternating", (0..N).map(|i| if i % 2 == 0 { 0.01 } else { 10_000.0 }).collect()));
        d.push(("clusters_blocks", (0..N).map(|i| if i < N / 2 { 10_000.0 } else { 0.01 }).collect()));
        let mut asc: Vec<f64> = (0..N).map(|_| in_range(rng.unit() * 1e6)).collect();
        asc.sort_by(f64::total_cmp);
        let mut desc = asc.clone();
        desc.reverse();
        d.push(("sorted_ascending", asc));
        d.push(("sorted_descending", desc));
        d.push((
            "powers_of_two",
            (0..N).map(|_| 2f64.powi(MIN_EXP + (rng.next_u64() % OCTAVES as u64) as i32)).collect(),
        ));
        d.push((
            "just_below_boundaries",
            (0..N).map(|_| next_down(2f64.powi(MIN_EXP + 1 + (rng.next_u64() % OCTAVES as u64) as i32))).collect(),
        ));
        d.push(("pareto", (0..N).map(|_| in_range(1.0 / rng.unit().powf(1.0 / 1.2))).collect()));
        d.push((
            "with_zeros",
            (0..N).map(|_| if rng.next_u64() % 3 == 0 { 0.0 } else { in_range(rng.unit() * 100.0) }).collect(),
        ));
        d
    }

    /// The key guarantee: for every n in 1..=2000, every distribution and
    /// every tested quantile, the estimate is within 1 % of the exact
    /// nearest-rank value.
    #[test]
    fn quantiles_within_one_percent_for_every_n() {
        for (name, values) in distributions() {
            let mut h = LogHistogram::new();
            let mut sorted: Vec<f64> = Vec::with_capacity(values.len());
            for (i, &v) in values.iter().enumerate() {
                h.record(v);
                let pos = sorted.partition_point(|&x| x <= v);
                sorted.insert(pos, v);
                let n = i + 1;
                assert_eq!(h.count(), n as u64);
                for &q in &QUANTILES {
                    let exact = sorted[exact_rank(n, q) - 1];
                    let est = h.quantile(q).unwrap_or(f64::NAN);
                    assert_close(est, exact, &format!("{name} n={n} q={q}"));
                }
            }
            assert_eq!(h.quantile(1000), sorted.last().copied(), "{name}: p100 is exact max");
            assert_eq!(h.quantile(0), sorted.first().copied(), "{name}: p0 is exact min");
        }
    }

    #[test]
    fn bucket_representatives_are_midpoints() {
        for index in [0, 1, 63, 64, 100, BUCKETS - 1] {
            let r = representative(index);
            assert_eq!(bucket_of(r), Some(index));
            let octave = (index >> SUB_BITS) as i32 + MIN_EXP;
            let sub = (index & (SUB_BUCKETS - 1)) as f64;
            let expected = 2f64.powi(octave) * (1.0 + (sub + 0.5) / 64.0);
            assert_eq!(r, expected);
        }
        const { assert!(MAX_RELATIVE_ERROR < 0.01) };
        assert!(TRACKABLE_MAX_MS >= 2f64.powi(30));
        assert_eq!(TRACKABLE_MIN_MS, 2f64.powi(MIN_EXP));
    }

    /// The one-shift bucket computation agrees with the explicit
    /// exponent/mantissa decomposition, including clamped values.
    #[test]
    fn bucket_of_matches_exponent_decomposition() {
        fn reference(v: f64) -> Option<usize> {
            if v.is_nan() || v <= 0.0 {
                return None;
            }
            let bits = v.to_bits();
            let exp = ((bits >> MANTISSA_BITS) as i32) - EXP_BIAS;
            Some(if exp < MIN_EXP {
                0
            } else if exp > MAX_EXP {
                BUCKETS - 1
            } else {
                (((exp - MIN_EXP) as usize) << SUB_BITS) | ((bits >> SUB_SHIFT) & SUB_MASK) as usize
            })
        }
        let mut rng = SplitMix64(0xB0C4);
        let specials =
            [0.0, -0.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, f64::MAX, f64::MIN_POSITIVE, 5e-324, 1e-300];
        let randoms = (0..100_000).map(|_| f64::from_bits(rng.next_u64()));
        let ranged =
            (0..100_000).map(|i| 2f64.powi(MIN_EXP - 2 + (i % (OCTAVES as i32 + 4))) * (1.0 + (i as f64 / 100_000.0)));
        for v in specials.into_iter().chain(randoms).chain(ranged) {
            assert_eq!(bucket_of(v), reference(v), "{v:e}");
        }
    }

    #[test]
    fn empty_histogram() {
        let h = LogHistogram::default();
        assert!(h.is_empty());
        assert_eq!(h.count(), 0);
        assert_eq!(h.sum(), 0.0);
        assert_eq!(h.quantile(500), None);
        assert_eq!(h.mean(), None);
        assert_eq!(h.min(), None);
        assert_eq!(h.max(), None);
        assert!(format!("{h:?}").contains("count: 0"));
    }

    #[test]
    fn zeros_are_exact() {
        let mut h = LogHistogram::new();
        for _ in 0..10 {
            h.record(0.0);
        }
        for q in [0, 1, 500, 1000, 5000] {
            assert_eq!(h.quantile(q), Some(0.0));
        }
        h.record(5.0);
        assert_eq!(h.quantile(900), Some(0.0));
        assert_eq!(h.quantile(1000), Some(5.0));
        assert_eq!(h.sum(), 5.0);
    }

    #[test]
    fn per_mille_above_1000_is_max() {
        let mut h = LogHistogram::new();
        for v in [1.0, 2.0, 3.0] {
            h.record(v);
        }
        assert_eq!(h.quantile(u32::MAX), Some(3.0));
        assert_eq!(h.quantile(1001), h.quantile(1000));
    }

    #[test]
    fn out_of_range_values_are_clamped() {
        let mut h = LogHistogram::new();
        h.record(1e-9);
        assert_eq!(h.quantile(500), Some(1e-9), "single tiny value clamps to exact min/max");
        h.record(1e-7);
        let q = h.quantile(1000).unwrap_or(f64::NAN);
        assert!((1e-9..=1e-7).contains(&q));

        let mut big = LogHistogram::new();
        big.record(1e12);
        big.record(1e15);
        let q = big.quantile(500).unwrap_or(f64::NAN);
        assert!((1e12..=1e15).contains(&q), "{q}");
        assert_eq!(big.quantile(1000), Some(1e15));
        assert_eq!(bucket_of(f64::MAX), Some(BUCKETS - 1));
        assert_eq!(bucket_of(f64::MIN_POSITIVE / 2.0), Some(0));
    }

    #[test]
    fn nan_negative_and_inf_do_not_panic() {
        let mut h = LogHistogram::new();
        for v in [f64::NAN, -1.0, -0.0, f64::NEG_INFINITY, f64::INFINITY, f64::MAX, f64::MIN_POSITIVE] {
            h.record(v);
        }
        assert_eq!(h.count(), 7);
        assert!(h.sum().is_finite());
        for q in [0, 500, 1000, 2000] {
            let v = h.quantile(q).unwrap_or(f64::NAN);
            assert!(v.is_finite() && v >= 0.0, "{q} -> {v}");
        }
        assert_eq!(h.quantile(500), Some(0.0)); // four inputs sanitized to zero
        assert_eq!(h.max(), Some(f64::MAX));
    }

    #[test]
    fn subtract_is_saturating_and_marks_bounds_stale() {
        let mut a = LogHistogram::new();
        let mut b = LogHistogram::new();
        a.record(1.0);
        a.record(100.0);
        b.record(100.0);
        b.record(100.0);
        b.record(0.0);
        a.subtract(&b);
        assert_eq!(a.count(), 1);
        assert!(!a.bounds_exact());
        assert_eq!(a.max(), Some(100.0), "stale upper bound");
        let q = a.quantile(1000).unwrap_or(f64::NAN);
        assert!((q - 1.0).abs() / 1.0 <= MAX_RELATIVE_ERROR, "{q}");
        a.subtract(&b);
        a.subtract(&a.clone());
        assert!(a.is_empty());
        assert!(a.bounds_exact());
        assert_eq!(a.sum(), 0.0);
        assert_eq!(a.quantile(500), None);
    }

    #[test]
    fn clear_resets_everything() {
        let mut h = LogHistogram::new();
        h.record(3.0);
        h.record(0.0);
        h.clear();
        assert!(h.is_empty());
        assert!(h.same_counts(&LogHistogram::new()));
        assert_eq!(h.max(), None);
        h.record(7.0);
        assert_eq!(h.quantile(500), Some(7.0));
    }

    fn trackable_value() -> impl Strategy<Value = f64> {
        prop_oneof![
            1 => Just(0.0),
            6 => (MIN_EXP as f64..(MAX_EXP + 1) as f64)
                .prop_map(|e| in_range(2f64.powf(e))),
            2 => TRACKABLE_MIN_MS..1000.0,
        ]
    }

    fn check_all_quantiles(h: &LogHistogram, values: &[f64]) -> Result<(), TestCaseError> {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        for q in (0..=1000).step_by(7).chain([990, 999, 1000]) {
            let exact = sorted[exact_rank(n, q) - 1];
            let est = h.quantile(q).unwrap_or(f64::NAN);
            if exact == 0.0 {
                prop_assert_eq!(est, 0.0);
            } else {
                prop_assert!((est - exact).abs() / exact <= 0.01, "q={} est={} exact={}", q, est, exact);
            }
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn prop_every_quantile_within_one_percent(values in prop::collection::vec(trackable_value(), 1..400)) {
            let mut h = LogHistogram::new();
            for &v in &values {
                h.record(v);
            }
            prop_assert_eq!(h.count(), values.len() as u64);
            let sum: f64 = values.iter().sum();
            prop_assert!((h.sum() - sum).abs() <= 1e-9 * sum.max(1.0));
            check_all_quantiles(&h, &values)?;
        }

        #[test]
        fn prop_merge_then_subtract_roundtrips(
            a in prop::collection::vec(trackable_value(), 1..200),
            b in prop::collection::vec(trackable_value(), 0..200),
        ) {
            let mut ha = LogHistogram::new();
            let mut hb = LogHistogram::new();
            a.iter().for_each(|&v| ha.record(v));
            b.iter().for_each(|&v| hb.record(v));
            let original = ha.clone();
            ha.merge_from(&hb);
            prop_assert_eq!(ha.count(), (a.len() + b.len()) as u64);
            let mut both = a.clone();
            both.extend_from_slice(&b);
            check_all_quantiles(&ha, &both)?;
            ha.subtract(&hb);
            prop_assert!(ha.same_counts(&original));
            check_all_quantiles(&ha, &a)?;
            // Bounds may be stale after subtract, but must stay outer bounds.
            prop_assert!(ha.min() <= original.min() && ha.max() >= original.max());
            for q in [0, 10, 500, 950, 990, 1000] {
                let (got, want) = (ha.quantile(q).unwrap_or(f64::NAN), original.quantile(q).unwrap_or(f64::NAN));
                // Same bucket as before; only the clamp/extreme-rank shortcut may differ.
                prop_assert!((got - want).abs() <= 2.0 * MAX_RELATIVE_ERROR * want, "q={} got={} want={}", q, got, want);
            }
        }

        /// The union query equals merging and querying, including after a
        /// subtract (stale bounds) and with either side empty.
        #[test]
        fn prop_union_quantile_matches_merge(
            a in prop::collection::vec(trackable_value(), 0..300),
            b in prop::collection::vec(trackable_value(), 0..300),
            removed in 0usize..50,
            per_milles in prop::collection::vec(0u32..1100, 6),
        ) {
            let (mut ha, mut hb) = (LogHistogram::new(), LogHistogram::new());
            a.iter().for_each(|&v| ha.record(v));
            b.iter().for_each(|&v| hb.record(v));
            let mut gone = LogHistogram::new();
            a.iter().take(removed.min(a.len())).for_each(|&v| gone.record(v));
            ha.subtract(&gone);
            let mut merged = ha.clone();
            merged.merge_from(&hb);
            for p in per_milles.into_iter().chain([0, 1, 500, 950, 990, 1000]) {
                prop_assert_eq!(union_quantile(&ha, &hb, p), merged.quantile(p));
                prop_assert_eq!(union_quantile(&hb, &ha, p), merged.quantile(p));
                prop_assert_eq!(union_quantile_counted(&ha, ha.count(), &hb, hb.count(), p), merged.quantile(p));
            }
        }

        #[test]
        fn prop_quantile_monotonic(values in prop::collection::vec(trackable_value(), 1..300)) {
            let mut h = LogHistogram::new();
            values.iter().for_each(|&v| h.record(v));
            let mut prev = f64::NEG_INFINITY;
            for q in 0..=1001 {
                let v = h.quantile(q).unwrap_or(f64::NAN);
                prop_assert!(v >= prev, "q={} v={} prev={}", q, v, prev);
                prev = v;
            }
        }

        #[test]
        fn prop_arbitrary_f64_never_panics(values in prop::collection::vec(any::<f64>(), 0..100)) {
            let mut h = LogHistogram::new();
            values.iter().for_each(|&v| h.record(v));
            prop_assert_eq!(h.count(), values.len() as u64);
            for q in [0, 500, 1000, u32::MAX] {
                if let Some(v) = h.quantile(q) {
                    prop_assert!(v >= 0.0 && !v.is_nan());
                }
            }
            let copy = h.clone();
            h.subtract(&copy);
            prop_assert!(h.is_empty());
        }
    }

    #[test]
    fn count_at_most_counts_to_the_buckets_resolution() {
        let mut h = LogHistogram::new();
        for v in [0.0, 10.0, 50.0, 99.0, 100.0, 101.5, 300.0, 1e12] {
            h.record(v);
        }
        assert_eq!(h.count_at_most(-1.0), 1, "the zero bucket");
        assert_eq!(h.count_at_most(100.0), 5);
        assert_eq!(h.count_at_most(1_000.0), 7);
        assert_eq!(h.count_at_most(f64::INFINITY), 8);
        assert_eq!(LogHistogram::new().count_at_most(100.0), 0);
    }
}

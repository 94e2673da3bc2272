#![forbid(unsafe_code)]
//! The statistics behind every judgement the engine makes: proportions with Wilson intervals,
//! differences of proportions with Newcombe's interval, the sample size a comparison needs, and
//! distribution-free intervals for quantiles from order statistics.
//!
//! All intervals are two-sided at 95 % (`Z95`). They are closed-form: no iteration, no
//! allocation, so a tick can afford them.
//!
//! ```
//! use meshtune::engine::stats::{wilson, newcombe_difference};
//! // 90 of 100 on time: the share lies in about [0.83, 0.94].
//! let (lo, hi) = wilson(90, 100);
//! assert!(lo > 0.82 && lo < 0.84 && hi > 0.94 && hi < 0.95);
//! // 95/100 after against 80/100 before: the gain is above zero with 95 % confidence.
//! let (d_lo, d_hi) = newcombe_difference(95, 100, 80, 100);
//! assert!(d_lo > 0.0 && d_hi < 0.3);
//! ```

/// The normal quantile of a two-sided 95 % interval.
pub const Z95: f64 = 1.959_963_984_540_054;
/// The normal quantile of 80 % power (one-sided).
pub const Z_POWER80: f64 = 0.841_621_233_572_914_3;

/// Wilson score interval of a proportion `k / n` at 95 %. `(0, 1)` when `n == 0`: nothing is
/// known. Unlike the normal approximation it stays inside [0, 1] and is honest at 0 and n.
pub fn wilson(k: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let n_f = n as f64;
    let p = (k.min(n) as f64) / n_f;
    let z2 = Z95 * Z95;
    let denom = 1.0 + z2 / n_f;
    let centre = (p + z2 / (2.0 * n_f)) / denom;
    let half = Z95 * (p * (1.0 - p) / n_f + z2 / (4.0 * n_f * n_f)).sqrt() / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// Newcombe's hybrid score interval (his method 10) for the difference `k1/n1 - k2/n2` at 95 %:
/// good coverage at small samples and at proportions near 0 or 1, where the Wald interval is
/// not. `(-1, 1)` when either sample is empty.
pub fn newcombe_difference(k1: u64, n1: u64, k2: u64, n2: u64) -> (f64, f64) {
    if n1 == 0 || n2 == 0 {
        return (-1.0, 1.0);
    }
    let p1 = k1.min(n1) as f64 / n1 as f64;
    let p2 = k2.min(n2) as f64 / n2 as f64;
    let (l1, u1) = wilson(k1, n1);
    let (l2, u2) = wilson(k2, n2);
    let d = p1 - p2;
    let lo = d - ((p1 - l1).powi(2) + (u2 - p2).powi(2)).sqrt();
    let hi = d + ((u1 - p1).powi(2) + (p2 - l2).powi(2)).sqrt();
    (lo.max(-1.0), hi.min(1.0))
}

/// Samples per group that a two-sided test at 95 % needs to detect a difference of `delta`
/// between two proportions near `p` with 80 % power: `(z_a + z_b)^2 * 2 p (1 - p) / delta^2`
/// (the normal approximation; at least 30, at most 100 000).
pub fn samples_for_difference(p: f64, delta: f64) -> u64 {
    let p = if p.is_finite() { p.clamp(0.05, 0.95) } else { 0.5 };
    let delta = if delta.is_finite() && delta > 0.0 { delta.min(1.0) } else { 1.0 };
    let z = Z95 + Z_POWER80;
    let n = z * z * 2.0 * p * (1.0 - p) / (delta * delta);
    (n.ceil() as u64).clamp(30, 100_000)
}

/// The ranks, in per mille of the sample, that bound quantile `q` (a fraction) with 95 %
/// confidence whatever the distribution: the order statistics at `n q ∓ z sqrt(n q (1 - q))`
/// (the normal approximation of the binomial count of samples below the quantile). None when
/// the sample is too small for the upper rank to fall inside it (for the 95th percentile, fewer
/// than 110 samples: below that the upper rank of the two-sided interval is the largest sample
/// itself or beyond it).
pub fn quantile_rank_interval(n: u64, q: f64) -> Option<(u32, u32)> {
    if n == 0 || !(0.0..1.0).contains(&q) {
        return None;
    }
    let n_f = n as f64;
    let half = Z95 * (n_f * q * (1.0 - q)).sqrt();
    let lo = (n_f * q - half).floor();
    let hi = (n_f * q + half).ceil();
    if lo < 1.0 || hi > n_f - 1.0 {
        return None;
    }
    let per_mille = |rank: f64| ((rank / n_f) * 1000.0).round().clamp(1.0, 999.0) as u32;
    Some((per_mille(lo), per_mille(hi)))
}

/// The two-sided 95 % quantile of Student's t with `df` degrees of freedom: a table up to 10
/// (fractional degrees rounded down), the Cornish–Fisher expansion above (within 0.1 % there),
/// the normal quantile at infinity.
pub fn t95(df: f64) -> f64 {
    /// Two-sided 95 % quantiles for 1 to 10 degrees of freedom (any statistics table).
    const SMALL: [f64; 10] =
        [12.706_205, 4.302_653, 3.182_446, 2.776_445, 2.570_582, 2.446_912, 2.364_624, 2.306_004, 2.262_157, 2.228_139];
    if !df.is_finite() || df > 1e6 {
        return Z95;
    }
    if df < 10.5 {
        // Rounded down (fewer degrees of freedom: a wider, conservative interval).
        return SMALL[(df.floor().max(1.0) as usize - 1).min(9)];
    }
    let z = Z95;
    let (z3, z5, z7) = (z.powi(3), z.powi(5), z.powi(7));
    z + (z3 + z) / (4.0 * df)
        + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * df * df)
        + (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / (384.0 * df * df * df)
}

/// On-time counts in consecutive time blocks, summarised for batch means: messages that travel
/// together (one flood's copies, one burst of interference) share their fate, so single
/// messages are not independent samples; blocks of time are treated as the samples instead.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Blocks {
    /// Blocks with at least one message.
    pub n: u64,
    /// Mean of the blocks' on-time ratios.
    pub mean: f64,
    /// Their sample variance, never below the binomial variance of the mean block (with a
    /// Laplace correction, so that blocks all on time still carry sampling doubt).
    pub var: f64,
    /// Messages in all blocks.
    pub messages: u64,
    /// Messages on time in all blocks.
    pub on_time: u64,
    /// Whether `var` is the blocks' sample variance (estimated, with `n - 1` degrees of
    /// freedom) rather than the binomial floor (known: it adds no uncertainty of its own).
    pub estimated: bool,
}

impl Blocks {
    /// Summarises `(on time, messages)` per block; blocks without messages are skipped.
    pub fn from_counts(blocks: impl IntoIterator<Item = (u64, u64)>) -> Blocks {
        let (mut n, mut sum, mut sum2, mut messages, mut on_time) = (0u64, 0.0, 0.0, 0u64, 0u64);
        for (k, m) in blocks {
            if m == 0 {
                continue;
            }
            let r = k.min(m) as f64 / m as f64;
            n += 1;
            sum += r;
            sum2 += r * r;
            messages += m;
            on_time += k.min(m);
        }
        if n == 0 {
            return Blocks::default();
        }
        let n_f = n as f64;
        let mean = sum / n_f;
        let sample_var = if n > 1 { ((sum2 - sum * sum / n_f) / (n_f - 1.0)).max(0.0) } else { 0.0 };
        let per_block = messages as f64 / n_f;
        let p = (on_time as f64 + 1.0) / (messages as f64 + 2.0);
        let binomial = p * (1.0 - p) / per_block.max(1.0);
        Blocks { n, mean, var: sample_var.max(binomial), messages, on_time, estimated: sample_var > binomial }
    }

    /// Welch's 95 % interval for `self.mean - other.mean`; None when a side has no block. A
    /// side of one block has no spread to estimate: its variance is the binomial one (as if its
    /// messages were independent), which is what an action in the first seconds is measured on.
    pub fn difference(&self, other: &Blocks) -> Option<(f64, f64)> {
        if self.n == 0 || other.n == 0 {
            return None;
        }
        let (a, b) = (self.var / self.n as f64, other.var / other.n as f64);
        let se2 = a + b;
        // Welch–Satterthwaite over the estimated variances; a side at the binomial floor has
        // a known variance (infinite degrees of freedom), so adds nothing to the denominator.
        let term =
            |v: f64, side: &Blocks| if side.estimated && side.n > 1 { v * v / (side.n as f64 - 1.0) } else { 0.0 };
        let denom = term(a, self) + term(b, other);
        let df = if denom > 0.0 { se2 * se2 / denom } else { f64::INFINITY };
        let half = t95(df) * se2.sqrt();
        let d = self.mean - other.mean;
        Some(((d - half).max(-1.0), (d + half).min(1.0)))
    }

    /// Blocks per side that a comparison needs to detect `delta` with 80 % power, given this
    /// side's variance (at least 3).
    pub fn needed_for(&self, delta: f64) -> u64 {
        let z = Z95 + Z_POWER80;
        let delta = if delta.is_finite() && delta > 0.0 { delta } else { 1.0 };
        ((z * z * 2.0 * self.var / (delta * delta)).ceil() as u64).clamp(3, 10_000)
    }
}

/// Where an on-time SLO stands, judged on a window's counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SloJudgement {
    /// Below the target with 95 % confidence (the Wilson interval's upper bound is below it),
    /// and by at least half the SLO's slack (`(1 - target) / 2`): a share that misses the target
    /// by a hair is left to the next window rather than bought a repair, so noise at the target
    /// moves no knob.
    Breached,
    /// Met: the share is at or above the target, and its interval's lower bound is within the
    /// SLO's slack (`1 - target`) of it, so a breach is implausible.
    Met,
    /// Neither: too few messages, or a share near the target. The last judgement stands.
    Unclear,
}

/// Judges `on_time` of `total` messages against `target` (see [`SloJudgement`]). The sample
/// size is the statistics': a handful of messages can show a breach only when nearly all of
/// them were late or lost.
pub fn judge_slo(on_time: u64, total: u64, target: f64) -> SloJudgement {
    if total == 0 {
        return SloJudgement::Unclear;
    }
    let (lo, hi) = wilson(on_time, total);
    let share = on_time.min(total) as f64 / total as f64;
    if hi < target && share <= target - (1.0 - target) / 2.0 {
        SloJudgement::Breached
    } else if share >= target && lo >= target - (1.0 - target) {
        SloJudgement::Met
    } else {
        SloJudgement::Unclear
    }
}

/// Judges a level where more is better (a throughput) against `target`, from its estimate
/// `value` and the half-width `half` of its 95 % interval, as [`judge_slo`] judges a share:
/// `Breached` when the interval's upper bound is below the target and the level misses it by
/// at least half of `slack`; `Met` when the level is at the target or above and its lower bound
/// within `slack` of it; otherwise `Unclear` (the last judgement stands). A non-finite `half`
/// (no interval) is never `Breached` or `Met`.
pub fn judge_at_least(value: f64, half: f64, target: f64, slack: f64) -> SloJudgement {
    if !value.is_finite() || !half.is_finite() {
        return SloJudgement::Unclear;
    }
    if value + half < target && value <= target - slack / 2.0 {
        SloJudgement::Breached
    } else if value >= target && value - half >= target - slack {
        SloJudgement::Met
    } else {
        SloJudgement::Unclear
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_published_values_and_edges() {
        // Newcombe (1998), table I: 81/263 → 0.2553 to 0.3662.
        let (lo, hi) = wilson(81, 263);
        assert!((lo - 0.2553).abs() < 5e-4 && (hi - 0.3662).abs() < 5e-4, "{lo} {hi}");
        // 0/10 → 0 to 0.2775; 10/10 → 0.7225 to 1.
        let (lo, hi) = wilson(0, 10);
        assert!(lo.abs() < 1e-12 && (hi - 0.2775).abs() < 5e-4, "{lo} {hi}");
        let (lo, hi) = wilson(10, 10);
        assert!((lo - 0.7225).abs() < 5e-4 && (hi - 1.0).abs() < 1e-12, "{lo} {hi}");
        assert_eq!(wilson(0, 0), (0.0, 1.0));
    }

    #[test]
    fn newcombe_matches_published_values() {
        // Newcombe (1998), Statistics in Medicine 17, table II example (a): 56/70 − 48/80 →
        // 0.0524 to 0.3339 (method 10).
        let (lo, hi) = newcombe_difference(56, 70, 48, 80);
        assert!((lo - 0.0524).abs() < 1e-3 && (hi - 0.3339).abs() < 1e-3, "{lo} {hi}");
        // Example (e): 10/10 − 0/20 → 0.6791 to 1.
        let (lo, hi) = newcombe_difference(10, 10, 0, 20);
        assert!((lo - 0.6791).abs() < 1e-3 && hi == 1.0, "{lo} {hi}");
        assert_eq!(newcombe_difference(1, 0, 1, 1), (-1.0, 1.0));
    }

    #[test]
    fn sample_size_grows_as_the_effect_shrinks() {
        let five = samples_for_difference(0.9, 0.05);
        let ten = samples_for_difference(0.9, 0.10);
        // 7.85 × 2 × 0.09 / 0.0025 ≈ 565.
        assert!((560..=570).contains(&five), "{five}");
        assert!(ten < five / 3, "{ten}");
        assert_eq!(samples_for_difference(f64::NAN, f64::NAN), 30);
    }

    #[test]
    fn quantile_ranks_need_enough_samples() {
        assert_eq!(quantile_rank_interval(20, 0.95), None);
        let (lo, hi) = quantile_rank_interval(1_000, 0.95).unwrap();
        // 950 ± 1.96 × 6.9 → ranks 936 to 964.
        assert!((935..=937).contains(&lo) && (963..=965).contains(&hi), "{lo} {hi}");
        assert!(quantile_rank_interval(200, 0.95).is_some());
    }

    #[test]
    fn slo_judgement_needs_evidence_both_ways() {
        // 5 of 20 on time: breached beyond doubt; 18 of 20 (0.90): not beyond doubt.
        assert_eq!(judge_slo(5, 20, 0.95), SloJudgement::Breached);
        assert_eq!(judge_slo(18, 20, 0.95), SloJudgement::Unclear);
        assert_eq!(judge_slo(850, 1000, 0.95), SloJudgement::Breached);
        // 20 of 20: met only once the interval is within the slack (lower bound 0.84 < 0.90).
        assert_eq!(judge_slo(20, 20, 0.95), SloJudgement::Unclear);
        assert_eq!(judge_slo(97, 100, 0.95), SloJudgement::Met);
        assert_eq!(judge_slo(0, 0, 0.95), SloJudgement::Unclear);
    }

    #[test]
    fn t_quantiles_match_the_table() {
        for (df, t) in [
            (1.0, 12.706),
            (2.0, 4.303),
            (3.0, 3.182),
            (5.0, 2.571),
            (10.0, 2.228),
            (11.0, 2.201),
            (15.0, 2.131),
            (30.0, 2.042),
            (1e9, 1.960),
        ] {
            assert!((t95(df) - t).abs() / t < 2e-3, "{df}: {}", t95(df));
        }
    }

    #[test]
    fn blocks_treat_correlated_messages_as_one_sample_each() {
        // Ten blocks of 100 messages, alternately all on time and all late: the mean is 0.5 and
        // the spread between blocks is the spread, not a binomial 1/4000.
        let swing = Blocks::from_counts((0..10).map(|i| if i % 2 == 0 { (100, 100) } else { (0, 100) }));
        assert!((swing.mean - 0.5).abs() < 1e-12 && swing.var > 0.25, "{swing:?}");
        let steady = Blocks::from_counts((0..10).map(|_| (50, 100)));
        assert!(steady.var < 0.003, "{steady:?}");
        let (lo, hi) = swing.difference(&steady).unwrap();
        assert!(lo < 0.0 && hi > 0.0, "no difference shown: {lo} {hi}");
        let better = Blocks::from_counts((0..10).map(|_| (90, 100)));
        let (lo, _) = better.difference(&steady).unwrap();
        assert!(lo > 0.3, "{lo}");
        assert_eq!(Blocks::default().difference(&steady), None);
        // One block: the binomial variance of its 100 messages.
        let (lo, hi) = Blocks::from_counts([(90, 100)]).difference(&steady).unwrap();
        assert!(lo > 0.25 && hi < 0.55, "{lo} {hi}");
        assert!(swing.needed_for(0.1) > steady.needed_for(0.1));
    }

    #[test]
    fn a_level_is_judged_against_its_target_with_its_interval() {
        // Target 100, slack 20: breached only below 90 with the interval wholly under 100; met
        // only at 100 or above with the lower bound at 80 or above.
        assert_eq!(judge_at_least(80.0, 5.0, 100.0, 20.0), SloJudgement::Breached);
        assert_eq!(judge_at_least(80.0, 25.0, 100.0, 20.0), SloJudgement::Unclear, "the interval reaches the target");
        assert_eq!(judge_at_least(95.0, 1.0, 100.0, 20.0), SloJudgement::Unclear, "short by less than half the slack");
        assert_eq!(judge_at_least(105.0, 10.0, 100.0, 20.0), SloJudgement::Met);
        assert_eq!(judge_at_least(105.0, 30.0, 100.0, 20.0), SloJudgement::Unclear, "a breach is plausible");
        assert_eq!(judge_at_least(50.0, f64::INFINITY, 100.0, 20.0), SloJudgement::Unclear, "no interval");
        assert_eq!(judge_at_least(f64::NAN, 1.0, 100.0, 20.0), SloJudgement::Unclear);
    }
}

#![forbid(unsafe_code)]
//! Closed-loop verification: what an applied action did to its strategy's metric.
//!
//! When the app acknowledges an action as applied, the engine notes the metric over the
//! statistics window (`before`) and starts an accumulator that sees only samples recorded from
//! then on. When the measurement ends, `after` comes from that accumulator alone, so samples
//! from before the change cannot dilute it. The judgement is one fixed rule per kind of metric,
//! applied once (see [`judge_on_time`], [`judge_quantile`], [`judge_rate`], [`judge_drain`],
//! [`judge_level`], [`judge_percent`]); too little data
//! gives `Inconclusive`: no effect is ever claimed without data.

use super::stats::{quantile_rank_interval, Blocks};
use crate::metrics::sketch::LogHistogram;
use crate::{MetricSample, PerformanceMetrics, TargetMetric};

/// The value of `metric` in `m` if there is enough data (`min_samples`) to act on it.
pub fn metric_value(m: &PerformanceMetrics, metric: TargetMetric, min_samples: u64) -> Option<f64> {
    match metric {
        TargetMetric::P95LatencyMs => m.network_latency.filter(|l| l.count >= min_samples).map(|l| l.p95_ms),
        TargetMetric::MeanHopCount => {
            m.mesh_performance.mean_hop_count.filter(|_| m.mesh_performance.delivered >= min_samples)
        }
        TargetMetric::HeapUsedMb => m.memory_usage.heap_used_mb,
        TargetMetric::ConsensusOpsPerSec => {
            Some(m.consensus_performance.ops_per_sec).filter(|_| m.consensus_performance.rounds >= min_samples)
        }
        TargetMetric::P95FinalizationMs => {
            m.consensus_performance.finalization.filter(|f| f.count >= min_samples).map(|f| f.p95_ms)
        }
        TargetMetric::P95DiscoveryMs => {
            m.mesh_performance.discovery.filter(|d| d.count >= min_samples).map(|d| d.p95_ms)
        }
        TargetMetric::OnTimeRatio => m
            .mesh_performance
            .on_time_ratio
            .filter(|_| m.mesh_performance.delivered + m.mesh_performance.lost >= min_samples),
        // Battery drain needs a history, not a window: see `MetricsCollector::battery_drain_*`.
        TargetMetric::BatteryDrainPercentPerHour => None,
    }
}

/// Samples of one metric seen since an action was applied.
#[derive(Debug, Clone)]
pub enum Accumulator {
    /// p95 of durations (latency, finalization).
    P95(Box<LogHistogram>),
    /// Mean of values (hops, heap), with their squares for the heap's variance; `need` samples
    /// make a result.
    Mean { sum: f64, squares: f64, count: u64, need: u64 },
    /// Sum of operations (and of their squares, for the variance), turned into a rate over the
    /// elapsed time.
    Rate { sum: f64, squares: f64, count: u64 },
    /// Battery drain, read from the collector's history at the end.
    Battery,
    /// An on-time ratio, read from the collector's blocks of history at the end.
    OnTime,
}

impl Accumulator {
    /// The accumulator that suits `metric`.
    pub fn for_metric(metric: TargetMetric, min_samples: u64) -> Self {
        match metric {
            TargetMetric::OnTimeRatio => Accumulator::OnTime,
            TargetMetric::P95LatencyMs | TargetMetric::P95FinalizationMs | TargetMetric::P95DiscoveryMs => {
                Accumulator::P95(Box::default())
            }
            TargetMetric::MeanHopCount => {
                Accumulator::Mean { sum: 0.0, squares: 0.0, count: 0, need: min_samples.max(1) }
            }
            // Two readings at least: one has no spread to estimate (see `judge_level`).
            TargetMetric::HeapUsedMb => Accumulator::Mean { sum: 0.0, squares: 0.0, count: 0, need: 2 },
            TargetMetric::ConsensusOpsPerSec => Accumulator::Rate { sum: 0.0, squares: 0.0, count: 0 },
            TargetMetric::BatteryDrainPercentPerHour => Accumulator::Battery,
        }
    }

    /// Takes in a sample if it carries `metric`.
    pub fn feed(&mut self, metric: TargetMetric, sample: &MetricSample) {
        let value = match (metric, sample) {
            (TargetMetric::P95LatencyMs, MetricSample::MessageDelivered { latency_ms, .. }) => *latency_ms,
            (TargetMetric::MeanHopCount, MetricSample::MessageDelivered { hops, .. }) => f64::from(*hops),
            (TargetMetric::HeapUsedMb, MetricSample::Heap { used_mb, .. }) => *used_mb,
            (TargetMetric::ConsensusOpsPerSec, MetricSample::ConsensusRound { operations, .. }) => {
                f64::from(*operations)
            }
            (TargetMetric::P95FinalizationMs, MetricSample::ConsensusRound { finalization_ms, .. }) => *finalization_ms,
            (TargetMetric::P95DiscoveryMs, MetricSample::PeerDiscovered { duration_ms }) => *duration_ms,
            _ => return,
        };
        match self {
            Accumulator::P95(h) => h.record(value),
            Accumulator::Mean { sum, squares, count, .. } => {
                *sum += value;
                *squares += value * value;
                *count += 1;
            }
            Accumulator::Rate { sum, squares, count } => {
                *sum += value;
                *squares += value * value;
                *count += 1;
            }
            Accumulator::Battery | Accumulator::OnTime => {}
        }
    }

    /// Samples taken in so far (messages for an on-time ratio, durations for a p95).
    pub fn samples(&self) -> u64 {
        match self {
            Accumulator::P95(h) => h.count(),
            Accumulator::Mean { count, .. } | Accumulator::Rate { count, .. } => *count,
            Accumulator::Battery | Accumulator::OnTime => 0,
        }
    }

    /// The mean after the change with the sample variance of its values and their count, once
    /// `need` values came (a mean accumulator only).
    pub fn mean_with_variance(&self) -> Option<(f64, f64, u64)> {
        match self {
            Accumulator::Mean { sum, squares, count, need } if *count >= (*need).max(1) => {
                Some(mean_and_variance(*sum, *squares, *count))
            }
            _ => None,
        }
    }

    /// The p95 after the change with its order-statistic interval, if there are enough samples.
    pub fn p95_with_interval(&self) -> Option<(f64, f64, f64, u64)> {
        match self {
            Accumulator::P95(h) => {
                let n = h.count();
                let (lo, hi) = quantile_rank_interval(n, 0.95)?;
                Some((h.quantile(950)?, h.quantile(lo)?, h.quantile(hi)?, n))
            }
            _ => None,
        }
    }

    /// The rate after the change with its variance and the rounds it counts (as
    /// `MetricsCollector::consensus_rate_with_variance`), over `elapsed_ms`; None for another
    /// accumulator or no round.
    pub fn rate_with_variance(&self, elapsed_ms: u64) -> Option<(f64, f64, u64)> {
        match self {
            Accumulator::Rate { sum, squares, count } if *count > 0 => {
                let t = elapsed_ms.max(1) as f64 / 1000.0;
                Some((sum / t, squares / (t * t), *count))
            }
            _ => None,
        }
    }

    /// The measured value after the change, if there were enough samples. `elapsed_ms` is the
    /// verification window.
    pub fn result(&self, min_samples: u64, elapsed_ms: u64) -> Result<f64, String> {
        match self {
            Accumulator::P95(h) => {
                if h.count() < min_samples {
                    return Err(format!("{} sample(s) after the change, {min_samples} needed", h.count()));
                }
                h.quantile(950).ok_or_else(|| "no samples after the change".to_owned())
            }
            Accumulator::Mean { sum, count, need, .. } => {
                if *count < *need {
                    return Err(format!("{count} sample(s) after the change, {need} needed"));
                }
                Ok(sum / *count as f64)
            }
            Accumulator::Rate { sum, count, .. } => {
                if *count < min_samples {
                    return Err(format!("{count} round(s) after the change, {min_samples} needed"));
                }
                Ok(sum / (elapsed_ms.max(1) as f64 / 1000.0))
            }
            Accumulator::Battery => Err("a battery drain is judged by `judge_drain` on its bounds".to_owned()),
            Accumulator::OnTime => Err("an on-time ratio is judged by `judge_on_time` on blocks".to_owned()),
        }
    }
}

/// What one measurement found, before it becomes an outcome.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Better beyond doubt.
    Improved(Measured),
    /// No change that matters.
    NoEffect(Measured),
    /// Worse beyond doubt (or beyond the tolerance).
    Worse(Measured),
    /// Cannot tell, and why.
    Inconclusive(String),
}

/// The two sides of a comparison and the change between them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measured {
    /// The reference level.
    pub before: f64,
    /// The level after the change.
    pub after: f64,
    /// 95 % interval of `after - before`, when the metric has one.
    pub interval: Option<(f64, f64)>,
    /// Samples on each side (battery readings for a drain, rounds for a rate; 0 where a side
    /// is not a sample count).
    pub samples_before: u64,
    /// Samples after.
    pub samples_after: u64,
}

/// The settled level before a breach must have at least this many blocks to serve as the
/// reference; below it, the level when the action was applied is used.
pub const MIN_SETTLED_BLOCKS: u64 = 6;

/// The rule for an on-time ratio (higher is better), compared by batch means: the samples are
/// blocks of messages, one window slot each (10 s by default: messages that travel together
/// share their fate), and the interval
/// is Welch's for the difference of the block means (see [`Blocks`]):
/// - worse than the level when the action was applied (`breach`, the window then): the
///   interval of `after - breach` is below zero → `Worse`;
/// - better than it: if the ratio settled before the breach (`settled`) is known, the action
///   is `Improved` only when it is also better than that level, which a spike ending by itself
///   cannot do; otherwise the recovery cannot be told from the action's effect → `Inconclusive`;
///   without a settled level (the breach was there from the start), better than the breach is
///   `Improved`;
/// - neither, with the whole interval within `± delta` → `NoEffect`;
/// - else `Inconclusive` (too few blocks, or an interval too wide for any conclusion).
///
/// A single block after the change is `Inconclusive` whatever it holds: it is one trial.
pub fn judge_on_time(breach: &Blocks, settled: Option<&Blocks>, after: &Blocks, delta: f64) -> Verdict {
    if after.n == 1 {
        // One block after the change is one trial: its messages may share one fate (a sender
        // hears of one flood's copies together, 200 of them in the simulator's stadium), and
        // one block has no spread to tell that from independent messages.
        return Verdict::Inconclusive(format!(
            "on-time ratio {:.3} before, {:.3} after in one block of {} messages: one block may be one flood, at least two are needed",
            breach.mean, after.mean, after.messages
        ));
    }
    let Some((lo, hi)) = after.difference(breach) else {
        return Verdict::Inconclusive(format!(
            "{} and {} blocks with messages before and after the change: at least one each is needed",
            breach.n, after.n
        ));
    };
    let vs_breach = Measured {
        before: breach.mean,
        after: after.mean,
        interval: Some((lo, hi)),
        samples_before: breach.messages,
        samples_after: after.messages,
    };
    if hi < 0.0 {
        return Verdict::Worse(vs_breach);
    }
    if lo > 0.0 {
        return match settled.filter(|s| s.n >= MIN_SETTLED_BLOCKS) {
            None => Verdict::Improved(vs_breach),
            Some(s) => match after.difference(s) {
                Some((slo, shi)) if slo > 0.0 => Verdict::Improved(Measured {
                    before: s.mean,
                    after: after.mean,
                    interval: Some((slo, shi)),
                    samples_before: s.messages,
                    samples_after: after.messages,
                }),
                _ => Verdict::Inconclusive(format!(
                    "on-time ratio rose from {:.3} when applied to {:.3}, not beyond {:.3} settled before the breach: a recovery by itself cannot be told from the action's effect",
                    breach.mean, after.mean, s.mean
                )),
            },
        };
    }
    if lo >= -delta && hi <= delta {
        return Verdict::NoEffect(vs_breach);
    }
    Verdict::Inconclusive(format!(
        "on-time ratio {:.3} before, {:.3} after ({} and {} blocks): the change's interval [{lo:+.3}, {hi:+.3}] is too wide to conclude",
        breach.mean, after.mean, breach.n, after.n
    ))
}

/// A p95 with its order-statistic interval: (value, low, high, samples).
pub type QuantileSide = (f64, f64, f64, u64);

/// The rule for a p95 (lower is better): the change's interval is `[after.low - before.high,
/// after.high - before.low]` (conservative: both order-statistic intervals at 95 %). Below zero
/// → `Improved`; above → `Worse`; within `± tolerance_percent` of the level before →
/// `NoEffect`; else `Inconclusive`. Either side without an interval (110 samples are
/// needed for one) → `Inconclusive`.
pub fn judge_quantile(before: Option<QuantileSide>, after: Option<QuantileSide>, tolerance_percent: f64) -> Verdict {
    let (Some(b), Some(a)) = (before, after) else {
        return Verdict::Inconclusive(
            "too few samples for an interval of the p95 on both sides (110 each are needed)".to_owned(),
        );
    };
    judge_bounds("p95", b, a, tolerance_percent)
}

/// The rule for a battery drain (lower is better), on the bounds the level's resolution allows
/// (`MetricsCollector::battery_drain_bounds`: a level reported in whole percent leaves each
/// drain uncertain by ± one step over the span), compared as [`judge_quantile`] compares: the
/// change's interval `[after.low - before.high, after.high - before.low]`. Over the default
/// 10-minute measurement, whole-percent levels leave ± 6 %/h on each side, more than any radio
/// setting changes a phone's drain: such a measurement is `Inconclusive`, and says so, rather
/// than `Improved` or `Worse` on a quantization step. Either side not measurable (charging, a
/// span under a minute) → `Inconclusive`.
pub fn judge_drain(before: Option<QuantileSide>, after: Option<QuantileSide>, tolerance_percent: f64) -> Verdict {
    let (Some(b), Some(a)) = (before, after) else {
        return Verdict::Inconclusive(
            "battery drain not measurable on both sides: charging, or unplugged readings span under a minute"
                .to_owned(),
        );
    };
    judge_bounds("battery drain", b, a, tolerance_percent)
}

/// [`judge_quantile`]'s rule on two sides with bounds, lower is better; `what` names the figure.
fn judge_bounds(what: &str, b: QuantileSide, a: QuantileSide, tolerance_percent: f64) -> Verdict {
    let lo = a.1 - b.2;
    let hi = a.2 - b.1;
    let m = Measured { before: b.0, after: a.0, interval: Some((lo, hi)), samples_before: b.3, samples_after: a.3 };
    decide(what, m, false, tolerance_percent)
}

/// The one decision rule on the interval of a change (`m.interval`, after − before): wholly on
/// the better side → `Improved`; wholly on the worse side → `Worse`; within ± `tolerance_percent`
/// of the level before → `NoEffect`; else `Inconclusive`, naming `what`.
fn decide(what: &str, m: Measured, higher_is_better: bool, tolerance_percent: f64) -> Verdict {
    let Some((lo, hi)) = m.interval else {
        return Verdict::Inconclusive(format!("{what}: no interval"));
    };
    let margin = m.before.abs() * tolerance_percent / 100.0;
    let (better, worse) = if higher_is_better { (lo > 0.0, hi < 0.0) } else { (hi < 0.0, lo > 0.0) };
    if better {
        Verdict::Improved(m)
    } else if worse {
        Verdict::Worse(m)
    } else if lo >= -margin && hi <= margin {
        Verdict::NoEffect(m)
    } else {
        Verdict::Inconclusive(format!(
            "{what} {:.1} before, {:.1} after: the change's interval [{lo:+.1}, {hi:+.1}] is too wide to conclude",
            m.before, m.after
        ))
    }
}

/// The rule for a rate (higher is better), from each side's rate, its variance and its rounds
/// (`consensus_rate_with_variance`): the change `after − before` with a normal 95 % interval,
/// `± 1.96 √(var_before + var_after)`. Above zero → `Improved`; below → `Worse`; within
/// `± tolerance_percent` of the level before → `NoEffect`; else `Inconclusive`. Fewer than
/// `min_samples` rounds on a side (or none) → `Inconclusive`.
pub fn judge_rate(
    before: Option<(f64, f64, u64)>,
    after: Option<(f64, f64, u64)>,
    tolerance_percent: f64,
    min_samples: u64,
) -> Verdict {
    let (Some(b), Some(a)) = (before, after) else {
        return Verdict::Inconclusive("no consensus round on one side of the change".to_owned());
    };
    if b.2 < min_samples || a.2 < min_samples {
        return Verdict::Inconclusive(format!(
            "{} and {} round(s) before and after the change, {min_samples} needed on each side",
            b.2, a.2
        ));
    }
    let half = 1.96 * (b.1 + a.1).sqrt();
    let change = a.0 - b.0;
    let (lo, hi) = (change - half, change + half);
    let m = Measured { before: b.0, after: a.0, interval: Some((lo, hi)), samples_before: b.2, samples_after: a.2 };
    decide("consensus throughput (ops/s)", m, true, tolerance_percent)
}

/// (mean, sample variance, count) of `count` values from their sum and sum of squares (variance
/// 0 for one value).
pub fn mean_and_variance(sum: f64, squares: f64, count: u64) -> (f64, f64, u64) {
    let n = count.max(1) as f64;
    let mean = sum / n;
    let var = if count > 1 { ((squares - n * mean * mean) / (n - 1.0)).max(0.0) } else { 0.0 };
    (mean, var, count)
}

/// The rule for a level sampled in readings (the heap), lower is better: the change of the mean
/// reading `after − before` with Welch's 95 % interval over the readings on each side, then the
/// one decision rule ([`decide`]). Readings are taken as independent around the level; a heap
/// that saws with its garbage collector between readings makes them less so, and the interval
/// then errs narrow. At least two readings a side (one has no spread to estimate), else
/// `Inconclusive`.
pub fn judge_level(
    metric: TargetMetric,
    before: Option<(f64, f64, u64)>,
    after: Option<(f64, f64, u64)>,
    tolerance_percent: f64,
) -> Verdict {
    let (Some(b), Some(a)) = (before, after) else {
        return Verdict::Inconclusive(format!("{}: no reading on one side of the change", metric.label()));
    };
    if b.2 < 2 || a.2 < 2 {
        return Verdict::Inconclusive(format!(
            "{}: {} and {} reading(s) before and after the change, 2 needed on each side",
            metric.label(),
            b.2,
            a.2
        ));
    }
    let (vb, va) = (b.1 / b.2 as f64, a.1 / a.2 as f64);
    let se2 = vb + va;
    let denom = vb * vb / (b.2 as f64 - 1.0) + va * va / (a.2 as f64 - 1.0);
    let df = if denom > 0.0 { se2 * se2 / denom } else { f64::INFINITY };
    let half = super::stats::t95(df) * se2.sqrt();
    let change = a.0 - b.0;
    let m = Measured {
        before: b.0,
        after: a.0,
        interval: Some((change - half, change + half)),
        samples_before: b.2,
        samples_after: a.2,
    };
    decide(metric.label(), m, false, tolerance_percent)
}

/// The rule for the other metric (the mean hop count), which carries no interval:
/// a relative change beyond `tolerance_percent` either way is `Improved` or `Worse`; within it,
/// `NoEffect`.
pub fn judge_percent(
    metric: TargetMetric,
    before: f64,
    after: f64,
    tolerance_percent: f64,
    samples_after: u64,
) -> Verdict {
    let Some(imp) = improvement_percent(metric, before, after) else {
        return Verdict::Inconclusive(format!("baseline {} is zero: no relative change can be stated", metric.label()));
    };
    let m = Measured { before, after, interval: None, samples_before: 0, samples_after };
    if imp < -tolerance_percent {
        Verdict::Worse(m)
    } else if imp > tolerance_percent {
        Verdict::Improved(m)
    } else {
        Verdict::NoEffect(m)
    }
}

/// Improvement of `after` over `before`, in percent (positive = better), or None when the
/// baseline is zero (no relative change can be stated).
pub fn improvement_percent(metric: TargetMetric, before: f64, after: f64) -> Option<f64> {
    if before.abs() < f64::EPSILON || !before.is_finite() || !after.is_finite() {
        return None;
    }
    let change = if metric.higher_is_better() { after - before } else { before - after };
    Some(change / before.abs() * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::collector::MetricsCollector;

    #[test]
    fn improvement_sign_follows_direction() {
        assert_eq!(improvement_percent(TargetMetric::P95LatencyMs, 200.0, 150.0), Some(25.0));
        assert_eq!(improvement_percent(TargetMetric::P95LatencyMs, 100.0, 150.0), Some(-50.0));
        assert_eq!(improvement_percent(TargetMetric::ConsensusOpsPerSec, 100.0, 150.0), Some(50.0));
        assert_eq!(improvement_percent(TargetMetric::HeapUsedMb, 0.0, 1.0), None);
    }

    #[test]
    fn accumulator_ignores_other_metrics_and_needs_samples() {
        let mut a = Accumulator::for_metric(TargetMetric::P95LatencyMs, 5);
        a.feed(TargetMetric::P95LatencyMs, &MetricSample::Heap { used_mb: 1.0, limit_mb: 2.0 });
        assert!(a.result(1, 1_000).is_err());
        for i in 1..=20 {
            a.feed(
                TargetMetric::P95LatencyMs,
                &MetricSample::MessageDelivered { latency_ms: f64::from(i), hops: 1, bytes: 1 },
            );
        }
        let p95 = a.result(5, 1_000).unwrap();
        assert!((p95 - 19.0).abs() / 19.0 < 0.01, "{p95}");
        let mut r = Accumulator::for_metric(TargetMetric::ConsensusOpsPerSec, 5);
        for _ in 0..10 {
            r.feed(
                TargetMetric::ConsensusOpsPerSec,
                &MetricSample::ConsensusRound { proposal_ms: 1.0, vote_ms: 1.0, finalization_ms: 1.0, operations: 30 },
            );
        }
        assert_eq!(r.result(5, 10_000).unwrap(), 30.0);
    }

    fn blocks(k: u64, n: u64, count: usize) -> Blocks {
        Blocks::from_counts(std::iter::repeat_n((k, n), count))
    }

    #[test]
    fn on_time_rule_covers_every_verdict() {
        // Worse than the level when applied.
        assert!(matches!(judge_on_time(&blocks(8, 10, 6), None, &blocks(5, 10, 6), 0.05), Verdict::Worse(_)));
        // Better and no settled level: Improved, against the level when applied.
        match judge_on_time(&blocks(4, 10, 6), None, &blocks(9, 10, 6), 0.05) {
            Verdict::Improved(m) => assert!((m.before - 0.4).abs() < 1e-9 && m.interval.unwrap().0 > 0.0),
            v => panic!("{v:?}"),
        }
        // Better, but only back to the settled level: a spike that ended.
        assert!(matches!(
            judge_on_time(&blocks(4, 10, 6), Some(&blocks(19, 20, 60)), &blocks(19, 20, 6), 0.05),
            Verdict::Inconclusive(_)
        ));
        // Better than the settled level too.
        assert!(matches!(
            judge_on_time(&blocks(4, 10, 6), Some(&blocks(50, 100, 60)), &blocks(95, 100, 6), 0.05),
            Verdict::Improved(_)
        ));
        // A settled level of too few blocks is not a reference.
        assert!(matches!(
            judge_on_time(&blocks(4, 10, 6), Some(&blocks(10, 10, 2)), &blocks(9, 10, 6), 0.05),
            Verdict::Improved(_)
        ));
        // No change, narrow interval: NoEffect; no change, wide interval or too few blocks: Inconclusive.
        assert!(matches!(judge_on_time(&blocks(90, 100, 30), None, &blocks(90, 100, 30), 0.05), Verdict::NoEffect(_)));
        let noisy = Blocks::from_counts((0..4).map(|i| if i % 2 == 0 { (10, 10) } else { (0, 10) }));
        assert!(matches!(judge_on_time(&noisy, None, &noisy, 0.05), Verdict::Inconclusive(_)));
        assert!(matches!(judge_on_time(&Blocks::default(), None, &blocks(9, 10, 6), 0.05), Verdict::Inconclusive(_)));
        // One block after the change, however many messages: the simulator's stadium, where a
        // sender heard of one flood after a move (a flood there reaches up to 199 phones), all
        // late, against 0.895 before. Counted as independent messages that was Worse at
        // [-0.965, -0.825].
        let before = Blocks::from_counts([(72, 81), (73, 81)]);
        match judge_on_time(&before, None, &blocks(0, 199, 1), 0.05) {
            Verdict::Inconclusive(why) => assert!(why.contains("one block"), "{why}"),
            v => panic!("{v:?}"),
        }
        assert!(matches!(judge_on_time(&before, None, &blocks(0, 199, 2), 0.05), Verdict::Worse(_)));
    }

    #[test]
    fn quantile_and_percent_rules() {
        let b = Some((200.0, 190.0, 210.0, 500));
        assert!(matches!(judge_quantile(b, Some((100.0, 95.0, 105.0, 500)), 10.0), Verdict::Improved(_)));
        assert!(matches!(judge_quantile(b, Some((300.0, 290.0, 310.0, 500)), 10.0), Verdict::Worse(_)));
        assert!(matches!(judge_quantile(b, Some((201.0, 195.0, 207.0, 500)), 10.0), Verdict::NoEffect(_)));
        assert!(matches!(judge_quantile(b, Some((201.0, 150.0, 260.0, 70)), 10.0), Verdict::Inconclusive(_)));
        assert!(matches!(judge_quantile(None, Some((1.0, 1.0, 1.0, 70)), 10.0), Verdict::Inconclusive(_)));
        assert!(matches!(judge_percent(TargetMetric::MeanHopCount, 4.0, 3.2, 10.0, 5), Verdict::Improved(_)));
        assert!(matches!(judge_percent(TargetMetric::MeanHopCount, 4.0, 4.2, 10.0, 5), Verdict::NoEffect(_)));
        assert!(matches!(judge_percent(TargetMetric::MeanHopCount, 4.0, 4.8, 10.0, 5), Verdict::Worse(_)));
    }

    #[test]
    fn a_level_in_readings_is_judged_on_welchs_interval() {
        let h = TargetMetric::HeapUsedMb;
        // 6 readings at 420 ± 3 (variance 9), then 6 at 380 ± 3: −40 MB, beyond doubt.
        let before = Some((420.0, 9.0, 6));
        match judge_level(h, before, Some((380.0, 9.0, 6)), 10.0) {
            Verdict::Improved(m) => {
                let (lo, hi) = m.interval.unwrap();
                // Welch: se = √(9/6 + 9/6) ≈ 1.73, df = 10, t = 2.228: ± 3.86.
                assert!((lo + 43.86).abs() < 0.05 && (hi + 36.14).abs() < 0.05, "{lo} {hi}");
            }
            v => panic!("{v:?}"),
        }
        assert!(matches!(judge_level(h, before, Some((460.0, 9.0, 6)), 10.0), Verdict::Worse(_)));
        // The same means on a heap that saws by ±60 MB: the interval spans the tolerance.
        assert!(matches!(
            judge_level(h, Some((420.0, 3_600.0, 6)), Some((380.0, 3_600.0, 6)), 10.0),
            Verdict::Inconclusive(_)
        ));
        // A 1 MB change on a quiet heap: within the tolerance.
        assert!(matches!(judge_level(h, Some((420.0, 100.0, 6)), Some((421.0, 100.0, 6)), 10.0), Verdict::NoEffect(_)));
        // One reading on a side has no spread to estimate; none is no data.
        assert!(matches!(judge_level(h, Some((420.0, 0.0, 1)), Some((380.0, 9.0, 6)), 10.0), Verdict::Inconclusive(_)));
        assert!(matches!(judge_level(h, None, Some((380.0, 9.0, 6)), 10.0), Verdict::Inconclusive(_)));
        assert_eq!(mean_and_variance(6.0, 14.0, 3), (2.0, 1.0, 3));
        assert_eq!(mean_and_variance(5.0, 25.0, 1), (5.0, 0.0, 1));
    }

    #[test]
    fn a_rate_is_judged_on_its_interval() {
        let b = Some((100.0, 25.0, 50));
        // +50 ops/s, ± 1.96·√50 ≈ ± 13.9: improved; the reverse: worse.
        assert!(matches!(judge_rate(b, Some((150.0, 25.0, 50)), 10.0, 5), Verdict::Improved(_)));
        assert!(matches!(judge_rate(b, Some((50.0, 25.0, 50)), 10.0, 5), Verdict::Worse(_)));
        // The same level, ± 41: too wide for the ± 10 of the tolerance.
        assert!(matches!(judge_rate(b, Some((100.0, 400.0, 50)), 10.0, 5), Verdict::Inconclusive(_)));
        // The same level, ± 2.8 at most: no effect.
        assert!(matches!(judge_rate(Some((100.0, 1.0, 50)), Some((101.0, 1.0, 50)), 10.0, 5), Verdict::NoEffect(_)));
        // Too few rounds on a side, or none.
        assert!(matches!(judge_rate(b, Some((150.0, 25.0, 4)), 10.0, 5), Verdict::Inconclusive(_)));
        assert!(matches!(judge_rate(None, Some((150.0, 25.0, 50)), 10.0, 5), Verdict::Inconclusive(_)));
    }

    #[test]
    fn the_rates_variance_matches_the_spread_of_rates_over_runs() {
        // Rounds at random times (Poisson, 2 a second) with 1..=20 operations each, over 30 s:
        // the variance each run estimates, on average, is the variance of the rates the runs
        // measure (a formula off by a factor of T or of the mean would be far off).
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut uniform = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let (mut rates, mut estimates) = (Vec::new(), Vec::new());
        for _ in 0..400 {
            let mut acc = Accumulator::for_metric(TargetMetric::ConsensusOpsPerSec, 5);
            let mut t = 0.0;
            loop {
                t += -(1.0 - uniform()).ln() / 2.0;
                if t >= 30.0 {
                    break;
                }
                let operations = 1 + (uniform() * 20.0) as u32;
                let round =
                    MetricSample::ConsensusRound { proposal_ms: 1.0, vote_ms: 1.0, finalization_ms: 1.0, operations };
                acc.feed(TargetMetric::ConsensusOpsPerSec, &round);
            }
            let (rate, var, _) = acc.rate_with_variance(30_000).unwrap();
            rates.push(rate);
            estimates.push(var);
        }
        let n = rates.len() as f64;
        let mean = rates.iter().sum::<f64>() / n;
        let spread = rates.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0);
        let estimated = estimates.iter().sum::<f64>() / n;
        assert!((estimated / spread - 1.0).abs() < 0.2, "estimated {estimated:.2}, measured {spread:.2}");
        // And the collector's window gives the same figures for the same rounds.
        let mut c = MetricsCollector::new(60_000, 60_000);
        let mut acc = Accumulator::for_metric(TargetMetric::ConsensusOpsPerSec, 5);
        for k in 1..=30u64 {
            let round =
                MetricSample::ConsensusRound { proposal_ms: 1.0, vote_ms: 1.0, finalization_ms: 1.0, operations: 3 };
            c.record(&round, k * 1_000);
            acc.feed(TargetMetric::ConsensusOpsPerSec, &round);
        }
        let (rate, var, rounds) = c.consensus_rate_with_variance().unwrap();
        let (r2, v2, n2) = acc.rate_with_variance(c.consensus_covered_ms()).unwrap();
        assert_eq!(rounds, n2);
        assert!((rate - r2).abs() < 1e-9 && (var - v2).abs() < 1e-9, "{rate} {var} vs {r2} {v2}");
    }

    #[test]
    fn a_drain_is_judged_on_the_bounds_of_the_levels_resolution() {
        // 10 minutes of whole-percent readings: each drain is known to within ± 6 %/h, so a
        // drop of 1 point against 2 points (6 against 12 %/h) concludes nothing...
        let side = |drain: f64| Some((drain, drain - 6.0, drain + 6.0, 3));
        assert!(matches!(judge_drain(side(12.0), side(6.0), 5.0), Verdict::Inconclusive(_)));
        // ...while a drop of 1 against 4 points (6 against 24 %/h) is an improvement even at
        // the bounds, and the reverse a worsening.
        assert!(matches!(judge_drain(side(24.0), side(6.0), 5.0), Verdict::Improved(_)));
        assert!(matches!(judge_drain(side(6.0), side(24.0), 5.0), Verdict::Worse(_)));
        // Exact levels (bounds of zero width): the same drain is no effect, a rise is worse.
        let exact = |drain: f64| Some((drain, drain, drain, 3));
        assert!(matches!(judge_drain(exact(10.0), exact(10.0), 5.0), Verdict::NoEffect(_)));
        assert!(matches!(judge_drain(exact(10.0), exact(10.2), 5.0), Verdict::Worse(_)));
        assert!(matches!(judge_drain(None, exact(10.0), 5.0), Verdict::Inconclusive(_)));
    }
}

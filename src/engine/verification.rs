#![forbid(unsafe_code)]
//! Closed-loop verification: what an applied action did to its strategy's metric.
//!
//! When the app acknowledges an action as applied, the engine notes the metric's value over the
//! statistics window (`before`) and starts an accumulator that sees only samples recorded from
//! then on. When the verification window ends, `after` comes from that accumulator alone, so
//! samples from before the change cannot dilute the measurement. Too few samples on either side
//! gives `Inconclusive`: no effect is ever claimed without data.

use crate::metrics::collector::MetricsCollector;
use crate::metrics::sketch::LogHistogram;
use crate::{MetricSample, PerformanceMetrics, TargetMetric};

/// The value of `metric` in `m` if there is enough data (`min_samples`) to act on it.
pub fn metric_value(m: &PerformanceMetrics, metric: TargetMetric, min_samples: u64) -> Option<f64> {
    match metric {
        TargetMetric::P95LatencyMs => m.network_latency.filter(|l| l.count >= min_samples).map(|l| l.p95_ms),
        TargetMetric::MeanHopCount => m
            .mesh_performance
            .mean_hop_count
            .filter(|_| m.mesh_performance.delivered >= min_samples),
        TargetMetric::HeapUsedMb => m.memory_usage.heap_used_mb,
        TargetMetric::ConsensusOpsPerSec => {
            Some(m.consensus_performance.ops_per_sec).filter(|_| m.consensus_performance.rounds >= min_samples)
        }
        TargetMetric::P95FinalizationMs => {
            m.consensus_performance.finalization.filter(|f| f.count >= min_samples).map(|f| f.p95_ms)
        }
        TargetMetric::P95DiscoveryMs => m.mesh_performance.discovery.filter(|d| d.count >= min_samples).map(|d| d.p95_ms),
        // Battery drain needs a history, not a window: see `MetricsCollector::battery_drain_*`.
        TargetMetric::BatteryDrainPercentPerHour => None,
    }
}

/// Samples of one metric seen since an action was applied.
#[derive(Debug, Clone)]
pub enum Accumulator {
    /// p95 of durations (latency, finalization).
    P95(Box<LogHistogram>),
    /// Mean of values (hops, heap); `need` samples make a result (heap samples are sparse:
    /// one is enough).
    Mean { sum: f64, count: u64, need: u64 },
    /// Sum of operations, turned into a rate over the elapsed time.
    Rate { sum: f64, count: u64 },
    /// Battery drain, read from the collector's history at the end.
    Battery,
}

impl Accumulator {
    /// The accumulator that suits `metric`.
    pub fn for_metric(metric: TargetMetric, min_samples: u64) -> Self {
        match metric {
            TargetMetric::P95LatencyMs | TargetMetric::P95FinalizationMs | TargetMetric::P95DiscoveryMs => {
                Accumulator::P95(Box::default())
            }
            TargetMetric::MeanHopCount => Accumulator::Mean { sum: 0.0, count: 0, need: min_samples.max(1) },
            TargetMetric::HeapUsedMb => Accumulator::Mean { sum: 0.0, count: 0, need: 1 },
            TargetMetric::ConsensusOpsPerSec => Accumulator::Rate { sum: 0.0, count: 0 },
            TargetMetric::BatteryDrainPercentPerHour => Accumulator::Battery,
        }
    }

    /// Takes in a sample if it carries `metric`.
    pub fn feed(&mut self, metric: TargetMetric, sample: &MetricSample) {
        let value = match (metric, sample) {
            (TargetMetric::P95LatencyMs, MetricSample::MessageDelivered { latency_ms, .. }) => *latency_ms,
            (TargetMetric::MeanHopCount, MetricSample::MessageDelivered { hops, .. }) => f64::from(*hops),
            (TargetMetric::HeapUsedMb, MetricSample::Heap { used_mb, .. }) => *used_mb,
            (TargetMetric::ConsensusOpsPerSec, MetricSample::ConsensusRound { operations, .. }) => f64::from(*operations),
            (TargetMetric::P95FinalizationMs, MetricSample::ConsensusRound { finalization_ms, .. }) => *finalization_ms,
            (TargetMetric::P95DiscoveryMs, MetricSample::PeerDiscovered { duration_ms }) => *duration_ms,
            _ => return,
        };
        match self {
            Accumulator::P95(h) => h.record(value),
            Accumulator::Mean { sum, count, .. } | Accumulator::Rate { sum, count } => {
                *sum += value;
                *count += 1;
            }
            Accumulator::Battery => {}
        }
    }

    /// The measured value after the change, if there were enough samples. `elapsed_ms` is the
    /// verification window; `started_ms` is when the action was applied.
    pub fn result(
        &self,
        min_samples: u64,
        started_ms: u64,
        elapsed_ms: u64,
        collector: &MetricsCollector,
    ) -> Result<f64, String> {
        match self {
            Accumulator::P95(h) => {
                if h.count() < min_samples {
                    return Err(format!("{} sample(s) after the change, {min_samples} needed", h.count()));
                }
                h.quantile(950).ok_or_else(|| "no samples after the change".to_owned())
            }
            Accumulator::Mean { sum, count, need } => {
                if *count < *need {
                    return Err(format!("{count} sample(s) after the change, {need} needed"));
                }
                Ok(sum / *count as f64)
            }
            Accumulator::Rate { sum, count } => {
                if *count < min_samples {
                    return Err(format!("{count} round(s) after the change, {min_samples} needed"));
                }
                Ok(sum / (elapsed_ms.max(1) as f64 / 1000.0))
            }
            Accumulator::Battery => collector
                .battery_drain_since(started_ms)
                .ok_or_else(|| "battery drain not measurable: charging, or unplugged readings span under a minute".to_owned()),
        }
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

    #[test]
    fn improvement_sign_follows_direction() {
        assert_eq!(improvement_percent(TargetMetric::P95LatencyMs, 200.0, 150.0), Some(25.0));
        assert_eq!(improvement_percent(TargetMetric::P95LatencyMs, 100.0, 150.0), Some(-50.0));
        assert_eq!(improvement_percent(TargetMetric::ConsensusOpsPerSec, 100.0, 150.0), Some(50.0));
        assert_eq!(improvement_percent(TargetMetric::HeapUsedMb, 0.0, 1.0), None);
    }

    #[test]
    fn accumulator_ignores_other_metrics_and_needs_samples() {
        let c = MetricsCollector::new(60_000, 60_000);
        let mut a = Accumulator::for_metric(TargetMetric::P95LatencyMs, 5);
        a.feed(TargetMetric::P95LatencyMs, &MetricSample::Heap { used_mb: 1.0, limit_mb: 2.0 });
        assert!(a.result(1, 0, 1_000, &c).is_err());
        for i in 1..=20 {
            a.feed(TargetMetric::P95LatencyMs, &MetricSample::MessageDelivered { latency_ms: f64::from(i), hops: 1, bytes: 1 });
        }
        let p95 = a.result(5, 0, 1_000, &c).unwrap();
        assert!((p95 - 19.0).abs() / 19.0 < 0.01, "{p95}");
        let mut r = Accumulator::for_metric(TargetMetric::ConsensusOpsPerSec, 5);
        for _ in 0..10 {
            r.feed(TargetMetric::ConsensusOpsPerSec, &MetricSample::ConsensusRound { proposal_ms: 1.0, vote_ms: 1.0, finalization_ms: 1.0, operations: 30 });
        }
        assert_eq!(r.result(5, 0, 10_000, &c).unwrap(), 30.0);
    }
}

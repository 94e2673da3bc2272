#![forbid(unsafe_code)]
//! `MetricsCollector`: turns the stream of samples into windowed statistics and device state.

use std::collections::VecDeque;

use super::window::{QuantileSummary, WindowedQuantiles, WindowedSum};
use crate::snapshot::{
    ConsensusPerformance, CpuUsage, DeviceState, HeadroomReading, LatencyStats, MemoryUsage, MeshPerformance,
    PerformanceMetrics, HEADROOM_FRESH_MS,
};
use crate::{MemoryPressureLevel, MetricSample, ThermalState};

/// Slots per statistics window: a 60 s window moves in 10 s steps.
pub const WINDOW_SLOTS: usize = 6;
/// Battery readings kept for drain measurements (a reading per percent is plenty).
pub const BATTERY_HISTORY_LEN: usize = 256;

/// One battery reading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatteryReading {
    /// Engine time of the reading.
    pub at_ms: u64,
    /// Level, percent.
    pub level_percent: f64,
    /// Charger connected.
    pub charging: bool,
}

/// Attached sums of the delivery window: hops, then bytes.
const HOPS: usize = 0;
const BYTES: usize = 1;
/// The span of the battery drain shown in the device state: Android reports the level in whole
/// percent, so a shorter span would often hold a single reading.
const DRAIN_SPAN_MS: u64 = 30 * 60_000;

/// Blocks of on-time history kept: 16 windows (16 minutes at the default 60 s window, in
/// blocks of 10 s, one window slot each), enough for a settled level of 10 windows before a
/// breach and a 10-minute measurement after an action.
pub const ON_TIME_HISTORY_BLOCKS: usize = 16 * WINDOW_SLOTS;

/// Per-block (one window slot: 10 s by default) counts of messages on time and of all messages
/// (delivered and lost). The settled level before a breach, the level when an action is
/// applied and the level after it are all read from here, as blocks: the samples of the
/// engine's batch-means comparisons. Deliveries come from the delivery window's log of its
/// slots (taken when a slot closes: recording pays nothing for it); losses, which are rare, are
/// counted here as they come.
#[derive(Debug, Clone)]
struct LossHistory {
    /// Closed blocks: (block index, lost), oldest first.
    blocks: VecDeque<(u64, u64)>,
    /// The open block: its index and lost count.
    open: (u64, u64),
    /// Block length, ms (at least 1): the delivery window's slot.
    block_ms: u64,
}

impl LossHistory {
    fn add(&mut self, at_ms: u64) {
        let block = at_ms / self.block_ms;
        if self.open.1 > 0 && self.open.0 != block {
            if self.blocks.len() == ON_TIME_HISTORY_BLOCKS {
                self.blocks.pop_front();
            }
            self.blocks.push_back(self.open);
            self.open = (block, 0);
        }
        self.open.0 = block;
        self.open.1 += 1;
    }

    fn all(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.blocks.iter().copied().chain((self.open.1 > 0).then_some(self.open))
    }
}

/// Attached sums of the consensus window: proposal ms, vote ms, then operations.
const PROPOSAL: usize = 0;
const VOTE: usize = 1;
const OPERATIONS: usize = 2;

/// Windowed statistics and latest device state, fed by `record`.
///
/// Figures that arrive together share one window: a delivered message's latency, hops and
/// bytes are one sample of `delivered` (quantiles of the latency, sums of hops and bytes), and
/// a consensus round's phases and operations are one sample of `consensus`. Recording a
/// delivery therefore checks the clock once and writes one slot.
#[derive(Debug, Clone)]
pub struct MetricsCollector {
    delivered: WindowedQuantiles<2>,
    deadline_ms: f64,
    /// A round is in time when it finalized within this (`max_finalization_ms`).
    finalization_max_ms: f64,
    window_ms: u64,
    losses: LossHistory,
    lost: WindowedSum,
    connection: WindowedQuantiles,
    discovery: WindowedQuantiles,
    consensus: WindowedQuantiles<3>,
    /// The square of each round's operations, over the same window (the rate's variance). A
    /// window of its own rather than a fourth attached sum: the struct every delivery touches
    /// stays as it was (a fourth sum made `record` and `tick` 10–15 % slower in the benchmark).
    consensus_squares: WindowedSum,
    /// When the last consensus round was recorded.
    last_round_ms: Option<u64>,
    rssi: WindowedSum,
    peers: Option<(u32, u32)>,
    battery_history: VecDeque<BatteryReading>,
    power_save: bool,
    thermal: ThermalState,
    /// The latest thermal headroom: (headroom, forecast s, recorded at ms).
    headroom: Option<(f64, u32, u64)>,
    pressure: MemoryPressureLevel,
    pressure_at_ms: u64,
    pressure_hold_ms: u64,
    foreground: bool,
    heap: Option<(f64, f64)>,
    /// Heap readings (used MB) over the window, and their squares: the level before a memory
    /// action is their mean, with their spread (`heap_level_with_variance`).
    heap_levels: WindowedSum,
    heap_squares: WindowedSum,
    process: Option<(f64, f64)>,
    now_ms: u64,
}

fn stats(s: Option<QuantileSummary>) -> Option<LatencyStats> {
    s.map(|s| LatencyStats {
        count: s.count,
        mean_ms: s.mean_ms,
        p50_ms: s.p50_ms,
        p95_ms: s.p95_ms,
        p99_ms: s.p99_ms,
        max_ms: s.max_ms,
    })
}

impl MetricsCollector {
    /// A collector with windows of `window_ms`; platform memory pressure holds
    /// `pressure_hold_ms` unless renewed.
    pub fn new(window_ms: u64, pressure_hold_ms: u64) -> Self {
        let q = || WindowedQuantiles::new(window_ms, WINDOW_SLOTS);
        let s = || WindowedSum::new(window_ms, WINDOW_SLOTS);
        let mut delivered = WindowedQuantiles::with_attached_sums(window_ms, WINDOW_SLOTS);
        // Without a deadline every delivery is on time (see `with_deadline`).
        delivered.log_closed_slots(f64::INFINITY, ON_TIME_HISTORY_BLOCKS);
        MetricsCollector {
            delivered,
            deadline_ms: f64::INFINITY,
            finalization_max_ms: f64::INFINITY,
            window_ms,
            losses: LossHistory {
                blocks: VecDeque::with_capacity(ON_TIME_HISTORY_BLOCKS),
                open: (0, 0),
                block_ms: window_ms.div_ceil(WINDOW_SLOTS as u64).max(1),
            },
            lost: s(),
            connection: q(),
            discovery: q(),
            consensus: WindowedQuantiles::with_attached_sums(window_ms, WINDOW_SLOTS),
            consensus_squares: s(),
            last_round_ms: None,
            rssi: s(),
            peers: None,
            battery_history: VecDeque::with_capacity(BATTERY_HISTORY_LEN),
            power_save: false,
            thermal: ThermalState::Nominal,
            headroom: None,
            pressure: MemoryPressureLevel::Normal,
            pressure_at_ms: 0,
            pressure_hold_ms,
            foreground: true,
            heap: None,
            heap_levels: s(),
            heap_squares: s(),
            process: None,
            now_ms: 0,
        }
    }

    /// The same collector, counting a delivery as on time when its latency is at most
    /// `deadline_ms` (without a deadline every delivery is on time; a loss never is).
    pub fn with_deadline(mut self, deadline_ms: f64) -> Self {
        self.deadline_ms = deadline_ms;
        self.delivered.log_closed_slots(deadline_ms, ON_TIME_HISTORY_BLOCKS);
        self
    }

    /// The same collector, counting a consensus round as in time when it finalized within
    /// `max_ms` (without one, every round is).
    pub fn with_finalization_max(mut self, max_ms: f64) -> Self {
        self.finalization_max_ms = max_ms;
        self
    }

    /// Records a validated sample at `at_ms` (the engine's monotonic time). O(1), never
    /// allocates (battery history is a fixed-capacity ring).
    #[inline]
    pub fn record(&mut self, sample: &MetricSample, at_ms: u64) {
        self.now_ms = self.now_ms.max(at_ms);
        let at = self.now_ms;
        match *sample {
            MetricSample::MessageDelivered { latency_ms, hops, bytes } => {
                self.push_delivery(latency_ms, hops, bytes, at)
            }
            MetricSample::MessageLost { hops } => {
                self.lost.record(f64::from(hops), at);
                self.losses.add(at);
            }
            MetricSample::LinkRssi { rssi_dbm, .. } => self.rssi.record(f64::from(rssi_dbm), at),
            MetricSample::PeerCount { connected, discovered } => self.peers = Some((connected, discovered)),
            MetricSample::ConnectionEstablished { duration_ms } => self.connection.record(duration_ms, at),
            MetricSample::PeerDiscovered { duration_ms } => self.discovery.record(duration_ms, at),
            MetricSample::ConsensusRound { proposal_ms, vote_ms, finalization_ms, operations } => {
                let ops = f64::from(operations);
                self.consensus.record_with(finalization_ms, [proposal_ms, vote_ms, ops], at);
                self.consensus_squares.record(ops * ops, at);
                self.last_round_ms = Some(self.last_round_ms.map_or(at, |t| t.max(at)));
            }
            MetricSample::Battery { level_percent, charging } => {
                if self.battery_history.len() == BATTERY_HISTORY_LEN {
                    self.battery_history.pop_front();
                }
                self.battery_history.push_back(BatteryReading { at_ms: at, level_percent, charging });
            }
            MetricSample::PowerSaveMode { enabled } => self.power_save = enabled,
            MetricSample::Thermal { state } => self.thermal = state,
            MetricSample::ThermalHeadroom { headroom, forecast_s } => self.headroom = Some((headroom, forecast_s, at)),
            MetricSample::MemoryPressure { level } => {
                self.pressure = level;
                self.pressure_at_ms = at;
            }
            MetricSample::Heap { used_mb, limit_mb } => {
                self.heap = Some((used_mb, limit_mb));
                self.heap_levels.record(used_mb, at);
                self.heap_squares.record(used_mb * used_mb, at);
            }
            MetricSample::AppState { foreground } => self.foreground = foreground,
            MetricSample::ProcessUsage { cpu_percent, resident_mb } => self.process = Some((cpu_percent, resident_mb)),
        }
    }

    /// Records a validated `MessageDelivered { latency_ms, hops, bytes }` at `at_ms`: the same
    /// as `record` with that sample, without building it (the engine's hot path).
    #[inline]
    pub fn record_delivery(&mut self, latency_ms: f64, hops: u32, bytes: u32, at_ms: u64) {
        self.now_ms = self.now_ms.max(at_ms);
        self.push_delivery(latency_ms, hops, bytes, self.now_ms);
    }

    #[inline(always)]
    fn push_delivery(&mut self, latency_ms: f64, hops: u32, bytes: u32, at: u64) {
        self.delivered.record_with(latency_ms, [f64::from(hops), f64::from(bytes)], at);
    }

    /// Moves every window to `now_ms` (expiring old slots) and decays memory pressure.
    pub fn advance(&mut self, now_ms: u64) {
        self.now_ms = self.now_ms.max(now_ms);
        let now = self.now_ms;
        self.delivered.advance(now);
        self.consensus.advance(now);
        self.consensus_squares.advance(now);
        self.connection.advance(now);
        self.discovery.advance(now);
        self.lost.advance(now);
        self.rssi.advance(now);
        self.heap_levels.advance(now);
        self.heap_squares.advance(now);
        if self.pressure != MemoryPressureLevel::Normal
            && now.saturating_sub(self.pressure_at_ms) >= self.pressure_hold_ms
        {
            self.pressure = MemoryPressureLevel::Normal;
        }
    }

    /// The latest engine time seen.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// Battery readings, oldest first.
    pub fn battery_history(&self) -> impl Iterator<Item = &BatteryReading> {
        self.battery_history.iter()
    }

    /// Battery drain in percent per hour over readings at or after `since_ms`, if the phone
    /// stayed unplugged and the readings span at least a minute; None otherwise.
    pub fn battery_drain_since(&self, since_ms: u64) -> Option<f64> {
        drain_of(self.battery_history.iter().filter(|r| r.at_ms >= since_ms).copied())
    }

    /// The consensus throughput of the window with its variance: (operations per second,
    /// variance of that rate, rounds). Rounds are taken as a compound Poisson process, whose
    /// total over a span T has variance Σ ops², so the rate's variance is Σ ops² / T² (for rounds
    /// that come more regularly than Poisson's, an overestimate: the interval errs wide). None
    /// without a round.
    pub fn consensus_rate_with_variance(&self) -> Option<(f64, f64, u64)> {
        let rounds = self.consensus.count();
        let covered_s = self.consensus.covered_ms(self.now_ms) as f64 / 1000.0;
        if rounds == 0 || covered_s <= 0.0 {
            return None;
        }
        let rate = self.consensus.attached_rate_per_sec(OPERATIONS, self.now_ms);
        let squares_per_s = self.consensus_squares.rate_per_sec(self.now_ms);
        Some((rate, squares_per_s / covered_s, rounds))
    }

    /// The heap's level over the window: (mean of the readings, their sample variance, their
    /// count), MB. None without a reading in the window.
    pub fn heap_level_with_variance(&self) -> Option<(f64, f64, u64)> {
        let n = self.heap_levels.count();
        (n > 0)
            .then(|| crate::engine::verification::mean_and_variance(self.heap_levels.sum(), self.heap_squares.sum(), n))
    }

    /// The span the consensus rate covers now, ms (test helper).
    #[cfg(test)]
    pub(crate) fn consensus_covered_ms(&self) -> u64 {
        self.consensus.covered_ms(self.now_ms)
    }

    /// Battery drain over the readings in `[from_ms, to_ms)` with the bounds the level's
    /// resolution allows: (drain, low, high, readings), %/h. A platform reports the level in steps
    /// (`step_percent`: Android's `EXTRA_LEVEL` is whole percent), so each reading stands for a
    /// true level within one step of it, however it was rounded, and the drop between the first
    /// and the last reading is known to within ± one step: `(drop ± step) / hours`. None as for
    /// `battery_drain_between` (charging, fewer than two readings, or a span under a minute).
    pub fn battery_drain_bounds(&self, from_ms: u64, to_ms: u64, step_percent: f64) -> Option<(f64, f64, f64, u64)> {
        let readings = || self.battery_history.iter().filter(|r| r.at_ms >= from_ms && r.at_ms < to_ms);
        let drain = drain_of(readings().copied())?;
        let (first, last) = (readings().next()?, readings().next_back()?);
        let hours = last.at_ms.saturating_sub(first.at_ms) as f64 / 3_600_000.0;
        let slack = step_percent / hours;
        Some((drain, drain - slack, drain + slack, readings().count() as u64))
    }

    /// Battery drain over readings in `[from_ms, to_ms)` (see `battery_drain_since`).
    pub fn battery_drain_between(&self, from_ms: u64, to_ms: u64) -> Option<f64> {
        drain_of(self.battery_history.iter().filter(|r| r.at_ms >= from_ms && r.at_ms < to_ms).copied())
    }

    /// Messages on time and all messages (delivered and lost) of each block (one window slot)
    /// that meets
    /// `[from_ms, to_ms)`, oldest first, the current block included, from a history of the last
    /// 16 minutes (the level before a change: every message in them came before `to_ms` when
    /// `to_ms` is now).
    pub fn on_time_blocks_overlapping(&self, from_ms: u64, to_ms: u64) -> Vec<(u64, u64)> {
        let block_ms = self.losses.block_ms;
        let (first, end) = (from_ms / block_ms, to_ms.div_ceil(block_ms));
        self.on_time_blocks().into_iter().filter(|b| b.0 >= first && b.0 < end).map(|b| (b.1, b.2)).collect()
    }

    /// The same, for the blocks that began at or after `from_ms` (the level after a change
    /// made at `from_ms`: no message in them came before it).
    pub fn on_time_blocks_since(&self, from_ms: u64) -> Vec<(u64, u64)> {
        let first = from_ms.div_ceil(self.losses.block_ms);
        self.on_time_blocks().into_iter().filter(|b| b.0 >= first).map(|b| (b.1, b.2)).collect()
    }

    /// Every block of the history: (block index, on time, delivered + lost), oldest first.
    fn on_time_blocks(&self) -> Vec<(u64, u64, u64)> {
        let mut out: Vec<(u64, u64, u64)> = self.delivered.slot_log().map(|(i, n, k)| (i, k.min(n), n)).collect();
        for (i, lost) in self.losses.all() {
            match out.binary_search_by_key(&i, |b| b.0) {
                Ok(pos) => out[pos].2 += lost,
                Err(pos) => out.insert(pos, (i, 0, lost)),
            }
        }
        // Each log keeps its last ON_TIME_HISTORY_BLOCKS blocks: once one is full, blocks older
        // than its oldest would miss that log's side, so they are left out.
        let delivered_full = self.delivered.slot_log_len() >= ON_TIME_HISTORY_BLOCKS;
        let losses_full = self.losses.blocks.len() >= ON_TIME_HISTORY_BLOCKS;
        let cutoff = [
            delivered_full.then(|| self.delivered.slot_log().next().map_or(0, |b| b.0)),
            losses_full.then(|| self.losses.blocks.front().map_or(0, |b| b.0)),
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(0);
        out.retain(|b| b.0 >= cutoff);
        out
    }

    /// The window's p95 of `metric` (latency, finalization or discovery) with its
    /// order-statistic interval at 95 % and its sample count: (p95, low, high, n). None for other
    /// metrics and for samples too small for an interval.
    pub fn window_p95_with_interval(&self, metric: crate::TargetMetric) -> Option<(f64, f64, f64, u64)> {
        use crate::TargetMetric as M;
        let q = |n: u64, quantile: &dyn Fn(u32) -> Option<f64>| {
            let (lo, hi) = crate::engine::stats::quantile_rank_interval(n, 0.95)?;
            Some((quantile(950)?, quantile(lo)?, quantile(hi)?, n))
        };
        match metric {
            M::P95LatencyMs => q(self.delivered.count(), &|pm| self.delivered.quantile(pm)),
            M::P95FinalizationMs => q(self.consensus.count(), &|pm| self.consensus.quantile(pm)),
            M::P95DiscoveryMs => q(self.discovery.count(), &|pm| self.discovery.quantile(pm)),
            _ => None,
        }
    }

    /// Builds the metrics as of the last `advance`.
    pub fn metrics(&self) -> PerformanceMetrics {
        let now = self.now_ms;
        let delivered = self.delivered.count();
        let lost = self.lost.count();
        let total = delivered.saturating_add(lost);
        // On time, and all messages, over the history's blocks of the window (the blocks are
        // the window's slots): the two counts of the ratio come from one place.
        let (on_time, messages) = self
            .on_time_blocks_overlapping(now.saturating_sub(self.window_ms), now.saturating_add(1))
            .into_iter()
            .fold((0u64, 0u64), |(k, n), (bk, bn)| (k + bk, n + bn));
        let battery = self.battery_history.back();
        PerformanceMetrics {
            network_latency: stats(self.delivered.summary()),
            consensus_performance: ConsensusPerformance {
                rounds: self.consensus.count(),
                rounds_in_time: self.consensus.count_at_most(self.finalization_max_ms),
                ops_per_sec: self.consensus.attached_rate_per_sec(OPERATIONS, now),
                ops_per_sec_half_width: self
                    .consensus_rate_with_variance()
                    .map(|(_, var, _)| crate::engine::stats::Z95 * var.sqrt()),
                last_round_age_ms: self
                    .last_round_ms
                    .filter(|_| self.consensus.count() > 0)
                    .map(|t| now.saturating_sub(t)),
                finalization: stats(self.consensus.summary()),
                mean_proposal_ms: self.consensus.attached_mean(PROPOSAL),
                mean_vote_ms: self.consensus.attached_mean(VOTE),
            },
            memory_usage: MemoryUsage {
                heap_used_mb: self.heap.map(|h| h.0),
                heap_limit_mb: self.heap.map(|h| h.1),
                process_resident_mb: self.process.map(|p| p.1),
                pressure: self.pressure,
            },
            cpu_usage: CpuUsage { process_cpu_percent: self.process.map(|p| p.0) },
            mesh_performance: MeshPerformance {
                delivered,
                lost,
                loss_ratio: if total == 0 { 0.0 } else { lost as f64 / total as f64 },
                on_time: on_time.min(delivered),
                on_time_ratio: (messages > 0).then(|| on_time as f64 / messages as f64),
                mean_hop_count: self.delivered.attached_mean(HOPS),
                bytes_per_sec: self.delivered.attached_rate_per_sec(BYTES, now),
                connected_peers: self.peers.map(|p| p.0),
                discovered_peers: self.peers.map(|p| p.1),
                mean_rssi_dbm: self.rssi.mean(),
                connection_setup: stats(self.connection.summary()),
                discovery: stats(self.discovery.summary()),
            },
            device: DeviceState {
                battery_percent: battery.map(|b| b.level_percent),
                charging: battery.map(|b| b.charging),
                power_save: self.power_save,
                thermal: self.thermal,
                thermal_headroom: self
                    .headroom
                    .map(|(headroom, forecast_s, at)| HeadroomReading {
                        headroom,
                        forecast_s,
                        age_ms: now.saturating_sub(at),
                    })
                    .filter(|h| h.age_ms <= HEADROOM_FRESH_MS),
                memory_pressure: self.pressure,
                foreground: self.foreground,
                battery_drain_percent_per_hour: self.battery_drain_since(now.saturating_sub(DRAIN_SPAN_MS)),
            },
        }
    }
}

/// Least-squares-free drain estimate: (first level - last level) / elapsed hours, requiring no
/// charging in between, at least two readings and a span of a minute.
fn drain_of(readings: impl Iterator<Item = BatteryReading>) -> Option<f64> {
    let mut first: Option<BatteryReading> = None;
    let mut last: Option<BatteryReading> = None;
    for r in readings {
        if r.charging {
            return None;
        }
        if first.is_none() {
            first = Some(r);
        }
        last = Some(r);
    }
    let (first, last) = (first?, last?);
    let span_ms = last.at_ms.saturating_sub(first.at_ms);
    if span_ms < 60_000 {
        return None;
    }
    let hours = span_ms as f64 / 3_600_000.0;
    Some((first.level_percent - last.level_percent) / hours)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pressure_decays_after_hold() {
        let mut c = MetricsCollector::new(60_000, 10_000);
        c.record(&MetricSample::MemoryPressure { level: MemoryPressureLevel::Critical }, 1_000);
        c.advance(10_999);
        assert_eq!(c.metrics().device.memory_pressure, MemoryPressureLevel::Critical);
        c.advance(11_000);
        assert_eq!(c.metrics().device.memory_pressure, MemoryPressureLevel::Normal);
    }

    #[test]
    fn a_drain_has_the_bounds_of_one_level_step_over_its_span() {
        let mut c = MetricsCollector::new(60_000, 10_000);
        // 80 → 78 % in 30 minutes: 4 %/h, within ± 1 point over half an hour, ± 2 %/h.
        for (level, at) in [(80.0, 0), (79.0, 900_000), (78.0, 1_800_000)] {
            c.record(&MetricSample::Battery { level_percent: level, charging: false }, at);
        }
        let (drain, lo, hi, n) = c.battery_drain_bounds(0, 1_800_001, 1.0).unwrap();
        assert_eq!((drain, lo, hi, n), (4.0, 2.0, 6.0, 3));
        assert_eq!(c.battery_drain_bounds(0, 1_800_001, 0.0), Some((4.0, 4.0, 4.0, 3)));
        assert_eq!(c.battery_drain_bounds(0, 1_000, 1.0), None, "one reading");
    }

    #[test]
    fn drain_needs_unplugged_readings_over_a_minute() {
        let mut c = MetricsCollector::new(60_000, 10_000);
        c.record(&MetricSample::Battery { level_percent: 50.0, charging: false }, 0);
        assert_eq!(c.battery_drain_since(0), None);
        c.record(&MetricSample::Battery { level_percent: 49.0, charging: false }, 360_000);
        let d = c.battery_drain_since(0).unwrap();
        assert!((d - 10.0).abs() < 1e-9, "{d}");
        c.record(&MetricSample::Battery { level_percent: 49.0, charging: true }, 400_000);
        assert_eq!(c.battery_drain_since(0), None);
        assert!(c.battery_drain_between(0, 400_000).is_some());
    }

    #[test]
    fn metrics_without_data_are_none_not_zero() {
        let c = MetricsCollector::new(60_000, 10_000);
        let m = c.metrics();
        assert!(m.network_latency.is_none());
        assert!(m.mesh_performance.mean_hop_count.is_none());
        assert!(m.device.battery_percent.is_none());
        assert_eq!(m.mesh_performance.loss_ratio, 0.0);
        assert!(m.device.foreground);
    }

    #[test]
    fn the_on_time_ratio_counts_losses_and_its_blocks_merge_both_logs() {
        let mut c = MetricsCollector::new(60_000, 60_000).with_deadline(100.0);
        // Block 0 (0–10 s): 6 on time, 2 late, 2 lost. Block 1: 5 on time. Block 3: 1 lost only.
        for i in 0..6 {
            c.record(&MetricSample::MessageDelivered { latency_ms: 50.0, hops: 1, bytes: 1 }, i * 100);
        }
        for i in 0..2 {
            c.record(&MetricSample::MessageDelivered { latency_ms: 300.0, hops: 1, bytes: 1 }, 1_000 + i * 100);
            c.record(&MetricSample::MessageLost { hops: 0 }, 2_000 + i * 100);
        }
        for i in 0..5 {
            c.record(&MetricSample::MessageDelivered { latency_ms: 99.0, hops: 1, bytes: 1 }, 10_000 + i * 100);
        }
        c.record(&MetricSample::MessageLost { hops: 0 }, 35_000);
        c.advance(36_000);
        assert_eq!(c.on_time_blocks_overlapping(0, 36_000), vec![(6, 10), (5, 5), (0, 1)]);
        assert_eq!(c.on_time_blocks_since(10_000), vec![(5, 5), (0, 1)]);
        assert_eq!(c.on_time_blocks_since(10_001), vec![(0, 1)], "a block that began before is not after");
        let m = c.metrics().mesh_performance;
        assert_eq!((m.on_time, m.delivered, m.lost), (11, 13, 3));
        assert!((m.on_time_ratio.unwrap() - 11.0 / 16.0).abs() < 1e-12, "{m:?}");
        // Later, the ratio is of what is left in the window, block by block as the window's
        // slots (its oldest slot partly covered): at 75 s, blocks 1 and 3.
        c.advance(75_000);
        let m = c.metrics().mesh_performance;
        assert_eq!((m.on_time, m.delivered, m.lost), (5, 5, 1));
        assert!((m.on_time_ratio.unwrap() - 5.0 / 6.0).abs() < 1e-12, "{m:?}");
    }
}

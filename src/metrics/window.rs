#![forbid(unsafe_code)]
//! Sliding time windows over latency histograms and plain sums.
//!
//! A window of `window_ms` is split into `slots` equal slots of
//! `slot_ms = ceil(window_ms / slots)`; slot `j` covers timestamps
//! `[j * slot_ms, (j + 1) * slot_ms)`. A slot expires once it lies entirely
//! outside the window `(latest - window_ms, latest]`, where `latest` is the
//! latest timestamp seen. Consequently every sample newer than
//! `latest - window_ms` is always included, and samples up to
//! `slot_ms - 1` ms older may still be included (the partially covered oldest
//! slot); the ring therefore holds `slots + 1` slots.
//!
//! Time only moves forward: a timestamp earlier than the latest seen (apps
//! may feed out-of-order timestamps) is treated as the latest seen. Any
//! forward jump, even to `u64::MAX`, costs at most O(slots) and uses
//! saturating arithmetic throughout.
//!
//! Recording is the hot path (one call per BLE callback), so it is one
//! compare against the cached time of the next slot change plus the writes
//! into the open slot; all slot rotation work happens on the rare calls that
//! cross a slot boundary.

use super::sketch::{union_quantile, union_quantile_counted, LogHistogram};

/// Upper bound on `slots` accepted by the constructors; bounds memory
/// (a quantile slot is one ~21 KB histogram) regardless of configuration.
pub const MAX_SLOTS: usize = 64;

/// Shared slot/time bookkeeping for both window kinds.
#[derive(Clone, Debug)]
struct SlotClock {
    /// Window length after clamping (>= 1).
    window_ms: u64,
    /// Slot length (>= 1).
    slot_ms: u64,
    /// Ring length: slots spanned by the window + 1 partial slot.
    ring_len: u64,
    /// Whether any timestamp has been seen yet.
    started: bool,
    /// First timestamp ever seen (record or advance).
    first_ms: u64,
    /// Latest timestamp seen.
    latest_ms: u64,
    /// Slot index containing `latest_ms`.
    cur_index: u64,
    /// Ring position of `cur_index`.
    cur_pos: usize,
    /// Oldest slot index still (partly) inside the window.
    oldest_live: u64,
    /// Earliest time at which `cur_index` or `oldest_live` can change (0
    /// before the first timestamp). Always above `latest_ms` once started,
    /// except when saturated at `u64::MAX`, so one compare against it
    /// decides between the fast path and [`SlotClock::advance_slow`].
    next_check_ms: u64,
}

impl SlotClock {
    fn new(window_ms: u64, slots: usize) -> Self {
        let window_ms = window_ms.max(1);
        let slots = (slots.clamp(1, MAX_SLOTS) as u64).min(window_ms);
        let slot_ms = window_ms.div_ceil(slots).max(1);
        let spanned = window_ms.div_ceil(slot_ms);
        Self {
            window_ms,
            slot_ms,
            ring_len: spanned.saturating_add(1),
            started: false,
            first_ms: 0,
            latest_ms: 0,
            cur_index: 0,
            cur_pos: 0,
            oldest_live: 0,
            next_check_ms: 0,
        }
    }

    /// Index of the oldest slot with at least one timestamp in
    /// `(now_ms - window_ms, now_ms]`.
    #[inline]
    fn oldest_live_at(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.window_ms.saturating_sub(1)) / self.slot_ms
    }

    /// The fast path of moving time forward: true when `now_ms` stays before
    /// the next slot change (only `latest_ms` moves); false when the caller
    /// must call [`SlotClock::advance_slow`].
    #[inline(always)]
    fn advance_fast(&mut self, now_ms: u64) -> bool {
        if now_ms < self.next_check_ms {
            if now_ms > self.latest_ms {
                self.latest_ms = now_ms;
            }
            true
        } else {
            false
        }
    }

    /// Moves time forward to `now_ms` (earlier times are ignored) and, if
    /// the slot of `latest_ms` or the oldest live slot may have changed,
    /// recomputes them and returns true.
    fn advance_slow(&mut self, now_ms: u64) -> bool {
        if self.started {
            if now_ms <= self.latest_ms {
                return false;
            }
        } else {
            self.started = true;
            self.first_ms = now_ms;
        }
        self.latest_ms = now_ms;
        if now_ms < self.next_check_ms {
            return false;
        }
        let cur = now_ms / self.slot_ms;
        let oldest = self.oldest_live_at(now_ms);
        self.cur_index = cur;
        self.cur_pos = self.pos_of(cur);
        let next_slot = cur.saturating_add(1).saturating_mul(self.slot_ms);
        let next_expiry =
            oldest.saturating_add(1).saturating_mul(self.slot_ms).saturating_add(self.window_ms.saturating_sub(1));
        self.next_check_ms = next_slot.min(next_expiry);
        self.oldest_live = self.oldest_live.max(oldest);
        true
    }

    /// Ring position of slot `index`.
    #[inline]
    fn pos_of(&self, index: u64) -> usize {
        usize::try_from(index % self.ring_len).unwrap_or(0)
    }

    fn ring_len_usize(&self) -> usize {
        usize::try_from(self.ring_len).unwrap_or(MAX_SLOTS + 1)
    }

    /// Rate per second of a windowed sum as of `now_ms` (see
    /// [`WindowedSum::rate_per_sec`]): `sum_now` is the sum at `latest_ms`,
    /// `sum_from(oldest)` the sum of slots with index `>= oldest`.
    fn rate_per_sec(&self, now_ms: u64, sum_now: f64, sum_from: impl FnOnce(u64) -> f64) -> f64 {
        if !self.started {
            return 0.0;
        }
        let now = now_ms.max(self.latest_ms);
        let oldest = self.oldest_live_at(now);
        let sum = if now == self.latest_ms { sum_now } else { sum_from(oldest) };
        if sum == 0.0 {
            return 0.0;
        }
        sum * 1000.0 / self.covered_ms(now_ms) as f64
    }

    /// The span `rate_per_sec` divides by as of `now_ms`, ms (at least 1; 0 before any time).
    fn covered_ms(&self, now_ms: u64) -> u64 {
        if !self.started {
            return 0;
        }
        let now = now_ms.max(self.latest_ms);
        let start = self.first_ms.max(self.oldest_live_at(now).saturating_mul(self.slot_ms));
        now.saturating_sub(start).max(1)
    }
}

/// Plain numbers for snapshots of a latency window (all ms except `count`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuantileSummary {
    /// Samples in the window.
    pub count: u64,
    /// Mean latency, ms.
    pub mean_ms: f64,
    /// Median latency (nearest rank, < 1 % error), ms.
    pub p50_ms: f64,
    /// 95th percentile latency, ms.
    pub p95_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Exact maximum latency, ms.
    pub max_ms: f64,
}

#[derive(Clone, Debug)]
struct QuantileSlot<const N: usize> {
    /// Absolute slot index this slot currently holds (valid when `live`).
    index: u64,
    /// Whether the slot holds samples of slot `index` that are in the
    /// window (for a closed slot: counted in the closed aggregate).
    live: bool,
    /// Samples of this slot; only recorded into and cleared, so its
    /// min/max are exact (this is the slot's exact max).
    hist: LogHistogram,
    /// The attached sums of this slot's samples.
    sums: [f64; N],
}

impl<const N: usize> QuantileSlot<N> {
    fn new() -> Self {
        QuantileSlot { index: 0, live: false, hist: LogHistogram::new(), sums: [0.0; N] }
    }

    /// Forgets the slot's samples (keeps its allocation).
    fn clear(&mut self) {
        self.hist.clear();
        self.sums = [0.0; N];
        self.live = false;
    }
}

/// Sliding-window latency quantiles, optionally with `N` sums attached to
/// each sample (e.g. hops and bytes of a delivered message) that share the
/// window's clock.
///
/// Each slot has its own [`LogHistogram`]. `record` writes only into the
/// *open* slot (the slot of the latest time, held apart from the ring so it
/// is reached without indexing). The closed live slots sit in a ring and
/// are kept summed in a *closed aggregate*: a slot is added to it when it
/// closes and subtracted when it expires. Queries combine the closed
/// aggregate and the open slot on the fly (at most
/// `2 * (OCTAVES + SUB_BUCKETS)` counters read), so they never merge slots
/// and give exactly the answer of one histogram holding every live sample.
///
/// `record` is O(1) and allocation-free (all histograms are allocated in
/// `new`); memory is `(slots + 2)` histograms of ~21 KB (the open slot,
/// `slots` closed slots, the closed aggregate), bounded by [`MAX_SLOTS`].
/// See the module docs for the exact expiry semantics.
#[derive(Clone, Debug)]
pub struct WindowedQuantiles<const N: usize = 0> {
    clock: SlotClock,
    /// The slot of the latest time (empty before any time is seen).
    open: QuantileSlot<N>,
    /// Ring of closed slots, slot `j` at position `j % slots.len()`; its
    /// length is the number of slots the window spans, enough for every
    /// closed live slot (they are consecutive and fewer than that).
    slots: Vec<QuantileSlot<N>>,
    /// Sum of the closed live slots.
    closed: LogHistogram,
    /// Attached sums of the closed live slots.
    closed_sums: [f64; N],
    /// With [`WindowedQuantiles::log_closed_slots`]: (slot index, samples, samples at or below
    /// the threshold) of each slot as it closes, oldest first, at most `log_len` of them.
    log: std::collections::VecDeque<(u64, u64, u64)>,
    log_threshold: Option<f64>,
    log_len: usize,
}

impl WindowedQuantiles {
    /// Creates a window of `window_ms` split into `slots` slots, with no
    /// attached sums. Never panics: `window_ms` is clamped to at least 1 and
    /// `slots` to `1..=min(MAX_SLOTS, window_ms)`; slot length is
    /// `ceil(window_ms / slots)`.
    pub fn new(window_ms: u64, slots: usize) -> Self {
        Self::with_attached_sums(window_ms, slots)
    }
}

impl<const N: usize> WindowedQuantiles<N> {
    /// Creates a window like [`WindowedQuantiles::new`] whose samples each
    /// carry `N` amounts (see [`WindowedQuantiles::record_with`]).
    pub fn with_attached_sums(window_ms: u64, slots: usize) -> Self {
        let clock = SlotClock::new(window_ms, slots);
        let closed_len = clock.ring_len_usize().saturating_sub(1).max(1);
        let slots = (0..closed_len).map(|_| QuantileSlot::new()).collect();
        Self {
            clock,
            open: QuantileSlot::new(),
            slots,
            closed: LogHistogram::new(),
            closed_sums: [0.0; N],
            log: std::collections::VecDeque::new(),
            log_threshold: None,
            log_len: 0,
        }
    }

    /// Keeps, for the last `len` slots as they close, their sample count and how many samples
    /// were at or below `threshold_ms` (the count of [`LogHistogram::count_at_most`]): a per-slot
    /// history that costs nothing when recording (it is taken when a slot closes).
    pub fn log_closed_slots(&mut self, threshold_ms: f64, len: usize) {
        self.log_threshold = Some(threshold_ms);
        self.log_len = len;
        self.log = std::collections::VecDeque::with_capacity(len);
    }

    /// Closed slots in the log.
    pub fn slot_log_len(&self) -> usize {
        self.log.len()
    }

    /// The closed slots' log (see [`WindowedQuantiles::log_closed_slots`]) followed by the
    /// open slot's figures so far: (slot index, samples, samples at or below the threshold).
    pub fn slot_log(&self) -> impl Iterator<Item = (u64, u64, u64)> + '_ {
        let open = match self.log_threshold {
            Some(th) if self.open.live && !self.open.hist.is_empty() => {
                Some((self.open.index, self.open.hist.count(), self.open.hist.count_at_most(th)))
            }
            _ => None,
        };
        self.log.iter().copied().chain(open)
    }

    /// Effective window length in ms (after clamping).
    pub fn window_ms(&self) -> u64 {
        self.clock.window_ms
    }

    /// Slot length in ms: the expiry granularity.
    pub fn slot_ms(&self) -> u64 {
        self.clock.slot_ms
    }

    /// Records a latency sample observed at `at_ms` (an earlier-than-latest
    /// timestamp counts as the latest), with attached amounts of 0. Values
    /// are sanitized as in [`LogHistogram::record`]. O(1), no allocation.
    #[inline]
    pub fn record(&mut self, value_ms: f64, at_ms: u64) {
        self.record_with(value_ms, [0.0; N], at_ms);
    }

    /// Records a latency sample with its `N` attached amounts at `at_ms`.
    /// Non-finite amounts count as 0 so the sums stay finite. O(1), no
    /// allocation; one compare decides whether a slot boundary was crossed.
    #[inline]
    pub fn record_with(&mut self, value_ms: f64, amounts: [f64; N], at_ms: u64) {
        if self.clock.advance_fast(at_ms) {
            self.record_open(value_ms, amounts);
        } else {
            self.record_rotating(value_ms, amounts, at_ms);
        }
    }

    /// `record_with` when `at_ms` may cross a slot boundary: rotate, then
    /// record (out of line, so the fast path makes no call).
    #[cold]
    #[inline(never)]
    fn record_rotating(&mut self, value_ms: f64, amounts: [f64; N], at_ms: u64) {
        self.rotate(at_ms);
        self.record_open(value_ms, amounts);
    }

    /// Writes a sample into the open slot.
    #[inline(always)]
    fn record_open(&mut self, value_ms: f64, amounts: [f64; N]) {
        self.open.hist.record(value_ms);
        for (sum, amount) in self.open.sums.iter_mut().zip(amounts) {
            *sum += if amount.is_finite() { amount } else { 0.0 };
        }
    }

    /// Moves time forward to `now_ms` and expires slots that left the
    /// window (also called by `record`). O(1) unless a slot boundary is
    /// crossed, then O(slots) plus the merge/subtract of the slots that
    /// close or expire.
    #[inline]
    pub fn advance(&mut self, now_ms: u64) {
        if !self.clock.advance_fast(now_ms) {
            self.rotate(now_ms);
        }
    }

    /// The slow part of `advance`: expires closed slots that left the
    /// window (subtracting them from the closed aggregate), closes the open
    /// slot if the latest time moved to another slot (adding it), and opens
    /// the slot of the latest time.
    #[cold]
    #[inline(never)]
    fn rotate(&mut self, now_ms: u64) {
        if !self.clock.advance_slow(now_ms) {
            return;
        }
        let oldest = self.clock.oldest_live;
        let cur = self.clock.cur_index;
        let mut expired = false;
        for slot in self.slots.iter_mut().filter(|s| s.live && s.index < oldest) {
            self.closed.subtract(&slot.hist);
            slot.clear();
            expired = true;
        }
        if !self.open.live || self.open.index != cur {
            let prev = self.open.index;
            if let Some(th) = self.log_threshold.filter(|_| self.open.live && !self.open.hist.is_empty()) {
                if self.log.len() >= self.log_len {
                    self.log.pop_front();
                }
                if self.log_len > 0 {
                    self.log.push_back((prev, self.open.hist.count(), self.open.hist.count_at_most(th)));
                }
            }
            if self.open.live && prev >= oldest && !self.open.hist.is_empty() {
                // The open slot closes: into the ring and the closed aggregate.
                let len = self.slots.len() as u64;
                let pos = usize::try_from(prev % len.max(1)).unwrap_or(0);
                if let Some(target) = self.slots.get_mut(pos) {
                    if target.live {
                        // Unreachable by construction (the closed live slots are fewer than
                        // the ring and consecutive); kept so a broken invariant degrades
                        // gracefully instead of mixing slots.
                        self.closed.subtract(&target.hist);
                        target.clear();
                        expired = true;
                    }
                    self.closed.merge_from(&self.open.hist);
                    for (c, s) in self.closed_sums.iter_mut().zip(self.open.sums) {
                        *c += s;
                    }
                    // The target's cleared histogram becomes the new open slot's.
                    std::mem::swap(target, &mut self.open);
                    target.index = prev;
                    target.live = true;
                }
            }
            // Empty, already expired, or just swapped out: the open slot starts afresh.
            self.open.clear();
            self.open.index = cur;
            self.open.live = true;
        }
        if expired {
            self.restore_closed_summary();
        }
    }

    /// After an expiry, restores the closed aggregate's exact sum/min/max
    /// and the attached sums from the live closed slots (no float drift, no
    /// stale bounds).
    fn restore_closed_summary(&mut self) {
        let (mut sum_ms, mut min_ms, mut max_ms) = (0.0, f64::INFINITY, f64::NEG_INFINITY);
        let mut sums = [0.0; N];
        for slot in self.slots.iter().filter(|s| s.live) {
            sum_ms += slot.hist.sum();
            min_ms = slot.hist.min().map_or(min_ms, |m| min_ms.min(m));
            max_ms = slot.hist.max().map_or(max_ms, |m| max_ms.max(m));
            for (acc, s) in sums.iter_mut().zip(slot.sums) {
                *acc += s;
            }
        }
        self.closed.restore_exact_summary(sum_ms, min_ms, max_ms);
        self.closed_sums = sums;
    }

    /// Samples currently in the window.
    #[inline]
    pub fn count(&self) -> u64 {
        self.closed.count().wrapping_add(self.open.hist.count())
    }

    /// Samples in the window at or below `value_ms`, to the sketch's resolution (see
    /// [`LogHistogram::count_at_most`]).
    pub fn count_at_most(&self, value_ms: f64) -> u64 {
        self.closed.count_at_most(value_ms).wrapping_add(self.open.hist.count_at_most(value_ms))
    }

    /// Nearest-rank quantile (ms) over the window, < 1 % relative error
    /// inside the trackable range; `None` when empty. See
    /// [`LogHistogram::quantile`]: the answer is the same as that of one
    /// histogram holding every sample of the window.
    pub fn quantile(&self, per_mille: u32) -> Option<f64> {
        union_quantile(&self.closed, &self.open.hist, per_mille)
    }

    /// Exact maximum (ms) over live slots; `None` when empty. The closed
    /// aggregate's bounds are recomputed from the slots' exact maxima on
    /// every expiry, and the open slot's are exact.
    pub fn max(&self) -> Option<f64> {
        match (self.closed.max(), self.open.hist.max()) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    /// Sum (ms) of the latencies in the window.
    fn latency_sum(&self) -> f64 {
        self.closed.sum() + self.open.hist.sum()
    }

    /// Mean latency (ms) over the window; `None` when empty.
    pub fn mean(&self) -> Option<f64> {
        let n = self.count();
        (n != 0).then(|| self.latency_sum() / n as f64)
    }

    /// Count, mean, p50/p95/p99 and max of the window; `None` when empty.
    /// The same numbers as `count`, `mean`, `quantile` and `max`, counting
    /// the window once.
    pub fn summary(&self) -> Option<QuantileSummary> {
        let (closed, open) = (&self.closed, &self.open.hist);
        let (nc, no) = (closed.count(), open.count());
        let n = nc.wrapping_add(no);
        if n == 0 {
            return None;
        }
        let q = |per_mille| union_quantile_counted(closed, nc, open, no, per_mille);
        Some(QuantileSummary {
            count: n,
            mean_ms: self.latency_sum() / n as f64,
            p50_ms: q(500)?,
            p95_ms: q(950)?,
            p99_ms: q(990)?,
            max_ms: self.max()?,
        })
    }

    /// Sum of attached amount `i` over the window (0 for `i >= N`).
    pub fn attached_sum(&self, i: usize) -> f64 {
        let closed = self.closed_sums.get(i).copied().unwrap_or(0.0);
        closed + self.open.sums.get(i).copied().unwrap_or(0.0)
    }

    /// Mean of attached amount `i` per sample in the window; `None` when the
    /// window is empty or `i >= N`.
    pub fn attached_mean(&self, i: usize) -> Option<f64> {
        let n = self.count();
        if n == 0 || i >= N {
            None
        } else {
            Some(self.attached_sum(i) / n as f64)
        }
    }

    /// Attached amount `i` per second as of `now_ms`, with the same
    /// semantics as [`WindowedSum::rate_per_sec`]; 0 for `i >= N`.
    pub fn attached_rate_per_sec(&self, i: usize, now_ms: u64) -> f64 {
        if i >= N {
            return 0.0;
        }
        self.clock.rate_per_sec(now_ms, self.attached_sum(i), |oldest| {
            std::iter::once(&self.open)
                .chain(self.slots.iter())
                .filter(|s| s.live && s.index >= oldest)
                .filter_map(|s| s.sums.get(i))
                .sum()
        })
    }

    /// The span, ms, that [`Self::attached_rate_per_sec`] divides by as of `now_ms` (0 before
    /// any sample): a rate's sum of squares over it gives the rate's variance.
    pub fn covered_ms(&self, now_ms: u64) -> u64 {
        self.clock.covered_ms(now_ms)
    }

    /// Every live slot, the open one first (test helper).
    #[cfg(test)]
    fn live_slots(&self) -> impl Iterator<Item = &QuantileSlot<N>> {
        std::iter::once(&self.open).chain(self.slots.iter()).filter(|s| s.live)
    }

    /// The closed aggregate and the open slot merged into one histogram
    /// (test helper).
    #[cfg(test)]
    fn merged_window(&self) -> LogHistogram {
        let mut h = self.closed.clone();
        h.merge_from(&self.open.hist);
        h
    }
}

#[derive(Clone, Debug)]
struct SumSlot {
    index: u64,
    active: bool,
    count: u64,
    sum: f64,
}

/// Sliding-window count and sum, for loss ratio, throughput (ops/s) and
/// mean hop count. `record` is O(1); reads are O(1) (running totals are
/// updated on record and on expiry; the `f64` sum is recomputed from live
/// slots on expiry to avoid drift). Same slot semantics as
/// [`WindowedQuantiles`].
#[derive(Clone, Debug)]
pub struct WindowedSum {
    clock: SlotClock,
    slots: Vec<SumSlot>,
    count: u64,
    sum: f64,
}

impl WindowedSum {
    /// Creates a window of `window_ms` split into `slots` slots; clamped
    /// exactly like [`WindowedQuantiles::new`], never panics.
    pub fn new(window_ms: u64, slots: usize) -> Self {
        let clock = SlotClock::new(window_ms, slots);
        let slots = vec![SumSlot { index: 0, active: false, count: 0, sum: 0.0 }; clock.ring_len_usize()];
        Self { clock, slots, count: 0, sum: 0.0 }
    }

    /// Effective window length in ms (after clamping).
    pub fn window_ms(&self) -> u64 {
        self.clock.window_ms
    }

    /// Slot length in ms: the expiry granularity.
    pub fn slot_ms(&self) -> u64 {
        self.clock.slot_ms
    }

    /// Adds one event with `amount` at `at_ms` (count += 1, sum += amount).
    /// Non-finite amounts count as an event adding 0 so the sum stays
    /// finite. O(1), no allocation; one compare decides whether a slot
    /// boundary was crossed.
    #[inline]
    pub fn record(&mut self, amount: f64, at_ms: u64) {
        self.advance(at_ms);
        let amount = if amount.is_finite() { amount } else { 0.0 };
        // `advance` opened the slot of the latest time: it is live with that index.
        if let Some(slot) = self.slots.get_mut(self.clock.cur_pos) {
            slot.count = slot.count.saturating_add(1);
            slot.sum += amount;
            self.count = self.count.saturating_add(1);
            self.sum += amount;
        }
    }

    /// Moves time forward to `now_ms`, expiring slots that left the window
    /// (also called by `record`).
    #[inline]
    pub fn advance(&mut self, now_ms: u64) {
        if !self.clock.advance_fast(now_ms) {
            self.rotate(now_ms);
        }
    }

    /// The slow part of `advance`: expires slots that left the window and
    /// opens the slot of the latest time.
    #[cold]
    #[inline(never)]
    fn rotate(&mut self, now_ms: u64) {
        if !self.clock.advance_slow(now_ms) {
            return;
        }
        let oldest = self.clock.oldest_live;
        self.expire(|index| index >= oldest);
        let cur = self.clock.cur_index;
        let stale = self.slots.get(self.clock.cur_pos).filter(|s| s.active && s.index != cur).map(|s| s.index);
        if let Some(stale) = stale {
            // Unreachable by construction (that slot expired just above); kept so a broken
            // invariant degrades gracefully instead of mixing slots.
            self.expire(|index| index != stale);
        }
        if let Some(slot) = self.slots.get_mut(self.clock.cur_pos) {
            slot.index = cur;
            slot.active = true;
        }
    }

    fn expire(&mut self, keep: impl Fn(u64) -> bool) {
        let mut expired = false;
        for slot in self.slots.iter_mut().filter(|s| s.active && !keep(s.index)) {
            slot.active = false;
            slot.count = 0;
            slot.sum = 0.0;
            expired = true;
        }
        if expired {
            let live = self.slots.iter().filter(|s| s.active);
            self.count = live.clone().fold(0u64, |acc, s| acc.saturating_add(s.count));
            self.sum = live.map(|s| s.sum).sum();
        }
    }

    /// Events currently in the window.
    #[inline]
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Sum of amounts currently in the window.
    #[inline]
    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// Mean amount per event in the window; `None` when `count == 0`.
    pub fn mean(&self) -> Option<f64> {
        if self.count == 0 {
            None
        } else {
            Some(self.sum / self.count as f64)
        }
    }

    /// Window sum per second as of `now_ms` (earlier than latest counts as
    /// latest; slots that would expire at `now_ms` are excluded without
    /// mutating). Divides by the time actually covered: from the later of
    /// the first timestamp ever seen and the start of the oldest live slot,
    /// to `now_ms`, at least 1 ms. This equals `min(window_ms, now - first)`
    /// up to the slot granularity, but does not over-count the partially
    /// covered oldest slot. `0.0` when nothing was recorded.
    pub fn rate_per_sec(&self, now_ms: u64) -> f64 {
        self.clock.rate_per_sec(now_ms, self.sum, |oldest| {
            self.slots.iter().filter(|s| s.active && s.index >= oldest).map(|s| s.sum).sum()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn constructor_clamps_instead_of_panicking() {
        let w = WindowedQuantiles::new(0, 0);
        assert_eq!((w.window_ms(), w.slot_ms()), (1, 1));
        let w = WindowedSum::new(5, 100);
        assert_eq!((w.window_ms(), w.slot_ms()), (5, 1));
        let w = WindowedSum::new(u64::MAX, usize::MAX);
        assert_eq!(w.window_ms(), u64::MAX);
        assert!(w.slots.len() <= MAX_SLOTS + 1);
        let w = WindowedQuantiles::new(60_000, 6);
        assert_eq!(w.slot_ms(), 10_000);
        // 7 slot histograms, as for the sums: 6 closed slots in the ring + the open slot.
        assert_eq!(w.slots.len() + 1, 7);
        let w = WindowedSum::new(100, 6);
        assert_eq!(w.slot_ms(), 17);
    }

    #[test]
    fn expiry_at_exact_slot_boundaries() {
        // Slot 0 = [0, 10_000); its last ms 9_999 leaves (L - 60_000, L] at L = 69_999.
        let mut q = WindowedQuantiles::new(60_000, 6);
        let mut s = WindowedSum::new(60_000, 6);
        q.record(5.0, 0);
        s.record(5.0, 0);
        q.record(7.0, 9_999);
        s.record(7.0, 9_999);
        q.record(9.0, 10_000);
        s.record(9.0, 10_000);
        q.advance(69_998);
        s.advance(69_998);
        assert_eq!((q.count(), s.count()), (3, 3));
        assert_eq!(q.max(), Some(9.0));
        q.advance(69_999);
        s.advance(69_999);
        assert_eq!((q.count(), s.count()), (1, 1));
        assert_eq!(s.sum(), 9.0);
        assert_eq!(q.max(), Some(9.0));
        assert_eq!(q.quantile(0), Some(9.0));
        q.advance(79_998);
        s.advance(79_998);
        assert_eq!((q.count(), s.count()), (1, 1));
        q.advance(79_999);
        s.advance(79_999);
        assert_eq!((q.count(), s.count()), (0, 0));
        assert_eq!(q.summary(), None);
        assert_eq!(s.mean(), None);
    }

    #[test]
    fn one_ms_slots_give_an_exact_window() {
        let mut s = WindowedSum::new(6, 6);
        for t in 0..20u64 {
            s.record(t as f64, t);
            let expected: f64 = (t.saturating_sub(5)..=t).map(|x| x as f64).sum();
            assert_eq!(s.sum(), expected, "t={t}");
            assert_eq!(s.count(), t.min(5) + 1);
        }
    }

    #[test]
    fn out_of_order_timestamps_count_as_latest() {
        let mut q = WindowedQuantiles::new(1_000, 4);
        let mut s = WindowedSum::new(1_000, 4);
        q.record(1.0, 100_000);
        s.record(1.0, 100_000);
        q.record(2.0, 5);
        s.record(2.0, 5);
        assert_eq!((q.count(), s.count()), (2, 2));
        q.advance(50);
        s.advance(50);
        assert_eq!((q.count(), s.count()), (2, 2));
        // Both live in slot [100_000, 100_250), whose last ms leaves the window at 101_249.
        q.advance(101_248);
        s.advance(101_248);
        assert_eq!((q.count(), s.count()), (2, 2), "the late sample lives in slot of 100_000");
        q.advance(101_249);
        s.advance(101_249);
        assert_eq!((q.count(), s.count()), (0, 0));
    }

    #[test]
    fn huge_jumps_expire_everything_without_overflow() {
        let mut q = WindowedQuantiles::new(60_000, 6);
        let mut s = WindowedSum::new(60_000, 6);
        for t in 0..100u64 {
            q.record(t as f64, t * 1_000);
            s.record(1.0, t * 1_000);
        }
        q.advance(u64::MAX / 2);
        s.advance(u64::MAX / 2);
        assert_eq!((q.count(), s.count()), (0, 0));
        assert_eq!(q.max(), None);
        q.record(3.0, u64::MAX / 2);
        s.record(3.0, u64::MAX / 2);
        assert_eq!((q.count(), s.count()), (1, 1));
        q.record(4.0, u64::MAX);
        s.record(4.0, u64::MAX);
        assert_eq!((q.count(), s.count()), (1, 1));
        q.record(5.0, u64::MAX);
        s.record(5.0, u64::MAX);
        q.record(6.0, 0);
        s.record(6.0, 0);
        assert_eq!((q.count(), s.count()), (3, 3));
        assert_eq!(q.max(), Some(6.0));
        assert_eq!(s.sum(), 15.0);
        let rate = s.rate_per_sec(u64::MAX);
        assert!(rate.is_finite() && rate > 0.0);
        q.advance(u64::MAX);
        assert_eq!(q.count(), 3);

        // Tiny window at the very top of the time range.
        let mut t = WindowedSum::new(1, 1);
        t.record(1.0, u64::MAX - 1);
        t.record(1.0, u64::MAX);
        assert_eq!(t.count(), 1);
    }

    #[test]
    fn rate_per_sec_young_and_full_window() {
        let mut s = WindowedSum::new(60_000, 6);
        assert_eq!(s.rate_per_sec(0), 0.0);
        s.advance(1_000);
        assert_eq!(s.rate_per_sec(1_000), 0.0);
        s.record(10.0, 2_000);
        s.record(10.0, 3_000);
        // Young: 20 over (3_000 - 1_000) ms since the window first saw time.
        assert!((s.rate_per_sec(3_000) - 10.0).abs() < 1e-9);
        // At least 1 ms of coverage.
        let mut fresh = WindowedSum::new(60_000, 6);
        fresh.record(2.0, 500);
        assert_eq!(fresh.rate_per_sec(500), 2_000.0);

        // Full window at a steady 10 events/s for 200 s.
        let mut full = WindowedSum::new(60_000, 6);
        for t in (0..200_000u64).step_by(100) {
            full.record(1.0, t);
            if t > 61_000 {
                let rate = full.rate_per_sec(t);
                assert!((rate - 10.0).abs() / 10.0 < 0.01, "t={t} rate={rate}");
            }
        }
        // Reading ahead of the latest time excludes slots expiring by then.
        let later = full.rate_per_sec(199_900 + 40_000);
        assert!(later > 0.0 && later < 10.0, "{later}");
        assert_eq!(full.rate_per_sec(1_000_000), 0.0);
    }

    #[test]
    fn summary_and_mean() {
        let mut q = WindowedQuantiles::new(60_000, 6);
        assert_eq!(q.summary(), None);
        assert_eq!(q.mean(), None);
        assert_eq!(q.quantile(500), None);
        for v in 1..=100 {
            q.record(v as f64, 1_000);
        }
        let s = q.summary().expect("non-empty window");
        assert_eq!(s.count, 100);
        assert!((s.mean_ms - 50.5).abs() < 1e-9);
        assert!((s.p50_ms - 50.0).abs() / 50.0 <= 0.01);
        assert!((s.p95_ms - 95.0).abs() / 95.0 <= 0.01);
        assert!((s.p99_ms - 99.0).abs() / 99.0 <= 0.01);
        assert_eq!(s.max_ms, 100.0);

        let mut hops = WindowedSum::new(10_000, 5);
        hops.record(2.0, 0);
        hops.record(4.0, 1);
        hops.record(f64::NAN, 2);
        assert_eq!(hops.count(), 3);
        assert_eq!(hops.mean(), Some(2.0));
    }

    /// Naive model: keeps (value, effective time) and says which samples
    /// are live using the same slot semantics as the real structures.
    struct Model {
        window_ms: u64,
        slot_ms: u64,
        latest: Option<u64>,
        samples: Vec<(f64, u64)>,
    }

    impl Model {
        fn advance(&mut self, t: u64) -> u64 {
            let now = self.latest.map_or(t, |l| l.max(t));
            self.latest = Some(now);
            now
        }
        fn live(&self) -> Vec<f64> {
            let Some(latest) = self.latest else { return Vec::new() };
            let oldest = latest.saturating_sub(self.window_ms - 1) / self.slot_ms;
            self.samples.iter().filter(|(_, t)| t / self.slot_ms >= oldest).map(|&(v, _)| v).collect()
        }
    }

    #[derive(Clone, Debug)]
    enum Op {
        Record(f64, u64),
        Advance(u64),
        Backwards(f64, u64),
        Jump(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            8 => (0.0f64..5_000.0, 0u64..3_000).prop_map(|(v, d)| Op::Record(v, d)),
            2 => (0u64..20_000).prop_map(Op::Advance),
            2 => (0.0f64..5_000.0, 0u64..50_000).prop_map(|(v, d)| Op::Backwards(v, d)),
            1 => prop_oneof![Just(u64::MAX / 2), Just(u64::MAX), 0u64..1_000_000].prop_map(Op::Jump),
        ]
    }

    proptest! {
        #[test]
        fn prop_window_matches_naive_model(
            window_ms in 1u64..30_000,
            slots in 1usize..10,
            start in prop_oneof![Just(0u64), 0u64..u64::MAX / 4, Just(u64::MAX - 100_000)],
            ops in prop::collection::vec(op(), 1..150),
        ) {
            let mut q = WindowedQuantiles::new(window_ms, slots);
            let mut s = WindowedSum::new(window_ms, slots);
            // The same stream with two attached sums: the value itself and a constant 1.
            let mut qs: WindowedQuantiles<2> = WindowedQuantiles::with_attached_sums(window_ms, slots);
            let mut m = Model { window_ms: q.window_ms(), slot_ms: q.slot_ms(), latest: None, samples: Vec::new() };
            let mut t = start;
            for op in ops {
                match op {
                    Op::Record(v, d) | Op::Backwards(v, d) => {
                        let at = if matches!(op, Op::Backwards(..)) { t.saturating_sub(d) } else { t.saturating_add(d) };
                        t = t.max(at);
                        let eff = m.advance(at);
                        m.samples.push((v, eff));
                        q.record(v, at);
                        s.record(v, at);
                        qs.record_with(v, [v, 1.0], at);
                    }
                    Op::Advance(d) | Op::Jump(d) => {
                        t = t.saturating_add(d);
                        m.advance(t);
                        q.advance(t);
                        s.advance(t);
                        qs.advance(t);
                    }
                }
                let live = m.live();
                let mut expected = LogHistogram::new();
                live.iter().for_each(|&v| expected.record(v));
                prop_assert_eq!(q.count(), live.len() as u64);
                prop_assert_eq!(s.count(), live.len() as u64);
                prop_assert!(q.merged_window().same_counts(&expected));
                let mut merged = LogHistogram::new();
                q.live_slots().for_each(|sl| merged.merge_from(&sl.hist));
                prop_assert!(q.merged_window().same_counts(&merged), "closed + open == merge of live slots");
                let mut closed = LogHistogram::new();
                q.slots.iter().filter(|sl| sl.live).for_each(|sl| closed.merge_from(&sl.hist));
                prop_assert!(q.closed.same_counts(&closed), "closed aggregate == merge of closed live slots");
                for p in [0, 10, 500, 950, 990, 1000] {
                    prop_assert_eq!(q.quantile(p), expected.quantile(p));
                }
                let live_max = live.iter().copied().fold(None, |a: Option<f64>, v| Some(a.map_or(v, |a| a.max(v))));
                prop_assert_eq!(q.max(), live_max);
                let slot_max = q.live_slots().filter_map(|sl| sl.hist.max())
                    .fold(None, |a: Option<f64>, v| Some(a.map_or(v, |a| a.max(v))));
                prop_assert_eq!(q.max(), slot_max);
                let sum: f64 = live.iter().sum();
                prop_assert!((s.sum() - sum).abs() <= 1e-9 * sum.max(1.0), "{} vs {}", s.sum(), sum);
                prop_assert!((q.latency_sum() - sum).abs() <= 1e-9 * sum.max(1.0));
                prop_assert_eq!(q.summary().is_none(), live.is_empty());
                if let Some(sm) = q.summary() {
                    let each = (q.count(), q.mean(), q.quantile(500), q.quantile(950), q.quantile(990), q.max());
                    prop_assert_eq!(each, (sm.count, Some(sm.mean_ms), Some(sm.p50_ms), Some(sm.p95_ms), Some(sm.p99_ms), Some(sm.max_ms)));
                }
                prop_assert_eq!(qs.count(), live.len() as u64);
                for p in [0, 10, 500, 950, 990, 1000] {
                    prop_assert_eq!(qs.quantile(p), expected.quantile(p));
                }
                prop_assert!((qs.attached_sum(0) - sum).abs() <= 1e-9 * sum.max(1.0));
                prop_assert_eq!(qs.attached_sum(1), live.len() as f64);
                prop_assert_eq!(qs.attached_mean(1), if live.is_empty() { None } else { Some(1.0) });
                for ahead in [0, 1, window_ms / 2, window_ms] {
                    let now = t.saturating_add(ahead);
                    let (a, b) = (qs.attached_rate_per_sec(0, now), s.rate_per_sec(now));
                    prop_assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "rate {} vs {}", a, b);
                }
            }
        }
    }
}

#![forbid(unsafe_code)]
//! The shell that runs the engine for apps: one loop thread, one dispatcher thread.
//!
//! - `record` validates on the caller's thread, stamps the sample with the runtime clock and
//!   pushes it into a bounded ingestion buffer; it never waits for a tick or for the listener.
//!   When the buffer is half full the loop is woken to drain it early; when it is full, the
//!   call fails with `Overloaded` and the drop is counted.
//! - The loop thread (`meshtune-loop`) sleeps until the next tick (the engine's adaptive
//!   interval, no busy polling), drains the buffer into the engine, ticks, and queues the events.
//! - The dispatcher thread (`meshtune-dispatch`) calls the listener outside every lock. A
//!   listener that panics (a Kotlin or Swift exception reaches Rust as a panic) is counted and
//!   the next event is delivered; one that blocks only fills the bounded event queue, whose
//!   overflow is dropped and counted. Ingestion and ticking go on either way.
//! - `stop` is idempotent: it stops the loop, joins it, gives every open action its outcome
//!   (queued actions are withdrawn as `NotApplied`, the rest end `Inconclusive`), and waits up
//!   to `stop_timeout_ms` for the dispatcher to deliver them (not from inside the listener, and
//!   not on drop). An action the event queue cannot hold is withdrawn the same way.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{JoinHandle, ThreadId};
use std::time::Duration;

use crate::clock::{Clock, WithSuspend};
use crate::platform::process::ProcessSampler;
use crate::{
    ActionListener, Engine, EngineEvent, MemoryPressureLevel, MetricSample, OptimizerConfig, OptimizerError,
    OptimizerSnapshot, ThermalState,
};

/// Initial capacity of the ingestion buffers; they grow on demand up to
/// `sample_queue_capacity`, so a large capacity costs memory only when it is used.
const INITIAL_BUFFER: usize = 1_024;

/// Locks a mutex, recovering the data if a thread panicked while holding it: every critical
/// section here leaves the data consistent, and the optimizer must outlive a panic.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Default)]
struct LoopSignal {
    stop: bool,
    drain: bool,
    /// Enough late samples since the last tick ([`LateWatch`]), or a sample that raised the
    /// safety-relevant device state ([`UrgentSamples`]): tick now (at most every
    /// `min_tick_interval_ms`), whatever the tick interval has grown to.
    urgent: bool,
}

/// Deliveries since the last tick, at least, before their mean hop count can wake the loop
/// ([`LateWatch`]; consensus rounds need `min_samples`, as the consensus strategy does).
pub const LATE_WAKE: u32 = 16;

/// The device state that the engine's safety-relevant strategies react to, as the samples last
/// showed it: a sample that raises it makes the runtime tick at once (at most every
/// `min_tick_interval_ms`), as late messages do ([`LateWatch`]), so a long tick interval
/// (`max_tick_interval_ms`) does not delay the reaction to heat, memory pressure or a low
/// battery. The simulator drives the engine the same way.
///
/// A sample *raises* the state when it enters a more severe band than the last sample of its
/// kind: thermal Serious, then Critical (the power strategy's safety bands), and a thermal
/// headroom forecast reaching 1.0 (severe throttling, which the power strategy takes as
/// Serious); platform memory
/// pressure Moderate, then Critical; the heap above `heap_pressure_ratio` of `max_heap_mb`, then
/// at or over `max_heap_mb` (the memory strategy's thresholds); the battery unplugged at or
/// below `battery_low_percent`, then `battery_critical_percent`. A sample that repeats a band or
/// lowers it does not wake the loop; the heap and battery bands are left with the strategies'
/// own hysteresis (`hysteresis_ratio`, `battery_hysteresis_percent`), so a reading that flickers
/// at a threshold wakes it once. Recovery (cooling) waits for the next tick: the strategies hold
/// their safety modes after it anyway.
///
/// A device-state *transition* that moves the power strategy's knobs wakes the loop too, in
/// either direction: foreground ↔ background, the charger plugged in or out, OS power save on
/// or off. A repeat of the same state does not. (With a 60 s idle tick, a transition seen a
/// tick later moved the knobs up to a minute late, after the scoreboard's 30 s window for
/// changes driven by a device state.)
#[derive(Debug, Default)]
pub struct UrgentSamples {
    thermal: AtomicU8,
    /// 1 while the latest thermal headroom forecast is at or past severe throttling (1.0).
    headroom: AtomicU8,
    memory: AtomicU8,
    heap: AtomicU8,
    battery: AtomicU8,
    /// 0 unknown, then 1 + the state: the transitions tracked (foreground, charging, power save).
    foreground: AtomicU8,
    charging: AtomicU8,
    power_save: AtomicU8,
}

impl UrgentSamples {
    /// Takes in `sample` (the runtime calls it for every sample it accepts); true when it raises
    /// the state (see the type's docs): the caller should tick at once.
    pub fn raises(&self, sample: &MetricSample, config: &OptimizerConfig) -> bool {
        let band = |slot: &AtomicU8, f: &dyn Fn(u8) -> u8| {
            let prev = slot.load(Ordering::Relaxed);
            let now = f(prev);
            if now != prev {
                slot.store(now, Ordering::Relaxed);
            }
            now > prev
        };
        // A transition: a known state that differs from the last one.
        let transition = |slot: &AtomicU8, on: bool| {
            let now = 1 + u8::from(on);
            let prev = slot.swap(now, Ordering::Relaxed);
            prev != 0 && prev != now
        };
        match sample {
            MetricSample::AppState { foreground } => transition(&self.foreground, *foreground),
            MetricSample::PowerSaveMode { enabled } => transition(&self.power_save, *enabled),
            MetricSample::Thermal { state } => band(&self.thermal, &|_| match state {
                ThermalState::Nominal | ThermalState::Fair => 0,
                ThermalState::Serious => 1,
                ThermalState::Critical => 2,
            }),
            MetricSample::ThermalHeadroom { headroom, .. } => band(&self.headroom, &|_| u8::from(*headroom >= 1.0)),
            MetricSample::MemoryPressure { level } => band(&self.memory, &|_| match level {
                MemoryPressureLevel::Normal => 0,
                MemoryPressureLevel::Moderate => 1,
                MemoryPressureLevel::Critical => 2,
            }),
            MetricSample::Heap { used_mb, .. } => band(&self.heap, &|prev| {
                let enter = config.max_heap_mb * config.heap_pressure_ratio;
                let entered = if *used_mb >= config.max_heap_mb { 2 } else { u8::from(*used_mb > enter) };
                let held = u8::from(prev >= 1 && *used_mb >= enter * config.hysteresis_ratio);
                entered.max(held)
            }),
            MetricSample::Battery { level_percent, charging } => {
                let plugged = transition(&self.charging, *charging);
                plugged
                    | band(&self.battery, &|prev| {
                        if *charging {
                            return 0;
                        }
                        let (low, critical, h) = (
                            config.battery_low_percent,
                            config.battery_critical_percent,
                            config.battery_hysteresis_percent,
                        );
                        let entered = if *level_percent <= critical { 2 } else { u8::from(*level_percent <= low) };
                        let held = if prev >= 2 && *level_percent <= critical + h {
                            2
                        } else {
                            u8::from(prev >= 1 && *level_percent <= low + h)
                        };
                        entered.max(held)
                    })
            }
            _ => false,
        }
    }
}

/// Whether a sample is late for [`LateWatch`]: a lost message, a delivery after the deadline
/// (`target_p95_latency_ms`), a consensus round finalized after `max_finalization_ms`, a
/// discovery slower than `target_discovery_p95_ms`. So a breach of any of these targets wakes
/// the loop within `min_tick_interval_ms` of the sample that shows it, however long the tick
/// interval has grown (60 s when calm). The simulator counts with this function too.
#[inline]
pub fn is_late(sample: &MetricSample, config: &OptimizerConfig) -> bool {
    match sample {
        MetricSample::MessageLost { .. } => true,
        MetricSample::MessageDelivered { latency_ms, .. } => *latency_ms > config.target_p95_latency_ms,
        MetricSample::ConsensusRound { finalization_ms, .. } => *finalization_ms > config.max_finalization_ms,
        MetricSample::PeerDiscovered { duration_ms } => *duration_ms > config.target_discovery_p95_ms,
        _ => false,
    }
}

/// Late or lost messages since the last tick, at least, before their share alone can wake the
/// loop ([`LateWatch`]).
pub const LATE_MIN: u32 = 4;

/// The one-sided normal quantile of [`LateWatch`]'s tests: 99.9 %. Each check alone would
/// raise a false alarm once in a thousand; they are repeated at every late sample of a tick
/// period, so a mesh exactly at its SLO wakes the loop early more often than that (not
/// measured), while one within it (3 % late against 5 % allowed) did not in the tests and the
/// footprint run (BENCHMARKS.md).
const LATE_WAKE_Z: f64 = 3.09;

/// What the samples since the last tick say about ticking early. The runtime keeps one (inside
/// its ingestion lock) and the simulator one per phone, each reset at every tick, so both wake
/// the engine on the same rule:
///
/// - **Messages** (deliveries and losses): when at least [`LATE_MIN`] of them were late or lost
///   and their share, alone, shows beyond chance (the lower bound of a one-sided 99.9 % Wilson
///   interval) more late messages than the SLO allows (`1 − target_on_time_ratio`). All late
///   (an outage): the 4th wakes the loop. A slow rise at 1 message a second, a fifth of them
///   late: about 25 messages. A mesh near its SLO but within it (3 % late at 50 a second) never
///   does, where a fixed count would wake it every few seconds.
/// - **Hops:** when at least [`LATE_WAKE`] deliveries came and the lower bound of a one-sided
///   99.9 % normal interval of their mean hop count is above `max_avg_hop_count`.
/// - **Consensus throughput:** when at least `min_samples` rounds (the fewest the consensus
///   strategy judges) came over 2 s or more since the last tick and the upper bound of a
///   one-sided 99.9 % interval of their rate (operations per second; a compound Poisson
///   variance, Σ ops²) is below `target_consensus_ops_per_sec`.
/// - **Slow consensus rounds and slow discoveries** (finalized after `max_finalization_ms`,
///   found after `target_discovery_p95_ms`): by their share among the rounds (discoveries)
///   since the last tick, as for messages, against the 5 % a p95 target allows.
///
/// `observe` answers true once per tick period, for the sample that crosses a rule.
#[derive(Debug, Clone, Default)]
pub struct LateWatch {
    since_ms: u64,
    messages: u32,
    late_messages: u32,
    deliveries: u32,
    hops: f64,
    hops_squared: f64,
    rounds: u32,
    slow_rounds: u32,
    operations: f64,
    operations_squared: f64,
    discoveries: u32,
    slow_discoveries: u32,
    woke: bool,
}

impl LateWatch {
    /// Takes in a sample (valid, as recorded at `at_ms`); true when the loop should tick now (at
    /// most every `min_tick_interval_ms`).
    pub fn observe(&mut self, sample: &MetricSample, at_ms: u64, config: &OptimizerConfig) -> bool {
        if self.woke {
            // Already woke the loop in this tick period: nothing more to decide until `reset`.
            return false;
        }
        let late = is_late(sample, config);
        let mut crossed = false;
        if let MetricSample::MessageDelivered { hops, .. } = sample {
            let h = f64::from(*hops);
            self.deliveries = self.deliveries.saturating_add(1);
            self.hops += h;
            self.hops_squared += h * h;
            let n = f64::from(self.deliveries);
            let mean = self.hops / n;
            // The interval's lower bound is below the mean: a mean within the maximum (the
            // usual case, on every delivery) needs no square root.
            if self.deliveries >= LATE_WAKE && mean > config.max_avg_hop_count {
                let var = ((self.hops_squared - n * mean * mean) / (n - 1.0)).max(0.0);
                crossed |= mean - LATE_WAKE_Z * (var / n).sqrt() > config.max_avg_hop_count;
            }
        }
        match sample {
            MetricSample::MessageDelivered { .. } | MetricSample::MessageLost { .. } => {
                self.messages = self.messages.saturating_add(1);
                if late {
                    self.late_messages = self.late_messages.saturating_add(1);
                    crossed |= share_shows_breach(self.late_messages, self.messages, 1.0 - config.target_on_time_ratio);
                }
            }
            MetricSample::ConsensusRound { operations, .. } => {
                let x = f64::from(*operations);
                self.rounds = self.rounds.saturating_add(1);
                if late {
                    self.slow_rounds = self.slow_rounds.saturating_add(1);
                    crossed |= share_shows_breach(self.slow_rounds, self.rounds, P95_SLOW_SHARE);
                }
                self.operations += x;
                self.operations_squared += x * x;
                let seconds = at_ms.saturating_sub(self.since_ms) as f64 / 1000.0;
                if self.rounds >= config.min_samples.max(2) && seconds >= 2.0 {
                    let upper = (self.operations + LATE_WAKE_Z * self.operations_squared.sqrt()) / seconds;
                    crossed |= upper < config.target_consensus_ops_per_sec;
                }
            }
            MetricSample::PeerDiscovered { .. } => {
                self.discoveries = self.discoveries.saturating_add(1);
                if late {
                    self.slow_discoveries = self.slow_discoveries.saturating_add(1);
                    crossed |= share_shows_breach(self.slow_discoveries, self.discoveries, P95_SLOW_SHARE);
                }
            }
            _ => {}
        }
        self.woke = crossed;
        crossed
    }

    /// A tick ran at `at_ms`: count from zero again.
    pub fn reset(&mut self, at_ms: u64) {
        *self = LateWatch { since_ms: at_ms, ..LateWatch::default() };
    }
}

/// The share of slow samples a p95 target allows (finalization, discovery).
const P95_SLOW_SHARE: f64 = 0.05;

/// Whether `slow` of `all` samples show, beyond chance, a larger share than `allowed`: at least
/// [`LATE_MIN`] of them, and the lower bound of a one-sided 99.9 % Wilson interval above it.
fn share_shows_breach(slow: u32, all: u32, allowed: f64) -> bool {
    slow >= LATE_MIN && wilson_lower(slow, all, LATE_WAKE_Z) > allowed
}

/// Lower bound of the Wilson score interval for `k` of `n` at normal quantile `z`.
fn wilson_lower(k: u32, n: u32, z: f64) -> f64 {
    if n == 0 {
        return 0.0;
    }
    let (k, n) = (f64::from(k), f64::from(n));
    let p = k / n;
    let z2 = z * z;
    let centre = p + z2 / (2.0 * n);
    let spread = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    (centre - spread) / (1.0 + z2 / n)
}

/// The engine and the buffer that samples are swapped into when they leave the ingestion
/// buffer. Both sit behind one lock, so every drainer (the loop, an acknowledgement, a
/// snapshot) reuses the same two allocations instead of leaving the ingestion buffer empty of
/// capacity for the producers to regrow.
struct Core {
    engine: Engine,
    spare: Vec<(u64, MetricSample)>,
}

impl Core {
    /// Moves buffered samples into the engine (swap under the ingestion lock, record outside
    /// it, so producers wait at most for a swap).
    fn drain(&mut self, ingress: &Mutex<Ingress>) {
        std::mem::swap(&mut lock(ingress).samples, &mut self.spare);
        for (at, sample) in self.spare.drain(..) {
            self.engine.record_prevalidated(&sample, at);
        }
    }
}

/// Samples waiting for the engine, and what those since the last tick say about ticking early
/// (under the one lock every `record` takes anyway).
struct Ingress {
    samples: Vec<(u64, MetricSample)>,
    watch: LateWatch,
}

struct Shared {
    config: OptimizerConfig,
    core: Mutex<Core>,
    ingress: Mutex<Ingress>,
    /// The safety-relevant device state the samples showed (see [`UrgentSamples`]).
    urgent_samples: UrgentSamples,
    signal: Mutex<LoopSignal>,
    signal_cv: Condvar,
    events: Mutex<VecDeque<EngineEvent>>,
    events_cv: Condvar,
    dispatcher_done: Mutex<bool>,
    dispatcher_done_cv: Condvar,
    stopped: AtomicBool,
    /// Set once `stop` has queued the final outcomes (or gave up trying): the dispatcher ends
    /// when the queue is empty and this is set, not before, so that it cannot leave between
    /// `stopped` and the final outcomes.
    closed: AtomicBool,
    /// Released by `stop`, so that a listener holding the optimizer is not kept alive by it.
    listener: Mutex<Option<Arc<dyn ActionListener>>>,
    /// Milliseconds since start, counting suspend: windows, drain rates and timeouts.
    clock: Arc<dyn Clock>,
    rejected: AtomicU64,
    dropped: AtomicU64,
    events_dropped: AtomicU64,
    listener_failures: AtomicU64,
    internal_panics: AtomicU64,
    /// The last snapshot built, returned again if building one panics.
    last_snapshot: Mutex<OptimizerSnapshot>,
}

impl Shared {
    fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// Queues events for the dispatcher; returns the ids of the actions that could not be
    /// queued (full queue, or stopped), which the caller withdraws from the engine.
    fn queue_events(&self, events: Vec<EngineEvent>) -> Vec<u64> {
        let mut undelivered = Vec::new();
        if events.is_empty() {
            return undelivered;
        }
        let cap = self.config.event_queue_capacity as usize;
        let mut q = lock(&self.events);
        for e in events {
            // Once stopped no action goes out (it is withdrawn); outcomes still do.
            let action = matches!(e, EngineEvent::Action(_));
            if q.len() >= cap || (action && self.stopped.load(Ordering::Acquire)) {
                self.events_dropped.fetch_add(1, Ordering::Relaxed);
                if let EngineEvent::Action(a) = &e {
                    undelivered.push(a.id);
                }
            } else {
                q.push_back(e);
            }
        }
        drop(q);
        self.events_cv.notify_one();
        undelivered
    }

    /// Every action that never reached the app: `NotApplied`, the belief restored (the
    /// outcome leaves with the next tick, or with the final outcomes at stop).
    fn withdraw(&self, ids: &[u64], reason: &str) {
        if ids.is_empty() {
            return;
        }
        let result = catch_unwind(AssertUnwindSafe(|| {
            let mut core = lock(&self.core);
            for &id in ids {
                core.engine.withdraw(id, reason);
            }
        }));
        if result.is_err() {
            tracing::error!("meshtune engine panicked while withdrawing undelivered actions");
        }
    }
}

/// Who counts a sample that `ingest`/`ingest_batch` refuse as invalid (or a batch refused as
/// too large) in `samples_rejected`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusals {
    /// The call counts it: `record` and `record_batch`, whose error is the app's answer.
    Count,
    /// The caller does not count it because it re-submits the same samples through `record` or
    /// `record_batch`, which count them and build the app's error (the JVM fast path,
    /// `crate::fastpath`). Counting here too would count every refused sample twice. Drops
    /// (`Overloaded`) are counted either way: they are not re-submitted.
    Uncounted,
}

/// The running optimizer behind `PerformanceOptimizer`.
pub(crate) struct Runtime {
    shared: Arc<Shared>,
    loop_thread: Mutex<Option<JoinHandle<()>>>,
    dispatch_thread: Mutex<Option<JoinHandle<()>>>,
    dispatch_thread_id: ThreadId,
}

impl Runtime {
    pub(crate) fn start(config: OptimizerConfig, listener: Arc<dyn ActionListener>) -> Result<Runtime, OptimizerError> {
        Self::start_with_clock(config, listener, Arc::new(WithSuspend::new()))
    }

    /// `start` on a given clock (tests drive a manual one across a simulated suspend).
    pub(crate) fn start_with_clock(
        config: OptimizerConfig,
        listener: Arc<dyn ActionListener>,
        clock: Arc<dyn Clock>,
    ) -> Result<Runtime, OptimizerError> {
        let engine = Engine::new(config.clone())?;
        let initial_snapshot = engine.snapshot();
        let cap = config.sample_queue_capacity as usize;
        let shared = Arc::new(Shared {
            core: Mutex::new(Core { engine, spare: Vec::with_capacity(cap.min(INITIAL_BUFFER)) }),
            ingress: Mutex::new(Ingress {
                samples: Vec::with_capacity(cap.min(INITIAL_BUFFER)),
                watch: LateWatch::default(),
            }),
            urgent_samples: UrgentSamples::default(),
            signal: Mutex::new(LoopSignal::default()),
            signal_cv: Condvar::new(),
            events: Mutex::new(VecDeque::with_capacity((config.event_queue_capacity as usize).min(4_096))),
            events_cv: Condvar::new(),
            dispatcher_done: Mutex::new(false),
            dispatcher_done_cv: Condvar::new(),
            stopped: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            listener: Mutex::new(Some(listener)),
            clock,
            rejected: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            events_dropped: AtomicU64::new(0),
            listener_failures: AtomicU64::new(0),
            internal_panics: AtomicU64::new(0),
            last_snapshot: Mutex::new(initial_snapshot),
            config,
        });
        // The rates the watch measures run from the start, not from time zero.
        lock(&shared.ingress).watch.reset(shared.now_ms());
        let spawn_err = |e: std::io::Error| OptimizerError::ThreadSpawn { reason: e.to_string() };
        let s = Arc::clone(&shared);
        let dispatch = std::thread::Builder::new()
            .name("meshtune-dispatch".into())
            .spawn(move || dispatch_loop(&s))
            .map_err(spawn_err)?;
        let dispatch_thread_id = dispatch.thread().id();
        let s = Arc::clone(&shared);
        let main = match std::thread::Builder::new().name("meshtune-loop".into()).spawn(move || engine_loop(&s)) {
            Ok(h) => h,
            Err(e) => {
                shared.stopped.store(true, Ordering::Release);
                shared.events_cv.notify_all();
                let _ = dispatch.join();
                return Err(spawn_err(e));
            }
        };
        Ok(Runtime {
            shared,
            loop_thread: Mutex::new(Some(main)),
            dispatch_thread: Mutex::new(Some(dispatch)),
            dispatch_thread_id,
        })
    }

    fn check_running(&self) -> Result<(), OptimizerError> {
        if self.shared.stopped.load(Ordering::Acquire) {
            return Err(OptimizerError::Stopped);
        }
        Ok(())
    }

    pub(crate) fn record(&self, sample: MetricSample) -> Result<(), OptimizerError> {
        self.ingest(sample, Refusals::Count)
    }

    /// `record`, with the choice of who counts a refused sample (see [`Refusals`]).
    pub(crate) fn ingest(&self, sample: MetricSample, refusals: Refusals) -> Result<(), OptimizerError> {
        self.check_running()?;
        let s = &self.shared;
        if let Err(e) = sample.validate() {
            if refusals == Refusals::Count {
                s.rejected.fetch_add(1, Ordering::Relaxed);
            }
            return Err(e);
        }
        let at = s.now_ms();
        let cap = s.config.sample_queue_capacity as usize;
        let mut ingress = lock(&s.ingress);
        if ingress.samples.len() >= cap {
            drop(ingress);
            s.dropped.fetch_add(1, Ordering::Relaxed);
            return Err(OptimizerError::Overloaded { capacity: s.config.sample_queue_capacity, dropped: 1 });
        }
        let late = ingress.watch.observe(&sample, at, &s.config);
        let urgent = s.urgent_samples.raises(&sample, &s.config);
        ingress.samples.push((at, sample));
        let wake = ingress.samples.len() == cap / 2;
        drop(ingress);
        if wake {
            self.wake_loop();
        }
        if urgent || late {
            self.wake_urgent();
        }
        Ok(())
    }

    pub(crate) fn record_batch(&self, samples: Vec<MetricSample>) -> Result<(), OptimizerError> {
        self.ingest_batch(samples, Refusals::Count)
    }

    /// `record_batch`, with the choice of who counts a refused batch (see [`Refusals`]).
    pub(crate) fn ingest_batch(&self, samples: Vec<MetricSample>, refusals: Refusals) -> Result<(), OptimizerError> {
        self.check_running()?;
        let s = &self.shared;
        let n = samples.len() as u64;
        if let Some(e) = samples.iter().find_map(|x| x.validate().err()) {
            if refusals == Refusals::Count {
                s.rejected.fetch_add(n, Ordering::Relaxed);
            }
            return Err(e);
        }
        let cap = s.config.sample_queue_capacity as usize;
        if samples.len() > cap {
            if refusals == Refusals::Count {
                s.rejected.fetch_add(n, Ordering::Relaxed);
            }
            return Err(OptimizerError::BatchTooLarge {
                size: u32::try_from(n).unwrap_or(u32::MAX),
                capacity: s.config.sample_queue_capacity,
            });
        }
        let at = s.now_ms();
        let mut ingress = lock(&s.ingress);
        if ingress.samples.len().saturating_add(samples.len()) > cap {
            drop(ingress);
            s.dropped.fetch_add(n, Ordering::Relaxed);
            self.wake_loop();
            return Err(OptimizerError::Overloaded {
                capacity: s.config.sample_queue_capacity,
                dropped: u32::try_from(n).unwrap_or(u32::MAX),
            });
        }
        // Every sample is taken in (no short cut): each one moves the state it belongs to.
        let watch = &mut ingress.watch;
        let late = samples.iter().fold(false, |l, x| watch.observe(x, at, &s.config) | l);
        let urgent = samples.iter().fold(false, |u, x| s.urgent_samples.raises(x, &s.config) | u);
        let before = ingress.samples.len();
        ingress.samples.extend(samples.into_iter().map(|x| (at, x)));
        let wake = before < cap / 2 && ingress.samples.len() >= cap / 2;
        drop(ingress);
        if wake {
            self.wake_loop();
        }
        if urgent || late {
            self.wake_urgent();
        }
        Ok(())
    }

    /// The configured `sample_queue_capacity` (for errors built outside this module).
    pub(crate) fn sample_queue_capacity(&self) -> u32 {
        self.shared.config.sample_queue_capacity
    }

    fn wake_loop(&self) {
        lock(&self.shared.signal).drain = true;
        self.shared.signal_cv.notify_one();
    }

    /// Wakes the loop for a tick as soon as the minimum interval allows.
    fn wake_urgent(&self) {
        let mut sig = lock(&self.shared.signal);
        sig.drain = true;
        sig.urgent = true;
        drop(sig);
        self.shared.signal_cv.notify_one();
    }

    pub(crate) fn report_action_result(
        &self,
        action_id: u64,
        applied: bool,
        detail: Option<String>,
    ) -> Result<(), OptimizerError> {
        self.check_running()?;
        let s = &self.shared;
        let mut core = lock(&s.core);
        core.drain(&s.ingress);
        core.engine.report_action_result(action_id, applied, detail, s.now_ms())
    }

    /// Whether action `action_id` should still be applied now (see
    /// `Engine::is_action_current`); false once stopped.
    pub(crate) fn is_action_current(&self, action_id: u64) -> bool {
        if self.check_running().is_err() {
            return false;
        }
        let s = &self.shared;
        let core = lock(&s.core);
        core.engine.is_action_current(action_id, s.now_ms())
    }

    /// The app's actual knob values (see `Engine::report_state`); all or nothing.
    pub(crate) fn report_state(&self, actual: &[crate::OptimizationAction]) -> Result<(), OptimizerError> {
        self.check_running()?;
        let s = &self.shared;
        let mut core = lock(&s.core);
        core.drain(&s.ingress);
        core.engine.report_state(actual, s.now_ms())
    }

    /// The engine's learned state (see `Engine::export_learned_state`).
    pub(crate) fn export_learned_state(&self) -> String {
        lock(&self.shared.core).engine.export_learned_state()
    }

    /// Takes in a learned state (see `Engine::import_learned_state`); all or nothing.
    pub(crate) fn import_learned_state(&self, json: &str) -> Result<(), OptimizerError> {
        self.check_running()?;
        lock(&self.shared.core).engine.import_learned_state(json)
    }

    /// The optimizer's view. Never panics: if building it panics (a bug), the last snapshot
    /// built is returned again (its `now_ms` tells its age) with `internal_panics` counted.
    pub(crate) fn snapshot(&self) -> OptimizerSnapshot {
        let s = &self.shared;
        match catch_unwind(AssertUnwindSafe(|| self.build_snapshot())) {
            Ok(snap) => {
                *lock(&s.last_snapshot) = snap.clone();
                snap
            }
            Err(_) => {
                tracing::error!("meshtune panicked while building a snapshot; the last one is returned");
                let n = self.count_internal_panic();
                let mut snap = lock(&s.last_snapshot).clone();
                snap.counters.internal_panics = n;
                snap
            }
        }
    }

    /// Counts a panic caught at the boundary; returns the count.
    pub(crate) fn count_internal_panic(&self) -> u64 {
        self.shared.internal_panics.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn build_snapshot(&self) -> OptimizerSnapshot {
        test_hook!("snapshot");
        let s = &self.shared;
        let mut snap = {
            let mut core = lock(&s.core);
            core.drain(&s.ingress);
            core.engine.snapshot()
        };
        let rejected = s.rejected.load(Ordering::Relaxed);
        let dropped = s.dropped.load(Ordering::Relaxed);
        let c = &mut snap.counters;
        c.samples_rejected += rejected;
        c.samples_dropped += dropped;
        c.samples_offered += rejected + dropped;
        c.events_dropped += s.events_dropped.load(Ordering::Relaxed);
        c.listener_failures += s.listener_failures.load(Ordering::Relaxed);
        c.internal_panics += s.internal_panics.load(Ordering::Relaxed);
        snap
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.shared.stopped.load(Ordering::Acquire)
    }

    /// Stops and waits at most `stop_timeout_ms` for a listener call in progress.
    pub(crate) fn stop(&self) {
        self.stop_with(true);
    }

    /// `stop`; `wait_for_listener` false never waits for the listener (drop, e.g. a Kotlin
    /// `close()` on the main thread): the dispatcher then ends by itself once the call returns.
    fn stop_with(&self, wait_for_listener: bool) {
        let s = &self.shared;
        let first = !s.stopped.swap(true, Ordering::AcqRel);
        /// Lets the dispatcher end however this stop ends (a panic included).
        struct Closed<'a>(&'a Shared);
        impl Drop for Closed<'_> {
            fn drop(&mut self) {
                // Under the queue's lock, so that the dispatcher cannot check the flag and then
                // miss the wake-up.
                let _q = lock(&self.0.events);
                self.0.closed.store(true, Ordering::Release);
                self.0.events_cv.notify_all();
            }
        }
        // Only the first stop closes: a second one must not let the dispatcher end while the
        // first is still queueing the final outcomes.
        let closed = first.then(|| Closed(s));
        lock(&s.signal).stop = true;
        s.signal_cv.notify_all();
        let loop_thread = lock(&self.loop_thread).take();
        if let Some(h) = loop_thread {
            if h.join().is_err() {
                tracing::error!("meshtune loop thread ended with a panic");
            }
        }
        test_hook!("stop");
        if first {
            self.close_engine();
        }
        drop(closed);
        // stop() from inside the listener does not touch the dispatcher's handle: the dispatcher
        // delivers the final outcomes when this call returns, then ends, and a stop() running on
        // another thread may hold the handle's lock while it waits for this very call.
        if std::thread::current().id() == self.dispatch_thread_id {
            return;
        }
        let mut dispatch = lock(&self.dispatch_thread);
        let Some(h) = dispatch.take() else { return };
        if !wait_for_listener {
            // Detached: it delivers the final outcomes and releases the listener by itself.
            return;
        }
        let timeout = Duration::from_millis(s.config.stop_timeout_ms);
        let done = lock(&s.dispatcher_done);
        let (done, _) =
            s.dispatcher_done_cv.wait_timeout_while(done, timeout, |d| !*d).unwrap_or_else(|p| p.into_inner());
        let finished = *done;
        drop(done);
        if finished {
            let _ = h.join();
        } else {
            tracing::warn!("listener still busy after stop_timeout_ms; dispatcher detached");
            // The listener is not called again: release it (it may hold this optimizer), and
            // count what it will not see.
            lock(&s.listener).take();
            let left = lock(&s.events).drain(..).count() as u64;
            s.events_dropped.fetch_add(left, Ordering::Relaxed);
        }
    }

    /// Every action gets exactly one outcome, also at stop: the actions still queued never
    /// reached the app and are withdrawn (`NotApplied`); every other open action ends
    /// `Inconclusive` ([`Engine::close`]). These outcomes are what the dispatcher delivers last.
    fn close_engine(&self) {
        let s = &self.shared;
        let withdrawn: Vec<u64> = {
            let mut q = lock(&s.events);
            let mut ids = Vec::new();
            q.retain(|e| match e {
                EngineEvent::Action(a) => {
                    ids.push(a.id);
                    false
                }
                EngineEvent::Outcome(_) => true,
            });
            ids
        };
        s.events_dropped.fetch_add(withdrawn.len() as u64, Ordering::Relaxed);
        let finals = catch_unwind(AssertUnwindSafe(|| {
            let mut core = lock(&s.core);
            core.drain(&s.ingress);
            for &id in &withdrawn {
                core.engine.withdraw(id, "never delivered: the optimizer stopped first");
            }
            let now = s.now_ms();
            core.engine.close(now)
        }));
        match finals {
            // At most one outcome per open action (a few per knob): past the queue's capacity.
            Ok(finals) => lock(&s.events).extend(finals),
            Err(_) => tracing::error!("meshtune engine panicked while closing; final outcomes lost"),
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // Dropping must not block the caller for a listener that is still busy.
        self.stop_with(false);
    }
}

fn engine_loop(s: &Shared) {
    let mut sampler = s.config.sample_process.then(ProcessSampler::new);
    let mut next_tick = s.now_ms().saturating_add(s.config.min_tick_interval_ms);
    let mut last_tick = s.now_ms();
    loop {
        {
            let mut sig = lock(&s.signal);
            loop {
                if sig.stop {
                    return;
                }
                if sig.urgent {
                    // Late messages or a safety-relevant sample came: tick at the minimum
                    // interval after the last tick.
                    sig.urgent = false;
                    next_tick = next_tick.min(last_tick.saturating_add(s.config.min_tick_interval_ms));
                }
                let now = s.now_ms();
                if sig.drain || now >= next_tick {
                    sig.drain = false;
                    break;
                }
                let wait = Duration::from_millis(next_tick - now);
                sig = s.signal_cv.wait_timeout(sig, wait).map(|(g, _)| g).unwrap_or_else(|p| p.into_inner().0);
            }
        }
        let result = catch_unwind(AssertUnwindSafe(|| {
            let mut core = lock(&s.core);
            core.drain(&s.ingress);
            let engine = &mut core.engine;
            let now = s.now_ms();
            if now < next_tick {
                return None;
            }
            if let Some(sample) = sampler.as_mut().and_then(ProcessSampler::sample) {
                engine.record_own(&sample, now);
            }
            test_hook!("tick");
            lock(&s.ingress).watch.reset(now);
            let events = engine.tick(now);
            Some((events, now.saturating_add(engine.next_tick_interval_ms())))
        }));
        match result {
            Ok(Some((events, next))) => {
                last_tick = s.now_ms();
                next_tick = next;
                let undelivered = s.queue_events(events);
                s.withdraw(&undelivered, "never delivered: the event queue was full or the optimizer was stopping");
            }
            Ok(None) => {}
            Err(_) => {
                s.internal_panics.fetch_add(1, Ordering::Relaxed);
                tracing::error!("meshtune engine panicked during a tick; continuing");
                next_tick = s.now_ms().saturating_add(s.config.min_tick_interval_ms);
            }
        }
    }
}

fn dispatch_loop(s: &Shared) {
    loop {
        let event = {
            let mut q = lock(&s.events);
            loop {
                // After stop the queue holds only outcomes (stop withdrew the actions not yet
                // delivered and appended the final outcomes): deliver them, then end.
                if let Some(e) = q.pop_front() {
                    break Some(e);
                }
                if s.closed.load(Ordering::Acquire) {
                    break None;
                }
                q = s.events_cv.wait(q).unwrap_or_else(|p| p.into_inner());
            }
        };
        let Some(event) = event else { break };
        let Some(listener) = lock(&s.listener).clone() else { break };
        let outcome = catch_unwind(AssertUnwindSafe(|| match event {
            EngineEvent::Action(a) => listener.on_action(a),
            EngineEvent::Outcome(o) => listener.on_outcome(o),
        }));
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                s.listener_failures.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(error = %e, "listener call failed");
            }
            Err(_) => {
                s.listener_failures.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    // The listener is not called again: release it (it may hold the optimizer), and count what
    // it will not see.
    lock(&s.listener).take();
    let left = lock(&s.events).drain(..).count() as u64;
    s.events_dropped.fetch_add(left, Ordering::Relaxed);
    *lock(&s.dispatcher_done) = true;
    s.dispatcher_done_cv.notify_all();
}

#[cfg(test)]
mod tests {
    //! Regressions found by the misuse tests of the Kotlin and Swift suites (issue 6).
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex, Weak};
    use std::time::{Duration, Instant};

    use crate::{
        start_optimizer, ActionEvent, ActionListener, ListenerError, MetricSample, OptimizerConfig, OutcomeEvent,
        PerformanceOptimizer,
    };

    use super::{LateWatch, LATE_MIN, LATE_WAKE};

    fn watch_messages(watch: &mut LateWatch, n: u32, late_every: u32) -> Option<u32> {
        let config = OptimizerConfig::default();
        let mut first = None;
        for k in 1..=n {
            let latency_ms = if late_every > 0 && k % late_every == 0 { 500.0 } else { 20.0 };
            let s = MetricSample::MessageDelivered { latency_ms, hops: 2, bytes: 100 };
            if watch.observe(&s, u64::from(k) * 20, &config) {
                assert!(first.is_none(), "woke twice in one tick period");
                first = Some(k);
            }
        }
        first
    }

    #[test]
    fn late_messages_wake_the_loop_by_their_share_not_their_number() {
        // An outage (every message late): the 4th.
        assert_eq!(watch_messages(&mut LateWatch::default(), 100, 1), Some(LATE_MIN));
        // Within the SLO but near it (3 % late, 95 % on time wanted), a minute at 50 messages a
        // second: never, where 16 late messages used to wake it about every 11 s.
        assert_eq!(watch_messages(&mut LateWatch::default(), 3_000, 33), None);
        // Just over it, 1 in 10 late (on-time 0.90 < 0.95): it wakes, once enough is seen.
        let at = watch_messages(&mut LateWatch::default(), 3_000, 10).expect("a breach wakes it");
        assert!(at > 40, "{at}");
        // A slow rise at a low rate, a fifth late: within about 30 messages (30 s at 1 a second),
        // not at the 4th late one.
        let at = watch_messages(&mut LateWatch::default(), 200, 5).expect("wakes");
        assert!((21..=45).contains(&at), "{at}");
        // Lost messages are late.
        let config = OptimizerConfig::default();
        let mut w = LateWatch::default();
        let woke: Vec<bool> = (0..4).map(|_| w.observe(&MetricSample::MessageLost { hops: 1 }, 0, &config)).collect();
        assert_eq!(woke, [false, false, false, true]);
        // A tick starts the count again.
        w.reset(0);
        assert!(!w.observe(&MetricSample::MessageLost { hops: 1 }, 0, &config));
    }

    #[test]
    fn slow_rounds_and_discoveries_wake_the_loop_by_their_share() {
        let config = OptimizerConfig::default();
        let slow =
            MetricSample::ConsensusRound { proposal_ms: 1.0, vote_ms: 1.0, finalization_ms: 900.0, operations: 1 };
        let fast =
            MetricSample::ConsensusRound { proposal_ms: 1.0, vote_ms: 1.0, finalization_ms: 100.0, operations: 1 };
        // Rounds at once (a span under 2 s): no throughput judgement. 3 % slow: never; every
        // round slow: the 4th.
        let mut w = LateWatch::default();
        for k in 0..3_000 {
            assert!(!w.observe(if k % 33 == 0 { &slow } else { &fast }, 0, &config), "round {k}");
        }
        let mut w = LateWatch::default();
        let woke: Vec<bool> = (0..4).map(|_| w.observe(&slow, 0, &config)).collect();
        assert_eq!(woke, [false, false, false, true]);
        // Discoveries the same: slow ones among quick ones, a fifth of them, within about 25.
        let mut w = LateWatch::default();
        let at = (1..=200u32).find(|k| {
            let d = MetricSample::PeerDiscovered { duration_ms: if k % 5 == 0 { 60_000.0 } else { 1_000.0 } };
            w.observe(&d, 0, &config)
        });
        assert!(at.is_some_and(|k| (20..=45).contains(&k)), "{at:?}");
    }

    /// The round (1-based) at which rounds of `operations`, one every `every_ms`, wake the loop.
    fn watch_rounds(operations: u32, every_ms: u64, n: u64) -> Option<u64> {
        let config = OptimizerConfig::default(); // 100 operations a second wanted
        let mut w = LateWatch::default();
        let r = MetricSample::ConsensusRound { proposal_ms: 1.0, vote_ms: 1.0, finalization_ms: 100.0, operations };
        (1..=n).find(|&k| w.observe(&r, k * every_ms, &config))
    }

    #[test]
    fn a_low_consensus_throughput_and_long_routes_wake_the_loop() {
        // 20 operations a second (10 every 500 ms): the 5th round (`min_samples`), 2.5 s in.
        assert_eq!(watch_rounds(10, 500, 200), Some(u64::from(OptimizerConfig::default().min_samples)));
        // At the target (10 every 100 ms) or over it: never.
        assert_eq!(watch_rounds(10, 100, 2_000), None);
        assert_eq!(watch_rounds(10, 50, 2_000), None);
        // Just under it (80 a second): once the interval allows.
        let at = watch_rounds(8, 100, 2_000).expect("wakes");
        assert!(at > u64::from(LATE_WAKE), "{at}");
        // Hops: 3 is the maximum mean. All at 3, or alternating 2 and 4: never; all at 4: the
        // 16th delivery; three at 3 then one at 4 (3.25): once the interval allows.
        let config = OptimizerConfig::default();
        let hops = |pattern: &[u32], n: u32| {
            let mut w = LateWatch::default();
            (1..=n).find(|&k| {
                let hops = pattern[k as usize % pattern.len()];
                w.observe(&MetricSample::MessageDelivered { latency_ms: 20.0, hops, bytes: 1 }, u64::from(k), &config)
            })
        };
        assert_eq!(hops(&[3], 5_000), None);
        assert_eq!(hops(&[2, 4], 5_000), None);
        assert_eq!(hops(&[4], 5_000), Some(LATE_WAKE));
        let at = hops(&[3, 3, 3, 4], 5_000).expect("wakes");
        assert!(at > LATE_WAKE, "{at}");
    }

    /// Actions that have had their one outcome: every outcome counter, the refusals (their
    /// `NotApplied` is not counted among the outcomes) and the actions never delivered.
    fn ended(c: &crate::OptimizerCounters) -> u64 {
        c.outcomes_improved
            + c.outcomes_no_effect
            + c.outcomes_worse
            + c.outcomes_inconclusive
            + c.outcomes_superseded
            + c.outcomes_unacknowledged
            + c.actions_refused
            + c.actions_undelivered
    }

    fn config(stop_timeout_ms: u64) -> OptimizerConfig {
        OptimizerConfig {
            min_tick_interval_ms: 10,
            max_tick_interval_ms: 50,
            sample_process: false,
            stop_timeout_ms,
            ..OptimizerConfig::default()
        }
    }

    #[derive(Default)]
    struct Collects {
        actions: Mutex<Vec<ActionEvent>>,
        outcomes: Mutex<Vec<OutcomeEvent>>,
    }

    impl ActionListener for Collects {
        fn on_action(&self, event: ActionEvent) -> Result<(), ListenerError> {
            self.actions.lock().unwrap().push(event);
            Ok(())
        }
        fn on_outcome(&self, event: OutcomeEvent) -> Result<(), ListenerError> {
            self.outcomes.lock().unwrap().push(event);
            Ok(())
        }
    }

    #[test]
    fn windows_and_timeouts_count_the_time_the_phone_slept() {
        use crate::clock::{Clock, ManualClock};
        let clock = Arc::new(ManualClock::default());
        let listener = Arc::new(Collects::default());
        let rt = super::Runtime::start_with_clock(config(1_000), listener.clone(), clock.clone()).unwrap();
        let slow = MetricSample::MessageDelivered { latency_ms: 500.0, hops: 2, bytes: 100 };
        let mut samples = vec![slow; 50];
        samples.push(MetricSample::MemoryPressure { level: crate::MemoryPressureLevel::Critical });
        rt.record_batch(samples).unwrap();
        // Awake: the loop ticks as the clock moves, and the window holds the deliveries.
        clock.advance(20);
        rt.wake_loop();
        eventually("the window holds the 50 deliveries", || {
            rt.snapshot().metrics.network_latency.is_some_and(|l| l.count == 50)
        });
        // Awake time passes in 100 ms steps until the engine acts (the memory strategy's safety
        // actions come at once; a latency repair would wait for a second block of messages).
        eventually("an action is proposed", || {
            clock.advance(100);
            rt.wake_loop();
            std::thread::sleep(Duration::from_millis(2));
            !listener.actions.lock().unwrap().is_empty()
        });
        assert!(clock.now_ms() < 30_000, "proposed after {} ms of awake time", clock.now_ms());
        let action = listener.actions.lock().unwrap()[0].id;
        assert!(listener.outcomes.lock().unwrap().is_empty(), "nothing is decided about it yet");
        // The phone sleeps an hour: no thread runs, and the boot-time clock moves on. With an
        // awake clock the samples would still be in the 60 s window and the unacknowledged
        // action would still be waiting for its 10 s timeout.
        clock.advance(3_600_000);
        rt.wake_loop();
        eventually("the hour of sleep emptied the 60 s window", || rt.snapshot().metrics.network_latency.is_none());
        eventually("the action timed out unacknowledged", || {
            listener.outcomes.lock().unwrap().iter().any(|o| matches!(o, OutcomeEvent::Unacknowledged { action_id, waited_ms } if *action_id == action && *waited_ms >= 3_600_000))
        });
        rt.stop();
    }

    #[test]
    fn late_messages_wake_a_calm_loop_for_a_tick_at_once() {
        use crate::clock::{Clock, ManualClock};
        let clock = Arc::new(ManualClock::default());
        let listener = Arc::new(Collects::default());
        let config = OptimizerConfig { sample_process: false, ..OptimizerConfig::default() };
        let rt = super::Runtime::start_with_clock(config, listener.clone(), clock.clone()).unwrap();
        // Calm: nothing happens for two minutes, and the tick interval grows to its maximum.
        let max = OptimizerConfig::default().max_tick_interval_ms;
        eventually("the interval grew to the maximum", || {
            // Each wake drains; a tick runs only when due.
            clock.advance(1_000);
            rt.wake_loop();
            std::thread::sleep(Duration::from_millis(2));
            rt.snapshot().tick_interval_ms == max
        });
        let burst_at = clock.now_ms();
        // Late messages (all of them: the 4th wakes the loop), which ticks at once instead of in
        // up to 60 s.
        for _ in 0..super::LATE_WAKE {
            rt.record(MetricSample::MessageDelivered { latency_ms: 500.0, hops: 2, bytes: 100 }).unwrap();
        }
        eventually("a repair within a tick", || {
            // The manual clock moves faster than the loop's real-time wait: nudge the loop to
            // look at it (a drain, not an urgent tick).
            clock.advance(100);
            rt.wake_loop();
            std::thread::sleep(Duration::from_millis(2));
            !listener.actions.lock().unwrap().is_empty()
        });
        let acted = listener.actions.lock().unwrap()[0].at_ms;
        assert!(acted < burst_at + 5_000, "acted {} ms after the burst", acted - burst_at);
        rt.stop();
    }

    #[test]
    fn slow_consensus_rounds_wake_a_calm_loop_for_a_tick_at_once() {
        use crate::clock::Clock;
        let listener = Arc::new(Collects::default());
        let (rt, clock, config) = calm_at_the_longest_interval(listener.clone());
        let at = clock.now_ms();
        // Rounds finalized in 900 ms (the maximum is 500 ms), all of them: the 4th wakes the
        // loop, which ticks at once instead of in up to 60 s (enough rounds come for the
        // strategy to judge).
        for _ in 0..super::LATE_WAKE {
            rt.record(MetricSample::ConsensusRound {
                proposal_ms: 20.0,
                vote_ms: 30.0,
                finalization_ms: 900.0,
                operations: 10,
            })
            .unwrap();
        }
        clock.advance(config.min_tick_interval_ms);
        eventually("the consensus strategy acts", || {
            rt.wake_loop();
            std::thread::sleep(Duration::from_millis(2));
            listener.actions.lock().unwrap().iter().any(|a| a.strategy == "consensus")
        });
        let actions = listener.actions.lock().unwrap().clone();
        let first = actions.iter().find(|a| a.strategy == "consensus").unwrap();
        assert!(first.at_ms <= at + config.min_tick_interval_ms, "acted at {} ms, rounds at {at} ms", first.at_ms);
        rt.stop();
    }

    /// A calm runtime on the manual clock whose tick interval has just grown to its maximum
    /// (60 s by default): the last tick was less than 1 s of clock time ago, the next one is due
    /// almost a minute later.
    fn calm_at_the_longest_interval(
        listener: Arc<Collects>,
    ) -> (super::Runtime, Arc<crate::clock::ManualClock>, OptimizerConfig) {
        use crate::clock::ManualClock;
        let clock = Arc::new(ManualClock::default());
        let config = OptimizerConfig { sample_process: false, ..OptimizerConfig::default() };
        assert!(config.max_tick_interval_ms >= 30 * config.min_tick_interval_ms, "{config:?}");
        let rt = super::Runtime::start_with_clock(config.clone(), listener, clock.clone()).unwrap();
        eventually("the interval grew to the maximum", || {
            // Each wake drains; a tick runs only when due.
            clock.advance(1_000);
            rt.wake_loop();
            std::thread::sleep(Duration::from_millis(2));
            rt.snapshot().tick_interval_ms == config.max_tick_interval_ms
        });
        (rt, clock, config)
    }

    /// After a sample, the clock moves on by `min_tick_interval_ms` once and then stands still
    /// while the loop is nudged: only a tick the sample made due (an urgent one) can act within
    /// that time; the scheduled tick is almost a minute of clock time away and never comes.
    fn acts_within_the_minimum_interval(
        sample: MetricSample,
        what: &str,
        accept: impl Fn(&crate::OptimizationAction) -> bool,
    ) {
        use crate::clock::Clock;
        let listener = Arc::new(Collects::default());
        let (rt, clock, config) = calm_at_the_longest_interval(listener.clone());
        let at = clock.now_ms();
        rt.record(sample).unwrap();
        clock.advance(config.min_tick_interval_ms);
        eventually(what, || {
            rt.wake_loop();
            std::thread::sleep(Duration::from_millis(2));
            listener.actions.lock().unwrap().iter().any(|a| accept(&a.action))
        });
        let actions = listener.actions.lock().unwrap().clone();
        let first = actions.iter().find(|a| accept(&a.action)).unwrap();
        assert!(first.at_ms <= at + config.min_tick_interval_ms, "acted at {} ms, sample at {at} ms", first.at_ms);
        assert_eq!(first.priority, crate::Priority::Safety, "{first:?}");
        rt.stop();
    }

    #[test]
    fn critical_heat_after_a_quiet_minute_is_acted_on_within_the_minimum_interval() {
        acts_within_the_minimum_interval(
            MetricSample::Thermal { state: crate::ThermalState::Critical },
            "the power strategy sheds radio work for the heat",
            |a| matches!(a, crate::OptimizationAction::SetScanMode { mode: crate::ScanMode::LowPower, .. }),
        );
    }

    #[test]
    fn critical_memory_pressure_after_a_quiet_minute_is_acted_on_within_the_minimum_interval() {
        acts_within_the_minimum_interval(
            MetricSample::MemoryPressure { level: crate::MemoryPressureLevel::Critical },
            "the memory strategy trims caches",
            |a| matches!(a, crate::OptimizationAction::TrimCaches { .. }),
        );
    }

    #[test]
    fn a_critical_battery_after_a_quiet_minute_is_acted_on_within_the_minimum_interval() {
        acts_within_the_minimum_interval(
            MetricSample::Battery { level_percent: 5.0, charging: false },
            "the power strategy saves power",
            |a| matches!(a, crate::OptimizationAction::SetScanMode { mode: crate::ScanMode::LowPower, .. }),
        );
    }

    #[test]
    fn power_save_turned_on_after_a_quiet_minute_is_acted_on_within_the_minimum_interval() {
        use crate::clock::Clock;
        let listener = Arc::new(Collects::default());
        let (rt, clock, config) = calm_at_the_longest_interval(listener.clone());
        let before = listener.actions.lock().unwrap().len();
        // The first state seen is no transition; turning it on is.
        rt.record(MetricSample::PowerSaveMode { enabled: false }).unwrap();
        clock.advance(config.min_tick_interval_ms);
        let at = clock.now_ms();
        rt.record(MetricSample::PowerSaveMode { enabled: true }).unwrap();
        clock.advance(config.min_tick_interval_ms);
        let saves = |a: &crate::ActionEvent| {
            matches!(a.action, crate::OptimizationAction::SetScanMode { mode: crate::ScanMode::LowPower, .. })
                && a.reason.contains("power save")
        };
        eventually("the power strategy saves power", || {
            rt.wake_loop();
            std::thread::sleep(Duration::from_millis(2));
            listener.actions.lock().unwrap()[before..].iter().any(saves)
        });
        let actions = listener.actions.lock().unwrap().clone();
        let first = actions[before..].iter().find(|a| saves(a)).unwrap();
        assert!(first.at_ms <= at + config.min_tick_interval_ms, "acted at {} ms, power save at {at} ms", first.at_ms);
        rt.stop();
    }

    #[test]
    fn only_a_sample_that_raises_the_device_state_is_urgent() {
        use crate::{MemoryPressureLevel as M, ThermalState as T};
        let c = OptimizerConfig::default();
        let u = super::UrgentSamples::default();
        let thermal = |state| MetricSample::Thermal { state };
        let battery = |level_percent, charging| MetricSample::Battery { level_percent, charging };
        let heap = |used_mb| MetricSample::Heap { used_mb, limit_mb: 1_024.0 };
        let pressure = |level| MetricSample::MemoryPressure { level };
        // Thermal: Serious and Critical raise it, a repeat or a cooler state does not.
        let steps = [
            (thermal(T::Fair), false),
            (thermal(T::Serious), true),
            (thermal(T::Serious), false),
            (thermal(T::Critical), true),
            (thermal(T::Serious), false),
            (thermal(T::Critical), true),
            (thermal(T::Nominal), false),
            (thermal(T::Serious), true),
        ];
        // Headroom: a forecast reaching 1.0 raises it once; cooler readings, or a repeat, do not.
        let headroom = |headroom| MetricSample::ThermalHeadroom { headroom, forecast_s: 10 };
        let headroom_steps = [
            (headroom(0.5), false),
            (headroom(0.99), false),
            (headroom(1.0), true),
            (headroom(1.2), false),
            (headroom(0.9), false),
            (headroom(1.05), true),
        ];
        // Battery (low 20, critical 10, hysteresis 5): unplugged only, left with the hysteresis.
        let battery_steps = [
            (battery(50.0, false), false),
            (battery(20.0, false), true),
            (battery(19.0, false), false),
            (battery(22.0, false), false),
            (battery(20.0, false), false), // still in the low band: 22 is not above 25
            (battery(10.0, false), true),
            (battery(14.0, false), false),
            (battery(10.0, false), false),
            (battery(16.0, false), false),
            (battery(10.0, false), true),
            (battery(10.0, true), true),  // plugged in: a transition
            (battery(10.0, false), true), // unplugged at a critical level
            (battery(30.0, false), false),
            (battery(20.0, false), true),
        ];
        // Heap (budget 512 MB, acts above 409.6 MB, left below 327.7 MB).
        let heap_steps = [
            (heap(100.0), false),
            (heap(409.0), false),
            (heap(410.0), true),
            (heap(400.0), false),
            (heap(420.0), false),
            (heap(512.0), true),
            (heap(500.0), false),
            (heap(300.0), false),
            (heap(410.0), true),
        ];
        let pressure_steps = [
            (pressure(M::Normal), false),
            (pressure(M::Moderate), true),
            (pressure(M::Moderate), false),
            (pressure(M::Critical), true),
            (pressure(M::Normal), false),
            (pressure(M::Critical), true),
        ];
        // Transitions, either way; the first state seen and repeats are not.
        let app = |foreground| MetricSample::AppState { foreground };
        let save = |enabled| MetricSample::PowerSaveMode { enabled };
        let transition_steps = [
            (app(true), false),
            (app(true), false),
            (app(false), true),
            (app(false), false),
            (app(true), true),
            (save(false), false),
            (save(true), true),
            (save(true), false),
            (save(false), true),
        ];
        for (i, (sample, urgent)) in steps
            .iter()
            .chain(&headroom_steps)
            .chain(&battery_steps)
            .chain(&heap_steps)
            .chain(&pressure_steps)
            .chain(&transition_steps)
            .enumerate()
        {
            assert_eq!(u.raises(sample, &c), *urgent, "step {i}: {sample:?}");
        }
        // Samples of other kinds never are, whatever they say.
        for sample in [
            MetricSample::MessageDelivered { latency_ms: 10_000.0, hops: 9, bytes: 10 },
            MetricSample::MessageLost { hops: 1 },
            MetricSample::ProcessUsage { cpu_percent: 100.0, resident_mb: 4_000.0 },
        ] {
            assert!(!u.raises(&sample, &c), "{sample:?}");
        }
    }

    /// Blocks in `on_action` until released (or 20 s, a hang guard).
    #[derive(Default)]
    struct Blocks {
        entered: std::sync::atomic::AtomicBool,
        release: std::sync::atomic::AtomicBool,
        left: std::sync::atomic::AtomicBool,
    }

    impl ActionListener for Blocks {
        fn on_action(&self, _event: ActionEvent) -> Result<(), ListenerError> {
            self.entered.store(true, Ordering::SeqCst);
            let deadline = Instant::now() + Duration::from_secs(20);
            while !self.release.load(Ordering::SeqCst) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            self.left.store(true, Ordering::SeqCst);
            Ok(())
        }
        fn on_outcome(&self, _event: OutcomeEvent) -> Result<(), ListenerError> {
            Ok(())
        }
    }

    #[test]
    fn stop_delivers_the_final_outcomes_before_it_returns() {
        // Many times over: the dispatcher must not end between `stopped` and the final outcomes.
        for _ in 0..100 {
            let listener = Arc::new(Collects::default());
            let opt = start_optimizer(config(10_000), listener.clone()).unwrap();
            spike(&opt);
            eventually("an action was delivered", || !listener.actions.lock().unwrap().is_empty());
            // The app never acknowledges: stop() must still end every delivered action.
            opt.stop();
            let actions = listener.actions.lock().unwrap().clone();
            let outcomes = listener.outcomes.lock().unwrap().clone();
            for a in &actions {
                assert_eq!(outcomes.iter().filter(|o| o.action_id() == a.id).count(), 1, "{a:?}: {outcomes:?}");
            }
            let c = opt.snapshot().counters;
            assert_eq!(c.actions_emitted, ended(&c), "{c:?}");
        }
    }

    #[test]
    fn dropping_the_optimizer_does_not_wait_for_a_busy_listener() {
        let listener = Arc::new(Blocks::default());
        // stop() would wait ten minutes for this listener; drop must not wait at all.
        let opt = start_optimizer(config(600_000), listener.clone()).unwrap();
        spike(&opt);
        eventually("the listener is inside on_action", || listener.entered.load(Ordering::SeqCst));
        drop(opt);
        assert!(!listener.left.load(Ordering::SeqCst), "drop returned only after the listener call ended");
        listener.release.store(true, Ordering::SeqCst);
        eventually("the listener call ends by itself", || listener.left.load(Ordering::SeqCst));
    }

    /// Late messages and critical memory pressure: several actions in one tick (a latency
    /// repair, which changes one knob at a time, and the memory strategy's safety actions).
    fn spike(opt: &PerformanceOptimizer) {
        let slow = MetricSample::MessageDelivered { latency_ms: 500.0, hops: 2, bytes: 100 };
        let mut samples = vec![slow; 50];
        samples.push(MetricSample::MemoryPressure { level: crate::MemoryPressureLevel::Critical });
        opt.record_batch(samples).unwrap();
    }

    /// Polls `cond` until it holds; fails after 20 s (a hang guard, not a timing assertion).
    fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !cond() {
            assert!(Instant::now() < deadline, "never happened: {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Holds its optimizer strongly (as a careless app does) and stops it from inside
    /// `on_action`, optionally only once `stop` was called from outside too.
    struct StopsInside {
        optimizer: Mutex<Option<Arc<PerformanceOptimizer>>>,
        wait_for_outside_stop: bool,
        calls: AtomicUsize,
        outcomes: AtomicUsize,
        stopped_inside: AtomicUsize,
    }

    impl ActionListener for StopsInside {
        fn on_action(&self, _event: ActionEvent) -> Result<(), ListenerError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let Some(opt) = self.optimizer.lock().unwrap().clone() else { return Ok(()) };
            if self.wait_for_outside_stop {
                eventually("stop() from outside has begun", || opt.is_stopped());
                // Let the outside stop() reach its wait for this listener call.
                std::thread::sleep(Duration::from_millis(200));
            }
            opt.stop();
            self.stopped_inside.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
        fn on_outcome(&self, _event: OutcomeEvent) -> Result<(), ListenerError> {
            self.outcomes.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    fn stops_inside(wait_for_outside_stop: bool) -> Arc<StopsInside> {
        Arc::new(StopsInside {
            optimizer: Mutex::new(None),
            wait_for_outside_stop,
            calls: AtomicUsize::new(0),
            outcomes: AtomicUsize::new(0),
            stopped_inside: AtomicUsize::new(0),
        })
    }

    #[test]
    fn stop_from_inside_the_listener_gives_every_action_one_outcome_then_releases_the_listener() {
        let listener = stops_inside(false);
        let opt = start_optimizer(config(2_000), listener.clone()).unwrap();
        *listener.optimizer.lock().unwrap() = Some(Arc::clone(&opt));
        spike(&opt);
        eventually("the listener stopped the optimizer", || listener.stopped_inside.load(Ordering::SeqCst) == 1);
        // The listener's own reference is the app's business; drop it, as the listener would.
        listener.optimizer.lock().unwrap().take();
        // Once the listener call returned, the optimizer holds the listener no more (before the
        // fix it kept it until the optimizer was freed: with a listener that holds the optimizer,
        // as above, neither was ever freed).
        eventually("the optimizer released the listener", || Arc::strong_count(&listener) == 1);
        assert_eq!(listener.calls.load(Ordering::SeqCst), 1, "no action is delivered after stop");
        let c = opt.snapshot().counters;
        // Every action emitted got exactly one outcome: the delivered one ends Inconclusive (the
        // optimizer stopped before its acknowledgement), the ones still queued were withdrawn
        // (NotApplied, counted as undelivered, and as dropped events).
        assert_eq!(c.actions_emitted, ended(&c), "{c:?}");
        assert!(c.actions_emitted > 1, "the spike gives several actions: {c:?}");
        assert_eq!((c.outcomes_inconclusive, c.actions_undelivered), (1, c.actions_emitted - 1), "{c:?}");
        assert_eq!(c.events_dropped, c.actions_undelivered, "{c:?}");
        // The listener saw every outcome before it was released.
        assert_eq!(listener.outcomes.load(Ordering::SeqCst) as u64, c.actions_emitted, "{c:?}");
        let weak: Weak<PerformanceOptimizer> = Arc::downgrade(&opt);
        drop(opt);
        assert!(weak.upgrade().is_none());
    }

    #[test]
    fn stop_from_inside_the_listener_while_stop_runs_outside_returns_promptly() {
        // stop_timeout_ms is long: before the fix, the outside stop() held the dispatcher's
        // handle lock while it waited for the listener call, and the stop() inside that call
        // waited for the same lock, so both waited for the whole stop_timeout_ms.
        let listener = stops_inside(true);
        let opt = start_optimizer(config(60_000), listener.clone()).unwrap();
        *listener.optimizer.lock().unwrap() = Some(Arc::clone(&opt));
        spike(&opt);
        eventually("the listener was called", || listener.calls.load(Ordering::SeqCst) == 1);
        let (tx, rx) = std::sync::mpsc::channel();
        let outside = Arc::clone(&opt);
        std::thread::spawn(move || {
            outside.stop();
            let _ = tx.send(());
        });
        // A hang guard far below stop_timeout_ms, far above what the two stops need.
        assert!(rx.recv_timeout(Duration::from_secs(20)).is_ok(), "stop() from outside did not return");
        assert_eq!(listener.stopped_inside.load(Ordering::SeqCst), 1, "stop() inside the listener returned");
        listener.optimizer.lock().unwrap().take();
        eventually("the optimizer released the listener", || Arc::strong_count(&listener) == 1);
    }
}

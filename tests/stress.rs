//! Stress tests of the runtime through the public API (`start_optimizer` and a Rust
//! `ActionListener`): many producers while the listener sleeps, a listener that panics on every
//! call, start/stop/start cycles from several threads, and stop racing with record.
//!
//! What is checked: ingestion never waits for the listener (the producers finish while the
//! listener is still blocked in its first call), ticks go on meanwhile, every sample is counted
//! (accepted + rejected + dropped = offered, and each matches what the callers were told), no
//! deadlock (each test runs under a watchdog that aborts the process after a generous limit),
//! no thread leak, and resident memory stays bounded (VmRSS from /proc/self/status, generous
//! bounds). No timing is asserted.
//!
//! Scale: `MESHTUNE_STRESS_SAMPLES` (samples per producer thread, default 1 000 000: the full
//! 8 x 1 000 000 runs in a few seconds even in a debug build) and `MESHTUNE_STRESS_CYCLES`
//! (start/stop cycles per thread, default 40; 200 in the run recorded in docs/reliability.md).

mod common;

use std::any::Any;
use std::panic::PanicHookInfo;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Barrier, Condvar, Mutex, MutexGuard, Once};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::delivered;
use meshtune::{
    start_optimizer, ActionEvent, ActionListener, ListenerError, MemoryPressureLevel, MetricSample, OptimizerConfig,
    OptimizerError, OutcomeEvent, PerformanceOptimizer,
};

/// The tests of this file run one at a time, so that resident memory and thread counts belong
/// to the test that reads them.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn samples_per_thread() -> u64 {
    env_u64("MESHTUNE_STRESS_SAMPLES", 1_000_000)
}

fn cycles_per_thread() -> u64 {
    env_u64("MESHTUNE_STRESS_CYCLES", 40)
}

/// Aborts the whole process if the test is still running after `limit`: a deadlock must fail
/// the run, not hang it. Dropping the watchdog disarms it.
struct Watchdog {
    disarm: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

fn watchdog(test: &'static str, limit: Duration) -> Watchdog {
    let (tx, rx) = mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        if let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
            eprintln!("WATCHDOG: {test} still running after {limit:?}: deadlock or livelock; aborting");
            std::process::abort();
        }
    });
    Watchdog { disarm: Some(tx), thread: Some(thread) }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.disarm.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A field of /proc/self/status ("VmRSS" in kB, "Threads").
fn status(field: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(field).and_then(|r| r.strip_prefix(':')))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

fn rss_mb() -> f64 {
    status("VmRSS") as f64 / 1024.0
}

/// Polls `cond` until it holds; the watchdog is the limit (no timing assertion).
fn eventually(mut cond: impl FnMut() -> bool) {
    while !cond() {
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn fast_config() -> OptimizerConfig {
    OptimizerConfig {
        min_tick_interval_ms: 10,
        max_tick_interval_ms: 50,
        sample_process: false,
        stop_timeout_ms: 5_000,
        ..OptimizerConfig::default()
    }
}

/// Samples that make strategies act (latency far over the SLO, critical memory pressure).
fn spike(opt: &PerformanceOptimizer) -> Told {
    let mut told = Told::default();
    told.note(opt.record_batch((0..50).map(|_| delivered(500.0)).collect()), 50);
    told.note(opt.record(MetricSample::MemoryPressure { level: MemoryPressureLevel::Critical }), 1);
    told
}

/// What the producers were told, call by call.
#[derive(Default, Debug, Clone, Copy)]
struct Told {
    ok: u64,
    invalid: u64,
    overloaded: u64,
    stopped: u64,
}

impl std::ops::AddAssign for Told {
    fn add_assign(&mut self, o: Told) {
        self.ok += o.ok;
        self.invalid += o.invalid;
        self.overloaded += o.overloaded;
        self.stopped += o.stopped;
    }
}

impl Told {
    fn note(&mut self, r: Result<(), OptimizerError>, n: u64) {
        match r {
            Ok(()) => self.ok += n,
            // Both count as rejected.
            Err(OptimizerError::InvalidSample { .. } | OptimizerError::BatchTooLarge { .. }) => self.invalid += n,
            Err(OptimizerError::Overloaded { dropped, .. }) => {
                assert_eq!(u64::from(dropped), n);
                self.overloaded += n;
            }
            Err(OptimizerError::Stopped) => self.stopped += n,
            Err(e) => panic!("unexpected error {e:?}"),
        }
    }
}

/// Producer `t`'s `i`-th sample: mostly deliveries (latency that crosses the SLO, so strategies
/// act), some other kinds, one invalid in 10 000.
fn sample(t: u64, i: u64) -> MetricSample {
    match i % 10_000 {
        0 => MetricSample::Battery { level_percent: f64::NAN, charging: false },
        1 => MetricSample::Battery { level_percent: 100.0 - (i / 10_000 % 90) as f64, charging: false },
        2 => MetricSample::LinkRssi { peer_id: format!("peer-{t}"), rssi_dbm: -60 - (i % 30) as i32 },
        3 => MetricSample::ConsensusRound { proposal_ms: 5.0, vote_ms: 10.0, finalization_ms: 40.0, operations: 8 },
        _ => delivered(((t * 37 + i) % 300) as f64),
    }
}

/// A listener that blocks its first call until the test opens the gate, then sleeps 100 ms in
/// every call (a slow app), acknowledging each action.
struct Sleepy {
    gate: Mutex<bool>,
    gate_cv: Condvar,
    in_first_call: AtomicBool,
    calls: AtomicU64,
    optimizer: Mutex<Option<Arc<PerformanceOptimizer>>>,
}

impl Sleepy {
    fn call(&self) {
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            self.in_first_call.store(true, Ordering::SeqCst);
            let mut open = self.gate.lock().unwrap();
            while !*open {
                open = self.gate_cv.wait(open).unwrap();
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    fn open(&self) {
        *self.gate.lock().unwrap() = true;
        self.gate_cv.notify_all();
    }
}

impl ActionListener for Sleepy {
    fn on_action(&self, event: ActionEvent) -> Result<(), ListenerError> {
        self.call();
        if let Some(opt) = self.optimizer.lock().unwrap().as_ref() {
            let _ = opt.report_action_result(event.id, true, None);
        }
        Ok(())
    }
    fn on_outcome(&self, _event: OutcomeEvent) -> Result<(), ListenerError> {
        self.call();
        Ok(())
    }
}

#[test]
fn eight_producers_never_wait_for_a_sleeping_listener() {
    let _serial = serial();
    let _watchdog = watchdog("eight_producers_never_wait_for_a_sleeping_listener", Duration::from_secs(900));
    let n = samples_per_thread();
    let rss_before = rss_mb();
    let listener = Arc::new(Sleepy {
        gate: Mutex::new(false),
        gate_cv: Condvar::new(),
        in_first_call: AtomicBool::new(false),
        calls: AtomicU64::new(0),
        optimizer: Mutex::new(None),
    });
    let opt = start_optimizer(fast_config(), listener.clone()).unwrap();
    *listener.optimizer.lock().unwrap() = Some(Arc::clone(&opt));
    // Get the listener into its first call, where it stays until the producers are done.
    eventually(|| {
        let _ = spike(&opt);
        listener.in_first_call.load(Ordering::SeqCst)
    });
    let before = opt.snapshot().counters;
    let started = Instant::now();
    let producers: Vec<_> = (0..8u64)
        .map(|t| {
            let opt = Arc::clone(&opt);
            std::thread::spawn(move || {
                let mut told = Told::default();
                for i in 0..n {
                    told.note(opt.record(sample(t, i)), 1);
                }
                told
            })
        })
        .collect();
    let mut told = Told::default();
    for p in producers {
        told += p.join().unwrap();
    }
    let recording = started.elapsed();
    // The producers are done and the listener has not left its first call: no record waited
    // for it (had one waited, the producers could never have finished: the watchdog fires).
    assert_eq!(listener.calls.load(Ordering::SeqCst), 1, "the listener left its first call");
    // The loop ticks on while the listener is blocked.
    let ticks = opt.snapshot().counters.ticks;
    eventually(|| opt.snapshot().counters.ticks > ticks + 3);
    listener.open();
    eventually(|| listener.calls.load(Ordering::SeqCst) >= 3);
    let c = opt.snapshot().counters;
    assert_eq!(c.samples_offered - before.samples_offered, 8 * n);
    assert_eq!(told.ok + told.invalid + told.overloaded, 8 * n);
    assert_eq!(c.samples_accepted - before.samples_accepted, told.ok);
    assert_eq!(c.samples_rejected - before.samples_rejected, told.invalid);
    assert_eq!(c.samples_dropped - before.samples_dropped, told.overloaded);
    assert_eq!(told.invalid, 8 * n.div_ceil(10_000));
    assert_eq!(c.samples_offered, c.samples_accepted + c.samples_rejected + c.samples_dropped);
    opt.stop();
    let rss_after = rss_mb();
    eprintln!(
        "stress: 8 x {n} records in {recording:.2?} while the listener was blocked; accepted {}, dropped {}, \
         rejected {}; ticks {}; events dropped {}; listener calls {}; RSS {rss_before:.1} -> {rss_after:.1} MB",
        told.ok,
        told.overloaded,
        told.invalid,
        c.ticks,
        c.events_dropped,
        listener.calls.load(Ordering::SeqCst)
    );
    assert!(rss_after - rss_before < 256.0, "resident memory grew by {:.1} MB", rss_after - rss_before);
    drop(opt);
    assert_eq!(Arc::strong_count(&listener), 1, "stop released the listener");
}

/// The panics of the listeners below print nothing (they are expected by the thousand); any
/// other panic is reported as usual.
fn quiet_listener_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info: &PanicHookInfo<'_>| {
            let payload: &dyn Any = info.payload();
            let ours = payload.downcast_ref::<&str>().is_some_and(|s| s.starts_with("stress: listener"));
            if !ours {
                previous(info);
            }
        }));
    });
}

/// Panics on every call; every other action is acknowledged first (so the panic unwinds
/// through a listener that just called back into the optimizer).
struct Panics {
    calls: AtomicU64,
    optimizer: Mutex<Option<Arc<PerformanceOptimizer>>>,
}

impl ActionListener for Panics {
    fn on_action(&self, event: ActionEvent) -> Result<(), ListenerError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) % 2 == 0 {
            if let Some(opt) = self.optimizer.lock().unwrap().as_ref() {
                let _ = opt.report_action_result(event.id, true, None);
            }
        }
        panic!("stress: listener panics on an action");
    }
    fn on_outcome(&self, _event: OutcomeEvent) -> Result<(), ListenerError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        panic!("stress: listener panics on an outcome");
    }
}

#[test]
fn a_listener_that_panics_on_every_call_under_load() {
    let _serial = serial();
    let _watchdog = watchdog("a_listener_that_panics_on_every_call_under_load", Duration::from_secs(600));
    quiet_listener_panics();
    let n = samples_per_thread() / 4;
    let rss_before = rss_mb();
    let listener = Arc::new(Panics { calls: AtomicU64::new(0), optimizer: Mutex::new(None) });
    let config = OptimizerConfig { verification_window_ms: 100, min_dwell_ms: 0, ..fast_config() };
    let opt = start_optimizer(config, listener.clone()).unwrap();
    *listener.optimizer.lock().unwrap() = Some(Arc::clone(&opt));
    let before = opt.snapshot().counters;
    let producers: Vec<_> = (0..8u64)
        .map(|t| {
            let opt = Arc::clone(&opt);
            std::thread::spawn(move || {
                let mut told = Told::default();
                for i in 0..n {
                    if i % 5_000 == 0 {
                        told += spike(&opt);
                    }
                    told.note(opt.record(sample(t, i)), 1);
                }
                told
            })
        })
        .collect();
    let mut told = Told::default();
    for p in producers {
        told += p.join().unwrap();
    }
    // Keep the optimizer busy until the listener has failed many times; ticks and ingestion go on.
    eventually(|| {
        told += spike(&opt);
        opt.snapshot().counters.listener_failures >= 10
    });
    let ticks = opt.snapshot().counters.ticks;
    eventually(|| opt.snapshot().counters.ticks > ticks + 3);
    let accepted = opt.snapshot().counters.samples_accepted;
    opt.record(delivered(10.0)).unwrap();
    assert_eq!(opt.snapshot().counters.samples_accepted, accepted + 1);
    let c = opt.snapshot().counters;
    assert_eq!(c.samples_offered, c.samples_accepted + c.samples_rejected + c.samples_dropped);
    assert_eq!(c.samples_dropped - before.samples_dropped, told.overloaded);
    assert_eq!(c.samples_accepted - before.samples_accepted, told.ok + 1);
    assert!(c.listener_failures >= 10);
    assert!(c.actions_applied >= 1, "acknowledgements from a panicking listener are taken: {c:?}");
    opt.stop();
    let failures = opt.snapshot().counters.listener_failures;
    assert!(failures <= listener.calls.load(Ordering::SeqCst));
    let rss_after = rss_mb();
    eprintln!(
        "stress: panicking listener: {failures} failed calls, {} applied, ticks {}, 8 x {n} records \
         (accepted {}, dropped {}); RSS {rss_before:.1} -> {rss_after:.1} MB",
        c.actions_applied, c.ticks, told.ok, told.overloaded
    );
    assert!(rss_after - rss_before < 256.0, "resident memory grew by {:.1} MB", rss_after - rss_before);
}

/// Collects nothing, sleeps `sleep_ms` per call (0: returns at once).
struct Idle(u64);

impl ActionListener for Idle {
    fn on_action(&self, _event: ActionEvent) -> Result<(), ListenerError> {
        std::thread::sleep(Duration::from_millis(self.0));
        Ok(())
    }
    fn on_outcome(&self, _event: OutcomeEvent) -> Result<(), ListenerError> {
        std::thread::sleep(Duration::from_millis(self.0));
        Ok(())
    }
}

#[test]
fn start_stop_start_cycles_from_several_threads() {
    let _serial = serial();
    let _watchdog = watchdog("start_stop_start_cycles_from_several_threads", Duration::from_secs(600));
    let cycles = cycles_per_thread();
    let threads_before = status("Threads");
    let rss_before = rss_mb();
    let workers: Vec<_> = (0..4u64)
        .map(|w| {
            std::thread::spawn(move || {
                for cycle in 0..cycles {
                    // A slow listener and a short stop timeout in some cycles: stop then gives
                    // up waiting and detaches the dispatcher, which must still end by itself.
                    let slow = cycle % 5 == 4;
                    let config = OptimizerConfig {
                        sample_queue_capacity: [16, 1_024, 16_384][(cycle % 3) as usize],
                        event_queue_capacity: [1, 8, 1_024][(cycle % 3) as usize],
                        stop_timeout_ms: if slow { 20 } else { 5_000 },
                        sample_process: cycle % 7 == 0,
                        ..fast_config()
                    };
                    let opt = start_optimizer(config, Arc::new(Idle(if slow { 100 } else { 0 }))).unwrap();
                    // A recorder races with this thread's stop.
                    let recorder = {
                        let opt = Arc::clone(&opt);
                        std::thread::spawn(move || {
                            let mut told = Told::default();
                            let mut i = 0u64;
                            while told.stopped == 0 {
                                told.note(opt.record(sample(w, i)), 1);
                                i += 1;
                            }
                            told
                        })
                    };
                    let _ = spike(&opt);
                    if slow {
                        // Let the slow listener get a call in, so that stop has to give up on it.
                        let t = opt.snapshot().counters.ticks;
                        eventually(|| opt.snapshot().counters.ticks > t + 2);
                    }
                    for i in 0..(cycle * 37 % 500) {
                        let _ = opt.record(sample(w, i));
                    }
                    opt.stop();
                    let told = recorder.join().unwrap();
                    assert_eq!(opt.record(delivered(1.0)), Err(OptimizerError::Stopped));
                    let c = opt.snapshot().counters;
                    assert_eq!(c.samples_offered, c.samples_accepted + c.samples_rejected + c.samples_dropped);
                    assert!(c.samples_accepted >= told.ok, "{c:?} {told:?}");
                    assert_eq!(opt.snapshot().counters, c, "counters move after stop");
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    // Detached dispatchers end once their listener call returns.
    eventually(|| status("Threads") <= threads_before + 2);
    let rss_after = rss_mb();
    eprintln!(
        "stress: {} start/stop cycles on 4 threads; threads {threads_before} -> {}; RSS {rss_before:.1} -> {rss_after:.1} MB",
        4 * cycles,
        status("Threads")
    );
    assert!(rss_after - rss_before < 128.0, "resident memory grew by {:.1} MB", rss_after - rss_before);
}

#[test]
fn stop_races_with_record_from_many_threads() {
    let _serial = serial();
    let _watchdog = watchdog("stop_races_with_record_from_many_threads", Duration::from_secs(600));
    for round in 0..cycles_per_thread().div_ceil(4) {
        let config = OptimizerConfig { sample_queue_capacity: [64, 16_384][(round % 2) as usize], ..fast_config() };
        let opt = start_optimizer(config, Arc::new(Idle(0))).unwrap();
        let start = Arc::new(Barrier::new(6 + 3));
        let recorders: Vec<_> = (0..6u64)
            .map(|t| {
                let opt = Arc::clone(&opt);
                let start = Arc::clone(&start);
                std::thread::spawn(move || {
                    start.wait();
                    let mut told = Told::default();
                    let mut i = 0u64;
                    while told.stopped == 0 {
                        if i % 3 == 0 {
                            let batch: Vec<_> = (0..10).map(|k| sample(t, i * 10 + k)).collect();
                            let n = batch.len() as u64;
                            told.note(opt.record_batch(batch), n);
                        } else {
                            told.note(opt.record(sample(t, i)), 1);
                        }
                        i += 1;
                    }
                    told
                })
            })
            .collect();
        // Three threads stop the optimizer at once, once recording is well under way.
        let stoppers: Vec<_> = (0..3)
            .map(|_| {
                let opt = Arc::clone(&opt);
                let start = Arc::clone(&start);
                std::thread::spawn(move || {
                    start.wait();
                    eventually(|| opt.snapshot().counters.samples_offered > 10_000);
                    opt.stop();
                })
            })
            .collect();
        for s in stoppers {
            s.join().unwrap();
        }
        let mut told = Told::default();
        for r in recorders {
            told += r.join().unwrap();
        }
        let c = opt.snapshot().counters;
        // Every sample a caller was told was taken is in the engine, and nothing else is.
        assert_eq!(c.samples_accepted, told.ok, "{c:?} {told:?}");
        assert_eq!(c.samples_dropped, told.overloaded);
        assert_eq!(c.samples_rejected, told.invalid);
        assert_eq!(c.samples_offered, told.ok + told.overloaded + told.invalid);
        assert_eq!(opt.report_action_result(1, true, None), Err(OptimizerError::Stopped));
        assert_eq!(opt.record_batch(vec![delivered(1.0)]), Err(OptimizerError::Stopped));
        assert_eq!(opt.snapshot().counters, c);
    }
}

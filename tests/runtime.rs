//! The runtime shell through the public API: threads, listener isolation, stop semantics.
//! No timing is asserted: waits are bounded polls that fail the test if a condition never holds.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::delivered;
use meshtune::{
    start_optimizer, ActionEvent, ActionListener, ListenerError, MetricSample, OptimizerConfig, OptimizerError,
    OutcomeEvent, PerformanceOptimizer,
};

fn fast_config() -> OptimizerConfig {
    OptimizerConfig {
        min_tick_interval_ms: 10,
        max_tick_interval_ms: 50,
        sample_process: false,
        ..OptimizerConfig::default()
    }
}

/// Polls `cond` until it holds or 20 s pass (a hang guard, not a timing assertion).
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Late messages and critical memory pressure: actions at the next tick (the memory strategy's
/// safety actions come at once; a latency repair waits for a second 10 s block of messages).
fn spike(opt: &PerformanceOptimizer) {
    let mut samples: Vec<MetricSample> = (0..50).map(|_| delivered(500.0)).collect();
    samples.push(MetricSample::MemoryPressure { level: meshtune::MemoryPressureLevel::Critical });
    opt.record_batch(samples).unwrap();
}

#[derive(Default)]
struct Collect {
    actions: Mutex<Vec<ActionEvent>>,
    outcomes: Mutex<Vec<OutcomeEvent>>,
}

impl ActionListener for Collect {
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
fn actions_reach_the_listener_and_acknowledgements_lead_to_outcomes() {
    let listener = Arc::new(Collect::default());
    // A 3 s window: blocks of 500 ms, so an on-time measurement has its blocks within seconds.
    let config = OptimizerConfig { verification_window_ms: 200, window_ms: 3_000, ..fast_config() };
    let opt = start_optimizer(config, listener.clone()).unwrap();
    spike(&opt);
    eventually("an action", || !listener.actions.lock().unwrap().is_empty());
    let first = listener.actions.lock().unwrap()[0].clone();
    opt.report_action_result(first.id, true, None).unwrap();
    assert!(matches!(opt.report_action_result(first.id, true, None), Err(OptimizerError::UnknownAction { .. })));
    // Keep traffic flowing so the verification has data after the change.
    eventually("an outcome for the acknowledged action", || {
        spike(&opt);
        listener.outcomes.lock().unwrap().iter().any(|o| o.action_id() == first.id)
    });
    let snap = opt.snapshot();
    assert!(snap.counters.ticks > 0);
    assert!(snap.counters.actions_applied >= 1);
    opt.stop();
}

struct Panics(AtomicU64);
impl ActionListener for Panics {
    fn on_action(&self, _event: ActionEvent) -> Result<(), ListenerError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        panic!("listener bug");
    }
    fn on_outcome(&self, _event: OutcomeEvent) -> Result<(), ListenerError> {
        panic!("listener bug");
    }
}

#[test]
fn a_listener_that_panics_on_every_call_does_not_stop_the_optimizer() {
    let listener = Arc::new(Panics(AtomicU64::new(0)));
    let opt = start_optimizer(fast_config(), listener.clone()).unwrap();
    spike(&opt);
    eventually("several failed listener calls", || opt.snapshot().counters.listener_failures >= 3);
    let ticks = opt.snapshot().counters.ticks;
    eventually("ticks go on", || opt.snapshot().counters.ticks > ticks + 3);
    let accepted = opt.snapshot().counters.samples_accepted;
    opt.record(delivered(10.0)).unwrap();
    eventually("samples still recorded", || opt.snapshot().counters.samples_accepted > accepted);
    assert!(listener.0.load(Ordering::SeqCst) >= 1);
    opt.stop();
}

struct Blocks;
impl ActionListener for Blocks {
    fn on_action(&self, _event: ActionEvent) -> Result<(), ListenerError> {
        std::thread::sleep(Duration::from_millis(300));
        Ok(())
    }
    fn on_outcome(&self, _event: OutcomeEvent) -> Result<(), ListenerError> {
        Ok(())
    }
}

#[test]
fn a_blocking_listener_fills_only_its_queue_and_drops_are_counted() {
    let config = OptimizerConfig { event_queue_capacity: 1, stop_timeout_ms: 5_000, ..fast_config() };
    let opt = start_optimizer(config, Arc::new(Blocks)).unwrap();
    spike(&opt);
    opt.record(MetricSample::Battery { level_percent: 5.0, charging: false }).unwrap();
    opt.record(MetricSample::MemoryPressure { level: meshtune::MemoryPressureLevel::Critical }).unwrap();
    eventually("events dropped while the listener blocks", || opt.snapshot().counters.events_dropped > 0);
    // Ingestion goes on while the listener sleeps.
    for _ in 0..1_000 {
        opt.record(delivered(20.0)).unwrap();
    }
    let ticks = opt.snapshot().counters.ticks;
    eventually("ticks go on", || opt.snapshot().counters.ticks > ticks + 2);
    opt.stop();
}

#[test]
fn stop_is_idempotent_and_later_calls_are_refused() {
    let opt = start_optimizer(fast_config(), Arc::new(Collect::default())).unwrap();
    opt.record(delivered(10.0)).unwrap();
    opt.stop();
    opt.stop();
    assert!(opt.is_stopped());
    assert_eq!(opt.record(delivered(10.0)), Err(OptimizerError::Stopped));
    assert_eq!(opt.record_batch(vec![delivered(10.0)]), Err(OptimizerError::Stopped));
    assert_eq!(opt.report_action_result(1, true, None), Err(OptimizerError::Stopped));
    let snap = opt.snapshot();
    assert_eq!(snap.counters.samples_accepted, 1);
}

struct StopsItself(Mutex<Option<Arc<PerformanceOptimizer>>>, AtomicU64);
impl ActionListener for StopsItself {
    fn on_action(&self, _event: ActionEvent) -> Result<(), ListenerError> {
        if let Some(opt) = self.0.lock().unwrap().take() {
            // Recording and stopping from inside the listener must neither deadlock nor panic.
            let _ = opt.record(delivered(1.0));
            opt.stop();
            self.1.store(1, Ordering::SeqCst);
        }
        Ok(())
    }
    fn on_outcome(&self, _event: OutcomeEvent) -> Result<(), ListenerError> {
        Ok(())
    }
}

#[test]
fn stop_from_inside_the_listener_does_not_deadlock() {
    let listener = Arc::new(StopsItself(Mutex::new(None), AtomicU64::new(0)));
    let opt = start_optimizer(fast_config(), listener.clone()).unwrap();
    *listener.0.lock().unwrap() = Some(Arc::clone(&opt));
    spike(&opt);
    eventually("listener stopped the optimizer", || listener.1.load(Ordering::SeqCst) == 1);
    assert!(opt.is_stopped());
    opt.stop();
}

#[test]
fn eight_threads_record_at_once_and_the_counters_add_up() {
    let opt = start_optimizer(fast_config(), Arc::new(Collect::default())).unwrap();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let opt = Arc::clone(&opt);
            std::thread::spawn(move || {
                let mut overloaded = 0u64;
                for i in 0..20_000u32 {
                    let s = if i % 1000 == 0 {
                        MetricSample::Battery { level_percent: 200.0, charging: false }
                    } else {
                        delivered(f64::from(t * 10 + i % 50))
                    };
                    if let Err(OptimizerError::Overloaded { .. }) = opt.record(s) {
                        overloaded += 1;
                    }
                }
                overloaded
            })
        })
        .collect();
    let overloaded: u64 = threads.into_iter().map(|h| h.join().unwrap()).sum();
    let c = opt.snapshot().counters;
    assert_eq!(c.samples_offered, 8 * 20_000);
    assert_eq!(c.samples_rejected, 8 * 20);
    assert_eq!(c.samples_dropped, overloaded);
    assert_eq!(c.samples_offered, c.samples_accepted + c.samples_rejected + c.samples_dropped);
    opt.stop();
}

#[test]
fn an_invalid_config_is_refused_with_its_field() {
    let config = OptimizerConfig { min_tick_interval_ms: 100, max_tick_interval_ms: 50, ..OptimizerConfig::default() };
    match start_optimizer(config, Arc::new(Collect::default())) {
        Err(OptimizerError::InvalidConfig { field, .. }) => assert_eq!(field, "min_tick_interval_ms"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn process_usage_is_sampled_natively() {
    let config = OptimizerConfig { sample_process: true, ..fast_config() };
    let opt = start_optimizer(config, Arc::new(Collect::default())).unwrap();
    eventually("resident memory sampled", || opt.snapshot().metrics.memory_usage.process_resident_mb.is_some());
    assert!(opt.snapshot().metrics.cpu_usage.process_cpu_percent.is_some());
    opt.stop();
}

#[test]
fn a_snapshot_includes_a_sample_recorded_just_before_it() {
    let opt = start_optimizer(
        OptimizerConfig { min_tick_interval_ms: 60_000, max_tick_interval_ms: 60_000, ..fast_config() },
        Arc::new(Collect::default()),
    )
    .unwrap();
    opt.record(MetricSample::Battery { level_percent: 80.0, charging: false }).unwrap();
    let snap = opt.snapshot();
    assert_eq!(snap.metrics.device.battery_percent, Some(80.0));
    assert_eq!(snap.counters.samples_offered, 1, "the optimizer's own process samples are not the app's");
    opt.stop();
}

#[test]
fn stop_releases_the_listener_even_while_the_app_holds_the_optimizer() {
    let listener = Arc::new(Collect::default());
    let opt = start_optimizer(fast_config(), listener.clone()).unwrap();
    assert!(Arc::strong_count(&listener) >= 2);
    opt.stop();
    assert_eq!(Arc::strong_count(&listener), 1, "the optimizer still holds the listener after stop");
}

#[test]
fn a_batch_larger_than_the_queue_is_refused_as_such() {
    let opt =
        start_optimizer(OptimizerConfig { sample_queue_capacity: 10, ..fast_config() }, Arc::new(Collect::default()))
            .unwrap();
    let err = opt.record_batch((0..11).map(|_| delivered(5.0)).collect()).unwrap_err();
    assert_eq!(err, OptimizerError::BatchTooLarge { size: 11, capacity: 10 });
    let c = opt.snapshot().counters;
    assert_eq!(c.samples_rejected, 11);
    assert_eq!(c.samples_offered, c.samples_accepted + c.samples_rejected + c.samples_dropped);
    opt.stop();
}

/// Fails every call with an error value (what a throwing Kotlin listener becomes).
struct Fails(std::sync::atomic::AtomicU64);

impl ActionListener for Fails {
    fn on_action(&self, _event: ActionEvent) -> Result<(), ListenerError> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Err(ListenerError::Failed { reason: "the app's radio code threw".to_owned() })
    }
    fn on_outcome(&self, _event: OutcomeEvent) -> Result<(), ListenerError> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Err(ListenerError::Failed { reason: "and again".to_owned() })
    }
}

#[test]
fn a_listener_that_returns_an_error_is_counted_and_the_optimizer_goes_on() {
    let listener = Arc::new(Fails(std::sync::atomic::AtomicU64::new(0)));
    let opt = start_optimizer(fast_config(), listener.clone()).unwrap();
    spike(&opt);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while listener.0.load(std::sync::atomic::Ordering::SeqCst) < 2 {
        assert!(std::time::Instant::now() < deadline, "the listener was never called twice");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    opt.stop();
    let c = opt.snapshot().counters;
    assert_eq!(c.listener_failures, listener.0.load(std::sync::atomic::Ordering::SeqCst), "{c:?}");
    assert_eq!(c.internal_panics, 0, "an error value is not a panic: {c:?}");
}

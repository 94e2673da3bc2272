//! Arbitrary sequences of record / record_batch / report_action_result / tick, with arbitrary
//! timestamps (backwards, huge gaps, u64 extremes) and arbitrary, often invalid, samples.
//! After every step: no panic, every knob inside its bounds, no NaN or infinity in the
//! snapshot, counters consistent, action ids unique and increasing; at the end, every action
//! has exactly one outcome once the engine has been given time to settle.

use std::collections::BTreeMap;

use meshtune::{Engine, EngineEvent, MemoryPressureLevel, MetricSample, OptimizerConfig, OptimizerSnapshot, ThermalState};
use proptest::prelude::*;

fn any_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => 0.0f64..1_000.0,
        1 => prop_oneof![Just(f64::NAN), Just(f64::INFINITY), Just(f64::NEG_INFINITY), Just(-1.0), Just(0.0), Just(1e300), Just(-0.0)],
        1 => any::<f64>(),
    ]
}

fn any_sample() -> impl Strategy<Value = MetricSample> {
    prop_oneof![
        4 => (any_f64(), 0u32..12, any::<u32>()).prop_map(|(latency_ms, hops, bytes)| MetricSample::MessageDelivered { latency_ms, hops, bytes }),
        1 => (0u32..20).prop_map(|hops| MetricSample::MessageLost { hops }),
        1 => ("[a-z]{0,3}", -140i32..30).prop_map(|(peer_id, rssi_dbm)| MetricSample::LinkRssi { peer_id, rssi_dbm }),
        1 => (0u32..50, 0u32..50).prop_map(|(connected, discovered)| MetricSample::PeerCount { connected, discovered }),
        1 => any_f64().prop_map(|duration_ms| MetricSample::ConnectionEstablished { duration_ms }),
        1 => any_f64().prop_map(|duration_ms| MetricSample::PeerDiscovered { duration_ms }),
        2 => (any_f64(), any_f64(), any_f64(), any::<u32>()).prop_map(|(proposal_ms, vote_ms, finalization_ms, operations)| {
            MetricSample::ConsensusRound { proposal_ms, vote_ms, finalization_ms, operations }
        }),
        2 => (any_f64(), any::<bool>()).prop_map(|(level_percent, charging)| MetricSample::Battery { level_percent, charging }),
        1 => any::<bool>().prop_map(|enabled| MetricSample::PowerSaveMode { enabled }),
        1 => prop_oneof![Just(ThermalState::Nominal), Just(ThermalState::Fair), Just(ThermalState::Serious), Just(ThermalState::Critical)]
            .prop_map(|state| MetricSample::Thermal { state }),
        1 => prop_oneof![Just(MemoryPressureLevel::Normal), Just(MemoryPressureLevel::Moderate), Just(MemoryPressureLevel::Critical)]
            .prop_map(|level| MetricSample::MemoryPressure { level }),
        1 => (any_f64(), any_f64()).prop_map(|(used_mb, limit_mb)| MetricSample::Heap { used_mb, limit_mb }),
        1 => any::<bool>().prop_map(|foreground| MetricSample::AppState { foreground }),
    ]
}

#[derive(Debug, Clone)]
enum Op {
    Record(MetricSample, u64),
    Batch(Vec<MetricSample>, u64),
    /// Acknowledge the n-th action emitted so far (modulo their count), or an unknown id.
    Ack(usize, bool),
    Tick(u64),
}

fn any_time() -> impl Strategy<Value = u64> {
    prop_oneof![
        6 => 0u64..5_000,
        1 => 0u64..10_000_000,
        1 => prop_oneof![Just(0u64), Just(u64::MAX), Just(u64::MAX - 1), Just(u64::MAX / 2)],
    ]
}

fn any_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (any_sample(), any_time()).prop_map(|(s, dt)| Op::Record(s, dt)),
        1 => (prop::collection::vec(any_sample(), 0..20), any_time()).prop_map(|(v, dt)| Op::Batch(v, dt)),
        2 => (any::<usize>(), any::<bool>()).prop_map(|(i, a)| Op::Ack(i, a)),
        3 => any_time().prop_map(Op::Tick),
    ]
}

fn finite_snapshot(s: &OptimizerSnapshot) -> Result<(), String> {
    // Every f64 in the snapshot is reachable through its Debug output: no NaN or inf may appear.
    let text = format!("{:?}", s.metrics);
    if text.contains("NaN") || text.contains("inf") {
        return Err(format!("non-finite value in {text}"));
    }
    Ok(())
}

proptest! {
    // 300 cases in the test command; more with PROPTEST_CASES=N.
    #![proptest_config(ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(300), ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_call_sequences_keep_every_invariant(ops in prop::collection::vec(any_op(), 1..120), base in any_time()) {
        let mut e = Engine::new(OptimizerConfig::default()).unwrap();
        let mut t: u64 = base;
        let mut emitted: Vec<u64> = Vec::new();
        let mut outcomes: BTreeMap<u64, usize> = BTreeMap::new();
        let take = |events: Vec<EngineEvent>, emitted: &mut Vec<u64>, outcomes: &mut BTreeMap<u64, usize>| {
            for ev in events {
                match ev {
                    EngineEvent::Action(a) => {
                        assert!(emitted.last().is_none_or(|&last| a.id > last), "ids not increasing");
                        a.action.validate().unwrap();
                        emitted.push(a.id);
                    }
                    EngineEvent::Outcome(o) => *outcomes.entry(o.action_id()).or_default() += 1,
                }
            }
        };
        for op in ops {
            match op {
                Op::Record(s, dt) => { t = t.wrapping_add(dt); let _ = e.record(s, t); }
                Op::Batch(v, dt) => { t = t.wrapping_add(dt); let _ = e.record_batch(v, t); }
                Op::Ack(i, applied) => {
                    let id = if emitted.is_empty() { 999_999 } else { emitted[i % emitted.len()] };
                    let _ = e.report_action_result(id, applied, Some("detail".into()), t);
                }
                Op::Tick(dt) => { t = t.wrapping_add(dt); let events = e.tick(t); take(events, &mut emitted, &mut outcomes); }
            }
            let s = e.snapshot();
            for a in &s.profile {
                prop_assert!(a.validate().is_ok(), "knob out of bounds: {a:?}");
            }
            finite_snapshot(&s).map_err(TestCaseError::fail)?;
            let c = &s.counters;
            prop_assert_eq!(c.samples_offered, c.samples_accepted + c.samples_rejected + c.samples_dropped);
            for (id, n) in &outcomes {
                prop_assert!(*n == 1, "action {} has {} outcomes", id, n);
            }
        }
        // Let everything settle: acknowledge nothing more, tick far past every window.
        let mut now = e.snapshot().now_ms;
        for _ in 0..40 {
            now = now.saturating_add(60_000);
            let events = e.tick(now);
            take(events, &mut emitted, &mut outcomes);
        }
        // Actions of the last tick (a repeated one-shot GC under lasting pressure, say) have not
        // had their ack timeout yet; everything before them has.
        let events = e.tick(now.saturating_add(60_000));
        let last_tick: Vec<u64> = events.iter().filter_map(|ev| match ev { EngineEvent::Action(a) => Some(a.id), _ => None }).collect();
        take(events, &mut emitted, &mut outcomes);
        for id in emitted.iter().filter(|id| !last_tick.contains(id)) {
            let n = outcomes.get(id).copied().unwrap_or(0);
            // An action emitted at the very end of time (u64::MAX) cannot be given time to settle.
            if e.snapshot().now_ms < u64::MAX - 10_000_000 {
                prop_assert_eq!(n, 1, "action {} has {} outcomes", id, n);
            } else {
                prop_assert!(n <= 1);
            }
        }
    }
}

//! Arbitrary sequences of record / record_batch / report_action_result / tick, with arbitrary
//! timestamps (backwards, huge gaps, u64 extremes), arbitrary, often invalid, samples, arbitrary
//! acknowledgements (right, wrong, repeated and unknown ids) and arbitrary valid configurations.
//! This is the engine's fuzz target: cargo-fuzz needs a nightly toolchain, so the fuzzing is
//! done with proptest on stable (docs/reliability.md has the large runs).
//!
//! After every step: no panic; every knob inside its bounds (`OptimizationAction::validate`);
//! no NaN or infinity in the snapshot or in any outcome; counters consistent (accepted +
//! rejected + dropped = offered, emitted = actions seen, applied/refused = acknowledgements
//! taken, outcome counters = outcomes seen); at most one pending action per knob (bounded
//! state); action ids unique and increasing; an outcome only for an emitted action, never two
//! for one action; an acknowledgement is taken once (a second one is `UnknownAction`). At the end, once the engine has been given time to settle, every
//! action has exactly one outcome (so every acknowledged action has exactly one), and every
//! refused one has `NotApplied`.
//!
//! Cases: 300 and 150 in the test command; `PROPTEST_CASES=N` sets both.

use std::collections::{BTreeMap, BTreeSet};

use meshtune::{
    Engine, EngineEvent, Knob, MemoryPressureLevel, MetricSample, OptimizerConfig, OptimizerError, OptimizerSnapshot,
    OutcomeEvent, PerformanceMetrics, ThermalState,
};
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(300)
}

fn any_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => 0.0f64..1_000.0,
        1 => prop_oneof![
            Just(f64::NAN), Just(f64::INFINITY), Just(f64::NEG_INFINITY), Just(-1.0), Just(0.0), Just(1e300), Just(-0.0),
            Just(f64::MAX), Just(f64::MIN_POSITIVE), Just(86_400_000.0), Just(86_400_000.000_001), Just(1_048_576.0),
        ],
        1 => any::<f64>(),
    ]
}

fn any_sample() -> impl Strategy<Value = MetricSample> {
    prop_oneof![
        4 => (any_f64(), prop_oneof![0u32..12, any::<u32>()], any::<u32>()).prop_map(|(latency_ms, hops, bytes)| MetricSample::MessageDelivered { latency_ms, hops, bytes }),
        1 => prop_oneof![0u32..20, any::<u32>()].prop_map(|hops| MetricSample::MessageLost { hops }),
        1 => (prop_oneof![3 => "[a-z]{0,3}", 1 => ".{0,300}"], prop_oneof![-140i32..30, any::<i32>()]).prop_map(|(peer_id, rssi_dbm)| MetricSample::LinkRssi { peer_id, rssi_dbm }),
        1 => (any::<u32>(), any::<u32>()).prop_map(|(connected, discovered)| MetricSample::PeerCount { connected, discovered }),
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
        1 => (any_f64(), any_f64()).prop_map(|(cpu_percent, resident_mb)| MetricSample::ProcessUsage { cpu_percent, resident_mb }),
    ]
}

#[derive(Debug, Clone)]
enum Ack {
    /// The n-th action emitted so far (modulo their count): pending, or already taken.
    Emitted(usize),
    /// An id the engine never gave.
    Unknown(u64),
}

#[derive(Debug, Clone)]
enum Op {
    Record(MetricSample, u64),
    Batch(Vec<MetricSample>, u64),
    Ack(Ack, bool, Option<String>, u64),
    Tick(u64),
    /// Delivered messages over a span, so that verifications have data (latency repair,
    /// measurement, revert): `count` deliveries of `latency` ms, `step` ms apart.
    Burst {
        count: u8,
        latency: f64,
        step: u64,
    },
}

/// A time step: mostly small, sometimes a huge gap or a jump to the extremes of u64 (time may
/// go backwards through wrapping).
fn any_time() -> impl Strategy<Value = u64> {
    prop_oneof![
        6 => 0u64..5_000,
        1 => 0u64..10_000_000,
        1 => prop_oneof![Just(0u64), Just(u64::MAX), Just(u64::MAX - 1), Just(u64::MAX / 2), Just(1u64 << 63)],
    ]
}

fn any_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (any_sample(), any_time()).prop_map(|(s, dt)| Op::Record(s, dt)),
        1 => (prop::collection::vec(any_sample(), 0..20), any_time()).prop_map(|(v, dt)| Op::Batch(v, dt)),
        3 => (
            prop_oneof![4 => any::<usize>().prop_map(Ack::Emitted), 1 => prop_oneof![any::<u64>(), Just(0u64), Just(u64::MAX)].prop_map(Ack::Unknown)],
            any::<bool>(),
            prop_oneof![Just(None), Just(Some("detail".to_owned())), ".{0,20}".prop_map(Some), Just(Some("é".repeat(700)))],
            prop_oneof![3 => Just(0u64), 1 => any_time()],
        ).prop_map(|(a, applied, detail, dt)| Op::Ack(a, applied, detail, dt)),
        3 => any_time().prop_map(Op::Tick),
        1 => (1u8..60, prop_oneof![0.0f64..60.0, 100.0f64..2_000.0], 1u64..3_000).prop_map(|(count, latency, step)| Op::Burst { count, latency, step }),
    ]
}

/// The default configuration, or one with arbitrary valid timing and thresholds (short windows
/// and timeouts reach verification, revert, back-off and expiry within a short sequence).
fn any_config() -> impl Strategy<Value = OptimizerConfig> {
    let timing = (
        1_000u64..120_000,                               // window_ms
        1u32..10,                                        // min_samples
        10u64..2_000,                                    // min_tick_interval_ms
        0u64..60_000,                                    // extra to max_tick_interval_ms
        0u64..60_000,                                    // min_dwell_ms
        1u32..12,                                        // max_actions_per_minute
        1u64..60_000,                                    // verification_window_ms
        1u64..900_000,                                   // power_verification_window_ms
        1u64..20_000,                                    // ack_timeout_ms
        (1u64..200_000, 0u64..4_000_000),                // backoff_base_ms, extra to backoff_max_ms
        (0u64..200_000, 0u64..4_000_000),                // repair_hold_ms, extra to repair_hold_max_ms
        (0u64..120_000, 1u64..200_000, 0u64..1_000_000), // gc_min_interval, memory_pressure_hold, relapse window
    );
    let thresholds = (1.0f64..2_000.0, 0.1f64..5.0, 0.05f64..0.99, 0.05f64..0.99, 0.1f64..100.0, 5.0f64..100.0);
    prop_oneof![
        1 => Just(OptimizerConfig::default()),
        2 => (timing, thresholds).prop_map(|(t, th)| {
            let (window, min_samples, min_tick, extra_tick, dwell, rate, verify, power_verify, ack, (bb, bx), (rh, rx), (gc, hold, relapse)) = t;
            let (p95, hops, heap_ratio, hysteresis, tolerance, low) = th;
            OptimizerConfig {
                window_ms: window,
                min_samples,
                min_tick_interval_ms: min_tick,
                max_tick_interval_ms: min_tick + extra_tick,
                min_dwell_ms: dwell,
                max_actions_per_minute: rate,
                verification_window_ms: verify,
                power_verification_window_ms: power_verify,
                ack_timeout_ms: ack,
                backoff_base_ms: bb,
                backoff_max_ms: (bb + bx).min(meshtune::config::MAX_DURATION_MS),
                repair_hold_ms: rh,
                repair_hold_max_ms: rh + rx,
                gc_min_interval_ms: gc,
                memory_pressure_hold_ms: hold,
                repair_relapse_window_ms: relapse,
                target_p95_latency_ms: p95,
                max_avg_hop_count: hops,
                heap_pressure_ratio: heap_ratio,
                hysteresis_ratio: hysteresis,
                revert_tolerance_percent: tolerance,
                battery_low_percent: low,
                battery_critical_percent: low / 2.0,
                ..OptimizerConfig::default()
            }
        }),
    ]
}

/// Every float of the metrics, named.
fn metric_floats(m: &PerformanceMetrics) -> Vec<(&'static str, f64)> {
    let mut v = Vec::new();
    let mut stats = |name: &'static str, s: &Option<meshtune::snapshot::LatencyStats>| {
        if let Some(s) = s {
            v.extend([(name, s.mean_ms), (name, s.p50_ms), (name, s.p95_ms), (name, s.p99_ms), (name, s.max_ms)]);
        }
    };
    stats("network_latency", &m.network_latency);
    stats("consensus.finalization", &m.consensus_performance.finalization);
    stats("mesh.connection_setup", &m.mesh_performance.connection_setup);
    stats("mesh.discovery", &m.mesh_performance.discovery);
    let c = &m.consensus_performance;
    v.push(("consensus.ops_per_sec", c.ops_per_sec));
    v.extend(c.mean_proposal_ms.map(|x| ("consensus.mean_proposal_ms", x)));
    v.extend(c.mean_vote_ms.map(|x| ("consensus.mean_vote_ms", x)));
    let mem = &m.memory_usage;
    v.extend(mem.heap_used_mb.map(|x| ("memory.heap_used_mb", x)));
    v.extend(mem.heap_limit_mb.map(|x| ("memory.heap_limit_mb", x)));
    v.extend(mem.process_resident_mb.map(|x| ("memory.process_resident_mb", x)));
    v.extend(m.cpu_usage.process_cpu_percent.map(|x| ("cpu.process_cpu_percent", x)));
    let mesh = &m.mesh_performance;
    v.push(("mesh.loss_ratio", mesh.loss_ratio));
    v.push(("mesh.bytes_per_sec", mesh.bytes_per_sec));
    v.extend(mesh.mean_hop_count.map(|x| ("mesh.mean_hop_count", x)));
    v.extend(mesh.mean_rssi_dbm.map(|x| ("mesh.mean_rssi_dbm", x)));
    v.extend(m.device.battery_percent.map(|x| ("device.battery_percent", x)));
    v
}

fn finite_snapshot(s: &OptimizerSnapshot) -> Result<(), TestCaseError> {
    for (name, x) in metric_floats(&s.metrics) {
        prop_assert!(x.is_finite(), "{} is {} in {:?}", name, x, s.metrics);
    }
    // Belt and braces: no float field was forgotten above.
    let text = format!("{:?}", s.metrics);
    prop_assert!(!text.contains("NaN") && !text.contains("inf"), "non-finite value in {}", text);
    Ok(())
}

fn finite_outcome(o: &OutcomeEvent) -> Result<(), TestCaseError> {
    match o {
        OutcomeEvent::Improved { before, after, improvement_percent, interval, .. }
        | OutcomeEvent::Worse { before, after, improvement_percent, interval, .. } => {
            prop_assert!(before.is_finite() && after.is_finite() && improvement_percent.is_finite(), "{:?}", o);
            prop_assert!(
                interval.is_none_or(|i| i.low.is_finite() && i.high.is_finite() && i.low <= i.high),
                "{:?}",
                o
            );
        }
        OutcomeEvent::NoEffect { before, after, interval, .. } => {
            prop_assert!(before.is_finite() && after.is_finite(), "{:?}", o);
            prop_assert!(
                interval.is_none_or(|i| i.low.is_finite() && i.high.is_finite() && i.low <= i.high),
                "{:?}",
                o
            );
        }
        _ => {}
    }
    Ok(())
}

/// What the test saw the engine do, to check its counters and its promises against.
#[derive(Default)]
struct Seen {
    emitted: Vec<u64>,
    emitted_set: BTreeSet<u64>,
    outcomes: BTreeMap<u64, Vec<OutcomeEvent>>,
    applied: BTreeSet<u64>,
    refused: BTreeSet<u64>,
    /// Acknowledged after their Unacknowledged outcome.
    late: BTreeSet<u64>,
}

impl Seen {
    fn take(&mut self, events: Vec<EngineEvent>) -> Result<Vec<u64>, TestCaseError> {
        let mut actions = Vec::new();
        let mut restores = Vec::new();
        for ev in events {
            match ev {
                EngineEvent::Action(a) => {
                    prop_assert!(
                        self.emitted.last().is_none_or(|&last| a.id > last),
                        "ids not increasing: {} after {:?}",
                        a.id,
                        self.emitted.last()
                    );
                    prop_assert!(a.action.validate().is_ok(), "action out of bounds: {:?}", a);
                    self.emitted.push(a.id);
                    self.emitted_set.insert(a.id);
                    actions.push(a.id);
                }
                EngineEvent::Outcome(o) => {
                    finite_outcome(&o)?;
                    let id = o.action_id();
                    prop_assert!(self.emitted_set.contains(&id), "outcome for an action never emitted: {:?}", o);
                    if let OutcomeEvent::Worse { restore_action_id: Some(r), .. }
                    | OutcomeEvent::NoEffect { restore_action_id: Some(r), .. } = &o
                    {
                        restores.push(*r);
                    }
                    if let OutcomeEvent::NotApplied { .. } = &o {
                        prop_assert!(self.refused.contains(&id), "NotApplied for an action not refused: {:?}", o);
                    }
                    let list = self.outcomes.entry(id).or_default();
                    list.push(o);
                    prop_assert!(list.len() == 1, "action {} has outcomes {:?}", id, list);
                }
            }
        }
        for r in restores {
            prop_assert!(actions.contains(&r), "restore action {} not emitted with its Worse or NoEffect outcome", r);
        }
        Ok(actions)
    }

    fn check_counters(&self, s: &OptimizerSnapshot) -> Result<(), TestCaseError> {
        let c = &s.counters;
        prop_assert_eq!(c.samples_offered, c.samples_accepted + c.samples_rejected + c.samples_dropped);
        prop_assert_eq!(c.samples_dropped, 0, "the engine itself never drops");
        prop_assert_eq!(c.actions_emitted, self.emitted.len() as u64);
        prop_assert_eq!(c.actions_applied, self.applied.len() as u64);
        prop_assert_eq!(c.actions_refused, self.refused.len() as u64);
        let counted = c.outcomes_improved
            + c.outcomes_no_effect
            + c.outcomes_worse
            + c.outcomes_inconclusive
            + c.outcomes_superseded
            + c.outcomes_unacknowledged;
        let seen =
            self.outcomes.values().flatten().filter(|o| !matches!(o, OutcomeEvent::NotApplied { .. })).count() as u64;
        prop_assert_eq!(counted, seen, "outcome counters disagree with the outcomes emitted: {:?}", c);
        // Bounded state: at most one action pending per knob.
        let knobs: BTreeSet<Knob> = s.pending_actions.iter().map(|p| p.action.knob()).collect();
        prop_assert_eq!(
            knobs.len(),
            s.pending_actions.len(),
            "two pending actions on one knob: {:?}",
            s.pending_actions
        );
        prop_assert!(s.pending_actions.len() <= Knob::ALL.len());
        // Pending actions are emitted, not acknowledged and without an outcome.
        for p in &s.pending_actions {
            prop_assert!(self.emitted_set.contains(&p.id));
            prop_assert!(
                !self.applied.contains(&p.id) && !self.refused.contains(&p.id) && !self.outcomes.contains_key(&p.id)
            );
        }
        Ok(())
    }
}

fn run_sequence(config: OptimizerConfig, ops: Vec<Op>, base: u64) -> Result<(), TestCaseError> {
    let mut e = Engine::new(config).unwrap();
    let mut t: u64 = base;
    let mut seen = Seen::default();
    for op in ops {
        match op {
            Op::Record(s, dt) => {
                t = t.wrapping_add(dt);
                let valid = s.validate().is_ok();
                prop_assert_eq!(e.record(s, t).is_ok(), valid);
            }
            Op::Batch(v, dt) => {
                t = t.wrapping_add(dt);
                let valid = v.iter().all(|s| s.validate().is_ok());
                prop_assert_eq!(e.record_batch(v, t).is_ok(), valid);
            }
            Op::Burst { count, latency, step } => {
                for i in 0..count {
                    t = t.saturating_add(step);
                    let s = MetricSample::MessageDelivered { latency_ms: latency + f64::from(i), hops: 2, bytes: 100 };
                    e.record(s, t).unwrap();
                }
            }
            Op::Ack(ack, applied, detail, dt) => {
                t = t.wrapping_add(dt);
                let id = match ack {
                    Ack::Emitted(i) if !seen.emitted.is_empty() => seen.emitted[i % seen.emitted.len()],
                    Ack::Emitted(_) => 999_999,
                    Ack::Unknown(id) => id,
                };
                let pending = e.snapshot().pending_actions.iter().any(|p| p.id == id);
                // A late acknowledgement (after its Unacknowledged outcome) is taken once too,
                // and changes no outcome; the engine may have forgotten a very old one.
                let late =
                    seen.outcomes.get(&id).is_some_and(|o| matches!(o[..], [OutcomeEvent::Unacknowledged { .. }]))
                        && !seen.applied.contains(&id)
                        && !seen.refused.contains(&id)
                        && !seen.late.contains(&id);
                match e.report_action_result(id, applied, detail, t) {
                    Ok(()) => {
                        prop_assert!(
                            pending || late,
                            "acknowledgement of {} taken though it was neither pending nor late",
                            id
                        );
                        prop_assert!(
                            !seen.applied.contains(&id) && !seen.refused.contains(&id) && !seen.late.contains(&id),
                            "{} acknowledged twice",
                            id
                        );
                        if !pending {
                            seen.late.insert(id);
                        } else if applied {
                            seen.applied.insert(id);
                        } else {
                            seen.refused.insert(id);
                        }
                        // Taken once: a second acknowledgement is refused.
                        prop_assert_eq!(
                            e.report_action_result(id, !applied, None, t),
                            Err(OptimizerError::UnknownAction { action_id: id })
                        );
                    }
                    Err(err) => {
                        prop_assert!(!pending, "pending action {} refused: {:?}", id, err);
                        prop_assert_eq!(err, OptimizerError::UnknownAction { action_id: id });
                    }
                }
            }
            Op::Tick(dt) => {
                t = t.wrapping_add(dt);
                let events = e.tick(t);
                seen.take(events)?;
            }
        }
        let s = e.snapshot();
        for a in &s.profile {
            prop_assert!(a.validate().is_ok(), "knob out of bounds: {:?}", a);
        }
        finite_snapshot(&s)?;
        seen.check_counters(&s)?;
    }
    // Let everything settle: acknowledge nothing more, tick far past every window and timeout.
    let mut now = e.snapshot().now_ms;
    let settle_step = 60_000u64.max(e.config().power_verification_window_ms / 4);
    for _ in 0..40 {
        now = now.saturating_add(settle_step);
        let events = e.tick(now);
        seen.take(events)?;
    }
    // Actions of the last tick (a repeated one-shot GC under lasting pressure, say) have not had
    // their ack timeout yet; everything before them has.
    let events = e.tick(now.saturating_add(settle_step));
    let last_tick = seen.take(events)?;
    let s = e.snapshot();
    seen.check_counters(&s)?;
    finite_snapshot(&s)?;
    let settled = s.now_ms < u64::MAX - 100_000_000;
    for id in seen.emitted.iter().filter(|id| !last_tick.contains(id)) {
        let n = seen.outcomes.get(id).map_or(0, Vec::len);
        // An action emitted at the very end of time (u64::MAX) cannot be given time to settle.
        if settled {
            prop_assert_eq!(n, 1, "action {} has {} outcomes", id, n);
        } else {
            prop_assert!(n <= 1);
        }
    }
    if settled {
        for id in &seen.refused {
            let o = &seen.outcomes[id];
            prop_assert!(matches!(o[0], OutcomeEvent::NotApplied { .. }), "refused action {} has {:?}", id, o);
        }
        for id in &seen.applied {
            let o = &seen.outcomes[id];
            prop_assert!(
                !matches!(o[0], OutcomeEvent::NotApplied { .. } | OutcomeEvent::Unacknowledged { .. }),
                "applied action {} has {:?}",
                id,
                o
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// The default configuration, with the original operation mix.
    #[test]
    fn arbitrary_call_sequences_keep_every_invariant(ops in prop::collection::vec(any_op(), 1..120), base in any_time()) {
        run_sequence(OptimizerConfig::default(), ops, base)?;
    }
}

proptest! {
    // Half the cases of the other (its sequences are twice as long); PROPTEST_CASES sets both.
    #![proptest_config(ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(150), ..ProptestConfig::default() })]

    /// Arbitrary valid configurations (short windows and timeouts reach verification, revert,
    /// back-off and expiry), longer sequences.
    #[test]
    fn arbitrary_configs_and_call_sequences_keep_every_invariant(
        config in any_config(),
        ops in prop::collection::vec(any_op(), 1..250),
        base in any_time(),
    ) {
        run_sequence(config, ops, base)?;
    }
}

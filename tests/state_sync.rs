//! The engine's belief against the app's real state (issue 12, item 2). A model app holds the
//! value of every knob. It receives the engine's actions in order, and any of them can be
//! lost on the way; it applies or refuses each, and its acknowledgement comes at once, never,
//! late (after the timeout, or just later) or twice; the OS changes knobs behind its back, and
//! the app reports each change (`report_state`), as it reports its whole state at start. The
//! app keeps the contract that makes a belief possible at all: an action it takes after
//! `ack_timeout_ms` is expired and not applied (the engine has given up on it; the docs
//! ask apps to report what they have instead).
//!
//! After every step, for every knob with no action waiting for its acknowledgement: either the
//! engine says it does not know the knob (`unknown_knobs`), or its belief is the app's value.
//! At the end, once the app has processed everything and reported its state, belief and app
//! agree on every knob and none is unknown. `PROPTEST_CASES=N` sets the cases (default 300).

use std::collections::VecDeque;

use meshtune::{
    AdvertiseMode, ConnectionPriority, Engine, EngineEvent, Knob, MetricSample, OptimizationAction, OptimizerConfig,
    OptimizerError, ScanMode, ThermalState, TxPower,
};
use proptest::prelude::*;

#[derive(Debug, Clone, Copy)]
enum Fate {
    Now,
    Never,
    Later,
    Twice,
}

#[derive(Debug, Clone)]
enum Op {
    Tick(u64),
    Sample(MetricSample),
    /// The oldest action in flight to the app is lost.
    Lose,
    /// The app takes the oldest action: applies it (or refuses it), and acknowledges per `Fate`.
    Take(bool, Fate),
    /// The oldest delayed acknowledgement arrives.
    LateAck,
    /// The OS changes a knob; the app reports it.
    External(OptimizationAction),
}

fn external_values() -> Vec<OptimizationAction> {
    vec![
        OptimizationAction::SetScanMode { mode: ScanMode::LowPower, duty_on_ms: 2_000, duty_off_ms: 28_000 },
        OptimizationAction::SetScanMode { mode: ScanMode::Opportunistic, duty_on_ms: 1_000, duty_off_ms: 0 },
        OptimizationAction::baseline(Knob::ScanMode),
        OptimizationAction::SetAdvertising { mode: AdvertiseMode::LowPower, tx_power: TxPower::Low },
        OptimizationAction::baseline(Knob::Advertising),
        OptimizationAction::SetConnectionPriority { priority: ConnectionPriority::High },
        OptimizationAction::baseline(Knob::ConnectionPriority),
        OptimizationAction::SetObjectPooling { enabled: true },
    ]
}

fn any_op() -> impl Strategy<Value = Op> {
    let sample = prop_oneof![
        (0.0f64..100.0, any::<bool>())
            .prop_map(|(level, charging)| MetricSample::Battery { level_percent: level, charging }),
        prop_oneof![
            Just(ThermalState::Nominal),
            Just(ThermalState::Fair),
            Just(ThermalState::Serious),
            Just(ThermalState::Critical)
        ]
        .prop_map(|state| MetricSample::Thermal { state }),
        any::<bool>().prop_map(|enabled| MetricSample::PowerSaveMode { enabled }),
        (10.0f64..2_000.0).prop_map(|latency| MetricSample::MessageDelivered {
            latency_ms: latency,
            hops: 2,
            bytes: 200
        }),
        Just(MetricSample::MessageLost { hops: 3 }),
    ];
    let fate =
        prop_oneof![4 => Just(Fate::Now), 1 => Just(Fate::Never), 2 => Just(Fate::Later), 1 => Just(Fate::Twice)];
    prop_oneof![
        4 => (0u64..4_000).prop_map(Op::Tick),
        6 => sample.prop_map(Op::Sample),
        1 => Just(Op::Lose),
        5 => (prop::bool::weighted(0.8), fate).prop_map(|(applied, f)| Op::Take(applied, f)),
        2 => Just(Op::LateAck),
        2 => prop::sample::select(external_values()).prop_map(Op::External),
    ]
}

struct App {
    state: Vec<OptimizationAction>,
    inbox: VecDeque<(u64, OptimizationAction, u64)>,
    late: VecDeque<(u64, bool)>,
}

impl App {
    fn full_report(&self) -> Vec<OptimizationAction> {
        self.state.iter().filter(|a| !a.is_one_shot()).cloned().collect()
    }
}

fn config() -> OptimizerConfig {
    OptimizerConfig {
        ack_timeout_ms: 3_000,
        min_dwell_ms: 1_000,
        min_tick_interval_ms: 500,
        max_actions_per_minute: 30,
        window_ms: 10_000,
        verification_window_ms: 5_000,
        ..OptimizerConfig::default()
    }
}

fn check(e: &Engine, app: &App, when: &str) -> Result<(), TestCaseError> {
    let s = e.snapshot();
    for knob in Knob::ALL {
        if knob == Knob::GarbageCollection {
            continue;
        }
        let waiting = s.pending_actions.iter().any(|p| p.action.knob() == knob);
        if waiting || s.unknown_knobs.contains(&knob) {
            continue;
        }
        prop_assert_eq!(
            &s.profile[knob.index()],
            &app.state[knob.index()],
            "{}: the engine believes {:?} has {} but the app has {}",
            when,
            knob,
            s.profile[knob.index()],
            app.state[knob.index()]
        );
    }
    Ok(())
}

fn run(initial: Vec<OptimizationAction>, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut e = Engine::new(config()).unwrap();
    let mut app = App {
        state: Knob::ALL.iter().map(|&k| OptimizationAction::baseline(k)).collect(),
        inbox: VecDeque::new(),
        late: VecDeque::new(),
    };
    for a in initial {
        let i = a.knob().index();
        app.state[i] = a;
    }
    let mut t = 1_000u64;
    // At start the app says what it runs.
    e.report_state(&app.full_report(), t).unwrap();
    check(&e, &app, "after the first report")?;
    for (step, op) in ops.into_iter().enumerate() {
        match op {
            Op::Tick(dt) => {
                t += dt;
                for ev in e.tick(t) {
                    if let EngineEvent::Action(a) = ev {
                        app.inbox.push_back((a.id, a.action, a.at_ms));
                    }
                }
            }
            Op::Sample(s) => {
                t += 10;
                e.record(s, t).unwrap();
            }
            Op::Lose => {
                app.inbox.pop_front();
            }
            Op::Take(applied, fate) => {
                let Some((id, action, at)) = app.inbox.pop_front() else { continue };
                t += 5;
                if t.saturating_sub(at) >= config().ack_timeout_ms {
                    // Expired: the app does not apply it.
                    continue;
                }
                if applied && !action.is_one_shot() {
                    let i = action.knob().index();
                    app.state[i] = action;
                }
                match fate {
                    Fate::Now => {
                        let _ = e.report_action_result(id, applied, None, t);
                    }
                    Fate::Never => {}
                    Fate::Later => app.late.push_back((id, applied)),
                    Fate::Twice => {
                        let _ = e.report_action_result(id, applied, None, t);
                        let second = e.report_action_result(id, applied, None, t);
                        prop_assert!(matches!(second, Err(OptimizerError::UnknownAction { .. })), "{:?}", second);
                    }
                }
            }
            Op::LateAck => {
                if let Some((id, applied)) = app.late.pop_front() {
                    t += 5;
                    let _ = e.report_action_result(id, applied, None, t);
                }
            }
            Op::External(a) => {
                app.state[a.knob().index()] = a.clone();
                t += 5;
                e.report_state(&[a], t).unwrap();
            }
        }
        check(&e, &app, &format!("step {step} ({t} ms)"))?;
    }
    // The app catches up: every action taken and acknowledged, every late acknowledgement sent,
    // then its whole state reported. Belief and app agree on every knob; none is unknown.
    while let Some((id, action, at)) = app.inbox.pop_front() {
        if t.saturating_sub(at) >= config().ack_timeout_ms {
            continue; // expired: not applied, not acknowledged
        }
        if !action.is_one_shot() {
            let i = action.knob().index();
            app.state[i] = action;
        }
        let _ = e.report_action_result(id, true, None, t);
    }
    while let Some((id, applied)) = app.late.pop_front() {
        let _ = e.report_action_result(id, applied, None, t);
    }
    e.report_state(&app.full_report(), t).unwrap();
    let s = e.snapshot();
    prop_assert!(s.unknown_knobs.is_empty(), "unknown after the full report: {:?}", s.unknown_knobs);
    for knob in Knob::ALL.iter().filter(|&&k| k != Knob::GarbageCollection) {
        prop_assert_eq!(&s.profile[knob.index()], &app.state[knob.index()], "{:?} after the full report", knob);
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(300)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]
    #[test]
    fn the_belief_is_the_apps_state_or_says_it_is_unknown(
        initial in prop::collection::vec(prop::sample::select(external_values()), 0..4),
        ops in prop::collection::vec(any_op(), 1..200),
    ) {
        run(initial, ops)?;
    }
}

#[test]
fn a_report_is_all_or_nothing_and_names_the_entry() {
    let mut e = Engine::new(OptimizerConfig::default()).unwrap();
    let scan = OptimizationAction::SetScanMode { mode: ScanMode::LowPower, duty_on_ms: 2_000, duty_off_ms: 28_000 };
    let bad =
        vec![scan.clone(), OptimizationAction::SetScanMode { mode: ScanMode::LowPower, duty_on_ms: 1, duty_off_ms: 0 }];
    match e.report_state(&bad, 10) {
        Err(OptimizerError::InvalidAction { field, reason }) => {
            assert_eq!(field, "report_state.actual[1]");
            assert!(reason.contains("SetScanMode.duty_on_ms"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(e.snapshot().profile[Knob::ScanMode.index()], OptimizationAction::baseline(Knob::ScanMode));
    for (report, what) in [
        (vec![OptimizationAction::RequestGarbageCollection], "not a state"),
        (vec![scan.clone(), scan.clone()], "a second value"),
    ] {
        match e.report_state(&report, 10) {
            Err(OptimizerError::InvalidAction { reason, .. }) => assert!(reason.contains(what), "{reason}"),
            other => panic!("{other:?}"),
        }
    }
    e.report_state(std::slice::from_ref(&scan), 10).unwrap();
    let s = e.snapshot();
    assert_eq!(s.profile[Knob::ScanMode.index()], scan);
    assert_eq!(s.counters.external_changes, 1);
}

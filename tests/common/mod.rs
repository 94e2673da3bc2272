//! Helpers for driving the engine with scripted streams.
#![allow(dead_code)]

use meshtune::{ActionEvent, Engine, EngineEvent, MetricSample, OptimizationAction, OutcomeEvent};

/// A small deterministic PRNG (splitmix64) so scripted noise is reproducible.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in (0, 1] (the crate's own test PRNG's `unit`, so that a test moved out of the
    /// crate draws the same numbers).
    pub fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
    }
}

pub fn delivered(latency_ms: f64) -> MetricSample {
    MetricSample::MessageDelivered { latency_ms, hops: 2, bytes: 200 }
}

/// Everything the engine said, with the time of the tick.
#[derive(Default)]
pub struct Log {
    pub actions: Vec<ActionEvent>,
    pub outcomes: Vec<(u64, OutcomeEvent)>,
}

impl Log {
    pub fn take(&mut self, now: u64, events: Vec<EngineEvent>) -> Vec<ActionEvent> {
        let mut new = Vec::new();
        for e in events {
            match e {
                EngineEvent::Action(a) => {
                    self.actions.push(a.clone());
                    new.push(a);
                }
                EngineEvent::Outcome(o) => self.outcomes.push((now, o)),
            }
        }
        new
    }

    pub fn find(&self, pred: impl Fn(&OptimizationAction) -> bool) -> Option<&ActionEvent> {
        self.actions.iter().find(|a| pred(&a.action))
    }

    pub fn outcome_for(&self, id: u64) -> Vec<&OutcomeEvent> {
        self.outcomes.iter().map(|(_, o)| o).filter(|o| o.action_id() == id).collect()
    }
}

/// Runs the engine from `from` to `to` (exclusive) in steps of `step_ms`: each step records the
/// samples `feed` returns (spread over the step), ticks, and acknowledges every new action as
/// applied right away (as a well-behaved app does).
pub fn run(
    engine: &mut Engine,
    log: &mut Log,
    from: u64,
    to: u64,
    step_ms: u64,
    mut feed: impl FnMut(u64) -> Vec<MetricSample>,
) {
    let mut t = from;
    while t < to {
        let samples = feed(t);
        let n = samples.len().max(1) as u64;
        for (i, s) in samples.into_iter().enumerate() {
            engine.record(s, t + (i as u64 * step_ms) / n).unwrap();
        }
        t += step_ms;
        let events = engine.tick(t);
        for a in log.take(t, events) {
            engine.report_action_result(a.id, true, None, t).unwrap();
        }
    }
}

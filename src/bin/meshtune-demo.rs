#![forbid(unsafe_code)]
//! `meshtune-demo`: the engine driven through a scripted 20-minute session of one phone.
//!
//! The phone here is a toy written for this demo: its latency responds to the knobs MeshTune
//! turns (batching, connection priority and compression shorten congested latency; low-power
//! scanning lengthens it), so the closed loop has something real to measure. The figures it
//! prints are measured by the engine from the samples this toy produces; none is assumed. The
//! mesh simulator (`meshtune-sim`, a later issue) replaces this toy with a radio model.
//!
//! Run: `cargo run --bin meshtune-demo`

use meshtune::{
    ConnectionPriority, Engine, EngineEvent, Knob, MemoryPressureLevel, MetricSample, OptimizationAction,
    OptimizerConfig, OutcomeEvent, ScanMode, ThermalState,
};

/// splitmix64: deterministic noise, so every run prints the same session.
struct Rng(u64);
impl Rng {
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        lo + (hi - lo) * ((z >> 11) as f64 / (1u64 << 53) as f64)
    }
}

/// The toy phone's latency for the knob settings the app has applied.
fn latency_ms(engine: &Engine, congested: bool, rng: &mut Rng) -> f64 {
    let mut base = if congested { 260.0 } else { 45.0 };
    if congested {
        if matches!(engine.knob(Knob::MessageBatching), OptimizationAction::SetMessageBatching { enabled: true, .. }) {
            base *= 0.6;
        }
        if matches!(
            engine.knob(Knob::ConnectionPriority),
            OptimizationAction::SetConnectionPriority { priority: ConnectionPriority::High }
        ) {
            base *= 0.75;
        }
        if matches!(engine.knob(Knob::Compression), OptimizationAction::SetCompression { enabled: true, .. }) {
            base *= 0.9;
        }
    }
    if matches!(engine.knob(Knob::ScanMode), OptimizationAction::SetScanMode { mode: ScanMode::LowPower, .. }) {
        base *= 1.3;
    }
    base * rng.uniform(0.7, 1.3)
}

fn clock(ms: u64) -> String {
    format!("{:02}:{:02}", ms / 60_000, (ms / 1_000) % 60)
}

fn main() {
    let mut engine = match Engine::new(OptimizerConfig::default()) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("invalid configuration: {e}");
            std::process::exit(2);
        }
    };
    let mut rng = Rng(2026);
    let end_ms = 20 * 60_000;
    println!("MeshTune demo: one phone, 20 simulated minutes, default configuration");
    println!("script: 03:00 mesh congestion | 08:00 thermal Serious | 11:00 memory Critical | 13:00 congestion ends | 15:00 battery 9%\n");
    let mut t = 0;
    while t < end_ms {
        let congested = (180_000..780_000).contains(&t);
        let mut samples = Vec::new();
        for _ in 0..10 {
            samples.push(MetricSample::MessageDelivered {
                latency_ms: latency_ms(&engine, congested, &mut rng),
                hops: 2,
                bytes: 180,
            });
        }
        let battery = if t >= 900_000 { 9.0 } else { 80.0 - t as f64 / 60_000.0 };
        samples.push(MetricSample::Battery { level_percent: battery, charging: false });
        samples.push(MetricSample::Heap {
            used_mb: if (660_000..720_000).contains(&t) { 480.0 } else { 220.0 },
            limit_mb: 512.0,
        });
        if t == 480_000 {
            samples.push(MetricSample::Thermal { state: ThermalState::Serious });
        }
        if t == 600_000 {
            samples.push(MetricSample::Thermal { state: ThermalState::Nominal });
        }
        if t == 660_000 {
            samples.push(MetricSample::MemoryPressure { level: MemoryPressureLevel::Critical });
        }
        let n = samples.len() as u64;
        for (i, s) in samples.into_iter().enumerate() {
            if let Err(e) = engine.record(s, t + i as u64 * 1_000 / n) {
                eprintln!("sample refused: {e}");
            }
        }
        t += 1_000;
        for event in engine.tick(t) {
            match event {
                EngineEvent::Action(a) => {
                    println!("{} action #{:<3} {:<22} {:?}: {}\n{:>14}because {}", clock(t), a.id, a.strategy, a.priority, a.action, "", a.reason);
                    // The toy app applies everything at once and says so.
                    if let Err(e) = engine.report_action_result(a.id, true, None, t) {
                        eprintln!("ack refused: {e}");
                    }
                }
                EngineEvent::Outcome(o) => match o {
                    OutcomeEvent::Improved { action_id, metric, before, after, improvement_percent, samples_after, .. } => println!(
                        "{} improved #{action_id}: {} {before:.3} -> {after:.3} ({improvement_percent:+.1}%, {samples_after} samples after)",
                        clock(t),
                        metric.label()
                    ),
                    OutcomeEvent::Worse { action_id, reason, restore_action_id, .. } => {
                        println!("{} WORSE #{action_id} (restore {restore_action_id:?}): {reason}", clock(t))
                    }
                    other => println!("{} outcome {other:?}", clock(t)),
                },
            }
        }
    }
    let s = engine.snapshot();
    println!("\nfinal profile:");
    for a in &s.profile {
        println!("  {a}");
    }
    let c = &s.counters;
    println!(
        "\nsamples {} accepted, ticks {}, actions {} (applied {}), outcomes: {} improved, {} no effect, {} worse, {} inconclusive, {} superseded",
        c.samples_accepted,
        c.ticks,
        c.actions_emitted,
        c.actions_applied,
        c.outcomes_improved,
        c.outcomes_no_effect,
        c.outcomes_worse,
        c.outcomes_inconclusive,
        c.outcomes_superseded
    );
}

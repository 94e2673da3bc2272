#![forbid(unsafe_code)]
//! Strategies: each watches part of the metrics and proposes knob settings with a reason.
//!
//! A strategy never changes anything itself. At every tick the engine asks each strategy
//! whether it applies (`should_apply`, which also updates its enter/exit hysteresis) and, if so,
//! for its proposals; arbitration then picks one value per knob (see `engine::arbitration`).
//! A knob that no strategy proposes returns to its baseline value.
//!
//! ```
//! use meshtune::strategy::{OptimizationStrategy, Proposal, StrategyContext};
//! use meshtune::{OptimizationAction, PerformanceMetrics, Priority, TargetMetric};
//!
//! /// Keeps compression on whenever more than 1 kB/s is delivered.
//! struct CompressBusyLinks;
//! impl OptimizationStrategy for CompressBusyLinks {
//!     fn name(&self) -> &str { "compress-busy-links" }
//!     fn should_apply(&mut self, m: &PerformanceMetrics, _: &StrategyContext<'_>) -> bool {
//!         m.mesh_performance.bytes_per_sec > 1_000.0
//!     }
//!     fn propose(&mut self, m: &PerformanceMetrics, _: &StrategyContext<'_>) -> Vec<Proposal> {
//!         vec![Proposal {
//!             action: OptimizationAction::SetCompression { enabled: true, min_size_bytes: 128 },
//!             priority: Priority::Savings,
//!             metric: TargetMetric::P95LatencyMs,
//!             reason: format!("{:.0} B/s delivered > 1000 B/s", m.mesh_performance.bytes_per_sec),
//!         }]
//!     }
//! }
//! let mut engine = meshtune::Engine::new(meshtune::OptimizerConfig::default()).unwrap();
//! engine.add_strategy(Box::new(CompressBusyLinks));
//! ```

mod adaptive_tick;
mod consensus;
pub mod costs;
mod hysteresis;
mod memory;
mod mesh_topology;
mod network;
mod power;
mod repair_hold;

pub use adaptive_tick::AdaptiveTick;
pub use consensus::ConsensusStrategy;
pub use hysteresis::Hysteresis;
pub use memory::MemoryStrategy;
pub use mesh_topology::MeshTopologyStrategy;
pub use network::NetworkStrategy;
pub use power::{PowerMode, PowerStrategy};
pub use repair_hold::RepairHold;

use crate::{OptimizationAction, OptimizerConfig, PerformanceMetrics, Priority, TargetMetric};

/// One proposed knob setting.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    /// The setting (its knob is `action.knob()`).
    pub action: OptimizationAction,
    /// Its class of need; a higher class wins arbitration.
    pub priority: Priority,
    /// The metric the action is verified against once applied.
    pub metric: TargetMetric,
    /// Why, quoting the metric value and the threshold.
    pub reason: String,
}

/// What a strategy may read besides the metrics.
#[derive(Debug, Clone, Copy)]
pub struct StrategyContext<'a> {
    /// The engine's configuration.
    pub config: &'a OptimizerConfig,
    /// Engine time, ms.
    pub now_ms: u64,
    /// The current value of every knob, indexed by `Knob::index()`, as the app applied it.
    /// Compare proposals with this.
    pub profile: &'a [OptimizationAction],
    /// What the radio runs as far as the engine knows: `profile` with the scan mode lowered by
    /// the OS (`os_caps_background_scans`, in the background); else the same as `profile`.
    /// Estimate currents with this.
    pub os_profile: &'a [OptimizationAction],
    /// Values backing off now (reverted after a measurement, or refused by the app): proposing
    /// one changes nothing until its back-off ends.
    pub held_back: &'a [OptimizationAction],
}

impl StrategyContext<'_> {
    /// The current value of one knob.
    pub fn current(&self, knob: crate::Knob) -> Option<&OptimizationAction> {
        self.profile.get(knob.index())
    }

    /// Whether `action` is backing off.
    pub fn is_held_back(&self, action: &OptimizationAction) -> bool {
        self.held_back.contains(action)
    }
}

/// A pluggable decision rule. Implement it in Rust and add it with `Engine::add_strategy`.
pub trait OptimizationStrategy: Send {
    /// A stable name, quoted in every action it causes.
    fn name(&self) -> &str;
    /// Whether the strategy wants to propose now. Called once per tick; it may update the
    /// strategy's hysteresis state.
    fn should_apply(&mut self, metrics: &PerformanceMetrics, ctx: &StrategyContext<'_>) -> bool;
    /// The strategy's proposals; called only when `should_apply` returned true this tick.
    fn propose(&mut self, metrics: &PerformanceMetrics, ctx: &StrategyContext<'_>) -> Vec<Proposal>;

    /// The measured outcome (`Improved`, `NoEffect`, `Worse` or `Inconclusive`) of one of this
    /// strategy's actions, `action`: what a strategy may learn from. Default: nothing.
    fn observe(&mut self, _action: &OptimizationAction, _outcome: &crate::OutcomeEvent) {}

    /// What the strategy has learned, for `Engine::export_learned_state`. Default: nothing.
    fn export_state(&self) -> Option<serde_json::Value> {
        None
    }

    /// Whether `state` (from `export_state`) can be imported; the reason names the part that
    /// cannot. Nothing changes. Default: only `null` is accepted.
    fn check_state(&self, state: &serde_json::Value) -> Result<(), String> {
        if state.is_null() {
            Ok(())
        } else {
            Err("this strategy keeps no learned state".to_owned())
        }
    }

    /// Takes in a state that `check_state` accepted. Default: nothing.
    fn import_state(&mut self, _state: &serde_json::Value) {}
}

/// The built-in strategies in arbitration order (earlier wins a tie within a priority class).
///
/// [`MeshTopologyStrategy`] is not among them: it lowers the mean hop count of the messages that
/// arrive by cutting relays, which loses the others. Judged by on-time delivery counting losses,
/// every measurement of it in the simulator's scenarios came out `Worse` and was reverted.
/// An app whose mesh does suffer from long routes can still add it with `Engine::add_strategy`.
pub fn builtin_strategies() -> Vec<Box<dyn OptimizationStrategy>> {
    vec![
        Box::new(PowerStrategy::default()),
        Box::new(MemoryStrategy::default()),
        Box::new(NetworkStrategy::default()),
        Box::new(ConsensusStrategy::default()),
    ]
}

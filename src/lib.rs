//! # MeshTune
//!
//! An adaptive performance optimizer for Bluetooth LE mesh apps. The app pushes samples
//! (latency, hops, loss, RSSI, battery, thermal, memory, app state); MeshTune keeps windowed
//! statistics, lets strategies propose knob settings, arbitrates them, and tells the app what to
//! change as typed [`ActionEvent`]s. The app applies each action and acknowledges it; MeshTune
//! then measures whether it helped and rolls it back if it made things worse.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use meshtune::{start_optimizer, ActionEvent, ActionListener, ListenerError, MetricSample, OptimizerConfig, OutcomeEvent};
//!
//! #[derive(Default)]
//! struct Log(Mutex<Vec<ActionEvent>>);
//! impl ActionListener for Log {
//!     fn on_action(&self, event: ActionEvent) -> Result<(), ListenerError> {
//!         self.0.lock().unwrap().push(event);
//!         Ok(())
//!     }
//!     fn on_outcome(&self, _event: OutcomeEvent) -> Result<(), ListenerError> { Ok(()) }
//! }
//!
//! let listener = Arc::new(Log::default());
//! let optimizer = start_optimizer(OptimizerConfig::default(), listener.clone()).unwrap();
//! optimizer.record(MetricSample::Battery { level_percent: 80.0, charging: false }).unwrap();
//! let err = optimizer.record(MetricSample::Battery { level_percent: 180.0, charging: false }).unwrap_err();
//! assert!(err.to_string().contains("Battery.level_percent"));
//! optimizer.stop();
//! ```

// Unsafe code is denied everywhere but in `fastpath` (the JVM's primitive-argument entry
// points), which allows it for itself; every other module forbids it in its first line.
#![deny(unsafe_code)]
// A panic in the library would surface in the app as an exception from any call: library code
// handles every case instead (tests may unwrap).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

uniffi::setup_scaffolding!();

/// A forced panic at `site` when the `test-hooks` feature is on (`src/test_hooks.rs`);
/// nothing at all otherwise.
macro_rules! test_hook {
    ($site:literal) => {
        #[cfg(feature = "test-hooks")]
        crate::test_hooks::check($site);
    };
}

pub mod action;
pub mod ble;
mod clock;
pub mod config;
pub mod discovery;
pub mod engine;
mod error;
mod events;
mod fastpath;
mod ffi;
pub mod metrics;
pub mod platform;
mod runtime;
pub mod snapshot;
pub mod strategy;
#[cfg(feature = "test-hooks")]
mod test_hooks;
#[cfg(test)]
mod test_rng;

pub use action::{AdvertiseMode, ConnectionPriority, Knob, OptimizationAction, ScanMode, TxPower};
pub use ble::{boot_time_ms, BleCoordinator, BleRules, BleStats, BleUpdate, ScanStep};
pub use config::OptimizerConfig;
pub use engine::Engine;
pub use error::{ListenerError, OptimizerError};
pub use events::{ActionEvent, ChangeInterval, EngineEvent, OutcomeEvent, Priority, TargetMetric};
pub use ffi::{
    default_optimizer_config, optimizer_config_from_json, start_optimizer, ActionListener, PerformanceOptimizer,
};
pub use metrics::sample::{MemoryPressureLevel, MetricSample, ThermalState};
/// Whether a sample is late: a lost or late message, a slow consensus round, a slow discovery
/// ([`LateWatch`] counts them).
pub use runtime::is_late;
/// The samples that make the runtime tick at once: heat, memory pressure, a low battery (see
/// the runtime module; the simulator drives the engine the same way).
pub use runtime::UrgentSamples;
/// The late samples since the last tick that make the runtime tick at once (see the runtime
/// module; the simulator drives the engine the same way).
pub use runtime::{LateWatch, LATE_MIN, LATE_WAKE};
pub use snapshot::{BackingOff, OptimizerCounters, OptimizerSnapshot, PerformanceMetrics};

#![forbid(unsafe_code)]
//! What apps call: `start_optimizer`, the `PerformanceOptimizer` object and the
//! `ActionListener` they implement. Everything here is exported to Kotlin and Swift by uniffi.

use std::sync::{Arc, OnceLock};

use crate::runtime::Runtime;
use crate::{
    ActionEvent, ListenerError, MetricSample, OptimizationAction, OptimizerConfig, OptimizerError, OptimizerSnapshot,
    OutcomeEvent,
};

/// Receives the optimizer's decisions. Implemented by the app (in Kotlin, Swift or Rust).
///
/// Calls arrive on MeshTune's dispatcher thread, one at a time, in order. Apply the action (on
/// your own thread if you like) and call `report_action_result` with its id. A listener that
/// throws (any exception, in Kotlin; `ListenerError`, in Swift), returns an error or panics is
/// counted in `listener_failures` and does not stop the optimizer; one that blocks delays only
/// later events (which are dropped and counted once the queue is full).
#[uniffi::export(with_foreign)]
pub trait ActionListener: Send + Sync {
    /// Apply this action, then acknowledge it.
    fn on_action(&self, event: ActionEvent) -> Result<(), ListenerError>;
    /// What became of an earlier action.
    fn on_outcome(&self, event: OutcomeEvent) -> Result<(), ListenerError>;
}

/// A running optimizer. Create it with `start_optimizer`; call `stop` (or drop it) when done.
#[derive(uniffi::Object)]
pub struct PerformanceOptimizer {
    runtime: Runtime,
    /// This optimizer's id in the fast-path registry, once `fast_path_handle` was called.
    fast_handle: OnceLock<u64>,
}

impl PerformanceOptimizer {
    pub(crate) fn runtime(&self) -> &Runtime {
        &self.runtime
    }
}

impl Drop for PerformanceOptimizer {
    fn drop(&mut self) {
        if let Some(&handle) = self.fast_handle.get() {
            crate::fastpath::unregister(handle);
        }
    }
}

impl std::fmt::Debug for PerformanceOptimizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PerformanceOptimizer").field("stopped", &self.runtime.is_stopped()).finish()
    }
}

/// Validates `config`, starts the optimizer's background threads and returns it.
#[uniffi::export]
pub fn start_optimizer(
    config: OptimizerConfig,
    listener: Arc<dyn ActionListener>,
) -> Result<Arc<PerformanceOptimizer>, OptimizerError> {
    let runtime = Runtime::start(config, listener)?;
    Ok(Arc::new(PerformanceOptimizer { runtime, fast_handle: OnceLock::new() }))
}

/// The default configuration (the same values as the record's default arguments).
#[uniffi::export]
pub fn default_optimizer_config() -> OptimizerConfig {
    OptimizerConfig::default()
}

/// Reads a configuration from JSON (remote config); errors name the key.
#[uniffi::export]
pub fn optimizer_config_from_json(json: String) -> Result<OptimizerConfig, OptimizerError> {
    OptimizerConfig::from_json(&json)
}

/// Writes a configuration as JSON with every key.
#[uniffi::export]
pub fn optimizer_config_to_json(config: OptimizerConfig) -> String {
    config.to_json()
}

/// Does nothing. It exists so that benchmarks can measure the bare cost of one call across
/// the FFI boundary (the floor under `record`) in the same run as the real calls.
#[uniffi::export]
pub fn ffi_floor() {}

#[uniffi::export]
impl PerformanceOptimizer {
    /// Records one sample (any thread, never blocks on the optimizer's work). Invalid samples
    /// are refused with `InvalidSample` naming the field, and nothing is recorded.
    pub fn record(&self, sample: MetricSample) -> Result<(), OptimizerError> {
        self.runtime.record(sample)
    }

    /// Records all samples or none: one invalid sample refuses the whole batch.
    pub fn record_batch(&self, samples: Vec<MetricSample>) -> Result<(), OptimizerError> {
        self.runtime.record_batch(samples)
    }

    /// Acknowledges action `action_id`: `applied`, or not with the platform's reason in
    /// `detail`.
    pub fn report_action_result(
        &self,
        action_id: u64,
        applied: bool,
        detail: Option<String>,
    ) -> Result<(), OptimizerError> {
        self.runtime.report_action_result(action_id, applied, detail)
    }

    /// Whether action `action_id` should still be applied: it awaits its acknowledgement,
    /// its `ack_timeout_ms` has not run out, and no newer action replaced it. Ask before
    /// applying an action taken from a queue; when false, do not apply it, acknowledge it as
    /// not applied (the engine keeps or restores its belief) and report your state if it
    /// changed. False after `stop`. Never throws.
    pub fn is_action_current(&self, action_id: u64) -> bool {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            test_hook!("is_action_current");
            self.runtime.is_action_current(action_id)
        }))
        .unwrap_or_else(|_| {
            // Not current when in doubt: the app then acknowledges it as not applied.
            self.runtime.count_internal_panic();
            false
        })
    }

    /// Tells MeshTune what the app actually has, as one action per knob that sets it: call it
    /// at start (with the radio configuration the app runs) and whenever a knob changes outside
    /// MeshTune (the OS downgraded or stopped a scan, Bluetooth went off, the user changed a
    /// setting). The engine never assumes an unacknowledged action took effect: a knob whose
    /// acknowledgement did not come is unknown (`snapshot().unknown_knobs`) until a report or a
    /// late acknowledgement says what the app has. All or nothing: a value out of bounds,
    /// `RequestGarbageCollection` (not a state) or a knob given twice is `InvalidAction` naming
    /// `report_state.actual[i]`, and nothing changes.
    pub fn report_state(&self, actual: Vec<OptimizationAction>) -> Result<(), OptimizerError> {
        self.runtime.report_state(&actual)
    }

    /// The optimizer's current view: metrics, knob profile, pending actions, counters.
    /// Never panics: if building it fails (a bug), the last snapshot built is returned again,
    /// with `counters.internal_panics` counting it.
    pub fn snapshot(&self) -> OptimizerSnapshot {
        self.runtime.snapshot()
    }

    /// What this phone's measurements taught the engine (which repair moves helped, in which
    /// device state), as a JSON document to save and give back to `import_learned_state` after
    /// a restart. Versioned (`"version": 1`).
    pub fn export_learned_state(&self) -> String {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.runtime.export_learned_state())).unwrap_or_else(
            |_| {
                self.runtime.count_internal_panic();
                String::new()
            },
        )
    }

    /// Takes in a document from `export_learned_state`. All or nothing: a document that is not
    /// one (not JSON, another format or version, a part out of range) is `InvalidConfig` naming
    /// the part (`learned_state.version`, `learned_state.strategies.network`), and nothing
    /// changes.
    pub fn import_learned_state(&self, json: String) -> Result<(), OptimizerError> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.runtime.import_learned_state(&json)))
            .unwrap_or_else(|_| {
                self.runtime.count_internal_panic();
                Err(OptimizerError::InvalidConfig {
                    field: "learned_state".to_owned(),
                    reason: "reading it failed inside MeshTune (a bug; counted in internal_panics)".to_owned(),
                })
            })
    }

    /// Whether `stop` was called.
    pub fn is_stopped(&self) -> bool {
        self.runtime.is_stopped()
    }

    /// A number that identifies this optimizer to the JVM fast ingestion path (the hand-written
    /// Kotlin `FastRecorder`, which calls plain C functions with primitive arguments instead of
    /// the generated code). The same optimizer always returns the same handle, and no other
    /// optimizer ever gets it. The handle does not keep the optimizer alive: once it is freed,
    /// fast-path calls with its handle are refused as unknown. Apps use `FastRecorder` and never
    /// need this number themselves.
    pub fn fast_path_handle(self: Arc<Self>) -> u64 {
        let this = Arc::clone(&self);
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            *this.fast_handle.get_or_init(|| {
                test_hook!("fast_path_handle");
                crate::fastpath::register(&this)
            })
        })) {
            Ok(handle) => handle,
            // 0 is never a handle: the fast path refuses it as unknown, and FastRecorder then
            // records through the generated calls.
            Err(_) => {
                self.runtime.count_internal_panic();
                0
            }
        }
    }

    /// Stops the optimizer and joins its threads. Idempotent; later calls of the other methods
    /// return `Stopped` (snapshot keeps working).
    pub fn stop(&self) {
        // Never panics into the app (Swift calls it with `try!`): the optimizer is marked
        // stopped first, whatever happens after.
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.runtime.stop())).is_err() {
            tracing::error!("meshtune panicked while stopping; it is stopped");
            self.runtime.count_internal_panic();
        }
    }
}

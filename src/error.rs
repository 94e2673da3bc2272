#![forbid(unsafe_code)]
//! The one error type of the public API.
//!
//! Every error names what was wrong so that an app developer can act on it without reading
//! MeshTune's source: a rejected sample names its field, a rejected configuration names its key.
//! Returning an error never changes the optimizer's state.

/// Why a call into MeshTune was refused. Kotlin sees `OptimizerException`, Swift `OptimizerError`.
#[derive(Debug, Clone, PartialEq, thiserror::Error, uniffi::Error)]
pub enum OptimizerError {
    /// A sample failed validation; nothing from the call was recorded.
    #[error("invalid sample: {field}: {reason}")]
    InvalidSample {
        /// The offending field, as `Variant.field` (for example `Battery.level_percent`).
        field: String,
        /// What is wrong with it, quoting the value.
        reason: String,
    },
    /// A configuration failed validation; the optimizer was not started (or not changed).
    #[error("invalid config: {field}: {reason}")]
    InvalidConfig {
        /// The offending key (JSON key and record field have the same name).
        field: String,
        /// What is wrong with it, quoting the value.
        reason: String,
    },
    /// An action parameter is outside its bounds (see `action::bounds`): a custom strategy
    /// proposed it, and the engine discarded the proposal.
    #[error("invalid action: {field}: {reason}")]
    InvalidAction {
        /// The parameter, as `Variant.field`.
        field: String,
        /// What is wrong with it, quoting the value.
        reason: String,
    },
    /// `report_action_result` named an action that is not waiting for an acknowledgement:
    /// never emitted, already acknowledged, or expired after `ack_timeout_ms`.
    #[error("action {action_id} is not awaiting an acknowledgement")]
    UnknownAction {
        /// The id that was reported.
        action_id: u64,
    },
    /// The ingestion queue is full; the samples of this call were dropped and counted.
    #[error("ingestion queue full (capacity {capacity}); {dropped} sample(s) dropped")]
    Overloaded {
        /// The configured `sample_queue_capacity`.
        capacity: u32,
        /// How many samples this call dropped.
        dropped: u32,
    },
    /// A batch larger than `sample_queue_capacity` can never fit: split it. Nothing was
    /// recorded (the samples count as rejected).
    #[error("batch of {size} samples is larger than sample_queue_capacity ({capacity}); split it")]
    BatchTooLarge {
        /// Samples in the batch.
        size: u32,
        /// The configured `sample_queue_capacity`.
        capacity: u32,
    },
    /// The optimizer was stopped; create a new one with `start_optimizer`.
    #[error("the optimizer is stopped")]
    Stopped,
    /// A failure inside MeshTune (a bug), caught before it could reach the app; nothing
    /// changed.
    #[error("internal error: {reason}")]
    Internal {
        /// Where it happened.
        reason: String,
    },
    /// The background thread could not be started by the operating system.
    #[error("could not start the optimizer thread: {reason}")]
    ThreadSpawn {
        /// The operating system's message.
        reason: String,
    },
}

impl OptimizerError {
    pub(crate) fn sample(field: &str, reason: impl Into<String>) -> Self {
        OptimizerError::InvalidSample { field: field.to_owned(), reason: reason.into() }
    }

    pub(crate) fn config(field: &str, reason: impl Into<String>) -> Self {
        OptimizerError::InvalidConfig { field: field.to_owned(), reason: reason.into() }
    }
}

/// What a listener call failed with. Kotlin sees `ListenerException`, Swift `ListenerError`. A
/// listener may throw it; any other exception a Kotlin listener throws arrives as `Failed` too
/// (uniffi maps unexpected foreign errors into it), so a throwing listener is an error value,
/// counted in `listener_failures`, never a panic.
#[derive(Debug, Clone, PartialEq, thiserror::Error, uniffi::Error)]
pub enum ListenerError {
    /// The listener failed; `reason` is what the platform said (the exception's message).
    #[error("the listener failed: {reason}")]
    Failed { reason: String },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for ListenerError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        ListenerError::Failed { reason: e.reason }
    }
}

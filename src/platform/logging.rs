//! Routes the library's `tracing` events to the platform log: logcat on Android (tag
//! `meshtune`, through `paranoid-android`), the unified log (os_log) on iOS (subsystem
//! `dev.meshtune`, category `default`, through `tracing-oslog`).
//!
//! Logging is off until the app calls [`init_logging`] (the Android facade does it when
//! `MeshTune.Options.logLevel` is set). On every other target, the host included, there is no
//! platform sink: [`init_logging`] installs nothing and returns `false`, and a host program
//! that wants the events installs its own subscriber (for example `tracing_subscriber::fmt`).
//!
//! ```
//! use meshtune::platform::logging::{init_logging, LogLevel, PLATFORM_LOG_SINK};
//! // On the host this is a no-op; on Android/iOS it installs the sink once.
//! let installed = init_logging(LogLevel::Info);
//! if PLATFORM_LOG_SINK.is_none() {
//!     assert!(!installed); // the host: nothing was installed
//! }
//! ```
//!
//! The target-specific code is selected by `cfg(target_os)`; the sinks are target-specific
//! dependencies in Cargo.toml. The `jni` crate is not used: nothing here needs a JVM handle.
#![forbid(unsafe_code)]

/// The most verbose level that reaches the platform log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warn,
    /// Informational messages (the runtime's start and stop, refused samples) and above.
    Info,
    /// Decisions in detail.
    Debug,
    /// Everything.
    Trace,
}

impl LogLevel {
    /// The `tracing` level this corresponds to.
    pub fn as_tracing_level(self) -> tracing::Level {
        match self {
            LogLevel::Error => tracing::Level::ERROR,
            LogLevel::Warn => tracing::Level::WARN,
            LogLevel::Info => tracing::Level::INFO,
            LogLevel::Debug => tracing::Level::DEBUG,
            LogLevel::Trace => tracing::Level::TRACE,
        }
    }
}

/// The sink [`init_logging`] installs in this build: `Some("logcat")` on Android,
/// `Some("os_log")` on iOS, `None` elsewhere (the host).
pub const PLATFORM_LOG_SINK: Option<&str> = if cfg!(target_os = "android") {
    Some("logcat")
} else if cfg!(target_os = "ios") {
    Some("os_log")
} else {
    None
};

/// Sends MeshTune's log events at `level` and above to the platform log (logcat on Android,
/// os_log on iOS). Returns whether this call installed the sink: `false` on a platform without
/// one (the host), or when a global `tracing` subscriber was already set (by an earlier call
/// or by the app). Call it once, early; later calls change nothing.
#[uniffi::export]
pub fn init_logging(level: LogLevel) -> bool {
    install(level.as_tracing_level())
}

#[cfg(target_os = "android")]
fn install(level: tracing::Level) -> bool {
    use tracing_subscriber::filter::LevelFilter;
    use tracing_subscriber::layer::SubscriberExt;
    let subscriber =
        tracing_subscriber::registry().with(LevelFilter::from_level(level)).with(paranoid_android::layer("meshtune"));
    tracing::subscriber::set_global_default(subscriber).is_ok()
}

#[cfg(target_os = "ios")]
fn install(level: tracing::Level) -> bool {
    use tracing_subscriber::filter::LevelFilter;
    use tracing_subscriber::layer::SubscriberExt;
    let subscriber = tracing_subscriber::registry()
        .with(LevelFilter::from_level(level))
        .with(tracing_oslog::OsLogger::new("dev.meshtune", "default"));
    tracing::subscriber::set_global_default(subscriber).is_ok()
}

#[cfg(not(any(target_os = "android", target_os = "ios")))]
fn install(_level: tracing::Level) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_map_one_to_one() {
        assert_eq!(LogLevel::Error.as_tracing_level(), tracing::Level::ERROR);
        assert_eq!(LogLevel::Warn.as_tracing_level(), tracing::Level::WARN);
        assert_eq!(LogLevel::Info.as_tracing_level(), tracing::Level::INFO);
        assert_eq!(LogLevel::Debug.as_tracing_level(), tracing::Level::DEBUG);
        assert_eq!(LogLevel::Trace.as_tracing_level(), tracing::Level::TRACE);
    }

    #[cfg(not(any(target_os = "android", target_os = "ios")))]
    #[test]
    fn host_has_no_platform_sink_and_installs_nothing() {
        assert_eq!(PLATFORM_LOG_SINK, None);
        assert!(!init_logging(LogLevel::Trace));
        // No global subscriber was set by the call: the default dispatcher is still the no-op one.
        assert!(!tracing::dispatcher::has_been_set());
    }
}

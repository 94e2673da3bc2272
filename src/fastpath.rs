//! The JVM fast ingestion path: plain C functions with primitive arguments, for the hand-written
//! Kotlin `FastRecorder` (bindings/kotlin/src/main/kotlin/dev/meshtune/FastRecorder.kt), which
//! binds them with JNA direct mapping; and, with the cargo feature `jni-fastpath`, the same calls
//! as JNI native methods (src/fastpath/jni.rs, ADR 7), which `FastRecorder` prefers when bound.
//!
//! Why it exists: uniffi 0.32's Kotlin allocates JNA `Structure`s (the call status, the
//! sample's `RustBuffer`) and clones the object handle on every call, which costs tens of
//! microseconds per `record` on the JVM; a direct-mapped JNA call with primitive arguments
//! costs well under one. The generated API stays the one true API: this path only carries
//! samples in, and whatever it cannot do, the Kotlin side re-submits through the generated
//! `record`/`record_batch`, whose answer (the typed `OptimizerException`) is then the app's.
//!
//! - The optimizer is found by a handle, never by a pointer: `PerformanceOptimizer::fast_path_handle`
//!   registers a `Weak` reference under a fresh id in a process-wide registry. An unknown id, or
//!   the id of an optimizer that was freed, returns [`FAST_UNKNOWN_HANDLE`]; a stopped one
//!   returns [`FAST_STOPPED`].
//! - Validation and ingestion are the runtime's own (`Runtime::ingest`/`ingest_batch`, which
//!   `record`/`record_batch` call too), with one difference: a sample refused as invalid (or a
//!   batch refused as too large) is not counted here, because the Kotlin side re-submits it
//!   through the generated API, which counts it once and builds the typed error. Dropped
//!   samples (`Overloaded`) are counted here and not re-submitted.
//! - Every function returns an `i32` status (`FAST_*`) and never unwinds across the boundary.
//!
//! # Sample encoding (version [`FAST_ABI_VERSION`])
//!
//! A sample is a variant code, three doubles `d0..d2` and two longs `i0, i1`; unused slots are
//! ignored (pass 0). `u32` fields travel in a long and must be within `0..=u32::MAX`, booleans
//! as 0 or 1, enums as their declaration index (Kotlin's `ordinal`).
//!
//! | code | variant | d0 | d1 | d2 | i0 | i1 |
//! |---|---|---|---|---|---|---|
//! | 0 | `MessageDelivered` | latency_ms | | | hops | bytes |
//! | 1 | `MessageLost` | | | | hops | |
//! | 2 | `LinkRssi` | not carried: [`FAST_NOT_CARRIED`] (send it through `record`) | | | | |
//! | 3 | `PeerCount` | | | | connected | discovered |
//! | 4 | `ConnectionEstablished` | duration_ms | | | | |
//! | 5 | `PeerDiscovered` | duration_ms | | | | |
//! | 6 | `ConsensusRound` | proposal_ms | vote_ms | finalization_ms | operations | |
//! | 7 | `Battery` | level_percent | | | charging | |
//! | 8 | `PowerSaveMode` | | | | enabled | |
//! | 9 | `Thermal` | | | | state (0 Nominal .. 3 Critical) | |
//! | 10 | `MemoryPressure` | | | | level (0 Normal .. 2 Critical) | |
//! | 11 | `Heap` | used_mb | limit_mb | | | |
//! | 12 | `AppState` | | | | foreground | |
//! | 13 | `ProcessUsage` | cpu_percent | resident_mb | | | |
//! | 14 | `ThermalHeadroom` | headroom | | | forecast_s | |
//!
//! `LinkRssi` carries a string (the peer id). Passing it as a C string would need a native copy
//! and UTF-8 encoding by JNA on every call, and could not carry a Kotlin string with an
//! embedded NUL the way the generated API does (the two paths would then validate different
//! strings); RSSI readings come about once a second per link, so they go through the generated
//! `record`, which is exact.
//!
//! A batch is `len` codes, `3 * len` doubles and `2 * len` longs, sample `k` at `codes[k]`,
//! `doubles[3k..3k+3]`, `ints[2k..2k+2]`. It is all or nothing, like `record_batch`.
//!
//! # Scan results (JNI only)
//!
//! `MeshTuneJni.scanResult(handle, peerId, nowMs)` gives a scan result to the
//! [`BleCoordinator`] whose `fast_handle` is `handle` (the handles of optimizers and
//! coordinators are drawn from one sequence, each kind in its own registry). It answers with a
//! status instead of the generated call's `BleUpdate`: [`FAST_OK`] when there is nothing to do
//! (most scan results are re-sightings), [`FAST_UPDATE_PENDING`] when there is an update, which
//! the Kotlin `FastScanResults` then fetches with one generated `take_update`. The rules are
//! `BleCoordinator::fast_scan_result`'s (src/ble.rs).

// The one module of the crate with unsafe code: exporting unmangled symbols and reading the
// batch arrays that the caller passes by pointer.
#![allow(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, RwLock, Weak};

use crate::runtime::Refusals;
use crate::{BleCoordinator, MemoryPressureLevel, MetricSample, OptimizerError, PerformanceOptimizer, ThermalState};

#[cfg(feature = "jni-fastpath")]
mod jni;

/// Version of the encoding and of the functions below; the Kotlin side checks it once.
/// 2: `MeshTuneJni.scanResult` and [`FAST_UPDATE_PENDING`].
pub const FAST_ABI_VERSION: i32 = 2;

/// Recorded.
pub const FAST_OK: i32 = 0;
/// The sample (or one sample of the batch) failed validation. Nothing was recorded or
/// counted: re-submit through `record`/`record_batch` for the typed error (which counts it).
pub const FAST_INVALID_SAMPLE: i32 = 1;
/// The optimizer is stopped. Nothing was recorded.
pub const FAST_STOPPED: i32 = 2;
/// The ingestion queue is full: the sample(s) of this call were dropped and counted in
/// `samples_dropped` (as `record` does). Do not re-submit: that would be a retry.
pub const FAST_OVERLOADED: i32 = 3;
/// The batch is larger than `sample_queue_capacity` (or than [`MAX_FAST_BATCH`]). Nothing was
/// recorded or counted: re-submit through `record_batch` for the typed error.
pub const FAST_BATCH_TOO_LARGE: i32 = 4;
/// No live optimizer has this handle (never issued, or the optimizer was freed).
pub const FAST_UNKNOWN_HANDLE: i32 = 5;
/// A variant code outside the table above.
pub const FAST_BAD_CODE: i32 = 6;
/// An integer, boolean or enum slot outside its field's range (for example hops = -1, a
/// boolean of 2, a thermal state of 4).
pub const FAST_BAD_FIELD: i32 = 7;
/// A variant this path does not carry (`LinkRssi`): use `record`.
pub const FAST_NOT_CARRIED: i32 = 8;
/// A negative length, a null or misaligned array.
pub const FAST_BAD_ARGUMENT: i32 = 9;
/// MeshTune panicked inside the call (a bug); the panic was caught.
pub const FAST_PANIC: i32 = 10;
/// A scan result was taken and the app has an update to follow (samples to record, or a
/// scanner change): call `BleCoordinator.take_update` now ([`crate::BleCoordinator`]'s fast path).
pub const FAST_UPDATE_PENDING: i32 = 11;

/// Longest batch read from the caller's arrays: the largest `sample_queue_capacity` the
/// configuration accepts, so a longer batch could never be recorded anyway.
pub const MAX_FAST_BATCH: usize = 16_777_216;

static NEXT_HANDLE: AtomicU64 = AtomicU64::new(1);

/// Weak references to the objects the fast path may be handed by handle, one registry per kind;
/// the handles of both kinds are drawn from one sequence and never reused.
struct Registry<T>(LazyLock<RwLock<HashMap<u64, Weak<T>>>>);

impl<T> Registry<T> {
    const fn new() -> Self {
        Registry(LazyLock::new(|| RwLock::new(HashMap::new())))
    }

    /// Gives `object` a fresh handle and registers a weak reference to it.
    fn register(&self, object: &Arc<T>) -> u64 {
        let handle = NEXT_HANDLE.fetch_add(1, Ordering::Relaxed);
        // A poisoned lock still holds a consistent map: every critical section is one insert,
        // remove or lookup.
        self.0.write().unwrap_or_else(|p| p.into_inner()).insert(handle, Arc::downgrade(object));
        handle
    }

    fn unregister(&self, handle: u64) {
        self.0.write().unwrap_or_else(|p| p.into_inner()).remove(&handle);
    }

    /// The live object registered under `handle`. The lock is released before this returns, so
    /// dropping the returned `Arc` (possibly the last one) may unregister.
    fn lookup(&self, handle: u64) -> Option<Arc<T>> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).get(&handle).and_then(Weak::upgrade)
    }
}

static OPTIMIZERS: Registry<PerformanceOptimizer> = Registry::new();
static COORDINATORS: Registry<BleCoordinator> = Registry::new();

/// Gives `optimizer` a fresh handle and registers a weak reference.
pub(crate) fn register(optimizer: &Arc<PerformanceOptimizer>) -> u64 {
    OPTIMIZERS.register(optimizer)
}

/// Forgets `handle` (called when its optimizer is dropped).
pub(crate) fn unregister(handle: u64) {
    OPTIMIZERS.unregister(handle);
}

/// The live optimizer registered under `handle`.
fn lookup(handle: u64) -> Option<Arc<PerformanceOptimizer>> {
    OPTIMIZERS.lookup(handle)
}

/// Gives `coordinator` a fresh handle and registers a weak reference.
pub(crate) fn register_coordinator(coordinator: &Arc<BleCoordinator>) -> u64 {
    COORDINATORS.register(coordinator)
}

/// Forgets `handle` (called when its coordinator is dropped).
pub(crate) fn unregister_coordinator(handle: u64) {
    COORDINATORS.unregister(handle);
}

/// A scan result for the coordinator registered under `handle`
/// ([`BleCoordinator::fast_scan_result`]'s statuses, and [`FAST_UNKNOWN_HANDLE`]).
#[cfg_attr(not(feature = "jni-fastpath"), allow(dead_code))] // called by the JNI entry only
pub(crate) fn scan_result(handle: u64, peer_id: &str, now_ms: u64) -> i32 {
    guarded(|| match COORDINATORS.lookup(handle) {
        Some(c) => c.fast_scan_result(peer_id, now_ms),
        None => FAST_UNKNOWN_HANDLE,
    })
}

fn u32_field(v: i64) -> Result<u32, i32> {
    u32::try_from(v).map_err(|_| FAST_BAD_FIELD)
}

fn bool_field(v: i64) -> Result<bool, i32> {
    match v {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(FAST_BAD_FIELD),
    }
}

fn thermal_field(v: i64) -> Result<ThermalState, i32> {
    match v {
        0 => Ok(ThermalState::Nominal),
        1 => Ok(ThermalState::Fair),
        2 => Ok(ThermalState::Serious),
        3 => Ok(ThermalState::Critical),
        _ => Err(FAST_BAD_FIELD),
    }
}

fn pressure_field(v: i64) -> Result<MemoryPressureLevel, i32> {
    match v {
        0 => Ok(MemoryPressureLevel::Normal),
        1 => Ok(MemoryPressureLevel::Moderate),
        2 => Ok(MemoryPressureLevel::Critical),
        _ => Err(FAST_BAD_FIELD),
    }
}

/// Builds the sample that `code`, `d` and `i` encode (see the table in the module docs), or
/// the status that refuses it. Values are not validated here: that is `MetricSample::validate`'s
/// job, inside the runtime's ingestion, exactly as for `record`.
pub(crate) fn decode(code: i32, d: [f64; 3], i: [i64; 2]) -> Result<MetricSample, i32> {
    Ok(match code {
        0 => MetricSample::MessageDelivered { latency_ms: d[0], hops: u32_field(i[0])?, bytes: u32_field(i[1])? },
        1 => MetricSample::MessageLost { hops: u32_field(i[0])? },
        2 => return Err(FAST_NOT_CARRIED),
        3 => MetricSample::PeerCount { connected: u32_field(i[0])?, discovered: u32_field(i[1])? },
        4 => MetricSample::ConnectionEstablished { duration_ms: d[0] },
        5 => MetricSample::PeerDiscovered { duration_ms: d[0] },
        6 => MetricSample::ConsensusRound {
            proposal_ms: d[0],
            vote_ms: d[1],
            finalization_ms: d[2],
            operations: u32_field(i[0])?,
        },
        7 => MetricSample::Battery { level_percent: d[0], charging: bool_field(i[0])? },
        8 => MetricSample::PowerSaveMode { enabled: bool_field(i[0])? },
        9 => MetricSample::Thermal { state: thermal_field(i[0])? },
        10 => MetricSample::MemoryPressure { level: pressure_field(i[0])? },
        11 => MetricSample::Heap { used_mb: d[0], limit_mb: d[1] },
        12 => MetricSample::AppState { foreground: bool_field(i[0])? },
        13 => MetricSample::ProcessUsage { cpu_percent: d[0], resident_mb: d[1] },
        14 => MetricSample::ThermalHeadroom { headroom: d[0], forecast_s: u32_field(i[0])? },
        _ => return Err(FAST_BAD_CODE),
    })
}

/// The status for the runtime's answer.
fn status(result: Result<(), OptimizerError>) -> i32 {
    match result {
        Ok(()) => FAST_OK,
        Err(OptimizerError::InvalidSample { .. }) => FAST_INVALID_SAMPLE,
        Err(OptimizerError::Stopped) => FAST_STOPPED,
        Err(OptimizerError::Overloaded { .. }) => FAST_OVERLOADED,
        Err(OptimizerError::BatchTooLarge { .. }) => FAST_BATCH_TOO_LARGE,
        // Ingestion returns no other error; should one appear, the caller's re-submission
        // through the generated API reports it.
        Err(_) => FAST_INVALID_SAMPLE,
    }
}

/// Runs `body`, turning a panic into [`FAST_PANIC`]: nothing unwinds into the caller.
fn guarded(body: impl FnOnce() -> i32) -> i32 {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(FAST_PANIC)
}

/// Returns [`FAST_ABI_VERSION`]. Does nothing else, so it also measures the floor of a
/// direct-mapped call in the JVM benchmark.
#[unsafe(no_mangle)]
pub extern "C" fn meshtune_fast_abi_version() -> i32 {
    FAST_ABI_VERSION
}

/// Records one sample, encoded as in the module docs, into the optimizer registered under
/// `handle`. Returns a `FAST_*` status.
#[unsafe(no_mangle)]
pub extern "C" fn meshtune_fast_record(handle: u64, code: i32, d0: f64, d1: f64, d2: f64, i0: i64, i1: i64) -> i32 {
    record_encoded(handle, code, [d0, d1, d2], [i0, i1])
}

/// The body of every single-sample entry point (this C function and, with the `jni-fastpath`
/// feature, the JNI one): decode, find the optimizer, ingest, never unwind.
fn record_encoded(handle: u64, code: i32, d: [f64; 3], i: [i64; 2]) -> i32 {
    guarded(|| {
        let sample = match decode(code, d, i) {
            Ok(s) => s,
            Err(st) => return st,
        };
        match lookup(handle) {
            Some(optimizer) => status(optimizer.runtime().ingest(sample, Refusals::Uncounted)),
            None => FAST_UNKNOWN_HANDLE,
        }
    })
}

/// Reads `len` elements from `ptr`, after checking it for null and alignment.
///
/// # Safety
///
/// If `ptr` is not null and aligned, it must point to `len` initialized values of `T` that stay
/// valid and unwritten for `'a`.
unsafe fn read_array<'a, T>(ptr: *const T, len: usize) -> Result<&'a [T], i32> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() || !ptr.is_aligned() {
        return Err(FAST_BAD_ARGUMENT);
    }
    // SAFETY: `ptr` is non-null and aligned (checked above); the caller guarantees it points to
    // `len` initialized `T`s that outlive `'a` and are not written meanwhile. `len` is at most
    // 3 * MAX_FAST_BATCH (checked by the only caller), so `len * size_of::<T>()` (at most
    // 400 MiB for 8-byte T) is far below isize::MAX.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Records `len` samples, all or none (like `record_batch`), into the optimizer registered under
/// `handle`. Sample `k` is `codes[k]`, `doubles[3k..3k+3]` and `ints[2k..2k+2]`, encoded as in
/// the module docs. Returns a `FAST_*` status; on any status but [`FAST_OK`] nothing was recorded.
///
/// # Safety
///
/// Unless `len` is 0, `codes` must point to `len` `i32`s, `doubles` to `3 * len` `f64`s and
/// `ints` to `2 * len` `i64`s, all readable and not written by anyone during the call. Null and
/// misaligned pointers and a negative `len` are refused with [`FAST_BAD_ARGUMENT`]; a `len`
/// above [`MAX_FAST_BATCH`] with [`FAST_BATCH_TOO_LARGE`], before any pointer is read.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn meshtune_fast_record_batch(
    handle: u64,
    len: i32,
    codes: *const i32,
    doubles: *const f64,
    ints: *const i64,
) -> i32 {
    guarded(|| {
        let Ok(n) = usize::try_from(len) else { return FAST_BAD_ARGUMENT };
        if n > MAX_FAST_BATCH {
            return FAST_BATCH_TOO_LARGE;
        }
        let Some(optimizer) = lookup(handle) else { return FAST_UNKNOWN_HANDLE };
        // SAFETY: n <= MAX_FAST_BATCH, and the caller guarantees that each pointer addresses
        // the stated number of elements for the duration of this call (the slices do not
        // outlive it); null and misaligned pointers are refused inside `read_array`.
        let arrays = unsafe { (read_array(codes, n), read_array(doubles, 3 * n), read_array(ints, 2 * n)) };
        let (codes, doubles, ints) = match arrays {
            (Ok(c), Ok(d), Ok(i)) => (c, d, i),
            _ => return FAST_BAD_ARGUMENT,
        };
        match decode_batch(&optimizer, codes, doubles, ints) {
            Ok(samples) => status(optimizer.runtime().ingest_batch(samples, Refusals::Uncounted)),
            Err(st) => st,
        }
    })
}

/// Builds the batch that `codes`, `doubles` and `ints` encode (sample `k` at `codes[k]`,
/// `doubles[3k..3k+3]`, `ints[2k..2k+2]`), or the status that refuses it; shared by the C and the
/// JNI entry points, which check `codes.len() <= MAX_FAST_BATCH` first. Slices of other lengths
/// than `n`, `3n` and `2n` are refused with [`FAST_BAD_ARGUMENT`].
fn decode_batch(
    optimizer: &PerformanceOptimizer,
    codes: &[i32],
    doubles: &[f64],
    ints: &[i64],
) -> Result<Vec<MetricSample>, i32> {
    let n = codes.len();
    if doubles.len() != 3 * n || ints.len() != 2 * n {
        return Err(FAST_BAD_ARGUMENT);
    }
    let encoded = || codes.iter().zip(doubles.chunks_exact(3)).zip(ints.chunks_exact(2));
    // A batch over the optimizer's capacity is answered without building it (a batch of
    // MAX_FAST_BATCH samples would be about 670 MB, and a failed allocation aborts the process),
    // with the answer record_batch gives: the first bad sample, else too large.
    if n > optimizer.runtime().sample_queue_capacity() as usize {
        for ((&code, d), i) in encoded() {
            match decode(code, [d[0], d[1], d[2]], [i[0], i[1]]) {
                Ok(s) if s.validate().is_err() => return Err(FAST_INVALID_SAMPLE),
                Ok(_) => {}
                Err(st) => return Err(st),
            }
        }
        return Err(FAST_BATCH_TOO_LARGE);
    }
    let mut samples = Vec::with_capacity(n);
    for ((&code, d), i) in encoded() {
        samples.push(decode(code, [d[0], d[1], d[2]], [i[0], i[1]])?);
    }
    Ok(samples)
}

/// The `sample_queue_capacity` of the optimizer registered under `handle` (for the Kotlin side
/// to build `Overloaded` after [`FAST_OVERLOADED`]), or `-FAST_UNKNOWN_HANDLE`.
#[unsafe(no_mangle)]
pub extern "C" fn meshtune_fast_sample_queue_capacity(handle: u64) -> i64 {
    match catch_unwind(|| lookup(handle).map(|o| o.runtime().sample_queue_capacity())) {
        Ok(Some(capacity)) => i64::from(capacity),
        Ok(None) => -i64::from(FAST_UNKNOWN_HANDLE),
        Err(_) => -i64::from(FAST_PANIC),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{start_optimizer, ActionEvent, ActionListener, ListenerError, OptimizerConfig, OutcomeEvent};

    /// The encoder the Kotlin side implements, written here to check that decoding inverts it.
    /// The match is exhaustive: a new `MetricSample` variant fails to compile until it is given
    /// a code (or declared not carried).
    fn encode(s: &MetricSample) -> Option<(i32, [f64; 3], [i64; 2])> {
        let b = |v: bool| i64::from(v);
        Some(match *s {
            MetricSample::MessageDelivered { latency_ms, hops, bytes } => {
                (0, [latency_ms, 0.0, 0.0], [hops.into(), bytes.into()])
            }
            MetricSample::MessageLost { hops } => (1, [0.0; 3], [hops.into(), 0]),
            MetricSample::LinkRssi { .. } => return None,
            MetricSample::PeerCount { connected, discovered } => (3, [0.0; 3], [connected.into(), discovered.into()]),
            MetricSample::ConnectionEstablished { duration_ms } => (4, [duration_ms, 0.0, 0.0], [0, 0]),
            MetricSample::PeerDiscovered { duration_ms } => (5, [duration_ms, 0.0, 0.0], [0, 0]),
            MetricSample::ConsensusRound { proposal_ms, vote_ms, finalization_ms, operations } => {
                (6, [proposal_ms, vote_ms, finalization_ms], [operations.into(), 0])
            }
            MetricSample::Battery { level_percent, charging } => (7, [level_percent, 0.0, 0.0], [b(charging), 0]),
            MetricSample::PowerSaveMode { enabled } => (8, [0.0; 3], [b(enabled), 0]),
            MetricSample::Thermal { state } => (9, [0.0; 3], [state as i64, 0]),
            MetricSample::MemoryPressure { level } => (10, [0.0; 3], [level as i64, 0]),
            MetricSample::Heap { used_mb, limit_mb } => (11, [used_mb, limit_mb, 0.0], [0, 0]),
            MetricSample::AppState { foreground } => (12, [0.0; 3], [b(foreground), 0]),
            MetricSample::ProcessUsage { cpu_percent, resident_mb } => (13, [cpu_percent, resident_mb, 0.0], [0, 0]),
            MetricSample::ThermalHeadroom { headroom, forecast_s } => {
                (14, [headroom, 0.0, 0.0], [forecast_s.into(), 0])
            }
        })
    }

    /// One sample of every variant, with values that differ from slot to slot, plus the edge
    /// values of every integer, boolean and enum field.
    fn every_variant() -> Vec<MetricSample> {
        let mut v = vec![
            MetricSample::MessageDelivered { latency_ms: 12.5, hops: 3, bytes: 512 },
            MetricSample::MessageDelivered { latency_ms: 0.0, hops: 0, bytes: u32::MAX },
            MetricSample::MessageDelivered { latency_ms: f64::NAN, hops: u32::MAX, bytes: 0 },
            // The largest valid values travel too.
            MetricSample::MessageDelivered {
                latency_ms: 1.0,
                hops: crate::metrics::sample::MAX_HOPS,
                bytes: crate::metrics::sample::MAX_MESSAGE_BYTES,
            },
            MetricSample::MessageLost { hops: 7 },
            MetricSample::LinkRssi { peer_id: "p".into(), rssi_dbm: -60 },
            MetricSample::PeerCount { connected: 2, discovered: 9 },
            MetricSample::ConnectionEstablished { duration_ms: 81.25 },
            MetricSample::PeerDiscovered { duration_ms: -3.0 },
            MetricSample::ConsensusRound { proposal_ms: 1.5, vote_ms: 2.5, finalization_ms: 3.5, operations: 40 },
            MetricSample::Battery { level_percent: 42.0, charging: true },
            MetricSample::Battery { level_percent: 100.0, charging: false },
            MetricSample::PowerSaveMode { enabled: true },
            MetricSample::PowerSaveMode { enabled: false },
            MetricSample::Heap { used_mb: 100.0, limit_mb: 512.0 },
            MetricSample::AppState { foreground: true },
            MetricSample::AppState { foreground: false },
            MetricSample::ProcessUsage { cpu_percent: 150.0, resident_mb: 80.0 },
            MetricSample::ThermalHeadroom { headroom: 0.93, forecast_s: 10 },
            MetricSample::ThermalHeadroom { headroom: 0.0, forecast_s: u32::MAX },
        ];
        for state in [ThermalState::Nominal, ThermalState::Fair, ThermalState::Serious, ThermalState::Critical] {
            v.push(MetricSample::Thermal { state });
        }
        for level in [MemoryPressureLevel::Normal, MemoryPressureLevel::Moderate, MemoryPressureLevel::Critical] {
            v.push(MetricSample::MemoryPressure { level });
        }
        v
    }

    /// Equality that treats NaN as equal to NaN (bitwise for the doubles).
    fn same(a: &MetricSample, b: &MetricSample) -> bool {
        format!("{a:?}") == format!("{b:?}")
    }

    #[test]
    fn every_variant_round_trips() {
        let mut codes_seen = std::collections::BTreeSet::new();
        for s in every_variant() {
            match encode(&s) {
                Some((code, d, i)) => {
                    codes_seen.insert(code);
                    let back = decode(code, d, i).unwrap();
                    assert!(same(&back, &s), "{s:?} came back as {back:?}");
                }
                None => {
                    assert_eq!(s.kind(), "LinkRssi");
                    assert_eq!(decode(2, [0.0; 3], [-60, 0]).unwrap_err(), FAST_NOT_CARRIED);
                }
            }
        }
        // Every code of the table but LinkRssi's is used, and no other.
        assert_eq!(codes_seen.into_iter().collect::<Vec<_>>(), vec![0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
    }

    #[test]
    fn codes_follow_the_declaration_order_of_the_variants() {
        // The Kotlin side derives nothing from this order, but the table in the docs does.
        let names = [
            "MessageDelivered",
            "MessageLost",
            "LinkRssi",
            "PeerCount",
            "ConnectionEstablished",
            "PeerDiscovered",
            "ConsensusRound",
            "Battery",
            "PowerSaveMode",
            "Thermal",
            "MemoryPressure",
            "Heap",
            "AppState",
            "ProcessUsage",
            "ThermalHeadroom",
        ];
        for (code, name) in names.iter().enumerate() {
            let code = i32::try_from(code).unwrap();
            match decode(code, [1.0; 3], [0, 0]) {
                Ok(s) => assert_eq!(s.kind(), *name),
                Err(st) => assert_eq!((code, st), (2, FAST_NOT_CARRIED)),
            }
        }
    }

    #[test]
    fn bad_codes_and_fields_are_refused_with_their_status() {
        for code in [-1, 15, 16, 255, i32::MAX, i32::MIN] {
            assert_eq!(decode(code, [0.0; 3], [0, 0]).unwrap_err(), FAST_BAD_CODE, "code {code}");
        }
        let bad = |code: i32, i: [i64; 2]| decode(code, [1.0; 3], i).unwrap_err();
        assert_eq!(bad(0, [-1, 0]), FAST_BAD_FIELD); // hops below u32
        assert_eq!(bad(0, [0, 1 << 32]), FAST_BAD_FIELD); // bytes above u32
        assert_eq!(bad(1, [i64::MIN, 0]), FAST_BAD_FIELD);
        assert_eq!(bad(3, [0, -5]), FAST_BAD_FIELD);
        assert_eq!(bad(6, [i64::MAX, 0]), FAST_BAD_FIELD);
        assert_eq!(bad(7, [2, 0]), FAST_BAD_FIELD); // a boolean of 2
        assert_eq!(bad(8, [-1, 0]), FAST_BAD_FIELD);
        assert_eq!(bad(12, [7, 0]), FAST_BAD_FIELD);
        assert_eq!(bad(9, [4, 0]), FAST_BAD_FIELD); // no fifth thermal state
        assert_eq!(bad(9, [-1, 0]), FAST_BAD_FIELD);
        assert_eq!(bad(10, [3, 0]), FAST_BAD_FIELD); // no fourth pressure level
    }

    struct Quiet;
    impl ActionListener for Quiet {
        fn on_action(&self, _event: ActionEvent) -> Result<(), ListenerError> {
            Ok(())
        }
        fn on_outcome(&self, _event: OutcomeEvent) -> Result<(), ListenerError> {
            Ok(())
        }
    }

    fn optimizer(capacity: u32) -> Arc<PerformanceOptimizer> {
        // One tick a minute: within a test, only a snapshot (or the loop woken at half capacity,
        // which a capacity of 1 never does) drains the ingestion buffer.
        let config = OptimizerConfig {
            sample_process: false,
            sample_queue_capacity: capacity,
            min_tick_interval_ms: 60_000,
            max_tick_interval_ms: 60_000,
            ..OptimizerConfig::default()
        };
        start_optimizer(config, Arc::new(Quiet)).unwrap()
    }

    /// A `MessageDelivered` of `latency_ms`, 2 hops, 100 bytes.
    fn record_delivery(handle: u64, latency_ms: f64) -> i32 {
        meshtune_fast_record(handle, 0, latency_ms, 0.0, 0.0, 2, 100)
    }

    fn batch(handle: u64, samples: &[(i32, [f64; 3], [i64; 2])]) -> i32 {
        let codes: Vec<i32> = samples.iter().map(|s| s.0).collect();
        let doubles: Vec<f64> = samples.iter().flat_map(|s| s.1).collect();
        let ints: Vec<i64> = samples.iter().flat_map(|s| s.2).collect();
        let len = i32::try_from(samples.len()).unwrap();
        // SAFETY: the three vectors hold len, 3 * len and 2 * len elements and live across the call.
        unsafe { meshtune_fast_record_batch(handle, len, codes.as_ptr(), doubles.as_ptr(), ints.as_ptr()) }
    }

    #[test]
    fn samples_reach_the_runtime_and_the_handle_is_stable() {
        let o = optimizer(1_024);
        let h = Arc::clone(&o).fast_path_handle();
        assert_eq!(Arc::clone(&o).fast_path_handle(), h, "one optimizer, one handle");
        assert_ne!(optimizer(8).fast_path_handle(), h, "another optimizer, another handle");
        assert_eq!(record_delivery(h, 20.0), FAST_OK);
        let every: Vec<_> = every_variant().iter().filter(|s| s.validate().is_ok()).filter_map(encode).collect();
        assert_eq!(batch(h, &every), FAST_OK);
        let c = o.snapshot().counters;
        assert_eq!(c.samples_accepted, 1 + every.len() as u64, "{c:?}");
        assert_eq!(o.snapshot().metrics.mesh_performance.delivered, 1 + 2, "the two valid deliveries of every_variant");
        o.stop();
    }

    #[test]
    fn refusals_record_nothing_and_count_only_drops() {
        let o = optimizer(1);
        let h = Arc::clone(&o).fast_path_handle();
        // Invalid: refused, not counted (the Kotlin side re-submits through `record`, which counts).
        assert_eq!(record_delivery(h, f64::NAN), FAST_INVALID_SAMPLE);
        assert_eq!(meshtune_fast_record(h, 7, 150.0, 0.0, 0.0, 0, 0), FAST_INVALID_SAMPLE);
        // A batch with one invalid sample: nothing recorded (validation comes before the size
        // check, as in record_batch).
        let good = (0, [20.0, 0.0, 0.0], [2, 100]);
        let invalid = (11, [600.0, 512.0, 0.0], [0, 0]); // Heap used above limit
        assert_eq!(batch(h, &[good, invalid, good]), FAST_INVALID_SAMPLE);
        // A bad encoding in a batch: nothing recorded either.
        assert_eq!(batch(h, &[good, (99, [0.0; 3], [0, 0])]), FAST_BAD_CODE);
        assert_eq!(batch(h, &[good, (2, [0.0; 3], [0, 0])]), FAST_NOT_CARRIED);
        // Larger than the capacity: refused whole, not counted.
        assert_eq!(batch(h, &[good; 2]), FAST_BATCH_TOO_LARGE);
        let c = o.snapshot().counters;
        assert_eq!(
            (c.samples_offered, c.samples_accepted, c.samples_rejected, c.samples_dropped),
            (0, 0, 0, 0),
            "{c:?}"
        );
        // Full queue (capacity 1, drained only by the snapshot): the drop is counted, as `record`
        // counts it.
        assert_eq!(batch(h, &[good]), FAST_OK);
        assert_eq!(record_delivery(h, 20.0), FAST_OVERLOADED);
        assert_eq!(batch(h, &[good]), FAST_OVERLOADED);
        assert_eq!(meshtune_fast_sample_queue_capacity(h), 1);
        let c = o.snapshot().counters;
        assert_eq!((c.samples_accepted, c.samples_rejected, c.samples_dropped), (1, 0, 2), "{c:?}");
        // Stopped: refused.
        o.stop();
        assert_eq!(record_delivery(h, 20.0), FAST_STOPPED);
        assert_eq!(batch(h, &[good]), FAST_STOPPED);
        assert_eq!(batch(h, &[]), FAST_STOPPED, "like record_batch, an empty batch after stop is refused");
    }

    #[test]
    fn unknown_and_freed_handles_are_refused() {
        assert_eq!(record_delivery(0, 20.0), FAST_UNKNOWN_HANDLE);
        assert_eq!(record_delivery(u64::MAX, 20.0), FAST_UNKNOWN_HANDLE);
        assert_eq!(batch(u64::MAX - 1, &[(0, [20.0, 0.0, 0.0], [2, 100])]), FAST_UNKNOWN_HANDLE);
        assert_eq!(meshtune_fast_sample_queue_capacity(u64::MAX), -i64::from(FAST_UNKNOWN_HANDLE));
        let o = optimizer(16);
        let h = Arc::clone(&o).fast_path_handle();
        assert_eq!(record_delivery(h, 20.0), FAST_OK);
        drop(o); // the last reference: the optimizer stops, is freed and unregistered
        assert_eq!(record_delivery(h, 20.0), FAST_UNKNOWN_HANDLE);
        assert!(!OPTIMIZERS.0.read().unwrap().contains_key(&h), "the registry forgets a freed optimizer");
    }

    #[test]
    fn bad_arrays_are_refused_before_any_read() {
        let o = optimizer(16);
        let h = Arc::clone(&o).fast_path_handle();
        let codes = [0i32; 2];
        let doubles = [20.0f64; 6];
        let ints = [1i64; 4];
        // SAFETY (all four calls): the non-null pointers address arrays of the stated lengths;
        // null, misaligned and negative-length arguments are what is being tested.
        unsafe {
            assert_eq!(
                meshtune_fast_record_batch(h, -1, codes.as_ptr(), doubles.as_ptr(), ints.as_ptr()),
                FAST_BAD_ARGUMENT
            );
            assert_eq!(
                meshtune_fast_record_batch(h, 2, std::ptr::null(), doubles.as_ptr(), ints.as_ptr()),
                FAST_BAD_ARGUMENT
            );
            assert_eq!(
                meshtune_fast_record_batch(h, 2, codes.as_ptr(), doubles.as_ptr(), std::ptr::null()),
                FAST_BAD_ARGUMENT
            );
            let misaligned = doubles.as_ptr().cast::<u8>().wrapping_add(1).cast::<f64>();
            assert_eq!(meshtune_fast_record_batch(h, 2, codes.as_ptr(), misaligned, ints.as_ptr()), FAST_BAD_ARGUMENT);
            assert_eq!(
                meshtune_fast_record_batch(h, i32::MAX, std::ptr::null(), std::ptr::null(), std::ptr::null()),
                FAST_BATCH_TOO_LARGE
            );
            // An empty batch needs no arrays at all.
            assert_eq!(meshtune_fast_record_batch(h, 0, std::ptr::null(), std::ptr::null(), std::ptr::null()), FAST_OK);
            assert_eq!(meshtune_fast_record_batch(h, 2, codes.as_ptr(), doubles.as_ptr(), ints.as_ptr()), FAST_OK);
        }
        assert_eq!(o.snapshot().counters.samples_accepted, 2);
        o.stop();
    }
}

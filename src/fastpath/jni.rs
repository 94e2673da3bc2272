//! The fast path's hot calls as JNI native methods (cargo feature `jni-fastpath`; ADR 7): the
//! native methods of the Kotlin object `dev.meshtune.MeshTuneJni`
//! (bindings/kotlin/src/main/kotlin/dev/meshtune/MeshTuneJni.kt), found by the JVM under their
//! mangled names once the library is loaded with `System.load` (`System.loadLibrary("meshtune")`
//! on Android). `FastRecorder` calls them when they are bound, and the C functions of the parent
//! module through JNA otherwise.
//!
//! Same encoding, statuses, handle registry, validation and ingestion as the C functions: each
//! is a thin shell over the parent module's `record_encoded` and `decode_batch`. What JNI changes
//! is only how the arguments arrive: a batch's three Java arrays are read in place (a critical
//! section, no copy on HotSpot or ART), after checking their lengths, which the JNA path cannot
//! do (it gets bare pointers).
//!
//! Written against `jni-sys` (the JNI function table) rather than the `jni` crate's safe layer:
//! the single-sample call makes no JNI call at all, the batch four kinds, and the `jni` crate's
//! `with_env` and array guards added 194 KB to the stripped library (ADR 7).

use std::ffi::c_void;
use std::ptr;

use jni_sys::{jarray, jclass, jdoubleArray, jint, jintArray, jlong, jlongArray, jstring, JNIEnv, JNI_ABORT};

use super::{
    decode_batch, guarded, lookup, record_encoded, status, Refusals, FAST_ABI_VERSION, FAST_BAD_ARGUMENT,
    FAST_BATCH_TOO_LARGE, FAST_INVALID_SAMPLE, FAST_UNKNOWN_HANDLE, MAX_FAST_BATCH,
};
use crate::ble::MAX_PEER_ID_BYTES;

/// `MeshTuneJni.abiVersion()`: [`FAST_ABI_VERSION`], and nothing else (the floor of a JNI call).
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_meshtune_MeshTuneJni_abiVersion(_env: *mut JNIEnv, _class: jclass) -> jint {
    FAST_ABI_VERSION
}

/// `MeshTuneJni.record(handle, code, d0, d1, d2, i0, i1)`: `meshtune_fast_record` through JNI.
/// Primitive arguments only: no JNI function is called.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)] // the encoding of the parent module: code, 3 doubles, 2 longs
pub extern "system" fn Java_dev_meshtune_MeshTuneJni_record(
    _env: *mut JNIEnv,
    _class: jclass,
    handle: jlong,
    code: jint,
    d0: f64,
    d1: f64,
    d2: f64,
    i0: jlong,
    i1: jlong,
) -> jint {
    // The handle is a u64 carried in a Java long, bit for bit (as JNA passes it to the C function).
    record_encoded(u64::from_ne_bytes(handle.to_ne_bytes()), code, [d0, d1, d2], [i0, i1])
}

/// `MeshTuneJni.recordBatch(handle, len, codes, doubles, ints)`: `meshtune_fast_record_batch`
/// through JNI, with the same statuses and order of checks; in addition, arrays shorter than
/// `len`, `3 * len` and `2 * len` are refused with [`FAST_BAD_ARGUMENT`] (and null arrays, as
/// there).
///
/// # Safety
///
/// Called by the JVM only: `env` is the calling thread's JNI environment and the arrays are local
/// references (or null) to a Java `int[]`, `double[]` and `long[]`, as the native method's
/// signature declares.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn Java_dev_meshtune_MeshTuneJni_recordBatch(
    env: *mut JNIEnv,
    _class: jclass,
    handle: jlong,
    len: jint,
    codes: jintArray,
    doubles: jdoubleArray,
    ints: jlongArray,
) -> jint {
    // SAFETY: the caller's contract above is what `record_batch` requires.
    guarded(|| unsafe { record_batch(env, handle, len, codes, doubles, ints) })
}

/// # Safety
///
/// As for `Java_dev_meshtune_MeshTuneJni_recordBatch`.
unsafe fn record_batch(
    env: *mut JNIEnv,
    handle: jlong,
    len: jint,
    codes: jintArray,
    doubles: jdoubleArray,
    ints: jlongArray,
) -> jint {
    let Ok(n) = usize::try_from(len) else { return FAST_BAD_ARGUMENT };
    if n > MAX_FAST_BATCH {
        return FAST_BATCH_TOO_LARGE;
    }
    let Some(optimizer) = lookup(u64::from_ne_bytes(handle.to_ne_bytes())) else { return FAST_UNKNOWN_HANDLE };
    if n == 0 {
        // Like the C function: an empty batch needs no arrays (and is refused after stop).
        return status(optimizer.runtime().ingest_batch(Vec::new(), Refusals::Uncounted));
    }
    // SAFETY: `env` is this thread's JNI environment (the caller's contract); each array is a
    // non-null local reference to a Java array, checked by `length`.
    let long_enough = |array: jarray, need: usize| unsafe { length(env, array) }.is_some_and(|have| have >= need);
    if !long_enough(codes, n) || !long_enough(doubles, 3 * n) || !long_enough(ints, 2 * n) {
        return FAST_BAD_ARGUMENT;
    }
    let decoded = {
        // SAFETY: the critical sections last until the end of this block (the guards release
        // them when dropped, on a panic too), and inside it no JNI function is called and nothing
        // waits for another thread: `decode_batch` only reads the slices and allocates. The three
        // arrays are distinct Java objects (an int[], a double[] and a long[]), each at least as
        // long as the slice taken from it (checked above); the caller (FastRecorder, with arrays
        // it has just filled) does not write them during the call.
        let arrays = unsafe {
            (
                Critical::<i32>::get(env, codes, n),
                Critical::<f64>::get(env, doubles, 3 * n),
                Critical::<i64>::get(env, ints, 2 * n),
            )
        };
        match &arrays {
            (Some(c), Some(d), Some(i)) => decode_batch(&optimizer, c.slice(), d.slice(), i.slice()),
            _ => Err(FAST_BAD_ARGUMENT),
        }
    };
    // Ingested outside the critical sections: ingestion takes the runtime's lock.
    match decoded {
        Ok(samples) => status(optimizer.runtime().ingest_batch(samples, Refusals::Uncounted)),
        Err(st) => st,
    }
}

/// `MeshTuneJni.scanResult(handle, peerId, nowMs)`: a scan result for the `BleCoordinator`
/// whose `fast_handle` is `handle`, with the statuses of `BleCoordinator::fast_scan_result`
/// (src/ble.rs); [`FAST_BAD_ARGUMENT`] for a null string, [`FAST_UNKNOWN_HANDLE`] for a freed
/// coordinator. The id is read as UTF-16 into a stack buffer (two JNI calls, no allocation
/// unless the peer is new); one that is not valid UTF-16 (an unpaired surrogate) or longer than
/// [`MAX_PEER_ID_BYTES`] UTF-16 units is [`FAST_INVALID_SAMPLE`] without a change, so that the
/// generated `scan_result`, which the caller then uses, decides what it means. `now_ms` is the
/// `u64` of the generated call, bit for bit.
///
/// # Safety
///
/// Called by the JVM only: `env` is the calling thread's JNI environment and `peer` a local
/// reference (or null) to a Java `String`, as the native method's signature declares.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn Java_dev_meshtune_MeshTuneJni_scanResult(
    env: *mut JNIEnv,
    _class: jclass,
    handle: jlong,
    peer: jstring,
    now_ms: jlong,
) -> jint {
    guarded(|| {
        if peer.is_null() {
            return FAST_BAD_ARGUMENT;
        }
        // SAFETY: `env` is this thread's JNI environment and `peer` a non-null local reference
        // to a String (the caller's contract); GetStringLength is in every JNI version's table.
        let units = unsafe { ((**env).v1_1.GetStringLength)(env, peer) };
        let Ok(n) = usize::try_from(units) else { return FAST_BAD_ARGUMENT };
        if n > MAX_PEER_ID_BYTES {
            // At least one UTF-8 byte per UTF-16 unit: too long either way.
            return FAST_INVALID_SAMPLE;
        }
        let mut buf = [0u16; MAX_PEER_ID_BYTES];
        // SAFETY: as above; the region 0..n is within the string (its length is n) and `buf`
        // holds at least n units. GetStringRegion is in the JNI 1.2 table.
        unsafe { ((**env).v1_2.GetStringRegion)(env, peer, 0, units, buf.as_mut_ptr()) };
        let mut utf8 = [0u8; 3 * MAX_PEER_ID_BYTES];
        let mut len = 0;
        for c in char::decode_utf16(buf[..n].iter().copied()) {
            let Ok(c) = c else { return FAST_INVALID_SAMPLE };
            len += c.encode_utf8(&mut utf8[len..]).len();
        }
        let Ok(id) = std::str::from_utf8(&utf8[..len]) else { return FAST_INVALID_SAMPLE };
        super::scan_result(u64::from_ne_bytes(handle.to_ne_bytes()), id, u64::from_ne_bytes(now_ms.to_ne_bytes()))
    })
}

/// The length of `array`, or `None` for a null reference.
///
/// # Safety
///
/// `env` is this thread's JNI environment, and `array` null or a local reference to a Java array.
unsafe fn length(env: *mut JNIEnv, array: jarray) -> Option<usize> {
    if array.is_null() {
        return None;
    }
    // SAFETY: per the contract above; GetArrayLength is in every JNI version's table.
    let n = unsafe { ((**env).v1_1.GetArrayLength)(env, array) };
    usize::try_from(n).ok()
}

/// A primitive Java array's elements in a critical section (`GetPrimitiveArrayCritical`),
/// released without copying back (`JNI_ABORT`: only read) when dropped.
struct Critical<T> {
    env: *mut JNIEnv,
    array: jarray,
    elements: *mut c_void,
    len: usize,
    _type: std::marker::PhantomData<T>,
}

impl<T> Critical<T> {
    /// The first `len` elements of `array`, or `None` if the JVM could not give them (out of
    /// memory for a copy; its exception is then pending and reaches the Kotlin caller).
    ///
    /// # Safety
    ///
    /// `env` is this thread's JNI environment; `array` a non-null local reference to a Java array
    /// of `T` (a primitive type) with at least `len` elements, not accessed elsewhere meanwhile.
    /// Until the guard is dropped, the thread calls no other JNI function (but this one) and does
    /// not block on another thread.
    unsafe fn get(env: *mut JNIEnv, array: jarray, len: usize) -> Option<Self> {
        // SAFETY: per the contract above; GetPrimitiveArrayCritical is in the JNI 1.2 table.
        let elements = unsafe { ((**env).v1_2.GetPrimitiveArrayCritical)(env, array, ptr::null_mut()) };
        (!elements.is_null()).then_some(Self { env, array, elements, len, _type: std::marker::PhantomData })
    }

    fn slice(&self) -> &[T] {
        // SAFETY: `elements` points to at least `len` initialized, aligned `T`s (the JVM's array,
        // or its copy) that stay valid and unwritten until `drop` releases them.
        unsafe { std::slice::from_raw_parts(self.elements.cast::<T>(), self.len) }
    }
}

impl<T> Drop for Critical<T> {
    fn drop(&mut self) {
        // SAFETY: `elements` came from GetPrimitiveArrayCritical on this `array` and `env`, and is
        // released once.
        unsafe { ((**self.env).v1_2.ReleasePrimitiveArrayCritical)(self.env, self.array, self.elements, JNI_ABORT) }
    }
}

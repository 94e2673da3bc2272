//! The fast path's hot calls as JNI native methods (cargo feature `jni-fastpath`), for the
//! comparison with the JNA-direct C functions of the parent module (ADR 7). They are the native
//! methods of the Kotlin object `dev.meshtune.MeshTuneJni`
//! (bindings/kotlin/src/main/kotlin/dev/meshtune/MeshTuneJni.kt), found by the JVM under their
//! mangled names once the library is loaded with `System.load` (`System.loadLibrary("meshtune")`
//! on Android).
//!
//! Same encoding, statuses, handle registry, validation and ingestion as the C functions: each
//! is a thin shell over the parent module's `record_encoded` and `decode_batch`. What JNI changes
//! is only how the arguments arrive: a batch's three Java arrays are read in place (a critical
//! section, no copy on HotSpot or ART), after checking their lengths, which the JNA path cannot
//! do (it gets bare pointers).

use jni::elements::ReleaseMode;
use jni::objects::{JClass, JDoubleArray, JIntArray, JLongArray};
use jni::sys::{jint, jlong};
use jni::{Env, EnvUnowned, Outcome};

use super::{
    decode_batch, guarded, lookup, record_encoded, status, Refusals, FAST_ABI_VERSION, FAST_BAD_ARGUMENT,
    FAST_BATCH_TOO_LARGE, FAST_PANIC, FAST_UNKNOWN_HANDLE, MAX_FAST_BATCH,
};

/// `MeshTuneJni.abiVersion()`: [`FAST_ABI_VERSION`], and nothing else (the floor of a JNI call).
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_meshtune_MeshTuneJni_abiVersion<'local>(
    _env: EnvUnowned<'local>,
    _class: JClass<'local>,
) -> jint {
    FAST_ABI_VERSION
}

/// `MeshTuneJni.record(handle, code, d0, d1, d2, i0, i1)`: `meshtune_fast_record` through JNI.
/// Primitive arguments only, so no JNI function is called and the `Env` is not needed.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)] // the encoding of the parent module: code, 3 doubles, 2 longs
pub extern "system" fn Java_dev_meshtune_MeshTuneJni_record<'local>(
    _env: EnvUnowned<'local>,
    _class: JClass<'local>,
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
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_meshtune_MeshTuneJni_recordBatch<'local>(
    mut env: EnvUnowned<'local>,
    _class: JClass<'local>,
    handle: jlong,
    len: jint,
    codes: JIntArray<'local>,
    doubles: JDoubleArray<'local>,
    ints: JLongArray<'local>,
) -> jint {
    // `with_env` catches a panic of the closure; `guarded` inside it catches the body's own, so
    // that the answer is FAST_PANIC either way, never an unwind into the JVM.
    let outcome = env.with_env(|env| -> jni::errors::Result<jint> {
        Ok(guarded(|| record_batch(env, handle, len, &codes, &doubles, &ints)))
    });
    match outcome.into_outcome() {
        Outcome::Ok(st) => st,
        // A JNI error (no JNI call here reports one but a failed array access, handled below).
        Outcome::Err(_) => FAST_BAD_ARGUMENT,
        Outcome::Panic(_) => FAST_PANIC,
    }
}

fn record_batch(
    env: &Env<'_>,
    handle: jlong,
    len: jint,
    codes: &JIntArray<'_>,
    doubles: &JDoubleArray<'_>,
    ints: &JLongArray<'_>,
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
    // Null arrays fail here (`len` checks for null); shorter ones are refused.
    let long_enough = |have: jni::errors::Result<usize>, need: usize| matches!(have, Ok(h) if h >= need);
    if !long_enough(codes.len(env), n) || !long_enough(doubles.len(env), 3 * n) || !long_enough(ints.len(env), 2 * n) {
        return FAST_BAD_ARGUMENT;
    }
    let decoded = {
        // SAFETY: the critical sections last until the end of this block, in which no JNI
        // function is called and nothing waits for another thread (`decode_batch` only reads the
        // slices and allocates). The three arrays are distinct Java objects (an int[], a double[]
        // and a long[]), so no array is accessed twice; the caller (MeshTuneJni, called by
        // FastRecorder with arrays it has just filled) does not write them during the call.
        let arrays = unsafe {
            (
                codes.get_elements_critical(env, ReleaseMode::NoCopyBack),
                doubles.get_elements_critical(env, ReleaseMode::NoCopyBack),
                ints.get_elements_critical(env, ReleaseMode::NoCopyBack),
            )
        };
        match arrays {
            (Ok(c), Ok(d), Ok(i)) => decode_batch(&optimizer, &c[..n], &d[..3 * n], &i[..2 * n]),
            _ => Err(FAST_BAD_ARGUMENT),
        }
    };
    // Ingested outside the critical sections: ingestion takes the runtime's lock.
    match decoded {
        Ok(samples) => status(optimizer.runtime().ingest_batch(samples, Refusals::Uncounted)),
        Err(st) => st,
    }
}

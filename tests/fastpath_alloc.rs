//! The JVM fast path answers a batch larger than the optimizer's capacity before it builds
//! the batch: a counting allocator sees (almost) nothing allocated during the call. Before the
//! fix the fast path decoded the whole batch into a `Vec` first, and a batch of its largest
//! size (16 777 216 samples) meant about 670 MB, whose failed allocation aborts the process.
//!
//! The test binary has its own global allocator, so it is a file of its own.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use meshtune::{start_optimizer, ActionEvent, ActionListener, ListenerError, OptimizerConfig, OutcomeEvent};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; counting has no effect on
// the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        }
        // SAFETY: the caller's contract for `alloc` is passed on as it is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

unsafe extern "C" {
    fn meshtune_fast_record_batch(
        handle: u64,
        len: i32,
        codes: *const i32,
        doubles: *const f64,
        ints: *const i64,
    ) -> i32;
}

const FAST_OK: i32 = 0;
const FAST_INVALID_SAMPLE: i32 = 1;
const FAST_BATCH_TOO_LARGE: i32 = 4;

struct Quiet;
impl ActionListener for Quiet {
    fn on_action(&self, _event: ActionEvent) -> Result<(), ListenerError> {
        Ok(())
    }
    fn on_outcome(&self, _event: OutcomeEvent) -> Result<(), ListenerError> {
        Ok(())
    }
}

#[test]
fn an_oversized_fast_batch_is_refused_without_building_it() {
    let config = OptimizerConfig {
        sample_process: false,
        sample_queue_capacity: 1_000,
        min_tick_interval_ms: 60_000,
        max_tick_interval_ms: 60_000,
        ..OptimizerConfig::default()
    };
    let o = start_optimizer(config, Arc::new(Quiet)).unwrap();
    let h = Arc::clone(&o).fast_path_handle();
    // 200 000 valid deliveries (code 0: latency 20 ms, 2 hops, 100 bytes): 200 times the capacity.
    let n = 200_000usize;
    let codes = vec![0i32; n];
    let doubles = vec![20.0f64; 3 * n];
    let ints: Vec<i64> = (0..2 * n).map(|k| if k % 2 == 0 { 2 } else { 100 }).collect();
    let call = |len: usize| {
        COUNTING.store(true, Ordering::SeqCst);
        ALLOCATED.store(0, Ordering::SeqCst);
        // SAFETY: the arrays hold `len` codes, `3 * len` doubles and `2 * len` ints, and live
        // for the whole call.
        let status =
            unsafe { meshtune_fast_record_batch(h, len as i32, codes.as_ptr(), doubles.as_ptr(), ints.as_ptr()) };
        COUNTING.store(false, Ordering::SeqCst);
        (status, ALLOCATED.load(Ordering::SeqCst))
    };
    let (status, bytes) = call(n);
    assert_eq!(status, FAST_BATCH_TOO_LARGE);
    assert!(bytes < 64 * 1024, "{bytes} bytes allocated to refuse a batch over the capacity");
    // Within the capacity the batch is built and recorded as usual.
    let (status, bytes) = call(500);
    assert_eq!(status, FAST_OK);
    assert!(bytes > 0);
    // An invalid sample in an oversized batch is still the answer, as record_batch gives it.
    drop(ints);
    let mut bad = vec![0i64; 2 * n];
    bad[1] = 100;
    bad[0] = 17; // 17 hops: over the TTL bound
                 // SAFETY: as above.
    let status = unsafe { meshtune_fast_record_batch(h, n as i32, codes.as_ptr(), doubles.as_ptr(), bad.as_ptr()) };
    assert_eq!(status, FAST_INVALID_SAMPLE);
    o.stop();
}

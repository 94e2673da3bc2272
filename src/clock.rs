#![forbid(unsafe_code)]
//! The runtime's clock: milliseconds since the optimizer started, **including the time the
//! phone spends suspended**. A phone sleeps most of the time; a clock that stops in deep sleep
//! (`std::time::Instant` is `CLOCK_MONOTONIC` on Android and an uptime clock on Apple
//! platforms) would keep a minute-old sample in a 60 s window after an hour of sleep, measure
//! battery drain per awake hour, and let acknowledgement timeouts wait for the phone to wake.
//!
//! [`WithSuspend`] reads `CLOCK_BOOTTIME` on Linux and Android and `mach_continuous_time` on
//! Apple platforms, through the `zeitstempel` crate (as Glean does for its "with suspend"
//! clock). Thread coordination (the loop's sleep, `stop_timeout_ms`) still waits on the
//! platform's awake time: a wait cannot run while the phone sleeps anyway.

/// A source of milliseconds since an origin, never going backwards.
pub(crate) trait Clock: Send + Sync {
    /// Milliseconds since the clock's origin.
    fn now_ms(&self) -> u64;
}

/// Time since creation, counting suspend (boot-time clock).
#[derive(Debug)]
pub(crate) struct WithSuspend {
    origin_ns: u64,
}

impl WithSuspend {
    /// A clock whose origin is now.
    pub(crate) fn new() -> WithSuspend {
        WithSuspend { origin_ns: zeitstempel::now() }
    }
}

impl Clock for WithSuspend {
    fn now_ms(&self) -> u64 {
        zeitstempel::now().saturating_sub(self.origin_ns) / 1_000_000
    }
}

/// A clock the tests move by hand (a suspend is a jump that no thread sees happen).
#[cfg(test)]
#[derive(Debug, Default)]
pub(crate) struct ManualClock(std::sync::atomic::AtomicU64);

#[cfg(test)]
impl ManualClock {
    /// Moves the clock forward by `ms`.
    pub(crate) fn advance(&self, ms: u64) {
        self.0.fetch_add(ms, std::sync::atomic::Ordering::SeqCst);
    }
}

#[cfg(test)]
impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_boot_time_clock_moves_forward_with_real_time() {
        let c = WithSuspend::new();
        let a = c.now_ms();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let b = c.now_ms();
        assert!(b >= a + 20, "{a} -> {b}");
        // It counts at least what the awake clock counts (equal while the machine stays awake):
        // the awake interval is read inside the boot-time one, so only the whole-ms floors
        // (1 ms at most) separate them.
        let start = c.now_ms();
        let awake = std::time::Instant::now();
        std::thread::sleep(std::time::Duration::from_millis(10));
        let awake_ms = awake.elapsed().as_millis() as u64;
        let end = c.now_ms();
        assert!(end - start + 1 >= awake_ms, "boot-time {start} -> {end}, awake {awake_ms} ms");
    }
}

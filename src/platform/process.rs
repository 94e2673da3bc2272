#![forbid(unsafe_code)]
//! This process's CPU and resident memory, read from procfs on Linux and Android with std alone:
//! CPU time from `/proc/self/stat` (`utime + stime`, in clock ticks) and resident memory from
//! `/proc/self/status` (`VmRSS`, in kB, so the page size does not matter: Android has 4 KB and
//! 16 KB pages). Elsewhere (Apple platforms) the sampler is inert; the iOS glue records the app's
//! memory itself (`Heap`, from `task_vm_info`). The `sysinfo` crate did this before, at about
//! 110 KB of the shipped library (BENCHMARKS.md), for two figures that only the snapshot shows.
//!
//! The clock tick is `USER_HZ`, which the Linux kernel fixes at 100 in its user ABI on every
//! architecture Android runs on (arm, arm64, x86, x86_64); `sysconf(_SC_CLK_TCK)` answers 100
//! there, and reading it would need FFI.

use std::time::Instant;

use crate::MetricSample;

/// Clock ticks per second of the CPU times in `/proc/self/stat` (`USER_HZ`; see the module docs).
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

/// Samples the current process. CPU use is measured between two samples, so the first one
/// reports 0 % (there is no earlier reading to measure from).
#[derive(Debug)]
pub struct ProcessSampler {
    /// Whether the platform exposes the process (procfs).
    available: bool,
    /// CPU ticks and the time of the last reading.
    last: Option<(u64, Instant)>,
}

impl Default for ProcessSampler {
    fn default() -> Self {
        Self::new()
    }
}

impl ProcessSampler {
    /// A sampler for the current process (inert if the platform does not expose it).
    pub fn new() -> Self {
        ProcessSampler { available: cfg!(any(target_os = "linux", target_os = "android")), last: None }
    }

    /// A `ProcessUsage` sample, or None where the platform does not expose the process (or a
    /// file could not be read or parsed).
    pub fn sample(&mut self) -> Option<MetricSample> {
        if !self.available {
            return None;
        }
        let ticks = cpu_ticks(&std::fs::read_to_string("/proc/self/stat").ok()?)?;
        let resident_kb = resident_kb(&std::fs::read_to_string("/proc/self/status").ok()?)?;
        let now = Instant::now();
        let cpu_percent = match self.last {
            Some((before, at)) => {
                let seconds = now.duration_since(at).as_secs_f64();
                let used = ticks.saturating_sub(before) as f64 / CLOCK_TICKS_PER_SECOND;
                if seconds > 0.0 {
                    used / seconds * 100.0
                } else {
                    0.0
                }
            }
            None => 0.0,
        };
        self.last = Some((ticks, now));
        let sample = MetricSample::ProcessUsage { cpu_percent, resident_mb: resident_kb as f64 / 1024.0 };
        sample.validate().ok().map(|()| sample)
    }
}

/// `utime + stime` from the text of `/proc/<pid>/stat`: the 14th and 15th fields, counted after
/// the command name, which is in parentheses and may itself hold spaces and parentheses (so the
/// fields are read after its last `)`).
fn cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // After the name: field 3 (state) is the first; utime and stime are fields 14 and 15.
    let mut fields = rest.split_ascii_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    utime.checked_add(stime)
}

/// `VmRSS` in kB from the text of `/proc/<pid>/status`.
fn resident_kb(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut parts = line["VmRSS:".len()..].split_ascii_whitespace();
    let kb = parts.next()?.parse().ok()?;
    (parts.next() == Some("kB")).then_some(kb)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_times_are_read_after_the_last_parenthesis_of_the_name() {
        // A name with a space and a parenthesis; utime 1234 and stime 56 are fields 14 and 15.
        let stat = "4242 (meshtune (x) y) S 1 4242 4242 0 -1 4194304 1000 0 0 0 1234 56 0 0 20 0 3 0 99 1 2\n";
        assert_eq!(cpu_ticks(stat), Some(1_290));
        assert_eq!(cpu_ticks("4242 (short) S 1 2 3"), None, "too few fields");
        assert_eq!(cpu_ticks("no name at all"), None);
        let bad = "4242 (a) S 1 4242 4242 0 -1 4194304 1000 0 0 0 -5 56 0";
        assert_eq!(cpu_ticks(bad), None, "a negative time is not a time");
    }

    #[test]
    fn the_resident_size_is_vmrss_in_kb() {
        let status = "Name:\tmeshtune\nVmPeak:\t  900 kB\nVmRSS:\t   20480 kB\nThreads:\t3\n";
        assert_eq!(resident_kb(status), Some(20_480));
        assert_eq!(resident_kb("Name:\tkthreadd\nThreads:\t1\n"), None, "kernel threads have no VmRSS");
        assert_eq!(resident_kb("VmRSS:\t12 pages\n"), None, "an unknown unit");
    }

    #[test]
    fn samples_this_process_with_plausible_figures() {
        let mut s = ProcessSampler::new();
        match s.sample() {
            Some(MetricSample::ProcessUsage { resident_mb, cpu_percent }) => {
                assert!(resident_mb > 1.0, "{resident_mb}");
                assert_eq!(cpu_percent, 0.0, "the first sample has nothing to measure from");
            }
            other => panic!("{other:?}"),
        }
        // Burn CPU until the process's own CPU time has moved on by a few ticks (however loaded
        // the machine), then sample again: the share must be above zero.
        let ticks = || cpu_ticks(&std::fs::read_to_string("/proc/self/stat").unwrap()).unwrap();
        let (from, start) = (ticks(), Instant::now());
        let mut x = 0u64;
        while ticks() < from + 3 && start.elapsed().as_secs() < 60 {
            for _ in 0..100_000 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            }
        }
        std::hint::black_box(x);
        match s.sample() {
            Some(MetricSample::ProcessUsage { cpu_percent, .. }) => assert!(cpu_percent > 0.0, "{cpu_percent}"),
            other => panic!("{other:?}"),
        }
    }
}

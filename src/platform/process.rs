#![forbid(unsafe_code)]
//! This process's CPU and resident memory, read with sysinfo (only this process is refreshed,
//! never the whole process table).

use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

use crate::MetricSample;

/// Samples the current process. CPU use is measured between two refreshes, so the first call
/// reports the CPU share since process start as sysinfo computes it (often 0).
pub struct ProcessSampler {
    system: Option<System>,
    pid: Option<Pid>,
}

impl std::fmt::Debug for ProcessSampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessSampler").field("pid", &self.pid).finish()
    }
}

impl Default for ProcessSampler {
    fn default() -> Self {
        Self::new()
    }
}

impl ProcessSampler {
    /// A sampler for the current process (inert if the platform does not expose it).
    pub fn new() -> Self {
        ProcessSampler { system: System::new().ok(), pid: sysinfo::get_current_pid().ok() }
    }

    /// A `ProcessUsage` sample, or None where the platform does not expose the process.
    pub fn sample(&mut self) -> Option<MetricSample> {
        let pid = self.pid?;
        let system = self.system.as_mut()?;
        system.refresh_processes_specifics(
            ProcessesToUpdate::Some(&[pid]),
            false,
            ProcessRefreshKind::nothing().with_cpu().with_memory(),
        );
        let p = system.process(pid)?;
        let cpu = f64::from(p.cpu_usage());
        let resident_mb = p.memory() as f64 / (1024.0 * 1024.0);
        let sample =
            MetricSample::ProcessUsage { cpu_percent: if cpu.is_finite() { cpu.max(0.0) } else { 0.0 }, resident_mb };
        sample.validate().ok().map(|()| sample)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_this_process_with_plausible_memory() {
        let mut s = ProcessSampler::new();
        match s.sample() {
            Some(MetricSample::ProcessUsage { resident_mb, cpu_percent }) => {
                assert!(resident_mb > 1.0, "{resident_mb}");
                assert!(cpu_percent >= 0.0);
            }
            other => panic!("{other:?}"),
        }
    }
}

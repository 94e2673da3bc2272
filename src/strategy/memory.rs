#![forbid(unsafe_code)]
//! Memory: heap above `heap_pressure_ratio` of the budget, or platform pressure → trim caches,
//! pool objects, and (when critical or over budget) request a garbage collection; restored when
//! the pressure is gone. Platform `Critical` pressure is a safety constraint.

use super::{Hysteresis, OptimizationStrategy, Proposal, StrategyContext};
use crate::{MemoryPressureLevel, OptimizationAction, PerformanceMetrics, Priority, TargetMetric};

/// Relieves memory pressure.
#[derive(Debug, Default)]
pub struct MemoryStrategy {
    heap_high: Hysteresis,
}

impl OptimizationStrategy for MemoryStrategy {
    fn name(&self) -> &str {
        "memory"
    }

    fn should_apply(&mut self, m: &PerformanceMetrics, ctx: &StrategyContext<'_>) -> bool {
        let c = ctx.config;
        if let Some(used) = m.memory_usage.heap_used_mb {
            let enter = c.max_heap_mb * c.heap_pressure_ratio;
            self.heap_high.above(used, enter, enter * c.hysteresis_ratio);
        }
        self.heap_high.engaged() || m.memory_usage.pressure != MemoryPressureLevel::Normal
    }

    fn propose(&mut self, m: &PerformanceMetrics, ctx: &StrategyContext<'_>) -> Vec<Proposal> {
        let c = ctx.config;
        let pressure = m.memory_usage.pressure;
        let over_budget = m.memory_usage.heap_used_mb.is_some_and(|u| u >= c.max_heap_mb);
        let heap_text = match m.memory_usage.heap_used_mb {
            Some(u) => format!(
                "heap {u:.0} MB of budget {:.0} MB (acts above {:.0} MB)",
                c.max_heap_mb,
                c.max_heap_mb * c.heap_pressure_ratio
            ),
            None => "no heap sample".to_owned(),
        };
        let reason = format!("memory pressure {pressure:?}, {heap_text}");
        let (priority, mut percent, gc) = if pressure == MemoryPressureLevel::Critical {
            (Priority::Safety, c.trim_critical_percent, true)
        } else if over_budget {
            (Priority::SloRepair, c.trim_critical_percent, true)
        } else {
            (Priority::SloRepair, c.trim_moderate_percent, false)
        };
        // Calm: a deeper trim in place is not stepped down while the heap is still high (held
        // only by the exit threshold): stepping down would bring the heap back over the
        // threshold, and the measurement would revert it, again and again.
        let entered = m.memory_usage.heap_used_mb.is_some_and(|u| u > c.max_heap_mb * c.heap_pressure_ratio);
        if let Some(OptimizationAction::TrimCaches { percent: current }) = ctx.current(crate::Knob::CacheTrim) {
            if pressure == MemoryPressureLevel::Normal && !entered && *current > percent {
                percent = *current;
            }
        }
        let p = |action| Proposal { action, priority, metric: TargetMetric::HeapUsedMb, reason: reason.clone() };
        let mut out = vec![
            p(OptimizationAction::TrimCaches { percent }),
            p(OptimizationAction::SetObjectPooling { enabled: true }),
        ];
        if gc {
            out.push(p(OptimizationAction::RequestGarbageCollection));
        }
        out
    }
}

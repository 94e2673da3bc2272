#![forbid(unsafe_code)]
//! Holding a repair after its metric recovers, longer each time releasing it too early led
//! straight back to a breach.
//!
//! Hysteresis alone cannot stop one kind of flapping: when the repair is *why* the metric is
//! healthy, the metric recovers, the repair is released, the metric breaches again, and the
//! cycle repeats every few minutes (the simulator showed about 80 knob changes per phone-hour on
//! its `commute` scenario). A [`RepairHold`] keeps the repair for `repair_hold_ms` after the last
//! breach; when a breach returns within `repair_relapse_window_ms` of a release, the next hold
//! doubles (up to `repair_hold_max_ms`). A release that stays healthy resets it.
//!
//! ```
//! use meshtune::strategy::RepairHold;
//! use meshtune::OptimizerConfig;
//! let c = OptimizerConfig { repair_hold_ms: 60_000, ..OptimizerConfig::default() };
//! let mut h = RepairHold::default();
//! assert!(h.update(true, 0, &c));        // breach: repair on
//! assert!(h.update(false, 30_000, &c));  // recovered, but held
//! assert!(!h.update(false, 60_000, &c)); // released after the hold
//! assert!(h.update(true, 90_000, &c));   // relapse soon after the release...
//! assert_eq!(h.hold_ms(), 120_000);      // ...doubles the next hold
//! ```

use crate::OptimizerConfig;

/// The hold state of one repair.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RepairHold {
    active: bool,
    last_breach_ms: u64,
    hold_ms: u64,
    released_ms: Option<u64>,
}

impl RepairHold {
    /// Feeds whether the breach condition holds now; returns whether the repair stays on.
    pub fn update(&mut self, breach: bool, now_ms: u64, c: &OptimizerConfig) -> bool {
        if breach {
            if !self.active {
                self.active = true;
                self.hold_ms = match self.released_ms {
                    Some(r) if now_ms.saturating_sub(r) <= c.repair_relapse_window_ms => {
                        self.hold_ms.saturating_mul(2).clamp(c.repair_hold_ms, c.repair_hold_max_ms)
                    }
                    _ => c.repair_hold_ms,
                };
            }
            self.last_breach_ms = now_ms;
            return true;
        }
        if self.active && now_ms.saturating_sub(self.last_breach_ms) < self.hold_ms {
            return true;
        }
        if self.active {
            self.active = false;
            self.released_ms = Some(now_ms);
        }
        false
    }

    /// Whether the repair is on only because of the hold (the breach itself is over).
    pub fn holding(&self, breach: bool) -> bool {
        self.active && !breach
    }

    /// The current hold, ms.
    pub fn hold_ms(&self) -> u64 {
        self.hold_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_healthy_release_resets_the_hold_and_the_cap_holds() {
        let c = OptimizerConfig {
            repair_hold_ms: 10_000,
            repair_hold_max_ms: 40_000,
            repair_relapse_window_ms: 100_000,
            ..OptimizerConfig::default()
        };
        let mut h = RepairHold::default();
        let mut t = 0;
        // Relapse after every release: 10 s, 20 s, 40 s, then capped at 40 s.
        for expected in [10_000, 20_000, 40_000, 40_000] {
            assert!(h.update(true, t, &c));
            assert_eq!(h.hold_ms(), expected);
            t += 1_000;
            assert!(h.update(false, t, &c));
            assert!(h.holding(false));
            t += expected;
            assert!(!h.update(false, t, &c), "released after {expected}");
            t += 5_000;
        }
        // A release that stays healthy past the relapse window: back to the base hold.
        t += 200_000;
        assert!(h.update(true, t, &c));
        assert_eq!(h.hold_ms(), 10_000);
    }
}

#![forbid(unsafe_code)]
//! The tick interval, adapted to how much is going on.
//!
//! The ancestor's AdaptiveIntervalTuning halved or doubled its monitoring interval on a CPU
//! figure, without bounds that held. Here the interval is the minimum while anything needs
//! attention (a change just made, an action awaiting acknowledgement or verification, a wanted
//! change held back by a dwell, the rate cap or a back-off) and doubles on every quiet tick up
//! to the maximum, so an idle optimizer, or one whose repair is fully in place, wakes rarely,
//! and a busy one acts within `min_tick_interval_ms`.

/// Current tick interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdaptiveTick {
    interval_ms: u64,
}

impl AdaptiveTick {
    /// Starts at the minimum: the first minutes of a session matter.
    pub fn new(min_ms: u64) -> Self {
        AdaptiveTick { interval_ms: min_ms.max(1) }
    }

    /// The interval until the next tick.
    pub fn interval_ms(&self) -> u64 {
        self.interval_ms
    }

    /// Updates after a tick: busy → minimum, quiet → double (bounded by the maximum).
    pub fn update(&mut self, busy: bool, min_ms: u64, max_ms: u64) -> u64 {
        let min_ms = min_ms.max(1);
        self.interval_ms =
            if busy { min_ms } else { self.interval_ms.saturating_mul(2).clamp(min_ms, max_ms.max(min_ms)) };
        self.interval_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_when_quiet_and_snaps_back_when_busy() {
        let mut t = AdaptiveTick::new(1_000);
        assert_eq!(t.update(false, 1_000, 30_000), 2_000);
        assert_eq!(t.update(false, 1_000, 30_000), 4_000);
        for _ in 0..10 {
            t.update(false, 1_000, 30_000);
        }
        assert_eq!(t.interval_ms(), 30_000);
        assert_eq!(t.update(true, 1_000, 30_000), 1_000);
    }
}

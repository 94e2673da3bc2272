#![forbid(unsafe_code)]
//! Enter/exit thresholds: a condition switches on above (or below) one threshold and off only
//! past another, so noise around a single threshold cannot flap a knob.

/// Remembers whether a condition is engaged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hysteresis {
    engaged: bool,
}

impl Hysteresis {
    /// Whether the condition is on.
    pub fn engaged(&self) -> bool {
        self.engaged
    }

    /// For "too high" conditions: on when `value > enter`, off when `value < exit` (exit ≤ enter).
    pub fn above(&mut self, value: f64, enter: f64, exit: f64) -> bool {
        if value > enter {
            self.engaged = true;
        } else if value < exit {
            self.engaged = false;
        }
        self.engaged
    }

    /// For "too low" conditions: on when `value < enter`, off when `value > exit` (exit ≥ enter).
    pub fn below(&mut self, value: f64, enter: f64, exit: f64) -> bool {
        if value < enter {
            self.engaged = true;
        } else if value > exit {
            self.engaged = false;
        }
        self.engaged
    }

    /// For "at or below" conditions (battery levels): on when `value <= enter`, off when
    /// `value > exit`.
    pub fn at_or_below(&mut self, value: f64, enter: f64, exit: f64) -> bool {
        if value <= enter {
            self.engaged = true;
        } else if value > exit {
            self.engaged = false;
        }
        self.engaged
    }

    /// For conditions judged with an interval (`engine::stats`): on when `Breached`, off when
    /// `Met`, unchanged when `Unclear`.
    pub fn judged(&mut self, judgement: crate::engine::stats::SloJudgement) -> bool {
        use crate::engine::stats::SloJudgement as J;
        match judgement {
            J::Breached => self.engaged = true,
            J::Met => self.engaged = false,
            J::Unclear => {}
        }
        self.engaged
    }

    /// Switches the condition off.
    pub fn reset(&mut self) {
        self.engaged = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_between_thresholds_keeps_state() {
        let mut h = Hysteresis::default();
        assert!(!h.above(95.0, 100.0, 80.0));
        assert!(h.above(101.0, 100.0, 80.0));
        for v in [99.0, 85.0, 81.0, 100.0, 80.0] {
            assert!(h.above(v, 100.0, 80.0), "{v}");
        }
        assert!(!h.above(79.9, 100.0, 80.0));
        assert!(h.below(9.0, 10.0, 15.0));
        assert!(h.below(14.0, 10.0, 15.0));
        assert!(!h.below(15.5, 10.0, 15.0));
        assert!(h.at_or_below(10.0, 10.0, 15.0));
    }
}

//! The delivery scoreboard of a run: every intended delivery is counted, and a lost message is
//! a late one.
//!
//! An *intended delivery* is a message × a recipient that was in the mesh when it was sent
//! (not away on a train or out of the venue). Recipients whose phone is off because of the
//! policy's own doing (an empty battery, a process killed for memory, a thermal shutdown) stay
//! intended: their messages are lost, not forgiven. A delivery is *on time* when it arrived
//! within the scenario's deadline.
//!
//! ```
//! use meshtune_sim::score::Score;
//! let mut s = Score::new(100.0);
//! s.intended(4);
//! s.delivered(40.0);
//! s.delivered(250.0); // arrived, but late
//! assert_eq!(s.on_time_ratio(), 0.25);
//! assert_eq!(s.delivery_ratio(), 0.5);
//! // Half of the intended deliveries never arrived: the p75 is infinitely late.
//! assert_eq!(s.latency_quantile_ms(0.75), None);
//! assert!(s.latency_quantile_ms(0.5).is_some());
//! ```

use meshtune::metrics::sketch::LogHistogram;

/// Counts of one run (and of the current minute), with the deadline they are judged by.
#[derive(Debug, Clone)]
pub struct Score {
    deadline_ms: f64,
    intended: u64,
    delivered: u64,
    on_time: u64,
    latency: LogHistogram,
    minute_intended: u64,
    minute_on_time: u64,
}

impl Score {
    /// A scoreboard for a deadline, ms.
    pub fn new(deadline_ms: f64) -> Score {
        Score {
            deadline_ms,
            intended: 0,
            delivered: 0,
            on_time: 0,
            latency: LogHistogram::new(),
            minute_intended: 0,
            minute_on_time: 0,
        }
    }

    /// `n` more intended deliveries (one message, `n` recipients in the mesh).
    pub fn intended(&mut self, n: u64) {
        self.intended += n;
        self.minute_intended += n;
    }

    /// One intended delivery arrived after `latency_ms`. Returns whether it was on time.
    pub fn delivered(&mut self, latency_ms: f64) -> bool {
        self.delivered += 1;
        self.latency.record(latency_ms);
        let on_time = latency_ms <= self.deadline_ms;
        if on_time {
            self.on_time += 1;
            self.minute_on_time += 1;
        }
        on_time
    }

    /// Closes a minute: its intended deliveries and those on time, then starts the next.
    pub fn close_minute(&mut self) -> (u64, u64) {
        let m = (self.minute_intended, self.minute_on_time);
        self.minute_intended = 0;
        self.minute_on_time = 0;
        m
    }

    /// Intended deliveries so far.
    pub fn intended_count(&self) -> u64 {
        self.intended
    }

    /// Deliveries that arrived at all.
    pub fn delivered_count(&self) -> u64 {
        self.delivered
    }

    /// Deliveries that arrived within the deadline.
    pub fn on_time_count(&self) -> u64 {
        self.on_time
    }

    /// On-time deliveries over intended deliveries (0 when nothing was intended).
    pub fn on_time_ratio(&self) -> f64 {
        ratio(self.on_time, self.intended)
    }

    /// Deliveries that arrived at all over intended deliveries.
    pub fn delivery_ratio(&self) -> f64 {
        ratio(self.delivered, self.intended)
    }

    /// Latency quantile `q` (0 < q ≤ 1) over every intended delivery, a lost one counting as
    /// infinitely late: None when the quantile falls among the lost (or nothing was intended).
    pub fn latency_quantile_ms(&self, q: f64) -> Option<f64> {
        if self.intended == 0 || self.delivered == 0 {
            return None;
        }
        let rank = q * self.intended as f64;
        if rank > self.delivered as f64 {
            return None;
        }
        let per_mille = (rank / self.delivered as f64 * 1000.0).round().clamp(1.0, 1000.0) as u32;
        self.latency.quantile(per_mille)
    }
}

/// `a / b`, 0 when `b` is 0.
pub fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn losses_lower_the_on_time_ratio_and_push_quantiles_to_infinity() {
        let mut s = Score::new(100.0);
        s.intended(100);
        for _ in 0..96 {
            s.delivered(50.0);
        }
        assert_eq!(s.on_time_ratio(), 0.96);
        assert!(s.latency_quantile_ms(0.95).is_some());
        // Four more intended deliveries that never arrive: 96/104 < 95 %.
        s.intended(4);
        assert!(s.on_time_ratio() < 0.95);
        assert!(s.latency_quantile_ms(0.95).is_none(), "the p95 now falls among the lost");
        assert!(s.latency_quantile_ms(0.5).is_some());
    }

    #[test]
    fn a_late_delivery_counts_as_delivered_but_not_on_time() {
        let mut s = Score::new(100.0);
        s.intended(2);
        assert!(s.delivered(100.0), "at the deadline is on time");
        assert!(!s.delivered(100.5));
        assert_eq!((s.delivery_ratio(), s.on_time_ratio()), (1.0, 0.5));
        assert_eq!(s.close_minute(), (2, 1));
        assert_eq!(s.close_minute(), (0, 0));
        assert_eq!(Score::new(1.0).on_time_ratio(), 0.0);
    }
}

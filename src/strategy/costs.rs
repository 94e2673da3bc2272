#![forbid(unsafe_code)]
//! The default energy cost of each repair move: the extra mean current, in mA, that the move
//! adds to a phone in the baseline profile (balanced scan 8 s on / 2 s off, balanced
//! advertising at medium power, balanced connection priority, 8 connections). The latency
//! repair buys moves in this order, cheapest first, one at a time, each measured before the next.
//!
//! The figures are estimates from the sources in `shared/REFERENCE.md`, rounded; they order the
//! moves, they are not a measurement of any phone:
//!
//! | move | extra mA | reasoning |
//! |---|---|---|
//! | compression of large messages | 0.01 | CPU only, on the few large messages; less airtime |
//! | advertising low latency at high power | 0.1 | 100 ms instead of 250 ms; one advertising event ≈ 6 µA averaged at a 1 s interval (nRF52), host asleep |
//! | more connections (8 → `network_max_connections`) | 0.5 | ≈ 0.125 mA a link at a 40 ms interval (one ≈ 1 ms event at ≈ 5 mA), four more links where peers exist |
//! | connection priority high | 1.1 | 11.25–15 ms instead of 30–50 ms: ≈ 3× the connection events, ≈ +0.28 mA a link over about four links |
//! | continuous low-latency scanning | 10 | 100 % duty instead of 80 % × 25 %; AOSP's attribution weights 100 against 25, whole-phone drains of tens of mA for unfiltered scans, under a tenth with hardware filters |
//!
//! The engine does not yet learn these costs or the moves' effects from a phone's own outcomes
//! (issue 11, item 2): a move whose measurement showed no effect or harm backs off instead.

use crate::{AdvertiseMode, ConnectionPriority, OptimizationAction, OptimizerConfig, ScanMode, TxPower};

/// One repair move and its default cost.
#[derive(Debug, Clone, PartialEq)]
pub struct RepairMove {
    /// The setting.
    pub action: OptimizationAction,
    /// Extra mean current over the baseline profile, mA (the table above).
    pub extra_ma: f64,
}

/// The repair moves for on-time delivery, cheapest first. The scanner is included only when
/// `with_scanner` (discovery is slow and the phone is not saving power).
pub fn repair_moves(c: &OptimizerConfig, with_scanner: bool) -> Vec<RepairMove> {
    let mut moves = vec![
        RepairMove {
            action: OptimizationAction::SetCompression { enabled: true, min_size_bytes: c.compression_min_size_bytes },
            extra_ma: 0.01,
        },
        RepairMove {
            action: OptimizationAction::SetAdvertising { mode: AdvertiseMode::LowLatency, tx_power: TxPower::High },
            extra_ma: 0.1,
        },
        RepairMove { action: OptimizationAction::SetMaxConnections { max: c.network_max_connections }, extra_ma: 0.5 },
        RepairMove {
            action: OptimizationAction::SetConnectionPriority { priority: ConnectionPriority::High },
            extra_ma: 1.1,
        },
    ];
    if with_scanner {
        moves.push(RepairMove {
            action: OptimizationAction::SetScanMode { mode: ScanMode::LowLatency, duty_on_ms: 10_000, duty_off_ms: 0 },
            extra_ma: 10.0,
        });
    }
    moves.sort_by(|a, b| a.extra_ma.total_cmp(&b.extra_ma));
    moves
}

/// Current of continuous low-latency scanning, mA (the scanner move's figure above).
pub const SCAN_CONTINUOUS_MA: f64 = 10.0;
/// Links assumed when the app has not reported its connected peers.
const ASSUMED_LINKS: u32 = 4;

/// The estimated mean current of the mesh's radio work under `profile` (indexed by
/// `Knob::index()`), mA, by the table above: scanning by its duty (AOSP's windows: low power
/// 10 %, balanced 25 %, low latency 100 %, opportunistic 0, times the on-share of the duty
/// cycle), advertising by its interval, connections by their interval over `links` links.
pub fn profile_ma(profile: &[OptimizationAction], links: Option<u32>) -> f64 {
    let links = f64::from(links.unwrap_or(ASSUMED_LINKS));
    let mut ma = 0.0;
    let mut max_links = f64::INFINITY;
    let mut per_link = 0.125;
    for a in profile {
        match a {
            OptimizationAction::SetScanMode { mode, duty_on_ms, duty_off_ms } => {
                let duty = match mode {
                    ScanMode::LowPower => 0.10,
                    ScanMode::Balanced => 0.25,
                    ScanMode::LowLatency => 1.0,
                    ScanMode::Opportunistic => 0.0,
                };
                let period = f64::from(*duty_on_ms) + f64::from(*duty_off_ms);
                let on = if period > 0.0 { f64::from(*duty_on_ms) / period } else { 0.0 };
                ma += SCAN_CONTINUOUS_MA * duty * on;
            }
            OptimizationAction::SetAdvertising { mode, .. } => {
                ma += match mode {
                    AdvertiseMode::LowLatency => 0.14,
                    AdvertiseMode::Balanced => 0.04,
                    AdvertiseMode::LowPower => 0.01,
                };
            }
            OptimizationAction::SetConnectionPriority { priority } => {
                per_link = match priority {
                    ConnectionPriority::High => 0.4,
                    ConnectionPriority::Balanced => 0.125,
                    ConnectionPriority::LowPower => 0.04,
                };
            }
            OptimizationAction::SetMaxConnections { max } => max_links = f64::from(*max),
            _ => {}
        }
    }
    ma + per_link * links.min(max_links)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_come_cheapest_first_and_the_scanner_only_when_asked() {
        let c = OptimizerConfig::default();
        let with = repair_moves(&c, true);
        assert!(with.windows(2).all(|w| w[0].extra_ma <= w[1].extra_ma));
        assert!(matches!(with.last().map(|m| &m.action), Some(OptimizationAction::SetScanMode { .. })));
        let without = repair_moves(&c, false);
        assert_eq!(without.len() + 1, with.len());
        assert!(without.iter().all(|m| !matches!(m.action, OptimizationAction::SetScanMode { .. })));
    }

    #[test]
    fn profile_current_follows_the_table() {
        use crate::strategy::PowerMode;
        let saver: Vec<OptimizationAction> = PowerMode::PowerSaver.actions().to_vec();
        let performance: Vec<OptimizationAction> = PowerMode::Performance.actions().to_vec();
        let (s, p) = (profile_ma(&saver, Some(4)), profile_ma(&performance, Some(4)));
        // Saver: 10 mA × 10 % × 2/30 + 0.01 + 0.04 × 4 ≈ 0.24 mA; performance: 10 + 0.14 + 0.5 ≈ 10.6 mA.
        assert!((s - 0.237).abs() < 0.01, "{s}");
        assert!((p - 10.64).abs() < 0.01, "{p}");
        assert!(profile_ma(&performance, Some(0)) < p);
    }
}

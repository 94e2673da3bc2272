#![forbid(unsafe_code)]
//! The energy cost of each repair move: the extra mean current, in mA, that the move
//! adds to a phone in the baseline profile (balanced scan 8 s on / 2 s off, balanced
//! advertising at medium power, balanced connection priority, 8 connections). The latency
//! repair buys moves in this order, cheapest first, one at a time, each measured before the next.
//!
//! The defaults are estimates from the sources in `shared/REFERENCE.md`, rounded; they order the
//! moves, they are not a measurement of any phone. A team that measured its own phone sets them
//! in the configuration (`repair_cost_*_ma`):
//!
//! | move (config key) | default extra mA | reasoning |
//! |---|---|---|
//! | compression of large messages (`repair_cost_compression_ma`) | 0.01 | CPU only, on the few large messages; less airtime |
//! | advertising low latency at high power (`repair_cost_fast_advertising_ma`) | 0.1 | 100 ms instead of 250 ms; one advertising event ≈ 6 µA averaged at a 1 s interval (nRF52), host asleep |
//! | more connections, 8 → `network_max_connections` (`repair_cost_more_connections_ma`) | 0.5 | ≈ 0.125 mA a link at a 40 ms interval (one ≈ 1 ms event at ≈ 5 mA), four more links where peers exist |
//! | connection priority high (`repair_cost_high_priority_ma`) | 1.1 | 11.25–15 ms instead of 30–50 ms: ≈ 3× the connection events, ≈ +0.28 mA a link over about four links |
//! | continuous low-latency scanning (`repair_cost_continuous_scan_ma`) | 10 | 100 % duty instead of 80 % × 25 %; AOSP's attribution weights 100 against 25, whole-phone drains of tens of mA for unfiltered scans, under a tenth with hardware filters |
//!
//! The engine learns the moves' effects from the phone's own outcomes (the network strategy's
//! learned state), not their costs.

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
            extra_ma: c.repair_cost_compression_ma,
        },
        RepairMove {
            action: OptimizationAction::SetAdvertising { mode: AdvertiseMode::LowLatency, tx_power: TxPower::High },
            extra_ma: c.repair_cost_fast_advertising_ma,
        },
        RepairMove {
            action: OptimizationAction::SetMaxConnections { max: c.network_max_connections },
            extra_ma: c.repair_cost_more_connections_ma,
        },
        RepairMove {
            action: OptimizationAction::SetConnectionPriority { priority: ConnectionPriority::High },
            extra_ma: c.repair_cost_high_priority_ma,
        },
    ];
    if with_scanner {
        moves.push(RepairMove {
            action: OptimizationAction::SetScanMode { mode: ScanMode::LowLatency, duty_on_ms: 10_000, duty_off_ms: 0 },
            extra_ma: c.repair_cost_continuous_scan_ma,
        });
    }
    moves.sort_by(|a, b| a.extra_ma.total_cmp(&b.extra_ma));
    moves
}

/// Links assumed when the app has not reported its connected peers.
const ASSUMED_LINKS: u32 = 4;

/// The estimated mean current of the mesh's radio work under `profile` (indexed by
/// `Knob::index()`), mA, by the table above: scanning by its duty (AOSP's windows: low power
/// 10 %, balanced 25 %, low latency 100 %, opportunistic 0, times the on-share of the duty
/// cycle), advertising by its interval, connections by their interval over `links` links.
/// `scan_continuous_ma` is the current of continuous low-latency scanning
/// (`repair_cost_continuous_scan_ma`).
pub fn profile_ma(profile: &[OptimizationAction], links: Option<u32>, scan_continuous_ma: f64) -> f64 {
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
                ma += scan_continuous_ma * duty * on;
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
        // A phone whose own figures make compression dear: it comes last but the scanner.
        let dear = OptimizerConfig { repair_cost_compression_ma: 5.0, ..OptimizerConfig::default() };
        let order: Vec<crate::Knob> = repair_moves(&dear, true).iter().map(|m| m.action.knob()).collect();
        assert_eq!(
            order,
            [
                crate::Knob::Advertising,
                crate::Knob::MaxConnections,
                crate::Knob::ConnectionPriority,
                crate::Knob::Compression,
                crate::Knob::ScanMode
            ]
        );
    }

    #[test]
    fn profile_current_follows_the_table() {
        use crate::strategy::PowerMode;
        let saver: Vec<OptimizationAction> = PowerMode::PowerSaver.actions().to_vec();
        let performance: Vec<OptimizationAction> = PowerMode::Performance.actions().to_vec();
        let (s, p) = (profile_ma(&saver, Some(4), 10.0), profile_ma(&performance, Some(4), 10.0));
        // Saver: 10 mA × 10 % × 2/30 + 0.01 + 0.04 × 4 ≈ 0.24 mA; performance: 10 + 0.14 + 0.5 ≈ 10.6 mA.
        assert!((s - 0.237).abs() < 0.01, "{s}");
        assert!((p - 10.64).abs() < 0.01, "{p}");
        assert!(profile_ma(&performance, Some(0), 10.0) < p);
    }
}

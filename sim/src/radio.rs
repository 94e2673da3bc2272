//! The radio and power model: every parameter with its source, as one [`RadioModel`] value.
//! What the OS does on top of the radio (scan table, caps, quota, heat) is [`crate::platform`].
//!
//! Where published figures vary between devices, the default is a documented middle and the
//! value is a field, so a scenario or a test can change it. A parameter changes only with a
//! documented reason, never to flatter a policy.
//!
//! ```
//! use meshtune::TxPower;
//! use meshtune_sim::radio::RadioModel;
//! let m = RadioModel::default();
//! // An advertiser at MEDIUM power (-7 dBm) reaches a few tens of metres, not hundreds.
//! let r = m.range_m(m.tx_power_dbm(TxPower::Medium));
//! assert!(r > 5.0 && r < 40.0, "{r}");
//! ```

use meshtune::{AdvertiseMode, ConnectionPriority, TxPower};

use crate::platform::{PlatformModel, ScanSchedule};

/// All parameters of the radio, loss, energy and thermal model.
#[derive(Debug, Clone, PartialEq)]
pub struct RadioModel {
    /// Effective path loss at 1 m between two phones, dB, with transmit power taken as the
    /// nominal Android level: 60. Free space at 2.44 GHz is 40 dB (20·log10(4π·1 m / 0.123 m));
    /// phones lose about 20 dB more in their antennas, cases and hands. Sources: the OpenTrace
    /// calibration data (opentrace-community/opentrace-calibration, anechoic chamber, 21
    /// phones advertising at `ADVERTISE_TX_POWER_HIGH` (+1 dBm) measured at 2 m: median
    /// −59.5 dBm, so about 14 dB lost at the transmitting phone alone, spread ±5 dB between
    /// models); beacon vendors' calibration charts (0 dBm → −59 dBm at a phone 1 m away). Leith
    /// and Farrell (PLOS ONE 2021) found ±10 dB more from who holds the phones. Range 55–70.
    pub path_loss_1m_db: f64,
    /// Log-distance path-loss exponent. Indoor and crowd BLE measurements report 2 to 3.5
    /// (bodies absorb 2.4 GHz); 2.7 is the middle used here.
    pub path_loss_exponent: f64,
    /// Standard deviation of per-link shadowing, dB (log-normal shadowing; 4–8 dB is typical
    /// indoors, 4 is used for phones in the open).
    pub shadowing_sigma_db: f64,
    /// Receiver sensitivity, dBm, for the LE 1M PHY. Phone datasheets give -90 to -97; the core
    /// specification requires -70. -94 is the middle of phone figures.
    pub sensitivity_dbm: f64,
    /// A connection is dropped when its RSSI falls below sensitivity + this margin, dB (links at
    /// the edge hit the supervision timeout).
    pub disconnect_margin_db: f64,
    /// Share of transmission attempts lost at zero margin above sensitivity; it falls tenfold
    /// per `loss_margin_decade_db` of margin (the shape of PER-versus-RSSI curves).
    pub loss_at_sensitivity: f64,
    /// Margin, dB, that divides the attempt loss by ten.
    pub loss_margin_decade_db: f64,
    /// Effective independent channels for collisions of data packets. LE hops over 37 data
    /// channels; adaptive frequency hopping drops those under Wi-Fi, which in busy places
    /// leaves 10–20 in use. 10 is the conservative end. An attempt collides with probability
    /// 1 − exp(−2·G / channels) under load G (share of airtime some neighbour transmits), the
    /// unslotted ALOHA form.
    pub collision_channels: f64,
    /// The link layer acknowledges every data packet and retransmits at the next connection
    /// event; a transfer is lost only when this many attempts in a row fail (the connection
    /// then hits its supervision timeout).
    pub max_attempts: u32,
    /// Packets the host and controller buffer per connection. A transfer is dropped when the
    /// queue is full: the M/M/1/K overflow probability at the airtime load (Android drops
    /// notifications when the controller's buffers are full).
    pub queue_packets: u32,
    /// Airtime of one advertising PDU on one channel, ms (31-byte payload at 1 Mbit/s plus
    /// preamble, address, header and CRC: about 376 µs).
    pub adv_pdu_ms: f64,
    /// Largest LL payload per packet, bytes, with Data Length Extension (Android 7+, iOS 10+).
    pub ll_payload_bytes: f64,
    /// Per-packet LL overhead, bytes (preamble 1, access address 4, header 2, MIC 4, CRC 3).
    pub ll_overhead_bytes: f64,
    /// Inter-frame space plus the empty acknowledgement packet, µs (150 + 80 + 150).
    pub ll_turnaround_us: f64,
    /// ATT + L2CAP headers of one GATT write or notification, bytes (3 + 4).
    pub gatt_header_bytes: f64,
    /// Host processing per hop per transfer, ms (stack callback, app handler).
    pub host_processing_ms: f64,
    /// Battery voltage, V (Li-ion nominal 3.85 V).
    pub battery_voltage: f64,
    /// Current while the scanner's window is open, mA, incremental over the idle phone.
    /// Phone measurements of continuous LE scanning range 5–20 mA; 10 is the middle.
    pub scan_current_ma: f64,
    /// Charge per scan start, µC: waking the application processor (about 40 mA awake: a
    /// Pixel 6a `power_profile.xml` gives `cpu.idle` 28.6 mA plus `cpu.active` 12.4) for the
    /// binder calls and HCI commands of a start and a stop, about 120 ms: 5 000 µC. An
    /// estimate (no published measurement; range 2 000–20 000): duty cycling is not free.
    pub scan_start_charge_uc: f64,
    /// Charge of one advertising event on three channels at `TxPower::Medium`, µC.
    /// (Three PDUs at ~8 mA for ~0.4 ms each plus radio ramp-up: about 15 µC.)
    pub adv_event_charge_uc: f64,
    /// Charge of one (empty) connection event, µC (wake-up, a packet each way).
    pub conn_event_charge_uc: f64,
    /// Radio charge per LL data packet sent or received, µC.
    pub packet_charge_uc: f64,
    /// Host (CPU) charge per GATT transfer at either end, µC: the application processor
    /// handling the callback dominates the energy of small messages on phones. About 40 mA
    /// awake (the power profile above) for ~7 ms of stack callback and app handler: 300 µC.
    /// An estimate for callbacks that arrive while the processor is awake anyway (a busy mesh);
    /// an isolated wake with its wakelock tail costs nearer 2 000 µC (range 100–2 000; the
    /// Thali project measured one nearby advertiser adding 13–20 mA to a scanning phone, Thali
    /// issue 1362).
    pub transfer_host_charge_uc: f64,
    /// Size of a message after compression, as a share of its size (text and JSON compress to
    /// 40–70 % with DEFLATE; 0.6 is the middle).
    pub compression_ratio: f64,
    /// CPU charge to compress or decompress one KiB, µC.
    pub compression_charge_uc_per_kib: f64,
    /// Time to set up a connection, in connection intervals (connection request, feature and
    /// length exchange, MTU exchange, service discovery of one service).
    pub connection_setup_intervals: f64,
    /// Fixed part of connection set-up, ms (GATT client registration, first service lookup).
    pub connection_setup_fixed_ms: f64,
    /// Thermal time constant of the phone's skin, s: 720. An estimate from first principles (no
    /// published figure was found): a 180 g phone (c ≈ 0.9 J/g·K, so C ≈ 160 J/K) with
    /// R ≈ 4.5 °C/W gives τ = RC ≈ 12 min (range 5–20 min); it agrees with Kang et al.
    /// (MobiCom 2019: a video call takes the surface over 50 °C within 10 minutes).
    pub thermal_time_constant_s: f64,
    /// Skin temperature rise per watt dissipated, °C/W: 5. An estimate: natural convection and
    /// radiation (h ≈ 10–12 W/m²·K) from about 0.02 m² of surface give 4–5 °C/W (range 3–8;
    /// higher in a pocket or a case).
    pub thermal_resistance_c_per_w: f64,
    /// Skin temperature at which the OS reports Fair, Serious and Critical, °C: the Pixel 3
    /// thermal HAL's skin thresholds (`thermal_info_config.json`: LIGHT 39, MODERATE 43,
    /// SEVERE 45, CRITICAL 47, EMERGENCY 51, SHUTDOWN 55), mapped LIGHT → Fair, SEVERE →
    /// Serious, CRITICAL → Critical (the Pixel 4a's are 4 °C higher). The shutdown is
    /// [`PlatformModel::shutdown_c`].
    pub thermal_thresholds_c: [f64; 3],
    /// What the OS does to the radio and the app (scan table, caps, quota, heat).
    pub os: PlatformModel,
}

impl Default for RadioModel {
    fn default() -> Self {
        RadioModel {
            path_loss_1m_db: 60.0,
            path_loss_exponent: 2.7,
            shadowing_sigma_db: 4.0,
            sensitivity_dbm: -94.0,
            disconnect_margin_db: 2.0,
            loss_at_sensitivity: 0.5,
            loss_margin_decade_db: 10.0,
            collision_channels: 10.0,
            max_attempts: 6,
            queue_packets: 4,
            adv_pdu_ms: 0.376,
            ll_payload_bytes: 244.0,
            ll_overhead_bytes: 14.0,
            ll_turnaround_us: 380.0,
            gatt_header_bytes: 7.0,
            host_processing_ms: 2.0,
            battery_voltage: 3.85,
            scan_current_ma: 10.0,
            scan_start_charge_uc: 5_000.0,
            adv_event_charge_uc: 15.0,
            conn_event_charge_uc: 6.0,
            packet_charge_uc: 3.0,
            transfer_host_charge_uc: 300.0,
            compression_ratio: 0.6,
            compression_charge_uc_per_kib: 20.0,
            connection_setup_intervals: 6.0,
            connection_setup_fixed_ms: 150.0,
            thermal_time_constant_s: 720.0,
            thermal_resistance_c_per_w: 5.0,
            thermal_thresholds_c: [39.0, 45.0, 47.0],
            os: PlatformModel::default(),
        }
    }
}

impl RadioModel {
    /// Advertising interval of a mode, ms (`AdvertiseSettings`: LOW_POWER ~1 s, BALANCED
    /// ~250 ms, LOW_LATENCY ~100 ms).
    pub fn adv_interval_ms(&self, mode: AdvertiseMode) -> f64 {
        match mode {
            AdvertiseMode::LowPower => 1000.0,
            AdvertiseMode::Balanced => 250.0,
            AdvertiseMode::LowLatency => 100.0,
        }
    }

    /// Transmit power of an advertising level, dBm (AOSP's mapping of `ADVERTISE_TX_POWER_*`:
    /// -21, -15, -7, 1). Connections do not use it: see [`PlatformModel::connection_tx_dbm`].
    pub fn tx_power_dbm(&self, tx: TxPower) -> f64 {
        match tx {
            TxPower::UltraLow => -21.0,
            TxPower::Low => -15.0,
            TxPower::Medium => -7.0,
            TxPower::High => 1.0,
        }
    }

    /// Transmit current relative to `Medium` (PA current grows with output power; the factors
    /// follow typical BLE SoC datasheets: about ±30 % across the range).
    pub fn tx_current_factor(&self, tx: TxPower) -> f64 {
        match tx {
            TxPower::UltraLow => 0.75,
            TxPower::Low => 0.85,
            TxPower::Medium => 1.0,
            TxPower::High => 1.3,
        }
    }

    /// Connection interval of a priority, ms: the middle of the ranges that
    /// `BluetoothGatt.requestConnectionPriority` documents (HIGH 11.25–15, BALANCED 30–50,
    /// LOW_POWER 100–125).
    pub fn connection_interval_ms(&self, p: ConnectionPriority) -> f64 {
        match p {
            ConnectionPriority::High => 13.125,
            ConnectionPriority::Balanced => 40.0,
            ConnectionPriority::LowPower => 112.5,
        }
    }

    /// Received power, dBm, at `distance_m` from a transmitter at `tx_dbm`, with the link's
    /// shadowing term.
    pub fn rssi_dbm(&self, tx_dbm: f64, distance_m: f64, shadowing_db: f64) -> f64 {
        let d = distance_m.max(0.1);
        tx_dbm - self.path_loss_1m_db - 10.0 * self.path_loss_exponent * d.log10() + shadowing_db
    }

    /// Distance at which a transmitter at `tx_dbm` falls to the sensitivity (no shadowing), m.
    pub fn range_m(&self, tx_dbm: f64) -> f64 {
        10f64.powf((tx_dbm - self.path_loss_1m_db - self.sensitivity_dbm) / (10.0 * self.path_loss_exponent))
    }

    /// Probability that one transmission attempt over a link fails: weak signal, a collision
    /// under `load`, or interference from outside the mesh (`background_loss`).
    pub fn attempt_failure_probability(&self, rssi_dbm: f64, load: f64, background_loss: f64) -> f64 {
        let weak = self.weak_signal_failure(rssi_dbm);
        let collision = 1.0 - (-2.0 * load.max(0.0) / self.collision_channels).exp();
        let ok = (1.0 - weak) * (1.0 - collision) * (1.0 - background_loss);
        (1.0 - ok).clamp(0.0, 1.0)
    }

    /// Share of attempts lost to a weak signal alone.
    pub fn weak_signal_failure(&self, rssi_dbm: f64) -> f64 {
        let margin = (rssi_dbm - self.sensitivity_dbm).max(0.0);
        (self.loss_at_sensitivity * 10f64.powf(-margin / self.loss_margin_decade_db)).min(1.0)
    }

    /// Probability that the sender's queue is full at airtime load `load` (M/M/1/K with
    /// K = `queue_packets`).
    pub fn queue_overflow_probability(&self, load: f64) -> f64 {
        let rho = load.clamp(0.0, 0.999);
        let k = f64::from(self.queue_packets);
        if rho == 0.0 {
            return 0.0;
        }
        rho.powf(k) * (1.0 - rho) / (1.0 - rho.powf(k + 1.0))
    }

    /// Probability that a whole transfer is lost: the queue overflows, or every attempt fails.
    pub fn transfer_loss_probability(&self, rssi_dbm: f64, load: f64, background_loss: f64) -> f64 {
        let attempt = self.attempt_failure_probability(rssi_dbm, load, background_loss);
        let all_fail = attempt.powf(f64::from(self.max_attempts));
        1.0 - (1.0 - all_fail) * (1.0 - self.queue_overflow_probability(load))
    }

    /// Number of LL packets and airtime (ms) of one GATT transfer carrying `payload_bytes`.
    pub fn transfer_airtime(&self, payload_bytes: f64) -> (f64, f64) {
        let bytes = payload_bytes + self.gatt_header_bytes;
        let packets = (bytes / self.ll_payload_bytes).ceil().max(1.0);
        // 1 µs per bit on the LE 1M PHY.
        let airtime_us = (bytes + packets * self.ll_overhead_bytes) * 8.0 + packets * self.ll_turnaround_us;
        (packets, airtime_us / 1000.0)
    }

    /// Mean time for a scanner listening a share `scan_duty` of the time to catch one
    /// advertisement of a peer advertising every `adv_interval_ms`, when a share
    /// `adv_success` of advertisements survives collisions on the advertising channels, ms.
    /// Each advertising event is heard with probability duty × success, so the number of
    /// events until one is heard is geometric.
    pub fn discovery_mean_ms(&self, scan_duty: f64, adv_interval_ms: f64, adv_success: f64) -> f64 {
        let p = (scan_duty * adv_success).clamp(1e-6, 1.0);
        adv_interval_ms / p
    }

    /// Average current of the scan the OS runs, mA: radio while the window is open, plus the
    /// charge of each start of a duty cycle.
    pub fn scan_current(&self, schedule: &ScanSchedule) -> f64 {
        schedule.own_listening_share() * self.scan_current_ma
            + schedule.starts_per_s() * self.scan_start_charge_uc / 1000.0
    }

    /// Average current of advertising, mA.
    pub fn adv_current(&self, mode: AdvertiseMode, tx: TxPower) -> f64 {
        // µC per event × events per second = µA; / 1000 = mA.
        self.adv_event_charge_uc * self.tx_current_factor(tx) * (1000.0 / self.adv_interval_ms(mode)) / 1000.0
    }

    /// Average current of keeping `connections` connections at priority `p`, mA.
    pub fn connection_current(&self, p: ConnectionPriority, connections: usize) -> f64 {
        connections as f64 * self.conn_event_charge_uc * (1000.0 / self.connection_interval_ms(p)) / 1000.0
    }

    /// Charge of one GATT transfer at one end, µC: radio per packet plus the host wake-up.
    /// Connections transmit at the controller's default power, whose current is the
    /// `packet_charge_uc` figure either way.
    pub fn transfer_charge_uc(&self, packets: f64) -> f64 {
        packets * self.packet_charge_uc + self.transfer_host_charge_uc
    }

    /// Thermal state for a skin temperature.
    pub fn thermal_state(&self, temp_c: f64) -> meshtune::ThermalState {
        let [fair, serious, critical] = self.thermal_thresholds_c;
        if temp_c >= critical {
            meshtune::ThermalState::Critical
        } else if temp_c >= serious {
            meshtune::ThermalState::Serious
        } else if temp_c >= fair {
            meshtune::ThermalState::Fair
        } else {
            meshtune::ThermalState::Nominal
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_matches_the_link_budget() {
        let m = RadioModel::default();
        for tx in [TxPower::UltraLow, TxPower::Low, TxPower::Medium, TxPower::High] {
            let r = m.range_m(m.tx_power_dbm(tx));
            let at_edge = m.rssi_dbm(m.tx_power_dbm(tx), r, 0.0);
            assert!((at_edge - m.sensitivity_dbm).abs() < 1e-9, "{tx:?}: {at_edge}");
        }
        assert!(m.range_m(m.tx_power_dbm(TxPower::High)) > m.range_m(m.tx_power_dbm(TxPower::UltraLow)));
    }

    #[test]
    fn transfer_airtime_counts_packets() {
        let m = RadioModel::default();
        assert_eq!(m.transfer_airtime(100.0).0, 1.0);
        assert_eq!(m.transfer_airtime(1000.0).0, 5.0);
        assert!(m.transfer_airtime(1000.0).1 > m.transfer_airtime(100.0).1);
    }
}

//! The shared BLE scenarios (`tests/ble_scenarios/scenarios.json`) against the Rust core, through
//! a reference glue that does what the Android and iOS glue do: record the samples of every
//! answer, make the scanner match it (reporting the start or stop), and keep one timer. The
//! Android (Robolectric) and iOS (Linux) suites run the same file through their own glue.

use std::sync::Arc;

use meshtune::{BleCoordinator, BleRules, BleUpdate, MetricSample, OptimizationAction, ScanMode};
use serde_json::Value;

#[derive(Default)]
struct Glue {
    running: Option<ScanMode>,
    starts: Vec<u64>,
    fail_next: Option<String>,
    timer: Option<u64>,
    discovered: Vec<f64>,
    established: Vec<f64>,
    peer_count: Option<(u32, u32)>,
}

impl Glue {
    fn handle(&mut self, c: &BleCoordinator, u: BleUpdate, now: u64) {
        for s in &u.samples {
            match s {
                MetricSample::PeerDiscovered { duration_ms } => self.discovered.push(*duration_ms),
                MetricSample::ConnectionEstablished { duration_ms } => self.established.push(*duration_ms),
                MetricSample::PeerCount { connected, discovered } => self.peer_count = Some((*connected, *discovered)),
                other => panic!("unexpected sample {other:?}"),
            }
        }
        self.timer = u.scan.next_step_at_ms;
        if u.scan.mode == self.running {
            return;
        }
        let next = match u.scan.mode {
            Some(mode) => match self.fail_next.take() {
                Some(reason) => {
                    self.running = None;
                    c.scan_start_failed(reason, now).unwrap()
                }
                None => {
                    self.running = Some(mode);
                    self.starts.push(now);
                    c.scan_started(mode, now).unwrap()
                }
            },
            None => {
                self.running = None;
                c.scan_stopped(now).unwrap()
            }
        };
        self.handle(c, next, now);
    }

    fn run_timers(&mut self, c: &BleCoordinator, until: u64) {
        while let Some(t) = self.timer.filter(|&t| t <= until) {
            self.timer = None;
            let u = c.step(t).unwrap();
            self.handle(c, u, t);
        }
    }
}

fn mode(name: &str) -> ScanMode {
    match name {
        "Opportunistic" => ScanMode::Opportunistic,
        "LowPower" => ScanMode::LowPower,
        "Balanced" => ScanMode::Balanced,
        "LowLatency" => ScanMode::LowLatency,
        other => panic!("unknown scan mode {other}"),
    }
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn run(scenario: &Value) {
    let name = scenario["name"].as_str().unwrap();
    let c: Arc<BleCoordinator> = BleCoordinator::new(BleRules::default()).unwrap();
    let mut g = Glue::default();
    for e in scenario["events"].as_array().unwrap() {
        let at = e["at"].as_u64().unwrap();
        g.run_timers(&c, at);
        if let Some(p) = e.get("plan") {
            let action = OptimizationAction::SetScanMode {
                mode: mode(p[0].as_str().unwrap()),
                duty_on_ms: p[1].as_u64().unwrap() as u32,
                duty_off_ms: p[2].as_u64().unwrap() as u32,
            };
            let u = c.set_plan(action, at).unwrap();
            g.handle(&c, u, at);
        } else if let Some(peer) = e.get("seen") {
            let u = c.scan_result(peer.as_str().unwrap().to_owned(), at).unwrap();
            g.handle(&c, u, at);
        } else if e.get("os_stop").is_some() {
            g.running = None;
            let u = c.scan_stopped(at).unwrap();
            g.handle(&c, u, at);
        } else if let Some(radio) = e.get("radio") {
            // Bluetooth off ends the scan, as the OS does; on, the coordinator starts it.
            if radio.as_str().unwrap() != "on" {
                g.running = None;
            }
            let u = c.radio_state_changed(radio.as_str().unwrap() == "on", at).unwrap();
            g.handle(&c, u, at);
        } else if let Some(reason) = e.get("fail_next_start") {
            g.fail_next = Some(reason.as_str().unwrap().to_owned());
        } else if let Some(peer) = e.get("connect") {
            let u = c.connect_requested(peer.as_str().unwrap().to_owned(), at).unwrap();
            g.handle(&c, u, at);
        } else if let Some(peer) = e.get("connected") {
            let u = c.connection_changed(peer.as_str().unwrap().to_owned(), true, at).unwrap();
            g.handle(&c, u, at);
        } else if let Some(peer) = e.get("disconnected") {
            let u = c.connection_changed(peer.as_str().unwrap().to_owned(), false, at).unwrap();
            g.handle(&c, u, at);
        } else if let Some(check) = e.get("check") {
            let scanner = match g.running {
                Some(m) => format!("{m:?}"),
                None => "off".to_owned(),
            };
            assert_eq!(scanner, check["scanner"].as_str().unwrap(), "{name}: scanner at {at}");
            let starts: Vec<u64> = check["starts"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect();
            assert_eq!(g.starts, starts, "{name}: starts at {at}");
            if let Some(d) = check.get("discovered") {
                assert_eq!(g.discovered, floats(d), "{name}: discoveries at {at}");
            }
            if let Some(d) = check.get("established") {
                assert_eq!(g.established, floats(d), "{name}: connection set-ups at {at}");
            }
            if let Some(pc) = check.get("peer_count") {
                let want = (pc[0].as_u64().unwrap() as u32, pc[1].as_u64().unwrap() as u32);
                assert_eq!(g.peer_count, Some(want), "{name}: peer count at {at}");
            }
        } else {
            panic!("{name}: unknown event {e}");
        }
    }
}

#[test]
fn the_shared_ble_scenarios_hold_against_the_core() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ble_scenarios/scenarios.json")).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let scenarios = doc["scenarios"].as_array().unwrap();
    assert!(scenarios.len() >= 6);
    for s in scenarios {
        run(s);
    }
}

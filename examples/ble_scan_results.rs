//! The cost of one `BleCoordinator::scan_result` in Rust, for 16, 256 and 4096 peers present and
//! re-seen in turn (a busy continuous scan): `cargo run --release --example ble_scan_results`.
//! BENCHMARKS.md ("BLE coordinator") has the figures. On the JVM each call also pays the
//! generated binding's overhead.
use meshtune::{BleCoordinator, BleRules, OptimizationAction, ScanMode};

fn main() {
    for peers in [16u64, 256, 4096] {
        let c = BleCoordinator::new(BleRules::default()).expect("default rules");
        let scan = OptimizationAction::SetScanMode { mode: ScanMode::LowLatency, duty_on_ms: 1_000, duty_off_ms: 0 };
        c.set_plan(scan, 0).expect("plan");
        c.scan_started(ScanMode::LowLatency, 0).expect("start");
        let ids: Vec<String> = (0..peers).map(|i| format!("AA:BB:CC:DD:{:02X}:{:02X}", i / 256, i % 256)).collect();
        for (i, id) in ids.iter().enumerate() {
            c.scan_result(id.clone(), i as u64).expect("valid id");
        }
        let n = 200_000u64;
        let t = std::time::Instant::now();
        for k in 0..n {
            let id = &ids[(k % peers) as usize];
            std::hint::black_box(c.scan_result(id.clone(), 5_000 + k / 10).expect("valid id"));
        }
        println!("{peers} peers: {:.0} ns per scan_result ({n} calls)", t.elapsed().as_nanos() as f64 / n as f64);
    }
}

//! The simulation: phones on a plane, the radio model, traffic, and one policy deciding every
//! phone's knobs. Time advances in 1 s steps; within a step, floods and consensus rounds are
//! timed in milliseconds.
//!
//! Randomness comes from separate seeded streams. The *world* stream (movement, churn, memory
//! signals, which messages are sent, their sizes) is drawn the same way whatever the policy
//! does, so every policy faces the same afternoon; the *radio* stream (loss, delays,
//! discovery) and the *platform* stream (acknowledgement delays, refusals) depend on what
//! happens. The same seed gives the same run, bit for bit.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use meshtune::discovery::discovery_lower_bound_ms;
use meshtune::{
    Engine, EngineEvent, MemoryPressureLevel, MetricSample, OptimizationAction, OptimizerConfig, OutcomeEvent,
    ThermalState,
};

use crate::oracle::StaticConfig;
use crate::platform::{ScanContext, ScanSchedule};
use crate::policy::{
    battery_mode, bitchat_2026_mode, static_performance, threshold_actions, DeviceView, Policy, Settings,
};
use crate::radio::RadioModel;
use crate::results::{RunResult, Series};
use crate::rng::{mix, Rng};
use crate::scenario::Scenario;
use crate::score::{ratio, Score};

/// Length of a simulation step, ms.
pub const STEP_MS: u64 = 1_000;
/// How long a sender waits for a recipient's end-to-end delivery receipt before it counts the
/// message lost, at least: four times the scenario's deadline, and never under 5 s. It must
/// exceed the deadline (a late message is late, not lost); beyond it the exact figure only
/// moves when the engine hears of a loss, not whether it does.
pub const RECEIPT_TIMEOUT_MIN_MS: u64 = 5_000;
/// Topology (neighbours, discovery, connections, airtime load) is recomputed this often, s.
pub const TOPOLOGY_EVERY_S: u64 = 5;
/// Baseline policies and the measurement monitors evaluate this often, s.
pub const EVALUATE_EVERY_S: u64 = 5;
/// A knob change within this long after a device-state change (foreground, charger, battery
/// band, thermal state, OS power save, an OS memory-pressure signal, and the app's start, when
/// the device state is first known) counts as driven by it, ms (the baselines evaluate every
/// 5 s; MeshTune's engine is woken by these transitions, as the runtime wakes it).
pub const STATE_CHANGE_WINDOW_MS: u64 = 30_000;
/// Battery bands of the scoreboard's device state, percent: the thresholds BitChat's policies
/// use (10, 20, 50). A band is entered going down at its threshold and left going up only
/// [`BATTERY_BAND_HYSTERESIS`] points above it.
pub const BATTERY_BANDS: [f64; 3] = [10.0, 20.0, 50.0];
/// Hysteresis of the battery bands, percent points.
pub const BATTERY_BAND_HYSTERESIS: f64 = 5.0;
/// `requestConnectionPriority` returns false while another GATT operation is in flight; the
/// share of requests refused that way is an assumption (no public figure).
pub const PRIORITY_REFUSAL_PROBABILITY: f64 = 0.02;
/// The app applies an action and acknowledges it after 100 to 500 ms (a radio restart).
pub const APPLY_DELAY_MS: (f64, f64) = (100.0, 500.0);
/// A process killed by the low-memory killer restarts after this long, s (a fresh engine, the
/// baseline settings and full caches: an app restart loses its state).
pub const RESTART_AFTER_KILL_S: u64 = 30;
/// The low-memory killer acts this long after a critical signal if memory was not freed, s.
pub const KILL_CHECK_AFTER_S: u64 = 10;
/// Kill probability after a critical signal when the heap is above 85 % of its limit, and
/// otherwise. Android's LMK picks large processes first; the two figures are assumptions that
/// only encode "a trimmed app is much less likely to be killed".
pub const KILL_PROBABILITY: (f64, f64) = (0.3, 0.05);
/// A consensus phase resends a lost transfer at most this often before the round fails.
pub const CONSENSUS_RETRIES: u32 = 3;
/// Extra heat while on a charger, W.
pub const CHARGING_HEAT_W: f64 = 0.5;
/// Share of the foreground heat of the rest of the phone that remains in the background.
pub const BACKGROUND_HEAT_SHARE: f64 = 0.3;

/// The consensus workload of a BitCraps table.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsensusModel {
    /// CPU time to validate one operation (signature check and game rules), ms. An Ed25519
    /// verification takes 0.1–0.3 ms on a phone core; rule checks and state updates dominate.
    pub validate_ms_per_op: f64,
    /// CPU charge per validated operation, µC (about 300 mA of a big core for that time).
    pub validate_charge_uc_per_op: f64,
    /// Share of validations the vote cache saves (votes already verified by this phone).
    pub vote_cache_hit_share: f64,
    /// Speed-up of parallel validation (two big cores, with coordination overhead).
    pub parallel_speedup: f64,
    /// Extra energy of parallel validation (coordination, both cores awake).
    pub parallel_energy_overhead: f64,
    /// Bytes per operation in a proposal.
    pub op_bytes: f64,
    /// A phase retries after this long when a transfer of it was lost, ms.
    pub retry_ms: f64,
    /// Queued operations beyond this many seconds of arrivals are dropped (the game refuses
    /// new bets while the table lags).
    pub max_backlog_s: f64,
}

impl Default for ConsensusModel {
    fn default() -> Self {
        ConsensusModel {
            validate_ms_per_op: 1.5,
            validate_charge_uc_per_op: 450.0,
            vote_cache_hit_share: 0.3,
            parallel_speedup: 1.8,
            parallel_energy_overhead: 0.1,
            op_bytes: 64.0,
            retry_ms: 200.0,
            max_backlog_s: 10.0,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Pair {
    in_range_since_ms: Option<u64>,
    discovered: bool,
    connected: bool,
    link_rssi: f32,
}

impl Pair {
    /// The pair came into range and is leaving it (or going offline) undiscovered.
    fn missed(&self) -> bool {
        self.in_range_since_ms.is_some() && !self.discovered
    }
}

#[derive(Debug, Default)]
struct Reported {
    battery_percent: Option<i64>,
    charging: Option<bool>,
    thermal: Option<ThermalState>,
    foreground: Option<bool>,
    power_save: Option<bool>,
}

struct Phone {
    pos: (f64, f64),
    target: (f64, f64),
    pause_left_s: f64,
    away_until_s: u64,
    killed_until_s: u64,
    dead: bool,
    battery_mah: f64,
    charging: bool,
    usage_phase: f64,
    foreground: bool,
    screen_off: bool,
    power_save: bool,
    temp_c: f64,
    heat_offset_w: f64,
    /// Skin temperatures of the last `headroom_history_s` seconds, oldest first (the OS's
    /// headroom forecast fits a line through them).
    temp_history: VecDeque<f64>,
    thermal: ThermalState,
    settings: Settings,
    engine: Option<Engine>,
    next_tick_ms: u64,
    /// When the engine last ticked, and what the samples since say about ticking early: the
    /// runtime ticks at once (at most every `min_tick_interval_ms`) when `meshtune::LateWatch`
    /// says so, whatever the tick interval; the simulator drives the engine the same way.
    last_tick_ms: u64,
    late_watch: meshtune::LateWatch,
    late: bool,
    /// The same for heat, memory pressure, a low battery and the device-state transitions: a
    /// sample that raises the device state (`meshtune::UrgentSamples`, as the runtime keeps it)
    /// makes the engine tick at once.
    urgent_samples: meshtune::UrgentSamples,
    urgent: bool,
    /// What `threshold` reads: the engine's statistics without its strategies.
    monitor: Option<Engine>,
    charge_uc: f64,
    step_charge_uc: f64,
    airtime_ms: f64,
    load: f64,
    adv_success: f64,
    transfers_this_period: f64,
    transfer_rate_per_ms: f64,
    /// Connected peers: (peer, link RSSI dBm, attempt failure from the signal alone).
    conns: Vec<(u32, f32, f32)>,
    /// Attempt success against collisions at this phone (from its airtime load).
    collision_ok: f64,
    /// Probability that a transfer from this phone finds its queue full.
    overflow: f64,
    scan_restarts_ms: Vec<u64>,
    /// When the current scan session started (a scan-mode change or a restart), ms.
    scan_started_ms: u64,
    /// The scan the OS ran in the last step.
    sched: Option<ScanSchedule>,
    /// Quota refusals not yet counted as whole starts.
    refused_share: f64,
    knob_changes: u64,
    knob_changes_state: u64,
    /// The last device-state change the scoreboard saw, ms.
    state_changed_ms: Option<u64>,
    /// The scoreboard's battery band (how many of [`BATTERY_BANDS`] the level is above).
    battery_band: usize,
    /// The device state the scoreboard last saw: foreground, charging, battery band, thermal
    /// state, OS power save.
    device_state: Option<(bool, bool, usize, ThermalState, bool)>,
    reported: Reported,
    kill_check: Option<(u64, f64)>,
    /// The phone shut itself down from heat at this second, and is off until it has cooled.
    shut_down_at_s: Option<u64>,
    serious_s: u64,
    critical_s: u64,
    empty_at_s: Option<f64>,
    peer_id: String,
    /// Messages this phone sent whose delivery receipt will not come: when the app gives up
    /// waiting (ms), oldest first.
    receipts_due_ms: std::collections::VecDeque<u64>,
}

impl Phone {
    /// In the mesh and running the app: not away, not empty, not killed, not shut down.
    fn online(&self, t_s: u64) -> bool {
        !self.dead && t_s >= self.away_until_s && t_s >= self.killed_until_s && self.shut_down_at_s.is_none()
    }

    /// Where its user is in the mesh (not away): messages to and from it are intended, even
    /// when the phone is off because of the policy (empty, killed, shut down from heat).
    fn present(&self, t_s: u64) -> bool {
        t_s >= self.away_until_s
    }

    fn record(&mut self, sample: MetricSample, at_ms: u64) {
        if let Some(e) = self.engine.as_ref() {
            self.late |= self.late_watch.observe(&sample, at_ms, e.config());
            self.urgent |= self.urgent_samples.raises(&sample, e.config());
        }
        // Samples the simulator builds are valid by construction; a rejection would be a bug
        // in the simulator, and is counted by the engines' own counters.
        if let Some(e) = self.engine.as_mut() {
            let _ = e.record(sample.clone(), at_ms);
        }
        if let Some(m) = self.monitor.as_mut() {
            let _ = m.record(sample, at_ms);
        }
    }
}

/// One run: a scenario under one policy.
pub struct World<'a> {
    scenario: &'a Scenario,
    policy: Policy,
    /// The settings every phone starts (and restarts) with.
    initial: Settings,
    radio: RadioModel,
    consensus: ConsensusModel,
    config: OptimizerConfig,
    seed: u64,
    /// The seed as given (the results carry it).
    user_seed: u64,
    phones: Vec<Phone>,
    pairs: Vec<Pair>,
    shadowing_db: Vec<f32>,
    world_rng: Rng,
    radio_rng: Rng,
    platform_rng: Rng,
    tables: Vec<Table>,
    // Flood buffers, reused.
    dist: Vec<f64>,
    hops: Vec<u32>,
    in_rssi: Vec<f32>,
    parent: Vec<u32>,
    done: Vec<bool>,
    heap: BinaryHeap<Reverse<(u64, u32)>>,
    reached: Vec<u32>,
    // Results.
    score: Score,
    messages_sent: u64,
    reverted: u64,
    refused: u64,
    scan_starts_refused: u64,
    scans_downgraded: u64,
    scans_capped: u64,
    /// Every discovery: (time from coming into range, one direction's worst-case lower bound
    /// (docs/discovery.md) at the listening share and advertising interval in force), ms.
    discoveries: Vec<(f64, f64)>,
    /// Pairs that came into range and left it (or went offline) undiscovered: infinitely late.
    discoveries_missed: u64,
    kills: u64,
    shutdowns: u64,
    ops_finalized: f64,
    ops_dropped: f64,
    slo_minutes: u64,
    slo_met_minutes: u64,
    series: Series,
    /// `MESHTUNE_SIM_TRACE=<phone index>`: print that phone's engine events to stderr, and each
    /// knob change applied there, marked as the scoreboard counts it (state-driven or other).
    trace_phone: Option<usize>,
}

struct Table {
    players: Vec<usize>,
    backlog: f64,
    clock_ms: f64,
    round: u64,
}

impl<'a> World<'a> {
    /// Sets up a run. Fails if the scenario is invalid for MeshTune's configuration, or if
    /// `oracle-static` has no precomputed configuration for the scenario.
    pub fn new(scenario: &'a Scenario, policy: Policy, seed: u64, radio: RadioModel) -> Result<World<'a>, String> {
        let fixed = match policy {
            Policy::OracleStatic => Some(crate::oracle::precomputed(&scenario.name).ok_or_else(|| {
                format!(
                    "oracle-static has no precomputed configuration for scenario '{}': run `meshtune-sim --search-oracle --scenario ...` first",
                    scenario.name
                )
            })?),
            _ => None,
        };
        Self::build(scenario, policy, fixed.as_ref(), seed, radio)
    }

    /// A run of one fixed configuration (the oracle's search and `oracle-static`).
    pub fn with_fixed(
        scenario: &'a Scenario,
        config: &StaticConfig,
        seed: u64,
        radio: RadioModel,
    ) -> Result<World<'a>, String> {
        Self::build(scenario, Policy::OracleStatic, Some(config), seed, radio)
    }

    fn build(
        scenario: &'a Scenario,
        policy: Policy,
        fixed: Option<&StaticConfig>,
        seed: u64,
        radio: RadioModel,
    ) -> Result<World<'a>, String> {
        scenario.validate().map_err(|e| e.to_string())?;
        // The app configures MeshTune with its deadline, its real heap limit (every policy
        // faces the same heap) and whether it scans without a foreground service (the OS then
        // caps its background scans).
        let config = OptimizerConfig {
            target_p95_latency_ms: scenario.slo_p95_latency_ms,
            max_heap_mb: scenario.heap_limit_mb,
            os_caps_background_scans: !radio.os.foreground_service,
            ..OptimizerConfig::default()
        };
        let mut initial = Settings::default();
        let initial_actions = match (policy, fixed) {
            (_, Some(c)) => c.actions(),
            (Policy::StaticPerformance, None) => static_performance(),
            _ => Vec::new(),
        };
        for a in &initial_actions {
            initial.apply(a);
        }
        initial.radio_on = policy != Policy::RadioOff;
        let n = scenario.phones as usize;
        let scenario_seed = seed ^ mix(scenario.name.bytes().fold(0u64, |h, b| mix(h ^ u64::from(b))));
        let mut setup = Rng::new(scenario_seed, "setup");
        let mut phones = Vec::with_capacity(n);
        let tables = scenario.tables as usize;
        let table_size = scenario.table_size as usize;
        let mut table_spots = Vec::new();
        for t in 0..tables {
            // Tables in a row across the room, players on a 1 m circle around each.
            let cx = scenario.area_width_m * (t as f64 + 0.5) / tables as f64;
            let cy = scenario.area_height_m / 2.0;
            table_spots.push((cx, cy));
        }
        for i in 0..n {
            let pos = if i < tables * table_size {
                let (cx, cy) = table_spots[i / table_size];
                let a = std::f64::consts::TAU * (i % table_size) as f64 / table_size as f64;
                (cx + a.cos(), cy + a.sin())
            } else {
                (setup.range(0.0, scenario.area_width_m), setup.range(0.0, scenario.area_height_m))
            };
            let start = setup.range(scenario.battery_start_min_percent, scenario.battery_start_max_percent);
            let charging = setup.chance(scenario.charging_share);
            let usage_phase = setup.f64();
            let heat_offset_w = setup.range(-0.2, 0.2);
            let engine = if policy == Policy::MeshTune {
                Some(Engine::new(config.clone()).map_err(|e| e.to_string())?)
            } else {
                None
            };
            phones.push(Phone {
                pos,
                target: pos,
                pause_left_s: setup.range(0.0, scenario.pause_s),
                away_until_s: 0,
                killed_until_s: 0,
                dead: false,
                battery_mah: scenario.battery_capacity_mah * start / 100.0,
                charging,
                usage_phase,
                foreground: true,
                screen_off: false,
                power_save: false,
                temp_c: scenario.ambient_start_c + 4.0,
                heat_offset_w,
                temp_history: VecDeque::new(),
                thermal: ThermalState::Nominal,
                settings: initial.clone(),
                engine,
                next_tick_ms: 0,
                last_tick_ms: 0,
                late_watch: meshtune::LateWatch::default(),
                late: false,
                urgent_samples: meshtune::UrgentSamples::default(),
                urgent: false,
                monitor: if policy == Policy::Threshold {
                    Some(Engine::with_strategies(config.clone(), Vec::new()).map_err(|e| e.to_string())?)
                } else {
                    None
                },
                charge_uc: 0.0,
                step_charge_uc: 0.0,
                airtime_ms: 0.0,
                load: 0.0,
                adv_success: 1.0,
                transfers_this_period: 0.0,
                transfer_rate_per_ms: 0.0,
                conns: Vec::new(),
                collision_ok: 1.0,
                overflow: 0.0,
                scan_restarts_ms: Vec::new(),
                scan_started_ms: 0,
                sched: None,
                refused_share: 0.0,
                knob_changes: 0,
                knob_changes_state: 0,
                state_changed_ms: None,
                battery_band: BATTERY_BANDS.len(),
                device_state: None,
                reported: Reported::default(),
                kill_check: None,
                shut_down_at_s: None,
                serious_s: 0,
                critical_s: 0,
                empty_at_s: None,
                peer_id: format!("phone-{i}"),
                receipts_due_ms: std::collections::VecDeque::new(),
            });
        }
        let tables = (0..tables)
            .map(|t| Table {
                players: (t * table_size..(t + 1) * table_size).collect(),
                backlog: 0.0,
                clock_ms: 0.0,
                round: 0,
            })
            .collect();
        Ok(World {
            scenario,
            policy,
            initial,
            radio,
            consensus: ConsensusModel::default(),
            config,
            seed: scenario_seed,
            user_seed: seed,
            phones,
            pairs: vec![Pair::default(); n * n],
            shadowing_db: Vec::new(),
            world_rng: Rng::new(scenario_seed, "world"),
            radio_rng: Rng::new(scenario_seed, "radio"),
            platform_rng: Rng::new(scenario_seed, "platform"),
            tables,
            dist: vec![f64::INFINITY; n],
            hops: vec![0; n],
            in_rssi: vec![0.0; n],
            parent: vec![u32::MAX; n],
            done: vec![false; n],
            heap: BinaryHeap::new(),
            reached: Vec::new(),
            score: Score::new(scenario.slo_p95_latency_ms),
            messages_sent: 0,
            reverted: 0,
            refused: 0,
            scan_starts_refused: 0,
            scans_downgraded: 0,
            scans_capped: 0,
            discoveries: Vec::new(),
            discoveries_missed: 0,
            kills: 0,
            shutdowns: 0,
            ops_finalized: 0.0,
            ops_dropped: 0.0,
            slo_minutes: 0,
            slo_met_minutes: 0,
            series: Series::default(),
            trace_phone: std::env::var("MESHTUNE_SIM_TRACE").ok().and_then(|v| v.parse().ok()),
        })
    }

    /// Runs to the end, calling `progress(share_done)` now and then.
    pub fn run(mut self, progress: &mut dyn FnMut(f64)) -> RunResult {
        let n = self.phones.len();
        self.shadowing_db = vec![0.0; n * n];
        for i in 0..n {
            for j in (i + 1)..n {
                self.shadowing_db[i * n + j] = self.link_shadowing(i, j) as f32;
            }
        }
        let steps = (self.scenario.hours * 3600.0).round().max(1.0) as u64;
        for t in 0..steps {
            let now_ms = t * STEP_MS;
            self.world_step(t);
            if t % TOPOLOGY_EVERY_S == 0 {
                self.topology(t, now_ms);
            }
            self.traffic(t, now_ms);
            self.consensus_step(t, now_ms);
            self.physics(t, now_ms);
            self.decide(t, now_ms);
            if (t + 1) % 60 == 0 || t + 1 == steps {
                self.close_minute();
            }
            if t % 600 == 0 {
                progress(t as f64 / steps as f64);
            }
        }
        progress(1.0);
        let seed = self.user_seed;
        self.finish(steps, seed)
    }

    fn world_step(&mut self, t: u64) {
        let s = self.scenario;
        let churn_p = s.churn_per_hour / 3600.0;
        let mem_p = s.memory_critical_per_hour / 3600.0;
        for i in 0..self.phones.len() {
            // Every draw happens whatever the phone's state, so the world is the same for
            // every policy.
            let new_target = (self.world_rng.range(0.0, s.area_width_m), self.world_rng.range(0.0, s.area_height_m));
            let churn = self.world_rng.chance(churn_p);
            let memory = self.world_rng.chance(mem_p);
            let kill_draw = self.world_rng.f64();
            let p = &mut self.phones[i];
            let is_player = i < self.tables.len() * s.table_size as usize;
            if s.speed_m_per_s > 0.0 && !is_player {
                if p.pause_left_s > 0.0 {
                    p.pause_left_s -= 1.0;
                } else {
                    let (dx, dy) = (p.target.0 - p.pos.0, p.target.1 - p.pos.1);
                    let d = (dx * dx + dy * dy).sqrt();
                    if d <= s.speed_m_per_s {
                        p.pos = p.target;
                        p.target = new_target;
                        p.pause_left_s = s.pause_s;
                    } else {
                        p.pos.0 += dx / d * s.speed_m_per_s;
                        p.pos.1 += dy / d * s.speed_m_per_s;
                    }
                }
            }
            if churn && t >= p.away_until_s {
                p.away_until_s = t + s.churn_away_s as u64;
            }
            let period_s = s.usage_period_min * 60.0;
            let cycle = (t as f64 / period_s) + p.usage_phase;
            p.foreground = cycle.fract() < s.foreground_share;
            // Whether this usage cycle's background time is spent with the screen off: a hash
            // of (seed, phone, cycle), so the same for every policy.
            let cycle_draw =
                (mix(self.seed ^ mix(((i as u64) << 32) ^ cycle.floor() as u64)) >> 11) as f64 / (1u64 << 53) as f64;
            p.screen_off = !p.foreground && cycle_draw < s.background_screen_off_share;
            if memory && p.online(t) {
                p.record(MetricSample::MemoryPressure { level: MemoryPressureLevel::Critical }, t * STEP_MS);
                // A device-state signal the app hears from the OS (onTrimMemory), as thermal is.
                p.state_changed_ms = Some(t * STEP_MS);
                p.kill_check = Some((t + KILL_CHECK_AFTER_S, kill_draw));
            }
        }
    }

    fn link_shadowing(&self, i: usize, j: usize) -> f64 {
        let h = mix(self.seed ^ mix((i as u64) << 32 | j as u64));
        // Two uniform halves of the hash → one normal draw (Box–Muller).
        let u1 = ((h >> 11) as f64 / (1u64 << 53) as f64).max(1e-12);
        let u2 = (mix(h) >> 11) as f64 / (1u64 << 53) as f64;
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos() * self.radio.shadowing_sigma_db
    }

    fn topology(&mut self, t: u64, now_ms: u64) {
        let n = self.phones.len();
        let period_ms = (TOPOLOGY_EVERY_S * STEP_MS) as f64;
        let online: Vec<bool> = self.phones.iter().map(|p| p.online(t) && p.settings.radio_on).collect();
        let mut adv_load = vec![0.0f64; n];
        let own_air: Vec<f64> = self.phones.iter().map(|p| p.airtime_ms / period_ms).collect();
        let mut air_load = vec![0.0f64; n];
        let adv_share: Vec<f64> = self
            .phones
            .iter()
            .map(|p| self.radio.adv_pdu_ms / self.radio.adv_interval_ms(p.settings.advertising().0))
            .collect();
        // Advertising goes out at the app's TX power; connections at the controller's default.
        let adv_tx: Vec<f64> =
            self.phones.iter().map(|p| self.radio.tx_power_dbm(p.settings.advertising().1)).collect();
        let conn_tx = self.radio.os.connection_tx_dbm;
        let threshold = self.radio.sensitivity_dbm + self.radio.disconnect_margin_db;
        let mut in_range = Vec::new();
        // The path loss of each pair in range, for the discovery pass (positions do not move
        // within a topology update).
        let mut in_range_loss: Vec<f64> = Vec::new();
        // Pass 1: who hears whom, and the load on the air around each phone.
        for i in 0..n {
            for j in (i + 1)..n {
                let idx = i * n + j;
                if !online[i] || !online[j] {
                    self.discoveries_missed += u64::from(self.pairs[idx].missed());
                    self.pairs[idx] = Pair::default();
                    continue;
                }
                let (dx, dy) =
                    (self.phones[i].pos.0 - self.phones[j].pos.0, self.phones[i].pos.1 - self.phones[j].pos.1);
                let d = (dx * dx + dy * dy).sqrt();
                // Path loss once per pair; each direction then differs only by TX power.
                let loss = self.radio.path_loss_1m_db + 10.0 * self.radio.path_loss_exponent * d.max(0.1).log10()
                    - f64::from(self.shadowing_db[idx]);
                let link = conn_tx - loss;
                // Load counts every phone whose signal reaches, connected or not.
                let sens = self.radio.sensitivity_dbm;
                let (hears_i, hears_j) = (adv_tx[i] - loss >= sens, adv_tx[j] - loss >= sens);
                if hears_i {
                    adv_load[j] += adv_share[i];
                }
                if hears_j {
                    adv_load[i] += adv_share[j];
                }
                if link >= sens {
                    air_load[i] += own_air[j];
                    air_load[j] += own_air[i];
                }
                let pair = &mut self.pairs[idx];
                // A pair can link when a connection holds and at least one end hears the
                // other's advertising (to discover it).
                if link >= threshold && (hears_i || hears_j) {
                    pair.link_rssi = link as f32;
                    if pair.in_range_since_ms.is_none() {
                        pair.in_range_since_ms = Some(now_ms);
                    }
                    in_range.push((i, j));
                    in_range_loss.push(loss);
                } else {
                    self.discoveries_missed += u64::from(pair.missed());
                    *pair = Pair::default();
                }
            }
        }
        for (i, p) in self.phones.iter_mut().enumerate() {
            // The sender's own link utilization queues its transfers; the neighbours' airtime
            // collides with what it receives.
            p.load = own_air[i].min(0.95);
            p.collision_ok = (-2.0 * air_load[i] / self.radio.collision_channels).exp();
            p.overflow = self.radio.queue_overflow_probability(p.load);
            p.adv_success = (-2.0 * adv_load[i]).exp();
            p.transfer_rate_per_ms = p.transfers_this_period / period_ms;
            p.transfers_this_period = 0.0;
            p.airtime_ms = 0.0;
        }
        // Pass 2: discovery of peers in range, at the listening share the OS really runs.
        let scan_duty: Vec<f64> = self.phones.iter().map(|p| p.sched.map_or(0.0, |s| s.listening_share())).collect();
        let adv_int: Vec<f64> =
            self.phones.iter().map(|p| self.radio.adv_interval_ms(p.settings.advertising().0)).collect();
        let mut candidates: Vec<(f32, u32, u32)> = Vec::new();
        for (&(i, j), &loss) in in_range.iter().zip(&in_range_loss) {
            let idx = i * n + j;
            if !self.pairs[idx].discovered {
                // i discovers j only if it hears j's advertising, and the other way round.
                let sens = self.radio.sensitivity_dbm;
                let rate = |scanner: usize, adv: usize, heard: bool| {
                    if heard {
                        1.0 / self.radio.discovery_mean_ms(
                            scan_duty[scanner],
                            adv_int[adv],
                            self.phones[scanner].adv_success,
                        )
                    } else {
                        0.0
                    }
                };
                let miss =
                    (-period_ms * (rate(i, j, adv_tx[j] - loss >= sens) + rate(j, i, adv_tx[i] - loss >= sens))).exp();
                if self.radio_rng.chance(1.0 - miss) {
                    self.pairs[idx].discovered = true;
                    let since = self.pairs[idx].in_range_since_ms.unwrap_or(now_ms);
                    let took = (now_ms - since) as f64 + self.radio_rng.range(0.0, period_ms);
                    // The bound for whichever direction can hear the other (the pair is found
                    // when either end hears the other's advertising).
                    let bound = |scanner: usize, adv: usize, heard: bool| {
                        heard.then(|| discovery_lower_bound_ms(scan_duty[scanner], adv_int[adv])).flatten()
                    };
                    let b = match (bound(i, j, adv_tx[j] - loss >= sens), bound(j, i, adv_tx[i] - loss >= sens)) {
                        (Some(x), Some(y)) => Some(x.min(y)),
                        (x, y) => x.or(y),
                    };
                    if let Some(b) = b {
                        self.discoveries.push((took, b));
                    }
                    self.phones[i].record(MetricSample::PeerDiscovered { duration_ms: took }, now_ms);
                    self.phones[j].record(MetricSample::PeerDiscovered { duration_ms: took }, now_ms);
                }
            }
            let pair = self.pairs[idx];
            if pair.discovered && !pair.connected {
                candidates.push((pair.link_rssi, i as u32, j as u32));
            }
        }
        // Pass 3: connections. Rebuild each phone's list from the pairs still connected,
        // drop the weakest over a (lowered) cap, then connect the strongest candidates.
        for p in &mut self.phones {
            p.conns.clear();
        }
        for &(i, j) in &in_range {
            let pair = self.pairs[i * n + j];
            if pair.connected {
                let weak = self.radio.weak_signal_failure(f64::from(pair.link_rssi)) as f32;
                self.phones[i].conns.push((j as u32, pair.link_rssi, weak));
                self.phones[j].conns.push((i as u32, pair.link_rssi, weak));
            }
        }
        let os_cap = self.radio.os.max_connections as usize;
        let cap = |p: &Phone| p.settings.max_connections().min(os_cap);
        for i in 0..n {
            let max = cap(&self.phones[i]);
            if self.phones[i].conns.len() > max {
                let mut c = std::mem::take(&mut self.phones[i].conns);
                c.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                for &(j, _, _) in &c[max..] {
                    let j = j as usize;
                    let (a, b) = (i.min(j), i.max(j));
                    self.pairs[a * n + b].connected = false;
                    self.phones[j].conns.retain(|&(k, _, _)| k as usize != i);
                }
                c.truncate(max);
                self.phones[i].conns = c;
            }
        }
        // Only pairs where both ends have a free slot can connect (most phones are full), over
        // a link at least as strong as both ends' RSSI gates.
        candidates.retain(|&(rssi, i, j)| {
            let ok = |p: &Phone| p.conns.len() < cap(p) && p.settings.connect_min_rssi_dbm.is_none_or(|g| rssi >= g);
            ok(&self.phones[i as usize]) && ok(&self.phones[j as usize])
        });
        candidates.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        for (rssi, i, j) in candidates {
            let (i, j) = (i as usize, j as usize);
            let room = |p: &Phone| p.conns.len() < cap(p);
            if room(&self.phones[i]) && room(&self.phones[j]) {
                self.pairs[i * n + j].connected = true;
                let weak = self.radio.weak_signal_failure(f64::from(rssi)) as f32;
                self.phones[i].conns.push((j as u32, rssi, weak));
                self.phones[j].conns.push((i as u32, rssi, weak));
                let ci = self.radio.connection_interval_ms(self.phones[i].settings.priority());
                let setup = self.radio.connection_setup_fixed_ms
                    + ci * self.radio.connection_setup_intervals
                    + self.radio_rng.range(0.0, ci);
                self.phones[i].record(MetricSample::ConnectionEstablished { duration_ms: setup }, now_ms);
                self.phones[j].record(MetricSample::ConnectionEstablished { duration_ms: setup }, now_ms);
            }
        }
        // What the app reports about its links: peer counts each time, RSSI every 30 s.
        let discovered: Vec<u32> = {
            let mut d = vec![0u32; n];
            for &(i, j) in &in_range {
                if self.pairs[i * n + j].discovered {
                    d[i] += 1;
                    d[j] += 1;
                }
            }
            d
        };
        for i in 0..n {
            if !online[i] {
                continue;
            }
            let connected = self.phones[i].conns.len() as u32;
            self.phones[i].record(MetricSample::PeerCount { connected, discovered: discovered[i] }, now_ms);
            if t % 30 == 0 {
                let links: Vec<(String, i32)> = self.phones[i]
                    .conns
                    .iter()
                    .map(|&(j, r, _)| (self.phones[j as usize].peer_id.clone(), r.round() as i32))
                    .collect();
                for (peer_id, rssi_dbm) in links {
                    self.phones[i].record(MetricSample::LinkRssi { peer_id, rssi_dbm }, now_ms);
                }
            }
        }
    }

    /// Sends this second's messages. A message its user wrote while the phone was off (empty,
    /// killed, shut down from heat) is lost to every recipient; one written while away from the
    /// mesh is not intended.
    fn traffic(&mut self, t: u64, now_ms: u64) {
        let s = self.scenario;
        let present = self.phones.iter().filter(|p| p.present(t)).count() as u64;
        for i in 0..self.phones.len() {
            let rate =
                if self.phones[i].foreground { s.messages_per_min_foreground } else { s.messages_per_min_background };
            let k = self.world_rng.poisson(rate / 60.0);
            for _ in 0..k {
                let large = self.world_rng.chance(s.large_message_share);
                let bytes = if large { s.large_message_bytes } else { s.message_bytes };
                if !self.phones[i].present(t) {
                    continue;
                }
                self.messages_sent += 1;
                self.score.intended(present - 1);
                if self.phones[i].online(t) && self.phones[i].settings.radio_on {
                    self.flood(i, bytes, t, now_ms);
                }
            }
        }
    }

    fn flood(&mut self, src: usize, bytes: f64, t: u64, now_ms: u64) {
        let n = self.phones.len();
        let (ttl, _) = self.phones[src].settings.relay();
        let compressed = self.phones[src].settings.compression().is_some_and(|min| bytes >= f64::from(min));
        let payload = if compressed { bytes * self.radio.compression_ratio } else { bytes };
        let codec_uc = if compressed { bytes / 1024.0 * self.radio.compression_charge_uc_per_kib } else { 0.0 };
        self.phones[src].step_charge_uc += codec_uc;
        for v in 0..n {
            self.dist[v] = f64::INFINITY;
            self.done[v] = false;
            self.parent[v] = u32::MAX;
        }
        self.reached.clear();
        self.dist[src] = 0.0;
        self.hops[src] = 0;
        self.in_rssi[src] = 0.0;
        self.heap.clear();
        self.heap.push(Reverse((0, src as u32)));
        while let Some(Reverse((_, v))) = self.heap.pop() {
            let v = v as usize;
            if self.done[v] {
                continue;
            }
            self.done[v] = true;
            if v != src {
                self.reached.push(v as u32);
            }
            let (own_ttl, min_rssi) = self.phones[v].settings.relay();
            let relays =
                v == src || (self.hops[v] < ttl && self.hops[v] < own_ttl && self.in_rssi[v] >= min_rssi as f32);
            if !relays {
                continue;
            }
            let (batch, hold_ms) = self.phones[v].settings.batching();
            let rate = self.phones[v].transfer_rate_per_ms;
            // A batch fills with the other messages this phone forwards during the hold time.
            let (fill, hold) = if batch > 1 {
                let expected_others = rate * f64::from(hold_ms);
                if expected_others >= f64::from(batch - 1) {
                    (f64::from(batch), f64::from(batch - 1) / rate.max(1e-9))
                } else {
                    (1.0 + expected_others, f64::from(hold_ms))
                }
            } else {
                (1.0, 0.0)
            };
            let (packets, airtime) = self.radio.transfer_airtime(payload * fill);
            let (packets, airtime) = (packets / fill, airtime / fill);
            let ci = self.radio.connection_interval_ms(self.phones[v].settings.priority());
            // Handling a message on the host slows with the CPU under heat.
            let host_ms = self.radio.host_processing_ms / self.radio.os.cpu_speed(self.phones[v].thermal);
            // Per message: the radio's share of each attempt, the host's share of the transfer.
            let send_attempt_uc = packets * self.radio.packet_charge_uc;
            let send_host_uc = self.radio.transfer_host_charge_uc / fill;
            let recv_uc = self.radio.transfer_charge_uc(packets * fill) / fill + codec_uc;
            let conns = std::mem::take(&mut self.phones[v].conns);
            for &(u, rssi, weak) in &conns {
                let u_idx = u as usize;
                if u == self.parent[v] || !self.phones[u_idx].online(t) {
                    continue;
                }
                self.phones[v].transfers_this_period += 1.0;
                let load = self.phones[v].load;
                let wait_hold = if hold > 0.0 { self.radio_rng.range(0.0, hold) } else { 0.0 };
                let wait_ci = self.radio_rng.range(0.0, ci);
                let outcome = self.attempt_transfer(f64::from(weak), v, u_idx);
                let attempts = f64::from(outcome.unwrap_or(self.radio.max_attempts));
                self.phones[v].step_charge_uc += send_host_uc + send_attempt_uc * attempts;
                self.phones[v].airtime_ms += airtime * attempts;
                let Some(attempts) = outcome else { continue };
                self.phones[u_idx].step_charge_uc += recv_uc;
                let retransmit_ms = f64::from(attempts - 1) * ci;
                let delay = wait_hold + wait_ci + retransmit_ms + airtime * fill / (1.0 - load) + host_ms;
                let nd = self.dist[v] + delay;
                if !self.done[u_idx] && nd < self.dist[u_idx] {
                    self.dist[u_idx] = nd;
                    self.hops[u_idx] = self.hops[v] + 1;
                    self.in_rssi[u_idx] = rssi;
                    self.parent[u_idx] = v as u32;
                    self.heap.push(Reverse(((nd * 1000.0) as u64, u)));
                }
            }
            self.phones[v].conns = conns;
        }
        let reached = std::mem::take(&mut self.reached);
        for &u in &reached {
            self.score.delivered(self.dist[u as usize]);
        }
        self.reached = reached;
        // The sender learns each recipient's fate the way an app does: from the recipient's
        // end-to-end delivery receipt (which carries the delivery time; the model assumes it
        // comes back over the same path without loss or delay of its own), or from the receipt
        // that did not come within the timeout. Every recipient in the mesh counts, including
        // phones the policy left empty, killed or overheated.
        if self.phones[src].engine.is_some() || self.phones[src].monitor.is_some() {
            let timeout_ms = self.receipt_timeout_ms();
            for u in 0..n {
                if u == src || !self.phones[u].present(t) {
                    continue;
                }
                if self.done[u] && self.dist[u] <= timeout_ms as f64 {
                    let sample = MetricSample::MessageDelivered {
                        latency_ms: self.dist[u],
                        hops: self.hops[u],
                        bytes: bytes as u32,
                    };
                    self.phones[src].record(sample, now_ms);
                } else {
                    self.phones[src].receipts_due_ms.push_back(now_ms + timeout_ms);
                }
            }
        }
    }

    fn consensus_step(&mut self, t: u64, now_ms: u64) {
        let step_end = (now_ms + STEP_MS) as f64;
        let arrivals = self.scenario.table_ops_per_sec * (STEP_MS as f64 / 1000.0);
        let max_backlog = self.scenario.table_ops_per_sec * self.consensus.max_backlog_s;
        let mut tables = std::mem::take(&mut self.tables);
        for table in &mut tables {
            table.backlog += arrivals;
            if table.backlog > max_backlog {
                self.ops_dropped += table.backlog - max_backlog;
                table.backlog = max_backlog;
            }
            table.clock_ms = table.clock_ms.max(now_ms as f64);
            let live: Vec<usize> = table
                .players
                .iter()
                .copied()
                .filter(|&p| self.phones[p].online(t) && self.phones[p].settings.radio_on)
                .collect();
            if live.len() < 2 {
                continue;
            }
            while table.clock_ms < step_end && table.backlog >= 1.0 {
                let proposer = live[(table.round % live.len() as u64) as usize];
                table.round += 1;
                let (size, parallel, cache) = self.phones[proposer].settings.consensus();
                let ops = table.backlog.floor().min(f64::from(size));
                let bytes = ops * self.consensus.op_bytes;
                let mut proposal_ms: f64 = 0.0;
                let mut votes_ms: f64 = 0.0;
                let mut commit_ms: f64 = 0.0;
                let mut failed = false;
                for &q in &live {
                    if q == proposer {
                        continue;
                    }
                    match (
                        self.table_hop(proposer, q, bytes),
                        self.table_hop(q, proposer, 32.0),
                        self.table_hop(proposer, q, 32.0),
                    ) {
                        (Some(p), Some(v), Some(c)) => {
                            proposal_ms = proposal_ms.max(p);
                            votes_ms = votes_ms.max(v);
                            commit_ms = commit_ms.max(c);
                        }
                        _ => failed = true,
                    }
                }
                if failed {
                    // A phase gave up: the round times out and its operations wait for the next.
                    table.clock_ms += self.consensus.retry_ms * f64::from(CONSENSUS_RETRIES + 1);
                    continue;
                }
                let validations = if cache { ops * (1.0 - self.consensus.vote_cache_hit_share) } else { ops };
                // Every player validates; the round waits for the slowest CPU (throttled by heat).
                let slowest = live.iter().map(|&q| self.radio.os.cpu_speed(self.phones[q].thermal)).fold(1.0, f64::min);
                let validate_ms = validations * self.consensus.validate_ms_per_op
                    / if parallel { self.consensus.parallel_speedup } else { 1.0 }
                    / slowest;
                let charge = validations
                    * self.consensus.validate_charge_uc_per_op
                    * if parallel { 1.0 + self.consensus.parallel_energy_overhead } else { 1.0 };
                for &q in &live {
                    self.phones[q].step_charge_uc += charge;
                }
                let vote_ms = validate_ms + votes_ms;
                let finalization_ms = proposal_ms + vote_ms + commit_ms;
                table.clock_ms += finalization_ms;
                table.backlog -= ops;
                self.ops_finalized += ops;
                let sample =
                    MetricSample::ConsensusRound { proposal_ms, vote_ms, finalization_ms, operations: ops as u32 };
                for &q in &live {
                    self.phones[q].record(sample.clone(), now_ms);
                }
            }
        }
        self.tables = tables;
    }

    /// Time of one consensus transfer between two players, with retries; one hop when they
    /// are connected, two (over another player) otherwise. None when it failed every retry.
    fn table_hop(&mut self, from: usize, to: usize, bytes: f64) -> Option<f64> {
        let direct = self.phones[from].conns.iter().find(|&&(u, _, _)| u as usize == to).map(|&(_, _, w)| w);
        let hops = if direct.is_some() { 1 } else { 2 };
        // Over another player: two links of a typical table's signal (-80 dBm).
        let weak = direct.map_or_else(|| self.radio.weak_signal_failure(-80.0), f64::from);
        let (packets, airtime) = self.radio.transfer_airtime(bytes);
        let ci = self.radio.connection_interval_ms(self.phones[from].settings.priority());
        let load = self.phones[from].load;
        let mut total = 0.0;
        for _ in 0..hops {
            let mut retries = 0;
            loop {
                total += self.radio_rng.range(0.0, ci) + airtime / (1.0 - load) + self.radio.host_processing_ms;
                let outcome = self.attempt_transfer(weak, from, to);
                let attempts = outcome.unwrap_or(self.radio.max_attempts);
                let radio_uc = packets * self.radio.packet_charge_uc;
                self.phones[from].step_charge_uc += self.radio.transfer_host_charge_uc + radio_uc * f64::from(attempts);
                self.phones[from].airtime_ms += airtime * f64::from(attempts);
                total += f64::from(attempts - 1) * ci;
                if outcome.is_some() {
                    self.phones[to].step_charge_uc += self.radio.transfer_charge_uc(packets);
                    break;
                }
                // The transfer was lost: the round's phase times out and is sent again, a few
                // times at most.
                retries += 1;
                if retries > CONSENSUS_RETRIES {
                    return None;
                }
                total += self.consensus.retry_ms;
            }
        }
        Some(total)
    }

    /// One transfer over a connection from phone `from` to phone `to`: the attempts it took, or None if it was
    /// lost (queue full, or `max_attempts` failures in a row). The same model as
    /// [`RadioModel::transfer_loss_probability`], with the per-link and per-phone parts
    /// computed once per topology update.
    fn attempt_transfer(&mut self, weak_failure: f64, from: usize, to: usize) -> Option<u32> {
        let (overflow, collision_ok) = (self.phones[from].overflow, self.phones[to].collision_ok);
        if overflow > 0.0 && self.radio_rng.chance(overflow) {
            return None;
        }
        let p = 1.0 - (1.0 - weak_failure) * collision_ok * (1.0 - self.scenario.background_loss);
        let mut attempts = 1;
        while self.radio_rng.chance(p) {
            if attempts >= self.radio.max_attempts {
                return None;
            }
            attempts += 1;
        }
        Some(attempts)
    }

    fn physics(&mut self, t: u64, now_ms: u64) {
        let s = self.scenario;
        let dt_s = STEP_MS as f64 / 1000.0;
        let progress = t as f64 / (s.hours * 3600.0);
        let ambient = s.ambient_start_c + (s.ambient_end_c - s.ambient_start_c) * progress;
        let os = &self.radio.os;
        let critical_c = self.radio.thermal_thresholds_c[2];
        for i in 0..self.phones.len() {
            let p = &mut self.phones[i];
            if p.dead {
                continue;
            }
            // The low-memory killer decides once after a critical signal.
            if let Some((at, draw)) = p.kill_check {
                if t >= at {
                    p.kill_check = None;
                    let heap = s.heap_base_mb + s.heap_cache_mb * (1.0 - f64::from(p.settings.trim_percent()) / 100.0);
                    let prob = if heap > 0.85 * s.heap_limit_mb { KILL_PROBABILITY.0 } else { KILL_PROBABILITY.1 };
                    if p.online(t) && draw < prob {
                        p.killed_until_s = t + RESTART_AFTER_KILL_S;
                        restart(p, &self.initial, &self.config, (t + RESTART_AFTER_KILL_S) * STEP_MS);
                        self.kills += 1;
                    }
                }
            }
            // A phone that shut down from heat boots again once it has cooled.
            if let Some(at) = p.shut_down_at_s {
                if t >= at + os.restart_after_shutdown_s && p.temp_c <= critical_c - os.restart_cooling_c {
                    p.shut_down_at_s = None;
                    restart(p, &self.initial, &self.config, now_ms);
                }
            }
            let online = p.online(t);
            let radio = online && p.settings.radio_on;
            // The scan the OS really runs: caps, timeout, thermal limit, quota.
            let sched = if radio {
                let (m, on, off) = p.settings.scan();
                let ctx = ScanContext {
                    foreground: p.foreground,
                    screen_off: p.screen_off,
                    timed_out: now_ms.saturating_sub(p.scan_started_ms) >= os.scan_timeout_s * 1000,
                    thermal_limited: p.thermal == ThermalState::Critical,
                };
                let sched = os.schedule(m, on, off, ctx);
                let before = p.sched;
                if sched.timed_out && !before.is_some_and(|b| b.timed_out) {
                    self.scans_downgraded += 1;
                }
                if sched.capped && !before.is_some_and(|b| b.capped) {
                    self.scans_capped += 1;
                }
                p.refused_share += sched.refused_per_s * dt_s;
                while p.refused_share >= 1.0 {
                    p.refused_share -= 1.0;
                    self.scan_starts_refused += 1;
                }
                Some(sched)
            } else {
                None
            };
            p.sched = sched;
            let mesh_ma = match sched {
                Some(sched) => {
                    let (am, tx) = p.settings.advertising();
                    self.radio.scan_current(&sched)
                        + self.radio.adv_current(am, tx)
                        + self.radio.connection_current(p.settings.priority(), p.conns.len())
                }
                None => 0.0,
            };
            let step_uc = mesh_ma * 1000.0 * dt_s + p.step_charge_uc;
            p.step_charge_uc = 0.0;
            p.charge_uc += step_uc;
            let mesh_mah = step_uc / 3.6e6;
            let powered = p.shut_down_at_s.is_none();
            let other_ma = match (powered, p.foreground) {
                (false, _) => 0.0,
                (true, true) => s.other_current_foreground_ma,
                (true, false) => s.other_current_background_ma,
            };
            let mut delta = -mesh_mah - other_ma * dt_s / 3600.0;
            if p.charging {
                delta += s.charging_current_ma * dt_s / 3600.0;
            }
            p.battery_mah = (p.battery_mah + delta).min(s.battery_capacity_mah);
            if p.battery_mah <= 0.0 {
                p.battery_mah = 0.0;
                p.dead = true;
                p.empty_at_s = Some(t as f64);
                p.conns.clear();
                p.sched = None;
                continue;
            }
            // Skin temperature relaxes towards ambient + R·P.
            let mesh_w = step_uc / 1e6 / dt_s * self.radio.battery_voltage;
            let other_w = if powered {
                s.other_heat_w * if p.foreground { 1.0 } else { BACKGROUND_HEAT_SHARE } + p.heat_offset_w
            } else {
                0.0
            };
            let power_w = (other_w + mesh_w + if p.charging { CHARGING_HEAT_W } else { 0.0 }).max(0.0);
            let steady = ambient + self.radio.thermal_resistance_c_per_w * power_w;
            p.temp_c += (steady - p.temp_c) * (dt_s / self.radio.thermal_time_constant_s).min(1.0);
            p.thermal = self.radio.thermal_state(p.temp_c);
            if p.temp_history.len() >= os.headroom_history_s {
                p.temp_history.pop_front();
            }
            p.temp_history.push_back(p.temp_c);
            match p.thermal {
                ThermalState::Serious => p.serious_s += 1,
                ThermalState::Critical => p.critical_s += 1,
                _ => {}
            }
            if powered && p.temp_c >= os.shutdown_c {
                // Thermal shutdown: the phone turns itself off, the app with it.
                p.shut_down_at_s = Some(t);
                p.conns.clear();
                p.sched = None;
                self.shutdowns += 1;
                continue;
            }
            if !online {
                continue;
            }
            let level = p.battery_mah / s.battery_capacity_mah * 100.0;
            p.power_save = !p.charging && s.os_power_save_at_percent > 0.0 && level <= s.os_power_save_at_percent;
            // The scoreboard's view of the device state: a change here makes the knob changes
            // that follow it "state-driven".
            p.battery_band = battery_band(level, p.battery_band);
            let state = (p.foreground, p.charging, p.battery_band, p.thermal, p.power_save);
            // The first state after the app starts (or restarts) is a change too: a policy
            // configures itself for it.
            if p.device_state != Some(state) {
                p.state_changed_ms = Some(now_ms);
            }
            p.device_state = Some(state);
            // What an app hears from the platform: broadcasts on change.
            let pct = level.floor() as i64;
            if p.reported.battery_percent != Some(pct) || p.reported.charging != Some(p.charging) {
                p.reported.battery_percent = Some(pct);
                p.reported.charging = Some(p.charging);
                // In whole percent, as Android's BatteryManager.EXTRA_LEVEL (an int) gives it: an
                // exact level would tell the engine more than a phone can.
                p.record(
                    MetricSample::Battery { level_percent: pct.clamp(0, 100) as f64, charging: p.charging },
                    now_ms,
                );
            }
            if p.reported.thermal != Some(p.thermal) {
                p.reported.thermal = Some(p.thermal);
                p.record(MetricSample::Thermal { state: p.thermal }, now_ms);
            }
            if p.reported.foreground != Some(p.foreground) {
                p.reported.foreground = Some(p.foreground);
                p.record(MetricSample::AppState { foreground: p.foreground }, now_ms);
            }
            if p.reported.power_save != Some(p.power_save) {
                p.reported.power_save = Some(p.power_save);
                p.record(MetricSample::PowerSaveMode { enabled: p.power_save }, now_ms);
            }
            // MeshTune's Android collector reads the headroom while the phone is warm.
            if p.thermal >= ThermalState::Fair && t % os.headroom_read_every_s == 0 {
                let history = p.temp_history.make_contiguous();
                let severe_c = self.radio.thermal_thresholds_c[1];
                if let Some(headroom) = os.thermal_headroom(history, severe_c, os.headroom_forecast_s) {
                    p.record(MetricSample::ThermalHeadroom { headroom, forecast_s: os.headroom_forecast_s }, now_ms);
                }
            }
            if t % 10 == 0 {
                let used_mb = s.heap_base_mb + s.heap_cache_mb * (1.0 - f64::from(p.settings.trim_percent()) / 100.0);
                p.record(MetricSample::Heap { used_mb, limit_mb: s.heap_limit_mb }, now_ms);
            }
        }
    }

    /// The sender's receipt timeout (see [`RECEIPT_TIMEOUT_MIN_MS`]).
    fn receipt_timeout_ms(&self) -> u64 {
        ((self.scenario.slo_p95_latency_ms * 4.0) as u64).max(RECEIPT_TIMEOUT_MIN_MS)
    }

    fn decide(&mut self, t: u64, now_ms: u64) {
        let evaluate = t % EVALUATE_EVERY_S == 0;
        for i in 0..self.phones.len() {
            // Receipts that did not come: the app counts those messages lost (if it is running
            // to notice; an app that is not running forgets what it was waiting for).
            let online = self.phones[i].online(t);
            let p = &mut self.phones[i];
            while p.receipts_due_ms.front().is_some_and(|&due| due <= now_ms) {
                let due = p.receipts_due_ms.pop_front().unwrap_or(now_ms);
                if online {
                    p.record(MetricSample::MessageLost { hops: 0 }, due);
                }
            }
            if !online {
                continue;
            }
            let view = {
                let p = &self.phones[i];
                DeviceView {
                    battery_percent: p.battery_mah / self.scenario.battery_capacity_mah * 100.0,
                    charging: p.charging,
                    foreground: p.foreground,
                }
            };
            let wanted: Vec<(Option<u64>, OptimizationAction)> = match self.policy {
                Policy::RadioOff | Policy::StaticBalanced | Policy::StaticPerformance | Policy::OracleStatic => {
                    Vec::new()
                }
                Policy::BatteryModes if evaluate => {
                    battery_mode(view).actions().into_iter().map(|a| (None, a)).collect()
                }
                Policy::BitChat2026 if evaluate => {
                    let p = &mut self.phones[i];
                    let (actions, gate) = bitchat_2026_mode(view).settings(!p.conns.is_empty());
                    p.settings.connect_min_rssi_dbm = Some(gate);
                    actions.into_iter().map(|a| (None, a)).collect()
                }
                Policy::Threshold if evaluate => {
                    let p = &mut self.phones[i];
                    match p.monitor.as_mut() {
                        Some(monitor) => {
                            monitor.tick(now_ms);
                            let m = monitor.snapshot().metrics;
                            threshold_actions(
                                &m,
                                self.scenario.slo_p95_latency_ms,
                                self.config.target_consensus_ops_per_sec,
                                self.scenario.heap_limit_mb,
                            )
                            .into_iter()
                            .map(|a| (None, a))
                            .collect()
                        }
                        None => Vec::new(),
                    }
                }
                Policy::MeshTune => {
                    let p = &mut self.phones[i];
                    match p.engine.as_mut() {
                        Some(engine)
                            if now_ms >= p.next_tick_ms
                                || ((p.late || p.urgent)
                                    && now_ms >= p.last_tick_ms + engine.config().min_tick_interval_ms) =>
                        {
                            p.last_tick_ms = now_ms;
                            p.late_watch.reset(now_ms);
                            p.late = false;
                            p.urgent = false;
                            let events = engine.tick(now_ms);
                            p.next_tick_ms = now_ms + engine.next_tick_interval_ms();
                            let mut out = Vec::new();
                            for e in events {
                                if self.trace_phone == Some(i) {
                                    eprintln!("t={t} {e:?}");
                                }
                                match e {
                                    EngineEvent::Action(a) => out.push((Some(a.id), a.action)),
                                    EngineEvent::Outcome(
                                        OutcomeEvent::Worse { restore_action_id: Some(_), .. }
                                        | OutcomeEvent::NoEffect { restore_action_id: Some(_), .. },
                                    ) => self.reverted += 1,
                                    EngineEvent::Outcome(_) => {}
                                }
                            }
                            out
                        }
                        _ => Vec::new(),
                    }
                }
                _ => Vec::new(),
            };
            for (id, action) in wanted {
                if id.is_none() && self.phones[i].settings.profile[action.knob().index()] == action {
                    continue;
                }
                let refusal = self.platform_refusal(i, &action, now_ms);
                let applied = refusal.is_none();
                if applied {
                    let p = &mut self.phones[i];
                    if matches!(action, OptimizationAction::SetScanMode { .. }) {
                        // A new scan session: one start, and the timeout starts again.
                        p.scan_restarts_ms.push(now_ms);
                        p.scan_started_ms = now_ms;
                    }
                    if p.settings.apply(&action) {
                        p.knob_changes += 1;
                        let state =
                            p.state_changed_ms.is_some_and(|s| now_ms.saturating_sub(s) <= STATE_CHANGE_WINDOW_MS);
                        if state {
                            p.knob_changes_state += 1;
                        }
                        if self.trace_phone == Some(i) {
                            let kind = if state { "state-driven" } else { "other" };
                            eprintln!("t={} knob change ({kind}): {action:?}", now_ms / 1000);
                        }
                    }
                } else {
                    self.refused += 1;
                }
                if let Some(id) = id {
                    let delay = self.platform_rng.range(APPLY_DELAY_MS.0, APPLY_DELAY_MS.1) as u64;
                    if let Some(engine) = self.phones[i].engine.as_mut() {
                        // The id came from this engine's own tick, so it is pending: an error
                        // here would be a bug in the simulator; the engine counts nothing then.
                        let _ = engine.report_action_result(id, applied, refusal, now_ms + delay);
                    }
                }
            }
        }
    }

    /// Whether the platform refuses an action, with the platform's reason. A scan-mode change
    /// is a scan start: refused when this app's starts in the last 30 s (its changes and its
    /// duty cycle's starts) already used the quota.
    fn platform_refusal(&mut self, i: usize, action: &OptimizationAction, now_ms: u64) -> Option<String> {
        let quota = self.radio.os.scan_starts_per_30s as usize;
        let p = &mut self.phones[i];
        match action {
            OptimizationAction::SetScanMode { .. } => {
                p.scan_restarts_ms.retain(|&at| at + 30_000 > now_ms);
                let (_, on, off) = p.settings.scan();
                let cycle_starts = if off == 0 { 0 } else { ((30_000 / u64::from(on + off)) as usize).min(quota) };
                if p.scan_restarts_ms.len() + cycle_starts >= quota {
                    self.scan_starts_refused += 1;
                    return Some("SCAN_FAILED_SCANNING_TOO_FREQUENTLY".to_owned());
                }
                None
            }
            OptimizationAction::SetConnectionPriority { .. } => {
                if self.platform_rng.chance(PRIORITY_REFUSAL_PROBABILITY) {
                    Some("requestConnectionPriority returned false (GATT busy)".to_owned())
                } else {
                    None
                }
            }
            _ => None,
        }
    }

    fn close_minute(&mut self) {
        let (intended, on_time) = self.score.close_minute();
        let minute_ratio = if intended == 0 { None } else { Some(ratio(on_time, intended)) };
        if let Some(r) = minute_ratio {
            self.slo_minutes += 1;
            if r >= self.scenario.target_on_time_ratio {
                self.slo_met_minutes += 1;
            }
        }
        let cap = self.scenario.battery_capacity_mah;
        let n = self.phones.len() as f64;
        let battery = self.phones.iter().map(|p| p.battery_mah / cap * 100.0).sum::<f64>() / n;
        let duty =
            self.phones.iter().map(|p| p.sched.map_or(0.0, |s| s.own_listening_share()) * 100.0).sum::<f64>() / n;
        self.series.on_time_ratio.push(minute_ratio);
        self.series.battery_percent.push(battery);
        self.series.scan_duty_percent.push(duty);
    }

    fn finish(self, steps: u64, seed: u64) -> RunResult {
        let s = self.scenario;
        let n = self.phones.len() as f64;
        let hours = steps as f64 / 3600.0;
        let phone_hours = n * hours;
        let cap = s.battery_capacity_mah;
        let energy_mah: f64 = self.phones.iter().map(|p| p.charge_uc / 3.6e6).sum();
        let mesh_ma = energy_mah / phone_hours;
        let on_time = self.score.on_time_count();
        let phone_s = n * steps as f64;
        let sum = |f: &dyn Fn(&Phone) -> u64| self.phones.iter().map(f).sum::<u64>() as f64;
        let missed = self.discoveries_missed;
        RunResult {
            scenario: s.name.clone(),
            policy: self.policy.name().to_owned(),
            seed,
            phones: self.phones.len() as u32,
            hours,
            messages_sent: self.messages_sent,
            intended_deliveries: self.score.intended_count(),
            on_time_ratio: self.score.on_time_ratio(),
            delivery_ratio: self.score.delivery_ratio(),
            p50_latency_ms: self.score.latency_quantile_ms(0.5),
            p95_latency_ms: self.score.latency_quantile_ms(0.95),
            slo_attainment: ratio(self.slo_met_minutes, self.slo_minutes),
            energy_per_on_time_uah: if on_time == 0 { None } else { Some(energy_mah * 1000.0 / on_time as f64) },
            mesh_mah_per_phone_hour: mesh_ma,
            battery_hours: cap / (s.standby_current_ma + mesh_ma).max(1e-9),
            thermal_serious_share: sum(&|p| p.serious_s) / phone_s,
            thermal_critical_share: sum(&|p| p.critical_s) / phone_s,
            thermal_shutdowns: self.shutdowns,
            scan_starts_refused: self.scan_starts_refused,
            scans_downgraded_timeout: self.scans_downgraded,
            scans_capped_background: self.scans_capped,
            p95_discovery_ms: quantile_with_missed(self.discoveries.iter().map(|d| d.0).collect(), missed, 0.95),
            discovery_over_bound_p95: quantile_with_missed(
                self.discoveries.iter().map(|d| d.0 / d.1).collect(),
                missed,
                0.95,
            ),
            discoveries: self.discoveries.len() as u64,
            discoveries_missed: missed,
            kills: self.kills,
            knob_changes_per_phone_hour: sum(&|p| p.knob_changes) / phone_hours,
            knob_changes_state_driven_per_phone_hour: sum(&|p| p.knob_changes_state) / phone_hours,
            battery_left_percent: self.phones.iter().map(|p| p.battery_mah / cap * 100.0).sum::<f64>() / n,
            phones_empty: self.phones.iter().filter(|p| p.empty_at_s.is_some()).count() as u32,
            actions_reverted: self.reverted,
            actions_refused: self.refused,
            consensus_ops_per_sec_per_table: if self.tables.is_empty() {
                None
            } else {
                Some(self.ops_finalized / self.tables.len() as f64 / (hours * 3600.0))
            },
            energy_uah_per_op: if self.tables.is_empty() || self.ops_finalized <= 0.0 {
                None
            } else {
                Some(energy_mah * 1000.0 / self.ops_finalized)
            },
            consensus_ops_dropped: self.ops_dropped,
            series: self.series,
        }
    }
}

/// The `q` quantile (the order statistic at rank ⌈q·n⌉) of `v` and `missed` more values that are
/// infinite; None when it is infinite or there is nothing at all.
fn quantile_with_missed(mut v: Vec<f64>, missed: u64, q: f64) -> Option<f64> {
    let n = v.len() + missed as usize;
    if n == 0 {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
    v.get(rank - 1).copied()
}

/// The app restarts (after a kill or a thermal shutdown): the policy's starting settings, no
/// connections, a fresh optimizer, a new scan session from `at_ms`.
fn restart(p: &mut Phone, initial: &Settings, config: &OptimizerConfig, at_ms: u64) {
    p.settings = initial.clone();
    p.receipts_due_ms.clear();
    p.conns.clear();
    p.reported = Reported::default();
    p.scan_started_ms = at_ms;
    p.sched = None;
    // The restarted app learns the device state anew.
    p.device_state = None;
    if p.engine.is_some() {
        // The configuration was validated when the run was set up.
        p.engine = Engine::new(config.clone()).ok();
        p.next_tick_ms = at_ms;
        p.urgent_samples = meshtune::UrgentSamples::default();
        p.urgent = false;
        p.late_watch.reset(at_ms);
        p.late = false;
    }
}

/// The scoreboard's battery band for a level, from the current band: down at a threshold, up
/// only [`BATTERY_BAND_HYSTERESIS`] points above it.
pub fn battery_band(level_percent: f64, current: usize) -> usize {
    let down = BATTERY_BANDS.iter().filter(|&&t| level_percent > t).count();
    if down < current {
        return down;
    }
    let up = BATTERY_BANDS.iter().filter(|&&t| level_percent > t + BATTERY_BAND_HYSTERESIS).count();
    up.max(current)
}

/// Runs one scenario under one policy with a seed.
pub fn run(scenario: &Scenario, policy: Policy, seed: u64, progress: &mut dyn FnMut(f64)) -> Result<RunResult, String> {
    Ok(World::new(scenario, policy, seed, RadioModel::default())?.run(progress))
}

/// Runs with a given radio model (model-sanity tests and what-if studies).
pub fn run_with_model(scenario: &Scenario, policy: Policy, seed: u64, radio: RadioModel) -> Result<RunResult, String> {
    Ok(World::new(scenario, policy, seed, radio)?.run(&mut |_| {}))
}

/// Runs one fixed configuration (reported as `oracle-static`).
pub fn run_fixed(scenario: &Scenario, config: &StaticConfig, seed: u64) -> Result<RunResult, String> {
    Ok(World::with_fixed(scenario, config, seed, RadioModel::default())?.run(&mut |_| {}))
}

#[cfg(test)]
mod tests {
    use super::quantile_with_missed;

    #[test]
    fn missed_values_are_infinite_in_the_quantile() {
        let found: Vec<f64> = (1..=95).map(f64::from).collect();
        // 95 found and 5 missed of 100: the p95 is the 95th value, the largest found.
        assert_eq!(quantile_with_missed(found.clone(), 5, 0.95), Some(95.0));
        // One more missed (6 of 101): the p95 falls among the missed, infinite.
        assert_eq!(quantile_with_missed(found.clone(), 6, 0.95), None);
        assert_eq!(quantile_with_missed(found, 0, 0.5), Some(48.0));
        assert_eq!(quantile_with_missed(Vec::new(), 0, 0.95), None);
        assert_eq!(quantile_with_missed(Vec::new(), 3, 0.95), None);
    }
}

#![forbid(unsafe_code)]
//! [`BleCoordinator`]: the one definition, for Android and iOS alike, of what the platform glue
//! used to decide on its own, each platform differently (issue 12):
//!
//! - **What a discovery is, and how long it took.** A discovery is the first sighting of a peer
//!   that was never seen, or that went unseen for `peer_absent_after_scan_ms` of listening
//!   (time the scanner was on: the pauses of a duty cycle do not make a peer new).
//!   Re-sightings of a present peer never count. A phone cannot see when a peer came into
//!   range, so a discovery is *timed* only where the start is known: from the start of a scan
//!   session to the sighting, for peers found within the session's first
//!   `discovery_horizon_scan_ms` of listening (the neighbours that were there when the phone
//!   started looking). A peer found later may have arrived at any time: it is counted as an
//!   untimed arrival, not given an invented latency. A session starts with the first scan and
//!   again after the scanner was off, outside its schedule (paused, stopped by the OS, a failed
//!   start), for `session_gap_ms`; every peer is then new again.
//! - **When the scanner runs.** The last `SetScanMode` is a schedule (on for `duty_on_ms`, off
//!   for `duty_off_ms`, again; continuous when the off time is 0) that the coordinator runs: it
//!   says whether the scanner should be on, in which mode, and when to ask again.
//! - **Android's scan-start quota.** Android blocks an app that starts more than 5 scans in
//!   30 s (REFERENCE.md: `SCAN_FAILED_SCANNING_TOO_FREQUENTLY`, or silently). The coordinator
//!   counts every start, its own and the app's, never asks for a start the quota would block,
//!   and says when the next one is allowed; an on-phase that would break it starts late.
//! - **Peer counts and connection set-up times** from connection events.
//!
//! The platform layers only report raw events (scan result for peer X, scan started, stopped or
//! failed, connection requested or changed) with the time, and run the one timer the answer
//! asks for. Every call returns a [`BleUpdate`]: samples to record, and the scanner state to
//! reconcile with. Time is passed in, never read, so the same scenario gives the same answers in
//! Rust, Kotlin and Swift (`tests/ble_scenarios/`); the platforms pass [`boot_time_ms`], the
//! clock that counts suspend. A time earlier than one seen before is taken as the later one.
//!
//! On the JVM, scan results can also come through the fast path (`FastScanResults` in Kotlin,
//! over JNI: [`BleCoordinator::fast_scan_result`]), which returns a status rather than a
//! `BleUpdate`: a re-sighting that changes nothing then costs one JNI call, and the samples of
//! the others wait, in order, for the next generated call, which returns them first.

use std::collections::{HashMap, HashSet, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use crate::fastpath::{FAST_INVALID_SAMPLE, FAST_NOT_CARRIED, FAST_OK, FAST_PANIC, FAST_UPDATE_PENDING};
use crate::{MetricSample, OptimizationAction, OptimizerError, ScanMode};

/// Time between the quota's opening and the start the coordinator then asks for: timers fire a
/// little late or early, and Android's Bluetooth process keeps its own clock.
pub const QUOTA_MARGIN_MS: u64 = 250;

/// How long after the scanner stopped outside its schedule (or failed to start) the coordinator
/// asks for a start again, when its schedule gives no earlier on-phase.
pub const RETRY_AFTER_MS: u64 = 10_000;

/// How long before `os_scan_limit_ms` a continuous scan is restarted (timers fire a little late).
pub const OS_LIMIT_MARGIN_MS: u64 = 5_000;

/// Longest peer id taken (a Bluetooth address is 17 characters, a CoreBluetooth UUID 36).
pub const MAX_PEER_ID_BYTES: usize = 128;

/// Most samples the JVM fast path's scan results keep for the next generated call
/// ([`BleCoordinator::fast_scan_result`]); past it, a scan result goes through `scan_result`.
pub const MAX_PENDING_SAMPLES: usize = 256;

/// The rules of [`BleCoordinator`]. Every field has a default.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct BleRules {
    /// Listening time (scanner on) without a sighting after which a peer is gone: its next
    /// sighting is a discovery. Default 20 000 ms (at `LOW_POWER`'s older 512/5120 ms windows,
    /// about four windows of the radio's own duty cycle).
    #[uniffi(default = 20000)]
    pub peer_absent_after_scan_ms: u64,
    /// Discoveries within this much listening of a session's start are timed; later ones are
    /// untimed arrivals. Default 20 000 ms.
    #[uniffi(default = 20000)]
    pub discovery_horizon_scan_ms: u64,
    /// The scanner off outside its schedule for this long ends the scan session. Default
    /// 60 000 ms.
    #[uniffi(default = 60000)]
    pub session_gap_ms: u64,
    /// Scan starts allowed in any `scan_start_window_ms` (Android: 5). Default 5.
    #[uniffi(default = 5)]
    pub scan_starts_per_window: u32,
    /// The quota's window. Default 30 000 ms (Android).
    #[uniffi(default = 30000)]
    pub scan_start_window_ms: u64,
    /// Peers remembered; beyond it the one unseen longest is forgotten. Default 4096.
    #[uniffi(default = 4096)]
    pub max_peers: u32,
    /// The OS downgrades a scan that has run this long without a restart (Android: to
    /// opportunistic after 10 minutes, 30 on older releases; REFERENCE.md). The coordinator
    /// restarts such a scan `OS_LIMIT_MARGIN_MS` before, one start charged to the quota, so
    /// that the scanner runs what the engine believes. 0: no such limit (iOS). Default
    /// 600 000 ms.
    #[uniffi(default = 600000)]
    pub os_scan_limit_ms: u64,
}

impl Default for BleRules {
    fn default() -> Self {
        BleRules {
            peer_absent_after_scan_ms: 20_000,
            discovery_horizon_scan_ms: 20_000,
            session_gap_ms: 60_000,
            scan_starts_per_window: 5,
            scan_start_window_ms: 30_000,
            max_peers: 4_096,
            os_scan_limit_ms: 600_000,
        }
    }
}

impl BleRules {
    /// Checks every field; the error names it as `ble_rules.<field>`.
    pub fn validate(&self) -> Result<(), OptimizerError> {
        let ms = |name: &str, v: u64, lo: u64, hi: u64| -> Result<(), OptimizerError> {
            if v < lo || v > hi {
                return Err(OptimizerError::config(
                    &format!("ble_rules.{name}"),
                    format!("{v} is outside {lo}..={hi} ms"),
                ));
            }
            Ok(())
        };
        let week = crate::config::MAX_DURATION_MS;
        ms("peer_absent_after_scan_ms", self.peer_absent_after_scan_ms, 100, week)?;
        ms("discovery_horizon_scan_ms", self.discovery_horizon_scan_ms, 100, week)?;
        ms("session_gap_ms", self.session_gap_ms, 0, week)?;
        ms("scan_start_window_ms", self.scan_start_window_ms, 0, 3_600_000)?;
        if self.os_scan_limit_ms != 0 {
            ms("os_scan_limit_ms", self.os_scan_limit_ms, 2 * OS_LIMIT_MARGIN_MS, week)?;
        }
        if !(1..=1_000).contains(&self.scan_starts_per_window) {
            return Err(OptimizerError::config(
                "ble_rules.scan_starts_per_window",
                format!("{} is outside 1..=1000", self.scan_starts_per_window),
            ));
        }
        if !(1..=65_536).contains(&self.max_peers) {
            return Err(OptimizerError::config(
                "ble_rules.max_peers",
                format!("{} is outside 1..=65536", self.max_peers),
            ));
        }
        Ok(())
    }
}

/// What the scanner should be doing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct ScanStep {
    /// Scan in this mode now (start, or restart in another mode, if it is not so); `None`: the
    /// scanner should be off.
    pub mode: Option<ScanMode>,
    /// Call `step` at this time (the end of the phase, or when the quota allows the next
    /// start); `None`: nothing is due (continuous scanning, or no schedule).
    pub next_step_at_ms: Option<u64>,
    /// The earliest time a scan start keeps within the quota (now or earlier when allowed).
    pub next_start_allowed_at_ms: u64,
    /// An on-phase or a mode change is waiting for the quota.
    pub deferred_by_quota: bool,
}

/// What a call's event means for the app: samples to record, and the scanner state to match.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct BleUpdate {
    /// Record these (`PeerDiscovered`, `PeerCount`, `ConnectionEstablished`), in order.
    pub samples: Vec<MetricSample>,
    /// Make the scanner match this, then set the timer to `scan.next_step_at_ms`.
    pub scan: ScanStep,
}

/// Counts of everything the coordinator saw and decided.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct BleStats {
    /// Discoveries (first sightings and sightings after absence), timed or not.
    pub discoveries: u64,
    /// Discoveries given a latency (`PeerDiscovered`).
    pub discoveries_timed: u64,
    /// Discoveries too far into a session to time (the peer may have arrived at any time).
    pub arrivals_untimed: u64,
    /// Sightings of present peers (never discoveries).
    pub resightings: u64,
    /// Scan sessions started.
    pub sessions: u64,
    /// Scan starts counted against the quota (asked for, or reported without being asked).
    pub scan_starts: u64,
    /// Starts the app made without the coordinator asking.
    pub scan_starts_unrequested: u64,
    /// Steps at which a start had to wait for the quota.
    pub starts_deferred_by_quota: u64,
    /// Scan starts that failed.
    pub scan_start_failures: u64,
    /// Stops the coordinator did not ask for (the OS, Bluetooth off).
    pub unexpected_stops: u64,
    /// Restarts of a scan that would otherwise have reached `os_scan_limit_ms`.
    pub os_limit_restarts: u64,
    /// Times the radio was reported unavailable (Bluetooth off, permission revoked).
    pub radio_unavailable: u64,
    /// Peers forgotten because `max_peers` were remembered.
    pub peers_forgotten: u64,
    /// Times earlier than one seen before (taken as the later one).
    pub clock_regressions: u64,
    /// Peers present now (seen within `peer_absent_after_scan_ms` of listening) or connected.
    pub present_peers: u32,
    /// Peers connected now.
    pub connected_peers: u32,
    /// Listening time so far (scanner on), ms.
    pub listening_ms: u64,
    /// Failures inside the coordinator (a bug), each answered with `Internal`.
    pub internal_panics: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Plan {
    mode: ScanMode,
    on_ms: u64,
    off_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Scanning until `until` (`None`: continuous).
    On { until: Option<u64> },
    /// Off until `until`, then an on-phase.
    Off { until: u64 },
}

#[derive(Debug, Clone, Copy)]
struct Session {
    started_at: u64,
    listening_at_start: u64,
}

#[derive(Debug)]
struct State {
    rules: BleRules,
    last_now: u64,
    plan: Option<Plan>,
    phase: Phase,
    /// What the coordinator last told the app (`None`: off).
    wanted: Option<ScanMode>,
    /// What the app reports its scanner doing.
    running: Option<ScanMode>,
    running_since: u64,
    listening_before: u64,
    /// A start the coordinator asked for and charged to the quota, not yet reported.
    start_requested: bool,
    starts: VecDeque<u64>,
    session: Option<Session>,
    /// Since when the scanner has been off outside its schedule.
    off_outside_since: Option<u64>,
    /// The platform said the radio cannot scan (Bluetooth off, permission revoked).
    radio_unavailable: bool,
    /// Per peer: the listening time at its last sighting.
    peers: HashMap<String, u64>,
    connected: HashSet<String>,
    connecting: HashMap<String, u64>,
    last_count: Option<(u32, u32)>,
    /// The last counts, valid while listening stays below the first value (see `count`).
    count_cache: Option<(u64, (u32, u32))>,
    /// Samples of fast-path scan results, returned first by the next generated call.
    pending: Vec<MetricSample>,
    /// The scanner state a fast-path scan result decided and did not return (`take_update`
    /// returns it: stepping again at the same time could decide differently, for example start
    /// at once the scan that a restart before the OS limit just stopped).
    pending_scan: Option<ScanStep>,
    /// The scanner mode and timer last returned to the app (by a generated call).
    delivered: Option<(Option<ScanMode>, Option<u64>)>,
    stats: BleStats,
}

impl State {
    fn new(rules: BleRules) -> State {
        State {
            rules,
            last_now: 0,
            plan: None,
            phase: Phase::On { until: None },
            wanted: None,
            running: None,
            running_since: 0,
            listening_before: 0,
            start_requested: false,
            starts: VecDeque::new(),
            session: None,
            off_outside_since: Some(0),
            radio_unavailable: false,
            peers: HashMap::new(),
            connected: HashSet::new(),
            connecting: HashMap::new(),
            last_count: None,
            count_cache: None,
            pending: Vec::new(),
            pending_scan: None,
            delivered: None,
            stats: BleStats::default(),
        }
    }

    fn now(&mut self, now_ms: u64) -> u64 {
        if now_ms < self.last_now {
            self.stats.clock_regressions += 1;
        } else {
            self.last_now = now_ms;
        }
        self.last_now
    }

    fn listening(&self, now: u64) -> u64 {
        match self.running {
            Some(_) => self.listening_before + now.saturating_sub(self.running_since),
            None => self.listening_before,
        }
    }

    fn prune_starts(&mut self, now: u64) {
        let window = self.rules.scan_start_window_ms.saturating_add(QUOTA_MARGIN_MS);
        while self.starts.front().is_some_and(|&t| now.saturating_sub(t) >= window) {
            self.starts.pop_front();
        }
    }

    fn next_start_allowed(&mut self, now: u64) -> u64 {
        self.prune_starts(now);
        if self.starts.len() < self.rules.scan_starts_per_window as usize {
            return now;
        }
        // The oldest of the window's starts leaves it at `oldest + window`.
        let oldest = self.starts.front().copied().unwrap_or(now);
        oldest.saturating_add(self.rules.scan_start_window_ms).saturating_add(QUOTA_MARGIN_MS).max(now)
    }

    fn charge_start(&mut self, now: u64) {
        self.starts.push_back(now);
        self.stats.scan_starts += 1;
    }

    /// Moves the schedule on to `now` and decides what the scanner should do.
    fn step(&mut self, now: u64) -> ScanStep {
        // No schedule, or a radio that cannot scan (nothing to start until the platform says
        // it is back): the scanner off, no timer.
        let plan = match self.plan {
            Some(plan) if !self.radio_unavailable => Some(plan),
            _ => None,
        };
        let Some(plan) = plan else {
            self.wanted = None;
            let allowed = self.next_start_allowed(now);
            return ScanStep {
                mode: None,
                next_step_at_ms: None,
                next_start_allowed_at_ms: allowed,
                deferred_by_quota: false,
            };
        };
        match self.phase {
            Phase::On { until: Some(end) } if now >= end => {
                // The off time is kept whole even when the timer fired late.
                self.phase = Phase::Off { until: now.saturating_add(plan.off_ms) };
                self.wanted = None;
            }
            _ => {}
        }
        let needs_start = match self.phase {
            Phase::Off { until } => now >= until,
            // An on-phase with the scanner not in the plan's mode (a new plan, or the scanner
            // stopped and came back) needs a start.
            Phase::On { .. } => self.wanted != Some(plan.mode),
        };
        let mut deferred = false;
        let mut next = match self.phase {
            Phase::On { until } => until,
            Phase::Off { until } => Some(until),
        };
        if !needs_start && self.rules.os_scan_limit_ms > 0 && self.running == Some(plan.mode) {
            if let Phase::On { until } = self.phase {
                // A scan the OS would downgrade before this on-phase ends: restart it first.
                let limit_at = self.running_since.saturating_add(self.rules.os_scan_limit_ms);
                let restart_at = limit_at.saturating_sub(OS_LIMIT_MARGIN_MS);
                if until.is_none_or(|end| end > limit_at) {
                    let allowed = self.next_start_allowed(now).max(restart_at);
                    if now >= allowed {
                        // Off now, on again at once: the app stops the scanner, and the answer
                        // to its `scan_stopped` starts it (one start, within the quota).
                        self.stats.os_limit_restarts += 1;
                        self.wanted = None;
                        return ScanStep {
                            mode: None,
                            next_step_at_ms: Some(now),
                            next_start_allowed_at_ms: now,
                            deferred_by_quota: false,
                        };
                    }
                    deferred = now >= restart_at;
                    if deferred {
                        self.stats.starts_deferred_by_quota += 1;
                    }
                    next = Some(next.map_or(allowed, |n| n.min(allowed)));
                }
            }
        }
        if needs_start {
            let allowed = self.next_start_allowed(now);
            if allowed <= now {
                self.charge_start(now);
                self.start_requested = true;
                self.wanted = Some(plan.mode);
                // A restart within an on-phase keeps the phase's end.
                let until = match self.phase {
                    Phase::On { until: Some(end) } if end > now => Some(end),
                    _ => (plan.off_ms > 0).then(|| now.saturating_add(plan.on_ms)),
                };
                self.phase = Phase::On { until };
                next = until;
            } else {
                // Keep what runs (the old mode, or off) until the quota allows the start.
                deferred = true;
                self.stats.starts_deferred_by_quota += 1;
                next = Some(allowed);
            }
        }
        let allowed = self.next_start_allowed(now);
        ScanStep {
            mode: self.wanted,
            next_step_at_ms: next,
            next_start_allowed_at_ms: allowed,
            deferred_by_quota: deferred,
        }
    }

    fn is_present(&self, last_seen_listening: u64, listening: u64) -> bool {
        listening.saturating_sub(last_seen_listening) <= self.rules.peer_absent_after_scan_ms
    }

    /// (connected, present or connected). Counting walks every peer, so the answer is kept until
    /// a peer is added, forgotten or (dis)connected, or the first present one can go absent:
    /// every event of a busy scan (mostly re-sightings, which change no count) does not walk
    /// the peers again.
    fn count(&mut self, now: u64) -> (u32, u32) {
        let listening = self.listening(now);
        if let Some((valid_until, c)) = self.count_cache {
            if listening < valid_until {
                return c;
            }
        }
        let absent = self.rules.peer_absent_after_scan_ms;
        let mut present = 0usize;
        let mut oldest_present: Option<u64> = None;
        for (id, &seen) in &self.peers {
            if self.is_present(seen, listening) && !self.connected.contains(id) {
                present += 1;
                oldest_present = Some(oldest_present.map_or(seen, |o| o.min(seen)));
            }
        }
        let connected = self.connected.len();
        let c = (u32::try_from(connected).unwrap_or(u32::MAX), u32::try_from(present + connected).unwrap_or(u32::MAX));
        // The first listening time at which the oldest present peer is absent.
        let valid_until = oldest_present.map_or(u64::MAX, |seen| seen.saturating_add(absent).saturating_add(1));
        self.count_cache = Some((valid_until, c));
        c
    }

    /// A `PeerCount` sample when the counts changed since the last one.
    fn count_sample(&mut self, now: u64, out: &mut Vec<MetricSample>) {
        let c = self.count(now);
        self.stats.connected_peers = c.0;
        self.stats.present_peers = c.1;
        if self.last_count != Some(c) {
            self.last_count = Some(c);
            out.push(MetricSample::PeerCount { connected: c.0, discovered: c.1 });
        }
    }

    fn remember(&mut self, peer: &str, listening: u64) {
        self.count_cache = None;
        if !self.peers.contains_key(peer) && self.peers.len() >= self.rules.max_peers as usize {
            let oldest = self.peers.iter().min_by_key(|(_, &seen)| seen).map(|(id, _)| id.clone());
            if let Some(id) = oldest {
                self.peers.remove(&id);
                self.stats.peers_forgotten += 1;
            }
        }
        self.peers.insert(peer.to_owned(), listening);
    }

    fn scan_result(&mut self, peer: &str, now: u64, out: &mut Vec<MetricSample>) {
        let listening = self.listening(now);
        let present = self.peers.get(peer).is_some_and(|&seen| self.is_present(seen, listening));
        if present || self.connected.contains(peer) {
            // Counts do not change (a later expiry only makes the kept count valid longer).
            self.stats.resightings += 1;
            match self.peers.get_mut(peer) {
                Some(seen) => *seen = listening,
                None => self.remember(peer, listening),
            }
            return;
        }
        self.stats.discoveries += 1;
        self.remember(peer, listening);
        match self.session {
            Some(s) if listening.saturating_sub(s.listening_at_start) <= self.rules.discovery_horizon_scan_ms => {
                self.stats.discoveries_timed += 1;
                out.push(MetricSample::PeerDiscovered { duration_ms: now.saturating_sub(s.started_at) as f64 });
            }
            _ => self.stats.arrivals_untimed += 1,
        }
    }

    fn scan_started(&mut self, mode: ScanMode, now: u64) {
        if self.start_requested {
            self.start_requested = false;
        } else {
            // The app started (or restarted) a scan itself: it counts against the quota all
            // the same.
            self.charge_start(now);
            self.stats.scan_starts_unrequested += 1;
        }
        let new_session = match (self.session, self.off_outside_since) {
            (None, _) => true,
            (Some(_), Some(since)) => now.saturating_sub(since) >= self.rules.session_gap_ms,
            (Some(_), None) => false,
        };
        if self.running.is_none() {
            self.running_since = now;
        }
        self.running = Some(mode);
        self.off_outside_since = None;
        if new_session {
            let listening = self.listening(now);
            self.session = Some(Session { started_at: now, listening_at_start: listening });
            self.stats.sessions += 1;
            // A new session: every peer not connected is new again.
            self.peers.clear();
            self.count_cache = None;
        }
    }

    fn stopped(&mut self, now: u64) {
        if self.running.is_some() {
            self.listening_before = self.listening(now);
            self.running = None;
        }
    }

    /// The scanner went off without being asked (or failed to start): the schedule tries again
    /// at its next on-phase, and no later than `RETRY_AFTER_MS` from now.
    fn off_outside_schedule(&mut self, now: u64) {
        if self.off_outside_since.is_none() {
            self.off_outside_since = Some(now);
        }
        self.wanted = None;
        if let Some(plan) = self.plan {
            let delay = if plan.off_ms > 0 { plan.off_ms.min(RETRY_AFTER_MS) } else { RETRY_AFTER_MS };
            self.phase = Phase::Off { until: now.saturating_add(delay) };
        }
    }

    fn scan_stopped(&mut self, now: u64) {
        let expected = self.wanted.is_none();
        self.stopped(now);
        self.start_requested = false;
        if !expected {
            self.stats.unexpected_stops += 1;
            self.off_outside_schedule(now);
        } else if self.plan.is_none() && self.off_outside_since.is_none() {
            self.off_outside_since = Some(now);
        }
    }

    fn scan_start_failed(&mut self, now: u64) {
        self.stats.scan_start_failures += 1;
        self.start_requested = false;
        self.stopped(now);
        self.off_outside_schedule(now);
    }

    fn radio_changed(&mut self, available: bool, now: u64) {
        if available != self.radio_unavailable {
            return;
        }
        self.radio_unavailable = !available;
        if available {
            // Scan again now (within the quota), the schedule's on-phase first.
            if self.plan.is_some() {
                self.phase = Phase::Off { until: now };
            }
        } else {
            self.stats.radio_unavailable += 1;
            if self.off_outside_since.is_none() {
                self.off_outside_since = Some(now);
            }
            // The scanner is off from now, whatever the app reports later.
            self.stopped(now);
            self.start_requested = false;
        }
    }

    fn set_plan(&mut self, plan: Option<Plan>, now: u64) {
        if plan.is_none() && self.off_outside_since.is_none() {
            self.off_outside_since = Some(now);
        }
        if let Some(p) = plan {
            // A new schedule starts with its on-phase, now (or when the quota allows).
            if self.plan != Some(p) {
                self.phase = Phase::On { until: None };
                if self.wanted.is_some() && self.wanted != Some(p.mode) {
                    // The restart in the new mode is a start; `step` asks for it.
                } else if self.wanted == Some(p.mode) && p.off_ms > 0 {
                    self.phase = Phase::On { until: Some(now.saturating_add(p.on_ms)) };
                }
            }
        }
        self.plan = plan;
    }

    fn stats(&mut self, now: u64) -> BleStats {
        let c = self.count(now);
        self.stats.connected_peers = c.0;
        self.stats.present_peers = c.1;
        self.stats.listening_ms = self.listening(now);
        self.stats.clone()
    }
}

/// The milliseconds of a clock that counts suspend (`CLOCK_BOOTTIME` on Android and Linux, the
/// continuous clock on Apple platforms), since the first call in this process: the time to
/// give [`BleCoordinator`]'s methods.
#[uniffi::export]
pub fn boot_time_ms() -> u64 {
    static ORIGIN: OnceLock<u64> = OnceLock::new();
    let now = zeitstempel::now();
    let origin = *ORIGIN.get_or_init(|| now);
    now.saturating_sub(origin) / 1_000_000
}

fn peer_id(field: &str, id: &str) -> Result<(), OptimizerError> {
    if id.is_empty() {
        return Err(OptimizerError::sample(field, "is empty"));
    }
    if id.len() > MAX_PEER_ID_BYTES {
        return Err(OptimizerError::sample(field, format!("is {} bytes, more than {MAX_PEER_ID_BYTES}", id.len())));
    }
    Ok(())
}

/// Discoveries, the scan schedule and its quota, and peer counts, decided in one place for every
/// platform (module docs: [`crate::ble`]). Thread-safe; every method returns what the app
/// should record and how its scanner should be, and changes nothing when it returns an error.
#[derive(Debug, uniffi::Object)]
pub struct BleCoordinator {
    state: Mutex<State>,
    /// This coordinator's id in the fast-path registry, once `fast_handle` was called.
    fast_handle: OnceLock<u64>,
}

impl Drop for BleCoordinator {
    fn drop(&mut self) {
        if let Some(&handle) = self.fast_handle.get() {
            crate::fastpath::unregister_coordinator(handle);
        }
    }
}

impl BleCoordinator {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the state at `now_ms`, catching a panic (a bug) as `Internal`.
    fn with<R>(
        &self,
        site: &'static str,
        now_ms: u64,
        f: impl FnOnce(&mut State, u64, &mut Vec<MetricSample>) -> Result<R, OptimizerError>,
    ) -> Result<(R, BleUpdate), OptimizerError> {
        let mut st = self.lock();
        let result = catch_unwind(AssertUnwindSafe(|| {
            test_hook!("ble");
            let now = st.now(now_ms);
            let mut samples = Vec::new();
            let r = f(&mut st, now, &mut samples)?;
            let scan = st.step(now);
            st.count_sample(now, &mut samples);
            // The fast path's samples came first: they are returned first, and once; its scanner
            // state is superseded by this one.
            let mut all = std::mem::take(&mut st.pending);
            all.append(&mut samples);
            st.pending_scan = None;
            st.delivered = Some((scan.mode, scan.next_step_at_ms));
            Ok((r, BleUpdate { samples: all, scan }))
        }));
        result.unwrap_or_else(|_| {
            st.stats.internal_panics += 1;
            Err(OptimizerError::Internal { reason: format!("BleCoordinator.{site} failed inside MeshTune (a bug)") })
        })
    }

    /// A scan result through the JVM fast path (`MeshTuneJni.scanResult`, src/fastpath/jni.rs),
    /// which returns a status instead of a [`BleUpdate`]: building one through the generated
    /// Kotlin costs about a hundred microseconds, and most scan results are re-sightings that
    /// change nothing. Same validation and state change as [`BleCoordinator::scan_result`]; then:
    ///
    /// - [`FAST_OK`]: nothing for the app to do (no sample, and the scanner mode and timer are
    ///   those the last generated call returned);
    /// - [`FAST_UPDATE_PENDING`]: the event was taken and there is something to follow: call
    ///   `take_update` now, which returns this call's samples (kept in order, at most
    ///   [`MAX_PENDING_SAMPLES`]) and the scanner state it decided;
    /// - [`FAST_INVALID_SAMPLE`]: the id is empty or too long, nothing changed: call
    ///   `scan_result` for the typed error;
    /// - [`FAST_NOT_CARRIED`]: [`MAX_PENDING_SAMPLES`] are waiting, nothing changed: call
    ///   `scan_result`, which returns them all;
    /// - [`FAST_PANIC`]: a failure inside (a bug), counted in `internal_panics`.
    pub(crate) fn fast_scan_result(&self, peer_id: &str, now_ms: u64) -> i32 {
        if self::peer_id("scan_result.peer_id", peer_id).is_err() {
            return FAST_INVALID_SAMPLE;
        }
        let mut st = self.lock();
        if st.pending.len() >= MAX_PENDING_SAMPLES {
            return FAST_NOT_CARRIED;
        }
        let result = catch_unwind(AssertUnwindSafe(|| {
            test_hook!("ble");
            let now = st.now(now_ms);
            let mut samples = Vec::new();
            st.scan_result(peer_id, now, &mut samples);
            let scan = st.step(now);
            st.count_sample(now, &mut samples);
            let unchanged = st.delivered == Some((scan.mode, scan.next_step_at_ms));
            if samples.is_empty() && st.pending.is_empty() && unchanged {
                FAST_OK
            } else {
                st.pending.append(&mut samples);
                st.pending_scan = Some(scan);
                FAST_UPDATE_PENDING
            }
        }));
        result.unwrap_or_else(|_| {
            st.stats.internal_panics += 1;
            FAST_PANIC
        })
    }

    fn update(
        &self,
        site: &'static str,
        now_ms: u64,
        f: impl FnOnce(&mut State, u64, &mut Vec<MetricSample>) -> Result<(), OptimizerError>,
    ) -> Result<BleUpdate, OptimizerError> {
        self.with(site, now_ms, f).map(|((), u)| u)
    }
}

#[uniffi::export]
impl BleCoordinator {
    /// A coordinator with `rules` (an error names the field as `ble_rules.<field>`). It starts
    /// with no schedule: the scanner stays off until `set_plan`.
    #[uniffi::constructor]
    pub fn new(rules: BleRules) -> Result<Arc<BleCoordinator>, OptimizerError> {
        rules.validate()?;
        Ok(Arc::new(BleCoordinator { state: Mutex::new(State::new(rules)), fast_handle: OnceLock::new() }))
    }

    /// This coordinator's handle for the JVM fast path (`FastScanResults`, which calls it):
    /// the same number on every call, never reused, and it does not keep the coordinator
    /// alive. 0 (never a handle) if registering failed inside MeshTune (a bug, counted in
    /// `internal_panics`); the fast path then refuses it and the generated calls are used.
    pub fn fast_handle(self: Arc<Self>) -> u64 {
        let this = Arc::clone(&self);
        match catch_unwind(AssertUnwindSafe(move || {
            *this.fast_handle.get_or_init(|| {
                test_hook!("ble_fast_handle");
                crate::fastpath::register_coordinator(&this)
            })
        })) {
            Ok(handle) => handle,
            Err(_) => {
                self.lock().stats.internal_panics += 1;
                0
            }
        }
    }

    /// Runs the schedule of a `SetScanMode` action (call it when applying one). Any other
    /// action, or one out of bounds, is `InvalidAction` naming the field, and nothing changes.
    pub fn set_plan(&self, action: OptimizationAction, now_ms: u64) -> Result<BleUpdate, OptimizerError> {
        let OptimizationAction::SetScanMode { mode, duty_on_ms, duty_off_ms } = action else {
            return Err(OptimizerError::InvalidAction {
                field: "set_plan.action".to_owned(),
                reason: format!("{action} is not a SetScanMode"),
            });
        };
        action.validate()?;
        let plan = Plan { mode, on_ms: u64::from(duty_on_ms), off_ms: u64::from(duty_off_ms) };
        self.update("set_plan", now_ms, |st, now, _| {
            st.set_plan(Some(plan), now);
            Ok(())
        })
    }

    /// Ends the schedule: the scanner should be off (MeshTune no longer runs it).
    pub fn clear_plan(&self, now_ms: u64) -> Result<BleUpdate, OptimizerError> {
        self.update("clear_plan", now_ms, |st, now, _| {
            st.set_plan(None, now);
            Ok(())
        })
    }

    /// Moves the schedule on: call it at the time the last answer's `next_step_at_ms` gave.
    pub fn step(&self, now_ms: u64) -> Result<BleUpdate, OptimizerError> {
        self.update("step", now_ms, |_, _, _| Ok(()))
    }

    /// What a fast-path scan result left for the app (it answered `FAST_UPDATE_PENDING`): its
    /// samples and the scanner state it decided, without moving the schedule again. With
    /// nothing left, the same as `step`. Apps do not call it: `FastScanResults` does.
    pub fn take_update(&self, now_ms: u64) -> Result<BleUpdate, OptimizerError> {
        let taken = {
            let mut st = self.lock();
            let result = catch_unwind(AssertUnwindSafe(|| {
                test_hook!("ble");
                let scan = st.pending_scan.take()?;
                st.now(now_ms);
                let samples = std::mem::take(&mut st.pending);
                st.delivered = Some((scan.mode, scan.next_step_at_ms));
                Some(BleUpdate { samples, scan })
            }));
            if result.is_err() {
                st.stats.internal_panics += 1;
            }
            result
        };
        match taken {
            Ok(Some(update)) => Ok(update),
            Ok(None) => self.step(now_ms),
            Err(_) => Err(OptimizerError::Internal {
                reason: "BleCoordinator.take_update failed inside MeshTune (a bug)".to_owned(),
            }),
        }
    }

    /// The scanner started scanning in `mode` (`startScan` returned without error), asked for or
    /// not: every start counts against the quota.
    pub fn scan_started(&self, mode: ScanMode, now_ms: u64) -> Result<BleUpdate, OptimizerError> {
        self.update("scan_started", now_ms, |st, now, _| {
            st.scan_started(mode, now);
            Ok(())
        })
    }

    /// The scanner stopped: asked for, or not (the OS, Bluetooth turned off).
    pub fn scan_stopped(&self, now_ms: u64) -> Result<BleUpdate, OptimizerError> {
        self.update("scan_stopped", now_ms, |st, now, _| {
            st.scan_stopped(now);
            Ok(())
        })
    }

    /// A scan start failed (`onScanFailed`, an exception, Bluetooth off); `reason` is the
    /// platform's, written to MeshTune's log (debug level). The schedule tries again later.
    pub fn scan_start_failed(&self, reason: String, now_ms: u64) -> Result<BleUpdate, OptimizerError> {
        tracing::debug!(%reason, "scan start failed; the schedule retries");
        self.update("scan_start_failed", now_ms, |st, now, _| {
            st.scan_start_failed(now);
            Ok(())
        })
    }

    /// The radio became unavailable (`available` false: Bluetooth turned off, the scan
    /// permission revoked) or available again. While unavailable the scanner is off, nothing is
    /// retried and no timer is asked for; once available the schedule starts again at once
    /// (within the quota). The time off counts toward `session_gap_ms`.
    pub fn radio_state_changed(&self, available: bool, now_ms: u64) -> Result<BleUpdate, OptimizerError> {
        self.update("radio_state_changed", now_ms, |st, now, _| {
            st.radio_changed(available, now);
            Ok(())
        })
    }

    /// A scan result for `peer_id` (a Bluetooth address, a peripheral's UUID): a
    /// `PeerDiscovered` sample when it is a timed discovery. An empty or over-long id is
    /// `InvalidSample` naming `scan_result.peer_id`.
    pub fn scan_result(&self, peer_id: String, now_ms: u64) -> Result<BleUpdate, OptimizerError> {
        self::peer_id("scan_result.peer_id", &peer_id)?;
        self.update("scan_result", now_ms, |st, now, out| {
            st.scan_result(&peer_id, now, out);
            Ok(())
        })
    }

    /// A connection to `peer_id` was requested (`connectGatt`, `CBCentralManager.connect`): its
    /// set-up time counts from here.
    pub fn connect_requested(&self, peer_id: String, now_ms: u64) -> Result<BleUpdate, OptimizerError> {
        self::peer_id("connect_requested.peer_id", &peer_id)?;
        self.update("connect_requested", now_ms, |st, now, _| {
            if !st.connecting.contains_key(&peer_id) && st.connecting.len() >= st.rules.max_peers as usize {
                st.connecting.clear();
            }
            st.connecting.insert(peer_id, now);
            Ok(())
        })
    }

    /// `peer_id` connected (`ConnectionEstablished` when its request was reported) or
    /// disconnected (or failed to connect).
    pub fn connection_changed(
        &self,
        peer_id: String,
        connected: bool,
        now_ms: u64,
    ) -> Result<BleUpdate, OptimizerError> {
        self::peer_id("connection_changed.peer_id", &peer_id)?;
        self.update("connection_changed", now_ms, |st, now, out| {
            st.count_cache = None;
            let requested = st.connecting.remove(&peer_id);
            if connected {
                if !st.connected.contains(&peer_id) && st.connected.len() >= st.rules.max_peers as usize {
                    return Ok(());
                }
                let listening = st.listening(now);
                st.remember(&peer_id, listening);
                st.connected.insert(peer_id);
                if let Some(at) = requested {
                    out.push(MetricSample::ConnectionEstablished { duration_ms: now.saturating_sub(at) as f64 });
                }
            } else if st.connected.remove(&peer_id) {
                // A peer that was connected was present until now.
                let listening = st.listening(now);
                st.peers.insert(peer_id, listening);
            }
            Ok(())
        })
    }

    /// Counts of what the coordinator saw and decided, at `now_ms`. Never panics (Swift calls
    /// it without `try`): a failure inside returns the last counts with `internal_panics` up.
    pub fn stats(&self, now_ms: u64) -> BleStats {
        let mut st = self.lock();
        let result = catch_unwind(AssertUnwindSafe(|| {
            test_hook!("ble");
            let now = st.now(now_ms);
            st.stats(now)
        }));
        result.unwrap_or_else(|_| {
            st.stats.internal_panics += 1;
            st.stats.clone()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(mode: ScanMode, on: u32, off: u32) -> OptimizationAction {
        OptimizationAction::SetScanMode { mode, duty_on_ms: on, duty_off_ms: off }
    }

    fn discovered(u: &BleUpdate) -> Vec<f64> {
        u.samples
            .iter()
            .filter_map(|s| match s {
                MetricSample::PeerDiscovered { duration_ms } => Some(*duration_ms),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn bad_rules_and_ids_are_refused_by_name_and_change_nothing() {
        let bad = BleRules { max_peers: 0, ..BleRules::default() };
        match BleCoordinator::new(bad) {
            Err(OptimizerError::InvalidConfig { field, .. }) => assert_eq!(field, "ble_rules.max_peers"),
            other => panic!("{other:?}"),
        }
        let c = BleCoordinator::new(BleRules::default()).unwrap();
        c.set_plan(scan(ScanMode::LowLatency, 1_000, 0), 0).unwrap();
        c.scan_started(ScanMode::LowLatency, 0).unwrap();
        match c.scan_result(String::new(), 10) {
            Err(OptimizerError::InvalidSample { field, .. }) => assert_eq!(field, "scan_result.peer_id"),
            other => panic!("{other:?}"),
        }
        assert!(c.scan_result("x".repeat(MAX_PEER_ID_BYTES + 1), 10).is_err());
        match c.set_plan(OptimizationAction::SetObjectPooling { enabled: true }, 10) {
            Err(OptimizerError::InvalidAction { field, .. }) => assert_eq!(field, "set_plan.action"),
            other => panic!("{other:?}"),
        }
        match c.set_plan(scan(ScanMode::LowPower, 1, 0), 10) {
            Err(OptimizerError::InvalidAction { field, .. }) => assert_eq!(field, "SetScanMode.duty_on_ms"),
            other => panic!("{other:?}"),
        }
        let s = c.stats(10);
        assert_eq!((s.discoveries, s.scan_starts), (0, 1));
        // The refused plan did not replace the running one.
        assert_eq!(c.step(20).unwrap().scan.mode, Some(ScanMode::LowLatency));
    }

    #[test]
    fn resightings_never_count_and_absence_is_measured_in_listening_time() {
        let c = BleCoordinator::new(BleRules::default()).unwrap();
        // 2 s on, 28 s off: the off phases must not make the peer new.
        let u = c.set_plan(scan(ScanMode::LowPower, 2_000, 28_000), 0).unwrap();
        assert_eq!(u.scan.mode, Some(ScanMode::LowPower));
        assert_eq!(u.scan.next_step_at_ms, Some(2_000));
        c.scan_started(ScanMode::LowPower, 0).unwrap();
        assert_eq!(discovered(&c.scan_result("A".into(), 700).unwrap()), vec![700.0]);
        let mut t = 0;
        for _ in 0..12 {
            // Off at t + 2 s, on again at t + 30 s: the peer is seen in every on-phase.
            let off = c.step(t + 2_000).unwrap();
            assert_eq!(off.scan.mode, None);
            c.scan_stopped(t + 2_000).unwrap();
            t += 30_000;
            let on = c.step(t).unwrap();
            assert_eq!(on.scan.mode, Some(ScanMode::LowPower));
            c.scan_started(ScanMode::LowPower, t).unwrap();
            assert!(discovered(&c.scan_result("A".into(), t + 300).unwrap()).is_empty());
        }
        let s = c.stats(t + 400);
        assert_eq!((s.discoveries, s.resightings, s.sessions), (1, 12, 1));
        // Unseen for more than 20 s of listening (11 on-phases of 2 s): gone; its next sighting
        // is a discovery, beyond the session's horizon, so untimed.
        for _ in 0..11 {
            c.step(t + 2_000).unwrap();
            c.scan_stopped(t + 2_000).unwrap();
            t += 30_000;
            c.step(t).unwrap();
            c.scan_started(ScanMode::LowPower, t).unwrap();
        }
        assert_eq!(c.stats(t).present_peers, 0);
        assert!(discovered(&c.scan_result("A".into(), t + 100).unwrap()).is_empty());
        let s = c.stats(t + 100);
        assert_eq!((s.discoveries, s.discoveries_timed, s.arrivals_untimed), (2, 1, 1));
    }

    #[test]
    fn the_quota_is_never_broken_and_says_when_the_next_start_is_allowed() {
        let c = BleCoordinator::new(BleRules::default()).unwrap();
        // Seven mode changes within a second: five starts go out, the rest wait for the quota.
        let modes = [ScanMode::LowPower, ScanMode::Balanced, ScanMode::LowLatency];
        let mut last = None;
        for i in 0..7u64 {
            let m = modes[(i % 3) as usize];
            let u = c.set_plan(scan(m, 1_000, 0), i * 100).unwrap();
            if u.scan.mode == Some(m) && !u.scan.deferred_by_quota {
                c.scan_started(m, i * 100).unwrap();
            }
            last = Some(u);
        }
        let last = last.unwrap();
        assert!(last.scan.deferred_by_quota);
        // Still the fifth start's mode (index 4: Balanced) until the first start leaves the window.
        assert_eq!(last.scan.mode, Some(ScanMode::Balanced));
        assert_eq!(last.scan.next_step_at_ms, Some(30_000 + QUOTA_MARGIN_MS));
        assert_eq!(last.scan.next_start_allowed_at_ms, 30_000 + QUOTA_MARGIN_MS);
        assert_eq!(c.stats(600).scan_starts, 5);
        // Too early: still deferred. At the allowed time: the start goes out.
        assert!(c.step(30_000).unwrap().scan.deferred_by_quota);
        let u = c.step(30_000 + QUOTA_MARGIN_MS).unwrap();
        assert_eq!((u.scan.mode, u.scan.deferred_by_quota), (Some(ScanMode::LowPower), false));
        assert_eq!(c.stats(30_000 + QUOTA_MARGIN_MS).scan_starts, 6);
    }

    /// What the platform glue does with an answer: make the scanner match it and report the
    /// start or stop (a restart in another mode is reported as a start only).
    #[derive(Default)]
    struct Glue {
        running: Option<ScanMode>,
        starts: Vec<u64>,
    }

    impl Glue {
        fn follow(&mut self, c: &BleCoordinator, u: BleUpdate, now: u64) -> BleUpdate {
            if u.scan.mode == self.running {
                return u;
            }
            self.running = u.scan.mode;
            let next = match u.scan.mode {
                Some(m) => {
                    self.starts.push(now);
                    c.scan_started(m, now).unwrap()
                }
                None => c.scan_stopped(now).unwrap(),
            };
            self.follow(c, next, now)
        }
    }

    #[test]
    fn a_restart_before_the_os_limit_keeps_the_on_phase_end_and_waits_for_the_quota() {
        // A limit of 100 s (an OEM's, say) and 300 s on-phases: restarts at 95, 190 and 285 s,
        // the phase still ends at 300 s, and the next on-phase starts at 360 s.
        let rules = BleRules { os_scan_limit_ms: 100_000, ..BleRules::default() };
        let c = BleCoordinator::new(rules.clone()).unwrap();
        let mut glue = Glue::default();
        let mut u = glue.follow(&c, c.set_plan(scan(ScanMode::Balanced, 300_000, 60_000), 0).unwrap(), 0);
        while let Some(now) = u.scan.next_step_at_ms.filter(|&t| t <= 400_000) {
            u = glue.follow(&c, c.step(now).unwrap(), now);
        }
        assert_eq!(glue.starts, vec![0, 95_000, 190_000, 285_000, 360_000]);
        assert_eq!(c.stats(400_000).os_limit_restarts, 3);

        // The app used the quota up just before a restart is due: the restart waits for it, and
        // the quota is never broken.
        let c = BleCoordinator::new(rules).unwrap();
        let mut glue = Glue::default();
        glue.follow(&c, c.set_plan(scan(ScanMode::LowPower, 1_000, 0), 0).unwrap(), 0);
        for i in 0..5 {
            // Restarts of the app's own (a filter change), reported without being asked.
            c.scan_started(ScanMode::LowPower, 80_000 + i * 100).unwrap();
        }
        let u = c.step(95_000).unwrap();
        assert_eq!(u.scan.mode, Some(ScanMode::LowPower), "not stopped while the quota is used up");
        assert!(u.scan.deferred_by_quota);
        let allowed = 80_000 + 30_000 + QUOTA_MARGIN_MS;
        assert_eq!(u.scan.next_step_at_ms, Some(allowed));
        let u = glue.follow(&c, c.step(allowed).unwrap(), allowed);
        assert_eq!(u.scan.mode, Some(ScanMode::LowPower));
        assert_eq!(glue.starts, vec![0, allowed]);
        assert_eq!(c.stats(allowed).os_limit_restarts, 1);

        // No limit (iOS): a continuous scan asks for no timer at all.
        let c = BleCoordinator::new(BleRules { os_scan_limit_ms: 0, ..BleRules::default() }).unwrap();
        let mut glue = Glue::default();
        let u = glue.follow(&c, c.set_plan(scan(ScanMode::LowPower, 1_000, 0), 0).unwrap(), 0);
        assert_eq!(u.scan.next_step_at_ms, None);
        // And a limit too short for the margin is refused by name.
        match BleCoordinator::new(BleRules { os_scan_limit_ms: OS_LIMIT_MARGIN_MS, ..BleRules::default() }) {
            Err(OptimizerError::InvalidConfig { field, .. }) => assert_eq!(field, "ble_rules.os_scan_limit_ms"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_unavailable_radio_is_never_retried_and_scans_again_at_once_when_back() {
        let c = BleCoordinator::new(BleRules::default()).unwrap();
        let mut glue = Glue::default();
        glue.follow(&c, c.set_plan(scan(ScanMode::LowLatency, 1_000, 0), 0).unwrap(), 0);
        glue.running = None; // Bluetooth off ends the scan
        let u = glue.follow(&c, c.radio_state_changed(false, 1_000).unwrap(), 1_000);
        assert_eq!((u.scan.mode, u.scan.next_step_at_ms), (None, None));
        // A failed start while off, a step: still nothing to do.
        assert_eq!(c.step(50_000).unwrap().scan.mode, None);
        assert_eq!(c.stats(50_000).radio_unavailable, 1);
        // Reported twice: counted once.
        c.radio_state_changed(false, 50_000).unwrap();
        assert_eq!(c.stats(50_000).radio_unavailable, 1);
        let u = glue.follow(&c, c.radio_state_changed(true, 70_000).unwrap(), 70_000);
        assert_eq!(u.scan.mode, Some(ScanMode::LowLatency));
        assert_eq!(glue.starts, vec![0, 70_000]);
        assert_eq!(c.stats(70_000).sessions, 2, "69 s off (more than session_gap_ms): a new session");
    }

    #[test]
    fn a_short_duty_cycle_is_stretched_to_the_quota() {
        let c = BleCoordinator::new(BleRules::default()).unwrap();
        let mut glue = Glue::default();
        // 1 s on, 1 s off would start 15 scans in 30 s.
        let mut u = glue.follow(&c, c.set_plan(scan(ScanMode::Balanced, 1_000, 1_000), 0).unwrap(), 0);
        while let Some(now) = u.scan.next_step_at_ms.filter(|&t| t <= 120_000) {
            u = glue.follow(&c, c.step(now).unwrap(), now);
        }
        let starts = &glue.starts;
        for (i, &t) in starts.iter().enumerate() {
            let in_window = starts[..=i].iter().filter(|&&s| t - s < 30_000).count();
            assert!(in_window <= 5, "start {i} at {t}: {in_window} starts in 30 s ({starts:?})");
        }
        // As many as the quota allows: 5 in each 30.25 s.
        assert!(starts.len() >= 19, "{starts:?}");
        assert_eq!(c.stats(120_000).scan_starts, starts.len() as u64);
    }

    #[test]
    fn discoveries_are_timed_from_the_session_start_and_a_long_outage_starts_a_new_session() {
        let c = BleCoordinator::new(BleRules::default()).unwrap();
        c.set_plan(scan(ScanMode::LowLatency, 1_000, 0), 1_000).unwrap();
        c.scan_started(ScanMode::LowLatency, 1_000).unwrap();
        assert_eq!(discovered(&c.scan_result("A".into(), 1_400).unwrap()), vec![400.0]);
        assert_eq!(discovered(&c.scan_result("B".into(), 3_000).unwrap()), vec![2_000.0]);
        // A seen again while present (every 14 s of listening): re-sightings, never discoveries.
        assert!(discovered(&c.scan_result("A".into(), 15_000).unwrap()).is_empty());
        // 25 s in: beyond the 20 s horizon, an arrival.
        assert!(discovered(&c.scan_result("C".into(), 26_000).unwrap()).is_empty());
        assert!(discovered(&c.scan_result("A".into(), 29_000).unwrap()).is_empty());
        // Bluetooth off: the OS stopped the scan.
        let u = c.scan_stopped(30_000).unwrap();
        assert_eq!(u.scan.mode, None);
        assert_eq!(u.scan.next_step_at_ms, Some(30_000 + RETRY_AFTER_MS));
        let u = c.step(40_000).unwrap();
        assert_eq!(u.scan.mode, Some(ScanMode::LowLatency));
        let u = c.scan_start_failed("Bluetooth is off".into(), 40_000).unwrap();
        assert_eq!((u.scan.mode, u.scan.next_step_at_ms), (None, Some(50_000)));
        c.step(50_000).unwrap();
        c.scan_started(ScanMode::LowLatency, 50_000).unwrap();
        // Off for 20 s in all, under the 60 s session gap: the same session, A still present.
        assert!(discovered(&c.scan_result("A".into(), 50_100).unwrap()).is_empty());
        // Off for more than a minute: a new session, every peer new again.
        c.clear_plan(60_000).unwrap();
        c.scan_stopped(60_000).unwrap();
        c.set_plan(scan(ScanMode::LowLatency, 1_000, 0), 200_000).unwrap();
        c.scan_started(ScanMode::LowLatency, 200_000).unwrap();
        assert_eq!(discovered(&c.scan_result("A".into(), 200_900).unwrap()), vec![900.0]);
        let s = c.stats(200_900);
        assert_eq!((s.resightings, s.clock_regressions), (3, 0));
        assert_eq!((s.sessions, s.discoveries, s.discoveries_timed, s.arrivals_untimed), (2, 4, 3, 1));
        assert_eq!((s.unexpected_stops, s.scan_start_failures), (1, 1));
    }

    #[test]
    fn peer_counts_and_connection_times_come_from_connection_events() {
        let c = BleCoordinator::new(BleRules::default()).unwrap();
        c.connect_requested("A".into(), 100).unwrap();
        let u = c.connection_changed("A".into(), true, 350).unwrap();
        assert_eq!(
            u.samples,
            vec![
                MetricSample::ConnectionEstablished { duration_ms: 250.0 },
                MetricSample::PeerCount { connected: 1, discovered: 1 }
            ]
        );
        // An incoming connection has no set-up time; a repeated event changes nothing.
        let u = c.connection_changed("B".into(), true, 400).unwrap();
        assert_eq!(u.samples, vec![MetricSample::PeerCount { connected: 2, discovered: 2 }]);
        assert!(c.connection_changed("B".into(), true, 401).unwrap().samples.is_empty());
        let u = c.connection_changed("A".into(), false, 500).unwrap();
        assert_eq!(u.samples, vec![MetricSample::PeerCount { connected: 1, discovered: 2 }]);
    }

    #[test]
    fn the_kept_count_is_always_the_count_a_walk_gives() {
        // Busy scanning across absence boundaries, with connections: after every event the kept
        // count equals walking every peer. (A count kept one event too long fails this.)
        let mut st = State::new(BleRules { peer_absent_after_scan_ms: 1_000, max_peers: 40, ..BleRules::default() });
        st.set_plan(Some(Plan { mode: ScanMode::LowLatency, on_ms: 3_000, off_ms: 2_000 }), 0);
        let mut x: u64 = 12345;
        let mut now = 0;
        let mut running = false;
        for _ in 0..5_000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            now += (x >> 33) % 300;
            let peer = format!("p{}", (x >> 40) % 50);
            match (x >> 20) % 10 {
                0 => {
                    st.connected.insert(peer);
                    st.count_cache = None;
                }
                1 => {
                    st.connected.remove(&peer);
                    st.count_cache = None;
                }
                2 if running => {
                    st.stopped(now);
                    running = false;
                }
                3 if !running => {
                    st.scan_started(ScanMode::LowLatency, now);
                    running = true;
                }
                _ => st.scan_result(&peer, now, &mut Vec::new()),
            }
            let listening = st.listening(now);
            let walk = st
                .peers
                .iter()
                .filter(|(id, &seen)| st.is_present(seen, listening) && !st.connected.contains(*id))
                .count()
                + st.connected.len();
            let kept = st.count(now);
            assert_eq!((kept.0 as usize, kept.1 as usize), (st.connected.len(), walk), "at {now}");
        }
    }

    #[test]
    fn memory_is_bounded_and_a_time_going_back_is_taken_as_the_later_one() {
        let c = BleCoordinator::new(BleRules { max_peers: 3, ..BleRules::default() }).unwrap();
        c.set_plan(scan(ScanMode::LowLatency, 1_000, 0), 0).unwrap();
        c.scan_started(ScanMode::LowLatency, 0).unwrap();
        for (i, p) in ["A", "B", "C", "D"].iter().enumerate() {
            c.scan_result((*p).into(), 100 * (i as u64 + 1)).unwrap();
        }
        let s = c.stats(500);
        assert_eq!((s.peers_forgotten, s.present_peers), (1, 3));
        // A (forgotten) seen again: a discovery again; a time from the past is taken as 500.
        let u = c.scan_result("A".into(), 50).unwrap();
        assert_eq!(discovered(&u), vec![500.0]);
        assert_eq!(c.stats(500).clock_regressions, 1);
    }

    /// Ten steps of a model app: the events a scan result arrives among.
    #[derive(Debug, Clone)]
    enum Event {
        Plan(u8),
        Step,
        Started(u8),
        Stopped,
        Seen(u8),
        Connected(u8, bool),
    }

    fn event() -> impl proptest::strategy::Strategy<Value = (Event, u64)> {
        use proptest::prelude::*;
        let e = prop_oneof![
            (0u8..4).prop_map(Event::Plan),
            Just(Event::Step),
            (0u8..4).prop_map(Event::Started),
            Just(Event::Stopped),
            (0u8..12).prop_map(Event::Seen),
            (0u8..12).prop_map(Event::Seen),
            (0u8..12).prop_map(Event::Seen),
            (0u8..12, any::<bool>()).prop_map(|(p, c)| Event::Connected(p, c)),
        ];
        (e, prop_oneof![0u64..50, 0u64..40_000])
    }

    fn plan(k: u8) -> OptimizationAction {
        match k {
            0 => scan(ScanMode::LowPower, 2_000, 28_000),
            1 => scan(ScanMode::Balanced, 5_000, 5_000),
            2 => scan(ScanMode::LowLatency, 1_000, 0),
            _ => scan(ScanMode::LowPower, 8_000, 2_000),
        }
    }

    proptest::proptest! {
        /// The fast path gives the app exactly what the generated calls give: the same samples,
        /// in the same order, once; and FAST_OK only where the generated answer had no sample
        /// and the scanner mode and timer the app already had.
        #[test]
        fn the_fast_scan_result_delivers_what_scan_result_does(events in proptest::collection::vec(event(), 1..120)) {
            // A short OS limit, so that restarts before it happen in the runs.
            let rules = BleRules { os_scan_limit_ms: 2 * OS_LIMIT_MARGIN_MS, ..BleRules::default() };
            let slow = BleCoordinator::new(rules.clone()).unwrap();
            let fast = BleCoordinator::new(rules).unwrap();
            let (mut got_slow, mut got_fast) = (Vec::new(), Vec::new());
            let mut had: Option<(Option<ScanMode>, Option<u64>)> = None;
            let mut t = 0;
            for (e, dt) in events {
                t += dt;
                let run = |c: &BleCoordinator| match &e {
                    Event::Plan(k) => c.set_plan(plan(*k), t),
                    Event::Step => c.step(t),
                    Event::Started(k) => match plan(*k) {
                        OptimizationAction::SetScanMode { mode, .. } => c.scan_started(mode, t),
                        _ => unreachable!(),
                    },
                    Event::Stopped => c.scan_stopped(t),
                    Event::Seen(p) => c.scan_result(format!("peer-{p}"), t),
                    Event::Connected(p, up) => c.connection_changed(format!("peer-{p}"), *up, t),
                };
                let u = run(&slow).unwrap();
                let now = (u.scan.mode, u.scan.next_step_at_ms);
                got_slow.extend(u.samples.clone());
                if let Event::Seen(p) = &e {
                    match fast.fast_scan_result(&format!("peer-{p}"), t) {
                        FAST_OK => {
                            proptest::prop_assert!(u.samples.is_empty(), "{:?}", u.samples);
                            proptest::prop_assert_eq!(Some(now), had);
                            continue;
                        }
                        FAST_UPDATE_PENDING => {
                            let f = fast.take_update(t).unwrap();
                            proptest::prop_assert_eq!(f.scan, u.scan);
                            got_fast.extend(f.samples);
                        }
                        other => proptest::prop_assert!(false, "status {}", other),
                    }
                } else {
                    let f = run(&fast).unwrap();
                    proptest::prop_assert_eq!(f.scan, u.scan);
                    got_fast.extend(f.samples);
                }
                had = Some(now);
                proptest::prop_assert_eq!(&got_fast, &got_slow);
            }
            proptest::prop_assert_eq!(&got_fast, &got_slow);
            proptest::prop_assert_eq!(fast.stats(t), slow.stats(t));
        }
    }

    #[test]
    fn a_fast_scan_result_that_cannot_be_taken_changes_nothing_and_says_why() {
        let c = BleCoordinator::new(BleRules::default()).unwrap();
        c.set_plan(scan(ScanMode::LowLatency, 1_000, 0), 0).unwrap();
        c.scan_started(ScanMode::LowLatency, 0).unwrap();
        let before = c.stats(10);
        assert_eq!(c.fast_scan_result("", 10), FAST_INVALID_SAMPLE);
        assert_eq!(c.fast_scan_result(&"x".repeat(MAX_PEER_ID_BYTES + 1), 10), FAST_INVALID_SAMPLE);
        assert_eq!(c.stats(10), before);
        // A new peer: its samples wait for the next generated call, which returns them once.
        assert_eq!(c.fast_scan_result("A", 20), FAST_UPDATE_PENDING);
        assert_eq!(discovered(&c.take_update(20).unwrap()), vec![20.0]);
        assert!(c.take_update(20).unwrap().samples.is_empty());
        // A re-sighting: nothing to do.
        assert_eq!(c.fast_scan_result("A", 30), FAST_OK);
        // An app that never follows FAST_UPDATE_PENDING: at most MAX_PENDING_SAMPLES wait, then
        // the fast path refuses (nothing changes) and scan_result returns every one, in order.
        let mut peers = 0;
        while c.fast_scan_result(&format!("p{peers}"), 40) == FAST_UPDATE_PENDING {
            peers += 1;
        }
        assert_eq!(c.fast_scan_result(&format!("p{peers}"), 40), FAST_NOT_CARRIED);
        let u = c.scan_result(format!("p{peers}"), 40).unwrap();
        assert_eq!(discovered(&u).len(), peers + 1);
        assert!(u.samples.len() >= MAX_PENDING_SAMPLES);
        assert_eq!(c.stats(40).discoveries, peers as u64 + 2);
    }

    #[test]
    fn a_restart_decided_in_a_fast_scan_result_reaches_the_app() {
        let rules = BleRules { os_scan_limit_ms: 60_000, ..BleRules::default() };
        let c = BleCoordinator::new(rules).unwrap();
        c.set_plan(scan(ScanMode::LowLatency, 1_000, 0), 0).unwrap();
        c.scan_started(ScanMode::LowLatency, 0).unwrap();
        assert_eq!(c.fast_scan_result("A", 100), FAST_UPDATE_PENDING);
        assert_eq!(c.take_update(100).unwrap().scan.mode, Some(ScanMode::LowLatency));
        assert_eq!(c.fast_scan_result("A", 200), FAST_OK);
        // Past the restart time: the scan result's step asks for the restart (off now, on
        // again when the app reports the stop), and take_update returns that, not a new step
        // (which would start the scan at once, so the app would never restart it).
        assert_eq!(c.fast_scan_result("A", 56_000), FAST_UPDATE_PENDING);
        let u = c.take_update(56_000).unwrap();
        assert_eq!(u.scan.mode, None);
        assert_eq!(c.stats(56_000).scan_starts, 1);
        assert_eq!(c.scan_stopped(56_000).unwrap().scan.mode, Some(ScanMode::LowLatency));
        let s = c.stats(56_000);
        assert_eq!((s.scan_starts, s.os_limit_restarts), (2, 1));
    }

    #[test]
    fn a_fast_handle_names_one_live_coordinator() {
        let c = BleCoordinator::new(BleRules::default()).unwrap();
        let h = Arc::clone(&c).fast_handle();
        assert_ne!(h, 0);
        assert_eq!(Arc::clone(&c).fast_handle(), h);
        let other = BleCoordinator::new(BleRules::default()).unwrap();
        assert_ne!(Arc::clone(&other).fast_handle(), h);
        c.set_plan(scan(ScanMode::LowLatency, 1_000, 0), 0).unwrap();
        assert_eq!(crate::fastpath::scan_result(h, "A", 5), FAST_UPDATE_PENDING);
        assert_eq!(c.stats(5).discoveries, 1);
        drop(c);
        assert_eq!(crate::fastpath::scan_result(h, "A", 6), crate::fastpath::FAST_UNKNOWN_HANDLE);
    }
}

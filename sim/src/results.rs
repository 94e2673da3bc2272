//! What one run (a scenario, a policy, a seed) measured, and the per-minute series of the plots.
//! [`crate::stats`] turns the runs of several seeds into means with confidence intervals.

/// Per-minute series of a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    /// On-time deliveries over intended deliveries of the messages sent in the minute (None:
    /// nothing was intended).
    pub on_time_ratio: Vec<Option<f64>>,
    /// Mean battery level of all phones, percent.
    pub battery_percent: Vec<f64>,
    /// Mean share of time the phones' scanners listen, as the OS runs them, percent.
    pub scan_duty_percent: Vec<f64>,
}

/// The outcome of one scenario under one policy with one seed. Every ratio counts every
/// intended delivery ([`crate::score`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RunResult {
    /// Scenario name.
    pub scenario: String,
    /// Policy name.
    pub policy: String,
    /// The seed of the run.
    pub seed: u64,
    /// Phones simulated.
    pub phones: u32,
    /// Hours simulated.
    pub hours: f64,
    /// Chat messages the users wrote (phones in the mesh; a phone that is off loses them).
    pub messages_sent: u64,
    /// Intended deliveries: messages × recipients in the mesh when each was sent.
    pub intended_deliveries: u64,
    /// Intended deliveries that arrived within the deadline, over all intended deliveries.
    pub on_time_ratio: f64,
    /// Intended deliveries that arrived at all.
    pub delivery_ratio: f64,
    /// Median latency over intended deliveries, a lost one infinitely late, ms (None: infinite).
    pub p50_latency_ms: Option<f64>,
    /// p95 latency over intended deliveries, a lost one infinitely late, ms (None: infinite).
    pub p95_latency_ms: Option<f64>,
    /// Share of minutes with intended deliveries in which at least the target share of them
    /// arrived within the deadline.
    pub slo_attainment: f64,
    /// Energy the mesh used (radio, transfers, consensus CPU) per on-time delivery, µAh (None:
    /// nothing arrived on time, i.e. infinite).
    pub energy_per_on_time_uah: Option<f64>,
    /// Energy the mesh used per phone per hour, mAh.
    pub mesh_mah_per_phone_hour: f64,
    /// Projected battery life, hours: capacity over the scenario's standby current of the rest
    /// of the phone plus the mesh's mean current.
    pub battery_hours: f64,
    /// Share of phone-time at thermal Serious.
    pub thermal_serious_share: f64,
    /// Share of phone-time at thermal Critical.
    pub thermal_critical_share: f64,
    /// Thermal shutdowns of phones.
    pub thermal_shutdowns: u64,
    /// Scan starts the OS refused (the 5-per-30 s quota, on duty cycles and on changes).
    pub scan_starts_refused: u64,
    /// Scans the OS downgraded after its scan timeout.
    pub scans_downgraded_timeout: u64,
    /// Times the OS lowered a scan because the app was in the background (or the screen off).
    pub scans_capped_background: u64,
    /// p95 time from a pair coming into range to its discovery, a pair that left range
    /// undiscovered infinitely late, ms (None: infinite, or no pair came into range).
    pub p95_discovery_ms: Option<f64>,
    /// p95 over discoveries of (time to discovery ÷ one direction's worst-case lower bound at the
    /// listening share and advertising interval in force when found; docs/discovery.md), a
    /// missed discovery infinitely late (None: infinite, or no pair came into range).
    pub discovery_over_bound_p95: Option<f64>,
    /// Discoveries (pairs found after coming into range).
    pub discoveries: u64,
    /// Pairs that came into range and left it (or went offline) undiscovered; they count as
    /// infinitely late in the two discovery quantiles. Pairs still in range and undiscovered at
    /// the end are not counted either way (their time is not known yet).
    pub discoveries_missed: u64,
    /// Processes killed by the low-memory killer.
    pub kills: u64,
    /// Knob changes per phone-hour, all of them.
    pub knob_changes_per_phone_hour: f64,
    /// Knob changes per phone-hour that followed a device-state change (foreground, charger,
    /// battery band, thermal state, OS power save) within 30 s.
    pub knob_changes_state_driven_per_phone_hour: f64,
    /// Mean battery level at the end, percent.
    pub battery_left_percent: f64,
    /// Phones whose battery ran out.
    pub phones_empty: u32,
    /// MeshTune actions reverted after measurement.
    pub actions_reverted: u64,
    /// Changes the platform refused (scan starts over the quota, busy GATT).
    pub actions_refused: u64,
    /// Consensus operations finalized per table per second (scenarios with tables).
    pub consensus_ops_per_sec_per_table: Option<f64>,
    /// Mesh energy per finalized consensus operation, µAh (scenarios with tables; all the
    /// mesh's energy, chat included, over the operations).
    pub energy_uah_per_op: Option<f64>,
    /// Consensus operations dropped because a table lagged.
    pub consensus_ops_dropped: f64,
    /// Per-minute series.
    pub series: Series,
}

impl RunResult {
    /// Knob changes per phone-hour that did not follow a device-state change.
    pub fn knob_changes_other_per_phone_hour(&self) -> f64 {
        (self.knob_changes_per_phone_hour - self.knob_changes_state_driven_per_phone_hour).max(0.0)
    }

    /// Share of phone-time at Serious or Critical.
    pub fn thermal_exposure(&self) -> f64 {
        self.thermal_serious_share + self.thermal_critical_share
    }
}

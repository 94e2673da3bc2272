//! What a run measured, as numbers (the table, `--json`) and per-minute series (the plots).

use serde_json::{json, Value};

/// Per-minute series of a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    /// Network-wide p95 end-to-end latency of the minute's deliveries, ms (None: none).
    pub p95_latency_ms: Vec<Option<f64>>,
    /// Mean battery level of all phones, percent.
    pub battery_percent: Vec<f64>,
    /// Mean share of time the phones' scanners listen, percent (the main radio knob).
    pub scan_duty_percent: Vec<f64>,
}

/// The outcome of one scenario under one policy.
#[derive(Debug, Clone, PartialEq)]
pub struct RunResult {
    /// Scenario name.
    pub scenario: String,
    /// Policy name.
    pub policy: String,
    /// Phones simulated.
    pub phones: u32,
    /// Hours simulated.
    pub hours: f64,
    /// Chat messages sent.
    pub messages_sent: u64,
    /// Receptions over (messages × phones online when each was sent, minus the sender).
    pub delivery_ratio: f64,
    /// Median end-to-end latency of every reception, ms.
    pub p50_latency_ms: Option<f64>,
    /// p95 end-to-end latency of every reception, ms.
    pub p95_latency_ms: Option<f64>,
    /// Share of minutes with traffic whose network-wide p95 met the SLO.
    pub slo_attainment: f64,
    /// Energy the mesh used per phone (radio, transfers, consensus CPU), mAh.
    pub energy_mah_per_phone: f64,
    /// Energy per reception, µAh.
    pub energy_uah_per_delivered: Option<f64>,
    /// Mean battery level at the end, percent.
    pub battery_left_percent: f64,
    /// Phones whose battery ran out.
    pub phones_empty: u32,
    /// When the first phone's battery ran out, hours.
    pub first_empty_h: Option<f64>,
    /// Knob changes per phone per hour.
    pub knob_changes_per_phone_hour: f64,
    /// Median time from the start of a sustained latency breach to the phone's next knob
    /// change, s.
    pub reaction_median_s: Option<f64>,
    /// Sustained breaches followed by a knob change.
    pub breaches_answered: u64,
    /// Sustained breaches that ended (or the run ended) without any knob change.
    pub breaches_unanswered: u64,
    /// MeshTune actions reverted after measurement.
    pub actions_reverted: u64,
    /// Changes the platform refused.
    pub actions_refused: u64,
    /// Processes killed by the low-memory killer.
    pub kills: u64,
    /// Consensus operations finalized per table per second (scenarios with tables).
    pub consensus_ops_per_sec_per_table: Option<f64>,
    /// Energy per finalized consensus operation, µAh (scenarios with tables; all the mesh's
    /// energy, chat included, over the operations).
    pub energy_uah_per_op: Option<f64>,
    /// Consensus operations dropped because a table lagged.
    pub consensus_ops_dropped: f64,
    /// Per-minute series.
    pub series: Series,
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

fn opt(x: Option<f64>, digits: i32) -> Value {
    x.map_or(Value::Null, |v| json!(round(v, digits)))
}

impl RunResult {
    /// The result as a JSON object (numbers rounded for stable output).
    pub fn to_json(&self) -> Value {
        json!({
            "scenario": self.scenario,
            "policy": self.policy,
            "phones": self.phones,
            "hours": round(self.hours, 3),
            "messages_sent": self.messages_sent,
            "delivery_ratio": round(self.delivery_ratio, 4),
            "p50_latency_ms": opt(self.p50_latency_ms, 1),
            "p95_latency_ms": opt(self.p95_latency_ms, 1),
            "slo_attainment": round(self.slo_attainment, 4),
            "energy_mah_per_phone": round(self.energy_mah_per_phone, 3),
            "energy_uah_per_delivered": opt(self.energy_uah_per_delivered, 3),
            "battery_left_percent": round(self.battery_left_percent, 2),
            "phones_empty": self.phones_empty,
            "first_empty_h": opt(self.first_empty_h, 3),
            "knob_changes_per_phone_hour": round(self.knob_changes_per_phone_hour, 2),
            "reaction_median_s": opt(self.reaction_median_s, 1),
            "breaches_answered": self.breaches_answered,
            "breaches_unanswered": self.breaches_unanswered,
            "actions_reverted": self.actions_reverted,
            "actions_refused": self.actions_refused,
            "kills": self.kills,
            "consensus_ops_per_sec_per_table": opt(self.consensus_ops_per_sec_per_table, 2),
            "energy_uah_per_op": opt(self.energy_uah_per_op, 3),
            "consensus_ops_dropped": round(self.consensus_ops_dropped, 0),
        })
    }
}

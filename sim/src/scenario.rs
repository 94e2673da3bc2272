//! Scenarios: the built-in five, and files (TOML or JSON) that start from one and change keys.
//!
//! A scenario file is a flat table of the keys of [`Scenario`]; `base` names the built-in it
//! starts from (default `commute`). Unknown keys, wrong types and out-of-range values are
//! errors that name the key; a file larger than [`MAX_SCENARIO_BYTES`] is refused.
//!
//! ```
//! use meshtune_sim::scenario::Scenario;
//! let s = Scenario::from_toml_str("base = \"stadium\"\nphones = 50\nhours = 0.5").unwrap();
//! assert_eq!((s.phones, s.hours), (50, 0.5));
//! let err = Scenario::from_toml_str("phones = 1").unwrap_err();
//! assert_eq!(err.key, "phones");
//! ```

use std::fmt;

use serde_json::Value;

/// The largest scenario file read, bytes.
pub const MAX_SCENARIO_BYTES: usize = 64 * 1024;

/// An error in a scenario file: the key and what is wrong with it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioError {
    /// The key (or `file` for an unreadable or malformed file).
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "scenario key `{}`: {}", self.key, self.reason)
    }
}

impl std::error::Error for ScenarioError {}

fn err(key: &str, reason: impl Into<String>) -> ScenarioError {
    ScenarioError { key: key.to_owned(), reason: reason.into() }
}

macro_rules! scenario {
    ($( $(#[doc = $doc:literal])* $name:ident : $ty:ident [$lo:expr, $hi:expr] ),* $(,)?) => {
        /// Everything that defines a scenario. Every numeric key has a range (in brackets in
        /// the source); the README's scenario table lists them.
        #[derive(Debug, Clone, PartialEq)]
        pub struct Scenario {
            /// Name shown in the table and the report.
            pub name: String,
            /// One line on what the scenario exercises.
            pub description: String,
            $( $(#[doc = $doc])* pub $name: $ty, )*
        }

        impl Scenario {
            /// Every key a scenario file may set (besides `base`, `name`, `description`).
            pub const KEYS: &'static [&'static str] = &[$(stringify!($name)),*];

            fn set(&mut self, key: &str, v: &Value) -> Result<(), ScenarioError> {
                match key {
                    "name" => self.name = text(key, v)?,
                    "description" => self.description = text(key, v)?,
                    $( stringify!($name) => self.$name = $ty::read(key, v, $lo, $hi)?, )*
                    _ => return Err(err(key, format!("unknown key (known: base, name, description, {})", Self::KEYS.join(", ")))),
                }
                Ok(())
            }

            fn check_ranges(&self) -> Result<(), ScenarioError> {
                $( $ty::check(stringify!($name), self.$name, $lo, $hi)?; )*
                Ok(())
            }
        }
    };
}

trait Read: Sized {
    fn read(key: &str, v: &Value, lo: Self, hi: Self) -> Result<Self, ScenarioError>;
    fn check(key: &str, v: Self, lo: Self, hi: Self) -> Result<(), ScenarioError>;
}

impl Read for f64 {
    fn read(key: &str, v: &Value, lo: f64, hi: f64) -> Result<f64, ScenarioError> {
        let x = v.as_f64().ok_or_else(|| err(key, format!("expected a number, got {v}")))?;
        Self::check(key, x, lo, hi)?;
        Ok(x)
    }
    fn check(key: &str, x: f64, lo: f64, hi: f64) -> Result<(), ScenarioError> {
        if !(lo..=hi).contains(&x) {
            return Err(err(key, format!("{x} is outside {lo}..={hi}")));
        }
        Ok(())
    }
}

impl Read for u32 {
    fn read(key: &str, v: &Value, lo: u32, hi: u32) -> Result<u32, ScenarioError> {
        let x = v.as_u64().ok_or_else(|| err(key, format!("expected a whole number, got {v}")))?;
        let x = u32::try_from(x).map_err(|_| err(key, format!("{x} is outside {lo}..={hi}")))?;
        Self::check(key, x, lo, hi)?;
        Ok(x)
    }
    fn check(key: &str, x: u32, lo: u32, hi: u32) -> Result<(), ScenarioError> {
        if !(lo..=hi).contains(&x) {
            return Err(err(key, format!("{x} is outside {lo}..={hi}")));
        }
        Ok(())
    }
}

fn text(key: &str, v: &Value) -> Result<String, ScenarioError> {
    match v.as_str() {
        Some(s) if !s.trim().is_empty() && s.len() <= 200 => Ok(s.to_owned()),
        _ => Err(err(key, "expected a non-empty string of at most 200 bytes")),
    }
}

scenario! {
    /// Phones in the mesh.
    phones: u32 [2, 2000],
    /// Simulated duration, hours.
    hours: f64 [0.01, 48.0],
    /// Width of the area the phones move in, m. The built-in areas are a third of what they
    /// were before the path loss was calibrated to phone measurements (ranges fell about
    /// threefold, 46 m → 15 m for a connection), so each scenario keeps the phones-in-range of
    /// its design; one rule for every scenario, whatever any policy does with it.
    area_width_m: f64 [1.0, 5000.0],
    /// Height of the area, m.
    area_height_m: f64 [1.0, 5000.0],
    /// Walking speed towards random waypoints, m/s (0: phones stay where they are).
    speed_m_per_s: f64 [0.0, 30.0],
    /// Pause at each waypoint, s.
    pause_s: f64 [0.0, 3600.0],
    /// How often a phone leaves the mesh (a stop, a tunnel), per phone-hour.
    churn_per_hour: f64 [0.0, 60.0],
    /// How long it stays away, s; it then reconnects where it left.
    churn_away_s: f64 [0.0, 3600.0],
    /// Chat messages sent per phone per minute while the app is in the foreground.
    messages_per_min_foreground: f64 [0.0, 60.0],
    /// Chat messages sent per phone per minute in the background.
    messages_per_min_background: f64 [0.0, 60.0],
    /// Size of a short message, bytes.
    message_bytes: f64 [1.0, 65536.0],
    /// Share of messages that are long (images, files).
    large_message_share: f64 [0.0, 1.0],
    /// Size of a long message, bytes.
    large_message_bytes: f64 [1.0, 65536.0],
    /// The delivery deadline, ms: a delivery is on time when it arrives within it. The app's
    /// SLO is that `target_on_time_ratio` of intended deliveries are on time (a p95 latency of
    /// this value, counting lost messages as late, when the target is 0.95). Given to MeshTune
    /// as `target_p95_latency_ms` and to `threshold` as its threshold.
    slo_p95_latency_ms: f64 [1.0, 60000.0],
    /// Share of intended deliveries that must be on time: a minute meets the SLO when its
    /// deliveries reach it, and `oracle-static` looks for the cheapest setting that does.
    target_on_time_ratio: f64 [0.5, 1.0],
    /// Battery level at the start, lowest, percent (each phone draws between the two).
    battery_start_min_percent: f64 [1.0, 100.0],
    /// Battery level at the start, highest, percent.
    battery_start_max_percent: f64 [1.0, 100.0],
    /// Battery capacity, mAh.
    battery_capacity_mah: f64 [100.0, 20000.0],
    /// Current drawn by the rest of the phone (screen, other apps) in the foreground, mA.
    other_current_foreground_ma: f64 [0.0, 5000.0],
    /// Current drawn by the rest of the phone in the background, mA.
    other_current_background_ma: f64 [0.0, 5000.0],
    /// Standby current of the rest of the phone with the screen off, mA, for the projected
    /// battery hours (capacity / (standby + the mesh's mean current)). Default 15: a Pixel 6a
    /// `power_profile.xml` gives `cpu.suspend` 10 mA, plus a few mA of cellular paging and
    /// Wi-Fi beacons; phones range 8 to 40.
    standby_current_ma: f64 [0.1, 1000.0],
    /// Share of usage cycles whose background time is spent with the screen off (the OS then
    /// runs low-power scans at SCREEN_OFF). An assumption, no public figure: a mesh app in the
    /// background is mostly on a phone in a pocket.
    background_screen_off_share: f64 [0.0, 1.0],
    /// Share of phones on a charger for the whole run.
    charging_share: f64 [0.0, 1.0],
    /// Charging current, mA.
    charging_current_ma: f64 [0.0, 10000.0],
    /// Length of an app-usage cycle, minutes.
    usage_period_min: f64 [1.0, 1440.0],
    /// Share of each cycle the app is in the foreground.
    foreground_share: f64 [0.0, 1.0],
    /// The OS turns power save on at or below this battery level, percent (0: never).
    os_power_save_at_percent: f64 [0.0, 100.0],
    /// Ambient temperature at the start, °C.
    ambient_start_c: f64 [-30.0, 60.0],
    /// Ambient temperature at the end (linear in between), °C.
    ambient_end_c: f64 [-30.0, 60.0],
    /// Heat from the rest of the phone (screen, game, other apps), W.
    other_heat_w: f64 [0.0, 20.0],
    /// Critical memory-pressure signals per phone-hour.
    memory_critical_per_hour: f64 [0.0, 120.0],
    /// The app's heap limit, MB.
    heap_limit_mb: f64 [16.0, 8192.0],
    /// Heap the app uses without its caches, MB.
    heap_base_mb: f64 [0.0, 8192.0],
    /// Heap of the app's caches at full size, MB (`TrimCaches` frees a share of it).
    heap_cache_mb: f64 [0.0, 8192.0],
    /// Loss from interference outside the mesh (Wi-Fi, other BLE) per transfer.
    background_loss: f64 [0.0, 0.9],
    /// BitCraps tables (consensus groups); their players are the first phones.
    tables: u32 [0, 200],
    /// Players per table.
    table_size: u32 [2, 16],
    /// Game operations (bets, moves) submitted per table per second.
    table_ops_per_sec: f64 [0.0, 10000.0],
}

impl Scenario {
    /// The names of the built-in scenarios, in the order the main job runs them.
    pub const BUILT_IN: [&'static str; 5] = ["commute", "stadium", "game-night", "heatwave", "low-memory"];

    /// A built-in scenario by name.
    pub fn built_in(name: &str) -> Option<Scenario> {
        let base = Scenario {
            name: String::new(),
            description: String::new(),
            phones: 12,
            hours: 1.0,
            area_width_m: 20.0,
            area_height_m: 13.0,
            speed_m_per_s: 0.0,
            pause_s: 60.0,
            churn_per_hour: 0.0,
            churn_away_s: 0.0,
            messages_per_min_foreground: 2.0,
            messages_per_min_background: 0.5,
            message_bytes: 160.0,
            large_message_share: 0.05,
            large_message_bytes: 4096.0,
            slo_p95_latency_ms: 100.0,
            target_on_time_ratio: 0.95,
            battery_start_min_percent: 60.0,
            battery_start_max_percent: 90.0,
            battery_capacity_mah: 4000.0,
            other_current_foreground_ma: 250.0,
            other_current_background_ma: 60.0,
            standby_current_ma: 15.0,
            background_screen_off_share: 0.7,
            charging_share: 0.0,
            charging_current_ma: 1500.0,
            usage_period_min: 30.0,
            foreground_share: 1.0,
            os_power_save_at_percent: 0.0,
            ambient_start_c: 24.0,
            ambient_end_c: 24.0,
            other_heat_w: 1.0,
            memory_critical_per_hour: 0.0,
            heap_limit_mb: 512.0,
            heap_base_mb: 120.0,
            heap_cache_mb: 60.0,
            background_loss: 0.01,
            tables: 0,
            table_size: 6,
            table_ops_per_sec: 0.0,
        };
        let s = match name {
            "commute" => Scenario {
                name: "commute".into(),
                description: "3 h on trains and platforms: the battery drains, the app goes to the background, phones walk and reconnect".into(),
                hours: 3.0,
                area_width_m: 67.0,
                area_height_m: 10.0,
                speed_m_per_s: 1.0,
                pause_s: 120.0,
                churn_per_hour: 4.0,
                churn_away_s: 180.0,
                messages_per_min_foreground: 3.0,
                messages_per_min_background: 0.5,
                battery_start_min_percent: 45.0,
                battery_start_max_percent: 60.0,
                other_current_foreground_ma: 450.0,
                other_current_background_ma: 150.0,
                usage_period_min: 30.0,
                foreground_share: 0.35,
                os_power_save_at_percent: 15.0,
                ..base
            },
            "stadium" => Scenario {
                name: "stadium".into(),
                description: "200 phones in one stand: congestion on the air, interference, loss".into(),
                phones: 200,
                hours: 1.0,
                area_width_m: 40.0,
                area_height_m: 27.0,
                speed_m_per_s: 0.3,
                pause_s: 600.0,
                messages_per_min_foreground: 1.0,
                messages_per_min_background: 0.2,
                slo_p95_latency_ms: 250.0,
                foreground_share: 0.7,
                usage_period_min: 20.0,
                background_loss: 0.05,
                ..base
            },
            "game-night" => Scenario {
                name: "game-night".into(),
                description: "BitCraps tables: consensus rounds all evening, the phones warm up, some on chargers".into(),
                phones: 24,
                hours: 3.0,
                area_width_m: 10.0,
                area_height_m: 7.0,
                messages_per_min_foreground: 1.0,
                charging_share: 0.25,
                other_current_foreground_ma: 400.0,
                ambient_start_c: 25.0,
                ambient_end_c: 27.0,
                other_heat_w: 2.2,
                tables: 4,
                table_size: 6,
                table_ops_per_sec: 120.0,
                ..base
            },
            "heatwave" => Scenario {
                name: "heatwave".into(),
                description: "an outdoor festival in a heatwave: thermal Serious, then Critical".into(),
                hours: 2.0,
                area_width_m: 27.0,
                area_height_m: 27.0,
                speed_m_per_s: 0.5,
                // Phones in the sun: their surroundings run a few degrees above the air's 32 to
                // 40 °C, so that the scenario reaches Critical under the calibrated skin
                // thresholds (39/45/47 °C) as it was written to.
                ambient_start_c: 34.0,
                ambient_end_c: 42.0,
                other_heat_w: 1.2,
                ..base
            },
            "low-memory" => Scenario {
                name: "low-memory".into(),
                description: "an old phone fleet: the heap is near its limit and the OS signals critical memory pressure again and again".into(),
                hours: 1.0,
                memory_critical_per_hour: 6.0,
                heap_limit_mb: 256.0,
                heap_base_mb: 150.0,
                heap_cache_mb: 80.0,
                ..base
            },
            _ => return None,
        };
        Some(s)
    }

    /// Every built-in scenario, in order.
    pub fn all_built_in() -> Vec<Scenario> {
        Self::BUILT_IN.iter().filter_map(|n| Self::built_in(n)).collect()
    }

    /// Reads a scenario file: `.json` as JSON, anything else as TOML.
    pub fn from_file(path: &std::path::Path) -> Result<Scenario, ScenarioError> {
        let meta = std::fs::metadata(path).map_err(|e| err("file", format!("{}: {e}", path.display())))?;
        if meta.len() > MAX_SCENARIO_BYTES as u64 {
            return Err(err(
                "file",
                format!("{} is {} bytes; the limit is {MAX_SCENARIO_BYTES}", path.display(), meta.len()),
            ));
        }
        let text = std::fs::read_to_string(path).map_err(|e| err("file", format!("{}: {e}", path.display())))?;
        if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
            Self::from_json_str(&text)
        } else {
            Self::from_toml_str(&text)
        }
    }

    /// Reads a scenario from TOML text.
    pub fn from_toml_str(text: &str) -> Result<Scenario, ScenarioError> {
        if text.len() > MAX_SCENARIO_BYTES {
            return Err(err("file", format!("{} bytes; the limit is {MAX_SCENARIO_BYTES}", text.len())));
        }
        let table: toml::Table =
            text.parse().map_err(|e: toml::de::Error| err("file", format!("not valid TOML: {}", e.message())))?;
        let mut map = serde_json::Map::new();
        for (k, v) in table {
            map.insert(k.clone(), toml_to_json(&k, v)?);
        }
        Self::from_map(map)
    }

    /// Reads a scenario from JSON text (an object).
    pub fn from_json_str(text: &str) -> Result<Scenario, ScenarioError> {
        if text.len() > MAX_SCENARIO_BYTES {
            return Err(err("file", format!("{} bytes; the limit is {MAX_SCENARIO_BYTES}", text.len())));
        }
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => Self::from_map(map),
            Ok(_) => Err(err("file", "expected a JSON object of scenario keys")),
            Err(e) => Err(err("file", format!("not valid JSON: {e}"))),
        }
    }

    fn from_map(mut map: serde_json::Map<String, Value>) -> Result<Scenario, ScenarioError> {
        let base = match map.remove("base") {
            None => "commute".to_owned(),
            Some(v) => text("base", &v)?,
        };
        let mut s = Scenario::built_in(&base).ok_or_else(|| {
            err("base", format!("unknown built-in scenario '{base}' (one of {})", Self::BUILT_IN.join(", ")))
        })?;
        if !map.contains_key("name") {
            s.name = format!("{base} (file)");
        }
        for (k, v) in &map {
            s.set(k, v)?;
        }
        s.validate()?;
        Ok(s)
    }

    /// Checks every range and the relations between keys (a built-in scenario changed in code,
    /// or by the command line's `--phones` and `--hours`, goes through this too).
    pub fn validate(&self) -> Result<(), ScenarioError> {
        self.check_ranges()?;
        if self.battery_start_min_percent > self.battery_start_max_percent {
            return Err(err("battery_start_min_percent", "is above battery_start_max_percent"));
        }
        if self.tables * self.table_size > self.phones {
            return Err(err(
                "tables",
                format!(
                    "{} tables of {} players need {} phones; the scenario has {}",
                    self.tables,
                    self.table_size,
                    self.tables * self.table_size,
                    self.phones
                ),
            ));
        }
        if self.heap_base_mb + self.heap_cache_mb > self.heap_limit_mb * 1.5 {
            return Err(err("heap_cache_mb", "base plus caches exceed 1.5 × heap_limit_mb: the app could never run"));
        }
        Ok(())
    }
}

fn toml_to_json(key: &str, v: toml::Value) -> Result<Value, ScenarioError> {
    Ok(match v {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::from(i),
        toml::Value::Float(f) => serde_json::Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| err(key, format!("{f} is not a finite number")))?,
        toml::Value::Boolean(b) => Value::Bool(b),
        _ => return Err(err(key, "expected a string or a number (a scenario file is one flat table)")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_ins_are_valid() {
        for s in Scenario::all_built_in() {
            s.validate().unwrap();
        }
        assert_eq!(Scenario::all_built_in().len(), 5);
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            ("phones = 1", "phones"),
            ("hours = \"two\"", "hours"),
            ("speed = 3", "speed"),
            ("base = \"moon\"", "base"),
            ("background_loss = 0.95", "background_loss"),
            ("battery_start_min_percent = 90\nbattery_start_max_percent = 50", "battery_start_min_percent"),
            ("tables = 5\ntable_size = 6\nphones = 12", "tables"),
            ("hours = [1, 2]", "hours"),
            ("this is not toml", "file"),
        ];
        for (text, key) in cases {
            let e = Scenario::from_toml_str(text).unwrap_err();
            assert_eq!(e.key, key, "{text}: {e}");
        }
        assert_eq!(Scenario::from_json_str("{\"phones\": -3}").unwrap_err().key, "phones");
        assert_eq!(Scenario::from_json_str("[1]").unwrap_err().key, "file");
        assert_eq!(Scenario::from_json_str(&" ".repeat(MAX_SCENARIO_BYTES + 1)).unwrap_err().key, "file");
    }

    #[test]
    fn a_file_starts_from_its_base() {
        let s =
            Scenario::from_json_str("{\"base\": \"game-night\", \"tables\": 2, \"name\": \"small night\"}").unwrap();
        assert_eq!(s.name, "small night");
        assert_eq!(s.tables, 2);
        assert_eq!(s.table_ops_per_sec, Scenario::built_in("game-night").unwrap().table_ops_per_sec);
    }
}

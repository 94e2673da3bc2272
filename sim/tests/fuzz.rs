//! Fuzz target for scenario files: `Scenario::from_toml_str` and `Scenario::from_json_str` with
//! arbitrary text, grammar-token soup, arbitrary key/value maps and deep nesting. cargo-fuzz
//! needs a nightly toolchain, and this crate has no proptest, so the inputs come from a seeded
//! generator (splitmix64); a failure prints the seed and the input.
//!
//! Invariants: never a panic; an `Ok` scenario validates; every error names a key: `file` for
//! text that does not parse (or is too large), otherwise a key of the document, or one of the
//! keys that relations between keys are reported under (`battery_start_min_percent`, `tables`,
//! `heap_cache_mb`), since changing `phones` can break `tables`.
//!
//! Cases: 2 000 per family in the test command; more with `PROPTEST_CASES=N` (the same
//! variable as the root crate's proptest targets).

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use meshtune_sim::scenario::{Scenario, ScenarioError, MAX_SCENARIO_BYTES};

const RELATION_KEYS: [&str; 3] = ["battery_start_min_percent", "tables", "heap_cache_mb"];

fn cases() -> u64 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000)
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
    fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Toml,
    Json,
}

fn parse(format: Format, text: &str) -> Result<Scenario, ScenarioError> {
    match format {
        Format::Toml => Scenario::from_toml_str(text),
        Format::Json => Scenario::from_json_str(text),
    }
}

/// Runs one input through one parser and checks every invariant. `keys` is the document's keys
/// when the test built it (then an error must name one of them or a relation key, never `file`
/// unless `may_be_malformed`).
fn check(format: Format, text: &str, keys: Option<&[String]>, may_be_malformed: bool, seed: u64) {
    let shown = || {
        let t: String = text.chars().take(400).collect();
        format!("seed {seed:#x}, {} input {t:?}", if format == Format::Toml { "TOML" } else { "JSON" })
    };
    let result = match catch_unwind(AssertUnwindSafe(|| parse(format, text))) {
        Ok(r) => r,
        Err(_) => panic!("the parser panicked on {}", shown()),
    };
    match result {
        Ok(s) => {
            assert!(s.validate().is_ok(), "accepted an invalid scenario from {}", shown());
            assert!(!s.name.trim().is_empty(), "no name from {}", shown());
        }
        Err(e) => {
            // (An empty key is legal TOML and JSON: `"" = 1` is reported under the key ``.)
            assert!(!e.reason.is_empty(), "no reason from {}", shown());
            assert!(e.to_string().contains(&format!("`{}`", e.key)), "message does not quote the key: {e}");
            match keys {
                None => {
                    // The document's keys as the parsers see them (escapes such as TOML 1.1's
                    // `"\x41"` decoded).
                    let doc_keys: Vec<String> = match format {
                        Format::Toml => {
                            text.parse::<toml::Table>().map(|t| t.keys().cloned().collect()).unwrap_or_default()
                        }
                        Format::Json => match serde_json::from_str::<serde_json::Value>(text) {
                            Ok(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
                            _ => Vec::new(),
                        },
                    };
                    let known = e.key == "file"
                        || e.key == "base"
                        || e.key == "name"
                        || e.key == "description"
                        || Scenario::KEYS.contains(&e.key.as_str())
                        || doc_keys.contains(&e.key);
                    assert!(known, "error names {:?}, which is in no document: {} ({e})", e.key, shown());
                }
                Some(keys) => {
                    let ok = keys.contains(&e.key)
                        || RELATION_KEYS.contains(&e.key.as_str())
                        || (e.key == "file" && may_be_malformed);
                    assert!(ok, "error names {:?}, not a key of the document {keys:?}: {} ({e})", e.key, shown());
                }
            }
        }
    }
}

fn both(text: &str, seed: u64) {
    check(Format::Toml, text, None, true, seed);
    check(Format::Json, text, None, true, seed);
}

#[test]
fn arbitrary_bytes() {
    for case in 0..cases() {
        let seed = 0xB17E_5000 + case;
        let mut r = Rng(seed);
        let len = if r.chance(50) { r.below(MAX_SCENARIO_BYTES as u64 + 100) } else { r.below(200) };
        let bytes: Vec<u8> = (0..len).map(|_| r.next() as u8).collect();
        both(&String::from_utf8_lossy(&bytes), seed);
    }
}

/// Pieces of TOML and JSON syntax, odd numbers and odd strings.
const TOKENS: &[&str] = &[
    "=",
    "[",
    "]",
    "{",
    "}",
    "[[",
    "]]",
    ",",
    ":",
    ".",
    "\"",
    "'",
    "'''",
    "\"\"\"",
    "\n",
    "\r\n",
    " ",
    "\t",
    "#",
    "\\",
    "phones",
    "hours",
    "base",
    "name",
    "description",
    "tables",
    "table_size",
    "heap_limit_mb",
    "a",
    "a.b",
    "\"a.b\"",
    "0",
    "-0",
    "+0",
    "1",
    "-1",
    "2",
    "2000",
    "2001",
    "4294967296",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "18446744073709551616",
    "0.01",
    "48.0",
    "48.000001",
    "1e308",
    "1e309",
    "-1e400",
    "5e-324",
    "inf",
    "+inf",
    "-inf",
    "nan",
    "+nan",
    "-nan",
    "NaN",
    "Infinity",
    "0x7f",
    "0o17",
    "0b101",
    "1_000",
    "1__0",
    "01",
    "1979-05-27T07:32:00Z",
    "07:32:00",
    "1979-05-27",
    "true",
    "false",
    "null",
    "\"stadium\"",
    "\"moon\"",
    "\"\"",
    "\"\\u00e9\"",
    "\"\\uD800\"",
    "\"\\x41\"",
    "\"\u{0}\"",
    "é",
    "\u{feff}",
    "\u{10ffff}",
];

#[test]
fn grammar_token_soup() {
    for case in 0..cases() {
        let seed = 0x50_0900 + case;
        let mut r = Rng(seed);
        let n = r.below(40);
        let text: String = (0..n).map(|_| *r.pick(TOKENS)).collect();
        both(&text, seed);
    }
}

/// A value for a scenario key: mostly plausible, often out of range or of the wrong type.
#[derive(Debug, Clone)]
enum V {
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    Array(Vec<V>),
    Table(BTreeMap<String, V>),
    DateTime,
}

fn any_value(r: &mut Rng, depth: u32) -> V {
    match r.below(if depth > 2 { 5 } else { 7 }) {
        0 => V::Int(*r.pick(&[
            0,
            1,
            2,
            3,
            12,
            200,
            2000,
            2001,
            -1,
            i64::MAX,
            i64::MIN,
            u32::MAX as i64,
            u32::MAX as i64 + 1,
        ])),
        1 => V::Int(r.below(5_000) as i64 - 100),
        2 => V::Float(*r.pick(&[
            0.0,
            -0.0,
            0.005,
            0.01,
            0.5,
            1.0,
            24.0,
            48.0,
            48.5,
            100.0,
            1e4,
            65536.0,
            65537.0,
            1e308,
            -1e308,
            5e-324,
            f64::MAX,
            f64::MIN,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1.5,
            60.0,
            8192.0,
            8193.0,
            0.9,
            0.95,
        ])),
        3 => V::Float(f64::from_bits(r.next())),
        4 => match r.below(6) {
            0 => V::Str(r.pick(&Scenario::BUILT_IN).to_string()),
            1 => V::Str(String::new()),
            2 => V::Str(" ".into()),
            3 => V::Str("x".repeat(r.below(400) as usize)),
            4 => V::Str("é\"\\\n\t\u{0}'".into()),
            _ => V::Bool(r.chance(2)),
        },
        5 => V::Array((0..r.below(4)).map(|_| any_value(r, depth + 1)).collect()),
        _ => {
            if r.chance(4) {
                V::DateTime
            } else {
                V::Table((0..r.below(4)).map(|i| (format!("k{i}"), any_value(r, depth + 1))).collect())
            }
        }
    }
}

fn any_key(r: &mut Rng) -> String {
    match r.below(10) {
        0..=5 => r.pick(Scenario::KEYS).to_string(),
        6 => r.pick(&["base", "name", "description"]).to_string(),
        7 => r.pick(Scenario::KEYS).to_uppercase(),
        8 => String::new(),
        _ => ["phonez", "a.b", "é", " ", "\"", "x\ny"][r.below(6) as usize].to_owned(),
    }
}

fn toml_string(s: &str) -> String {
    // JSON's escaping is a subset of TOML basic strings' (\uXXXX, \", \\, \n, \t, \b, \f, \r).
    serde_json::Value::String(s.to_owned()).to_string()
}

fn toml_value(v: &V) -> String {
    match v {
        V::Int(i) => i.to_string(),
        V::Float(f) if f.is_nan() => "nan".into(),
        V::Float(f) if f.is_infinite() => {
            if *f > 0.0 {
                "inf".into()
            } else {
                "-inf".into()
            }
        }
        V::Float(f) => format!("{f:e}"),
        V::Str(s) => toml_string(s),
        V::Bool(b) => b.to_string(),
        V::Array(xs) => format!("[{}]", xs.iter().map(toml_value).collect::<Vec<_>>().join(", ")),
        V::Table(m) => format!(
            "{{{}}}",
            m.iter().map(|(k, v)| format!("{} = {}", toml_string(k), toml_value(v))).collect::<Vec<_>>().join(", ")
        ),
        V::DateTime => "1979-05-27T07:32:00Z".into(),
    }
}

fn json_value(v: &V) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        V::Int(i) => J::from(*i),
        V::Float(f) => serde_json::Number::from_f64(*f).map_or_else(|| J::String(f.to_string()), J::Number),
        V::Str(s) => J::String(s.clone()),
        V::Bool(b) => J::Bool(*b),
        V::Array(xs) => J::Array(xs.iter().map(json_value).collect()),
        V::Table(m) => J::Object(m.iter().map(|(k, v)| (k.clone(), json_value(v))).collect()),
        V::DateTime => J::String("1979-05-27T07:32:00Z".into()),
    }
}

#[test]
fn arbitrary_key_value_maps() {
    let mut accepted = 0;
    for case in 0..cases() {
        let seed = 0x4D_A900 + case;
        let mut r = Rng(seed);
        let n = r.below(8);
        let map: BTreeMap<String, V> = (0..n).map(|_| (any_key(&mut r), any_value(&mut r, 0))).collect();
        let keys: Vec<String> = map.keys().cloned().collect();
        let toml: String = map.iter().map(|(k, v)| format!("{} = {}\n", toml_string(k), toml_value(v))).collect();
        check(Format::Toml, &toml, Some(&keys), false, seed);
        let json = serde_json::Value::Object(map.iter().map(|(k, v)| (k.clone(), json_value(v))).collect()).to_string();
        check(Format::Json, &json, Some(&keys), false, seed);
        accepted += u32::from(Scenario::from_toml_str(&toml).is_ok());
    }
    // The generator reaches the accepting path too, not only errors.
    assert!(accepted > 0 || cases() < 100, "no generated scenario was accepted");
}

/// Valid values only, in range: what comes out is what went in.
#[test]
fn in_range_values_are_taken_as_given() {
    for case in 0..cases() {
        let seed = 0x1A_4000 + case;
        let mut r = Rng(seed);
        let base = *r.pick(&Scenario::BUILT_IN);
        let hours = 0.01 + (r.below(4_799) as f64) / 100.0;
        let phones = 30 + r.below(1_971);
        let text = format!("base = \"{base}\"\nhours = {hours:?}\nphones = {phones}\n");
        let s = Scenario::from_toml_str(&text).unwrap_or_else(|e| panic!("seed {seed:#x}: {text:?}: {e}"));
        assert_eq!((s.hours, u64::from(s.phones)), (hours, phones), "{text}");
        let j =
            Scenario::from_json_str(&format!("{{\"base\": \"{base}\", \"hours\": {hours:?}, \"phones\": {phones}}}"))
                .unwrap();
        assert_eq!(j, s);
    }
}

/// Nesting as deep as the size limit allows: arrays, inline tables, dotted keys, JSON.
#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    for depth in [1usize, 10, 100, 1_000, 10_000, 30_000] {
        let toml_arrays = format!("hours = {}1{}", "[".repeat(depth), "]".repeat(depth));
        let toml_open = format!("hours = {}", "[".repeat(depth));
        let toml_tables = format!("hours = {}1{}", "{a = ".repeat(depth), "}".repeat(depth));
        let dotted = format!("{} = 1", vec!["a"; depth].join("."));
        let json = format!("{{\"hours\": {}1{}}}", "[".repeat(depth), "]".repeat(depth));
        for text in [&toml_arrays, &toml_open, &toml_tables, &dotted] {
            check(Format::Toml, text, None, true, depth as u64);
            assert!(Scenario::from_toml_str(text).is_err());
        }
        check(Format::Json, &json, None, true, depth as u64);
        assert!(Scenario::from_json_str(&json).is_err());
    }
}

#[test]
fn oversized_files_are_refused_before_parsing() {
    for text in [format!("phones = 50\n#{}", "x".repeat(MAX_SCENARIO_BYTES)), "[".repeat(MAX_SCENARIO_BYTES + 1)] {
        assert_eq!(Scenario::from_toml_str(&text).unwrap_err().key, "file");
        assert_eq!(Scenario::from_json_str(&text).unwrap_err().key, "file");
    }
}

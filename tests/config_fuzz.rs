//! Fuzz target for `OptimizerConfig::from_json` (remote config reaches it from the network):
//! arbitrary JSON values, arbitrary strings, mutated valid documents, huge, deep and odd
//! numbers. cargo-fuzz needs a nightly toolchain, so this is proptest on stable.
//!
//! Invariants: never a panic; an `Ok` is a configuration that validates and survives a round
//! trip through `to_json`; every error is `InvalidConfig` whose field is `(document)` or a key
//! of the document's top-level object (or, when the document set one key of a related pair such
//! as `repair_hold_ms` ≤ `repair_hold_max_ms`, the other key of the pair, with a reason that
//! names the key the document set).
//!
//! Cases: 1 000 per property in the test command; more with `PROPTEST_CASES=N`.

use meshtune::config::MAX_CONFIG_JSON_BYTES;
use meshtune::{OptimizerConfig, OptimizerError};
use proptest::prelude::*;
use serde_json::{Map, Number, Value};

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000)
}

/// Checks one document against every invariant; returns whether it was accepted.
fn check(doc: &str) -> Result<bool, TestCaseError> {
    let result = std::panic::catch_unwind(|| OptimizerConfig::from_json(doc));
    let Ok(result) = result else {
        return Err(TestCaseError::fail(format!("from_json panicked on {:?}", truncate(doc))));
    };
    match result {
        Ok(config) => {
            prop_assert!(config.validate().is_ok(), "accepted an invalid config from {:?}", truncate(doc));
            let again = OptimizerConfig::from_json(&config.to_json());
            prop_assert_eq!(again.as_ref(), Ok(&config), "round trip of {:?}", truncate(doc));
            Ok(true)
        }
        Err(OptimizerError::InvalidConfig { field, reason }) => {
            prop_assert!(!reason.is_empty());
            if field != "(document)" {
                let keys: Vec<String> = match serde_json::from_str::<Value>(doc) {
                    Ok(Value::Object(map)) => map.keys().cloned().collect(),
                    _ => Vec::new(),
                };
                // A key of the document; or, for a relation between two keys (`min_x` above
                // `max_x`) of which the document set one, the other key, with the reason naming
                // the one the document set.
                let relation = OptimizerConfig::KEYS.contains(&field.as_str())
                    && keys.iter().any(|k| !k.is_empty() && reason.contains(k.as_str()));
                prop_assert!(
                    keys.contains(&field) || relation,
                    "error names {:?} ({}), which is neither (document) nor a key of {:?}",
                    field,
                    reason,
                    truncate(doc)
                );
            }
            Ok(false)
        }
        Err(other) => Err(TestCaseError::fail(format!("not InvalidConfig: {other:?} for {:?}", truncate(doc)))),
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(300).collect()
}

/// Numbers as JSON text: plain, extreme, huge, tiny, negative zero, exponents out of range.
fn odd_number_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| format!("{f:e}")),
        (0u32..4_000).prop_map(|n| format!("1{}", "0".repeat(n as usize))), // far past u64
        (0u32..4_000).prop_map(|n| format!("0.{}1", "0".repeat(n as usize))),
        (-400i32..400).prop_map(|e| format!("1e{e}")),
        prop::sample::select(vec![
            "0",
            "-0",
            "0.0",
            "-0.0",
            "1e400",
            "-1e400",
            "1e-400",
            "18446744073709551615",
            "18446744073709551616",
            "-1",
            "4294967295",
            "4294967296",
            "604800000",
            "604800001",
            "9007199254740993",
            "1.7976931348623157e308",
            "5e-324",
            "100.5",
            "1E3",
            "1e+3",
            "01",
            "1.",
            ".5",
            "+1",
            "NaN",
            "Infinity",
            "-Infinity",
            "0x10",
            "1_000",
        ])
        .prop_map(str::to_owned),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", Number::from_f64).prop_map(Value::Number),
        (0u64..1_000_000).prop_map(Value::from),
        (0.0f64..2_000.0).prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ]
}

fn any_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(any_key(), inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Mostly real keys, sometimes near misses or anything.
fn any_key() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(OptimizerConfig::KEYS).prop_map(str::to_owned),
        1 => prop::sample::select(OptimizerConfig::KEYS).prop_map(|k| k.to_uppercase()),
        1 => prop::sample::select(OptimizerConfig::KEYS).prop_map(|k| format!("{k} ")),
        1 => ".{0,10}",
        1 => Just(String::new()),
    ]
}

/// A top-level object of real keys with arbitrary values.
fn any_config_object() -> impl Strategy<Value = Value> {
    prop::collection::vec((any_key(), any_value()), 0..12).prop_map(|kv| {
        let mut m = Map::new();
        for (k, v) in kv {
            m.insert(k, v);
        }
        Value::Object(m)
    })
}

/// A document with one real key per entry and the value as raw number text.
fn odd_numbers_doc() -> impl Strategy<Value = String> {
    prop::collection::vec((prop::sample::select(OptimizerConfig::KEYS), odd_number_text()), 1..8).prop_map(|kv| {
        let body: Vec<String> = kv.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
        format!("{{{}}}", body.join(", "))
    })
}

/// The full default document with one key's value replaced by arbitrary text (mostly valid
/// configurations nearby, which exercises the accepting path and `validate`).
fn near_valid_doc() -> impl Strategy<Value = String> {
    (
        prop::sample::select(OptimizerConfig::KEYS),
        prop_oneof![odd_number_text(), any_value().prop_map(|v| v.to_string())],
    )
        .prop_map(|(key, text)| {
            let mut map: Map<String, Value> = match serde_json::from_str(&OptimizerConfig::default().to_json()) {
                Ok(Value::Object(m)) => m,
                _ => unreachable!(),
            };
            map.insert(key.to_owned(), Value::String("\u{1}PLACEHOLDER\u{1}".into()));
            Value::Object(map).to_string().replace("\"\\u0001PLACEHOLDER\\u0001\"", &text)
        })
}

/// A valid document with bytes flipped, cut or duplicated.
fn mutated_doc() -> impl Strategy<Value = String> {
    (any::<u64>(), 1usize..8).prop_map(|(seed, n)| {
        let mut bytes = OptimizerConfig::default().to_json().into_bytes();
        let mut x = seed;
        for _ in 0..n {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let i = (x >> 33) as usize % bytes.len().max(1);
            match (x >> 20) % 4 {
                0 => bytes[i] = (x >> 8) as u8,
                1 => bytes.truncate(i),
                2 => bytes.insert(i, b"{}[],:\"0-e."[((x >> 10) % 11) as usize]),
                _ => {
                    let tail = bytes[i..].to_vec();
                    bytes.extend_from_slice(&tail[..tail.len().min(64)]);
                }
            }
            if bytes.is_empty() {
                break;
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings(doc in prop_oneof![any::<String>(), "[{}\\[\\]\":,0-9a-z_ .eE+-]{0,80}"]) {
        check(&doc)?;
    }

    #[test]
    fn arbitrary_json_values(v in any_value()) {
        check(&v.to_string())?;
    }

    #[test]
    fn arbitrary_objects_of_real_keys(v in any_config_object()) {
        check(&v.to_string())?;
    }

    #[test]
    fn odd_numbers(doc in odd_numbers_doc()) {
        check(&doc)?;
    }

    #[test]
    fn near_valid_documents(doc in near_valid_doc()) {
        check(&doc)?;
    }

    #[test]
    fn mutated_documents(doc in mutated_doc()) {
        check(&doc)?;
    }

    /// Nesting as deep as the size limit allows, in every shape.
    #[test]
    fn deep_nesting(depth in 1usize..30_000, open in prop::sample::select(vec!["[", "{\"a\":", "{\"window_ms\":"]), closed in any::<bool>()) {
        let close = if open == "[" { "]" } else { "}" };
        let mut doc = format!("{{\"window_ms\": {}", open.repeat(depth));
        if closed {
            doc.push_str(&close.repeat(depth));
            doc.push('}');
        }
        prop_assert!(!check(&doc)?);
    }
}

#[test]
fn documents_over_the_size_limit_are_refused_whatever_they_hold() {
    for doc in [
        format!("{{\"window_ms\": 60000{}}}", " ".repeat(MAX_CONFIG_JSON_BYTES)),
        "[".repeat(MAX_CONFIG_JSON_BYTES + 1),
        format!("{{\"window_ms\": 1{}}}", "0".repeat(MAX_CONFIG_JSON_BYTES)),
        "é".repeat(MAX_CONFIG_JSON_BYTES / 2 + 1),
    ] {
        match OptimizerConfig::from_json(&doc) {
            Err(OptimizerError::InvalidConfig { field, reason }) => {
                assert_eq!(field, "(document)");
                assert!(reason.contains("limit"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }
    // Exactly at the limit is read (and here valid).
    let body = "{\"window_ms\": 60000}";
    let doc = format!("{body}{}", " ".repeat(MAX_CONFIG_JSON_BYTES - body.len()));
    assert_eq!(doc.len(), MAX_CONFIG_JSON_BYTES);
    assert!(OptimizerConfig::from_json(&doc).is_ok());
}

#[test]
fn known_odd_inputs() {
    let cases: &[(&str, Option<&str>)] = &[
        ("", Some("(document)")),
        ("null", Some("(document)")),
        ("{}", None),
        ("{\"window_ms\": 1e400}", Some("(document)")),
        ("{\"window_ms\": 18446744073709551616}", Some("window_ms")),
        ("{\"window_ms\": -0}", Some("window_ms")),
        ("{\"window_ms\": 60000.0}", Some("window_ms")),
        ("{\"target_p95_latency_ms\": 1e308}", None),
        ("{\"target_p95_latency_ms\": 5e-324}", None),
        ("{\"target_p95_latency_ms\": -0.0}", Some("target_p95_latency_ms")),
        ("{\"window_ms\": 60000, \"window_ms\": 5}", Some("window_ms")),
        ("{\"sample_process\": 1}", Some("sample_process")),
        ("{\"\": 1}", Some("")),
        ("{\"window_ms\": 60000} trailing", Some("(document)")),
        ("\u{feff}{}", Some("(document)")),
        // A relation broken by one key is reported under its partner; the reason names both.
        ("{\"repair_hold_max_ms\": 0}", Some("repair_hold_ms")),
        ("{\"battery_critical_percent\": 30}", Some("battery_low_percent")),
    ];
    for (doc, want) in cases {
        let got = OptimizerConfig::from_json(doc);
        match (want, got) {
            (None, Ok(c)) => c.validate().unwrap(),
            (Some(key), Err(OptimizerError::InvalidConfig { field, .. })) => assert_eq!(&field, key, "{doc}"),
            (want, got) => panic!("{doc}: wanted {want:?}, got {got:?}"),
        }
    }
}

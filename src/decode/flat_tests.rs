//! The fast path against serde_json: wherever `scan` reads a record, the event (or the rejection)
//! must be the one serde_json's path gives; and the records it must leave to serde_json, it leaves.

use super::*;
use crate::decode::event::{decode_flat, decode_serde};

const RECORDS: &[&str] = &[
    r#"{"action":"login","event_id":"gen-42-0000000001","ip":"1.141.127.2","session_id":"s-u00652-0","tenant":"acme","ts":"2026-01-04T20:00:00.000Z","user_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0","user_id":"u00652"}"#,
    r#"{"action":"export","attributes":{"format":"csv","rows":"12"},"event_id":"e-2","ip":"2001:db8::1","object_type":"contact","record_count":400,"session_id":"s","tenant":"acme","ts":"2026-01-06T05:00:00+08:00","user_agent":"CRM-Mobile/5.2","user_id":"u2","outcome":"failure"}"#,
    " \t{ \"event_id\" : \"a\" ,\n\"ts\":\"2026-01-06T02:14:07Z\", \"user_id\":\"ü\", \"action\":\"x\", \"n\": -1.5e+3, \"b\": true, \"z\": null, \"attributes\" : { } }\r\n",
    r#"{"event_id":"a","ts":"2026-01-06T02:14:07Z","user_id":"u","action":"x","record_count":null,"attributes":null,"tenant":null,"ip":"","outcome":""}"#,
    r#"{"event_id":"a","ts":"2026-01-06T02:14:07Z","user_id":"u","action":"x","record_count":"12","other":{"a":1}}"#,
    r#"{"event_id":"a\n","ts":"2026-01-06T02:14:07Z","user_id":"u","action":"x","record_count":0.5}"#,
    r#"{}"#,
];

/// The two paths' verdicts on `text` agree wherever the fast path reads it.
fn agree(text: &str) -> bool {
    let Some(f) = scan(text) else { return false };
    let (fast, slow) = (decode_flat(&f), decode_serde(text));
    assert_eq!(fast, slow, "fast path vs serde_json on {text:?}");
    true
}

#[test]
fn flat_records_are_read_here_and_decode_as_serde_json_decodes_them() {
    // The fifth has a nested unknown value and the sixth an escape: serde_json's to read.
    let read: Vec<bool> = RECORDS.iter().map(|r| agree(r)).collect();
    assert_eq!(read, [true, true, true, true, false, false, true]);
}

#[test]
fn every_one_byte_change_is_read_the_same_or_left_to_serde_json() {
    let bytes: &[u8] = b"\"\\{}[],:-+.eE0159 \tnutfl\x01\x7fx";
    let (mut read, mut left) = (0, 0);
    for r in RECORDS {
        let r = r.as_bytes();
        for i in 0..=r.len() {
            let mut variants = vec![[&r[..i], &r[(i + 1).min(r.len())..]].concat()];
            for &c in bytes {
                variants.push([&r[..i], &[c], &r[i..]].concat());
                if i < r.len() {
                    variants.push([&r[..i], &[c], &r[i + 1..]].concat());
                }
            }
            for v in variants {
                let Ok(text) = std::str::from_utf8(&v) else {
                    continue;
                };
                if agree(text) {
                    read += 1;
                } else {
                    left += 1;
                }
            }
        }
    }
    // Both kinds were exercised: most changes break a record (left to serde_json), many do not.
    assert!(read > 1_000 && left > 1_000, "read {read}, left {left}");
}

#[test]
fn what_it_must_leave_to_serde_json() {
    for text in [
        r#"{"event_id":"a\"b"}"#,             // an escape
        r#"{"event_id":"a","event_id":"b"}"#, // a known field twice
        r#"{"user_id":7}"#,                   // a text field of another type
        r#"{"x":{"y":1}}"#,                   // a nested unknown value
        r#"{"attributes":{"k":1}}"#,          // a non-string attribute
        r#"{"x":01}"#,                        // a malformed number
        r#"{"x":1,}"#,                        // a trailing comma
        r#"{"x":1} x"#,                       // trailing text
        "{\"x\":\"a\u{1}\"}",                 // a control character in a string
        "{\"x\":1}\u{a0}",                    // Unicode, not JSON, whitespace
    ] {
        assert!(scan(text).is_none(), "{text}");
    }
    assert!(
        scan(r#"{"event_id":null,"event_id":"b"}"#).is_none(),
        "null counts as given"
    );
}

#[test]
fn numbers_follow_the_json_grammar() {
    for ok in ["0", "-0", "12", "1.5", "1e5", "1E+5", "-1.25e-3"] {
        assert_eq!(number(ok.as_bytes(), 0), Some(ok.len()), "{ok}");
    }
    for (bad, end) in [
        ("01", Some(1)),
        ("1.", None),
        ("-", None),
        ("1e", None),
        (".5", None),
    ] {
        assert_eq!(number(bad.as_bytes(), 0), end, "{bad}");
    }
}

#[test]
fn every_field_has_its_slot_and_no_other_key_does() {
    for (i, f) in FIELDS.iter().enumerate() {
        assert_eq!(slot(f), Some(i), "{f}");
        assert_eq!(slot(&f.to_uppercase()), None, "{f}");
        assert_eq!(slot(&f[1..]), None, "{f}");
    }
    assert_eq!(slot(""), None);
}

/// Records built from tokens that sit at the edge of what the fast path reads: each one the fast
/// path reads must decode exactly as serde_json decodes it.
mod generated {
    use super::*;
    use proptest::prelude::*;

    /// The contract's fields and keys that are nearly one of them.
    fn keys() -> Vec<&'static str> {
        FIELDS
            .iter()
            .copied()
            .chain(["x", "Ts", "event_id ", "é"])
            .collect()
    }
    const VALUES: &[&str] = &[
        r#""a""#,
        r#""u1""#,
        r#""""#,
        r#""2026-01-06T02:14:07Z""#,
        r#""2026-01-06T10:14:07.5+08:00""#,
        r#""1.2.3.4""#,
        r#""::1""#,
        r#""success""#,
        r#""failure""#,
        r#""maybe""#,
        r#""a\"b""#,
        r#""\u00e9""#,
        "\"ü\u{7f}\"",
        "\"a\u{85}b\"",
        "0",
        "-0",
        "12",
        "1.5",
        "1e3",
        "-1",
        "01",
        "1.",
        "true",
        "false",
        "null",
        "nul",
        "[]",
        "[1,\"a\"]",
        "{}",
        r#"{"k":"v"}"#,
        r#"{"k":"v","k":"w"}"#,
        r#"{"k":1}"#,
        r#"{"k":{"n":"v"}}"#,
        r#"{ "k" : "v" , "l":"w" }"#,
        "18446744073709551616",
        "9223372036854775808",
    ];
    // No space most often; Unicode (not JSON) whitespace seldom, as it sends a record to serde_json.
    const WS: &[&str] = &["", "", "", "", " ", " ", "\n", "\t", "\r\n", "\u{a0}"];

    /// A record with the required fields (values picked so most are valid, some not) and up to
    /// six more members, each key and value from the edge cases above, in a random order.
    fn record() -> impl Strategy<Value = String> {
        let required = (0..4usize, 0..4usize, 0..4usize);
        let keys = keys();
        let member = (0..keys.len(), 0..VALUES.len(), 0..WS.len(), 0..WS.len());
        let extra = proptest::collection::vec(member, 0..6);
        (required, extra, 0..WS.len(), 0..10u8, any::<u64>()).prop_map(
            move |((id, ts, user), extra, w, trailing_comma, order)| {
                let ids = [r#""e-1""#, r#""\u0065-1""#, r#""é-1""#, "7"];
                let times = [
                    r#""2026-01-06T02:14:07Z""#,
                    r#""2026-01-06T10:14:07.123+08:00""#,
                    r#""2026-01-06""#,
                    r#""2026-01-06T02:14:07\u005a""#,
                ];
                let users = [r#""u1""#, r#""\u0075""#, r#""ü""#, r#""""#];
                let mut body = vec![
                    format!("\"event_id\":{}", ids[id]),
                    format!("\"ts\":{}", times[ts]),
                    format!("\"user_id\":{}", users[user]),
                    "\"action\":\"login\"".to_owned(),
                ];
                for &(k, v, a, b) in &extra {
                    body.push(format!(
                        "{}\"{}\"{}:{}{}",
                        WS[a], keys[k], WS[b], WS[a], VALUES[v]
                    ));
                }
                let n = body.len();
                body.rotate_left((order % n as u64) as usize);
                let comma = if trailing_comma == 0 { "," } else { "" };
                format!("{}{{{}{comma}}}{}", WS[w], body.join(","), WS[w])
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(100_000))]
        #[test]
        fn generated_records_agree(text in record()) {
            agree(&text);
        }
    }

    #[test]
    fn the_generator_reaches_both_paths() {
        use proptest::strategy::ValueTree;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let (mut read, mut left) = (0, 0);
        for _ in 0..5_000 {
            let text = record().new_tree(&mut runner).unwrap().current();
            if agree(&text) {
                read += 1
            } else {
                left += 1
            }
        }
        assert!(read > 200 && left > 1_000, "read {read}, left {left}");
    }
}

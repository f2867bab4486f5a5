//! The event and directory contracts, case by case: what is accepted, and the stable code of every
//! rejection (these codes are what auditors filter `dead_letters` by).

use custos::decode::{decode_directory, decode_event};
use custos::model::{Outcome, UserStatus};

const MAX: usize = 1 << 20;

fn code(line: &[u8]) -> String {
    match decode_event(line, MAX) {
        Ok(e) => panic!("accepted: {e:?}"),
        Err(r) => r.code.to_string(),
    }
}

#[test]
fn a_full_event_is_accepted_with_defaults_applied() {
    let e = decode_event(
        br#"{"event_id":"e1","ts":"2026-01-06T10:14:07.123+08:00","user_id":"alice","action":"export","object_type":"contact","record_count":1200,"ip":"::ffff:81.2.69.142","attributes":{"fmt":"csv"},"unknown_field":[1,2]}"#,
        MAX,
    )
    .unwrap();
    assert_eq!(e.ts.to_rfc3339(), "2026-01-06T02:14:07.123+00:00");
    assert_eq!(e.tenant, "default");
    assert_eq!(e.outcome, Outcome::Success);
    assert_eq!(e.record_count, 1200);
    assert_eq!(e.attributes, vec![("fmt".to_owned(), "csv".to_owned())]);
    let min = decode_event(br#"{"event_id":"e2","ts":"2026-01-06T02:14:07Z","user_id":"bob","action":"something_new"}"#, MAX).unwrap();
    assert_eq!(
        (min.record_count, min.ip, min.action.as_str()),
        (0, None, "something_new")
    );
}

#[test]
fn record_count_accepts_up_to_two_to_the_63() {
    let ok = decode_event(br#"{"event_id":"e","ts":"2026-01-06T02:14:07Z","user_id":"u","action":"view","record_count":9223372036854775808}"#, MAX).unwrap();
    assert_eq!(ok.record_count, 1 << 63);
}

#[test]
fn every_rejection_has_its_code() {
    let cases: &[(&[u8], &str)] = &[
        (b"{not json", "invalid_json"),
        (b"[1,2,3]", "not_object"),
        (b"\"just a string\"", "not_object"),
        (b"{\"event_id\":\"e\xff\",\"ts\":\"2026-01-06T02:14:07Z\",\"user_id\":\"u\",\"action\":\"view\"}", "invalid_utf8"),
        (br#"{"ts":"2026-01-06T02:14:07Z","user_id":"u","action":"view"}"#, "missing_field:event_id"),
        (br#"{"event_id":"e","user_id":"u","action":"view"}"#, "missing_field:ts"),
        (br#"{"event_id":"e","ts":"2026-01-06T02:14:07Z","action":"view"}"#, "missing_field:user_id"),
        (br#"{"event_id":"e","ts":"2026-01-06T02:14:07Z","user_id":"u"}"#, "missing_field:action"),
        (br#"{"event_id":"e","ts":"2026-01-06T02:14:07Z","user_id":null,"action":"view"}"#, "missing_field:user_id"),
        (br#"{"event_id":"e","ts":"2026-01-06T02:14:07Z","user_id":"","action":"view"}"#, "empty_field:user_id"),
        (br#"{"event_id":"","ts":"2026-01-06T02:14:07Z","user_id":"u","action":"view"}"#, "empty_field:event_id"),
        (br#"{"event_id":"e","ts":"yesterday","user_id":"u","action":"view"}"#, "bad_timestamp"),
        (br#"{"event_id":"e","ts":"2026-01-06T02:14:07","user_id":"u","action":"view"}"#, "bad_timestamp"),
        (br#"{"event_id":"e","ts":1767665647,"user_id":"u","action":"view"}"#, "bad_timestamp"),
        (br#"{"event_id":"e","ts":"2026-01-06T02:14:07Z","user_id":"u","action":"view","record_count":-1}"#, "bad_record_count"),
        (br#"{"event_id":"e","ts":"2026-01-06T02:14:07Z","user_id":"u","action":"view","record_count":1.5}"#, "bad_record_count"),
        (br#"{"event_id":"e","ts":"2026-01-06T02:14:07Z","user_id":"u","action":"view","record_count":"12"}"#, "bad_record_count"),
        (br#"{"event_id":"e","ts":"2026-01-06T02:14:07Z","user_id":"u","action":"view","record_count":9223372036854775809}"#, "bad_record_count"),
        (br#"{"event_id":"e","ts":"2026-01-06T02:14:07Z","user_id":"u","action":"view","record_count":1e400}"#, "bad_record_count"),
        (br#"{"event_id":"e","ts":"2026-01-06T02:14:07Z","user_id":42,"action":"view"}"#, "bad_type:user_id"),
        (br#"{"event_id":"e","ts":"2026-01-06T02:14:07Z","user_id":"u","action":"view","ip":"999.1.1.1"}"#, "bad_value:ip"),
        (br#"{"event_id":"e","ts":"2026-01-06T02:14:07Z","user_id":"u","action":"view","outcome":"maybe"}"#, "bad_value:outcome"),
        (br#"{"event_id":"e","ts":"2026-01-06T02:14:07Z","user_id":"u","action":"view","attributes":{"a":1}}"#, "bad_value:attributes"),
        (br#"{"event_id":"e","ts":"2026-01-06T02:14:07Z","user_id":"u","user_id":"v","action":"view"}"#, "duplicate_field:user_id"),
        (br#"{"event_id":"e\u0007","ts":"2026-01-06T02:14:07Z","user_id":"u","action":"view"}"#, "bad_value:event_id"),
        (b"", "invalid_json"),
    ];
    for (line, want) in cases {
        assert_eq!(code(line), *want, "for {}", String::from_utf8_lossy(line));
    }
    let long_id = format!(
        r#"{{"event_id":"{}","ts":"2026-01-06T02:14:07Z","user_id":"u","action":"view"}}"#,
        "x".repeat(129)
    );
    assert_eq!(code(long_id.as_bytes()), "bad_value:event_id");
    let deep = format!(
        r#"{{"event_id":"e","ts":"2026-01-06T02:14:07Z","user_id":"u","action":"view","x":{}{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    assert_eq!(code(deep.as_bytes()), "too_deep");
    let big = format!(
        r#"{{"event_id":"e","ts":"2026-01-06T02:14:07Z","user_id":"u","action":"view","pad":"{}"}}"#,
        "x".repeat(2 << 20)
    );
    assert_eq!(code(big.as_bytes()), "too_large");
}

#[test]
fn directory_records() {
    let r = decode_directory(
        br#"{"user_id":"alice","status":"terminated","effective_ts":"2026-01-06T18:00:00+01:00","timezone":"Europe/Berlin","work_hours":"22:00-06:00","work_days":"Mon,Tue,Sat","protected":true}"#,
        MAX,
    )
    .unwrap();
    assert_eq!(r.status, UserStatus::Terminated);
    assert!(r.work_hours.unwrap().wraps_midnight());
    assert_eq!(r.work_days.unwrap().to_string(), "Mon,Tue,Sat");
    assert!(r.protected);
    let same_other_order = decode_directory(
        br#"{"protected":true,"status":"terminated","user_id":"alice","work_days":"Mon,Tue,Sat","effective_ts":"2026-01-06T17:00:00Z","timezone":"Europe/Berlin","work_hours":"22:00-06:00"}"#,
        MAX,
    )
    .unwrap();
    assert_eq!(r.record_id, same_other_order.record_id);

    let bad: &[(&[u8], &str)] = &[
        (br#"{"status":"active"}"#, "missing_field:user_id"),
        (br#"{"user_id":"a"}"#, "missing_field:status"),
        (br#"{"user_id":"a","status":"gone"}"#, "bad_value:status"),
        (
            br#"{"user_id":"a","status":"active","timezone":"Mars/Olympus"}"#,
            "bad_value:timezone",
        ),
        (
            br#"{"user_id":"a","status":"active","work_hours":"9-17"}"#,
            "bad_value:work_hours",
        ),
        (
            br#"{"user_id":"a","status":"active","work_days":"Mon-Funday"}"#,
            "bad_value:work_days",
        ),
        (
            br#"{"user_id":"a","status":"active","effective_ts":"2026-01-06"}"#,
            "bad_timestamp:effective_ts",
        ),
        (
            br#"{"user_id":"a","status":"active","protected":"yes"}"#,
            "bad_type:protected",
        ),
    ];
    for (line, want) in bad {
        let got = decode_directory(line, MAX)
            .map(|_| ())
            .unwrap_err()
            .code
            .to_string();
        assert_eq!(got, *want, "for {}", String::from_utf8_lossy(line));
    }
}

//! `custos replay` against the real ClickHouse: exact counts, every rejection dead-lettered with its
//! code and exact bytes, idempotent re-replay, gzip and stdin input, and a clear failure when
//! ClickHouse stays down.

use crate::common;

use std::io::Write;
use std::process::{Output, Stdio};

use common::*;

fn summary(out: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "replay failed: {}\n{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().expect("a summary line")).expect("summary is JSON")
}

/// One line of every rejection kind of the event contract, with its expected code.
fn bad_lines() -> Vec<(Vec<u8>, &'static str)> {
    let ok = |f: &str| {
        format!(
            r#"{{"event_id":"bad-{}","ts":"2026-01-06T02:14:07Z","user_id":"u","action":"view",{f}}}"#,
            f.len()
        )
    };
    vec![
        (b"{\"event_id\": \"x\", oops".to_vec(), "invalid_json"),
        (b"[\"not\", \"an\", \"object\"]".to_vec(), "not_object"),
        (b"{\"event_id\":\"bad-utf8\",\"ts\":\"2026-01-06T02:14:07Z\",\"user_id\":\"\xc3\x28\",\"action\":\"view\"}".to_vec(), "invalid_utf8"),
        (br#"{"event_id":"bad-missing","ts":"2026-01-06T02:14:07Z","action":"view"}"#.to_vec(), "missing_field:user_id"),
        (br#"{"event_id":"bad-empty","ts":"2026-01-06T02:14:07Z","user_id":"u","action":""}"#.to_vec(), "empty_field:action"),
        (br#"{"event_id":"bad-ts","ts":"06/01/2026 02:14","user_id":"u","action":"view"}"#.to_vec(), "bad_timestamp"),
        (br#"{"event_id":"bad-nooffset","ts":"2026-01-06T02:14:07.123","user_id":"u","action":"view"}"#.to_vec(), "bad_timestamp"),
        (ok(r#""record_count":-5"#).into_bytes(), "bad_record_count"),
        (ok(r#""record_count":2.5"#).into_bytes(), "bad_record_count"),
        (ok(r#""record_count":"many""#).into_bytes(), "bad_record_count"),
        (ok(r#""record_count":99999999999999999999999"#).into_bytes(), "bad_record_count"),
        (br#"{"event_id":"bad-uid","ts":"2026-01-06T02:14:07Z","user_id":7,"action":"view"}"#.to_vec(), "bad_type:user_id"),
    ]
}

#[test]
fn replay_stores_each_valid_event_once_and_dead_letters_every_bad_line() {
    if skip_without_servers() {
        return;
    }
    let env = TestEnv::new(&ch_url(), "");
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let valid = 300u64;
    for i in 0..valid {
        lines.push(
            event(
                &format!("e{i}"),
                &format!("u{}", i % 7),
                "2026-01-06T02:14:07.123Z",
                "view",
                i,
            )
            .into_bytes(),
        );
    }
    for i in 0..50 {
        lines.push(
            event(
                &format!("e{i}"),
                &format!("u{}", i % 7),
                "2026-01-06T02:14:07.123Z",
                "view",
                i,
            )
            .into_bytes(),
        );
    }
    let bad = bad_lines();
    for (k, (line, _)) in bad.iter().enumerate() {
        lines.insert(40 + k * 20, line.clone());
    }
    let path = env.path("events.jsonl");
    let mut f = std::fs::File::create(&path).unwrap();
    for l in &lines {
        f.write_all(l).unwrap();
        f.write_all(b"\n").unwrap();
    }
    drop(f);
    let path = path.to_str().unwrap();

    let first = summary(&env.custos(&["replay", "--input", path]).output().unwrap());
    let mut by_code = std::collections::BTreeMap::<&str, u64>::new();
    for (_, code) in &bad {
        *by_code.entry(code).or_default() += 1;
    }
    let expected = serde_json::json!({"read": lines.len(), "stored": valid, "rejected": bad.len(), "rejected_by_code": by_code, "duplicates": 50, "alerts": 0});
    assert_eq!(first, expected);
    assert_eq!(env.u64("SELECT uniqExact(event_id) FROM events"), valid);
    env.sql("OPTIMIZE TABLE events FINAL");
    assert_eq!(env.u64("SELECT count() FROM events"), valid);

    let stored = env.sql("SELECT error_code, hex(raw) FROM dead_letters FINAL ORDER BY file_line");
    let want: Vec<String> = bad
        .iter()
        .map(|(raw, code)| format!("{code}\t{}", hex(raw)))
        .collect();
    assert_eq!(stored.lines().collect::<Vec<_>>(), want);
    assert_eq!(
        env.u64("SELECT count() FROM dead_letters WHERE error_message = ''"),
        0
    );

    // Replaying the same file again changes nothing.
    let second = summary(&env.custos(&["replay", "--input", path]).output().unwrap());
    assert_eq!(second, expected);
    env.sql("OPTIMIZE TABLE events FINAL");
    env.sql("OPTIMIZE TABLE dead_letters FINAL");
    assert_eq!(env.u64("SELECT count() FROM events"), valid);
    assert_eq!(env.u64("SELECT uniqExact(event_id) FROM events"), valid);
    assert_eq!(
        env.u64("SELECT count() FROM dead_letters"),
        bad.len() as u64
    );
    // Stored values round-trip: ms precision, UTC, source position.
    assert_eq!(env.sql("SELECT toString(ts), ts_ms, record_count, source, file_line FROM events WHERE event_id = 'e5'"), format!("2026-01-06 02:14:07\t123\t5\tfile\t6"));
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

#[test]
fn generated_100k_file_counts_match_the_tables() {
    if skip_without_servers() {
        return;
    }
    let env = TestEnv::new(&ch_url(), "");
    let ev = env.path("ev.jsonl.gz");
    let dir = env.path("dir.jsonl");
    let st = env
        .custos(&[
            "gen",
            "--count",
            "100000",
            "--events",
            ev.to_str().unwrap(),
            "--directory",
            dir.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let s = summary(
        &env.custos(&[
            "replay",
            "--input",
            ev.to_str().unwrap(),
            "--directory",
            dir.to_str().unwrap(),
        ])
        .output()
        .unwrap(),
    );
    assert_eq!(s["read"], 100_000);
    assert_eq!(s["rejected"], 0);
    assert_eq!(
        s["stored"].as_u64().unwrap() + s["duplicates"].as_u64().unwrap(),
        100_000
    );
    assert_eq!(
        env.u64("SELECT uniqExact(event_id) FROM events"),
        s["stored"].as_u64().unwrap()
    );
    assert_eq!(env.u64("SELECT count() FROM dead_letters"), 0);
    assert!(env.u64("SELECT uniqExact(user_id) FROM directory") >= 200);
    assert_eq!(
        env.u64("SELECT count() FROM directory FINAL WHERE status = 'terminated'"),
        1
    );
}

#[test]
fn stdin_input_and_crlf_lines_work() {
    if skip_without_servers() {
        return;
    }
    let env = TestEnv::new(&ch_url(), "");
    let input = format!(
        "{}\r\n\n{}\r\n{{broken\r\n",
        event("a", "u1", "2026-01-06T02:14:07Z", "login", 0),
        event("b", "u1", "2026-01-06T03:14:07+01:00", "export", 10)
    );
    let mut child = env
        .custos(&["replay", "--input", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let s = summary(&child.wait_with_output().unwrap());
    // The 02:14 UTC login is outside the default working hours (Mon-Fri 09:00-18:00 UTC).
    assert_eq!(
        s,
        serde_json::json!({"read": 3, "stored": 2, "rejected": 1, "rejected_by_code": {"invalid_json": 1}, "duplicates": 0, "alerts": 1})
    );
    assert_eq!(
        env.sql("SELECT hex(raw), file_path, file_line FROM dead_letters"),
        format!("{}\t-\t4", hex(b"{broken"))
    );
}

#[test]
fn replay_fails_clearly_when_clickhouse_stays_down() {
    if skip_without_servers() {
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let env = TestEnv::new(&format!("http://127.0.0.1:{port}"), "");
    std::fs::write(
        env.path("e.jsonl"),
        event("a", "u", "2026-01-06T02:14:07Z", "login", 0),
    )
    .unwrap();
    let out = env
        .custos(&["replay", "--input", env.path("e.jsonl").to_str().unwrap()])
        .env("CUSTOS_CLICKHOUSE_GIVE_UP_AFTER_SECS", "2")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unavailable") && err.contains(&port.to_string()),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

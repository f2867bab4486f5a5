//! Hostile input at 10 % of a Kafka stream — invalid JSON, invalid UTF-8, oversize records, deep
//! nesting, huge numbers, control characters, duplicate keys — all dead-lettered with their codes,
//! every valid event stored exactly once, memory bounded.

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;

fn hostile(i: u32) -> (Vec<u8>, &'static str) {
    match i % 7 {
        0 => (format!("{{\"event_id\":\"h{i}\",").into_bytes(), "invalid_json"),
        1 => (format!("{{\"event_id\":\"h{i}\",\"ts\":\"2026-01-06T02:14:07Z\",\"user_id\":\"\u{0}").into_bytes().into_iter().chain([0xff, 0xfe, b'"', b'}']).collect(), "invalid_utf8"),
        2 if i % 140 == 2 => (format!(r#"{{"event_id":"h{i}","ts":"2026-01-06T02:14:07Z","user_id":"u","action":"view","pad":"{}"}}"#, "x".repeat(100_000)).into_bytes(), "too_large"),
        2 => (format!(r#"{{"event_id":"h{i}","ts":"2026-01-06T02:14:07Z","user_id":"u","action":"view","n":{}{}}}"#, "[".repeat(200), "]".repeat(200)).into_bytes(), "too_deep"),
        3 => (format!(r#"{{"event_id":"h{i}","ts":"2026-01-06T02:14:07Z","user_id":"u","action":"export","record_count":1{}}}"#, "0".repeat(400)).into_bytes(), "bad_record_count"),
        4 => (format!(r#"{{"event_id":"h{i}","ts":"2026-01-06T02:14:07Z","user_id":"u\u0001","action":"view"}}"#).into_bytes(), "bad_value:user_id"),
        5 => (format!(r#"{{"event_id":"h{i}","ts":"2026-01-06T02:14:07Z","user_id":"a","user_id":"b","action":"view"}}"#).into_bytes(), "duplicate_field:user_id"),
        _ => (format!(r#"{{"event_id":"h{i}","ts":"2026-01-06T02:14:07Z","user_id":"u","action":"view","record_count":1e3}}"#).into_bytes(), "bad_record_count"),
    }
}

#[test]
fn ten_percent_hostile_input_is_dead_lettered_and_the_rest_stored() {
    if skip_without_servers() {
        return;
    }
    let kafka = MockKafka::new(1);
    let (topic, group) = (unique_name("events"), unique_name("g"));
    kafka.create_topic(&topic, 8);
    let env = TestEnv::new(&ch_url(), &kafka.config_toml(&group, &topic, ""));
    let (mut valid, mut want) = (0u64, BTreeMap::<&str, u64>::new());
    for i in 0..30_000u32 {
        if i % 10 == 9 {
            let (raw, code) = hostile(i / 10);
            *want.entry(code).or_default() += 1;
            kafka.produce(&topic, &format!("h{}", i % 8), &raw);
        } else {
            valid += 1;
            let u = format!("u{}", i % 97);
            kafka.produce(
                &topic,
                &u,
                event(&format!("ok{i}"), &u, "2026-01-06T10:00:00Z", "view", 1).as_bytes(),
            );
        }
    }
    kafka.flush();
    let bad: u64 = want.values().sum();
    let log = std::fs::File::create(env.path("serve.log")).unwrap();
    let mut serve = env
        .custos(&["serve"])
        .env("CUSTOS_PIPELINE_MAX_RECORD_BYTES", "65536")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut peak = 0;
    let start = std::time::Instant::now();
    while env.wait_for("SELECT count() FROM events", valid, Duration::ZERO) < valid
        && start.elapsed() < Duration::from_secs(90)
    {
        peak = peak.max(rss_kib(serve.id()));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        env.wait_for(
            "SELECT uniqExact(event_id) FROM events",
            valid,
            Duration::from_secs(30)
        ),
        valid
    );
    assert_eq!(
        env.wait_for(
            "SELECT uniqExact(dl_id) FROM dead_letters",
            bad,
            Duration::from_secs(30)
        ),
        bad
    );
    sigterm(&serve);
    serve.wait().unwrap();
    let got: BTreeMap<String, u64> = env
        .sql("SELECT error_code, count() FROM dead_letters FINAL GROUP BY error_code")
        .lines()
        .map(|l| {
            let (c, n) = l.split_once('\t').unwrap();
            (c.to_owned(), n.parse().unwrap())
        })
        .collect();
    let want: BTreeMap<String, u64> = want.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    assert_eq!(got, want);
    assert!(peak < 300 * 1024, "peak RSS {peak} KiB");
    // Oversize records keep their first 64 KiB (`dead_letter_max_bytes`), with the full length and
    // the SHA-256 of the whole record in the message: a flood of them cannot fill the disk.
    assert_eq!(
        env.u64("SELECT max(length(raw)) FROM dead_letters WHERE error_code = 'too_large'"),
        65_536
    );
    let whole = format!(
        r#"{{"event_id":"h2","ts":"2026-01-06T02:14:07Z","user_id":"u","action":"view","pad":"{}"}}"#,
        "x".repeat(100_000)
    );
    let digest: String = {
        use sha2::Digest;
        sha2::Sha256::digest(whole.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    assert_eq!(
        env.sql("SELECT error_message FROM dead_letters FINAL WHERE error_code = 'too_large' AND startsWith(raw, '{\"event_id\":\"h2\"')"),
        format!(
            "record is {} bytes, the limit is 65536 (the first 65536 of {} bytes are kept; SHA-256 of the whole record: {digest})",
            whole.len(),
            whole.len()
        )
    );
}

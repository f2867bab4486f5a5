//! `custos serve` against a real Kafka-protocol broker (librdkafka's mock cluster) and the real
//! ClickHouse: every message of a 4-partition topic stored exactly once, across a SIGKILL mid-stream,
//! with offsets committed only for stored data.

use crate::common;

use std::time::{Duration, Instant};

use common::*;

/// A mock cluster with an events topic of `partitions` and a directory topic, and a test database
/// and config reading them.
fn kafka_env(partitions: i32) -> (MockKafka, String, String, String, TestEnv) {
    let kafka = MockKafka::new(1);
    let (topic, dtopic, group) = (
        unique_name("events"),
        unique_name("directory"),
        unique_name("g"),
    );
    kafka.create_topic(&topic, partitions);
    kafka.create_topic(&dtopic, 1);
    let env = TestEnv::new(&ch_url(), &kafka.config_toml(&group, &topic, &dtopic));
    (kafka, topic, dtopic, group, env)
}

#[test]
fn serve_stores_every_message_once_across_a_sigkill() {
    if skip_without_servers() {
        return;
    }
    let (kafka, topic, dtopic, group, env) = kafka_env(4);

    let (v1, b1) = produce_events(&kafka, &topic, 0..8_000);
    kafka.produce(
        &dtopic,
        "u1",
        br#"{"user_id":"u1","status":"terminated","effective_ts":"2026-01-05T17:00:00Z"}"#,
    );
    kafka.produce(&dtopic, "u2", br#"{"user_id":"u2","status":"fired"}"#);
    kafka.flush();

    let mut serve = env.spawn_serve("serve-1.log");
    // Kill as soon as the first rows land: the rest of the stream is mid-flight.
    let start = Instant::now();
    while env.wait_for("SELECT count() FROM events", u64::MAX, Duration::ZERO) == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "nothing stored: {}",
            std::fs::read_to_string(env.path("serve-1.log")).unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    serve.kill().unwrap();
    serve.wait().unwrap();
    let after_kill = env.u64("SELECT uniqExact(event_id) FROM events");
    assert!(after_kill > 0);

    let (v2, b2) = produce_events(&kafka, &topic, 8_000..16_000);
    let (valid, bad) = (v1 + v2, b1 + b2);
    let mut serve = env.spawn_serve("serve-2.log");
    let got = env.wait_for(
        "SELECT uniqExact(event_id) FROM events",
        valid,
        Duration::from_secs(90),
    );
    assert_eq!(
        got,
        valid,
        "log: {}",
        std::fs::read_to_string(env.path("serve-2.log")).unwrap()
    );
    // Directory dead letter (u2) counts too.
    assert_eq!(
        env.wait_for(
            "SELECT uniqExact(dl_id) FROM dead_letters",
            bad + 1,
            Duration::from_secs(30)
        ),
        bad + 1
    );

    sigterm(&serve);
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(st) = serve.try_wait().unwrap() {
            break st;
        }
        assert!(
            Instant::now() < deadline,
            "serve did not exit within 15 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success());

    env.sql("OPTIMIZE TABLE events FINAL");
    env.sql("OPTIMIZE TABLE dead_letters FINAL");
    assert_eq!(env.u64("SELECT count() FROM events"), valid);
    assert_eq!(env.u64("SELECT count() FROM dead_letters"), bad + 1);
    assert_eq!(env.u64("SELECT count() FROM dead_letters WHERE stream = 'directory' AND error_code = 'bad_value:status'"), 1);
    assert_eq!(
        env.u64(
            "SELECT count() FROM directory FINAL WHERE user_id = 'u1' AND status = 'terminated'"
        ),
        1
    );
    assert_eq!(env.u64("SELECT uniqExact(kafka_partition) FROM events"), 4);
    // Offsets were committed for everything stored, and only then.
    assert_eq!(
        committed_total(&kafka.bootstrap(), &group, &topic, 4),
        16_000
    );
}

/// A batch holding a new alert is written `alert_flush_ms` after it, not when it is full or old: with
/// `batch_max_age_ms` at 60 s, a bulk export's alert is in ClickHouse within seconds, while the plain
/// events around it wait for their batch.
#[test]
fn an_alert_is_stored_without_waiting_for_its_batch() {
    if skip_without_servers() {
        return;
    }
    let (kafka, topic, dtopic, _, env) = kafka_env(1);
    let cfg = std::fs::read_to_string(env.config()).unwrap();
    let cfg = cfg.replace(
        "batch_max_age_ms = 200",
        "batch_max_age_ms = 60000\nalert_flush_ms = 50",
    );
    std::fs::write(env.config(), cfg).unwrap();
    let mut serve = env.spawn_serve("serve.log");
    kafka.produce(
        &dtopic,
        "u7",
        br#"{"user_id":"u7","status":"active","effective_ts":"2025-01-01T00:00:00Z"}"#,
    );
    // Plain views first (a batch starts and waits), then one export of 6,000 contacts.
    for i in 0..5 {
        let e = event(&format!("v{i}"), "u7", "2026-01-05T10:00:00Z", "view", 1);
        kafka.produce(&topic, "u7", e.as_bytes());
    }
    kafka.flush();
    std::thread::sleep(Duration::from_secs(3));
    let e = event("x1", "u7", "2026-01-05T10:05:00Z", "export", 6_000);
    kafka.produce(&topic, "u7", e.as_bytes());
    kafka.flush();
    let start = Instant::now();
    let got = env.wait_for(
        "SELECT count() FROM alerts WHERE detector = 'bulk_export'",
        1,
        Duration::from_secs(20),
    );
    let log = std::fs::read_to_string(env.path("serve.log")).unwrap();
    assert_eq!(
        got, 1,
        "no alert within 20 s (batch_max_age_ms = 60 s):\n{log}"
    );
    assert!(start.elapsed() < Duration::from_secs(20));
    // The events of that batch are stored with it (just after its alerts: alerts go in first), long
    // before the 60 s batch age.
    let q = "SELECT count() FROM events FINAL";
    assert_eq!(env.wait_for(q, 6, Duration::from_secs(5)), 6);
    serve.kill().unwrap();
    serve.wait().unwrap();
}

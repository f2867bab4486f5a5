//! Reliability under faults, with exact counts afterwards: Kafka request errors, a broker going down
//! and a leader change (librdkafka mock cluster fault injection); ten SIGKILLs in a row over one stream
//! with a bulk-export window spanning them (one alert, one lock decision); two instances handing
//! partitions over, with each lock delivered once to a real webhook receiver.

use crate::common;

use std::time::{Duration, Instant};

use common::*;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

fn stop(serve: &mut std::process::Child) {
    sigterm(serve);
    let deadline = Instant::now() + Duration::from_secs(15);
    while serve.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "serve did not stop within 15 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn kafka_request_errors_broker_bounce_and_leader_change_lose_nothing() {
    if skip_without_servers() {
        return;
    }
    let kafka = MockKafka::new(3);
    let (topic, group) = (unique_name("events"), unique_name("g"));
    kafka.create_topic(&topic, 4);
    let env = TestEnv::new(&ch_url(), &kafka.config_toml(&group, &topic, ""));
    // Everything is in the broker first; the faults hit custos while it consumes.
    let (v1, b1) = produce_events(&kafka, &topic, 0..15_000);
    let (v2, b2) = produce_events(&kafka, &topic, 15_000..30_000);
    let mut serve = env.spawn_serve("serve.log");
    assert!(env.wait_for("SELECT count() > 0 FROM events", 1, Duration::from_secs(60)) == 1);

    let mock = kafka.cluster();
    use RDKafkaRespErr::*;
    mock.request_errors(
        RDKafkaApiKey::Fetch,
        &[
            RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
            RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
            RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
        ],
    );
    mock.request_errors(
        RDKafkaApiKey::OffsetCommit,
        &[
            RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
            RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
            RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
        ],
    );
    for p in 0..4 {
        mock.partition_leader(&topic, p, Some(2)).unwrap();
    }
    mock.broker_down(1).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    mock.broker_up(1).unwrap();
    for p in 0..4 {
        mock.partition_leader(&topic, p, Some(3)).unwrap();
    }

    let (valid, bad) = (v1 + v2, b1 + b2);
    let got = env.wait_for(
        "SELECT uniqExact(event_id) FROM events",
        valid,
        Duration::from_secs(120),
    );
    assert_eq!(
        got,
        valid,
        "log: {}",
        std::fs::read_to_string(env.path("serve.log")).unwrap()
    );
    assert_eq!(
        env.wait_for(
            "SELECT uniqExact(dl_id) FROM dead_letters",
            bad,
            Duration::from_secs(30)
        ),
        bad
    );
    // The injected commit errors (and, on a loaded machine, a session lost to late heartbeats) delay
    // the commits: wait for them to catch up with what is stored before stopping.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while committed_total(&kafka.bootstrap(), &group, &topic, 4) < 30_000
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(500));
    }
    stop(&mut serve);
    env.sql("OPTIMIZE TABLE events FINAL");
    env.sql("OPTIMIZE TABLE dead_letters FINAL");
    assert_eq!(env.u64("SELECT count() FROM events"), valid);
    assert_eq!(env.u64("SELECT count() FROM dead_letters"), bad);
    let committed = committed_total(&kafka.bootstrap(), &group, &topic, 4);
    assert_eq!(
        committed,
        30_000,
        "log: {}",
        std::fs::read_to_string(env.path("serve.log")).unwrap()
    );
}

#[test]
fn ten_sigkills_in_a_row_lose_nothing_and_a_spanning_window_alerts_once() {
    if skip_without_servers() {
        return;
    }
    let kafka = MockKafka::new(1);
    let (topic, group) = (unique_name("events"), unique_name("g"));
    kafka.create_topic(&topic, 4);
    let env = TestEnv::new(&ch_url(), &kafka.config_toml(&group, &topic, ""));
    // 40,000 views, and one user's 6 × 200-row exports spread across the whole stream (and the kills).
    let total = 40_000u32;
    for i in 0..total {
        let (user, line) = if i % 6_000 == 3_000 {
            let k = i / 6_000;
            (
                "bulk".to_owned(),
                event(
                    &format!("x{k}"),
                    "bulk",
                    &format!("2026-01-06T10:{:02}:00Z", k * 5),
                    "export",
                    200,
                ),
            )
        } else {
            let u = format!("u{}", i % 50);
            let l = event(&format!("v{i}"), &u, "2026-01-06T10:00:00.500Z", "view", 1);
            (u, l)
        };
        kafka.produce(&topic, &user, line.as_bytes());
    }
    kafka.flush();
    let mut serve = env.spawn_serve("serve-0.log");
    let mut rng = 7u64;
    for kill in 1..=10 {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        std::thread::sleep(Duration::from_millis(1_500 + (rng >> 33) % 1_500));
        serve.kill().unwrap();
        serve.wait().unwrap();
        serve = env.spawn_serve(&format!("serve-{kill}.log"));
    }
    let got = env.wait_for(
        "SELECT uniqExact(event_id) FROM events",
        total as u64,
        Duration::from_secs(120),
    );
    assert_eq!(
        got,
        total as u64,
        "log: {}",
        std::fs::read_to_string(env.path("serve-10.log")).unwrap()
    );
    let alerts = env.wait_for(
        "SELECT count() FROM alerts FINAL WHERE detector = 'bulk_export'",
        1,
        Duration::from_secs(30),
    );
    // The last run re-reads the uncommitted tails (already stored: deduplicated) and commits them.
    let start = Instant::now();
    while committed_total(&kafka.bootstrap(), &group, &topic, 4) < total as i64
        && start.elapsed() < Duration::from_secs(60)
    {
        std::thread::sleep(Duration::from_millis(500));
    }
    stop(&mut serve);
    env.sql("OPTIMIZE TABLE events FINAL");
    env.sql("OPTIMIZE TABLE alerts FINAL");
    assert_eq!(env.u64("SELECT count() FROM events"), total as u64);
    assert_eq!(alerts, 1);
    assert_eq!(
        env.u64("SELECT count() FROM alerts"),
        1,
        "one alert row after merges"
    );
    assert_eq!(
        env.sql("SELECT arrayStringConcat(evidence_event_ids, ',') FROM alerts"),
        "x0,x1,x2,x3,x4,x5"
    );
    // One lock decision for it (dry run by default), however many times the stream was re-read.
    assert_eq!(
        env.sql("SELECT status, count() FROM actions GROUP BY status"),
        "skipped_dry_run\t1"
    );
    assert_eq!(
        committed_total(&kafka.bootstrap(), &group, &topic, 4),
        total as i64
    );
}

/// A webhook receiver on port 0 (its own thread and runtime) counting deliveries per
/// `Idempotency-Key`; returns its URL and the counts.
fn lock_receiver() -> (
    String,
    std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, u32>>>,
) {
    let got = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashMap::new()));
    let g = got.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let app = axum::Router::new().route(
                "/lock",
                axum::routing::post(move |headers: axum::http::HeaderMap| {
                    let g = g.clone();
                    async move {
                        let key = headers
                            .get("idempotency-key")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned();
                        *g.lock().unwrap().entry(key).or_insert(0) += 1;
                        axum::http::StatusCode::OK
                    }
                }),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    (format!("http://{}/lock", rx.recv().unwrap()), got)
}

#[test]
fn two_instances_hand_over_partitions_and_windows_without_losing_or_doubling() {
    if skip_without_servers() {
        return;
    }
    let kafka = MockKafka::new(1);
    let (topic, group) = (unique_name("events"), unique_name("g"));
    kafka.create_topic(&topic, 4);
    let (webhook, delivered) = lock_receiver();
    let env = TestEnv::new(
        &ch_url(),
        &format!(
            "{}\n[response]\nmode = \"enforce\"\nactions_topic = \"\"\nwebhook_url = \"{webhook}\"\nwebhook_secret = \"a-secret-for-the-handover\"\n",
            kafka.config_toml(&group, &topic, "")
        ),
    );
    let mut a = env.spawn_serve("a.log");
    let mut b = env.spawn_serve("b.log");
    std::thread::sleep(Duration::from_secs(4)); // both in the group, partitions split between them
    let users: Vec<String> = (1..=8).map(|i| format!("x{i}")).collect();
    for u in &users {
        kafka.produce(
            &topic,
            u,
            event(&format!("{u}-1"), u, "2026-01-06T10:00:00Z", "export", 600).as_bytes(),
        );
    }
    kafka.flush();
    assert_eq!(
        env.wait_for("SELECT count() FROM events", 8, Duration::from_secs(60)),
        8
    );
    // A leaves: B takes its partitions and must know their first 600 rows (stored by A).
    stop(&mut a);
    for u in &users {
        kafka.produce(
            &topic,
            u,
            event(&format!("{u}-2"), u, "2026-01-06T11:00:00Z", "export", 600).as_bytes(),
        );
    }
    kafka.flush();
    let alerts = env.wait_for(
        "SELECT uniqExact(alert_id) FROM alerts WHERE detector = 'bulk_export'",
        8,
        Duration::from_secs(60),
    );
    assert_eq!(
        alerts,
        8,
        "every window spanning the handover fires. A: {}\nB: {}",
        std::fs::read_to_string(env.path("a.log")).unwrap(),
        std::fs::read_to_string(env.path("b.log")).unwrap()
    );
    // A comes back (another rebalance): nothing is raised twice.
    let mut a = env.spawn_serve("a2.log");
    std::thread::sleep(Duration::from_secs(5));
    stop(&mut a);
    stop(&mut b);
    env.sql("OPTIMIZE TABLE events FINAL");
    env.sql("OPTIMIZE TABLE alerts FINAL");
    assert_eq!(env.u64("SELECT count() FROM events"), 16);
    assert_eq!(
        env.u64("SELECT count() FROM alerts WHERE detector = 'bulk_export'"),
        8
    );
    assert_eq!(env.u64("SELECT count() FROM alerts WHERE detector = 'bulk_export' AND length(evidence_event_ids) = 2"), 8);
    assert_eq!(
        env.u64("SELECT uniqExact(alert_id) FROM actions"),
        8,
        "one lock decision per alert"
    );
    // Across both instances and three rebalances, each lock reached the receiver exactly once.
    let delivered = delivered.lock().unwrap().clone();
    assert_eq!(
        delivered.len(),
        8,
        "one delivery key per alert: {delivered:?}"
    );
    assert!(
        delivered.values().all(|n| *n == 1),
        "each lock delivered once: {delivered:?}"
    );
    assert_eq!(
        env.u64("SELECT count() FROM actions WHERE status = 'acknowledged'"),
        8
    );
}

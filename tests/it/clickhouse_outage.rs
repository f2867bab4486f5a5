//! ClickHouse unavailable: down when `custos serve` starts, then stopped again mid-stream. The service
//! waits (for a full minute mid-stream), reports not-ready, commits nothing it has not stored, keeps memory
//! bounded, and stores everything exactly once.

use crate::common;

use std::time::{Duration, Instant};

use common::*;

const RSS_LIMIT_KIB: u64 = 256 * 1024;
/// Scenario 1 of the reliability issue: ClickHouse stopped for 60 s mid-stream.
const OUTAGE_SECS: u64 = 60;

#[test]
fn serve_pauses_while_clickhouse_is_down_and_loses_nothing() {
    if skip_without_servers() {
        return;
    }
    let kafka = MockKafka::new(1);
    let (topic, group) = (unique_name("events"), unique_name("g"));
    kafka.create_topic(&topic, 4);
    let tmp = tempfile::tempdir().unwrap();
    let ch = ClickHouseProcess::new(tmp.path());
    let api_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let env = TestEnv::new(
        &ch.url(),
        &format!(
            "{}\n[api]\nlisten = \"127.0.0.1:{api_port}\"\n",
            kafka.config_toml(&group, &topic, "")
        ),
    );
    let readyz = || {
        reqwest::blocking::get(format!("http://127.0.0.1:{api_port}/readyz"))
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    };

    let (v1, b1) = produce_events(&kafka, &topic, 0..20_000);
    let mut serve = env.spawn_serve("serve.log");
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        serve.try_wait().unwrap().is_none(),
        "serve exited while ClickHouse was down"
    );
    assert_eq!(
        committed_total(&kafka.bootstrap(), &group, &topic, 4),
        0,
        "offsets committed before anything was stored"
    );
    assert!(rss_kib(serve.id()) < RSS_LIMIT_KIB);

    ch.start();
    assert_eq!(
        env.wait_for(
            "SELECT uniqExact(event_id) FROM events",
            v1,
            Duration::from_secs(60)
        ),
        v1
    );
    assert_eq!(readyz(), 200);

    // Mid-stream outage of a full minute: stop ClickHouse, keep producing, start it again on the same data.
    ch.stop();
    let outage = Instant::now();
    let (mut v2, mut b2, mut peak_rss, mut next) = (0, 0, 0, 20_000u32);
    while outage.elapsed() < Duration::from_secs(OUTAGE_SECS) {
        if next < 60_000 {
            let (v, b) = produce_events(&kafka, &topic, next..next + 5_000);
            (v2, b2, next) = (v2 + v, b2 + b, next + 5_000);
        }
        std::thread::sleep(Duration::from_secs(2));
        assert!(
            serve.try_wait().unwrap().is_none(),
            "serve exited during the outage"
        );
        peak_rss = peak_rss.max(rss_kib(serve.id()));
        assert_eq!(
            readyz(),
            503,
            "/readyz reports not ready while ClickHouse is down ({:?} in)",
            outage.elapsed()
        );
        let committed = committed_total(&kafka.bootstrap(), &group, &topic, 4);
        assert!(
            committed <= 20_000,
            "committed {committed} while only 20000 were stored"
        );
    }
    assert_eq!(next, 60_000, "40,000 more produced during the outage");
    assert!(
        peak_rss < RSS_LIMIT_KIB,
        "RSS peaked at {peak_rss} KiB during the outage"
    );
    ch.start();

    let (valid, bad) = (v1 + v2, b1 + b2);
    let got = env.wait_for(
        "SELECT uniqExact(event_id) FROM events",
        valid,
        Duration::from_secs(90),
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

    sigterm(&serve);
    let deadline = Instant::now() + Duration::from_secs(15);
    while serve.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "serve did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    env.sql("OPTIMIZE TABLE events FINAL");
    env.sql("OPTIMIZE TABLE dead_letters FINAL");
    assert_eq!(env.u64("SELECT count() FROM events"), valid);
    assert_eq!(env.u64("SELECT count() FROM dead_letters"), bad);
    assert_eq!(
        committed_total(&kafka.bootstrap(), &group, &topic, 4),
        60_000
    );
}

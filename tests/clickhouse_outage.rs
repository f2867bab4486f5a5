//! ClickHouse unavailable: down when `custos serve` starts, then stopped again mid-stream. The service
//! waits, commits nothing it has not stored, keeps memory bounded, and stores everything exactly once.

mod common;

use std::time::{Duration, Instant};

use common::*;

const RSS_LIMIT_KIB: u64 = 256 * 1024;

#[test]
fn serve_pauses_while_clickhouse_is_down_and_loses_nothing() {
    let kafka = MockKafka::new(1);
    let (topic, group) = (unique_name("events"), unique_name("g"));
    kafka.create_topic(&topic, 4);
    let tmp = tempfile::tempdir().unwrap();
    let ch = ClickHouseProcess::new(tmp.path());
    let api_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let env = TestEnv::new(&ch.url(), &format!("{}\n[api]\nlisten = \"127.0.0.1:{api_port}\"\n", kafka.config_toml(&group, &topic, "")));
    let readyz = || reqwest::blocking::get(format!("http://127.0.0.1:{api_port}/readyz")).map(|r| r.status().as_u16()).unwrap_or(0);

    let (v1, b1) = produce_events(&kafka, &topic, 0..20_000);
    let mut serve = env.spawn_serve("serve.log");
    std::thread::sleep(Duration::from_secs(3));
    assert!(serve.try_wait().unwrap().is_none(), "serve exited while ClickHouse was down");
    assert_eq!(committed_total(&kafka.bootstrap(), &group, &topic, 4), 0, "offsets committed before anything was stored");
    assert!(rss_kib(serve.id()) < RSS_LIMIT_KIB);

    ch.start();
    assert_eq!(env.wait_for("SELECT uniqExact(event_id) FROM events", v1, Duration::from_secs(60)), v1);
    assert_eq!(readyz(), 200);

    // Mid-stream outage: stop ClickHouse, keep producing, start it again on the same data.
    ch.stop();
    let (v2, b2) = produce_events(&kafka, &topic, 20_000..60_000);
    std::thread::sleep(Duration::from_secs(4));
    assert!(serve.try_wait().unwrap().is_none(), "serve exited during the outage");
    let rss = rss_kib(serve.id());
    assert!(rss < RSS_LIMIT_KIB, "RSS {rss} KiB during outage");
    assert_eq!(readyz(), 503, "/readyz reports not ready while ClickHouse is down");
    let committed_during = committed_total(&kafka.bootstrap(), &group, &topic, 4);
    assert!(committed_during <= 20_000, "committed {committed_during} while only 20000 were stored");
    ch.start();

    let (valid, bad) = (v1 + v2, b1 + b2);
    let got = env.wait_for("SELECT uniqExact(event_id) FROM events", valid, Duration::from_secs(90));
    assert_eq!(got, valid, "log: {}", std::fs::read_to_string(env.path("serve.log")).unwrap());
    assert_eq!(env.wait_for("SELECT uniqExact(dl_id) FROM dead_letters", bad, Duration::from_secs(30)), bad);

    sigterm(&serve);
    let deadline = Instant::now() + Duration::from_secs(15);
    while serve.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "serve did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
    env.sql("OPTIMIZE TABLE events FINAL");
    env.sql("OPTIMIZE TABLE dead_letters FINAL");
    assert_eq!(env.u64("SELECT count() FROM events"), valid);
    assert_eq!(env.u64("SELECT count() FROM dead_letters"), bad);
    assert_eq!(committed_total(&kafka.bootstrap(), &group, &topic, 4), 60_000);
}

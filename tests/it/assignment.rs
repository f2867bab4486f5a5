//! Never silently idle: of two `serve` instances in one consumer group on a one-partition topic, the
//! one the group leaves without a partition says so — `custos_kafka_assigned_partitions` 0, a WARN,
//! and `/readyz` 503 once that lasted 3 × `session_timeout_ms` — while the other stays ready.
//! Against librdkafka's mock cluster and the real ClickHouse.

use crate::common;

use std::time::{Duration, Instant};

use common::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn metric(port: u16, name: &str) -> Option<u64> {
    let text = reqwest::blocking::get(format!("http://127.0.0.1:{port}/metrics"))
        .ok()?
        .text()
        .ok()?;
    text.lines()
        .find(|l| l.starts_with(name) && !l.starts_with('#'))
        .and_then(|l| l.split_whitespace().last()?.parse().ok())
}

fn ready(port: u16) -> Option<(u16, serde_json::Value)> {
    let r = reqwest::blocking::get(format!("http://127.0.0.1:{port}/readyz")).ok()?;
    let st = r.status().as_u16();
    Some((st, r.json().ok()?))
}

#[test]
fn an_instance_left_without_partitions_is_not_ready_and_says_so() {
    if skip_without_servers() {
        return;
    }
    let kafka = MockKafka::new(1);
    let topic = unique_name("assign");
    kafka.create_topic(&topic, 1);
    let env = TestEnv::new(&ch_url(), &kafka.config_toml(&unique_name("g"), &topic, ""));
    let ports = [free_port(), free_port()];
    let mut serves: Vec<_> = ports
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let log = std::fs::File::create(env.path(&format!("serve{i}.log"))).unwrap();
            env.custos(&["serve"])
                .env("CUSTOS_API_LISTEN", format!("127.0.0.1:{p}"))
                .stdout(std::process::Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap()
        })
        .collect();
    // One of them gets the partition; the other holds none. 3 × session_timeout_ms (2 s) after it
    // was left idle, the idle one is not ready; the busy one is. The split is read again each
    // round: on a loaded machine a missed heartbeat can hand the partition over, which restarts
    // the idle instance's count.
    let split = || -> Option<(u16, u16)> {
        let held: Vec<Option<u64>> = ports
            .iter()
            .map(|p| metric(*p, "custos_kafka_assigned_partitions"))
            .collect();
        match held.as_slice() {
            [Some(1), Some(0)] => Some((ports[0], ports[1])),
            [Some(0), Some(1)] => Some((ports[1], ports[0])),
            _ => None,
        }
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = None;
    let outcome = loop {
        if let Some((busy, idle)) = split() {
            let (i, b) = (ready(idle), ready(busy));
            let done = i.as_ref().is_some_and(|(st, _)| *st == 503)
                && b.as_ref().is_some_and(|(st, _)| *st == 200)
                && split() == Some((busy, idle));
            last = Some((i, b));
            if done {
                break last.clone();
            }
        }
        if Instant::now() > deadline {
            break last.clone();
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    for s in &mut serves {
        let _ = s.kill();
        let _ = s.wait();
    }
    let (idle_ready, busy_ready) = outcome.expect("a split of the partition between the two");
    let (st, body) = idle_ready.expect("the idle instance answers");
    assert_eq!(st, 503, "{body}");
    assert_eq!(body["kafka_partitions_assigned"], false);
    assert_eq!(busy_ready.expect("the busy one answers").0, 200);
    let logs: String = (0..2)
        .map(|i| std::fs::read_to_string(env.path(&format!("serve{i}.log"))).unwrap())
        .collect();
    assert!(
        logs.contains("holds no Kafka partition"),
        "the idle instance warns"
    );
}

//! End to end: events in a Kafka-protocol broker (librdkafka's mock cluster, many partitions) →
//! `custos serve` (the release binary) → ClickHouse. Prints throughput, CPU-seconds per million
//! events and peak RSS for 1M and 5M events, then latency under a steady 50k events/s load: event
//! produced → alert row visible in ClickHouse, and → lock command received by a webhook.
//! Needs CLICKHOUSE_BENCH_URL (deploy/bench/run.sh starts one). Asserts nothing.
//! BENCH_SERVE_LOG (e.g. `custos=debug,info`: each stored batch with its insert time) and
//! BENCH_SERVE_LOG_FILE set the spawned `serve`'s log level and file (each run overwrites it).

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;

struct Mock {
    holder: BaseProducer,
}

impl Mock {
    fn new() -> Self {
        let holder: BaseProducer = ClientConfig::new()
            .set("test.mock.num.brokers", "1")
            .create()
            .unwrap();
        unsafe {
            let raw = rdkafka::bindings::rd_kafka_handle_mock_cluster(holder.client().native_ptr());
            rdkafka::bindings::rd_kafka_mock_group_initial_rebalance_delay_ms(raw, 0);
        }
        Mock { holder }
    }
    fn bootstrap(&self) -> String {
        self.holder
            .client()
            .mock_cluster()
            .unwrap()
            .bootstrap_servers()
    }
    fn topic(&self, name: &str, partitions: i32) {
        self.holder
            .client()
            .mock_cluster()
            .unwrap()
            .create_topic(name, partitions, 1)
            .unwrap();
    }
    fn producer(&self) -> BaseProducer {
        ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .set("compression.type", "lz4")
            .set("linger.ms", "20")
            .set("batch.num.messages", "10000")
            .set("queue.buffering.max.messages", "1000000")
            .create()
            .unwrap()
    }
}

fn send(p: &BaseProducer, topic: &str, key: &str, payload: &str) {
    let mut rec = BaseRecord::to(topic).key(key).payload(payload);
    loop {
        match p.send(rec) {
            Ok(()) => return,
            Err((_, r)) => {
                rec = r;
                p.poll(Duration::from_millis(5));
            }
        }
    }
}

fn sql(url: &str, db: &str, q: &str) -> String {
    let out = Command::new("curl")
        .args(["-sS", &format!("{url}/?database={db}"), "--data-binary", q])
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn proc_stat(pid: u32) -> (f64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = fields
        .get(11)
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        + fields
            .get(12)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    (ticks / 100.0, rss)
}

fn serve(dir: &std::path::Path, cfg: &str) -> Child {
    let path = dir.join("custos.toml");
    std::fs::write(&path, cfg).unwrap();
    let log = std::env::var("BENCH_SERVE_LOG_FILE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| dir.join("serve.log"));
    Command::new(env!("CARGO_BIN_EXE_custos"))
        .args(["--config", path.to_str().unwrap(), "serve"])
        .env(
            "CUSTOS_LOG",
            std::env::var("BENCH_SERVE_LOG").unwrap_or("warn".into()),
        )
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

/// `serve`'s config; BENCH_E2E_EXTRA is appended (e.g. `[pipeline]` settings to compare).
fn config(url: &str, db: &str, bootstrap: &str, topic: &str, extra: &str) -> String {
    let more = std::env::var("BENCH_E2E_EXTRA").unwrap_or_default();
    format!(
        "[clickhouse]\nurl = \"{url}\"\ndatabase = \"{db}\"\n[kafka]\nbrokers = \"{bootstrap}\"\ngroup_id = \"{db}\"\nevents_topic = \"{topic}\"\ndirectory_topic = \"{topic}-dir\"\nalerts_topic = \"\"\nsession_timeout_ms = 6000\n[api]\nlisten = \"127.0.0.1:0\"\n{extra}\n{more}\n"
    )
}

fn throughput(url: &str, mock: &Mock, produce: usize, users: usize, partitions: i32) {
    let db = format!("bench_e2e_{produce}_{users}_{}", std::process::id());
    let topic = format!("events-{db}");
    mock.topic(&topic, partitions);
    mock.topic(&format!("{topic}-dir"), 1);
    let p = mock.producer();
    let gen = custos::gen::Generator::new(custos::gen::GenOptions {
        users,
        ..Default::default()
    });
    for r in gen.directory() {
        send(
            &p,
            &format!("{topic}-dir"),
            r["user_id"].as_str().unwrap(),
            &r.to_string(),
        );
    }
    let t = Instant::now();
    for (i, line) in gen.take(produce).enumerate() {
        send(&p, &topic, &format!("u{:05}", i % users), &line);
    }
    p.flush(Duration::from_secs(120)).unwrap();
    let produce_secs = t.elapsed().as_secs_f64();
    // The mock keeps at most 5 MiB per partition: count what it actually holds.
    let mut held = 0i64;
    for part in 0..partitions {
        let (lo, hi) = p
            .client()
            .fetch_watermarks(&topic, part, Duration::from_secs(10))
            .unwrap();
        held += hi - lo;
    }
    let events = held as usize;
    let dir = tempfile::tempdir().unwrap();
    let mut child = serve(dir.path(), &config(url, &db, &mock.bootstrap(), &topic, ""));
    let start = Instant::now();
    let mut peak = 0u64;
    let mut cpu;
    loop {
        std::thread::sleep(Duration::from_millis(250));
        let (c, rss) = proc_stat(child.id());
        cpu = c;
        peak = peak.max(rss);
        let n: usize = sql(url, &db, "SELECT count() FROM events")
            .parse()
            .unwrap_or(0);
        if n >= events || start.elapsed() > Duration::from_secs(900) {
            break;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let _ = child.kill();
    let _ = child.wait();
    let stored = sql(url, &db, "SELECT uniqExact(event_id) FROM events");
    println!(
        "| {events:>9} | {users:>7} | {partitions:>4} | {:>10.0} | {:>12.1} | {:>11.1} | {stored:>9} | (produced at {:.0}/s) |",
        events as f64 / secs,
        cpu / (events as f64 / 1e6),
        peak as f64 / 1024.0,
        produce as f64 / produce_secs
    );
    sql(url, "default", &format!("DROP DATABASE IF EXISTS {db}"));
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn latency(url: &str, mock: &Mock, rate: usize, seconds: usize) {
    let db = format!("bench_latency_{}", std::process::id());
    let topic = format!("events-{db}");
    mock.topic(&topic, 8);
    mock.topic(&format!("{topic}-dir"), 1);
    // A webhook receiver that timestamps lock commands per user.
    let arrivals: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let a2 = arrivals.clone();
    let webhook = rt.block_on(async move {
        let app = axum::Router::new().route(
            "/lock",
            axum::routing::post(move |body: axum::body::Bytes| {
                let a = a2.clone();
                async move {
                    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                    a.lock()
                        .unwrap()
                        .entry(v["user_id"].as_str().unwrap_or_default().to_owned())
                        .or_insert_with(Instant::now);
                    "ok"
                }
            }),
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        format!("http://{addr}/lock")
    });
    let extra = format!(
        "[response]\nmode = \"enforce\"\nactions_topic = \"\"\nwebhook_url = \"{webhook}\"\nwebhook_secret = \"bench-secret-0123456789\"\nmax_locks = 100000\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let mut child = serve(
        dir.path(),
        &config(url, &db, &mock.bootstrap(), &topic, &extra),
    );
    std::thread::sleep(Duration::from_secs(4));
    let p = mock.producer();
    // Alert visibility: a poller records when each trigger user's alert row first appears.
    let seen: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let polling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let poller = {
        let (seen, polling, url, db) = (seen.clone(), polling.clone(), url.to_owned(), db.clone());
        std::thread::spawn(move || {
            while polling.load(std::sync::atomic::Ordering::Relaxed) {
                for u in sql(
                    &url,
                    &db,
                    "SELECT user_id FROM alerts WHERE user_id LIKE 'trig%'",
                )
                .lines()
                {
                    seen.lock()
                        .unwrap()
                        .entry(u.to_owned())
                        .or_insert_with(Instant::now);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let mut gen = custos::gen::Generator::new(custos::gen::GenOptions {
        users: 10_000,
        incidents: false,
        ..Default::default()
    });
    let mut produced: Vec<(String, Instant)> = Vec::new();
    let tick = Duration::from_millis(10);
    let per_tick = rate / 100;
    let start = Instant::now();
    let mut next = start;
    let mut i = 0usize;
    while start.elapsed() < Duration::from_secs(seconds as u64) {
        for _ in 0..per_tick {
            let line = gen.next().unwrap();
            send(&p, &topic, "k", &line);
        }
        i += 1;
        if i.is_multiple_of(25) {
            // Every 250 ms one trigger: a single 6,000-row export (bulk_export → lock).
            let user = format!("trig{i}");
            let ev = format!(
                r#"{{"event_id":"t{i}","ts":"2026-01-05T10:00:00Z","user_id":"{user}","action":"export","record_count":6000}}"#
            );
            send(&p, &topic, &user, &ev);
            p.poll(Duration::ZERO);
            produced.push((user, Instant::now()));
        }
        next += tick;
        if let Some(d) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
        p.poll(Duration::ZERO);
    }
    p.flush(Duration::from_secs(30)).unwrap();
    let achieved = (per_tick * i) as f64 / start.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.lock().unwrap().len() < produced.len() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    polling.store(false, std::sync::atomic::Ordering::Relaxed);
    poller.join().unwrap();
    let seen = seen.lock().unwrap().clone();
    let _ = child.kill();
    let _ = child.wait();
    let arrivals = arrivals.lock().unwrap().clone();
    let mut alert_ms: Vec<f64> = produced
        .iter()
        .filter_map(|(u, t)| {
            seen.get(u)
                .map(|s| s.duration_since(*t).as_secs_f64() * 1000.0)
        })
        .collect();
    let mut lock_ms: Vec<f64> = produced
        .iter()
        .filter_map(|(u, t)| {
            arrivals
                .get(u)
                .map(|s| s.duration_since(*t).as_secs_f64() * 1000.0)
        })
        .collect();
    println!("\n## Latency at a steady {achieved:.0} events/s ({} triggers, the default [pipeline]; alert polled every 20 ms)\n", produced.len());
    println!("| path | samples | p50 ms | p95 ms | p99 ms |");
    println!("|---|---|---|---|---|");
    for (name, v) in [
        ("event produced → alert row in ClickHouse", &mut alert_ms),
        ("event produced → lock command at webhook", &mut lock_ms),
    ] {
        if v.is_empty() {
            println!("| {name} | 0 | - | - | - |");
        } else {
            let n = v.len();
            println!(
                "| {name} | {n} | {:.0} | {:.0} | {:.0} |",
                percentile(v, 0.5),
                percentile(v, 0.95),
                percentile(v, 0.99)
            );
        }
    }
    sql(url, "default", &format!("DROP DATABASE IF EXISTS {db}"));
}

fn main() {
    let url = std::env::var("CLICKHOUSE_BENCH_URL")
        .expect("set CLICKHOUSE_BENCH_URL (deploy/bench/run.sh does)");
    let sizes: Vec<usize> = std::env::var("BENCH_E2E_EVENTS")
        .unwrap_or_else(|_| "1000000,5000000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .filter(|n| *n > 0) // BENCH_E2E_EVENTS=0: the latency part alone
        .collect();
    let mock = Mock::new();
    println!("## End to end: Kafka (mock cluster) → custos serve → ClickHouse\n");
    println!("| events | users | partitions | events/s | CPU-s per 1M | peak RSS MiB | stored | |");
    println!("|---|---|---|---|---|---|---|---|");
    let partitions = |n: usize| ((n / 25_000).max(8) as i32).min(256);
    for &n in &sizes {
        throughput(&url, &mock, n, 2_000, partitions(n));
    }
    if let Some(&n) = sizes.first() {
        for users in [8_000, 32_000] {
            throughput(&url, &mock, n, users, partitions(n));
        }
    }
    let rate: usize = std::env::var("BENCH_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    latency(&url, &mock, rate, 20);
}

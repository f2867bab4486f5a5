//! Shared test support: the real ClickHouse server started by `tests/run.sh` (a database per test),
//! throw-away ClickHouse processes for outage tests, librdkafka's mock Kafka cluster, and the real
//! `custos` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, DefaultProducerContext, Producer};
use rdkafka::ClientConfig;

pub const CUSTOS: &str = env!("CARGO_BIN_EXE_custos");

/// A ClickHouse URL for tests that only need a well-formed config (nothing listens there).
pub const NO_SERVER: &str = "http://127.0.0.1:9";

/// True when the servers `tests/run.sh` starts are missing: the caller then skips (returns early),
/// saying so. Under `tests/run.sh` (which sets `CLICKHOUSE_TEST_REQUIRED=1`) a missing server is a failure,
/// never a skip — so CI runs every test.
pub fn skip_without_servers() -> bool {
    if std::env::var_os("CLICKHOUSE_TEST_URL").is_some() {
        return false;
    }
    if std::env::var_os("CLICKHOUSE_TEST_REQUIRED").is_some() {
        panic!("tests/run.sh started no ClickHouse (CLICKHOUSE_TEST_URL is not set)");
    }
    eprintln!("skipped: this test needs the servers ./tests/run.sh starts (ClickHouse, ZooKeeper, the GeoLite2 DB)");
    true
}

/// The suite's ClickHouse (started by `tests/run.sh`).
pub fn ch_url() -> String {
    std::env::var("CLICKHOUSE_TEST_URL")
        .expect("CLICKHOUSE_TEST_URL is not set: run the suite with ./tests/run.sh, which starts ClickHouse")
}

/// A fresh database name, unique across parallel tests and runs.
pub fn unique_name(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs SQL over ClickHouse's HTTP interface and returns the body (TSV), panicking on errors.
pub fn sql(url: &str, db: &str, query: &str) -> String {
    try_sql(url, db, query).unwrap_or_else(|e| panic!("query failed: {query}\n{e}"))
}

/// Runs on its own thread and runtime, so it also works from inside async tests.
pub fn try_sql(url: &str, db: &str, query: &str) -> Result<String, String> {
    let client = clickhouse::Client::default()
        .with_url(url)
        .with_database(db)
        .with_validation(false);
    let query = query.to_owned();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut cursor = client
                .query(&query)
                .fetch_bytes("TSV")
                .map_err(|e| e.to_string())?;
            let bytes = cursor.collect().await.map_err(|e| e.to_string())?;
            Ok(String::from_utf8_lossy(&bytes).trim_end().to_owned())
        })
    })
    .join()
    .unwrap()
}

pub fn sql_u64(url: &str, db: &str, query: &str) -> u64 {
    let s = sql(url, db, query);
    s.parse()
        .unwrap_or_else(|_| panic!("not a number from {query}: {s:?}"))
}

/// A temp dir with a `custos.toml` for one test.
pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub url: String,
    pub db: String,
}

impl TestEnv {
    pub fn new(url: &str, extra_toml: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = unique_name("t");
        let cfg = format!(
            "[clickhouse]\nurl = \"{url}\"\ndatabase = \"{db}\"\nretry_initial_ms = 50\nretry_max_ms = 500\n\n\
             [pipeline]\nbatch_rows = 2000\nbatch_max_age_ms = 200\n\n{api}{extra_toml}\n",
            api = if extra_toml.contains("[api]") { "" } else { "[api]\nlisten = \"127.0.0.1:0\"\n\n" }
        );
        std::fs::write(dir.path().join("custos.toml"), cfg).unwrap();
        TestEnv {
            dir,
            url: url.to_owned(),
            db,
        }
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("custos.toml")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn custos(&self, args: &[&str]) -> Command {
        let mut c = Command::new(CUSTOS);
        c.arg("--config")
            .arg(self.config())
            .args(args)
            .env("CUSTOS_LOG", "custos=info,warn");
        for (k, _) in std::env::vars() {
            if k.starts_with("CUSTOS_") && k != "CUSTOS_LOG" {
                c.env_remove(k);
            }
        }
        c
    }

    /// Starts `custos api` on a free port (logging to `api.log`); returns the child (the caller
    /// kills it) and its base URL, once it listens.
    #[allow(clippy::zombie_processes)]
    pub fn spawn_api(&self) -> (Child, String) {
        let log = self.path("api.log");
        let child = self
            .custos(&["api"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(addr) = text
                .lines()
                .find(|l| l.contains("API listening"))
                .and_then(|l| l.split("addr=").nth(1))
            {
                let addr = addr.split_whitespace().next().unwrap();
                return (child, format!("http://{addr}"));
            }
            assert!(
                Instant::now() < deadline,
                "custos api did not start:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts `custos serve`, logging to a file in the test dir.
    pub fn spawn_serve(&self, log_name: &str) -> Child {
        let log = std::fs::File::create(self.path(log_name)).unwrap();
        self.custos(&["serve"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn custos serve")
    }

    pub fn sql(&self, q: &str) -> String {
        sql(&self.url, &self.db, q)
    }

    pub fn u64(&self, q: &str) -> u64 {
        sql_u64(&self.url, &self.db, q)
    }

    /// Polls `q` until it returns `want` or `timeout` passes; returns the last value.
    pub fn wait_for(&self, q: &str, want: u64, timeout: Duration) -> u64 {
        let start = Instant::now();
        loop {
            let v = try_sql(&self.url, &self.db, q)
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            if v == want || start.elapsed() > timeout {
                return v;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = try_sql(
                &self.url,
                "default",
                &format!("DROP DATABASE IF EXISTS {}", self.db),
            );
        }
    }
}

/// A ClickHouse server of the test's own (for outage tests), via `deploy/clickhouse-local.sh`.
pub struct ClickHouseProcess {
    pub dir: PathBuf,
    pub http_port: u16,
    pub tcp_port: u16,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl ClickHouseProcess {
    /// Chooses ports and a data dir but does not start the server.
    pub fn new(root: &Path) -> Self {
        ClickHouseProcess {
            dir: root.join("clickhouse"),
            http_port: free_port(),
            tcp_port: free_port(),
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    pub fn start(&self) {
        self.start_with(&[]);
    }

    /// [`ClickHouseProcess::start`] with environment variables for the script (e.g. its HTTPS port).
    pub fn start_with(&self, vars: &[(&str, &str)]) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/clickhouse-local.sh");
        let st = Command::new("bash")
            .envs(vars.iter().copied())
            .arg(script)
            .arg("start")
            .arg(&self.dir)
            .arg(self.http_port.to_string())
            .arg(self.tcp_port.to_string())
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "clickhouse did not start");
    }

    pub fn stop(&self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/clickhouse-local.sh");
        Command::new("bash")
            .arg(script)
            .arg("stop")
            .arg(&self.dir)
            .status()
            .unwrap();
    }
}

impl Drop for ClickHouseProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// librdkafka's mock cluster, with the group initial-rebalance delay removed (see README: testing).
pub struct MockKafka {
    holder: BaseProducer,
    pub producer: BaseProducer,
}

impl MockKafka {
    pub fn new(brokers: i32) -> Self {
        let holder: BaseProducer = ClientConfig::new()
            .set("test.mock.num.brokers", brokers.to_string())
            .create()
            .unwrap();
        unsafe {
            let raw = rdkafka::bindings::rd_kafka_handle_mock_cluster(holder.client().native_ptr());
            rdkafka::bindings::rd_kafka_mock_group_initial_rebalance_delay_ms(raw, 0);
        }
        let bootstrap = holder.client().mock_cluster().unwrap().bootstrap_servers();
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("linger.ms", "5")
            .create()
            .unwrap();
        MockKafka { holder, producer }
    }

    pub fn cluster(&self) -> MockCluster<'_, DefaultProducerContext> {
        self.holder.client().mock_cluster().unwrap()
    }

    pub fn bootstrap(&self) -> String {
        self.cluster().bootstrap_servers()
    }

    pub fn create_topic(&self, name: &str, partitions: i32) {
        self.cluster().create_topic(name, partitions, 1).unwrap();
    }

    pub fn produce(&self, topic: &str, key: &str, payload: &[u8]) {
        loop {
            match self
                .producer
                .send(BaseRecord::to(topic).key(key).payload(payload))
            {
                Ok(()) => return,
                Err((_, _)) => {
                    self.producer.poll(Duration::from_millis(10));
                }
            }
        }
    }

    pub fn flush(&self) {
        self.producer.flush(Duration::from_secs(30)).unwrap();
    }

    /// The `[kafka]` section for a custos config pointing at this cluster.
    pub fn config_toml(&self, group: &str, events: &str, directory: &str) -> String {
        format!(
            "[kafka]\nbrokers = \"{}\"\ngroup_id = \"{group}\"\nevents_topic = \"{events}\"\ndirectory_topic = \"{directory}\"\nsession_timeout_ms = 2000\n",
            self.bootstrap()
        )
    }
}

/// Resident memory of a process in KiB (Linux).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Sends SIGTERM.
pub fn sigterm(child: &Child) {
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
}

/// A valid event line.
pub fn event(id: &str, user: &str, ts: &str, action: &str, count: u64) -> String {
    format!(
        r#"{{"event_id":"{id}","ts":"{ts}","user_id":"{user}","action":"{action}","record_count":{count},"ip":"81.2.69.142"}}"#
    )
}

/// Sum of the committed offsets of `group` on `topic` (partitions 0..n), read without joining the group.
pub fn committed_total(bootstrap: &str, group: &str, topic: &str, partitions: i32) -> i64 {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .create()
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let got = c.committed_offsets(tpl, Duration::from_secs(10)).unwrap();
    got.elements()
        .iter()
        .map(|e| e.offset().to_raw().unwrap_or(0).max(0))
        .sum()
}

/// Produces `range` events to `topic` keyed by user; every 20th is malformed (one of several kinds).
/// Returns (valid, malformed) counts.
pub fn produce_events(kafka: &MockKafka, topic: &str, range: std::ops::Range<u32>) -> (u64, u64) {
    let (mut valid, mut bad) = (0, 0);
    for i in range {
        let user = format!("u{}", i % 37);
        let payload = if i % 20 == 7 {
            bad += 1;
            match i % 3 {
                0 => format!("{{\"event_id\":\"k{i}\", broken"),
                1 => format!(
                    r#"{{"event_id":"k{i}","ts":"not a time","user_id":"{user}","action":"view"}}"#
                ),
                _ => format!(
                    r#"{{"event_id":"k{i}","ts":"2026-01-06T02:14:07Z","user_id":"{user}","action":"export","record_count":-{i}}}"#
                ),
            }
        } else {
            valid += 1;
            event(
                &format!("k{i}"),
                &user,
                "2026-01-06T02:14:07.250Z",
                "view",
                (i % 50) as u64,
            )
        };
        kafka.produce(topic, &user, payload.as_bytes());
    }
    kafka.flush();
    (valid, bad)
}

/// Reads every message currently in `topic` (all partitions) as (key, payload) strings.
pub fn consume_all(
    bootstrap: &str,
    topic: &str,
    expect_at_least: usize,
    timeout: Duration,
) -> Vec<(String, String)> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::Message;
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", unique_name("reader"))
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "2000")
        .set("heartbeat.interval.ms", "500")
        .create()
        .unwrap();
    c.subscribe(&[topic]).unwrap();
    let mut out = Vec::new();
    let start = Instant::now();
    while start.elapsed() < timeout {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(200)) {
            let key = m
                .key()
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .unwrap_or_default();
            out.push((
                key,
                String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
            ));
        } else if out.len() >= expect_at_least {
            break;
        }
    }
    out
}

/// `custos gen --count N` into the test dir: (events file, directory file).
pub fn gen_files(env: &TestEnv, count: u32) -> (PathBuf, PathBuf) {
    let (ev, dir) = (env.path("ev.jsonl"), env.path("dir.jsonl"));
    let c = count.to_string();
    let args = [
        "gen",
        "--count",
        &c,
        "--events",
        ev.to_str().unwrap(),
        "--directory",
        dir.to_str().unwrap(),
    ];
    assert!(env.custos(&args).status().unwrap().success(), "custos gen");
    (ev, dir)
}

/// `custos replay` of `ev` (and `dir`) with `extra` arguments; fails the test on an error. Its
/// summary line.
pub fn replay_files(env: &TestEnv, ev: &Path, dir: Option<&Path>, extra: &[&str]) -> String {
    let mut args = vec!["replay", "--input", ev.to_str().unwrap()];
    if let Some(d) = dir {
        args.extend(["--directory", d.to_str().unwrap()]);
    }
    args.extend(extra);
    let out = env.custos(&args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned()
}

//! The cluster storage profile on a real two-shard ClickHouse cluster (two `clickhouse-server` processes
//! and ZooKeeper, started by `deploy/clickhouse-cluster.sh` from `tests/run.sh`): `custos migrate` builds
//! replicated local tables and Distributed tables ON CLUSTER, a replay lands every event exactly once with
//! each user's rows on a single shard, a second replay changes nothing, the API (served from the other
//! node) answers from the whole cluster, and retention drops an expired partition on every shard.

use crate::common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use custos::api::auth::new_token;

fn cluster() -> (String, String, String) {
    let urls = std::env::var("CLICKHOUSE_CLUSTER_URLS")
        .expect("CLICKHOUSE_CLUSTER_URLS is not set: run the suite with ./tests/run.sh, which starts the two-node cluster");
    let (a, b) = urls
        .split_once(',')
        .expect("CLICKHOUSE_CLUSTER_URLS: two urls, comma-separated");
    let name = std::env::var("CLICKHOUSE_CLUSTER_NAME").unwrap_or_else(|_| "custos_test".into());
    (a.to_owned(), b.to_owned(), name)
}

/// A TestEnv on node 1 whose config selects the cluster profile.
fn env_on_cluster(node1: &str, name: &str, extra: &str) -> TestEnv {
    let env = TestEnv::new(node1, extra);
    let cfg = std::fs::read_to_string(env.config()).unwrap();
    std::fs::write(
        env.config(),
        cfg.replacen(
            "[clickhouse]\n",
            &format!("[clickhouse]\ncluster = \"{name}\"\n"),
            1,
        ),
    )
    .unwrap();
    env
}

/// `OPTIMIZE … FINAL` of a table's local parts on each node. Node by node rather than `ON CLUSTER`:
/// ClickHouse 18.16 fails a replicated OPTIMIZE on a node holding no part of the table
/// ("Unknown log entry type: 0"), which is normal here (all alerts can hash to one shard).
fn optimize(env: &TestEnv, nodes: &[&str], table: &str) {
    for url in nodes {
        let parts = sql_u64(url, "default", &format!("SELECT count() FROM system.parts WHERE database = '{}' AND table = '{table}_local' AND active", env.db));
        if parts > 0 {
            sql(url, &env.db, &format!("OPTIMIZE TABLE {table}_local FINAL"));
        }
    }
}

fn local_users(url: &str, db: &str) -> BTreeSet<String> {
    sql(url, db, "SELECT DISTINCT user_id FROM events_local")
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn migrate_replay_and_api_on_a_two_shard_cluster() {
    if skip_without_servers() {
        return;
    }
    let (node1, node2, name) = cluster();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (token, lines) = new_token("cluster-auditor", "auditor").unwrap();
    let env = env_on_cluster(
        &node1,
        &name,
        &format!(
            "[api]\nlisten = \"127.0.0.1:{port}\"\n\n{lines}\n\n[retention]\nevents_days = 3650\n"
        ),
    );
    let drop_everywhere = format!("DROP DATABASE IF EXISTS `{}` ON CLUSTER `{name}`", env.db);

    // migrate: replicated local tables and Distributed tables on both nodes; a second run is a no-op.
    let out = env.custos(&["migrate"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for url in [&node1, &node2] {
        let engines = sql(
            url,
            "default",
            &format!(
                "SELECT name, engine FROM system.tables WHERE database = '{}' ORDER BY name",
                env.db
            ),
        );
        for t in [
            "actions",
            "alert_status_history",
            "alerts",
            "api_audit",
            "dead_letters",
            "directory",
            "events",
        ] {
            assert!(
                engines.contains(&format!("{t}\tDistributed")),
                "{url}: {engines}"
            );
            assert!(
                engines.contains(&format!("{t}_local\tReplicated")),
                "{url}: {engines}"
            );
        }
        assert!(
            engines.contains("schema_migrations\tReplicatedReplacingMergeTree"),
            "{url}: {engines}"
        );
    }
    assert!(env.custos(&["migrate"]).status().unwrap().success());

    // replay generated traffic (with the planted incidents and some garbage lines) through node 1.
    let (ev, dir) = (env.path("ev.jsonl"), env.path("dir.jsonl"));
    let mut gen = env.custos(&[
        "gen",
        "--count",
        "20000",
        "--events",
        ev.to_str().unwrap(),
        "--directory",
        dir.to_str().unwrap(),
    ]);
    assert!(gen.status().unwrap().success());
    let mut text = std::fs::read_to_string(&ev).unwrap();
    text.push_str("{not json\n{\"event_id\":\"x\"}\n");
    std::fs::write(&ev, text).unwrap();
    let replay = [
        "replay",
        "--input",
        ev.to_str().unwrap(),
        "--directory",
        dir.to_str().unwrap(),
    ];
    let out = env.custos(&replay).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(summary["rejected"], 2, "{summary}");
    let stored = summary["stored"].as_u64().unwrap();
    assert!(stored >= 20_000, "{summary}");

    // Exact counts through the Distributed tables, rows on both shards, each user on exactly one.
    let (users1, users2) = (local_users(&node1, &env.db), local_users(&node2, &env.db));
    assert!(
        !users1.is_empty() && !users2.is_empty(),
        "both shards hold events"
    );
    assert!(
        users1.is_disjoint(&users2),
        "a user's events are on one shard only"
    );
    assert_eq!(env.u64("SELECT uniqExact(event_id) FROM events"), stored);
    assert_eq!(env.u64("SELECT count() FROM dead_letters"), 2);
    let alerts = env.sql("SELECT detector, user_id FROM alerts FINAL ORDER BY detector, user_id");
    let want = "bulk_export\tu00001\nbulk_export\tu00002\noff_hours_login\tu00001\noff_hours_login\tu00003\norphaned_account\tu00001";
    assert_eq!(
        alerts, want,
        "the same alerts as on one server (tests/it/detectors.rs)"
    );

    // A second replay (as after a crash) leaves every count unchanged once merges ran.
    let again = env.custos(&replay).output().unwrap();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    for t in ["events", "alerts", "dead_letters", "directory"] {
        optimize(&env, &[&node1, &node2], t);
    }
    assert_eq!(env.u64("SELECT count() FROM events"), stored);
    assert_eq!(env.u64("SELECT count() FROM alerts"), 5);
    assert_eq!(env.u64("SELECT count() FROM dead_letters"), 2);

    // The API, served from node 2, reads the whole cluster.
    let cfg = std::fs::read_to_string(env.config()).unwrap();
    std::fs::write(
        env.config(),
        cfg.replacen(
            &format!("url = \"{node1}\""),
            &format!("url = \"{node2}\""),
            1,
        ),
    )
    .unwrap();
    let log = std::fs::File::create(env.path("api.log")).unwrap();
    let mut api = env.custos(&["api"]).stderr(log).spawn().unwrap();
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let start = std::time::Instant::now();
    while http
        .get(format!("{base}/readyz"))
        .send()
        .map(|r| r.status() != 200)
        .unwrap_or(true)
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "api did not become ready"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let get = |path: &str| -> serde_json::Value {
        let r = http
            .get(format!("{base}{path}"))
            .bearer_auth(&token)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        r.json().unwrap()
    };
    let page = get("/api/v1/alerts?limit=100");
    assert_eq!(page["items"].as_array().unwrap().len(), 5, "{page}");
    let timeline = get("/api/v1/users/u00002/timeline?limit=1000");
    assert!(
        timeline.to_string().contains("bulk_export"),
        "the bulk exporter's timeline shows its alert"
    );
    let csv = http
        .get(format!("{base}/api/v1/events?format=csv"))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(
        csv.lines().count() as u64,
        stored + 1,
        "header + every event, from both shards"
    );
    std::thread::sleep(Duration::from_millis(600));
    assert!(env.u64("SELECT count() FROM api_audit WHERE token_name = 'cluster-auditor'") >= 3);
    sigterm(&api);
    api.wait().unwrap();

    // Retention drops an expired month on every shard (ALTER … ON CLUSTER on the local tables).
    let old: Vec<String> = (0..40)
        .map(|i| {
            event(
                &format!("old-{i}"),
                &format!("u{:05}", 100 + i),
                "2001-01-15T10:00:00Z",
                "view",
                1,
            )
        })
        .collect();
    std::fs::write(env.path("old.jsonl"), old.join("\n")).unwrap();
    assert!(env
        .custos(&["replay", "--input", env.path("old.jsonl").to_str().unwrap()])
        .status()
        .unwrap()
        .success());
    let old_on = |url: &str| {
        sql_u64(
            url,
            &env.db,
            "SELECT count() FROM events_local WHERE toYYYYMM(ts) = 200101",
        )
    };
    assert!(
        old_on(&node1) > 0 && old_on(&node2) > 0,
        "the old month spans both shards"
    );
    let out = env.custos(&["retention"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("events:200101"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!((old_on(&node1), old_on(&node2)), (0, 0));
    assert_eq!(env.u64("SELECT count() FROM events"), stored);

    sql(&node1, "default", &drop_everywhere);
}

/// `custos serve` on the cluster: a Kafka stream (with malformed messages) stored exactly once through the
/// Distributed tables with synchronous inserts, offsets committed only for what the shards stored, and a
/// SIGKILL + restart (rehydration and lock recovery read the cluster) adds nothing.
#[test]
fn serve_on_the_cluster_stores_a_kafka_stream_once_across_a_sigkill() {
    if skip_without_servers() {
        return;
    }
    let (node1, node2, name) = cluster();
    let kafka = MockKafka::new(1);
    let (topic, group) = (unique_name("events"), unique_name("g"));
    kafka.create_topic(&topic, 4);
    let env = env_on_cluster(&node1, &name, &kafka.config_toml(&group, &topic, ""));
    let (v1, b1) = produce_events(&kafka, &topic, 0..10_000);
    let mut serve = env.spawn_serve("serve-1.log");
    let log = || std::fs::read_to_string(env.path("serve-1.log")).unwrap_or_default();
    assert_eq!(
        env.wait_for(
            "SELECT uniqExact(event_id) FROM events",
            v1,
            Duration::from_secs(60)
        ),
        v1,
        "{}",
        log()
    );
    serve.kill().unwrap();
    serve.wait().unwrap();

    let (v2, b2) = produce_events(&kafka, &topic, 10_000..20_000);
    let mut serve = env.spawn_serve("serve-2.log");
    let (valid, bad) = (v1 + v2, b1 + b2);
    assert_eq!(
        env.wait_for(
            "SELECT uniqExact(event_id) FROM events",
            valid,
            Duration::from_secs(60)
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
    assert!(
        sql_u64(&node1, &env.db, "SELECT count() FROM events_local") > 0,
        "node 1 holds a shard"
    );
    sigterm(&serve);
    serve.wait().unwrap();
    assert_eq!(
        committed_total(&kafka.bootstrap(), &group, &topic, 4),
        20_000
    );
    for t in ["events", "dead_letters"] {
        optimize(&env, &[&node1, &node2], t);
    }
    assert_eq!(env.u64("SELECT count() FROM events"), valid);
    assert_eq!(env.u64("SELECT count() FROM dead_letters"), bad);
    assert!(
        sql_u64(&node2, &env.db, "SELECT count() FROM events_local") > 0,
        "node 2 holds a shard"
    );
    sql(
        &node1,
        "default",
        &format!("DROP DATABASE IF EXISTS `{}` ON CLUSTER `{name}`", env.db),
    );
}

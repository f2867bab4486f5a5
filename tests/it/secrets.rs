//! No secret byte is ever printed: `check-config` (with and without `--probe`), a config file that
//! does not parse, a migrate against a ClickHouse that is down, and a lock webhook nobody answers — with
//! a password in the ClickHouse URL and in `[clickhouse]`, librdkafka SASL and key passwords, a
//! webhook URL token and the webhook signing secret. Each run's stdout and stderr (the logs) and the
//! stored `actions.last_error` are searched for every secret.

use crate::common;

use std::io::Read;
use std::time::Duration;

use common::*;

const SECRETS: &[&str] = &[
    "urlpass-1a2b",
    "chpass-3c4d",
    "saslpass-5e6f",
    "keypass-7g8h",
    "hooktoken-9i0j",
    "hooksecret-of-sixteen-plus",
];

/// A config holding every kind of secret; ClickHouse at `ch`, the webhook at `hook`. `clickhouse`:
/// the `[clickhouse]` lines (by default a user-info password in the URL and a password).
fn config(ch: &str, hook: &str, clickhouse: Option<&str>) -> String {
    let ch = ch.replacen("://", "://custos:urlpass-1a2b@", 1);
    let clickhouse = clickhouse.map_or_else(
        || format!("url = \"{ch}\"\npassword = \"chpass-3c4d\""),
        str::to_owned,
    );
    format!(
        r#"[clickhouse]
{clickhouse}

[kafka]
brokers = "127.0.0.1:1"
alerts_topic = ""

[kafka.librdkafka]
"sasl.password" = "saslpass-5e6f"
"ssl.key.password" = "keypass-7g8h"

[response]
mode = "enforce"
actions_topic = ""
webhook_url = "{hook}?token=hooktoken-9i0j"
webhook_secret = "hooksecret-of-sixteen-plus"
retry_initial_ms = 20
retry_max_ms = 50
max_attempts = 2
"#
    )
}

fn assert_clean(what: &str, text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "{what} shows the secret `{s}`:\n{text}");
    }
}

fn run(args: &[&str], cfg: &std::path::Path) -> (Option<i32>, String) {
    let out = std::process::Command::new(CUSTOS)
        .args(args)
        .arg("--config")
        .arg(cfg)
        .env("CUSTOS_LOG", "debug")
        .output()
        .unwrap();
    (
        out.status.code(),
        format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn check_config_and_its_probes_mask_every_secret() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        config("http://127.0.0.1:1", "http://127.0.0.1:1/hook", None),
    )
    .unwrap();
    let (code, out) = run(&["check-config"], &cfg);
    assert_eq!(code, Some(0), "{out}");
    assert_clean("check-config", &out);
    for shown in [
        "\"sasl.password\" = \"***\"",
        "\"ssl.key.password\" = \"***\"",
        "custos:***@127.0.0.1:1",
        "token=***",
        "# not checked",
    ] {
        assert!(out.contains(shown), "`{shown}` not in:\n{out}");
    }
    let (code, out) = run(&["check-config", "--probe"], &cfg);
    assert_ne!(code, Some(0), "ClickHouse and Kafka are not there:\n{out}");
    assert_clean("check-config --probe", &out);
    for line in [
        "FAILED clickhouse",
        "FAILED kafka",
        "ok     detectors",
        "ok     geoip",
    ] {
        assert!(out.contains(line), "`{line}` not in:\n{out}");
    }
    // A file that does not parse: the message names the line, never quotes it.
    std::fs::write(&cfg, "[clickhouse]\npassword = \"chpass-3c4d\n").unwrap();
    let (code, out) = run(&["check-config"], &cfg);
    assert_eq!(code, Some(2));
    assert!(out.contains("line 2"), "{out}");
    assert_clean("a config that does not parse", &out);
}

#[test]
fn a_migrate_against_a_clickhouse_that_is_down_logs_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        config("http://127.0.0.1:1", "http://127.0.0.1:1/hook", None),
    )
    .unwrap();
    let mut child = std::process::Command::new(CUSTOS)
        .args(["migrate", "--config"])
        .arg(&cfg)
        .env("CUSTOS_LOG", "debug")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // It retries while ClickHouse is down (or gives up): either way, read what it printed.
    std::thread::sleep(Duration::from_secs(3));
    let _ = child.kill();
    let _ = child.wait();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(
        out.contains("127.0.0.1:1"),
        "it said where it failed:\n{out}"
    );
    assert_clean("a failing migrate", &out);
}

#[test]
fn a_failing_lock_webhook_stores_and_logs_no_secret() {
    if skip_without_servers() {
        return;
    }
    // Nobody listens there: the client's error names the URL, token and all.
    let hook = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/lock", l.local_addr().unwrap())
    };
    let env = TestEnv::new(&ch_url(), "");
    // The test's own ClickHouse (no password there); every other secret as above.
    let own = std::fs::read_to_string(env.config()).unwrap();
    let db = own.lines().find(|l| l.starts_with("database")).unwrap();
    let ch = format!("url = \"{}\"\n{db}\nretry_initial_ms = 50", ch_url());
    std::fs::write(env.config(), config(&ch_url(), &hook, Some(&ch))).unwrap();
    let dir = "{\"user_id\":\"gone\",\"status\":\"terminated\",\"effective_ts\":\"2026-01-07T17:00:00Z\"}\n";
    let events = [
        event("g-login", "gone", "2026-01-08T02:30:00Z", "login", 0),
        event("g-x", "gone", "2026-01-08T02:35:00Z", "export", 6000),
    ]
    .join("\n");
    std::fs::write(env.path("e.jsonl"), events).unwrap();
    std::fs::write(env.path("d.jsonl"), dir).unwrap();
    let out = env
        .custos(&[
            "replay",
            "--input",
            env.path("e.jsonl").to_str().unwrap(),
            "--directory",
            env.path("d.jsonl").to_str().unwrap(),
        ])
        .env("CUSTOS_LOG", "debug")
        .output()
        .unwrap();
    let printed = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{printed}");
    assert_clean("replay with a failing webhook", &printed);
    let errors = env.sql("SELECT last_error FROM actions WHERE last_error != ''");
    assert!(
        errors.contains("/lock?token=***"),
        "the failure is recorded, URL masked: {errors}"
    );
    assert_clean("actions.last_error", &errors);
}

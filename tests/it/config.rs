//! Configuration mistakes are all reported at once, and the process exits non-zero.

use crate::common;

use common::*;

#[test]
fn several_mistakes_are_each_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        r#"
[clickhouse]
url = "localhost:8123"
databse = "x"

[kafka]
group_id = ""
events_topic = 42

[pipeline]
batch_rows = 0
batch_max_age_ms = "soon"

[alerting]
x = 1
"#,
    )
    .unwrap();
    let out = std::process::Command::new(CUSTOS)
        .args(["check-config", "--config", path.to_str().unwrap()])
        .env("CUSTOS_PIPELINE_QUEUE_BATCHES", "lots")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "[clickhouse] url",
        "databse",
        "[kafka] group_id",
        "events_topic",
        "[pipeline] batch_rows",
        "batch_max_age_ms",
        "[alerting]",
        "CUSTOS_PIPELINE_QUEUE_BATCHES",
    ] {
        assert!(err.contains(needle), "`{needle}` not named in:\n{err}");
    }
    assert!(err.contains("8 problems"), "{err}");
}

#[test]
fn a_good_config_with_env_overrides_is_accepted_and_secrets_are_hidden() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("good.toml");
    std::fs::write(
        &path,
        "[clickhouse]\npassword = \"hunter2\"\n[pipeline]\nbatch_rows = 10\n",
    )
    .unwrap();
    let out = std::process::Command::new(CUSTOS)
        .args(["check-config", "--config", path.to_str().unwrap()])
        .env("CUSTOS_PIPELINE_BATCH_ROWS", "123")
        .env("CUSTOS_KAFKA_BROKERS", "k1:9092,k2:9092")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("batch_rows = 123"), "{text}");
    assert!(text.contains("brokers = \"k1:9092,k2:9092\""), "{text}");
    assert!(!text.contains("hunter2"));
    let missing = std::process::Command::new(CUSTOS)
        .args(["check-config", "--config", "/nonexistent/custos.toml"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn the_example_config_is_valid() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/custos.example.toml");
    let out = std::process::Command::new(CUSTOS)
        .args(["check-config", "--config", example])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn kafka_inputs_are_validated_each_by_number() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inputs.toml");
    std::fs::write(
        &path,
        r#"
[kafka]
events_format = "ocsf"
directory_topic = "crm.directory"

[[kafka.inputs]]
topic = "sf.login"
format = "salesforce-rtem"
stream = "LoginEventStream"
timezone = "Mars/Olympus"

[[kafka.inputs]]
topic = "sf.login"
tenant = "acme"

[[kafka.inputs]]
topic = "crm.directory"
format = "ocsf"
"#,
    )
    .unwrap();
    let out = std::process::Command::new(CUSTOS)
        .args(["check-config", "--config", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "[kafka] events_format, events_tenant, events_timezone, events_stream: not used with [[kafka.inputs]]",
        "[[kafka.inputs]] #1 timezone: must be an IANA timezone name",
        "[[kafka.inputs]] #2 topic: `sf.login` is listed twice",
        "[[kafka.inputs]] #2 tenant, timezone, stream: apply to a mapped format only",
        "[[kafka.inputs]] #3 topic: must differ from directory_topic",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
}

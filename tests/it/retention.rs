//! Retention drops expired monthly partitions (and nothing newer).

use crate::common;

use common::*;

#[test]
fn retention_drops_an_expired_partition_and_keeps_recent_data() {
    if skip_without_servers() {
        return;
    }
    let env = TestEnv::new(&ch_url(), "[retention]\nevents_days = 30\n");
    let recent = (chrono::Utc::now() - chrono::Duration::days(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let lines = [
        event("old-1", "u", "2020-01-15T10:00:00Z", "view", 1),
        event("old-2", "u", "2020-01-20T10:00:00Z", "export", 2000),
        event("new-1", "u", &recent, "view", 1),
    ];
    std::fs::write(env.path("e.jsonl"), lines.join("\n")).unwrap();
    assert!(env
        .custos(&["replay", "--input", env.path("e.jsonl").to_str().unwrap()])
        .status()
        .unwrap()
        .success());
    assert_eq!(env.u64("SELECT count() FROM events"), 3);
    let out = env.custos(&["retention"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dropped: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    let dropped: Vec<&str> = dropped["dropped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(dropped.contains(&"events:202001"), "{dropped:?}");
    assert!(
        dropped.contains(&"alerts:202001"),
        "the bulk-export alert of January 2020 goes with its events: {dropped:?}"
    );
    assert_eq!(
        env.sql("SELECT event_id FROM events ORDER BY event_id"),
        "new-1"
    );
    // Nothing left to drop the second time.
    let again = env.custos(&["retention"]).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&again.stdout).trim(),
        r#"{"dropped":[]}"#
    );
}

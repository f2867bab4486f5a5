//! Seals of live history against the real ClickHouse: `replay` seals the closed days it filled,
//! `custos verify` passes on untouched history, seals late events anew, and names the day of an
//! `ALTER TABLE … UPDATE` and of a `DELETE` on one event (exiting non-zero), as well as a day whose
//! seal was removed.

use crate::common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

fn run(env: &TestEnv, args: &[&str]) -> (bool, String) {
    let out = env.custos(args).output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Runs a mutation and waits until ClickHouse has applied it (18.16 runs them in the background).
fn mutate(env: &TestEnv, q: &str) {
    env.sql(q);
    let start = Instant::now();
    while env.u64(
        "SELECT count() FROM system.mutations WHERE database = currentDatabase() AND is_done = 0",
    ) > 0
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "mutation still running: {q}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn replay(env: &TestEnv, name: &str, lines: &[String]) {
    let f = env.path(name);
    std::fs::write(&f, lines.join("\n") + "\n").unwrap();
    replay_files(env, &f, None, &[]);
}

#[test]
fn verify_names_each_day_whose_events_changed_or_whose_seal_is_gone() {
    if skip_without_servers() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("k.pem");
    assert!(Command::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out"])
        .arg(&key)
        .status()
        .unwrap()
        .success());
    let env = TestEnv::new(
        &ch_url(),
        &format!("[archive]\nsigning_key_file = \"{}\"\n", key.display()),
    );
    let days = ["2026-01-05", "2026-01-06", "2026-01-07", "2026-01-08"];
    let lines: Vec<String> = (0..40)
        .map(|i| {
            let ts = format!("{}T{:02}:15:00Z", days[i % 4], 8 + i % 10);
            event(&format!("e{i}"), &format!("u{}", i % 3), &ts, "view", 1)
        })
        .collect();
    replay(&env, "a.jsonl", &lines);
    // replay sealed the four closed days at its end.
    assert_eq!(env.u64("SELECT count() FROM seals"), 4);
    let (ok, out) = run(
        &env,
        &["verify", "--since", "2026-01-01", "--until", "2026-01-31"],
    );
    assert!(ok, "{out}");
    assert_eq!(out.matches("ok        2026-01-0").count(), 4, "{out}");

    // Replaying the same file changes nothing; a late event is sealed anew for its day.
    replay(&env, "a.jsonl", &lines);
    assert_eq!(env.u64("SELECT count() FROM seals"), 4);
    let late = [event("late-1", "u1", "2026-01-06T23:59:00Z", "export", 3)];
    let f = env.path("late.jsonl");
    std::fs::write(&f, late.join("\n") + "\n").unwrap();
    let out = env
        .custos(&["replay", "--input", f.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        env.u64("SELECT count() FROM seals WHERE day = '2026-01-06'"),
        2
    );
    let (ok, out) = run(
        &env,
        &["verify", "--since", "2026-01-01", "--until", "2026-01-31"],
    );
    assert!(ok, "{out}");

    // Tampering: one event's record count updated, another event deleted.
    mutate(
        &env,
        "ALTER TABLE events UPDATE record_count = 999 WHERE event_id = 'e1'",
    );
    mutate(&env, "ALTER TABLE events DELETE WHERE event_id = 'e2'");
    let (ok, out) = run(
        &env,
        &["verify", "--since", "2026-01-01", "--until", "2026-01-31"],
    );
    assert!(!ok, "{out}");
    assert!(out.contains("CHANGED   2026-01-06"), "{out}"); // e1
    assert!(out.contains("CHANGED   2026-01-07"), "{out}"); // e2
    assert!(
        out.contains("ok        2026-01-05") && out.contains("ok        2026-01-08"),
        "{out}"
    );
    // `custos seal` does not paper over it.
    let (ok, out) = run(&env, &["seal"]);
    assert!(!ok && out.contains("no longer match"), "{out}");

    // A seal removed: its day has none, and the chain is broken.
    mutate(&env, "ALTER TABLE seals DELETE WHERE day = '2026-01-05'");
    let (ok, out) = run(&env, &["verify", "--since", "2026-01-01"]);
    assert!(!ok, "{out}");
    assert!(out.contains("NO_SEAL   2026-01-05"), "{out}");
    assert!(out.contains("CHAIN"), "{out}");
}

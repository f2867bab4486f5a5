//! Archives an auditor can trust, against the real ClickHouse: `custos archive` writes signed,
//! chained digests an auditor checks with `openssl` and `sha256sum` alone; `archive verify` names
//! each modified, missing and extra file and a removed digest; `archive restore` refuses a directory
//! that does not verify and restores one that does exactly, twice without a change; retention
//! archives a month before dropping it and keeps it when its archive does not verify.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// An Ed25519 key as `openssl genpkey` writes it, in `dir`.
fn key(dir: &Path) -> PathBuf {
    let k = dir.join("archive-key.pem");
    let s = Command::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out"])
        .arg(&k)
        .status()
        .unwrap();
    assert!(s.success(), "openssl genpkey");
    k
}

fn env_with_key(url: &str, extra: &str) -> TestEnv {
    let tmp = tempfile::tempdir().unwrap().keep();
    let k = key(&tmp);
    TestEnv::new(
        url,
        &format!("[archive]\nsigning_key_file = \"{}\"\n{extra}", k.display()),
    )
}

fn run(env: &TestEnv, args: &[&str]) -> (bool, String, String) {
    let out = env.custos(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Events in January and February 2026 (with an export alert or two), replayed.
fn fill(env: &TestEnv) {
    let mut lines = Vec::new();
    for i in 0..40u32 {
        let (m, d) = if i < 25 {
            (1, 3 + i % 20)
        } else {
            (2, 1 + i % 20)
        };
        let ts = format!("2026-{m:02}-{d:02}T10:{:02}:00Z", i % 60);
        let (action, n) = if i % 7 == 0 {
            ("export", 5000)
        } else {
            ("view", 1)
        };
        lines.push(event(
            &format!("ev-{i}"),
            &format!("u{}", i % 4),
            &ts,
            action,
            n,
        ));
    }
    let f = env.path("events.jsonl");
    std::fs::write(&f, lines.join("\n") + "\n").unwrap();
    replay_files(env, &f, None, &[]);
}

fn dump(env: &TestEnv, q: &str) -> String {
    env.sql(&format!("{q} FORMAT JSONEachRow"))
}

/// What the API would answer about January: every stored row of it, canonically ordered.
fn january(env: &TestEnv) -> Vec<String> {
    vec![
        dump(env, "SELECT * FROM events FINAL WHERE toYYYYMM(ts) = 202601 ORDER BY event_id"),
        dump(env, "SELECT * FROM alerts FINAL WHERE toYYYYMM(ts) = 202601 ORDER BY alert_id"),
        dump(env, "SELECT * FROM actions WHERE toYYYYMM(requested_at) = 202601 ORDER BY action_id, at_ms, status"),
    ]
}

/// A change to a copy of the archive directory, and the line `verify` must print for it.
type Case<'a> = (&'a str, &'a dyn Fn(&Path), &'a str);

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn archives_verify_detect_every_change_and_restore_exactly_once() {
    if skip_without_servers() {
        return;
    }
    let url = ch_url();
    let (token, lines) = custos::api::auth::new_token("auditor-1", "auditor").unwrap();
    let api = format!("[api]\nlisten = \"127.0.0.1:0\"\n{lines}\n");
    let env = env_with_key(&url, &api);
    fill(&env);
    let dir = env.path("archive");
    let d = dir.to_str().unwrap();
    // January, February, January again and this month (where the actions and audit rows of the
    // alerts are, by their wall-clock time) — a chain of four digests.
    let now = chrono::Utc::now().format("%Y-%m").to_string();
    for m in ["2026-01", "2026-02", "2026-01", now.as_str()] {
        let (ok, out, err) = run(&env, &["archive", "--month", m, "--out", d]);
        assert!(ok, "{out}{err}");
    }
    let digest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("digests/000001.json")).unwrap()).unwrap();
    let events = digest["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["table"] == "events")
        .unwrap()
        .clone();
    assert_eq!(events["rows"], 25, "{digest}");
    assert_eq!(events["first_time"], "2026-01-03T10:00:00.000Z");
    assert!(digest["previous"].is_null());
    let second: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("digests/000002.json")).unwrap()).unwrap();
    assert_eq!(second["previous"]["path"], "digests/000001.json");

    // An auditor without custos: the published public key, openssl and sha256sum.
    let (ok, pem, err) = run(&env, &["archive", "pubkey"]);
    assert!(
        ok && pem.starts_with("-----BEGIN PUBLIC KEY-----"),
        "{pem}{err}"
    );
    std::fs::write(env.path("pub.pem"), &pem).unwrap();
    let v = Command::new("openssl")
        .args(["pkeyutl", "-verify", "-pubin", "-inkey"])
        .arg(env.path("pub.pem"))
        .arg("-rawin")
        .arg("-in")
        .arg(dir.join("digests/000002.json"))
        .arg("-sigfile")
        .arg(dir.join("digests/000002.json.sig"))
        .output()
        .unwrap();
    assert!(v.status.success(), "openssl verify: {v:?}");
    let sum = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "gzip -dc '{}' | sha256sum",
            dir.join(events["path"].as_str().unwrap()).display()
        ))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&sum.stdout).starts_with(events["sha256"].as_str().unwrap()));

    let pubkey = env.path("pub.pem");
    let verify = |dir: &Path| {
        run(
            &env,
            &[
                "archive",
                "verify",
                dir.to_str().unwrap(),
                "--pubkey",
                pubkey.to_str().unwrap(),
            ],
        )
    };
    let (ok, out, err) = verify(&dir);
    assert!(ok, "{out}{err}");
    assert!(!out.contains("MODIFIED") && out.contains("OK"), "{out}");

    // One byte changed, a file deleted, a file added, a digest removed from the middle.
    let file = events["path"].as_str().unwrap();
    let cases: [Case; 4] = [
        (
            "modified",
            &|c: &Path| {
                let p = c.join(file);
                let mut b = std::fs::read(&p).unwrap();
                let i = b.len() / 2;
                b[i] ^= 1;
                std::fs::write(p, b).unwrap();
            },
            &format!("MODIFIED  {file}"),
        ),
        (
            "missing",
            &|c: &Path| std::fs::remove_file(c.join(file)).unwrap(),
            &format!("MISSING   {file}"),
        ),
        (
            "added",
            &|c: &Path| std::fs::write(c.join("2026-01/000001/extra.ndjson.gz"), b"x").unwrap(),
            "NOT_IN_ANY_DIGEST 2026-01/000001/extra.ndjson.gz",
        ),
        (
            "digest removed",
            &|c: &Path| {
                std::fs::remove_file(c.join("digests/000002.json")).unwrap();
            },
            "CHAIN     digests/000002.json: missing",
        ),
    ];
    for (name, change, want) in cases {
        let copy = env.path(&format!("copy-{}", name.replace(' ', "-")));
        copy_dir(&dir, &copy);
        change(&copy);
        let (ok, out, _) = verify(&copy);
        assert!(!ok, "{name}: verify passed:\n{out}");
        assert!(out.contains(want), "{name}: want `{want}` in:\n{out}");
        if name == "digest removed" {
            assert!(
                out.contains("NOT_IN_ANY_DIGEST 2026-02/000002/events.ndjson.gz"),
                "{out}"
            );
        }
    }

    // Restore into an empty database: refused while tampered, exact when not, twice = once.
    let fresh = TestEnv::new(&url, &api);
    let tampered = env.path("copy-modified");
    let (ok, _, err) = run(
        &fresh,
        &[
            "archive",
            "restore",
            tampered.to_str().unwrap(),
            "--pubkey",
            pubkey.to_str().unwrap(),
        ],
    );
    assert!(!ok && err.contains("does not verify"), "{err}");
    assert_eq!(fresh.u64("SELECT count() FROM events"), 0);
    for _ in 0..2 {
        let (ok, out, err) = run(
            &fresh,
            &[
                "archive",
                "restore",
                d,
                "--pubkey",
                pubkey.to_str().unwrap(),
            ],
        );
        assert!(ok, "{out}{err}");
    }
    assert_eq!(january(&fresh), january(&env));
    assert!(env.u64("SELECT count() FROM actions") > 0);
    for t in [
        "alert_status_history",
        "actions",
        "notifications",
        "api_audit",
    ] {
        let q = format!("SELECT count() FROM {t}");
        assert_eq!(fresh.u64(&q), env.u64(&q), "{t} restored twice");
    }
    assert_eq!(
        dump(
            &fresh,
            "SELECT * FROM actions ORDER BY action_id, at_ms, status"
        ),
        dump(
            &env,
            "SELECT * FROM actions ORDER BY action_id, at_ms, status"
        )
    );
    assert_eq!(fresh.u64("SELECT count() FROM events FINAL"), 40);

    // The API answers about January from the restored database as it did from the original.
    let ask = |env: &TestEnv| {
        let (mut child, base) = env.spawn_api();
        let get = |path: &str| {
            let r = reqwest::blocking::Client::new()
                .get(format!("{base}{path}"))
                .bearer_auth(&token)
                .send()
                .unwrap();
            assert_eq!(r.status().as_u16(), 200, "{path}");
            r.text().unwrap()
        };
        let answers = [
            get("/api/v1/events?since=2026-01-01&until=2026-02-01&limit=100"),
            get("/api/v1/events?since=2026-01-01&until=2026-02-01&format=csv"),
            get("/api/v1/alerts?since=2026-01-01&until=2026-02-01"),
        ];
        child.kill().unwrap();
        let _ = child.wait();
        answers
    };
    let (before, after) = (ask(&env), ask(&fresh));
    assert!(before[0].contains("ev-0"), "{}", before[0]);
    assert_eq!(before, after);
}

#[test]
fn archive_and_seal_without_a_key_say_how_to_make_one() {
    if skip_without_servers() {
        return;
    }
    let env = TestEnv::new(&ch_url(), "");
    for args in [
        &["archive", "--month", "2026-01", "--out", "/tmp/x"][..],
        &["seal"],
        &["archive", "pubkey"],
    ] {
        let (ok, _, err) = run(&env, args);
        assert!(
            !ok && err.contains("openssl genpkey -algorithm ed25519"),
            "{args:?}: {err}"
        );
    }
    let bad = TestEnv::new(&ch_url(), "[retention]\narchive_dir = \"/tmp/a\"\n");
    let (ok, _, err) = run(&bad, &["check-config"]);
    assert!(
        !ok && err.contains("archive_dir needs [archive] signing_key_file"),
        "{err}"
    );
}

#[test]
fn retention_archives_a_month_before_dropping_it_and_keeps_it_when_the_archive_is_broken() {
    if skip_without_servers() {
        return;
    }
    let url = ch_url();
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    let env = env_with_key(
        &url,
        &format!(
            "[retention]\nevents_days = 30\narchive_dir = \"{}\"\n",
            archive.display()
        ),
    );
    let f = env.path("old.jsonl");
    let old: Vec<String> = (0..5)
        .map(|i| {
            event(
                &format!("old-{i}"),
                "u1",
                &format!("2024-03-0{}T09:00:00Z", i + 1),
                "view",
                1,
            )
        })
        .collect();
    std::fs::write(&f, old.join("\n") + "\n").unwrap();
    replay_files(&env, &f, None, &[]);
    let (ok, out, err) = run(&env, &["retention"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("events:202403"), "{out}");
    assert_eq!(env.u64("SELECT count() FROM events"), 0);
    let (ok, out, err) = run(&env, &["archive", "verify", archive.to_str().unwrap()]);
    assert!(
        ok && out.contains("OK        2024-03/000001/events.ndjson.gz"),
        "{out}{err}"
    );

    // A broken archive directory: the next expired month is kept.
    let f2 = env.path("old2.jsonl");
    std::fs::write(
        &f2,
        event("old-x", "u1", "2024-04-02T09:00:00Z", "view", 1) + "\n",
    )
    .unwrap();
    replay_files(&env, &f2, None, &[]);
    std::fs::remove_file(archive.join("2024-03/000001/alerts.ndjson.gz")).unwrap();
    let (ok, out, err) = run(&env, &["retention"]);
    assert!(ok, "{out}{err}");
    assert!(!out.contains("events:202404"), "{out}");
    assert!(err.contains("did not verify"), "{err}");
    assert_eq!(env.u64("SELECT count() FROM events"), 1);
}

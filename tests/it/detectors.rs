//! Detectors end to end: the shipped files lint and pass their fixtures; a wrong expectation or an
//! invalid file fails loudly (file and field); generated traffic replayed into the real ClickHouse
//! raises the planted incidents once, in the `alerts` table and on the Kafka alerts topic; and a
//! window spanning a restart fires once (rehydration).

use crate::common;

use std::path::Path;
use std::time::Duration;

use common::*;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

fn shipped() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/detectors"))
}

#[test]
fn shipped_detectors_lint_and_pass_their_fixtures() {
    let env = TestEnv::new(NO_SERVER, "");
    let dir = shipped().to_str().unwrap();
    let lint = env
        .custos(&["detectors", "lint", "--dir", dir])
        .output()
        .unwrap();
    assert!(
        lint.status.success(),
        "{}",
        String::from_utf8_lossy(&lint.stderr)
    );
    assert!(String::from_utf8_lossy(&lint.stdout).contains("9 detector(s) valid"));
    let test = env
        .custos(&["detectors", "test", "--dir", dir])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&test.stdout);
    assert!(test.status.success(), "{out}");
    for d in [
        "PASS bulk_export (3 alert(s))",
        "PASS off_hours_login (6 alert(s))",
        "PASS orphaned_account (4 alert(s))",
        "PASS failed_login_burst (4 alert(s))",
        "PASS password_spray (1 alert(s))",
        "PASS mass_delete (2 alert(s))",
        "PASS privilege_change (4 alert(s))",
        "PASS new_country_login (2 alert(s))",
        "PASS impossible_travel (3 alert(s))",
        "9 passed, 0 failed",
    ] {
        assert!(out.contains(d), "{d} missing in {out}");
    }
}

#[test]
fn a_wrong_expectation_fails_the_fixture_run() {
    let env = TestEnv::new(NO_SERVER, "");
    let dir = env.path("detectors");
    copy_dir(shipped(), &dir);
    // Claim the 990-row user alerts: the run must fail and say why.
    let exp = dir.join("tests/bulk_export/expected.jsonl");
    let mut text = std::fs::read_to_string(&exp).unwrap();
    text.push_str("{\"user_id\":\"under\"}\n");
    std::fs::write(&exp, text).unwrap();
    let out = env
        .custos(&["detectors", "test", "--dir", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("FAIL bulk_export") && stdout.contains("expected 4 alert(s), got 3"),
        "{stdout}"
    );
}

#[test]
fn an_invalid_detector_file_is_refused_with_its_name_and_fields() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(shipped(), dir.path());
    std::fs::write(
        dir.path().join("bulk_export.toml"),
        "id = \"bulk_export\"\ntitle = \"x\"\nkind = \"bulk_export\"\nseverity = \"urgent\"\nresponse = \"lock\"\nsupress_for = \"1h\"\n[params]\nwindow = \"a day\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("mystery.toml"),
        "id = \"mystery\"\ntitle = \"m\"\nkind = \"telepathy\"\nseverity = \"low\"\n",
    )
    .unwrap();
    let url = std::env::var("CLICKHOUSE_TEST_URL").unwrap_or_else(|_| NO_SERVER.into());
    let env = TestEnv::new(
        &url,
        &format!("[detectors]\ndir = \"{}\"\n", dir.path().display()),
    );
    let lint = env.custos(&["detectors", "lint"]).output().unwrap();
    assert!(!lint.status.success());
    let err = String::from_utf8_lossy(&lint.stderr);
    for needle in [
        "bulk_export.toml: severity",
        "bulk_export.toml: supress_for",
        "mystery.toml: kind",
        "telepathy",
    ] {
        assert!(err.contains(needle), "`{needle}` not in:\n{err}");
    }
    // The service refuses to start on it too (after preparing the schema: that part needs ClickHouse).
    if skip_without_servers() {
        return;
    }
    std::fs::write(
        env.path("e.jsonl"),
        event("a", "u", "2026-01-06T02:14:07Z", "login", 0),
    )
    .unwrap();
    let replay = env
        .custos(&["replay", "--input", env.path("e.jsonl").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!replay.status.success());
    assert!(String::from_utf8_lossy(&replay.stderr).contains("mystery.toml: kind"));
}

fn alert_rows(env: &TestEnv) -> Vec<String> {
    env.sql("SELECT detector, user_id, alert_id FROM alerts FINAL ORDER BY detector, user_id")
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn generated_incidents_raise_alerts_once_in_clickhouse_and_on_kafka() {
    if skip_without_servers() {
        return;
    }
    let kafka = MockKafka::new(1);
    let topic = unique_name("alerts");
    kafka.create_topic(&topic, 2);
    let env = TestEnv::new(
        &ch_url(),
        &format!(
            "[kafka]\nbrokers = \"{}\"\nalerts_topic = \"{topic}\"\n",
            kafka.bootstrap()
        ),
    );
    let (ev, dir) = (env.path("ev.jsonl"), env.path("dir.jsonl"));
    let gen = env
        .custos(&[
            "gen",
            "--count",
            "40000",
            "--events",
            ev.to_str().unwrap(),
            "--directory",
            dir.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(gen.success());
    let args = [
        "replay",
        "--input",
        ev.to_str().unwrap(),
        "--directory",
        dir.to_str().unwrap(),
        "--publish-alerts",
    ];
    let out = env.custos(&args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap();

    let rows = alert_rows(&env);
    let kinds: Vec<String> = rows
        .iter()
        .map(|r| r.rsplit_once('\t').unwrap().0.to_owned())
        .collect();
    // The departed employee's 02:30 login and 1,500-row export also trip the other two detectors.
    let want = [
        "bulk_export\tu00001",
        "bulk_export\tu00002",
        "off_hours_login\tu00001",
        "off_hours_login\tu00003",
        "orphaned_account\tu00001",
    ];
    assert_eq!(kinds, want, "{rows:?}");
    assert_eq!(summary["alerts"], 5);
    let bulk = env.sql(
        "SELECT summary FROM alerts FINAL WHERE detector = 'bulk_export' AND user_id = 'u00002'",
    );
    // The planted 3 × 400 contacts cross the limit (with whatever the user's own day exported).
    let exported: u64 = bulk
        .split("u00002 exported ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .map(|n| n.replace(',', ""))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{bulk}"));
    assert!(
        exported >= 1_200 && bulk.contains("the 1,000-row limit"),
        "{bulk}"
    );
    let orphan = env.sql("SELECT summary, status, response, length(evidence_event_ids) FROM alerts FINAL WHERE detector = 'orphaned_account'");
    assert!(
        orphan.contains("u00001 (User 1) is terminated since")
            && orphan.contains("\topen\tlock\t4"),
        "{orphan}"
    );

    // The same alerts reached Kafka, keyed by user.
    let msgs = consume_all(&kafka.bootstrap(), &topic, 5, Duration::from_secs(20));
    let mut ids: Vec<String> = msgs
        .iter()
        .map(|(_, p)| {
            serde_json::from_str::<serde_json::Value>(p).unwrap()["alert_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    ids.sort();
    ids.dedup();
    let mut want: Vec<String> = rows
        .iter()
        .map(|r| r.rsplit_once('\t').unwrap().1.to_owned())
        .collect();
    want.sort();
    assert_eq!(ids, want);
    assert!(msgs.iter().all(|(k, _)| k.starts_with('u')));

    // Replaying the same input again leaves the alerts unchanged.
    let again = env.custos(&args).output().unwrap();
    assert!(again.status.success());
    env.sql("OPTIMIZE TABLE alerts FINAL");
    assert_eq!(env.u64("SELECT count() FROM alerts"), 5);
    assert_eq!(alert_rows(&env), rows);
}

#[test]
fn an_export_window_spanning_a_restart_fires_once() {
    if skip_without_servers() {
        return;
    }
    let env = TestEnv::new(&ch_url(), "");
    let before = event("w1", "x", "2026-01-05T09:00:00Z", "export", 600);
    let after = event("w2", "x", "2026-01-05T10:00:00Z", "export", 600);
    std::fs::write(env.path("a.jsonl"), &before).unwrap();
    std::fs::write(env.path("b.jsonl"), &after).unwrap();
    let run = |f: &str| -> serde_json::Value {
        let out = env
            .custos(&["replay", "--input", env.path(f).to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap()
    };
    assert_eq!(run("a.jsonl")["alerts"], 0);
    // A new process: the first 600 rows come back from ClickHouse, and 1200 > 1000 fires.
    assert_eq!(run("b.jsonl")["alerts"], 1);
    assert_eq!(
        env.sql("SELECT arrayStringConcat(evidence_event_ids, ',') FROM alerts FINAL"),
        "w1,w2"
    );
    // Again: the export is already counted and the alert already raised.
    assert_eq!(run("b.jsonl")["alerts"], 0);
    assert_eq!(run("a.jsonl")["alerts"], 0);
    env.sql("OPTIMIZE TABLE alerts FINAL");
    assert_eq!(env.u64("SELECT count() FROM alerts"), 1);
}

#[test]
fn the_sweep_reports_departed_users_with_the_same_alert_id() {
    if skip_without_servers() {
        return;
    }
    let env = TestEnv::new(&ch_url(), "");
    std::fs::write(
        env.path("dir.jsonl"),
        "{\"user_id\":\"gone\",\"status\":\"terminated\",\"effective_ts\":\"2026-01-07T17:00:00Z\"}\n{\"user_id\":\"ok\",\"status\":\"active\"}\n",
    )
    .unwrap();
    let lines = [
        event("s1", "gone", "2026-01-07T10:00:00Z", "view", 1),
        event("s2", "gone", "2026-01-08T10:00:00Z", "view", 1),
        event("s3", "gone", "2026-01-08T10:05:00Z", "export", 20),
        event("s4", "ok", "2026-01-08T10:00:00Z", "view", 1),
    ];
    std::fs::write(env.path("ev.jsonl"), lines.join("\n")).unwrap();
    let out = env
        .custos(&[
            "replay",
            "--input",
            env.path("ev.jsonl").to_str().unwrap(),
            "--directory",
            env.path("dir.jsonl").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let streamed = env.sql("SELECT alert_id, arrayStringConcat(evidence_event_ids, ',') FROM alerts FINAL WHERE detector = 'orphaned_account'");
    assert!(streamed.ends_with("\ts2,s3"), "{streamed}");
    let rows_before = env.u64("SELECT count() FROM alerts WHERE detector = 'orphaned_account'");
    let sweep = env.custos(&["sweep"]).output().unwrap();
    assert!(
        sweep.status.success(),
        "{}",
        String::from_utf8_lossy(&sweep.stderr)
    );
    // Found again as it is stored: not stored (or published) a second time.
    assert_eq!(
        String::from_utf8_lossy(&sweep.stdout).trim(),
        r#"{"alerts":0}"#
    );
    assert_eq!(
        env.u64("SELECT count() FROM alerts WHERE detector = 'orphaned_account'"),
        rows_before,
        "no row inserted"
    );
    assert_eq!(env.sql("SELECT alert_id, arrayStringConcat(evidence_event_ids, ',') FROM alerts FINAL WHERE detector = 'orphaned_account'"), streamed);

    // HR's record of a departure arrives after the activity was stored: streaming saw an unknown
    // account (which never locks); the sweep finds a departed one, stores the grown alert and
    // decides its lock at once — and only once.
    std::fs::write(
        env.path("late.jsonl"),
        event("l1", "late", "2026-01-08T11:00:00Z", "export", 50),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = env.custos(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .lines()
            .last()
            .unwrap_or_default()
            .to_owned()
    };
    run(&[
        "replay",
        "--input",
        env.path("late.jsonl").to_str().unwrap(),
    ]);
    std::fs::write(
        env.path("late-dir.jsonl"),
        "{\"user_id\":\"late\",\"status\":\"terminated\",\"effective_ts\":\"2026-01-08T09:00:00Z\"}\n",
    )
    .unwrap();
    std::fs::write(env.path("none.jsonl"), "").unwrap();
    run(&[
        "replay",
        "--input",
        env.path("none.jsonl").to_str().unwrap(),
        "--directory",
        env.path("late-dir.jsonl").to_str().unwrap(),
    ]);
    assert_eq!(run(&["sweep"]), r#"{"alerts":1}"#);
    let id = env.sql("SELECT alert_id FROM alerts FINAL WHERE user_id = 'late'");
    assert_eq!(
        env.sql(&format!(
            "SELECT response FROM alerts FINAL WHERE alert_id = '{id}'"
        )),
        "lock"
    );
    assert_eq!(
        env.u64(&format!(
            "SELECT count() FROM actions WHERE alert_id = '{id}'"
        )),
        1,
        "the lock decided by the sweep (dry run here)"
    );
    assert_eq!(run(&["sweep"]), r#"{"alerts":0}"#);
    assert_eq!(
        env.u64(&format!(
            "SELECT count() FROM actions WHERE alert_id = '{id}'"
        )),
        1
    );
}

#[test]
fn a_backtest_gives_exactly_the_streaming_alerts_and_stores_nothing() {
    if skip_without_servers() {
        return;
    }
    let env = TestEnv::new(&ch_url(), "");
    let (ev, dir) = (env.path("ev.jsonl"), env.path("dir.jsonl"));
    let gen = env
        .custos(&[
            "gen",
            "--count",
            "20000",
            "--events",
            ev.to_str().unwrap(),
            "--directory",
            dir.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(gen.success());
    let replay = env
        .custos(&[
            "replay",
            "--input",
            ev.to_str().unwrap(),
            "--directory",
            dir.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        replay.status.success(),
        "{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    let mut streamed: Vec<String> = env
        .sql("SELECT alert_id FROM alerts FINAL ORDER BY alert_id")
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(!streamed.is_empty());
    let rows_before = env.sql("SELECT count() FROM alerts");
    let range = [
        "--since",
        "2000-01-01T00:00:00Z",
        "--until",
        "2100-01-01T00:00:00Z",
    ];
    let shipped = shipped().to_str().unwrap();
    let out = env
        .custos(
            &[
                &[
                    "detectors",
                    "backtest",
                    "--format",
                    "jsonl",
                    "--dir",
                    shipped,
                ][..],
                &range[..],
            ]
            .concat(),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut backtested: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["alert_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    backtested.sort();
    streamed.sort();
    assert_eq!(
        backtested, streamed,
        "a backtest over the same stored events raises the same alerts"
    );
    assert_eq!(
        env.sql("SELECT count() FROM alerts"),
        rows_before,
        "the backtest stored nothing"
    );
    // The text form counts per detector; one detector alone; an unknown detector is an error.
    let text = env
        .custos(
            &[
                &[
                    "detectors",
                    "backtest",
                    "--detector",
                    "bulk_export",
                    "--dir",
                    shipped,
                ][..],
                &range[..],
            ]
            .concat(),
        )
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(
        text.contains("bulk_export: 2 alert(s), 2 subject(s)") && !text.contains("off_hours_login"),
        "{text}"
    );
    let bad = env
        .custos(
            &[
                &[
                    "detectors",
                    "backtest",
                    "--detector",
                    "nope",
                    "--dir",
                    shipped,
                ][..],
                &range[..],
            ]
            .concat(),
        )
        .output()
        .unwrap();
    assert!(
        !bad.status.success()
            && String::from_utf8_lossy(&bad.stderr).contains("no detector `nope`")
    );
}

/// A crash while an unknown account waits for its HR record does not lose the alert: the next
/// process rebuilds the wait from the stored events.
#[test]
fn an_unknown_accounts_wait_survives_a_crash() {
    if skip_without_servers() {
        return;
    }
    // The first process stores the events and dies during the wait: it stands in as one whose
    // orphaned_account ignores unknown accounts, so it raises nothing.
    let ignoring = tempfile::tempdir().unwrap();
    copy_dir(shipped(), ignoring.path());
    let f = ignoring.path().join("orphaned_account.toml");
    let text = std::fs::read_to_string(&f).unwrap();
    assert!(text.contains("unknown_users = \"alert\""));
    std::fs::write(
        &f,
        text.replace("unknown_users = \"alert\"", "unknown_users = \"ignore\""),
    )
    .unwrap();
    let env = TestEnv::new(&ch_url(), "");
    let ts =
        |ago_s: i64| custos::time::rfc3339(chrono::Utc::now() - chrono::Duration::seconds(ago_s));
    std::fs::write(
        env.path("dir.jsonl"),
        "{\"user_id\":\"old\",\"status\":\"active\"}\n",
    )
    .unwrap();
    std::fs::write(
        env.path("a.jsonl"),
        format!(
            "{}\n{}\n",
            // A view, not a login: the test runs at any hour of the day (no off-hours login).
            event("k1", "old", &ts(120), "view", 0),
            event("x1", "intruder", &ts(110), "view", 3)
        ),
    )
    .unwrap();
    std::fs::write(env.path("empty.jsonl"), "").unwrap();
    let run = |dir: &Path, args: &[&str]| -> serde_json::Value {
        let out = env
            .custos(args)
            .env("CUSTOS_DETECTORS_DIR", dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap()
    };
    let a = env.path("a.jsonl");
    let d = env.path("dir.jsonl");
    let first = run(
        ignoring.path(),
        &[
            "replay",
            "--input",
            a.to_str().unwrap(),
            "--directory",
            d.to_str().unwrap(),
        ],
    );
    assert_eq!(
        (first["stored"].as_u64(), first["alerts"].as_u64()),
        (Some(2), Some(0))
    );
    // The next process reads nothing new; the stored event waits again and is due at the end.
    let e = env.path("empty.jsonl");
    let second = run(shipped(), &["replay", "--input", e.to_str().unwrap()]);
    assert_eq!(second["alerts"], 1, "{second}");
    assert_eq!(
        env.sql("SELECT concat(detector, ' ', user_id, ' ', arrayStringConcat(evidence_event_ids, ',')) FROM alerts FINAL"),
        "orphaned_account intruder x1"
    );
    // And once only.
    assert_eq!(
        run(shipped(), &["replay", "--input", e.to_str().unwrap()])["alerts"],
        0
    );
}

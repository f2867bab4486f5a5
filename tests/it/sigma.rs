//! Sigma rules in custos: the twin of `failed_login_burst` (and of `password_spray`) raises the very
//! same alerts as the native detector in any arrival order; detections, `temporal` and
//! `temporal_ordered` correlations, `generate`, the `custos:` settings, lint problems, and a window
//! that spans a restart. Needs no server.

use std::path::{Path, PathBuf};

use custos::config::DetectorsConfig;
use custos::decode::decode_event;
use custos::detect::worktime::WorkTime;
use custos::detect::{load_dir, load_dir_noting, Detect, DetectorSpec, Engine, LatestAlerts};
use custos::directory::Directory;
use custos::model::{Alert, Event};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn engine(specs: Vec<DetectorSpec>) -> Engine {
    Engine::new(specs, WorkTime::from_config(&DetectorsConfig::default()))
}

fn only(dir: &Path, id: &str) -> Vec<DetectorSpec> {
    let specs: Vec<_> = load_dir(dir)
        .unwrap()
        .into_iter()
        .filter(|s| s.id == id)
        .collect();
    assert_eq!(specs.len(), 1, "{id} in {}", dir.display());
    specs
}

fn run(specs: Vec<DetectorSpec>, events: &[Event]) -> Vec<Alert> {
    let mut e = engine(specs);
    let dir = Directory::default();
    let (mut all, mut out) = (LatestAlerts::default(), Vec::new());
    for ev in events {
        e.on_event(ev, &dir, &mut out);
        all.absorb(&mut out);
    }
    e.release(&dir, true, &mut out);
    all.absorb(&mut out);
    all.into_vec()
}

/// What "the same alert" means: everything but the wording (summary, details).
fn identity(alerts: &[Alert]) -> Vec<String> {
    alerts
        .iter()
        .map(|a| {
            format!(
                "{} {} {} {} {} {:?} {:?} {}",
                a.alert_id,
                a.detector,
                a.tenant,
                a.user_id,
                a.ts,
                a.subject,
                a.evidence_event_ids,
                a.severity
            )
        })
        .collect()
}

fn event(line: &str) -> Event {
    decode_event(line.as_bytes(), 1 << 20).unwrap()
}

fn fixture(id: &str) -> Vec<Event> {
    std::fs::read_to_string(format!("{ROOT}/detectors/tests/{id}/events.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("//"))
        .map(event)
        .collect()
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

/// Failed (and some successful) logins of a few users from a few addresses, up to 15 minutes late,
/// with re-deliveries.
fn traffic(seed: u64, n: usize, users: u64) -> Vec<Event> {
    let mut r = Rng(seed);
    let mut out: Vec<Event> = Vec::new();
    for i in 0..n {
        if i > 0 && r.next().is_multiple_of(12) {
            let again = out[(r.next() % out.len() as u64) as usize].clone();
            out.push(again);
            continue;
        }
        let ts = 1_767_600_000 + i as i64 * 15 - (r.next() % 900) as i64 * (r.next() % 2) as i64;
        let form = match r.next() % 4 {
            0 => r#""action":"login","outcome":"failure""#,
            1 => r#""action":"login""#,
            _ => r#""action":"login_failed""#,
        };
        out.push(event(&format!(
            r#"{{"event_id":"t{i}","ts":"{}","user_id":"u{}","ip":"203.0.113.{}",{form}}}"#,
            chrono::DateTime::from_timestamp(ts, 0)
                .unwrap()
                .to_rfc3339(),
            r.next() % users,
            r.next() % 3
        )));
    }
    out
}

fn orders(events: &[Event]) -> Vec<Vec<Event>> {
    let mut v = vec![events.to_vec(), events.iter().rev().cloned().collect()];
    for seed in 1..=4 {
        let mut e = events.to_vec();
        let mut r = Rng(seed);
        for i in (1..e.len()).rev() {
            e.swap(i, (r.next() % (i as u64 + 1)) as usize);
        }
        v.push(e);
    }
    v
}

fn twin_dir() -> PathBuf {
    PathBuf::from(format!("{ROOT}/detectors/examples/sigma-twin"))
}

#[test]
fn the_sigma_twin_of_failed_login_burst_raises_the_same_alerts_in_any_arrival_order() {
    let native = only(
        &PathBuf::from(format!("{ROOT}/detectors")),
        "failed_login_burst",
    );
    let sigma = only(&twin_dir(), "failed_login_burst");
    let mut events = fixture("failed_login_burst");
    events.extend(traffic(11, 3000, 14));
    let mut fired = 0;
    for (i, order) in orders(&events).iter().enumerate() {
        let (a, b) = (run(native.clone(), order), run(sigma.clone(), order));
        assert!(!a.is_empty(), "order {i} raises alerts");
        assert_eq!(identity(&a), identity(&b), "arrival order {i}");
        fired += a.len();
    }
    assert!(fired > 20, "{fired}");
    // The twin's fixture is the native one, so `detectors test --dir` checks the same expectations.
    for f in ["events.jsonl", "expected.jsonl"] {
        assert_eq!(
            std::fs::read(format!("{ROOT}/detectors/tests/failed_login_burst/{f}")).unwrap(),
            std::fs::read(twin_dir().join("tests/failed_login_burst").join(f)).unwrap(),
            "{f}"
        );
    }
}

/// A detectors folder holding only `sigma/rules.yml`.
fn sigma_dir(yaml: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("sigma")).unwrap();
    std::fs::write(d.path().join("sigma/rules.yml"), yaml).unwrap();
    d
}

const FAILED: &str = "title: Failed login\nname: failed\ndetection:\n  a:\n    action: login_failed\n  b:\n    action: login\n    outcome: failure\n  condition: a or b\n";

#[test]
fn a_value_count_twin_of_password_spray_names_the_ip_as_subject() {
    let d = sigma_dir(&format!("{FAILED}---\ntitle: Spray\nname: password_spray\ncorrelation:\n  type: value_count\n  rules: [failed]\n  group-by: [ip]\n  timespan: 10m\n  condition:\n    gte: 10\n    field: user_id\nlevel: high\n"));
    let native = only(
        &PathBuf::from(format!("{ROOT}/detectors")),
        "password_spray",
    );
    let sigma = only(d.path(), "password_spray");
    let mut events = fixture("password_spray");
    events.extend(traffic(5, 2000, 14));
    for (i, order) in orders(&events).iter().enumerate() {
        let (a, b) = (run(native.clone(), order), run(sigma.clone(), order));
        assert!(a.iter().any(|x| x.subject.is_some()), "order {i}");
        assert_eq!(identity(&a), identity(&b), "arrival order {i}");
    }
}

fn at(id: &str, min: u32, user: &str, rest: &str) -> Event {
    event(&format!(
        r#"{{"event_id":"{id}","ts":"2026-01-06T10:{min:02}:00Z","user_id":"{user}",{rest}}}"#
    ))
}

const PAIR: &str = "title: Role granted\nname: granted\ndetection:\n  s:\n    action: permission_change\n  condition: s\n---\ntitle: Big export\nname: big_export\ndetection:\n  s:\n    action: export\n    record_count|gte: 1000\n  condition: s\n";

#[test]
fn temporal_needs_every_rule_and_temporal_ordered_their_order() {
    let grant = |id, m, u| at(id, m, u, r#""action":"permission_change""#);
    let export = |id, m, u, n| {
        at(
            id,
            m,
            u,
            &format!(r#""action":"export","record_count":{n}"#),
        )
    };
    let d = sigma_dir(&format!("{PAIR}---\ntitle: Grant and export\nname: grant_export\ncorrelation:\n  type: temporal\n  rules: [granted, big_export]\n  group-by: [user_id]\n  timespan: 10m\nlevel: high\n"));
    let specs = load_dir(d.path()).unwrap();
    assert_eq!(
        specs.len(),
        1,
        "referenced rules do not alert alone (generate: false)"
    );
    let events = [
        grant("a1", 0, "alice"),      // one rule alone: nothing
        export("b1", 1, "bob", 5000), // bob exports, then is granted 5 minutes later: both
        grant("b2", 6, "bob"),
        export("c1", 0, "carol", 999), // below the detection's bound
        grant("c2", 1, "carol"),
        export("a2", 11, "alice", 2000), // 11 minutes after alice's grant: outside
    ];
    let alerts = run(specs.clone(), &events);
    assert_eq!(
        alerts
            .iter()
            .map(|a| (a.user_id.as_str(), a.evidence_event_ids.clone()))
            .collect::<Vec<_>>(),
        [("bob", vec!["b1".to_owned(), "b2".to_owned()])]
    );
    // Late: alice's grant arrives after her export and is 9 minutes before it.
    let late = [export("a2", 9, "alice", 2000), grant("a1", 0, "alice")];
    assert_eq!(run(specs, &late).len(), 1);

    let d = sigma_dir(&format!("{PAIR}---\ntitle: Grant then export\nname: grant_then_export\ncorrelation:\n  type: temporal_ordered\n  rules: [granted, big_export]\n  group-by: [user_id]\n  timespan: 10m\nlevel: critical\n"));
    let specs = load_dir(d.path()).unwrap();
    let alerts = run(specs.clone(), &events);
    assert!(
        alerts.is_empty(),
        "bob exported before the grant: {alerts:?}"
    );
    let ordered = [grant("d1", 0, "dave"), export("d2", 3, "dave", 1000)];
    let alerts = run(specs.clone(), &ordered);
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].severity.to_string(), "critical");
    // The same two arriving in reverse still happened in order (the alert is the late event's).
    let reversed: Vec<Event> = ordered.iter().rev().cloned().collect();
    let late = run(specs, &reversed);
    assert_eq!(late.len(), 1);
    assert_eq!(late[0].evidence_event_ids, alerts[0].evidence_event_ids);
}

#[test]
fn a_detection_alerts_per_event_and_generate_keeps_referenced_rules_alerting() {
    let d = sigma_dir(&format!("{PAIR}---\ntitle: Pair\nname: pair\ngenerate: true\ncorrelation:\n  type: temporal\n  rules: [granted, big_export]\n  group-by: [user_id]\n  timespan: 10m\n"));
    let specs = load_dir(d.path()).unwrap();
    let mut ids: Vec<&str> = specs.iter().map(|s| s.id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["big_export", "granted", "pair"]);
    let alerts = run(
        specs,
        &[at(
            "x1",
            0,
            "erin",
            r#""action":"export","record_count":1500,"ip":"198.51.100.7""#,
        )],
    );
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].detector, "big_export");
    assert!(
        alerts[0].summary.contains("erin export (1,500 records)")
            && alerts[0].summary.contains("“Big export”"),
        "{}",
        alerts[0].summary
    );
}

#[test]
fn custos_settings_and_lint_problems_name_the_file_and_the_rule() {
    let d = sigma_dir("title: Exports from one address\nname: export_ip\ndetection:\n  s:\n    action: export\n    ip|cidr: 198.51.100.0/24\n  condition: s\nlevel: high\ncustos:\n  response: lock\n  suppress_for: 2h\n  allow_users: [svc]\n");
    let s = &load_dir(d.path()).unwrap()[0];
    assert_eq!(
        (
            s.response.to_string(),
            s.suppress_for.as_secs(),
            s.allow_users.clone()
        ),
        ("lock".to_owned(), 7200, vec!["svc".to_owned()])
    );
    let bad = [
        (
            "detection:\n  s:\n    CommandLine|contains: whoami\n  condition: s\n",
            "`CommandLine` is not a field of custos events",
        ),
        (
            "custos:\n  respond: lock\ndetection:\n  s:\n    action: export\n  condition: s\n",
            "unknown field `respond`",
        ),
        (
            "detection:\n  s:\n    action: export\n  condition: s and t\n",
            "does not compile",
        ),
    ];
    for (body, want) in bad {
        let d = sigma_dir(&format!("title: T\nname: t\n{body}"));
        let err = load_dir(d.path()).unwrap_err().to_string();
        assert!(
            err.contains(want) && err.contains("rules.yml"),
            "{want}: {err}"
        );
    }
    let corr = [
        ("type: event_count\n  rules: [failed]\n  timespan: 10m\n  condition:\n    lte: 3", "condition `lte` is not supported"),
        ("type: event_count\n  rules: [nobody]\n  timespan: 10m\n  condition:\n    gte: 3", "rule `nobody` is not the `id` or `name`"),
        ("type: value_median\n  rules: [failed]\n  timespan: 10m\n  condition:\n    gte: 3\n    field: record_count", "`value_median` is not supported"),
        ("type: event_count\n  rules: [failed]\n  group-by: [User]\n  timespan: 10m\n  condition:\n    gte: 3", "`User` is not a field"),
        ("type: event_count\n  rules: [failed]\n  timespan: 10m\n  window: tumbling\n  condition:\n    gte: 3", "window `tumbling` is not supported"),
    ];
    for (body, want) in corr {
        let d = sigma_dir(&format!(
            "{FAILED}---\ntitle: C\nname: c\ncorrelation:\n  {body}\n"
        ));
        let err = load_dir(d.path()).unwrap_err().to_string();
        assert!(err.contains(want), "{want}: {err}");
    }
    // A document rsigma could not read is a problem, not a silently missing rule.
    let d = sigma_dir(&format!("{FAILED}---\ntitle: No detection\nname: x\n"));
    assert!(load_dir(d.path()).is_err());
    // Another product's rule is skipped with a note; a CRM folder of them loads nothing else.
    let d = sigma_dir("title: Whoami\nid: 1\nlogsource:\n  product: windows\n  category: process_creation\ndetection:\n  s:\n    CommandLine|contains: whoami\n  condition: s\n");
    let (specs, notes) = load_dir_noting(d.path()).unwrap();
    assert!(specs.is_empty());
    assert!(notes[0].contains("product: windows"), "{notes:?}");
    // Ids are unique across TOML and Sigma files.
    std::fs::copy(
        format!("{ROOT}/detectors/failed_login_burst.toml"),
        d.path().join("failed_login_burst.toml"),
    )
    .unwrap();
    std::fs::copy(
        twin_dir().join("sigma/failed_login_burst.yml"),
        d.path().join("sigma/twin.yml"),
    )
    .unwrap();
    let err = load_dir(d.path()).unwrap_err().to_string();
    assert!(
        err.contains("`failed_login_burst` is already defined"),
        "{err}"
    );
}

#[test]
fn a_correlation_window_spanning_a_restart_gives_the_same_alerts_once() {
    let sigma = only(&twin_dir(), "failed_login_burst");
    let events = traffic(23, 2000, 3);
    let whole = run(sigma.clone(), &events);
    let (before, after) = events.split_at(1000);
    let first = run(sigma.clone(), before);
    // The restarted engine rebuilds its windows from the stored events and its suppression from
    // the stored alerts, then reads the rest.
    let mut e = engine(sigma);
    let dir = Directory::default();
    for ev in before {
        e.rehydrate_event(ev, &dir);
    }
    for a in first.clone() {
        e.rehydrate_alert(a);
    }
    let (mut rest, mut out) = (LatestAlerts::default(), Vec::new());
    for ev in after {
        e.on_event(ev, &dir, &mut out);
        rest.absorb(&mut out);
    }
    let mut resumed = first;
    resumed.extend(rest.into_vec());
    assert!(resumed.len() > 5);
    assert_eq!(identity(&resumed), identity(&whole));
}

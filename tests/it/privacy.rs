//! `[privacy]` against the real ClickHouse: a replay whose events and malformed lines carry every
//! kind of identifier in several places leaves none of them in any table of the database; masked
//! values have the documented shape; `hash` tokens equal `custos privacy token`; and the shipped
//! detectors raise the same alerts with privacy on as off.

use crate::common;

use common::*;

const KEY: &str = "a-privacy-key-for-the-test-0123456789";

/// Raw identifiers and where they go.
const PHONE: &str = "13812345678";
const PHONE_DASHED: &str = "139-8765-4321";
const ID: &str = "11010519491231002X";
const CARD: &str = "6222020200001234567";
const VISA: &str = "4111 1111 1111 1111";
const EMAIL: &str = "li.lei@example.com";

fn input(env: &TestEnv) -> std::path::PathBuf {
    let lines = [
        format!(
            r#"{{"event_id":"p1","ts":"2026-01-06T10:00:00Z","user_id":"u1","action":"update","object_type":"contact","user_agent":"CRM-Sync (ops {EMAIL})","attributes":{{"phone":"{PHONE}","note":"call {PHONE_DASHED}, ID {ID}","card":"{CARD}","customer_name":"韩梅梅"}}}}"#
        ),
        format!(
            r#"{{"event_id":"p2","ts":"2026-01-06T10:01:00Z","user_id":"u1","action":"view","attributes":{{"comment":"paid with {VISA}; mail {EMAIL}"}}}}"#
        ),
        // Malformed lines: dead letters keep their bytes, de-identified.
        format!(
            r#"{{"event_id":"p3","ts":"not a time","user_id":"u1","action":"view","attributes":{{"phone":"{PHONE}"}}}}"#
        ),
        format!("{{broken {ID} {EMAIL}"),
    ];
    let p = env.path("pii.jsonl");
    std::fs::write(&p, lines.join("\n")).unwrap();
    p
}

/// Every table of the test's database as text.
fn dump(env: &TestEnv) -> String {
    let tables = env.sql(&format!(
        "SELECT name FROM system.tables WHERE database = '{}'",
        env.db
    ));
    tables
        .lines()
        .map(|t| env.sql(&format!("SELECT * FROM `{t}` FORMAT TSV")))
        .collect::<Vec<_>>()
        .join("\n")
}

fn replay(env: &TestEnv, path: &std::path::Path) {
    let out = env
        .custos(&["replay", "--input", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn no_table_holds_a_raw_identifier_and_masks_have_their_shape() {
    if skip_without_servers() {
        return;
    }
    let env = TestEnv::new(
        &ch_url(),
        &format!("[privacy]\nkey = \"{KEY}\"\n\n[[privacy.field]]\npath = \"attributes.customer_name\"\n"),
    );
    replay(&env, &input(&env));
    assert_eq!(env.u64("SELECT count() FROM events"), 2);
    assert_eq!(env.u64("SELECT count() FROM dead_letters"), 2);
    let all = dump(&env);
    for raw in [
        PHONE,
        "13987654321",
        PHONE_DASHED,
        ID,
        CARD,
        VISA,
        "4111111111111111",
        EMAIL,
        "韩梅梅",
    ] {
        assert!(!all.contains(raw), "{raw} is stored in clear");
    }
    for masked in [
        "138****5678",
        "139****4321",
        "110105********002X",
        "622202*********4567",
        "l***@example.com",
    ] {
        assert!(all.contains(masked), "{masked} in the stored rows");
    }
}

#[test]
fn hash_tokens_equal_the_command_and_find_the_customer() {
    if skip_without_servers() {
        return;
    }
    let env = TestEnv::new(
        &ch_url(),
        &format!("[privacy]\naction = \"hash\"\nkey = \"{KEY}\"\n"),
    );
    replay(&env, &input(&env));
    let token = |v: &str| {
        let out = env.custos(&["privacy", "token", v]).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let phone = token(PHONE);
    assert!(phone.starts_with("hmac:") && phone.len() == 69, "{phone}");
    assert_eq!(token("138 1234 5678"), phone, "one number, one token");
    let stored = env.sql("SELECT attr_values FROM events WHERE event_id = 'p1'");
    assert!(stored.contains(&phone), "{stored}");
    assert!(
        stored.contains(&token(ID)) && stored.contains(&token(CARD)),
        "{stored}"
    );
    assert_eq!(
        env.sql(&format!("SELECT event_id FROM events WHERE arrayExists(v -> position(v, '{phone}') > 0, attr_values)")),
        "p1",
        "the events API's `attribute` filter finds the customer's events"
    );
    // The dead letter's phone is the same token: one search finds both.
    assert!(env.sql("SELECT raw FROM dead_letters").contains(&phone));
    let all = dump(&env);
    assert!(!all.contains(PHONE) && !all.contains(EMAIL) && !all.contains(ID));
}

#[test]
fn detectors_raise_the_same_alerts_with_privacy_on_and_off() {
    if skip_without_servers() {
        return;
    }
    let on = TestEnv::new(&ch_url(), "");
    let off = TestEnv::new(&ch_url(), "[privacy]\nenabled = false\n");
    let (ev, dir) = gen_files(&on, 20_000);
    for env in [&on, &off] {
        replay_files(env, &ev, Some(&dir), &[]);
    }
    let alerts = |env: &TestEnv| {
        env.sql("SELECT alert_id, detector, user_id, severity, summary FROM alerts FINAL ORDER BY alert_id")
    };
    let (a, b) = (alerts(&on), alerts(&off));
    assert!(a.lines().count() >= 3, "{a}");
    assert_eq!(a, b);
}

//! The API's audit trail on the real ClickHouse and real HTTP: rows are stored within a second under
//! steady traffic (the batch no longer waits for a quiet moment), a state change's row is stored
//! before its response, a SIGKILL of `custos api` loses at most the last second, `X-Forwarded-For`
//! counts only from a trusted proxy, and auditors read the trail at `GET /api/v1/audit` (audited too).

use crate::common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// `[[api.tokens]]` for an auditor and an admin, and their tokens.
fn tokens() -> (String, String, String) {
    let mut toml = String::new();
    let mut secrets = Vec::new();
    for role in ["auditor", "admin"] {
        let (token, lines) = custos::api::auth::new_token(&format!("{role}-1"), role).unwrap();
        toml.push_str(&lines);
        toml.push('\n');
        secrets.push(token);
    }
    let admin = secrets.pop().unwrap();
    (toml, secrets.pop().unwrap(), admin)
}

fn get(base: &str, path: &str, token: &str, xff: Option<&str>) -> (u16, Value) {
    let mut r = reqwest::blocking::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(token);
    if let Some(x) = xff {
        r = r.header("x-forwarded-for", x);
    }
    let resp = r.send().unwrap();
    (resp.status().as_u16(), resp.json().unwrap_or(Value::Null))
}

#[test]
fn audit_rows_are_stored_within_a_second_under_steady_traffic_and_a_sigkill_loses_at_most_that() {
    if skip_without_servers() {
        return;
    }
    let (toml, auditor, _) = tokens();
    let env = TestEnv::new(
        &ch_url(),
        &format!("[api]\nlisten = \"127.0.0.1:0\"\n{toml}"),
    );
    let (mut child, base) = env.spawn_api();
    // Steady traffic for 6 s (every 20 ms): the old writer waited for a 200 ms pause that never came.
    let started = Instant::now();
    let mut sent: Vec<Instant> = Vec::new();
    let mut worst_lag = 0usize;
    while started.elapsed() < Duration::from_secs(6) {
        let (st, _) = get(&base, "/api/v1/alerts?limit=1", &auditor, None);
        assert_eq!(st, 200);
        sent.push(Instant::now());
        if sent.len().is_multiple_of(25) {
            let stored = env.u64("SELECT count() FROM api_audit") as usize;
            let due = sent
                .iter()
                .filter(|t| t.elapsed() > Duration::from_millis(1000))
                .count();
            assert!(
                stored >= due,
                "{stored} rows stored, {due} requests older than 1 s"
            );
            worst_lag = worst_lag.max(sent.len() - stored.min(sent.len()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // SIGKILL: every request answered more than a second before it is stored.
    child.kill().unwrap();
    let killed = Instant::now();
    child.wait().unwrap();
    let answered_before = sent
        .iter()
        .filter(|t| killed.duration_since(**t) > Duration::from_secs(1))
        .count();
    let stored = env.u64("SELECT count() FROM api_audit") as usize;
    assert!(
        stored >= answered_before,
        "{stored} rows after SIGKILL, {answered_before} requests answered > 1 s before it"
    );
    assert!(sent.len() > 100, "{} requests", sent.len());
    eprintln!(
        "{} requests, at most {worst_lag} not yet stored at a check",
        sent.len()
    );
}

#[test]
fn state_changes_are_audited_before_the_response_and_the_trail_is_readable() {
    if skip_without_servers() {
        return;
    }
    let (toml, auditor, admin) = tokens();
    let env = TestEnv::new(
        &ch_url(),
        &format!("[api]\nlisten = \"127.0.0.1:0\"\n{toml}"),
    );
    let (mut child, base) = env.spawn_api();
    // A state-changing request (an admin resets the storm breaker): its row is there when it returns.
    let resp = reqwest::blocking::Client::new()
        .post(format!("{base}/api/v1/response/reset-breaker"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"reason": "audit test"}))
        .send()
        .unwrap();
    let status = resp.status().as_u16();
    assert_eq!(status, 200);
    assert_eq!(
        env.u64(&format!(
            "SELECT count() FROM api_audit WHERE route = '/api/v1/response/reset-breaker' AND status = {status} AND token_name = 'admin-1'"
        )),
        1,
        "stored before the response (status {status})"
    );
    // X-Forwarded-For from an untrusted peer is ignored: the TCP peer is recorded.
    get(&base, "/api/v1/alerts", &auditor, Some("203.0.113.9"));
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(
        env.sql("SELECT client FROM api_audit WHERE route = '/api/v1/alerts'"),
        "127.0.0.1"
    );
    // The trail, for auditors: filters, a cursor, and the reading itself audited.
    let (st, page) = get(&base, "/api/v1/audit?token=admin-1", &auditor, None);
    assert_eq!(st, 200, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(page["items"][0]["route"], "/api/v1/response/reset-breaker");
    let (_, all) = get(&base, "/api/v1/audit?limit=1", &auditor, None);
    let next = all["next_cursor"]
        .as_str()
        .expect("a full page has a cursor");
    let (_, second) = get(
        &base,
        &format!("/api/v1/audit?limit=1&cursor={next}"),
        &auditor,
        None,
    );
    assert_ne!(
        all["items"][0]["request_id"],
        second["items"][0]["request_id"]
    );
    let (st, bad) = get(
        &base,
        "/api/v1/audit?since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z",
        &auditor,
        None,
    );
    assert_eq!(st, 400, "{bad}");
    let (st, _) = get(
        &base,
        "/api/v1/audit?since=1960-01-01T00:00:00Z",
        &auditor,
        None,
    );
    assert_eq!(
        st, 400,
        "a time ClickHouse cannot hold is a 400, not a silent wrap"
    );
    std::thread::sleep(Duration::from_millis(1200));
    assert!(env.u64("SELECT count() FROM api_audit WHERE route = '/api/v1/audit'") >= 4);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_trusted_proxy_s_forwarded_for_is_recorded_with_the_peer() {
    if skip_without_servers() {
        return;
    }
    let (toml, auditor, _) = tokens();
    let env = TestEnv::new(
        &ch_url(),
        &format!("[api]\nlisten = \"127.0.0.1:0\"\ntrusted_proxies = [\"127.0.0.0/8\"]\n{toml}"),
    );
    let (mut child, base) = env.spawn_api();
    get(&base, "/api/v1/alerts", &auditor, Some("203.0.113.9"));
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(
        env.sql("SELECT client FROM api_audit WHERE route = '/api/v1/alerts'"),
        "203.0.113.9 via 127.0.0.1"
    );
    // A storage failure reaches the client as a request id, never as ClickHouse's own text.
    env.sql(&format!("DROP DATABASE {}", env.db));
    let resp = reqwest::blocking::Client::new()
        .get(format!("{base}/api/v1/alerts"))
        .bearer_auth(&auditor)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: Value = resp.json().unwrap();
    let msg = body["message"].as_str().unwrap();
    assert!(
        msg.contains(&id) && !msg.contains("Code:") && !msg.contains(&env.db),
        "{msg}"
    );
    assert_eq!(body["error"], "storage_unavailable");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// `serve` whose API address is taken stops, non-zero, naming the address — it does not run on
/// without its API (and its audit trail).
#[test]
fn serve_exits_when_its_api_address_is_taken() {
    if skip_without_servers() {
        return;
    }
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let env = TestEnv::new(
        &ch_url(),
        &format!("[api]\nlisten = \"{addr}\"\n\n[kafka]\nbrokers = \"127.0.0.1:1\"\n"),
    );
    let mut child = env
        .custos(&["serve"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("serve kept running without its API");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success());
    assert!(err.contains(&format!("binding the API to {addr}")), "{err}");
    drop(taken);
}

/// Manual locks pass the rails too: a protected account needs `force` (and the action says it was
/// forced), and manual locks have their own limit per window.
#[test]
fn manual_locks_need_force_for_protected_accounts_and_have_their_own_limit() {
    if skip_without_servers() {
        return;
    }
    let (toml, _, admin) = tokens();
    let env = TestEnv::new(
        &ch_url(),
        &format!("[api]\nlisten = \"127.0.0.1:0\"\n{toml}\n[response]\nactions_topic = \"\"\nprotected_users = [\"ceo\"]\nmax_manual_locks = 2\n"),
    );
    let (mut child, base) = env.spawn_api();
    let lock = |user: &str, force: bool| {
        let resp = reqwest::blocking::Client::new()
            .post(format!("{base}/api/v1/users/{user}/lock"))
            .bearer_auth(&admin)
            .json(&serde_json::json!({"reason": "incident 42", "force": force}))
            .send()
            .unwrap();
        let st = resp.status().as_u16();
        (st, resp.json::<Value>().unwrap_or(Value::Null))
    };
    let (st, body) = lock("ceo", false);
    assert_eq!(st, 409, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("force"),
        "{body}"
    );
    assert_eq!(lock("ceo", true).0, 202);
    assert_eq!(
        env.sql("SELECT reason FROM actions WHERE user_id = 'ceo' AND status = 'manual'"),
        "[forced: protected account] incident 42"
    );
    assert_eq!(lock("bob", false).0, 202);
    let (st, body) = lock("carol", false);
    assert_eq!(st, 409, "the third manual lock in the window: {body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("max_manual_locks"),
        "{body}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

/// A connection that does not finish its headers is closed after `header_read_timeout_secs`, and
/// connections beyond `max_connections` are closed at accept: slow or idle clients cannot hold the
/// API.
#[test]
fn slow_clients_time_out_and_connections_are_capped() {
    if skip_without_servers() {
        return;
    }
    use std::io::{Read, Write};
    let env = TestEnv::new(
        &ch_url(),
        "[api]\nlisten = \"127.0.0.1:0\"\nheader_read_timeout_secs = 1\nmax_connections = 2\n",
    );
    let (mut child, base) = env.spawn_api();
    let addr = base.trim_start_matches("http://").to_owned();
    let closed_within = |s: &mut std::net::TcpStream, within: Duration| {
        s.set_read_timeout(Some(within)).unwrap();
        let mut buf = [0u8; 256];
        let started = Instant::now();
        loop {
            match s.read(&mut buf) {
                Ok(0) => return Some(started.elapsed()),
                Ok(_) => continue, // a 408 or similar before the close
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                    return Some(started.elapsed())
                }
                Err(_) => return None,
            }
        }
    };
    let mut a = std::net::TcpStream::connect(&addr).unwrap();
    a.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap(); // never finished
    let mut b = std::net::TcpStream::connect(&addr).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let mut c = std::net::TcpStream::connect(&addr).unwrap();
    assert!(
        closed_within(&mut c, Duration::from_millis(800)).is_some(),
        "a third connection is refused at the cap of two"
    );
    let t = closed_within(&mut a, Duration::from_secs(3)).expect("half-sent headers time out");
    assert!(t < Duration::from_millis(2500), "{t:?}");
    assert!(
        closed_within(&mut b, Duration::from_secs(3)).is_some(),
        "an idle connection times out"
    );
    // Slots free again: an ordinary request is served.
    let st = reqwest::blocking::get(format!("{base}/healthz"))
        .unwrap()
        .status();
    assert_eq!(st.as_u16(), 200);
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Exports hold a slot: a token may run `max_exports_per_token` at once (a slow one cannot take
/// every ClickHouse query slot); another token still can.
#[test]
fn concurrent_exports_are_capped_per_token() {
    if skip_without_servers() {
        return;
    }
    let (toml, auditor, admin) = tokens();
    let env = replayed(&format!(
        "[api]\nlisten = \"127.0.0.1:0\"\nmax_exports_per_token = 1\n{toml}"
    ));
    let (mut child, base) = env.spawn_api();
    let client = reqwest::blocking::Client::new();
    let export = |token: &str| {
        client
            .get(format!("{base}/api/v1/events?format=ndjson"))
            .bearer_auth(token)
            .send()
            .unwrap()
    };
    // The first export is left unread: it holds its slot.
    let first = export(&auditor);
    assert_eq!(first.status().as_u16(), 200);
    let second = export(&auditor);
    assert_eq!(
        second.status().as_u16(),
        429,
        "a second export of the same token"
    );
    let other = export(&admin);
    assert_eq!(other.status().as_u16(), 200, "another token's export");
    drop(other);
    // Once the first is read to its end (or dropped), the token may export again.
    let n = first.text().unwrap().lines().count();
    assert_eq!(n, 60_000);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(export(&auditor).status().as_u16(), 200);
    child.kill().unwrap();
    child.wait().unwrap();
}

/// A test environment with 60,000 generated events replayed into ClickHouse.
fn replayed(toml: &str) -> TestEnv {
    let env = TestEnv::new(&ch_url(), toml);
    let gen = env
        .custos(&[
            "gen",
            "--count",
            "60000",
            "--events",
            env.path("e.jsonl").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(gen.status.success());
    let replay = env
        .custos(&["replay", "--input", env.path("e.jsonl").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        replay.status.success(),
        "{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    env
}

/// A client that stops reading an export (and keeps the connection open) loses it after
/// `[api] export_send_timeout_secs`: its slot is freed, and what it then reads is cut short with no
/// clean end, so a partial export never looks complete.
#[test]
fn a_stalled_export_frees_its_slot_after_the_send_timeout() {
    if skip_without_servers() {
        return;
    }
    use std::io::{Read, Write};
    let (toml, auditor, _) = tokens();
    let env = replayed(&format!(
        "[api]\nlisten = \"127.0.0.1:0\"\nmax_exports_per_token = 1\nexport_send_timeout_secs = 1\n{toml}"
    ));
    let (mut child, base) = env.spawn_api();
    let addr = base.trim_start_matches("http://");
    let mut stalled = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stalled,
        "GET /api/v1/events?format=ndjson HTTP/1.1\r\nHost: custos\r\nAuthorization: Bearer {auditor}\r\n\r\n"
    )
    .unwrap();
    let client = reqwest::blocking::Client::new();
    let export = || {
        client
            .get(format!("{base}/api/v1/events?format=ndjson"))
            .bearer_auth(&auditor)
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(export(), 429, "the stalled export holds the token's slot");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(export(), 200, "the slot is freed after the send timeout");
    stalled
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut got = Vec::new();
    stalled.read_to_end(&mut got).unwrap();
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("HTTP/1.1 200"),
        "{}",
        &text[..200.min(text.len())]
    );
    assert!(
        !text.ends_with("0\r\n\r\n"),
        "a cut export must not end with the last chunk"
    );
    let rows = text.matches("\"event_id\"").count();
    assert!(rows < 60_000, "the export was cut short: {rows} rows");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Audit rows are searchable as what was asked: the path and query decoded too; a refused request to
/// a closed health route is audited with its route, not as unmatched.
#[test]
fn audit_rows_keep_decoded_paths_and_the_routes_of_refused_requests() {
    if skip_without_servers() {
        return;
    }
    let (toml, auditor, _) = tokens();
    let env = TestEnv::new(
        &ch_url(),
        &format!("[api]\nlisten = \"127.0.0.1:0\"\nopen_health = false\n{toml}"),
    );
    let (mut child, base) = env.spawn_api();
    get(
        &base,
        "/api/v1/users/%75%30%30%30%31/timeline?note=a%20b",
        &auditor,
        None,
    );
    let st = reqwest::blocking::get(format!("{base}/readyz"))
        .unwrap()
        .status();
    assert_eq!(st.as_u16(), 401);
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(
        env.sql("SELECT path_decoded, query_decoded FROM api_audit WHERE route = '/api/v1/users/{user_id}/timeline'"),
        "/api/v1/users/u0001/timeline\tnote=a b"
    );
    assert_eq!(
        env.sql("SELECT route, status FROM api_audit WHERE path = '/readyz'"),
        "/readyz\t401"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Unknown filter values are 400s naming what is allowed, never a silently empty answer.
#[test]
fn unknown_detector_severity_and_status_filters_are_400s_listing_the_allowed_values() {
    if skip_without_servers() {
        return;
    }
    let (toml, auditor, _) = tokens();
    let env = TestEnv::new(
        &ch_url(),
        &format!("[api]\nlisten = \"127.0.0.1:0\"\n{toml}"),
    );
    let (mut child, base) = env.spawn_api();
    let (st, body) = get(&base, "/api/v1/alerts?detector=nope", &auditor, None);
    assert_eq!(st, 400);
    let msg = body["message"].as_str().unwrap();
    assert!(
        msg.contains("bulk_export") && msg.contains("password_spray"),
        "{msg}"
    );
    assert_eq!(
        get(
            &base,
            "/api/v1/alerts?detector=password_spray",
            &auditor,
            None
        )
        .0,
        200
    );
    let (st, body) = get(&base, "/api/v1/alerts?severity=urgent", &auditor, None);
    assert_eq!(st, 400);
    assert!(
        body["message"].as_str().unwrap().contains("critical"),
        "{body}"
    );
    let (st, body) = get(&base, "/api/v1/alerts?status=gone", &auditor, None);
    assert_eq!(st, 400);
    assert!(
        body["message"].as_str().unwrap().contains("false_positive"),
        "{body}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

//! Automated lockouts against the real ClickHouse, a Kafka-protocol broker (mock cluster) and an
//! in-test webhook receiver that verifies the signature and idempotency key and fails the first
//! attempts: the departed-employee scenario ends in exactly one lock, replays send nothing new, dry
//! run sends nothing, protected accounts are skipped, the storm breaker trips and an admin resets it.

use crate::common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::*;

const SECRET: &str = "an-hmac-secret-of-some-length";

#[derive(Default)]
struct Received {
    /// Attempts per idempotency key.
    attempts: HashMap<String, u32>,
    /// Accepted (2xx) deliveries: (key, body).
    accepted: Vec<(String, serde_json::Value)>,
    bad_signatures: u32,
}

/// A webhook receiver on port 0: fails each key's first `fail_first` attempts with 500.
async fn receiver(fail_first: u32) -> (String, Arc<Mutex<Received>>) {
    let got = Arc::new(Mutex::new(Received::default()));
    let g = got.clone();
    let app = axum::Router::new().route(
        "/lock",
        post(move |headers: HeaderMap, body: Bytes| {
            let g = g.clone();
            async move {
                let sig = headers
                    .get("x-custos-signature")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let key = headers
                    .get("idempotency-key")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let ts = headers
                    .get("x-custos-timestamp")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let timed = headers
                    .get("x-custos-signature-timestamped")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let fresh = ts
                    .parse::<u64>()
                    .is_ok_and(|t| custos::time::now_secs() as u64 - t < 300);
                let mut r = g.lock().unwrap();
                if sig != custos::act::dispatch::signature(SECRET.as_bytes(), &body)
                    || !fresh
                    || timed
                        != custos::act::dispatch::timestamped_signature(
                            SECRET.as_bytes(),
                            &ts,
                            &body,
                        )
                {
                    r.bad_signatures += 1;
                    return StatusCode::UNAUTHORIZED;
                }
                let n = r.attempts.entry(key.clone()).or_insert(0);
                *n += 1;
                if *n <= fail_first {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
                assert_eq!(
                    json["action_id"].as_str(),
                    Some(key.as_str()),
                    "Idempotency-Key = action_id"
                );
                r.accepted.push((key, json));
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/lock"), got)
}

fn response_toml(mode: &str, webhook: &str, kafka: &MockKafka, topic: &str, extra: &str) -> String {
    format!(
        "[kafka]\nbrokers = \"{}\"\nalerts_topic = \"\"\n\n[response]\nmode = \"{mode}\"\nactions_topic = \"{topic}\"\nwebhook_url = \"{webhook}\"\nwebhook_secret = \"{SECRET}\"\nretry_initial_ms = 50\nretry_max_ms = 200\nmax_attempts = 5\n{extra}\n",
        kafka.bootstrap()
    )
}

fn replay(env: &TestEnv, events: &str, directory: &str) -> serde_json::Value {
    let (e, d) = (env.path("e.jsonl"), env.path("d.jsonl"));
    std::fs::write(&e, events).unwrap();
    std::fs::write(&d, directory).unwrap();
    let out = env
        .custos(&[
            "replay",
            "--input",
            e.to_str().unwrap(),
            "--directory",
            d.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap()
}

/// A departed employee (terminated at 17:00) logs in at 02:30 and exports 5 × 500 contacts.
fn departed(user: &str) -> (String, String) {
    let dir = format!("{{\"user_id\":\"{user}\",\"status\":\"terminated\",\"effective_ts\":\"2026-01-07T17:00:00Z\"}}\n");
    let mut ev = vec![event(
        &format!("{user}-login"),
        user,
        "2026-01-08T02:30:00Z",
        "login",
        0,
    )];
    for i in 0..5 {
        ev.push(event(
            &format!("{user}-x{i}"),
            user,
            &format!("2026-01-08T02:{:02}:00Z", 35 + i),
            "export",
            500,
        ));
    }
    (ev.join("\n"), dir)
}

fn story(env: &TestEnv, user: &str) -> Vec<String> {
    env.sql(&format!("SELECT action, status, attempts, last_error != '' FROM actions WHERE user_id = '{user}' ORDER BY at_ms")).lines().map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_departed_employee_exporting_at_night_is_locked_exactly_once() {
    if skip_without_servers() {
        return;
    }
    let kafka = MockKafka::new(1);
    let topic = unique_name("actions");
    kafka.create_topic(&topic, 2);
    let (url, got) = receiver(2).await;
    let env = TestEnv::new(
        &ch_url(),
        &response_toml("enforce", &url, &kafka, &topic, ""),
    );
    let (events, dir) = departed("gone");
    let summary = tokio::task::block_in_place(|| replay(&env, &events, &dir));
    assert!(summary["alerts"].as_u64().unwrap() >= 2, "{summary}");

    // Two lock-worthy alerts (orphaned_account, bulk_export), one lock.
    let r = got.lock().unwrap();
    assert_eq!(r.bad_signatures, 0);
    assert_eq!(r.accepted.len(), 1, "one delivery accepted");
    let (key, cmd) = r.accepted[0].clone();
    assert_eq!(
        r.attempts[&key], 3,
        "two 500s, then success: retries proven"
    );
    assert_eq!(
        (
            cmd["action"].as_str(),
            cmd["user_id"].as_str(),
            cmd["tenant"].as_str()
        ),
        (Some("lock_user"), Some("gone"), Some("default"))
    );
    drop(r);
    let msgs = tokio::task::block_in_place(|| {
        consume_all(&kafka.bootstrap(), &topic, 1, Duration::from_secs(15))
    });
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert_eq!(msgs[0].0, "gone");
    let on_kafka: serde_json::Value = serde_json::from_str(&msgs[0].1).unwrap();
    assert_eq!(on_kafka["action_id"].as_str(), Some(key.as_str()));

    // The actions table tells the story: dispatched, two failed attempts, acknowledged; the second
    // alert finds the account already locked.
    let lock = tokio::task::block_in_place(|| {
        env.sql(&format!("SELECT status, attempts, last_error != '' FROM actions WHERE action_id = '{key}' ORDER BY at_ms"))
    });
    assert_eq!(
        lock, "dispatched\t0\t0\ndispatched\t1\t1\ndispatched\t2\t1\nacknowledged\t4\t0",
        "the webhook's two failed attempts (its own count), then kafka 1 + webhook 3 in all"
    );
    let s = tokio::task::block_in_place(|| story(&env, "gone"));
    assert_eq!(s.len(), 5);
    assert_eq!(
        s.iter()
            .filter(|l| *l == "lock_user\tskipped_already_locked\t0\t0")
            .count(),
        1,
        "{s:?}"
    );

    // Replaying the same input dispatches nothing new.
    tokio::task::block_in_place(|| replay(&env, &events, &dir));
    assert_eq!(got.lock().unwrap().accepted.len(), 1);
    assert_eq!(tokio::task::block_in_place(|| story(&env, "gone")).len(), 5);
    assert_eq!(
        tokio::task::block_in_place(|| consume_all(
            &kafka.bootstrap(),
            &topic,
            1,
            Duration::from_secs(5)
        ))
        .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_and_protected_accounts_send_nothing() {
    if skip_without_servers() {
        return;
    }
    let kafka = MockKafka::new(1);
    let topic = unique_name("actions");
    let (url, got) = receiver(0).await;
    let env = TestEnv::new(
        &ch_url(),
        &response_toml(
            "dry_run",
            &url,
            &kafka,
            &topic,
            "protected_users = [\"ceo\"]",
        ),
    );
    let (e1, d1) = departed("gone");
    tokio::task::block_in_place(|| replay(&env, &e1, &d1));
    assert_eq!(
        tokio::task::block_in_place(|| story(&env, "gone"))[0],
        "lock_user\tskipped_dry_run\t0\t0"
    );

    let env2 = TestEnv::new(
        &ch_url(),
        &response_toml(
            "enforce",
            &url,
            &kafka,
            &topic,
            "protected_users = [\"ceo\"]",
        ),
    );
    let (e2, _) = departed("ceo");
    let (e3, _) = departed("cfo");
    let dirs = "{\"user_id\":\"ceo\",\"status\":\"terminated\",\"effective_ts\":\"2026-01-07T17:00:00Z\"}\n{\"user_id\":\"cfo\",\"status\":\"terminated\",\"effective_ts\":\"2026-01-07T17:00:00Z\",\"protected\":true}\n";
    tokio::task::block_in_place(|| replay(&env2, &format!("{e2}\n{e3}"), dirs));
    for user in ["ceo", "cfo"] {
        let s = tokio::task::block_in_place(|| story(&env2, user));
        assert!(
            !s.is_empty() && s.iter().all(|l| l == "lock_user\tskipped_protected\t0\t0"),
            "{user}: {s:?}"
        );
    }
    assert!(got.lock().unwrap().accepted.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_storm_breaker_trips_at_the_limit_and_an_admin_resets_it() {
    if skip_without_servers() {
        return;
    }
    let kafka = MockKafka::new(1);
    let topic = unique_name("actions");
    let (url, got) = receiver(0).await;
    let (token, lines) = custos::api::auth::new_token("root", "admin").unwrap();
    let (auditor, alines) = custos::api::auth::new_token("audit", "auditor").unwrap();
    let env = TestEnv::new(
        &ch_url(),
        &format!(
            "{}\n{lines}\n{alines}\n",
            response_toml(
                "enforce",
                &url,
                &kafka,
                &topic,
                "max_locks = 2\nwindow = \"10m\""
            )
        ),
    );
    // Four departed users → two locks, then the breaker.
    let mut events = Vec::new();
    let mut dirs = String::new();
    for u in ["a1", "a2", "a3", "a4"] {
        let (e, d) = departed(u);
        events.push(e);
        dirs.push_str(&d);
    }
    tokio::task::block_in_place(|| replay(&env, &events.join("\n"), &dirs));
    assert_eq!(got.lock().unwrap().accepted.len(), 2);
    // Each user has two lock-worthy alerts; the second finds the account locked (or the breaker open).
    let statuses = tokio::task::block_in_place(|| {
        env.sql("SELECT user_id, groupArray(st) FROM (SELECT user_id, action_id, argMax(status, at_ms) AS st FROM actions WHERE action = 'lock_user' GROUP BY user_id, action_id ORDER BY user_id, st) GROUP BY user_id ORDER BY user_id")
    });
    assert_eq!(statuses, "a1\t['acknowledged','skipped_already_locked']\na2\t['acknowledged','skipped_already_locked']\na3\t['rate_limited','rate_limited']\na4\t['rate_limited','rate_limited']");
    assert_eq!(
        tokio::task::block_in_place(|| {
            env.u64("SELECT count() FROM alerts FINAL WHERE detector = 'lockout_storm' AND severity = 'critical'")
        }),
        1
    );

    // The admin API: auditors may not touch it; an admin resets the breaker and locks by hand.
    let cfg = custos::config::load(Some(&env.config())).unwrap();
    let store = custos::store::Store::new(&cfg.clickhouse);
    let responder =
        custos::act::Responder::start(&cfg.response, &cfg.kafka, store.clone(), false, false)
            .await
            .unwrap();
    let state =
        custos::api::AppState::new(store, cfg.api.clone(), None, Some(responder.clone())).unwrap();
    let (_t, stop) = custos::shutdown::channel();
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(custos::api::serve(state, "127.0.0.1:0", stop, Some(tx)));
    let base = format!("http://{}", rx.await.unwrap());
    let http = reqwest::Client::new();
    let reset = format!("{base}/api/v1/response/reset-breaker");
    let r = http
        .post(&reset)
        .bearer_auth(&auditor)
        .json(&serde_json::json!({"reason": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = http
        .post(&reset)
        .bearer_auth(&token)
        .json(&serde_json::json!({"reason": "storm investigated: HR bulk offboarding"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // After the reset, the next automatic lock goes out again.
    let (e5, d5) = departed("a5");
    tokio::task::block_in_place(|| replay(&env, &e5, &d5));
    let a5 = tokio::task::block_in_place(|| story(&env, "a5"));
    assert!(
        a5.contains(&"lock_user\tacknowledged\t2\t0".to_owned()),
        "kafka + webhook: {a5:?}"
    );
    // Manual lock and unlock, and the actions list.
    let r = http
        .post(format!("{base}/api/v1/users/bob/lock"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"reason": "phishing victim"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    responder.drain(Duration::from_secs(5)).await;
    let r = http
        .post(format!("{base}/api/v1/users/bob/unlock"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"reason": "password reset"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    responder.drain(Duration::from_secs(5)).await;
    let page: serde_json::Value = http
        .get(format!("{base}/api/v1/actions?user_id=bob"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(
        items
            .iter()
            .all(|a| a["status"] == "acknowledged" && a["actor"] == "root"),
        "{page}"
    );
    let all: serde_json::Value = http
        .get(format!("{base}/api/v1/actions?action=breaker_trip"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 1);
    // Auditors read the lock history (they cannot lock, unlock or reset).
    assert_eq!(
        http.get(format!("{base}/api/v1/actions"))
            .bearer_auth(&auditor)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        http.get(format!("{base}/api/v1/actions"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

/// A webhook that answers with a redirect never counts as delivered: redirects are not followed
/// (a 301 would turn the POST into a body-less GET, a 307 re-send the signed body elsewhere).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirecting_webhook_is_a_failed_delivery_and_is_not_followed() {
    if skip_without_servers() {
        return;
    }
    let followed = Arc::new(Mutex::new(0u32));
    let f = followed.clone();
    let app = axum::Router::new()
        .route(
            "/lock",
            post(|| async {
                (
                    StatusCode::MOVED_PERMANENTLY,
                    [(axum::http::header::LOCATION, "/elsewhere")],
                )
            }),
        )
        .route(
            "/elsewhere",
            axum::routing::any(move || {
                let f = f.clone();
                async move {
                    *f.lock().unwrap() += 1;
                    StatusCode::OK
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/lock", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let kafka = MockKafka::new(1);
    let env = TestEnv::new(
        &ch_url(),
        &response_toml("enforce", &url, &kafka, "", "")
            .replace("max_attempts = 5", "max_attempts = 2"),
    );
    let (events, dir) = departed("moved");
    tokio::task::block_in_place(|| replay(&env, &events, &dir));
    assert_eq!(*followed.lock().unwrap(), 0, "the redirect was followed");
    let s = tokio::task::block_in_place(|| {
        env.sql("SELECT status, last_error FROM actions WHERE user_id = 'moved' AND action = 'lock_user' ORDER BY at_ms")
    });
    assert!(!s.contains("acknowledged"), "{s}");
    assert!(s.contains("failed") && s.contains("301"), "{s}");
}

/// The channels are independent: with Kafka unreachable (its sends retrying for a long while), the
/// webhook still delivers the lock at once, and the recorded outcome names each channel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_kafka_never_delays_the_webhook() {
    if skip_without_servers() {
        return;
    }
    let (url, got) = receiver(0).await;
    let env = TestEnv::new(
        &ch_url(),
        &format!(
            "[kafka]\nbrokers = \"127.0.0.1:1\"\nalerts_topic = \"\"\n\n[response]\nmode = \"enforce\"\nactions_topic = \"dead.actions\"\nwebhook_url = \"{url}\"\nwebhook_secret = \"{SECRET}\"\nretry_initial_ms = 50\nretry_max_ms = 100\nmax_attempts = 2\n"
        ),
    );
    let (events, dir) = departed("unreachable");
    let started = std::time::Instant::now();
    let env2 = &env;
    let replay_done = tokio::task::spawn_blocking({
        let (e, d) = (env2.path("e.jsonl"), env2.path("d.jsonl"));
        std::fs::write(&e, &events).unwrap();
        std::fs::write(&d, &dir).unwrap();
        let cmd = env2.custos(&[
            "replay",
            "--input",
            e.to_str().unwrap(),
            "--directory",
            d.to_str().unwrap(),
        ]);
        move || {
            let mut cmd = cmd;
            cmd.output().unwrap()
        }
    });
    // The webhook has the lock long before Kafka's sends give up.
    let deadline = started + Duration::from_secs(8);
    while got.lock().unwrap().accepted.is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let waited = started.elapsed();
    assert_eq!(
        got.lock().unwrap().accepted.len(),
        1,
        "webhook delivery within 8 s"
    );
    let out = replay_done.await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = tokio::task::block_in_place(|| {
        env.sql("SELECT status, last_error FROM actions WHERE user_id = 'unreachable' AND action = 'lock_user' AND status IN ('dispatched', 'acknowledged', 'failed') ORDER BY at_ms DESC LIMIT 1")
    });
    assert!(
        last.contains("webhook: acknowledged") || last.starts_with("dispatched"),
        "each channel's outcome, or still in flight at the end of replay: {last} (webhook after {waited:?})"
    );
}

/// Two instances deciding the same lock alerts at the same moment (a handover) dispatch each lock
/// once: both record a decision, the earliest stands, and only its instance sends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_deciding_the_same_alerts_dispatch_each_lock_once() {
    if skip_without_servers() {
        return;
    }
    use custos::config::{ClickHouseConfig, KafkaConfig, Mode, ResponseConfig, Secret};
    use custos::model::{Alert, AlertStatus, Response, Severity};
    let (url, got) = receiver(0).await;
    let env = TestEnv::new(&ch_url(), "");
    let store = custos::store::Store::new(&ClickHouseConfig {
        url: env.url.clone(),
        database: env.db.clone(),
        ..Default::default()
    });
    custos::store::migrate::migrate(&store, true).await.unwrap();
    let cfg = ResponseConfig {
        mode: Mode::Enforce,
        actions_topic: String::new(),
        webhook_url: url,
        webhook_secret: Secret::new(SECRET),
        retry_initial_ms: 50,
        retry_max_ms: 100,
        max_attempts: 3,
        max_locks: 100,
        ..ResponseConfig::default()
    };
    let kafka = KafkaConfig::default();
    let one = custos::act::Responder::start(&cfg, &kafka, store.clone(), false, false)
        .await
        .unwrap();
    let two = custos::act::Responder::start(&cfg, &kafka, store.clone(), false, false)
        .await
        .unwrap();
    for i in 0..8 {
        let alert = Alert {
            alert_id: format!("handover-{i}"),
            detector: "orphaned_account".into(),
            severity: Severity::Critical,
            tenant: "default".into(),
            user_id: format!("gone{i}"),
            ts: chrono::Utc::now(),
            summary: "departed".into(),
            evidence_event_ids: vec![format!("e{i}")],
            details: serde_json::json!({}),
            response: Response::Lock,
            status: AlertStatus::Open,
            version: 1,
            subject: None,
        };
        let row = custos::store::alerts::AlertRow::new(&alert, custos::time::now_secs());
        tokio::join!(one.submit(row.clone()), two.submit(row));
    }
    one.drain(Duration::from_secs(15)).await;
    two.drain(Duration::from_secs(15)).await;
    let r = got.lock().unwrap();
    assert_eq!(r.accepted.len(), 8, "one lock per alert: {:?}", r.attempts);
    assert!(r.attempts.values().all(|n| *n == 1), "{:?}", r.attempts);
}

/// The next start resumes a dispatch a dead instance left in flight — once — and leaves alone one a
/// live instance recorded moments ago (it may still be sending it: resuming would send it twice).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_resumes_orphaned_dispatches_and_not_live_ones() {
    if skip_without_servers() {
        return;
    }
    let (url, got) = receiver(0).await;
    let env = TestEnv::new(
        &ch_url(),
        &format!(
            "[kafka]\nalerts_topic = \"\"\n\n[response]\nmode = \"enforce\"\nactions_topic = \"\"\nwebhook_url = \"{url}\"\nwebhook_secret = \"{SECRET}\"\nretry_initial_ms = 50\nretry_max_ms = 200\nwebhook_timeout_ms = 2000\n"
        ),
    );
    let env = tokio::task::spawn_blocking(move || {
        let out = env.custos(&["migrate"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        // Left `dispatched` by a process that died a minute ago, and by a live one just now (the
        // lease here is 200 ms backoff + 10 s Kafka bound + 5 s).
        let now = custos::time::now_ms();
        for (id, at_ms) in [("orphaned-1", now - 60_000), ("in-flight-1", now - 1_000)] {
            env.sql(&format!(
                "INSERT INTO actions VALUES ('{id}', 'lock_user', '', 'u-{id}', 'alert-{id}', 'test', 'dispatched', 'enforce', 'webhook', 0, '', 'custos:test@dead', toDateTime({s}), toDateTime({s}), {at_ms})",
                s = at_ms / 1000
            ));
        }
        let empty = env.path("empty.jsonl");
        std::fs::write(&empty, "").unwrap();
        let out = env
            .custos(&["replay", "--input", empty.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        env
    })
    .await
    .unwrap();
    let keys: Vec<String> = got
        .lock()
        .unwrap()
        .accepted
        .iter()
        .map(|(k, _)| k.clone())
        .collect();
    assert_eq!(keys, ["orphaned-1"], "only the orphan is resumed, once");
    let states = tokio::task::block_in_place(|| {
        env.sql("SELECT action_id, argMax(status, at_ms) FROM actions GROUP BY action_id ORDER BY action_id")
    });
    assert_eq!(states, "in-flight-1\tdispatched\norphaned-1\tacknowledged");
}

//! The query API against the real ClickHouse (a database per test), served in-process on port 0:
//! the authorization matrix, keyset pagination while inserts continue, a streamed 100k-event CSV export
//! with bounded memory, status changes with history, 400s, `api_audit` rows, and the OpenAPI document.

use crate::common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use custos::api::{auth::new_token, AppState};
use custos::config::{ApiConfig, ApiToken, ClickHouseConfig};
use custos::store::Store;
use reqwest::StatusCode;
use serde_json::Value;

struct Api {
    base: String,
    state: AppState,
    auditor: String,
    analyst: String,
    admin: String,
    http: reqwest::Client,
    _stop: custos::shutdown::Trigger,
}

fn store(env: &TestEnv) -> Store {
    Store::new(&ClickHouseConfig {
        url: env.url.clone(),
        database: env.db.clone(),
        ..Default::default()
    })
}

async fn start(env: &TestEnv) -> Api {
    let mut tokens = Vec::new();
    let mut secrets = Vec::new();
    for role in ["auditor", "analyst", "admin"] {
        let (token, lines) = new_token(&format!("{role}-1"), role).unwrap();
        let sha = lines
            .lines()
            .last()
            .unwrap()
            .split('"')
            .nth(1)
            .unwrap()
            .to_owned();
        tokens.push(ApiToken {
            name: format!("{role}-1"),
            role: role.parse().unwrap(),
            sha256: sha,
        });
        secrets.push(token);
    }
    let store = store(env);
    custos::store::migrate::migrate(&store, true).await.unwrap();
    let cfg = ApiConfig {
        tokens,
        listen: "127.0.0.1:0".into(),
        ..ApiConfig::default()
    };
    let state = AppState::new(store, cfg, None, None).unwrap();
    let (trigger, stop) = custos::shutdown::channel();
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(custos::api::serve(
        state.clone(),
        "127.0.0.1:0",
        stop,
        Some(tx),
    ));
    let addr = rx.await.unwrap();
    let mut s = secrets.into_iter();
    Api {
        base: format!("http://{addr}"),
        state,
        auditor: s.next().unwrap(),
        analyst: s.next().unwrap(),
        admin: s.next().unwrap(),
        http: reqwest::Client::new(),
        _stop: trigger,
    }
}

impl Api {
    async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut r = self.http.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        let mut r = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

/// Generated traffic (with its planted incidents) replayed into the test's database.
fn load(env: &TestEnv, count: u32) {
    let (ev, dir) = (env.path("ev.jsonl"), env.path("dir.jsonl"));
    let c = count.to_string();
    assert!(env
        .custos(&[
            "gen",
            "--count",
            &c,
            "--events",
            ev.to_str().unwrap(),
            "--directory",
            dir.to_str().unwrap()
        ])
        .status()
        .unwrap()
        .success());
    let out = env
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
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_checks_token_and_role() {
    if skip_without_servers() {
        return;
    }
    let env = TestEnv::new(&ch_url(), "");
    tokio::task::block_in_place(|| load(&env, 20_000));
    let api = start(&env).await;
    let (_, page) = api.get("/api/v1/alerts?limit=1", Some(&api.auditor)).await;
    let alert = page["items"][0]["alert_id"].as_str().unwrap().to_owned();
    let gets = [
        "/api/v1/alerts".to_owned(),
        format!("/api/v1/alerts/{alert}"),
        "/api/v1/events?limit=5".into(),
        "/api/v1/users/u00002/timeline".into(),
        "/api/v1/stats?since=2026-01-01T00:00:00Z&until=2026-02-01T00:00:00Z".into(),
        "/api/v1/openapi.json".into(),
        // Auditors read the lock history too.
        "/api/v1/actions".into(),
    ];
    let mut requests = 1;
    for path in &gets {
        assert_eq!(
            api.get(path, None).await.0,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
        let (st, body) = api.get(path, Some("cst_not_a_token")).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(body["error"], "unauthorized");
        for t in [&api.auditor, &api.analyst, &api.admin] {
            let (st, body) = api.get(path, Some(t)).await;
            assert_eq!(st, StatusCode::OK, "{path}: {body}");
        }
        requests += 5;
    }
    let status = format!("/api/v1/alerts/{alert}/status");
    let body = serde_json::json!({"status": "acknowledged", "note": "looking"});
    assert_eq!(
        api.post(&status, None, body.clone()).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (st, err) = api.post(&status, Some(&api.auditor), body.clone()).await;
    assert_eq!(
        (st, err["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    assert_eq!(
        api.post(&status, Some(&api.analyst), body.clone()).await.0,
        StatusCode::OK
    );
    assert_eq!(
        api.post(&status, Some(&api.admin), body).await.0,
        StatusCode::OK
    );
    requests += 4;
    // Health and metrics are open by default.
    assert_eq!(api.get("/healthz", None).await.0, StatusCode::OK);
    let (st, ready) = api.get("/readyz", None).await;
    assert_eq!(
        (st, ready["clickhouse"].as_bool()),
        (StatusCode::OK, Some(true))
    );
    requests += 1;
    let metrics = api
        .http
        .get(format!("{}/metrics", api.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("custos_api_requests_total"), "{metrics}");
    requests += 2;

    // One api_audit row per request, with who, what and the outcome.
    api.state.audit.flush().await;
    let env2 = &env;
    let (count, forbidden) = tokio::task::block_in_place(|| {
        (
            env2.u64("SELECT count() FROM api_audit"),
            env2.sql(
                "SELECT token_name, role, method, route, status FROM api_audit WHERE status = 403",
            ),
        )
    });
    assert_eq!(count, requests);
    assert_eq!(
        forbidden,
        "auditor-1\tauditor\tPOST\t/api/v1/alerts/{alert_id}/status\t403"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagination_neither_skips_nor_repeats_while_inserts_continue() {
    if skip_without_servers() {
        return;
    }
    let env = TestEnv::new(&ch_url(), "");
    let lines: Vec<String> = (0..3000)
        .map(|i| {
            event(
                &format!("p{i:05}"),
                &format!("u{}", i % 9),
                &format!(
                    "2026-01-06T{:02}:{:02}:{:02}.{:03}Z",
                    i / 3600 + 1,
                    (i / 60) % 60,
                    i % 60,
                    i % 7
                ),
                "view",
                1,
            )
        })
        .collect();
    std::fs::write(env.path("a.jsonl"), lines.join("\n")).unwrap();
    tokio::task::block_in_place(|| {
        assert!(env
            .custos(&["replay", "--input", env.path("a.jsonl").to_str().unwrap()])
            .status()
            .unwrap()
            .success())
    });
    let api = start(&env).await;

    // Meanwhile, new events keep arriving (newer and older than the pages being read).
    let writer = {
        let env_path = env.path("b.jsonl");
        let cfg = env.config();
        tokio::task::spawn_blocking(move || {
            for round in 0..5 {
                let more: Vec<String> = (0..200)
                    .map(|i| {
                        event(
                            &format!("n{round}-{i}"),
                            "u1",
                            if i % 2 == 0 {
                                "2026-01-07T00:00:00Z"
                            } else {
                                "2026-01-05T00:00:00Z"
                            },
                            "view",
                            1,
                        )
                    })
                    .collect();
                std::fs::write(&env_path, more.join("\n")).unwrap();
                let st = std::process::Command::new(CUSTOS)
                    .args([
                        "--config",
                        cfg.to_str().unwrap(),
                        "replay",
                        "--input",
                        env_path.to_str().unwrap(),
                    ])
                    .output()
                    .unwrap();
                assert!(st.status.success());
            }
        })
    };
    let mut seen = Vec::new();
    let mut path = "/api/v1/events?limit=17&user_id=u1".to_owned();
    {
        let (st, mut page) = api.get(&path, Some(&api.auditor)).await;
        assert_eq!(st, StatusCode::OK);
        loop {
            for it in page["items"].as_array().unwrap() {
                seen.push(it["event_id"].as_str().unwrap().to_owned());
            }
            let Some(c) = page["next_cursor"].as_str() else {
                break;
            };
            path = format!("/api/v1/events?limit=17&user_id=u1&cursor={c}");
            page = api.get(&path, Some(&api.auditor)).await.1;
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
    }
    writer.await.unwrap();
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "a row was repeated");
    // Every original u1 event is there (older inserted rows may legitimately appear too).
    let originals: Vec<String> = (0..3000)
        .filter(|i| i % 9 == 1)
        .map(|i| format!("p{i:05}"))
        .collect();
    for id in &originals {
        assert!(unique.contains(id), "{id} skipped");
    }
    // Rows newer than the first page never appear mid-walk; older ones may (they sort after the cursor).
    let newer_joined: Vec<&String> = seen
        .iter()
        .filter(|id| {
            id.starts_with('n') && id.rsplit('-').next().unwrap().parse::<u32>().unwrap() % 2 == 0
        })
        .collect();
    assert!(newer_joined.is_empty(), "{newer_joined:?}");
    assert!(
        seen.iter().any(|id| id.starts_with('n')),
        "the walk overlapped the inserts"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_changes_are_kept_with_who_and_when_and_bad_input_is_a_400() {
    if skip_without_servers() {
        return;
    }
    let env = TestEnv::new(&ch_url(), "");
    tokio::task::block_in_place(|| load(&env, 20_000));
    let api = start(&env).await;
    let (_, page) = api
        .get(
            "/api/v1/alerts?detector=bulk_export&user_id=u00002",
            Some(&api.auditor),
        )
        .await;
    let id = page["items"][0]["alert_id"].as_str().unwrap().to_owned();
    assert_eq!(page["items"][0]["status"], "open");
    let path = format!("/api/v1/alerts/{id}/status");
    api.post(
        &path,
        Some(&api.analyst),
        serde_json::json!({"status": "acknowledged", "note": "calling the manager"}),
    )
    .await;
    let (st, detail) = api
        .post(
            &path,
            Some(&api.admin),
            serde_json::json!({"status": "resolved"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{detail}");
    assert_eq!(detail["status"], "resolved");
    let hist = detail["history"].as_array().unwrap();
    assert_eq!(hist.len(), 2);
    assert_eq!(
        (
            hist[0]["status"].as_str(),
            hist[0]["actor"].as_str(),
            hist[0]["note"].as_str()
        ),
        (
            Some("acknowledged"),
            Some("analyst-1"),
            Some("calling the manager")
        )
    );
    assert_eq!(hist[1]["actor"], "admin-1");
    assert!(!detail["evidence"].as_array().unwrap().is_empty());
    let ids = |v: &Value| {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["alert_id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert!(ids(&api
        .get("/api/v1/alerts?status=resolved", Some(&api.auditor))
        .await
        .1)
    .contains(&id));
    assert!(!ids(&api
        .get("/api/v1/alerts?status=open", Some(&api.auditor))
        .await
        .1)
    .contains(&id));

    for (path, needle) in [
        ("/api/v1/events?since=yesterday", "since"),
        ("/api/v1/events?colour=red", "colour"),
        ("/api/v1/events?limit=0", "limit"),
        ("/api/v1/events?limit=1001", "limit"),
        ("/api/v1/alerts?cursor=nonsense", "cursor"),
        ("/api/v1/alerts?severity=urgent", "severity"),
        ("/api/v1/events?format=xml", "format"),
        (
            "/api/v1/stats?since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z",
            "since",
        ),
    ] {
        let (st, body) = api.get(path, Some(&api.auditor)).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{path}");
        assert!(
            body["message"].as_str().unwrap().contains(needle),
            "{path}: {body}"
        );
    }
    let (st, body) = api
        .post(
            &path,
            Some(&api.analyst),
            serde_json::json!({"status": "maybe"}),
        )
        .await;
    assert_eq!(
        (st, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_request"))
    );
    assert_eq!(
        api.post(
            "/api/v1/alerts/nope/status",
            Some(&api.analyst),
            serde_json::json!({"status": "resolved"})
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    // The user's timeline: directory versions, events and the alert, in time order.
    let (st, tl) = api
        .get(
            "/api/v1/users/u00002/timeline?limit=5000",
            Some(&api.auditor),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(tl["directory"][0]["status"], "active");
    let items = tl["items"].as_array().unwrap();
    assert!(items
        .iter()
        .any(|i| i["kind"] == "alert" && i["detector"] == "bulk_export"));
    assert!(items.iter().filter(|i| i["kind"] == "event").count() > 10);
    assert!(items
        .windows(2)
        .all(|w| w[0]["ts"].as_str() <= w[1]["ts"].as_str()));
    let (_, stats) = api
        .get(
            "/api/v1/stats?since=2026-01-01T00:00:00Z&until=2026-03-01T00:00:00Z",
            Some(&api.auditor),
        )
        .await;
    let per_day: u64 = stats["events_per_day"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["events"].as_u64().unwrap())
        .sum();
    assert_eq!(
        per_day,
        tokio::task::block_in_place(|| env.u64("SELECT uniqExact(event_id) FROM events"))
    );
    assert!(stats["alerts_per_day"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["detector"] == "orphaned_account"));
    // NDJSON export: the whole result, one object per line.
    let resp = api
        .http
        .get(format!(
            "{}/api/v1/events?format=ndjson&user_id=u00002",
            api.base
        ))
        .bearer_auth(&api.auditor)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "application/x-ndjson");
    let text = resp.text().await.unwrap();
    let rows: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        rows.len() as u64,
        tokio::task::block_in_place(
            || env.u64("SELECT uniqExact(event_id) FROM events WHERE user_id = 'u00002'")
        )
    );
    assert!(rows
        .iter()
        .all(|r| r["user_id"] == "u00002" && r["ts"].as_str().unwrap().ends_with('Z')));
    // Injection attempts are just values.
    let (st, body) = api
        .get(
            "/api/v1/events?user_id=x'%20OR%201=1%20--",
            Some(&api.auditor),
        )
        .await;
    assert_eq!(
        (st, body["items"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(0))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_covers_every_route() {
    if skip_without_servers() {
        return;
    }
    let env = TestEnv::new(&ch_url(), "");
    let api = start(&env).await;
    let (st, doc) = api.get("/api/v1/openapi.json", Some(&api.auditor)).await;
    assert_eq!(st, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for (p, m) in [
        ("/api/v1/alerts", "get"),
        ("/api/v1/alerts/{alert_id}", "get"),
        ("/api/v1/alerts/{alert_id}/status", "post"),
        ("/api/v1/events", "get"),
        ("/api/v1/users/{user_id}/timeline", "get"),
        ("/api/v1/stats", "get"),
        ("/api/v1/openapi.json", "get"),
        ("/api/v1/audit", "get"),
        ("/api/v1/dead_letters", "get"),
    ] {
        let op = &paths[p][m];
        assert!(op.is_object(), "{p} {m} missing");
        assert!(
            op["security"].is_array() && op["responses"]["200"].is_object(),
            "{p}"
        );
    }
    for (p, m) in [
        ("/api/v1/users/{user_id}/lock", "post"),
        ("/api/v1/users/{user_id}/unlock", "post"),
        ("/api/v1/actions", "get"),
        ("/api/v1/response/reset-breaker", "post"),
    ] {
        assert!(paths[p][m].is_object(), "{p} {m} missing");
    }
    assert_eq!(paths.len(), 13);
    for (p, item) in paths {
        for (m, op) in item.as_object().unwrap() {
            for code in ["401", "403"] {
                assert!(
                    op["responses"][code].is_object(),
                    "{m} {p} does not document {code}"
                );
            }
        }
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    for schema in [
        "AlertPage",
        "AlertDetail",
        "EventPage",
        "Timeline",
        "Stats",
        "ErrorBody",
        "StatusRequest",
    ] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_export_audits_its_exact_row_count_with_newlines_and_quotes_in_fields() {
    if skip_without_servers() {
        return;
    }
    let env = TestEnv::new(&ch_url(), "");
    let lines = [
        r#"{"event_id":"nl-1","user_id":"u1","action":"export","ts":"2026-01-06T10:00:00Z","user_agent":"Mozilla/5.0\nInjected: \"x\"\r\n"}"#,
        r#"{"event_id":"nl-2","user_id":"u1","action":"view","ts":"2026-01-06T10:01:00Z","attributes":{"note":"two\nlines"}}"#,
        r#"{"event_id":"nl-3","user_id":"u1","action":"view","ts":"2026-01-06T10:02:00Z"}"#,
    ];
    std::fs::write(env.path("nl.jsonl"), lines.join("\n")).unwrap();
    let ok = tokio::task::block_in_place(|| {
        env.custos(&["replay", "--input", env.path("nl.jsonl").to_str().unwrap()])
            .status()
            .unwrap()
            .success()
    });
    assert!(ok);
    let api = start(&env).await;
    let resp = api
        .http
        .get(format!("{}/api/v1/events?format=csv&user_id=u1", api.base))
        .bearer_auth(&api.auditor)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let text = resp.text().await.unwrap();
    assert!(text.contains("Mozilla/5.0\nInjected: \"\"x\"\""), "{text}");
    api.state.audit.flush().await;
    let rows = tokio::task::block_in_place(|| {
        env.sql("SELECT rows FROM api_audit WHERE route = '/api/v1/events'")
    });
    assert_eq!(rows, "3", "the audit row counts records, not newlines");
}

/// Cells that a spreadsheet would run as formulas come out neutralised (a leading `'`), read back
/// with Python's own csv module; ordinary values, numbers and negative-looking text elsewhere stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_exports_neutralise_formula_cells() {
    if skip_without_servers() {
        return;
    }
    let env = TestEnv::new(&ch_url(), "");
    let lines = [
        r#"{"event_id":"f-1","user_id":"=HYPERLINK(\"http://x\")","action":"export","ts":"2026-01-06T10:00:00Z","record_count":5,"user_agent":"+cmd|' /C calc'!A0"}"#,
        r#"{"event_id":"f-2","user_id":"@SUM(1)","action":"-2+3","ts":"2026-01-06T10:01:00Z","session_id":"\tlead","object_type":"\rcr"}"#,
        r#"{"event_id":"f-3","user_id":"plain","action":"view","ts":"2026-01-06T10:02:00Z","user_agent":"a=b-c"}"#,
    ];
    std::fs::write(env.path("f.jsonl"), lines.join("\n")).unwrap();
    let ok = tokio::task::block_in_place(|| {
        env.custos(&["replay", "--input", env.path("f.jsonl").to_str().unwrap()])
            .status()
            .unwrap()
            .success()
    });
    assert!(ok);
    let api = start(&env).await;
    let csv = api
        .http
        .get(format!("{}/api/v1/events?format=csv", api.base))
        .bearer_auth(&api.auditor)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    std::fs::write(env.path("x.csv"), &csv).unwrap();
    let script = "import csv,json,sys\nrows=list(csv.DictReader(open(sys.argv[1],newline='')))\nprint(json.dumps(rows))";
    let out = std::process::Command::new("python3")
        .args(["-c", script, env.path("x.csv").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<serde_json::Map<String, Value>> = serde_json::from_slice(&out.stdout).unwrap();
    let by = |id: &str| rows.iter().find(|r| r["event_id"] == id).unwrap().clone();
    let (f1, f2, f3) = (by("f-1"), by("f-2"), by("f-3"));
    assert_eq!(f1["user_id"], "'=HYPERLINK(\"http://x\")");
    assert_eq!(f1["user_agent"], "'+cmd|' /C calc'!A0");
    assert_eq!(f1["record_count"], "5", "numbers stay numbers");
    assert_eq!(f2["user_id"], "'@SUM(1)");
    assert_eq!(f2["action"], "'-2+3");
    assert_eq!(f2["session_id"], "'\tlead");
    assert_eq!(f2["object_type"], "'\rcr");
    assert_eq!(f3["user_id"], "plain");
    assert_eq!(
        f3["user_agent"], "a=b-c",
        "only a leading character is neutralised"
    );
    for r in &rows {
        for (k, v) in r {
            let v = v.as_str().unwrap_or_default();
            assert!(
                !v.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "{k} = {v:?} would run as a formula"
            );
        }
    }
}

/// One field encoding for the JSON list, NDJSON and CSV: the same values row by row — numbers as
/// numbers, RFC 3339 times, attributes an object (JSON text in CSV), null as an empty CSV cell.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_ndjson_and_csv_exports_encode_every_field_the_same_way() {
    if skip_without_servers() {
        return;
    }
    let env = TestEnv::new(&ch_url(), "");
    let lines = [
        r#"{"event_id":"e-1","user_id":"u","action":"export","ts":"2026-01-06T10:00:00.250Z","record_count":9007199254740993,"ip":"81.2.69.142","attributes":{"report":"q4","note":"a,b \"c\""}}"#,
        r#"{"event_id":"e-2","user_id":"u","action":"view","ts":"2026-01-06T10:01:00Z"}"#,
    ];
    std::fs::write(env.path("e.jsonl"), lines.join("\n")).unwrap();
    let ok = tokio::task::block_in_place(|| {
        env.custos(&["replay", "--input", env.path("e.jsonl").to_str().unwrap()])
            .status()
            .unwrap()
            .success()
    });
    assert!(ok);
    let api = start(&env).await;
    let (_, page) = api
        .get("/api/v1/events?user_id=u", Some(&api.auditor))
        .await;
    let fetch = |format: &'static str| {
        let (http, base, token) = (api.http.clone(), api.base.clone(), api.auditor.clone());
        async move {
            http.get(format!("{base}/api/v1/events?user_id=u&format={format}"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let ndjson: Vec<Value> = fetch("ndjson")
        .await
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let csv = fetch("csv").await;
    std::fs::write(env.path("e.csv"), &csv).unwrap();
    let script = "import csv,json,sys\nprint(json.dumps(list(csv.DictReader(open(sys.argv[1],newline='')))))";
    let out = std::process::Command::new("python3")
        .args(["-c", script, env.path("e.csv").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv_rows: Vec<serde_json::Map<String, Value>> =
        serde_json::from_slice(&out.stdout).unwrap();
    let items = page["items"].as_array().unwrap();
    assert_eq!((items.len(), ndjson.len(), csv_rows.len()), (2, 2, 2));
    for nd in &ndjson {
        let id = nd["event_id"].as_str().unwrap();
        let js = items.iter().find(|i| i["event_id"] == id).unwrap();
        assert_eq!(js, nd, "JSON list and NDJSON agree for {id}");
        let row = csv_rows.iter().find(|r| r["event_id"] == id).unwrap();
        for (k, v) in nd.as_object().unwrap() {
            let cell = row[k].as_str().unwrap();
            match v {
                Value::Null => assert_eq!(cell, "", "{id} {k}"),
                Value::String(s) => assert_eq!(cell, s, "{id} {k}"),
                Value::Number(n) => assert_eq!(cell, n.to_string(), "{id} {k}"),
                Value::Bool(b) => assert_eq!(cell, b.to_string(), "{id} {k}"),
                other => assert_eq!(
                    &serde_json::from_str::<Value>(cell).unwrap(),
                    other,
                    "{id} {k}"
                ),
            }
        }
    }
    let e1 = ndjson.iter().find(|v| v["event_id"] == "e-1").unwrap();
    assert_eq!(
        e1["record_count"],
        serde_json::json!(9007199254740993u64),
        "a 64-bit number, not text"
    );
    assert_eq!(e1["ts"], "2026-01-06T10:00:00.250Z");
    assert_eq!(e1["attributes"]["note"], "a,b \"c\"");
    assert!(e1["latitude"].is_null() || e1["latitude"].is_number());
}

/// The export streams from a separate `custos api` process whose memory we can watch.
#[test]
fn a_100k_event_csv_export_streams_with_bounded_memory() {
    if skip_without_servers() {
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (token, lines) = new_token("exporter", "auditor").unwrap();
    let extra = format!("[api]\nlisten = \"127.0.0.1:{port}\"\n\n{lines}\n");
    let env = TestEnv::new(&ch_url(), &extra);
    load(&env, 100_000);
    let stored = env.u64("SELECT uniqExact(event_id) FROM events");
    let log = std::fs::File::create(env.path("api.log")).unwrap();
    let mut child = env.custos(&["api"]).stderr(log).spawn().unwrap();
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let start = std::time::Instant::now();
    while client.get(format!("{base}/healthz")).send().is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "api did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let rss_before = rss_kib(child.id());
    let mut resp = client
        .get(format!("{base}/api/v1/events?format=csv"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment; filename=\"custos-events-"));
    let (mut newlines, mut bytes, mut peak) = (0u64, 0u64, 0u64);
    let mut buf = vec![0u8; 64 * 1024];
    let mut first_line = Vec::new();
    loop {
        let n = std::io::Read::read(&mut resp, &mut buf).unwrap();
        if n == 0 {
            break;
        }
        if first_line.len() < 200 {
            first_line.extend_from_slice(&buf[..n.min(200)]);
        }
        newlines += buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
        bytes += n as u64;
        peak = peak.max(rss_kib(child.id()));
    }
    assert_eq!(newlines, stored + 1, "header + every event");
    assert!(String::from_utf8_lossy(&first_line).starts_with("\"event_id\",\"tenant\""));
    assert!(bytes > 20_000_000, "{bytes} bytes");
    // Streaming: the server never holds the export (tens of MB) in memory.
    assert!(
        peak.saturating_sub(rss_before) < 48 * 1024,
        "RSS grew from {rss_before} to {peak} KiB"
    );
    // The audit row records the full row count.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        env.sql("SELECT token_name, rows, status FROM api_audit WHERE route = '/api/v1/events'"),
        format!("exporter\t{stored}\t200")
    );
    sigterm(&child);
    child.wait().unwrap();
}

/// Reads without `FINAL` still answer as if merged: with every event stored three times in
/// unmerged parts (merges stopped, the file replayed three times), the pages of the event list
/// hold each event once and nothing is skipped, a user's timeline and the daily stats count each
/// event once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmerged_re_deliveries_are_answered_once() {
    if skip_without_servers() {
        return;
    }
    let env = TestEnv::new(&ch_url(), "");
    let api = start(&env).await;
    tokio::task::block_in_place(|| env.sql("SYSTEM STOP MERGES events"));
    let lines: Vec<String> = (0..700)
        .map(|i| {
            event(
                &format!("d{i:04}"),
                &format!("u{}", i % 3),
                &format!("2026-01-06T10:{:02}:{:02}Z", (i / 60) % 60, i % 60),
                "view",
                1,
            )
        })
        .collect();
    std::fs::write(env.path("d.jsonl"), lines.join("\n")).unwrap();
    for _ in 0..3 {
        tokio::task::block_in_place(|| {
            assert!(env
                .custos(&["replay", "--input", env.path("d.jsonl").to_str().unwrap()])
                .status()
                .unwrap()
                .success())
        });
    }
    let stored = tokio::task::block_in_place(|| env.u64("SELECT count() FROM events"));
    assert_eq!(stored, 2100, "three unmerged copies of each event");
    let mut seen = HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = "/api/v1/events?limit=50".to_owned();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (st, body) = api.get(&path, Some(&api.auditor)).await;
        assert_eq!(st, StatusCode::OK, "{body}");
        for e in body["items"].as_array().unwrap() {
            let id = e["event_id"].as_str().unwrap().to_owned();
            assert!(seen.insert(id.clone()), "{id} on two pages or twice on one");
        }
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 700);
    let (_, tl) = api
        .get(
            "/api/v1/users/u1/timeline?since=2026-01-06T00:00:00Z&until=2026-01-07T00:00:00Z&limit=5000",
            Some(&api.auditor),
        )
        .await;
    let events = tl["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "event")
        .count();
    assert_eq!(events, 233, "u1's events once each");
    let (_, stats) = api
        .get(
            "/api/v1/stats?since=2026-01-06T00:00:00Z&until=2026-01-07T00:00:00Z",
            Some(&api.auditor),
        )
        .await;
    assert_eq!(stats["events_per_day"][0]["events"], 700, "{stats}");
    tokio::task::block_in_place(|| env.sql("SYSTEM START MERGES events"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remembered_day_counts_follow_every_insert_merge_and_drop() {
    if skip_without_servers() {
        return;
    }
    let env = TestEnv::new(&ch_url(), "");
    let api = start(&env).await;
    let replay = |name: &str, lines: Vec<String>| {
        std::fs::write(env.path(name), lines.join("\n")).unwrap();
        tokio::task::block_in_place(|| {
            assert!(env
                .custos(&["replay", "--input", env.path(name).to_str().unwrap()])
                .status()
                .unwrap()
                .success())
        });
    };
    let views = |prefix: &str, day: &str, n: u32| -> Vec<String> {
        (0..n)
            .map(|i| {
                let ts = format!("{day}T{:02}:{:02}:{:02}Z", i / 3600, (i / 60) % 60, i % 60);
                event(
                    &format!("{prefix}{i}"),
                    &format!("u{}", i % 4),
                    &ts,
                    "view",
                    1,
                )
            })
            .collect()
    };
    let per_day = |body: &Value| -> Vec<(String, u64)> {
        body["events_per_day"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["day"].as_str().unwrap().to_owned(),
                    d["events"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let path = "/api/v1/stats?since=2026-01-05T00:00:00Z&until=2026-01-07T00:00:00Z";
    let mut lines = views("a", "2026-01-05", 300);
    lines.extend(views("b", "2026-01-06", 700));
    replay("1.jsonl", lines);
    let want = |a: u64, b: u64| vec![("2026-01-05".to_owned(), a), ("2026-01-06".to_owned(), b)];
    for _ in 0..2 {
        let (st, body) = api.get(path, Some(&api.auditor)).await;
        assert_eq!(st, StatusCode::OK, "{body}");
        assert_eq!(per_day(&body), want(300, 700), "{body}");
    }
    // Late events for the first day and re-deliveries of ten stored ones: a new part, counted again.
    let mut late = views("late", "2026-01-05", 5);
    late.extend(views("a", "2026-01-05", 10));
    replay("2.jsonl", late);
    let (_, body) = api.get(path, Some(&api.auditor)).await;
    assert_eq!(per_day(&body), want(305, 700), "{body}");
    // A merge renames the parts; a range ending mid-day is its own slice.
    tokio::task::block_in_place(|| env.sql("OPTIMIZE TABLE events FINAL"));
    let (_, body) = api.get(path, Some(&api.auditor)).await;
    assert_eq!(per_day(&body), want(305, 700), "{body}");
    let (_, body) = api
        .get(
            "/api/v1/stats?since=2026-01-05T00:00:00Z&until=2026-01-06T00:01:00Z",
            Some(&api.auditor),
        )
        .await;
    assert_eq!(per_day(&body), want(305, 60), "{body}");
    // Deleted rows (a mutation writes new parts) are no longer counted.
    tokio::task::block_in_place(|| {
        env.sql("ALTER TABLE events DELETE WHERE event_id LIKE 'late%'");
        env.wait_for(
            "SELECT count() FROM system.mutations WHERE is_done = 1 AND database = currentDatabase()",
            1,
            Duration::from_secs(30),
        );
    });
    let (_, body) = api.get(path, Some(&api.auditor)).await;
    assert_eq!(per_day(&body), want(300, 700), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_over_many_months_and_evidence_far_from_or_without_its_alert() {
    if skip_without_servers() {
        return;
    }
    let env = TestEnv::new(&ch_url(), "");
    let api = start(&env).await;
    tokio::task::block_in_place(|| env.sql("SYSTEM STOP MERGES events"));
    // 300 events, one every 31 hours: about 13 months, so a page crosses every search window.
    let t0: chrono::DateTime<chrono::Utc> = "2025-01-01T00:00:00Z".parse().unwrap();
    let at = |i: i64| t0 + chrono::Duration::hours(31 * i);
    let lines: Vec<String> = (0..300)
        .map(|i| {
            let ts = at(i).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            event(&format!("w{i:03}"), &format!("u{}", i % 2), &ts, "view", 1)
        })
        .collect();
    std::fs::write(env.path("w.jsonl"), lines.join("\n")).unwrap();
    for _ in 0..2 {
        tokio::task::block_in_place(|| {
            assert!(env
                .custos(&["replay", "--input", env.path("w.jsonl").to_str().unwrap()])
                .status()
                .unwrap()
                .success())
        });
    }
    let walk = |filter: &'static str| {
        let api = &api;
        async move {
            let (mut ids, mut cursor) = (Vec::<String>::new(), None::<String>);
            loop {
                let mut path = format!("/api/v1/events?limit=7{filter}");
                if let Some(c) = &cursor {
                    path.push_str(&format!("&cursor={c}"));
                }
                let (st, body) = api.get(&path, Some(&api.auditor)).await;
                assert_eq!(st, StatusCode::OK, "{body}");
                ids.extend(
                    body["items"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|e| e["event_id"].as_str().unwrap().to_owned()),
                );
                match body["next_cursor"].as_str() {
                    Some(c) => cursor = Some(c.to_owned()),
                    None => return ids,
                }
            }
        }
    };
    let newest_first = |keep: &dyn Fn(usize) -> bool| -> Vec<String> {
        (0..300)
            .rev()
            .filter(|&i| keep(i))
            .map(|i| format!("w{i:03}"))
            .collect()
    };
    assert_eq!(
        walk("").await,
        newest_first(&|_| true),
        "every event once, newest first"
    );
    assert_eq!(walk("&user_id=u1").await, newest_first(&|i| i % 2 == 1));
    // A bounded range: until the 200th event (exclusive), since the 20th.
    let (since, until) = (at(20), at(200));
    let range: &'static str = Box::leak(
        format!(
            "&since={}&until={}",
            since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )
        .into_boxed_str(),
    );
    assert_eq!(walk(range).await, newest_first(&|i| (20..200).contains(&i)));

    // An alert citing events months before it, and one citing none (a lockout storm's).
    let tenant = tokio::task::block_in_place(|| env.sql("SELECT any(tenant) FROM events"));
    let tenant = tenant.trim();
    tokio::task::block_in_place(|| {
        env.sql(&format!(
            "INSERT INTO alerts (alert_id, detector, severity, tenant, user_id, ts, evidence_event_ids, version) VALUES \
             ('far', 'bulk_export', 'high', '{tenant}', 'u1', toDateTime('2026-01-20 00:00:00'), ['w001', 'w299'], 1), \
             ('none', 'lockout_storm', 'high', '{tenant}', '', toDateTime('2026-01-20 00:00:00'), [], 1)"
        ))
    });
    let (st, far) = api.get("/api/v1/alerts/far", Some(&api.auditor)).await;
    assert_eq!(st, StatusCode::OK, "{far}");
    let cited: Vec<&str> = far["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(cited, ["w001", "w299"], "both, once each, oldest first");
    let (st, none) = api.get("/api/v1/alerts/none", Some(&api.auditor)).await;
    assert_eq!(st, StatusCode::OK, "{none}");
    assert_eq!(none["evidence"], serde_json::json!([]));
    tokio::task::block_in_place(|| env.sql("SYSTEM START MERGES events"));
}

/// What triage asked of the API: comma lists, dates without a time, `stats` over the data's own
/// last month when no time is given.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comma_lists_dates_and_stats_over_the_datas_own_range() {
    if skip_without_servers() {
        return;
    }
    let env = TestEnv::new(&ch_url(), "");
    tokio::task::block_in_place(|| load(&env, 20_000));
    let api = start(&env).await;
    let count = |v: &Value| v["items"].as_array().unwrap().len();
    let (st, both) = api
        .get(
            "/api/v1/alerts?severity=high,critical&limit=1000",
            Some(&api.auditor),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{both}");
    let (_, high) = api
        .get(
            "/api/v1/alerts?severity=high&limit=1000",
            Some(&api.auditor),
        )
        .await;
    let (_, critical) = api
        .get(
            "/api/v1/alerts?severity=critical&limit=1000",
            Some(&api.auditor),
        )
        .await;
    assert!(
        count(&high) > 0 && count(&critical) > 0,
        "{high} {critical}"
    );
    assert_eq!(count(&both), count(&high) + count(&critical));
    assert!(both["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| ["high", "critical"].contains(&a["severity"].as_str().unwrap())));
    let (st, err) = api
        .get("/api/v1/alerts?severity=high,urgent", Some(&api.auditor))
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(
        err["message"].as_str().unwrap().contains("`severity`"),
        "{err}"
    );
    // A date is its day's start for `since` and its end for `until` (exclusive next midnight).
    let newest = env.sql("SELECT toDate(max(ts)) FROM events");
    let (st, day) = api
        .get(
            &format!("/api/v1/events?since={newest}&until={newest}&limit=1000"),
            Some(&api.auditor),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{day}");
    let want = env.u64(&format!(
        "SELECT count() FROM (SELECT DISTINCT event_id FROM events WHERE toDate(ts) = '{newest}')"
    ));
    assert_eq!(count(&day) as u64, want.min(1000), "the whole day {newest}");
    // No time: the 30 days up to the newest event, which is not now.
    let (st, stats) = api.get("/api/v1/stats", Some(&api.auditor)).await;
    assert_eq!(st, StatusCode::OK, "{stats}");
    let events: u64 = stats["events_per_day"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["events"].as_u64().unwrap())
        .sum();
    assert!(events > 0, "historical data shows: {stats}");
    assert!(stats.get("events_per_country").is_none(), "only on request");
    let (_, stats) = api
        .get("/api/v1/stats?include=countries", Some(&api.auditor))
        .await;
    let by_country: u64 = stats["events_per_country"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["events"].as_u64().unwrap())
        .sum();
    assert!(
        by_country > 0 && by_country <= events,
        "{by_country} of {events}"
    );
    assert!(
        stats["until"].as_str().unwrap().starts_with(&newest[..7]),
        "{} vs {newest}",
        stats["until"]
    );
}

/// A timeline around an alert holds the user's events, alerts, lock actions and status changes
/// interleaved; paged by its cursor, every item is on exactly one page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeline_around_an_alert_pages_the_merged_stream_by_cursor() {
    if skip_without_servers() {
        return;
    }
    let env = TestEnv::new(&ch_url(), "");
    tokio::task::block_in_place(|| load(&env, 20_000));
    let api = start(&env).await;
    let row = env.sql("SELECT alert_id, user_id FROM alerts FINAL WHERE response = 'lock' AND alert_id IN (SELECT alert_id FROM actions) ORDER BY alert_id LIMIT 1");
    let (alert, user) = row.split_once('\t').expect("a lock alert with its action");
    let (st, _) = api
        .post(
            &format!("/api/v1/alerts/{alert}/status"),
            Some(&api.analyst),
            serde_json::json!({"status": "acknowledged", "note": "on it"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let base = format!("/api/v1/users/{user}/timeline?around={alert}&window=6h");
    let (st, whole) = api
        .get(&format!("{base}&limit=5000"), Some(&api.auditor))
        .await;
    assert_eq!(st, StatusCode::OK, "{whole}");
    let all = whole["items"].as_array().unwrap().clone();
    let kinds: std::collections::HashSet<&str> =
        all.iter().map(|i| i["kind"].as_str().unwrap()).collect();
    for k in ["event", "alert", "action", "status"] {
        assert!(kinds.contains(k), "{k} in {kinds:?}");
    }
    assert!(whole["next_cursor"].is_null());
    let mut paged = Vec::new();
    let mut cursor = String::new();
    for _ in 0..1000 {
        let (st, page) = api
            .get(&format!("{base}&limit=3{cursor}"), Some(&api.auditor))
            .await;
        assert_eq!(st, StatusCode::OK, "{page}");
        paged.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    let brief = |v: &[serde_json::Value]| -> Vec<String> {
        v.iter()
            .map(|i| {
                format!(
                    "{} {} {}",
                    i["kind"],
                    i["ts"],
                    i["event_id"]
                        .as_str()
                        .or(i["alert_id"].as_str())
                        .unwrap_or("")
                )
            })
            .collect()
    };
    assert_eq!(
        brief(&paged),
        brief(&all),
        "pages hold every item once, in order (brief)"
    );
    assert_eq!(paged, all, "pages hold every item once, in order");
    let (st, _) = api
        .get(&format!("{base}&since=2026-01-01"), Some(&api.auditor))
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, _) = api
        .get(
            &format!("/api/v1/users/{user}/timeline?around=nope"),
            Some(&api.auditor),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

/// Auditors read what was refused: each record's code, message, position and bytes, and the
/// counts per code of everything the filter matches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_with_counts_per_code() {
    if skip_without_servers() {
        return;
    }
    let env = TestEnv::new(&ch_url(), "");
    let input = env.path("bad.jsonl");
    let good = r#"{"event_id":"g1","ts":"2026-01-06T10:00:00Z","user_id":"u1","action":"view"}"#;
    std::fs::write(
        &input,
        format!("{good}\n{{broken\n[1,2]\n{{\"event_id\":\"x\",\"ts\":\"2026-01-06T10:00:00Z\",\"action\":\"view\"}}\n{{nope\n"),
    )
    .unwrap();
    let out = env
        .custos(&["replay", "--input", input.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap();
    let api = start(&env).await;
    let (st, page) = api.get("/api/v1/dead_letters", Some(&api.auditor)).await;
    assert_eq!(st, StatusCode::OK, "{page}");
    assert_eq!(page["total"], 4, "{page}");
    assert_eq!(
        page["counts"], summary["rejected_by_code"],
        "the replay's summary and the API agree"
    );
    assert_eq!(page["counts"]["invalid_json"], 2, "{page}");
    let first = &page["items"][0];
    assert!(
        first["file_line"].as_u64().unwrap() >= 2 && first["raw"].is_string(),
        "{first}"
    );
    // One code, one page at a time.
    let (_, only) = api
        .get("/api/v1/dead_letters?code=invalid_json", Some(&api.auditor))
        .await;
    assert_eq!(only["total"], 2);
    assert!(only["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["error_code"] == "invalid_json"));
    let mut seen = std::collections::HashSet::new();
    let mut cursor = String::new();
    loop {
        let (_, p) = api
            .get(
                &format!("/api/v1/dead_letters?limit=1{cursor}"),
                Some(&api.auditor),
            )
            .await;
        for d in p["items"].as_array().unwrap() {
            assert!(
                seen.insert(d["dl_id"].as_str().unwrap().to_owned()),
                "repeated {d}"
            );
        }
        match p["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 4);
    assert_eq!(
        api.get("/api/v1/dead_letters", None).await.0,
        StatusCode::UNAUTHORIZED
    );
}

/// `[privacy] action = "hash"`: the events API finds a customer's events by the token
/// `custos privacy token` prints (the stored rows hold no clear value).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_found_by_a_privacy_token() {
    if skip_without_servers() {
        return;
    }
    let env = TestEnv::new(
        &ch_url(),
        "[privacy]\naction = \"hash\"\nkey = \"an-api-test-privacy-key-0123\"\n",
    );
    let input = env.path("pii.jsonl");
    std::fs::write(
        &input,
        concat!(
            r#"{"event_id":"c1","ts":"2026-01-06T10:00:00Z","user_id":"u1","action":"update","attributes":{"note":"call 138-1234-5678 back"}}"#,
            "\n",
            r#"{"event_id":"c2","ts":"2026-01-06T10:05:00Z","user_id":"u2","action":"view","attributes":{"phone":"13812345678"}}"#,
            "\n",
            r#"{"event_id":"c3","ts":"2026-01-06T10:06:00Z","user_id":"u2","action":"view","attributes":{"phone":"13912345678"}}"#,
            "\n"
        ),
    )
    .unwrap();
    let out = env
        .custos(&["replay", "--input", input.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = env
        .custos(&["privacy", "token", "13812345678"])
        .output()
        .unwrap();
    let token = String::from_utf8(token.stdout).unwrap().trim().to_owned();
    let api = start(&env).await;
    let (st, page) = api
        .get(
            &format!("/api/v1/events?attribute={token}&limit=100"),
            Some(&api.auditor),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{page}");
    let mut ids: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        ["c1", "c2"],
        "both spellings of the number, not the other number"
    );
}

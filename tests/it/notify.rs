//! Notifications against real receivers: an in-test HTTP server per webhook-style channel (checking
//! each payload's shape and signature) and a real SMTP server (PyPI `aiosmtpd`), with the real
//! ClickHouse. Each alert at or above a route's floor reaches each route once, a dead route fails on
//! its own, replays send nothing new, and a SIGKILL mid-delivery still gives one accepted message
//! per alert and route.

use crate::common;

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::*;

const SECRET: &str = "a-notification-hmac-secret";
const DING_SECRET: &str = "SECdingtalk-robot-secret";

/// What the receivers took: (channel, idempotency key, body) of each accepted request; attempts
/// per key; requests refused for a bad signature.
#[derive(Default)]
struct Got {
    accepted: Vec<(String, String, serde_json::Value)>,
    attempts: HashMap<String, u32>,
    bad: Vec<String>,
}

/// One HTTP server for every channel (`/hook/<channel>`). `hang_first`: the first request is held
/// unanswered for a minute (a delivery in flight when custos is killed).
async fn receivers(hang_first: bool) -> (String, Arc<Mutex<Got>>) {
    let got = Arc::new(Mutex::new(Got::default()));
    let g = got.clone();
    let app = axum::Router::new().route(
        "/hook/{channel}",
        post(
            move |Path(channel): Path<String>,
                  Query(q): Query<HashMap<String, String>>,
                  headers: HeaderMap,
                  body: Bytes| {
                let g = g.clone();
                async move {
                    let h = |n: &str| {
                        headers
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    let key = h("idempotency-key");
                    let ok_sig = match channel.as_str() {
                        "webhook" => {
                            h("x-custos-signature")
                                == custos::act::dispatch::signature(SECRET.as_bytes(), &body)
                                && h("x-custos-signature-timestamped")
                                    == custos::act::dispatch::timestamped_signature(
                                        SECRET.as_bytes(),
                                        &h("x-custos-timestamp"),
                                        &body,
                                    )
                        }
                        "dingtalk" => {
                            q.get("timestamp")
                                .zip(q.get("sign"))
                                .is_some_and(|(ts, sign)| {
                                    let (_, want) = custos::act::notify::send::dingtalk_sign(
                                        DING_SECRET,
                                        ts.parse().unwrap_or(0),
                                    );
                                    // The query extractor decoded the sign: compare decoded forms.
                                    want.replace("%2B", "+")
                                        .replace("%2F", "/")
                                        .replace("%3D", "=")
                                        == *sign
                                })
                        }
                        _ => true,
                    };
                    let first = {
                        let mut r = g.lock().unwrap();
                        if !ok_sig {
                            r.bad.push(channel.clone());
                            return (StatusCode::UNAUTHORIZED, "{}".to_owned());
                        }
                        *r.attempts.entry(key.clone()).or_insert(0) += 1;
                        r.attempts.values().sum::<u32>() == 1
                    };
                    if hang_first && first {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                        return (StatusCode::SERVICE_UNAVAILABLE, "{}".to_owned());
                    }
                    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    g.lock().unwrap().accepted.push((channel, key, json));
                    (StatusCode::OK, r#"{"errcode":0,"errmsg":"ok"}"#.to_owned())
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), got)
}

/// A real SMTP server (aiosmtpd, `tests/smtp/server.py`): STARTTLS and AUTH required, with a
/// certificate from a CA made here (`openssl`), each message stored in a maildir.
struct Smtp {
    child: Child,
    port: u16,
    maildir: std::path::PathBuf,
    ca: std::path::PathBuf,
}

const SMTP_USER: &str = "custos";
const SMTP_PASSWORD: &str = "smtp-password-of-the-relay";

fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Smtp {
    fn start(dir: &std::path::Path) -> Smtp {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-subj",
                "/CN=custos test CA",
                "-days",
                "2",
            ],
        );
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "key.pem",
                "-out",
                "leaf.csr",
                "-subj",
                "/CN=localhost",
            ],
        );
        std::fs::write(dir.join("leaf.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n").unwrap();
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "leaf.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "cert.pem",
                "-days",
                "2",
                "-extfile",
                "leaf.ext",
            ],
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let maildir = dir.join("maildir");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smtp/server.py");
        let p = |f: &str| dir.join(f).to_str().unwrap().to_owned();
        let mut child = Command::new("python3")
            .args([
                script,
                &port.to_string(),
                maildir.to_str().unwrap(),
                &p("cert.pem"),
                &p("key.pem"),
                SMTP_USER,
                SMTP_PASSWORD,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 tests/smtp/server.py (tests/run.sh installs aiosmtpd)");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line.trim(), "ready", "the SMTP server did not start");
        Smtp {
            child,
            port,
            maildir,
            ca: dir.join("ca.pem"),
        }
    }

    /// The messages received, as text.
    fn messages(&self) -> Vec<String> {
        let Ok(dir) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        dir.map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect()
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn routes_toml(hooks: &str, smtp: &Smtp, dead: bool) -> String {
    let (smtp_port, ca) = (smtp.port, smtp.ca.display());
    let mut t = format!(
        "[kafka]\nalerts_topic = \"\"\n\n[api]\nlisten = \"127.0.0.1:0\"\npublic_url = \"https://custos.example.com\"\n\n\
         [[notify]]\nname = \"soc-webhook\"\nchannel = \"webhook\"\nurl = \"{hooks}/webhook\"\nsecret = \"{SECRET}\"\n\n\
         [[notify]]\nname = \"soc-slack\"\nchannel = \"slack\"\nurl = \"{hooks}/slack\"\n\n\
         [[notify]]\nname = \"soc-wecom\"\nchannel = \"wecom\"\nurl = \"{hooks}/wecom\"\n\n\
         [[notify]]\nname = \"soc-dingtalk\"\nchannel = \"dingtalk\"\nurl = \"{hooks}/dingtalk\"\nsecret = \"{DING_SECRET}\"\n\n\
         [[notify]]\nname = \"soc-mail\"\nchannel = \"email\"\nto = [\"soc@example.com\", \"ciso@example.com\"]\nfrom = \"custos@example.com\"\n\
         smtp_host = \"localhost\"\nsmtp_port = {smtp_port}\nsmtp_tls = \"starttls\"\nsmtp_ca_file = \"{ca}\"\n\
         smtp_user = \"{SMTP_USER}\"\nsmtp_password = \"{SMTP_PASSWORD}\"\n\n"
    );
    if dead {
        t.push_str("[[notify]]\nname = \"dead\"\nchannel = \"slack\"\nurl = \"http://127.0.0.1:1/x\"\nmax_attempts = 2\n\n");
    }
    t
}

/// A departed employee (terminated at 17:00 UTC) logs in at 02:30 Shanghai time (18:30 UTC) and
/// exports 5 × 500 contacts.
fn departed(env: &TestEnv, user: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = format!("{{\"user_id\":\"{user}\",\"status\":\"terminated\",\"timezone\":\"Asia/Shanghai\",\"effective_ts\":\"2026-01-07T17:00:00Z\"}}\n");
    let mut ev = vec![event(
        &format!("{user}-login"),
        user,
        "2026-01-08T18:30:00Z",
        "login",
        0,
    )];
    for i in 0..5 {
        let ts = format!("2026-01-08T18:{:02}:00Z", 35 + i);
        ev.push(event(&format!("{user}-x{i}"), user, &ts, "export", 500));
    }
    let (e, d) = (env.path("e.jsonl"), env.path("d.jsonl"));
    std::fs::write(&e, ev.join("\n")).unwrap();
    std::fs::write(&d, dir).unwrap();
    (e, d)
}

fn replay(env: &TestEnv, e: &std::path::Path, d: &std::path::Path) -> Command {
    env.custos(&[
        "replay",
        "--input",
        e.to_str().unwrap(),
        "--directory",
        d.to_str().unwrap(),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_gets_each_serious_alert_once_and_replays_send_nothing() {
    if skip_without_servers() {
        return;
    }
    let (hooks, got) = receivers(false).await;
    let tmp = tempfile::tempdir().unwrap();
    let smtp = Smtp::start(tmp.path());
    let env = TestEnv::new(&ch_url(), &routes_toml(&hooks, &smtp, true));
    let (e, d) = departed(&env, "mallory");
    for run in 0..2 {
        let out = replay(&env, &e, &d).output().unwrap();
        assert!(
            out.status.success(),
            "run {run}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let serious =
        env.u64("SELECT count() FROM alerts FINAL WHERE severity IN ('high', 'critical')");
    let minor = env.u64("SELECT count() FROM alerts FINAL WHERE severity IN ('low', 'medium')");
    assert!(
        serious >= 2 && minor >= 1,
        "serious {serious}, minor {minor}"
    );
    let g = got.lock().unwrap();
    assert!(g.bad.is_empty(), "bad signatures: {:?}", g.bad);
    for channel in ["webhook", "slack", "wecom", "dingtalk"] {
        let mine: Vec<_> = g.accepted.iter().filter(|(c, _, _)| c == channel).collect();
        assert_eq!(
            mine.len() as u64,
            serious,
            "{channel}: one message per serious alert, both runs together"
        );
        let keys: std::collections::HashSet<_> = mine.iter().map(|(_, k, _)| k).collect();
        assert_eq!(
            keys.len(),
            mine.len(),
            "{channel}: distinct notification ids"
        );
        let body = &mine[0].2;
        match channel {
            "webhook" => {
                let a = &body["alerts"][0];
                assert_eq!(a["user_id"], "mallory");
                assert_eq!(a["timezone"], "Asia/Shanghai", "{body}");
                assert!(a["link"]
                    .as_str()
                    .unwrap()
                    .starts_with("https://custos.example.com/#/alerts/"));
                assert!(["high", "critical"].contains(&a["severity"].as_str().unwrap()));
            }
            "slack" => assert!(body["text"].as_str().unwrap().contains("mallory"), "{body}"),
            "wecom" => {
                assert_eq!(body["msgtype"], "markdown");
                assert!(body["markdown"]["content"]
                    .as_str()
                    .unwrap()
                    .contains("<font color=\"warning\">"));
            }
            _ => {
                assert_eq!(body["msgtype"], "markdown");
                assert!(body["markdown"]["title"]
                    .as_str()
                    .unwrap()
                    .starts_with("custos ["));
            }
        }
    }
    drop(g);
    let mails = smtp.messages();
    if let Ok(p) = std::env::var("NOTIFY_SAMPLE") {
        std::fs::write(p, &mails[0]).unwrap();
    }
    assert_eq!(mails.len() as u64, serious, "one e-mail per serious alert");
    assert!(
        mails
            .iter()
            .all(|m| m.contains("Subject: custos [") && m.contains("@custos>")),
        "{}",
        mails[0]
    );
    assert!(
        mails[0].contains("Asia/Shanghai"),
        "the user's local time: {}",
        mails[0]
    );
    // The story: delivered per route; the dead route failed on its own; minor alerts only recorded.
    for route in [
        "soc-webhook",
        "soc-slack",
        "soc-wecom",
        "soc-dingtalk",
        "soc-mail",
    ] {
        let delivered = env.u64(&format!("SELECT uniqExact(notification_id) FROM notifications WHERE route = '{route}' AND status = 'delivered'"));
        assert_eq!(delivered, serious, "{route}");
    }
    let failed = env.sql("SELECT status, attempts, last_error FROM notifications WHERE route = 'dead' ORDER BY at_ms DESC LIMIT 1");
    assert!(
        failed.starts_with("failed\t2\tslack request failed"),
        "{failed}"
    );
    assert!(
        !failed.contains("127.0.0.1:1"),
        "no URL in the error: {failed}"
    );
    let minor_notified = env.u64("SELECT count() FROM notifications WHERE alert_id IN (SELECT alert_id FROM alerts WHERE severity IN ('low', 'medium'))");
    assert_eq!(minor_notified, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_mid_delivery_still_gives_one_message_per_alert_and_route() {
    if skip_without_servers() {
        return;
    }
    let (hooks, got) = receivers(true).await;
    let env = TestEnv::new(
        &ch_url(),
        &format!(
            "[kafka]\nalerts_topic = \"\"\n\n[[notify]]\nname = \"soc\"\nchannel = \"webhook\"\nurl = \"{hooks}/webhook\"\nsecret = \"{SECRET}\"\ntimeout_ms = 120000\n"
        ),
    );
    let (e, d) = departed(&env, "trudy");
    let mut child = replay(&env, &e, &d)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Killed once the receiver holds a delivery unanswered.
    let start = Instant::now();
    while got.lock().unwrap().attempts.is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no delivery started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let pending = env.u64("SELECT count() FROM notifications WHERE status = 'pending'");
    assert!(
        pending >= 1,
        "the killed delivery was recorded as pending first"
    );
    // The next start resumes it (and anything not decided), then replays find everything decided.
    for _ in 0..2 {
        let out = replay(&env, &e, &d).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let serious =
        env.u64("SELECT count() FROM alerts FINAL WHERE severity IN ('high', 'critical')");
    let g = got.lock().unwrap();
    let mut per_key: HashMap<&str, u32> = HashMap::new();
    for (_, k, _) in &g.accepted {
        *per_key.entry(k).or_default() += 1;
    }
    assert_eq!(
        per_key.len() as u64,
        serious,
        "every serious alert accepted: {per_key:?}"
    );
    assert!(
        per_key.values().all(|n| *n == 1),
        "each exactly once: {per_key:?}"
    );
    let delivered =
        env.u64("SELECT uniqExact(notification_id) FROM notifications WHERE status = 'delivered'");
    assert_eq!(delivered, serious);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_route_sends_one_message_per_period_listing_its_alerts() {
    if skip_without_servers() {
        return;
    }
    let (hooks, got) = receivers(false).await;
    let env = TestEnv::new(
        &ch_url(),
        &format!(
            "[kafka]\nalerts_topic = \"\"\n\n[[notify]]\nname = \"hourly\"\nchannel = \"webhook\"\nurl = \"{hooks}/webhook\"\nsecret = \"{SECRET}\"\nmin_severity = \"medium\"\ndigest = \"10s\"\n"
        ),
    );
    let (e, d) = departed(&env, "eve");
    let out = replay(&env, &e, &d).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let taken = env
        .u64("SELECT count() FROM alerts FINAL WHERE severity IN ('medium', 'high', 'critical')");
    assert!(taken >= 3, "{taken}");
    let queued = env.u64("SELECT uniqExact(alert_id) FROM notifications WHERE status = 'queued'");
    assert_eq!(queued, taken, "each alert queued into its period's digest");
    // Once the period is over, the next start delivers its digest; a third run adds nothing.
    tokio::time::sleep(Duration::from_secs(12)).await;
    for _ in 0..2 {
        let out = replay(&env, &e, &d).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let g = got.lock().unwrap();
    let mut listed = Vec::new();
    for (_, _, body) in &g.accepted {
        assert!(body["period"]["from"].is_string(), "{body}");
        assert!(
            body["subject"]
                .as_str()
                .unwrap()
                .starts_with("custos digest: "),
            "{body}"
        );
        for a in body["alerts"].as_array().unwrap() {
            listed.push(a["alert_id"].as_str().unwrap().to_owned());
        }
    }
    let distinct: std::collections::HashSet<_> = listed.iter().collect();
    assert_eq!(
        listed.len() as u64,
        taken,
        "every alert listed once: {listed:?}"
    );
    assert_eq!(distinct.len(), listed.len());
    assert!(
        g.accepted.len() <= 2,
        "one digest per period (the run may straddle two)"
    );
    let delivered =
        env.u64("SELECT uniqExact(notification_id) FROM notifications WHERE status = 'delivered'");
    assert_eq!(delivered, g.accepted.len() as u64);
}

//! Automated account lockouts with safety rails. For each stored alert whose detector says
//! `response = "lock"`, one decision is made and recorded in `actions` (one row per transition):
//! already decided (replay/restart) → nothing; protected account → `skipped_protected`; already locked
//! by custos → `skipped_already_locked`; breaker open → `rate_limited`; more than `max_locks` in
//! `window` → trip the breaker (critical `lockout_storm` alert) and `rate_limited`; dry run →
//! `skipped_dry_run`; else `dispatched` → `acknowledged` | `failed`. State lives in ClickHouse, so every
//! instance (and the API process) sees the same breaker and locks.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use clickhouse::Row;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use super::dispatch::{Command, Dispatcher};
use super::AlertPublisher;
use crate::config::{KafkaConfig, ResponseConfig};
use crate::model::stable_id;
use crate::store::rows::AlertRow;
use crate::store::Store;

/// One transition of one action (a row of `actions`).
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub struct ActionRow {
    pub action_id: String,
    pub action: String,
    pub tenant: String,
    pub user_id: String,
    pub alert_id: String,
    pub reason: String,
    pub status: String,
    pub mode: String,
    pub channels: String,
    pub attempts: u32,
    pub last_error: String,
    pub actor: String,
    pub requested_at: u32,
    pub at: u32,
    pub at_ms: u64,
}

enum Job {
    Alert(AlertRow),
    Manual { action: &'static str, tenant: String, user_id: String, reason: String, actor: String, reply: oneshot::Sender<anyhow::Result<String>> },
    ResetBreaker { actor: String, reason: String, reply: oneshot::Sender<anyhow::Result<()>> },
    Barrier(oneshot::Sender<()>),
}

/// Handle on the decision task.
#[derive(Clone)]
pub struct Responder {
    tx: mpsc::Sender<Job>,
    inflight: Arc<AtomicUsize>,
}

struct Core {
    store: Store,
    cfg: ResponseConfig,
    window_secs: u64,
    dispatcher: Arc<Dispatcher>,
    publisher: Option<AlertPublisher>,
    inflight: Arc<AtomicUsize>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl Responder {
    /// Starts the decision task. With `recover`, first finishes what a previous run left undone:
    /// dispatches still in flight, and recent lock alerts without a decision.
    pub async fn start(cfg: &ResponseConfig, kafka: &KafkaConfig, store: Store, publish_alerts: bool, recover: bool) -> anyhow::Result<Self> {
        let dispatcher = Arc::new(Dispatcher::build(cfg, kafka)?);
        let publisher = if publish_alerts { AlertPublisher::build(kafka)? } else { None };
        let window_secs = crate::detect::spec::duration(&cfg.window).map_err(anyhow::Error::msg)?.as_secs();
        let inflight = Arc::new(AtomicUsize::new(0));
        let channels = dispatcher.channels();
        let core = Arc::new(Core { store, cfg: cfg.clone(), window_secs, dispatcher, publisher, inflight: inflight.clone() });
        let (tx, rx) = mpsc::channel(10_000);
        let responder = Responder { tx, inflight };
        if recover {
            core.recover(&responder).await?;
        }
        tokio::spawn(core.run(rx));
        tracing::info!(mode = %cfg.mode, channels = %channels, max_locks = cfg.max_locks, window = %cfg.window, "lockout responder ready");
        Ok(responder)
    }

    pub async fn submit(&self, alert: AlertRow) {
        if self.tx.send(Job::Alert(alert)).await.is_err() {
            tracing::error!("lockout responder stopped; a lock alert was not decided (it will be recovered at the next start)");
        }
    }

    /// An admin's lock or unlock; returns the action id once recorded (dispatch continues).
    pub async fn manual(&self, action: &'static str, tenant: &str, user_id: &str, reason: &str, actor: &str) -> anyhow::Result<String> {
        let (reply, rx) = oneshot::channel();
        let job = Job::Manual { action, tenant: tenant.into(), user_id: user_id.into(), reason: reason.into(), actor: actor.into(), reply };
        self.tx.send(job).await.map_err(|_| anyhow::anyhow!("responder stopped"))?;
        rx.await?
    }

    pub async fn reset_breaker(&self, actor: &str, reason: &str) -> anyhow::Result<()> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Job::ResetBreaker { actor: actor.into(), reason: reason.into(), reply }).await.map_err(|_| anyhow::anyhow!("responder stopped"))?;
        rx.await?
    }

    /// Waits until queued decisions are made and in-flight dispatches end (or `timeout`).
    pub async fn drain(&self, timeout: Duration) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Job::Barrier(tx)).await.is_ok() {
            let _ = tokio::time::timeout(timeout, rx).await;
        }
        let deadline = tokio::time::Instant::now() + timeout;
        while self.inflight.load(SeqCst) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Core {
    async fn run(self: Arc<Self>, mut rx: mpsc::Receiver<Job>) {
        while let Some(job) = rx.recv().await {
            match job {
                Job::Alert(a) => {
                    if let Err(e) = self.decide(&a).await {
                        tracing::error!(alert_id = %a.alert_id, error = format!("{e:#}"), "lock decision failed; it will be retried at the next start");
                    }
                }
                Job::Manual { action, tenant, user_id, reason, actor, reply } => {
                    let _ = reply.send(self.manual(action, &tenant, &user_id, &reason, &actor).await);
                }
                Job::ResetBreaker { actor, reason, reply } => {
                    let row = self.row("breaker_reset", &stable_id(&[b"reset", &now_ms().to_le_bytes(), actor.as_bytes()]), "", "", "", &reason, "manual", &actor);
                    let r = self.record(row).await;
                    tracing::warn!(actor = %actor, "lockout storm breaker reset");
                    let _ = reply.send(r);
                }
                Job::Barrier(done) => {
                    let _ = done.send(());
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn row(&self, action: &str, action_id: &str, tenant: &str, user_id: &str, alert_id: &str, reason: &str, status: &str, actor: &str) -> ActionRow {
        let ms = now_ms();
        ActionRow {
            action_id: action_id.into(),
            action: action.into(),
            tenant: tenant.into(),
            user_id: user_id.into(),
            alert_id: alert_id.into(),
            reason: reason.into(),
            status: status.into(),
            mode: self.cfg.mode.clone(),
            channels: self.dispatcher.channels(),
            attempts: 0,
            last_error: String::new(),
            actor: actor.into(),
            requested_at: (ms / 1000) as u32,
            at: (ms / 1000) as u32,
            at_ms: ms,
        }
    }

    async fn record(&self, row: ActionRow) -> anyhow::Result<()> {
        record(&self.store, row).await
    }

    async fn scalar(&self, sql: &str, binds: &[&str], n: Option<u32>) -> anyhow::Result<String> {
        let mut q = self.store.client().query(sql);
        for b in binds {
            q = q.bind(*b);
        }
        if let Some(n) = n {
            q = q.bind(n);
        }
        Ok(q.fetch_optional::<String>().await?.unwrap_or_default())
    }

    async fn decide(&self, a: &AlertRow) -> anyhow::Result<()> {
        let action_id = stable_id(&[b"lock_user", a.alert_id.as_bytes()]);
        let seen = self.scalar("SELECT action_id FROM actions WHERE action_id = ? LIMIT 1", &[&action_id], None).await?;
        if !seen.is_empty() {
            return Ok(()); // decided before: a replay, a re-read or a restart
        }
        let actor = format!("custos:{}", a.detector);
        let row = |status: &str| self.row("lock_user", &action_id, &a.tenant, &a.user_id, &a.alert_id, &a.summary, status, &actor);
        // The independent reads in parallel: this is on the event → lock latency path.
        let client = self.store.client();
        let (directory_protected, is_locked, breaker, reset_at) = tokio::try_join!(
            async { Ok::<_, anyhow::Error>(self.scalar("SELECT toString(max(protected)) FROM directory WHERE user_id = ?", &[&a.user_id], None).await? == "1") },
            locked(&self.store, &a.tenant, &a.user_id),
            self.scalar("SELECT concat(action, ':', toString(at)) FROM actions WHERE action IN ('breaker_trip', 'breaker_reset') ORDER BY at_ms DESC LIMIT 1", &[], None),
            async { Ok::<u64, anyhow::Error>(client.query("SELECT max(at_ms) FROM actions WHERE action = 'breaker_reset'").fetch_one().await?) },
        )?;
        if self.cfg.protected_users.contains(&a.user_id) || directory_protected {
            tracing::warn!(user = %a.user_id, alert_id = %a.alert_id, "protected account: not locked");
            return self.record(row("skipped_protected")).await;
        }
        if is_locked {
            return self.record(row("skipped_already_locked")).await;
        }
        if breaker.starts_with("breaker_trip") {
            return self.record(row("rate_limited")).await;
        }
        // Locks decided within the window, and only since the last reset (millisecond precision).
        let since = now_ms().saturating_sub(self.window_secs * 1000).max(reset_at + 1);
        let recent: u64 = client
            .query("SELECT uniqExact(action_id) FROM actions WHERE action = 'lock_user' AND status IN ('dispatched', 'skipped_dry_run') AND actor LIKE 'custos:%' AND at_ms >= ?")
            .bind(since)
            .fetch_one()
            .await?;
        if recent + 1 > self.cfg.max_locks as u64 {
            self.trip(a, recent + 1).await?;
            return self.record(row("rate_limited")).await;
        }
        if self.cfg.mode != "enforce" {
            return self.record(row("skipped_dry_run")).await;
        }
        let first = row("dispatched");
        self.record(first.clone()).await?;
        self.dispatch(first);
        Ok(())
    }

    async fn trip(&self, a: &AlertRow, count: u64) -> anyhow::Result<()> {
        let trip_id = stable_id(&[b"breaker_trip", a.alert_id.as_bytes()]);
        let reason = format!(
            "{count} automatic locks requested within {} (limit {}): auto-locking stopped until an admin resets the breaker",
            self.cfg.window, self.cfg.max_locks
        );
        self.record(self.row("breaker_trip", &trip_id, &a.tenant, &a.user_id, &a.alert_id, &reason, "manual", "custos:breaker")).await?;
        let now = crate::now_secs();
        let alert = AlertRow {
            alert_id: stable_id(&[b"lockout_storm", trip_id.as_bytes()]),
            detector: "lockout_storm".into(),
            severity: "critical".into(),
            tenant: a.tenant.clone(),
            user_id: a.user_id.clone(),
            ts: a.ts,
            ts_ms: a.ts_ms,
            created_at: now,
            summary: format!("Lockout storm: {reason}"),
            evidence_event_ids: vec![],
            details: serde_json::json!({"locks_in_window": count, "max_locks": self.cfg.max_locks, "window": self.cfg.window, "last_alert_id": a.alert_id}).to_string(),
            status: "open".into(),
            response: "none".into(),
            version: 1,
        };
        let mut ins = self.store.client().insert::<AlertRow>("alerts").await?;
        ins.write(&alert).await?;
        ins.end().await?;
        if let Some(p) = &self.publisher {
            p.publish(std::slice::from_ref(&alert));
        }
        crate::metrics::global().alerts.with_label_values(&["lockout_storm"]).inc();
        tracing::error!(locks = count, max = self.cfg.max_locks, "LOCKOUT STORM: automatic locking stopped until an admin resets the breaker");
        Ok(())
    }

    async fn manual(&self, action: &'static str, tenant: &str, user_id: &str, reason: &str, actor: &str) -> anyhow::Result<String> {
        let id = stable_id(&[action.as_bytes(), tenant.as_bytes(), user_id.as_bytes(), &now_ms().to_le_bytes(), actor.as_bytes()]);
        let row = self.row(action, &id, tenant, user_id, "", reason, "manual", actor);
        self.record(row.clone()).await?;
        self.dispatch(row);
        Ok(id)
    }

    /// Sends on every channel in the background, recording each failed attempt and the outcome.
    fn dispatch(&self, row: ActionRow) {
        let (store, dispatcher, inflight) = (self.store.clone(), self.dispatcher.clone(), self.inflight.clone());
        inflight.fetch_add(1, SeqCst);
        tokio::spawn(async move {
            let requested = chrono::DateTime::from_timestamp(row.requested_at as i64, 0).unwrap_or_default();
            let cmd = Command {
                action_id: row.action_id.clone(),
                action: row.action.clone(),
                tenant: row.tenant.clone(),
                user_id: row.user_id.clone(),
                reason: row.reason.clone(),
                alert_id: row.alert_id.clone(),
                requested_at: requested.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            };
            let (tx, mut rx) = mpsc::unbounded_channel::<(u32, String)>();
            let send = dispatcher.send(&cmd, |n, e| {
                let _ = tx.send((n, e.to_owned()));
            });
            let outcome = {
                tokio::pin!(send);
                loop {
                    tokio::select! {
                        r = &mut send => break r,
                        Some((n, e)) = rx.recv() => {
                            let mut retry = transition(&row, "dispatched", n, &e);
                            retry.last_error = e;
                            let _ = record(&store, retry).await;
                        }
                    }
                }
            };
            while let Ok((n, e)) = rx.try_recv() {
                let _ = record(&store, transition(&row, "dispatched", n, &e)).await;
            }
            let last = match outcome {
                Ok(n) => transition(&row, "acknowledged", n, ""),
                Err((n, e)) => {
                    tracing::error!(action_id = %row.action_id, user = %row.user_id, error = %e, "lock command failed after every attempt");
                    transition(&row, "failed", n, &e)
                }
            };
            if let Err(e) = record(&store, last).await {
                tracing::error!(error = format!("{e:#}"), "cannot record the outcome of an action");
            }
            inflight.fetch_sub(1, SeqCst);
        });
    }

    /// Finishes what a previous run left undone.
    async fn recover(&self, responder: &Responder) -> anyhow::Result<()> {
        let pending: Vec<ActionRow> = self
            .store
            .client()
            .query("SELECT action_id, any(action), any(tenant), any(user_id), any(alert_id), any(reason), argMax(status, at_ms) AS st, any(mode), any(channels), max(attempts), argMax(last_error, at_ms), any(actor), any(toUInt32(requested_at)), toUInt32(max(at)), max(at_ms) FROM actions WHERE action IN ('lock_user', 'unlock_user') GROUP BY action_id HAVING st IN ('dispatched', 'manual')")
            .fetch_all()
            .await?;
        for row in pending {
            tracing::warn!(action_id = %row.action_id, user = %row.user_id, "resuming an unfinished dispatch");
            self.dispatch(row);
        }
        let orphans: Vec<AlertRow> = self
            .store
            .client()
            .query("SELECT alert_id, detector, severity, tenant, user_id, toUInt32(ts), ts_ms, toUInt32(created_at), summary, evidence_event_ids, details, status, response, version FROM alerts FINAL WHERE response = 'lock' AND created_at >= now() - 86400 AND alert_id NOT IN (SELECT alert_id FROM actions)")
            .fetch_all()
            .await?;
        for a in orphans {
            tracing::warn!(alert_id = %a.alert_id, user = %a.user_id, "deciding a lock alert left undecided by a previous run");
            responder.submit(a).await;
        }
        Ok(())
    }
}

fn transition(row: &ActionRow, status: &str, attempts: u32, error: &str) -> ActionRow {
    let ms = now_ms();
    ActionRow { status: status.into(), attempts, last_error: error.into(), at: (ms / 1000) as u32, at_ms: ms, ..row.clone() }
}

pub(crate) async fn record(store: &Store, row: ActionRow) -> anyhow::Result<()> {
    let backoff = store.retry_policy(true);
    let url = store.cfg.url.clone();
    backoff
        .run("insert action", &url, || async {
            let mut ins = store.client().insert::<ActionRow>("actions").await?;
            ins.write(&row).await?;
            ins.end().await
        })
        .await?;
    tracing::info!(action_id = %row.action_id, action = %row.action, user = %row.user_id, status = %row.status, attempts = row.attempts, "action");
    crate::metrics::global().actions.with_label_values(&[row.action.as_str(), row.status.as_str()]).inc();
    Ok(())
}

/// Whether custos has locked this account (latest lock/unlock that was not failed is a lock).
pub async fn locked(store: &Store, tenant: &str, user_id: &str) -> anyhow::Result<bool> {
    let last: Option<String> = store
        .client()
        .query("SELECT act FROM (SELECT action_id, any(action) AS act, argMax(status, at_ms) AS st, max(at_ms) AS t FROM actions WHERE tenant = ? AND user_id = ? AND action IN ('lock_user', 'unlock_user') GROUP BY action_id) WHERE st IN ('dispatched', 'acknowledged', 'manual') ORDER BY t DESC LIMIT 1")
        .bind(tenant)
        .bind(user_id)
        .fetch_optional()
        .await?;
    Ok(last.as_deref() == Some("lock_user"))
}

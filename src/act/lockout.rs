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

use tokio::sync::{mpsc, oneshot};

use super::decision::{decide, Decision, Facts};
use super::dispatch::{Command, Dispatcher};
use super::publish::AlertPublisher;
use crate::config::{KafkaConfig, ResponseConfig};
use crate::model::{stable_id, ActionKind, ActionStatus, AlertStatus, Response, Severity};
use crate::store::actions::ActionRow;
use crate::store::alerts::AlertRow;
use crate::store::Store;
use crate::time::now_ms;

/// How long a lock decision waits before checking that no other instance decided it first (longer
/// than another instance takes from its own "not decided yet" check to its record).
const CLAIM_SETTLE: Duration = Duration::from_millis(150);

/// Why a manual lock or unlock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum ManualRefused {
    #[error("the account is protected: pass `\"force\": true` to lock it anyway (recorded)")]
    Protected,
    #[error("more than {max} manual locks within {window}: the limit ([response] max_manual_locks) stops more")]
    Limit { max: u32, window: String },
    #[error("{0}")]
    Failed(String),
}

enum Job {
    Alert(AlertRow),
    Manual {
        action: ActionKind,
        tenant: String,
        user_id: String,
        reason: String,
        actor: String,
        force: bool,
        reply: oneshot::Sender<Result<String, ManualRefused>>,
    },
    ResetBreaker {
        actor: String,
        reason: String,
        reply: oneshot::Sender<anyhow::Result<()>>,
    },
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
    /// This process among the instances that may decide the same alert during a handover.
    instance: String,
    /// How long a dispatch may go unrecorded before it is taken over (`super::takeover`).
    takeover_after: Duration,
    cfg: ResponseConfig,
    window_secs: u64,
    dispatcher: Arc<Dispatcher>,
    publisher: Option<AlertPublisher>,
    inflight: Arc<AtomicUsize>,
}

impl Responder {
    /// Starts the decision task. With `recover`, first finishes what a previous run left undone:
    /// dispatches still in flight, and recent lock alerts without a decision.
    pub async fn start(
        cfg: &ResponseConfig,
        kafka: &KafkaConfig,
        store: Store,
        publish_alerts: bool,
        recover: bool,
    ) -> anyhow::Result<Self> {
        let dispatcher = Arc::new(Dispatcher::build(cfg, kafka)?);
        let publisher = if publish_alerts {
            AlertPublisher::build(kafka)?
        } else {
            None
        };
        let window_secs = cfg.window.secs();
        let inflight = Arc::new(AtomicUsize::new(0));
        let channels = dispatcher.channels();
        let core = Arc::new(Core {
            instance: format!("{:016x}", rand::RngCore::next_u64(&mut rand::rngs::OsRng)),
            takeover_after: super::takeover::takeover_after(cfg, kafka),
            store,
            cfg: cfg.clone(),
            window_secs,
            dispatcher,
            publisher,
            inflight: inflight.clone(),
        });
        let (tx, rx) = mpsc::channel(10_000);
        let responder = Responder { tx, inflight };
        if recover {
            core.recover(&responder).await?;
            tokio::spawn(core.clone().watch_orphans());
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
    /// An admin's lock or unlock. A protected account is locked only with `force` (the reason then
    /// says so); manual locks have their own limit per window (`max_manual_locks`).
    pub async fn manual(
        &self,
        action: ActionKind,
        tenant: &str,
        user_id: &str,
        reason: &str,
        actor: &str,
        force: bool,
    ) -> Result<String, ManualRefused> {
        let (reply, rx) = oneshot::channel();
        let job = Job::Manual {
            action,
            tenant: tenant.into(),
            user_id: user_id.into(),
            reason: reason.into(),
            actor: actor.into(),
            force,
            reply,
        };
        self.tx
            .send(job)
            .await
            .map_err(|_| ManualRefused::Failed("responder stopped".into()))?;
        rx.await
            .map_err(|_| ManualRefused::Failed("responder stopped".into()))?
    }

    pub async fn reset_breaker(&self, actor: &str, reason: &str) -> anyhow::Result<()> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job::ResetBreaker {
                actor: actor.into(),
                reason: reason.into(),
                reply,
            })
            .await
            .map_err(|_| anyhow::anyhow!("responder stopped"))?;
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
        let pending = self.inflight.load(SeqCst);
        if pending > 0 {
            tracing::warn!(
                pending,
                waited_secs = timeout.as_secs(),
                "lock dispatches still in flight at exit; they stay `dispatched` in `actions`; an instance resumes them once the takeover lease has passed"
            );
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
                Job::Manual {
                    action,
                    tenant,
                    user_id,
                    reason,
                    actor,
                    force,
                    reply,
                } => {
                    let _ = reply.send(
                        self.manual(action, &tenant, &user_id, &reason, &actor, force)
                            .await,
                    );
                }
                Job::ResetBreaker {
                    actor,
                    reason,
                    reply,
                } => {
                    let id = stable_id(&[b"reset", &now_ms().to_le_bytes(), actor.as_bytes()]);
                    let row = self.row(
                        ActionKind::BreakerReset,
                        &id,
                        "",
                        "",
                        "",
                        &reason,
                        ActionStatus::Manual,
                        &actor,
                    );
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
    fn row(
        &self,
        action: ActionKind,
        action_id: &str,
        tenant: &str,
        user_id: &str,
        alert_id: &str,
        reason: &str,
        status: ActionStatus,
        actor: &str,
    ) -> ActionRow {
        let ms = now_ms();
        ActionRow {
            action_id: action_id.into(),
            action: action.as_str().into(),
            tenant: tenant.into(),
            user_id: user_id.into(),
            alert_id: alert_id.into(),
            reason: reason.into(),
            status: status.as_str().into(),
            mode: self.cfg.mode.as_str().into(),
            channels: self.dispatcher.channels(),
            attempts: 0,
            last_error: String::new(),
            actor: actor.into(),
            requested_at: (ms / 1000) as u32,
            at: (ms / 1000) as u32,
            at_ms: ms,
        }
    }

    /// In `[response] protected_users`, or `protected` in the directory: the one test, for automatic
    /// and manual locks alike.
    async fn protected(
        &self,
        tenant: &str,
        user_id: &str,
    ) -> Result<bool, clickhouse::error::Error> {
        if self.cfg.protected_users.iter().any(|u| u == user_id) {
            return Ok(true);
        }
        self.store.directory_protected(tenant, user_id).await
    }

    async fn record(&self, row: ActionRow) -> anyhow::Result<()> {
        record(&self.store, row).await
    }

    async fn decide(self: &Arc<Self>, a: &AlertRow) -> anyhow::Result<()> {
        let action_id = stable_id(&[
            ActionKind::LockUser.as_str().as_bytes(),
            a.alert_id.as_bytes(),
        ]);
        // The instance is part of the actor: two instances deciding at once can tell whose decision stands.
        let actor = format!("custos:{}@{}", a.detector, self.instance);
        let row = |status| {
            self.row(
                ActionKind::LockUser,
                &action_id,
                &a.tenant,
                &a.user_id,
                &a.alert_id,
                &a.summary,
                status,
                &actor,
            )
        };
        // The independent reads in parallel (whether it was decided before, too): this is on the
        // event → lock latency path.
        let since_ms = now_ms().saturating_sub(self.window_secs * 1000);
        let (decided, protected, already_locked, breaker) = tokio::try_join!(
            self.store.action_decided(&action_id),
            self.protected(&a.tenant, &a.user_id),
            self.store.account_locked(&a.tenant, &a.user_id),
            self.store.breaker(since_ms),
        )?;
        if decided {
            return Ok(()); // decided before: a replay, a re-read or a restart
        }
        let facts = Facts {
            protected,
            already_locked,
            breaker_tripped: breaker.tripped,
            recent_locks: breaker.recent_locks,
            max_locks: self.cfg.max_locks,
            mode: self.cfg.mode,
        };
        match decide(&facts) {
            Decision::Record(status) => {
                if status == ActionStatus::SkippedProtected {
                    tracing::warn!(user = %a.user_id, alert_id = %a.alert_id, "protected account: not locked");
                }
                self.record(row(status)).await
            }
            Decision::TripBreaker { count } => {
                self.trip(a, count).await?;
                self.record(row(ActionStatus::RateLimited)).await
            }
            Decision::Dispatch => {
                let first = row(ActionStatus::Dispatched);
                self.record(first.clone()).await?;
                // The claim settles in the background (counted in flight, so a drain waits for
                // it): the next alert's decision does not wait for this one's settle.
                self.inflight.fetch_add(1, SeqCst);
                let core = self.clone();
                tokio::spawn(async move {
                    match core.claimed(&first.action_id, &actor).await {
                        Ok(true) => core.dispatch(first),
                        Ok(false) => {
                            tracing::info!(action_id = %first.action_id, user = %first.user_id, "another instance decided this lock first; it dispatches, this one does not")
                        }
                        Err(e) => {
                            tracing::error!(action_id = %first.action_id, error = format!("{e:#}"), "checking the lock's claim failed; it stays `dispatched` and is resumed after the takeover lease")
                        }
                    }
                    core.inflight.fetch_sub(1, SeqCst);
                });
                Ok(())
            }
        }
    }

    /// Whether this instance's decision stands: after a short settle, of every decision recorded for
    /// `action_id` (two instances may both have found none during a handover), the earliest wins —
    /// the same answer on every instance, so exactly one dispatches.
    async fn claimed(&self, action_id: &str, actor: &str) -> anyhow::Result<bool> {
        tokio::time::sleep(CLAIM_SETTLE).await;
        let claims = self.store.dispatch_claims(action_id).await?;
        Ok(claims
            .iter()
            .min()
            .is_none_or(|(_, winner)| winner == actor))
    }

    async fn trip(&self, a: &AlertRow, count: u64) -> anyhow::Result<()> {
        let trip_id = stable_id(&[
            ActionKind::BreakerTrip.as_str().as_bytes(),
            a.alert_id.as_bytes(),
        ]);
        let reason = format!(
            "{count} automatic locks requested within {} (limit {}): auto-locking stopped until an admin resets the breaker",
            self.cfg.window, self.cfg.max_locks
        );
        self.record(self.row(
            ActionKind::BreakerTrip,
            &trip_id,
            &a.tenant,
            &a.user_id,
            &a.alert_id,
            &reason,
            ActionStatus::Manual,
            "custos:breaker",
        ))
        .await?;
        let now = crate::time::now_secs();
        let alert = AlertRow {
            alert_id: stable_id(&[b"lockout_storm", trip_id.as_bytes()]),
            detector: "lockout_storm".into(),
            severity: Severity::Critical.as_str().into(),
            tenant: a.tenant.clone(),
            user_id: a.user_id.clone(),
            ts: a.ts,
            ts_ms: a.ts_ms,
            created_at: now,
            summary: format!("Lockout storm: {reason}"),
            evidence_event_ids: vec![],
            details: serde_json::json!({"locks_in_window": count, "max_locks": self.cfg.max_locks, "window": self.cfg.window, "last_alert_id": a.alert_id}).to_string(),
            status: AlertStatus::Open.as_str().into(),
            response: Response::None.as_str().into(),
            version: 1,
            subject: String::new(),
        };
        self.store
            .insert_alerts(std::slice::from_ref(&alert))
            .await?;
        if let Some(p) = &self.publisher {
            p.publish(std::slice::from_ref(&alert));
        }
        crate::metrics::global()
            .alerts
            .with_label_values(&["lockout_storm"])
            .inc();
        tracing::error!(
            locks = count,
            max = self.cfg.max_locks,
            "LOCKOUT STORM: automatic locking stopped until an admin resets the breaker"
        );
        Ok(())
    }

    async fn manual(
        &self,
        action: ActionKind,
        tenant: &str,
        user_id: &str,
        reason: &str,
        actor: &str,
        force: bool,
    ) -> Result<String, ManualRefused> {
        let failed = |e: anyhow::Error| ManualRefused::Failed(format!("{e:#}"));
        let mut reason = reason.to_owned();
        if action == ActionKind::LockUser {
            let protected = self
                .protected(tenant, user_id)
                .await
                .map_err(|e| failed(e.into()))?;
            if protected && !force {
                return Err(ManualRefused::Protected);
            }
            if protected {
                reason = format!("[forced: protected account] {reason}");
            }
            let since_ms = now_ms().saturating_sub(self.window_secs * 1000);
            let recent = self
                .store
                .manual_locks_since(since_ms)
                .await
                .map_err(|e| failed(e.into()))?;
            if recent >= self.cfg.max_manual_locks as u64 {
                return Err(ManualRefused::Limit {
                    max: self.cfg.max_manual_locks,
                    window: self.cfg.window.to_string(),
                });
            }
        }
        let reason = reason.as_str();
        let id = stable_id(&[
            action.as_str().as_bytes(),
            tenant.as_bytes(),
            user_id.as_bytes(),
            &now_ms().to_le_bytes(),
            actor.as_bytes(),
        ]);
        let row = self.row(
            action,
            &id,
            tenant,
            user_id,
            "",
            reason,
            ActionStatus::Manual,
            actor,
        );
        self.record(row.clone()).await.map_err(failed)?;
        self.dispatch(row);
        Ok(id)
    }

    /// Sends on every channel in the background, recording each failed attempt and the outcome.
    fn dispatch(&self, row: ActionRow) {
        let (store, dispatcher, inflight) = (
            self.store.clone(),
            self.dispatcher.clone(),
            self.inflight.clone(),
        );
        inflight.fetch_add(1, SeqCst);
        tokio::spawn(async move {
            let requested =
                chrono::DateTime::from_timestamp(row.requested_at as i64, 0).unwrap_or_default();
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
            let on_attempt = move |n: u32, e: &str| {
                let _ = tx.send((n, e.to_owned()));
            };
            let send = dispatcher.send(&cmd, &on_attempt);
            let outcome = {
                tokio::pin!(send);
                loop {
                    tokio::select! {
                        r = &mut send => break r,
                        Some((n, e)) = rx.recv() => {
                            let mut retry = transition(&row, ActionStatus::Dispatched, n, &e);
                            retry.last_error = e;
                            let _ = record(&store, retry).await;
                        }
                    }
                }
            };
            while let Ok((n, e)) = rx.try_recv() {
                let _ = record(&store, transition(&row, ActionStatus::Dispatched, n, &e)).await;
            }
            let last = match outcome {
                Ok(n) => transition(&row, ActionStatus::Acknowledged, n, ""),
                Err((n, e)) => {
                    tracing::error!(action_id = %row.action_id, user = %row.user_id, error = %e, "lock command failed after every attempt");
                    transition(&row, ActionStatus::Failed, n, &e)
                }
            };
            if let Err(e) = record(&store, last).await {
                tracing::error!(
                    error = format!("{e:#}"),
                    "cannot record the outcome of an action"
                );
            }
            inflight.fetch_sub(1, SeqCst);
        });
    }

    /// Finishes what a previous run left undone: dispatches no instance is working on (see
    /// [`super::takeover`]), and lock alerts never decided.
    async fn recover(&self, responder: &Responder) -> anyhow::Result<()> {
        self.take_over_orphans().await?;
        for a in self.store.undecided_lock_alerts().await? {
            tracing::warn!(alert_id = %a.alert_id, user = %a.user_id, "deciding a lock alert left undecided by a previous run");
            responder.submit(a).await;
        }
        Ok(())
    }

    /// Resumes, once across instances, each unfinished dispatch with no transition for the lease:
    /// at start too, so an instance joining during a handover never resumes a live dispatch.
    async fn take_over_orphans(&self) -> anyhow::Result<()> {
        let after = self.takeover_after;
        let now = now_ms();
        let orphans: Vec<ActionRow> = self
            .store
            .unfinished_dispatches()
            .await?
            .into_iter()
            .filter(|r| super::takeover::is_orphaned(r, now, after))
            .collect();
        if orphans.is_empty() {
            return Ok(());
        }
        let note = super::takeover::claim_note(&self.instance);
        let mut claims = Vec::with_capacity(orphans.len());
        for row in orphans {
            let claim = transition(&row, ActionStatus::Dispatched, row.attempts, &note);
            self.record(claim.clone()).await?;
            claims.push((row.at_ms, claim));
        }
        tokio::time::sleep(CLAIM_SETTLE).await;
        for (stale_ms, claim) in claims {
            if super::takeover::claim_stands(&self.store, &claim.action_id, stale_ms, &note).await?
            {
                tracing::warn!(action_id = %claim.action_id, user = %claim.user_id, silent_ms = now.saturating_sub(stale_ms), "resuming an unfinished dispatch no instance is working on");
                self.dispatch(claim);
            }
        }
        Ok(())
    }

    /// Every half lease, takes over dispatches whose instance died while this one runs.
    async fn watch_orphans(self: Arc<Self>) {
        loop {
            tokio::time::sleep(self.takeover_after / 2).await;
            if let Err(e) = self.take_over_orphans().await {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "cannot look for unfinished dispatches; retrying"
                );
            }
        }
    }
}

fn transition(row: &ActionRow, status: ActionStatus, attempts: u32, error: &str) -> ActionRow {
    let ms = now_ms();
    ActionRow {
        status: status.as_str().into(),
        attempts,
        last_error: error.into(),
        at: (ms / 1000) as u32,
        at_ms: ms,
        ..row.clone()
    }
}

pub(crate) async fn record(store: &Store, mut row: ActionRow) -> anyhow::Result<()> {
    // Readable through the API: no secret (a webhook URL's token) in a stored error.
    row.last_error = crate::config::redact::text(&row.last_error);
    store
        .retry_policy(true)
        .run("insert action", store.url(), || store.insert_action(&row))
        .await?;
    tracing::info!(action_id = %row.action_id, action = %row.action, user = %row.user_id, status = %row.status, attempts = row.attempts, "action");
    crate::metrics::global()
        .actions
        .with_label_values(&[row.action.as_str(), row.status.as_str()])
        .inc();
    Ok(())
}

//! Notifications: stored alerts reach people through `[[notify]]` routes. Each alert is decided
//! once per route (`notifications` keeps every transition: pending, retrying, delivered, failed;
//! `queued` into a digest), delivered with retries that back off, and resumed after a restart. Each
//! route has its own queue and tasks, so a dead channel never delays another route, the pipeline
//! or lockouts; a replay finds its alerts already decided and sends nothing.
//!
//! Layout: [`route`] (which alerts a route takes, ids), [`message`] (what a message says, per
//! channel), [`send`] (one delivery attempt), this file (the decisions and their story).

pub mod message;
pub mod route;
pub mod send;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};

use crate::config::NotifyRoute;
use crate::store::alerts::AlertRow;
use crate::store::notifications::NotificationRow;
use crate::time::now_ms;
use message::Notice;
pub use route::Context;
use route::Period;

/// Alerts waiting for a route's decision task; beyond it they wait for the next start's recovery.
const QUEUE: usize = 10_000;
/// Deliveries in flight per route.
const IN_FLIGHT: usize = 4;
/// A restart resumes what was requested within this long, and notifies alerts stored within it.
const RESUME_SECS: u32 = 7 * 86_400;

/// Handle on the routes' tasks.
pub struct Notifier {
    routes: Vec<(Arc<NotifyRoute>, mpsc::Sender<Job>)>,
    inflight: Arc<Semaphore>,
}

enum Job {
    Alert(Box<AlertRow>),
    /// Answered once every job before it is decided.
    Barrier(oneshot::Sender<()>),
}

struct Route {
    cfg: Arc<NotifyRoute>,
    sender: send::Sender,
    ctx: Arc<Context>,
    slots: Arc<Semaphore>,
    /// Digests scheduled in this process.
    digests: Mutex<HashSet<String>>,
    /// Deliveries in flight, all routes (what `drain` waits for).
    inflight: Arc<Semaphore>,
}

/// Permits of the shared in-flight count (held while a delivery runs).
const TOTAL: u32 = 1 << 20;

impl Notifier {
    /// Starts one task per route; with `recover`, first resumes unfinished notifications and
    /// notifies recent alerts a previous run stored but did not notify.
    pub async fn start(
        routes: &[NotifyRoute],
        ctx: Context,
        recover: bool,
    ) -> anyhow::Result<Option<Notifier>> {
        if routes.is_empty() {
            return Ok(None);
        }
        let ctx = Arc::new(ctx);
        let inflight = Arc::new(Semaphore::new(TOTAL as usize));
        let mut handles = Vec::new();
        for cfg in routes {
            let route = Arc::new(Route {
                cfg: Arc::new(cfg.clone()),
                sender: send::Sender::build(cfg)?,
                ctx: ctx.clone(),
                slots: Arc::new(Semaphore::new(IN_FLIGHT)),
                digests: Mutex::new(HashSet::new()),
                inflight: inflight.clone(),
            });
            let (tx, rx) = mpsc::channel(QUEUE);
            if recover {
                route.clone().recover(&tx).await?;
            }
            tracing::info!(route = %cfg.name, channel = %cfg.channel, min_severity = %cfg.min_severity, digest = ?cfg.digest.as_ref().map(|d| d.to_string()), "notification route ready");
            tokio::spawn(route.clone().run(rx));
            handles.push((route.cfg.clone(), tx));
        }
        Ok(Some(Notifier {
            routes: handles,
            inflight,
        }))
    }

    /// Hands stored alerts to every route that takes them; never waits (a full queue is logged
    /// and recovered at the next start).
    pub fn submit(&self, alerts: &[AlertRow]) {
        for a in alerts.iter().filter(|a| a.version == 1) {
            for (cfg, tx) in &self.routes {
                if route::takes(cfg, a) && tx.try_send(Job::Alert(Box::new(a.clone()))).is_err() {
                    tracing::warn!(route = %cfg.name, alert_id = %a.alert_id, "notification queue full; the alert is notified at the next start");
                }
            }
        }
    }

    /// Waits until every route decided what it was given and deliveries in flight end (or
    /// `timeout`).
    pub async fn drain(&self, timeout: Duration) {
        let all = async {
            for (_, tx) in &self.routes {
                let (done, wait) = oneshot::channel();
                if tx.send(Job::Barrier(done)).await.is_ok() {
                    let _ = wait.await;
                }
            }
            let _ = self.inflight.acquire_many(TOTAL).await;
        };
        if tokio::time::timeout(timeout, all).await.is_err() {
            tracing::warn!(
                "notifications still in flight at exit; they stay unfinished in `notifications` and the next start resumes them"
            );
        }
    }
}

impl Route {
    async fn run(self: Arc<Self>, mut rx: mpsc::Receiver<Job>) {
        while let Some(job) = rx.recv().await {
            let a = match job {
                Job::Alert(a) => *a,
                Job::Barrier(done) => {
                    let _ = done.send(());
                    continue;
                }
            };
            if let Err(e) = self.clone().decide(&a).await {
                tracing::error!(route = %self.cfg.name, alert_id = %a.alert_id, error = format!("{e:#}"), "notification decision failed; the next start retries it");
            }
        }
    }

    /// Once per alert and route: already decided → nothing; a digest route → queued into its
    /// period; else recorded `pending` and delivered.
    async fn decide(self: Arc<Self>, a: &AlertRow) -> anyhow::Result<()> {
        if self.ctx.store.notified(&self.cfg.name, &a.alert_id).await? {
            return Ok(()); // a replay, a re-read or a restart
        }
        match &self.cfg.digest {
            Some(span) => {
                let period = Period::of(now_ms() / 1000, span.secs());
                let id = route::digest_id(&self.cfg.name, period.start);
                let row = self.row(&id, a, "queued", 0, "", (now_ms() / 1000) as u32);
                self.record(&row).await;
                self.schedule_digest(id, period);
            }
            None => {
                let id = route::notification_id(&self.cfg.name, &a.alert_id);
                let row = self.row(&id, a, "pending", 0, "", (now_ms() / 1000) as u32);
                self.record(&row).await;
                let busy = self.busy().await;
                tokio::spawn(self.clone().deliver(row, vec![a.clone()], None, busy));
            }
        }
        Ok(())
    }

    /// One delivery in flight (what `drain` waits for), taken before its task is spawned.
    async fn busy(&self) -> Option<OwnedSemaphorePermit> {
        self.inflight.clone().acquire_owned().await.ok()
    }

    async fn recover(self: Arc<Self>, tx: &mpsc::Sender<Job>) -> anyhow::Result<()> {
        let since = ((now_ms() / 1000) as u32).saturating_sub(RESUME_SECS);
        let store = &self.ctx.store;
        for row in store
            .unfinished_notifications(&self.cfg.name, since)
            .await?
        {
            match &self.cfg.digest {
                // A digest still collecting, or one whose delivery was under way: its period's
                // alerts, once the period is over (a row's `alert_id` may be any of them).
                Some(span) => {
                    let period = Period::of(row.requested_at as u64, span.secs());
                    self.schedule_digest(row.notification_id.clone(), period);
                }
                None => {
                    let Some(a) = store.alert(&row.alert_id).await? else {
                        continue;
                    };
                    tracing::warn!(route = %self.cfg.name, alert_id = %a.alert_id, attempts = row.attempts, "resuming a notification left unfinished by a previous run");
                    let busy = self.busy().await;
                    tokio::spawn(self.clone().deliver(row, vec![a], None, busy));
                }
            }
        }
        for a in store.unnotified_alerts(&self.cfg.name, RESUME_SECS).await? {
            if route::takes(&self.cfg, &a) {
                let _ = tx.try_send(Job::Alert(Box::new(a)));
            }
        }
        Ok(())
    }

    /// Delivers the digest `id` once its period has ended (once per process).
    fn schedule_digest(self: &Arc<Self>, id: String, period: Period) {
        if !self.digests.lock().expect("digest set").insert(id.clone()) {
            return;
        }
        let me = self.clone();
        // A period already over is in flight from now on (a finite command's drain waits for it).
        let ended = period.end * 1000 <= now_ms();
        let early = ended
            .then(|| self.inflight.clone().try_acquire_owned().ok())
            .flatten();
        tokio::spawn(async move {
            let wait = (period.end * 1000).saturating_sub(now_ms()) + 1_000;
            tokio::time::sleep(Duration::from_millis(if ended { 0 } else { wait })).await;
            let alerts = loop {
                match me.digest_alerts(&id).await {
                    Ok(a) => break a,
                    Err(e) => {
                        tracing::warn!(route = %me.cfg.name, error = format!("{e:#}"), "reading a digest's alerts failed; retrying");
                        tokio::time::sleep(Duration::from_secs(5)).await;
                    }
                }
            };
            if alerts.is_empty() {
                return;
            }
            let mut row = me.row(&id, &alerts[0], "pending", 0, "", period.start as u32);
            (row.alert_id, row.user_id, row.detector) =
                (String::new(), String::new(), String::new());
            row.severity = route::worst(&alerts).to_owned();
            me.record(&row).await;
            let busy = match early {
                Some(b) => Some(b),
                None => me.busy().await,
            };
            me.clone().deliver(row, alerts, Some(period), busy).await;
        });
    }

    async fn digest_alerts(&self, id: &str) -> anyhow::Result<Vec<AlertRow>> {
        let mut out = Vec::new();
        for alert_id in self.ctx.store.digest_alerts(id).await? {
            if let Some(a) = self.ctx.store.alert(&alert_id).await? {
                out.push(a);
            }
        }
        Ok(out)
    }

    /// Attempts until delivered or `max_attempts`, each failure recorded (`retrying`) and waited
    /// out (1 s doubling to 5 min). `row` is the notification's latest transition.
    async fn deliver(
        self: Arc<Self>,
        row: NotificationRow,
        alerts: Vec<AlertRow>,
        period: Option<Period>,
        _busy: Option<OwnedSemaphorePermit>,
    ) {
        let Ok(_slot) = self.slots.clone().acquire_owned().await else {
            return;
        };
        let mut items = Vec::with_capacity(alerts.len());
        for a in &alerts {
            items.push(route::item(&self.ctx, a).await);
        }
        let notice = Notice {
            notification_id: row.notification_id.clone(),
            route: self.cfg.name.clone(),
            items,
            period: period.map(Period::bounds),
        };
        let mut attempts = row.attempts;
        loop {
            attempts += 1;
            let (status, error) = match self.sender.send(&self.cfg, &notice).await {
                Ok(()) => ("delivered", String::new()),
                Err(e) if attempts >= self.cfg.max_attempts => ("failed", e),
                Err(e) => ("retrying", e),
            };
            let next = NotificationRow {
                status: status.into(),
                attempts,
                last_error: error.clone(),
                at: (now_ms() / 1000) as u32,
                at_ms: now_ms().max(row.at_ms + u64::from(attempts)),
                ..row.clone()
            };
            self.record(&next).await;
            match status {
                "delivered" => {
                    tracing::info!(route = %self.cfg.name, notification_id = %row.notification_id, attempts, alerts = notice.items.len(), "notification delivered");
                    return;
                }
                "failed" => {
                    tracing::error!(route = %self.cfg.name, notification_id = %row.notification_id, attempts, error = %error, "notification failed after every attempt");
                    return;
                }
                _ => {
                    tracing::warn!(route = %self.cfg.name, notification_id = %row.notification_id, attempts, error = %error, "notification attempt failed; retrying");
                    tokio::time::sleep(route::backoff(attempts)).await;
                }
            }
        }
    }

    fn row(
        &self,
        id: &str,
        a: &AlertRow,
        status: &str,
        attempts: u32,
        err: &str,
        requested: u32,
    ) -> NotificationRow {
        let ms = now_ms();
        NotificationRow {
            notification_id: id.into(),
            route: self.cfg.name.clone(),
            channel: self.cfg.channel.as_str().into(),
            alert_id: a.alert_id.clone(),
            tenant: a.tenant.clone(),
            user_id: a.user_id.clone(),
            severity: a.severity.clone(),
            detector: a.detector.clone(),
            status: status.into(),
            attempts,
            last_error: err.into(),
            requested_at: requested,
            at: (ms / 1000) as u32,
            at_ms: ms,
        }
    }

    /// Records a transition, retrying while ClickHouse is down (only this delivery waits).
    async fn record(&self, row: &NotificationRow) {
        let mut wait = Duration::from_millis(500);
        while let Err(e) = self.ctx.store.insert_notification(row).await {
            tracing::warn!(route = %self.cfg.name, notification_id = %row.notification_id, error = %e, "recording a notification failed; retrying");
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(30));
        }
    }
}

//! `actions`: one row per transition of every response decision. The reads the lockout responder
//! decides from (already decided? locked? the storm breaker) and the current state of each action.

use chrono::{DateTime, Utc};
use clickhouse::Row;
use serde::{Deserialize, Serialize};

use super::query::{Arg, Cursor, Page, Sql};
use super::Store;
use crate::model::{ActionKind, ActionStatus};

type Result<T> = std::result::Result<T, clickhouse::error::Error>;

/// One transition of one action (a row of `actions`); also an action's current state (its latest
/// status, attempts and error; `at`/`at_ms` of its latest transition).
/// Its schema documents the API's view of it: `requested_at` and `updated_at` (the latest transition)
/// as RFC 3339 text.
#[derive(Debug, Clone, Row, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ActionRow {
    pub action_id: String,
    /// lock_user, unlock_user, breaker_trip, breaker_reset
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
    #[schema(value_type = String, format = DateTime)]
    pub requested_at: u32,
    #[schema(ignore)]
    pub at: u32,
    #[schema(rename = "updated_at", value_type = String, format = DateTime)]
    pub at_ms: u64,
}

/// Each action's current state, in [`ActionRow`]'s column order (`st` and `req` are named for filters).
const STATE: &str = "SELECT action_id, any(action), any(tenant), any(user_id), any(alert_id), any(reason), argMax(status, at_ms) AS st, \
    any(mode), any(channels), max(attempts), argMax(last_error, at_ms), any(actor), toUInt32(any(requested_at)) AS req, toUInt32(max(at)), \
    max(at_ms) FROM actions WHERE 1";

/// What an actions query may be narrowed by.
#[derive(Debug, Clone, Default)]
pub struct ActionFilter {
    pub user_id: Option<String>,
    pub tenant: Option<String>,
    pub action: Option<ActionKind>,
    pub status: Option<ActionStatus>,
    /// `requested_at` at or after / before.
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// The storm breaker as the decision needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Breaker {
    /// The latest trip or reset is a trip.
    pub tripped: bool,
    /// Automatic locks decided since `since_ms` and since the last reset.
    pub recent_locks: u64,
}

fn quoted(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("'{s}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    pub async fn insert_action(&self, row: &ActionRow) -> Result<()> {
        self.insert_rows("actions", std::slice::from_ref(row)).await
    }

    /// Whether any transition of `action_id` is recorded (the decision was made before).
    pub async fn action_decided(&self, action_id: &str) -> Result<bool> {
        let found: Option<String> = self
            .query("SELECT action_id FROM actions WHERE action_id = ? LIMIT 1")
            .bind(action_id)
            .fetch_optional()
            .await?;
        Ok(found.is_some())
    }

    /// Whether custos has locked this account: the latest lock/unlock that did not fail is a lock.
    pub async fn account_locked(&self, tenant: &str, user_id: &str) -> Result<bool> {
        let (lock, unlock) = (
            ActionKind::LockUser.as_str(),
            ActionKind::UnlockUser.as_str(),
        );
        let live = quoted(&[
            ActionStatus::Dispatched.as_str(),
            ActionStatus::Acknowledged.as_str(),
            ActionStatus::Manual.as_str(),
        ]);
        let sql = format!(
            "SELECT act FROM (SELECT action_id, any(action) AS act, argMax(status, at_ms) AS st, max(at_ms) AS t FROM actions \
             WHERE tenant = ? AND user_id = ? AND action IN ('{lock}', '{unlock}') GROUP BY action_id) WHERE st IN ({live}) ORDER BY t DESC LIMIT 1"
        );
        let last: Option<String> = self
            .query(&sql)
            .bind(tenant)
            .bind(user_id)
            .fetch_optional()
            .await?;
        Ok(last.as_deref() == Some(lock))
    }

    /// The breaker, and the automatic locks decided since `since_ms` (and since the last reset).
    pub async fn breaker(&self, since_ms: u64) -> Result<Breaker> {
        let (trip, reset) = (
            ActionKind::BreakerTrip.as_str(),
            ActionKind::BreakerReset.as_str(),
        );
        let latest = format!("SELECT action FROM actions WHERE action IN ('{trip}', '{reset}') ORDER BY at_ms DESC LIMIT 1");
        let reset_sql = format!("SELECT max(at_ms) FROM actions WHERE action = '{reset}'");
        let (latest, reset_at) = tokio::try_join!(
            self.query(&latest).fetch_optional::<String>(),
            self.query(&reset_sql).fetch_one::<u64>(),
        )?;
        let counted = quoted(&[
            ActionStatus::Dispatched.as_str(),
            ActionStatus::SkippedDryRun.as_str(),
        ]);
        let recent_sql = format!(
            "SELECT uniqExact(action_id) FROM actions WHERE action = '{}' AND status IN ({counted}) AND actor LIKE 'custos:%' AND at_ms >= ?",
            ActionKind::LockUser.as_str()
        );
        let recent_locks: u64 = self
            .query(&recent_sql)
            .bind(since_ms.max(reset_at + 1))
            .fetch_one()
            .await?;
        Ok(Breaker {
            tripped: latest.as_deref() == Some(trip),
            recent_locks,
        })
    }

    /// The decisions recorded for `action_id` (its first `dispatched` rows): (time, actor) each.
    pub async fn dispatch_claims(&self, action_id: &str) -> Result<Vec<(u64, String)>> {
        self.query(
            "SELECT at_ms, actor FROM actions WHERE action_id = ? AND status = ? AND attempts = 0",
        )
        .bind(action_id)
        .bind(ActionStatus::Dispatched.as_str())
        .fetch_all()
        .await
    }

    /// Takeover claims on `action_id` recorded after `stale_ms`: (time, note), see `act::takeover`.
    pub async fn takeover_claims(
        &self,
        action_id: &str,
        stale_ms: u64,
    ) -> Result<Vec<(u64, String)>> {
        self.query(
            "SELECT at_ms, last_error FROM actions WHERE action_id = ? AND status = ? AND at_ms > ? AND startsWith(last_error, 'taken over by instance ')",
        )
        .bind(action_id)
        .bind(ActionStatus::Dispatched.as_str())
        .bind(stale_ms)
        .fetch_all()
        .await
    }

    /// Manual locks requested since `since_ms` (their first transition is `manual`).
    pub async fn manual_locks_since(&self, since_ms: u64) -> Result<u64> {
        self.query("SELECT uniqExact(action_id) FROM actions WHERE action = ? AND status = ? AND at_ms >= ?")
            .bind(ActionKind::LockUser.as_str())
            .bind(ActionStatus::Manual.as_str())
            .bind(since_ms)
            .fetch_one()
            .await
    }

    /// Lock and unlock commands whose latest state is still in flight (dispatched, or recorded manually
    /// and not yet sent): a previous run stopped before they finished.
    pub async fn unfinished_dispatches(&self) -> Result<Vec<ActionRow>> {
        let kinds = quoted(&[
            ActionKind::LockUser.as_str(),
            ActionKind::UnlockUser.as_str(),
        ]);
        let open = quoted(&[
            ActionStatus::Dispatched.as_str(),
            ActionStatus::Manual.as_str(),
        ]);
        self.query(&format!(
            "{STATE} AND action IN ({kinds}) GROUP BY action_id HAVING st IN ({open})"
        ))
        .fetch_all()
        .await
    }

    /// One page of actions' current states, newest request first.
    /// The actions on `user_id` requested in `[since, until)` (epoch seconds) without an alert
    /// (manual locks and unlocks), current states, oldest first.
    pub async fn user_actions(
        &self,
        user_id: &str,
        since: u32,
        until: u32,
        limit: u64,
    ) -> Result<Vec<ActionRow>> {
        let sql = format!(
            "{STATE} AND user_id = ? AND alert_id = '' AND requested_at >= toDateTime(?) AND requested_at < toDateTime(?) \
             GROUP BY action_id ORDER BY req, action_id LIMIT ?"
        );
        self.narrow_query(&sql)
            .bind(user_id)
            .bind(since)
            .bind(until)
            .bind(limit)
            .fetch_all()
            .await
    }

    /// The actions decided for any of `alert_ids`, current states, oldest first.
    pub async fn alerts_actions(&self, alert_ids: Vec<String>) -> Result<Vec<ActionRow>> {
        if alert_ids.is_empty() {
            return Ok(Vec::new()); // 18.16 refuses `has([], …)`
        }
        let sql =
            format!("{STATE} AND has(?, alert_id) GROUP BY action_id ORDER BY req, action_id");
        self.narrow_query(&sql).bind(alert_ids).fetch_all().await
    }

    pub async fn actions_page(
        &self,
        f: &ActionFilter,
        after: Option<&Cursor>,
        limit: u64,
    ) -> Result<Page<ActionRow>> {
        let mut sql = Sql::new(STATE);
        sql.eq("user_id", f.user_id.as_deref())
            .eq("tenant", f.tenant.as_deref())
            .eq("action", f.action.map(|a| a.as_str()));
        if let Some(t) = f.since {
            sql.push(
                " AND requested_at >= toDateTime(?)",
                [Arg::U32(t.timestamp() as u32)],
            );
        }
        if let Some(t) = f.until {
            sql.push(
                " AND requested_at < toDateTime(?)",
                [Arg::U32(t.timestamp() as u32)],
            );
        }
        sql.push(" GROUP BY action_id HAVING 1", []);
        sql.eq("st", f.status.map(|s| s.as_str()));
        if let Some(c) = after {
            sql.push(
                " AND (req < ? OR (req = ? AND action_id < ?))",
                [Arg::U32(c.ts), Arg::U32(c.ts), Arg::S(c.id.clone())],
            );
        }
        sql.push(
            " ORDER BY req DESC, action_id DESC LIMIT ?",
            [Arg::U64(limit)],
        );
        let rows: Vec<ActionRow> = sql.query(self).fetch_all().await?;
        Ok(Page::new(rows, limit, |r| Cursor {
            ts: r.requested_at,
            ms: 0,
            id: r.action_id.clone(),
        }))
    }
}

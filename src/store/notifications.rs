//! `notifications`: one row per transition of every message to people. The reads the notifier
//! decides from (was this alert notified on this route? what is unfinished?) and each
//! notification's current state.

use clickhouse::Row;
use serde::{Deserialize, Serialize};

use super::Store;

type Result<T> = std::result::Result<T, clickhouse::error::Error>;

/// One transition of one notification; also a notification's current state (its latest status,
/// attempts and error; `at`/`at_ms` of its latest transition).
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NotificationRow {
    pub notification_id: String,
    pub route: String,
    pub channel: String,
    /// The alert (for a digest: one row per alert queued into it, and '' on its own transitions).
    pub alert_id: String,
    pub tenant: String,
    pub user_id: String,
    pub severity: String,
    pub detector: String,
    /// pending, retrying, delivered, failed; `queued` for an alert waiting in a digest.
    pub status: String,
    pub attempts: u32,
    pub last_error: String,
    #[schema(value_type = String, format = DateTime)]
    pub requested_at: u32,
    #[schema(ignore)]
    pub at: u32,
    #[schema(rename = "updated_at", value_type = String, format = DateTime)]
    pub at_ms: u64,
}

/// Each notification's current state, in [`NotificationRow`]'s column order.
const STATE: &str = "SELECT notification_id, any(route), any(channel), any(alert_id), any(tenant), any(user_id), \
    any(severity), any(detector), argMax(status, at_ms) AS st, max(attempts), argMax(last_error, at_ms), \
    toUInt32(min(requested_at)), toUInt32(max(at)), max(at_ms) FROM notifications";

impl Store {
    pub async fn insert_notification(&self, row: &NotificationRow) -> Result<()> {
        self.insert_rows("notifications", std::slice::from_ref(row))
            .await
    }

    /// Whether `alert_id` was decided on `route` before (notified, being notified, or queued into a
    /// digest).
    pub async fn notified(&self, route: &str, alert_id: &str) -> Result<bool> {
        let found: Option<String> = self
            .query(
                "SELECT notification_id FROM notifications WHERE route = ? AND alert_id = ? LIMIT 1",
            )
            .bind(route)
            .bind(alert_id)
            .fetch_optional()
            .await?;
        Ok(found.is_some())
    }

    /// Notifications of `route` not delivered or failed yet, requested at or after `since` (epoch
    /// seconds): what a restart resumes. A digest's state is its own transitions' (its queued
    /// alerts are read with [`Store::digest_alerts`]).
    pub async fn unfinished_notifications(
        &self,
        route: &str,
        since: u32,
    ) -> Result<Vec<NotificationRow>> {
        let sql = format!(
            "{STATE} WHERE route = ? AND requested_at >= toDateTime(?, 'UTC') \
             GROUP BY notification_id HAVING st NOT IN ('delivered', 'failed') ORDER BY min(at_ms)"
        );
        self.query(&sql).bind(route).bind(since).fetch_all().await
    }

    /// The alerts queued into digest `notification_id`, oldest first.
    pub async fn digest_alerts(&self, notification_id: &str) -> Result<Vec<String>> {
        self.query(
            "SELECT alert_id FROM notifications WHERE notification_id = ? AND status = 'queued' \
             GROUP BY alert_id ORDER BY min(at_ms)",
        )
        .bind(notification_id)
        .fetch_all()
        .await
    }

    /// The notifications about one alert (digests it was queued into included), current states.
    pub async fn alert_notifications(&self, alert_id: &str) -> Result<Vec<NotificationRow>> {
        let sql = format!(
            "{STATE} WHERE notification_id IN (SELECT notification_id FROM notifications WHERE alert_id = ?) \
             GROUP BY notification_id ORDER BY min(at_ms)"
        );
        self.query(&sql).bind(alert_id).fetch_all().await
    }

    /// Alerts created in the last `within_secs` with no notification on `route`: what a previous
    /// run stored but did not get to notify (a crash, a full queue).
    pub async fn unnotified_alerts(
        &self,
        route: &str,
        within_secs: u32,
    ) -> Result<Vec<super::alerts::AlertRow>> {
        self.query(
            "SELECT ?fields FROM alerts FINAL WHERE created_at >= now() - ? \
             AND alert_id NOT IN (SELECT alert_id FROM notifications WHERE route = ?) ORDER BY created_at",
        )
        .bind(within_secs)
        .bind(route)
        .fetch_all()
        .await
    }

    /// The latest status of the automatic lock decided for `alert_id` (none: no lock was decided).
    pub async fn lock_state(&self, alert_id: &str) -> Result<Option<String>> {
        let st: Option<String> = self
            .query(
                "SELECT argMax(status, at_ms) FROM actions WHERE alert_id = ? AND action = 'lock_user' \
                 GROUP BY alert_id",
            )
            .bind(alert_id)
            .fetch_optional()
            .await?;
        Ok(st)
    }
}

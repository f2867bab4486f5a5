//! `alerts` and `alert_status_history`: what detectors raised (the latest version of each alert), and
//! every triage status change with who and when. An alert without a status change is open.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use clickhouse::Row;
use serde::{Deserialize, Serialize};

use super::query::{Arg, Cursor, Page, Sql};
use super::Store;
use crate::model::{Alert, AlertStatus, Severity};

type Result<T> = std::result::Result<T, clickhouse::error::Error>;

/// One row of `alerts`, written and read back.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub struct AlertRow {
    pub alert_id: String,
    pub detector: String,
    pub severity: String,
    pub tenant: String,
    pub user_id: String,
    pub ts: u32,
    pub ts_ms: u16,
    pub created_at: u32,
    pub summary: String,
    pub evidence_event_ids: Vec<String>,
    pub details: String,
    pub status: String,
    pub response: String,
    pub version: u64,
    /// Whom the alert is about when it is not the user ('' = the user; added by migration 007).
    pub subject: String,
}

impl AlertRow {
    pub fn new(a: &Alert, created_at: u32) -> Self {
        let (ts, ts_ms) = crate::time::split(a.ts);
        AlertRow {
            alert_id: a.alert_id.clone(),
            detector: a.detector.clone(),
            severity: a.severity.as_str().to_owned(),
            tenant: a.tenant.clone(),
            user_id: a.user_id.clone(),
            ts,
            ts_ms,
            created_at,
            summary: a.summary.clone(),
            evidence_event_ids: a.evidence_event_ids.clone(),
            details: a.details.to_string(),
            status: a.status.as_str().to_owned(),
            response: a.response.as_str().to_owned(),
            version: a.version,
            subject: a.subject.clone().unwrap_or_default(),
        }
    }

    /// Whether the detector asked for an account lock.
    pub fn wants_lock(&self) -> bool {
        self.response == crate::model::Response::Lock.as_str()
    }
}

/// One row of `alert_status_history`.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub struct StatusRow {
    pub alert_id: String,
    pub status: String,
    pub note: String,
    pub actor: String,
    pub role: String,
    pub at: u32,
    pub at_ms: u64,
}

/// What an alerts query may be narrowed by.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    /// Any of these (empty: all).
    pub detector: Vec<String>,
    /// The alert's subject: its `subject` when it has one, else its user.
    pub subject: Option<String>,
    pub user_id: Option<String>,
    /// Any of these (empty: all).
    pub severity: Vec<Severity>,
    pub status: Option<AlertStatus>,
    pub tenant: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// The latest status of every alert that has one.
const LATEST: &str =
    "(SELECT alert_id, argMax(status, at_ms) AS st FROM alert_status_history GROUP BY alert_id)";

impl Store {
    pub async fn insert_alerts(&self, rows: &[AlertRow]) -> Result<()> {
        self.insert_rows("alerts", rows).await
    }

    /// One page of matching alerts, newest first.
    pub async fn alerts_page(
        &self,
        f: &AlertFilter,
        after: Option<&Cursor>,
        limit: u64,
    ) -> Result<Page<AlertRow>> {
        let mut sql = Sql::new("SELECT ?fields FROM alerts FINAL WHERE 1");
        if let Some(subject) = &f.subject {
            sql.push(
                " AND if(subject = '', user_id, subject) = ?",
                [Arg::S(subject.clone())],
            );
        }
        let severities: Vec<String> = f.severity.iter().map(|s| s.as_str().to_owned()).collect();
        sql.any_of("detector", &f.detector)
            .eq("user_id", f.user_id.as_deref())
            .any_of("severity", &severities)
            .eq("tenant", f.tenant.as_deref());
        sql.since(f.since).until(f.until).after(after, "alert_id");
        match f.status {
            None => {}
            Some(AlertStatus::Open) => {
                sql.push(
                    &format!(
                        " AND alert_id NOT IN (SELECT alert_id FROM {LATEST} WHERE st != 'open')"
                    ),
                    [],
                );
            }
            Some(s) => {
                sql.push(
                    &format!(" AND alert_id IN (SELECT alert_id FROM {LATEST} WHERE st = ?)"),
                    [Arg::S(s.as_str().to_owned())],
                );
            }
        }
        sql.push(
            " ORDER BY ts DESC, ts_ms DESC, alert_id DESC LIMIT ?",
            [Arg::U64(limit)],
        );
        let rows: Vec<AlertRow> = sql.query(self).fetch_all().await?;
        Ok(Page::new(rows, limit, |r| Cursor {
            ts: r.ts,
            ms: r.ts_ms,
            id: r.alert_id.clone(),
        }))
    }

    pub async fn alert(&self, alert_id: &str) -> Result<Option<AlertRow>> {
        self.narrow_query("SELECT ?fields FROM alerts FINAL PREWHERE alert_id = ? LIMIT 1")
            .bind(alert_id)
            .fetch_optional()
            .await
    }

    /// Every detector that has a stored alert.
    pub async fn alert_detectors(&self) -> Result<Vec<String>> {
        self.query("SELECT DISTINCT detector FROM alerts ORDER BY detector")
            .fetch_all()
            .await
    }

    /// The stored versions of `ids` (latest of each).
    pub async fn alerts_by_ids(&self, ids: Vec<String>) -> Result<HashMap<String, AlertRow>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<AlertRow> = self
            .query("SELECT ?fields FROM alerts FINAL PREWHERE has(?, alert_id)")
            .bind(ids)
            .fetch_all()
            .await?;
        Ok(rows.into_iter().map(|r| (r.alert_id.clone(), r)).collect())
    }

    /// One user's alerts in a range, oldest first.
    pub async fn user_alerts(
        &self,
        user_id: &str,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
        limit: u64,
    ) -> Result<Vec<AlertRow>> {
        let mut sql = Sql::new("SELECT ?fields FROM alerts FINAL PREWHERE user_id = ? WHERE 1");
        sql.push("", [Arg::S(user_id.to_owned())])
            .since(since)
            .until(until);
        sql.push(" ORDER BY ts, ts_ms, alert_id LIMIT ?", [Arg::U64(limit)]);
        sql.narrow_query(self).fetch_all().await
    }

    /// Alerts whose trigger is at or after `since` (unix seconds): suppression state after a restart.
    pub async fn alerts_since(&self, since: u32) -> Result<Vec<AlertRow>> {
        self.query("SELECT ?fields FROM alerts FINAL WHERE ts >= toDateTime(?)")
            .bind(since)
            .fetch_all()
            .await
    }

    /// Lock alerts raised in the last day that have no decision in `actions` (a crash between storing
    /// the alert and deciding).
    pub async fn undecided_lock_alerts(&self) -> Result<Vec<AlertRow>> {
        self.query("SELECT ?fields FROM alerts FINAL WHERE response = 'lock' AND created_at >= now() - 86400 AND alert_id NOT IN (SELECT alert_id FROM actions)")
            .fetch_all()
            .await
    }

    /// The latest status of each of `ids` that has one (absent = open).
    pub async fn alert_statuses(&self, ids: Vec<String>) -> Result<HashMap<String, AlertStatus>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<(String, String)> = self
            .query(&format!(
                "SELECT alert_id, st FROM {LATEST} WHERE has(?, alert_id)"
            ))
            .bind(ids)
            .fetch_all()
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, st)| Some((id, st.parse().ok()?)))
            .collect())
    }

    /// Every status change of an alert, oldest first.
    pub async fn status_history(&self, alert_id: &str) -> Result<Vec<StatusRow>> {
        self.narrow_query(
            "SELECT ?fields FROM alert_status_history WHERE alert_id = ? ORDER BY at_ms",
        )
        .bind(alert_id)
        .fetch_all()
        .await
    }

    /// Every status change of any of `alert_ids`, oldest first.
    pub async fn alerts_status_changes(&self, alert_ids: Vec<String>) -> Result<Vec<StatusRow>> {
        if alert_ids.is_empty() {
            return Ok(Vec::new()); // 18.16 refuses `has([], …)`
        }
        self.narrow_query(
            "SELECT ?fields FROM alert_status_history WHERE has(?, alert_id) ORDER BY at_ms, alert_id",
        )
        .bind(alert_ids)
        .fetch_all()
        .await
    }

    pub async fn insert_status(&self, row: &StatusRow) -> Result<()> {
        self.insert_rows("alert_status_history", std::slice::from_ref(row))
            .await
    }

    /// New alerts per UTC day and detector in `[since, until)`.
    pub async fn alerts_per_day(
        &self,
        tenant: Option<&str>,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<DayDetectorCount>> {
        let mut sql = Sql::new("SELECT toString(toDate(ts)) AS day, detector, count() AS alerts FROM alerts FINAL WHERE 1");
        sql.eq("tenant", tenant)
            .since(Some(since))
            .until(Some(until))
            .push(" GROUP BY day, detector ORDER BY day, detector", []);
        sql.query(self).fetch_all().await
    }
}

/// Alerts of one detector on one day.
#[derive(Debug, Row, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DayDetectorCount {
    pub day: String,
    pub detector: String,
    pub alerts: u64,
}

//! `directory`: every version of every HR / identity record, and its reads — the whole feed (to
//! rebuild the in-memory view), one user's history (timelines) and the `protected` flag (lockouts).

use clickhouse::Row;
use serde::{Deserialize, Serialize};

use super::pos::ingested_row;
use super::Store;
use crate::model::{DirectoryRecord, Position};

type Result<T> = std::result::Result<T, clickhouse::error::Error>;

ingested_row! {
    /// One row of `directory`, written and read back (its schema documents the API's view of it).
    #[derive(Debug, Clone, Default, Row, Serialize, Deserialize, utoipa::ToSchema)]
    pub struct DirectoryRow {
        pub record_id: String,
        pub user_id: String,
        pub status: String,
        /// RFC 3339; null = effective since always.
        #[schema(value_type = Option<String>, format = DateTime)]
        pub effective_ts: Option<u32>,
        pub timezone: String,
        pub work_hours: String,
        pub work_days: String,
        pub display_name: String,
        pub email: String,
        pub department: String,
        pub role: String,
        pub manager_id: String,
        #[schema(value_type = bool)]
        pub protected: u8,
        #[schema(value_type = String, format = DateTime)]
        pub ingest_ts: u32,
        ;
        /// The tenant the record is for; empty: every tenant (added by migration 007).
        pub tenant: String,
    }
}

fn text<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

impl DirectoryRow {
    pub fn new(r: &DirectoryRecord, at: &Position, ingest_ts: u32) -> Self {
        let mut row = DirectoryRow {
            record_id: r.record_id.clone(),
            user_id: r.user_id.clone(),
            tenant: r.tenant.clone().unwrap_or_default(),
            status: r.status.as_str().to_owned(),
            effective_ts: r.effective_ts.map(|t| t.timestamp() as u32),
            timezone: text(r.timezone.map(|t| t.name())),
            work_hours: text(r.work_hours),
            work_days: text(r.work_days),
            display_name: r.display_name.clone(),
            email: r.email.clone(),
            department: r.department.clone(),
            role: r.role.clone(),
            manager_id: r.manager_id.clone(),
            protected: r.protected as u8,
            ingest_ts,
            ..Default::default()
        };
        row.set_position(at);
        row
    }

    /// The stored version as the in-memory view holds it; `Err` names the column that no longer parses.
    pub fn into_record(self) -> std::result::Result<DirectoryRecord, String> {
        fn opt<T: std::str::FromStr>(s: &str, col: &str) -> std::result::Result<Option<T>, String> {
            if s.is_empty() {
                return Ok(None);
            }
            s.parse()
                .map(Some)
                .map_err(|_| format!("`{col}` = `{s}` does not parse"))
        }
        Ok(DirectoryRecord {
            tenant: Some(self.tenant).filter(|t| !t.is_empty()),
            status: self.status.parse()?,
            effective_ts: self.effective_ts.map(|t| crate::time::at(t, 0)),
            timezone: opt(&self.timezone, "timezone")?,
            work_hours: opt(&self.work_hours, "work_hours")?,
            work_days: opt(&self.work_days, "work_days")?,
            user_id: self.user_id,
            display_name: self.display_name,
            email: self.email,
            department: self.department,
            role: self.role,
            manager_id: self.manager_id,
            protected: self.protected != 0,
            record_id: self.record_id,
        })
    }
}

impl Store {
    /// Every stored directory version.
    pub async fn directory_versions(&self) -> Result<Vec<DirectoryRow>> {
        self.query("SELECT ?fields FROM directory FINAL")
            .fetch_all()
            .await
    }

    /// One user's versions, by effective time (then arrival).
    pub async fn user_directory(&self, user_id: &str) -> Result<Vec<DirectoryRow>> {
        self.narrow_query("SELECT ?fields FROM directory FINAL PREWHERE user_id = ? ORDER BY ifNull(effective_ts, toDateTime(0)), ingest_ts")
            .bind(user_id)
            .fetch_all()
            .await
    }

    /// Whether any version of the user's record that applies to `tenant` says `protected`.
    pub async fn directory_protected(&self, tenant: &str, user_id: &str) -> Result<bool> {
        let v: u8 = self
            .query("SELECT toUInt8(max(protected)) FROM directory WHERE user_id = ? AND (tenant = '' OR tenant = ?)")
            .bind(user_id)
            .bind(tenant)
            .fetch_one()
            .await?;
        Ok(v == 1)
    }
}

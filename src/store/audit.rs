//! `api_audit`: one row per API request (the auditors' own access is auditable).

use chrono::{DateTime, Utc};
use clickhouse::Row;
use serde::{Deserialize, Serialize};

use super::query::{Arg, Cursor, Page, Sql};
use super::Store;

/// One row of `api_audit`.
#[derive(Debug, Clone, Row, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditRow {
    pub request_id: String,
    pub ts: u32,
    pub ts_ms: u64,
    pub token_name: String,
    pub role: String,
    pub method: String,
    pub route: String,
    pub path: String,
    pub query: String,
    pub status: u16,
    pub rows: i64,
    pub duration_ms: u32,
    pub client: String,
    /// `path` and `query` percent-decoded (searchable as what they mean).
    pub path_decoded: String,
    pub query_decoded: String,
}

/// What `GET /api/v1/audit` filters by.
#[derive(Debug, Default)]
pub struct AuditFilter {
    pub token_name: Option<String>,
    pub route: Option<String>,
    pub status: Option<u16>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

impl Store {
    pub async fn insert_audit(&self, rows: &[AuditRow]) -> Result<(), clickhouse::error::Error> {
        self.insert_rows("api_audit", rows).await
    }

    /// Audit rows, newest first, a page after `after`.
    pub async fn audit_page(
        &self,
        f: &AuditFilter,
        after: Option<&Cursor>,
        limit: u64,
    ) -> Result<Page<AuditRow>, clickhouse::error::Error> {
        let ms = |t: DateTime<Utc>| t.timestamp_millis().max(0) as u64;
        let mut sql = Sql::new("SELECT ?fields FROM api_audit WHERE 1");
        sql.eq("token_name", f.token_name.as_deref())
            .eq("route", f.route.as_deref());
        if let Some(s) = f.status {
            sql.push(" AND status = ?", [Arg::U16(s)]);
        }
        if let Some(t) = f.since {
            sql.push(" AND ts_ms >= ?", [Arg::U64(ms(t))]);
        }
        if let Some(t) = f.until {
            sql.push(" AND ts_ms < ?", [Arg::U64(ms(t))]);
        }
        if let Some(c) = after {
            let at = c.ts as u64 * 1000 + c.ms as u64;
            sql.push(
                " AND (ts_ms < ? OR (ts_ms = ? AND request_id < ?))",
                [Arg::U64(at), Arg::U64(at), Arg::S(c.id.clone())],
            );
        }
        sql.push(
            " ORDER BY ts_ms DESC, request_id DESC LIMIT ?",
            [Arg::U64(limit)],
        );
        let rows: Vec<AuditRow> = sql.query(self).fetch_all().await?;
        Ok(Page::new(rows, limit, |r| Cursor {
            ts: (r.ts_ms / 1000) as u32,
            ms: (r.ts_ms % 1000) as u16,
            id: r.request_id.clone(),
        }))
    }
}

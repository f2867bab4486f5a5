//! `api_audit`: one row per API request (the auditors' own access is auditable).

use clickhouse::Row;
use serde::Serialize;

use super::Store;

/// One row of `api_audit`.
#[derive(Debug, Clone, Row, Serialize)]
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
}

impl Store {
    pub async fn insert_audit(&self, rows: &[AuditRow]) -> Result<(), clickhouse::error::Error> {
        self.insert_rows("api_audit", rows).await
    }
}

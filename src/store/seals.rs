//! `seals`: the signed proofs of closed UTC days of `events`, and the reads that make and check them
//! (each day's events as sealed: the CRM's event as stored, without custos' enrichment or ingestion
//! metadata, so a replay that re-enriches or re-delivers an event leaves its day's seal valid).

use clickhouse::Row;
use serde::{Deserialize, Serialize};

use super::Store;

type Result<T> = std::result::Result<T, clickhouse::error::Error>;

/// One seal (`schemas/clickhouse/010_seals.sql`). `day` is days since 1970-01-01 (a `Date`).
#[derive(Debug, Clone, PartialEq, Eq, Row, Serialize, Deserialize)]
pub struct SealRow {
    pub seq: u64,
    pub day: u16,
    pub event_count: u64,
    pub content_hash: String,
    pub prev_hash: String,
    pub seal_hash: String,
    pub signature: String,
    pub public_key: String,
    pub sealed_at: u32,
}

/// What a seal covers of one event: its identity and the CRM's content as stored.
#[derive(Debug, Clone, Row, Deserialize)]
pub struct SealedEvent {
    pub event_id: String,
    pub tenant: String,
    pub user_id: String,
    pub action: String,
    pub ts: u32,
    pub ts_ms: u16,
    pub object_type: String,
    pub record_count: u64,
    pub ip: String,
    pub user_agent: String,
    pub session_id: String,
    pub outcome: String,
    pub attr_keys: Vec<String>,
    pub attr_values: Vec<String>,
}

const SEAL_FIELDS: &str = "seq, day, event_count, content_hash, prev_hash, seal_hash, signature, \
    public_key, toUInt32(sealed_at)";
const EVENT_FIELDS: &str = "event_id, tenant, user_id, action, toUInt32(ts), ts_ms, object_type, \
    record_count, ip, user_agent, session_id, outcome, attr_keys, attr_values";

impl Store {
    /// Every seal, in chain order.
    pub async fn seals(&self) -> Result<Vec<SealRow>> {
        self.client
            .query(&format!(
                "SELECT {SEAL_FIELDS} FROM seals FINAL ORDER BY seq, seal_hash"
            ))
            .fetch_all()
            .await
    }

    pub async fn insert_seal(&self, row: &SealRow) -> Result<()> {
        self.insert_rows("seals", std::slice::from_ref(row)).await
    }

    /// The days (days since 1970-01-01) before `before_day` that hold events stored at or after
    /// `ingested_since` (UNIX seconds; 0 = every day with events).
    pub async fn event_days_ingested_since(
        &self,
        ingested_since: u32,
        before_day: u16,
    ) -> Result<Vec<u16>> {
        self.client
            .query(
                "SELECT DISTINCT toUInt16(toDate(ts)) AS d FROM events \
                 WHERE ingest_ts >= toDateTime(?) AND ts < toDateTime(?) ORDER BY d",
            )
            .bind(ingested_since)
            .bind(u32::from(before_day) * 86_400)
            .fetch_all()
            .await
    }

    /// The days in `[from_day, to_day)` that hold events.
    pub async fn event_days(&self, from_day: u16, to_day: u16) -> Result<Vec<u16>> {
        self.client
            .query(
                "SELECT DISTINCT toUInt16(toDate(ts)) AS d FROM events \
                 WHERE ts >= toDateTime(?) AND ts < toDateTime(?) ORDER BY d",
            )
            .bind(u32::from(from_day) * 86_400)
            .bind(u32::from(to_day).saturating_mul(86_400))
            .fetch_all()
            .await
    }

    /// One UTC day's events (one row per event id), as a seal covers them.
    pub fn day_events(&self, day: u16) -> Result<clickhouse::query::RowCursor<SealedEvent>> {
        let start = u32::from(day) * 86_400;
        self.client
            .query(&format!(
                "SELECT {EVENT_FIELDS} FROM events FINAL \
                 WHERE ts >= toDateTime(?) AND ts < toDateTime(?)"
            ))
            .bind(start)
            .bind(start + 86_400)
            .fetch::<SealedEvent>()
    }
}

//! Start-up rehydration from ClickHouse: the directory, the last window of exports and recent alerts,
//! so that state spanning a restart (a bulk-export window, suppression) behaves as if there had been
//! none. "Recent" is measured in event time, from the newest stored event.

use chrono::{DateTime, Utc};
use clickhouse::Row;
use serde::Deserialize;

use super::{Alert, Engine};
use crate::decode::decode_directory;
use crate::directory::Directory;
use crate::model::{Event, Geo, Outcome};
use crate::store::rows::DirectoryRow;
use crate::store::Store;

#[derive(Row, Deserialize)]
struct ExportRow {
    tenant: String,
    user_id: String,
    event_id: String,
    ts: u32,
    ts_ms: u16,
    record_count: u64,
    object_type: String,
}

#[derive(Row, Deserialize)]
struct AlertRow {
    alert_id: String,
    detector: String,
    tenant: String,
    user_id: String,
    ts: u32,
    ts_ms: u16,
    summary: String,
    evidence_event_ids: Vec<String>,
    details: String,
    version: u64,
}

fn at(secs: u32, ms: u16) -> DateTime<Utc> {
    DateTime::from_timestamp(secs as i64, ms as u32 * 1_000_000).unwrap_or_default()
}

/// Counts of what was restored.
#[derive(Debug, Default)]
pub struct Restored {
    pub directory_records: usize,
    pub exports: usize,
    pub alerts: usize,
}

/// Loads every stored directory version into `directory`.
pub async fn directory(store: &Store, directory: &mut Directory) -> Result<usize, clickhouse::error::Error> {
    let rows: Vec<DirectoryRow> = store
        .client()
        .query(&format!("SELECT {} FROM directory FINAL", DirectoryRow::COLUMNS))
        .fetch_all()
        .await?;
    let n = rows.len();
    for r in rows {
        let mut v = serde_json::json!({"user_id": r.user_id, "status": r.status, "protected": r.protected != 0});
        let fields = [("timezone", r.timezone), ("work_hours", r.work_hours), ("work_days", r.work_days), ("display_name", r.display_name), ("email", r.email), ("department", r.department), ("role", r.role), ("manager_id", r.manager_id)];
        for (k, val) in fields {
            if !val.is_empty() {
                v[k] = serde_json::Value::String(val);
            }
        }
        if let Some(t) = r.effective_ts {
            v["effective_ts"] = serde_json::Value::String(at(t, 0).to_rfc3339());
        }
        match decode_directory(v.to_string().as_bytes(), 1 << 20) {
            Ok(rec) => directory.apply(rec),
            Err(e) => tracing::warn!(error = %e, "stored directory record no longer valid; skipped"),
        }
    }
    Ok(n)
}

/// Restores the engine's windows and suppression from the newest `horizon` of stored data.
pub async fn engine(store: &Store, engine: &mut Engine) -> Result<Restored, clickhouse::error::Error> {
    let mut restored = Restored::default();
    let horizon = engine.horizon().num_seconds().max(0);
    let newest: u32 = store.client().query("SELECT toUInt32(max(ts)) FROM events").fetch_one().await?;
    if newest == 0 || horizon == 0 {
        return Ok(restored);
    }
    let since = (newest as i64 - horizon).max(0) as u32;
    let exports: Vec<ExportRow> = store
        .client()
        .query("SELECT tenant, user_id, event_id, toUInt32(ts), ts_ms, record_count, object_type FROM events FINAL WHERE action = 'export' AND ts >= toDateTime(?) ORDER BY ts, ts_ms")
        .bind(since)
        .fetch_all()
        .await?;
    restored.exports = exports.len();
    for r in exports {
        let ev = Event {
            event_id: r.event_id,
            ts: at(r.ts, r.ts_ms),
            user_id: r.user_id,
            action: "export".into(),
            tenant: r.tenant,
            object_type: r.object_type,
            record_count: r.record_count,
            ip: None,
            user_agent: String::new(),
            session_id: String::new(),
            outcome: Outcome::Success,
            attributes: Vec::new(),
            geo: Geo::default(),
        };
        engine.rehydrate_event(&ev);
    }
    let alerts: Vec<AlertRow> = store
        .client()
        .query("SELECT alert_id, detector, tenant, user_id, toUInt32(ts), ts_ms, summary, evidence_event_ids, details, version FROM alerts FINAL WHERE ts >= toDateTime(?)")
        .bind(since)
        .fetch_all()
        .await?;
    restored.alerts = alerts.len();
    for r in alerts {
        let Some(spec) = engine.detectors().find(|s| s.id == r.detector).cloned() else { continue };
        engine.rehydrate_alert(Alert {
            alert_id: r.alert_id,
            detector: r.detector,
            severity: spec.severity,
            tenant: r.tenant,
            user_id: r.user_id,
            ts: at(r.ts, r.ts_ms),
            summary: r.summary,
            evidence_event_ids: r.evidence_event_ids,
            details: serde_json::from_str(&r.details).unwrap_or_default(),
            response: spec.response,
            status: "open".into(),
            version: r.version,
        });
    }
    Ok(restored)
}

#[derive(Row, Deserialize)]
struct UserEventRow {
    tenant: String,
    event_id: String,
    ts: u32,
    ts_ms: u16,
    action: String,
    object_type: String,
    record_count: u64,
    ip: String,
    outcome: String,
    country_iso: String,
    country: String,
    city: String,
}

/// A user's stored events at or after `since` (unix seconds), oldest first, at most `limit`.
pub async fn user_events(store: &Store, user_id: &str, since: u32, limit: usize) -> Result<Vec<Event>, clickhouse::error::Error> {
    let rows: Vec<UserEventRow> = store
        .client()
        .query(
            "SELECT tenant, event_id, toUInt32(ts), ts_ms, action, object_type, record_count, ip, outcome, country_iso, country, city \
             FROM events FINAL WHERE user_id = ? AND ts >= toDateTime(?) ORDER BY ts, ts_ms, event_id LIMIT ?",
        )
        .bind(user_id)
        .bind(since)
        .bind(limit as u64)
        .fetch_all()
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| Event {
            event_id: r.event_id,
            ts: at(r.ts, r.ts_ms),
            user_id: user_id.to_owned(),
            action: r.action,
            tenant: r.tenant,
            object_type: r.object_type,
            record_count: r.record_count,
            ip: r.ip.parse().ok(),
            user_agent: String::new(),
            session_id: String::new(),
            outcome: if r.outcome == "failure" { Outcome::Failure } else { Outcome::Success },
            attributes: Vec::new(),
            geo: Geo { country_iso: r.country_iso, country: r.country, city: r.city, ..Geo::default() },
        })
        .collect())
}

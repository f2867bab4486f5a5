//! `/api/v1/alerts`: list (filters, keyset pagination, newest first), one alert with its evidence
//! events and status history, and status changes (analyst and above), each kept with who and when.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use clickhouse::Row;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::audit::RowCount;
use super::auth::{Caller, Role};
use super::events::{fetch_events, EventOut};
use super::params::{Arg, Cursor, Params, Sql, DEFAULT_LIMIT, MAX_LIMIT};
use super::{timed, ApiError, AppState};

pub const STATUSES: &[&str] = &["open", "acknowledged", "resolved", "false_positive"];
const LATEST: &str = "(SELECT alert_id, argMax(status, at_ms) AS st FROM alert_status_history GROUP BY alert_id)";
const COLUMNS: &str = "alert_id, detector, severity, tenant, user_id, toUInt32(ts), ts_ms, toUInt32(created_at), summary, evidence_event_ids, details, response, version";

#[derive(Row, Deserialize)]
pub(crate) struct AlertDb {
    alert_id: String,
    detector: String,
    severity: String,
    tenant: String,
    user_id: String,
    ts: u32,
    ts_ms: u16,
    created_at: u32,
    summary: String,
    evidence_event_ids: Vec<String>,
    details: String,
    response: String,
    version: u64,
}

/// An alert as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct AlertOut {
    pub alert_id: String,
    pub detector: String,
    pub severity: String,
    pub tenant: String,
    pub user_id: String,
    /// Event time of the trigger (RFC 3339, UTC).
    pub ts: String,
    pub created_at: String,
    pub summary: String,
    pub evidence_event_ids: Vec<String>,
    /// Detector-specific facts (window total, threshold, local time, country, ...).
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    /// Latest status: open, acknowledged, resolved or false_positive.
    pub status: String,
    pub response: String,
    pub version: u64,
}

#[derive(Serialize, ToSchema)]
pub struct AlertPage {
    pub items: Vec<AlertOut>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Row, Deserialize, Serialize, ToSchema)]
pub struct StatusChange {
    pub status: String,
    pub note: String,
    pub actor: String,
    pub role: String,
    /// RFC 3339, UTC.
    #[serde(skip_deserializing)]
    pub at: String,
    #[serde(skip_serializing)]
    #[schema(ignore)]
    at_ms: u64,
}

#[derive(Serialize, ToSchema)]
pub struct AlertDetail {
    #[serde(flatten)]
    pub alert: AlertOut,
    /// The events the alert cites, enriched.
    pub evidence: Vec<EventOut>,
    /// Every status change, oldest first.
    pub history: Vec<StatusChange>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    /// open, acknowledged, resolved or false_positive.
    pub status: String,
    #[serde(default)]
    pub note: String,
}

pub(crate) fn rfc3339(secs: u32, ms: u16) -> String {
    chrono::DateTime::from_timestamp(secs as i64, ms as u32 * 1_000_000).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl AlertDb {
    fn out(self, status: String) -> AlertOut {
        AlertOut {
            ts: rfc3339(self.ts, self.ts_ms),
            created_at: rfc3339(self.created_at, 0),
            details: serde_json::from_str(&self.details).unwrap_or_default(),
            alert_id: self.alert_id,
            detector: self.detector,
            severity: self.severity,
            tenant: self.tenant,
            user_id: self.user_id,
            summary: self.summary,
            evidence_event_ids: self.evidence_event_ids,
            status,
            response: self.response,
            version: self.version,
        }
    }
}

/// Latest status of each alert id (absent = open).
async fn statuses(state: &AppState, ids: Vec<String>) -> Result<std::collections::HashMap<String, String>, ApiError> {
    if ids.is_empty() {
        return Ok(Default::default());
    }
    #[derive(Row, Deserialize)]
    struct S {
        alert_id: String,
        st: String,
    }
    let rows: Vec<S> = timed(state, state.query(&format!("SELECT alert_id, st FROM {LATEST} WHERE has(?, alert_id)")).bind(ids).fetch_all()).await?;
    Ok(rows.into_iter().map(|s| (s.alert_id, s.st)).collect())
}

pub(crate) async fn with_status(state: &AppState, rows: Vec<AlertDb>) -> Result<Vec<AlertOut>, ApiError> {
    let st = statuses(state, rows.iter().map(|r| r.alert_id.clone()).collect()).await?;
    Ok(rows.into_iter().map(|r| {
        let s = st.get(&r.alert_id).cloned().unwrap_or_else(|| "open".into());
        r.out(s)
    }).collect())
}

/// Alerts of one user in a time range, oldest first (for timelines).
pub(crate) async fn user_alerts(state: &AppState, user: &str, p: &Params, limit: u64) -> Result<Vec<AlertOut>, ApiError> {
    let mut sql = Sql::new(&format!("SELECT {COLUMNS} FROM alerts FINAL WHERE user_id = ?"));
    sql.push("", [Arg::S(user.to_owned())]).since(p.time("since")?).until(p.time("until")?);
    sql.push(" ORDER BY ts, ts_ms, alert_id LIMIT ?", [Arg::U64(limit)]);
    let rows: Vec<AlertDb> = timed(state, sql.query(state).fetch_all()).await?;
    with_status(state, rows).await
}

#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts",
    params(
        ("detector" = Option<String>, Query, description = "off_hours_login, bulk_export, orphaned_account, ..."),
        ("user_id" = Option<String>, Query), ("severity" = Option<String>, Query, description = "low, medium, high, critical"),
        ("status" = Option<String>, Query, description = "open, acknowledged, resolved, false_positive"),
        ("tenant" = Option<String>, Query),
        ("since" = Option<String>, Query, format = DateTime, description = "RFC 3339; trigger event time at or after"),
        ("until" = Option<String>, Query, format = DateTime, description = "RFC 3339; trigger event time before"),
        ("limit" = Option<u64>, Query, minimum = 1, maximum = 1000, description = "1..=1000, default 100"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
    ),
    responses((status = 200, body = AlertPage), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(State(state): State<AppState>, Extension(caller): Extension<Caller>, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    caller.require(Role::Auditor)?;
    let p = Params::new(q.as_deref(), &["detector", "user_id", "severity", "status", "tenant", "since", "until", "limit", "cursor"])?;
    let limit = p.limit(DEFAULT_LIMIT, MAX_LIMIT)?;
    let cursor = p.str("cursor").map(Cursor::decode).transpose()?;
    let severity = p.choice("severity", &["low", "medium", "high", "critical"])?;
    let status = p.choice("status", STATUSES)?;
    let mut sql = Sql::new(&format!("SELECT {COLUMNS} FROM alerts FINAL WHERE 1"));
    sql.eq("detector", p.str("detector")).eq("user_id", p.str("user_id")).eq("severity", severity.as_deref()).eq("tenant", p.str("tenant"));
    sql.since(p.time("since")?).until(p.time("until")?).after(cursor.as_ref(), "alert_id");
    match status.as_deref() {
        None => {}
        Some("open") => {
            sql.push(&format!(" AND alert_id NOT IN (SELECT alert_id FROM {LATEST} WHERE st != 'open')"), []);
        }
        Some(s) => {
            sql.push(&format!(" AND alert_id IN (SELECT alert_id FROM {LATEST} WHERE st = ?)"), [Arg::S(s.to_owned())]);
        }
    }
    sql.push(" ORDER BY ts DESC, ts_ms DESC, alert_id DESC LIMIT ?", [Arg::U64(limit)]);
    let rows: Vec<AlertDb> = timed(&state, sql.query(&state).fetch_all()).await?;
    let next_cursor = (rows.len() as u64 == limit).then(|| rows.last().map(|r| Cursor { ts: r.ts, ms: r.ts_ms, id: r.alert_id.clone() }.encode())).flatten();
    let items = with_status(&state, rows).await?;
    let n = items.len() as i64;
    Ok((Extension(RowCount::new(n)), Json(AlertPage { items, next_cursor })).into_response())
}

async fn load(state: &AppState, id: &str) -> Result<AlertDb, ApiError> {
    let rows: Vec<AlertDb> = timed(state, state.query(&format!("SELECT {COLUMNS} FROM alerts FINAL WHERE alert_id = ? LIMIT 1")).bind(id).fetch_all()).await?;
    rows.into_iter().next().ok_or_else(|| ApiError::NotFound(format!("no alert `{id}`")))
}

async fn history(state: &AppState, id: &str) -> Result<Vec<StatusChange>, ApiError> {
    let mut h: Vec<StatusChange> = timed(state, state.query("SELECT status, note, actor, role, at_ms FROM alert_status_history WHERE alert_id = ? ORDER BY at_ms").bind(id).fetch_all()).await?;
    for c in &mut h {
        c.at = rfc3339((c.at_ms / 1000) as u32, (c.at_ms % 1000) as u16);
    }
    Ok(h)
}

#[utoipa::path(get, path = "/api/v1/alerts/{alert_id}", tag = "alerts",
    params(("alert_id" = String, Path)),
    responses((status = 200, body = AlertDetail), (status = 404, body = super::ErrorBody), (status = 401, body = super::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_one(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    caller.require(Role::Auditor)?;
    Params::new(q.as_deref(), &[])?;
    let a = load(&state, &id).await?;
    let evidence = fetch_events(&state, &a.tenant, &a.user_id, &a.evidence_event_ids).await?;
    let hist = history(&state, &id).await?;
    let status = hist.last().map(|h| h.status.clone()).unwrap_or_else(|| "open".into());
    let n = 1 + evidence.len() as i64;
    Ok((Extension(RowCount::new(n)), Json(AlertDetail { alert: a.out(status), evidence, history: hist })).into_response())
}

#[derive(Row, Serialize)]
struct HistoryRow {
    alert_id: String,
    status: String,
    note: String,
    actor: String,
    role: String,
    at: u32,
    at_ms: u64,
}

#[utoipa::path(post, path = "/api/v1/alerts/{alert_id}/status", tag = "alerts",
    params(("alert_id" = String, Path)), request_body = StatusRequest,
    responses((status = 200, body = AlertDetail), (status = 400, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)),
    security(("bearer" = [])))]
pub async fn set_status(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Result<Json<StatusRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    caller.require(Role::Analyst)?;
    let Json(req) = body.map_err(|e| ApiError::BadRequest(format!("body must be {{\"status\": ..., \"note\": ...}}: {}", e.body_text())))?;
    if !STATUSES.contains(&req.status.as_str()) {
        return Err(ApiError::BadRequest(format!("`status` must be one of {}", STATUSES.join(", "))));
    }
    if req.note.chars().count() > 4000 {
        return Err(ApiError::BadRequest("`note` must be at most 4000 characters".into()));
    }
    load(&state, &id).await?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let row = HistoryRow { alert_id: id.clone(), status: req.status, note: req.note, actor: caller.name.clone(), role: caller.role.as_str().into(), at: now.as_secs() as u32, at_ms: now.as_millis() as u64 };
    timed(&state, async {
        let mut ins = state.store.client().insert::<HistoryRow>("alert_status_history").await?;
        ins.write(&row).await?;
        ins.end().await
    })
    .await?;
    tracing::info!(alert_id = %id, status = %row.status, actor = %caller.name, "alert status changed");
    get_one(State(state), Extension(caller), Path(id), RawQuery(None)).await
}

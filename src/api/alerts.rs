//! `/api/v1/alerts`: list (filters, keyset pagination, newest first), one alert with its evidence
//! events and status history, and status changes (analyst and above), each kept with who and when.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::audit::RowCount;
use super::auth::Caller;
use super::error::ApiError;
use super::params::{Params, DEFAULT_LIMIT, MAX_LIMIT};
use super::state::{timed, AppState};
use super::views::EventOut;
use crate::config::Role;
use crate::model::AlertStatus;
use crate::store::alerts::{AlertFilter, AlertRow, StatusRow};
use crate::store::notifications::NotificationRow;
use crate::time::rfc3339_cols;

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
    /// Whom the alert is about: the IP of a password spray, else the user.
    pub subject: String,
}

#[derive(Serialize, ToSchema)]
pub struct AlertPage {
    pub items: Vec<AlertOut>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// One status change of an alert.
#[derive(Serialize, ToSchema)]
pub struct StatusChange {
    pub status: String,
    pub note: String,
    pub actor: String,
    pub role: String,
    /// RFC 3339, UTC.
    pub at: String,
}

impl From<StatusRow> for StatusChange {
    fn from(r: StatusRow) -> Self {
        StatusChange {
            at: rfc3339_cols((r.at_ms / 1000) as u32, (r.at_ms % 1000) as u16),
            status: r.status,
            note: r.note,
            actor: r.actor,
            role: r.role,
        }
    }
}

/// One notification about an alert (its current state; `notifications` holds every transition).
#[derive(Serialize, ToSchema)]
pub struct NotificationOut {
    pub notification_id: String,
    pub route: String,
    pub channel: String,
    /// pending, retrying, delivered, failed (queued: waiting in a digest).
    pub status: String,
    pub attempts: u32,
    pub last_error: String,
    /// RFC 3339, UTC.
    pub requested_at: String,
    pub updated_at: String,
}

impl From<NotificationRow> for NotificationOut {
    fn from(r: NotificationRow) -> Self {
        NotificationOut {
            requested_at: rfc3339_cols(r.requested_at, 0),
            updated_at: rfc3339_cols((r.at_ms / 1000) as u32, (r.at_ms % 1000) as u16),
            notification_id: r.notification_id,
            route: r.route,
            channel: r.channel,
            status: r.status,
            attempts: r.attempts,
            last_error: r.last_error,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AlertDetail {
    #[serde(flatten)]
    pub alert: AlertOut,
    /// The events the alert cites, enriched.
    pub evidence: Vec<EventOut>,
    /// Every status change, oldest first.
    pub history: Vec<StatusChange>,
    /// Who was told, on which route, and how it went (docs/notifications.md).
    pub notifications: Vec<NotificationOut>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    /// open, acknowledged, resolved or false_positive.
    #[schema(value_type = String)]
    pub status: AlertStatus,
    #[serde(default)]
    pub note: String,
}

impl AlertOut {
    fn new(r: AlertRow, status: AlertStatus) -> Self {
        AlertOut {
            subject: if r.subject.is_empty() {
                r.user_id.clone()
            } else {
                r.subject.clone()
            },
            ts: rfc3339_cols(r.ts, r.ts_ms),
            created_at: rfc3339_cols(r.created_at, 0),
            details: serde_json::from_str(&r.details).unwrap_or_default(),
            alert_id: r.alert_id,
            detector: r.detector,
            severity: r.severity,
            tenant: r.tenant,
            user_id: r.user_id,
            summary: r.summary,
            evidence_event_ids: r.evidence_event_ids,
            status: status.as_str().to_owned(),
            response: r.response,
            version: r.version,
        }
    }
}

/// Alerts with their latest triage status.
pub(crate) async fn with_status(
    state: &AppState,
    rows: Vec<AlertRow>,
) -> Result<Vec<AlertOut>, ApiError> {
    let st = timed(
        state,
        state
            .store
            .alert_statuses(rows.iter().map(|r| r.alert_id.clone()).collect()),
    )
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let s = st.get(&r.alert_id).copied().unwrap_or(AlertStatus::Open);
            AlertOut::new(r, s)
        })
        .collect())
}

#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts",
    params(
        ("detector" = Option<String>, Query, description = "off_hours_login, bulk_export, orphaned_account, ...; a comma list for any of them"),
        ("subject" = Option<String>, Query, description = "whom the alert is about: its subject (an IP for password_spray), else its user"),
        ("user_id" = Option<String>, Query), ("severity" = Option<String>, Query, description = "low, medium, high, critical; a comma list (high,critical) for any of them"),
        ("status" = Option<String>, Query, description = "open, acknowledged, resolved, false_positive"),
        ("tenant" = Option<String>, Query),
        ("since" = Option<String>, Query, format = DateTime, description = "RFC 3339 or a date (its start, UTC); trigger event time at or after"),
        ("until" = Option<String>, Query, format = DateTime, description = "RFC 3339, or a date (through its end, UTC); trigger event time before"),
        ("limit" = Option<u64>, Query, minimum = 1, maximum = 1000, description = "1..=1000, default 100"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
    ),
    responses((status = 200, body = AlertPage), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    caller.require(Role::Auditor)?;
    let p = Params::new(
        q.as_deref(),
        &[
            "detector", "subject", "user_id", "severity", "status", "tenant", "since", "until",
            "limit", "cursor",
        ],
    )?;
    let limit = p.limit(DEFAULT_LIMIT, MAX_LIMIT)?;
    let cursor = p.cursor()?;
    if let Some(d) = p.string("detector") {
        // An unknown detector is a 400 naming the known ones, not a silently empty answer. Known:
        // the configured ones, the breaker's, and every one with stored alerts (a retired rule's
        // history stays queryable).
        let mut known: Vec<String> = state
            .detectors
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        known.push("lockout_storm".into());
        if !known.contains(&d) {
            known.extend(timed(&state, state.store.alert_detectors()).await?);
            known.sort();
            known.dedup();
            if !known.contains(&d) {
                return Err(ApiError::BadRequest(format!(
                    "`detector` must be one of: {}",
                    known.join(", ")
                )));
            }
        }
    }
    let filter = AlertFilter {
        detector: p.strings("detector"),
        subject: p.string("subject"),
        user_id: p.string("user_id"),
        severity: p.choices("severity")?,
        status: p.choice("status")?,
        tenant: p.string("tenant"),
        since: p.time("since")?,
        until: p.time("until")?,
    };
    let page = timed(
        &state,
        state.store.alerts_page(&filter, cursor.as_ref(), limit),
    )
    .await?;
    let next_cursor = page.next.map(|c| c.encode());
    let items = with_status(&state, page.rows).await?;
    let n = items.len() as i64;
    Ok((
        Extension(RowCount::new(n)),
        Json(AlertPage { items, next_cursor }),
    )
        .into_response())
}

async fn load(state: &AppState, id: &str) -> Result<AlertRow, ApiError> {
    timed(state, state.store.alert(id))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no alert `{id}`")))
}

#[utoipa::path(get, path = "/api/v1/alerts/{alert_id}", tag = "alerts",
    params(("alert_id" = String, Path)),
    responses((status = 200, body = AlertDetail), (status = 404, body = super::ErrorBody), (status = 401, body = super::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_one(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    caller.require(Role::Auditor)?;
    Params::new(q.as_deref(), &[])?;
    let a = load(&state, &id).await?;
    let evidence: Vec<EventOut> = timed(
        &state,
        state
            .store
            .evidence(&a.tenant, &a.user_id, &a.evidence_event_ids, a.ts),
    )
    .await?
    .into_iter()
    .map(EventOut::from)
    .collect();
    let (hist, notes) = timed(&state, async {
        tokio::try_join!(
            state.store.status_history(&id),
            state.store.alert_notifications(&id)
        )
    })
    .await?;
    let status = hist
        .last()
        .and_then(|h| h.status.parse().ok())
        .unwrap_or(AlertStatus::Open);
    let n = 1 + evidence.len() as i64;
    let history = hist.into_iter().map(StatusChange::from).collect();
    Ok((
        Extension(RowCount::new(n)),
        Json(AlertDetail {
            alert: AlertOut::new(a, status),
            evidence,
            history,
            notifications: notes.into_iter().map(NotificationOut::from).collect(),
        }),
    )
        .into_response())
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
    let Json(req) = body.map_err(|e| {
        ApiError::BadRequest(format!(
            "body must be {{\"status\": ..., \"note\": ...}}: {}",
            e.body_text()
        ))
    })?;
    if req.note.chars().count() > 4000 {
        return Err(ApiError::BadRequest(
            "`note` must be at most 4000 characters".into(),
        ));
    }
    load(&state, &id).await?;
    let now = crate::time::now_ms();
    let row = StatusRow {
        alert_id: id.clone(),
        status: req.status.as_str().to_owned(),
        note: req.note,
        actor: caller.name.clone(),
        role: caller.role.as_str().into(),
        at: (now / 1000) as u32,
        at_ms: now,
    };
    timed(&state, state.store.insert_status(&row)).await?;
    tracing::info!(alert_id = %id, status = %row.status, actor = %caller.name, "alert status changed");
    get_one(State(state), Extension(caller), Path(id), RawQuery(None)).await
}

//! `/api/v1/users/{user_id}/timeline` (events and alerts interleaved in time, with the directory
//! record) and `/api/v1/stats` (events and alerts per day and detector).

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::alerts::{with_status, AlertOut};
use super::audit::RowCount;
use super::auth::Caller;
use super::error::ApiError;
use super::params::Params;
use super::state::{timed, AppState};
use super::views::{DirectoryVersion, EventOut};
use crate::config::Role;
use crate::store::alerts::DayDetectorCount;
use crate::store::events::DayCount;

/// One entry of a timeline: an event or an alert.
#[derive(Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum TimelineItem {
    Event(Box<EventOut>),
    Alert(Box<AlertOut>),
}

#[derive(Serialize, ToSchema)]
pub struct Timeline {
    pub user_id: String,
    /// Every directory version of the user, by effective time (the last is current).
    pub directory: Vec<DirectoryVersion>,
    /// Events and alerts, oldest first.
    pub items: Vec<TimelineItem>,
    /// True when `limit` cut the events short.
    pub truncated: bool,
}

#[utoipa::path(get, path = "/api/v1/users/{user_id}/timeline", tag = "users",
    params(("user_id" = String, Path),
        ("since" = Option<String>, Query, format = DateTime, description = "RFC 3339"), ("until" = Option<String>, Query, format = DateTime, description = "RFC 3339"),
        ("limit" = Option<u64>, Query, minimum = 1, maximum = 5000, description = "events, 1..=5000, default 500")),
    responses((status = 200, body = Timeline), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody)),
    security(("bearer" = [])))]
pub async fn timeline(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(user): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    caller.require(Role::Auditor)?;
    let p = Params::new(q.as_deref(), &["since", "until", "limit"])?;
    let limit = p.limit(500, 5000)?;
    let (since, until) = (p.time("since")?, p.time("until")?);
    // The three reads are independent: in flight together, a page waits for the slowest.
    let (directory, events, alerts) = tokio::try_join!(
        timed(&state, state.store.user_directory(&user)),
        timed(&state, state.store.user_events(&user, since, until, limit)),
        timed(&state, state.store.user_alerts(&user, since, until, 1000)),
    )?;
    let events: Vec<EventOut> = events.into_iter().map(EventOut::from).collect();
    let alerts = with_status(&state, alerts).await?;
    let truncated = events.len() as u64 == limit;
    let mut items: Vec<(String, u8, TimelineItem)> = events
        .into_iter()
        .map(|e| {
            (
                crate::time::rfc3339_cols(e.0.ts, e.0.ts_ms),
                0,
                TimelineItem::Event(Box::new(e)),
            )
        })
        .collect();
    items.extend(
        alerts
            .into_iter()
            .map(|a| (a.ts.clone(), 1, TimelineItem::Alert(Box::new(a)))),
    );
    items.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    let n = items.len() as i64;
    let directory = directory.into_iter().map(DirectoryVersion::from).collect();
    let body = Timeline {
        user_id: user,
        directory,
        items: items.into_iter().map(|(_, _, i)| i).collect(),
        truncated,
    };
    Ok((Extension(RowCount::new(n)), Json(body)).into_response())
}

#[derive(Serialize, ToSchema)]
pub struct Stats {
    pub since: String,
    pub until: String,
    pub events_per_day: Vec<DayCount>,
    pub alerts_per_day: Vec<DayDetectorCount>,
}

#[utoipa::path(get, path = "/api/v1/stats", tag = "stats",
    params(("since" = Option<String>, Query, format = DateTime, description = "RFC 3339 or a date, default 30 days before `until`"),
        ("until" = Option<String>, Query, format = DateTime, description = "RFC 3339 or a date (through its end); default: just after the newest stored event when no time is given, now when only `since` is"),
        ("tenant" = Option<String>, Query)),
    responses((status = 200, body = Stats), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody)),
    security(("bearer" = [])))]
pub async fn stats(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    caller.require(Role::Auditor)?;
    let p = Params::new(q.as_deref(), &["since", "until", "tenant"])?;
    let (since, until) = (p.time("since")?, p.time("until")?);
    // No time given: the 30 days up to the newest stored event (a history loaded into an idle
    // system shows its own last month, not an empty one).
    let until = match (since, until) {
        (_, Some(u)) => u,
        (None, None) => {
            let newest = timed(&state, state.store.newest_event_secs()).await?;
            match newest {
                0 => Utc::now(),
                s => DateTime::from_timestamp(i64::from(s) + 1, 0).unwrap_or_else(Utc::now),
            }
        }
        (Some(_), None) => Utc::now(),
    };
    let since = since.unwrap_or(until - Duration::days(30));
    if since >= until {
        return Err(ApiError::BadRequest(
            "`since` must be before `until`".into(),
        ));
    }
    let events_per_day = timed(
        &state,
        state.store.events_per_day(p.str("tenant"), since, until),
    )
    .await?;
    let alerts_per_day = timed(
        &state,
        state.store.alerts_per_day(p.str("tenant"), since, until),
    )
    .await?;
    let n = (events_per_day.len() + alerts_per_day.len()) as i64;
    let fmt = crate::time::rfc3339;
    Ok((
        Extension(RowCount::new(n)),
        Json(Stats {
            since: fmt(since),
            until: fmt(until),
            events_per_day,
            alerts_per_day,
        }),
    )
        .into_response())
}

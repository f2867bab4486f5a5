//! `/api/v1/users/{user_id}/timeline`: what one user did and what custos did about it, in time —
//! events, alerts, lock actions and alert status changes interleaved, with the directory record;
//! around an alert (`around=ALERT_ID&window=2h`) or in a window; paged by a cursor over the merged
//! stream, so every item is on exactly one page. Every item has a `ts`, its place: an event's or
//! alert's event time; an alert's lock actions and status changes follow it (they happen in wall
//! time, which for a replayed history is long after); a manual lock is at its request time.

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::alerts::{with_status, AlertOut, StatusChange};
use super::audit::RowCount;
use super::auth::Caller;
use super::error::ApiError;
use super::params::Params;
use super::state::{timed, AppState};
use super::views::{ActionOut, DirectoryVersion, EventOut};
use crate::config::Role;
use crate::store::Cursor;
use crate::time::Span;

/// One entry of a timeline.
#[derive(Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum TimelineItem {
    Event(Box<EventOut>),
    Alert(Box<AlertOut>),
    /// A lock or unlock (its current state).
    Action(Box<TimelineAction>),
    /// A status change of one of the user's alerts.
    Status(Box<AlertStatusChange>),
}

#[derive(Serialize, ToSchema)]
pub struct TimelineAction {
    /// Its place in the timeline (its alert's trigger time; a manual one's request time).
    pub ts: String,
    #[serde(flatten)]
    pub action: ActionOut,
}

#[derive(Serialize, ToSchema)]
pub struct AlertStatusChange {
    /// Its place in the timeline: its alert's trigger time (`at` is when it was made).
    pub ts: String,
    pub alert_id: String,
    #[serde(flatten)]
    pub change: StatusChange,
}

#[derive(Serialize, ToSchema)]
pub struct Timeline {
    pub user_id: String,
    /// The window read: RFC 3339, `[since, until)`.
    pub since: Option<String>,
    pub until: Option<String>,
    /// Every directory version of the user, by effective time (the last is current).
    pub directory: Vec<DirectoryVersion>,
    /// Oldest first.
    pub items: Vec<TimelineItem>,
    /// The next page's `cursor`, when there are more items.
    pub next_cursor: Option<String>,
    /// True when there are more items (`next_cursor` is set).
    pub truncated: bool,
}

/// An item's place in the merged stream: time, then kind, then id.
type Key = (u32, u16, u8, String);

fn key_of(c: &Cursor) -> Option<Key> {
    let (kind, id) = c.id.split_once(':')?;
    Some((c.ts, c.ms, kind.parse().ok()?, id.to_owned()))
}

#[utoipa::path(get, path = "/api/v1/users/{user_id}/timeline", tag = "users",
    params(("user_id" = String, Path),
        ("around" = Option<String>, Query, description = "an alert id: the window is `window` either side of its trigger time"),
        ("window" = Option<String>, Query, description = "with `around`: how far either side, default 2h"),
        ("since" = Option<String>, Query, format = DateTime, description = "RFC 3339 or a date (not with `around`)"),
        ("until" = Option<String>, Query, format = DateTime, description = "RFC 3339 or a date (not with `around`)"),
        ("limit" = Option<u64>, Query, minimum = 1, maximum = 5000, description = "items per page, 1..=5000, default 500"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")),
    responses((status = 200, body = Timeline), (status = 400, body = super::ErrorBody), (status = 404, body = super::ErrorBody), (status = 401, body = super::ErrorBody)),
    security(("bearer" = [])))]
pub async fn timeline(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(user): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    caller.require(Role::Auditor)?;
    let p = Params::new(
        q.as_deref(),
        &["around", "window", "since", "until", "limit", "cursor"],
    )?;
    let limit = p.limit(500, 5000)?;
    let (mut since, mut until) = p.window()?;
    if let Some(alert_id) = p.str("around") {
        if since.is_some() || until.is_some() {
            return Err(ApiError::BadRequest(
                "`around` sets the window: give `window`, not `since`/`until`".into(),
            ));
        }
        let window: Span = p
            .str("window")
            .unwrap_or("2h")
            .parse()
            .map_err(|e| ApiError::BadRequest(format!("`window`: {e}")))?;
        let a = timed(&state, state.store.alert(alert_id))
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("no alert `{alert_id}`")))?;
        let at = DateTime::from_timestamp(i64::from(a.ts), u32::from(a.ts_ms) * 1_000_000)
            .unwrap_or_default();
        (since, until) = (Some(at - window.as_chrono()), Some(at + window.as_chrono()));
    } else if p.str("window").is_some() {
        return Err(ApiError::BadRequest("`window` goes with `around`".into()));
    }
    let after = match p.cursor()? {
        Some(c) => Some(key_of(&c).ok_or_else(|| {
            ApiError::BadRequest("`cursor` is not a cursor of a timeline".into())
        })?),
        None => None,
    };
    // Where each source starts: the cursor's time.
    let from = match &after {
        Some((ts, ms, _, _)) => {
            let t = DateTime::from_timestamp(i64::from(*ts), u32::from(*ms) * 1_000_000);
            since.max(t)
        }
        None => since,
    };
    // Each source from the cursor's time on, one more than a page; the items at the cursor's own
    // time that came before it are dropped, so when a full source lost some, ask for more.
    let mut n = limit + 1;
    let (directory, mut items) = loop {
        let (directory, items, full) =
            gather(&state, &user, from, until, after.as_ref(), n).await?;
        if items.len() as u64 > limit || !full {
            break (directory, items);
        }
        n *= 2;
    };
    let more = items.len() as u64 > limit;
    items.truncate(limit as usize);
    let next_cursor = more.then(|| {
        let (ts, ms, kind, id) = items.last().expect("a full page").0.clone();
        Cursor {
            ts,
            ms,
            id: format!("{kind}:{id}"),
        }
        .encode()
    });
    let count = items.len() as i64;
    let body = Timeline {
        user_id: user,
        since: since.map(crate::time::rfc3339),
        until: until.map(crate::time::rfc3339),
        directory: directory.into_iter().map(DirectoryVersion::from).collect(),
        items: items.into_iter().map(|(_, i)| i).collect(),
        truncated: next_cursor.is_some(),
        next_cursor,
    };
    Ok((Extension(RowCount::new(count)), Json(body)).into_response())
}

/// One try at a page: up to `n` rows of each source from `from` on, merged in key order, the items
/// up to `after` dropped; and whether a source filled its `n` rows.
async fn gather(
    state: &AppState,
    user: &str,
    from: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    after: Option<&Key>,
    n: u64,
) -> Result<
    (
        Vec<crate::store::directory::DirectoryRow>,
        Vec<(Key, TimelineItem)>,
        bool,
    ),
    ApiError,
> {
    let secs = |t: Option<DateTime<Utc>>, or: u32| {
        t.map_or(or, |t| t.timestamp().clamp(0, u32::MAX as i64) as u32)
    };
    let store = &state.store;
    let (directory, events, alerts, manual) = tokio::try_join!(
        timed(state, store.user_directory(user)),
        timed(state, store.user_events(user, from, until, n)),
        timed(state, store.user_alerts(user, from, until, n)),
        timed(
            state,
            store.user_actions(user, secs(from, 0), secs(until, u32::MAX), n)
        ),
    )?;
    // A source that filled its `n` rows may hold more after them.
    let full = [events.len(), alerts.len(), manual.len()]
        .iter()
        .any(|l| *l as u64 >= n);
    let ids: Vec<String> = alerts.iter().map(|a| a.alert_id.clone()).collect();
    let (actions, changes) = tokio::try_join!(
        timed(state, store.alerts_actions(ids.clone())),
        timed(state, store.alerts_status_changes(ids)),
    )?;
    let alerts = with_status(state, alerts).await?;
    let mut items: Vec<(Key, TimelineItem)> = Vec::new();
    for e in events {
        let k = (e.ts, e.ts_ms, 0, e.event_id.to_string());
        items.push((k, TimelineItem::Event(Box::new(EventOut::from(e)))));
    }
    let mut placed = std::collections::HashMap::new();
    for a in alerts {
        let t: DateTime<Utc> = a.ts.parse().unwrap_or_default();
        let k = (
            t.timestamp() as u32,
            t.timestamp_subsec_millis() as u16,
            1,
            a.alert_id.clone(),
        );
        placed.insert(a.alert_id.clone(), (k.0, k.1, a.ts.clone()));
        items.push((k, TimelineItem::Alert(Box::new(a))));
    }
    let place = |alert_id: &str| placed.get(alert_id).cloned();
    for x in actions.into_iter().chain(manual) {
        let (ts, ms, text) = place(&x.alert_id).unwrap_or_else(|| {
            (
                x.requested_at,
                0,
                crate::time::rfc3339_cols(x.requested_at, 0),
            )
        });
        let k = (ts, ms, 2, format!("{}:{}", x.alert_id, x.action_id));
        let action = TimelineAction {
            ts: text,
            action: ActionOut::from(x),
        };
        items.push((k, TimelineItem::Action(Box::new(action))));
    }
    for s in changes {
        let Some((ts, ms, text)) = place(&s.alert_id) else {
            continue;
        };
        let k = (ts, ms, 3, format!("{}:{:020}", s.alert_id, s.at_ms));
        let alert_id = s.alert_id.clone();
        let change = StatusChange::from(s);
        items.push((
            k,
            TimelineItem::Status(Box::new(AlertStatusChange {
                ts: text,
                alert_id,
                change,
            })),
        ));
    }
    items.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(after) = after {
        items.retain(|(k, _)| k > after);
    }
    Ok((directory, items, full))
}

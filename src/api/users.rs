//! `/api/v1/stats`: events and alerts per day and detector.

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::audit::RowCount;
use super::auth::Caller;
use super::error::ApiError;
use super::params::Params;
use super::state::{timed, AppState};
use crate::config::Role;
use crate::store::alerts::DayDetectorCount;
use crate::store::events::{CountryCount, DayCount};

#[derive(Serialize, ToSchema)]
pub struct Stats {
    pub since: String,
    pub until: String,
    pub events_per_day: Vec<DayCount>,
    pub alerts_per_day: Vec<DayDetectorCount>,
    /// With `include=countries`: the 20 countries most events came from (`country_iso` '' = not
    /// located).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events_per_country: Option<Vec<CountryCount>>,
}

#[utoipa::path(get, path = "/api/v1/stats", tag = "stats",
    params(("since" = Option<String>, Query, format = DateTime, description = "RFC 3339 or a date, default 30 days before `until`"),
        ("until" = Option<String>, Query, format = DateTime, description = "RFC 3339 or a date (through its end); default: just after the newest stored event when no time is given, now when only `since` is"),
        ("tenant" = Option<String>, Query),
        ("include" = Option<String>, Query, description = "`countries`: also events per country (a scan of the period's events)")),
    responses((status = 200, body = Stats), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody)),
    security(("bearer" = [])))]
pub async fn stats(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    caller.require(Role::Auditor)?;
    let p = Params::new(q.as_deref(), &["since", "until", "tenant", "include"])?;
    let countries = match p.str("include") {
        None => false,
        Some("countries") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "`include`: `{other}` is not one of: countries"
            )))
        }
    };
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
    // Independent reads, in flight together.
    let tenant = p.str("tenant");
    let store = &state.store;
    let (events_per_day, alerts_per_day, events_per_country) = tokio::try_join!(
        timed(&state, store.events_per_day(tenant, since, until)),
        timed(&state, store.alerts_per_day(tenant, since, until)),
        async {
            match countries {
                true => timed(&state, store.events_per_country(tenant, since, until, 20))
                    .await
                    .map(Some),
                false => Ok(None),
            }
        },
    )?;
    let n = (events_per_day.len()
        + alerts_per_day.len()
        + events_per_country.as_ref().map_or(0, Vec::len)) as i64;
    let fmt = crate::time::rfc3339;
    Ok((
        Extension(RowCount::new(n)),
        Json(Stats {
            since: fmt(since),
            until: fmt(until),
            events_per_day,
            alerts_per_day,
            events_per_country,
        }),
    )
        .into_response())
}

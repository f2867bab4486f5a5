//! `GET /api/v1/audit`: the API's own audit trail, read-only, for auditors — filtered by token,
//! route, status and time, newest first, paged by a cursor. Reading it is itself audited.

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;

use super::audit::RowCount;
use super::auth::Caller;
use super::error::ApiError;
use super::params::{Params, DEFAULT_LIMIT, MAX_LIMIT};
use super::state::{timed, AppState};
use crate::config::Role;
use crate::store::audit::{AuditFilter, AuditRow};

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditRow>,
    pub next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "audit",
    params(("token" = Option<String>, Query, description = "token name"), ("route" = Option<String>, Query, description = "route template, e.g. /api/v1/users/{user_id}/lock"),
        ("status" = Option<u16>, Query), ("since" = Option<String>, Query), ("until" = Option<String>, Query), ("limit" = Option<u64>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = AuditPage), (status = 400, body = super::ErrorBody)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    caller.require(Role::Auditor)?;
    let p = Params::new(
        q.as_deref(),
        &[
            "token", "route", "status", "since", "until", "limit", "cursor",
        ],
    )?;
    let limit = p.limit(DEFAULT_LIMIT, MAX_LIMIT)?;
    let cursor = p.cursor()?;
    let status = match p.u64("status")? {
        Some(s) if (100..=599).contains(&s) => Some(s as u16),
        Some(_) => {
            return Err(ApiError::BadRequest(
                "`status` must be an HTTP status, 100..599".into(),
            ))
        }
        None => None,
    };
    let (since, until) = p.window()?;
    let filter = AuditFilter {
        token_name: p.string("token"),
        route: p.string("route"),
        status,
        since,
        until,
    };
    let page = timed(
        &state,
        state.store.audit_page(&filter, cursor.as_ref(), limit),
    )
    .await?;
    let next_cursor = page.next.map(|c| c.encode());
    let n = page.rows.len() as i64;
    Ok((
        Extension(RowCount::new(n)),
        Json(AuditPage {
            items: page.rows,
            next_cursor,
        }),
    )
        .into_response())
}

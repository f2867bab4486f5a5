//! Admin API for lockouts: manual lock/unlock, the `actions` story, and resetting the storm breaker.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::audit::RowCount;
use super::auth::Caller;
use super::error::ApiError;
use super::params::{Params, DEFAULT_LIMIT, MAX_LIMIT};
use super::state::{timed, AppState};
use super::views::ActionOut;
use crate::config::Role;
use crate::model::{ActionKind, ActionStatus};
use crate::store::actions::ActionFilter;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LockRequest {
    /// Why (kept in `actions`): 1-2000 characters, not only whitespace.
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub reason: String,
    /// Tenant of the account; default "default".
    #[serde(default)]
    pub tenant: Option<String>,
    /// Lock a protected account anyway (the action's reason records it).
    #[serde(default)]
    pub force: bool,
}

#[derive(Serialize, ToSchema)]
pub struct Accepted {
    pub action_id: String,
    pub status: String,
}

#[derive(Serialize, ToSchema)]
pub struct ActionPage {
    pub items: Vec<ActionOut>,
    pub next_cursor: Option<String>,
}

fn body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    b.map(|Json(t)| t)
        .map_err(|e| ApiError::BadRequest(format!("invalid body: {}", e.body_text())))
}

fn responder(state: &AppState) -> Result<&crate::act::Responder, ApiError> {
    state
        .responder
        .as_ref()
        .ok_or_else(|| ApiError::BadRequest("lockouts are not available in this process".into()))
}

async fn manual(
    state: AppState,
    caller: Caller,
    user: String,
    req: LockRequest,
    action: ActionKind,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    if req.reason.trim().is_empty() || req.reason.chars().count() > 2000 {
        return Err(ApiError::BadRequest(
            "`reason` must be 1-2000 characters".into(),
        ));
    }
    let tenant = req.tenant.unwrap_or_else(|| "default".into());
    let id = responder(&state)?
        .manual(action, &tenant, &user, &req.reason, &caller.name, req.force)
        .await
        .map_err(|e| match e {
            crate::act::lockout::ManualRefused::Failed(m) => {
                tracing::error!(request_id = %super::layers::request_id(), error = %m, "manual action failed");
                ApiError::Unavailable
            }
            refused => ApiError::Conflict(refused.to_string()),
        })?;
    Ok((
        StatusCode::ACCEPTED,
        Extension(RowCount::new(1)),
        Json(Accepted {
            action_id: id,
            status: ActionStatus::Manual.as_str().into(),
        }),
    )
        .into_response())
}

#[utoipa::path(post, path = "/api/v1/users/{user_id}/lock", tag = "response", params(("user_id" = String, Path)), request_body = LockRequest,
    responses((status = 202, body = Accepted), (status = 400, body = super::ErrorBody), (status = 403, body = super::ErrorBody),
        (status = 409, description = "A protected account without `force`, or the manual-lock limit", body = super::ErrorBody)), security(("bearer" = [])))]
pub async fn lock(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(user): Path<String>,
    b: Result<Json<LockRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    manual(state, caller, user, body(b)?, ActionKind::LockUser).await
}

#[utoipa::path(post, path = "/api/v1/users/{user_id}/unlock", tag = "response", params(("user_id" = String, Path)), request_body = LockRequest,
    responses((status = 202, body = Accepted), (status = 400, body = super::ErrorBody), (status = 403, body = super::ErrorBody)), security(("bearer" = [])))]
pub async fn unlock(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(user): Path<String>,
    b: Result<Json<LockRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    manual(state, caller, user, body(b)?, ActionKind::UnlockUser).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    /// Why (kept in `actions`): not only whitespace.
    #[schema(min_length = 1, pattern = r"\S")]
    pub reason: String,
}

#[utoipa::path(post, path = "/api/v1/response/reset-breaker", tag = "response", request_body = ResetRequest,
    responses((status = 200, body = Accepted), (status = 400, body = super::ErrorBody), (status = 403, body = super::ErrorBody)), security(("bearer" = [])))]
pub async fn reset_breaker(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    b: Result<Json<ResetRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let req = body(b)?;
    if req.reason.trim().is_empty() {
        return Err(ApiError::BadRequest("`reason` must not be empty".into()));
    }
    responder(&state)?
        .reset_breaker(&caller.name, &req.reason)
        .await
        .map_err(|e| ApiError::BadRequest(format!("{e:#}")))?;
    Ok((
        Extension(RowCount::new(1)),
        Json(Accepted {
            action_id: String::new(),
            status: "reset".into(),
        }),
    )
        .into_response())
}

#[utoipa::path(get, path = "/api/v1/actions", tag = "response",
    params(("user_id" = Option<String>, Query), ("tenant" = Option<String>, Query), ("action" = Option<String>, Query), ("status" = Option<String>, Query),
        ("since" = Option<String>, Query, format = DateTime, description = "RFC 3339; requested at or after"), ("until" = Option<String>, Query, format = DateTime),
        ("limit" = Option<u64>, Query, minimum = 1, maximum = 1000, description = "1..=1000, default 100"), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = ActionPage), (status = 400, body = super::ErrorBody), (status = 403, body = super::ErrorBody)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    caller.require(Role::Auditor)?;
    let p = Params::new(
        q.as_deref(),
        &[
            "user_id", "tenant", "action", "status", "since", "until", "limit", "cursor",
        ],
    )?;
    let limit = p.limit(DEFAULT_LIMIT, MAX_LIMIT)?;
    let cursor = p.cursor()?;
    let filter = ActionFilter {
        user_id: p.string("user_id"),
        tenant: p.string("tenant"),
        action: p.choice("action")?,
        status: p.choice("status")?,
        since: p.time("since")?,
        until: p.time("until")?,
    };
    let page = timed(
        &state,
        state.store.actions_page(&filter, cursor.as_ref(), limit),
    )
    .await?;
    let next_cursor = page.next.map(|c| c.encode());
    let items: Vec<ActionOut> = page.rows.into_iter().map(ActionOut::from).collect();
    let n = items.len() as i64;
    Ok((
        Extension(RowCount::new(n)),
        Json(ActionPage { items, next_cursor }),
    )
        .into_response())
}

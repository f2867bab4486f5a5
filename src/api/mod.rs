//! The query API (axum) for investigators and auditors: alerts, events, timelines, exports — read from
//! ClickHouse only, authenticated by bearer tokens with roles, and every request itself recorded in
//! `api_audit`. The OpenAPI document is generated from the handlers (`openapi.rs`).

mod alerts;
mod audit;
pub mod auth;
mod events;
mod health;
pub mod openapi;
mod params;
mod response;
mod users;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{middleware, Json, Router};
use serde::Serialize;

use crate::config::ApiConfig;
use crate::shutdown::Shutdown;
use crate::stats::Stats;
use crate::store::Store;
pub use audit::AuditWriter;
use auth::Tokens;

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub store: Store,
    pub tokens: Tokens,
    pub cfg: ApiConfig,
    /// Present when a pipeline runs in this process (`serve`, `demo`).
    pub stats: Option<Arc<Stats>>,
    pub audit: AuditWriter,
    /// Manual lockouts and the storm breaker (admin routes).
    pub responder: Option<crate::act::Responder>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(store: Store, cfg: ApiConfig, stats: Option<Arc<Stats>>, responder: Option<crate::act::Responder>) -> anyhow::Result<Self> {
        let tokens = Tokens::from_config(&cfg.tokens)?;
        let audit = AuditWriter::spawn(store.clone());
        Ok(AppState(Arc::new(Inner { store, tokens, cfg, stats, audit, responder })))
    }

    /// A query with the per-request ClickHouse time limit.
    pub(crate) fn query(&self, sql: &str) -> clickhouse::query::Query {
        self.store.client().query(sql).with_setting("max_execution_time", self.cfg.query_timeout_secs.to_string())
    }
}

/// An error as the API reports it: a status and `{"error": code, "message": text}`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("missing or invalid bearer token")]
    Unauthorized,
    #[error("this needs the {0} role")]
    Forbidden(&'static str),
    #[error("{0}")]
    NotFound(String),
    #[error("storage: {0}")]
    Storage(#[from] clickhouse::error::Error),
    #[error("query took longer than the time limit")]
    Timeout,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable code: bad_request, unauthorized, forbidden, not_found, storage_unavailable, timeout.
    pub error: &'static str,
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Storage(e) => {
                tracing::error!(error = %e, "API query failed");
                (StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable")
            }
            ApiError::Timeout => (StatusCode::GATEWAY_TIMEOUT, "timeout"),
        };
        let mut resp = (status, Json(ErrorBody { error: code, message: self.to_string() })).into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert("www-authenticate", axum::http::HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

/// Runs a storage future under the API's time limit.
pub(crate) async fn timed<T>(state: &AppState, fut: impl std::future::Future<Output = Result<T, clickhouse::error::Error>>) -> Result<T, ApiError> {
    match tokio::time::timeout(Duration::from_secs(state.cfg.query_timeout_secs + 2), fut).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(ApiError::Timeout),
    }
}

/// The whole router: `/api/v1/*` behind tokens; health and metrics open or not per config; every
/// request audited.
pub fn router(state: AppState) -> Router {
    let v1 = Router::new()
        .route("/api/v1/alerts", get(alerts::list))
        .route("/api/v1/alerts/{alert_id}", get(alerts::get_one))
        .route("/api/v1/alerts/{alert_id}/status", post(alerts::set_status))
        .route("/api/v1/events", get(events::list))
        .route("/api/v1/users/{user_id}/timeline", get(users::timeline))
        .route("/api/v1/stats", get(users::stats))
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/api/v1/users/{user_id}/lock", post(response::lock))
        .route("/api/v1/users/{user_id}/unlock", post(response::unlock))
        .route("/api/v1/actions", get(response::list))
        .route("/api/v1/response/reset-breaker", post(response::reset_breaker))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::require_token))
        .route_layer(middleware::from_fn(audit::matched));
    let mut health = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route_layer(middleware::from_fn(audit::matched));
    if !state.cfg.open_health {
        health = health.route_layer(middleware::from_fn_with_state(state.clone(), auth::require_token));
    }
    let mut metrics = Router::new().route("/metrics", get(health::metrics)).route_layer(middleware::from_fn(audit::matched));
    if !state.cfg.open_metrics {
        metrics = metrics.route_layer(middleware::from_fn_with_state(state.clone(), auth::require_token));
    }
    v1.merge(health)
        .merge(metrics)
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .layer(middleware::from_fn_with_state(state.clone(), audit::record))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves until `shutdown` fires. Binds `listen` (port 0 picks a free port); returns the bound address
/// through `bound` before serving.
pub async fn serve(state: AppState, listen: &str, mut shutdown: Shutdown, bound: Option<tokio::sync::oneshot::Sender<SocketAddr>>) -> anyhow::Result<()> {
    use anyhow::Context;
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding the API to {listen}"))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "API listening");
    if let Some(tx) = bound {
        let _ = tx.send(addr);
    }
    let audit = state.audit.clone();
    axum::serve(listener, router(state)).with_graceful_shutdown(async move { shutdown.recv().await }).await?;
    audit.flush().await;
    Ok(())
}

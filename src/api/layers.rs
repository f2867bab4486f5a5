//! The middleware every request passes: the bearer token ([`require_token`]), the matched route
//! ([`matched`]) and the `api_audit` record written when the response body is finished ([`record`]).

use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use futures_util::StreamExt;

use super::audit::{AuditWriter, Route, RowCount};
use super::auth::Caller;
use super::error::ApiError;
use super::state::AppState;
use crate::store::audit::AuditRow;

/// Middleware: authenticates the bearer token and attaches the [`Caller`].
pub async fn require_token(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let token = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .ok_or(ApiError::Unauthorized)?;
    let caller = state
        .tokens
        .find(token)
        .cloned()
        .ok_or(ApiError::Unauthorized)?;
    req.extensions_mut().insert(caller.clone());
    let mut resp = next.run(req).await;
    resp.extensions_mut().insert(caller); // for the audit record
    Ok(resp)
}

/// Route layer: remembers the matched route template for the audit record.
pub async fn matched(path: Option<MatchedPath>, req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    if let Some(p) = path {
        resp.extensions_mut().insert(Route(p.as_str().to_owned()));
    }
    resp
}

/// Sends its record when dropped, i.e. when the response body is finished or abandoned.
struct Pending {
    writer: AuditWriter,
    row: Option<AuditRow>,
    rows: RowCount,
    started: Instant,
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(mut row) = self.row.take() {
            row.rows = self.rows.0.load(Relaxed);
            row.duration_ms = self.started.elapsed().as_millis().min(u32::MAX as u128) as u32;
            self.writer.record(row);
        }
    }
}

/// Outermost layer: every request produces exactly one `api_audit` row.
pub async fn record(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or_default().to_owned();
    let client = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let resp = next.run(req).await;
    let caller = resp.extensions().get::<Caller>().cloned();
    let route = resp
        .extensions()
        .get::<Route>()
        .map(|r| r.0.clone())
        .unwrap_or_else(|| "(unmatched)".into());
    let rows = resp
        .extensions()
        .get::<RowCount>()
        .cloned()
        .unwrap_or_else(|| RowCount::new(0));
    crate::metrics::global()
        .api_requests
        .with_label_values(&[route.as_str(), resp.status().as_str()])
        .inc();
    let row = AuditRow {
        request_id: crate::model::stable_id(&[
            &now.as_nanos().to_le_bytes(),
            path.as_bytes(),
            &rand_bytes(),
        ]),
        ts: now.as_secs() as u32,
        ts_ms: now.as_millis() as u64,
        token_name: caller.as_ref().map(|c| c.name.clone()).unwrap_or_default(),
        role: caller
            .map(|c| c.role.as_str().to_owned())
            .unwrap_or_default(),
        method,
        route,
        path,
        query,
        status: resp.status().as_u16(),
        rows: 0,
        duration_ms: 0,
        client,
    };
    let pending = Pending {
        writer: state.audit.clone(),
        row: Some(row),
        rows,
        started,
    };
    let (parts, body) = resp.into_parts();
    let stream = body.into_data_stream().map(move |chunk| {
        let _keep = &pending;
        chunk
    });
    Response::from_parts(parts, Body::from_stream(stream))
}

fn rand_bytes() -> [u8; 8] {
    use rand::RngCore;
    let mut b = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b
}

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

/// Sends its record when dropped: when the response body is finished or abandoned — or, with the
/// status still 499 (client closed), when the client went away before the handler answered.
struct Pending {
    writer: AuditWriter,
    row: Option<AuditRow>,
    rows: RowCount,
    started: Instant,
}

impl Pending {
    fn finish(&mut self) -> Option<AuditRow> {
        let mut row = self.row.take()?;
        row.rows = self.rows.0.load(Relaxed);
        row.duration_ms = self.started.elapsed().as_millis().min(u32::MAX as u128) as u32;
        Some(row)
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(row) = self.finish() {
            self.writer.record(row);
        }
    }
}

/// The address to record: the TCP peer, or what a trusted proxy says the client was.
fn client(state: &AppState, req: &Request) -> String {
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let forwarded = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty());
    match (peer, forwarded) {
        (Some(p), Some(f)) if state.trusted_proxies.iter().any(|n| n.contains(&p)) => {
            format!("{f} via {p}")
        }
        (Some(p), _) => p.to_string(),
        (None, _) => String::new(),
    }
}

/// Percent-decoded (a `+` stays a `+`: in a path it is data).
fn decoded(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Requests whose audit row is stored before the response completes: every state change, and
/// exports.
fn must_store(method: &axum::http::Method, query: &str) -> bool {
    !matches!(*method, axum::http::Method::GET | axum::http::Method::HEAD)
        || query.split('&').any(|kv| kv.starts_with("format="))
}

tokio::task_local! {
    /// The request being served (its `api_audit` id), for error messages and logs.
    pub static REQUEST_ID: String;
}

/// The current request's id (empty outside a request).
pub fn request_id() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_default()
}

/// Outermost layer: every request produces exactly one `api_audit` row, started before the handler
/// runs (a client that gives up still leaves one).
pub async fn record(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or_default().to_owned();
    let stored_first = must_store(&method, &query);
    let mut pending = Pending {
        writer: state.audit.clone(),
        row: Some(AuditRow {
            request_id: crate::model::stable_id(&[
                &now.as_nanos().to_le_bytes(),
                path.as_bytes(),
                &rand_bytes(),
            ]),
            ts: now.as_secs() as u32,
            ts_ms: now.as_millis() as u64,
            token_name: String::new(),
            role: String::new(),
            method: method.to_string(),
            route: "(unmatched)".into(),
            path,
            query,
            status: 499,
            rows: 0,
            duration_ms: 0,
            client: client(&state, &req),
            path_decoded: decoded(req.uri().path()),
            query_decoded: decoded(req.uri().query().unwrap_or_default()),
        }),
        rows: RowCount::new(0),
        started,
    };
    let id = pending
        .row
        .as_ref()
        .map(|r| r.request_id.clone())
        .unwrap_or_default();
    let mut resp = REQUEST_ID.scope(id.clone(), next.run(req)).await;
    if let Ok(v) = axum::http::HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    let caller = resp.extensions().get::<Caller>().cloned();
    let route = resp.extensions().get::<Route>().map(|r| r.0.clone());
    if let Some(rows) = resp.extensions().get::<RowCount>() {
        pending.rows = rows.clone();
    }
    crate::metrics::global()
        .api_requests
        .with_label_values(&[
            route.as_deref().unwrap_or("(unmatched)"),
            resp.status().as_str(),
        ])
        .inc();
    if let Some(row) = pending.row.as_mut() {
        row.status = resp.status().as_u16();
        if let Some(r) = route {
            row.route = r;
        }
        if let Some(c) = caller {
            row.token_name = c.name.clone();
            row.role = c.role.as_str().to_owned();
        }
    }
    let changes = !matches!(method, axum::http::Method::GET | axum::http::Method::HEAD);
    if stored_first && (changes || resp.status().is_success()) {
        let (parts, body) = resp.into_parts();
        if changes {
            // A state change (a small, complete body): stored before the response is sent.
            let row = pending.finish().expect("not finished yet");
            if !state.audit.store_now(row, |r| r.status = 503).await {
                return axum::response::IntoResponse::into_response(ApiError::AuditUnavailable);
            }
            return Response::from_parts(parts, body);
        }
        // An export: stored after its last row and before the end of the response; if it cannot
        // be, the response ends in an error instead of completing.
        let audit = state.audit.clone();
        let pending = std::sync::Arc::new(std::sync::Mutex::new(pending));
        let at_end = pending.clone();
        let stream = body
            .into_data_stream()
            .map(move |chunk| {
                let _keep = &pending;
                chunk
            })
            .chain(futures_util::stream::once(async move {
                let row = at_end.lock().ok().and_then(|mut p| p.finish());
                let stored = match row {
                    Some(row) => audit.store_now(row, |_| {}).await,
                    None => true,
                };
                if stored {
                    Ok(axum::body::Bytes::new())
                } else {
                    Err(axum::Error::new(std::io::Error::other(
                        "the audit row could not be stored",
                    )))
                }
            }));
        return Response::from_parts(parts, Body::from_stream(stream));
    }
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

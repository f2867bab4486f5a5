//! `api_audit`: one row per request — who (token name, role), what (method, route, path, query), the
//! outcome (status, rows returned) and how long, written when the response body is finished (so a
//! streamed export records its full row count). Rows are batched into ClickHouse by a background task.

use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use clickhouse::Row;
use futures_util::StreamExt;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use super::auth::Caller;
use super::AppState;
use crate::store::Store;

/// Rows a handler returned (a response extension; streams count as they go).
#[derive(Clone, Default)]
pub struct RowCount(pub Arc<AtomicI64>);

impl RowCount {
    pub fn new(n: i64) -> Self {
        RowCount(Arc::new(AtomicI64::new(n)))
    }
}

/// The route template that matched (set by a route layer, read by the audit layer).
#[derive(Clone)]
pub struct Route(pub String);

#[derive(Debug, Clone, Row, Serialize)]
pub struct AuditRow {
    request_id: String,
    ts: u32,
    ts_ms: u64,
    token_name: String,
    role: String,
    method: String,
    route: String,
    path: String,
    query: String,
    status: u16,
    rows: i64,
    duration_ms: u32,
    client: String,
}

enum Msg {
    Row(AuditRow),
    Flush(oneshot::Sender<()>),
}

/// Handle on the background writer.
#[derive(Clone)]
pub struct AuditWriter(mpsc::Sender<Msg>);

impl AuditWriter {
    pub fn spawn(store: Store) -> Self {
        let (tx, rx) = mpsc::channel(100_000);
        tokio::spawn(run(store, rx));
        AuditWriter(tx)
    }

    fn record(&self, row: AuditRow) {
        if let Err(e) = self.0.try_send(Msg::Row(row)) {
            tracing::error!(error = %e, "api_audit queue full or closed: an audit row was lost");
        }
    }

    /// Waits until every row recorded so far is in ClickHouse (or the writer gave up).
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.0.send(Msg::Flush(tx)).await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(10), rx).await;
        }
    }
}

async fn run(store: Store, mut rx: mpsc::Receiver<Msg>) {
    let mut rows: Vec<AuditRow> = Vec::new();
    let mut waiting: Vec<oneshot::Sender<()>> = Vec::new();
    loop {
        let msg = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await;
        match msg {
            Ok(Some(Msg::Row(r))) => {
                rows.push(r);
                if rows.len() < 10_000 {
                    continue;
                }
            }
            Ok(Some(Msg::Flush(tx))) => waiting.push(tx),
            Ok(None) => {
                write(&store, &mut rows).await;
                return;
            }
            Err(_) => {}
        }
        write(&store, &mut rows).await;
        for w in waiting.drain(..) {
            let _ = w.send(());
        }
    }
}

async fn write(store: &Store, rows: &mut Vec<AuditRow>) {
    if rows.is_empty() {
        return;
    }
    let backoff = store.retry_policy(true);
    let url = store.cfg.url.clone();
    let result = backoff
        .run("insert api_audit", &url, || async {
            let mut ins = store.client().insert::<AuditRow>("api_audit").await?;
            for r in rows.iter() {
                ins.write(r).await?;
            }
            ins.end().await
        })
        .await;
    match result {
        Ok(()) => rows.clear(),
        Err(e) => tracing::error!(error = %e, pending = rows.len(), "cannot write api_audit rows; keeping them for the next attempt"),
    }
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
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or_default().to_owned();
    let client = req.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let resp = next.run(req).await;
    let caller = resp.extensions().get::<Caller>().cloned();
    let route = resp.extensions().get::<Route>().map(|r| r.0.clone()).unwrap_or_else(|| "(unmatched)".into());
    let rows = resp.extensions().get::<RowCount>().cloned().unwrap_or_else(|| RowCount::new(0));
    crate::metrics::global().api_requests.with_label_values(&[route.as_str(), resp.status().as_str()]).inc();
    let row = AuditRow {
        request_id: crate::model::stable_id(&[&now.as_nanos().to_le_bytes(), path.as_bytes(), &rand_bytes()]),
        ts: now.as_secs() as u32,
        ts_ms: now.as_millis() as u64,
        token_name: caller.as_ref().map(|c| c.name.clone()).unwrap_or_default(),
        role: caller.map(|c| c.role.as_str().to_owned()).unwrap_or_default(),
        method,
        route,
        path,
        query,
        status: resp.status().as_u16(),
        rows: 0,
        duration_ms: 0,
        client,
    };
    let pending = Pending { writer: state.audit.clone(), row: Some(row), rows, started };
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

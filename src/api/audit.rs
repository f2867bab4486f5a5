//! `api_audit`: one row per request — who (token name, role), what (method, route, path, query), the
//! outcome (status, rows returned) and how long, written when the response body is finished (so a
//! streamed export records its full row count). Rows are batched into ClickHouse by a background task.

use std::sync::atomic::AtomicI64;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::store::audit::AuditRow;
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

enum Msg {
    Row(Box<AuditRow>),
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

    pub(super) fn record(&self, row: AuditRow) {
        if let Err(e) = self.0.try_send(Msg::Row(Box::new(row))) {
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
                rows.push(*r);
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
    let result = store
        .retry_policy(true)
        .run("insert api_audit", store.url(), || store.insert_audit(rows))
        .await;
    match result {
        Ok(()) => rows.clear(),
        Err(e) => {
            tracing::error!(error = %e, pending = rows.len(), "cannot write api_audit rows; keeping them for the next attempt")
        }
    }
}

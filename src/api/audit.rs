//! `api_audit`: one row per request — who (token name, role), what (method, route, path, query), the
//! outcome (status, rows returned) and how long. Rows are batched into ClickHouse by a background
//! task and stored within a second of the request under any load; a state-changing request's row,
//! and an export's, is stored *before* its response completes ([`AuditWriter::store_now`]); shutdown
//! flushes.

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
    /// Store this row (and everything before it) now; the row back if it could not be.
    Now(Box<AuditRow>, oneshot::Sender<Result<(), Box<AuditRow>>>),
    Flush(oneshot::Sender<()>),
}

/// The longest a row waits in the batch.
const MAX_WAIT: Duration = Duration::from_millis(500);
/// How long a request waits for its own row to be stored before failing with 503.
const NOW_TIMEOUT: Duration = Duration::from_secs(5);

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

    /// Stores `row` before returning; when ClickHouse does not take it in time the request must
    /// fail, and `on_failure` (the row as failed) is queued for the next attempt instead.
    pub(super) async fn store_now(
        &self,
        row: AuditRow,
        on_failure: impl FnOnce(&mut AuditRow),
    ) -> bool {
        let (tx, rx) = oneshot::channel();
        let mut back = row.clone();
        if self.0.send(Msg::Now(Box::new(row), tx)).await.is_err() {
            return false;
        }
        match tokio::time::timeout(NOW_TIMEOUT + Duration::from_secs(1), rx).await {
            Ok(Ok(Ok(()))) => true,
            Ok(Ok(Err(mut r))) => {
                on_failure(&mut r);
                self.record(*r);
                false
            }
            _ => {
                // The writer is busy retrying an earlier batch (which may hold this row): queue
                // the failure too, so the audit shows it either way.
                on_failure(&mut back);
                self.record(back);
                false
            }
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
    // The batch is written at most MAX_WAIT after its first row, however steady the traffic.
    let mut due: Option<tokio::time::Instant> = None;
    loop {
        let msg = match due {
            Some(at) => match tokio::time::timeout_at(at, rx.recv()).await {
                Ok(m) => m,
                Err(_) => {
                    due = (!write(&store, &mut rows, false).await)
                        .then(|| tokio::time::Instant::now() + MAX_WAIT);
                    continue;
                }
            },
            None => rx.recv().await,
        };
        match msg {
            Some(Msg::Row(r)) => {
                rows.push(*r);
                due.get_or_insert_with(|| tokio::time::Instant::now() + MAX_WAIT);
                if rows.len() < 10_000 {
                    continue;
                }
            }
            Some(Msg::Now(r, tx)) => {
                rows.push(*r);
                let ok = write(&store, &mut rows, true).await;
                let _ = tx.send(if ok {
                    Ok(())
                } else {
                    Err(Box::new(rows.pop().expect("pushed")))
                });
                due = (!ok).then(|| tokio::time::Instant::now() + MAX_WAIT);
                continue;
            }
            Some(Msg::Flush(tx)) => waiting.push(tx),
            None => {
                write(&store, &mut rows, false).await;
                return;
            }
        }
        let ok = write(&store, &mut rows, false).await;
        due = (!ok).then(|| tokio::time::Instant::now() + MAX_WAIT);
        for w in waiting.drain(..) {
            let _ = w.send(());
        }
    }
}

/// Writes the batch; whether it is stored (else it is kept for the next attempt). `quick`: one
/// attempt bounded by [`NOW_TIMEOUT`] (a request waits on it), else the store's retry policy.
async fn write(store: &Store, rows: &mut Vec<AuditRow>, quick: bool) -> bool {
    if rows.is_empty() {
        return true;
    }
    let result = if quick {
        match tokio::time::timeout(NOW_TIMEOUT, store.insert_audit(rows)).await {
            Ok(r) => r.map_err(anyhow::Error::from),
            Err(_) => Err(anyhow::anyhow!("no answer within {NOW_TIMEOUT:?}")),
        }
    } else {
        store
            .retry_policy(true)
            .run("insert api_audit", store.url(), || store.insert_audit(rows))
            .await
            .map_err(anyhow::Error::from)
    };
    match result {
        Ok(()) => {
            rows.clear();
            true
        }
        Err(e) => {
            tracing::error!(error = %e, pending = rows.len(), "cannot write api_audit rows; keeping them for the next attempt");
            false
        }
    }
}

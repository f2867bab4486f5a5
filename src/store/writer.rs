//! The batched writer: inserts each batch's rows (RowBinary), retrying with capped backoff, and only
//! then acknowledges the batch's source positions. Batches are written strictly in order.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;

use super::alerts::AlertRow;
use super::dead_letters::DeadLetterRow;
use super::directory::DirectoryRow;
use super::event_rows::EventRows;
use super::{Backoff, Store, StoreError};
use crate::source::{Acker, Acks};
use crate::stats::{Stats, Tally};

/// Everything one flush writes, plus the positions it covers.
#[derive(Default)]
pub struct WriteBatch {
    /// The events' rows, encoded ([`EventRows`]).
    pub events: EventRows,
    pub dead_letters: Vec<DeadLetterRow>,
    pub directory: Vec<DirectoryRow>,
    pub alerts: Vec<AlertRow>,
    pub acks: Acks,
    pub tally: Tally,
    /// Records (any kind) the batch covers, including dropped duplicates.
    pub records: usize,
}

impl WriteBatch {
    pub fn is_empty(&self) -> bool {
        self.records == 0 && self.alerts.is_empty()
    }

    /// A batch with room for `rows` events (reserved, not touched: no page is faulted in for it).
    pub fn with_capacity(rows: usize) -> Self {
        WriteBatch {
            events: EventRows::with_capacity(rows),
            ..Default::default()
        }
    }

    /// Empties the batch, keeping its vectors' room for the next one.
    pub fn clear(&mut self) {
        self.events.clear();
        self.dead_letters.clear();
        self.directory.clear();
        self.alerts.clear();
        self.acks = Acks::default();
        self.tally = Tally::default();
        self.records = 0;
    }
}

/// What happens to alerts once the batch holding them is in ClickHouse (publishing, lockouts): the
/// writer calls it before acknowledging the batch's positions, and `flush` once the input is done.
pub trait OnStored: Send + Sync + 'static {
    fn on_stored(&self, alerts: &[AlertRow]) -> impl std::future::Future<Output = ()> + Send;
    fn flush(&self) -> impl std::future::Future<Output = ()> + Send;
}

/// Nothing happens to stored alerts (tools, tests).
impl OnStored for () {
    async fn on_stored(&self, _: &[AlertRow]) {}
    async fn flush(&self) {}
}

/// Drains `rx` until it closes. Returns an error only when a finite command's deadline passed or
/// ClickHouse refused a statement (then nothing after the failed batch was acknowledged). Each
/// stored batch goes back emptied on `recycle`, for the processor to fill again.
pub async fn run<A: OnStored>(
    store: Store,
    backoff: Backoff,
    mut rx: mpsc::Receiver<WriteBatch>,
    acker: Arc<dyn Acker>,
    stats: Arc<Stats>,
    act: Arc<A>,
    recycle: mpsc::Sender<WriteBatch>,
) -> Result<(), StoreError> {
    while let Some(mut batch) = rx.recv().await {
        let started = Instant::now();
        let url = store.cfg.url.clone();
        let result = backoff
            .run("insert batch", &url, || async {
                let r = write_all(&store, &batch).await;
                stats.store_down.store(r.is_err(), Relaxed);
                if r.is_err() {
                    stats.insert_failures.fetch_add(1, Relaxed);
                }
                r
            })
            .await;
        if let Err(e) = result {
            stats.store_down.store(true, Relaxed);
            return Err(e);
        }
        let m = crate::metrics::global();
        m.insert_latency.observe(started.elapsed().as_secs_f64());
        for a in batch.alerts.iter().filter(|a| a.version == 1) {
            m.alerts.with_label_values(&[a.detector.as_str()]).inc();
        }
        act.on_stored(&batch.alerts).await;
        acker.ack(&batch.acks);
        stats.add(&batch.tally);
        stats.add_codes(batch.dead_letters.iter().map(|d| d.error_code.as_str()));
        tracing::debug!(
            events = batch.events.len(),
            dead_letters = batch.dead_letters.len(),
            directory = batch.directory.len(),
            alerts = batch.alerts.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "batch stored"
        );
        batch.clear();
        let _ = recycle.try_send(batch); // the pool is full: dropped
    }
    act.flush().await;
    Ok(())
}

/// Alerts go in before the events that raised them: a stored event always has its alerts stored.
/// After a crash between the two inserts, the restart rebuilds detector state from the stored
/// events and takes their re-delivery as a duplicate, so an alert written after them would be lost
/// for good; written first, it is found again by its deterministic id (the re-read events then raise
/// it again, which deduplicates).
async fn write_all(store: &Store, b: &WriteBatch) -> Result<(), clickhouse::error::Error> {
    store.insert_rows("directory", &b.directory).await?;
    store.insert_rows("dead_letters", &b.dead_letters).await?;
    store.insert_rows("alerts", &b.alerts).await?;
    store.insert_events(&b.events).await
}

//! The batched writer: inserts each batch's rows (RowBinary), retrying with capped backoff, and only
//! then acknowledges the batch's source positions. Batches are written strictly in order, each
//! once the alert lane (`pipeline::lane`) has stored the alerts raised before it was cut.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;

use super::alerts::AlertRow;
use super::dead_letters::DeadLetterRow;
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
    /// The number of what the processor last sent the alert lane (alerts, directory records) before
    /// the batch was cut: its events are stored only once the lane has stored that (0: nothing).
    pub alerts_seq: u64,
    pub acks: Acks,
    pub tally: Tally,
    /// Records (any kind) the batch covers, including dropped duplicates.
    pub records: usize,
}

impl WriteBatch {
    /// Nothing to store or count (alerts raised without a record, by a detector's release, are
    /// counted in the batch's tally).
    pub fn is_empty(&self) -> bool {
        self.records == 0 && self.tally.alerts == 0
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
        self.alerts_seq = 0;
        self.acks = Acks::default();
        self.tally = Tally::default();
        self.records = 0;
    }
}

/// What happens to alerts once they are in ClickHouse (publishing, lockouts, notifications): the
/// alert lane (`pipeline::lane`) calls it after each insert of alerts, and `flush` once the input
/// is done and every alert is stored.
pub trait OnStored: Send + Sync + 'static {
    fn on_stored(&self, alerts: &[AlertRow]) -> impl std::future::Future<Output = ()> + Send;
    fn flush(&self) -> impl std::future::Future<Output = ()> + Send;
}

/// Nothing happens to stored alerts (tools, tests).
impl OnStored for () {
    async fn on_stored(&self, _: &[AlertRow]) {}
    async fn flush(&self) {}
}

/// Drains `rx` until it closes. Returns an error only when a finite command's deadline passed,
/// ClickHouse refused a statement, or the alert lane stopped (then nothing after the failed batch
/// was acknowledged). Each stored batch goes back emptied on `recycle`, for the processor to fill
/// again.
pub async fn run(
    store: Store,
    backoff: Backoff,
    mut rx: mpsc::Receiver<WriteBatch>,
    acker: Arc<dyn Acker>,
    stats: Arc<Stats>,
    mut alerts_stored: tokio::sync::watch::Receiver<u64>,
    recycle: mpsc::Sender<WriteBatch>,
) -> Result<(), StoreError> {
    while let Some(mut batch) = rx.recv().await {
        // Alerts go in before the events that raised them: a stored event always has its alerts
        // stored. After a crash between the two, the restart rebuilds detector state from the
        // stored events and takes their re-delivery as a duplicate, so an alert written after them
        // would be lost for good; written first, it is found again by its deterministic id (the
        // re-read events then raise it again, which deduplicates).
        let need = batch.alerts_seq;
        if alerts_stored.wait_for(|s| *s >= need).await.is_err() {
            return Err(StoreError::Unavailable {
                url: store.cfg.url.clone(),
                secs: 0,
                last: "the alert lane stopped before storing this batch's alerts".into(),
            });
        }
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
        crate::metrics::global()
            .insert_latency
            .observe(started.elapsed().as_secs_f64());
        acker.ack(&batch.acks);
        stats.add(&batch.tally);
        stats.add_codes(batch.dead_letters.iter().map(|d| d.error_code.as_str()));
        tracing::debug!(
            events = batch.events.len(),
            dead_letters = batch.dead_letters.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "batch stored"
        );
        batch.clear();
        let _ = recycle.try_send(batch); // the pool is full: dropped
    }
    Ok(())
}

async fn write_all(store: &Store, b: &WriteBatch) -> Result<(), clickhouse::error::Error> {
    store.insert_rows("dead_letters", &b.dead_letters).await?;
    store.insert_events(&b.events).await
}

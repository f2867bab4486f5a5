//! The alert lane: alerts are stored, and handed to what acts on them (publishing, lockouts,
//! notifications), as soon as the processor raises them, in their own small inserts — not after
//! the batch of events they came with, nor behind the batches queued for the writer. Directory
//! records go the same way, ahead of the alerts raised after them: what acts on an alert reads the
//! user's stored record (a notification's time zone). The writer stores a batch's events only once
//! the lane has stored everything sent before the batch was cut, so a stored event always has its
//! alerts stored (see `store::writer`), and positions are acknowledged by the writer as before,
//! after the events.
//!
//! Alerts that wait together while an insert runs go in the next one, so a storm of alerts costs a
//! few inserts, not one per alert.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use crate::store::alerts::AlertRow;
use crate::store::directory::DirectoryRow;
use crate::store::writer::OnStored;
use crate::store::{Backoff, Store, StoreError};

/// Directory records read and alerts raised by the processor, numbered in the order they came.
pub(super) struct Raised {
    pub seq: u64,
    pub directory: Vec<DirectoryRow>,
    pub alerts: Vec<AlertRow>,
}

/// Stores what arrives on `rx`, announces on `stored` the number of the last of it stored, then
/// hands the alerts to `act`. Ends when `rx` closes and everything on it is stored. An error only
/// when a finite command's deadline passed or ClickHouse refused the insert: then nothing more is
/// stored, and the writer, waiting on `stored`, stores no event after it either.
pub(super) async fn run<A: OnStored>(
    store: Store,
    backoff: Backoff,
    mut rx: mpsc::Receiver<Raised>,
    stored: watch::Sender<u64>,
    stats: Arc<crate::stats::Stats>,
    act: Arc<A>,
) -> Result<(), StoreError> {
    let (mut directory, mut rows): (Vec<DirectoryRow>, Vec<AlertRow>) = Default::default();
    while let Some(first) = rx.recv().await {
        directory.clear();
        rows.clear();
        let mut last = 0;
        for mut r in std::iter::once(first).chain(std::iter::from_fn(|| rx.try_recv().ok())) {
            directory.append(&mut r.directory);
            rows.append(&mut r.alerts);
            last = r.seq;
        }
        let url = store.url().to_owned();
        backoff
            .run("insert directory records and alerts", &url, || async {
                let mut r = store.insert_rows("directory", &directory).await;
                if r.is_ok() {
                    r = store.insert_rows("alerts", &rows).await;
                }
                if r.is_err() {
                    stats.store_down.store(true, Relaxed);
                    stats.insert_failures.fetch_add(1, Relaxed);
                }
                r
            })
            .await?;
        stored.send_replace(last);
        let m = crate::metrics::global();
        for a in rows.iter().filter(|a| a.version == 1) {
            m.alerts.with_label_values(&[a.detector.as_str()]).inc();
        }
        tracing::debug!(
            directory = directory.len(),
            alerts = rows.len(),
            "directory records and alerts stored"
        );
        if !rows.is_empty() {
            act.on_stored(&rows).await;
        }
    }
    Ok(())
}

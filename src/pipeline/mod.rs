//! Wires the stages: source chunks → decode → enrich → detect → batch → writer. The preparer task
//! (`prepare`: decode, duplicates, privacy, enrich) and the processor task (detect, rows, batches cut
//! by size or age) each work in arrival order, on two cores; the alert lane (`lane`) stores raised
//! alerts at once and hands them to what acts on them; the writer task stores batches in order
//! (each after its alerts) and acknowledges positions. Every channel is bounded.

mod lane;
mod prepare;

pub use prepare::{EventsFormat, Formats};
use prepare::{Prepared, Preparer, SeenIds, Step};

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::act::Act;
use crate::config::PipelineConfig;
use crate::detect::Detect;
use crate::directory::Directory;
use crate::enrich::Enricher;
use crate::model::{Alert, Stream};
use crate::source::{Acker, Input};
use crate::stats::Stats;
use crate::store::alerts::AlertRow;
use crate::store::directory::DirectoryRow;
use crate::store::writer::{self, OnStored, WriteBatch};
use crate::store::{Backoff, Store, StoreError};

/// The pluggable middle stages, their starting state, and what must live as long as they do.
pub struct Stages {
    pub enrich: Box<dyn Enricher>,
    pub detect: Box<dyn Detect>,
    /// The directory view detectors consult (possibly rehydrated from storage).
    pub directory: Directory,
    /// What happens to stored alerts: Kafka publishing, lockouts.
    pub act: Arc<Act>,
    /// The geo-IP hot-reload watcher (stops with the pipeline).
    pub reloader: Option<crate::enrich::Reloader>,
    /// How event records are written when not in custos' own contract (`--format`, `[[kafka.inputs]]`).
    pub formats: Formats,
    /// `[privacy]`: applied to every decoded event and dead letter before anything else sees it.
    pub privacy: Option<Arc<crate::privacy::Redactor>>,
}

impl Stages {
    /// Stages that do nothing but pass events through (tests, tools).
    pub fn passthrough(enrich: Box<dyn Enricher>) -> Self {
        Stages {
            enrich,
            detect: Box::new(crate::detect::NoDetect),
            directory: Directory::default(),
            act: Arc::default(),
            reloader: None,
            formats: Formats::default(),
            privacy: None,
        }
    }
}

/// A started pipeline: feed `input`, drop it, then await `done` to know everything was stored.
pub struct Pipeline {
    pub input: mpsc::Sender<Input>,
    pub done: JoinHandle<Result<(), StoreError>>,
}

pub fn start(
    cfg: &PipelineConfig,
    store: Store,
    backoff: Backoff,
    acker: Arc<dyn Acker>,
    stats: Arc<Stats>,
    stages: Stages,
) -> Pipeline {
    let (input, rx) = mpsc::channel::<Input>(
        cfg.queue_batches * cfg.batch_rows.div_ceil(crate::source::CHUNK).max(1),
    );
    let (batch_tx, batch_rx) = mpsc::channel::<WriteBatch>(cfg.queue_batches);
    // Written batches come back emptied, their buffers kept: a new batch grows no vector and
    // touches no fresh page (page faults zeroing new memory were a quarter of a replay's CPU).
    // Every batch the queue holds, the one being written and the one being filled.
    let (recycle_tx, recycle_rx) = mpsc::channel::<WriteBatch>(cfg.queue_batches + 2);
    // Two chunks prepared ahead of the processor: enough to keep both tasks busy.
    let (step_tx, step_rx) = mpsc::channel::<Step>(2);
    let Stages {
        enrich,
        detect,
        directory,
        act,
        reloader,
        formats,
        privacy,
    } = stages;
    let preparer = Preparer {
        formats,
        privacy,
        enrich,
        seen: SeenIds::new(cfg.dedup_window),
        max_bytes: cfg.max_record_bytes,
        dead_letter_max: cfg.dead_letter_max_bytes,
    };
    let prep_task = tokio::spawn(preparer.run(rx, step_tx));
    // Raised alerts on their way to the lane, a few chunks' worth.
    let (lane_tx, lane_rx) = mpsc::channel::<lane::Raised>(16);
    let (alerts_stored, alerts_seen) = tokio::sync::watch::channel(0u64);
    let processor = Processor {
        lane: lane_tx,
        lane_seq: 0,
        raised: Vec::new(),
        raised_directory: Vec::new(),
        store: store.clone(),
        recycled: recycle_rx,
        batch_rows: cfg.batch_rows,
        directory,
        detect,
        _reloader: reloader,
        batch: WriteBatch::with_capacity(cfg.batch_rows),
        alerts: Vec::new(),
    };
    let proc_task = tokio::spawn(processor.run(
        step_rx,
        batch_tx,
        cfg.batch_rows,
        Duration::from_millis(cfg.batch_max_age_ms),
        Duration::from_millis(cfg.alert_flush_ms),
    ));
    let lane_task = tokio::spawn(lane::run(
        store.clone(),
        backoff.clone(),
        lane_rx,
        alerts_stored,
        stats.clone(),
        act.clone(),
    ));
    let writer_task = tokio::spawn(writer::run(
        store,
        backoff,
        batch_rx,
        acker,
        stats,
        alerts_seen,
        recycle_tx,
    ));
    let done = tokio::spawn(async move {
        let w = writer_task.await.expect("writer task panicked");
        proc_task.await.expect("processor task panicked");
        prep_task.await.expect("preparer task panicked");
        let l = lane_task.await.expect("alert lane panicked");
        // Every alert is stored and handed over: deliver what is queued.
        act.flush().await;
        // The lane's error is the cause when the writer stopped for it.
        l.and(w)
    });
    Pipeline { input, done }
}

struct Processor {
    store: Store,
    /// Emptied batches back from the writer.
    recycled: mpsc::Receiver<WriteBatch>,
    batch_rows: usize,
    directory: Directory,
    detect: Box<dyn Detect>,
    /// The geo-IP hot-reload watcher, kept as long as the pipeline runs.
    _reloader: Option<crate::enrich::Reloader>,
    batch: WriteBatch,
    alerts: Vec<Alert>,
    /// Where raised alerts go to be stored at once ([`lane`]), numbered by `lane_seq`.
    lane: mpsc::Sender<lane::Raised>,
    lane_seq: u64,
    /// Alerts raised and directory records read since they last went to the lane.
    raised: Vec<AlertRow>,
    raised_directory: Vec<DirectoryRow>,
}

impl Processor {
    async fn run(
        mut self,
        mut rx: mpsc::Receiver<Step>,
        tx: mpsc::Sender<WriteBatch>,
        batch_rows: usize,
        max_age: Duration,
        alert_flush: Duration,
    ) {
        let mut deadline = Instant::now() + max_age;
        let mut release = tokio::time::interval(Duration::from_secs(1));
        release.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                chunk = rx.recv() => match chunk {
                    Some(Step::Reassigned) => self.rehydrate().await,
                    Some(Step::Records(chunk)) => {
                        let now = crate::time::now_secs();
                        if self.batch.is_empty() {
                            deadline = Instant::now() + max_age;
                        }
                        for p in chunk {
                            self.process(p, now);
                        }
                        if !self.raised.is_empty() {
                            // The batch's events follow soon (stored evidence for an analyst).
                            deadline = deadline.min(Instant::now() + alert_flush);
                        }
                        if !self.send_raised().await {
                            return;
                        }
                        if self.batch.records >= batch_rows && tx.send(self.next_batch()).await.is_err() {
                            return;
                        }
                    }
                    None => break,
                },
                _ = tokio::time::sleep_until(deadline), if !self.batch.is_empty() => {
                    if tx.send(self.next_batch()).await.is_err() {
                        return;
                    }
                }
                _ = release.tick() => {
                    if self.batch.is_empty() {
                        deadline = Instant::now() + max_age;
                    }
                    self.release(false);
                    if !self.send_raised().await {
                        return;
                    }
                }
            }
        }
        // The end of a finite input: what waited (unknown accounts) is due now.
        self.release(true);
        if !self.send_raised().await {
            return;
        }
        if !self.batch.is_empty() {
            let _ = tx.send(self.next_batch()).await;
        }
    }

    /// Alerts raised and directory records read since the last call, to the lane; the open batch's
    /// events wait for them. False when the lane stopped (the pipeline is stopping).
    async fn send_raised(&mut self) -> bool {
        if self.raised.is_empty() && self.raised_directory.is_empty() {
            return true;
        }
        self.lane_seq += 1;
        self.batch.alerts_seq = self.lane_seq;
        let raised = lane::Raised {
            seq: self.lane_seq,
            directory: std::mem::take(&mut self.raised_directory),
            alerts: std::mem::take(&mut self.raised),
        };
        self.lane.send(raised).await.is_ok()
    }

    /// The batch to send, and an emptied one (recycled when the writer gave one back) in its place.
    fn next_batch(&mut self) -> WriteBatch {
        let fresh = self
            .recycled
            .try_recv()
            .unwrap_or_else(|_| WriteBatch::with_capacity(self.batch_rows));
        std::mem::replace(&mut self.batch, fresh)
    }

    /// A source's signal that it got new partitions: another instance may have stored their recent
    /// history, so windows and suppression are reloaded from ClickHouse first.
    async fn rehydrate(&mut self) {
        let Some(engine) = self.detect.engine_mut() else {
            return;
        };
        match crate::detect::rehydrate::engine(&self.store, engine, &self.directory).await {
            Ok(r) => tracing::info!(
                events = r.events,
                alerts = r.alerts,
                "detector state rehydrated after a partition assignment"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "rehydration after a partition assignment failed; state may miss the new partitions' history")
            }
        }
    }

    /// Findings the detectors held back whose time has come, into the open batch.
    fn release(&mut self, end_of_input: bool) {
        self.alerts.clear();
        self.detect
            .release(&self.directory, end_of_input, &mut self.alerts);
        let now = crate::time::now_secs();
        for a in &self.alerts {
            self.batch.tally.alerts += (a.version == 1) as u64;
            self.raised.push(AlertRow::new(a, now));
        }
    }

    /// detect for one prepared record, appending its rows to the open batch.
    fn process(&mut self, p: Prepared, now: u32) {
        let b = &mut self.batch;
        b.records += 1;
        match p {
            Prepared::Event { ev, pos } => {
                b.acks.add(&pos);
                b.tally.read += 1;
                self.alerts.clear();
                self.detect.on_event(&ev, &self.directory, &mut self.alerts);
                for a in &self.alerts {
                    b.tally.alerts += (a.version == 1) as u64;
                    self.raised.push(AlertRow::new(a, now));
                }
                b.events.push(&ev, &pos, now);
                b.tally.stored += 1;
            }
            Prepared::Duplicate { pos } => {
                b.acks.add(&pos);
                b.tally.read += 1;
                b.tally.duplicates += 1;
            }
            Prepared::Rejected { row, pos, stream } => {
                b.acks.add(&pos);
                match stream {
                    Stream::Events => {
                        b.tally.read += 1;
                        b.tally.rejected += 1;
                    }
                    Stream::Directory => {
                        b.tally.directory_read += 1;
                        b.tally.directory_rejected += 1;
                    }
                }
                b.dead_letters.push(row);
            }
            Prepared::Directory { rec, pos } => {
                b.acks.add(&pos);
                b.tally.directory_read += 1;
                self.raised_directory
                    .push(DirectoryRow::new(&rec, &pos, now));
                b.tally.directory_stored += 1;
                self.directory.apply(rec);
            }
        }
    }
}

//! Wires the stages: source chunks → decode → enrich → detect → batch → writer. One processor task
//! does the CPU work in arrival order and cuts batches by size or age; the writer task stores them in
//! order and acknowledges positions. Both channels are bounded.

use ahash::RandomState;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::act::Act;
use crate::config::PipelineConfig;
use crate::decode::mapping::{InputContext, Mapping};
use crate::decode::{decode_directory, decode_event};
use crate::detect::Detect;
use crate::directory::Directory;
use crate::enrich::Enricher;
use crate::model::{Alert, DeadLetter, Envelope, Position, Stream};
use crate::source::{Acker, Input};
use crate::stats::Stats;
use crate::store::alerts::AlertRow;
use crate::store::dead_letters::DeadLetterRow;
use crate::store::directory::DirectoryRow;
use crate::store::events::EventRow;
use crate::store::writer::{self, WriteBatch};
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

/// A mapping and the input it reads (see [`crate::decode::mapping`]).
pub type EventsFormat = (Arc<Mapping>, InputContext);

/// The format of each input: by Kafka topic, else `default` (`None`: the native contract).
#[derive(Default, Clone)]
pub struct Formats {
    pub default: Option<EventsFormat>,
    pub by_topic: Vec<(Arc<str>, Option<EventsFormat>)>,
}

impl Formats {
    /// One format for every record (`replay --format`).
    pub fn all(default: Option<EventsFormat>) -> Self {
        Formats {
            default,
            by_topic: Vec::new(),
        }
    }

    /// The format of a record read at `pos`.
    pub fn of(&self, pos: &Position) -> Option<&EventsFormat> {
        if let Position::Kafka { topic, .. } = pos {
            if let Some((_, f)) = self.by_topic.iter().find(|(t, _)| **t == **topic) {
                return f.as_ref();
            }
        }
        self.default.as_ref()
    }
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
    mut stages: Stages,
) -> Pipeline {
    let (input, rx) = mpsc::channel::<Input>(
        cfg.queue_batches * cfg.batch_rows.div_ceil(crate::source::CHUNK).max(1),
    );
    let (batch_tx, batch_rx) = mpsc::channel::<WriteBatch>(cfg.queue_batches);
    // Written batches come back emptied, their buffers kept: a new batch grows no vector and
    // touches no fresh page (page faults zeroing new memory were a quarter of a replay's CPU).
    // Every batch the queue holds, the one being written and the one being filled.
    let (recycle_tx, recycle_rx) = mpsc::channel::<WriteBatch>(cfg.queue_batches + 2);
    let act = std::mem::take(&mut stages.act);
    let processor = Processor::new(cfg, stages, store.clone(), recycle_rx);
    let proc_task = tokio::spawn(processor.run(
        rx,
        batch_tx,
        cfg.batch_rows,
        Duration::from_millis(cfg.batch_max_age_ms),
        Duration::from_millis(cfg.alert_flush_ms),
    ));
    let writer_task = tokio::spawn(writer::run(
        store, backoff, batch_rx, acker, stats, act, recycle_tx,
    ));
    let done = tokio::spawn(async move {
        let w = writer_task.await.expect("writer task panicked");
        proc_task.await.expect("processor task panicked");
        w
    });
    Pipeline { input, done }
}

struct Processor {
    store: Store,
    /// Emptied batches back from the writer.
    recycled: mpsc::Receiver<WriteBatch>,
    batch_rows: usize,
    max_bytes: usize,
    dead_letter_max: usize,
    seen: SeenIds,
    directory: Directory,
    stages: Stages,
    batch: WriteBatch,
    alerts: Vec<Alert>,
}

impl Processor {
    fn new(
        cfg: &PipelineConfig,
        mut stages: Stages,
        store: Store,
        recycled: mpsc::Receiver<WriteBatch>,
    ) -> Self {
        Processor {
            store,
            recycled,
            batch_rows: cfg.batch_rows,
            max_bytes: cfg.max_record_bytes,
            dead_letter_max: cfg.dead_letter_max_bytes,
            seen: SeenIds::new(cfg.dedup_window),
            directory: std::mem::take(&mut stages.directory),
            stages,
            batch: WriteBatch::with_capacity(cfg.batch_rows),
            alerts: Vec::new(),
        }
    }

    async fn run(
        mut self,
        mut rx: mpsc::Receiver<Input>,
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
                    Some(Input::Reassigned) => self.rehydrate().await,
                    Some(Input::Records(chunk)) => {
                        let now = crate::time::now_secs();
                        if self.batch.is_empty() {
                            deadline = Instant::now() + max_age;
                        }
                        let alerts = self.batch.alerts.len();
                        for env in chunk {
                            self.process(env, now);
                        }
                        if self.batch.alerts.len() > alerts {
                            deadline = deadline.min(Instant::now() + alert_flush);
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
                    let alerts = self.batch.alerts.len();
                    self.release(false);
                    if self.batch.alerts.len() > alerts {
                        deadline = deadline.min(Instant::now() + alert_flush);
                    }
                }
            }
        }
        // The end of a finite input: what waited (unknown accounts) is due now.
        self.release(true);
        if !self.batch.is_empty() {
            let _ = tx.send(self.next_batch()).await;
        }
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
        let Some(engine) = self.stages.detect.engine_mut() else {
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
        self.stages
            .detect
            .release(&self.directory, end_of_input, &mut self.alerts);
        let now = crate::time::now_secs();
        for a in &self.alerts {
            self.batch.tally.alerts += (a.version == 1) as u64;
            self.batch.alerts.push(AlertRow::new(a, now));
        }
    }

    /// decode → enrich → detect for one record, appending its rows to the open batch.
    fn process(&mut self, env: Envelope, now: u32) {
        let b = &mut self.batch;
        b.records += 1;
        b.acks.add(&env.pos);
        match env.stream {
            Stream::Events => {
                b.tally.read += 1;
                let decoded = match self.stages.formats.of(&env.pos) {
                    None => decode_event(&env.raw, self.max_bytes),
                    Some((m, ctx)) => m.decode(&env.raw, self.max_bytes, ctx),
                };
                match decoded {
                    Ok(mut ev) => {
                        if !self.seen.insert(&ev.event_id) {
                            b.tally.duplicates += 1;
                            return;
                        }
                        if let Some(p) = &self.stages.privacy {
                            p.event(&mut ev);
                        }
                        self.stages.enrich.enrich(&mut ev);
                        self.alerts.clear();
                        self.stages
                            .detect
                            .on_event(&ev, &self.directory, &mut self.alerts);
                        for a in &self.alerts {
                            b.tally.alerts += (a.version == 1) as u64;
                            b.alerts.push(AlertRow::new(a, now));
                        }
                        b.events.push(EventRow::new(ev, &env.pos, now));
                        b.tally.stored += 1;
                    }
                    Err(rej) => {
                        b.tally.rejected += 1;
                        b.dead_letters.push(dead_letter(
                            env,
                            rej,
                            now,
                            self.dead_letter_max,
                            self.stages.privacy.as_deref(),
                        ));
                    }
                }
            }
            Stream::Directory => {
                b.tally.directory_read += 1;
                match decode_directory(&env.raw, self.max_bytes) {
                    Ok(rec) => {
                        b.directory.push(DirectoryRow::new(&rec, &env.pos, now));
                        b.tally.directory_stored += 1;
                        self.directory.apply(rec);
                    }
                    Err(rej) => {
                        b.tally.directory_rejected += 1;
                        b.dead_letters.push(dead_letter(
                            env,
                            rej,
                            now,
                            self.dead_letter_max,
                            self.stages.privacy.as_deref(),
                        ));
                    }
                }
            }
        }
    }
}

/// The dead letter of a rejected record: its first `max` bytes, and for a longer one its full length
/// and the SHA-256 of the whole in the message (the id is still derived from every byte).
fn dead_letter(
    env: Envelope,
    rej: crate::decode::Rejection,
    now: u32,
    max: usize,
    privacy: Option<&crate::privacy::Redactor>,
) -> DeadLetterRow {
    tracing::debug!(stream = env.stream.as_str(), position = %env.pos.key(), code = %rej.code, "record rejected");
    let mut d = DeadLetter {
        stream: env.stream,
        pos: env.pos,
        raw: env.raw,
        code: rej.code.to_string(),
        message: rej.message,
    };
    let id = d.id();
    if d.raw.len() > max {
        use sha2::Digest;
        let hex: String = sha2::Sha256::digest(&d.raw)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        d.message = format!(
            "{} (the first {max} of {} bytes are kept; SHA-256 of the whole record: {hex})",
            d.message,
            d.raw.len()
        );
        d.raw.truncate(max);
    }
    // De-identified last: the id and the length note are of the bytes received.
    if let Some(p) = privacy {
        d.raw = p.bytes(std::mem::take(&mut d.raw));
        d.message = p.text(&d.message).into_owned();
    }
    let mut row = DeadLetterRow::new(d, now);
    row.dl_id = id;
    row
}

/// Recently seen `event_id`s (two generations of 128-bit hashes), to drop in-stream duplicates before
/// they reach storage. Bounded: remembers between `window/2` and `window` ids. ClickHouse's
/// ReplacingMergeTree remains the guarantee across restarts.
struct SeenIds {
    window: usize,
    current: hashbrown::HashSet<u128, RandomState>,
    previous: hashbrown::HashSet<u128, RandomState>,
    hashers: (RandomState, RandomState),
}

impl SeenIds {
    fn new(window: usize) -> Self {
        SeenIds {
            window,
            current: Default::default(),
            previous: Default::default(),
            hashers: (RandomState::new(), RandomState::new()),
        }
    }

    /// False if `id` was seen within the window.
    fn insert(&mut self, id: &str) -> bool {
        if self.window == 0 {
            return true;
        }
        let h = ((self.hashers.0.hash_one(id) as u128) << 64) | self.hashers.1.hash_one(id) as u128;
        if self.previous.contains(&h) || !self.current.insert(h) {
            return false;
        }
        if self.current.len() >= self.window.div_ceil(2) {
            // The older half forgotten, its table's room kept for the next half.
            std::mem::swap(&mut self.previous, &mut self.current);
            self.current.clear();
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::SeenIds;

    #[test]
    fn the_duplicate_window_remembers_between_half_and_all_of_it() {
        let mut s = SeenIds::new(4);
        assert!(s.insert("a"));
        assert!(!s.insert("a"), "a repeat within the window");
        assert!(s.insert("b")); // a generation of two turns over: {a, b} is the older one
        assert!(!s.insert("a") && !s.insert("b"));
        assert!(s.insert("c") && s.insert("d")); // and again: {c, d}; {a, b} forgotten
        assert!(!s.insert("c"));
        assert!(s.insert("a"), "forgotten after the window");
        let mut off = SeenIds::new(0);
        assert!(off.insert("x") && off.insert("x"));
    }
}

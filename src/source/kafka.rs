//! Kafka source (rdkafka consumer group) in the style of Vector's: offsets are *stored* only when the
//! writer acknowledges a batch (`enable.auto.offset.store=false`), and librdkafka commits stored
//! offsets periodically and on rebalance. A crash re-reads at most the unacknowledged tail, which the
//! store deduplicates.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};

use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::KafkaError;
use rdkafka::ClientContext;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use tokio::sync::mpsc;

use super::{Acker, Acks, Input, CHUNK};
use crate::config::KafkaConfig;
use crate::model::{Envelope, Position, Stream};
use crate::shutdown::Shutdown;

/// Notices new partition assignments: the pipeline then rehydrates detector state from ClickHouse
/// before processing the new partitions' messages (another instance may have stored their history).
/// It also counts the partitions held now (for the assignment watchdog).
pub struct Rebalances(Arc<AtomicBool>, Arc<std::sync::atomic::AtomicUsize>);

impl ClientContext for Rebalances {}

impl ConsumerContext for Rebalances {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                self.1.store(tpl.count(), SeqCst);
                if tpl.count() > 0 {
                    tracing::info!(partitions = tpl.count(), "Kafka partitions assigned");
                    self.0.store(true, SeqCst);
                }
            }
            Rebalance::Revoke(_) => self.1.store(0, SeqCst),
            Rebalance::Error(_) => {}
        }
    }
}

/// The highest acknowledged offset per events partition, for the final commit.
type Acked = Arc<std::sync::Mutex<std::collections::HashMap<(Arc<str>, i32), i64>>>;

pub struct KafkaSource {
    consumer: Arc<StreamConsumer<Rebalances>>,
    assigned: Arc<AtomicBool>,
    /// Partitions held now.
    partitions: Arc<std::sync::atomic::AtomicUsize>,
    /// The directory feed, read whole by every instance (see [`KafkaSource::build`]).
    directory: Option<Arc<StreamConsumer>>,
    acked: Acked,
    /// The events topics (`[[kafka.inputs]]`), in the consumer group.
    events_topics: Arc<[Arc<str>]>,
    directory_topic: Arc<str>,
}

/// The librdkafka settings custos needs, before the user's `[kafka.librdkafka]` overrides.
pub fn client_config(cfg: &KafkaConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &cfg.brokers)
        .set("group.id", &cfg.group_id)
        .set("client.id", &cfg.client_id)
        .set("enable.auto.commit", "true")
        .set("enable.auto.offset.store", "false")
        .set("auto.commit.interval.ms", "1000")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", cfg.session_timeout_ms.to_string())
        .set(
            "heartbeat.interval.ms",
            (cfg.session_timeout_ms / 4).max(100).to_string(),
        )
        .set("queued.max.messages.kbytes", "16384")
        // With the prefetch queue capped as above, librdkafka postpones a partition's next fetch by
        // this much each time the queue is full (default 1 s): the consumer then sat idle for up to
        // a second between bursts, and a mock-cluster run stored 50k-event batches with gaps of
        // 0.5-0.9 s between them (BENCHMARKS.md, 2026-12-07 (late)).
        .set("fetch.queue.backoff.ms", "20")
        .set("enable.partition.eof", "false");
    for (k, v) in &cfg.librdkafka {
        c.set(k, v);
    }
    c
}

impl KafkaSource {
    /// Watches this instance's share of the events topic: mirrors it into `stats` (the
    /// `custos_kafka_assigned_partitions` metric), warns every 30 s while it holds none, and marks it
    /// not ready once it has held none for more than 3 × the session timeout since it subscribed or
    /// last held one. Runs until `stop`.
    pub fn watch_assignment(
        &self,
        stats: Arc<crate::stats::Stats>,
        session_timeout_ms: u64,
        mut stop: Shutdown,
    ) -> tokio::task::JoinHandle<()> {
        let partitions = self.partitions.clone();
        let limit = std::time::Duration::from_millis(3 * session_timeout_ms);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            let mut since = tokio::time::Instant::now();
            let mut warned: Option<tokio::time::Instant> = None;
            loop {
                tokio::select! {
                    _ = stop.recv() => return,
                    _ = tick.tick() => {}
                }
                let held = partitions.load(SeqCst);
                stats.kafka_partitions.store(held as u64, SeqCst);
                if held > 0 {
                    since = tokio::time::Instant::now();
                    warned = None;
                    stats.kafka_unassigned.store(false, SeqCst);
                    continue;
                }
                let idle = since.elapsed();
                if warned.is_none_or(|w| w.elapsed() >= std::time::Duration::from_secs(30))
                    && idle.as_secs() >= 1
                {
                    tracing::warn!(idle_secs = idle.as_secs(), "this instance holds no Kafka partition of the events topic: it consumes nothing");
                    warned = Some(tokio::time::Instant::now());
                }
                stats.kafka_unassigned.store(idle > limit, SeqCst);
            }
        })
    }

    /// Creates the events consumer (the shared consumer group: partitions split between instances)
    /// and, if configured, the directory consumer. Every instance needs the *whole* directory, so
    /// that one reads the (compacted) topic from the beginning in a group of its own and never
    /// commits: its records are idempotent (stored by content hash) and the state was already
    /// rehydrated from ClickHouse.
    pub fn build(cfg: &KafkaConfig) -> anyhow::Result<Self> {
        let assigned = Arc::new(AtomicBool::new(false));
        let partitions = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let consumer: StreamConsumer<Rebalances> = client_config(cfg)
            .create_with_context(Rebalances(assigned.clone(), partitions.clone()))
            .context("creating the Kafka consumer")?;
        let topics: Vec<String> = cfg.event_inputs().into_iter().map(|i| i.topic).collect();
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer
            .subscribe(&names)
            .with_context(|| format!("subscribing to {}", names.join(", ")))?;
        let directory = if cfg.directory_topic.is_empty() {
            None
        } else {
            let mut dc = client_config(cfg);
            let nonce: u64 = rand::RngCore::next_u64(&mut rand::rngs::OsRng);
            dc.set(
                "group.id",
                format!("{}-directory-{nonce:016x}", cfg.group_id),
            )
            .set("enable.auto.commit", "false");
            let d: StreamConsumer = dc
                .create()
                .context("creating the Kafka directory consumer")?;
            d.subscribe(&[cfg.directory_topic.as_str()])
                .with_context(|| format!("subscribing to {}", cfg.directory_topic))?;
            Some(Arc::new(d))
        };
        tracing::info!(brokers = %cfg.brokers, group = %cfg.group_id, events = %names.join(","), directory = %cfg.directory_topic, "Kafka consumers subscribed");
        Ok(KafkaSource {
            consumer: Arc::new(consumer),
            assigned,
            partitions,
            directory,
            acked: Arc::default(),
            events_topics: topics.iter().map(|t| Arc::from(t.as_str())).collect(),
            directory_topic: Arc::from(cfg.directory_topic.as_str()),
        })
    }

    pub fn acker(&self) -> Arc<dyn Acker> {
        Arc::new(KafkaAcker(
            self.consumer.clone(),
            self.acked.clone(),
            self.events_topics.clone(),
        ))
    }

    /// Reads until shutdown, sending chunks of envelopes. Blocks (and so stops fetching) while the
    /// pipeline is full: memory stays bounded by the channel and librdkafka's queue limit.
    pub async fn run(&self, tx: mpsc::Sender<Input>, mut shutdown: Shutdown) {
        let lag = tokio::spawn(report_lag(self.consumer.clone()));
        let directory = self.directory.clone().map(|d| {
            let (tx, mut stop, topic) =
                (tx.clone(), shutdown.clone(), [self.directory_topic.clone()]);
            tokio::spawn(async move {
                consume(&d, &topic, Stream::Directory, &tx, &mut stop, None).await
            })
        });
        consume(
            &self.consumer,
            &self.events_topics,
            Stream::Events,
            &tx,
            &mut shutdown,
            Some(&self.assigned),
        )
        .await;
        if let Some(d) = directory {
            let _ = d.await;
        }
        lag.abort();
    }

    /// Commits every acknowledged offset now (explicitly, with retries): called after the writer
    /// drained on shutdown, so a restart re-reads nothing that was stored.
    pub fn commit(&self) {
        // (A partition revoked meanwhile may get an older offset than its new owner committed: that
        // only causes a re-read, which storage deduplicates.)
        let tpl = {
            let acked = self.acked.lock().expect("acked offsets");
            let mut tpl = TopicPartitionList::with_capacity(acked.len());
            for ((topic, partition), offset) in acked.iter() {
                let _ = tpl.add_partition_offset(topic, *partition, Offset::Offset(offset + 1));
            }
            tpl
        };
        if tpl.count() == 0 {
            return;
        }
        for attempt in 1..=5 {
            match self.consumer.commit(&tpl, CommitMode::Sync) {
                Ok(()) => {
                    tracing::info!(partitions = tpl.count(), "committed Kafka offsets");
                    return;
                }
                Err(e) if attempt < 5 => {
                    tracing::debug!(error = %e, attempt, "final Kafka commit failed; retrying");
                    std::thread::sleep(Duration::from_millis(200 * attempt as u64));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "final Kafka commit failed; the uncommitted tail will be re-read (and deduplicated)")
                }
            }
        }
    }
}

/// Every 10 s: messages behind the high watermark over the assigned partitions (`/metrics`).
async fn report_lag(consumer: Arc<StreamConsumer<Rebalances>>) {
    loop {
        tokio::time::sleep(Duration::from_secs(10)).await;
        let c = consumer.clone();
        let lag = tokio::task::spawn_blocking(move || -> Option<i64> {
            let positions = c.position().ok()?;
            let mut lag = 0;
            for e in positions.elements() {
                let (_, high) = c
                    .fetch_watermarks(e.topic(), e.partition(), Duration::from_secs(2))
                    .ok()?;
                if let Offset::Offset(pos) = e.offset() {
                    lag += (high - pos).max(0);
                } else {
                    lag += high.max(0);
                }
            }
            Some(lag)
        })
        .await;
        if let Ok(Some(lag)) = lag {
            crate::metrics::global().consumer_lag.set(lag);
        }
    }
}

fn log_error(e: &KafkaError) {
    // Broker bounces surface here as transport failures; librdkafka reconnects by itself.
    tracing::warn!(error = %e, "Kafka consumer error (retrying)");
}

/// Stores acknowledged events-topic offsets (the directory consumer never commits).
struct KafkaAcker(Arc<StreamConsumer<Rebalances>>, Acked, Arc<[Arc<str>]>);

impl Acker for KafkaAcker {
    fn ack(&self, acks: &Acks) {
        if acks.kafka.is_empty() {
            return;
        }
        let events: Vec<(&(Arc<str>, i32), &i64)> = acks
            .kafka
            .iter()
            .filter(|((t, _), _)| self.2.contains(t))
            .collect();
        if events.is_empty() {
            return;
        }
        {
            let mut acked = self.1.lock().expect("acked offsets");
            for (k, o) in &events {
                let e = acked.entry((*k).clone()).or_insert(**o);
                *e = (*e).max(**o);
            }
        }
        let mut tpl = TopicPartitionList::with_capacity(events.len());
        for ((topic, partition), offset) in events {
            if let Err(e) = tpl.add_partition_offset(topic, *partition, Offset::Offset(offset + 1))
            {
                tracing::warn!(%topic, partition, error = %e, "cannot build offset list");
            }
        }
        if let Err(e) = self.0.store_offsets(&tpl) {
            // Typically the partition was revoked meanwhile: its new owner re-reads from the last
            // commit, and the store deduplicates.
            tracing::debug!(error = %e, "storing offsets failed (partition revoked?)");
        }
    }
}

/// Reads `topics` until shutdown, sending chunks of `stream` envelopes. Blocks (and so stops fetching)
/// while the pipeline is full: memory stays bounded by the channel and librdkafka's queue limit.
/// After a new assignment (`assigned` set), [`Input::Reassigned`] goes first: the pipeline's signal to
/// rehydrate before the new partitions' records.
async fn consume<C: ConsumerContext + 'static>(
    consumer: &StreamConsumer<C>,
    topics: &[Arc<str>],
    stream: Stream,
    tx: &mpsc::Sender<Input>,
    shutdown: &mut Shutdown,
    assigned: Option<&AtomicBool>,
) {
    let mut chunk: Vec<Envelope> = Vec::with_capacity(CHUNK);
    loop {
        // Wait for the first message of a chunk, then take whatever else is ready right away.
        let first = chunk.is_empty();
        let next = tokio::select! {
            _ = shutdown.recv() => break,
            m = consumer.recv(), if first => Some(m),
            m = tokio::time::timeout(Duration::from_millis(2), consumer.recv()), if !first => m.ok(),
        };
        match next {
            Some(Ok(msg)) => {
                let Some(topic) = topics.iter().find(|t| msg.topic() == &***t) else {
                    continue;
                };
                if assigned.is_some_and(|a| a.swap(false, SeqCst)) {
                    // New partitions: what is read so far, then the rehydration marker.
                    let before = std::mem::take(&mut chunk);
                    let before = Some(before).filter(|c| !c.is_empty()).map(Input::Records);
                    for c in before.into_iter().chain([Input::Reassigned]) {
                        tokio::select! {
                            r = tx.send(c) => if r.is_err() { return },
                            _ = shutdown.recv() => return,
                        }
                    }
                }
                let topic = topic.clone();
                chunk.push(Envelope {
                    stream,
                    pos: Position::Kafka {
                        topic,
                        partition: msg.partition(),
                        offset: msg.offset(),
                    },
                    raw: msg.payload().unwrap_or_default().to_vec(),
                });
                if chunk.len() < CHUNK {
                    continue;
                }
            }
            Some(Err(e)) => {
                log_error(&e);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            None => {}
        }
        if !chunk.is_empty() {
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK));
            tokio::select! {
                r = tx.send(Input::Records(full)) => if r.is_err() { return },
                _ = shutdown.recv() => return,
            }
        }
    }
    if !chunk.is_empty() {
        let _ = tx.send(Input::Records(chunk)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KafkaConfig;

    #[test]
    fn a_full_prefetch_queue_is_fetched_again_within_20_ms_unless_the_user_says_otherwise() {
        let cfg = KafkaConfig::default();
        let c = client_config(&cfg);
        assert_eq!(c.get("fetch.queue.backoff.ms"), Some("20"));
        assert_eq!(c.get("queued.max.messages.kbytes"), Some("16384"));
        assert_eq!(c.get("enable.auto.offset.store"), Some("false"));
        let mut cfg = KafkaConfig::default();
        cfg.librdkafka
            .insert("fetch.queue.backoff.ms".into(), "250".into());
        assert_eq!(
            client_config(&cfg).get("fetch.queue.backoff.ms"),
            Some("250")
        );
    }
}

//! Kafka source (rdkafka consumer group) in the style of Vector's: offsets are *stored* only when the
//! writer acknowledges a batch (`enable.auto.offset.store=false`), and librdkafka commits stored
//! offsets periodically and on rebalance. A crash re-reads at most the unacknowledged tail, which the
//! store deduplicates.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use tokio::sync::mpsc;

use super::{Acker, Acks, CHUNK};
use crate::config::KafkaConfig;
use crate::model::{Envelope, Position, Stream};
use crate::shutdown::Shutdown;

pub struct KafkaSource {
    consumer: Arc<StreamConsumer>,
    events_topic: Arc<str>,
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
        .set("heartbeat.interval.ms", (cfg.session_timeout_ms / 4).max(100).to_string())
        .set("queued.max.messages.kbytes", "16384")
        .set("enable.partition.eof", "false");
    for (k, v) in &cfg.librdkafka {
        c.set(k, v);
    }
    c
}

impl KafkaSource {
    /// Creates the consumer and subscribes to the events (and directory) topics.
    pub fn build(cfg: &KafkaConfig) -> anyhow::Result<Self> {
        let consumer: StreamConsumer = client_config(cfg).create().context("creating the Kafka consumer")?;
        let mut topics = vec![cfg.events_topic.as_str()];
        if !cfg.directory_topic.is_empty() {
            topics.push(cfg.directory_topic.as_str());
        }
        consumer.subscribe(&topics).with_context(|| format!("subscribing to {topics:?}"))?;
        tracing::info!(brokers = %cfg.brokers, group = %cfg.group_id, ?topics, "Kafka consumer subscribed");
        Ok(KafkaSource {
            consumer: Arc::new(consumer),
            events_topic: Arc::from(cfg.events_topic.as_str()),
            directory_topic: Arc::from(cfg.directory_topic.as_str()),
        })
    }

    pub fn acker(&self) -> Arc<dyn Acker> {
        Arc::new(KafkaAcker(self.consumer.clone()))
    }

    /// Reads until shutdown, sending chunks of envelopes. Blocks (and so stops fetching) while the
    /// pipeline is full: memory stays bounded by the channel and librdkafka's queue limit.
    pub async fn run(&self, tx: mpsc::Sender<Vec<Envelope>>, mut shutdown: Shutdown) {
        let mut chunk: Vec<Envelope> = Vec::with_capacity(CHUNK);
        loop {
            // Wait for the first message of a chunk, then take whatever else is ready right away.
            let first = chunk.is_empty();
            let next = tokio::select! {
                _ = shutdown.recv() => break,
                m = self.consumer.recv(), if first => Some(m),
                m = tokio::time::timeout(Duration::from_millis(2), self.consumer.recv()), if !first => m.ok(),
            };
            match next {
                Some(Ok(msg)) => {
                    let topic = msg.topic();
                    let stream = if *topic == *self.directory_topic {
                        Stream::Directory
                    } else if *topic == *self.events_topic {
                        Stream::Events
                    } else {
                        continue;
                    };
                    let topic = if stream == Stream::Events { self.events_topic.clone() } else { self.directory_topic.clone() };
                    chunk.push(Envelope {
                        stream,
                        pos: Position::Kafka { topic, partition: msg.partition(), offset: msg.offset() },
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
                    r = tx.send(full) => if r.is_err() { return },
                    _ = shutdown.recv() => return,
                }
            }
        }
        if !chunk.is_empty() {
            let _ = tx.send(chunk).await;
        }
    }

    /// Commits the stored (= acknowledged) offsets now; called after the writer drained on shutdown.
    pub fn commit(&self) {
        match self.consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(()) => tracing::info!("committed Kafka offsets"),
            Err(KafkaError::ConsumerCommit(rdkafka::types::RDKafkaErrorCode::NoOffset)) => {}
            Err(e) => tracing::warn!(error = %e, "final Kafka commit failed; the uncommitted tail will be re-read"),
        }
    }
}

fn log_error(e: &KafkaError) {
    // Broker bounces surface here as transport failures; librdkafka reconnects by itself.
    tracing::warn!(error = %e, "Kafka consumer error (retrying)");
}

struct KafkaAcker(Arc<StreamConsumer>);

impl Acker for KafkaAcker {
    fn ack(&self, acks: &Acks) {
        if acks.kafka.is_empty() {
            return;
        }
        let mut tpl = TopicPartitionList::with_capacity(acks.kafka.len());
        for ((topic, partition), offset) in &acks.kafka {
            if let Err(e) = tpl.add_partition_offset(topic, *partition, Offset::Offset(offset + 1)) {
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

//! Source stage: where raw records come from (Kafka, JSONL files, the generator) and how a stored
//! position is acknowledged back to them. Sources send chunks of [`Envelope`]s on a bounded channel,
//! so a slow store slows the source instead of growing memory.

pub mod file;
pub mod kafka;

use std::collections::HashMap;
use std::sync::Arc;

use crate::model::{Envelope, Position};

/// How many envelopes a source puts in one channel message.
pub const CHUNK: usize = 1024;

/// One message from a source to the pipeline.
#[derive(Debug)]
pub enum Input {
    /// Raw records, in source order.
    Records(Vec<Envelope>),
    /// New partitions were assigned: another instance may have stored their recent history, so the
    /// pipeline reloads detector state from ClickHouse before the records that follow.
    Reassigned,
}

/// The positions a batch covers: for each Kafka partition, the highest offset in it.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Acks {
    pub kafka: HashMap<(Arc<str>, i32), i64>,
}

impl Acks {
    pub fn add(&mut self, pos: &Position) {
        if let Position::Kafka {
            topic,
            partition,
            offset,
        } = pos
        {
            let e = self
                .kafka
                .entry((topic.clone(), *partition))
                .or_insert(*offset);
            *e = (*e).max(*offset);
        }
    }
}

/// Told once a batch is in ClickHouse; only then may a source advance its committed position.
pub trait Acker: Send + Sync {
    fn ack(&self, acks: &Acks);
}

/// For sources with nothing to commit (files, the generator).
pub struct NoAck;

impl Acker for NoAck {
    fn ack(&self, _: &Acks) {}
}

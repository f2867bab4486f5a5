//! The first half of the hot path, on its own task: decode (custos' contract or a mapping), drop
//! in-stream duplicates, de-identify, enrich. Records leave in the order they came, so the processor
//! (detect, batch) sees them as before while the two halves use two cores.

use ahash::RandomState;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::decode::mapping::{InputContext, Mapping};
use crate::decode::{decode_directory, decode_event};
use crate::enrich::Enricher;
use crate::model::{DeadLetter, DirectoryRecord, Envelope, Event, Position, Stream};
use crate::privacy::Redactor;
use crate::source::Input;
use crate::store::dead_letters::DeadLetterRow;

/// One record, prepared.
pub(super) enum Prepared {
    Event {
        ev: Event,
        pos: Position,
    },
    /// An event whose id was seen within the duplicate window.
    Duplicate {
        pos: Position,
    },
    Rejected {
        row: DeadLetterRow,
        pos: Position,
        stream: Stream,
    },
    Directory {
        rec: DirectoryRecord,
        pos: Position,
    },
}

/// What the processor receives: a source chunk, prepared, or a source's signal, in arrival order.
pub(super) enum Step {
    Records(Vec<Prepared>),
    Reassigned,
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

/// Decodes, de-duplicates, de-identifies and enriches; owns the state those need.
pub(super) struct Preparer {
    pub formats: Formats,
    pub privacy: Option<Arc<Redactor>>,
    pub enrich: Box<dyn Enricher>,
    pub seen: SeenIds,
    pub max_bytes: usize,
    pub dead_letter_max: usize,
}

impl Preparer {
    /// Prepares every chunk of `rx` into `tx`, in order, until `rx` ends or `tx` closes.
    pub async fn run(mut self, mut rx: mpsc::Receiver<Input>, tx: mpsc::Sender<Step>) {
        while let Some(input) = rx.recv().await {
            let step = match input {
                Input::Reassigned => Step::Reassigned,
                Input::Records(chunk) => {
                    let now = crate::time::now_secs();
                    Step::Records(chunk.into_iter().map(|e| self.prepare(e, now)).collect())
                }
            };
            if tx.send(step).await.is_err() {
                return;
            }
        }
    }

    fn prepare(&mut self, env: Envelope, now: u32) -> Prepared {
        match env.stream {
            Stream::Events => {
                let decoded = match self.formats.of(&env.pos) {
                    None => decode_event(&env.raw, self.max_bytes),
                    Some((m, ctx)) => m.decode(&env.raw, self.max_bytes, ctx),
                };
                match decoded {
                    Ok(mut ev) => {
                        if !self.seen.insert(&ev.event_id) {
                            return Prepared::Duplicate { pos: env.pos };
                        }
                        if let Some(p) = &self.privacy {
                            p.event(&mut ev);
                        }
                        self.enrich.enrich(&mut ev);
                        Prepared::Event { ev, pos: env.pos }
                    }
                    Err(rej) => self.rejected(env, rej, now),
                }
            }
            Stream::Directory => match decode_directory(&env.raw, self.max_bytes) {
                Ok(rec) => Prepared::Directory { rec, pos: env.pos },
                Err(rej) => self.rejected(env, rej, now),
            },
        }
    }

    fn rejected(&self, env: Envelope, rej: crate::decode::Rejection, now: u32) -> Prepared {
        let (pos, stream) = (env.pos.clone(), env.stream);
        let row = dead_letter(env, rej, now, self.dead_letter_max, self.privacy.as_deref());
        Prepared::Rejected { row, pos, stream }
    }
}

/// The dead letter of a rejected record: its first `max` bytes, and for a longer one its full length
/// and the SHA-256 of the whole in the message (the id is still derived from every byte).
fn dead_letter(
    env: Envelope,
    rej: crate::decode::Rejection,
    now: u32,
    max: usize,
    privacy: Option<&Redactor>,
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
pub(super) struct SeenIds {
    window: usize,
    current: hashbrown::HashSet<u128, RandomState>,
    previous: hashbrown::HashSet<u128, RandomState>,
    hashers: (RandomState, RandomState),
}

impl SeenIds {
    pub fn new(window: usize) -> Self {
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

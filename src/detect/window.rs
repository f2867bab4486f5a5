//! Rolling event-time windows per group, shared by `threshold` and Sigma correlations: each group's
//! events in event-time order (each `event_id` once), and the heaviest window `(end - width, end]`
//! holding a given event — a count or sum of amounts, or the number of distinct values. The window
//! ending at a group's newest event is kept incrementally (O(1) per in-order event); a late event
//! sweeps the windows it belongs to once.

use crate::model::FastMap;

use chrono::{DateTime, Duration, Utc};

use super::log::{Entry, KeyRef, Log, SubjectKey};

/// What a window keeps of an event: its amount, or the value it counts as distinct.
pub struct Item {
    pub amount: u64,
    pub value: String,
}

/// A group: a subject within its tenant.
pub type Key<'a> = KeyRef<'a>;

/// A group's events, and the running aggregate of the window ending at its newest event (kept up to
/// date as events arrive in order; a late event, or an eviction, rebuilds it).
#[derive(Default)]
struct Group {
    log: Log<Item>,
    tail: Option<Box<Window>>,
}

/// A running aggregate over `entries[lo..=hi]`: the sum of amounts, and the values counted when
/// distinct.
#[derive(Default)]
struct Window {
    lo: usize,
    hi: usize,
    sum: u64,
    distinct: bool,
    counts: FastMap<String, u32>,
}

impl Window {
    fn push(&mut self, e: &Entry<Item>) {
        self.sum += e.data.amount;
        if self.distinct {
            *self.counts.entry(e.data.value.clone()).or_default() += 1;
        }
    }

    fn pop(&mut self, e: &Entry<Item>) {
        self.sum -= e.data.amount;
        if !self.distinct {
            return;
        }
        if let Some(c) = self.counts.get_mut(&e.data.value) {
            *c -= 1;
            if *c == 0 {
                self.counts.remove(&e.data.value);
            }
        }
    }

    fn total(&self, distinct: bool) -> u64 {
        if distinct {
            self.counts.len() as u64
        } else {
            self.sum
        }
    }

    /// Moves the window to end at `entries[hi]` (hi never decreases), dropping what falls out of `w`.
    fn advance(&mut self, entries: &[Entry<Item>], hi: usize, w: Duration) {
        while self.hi < hi {
            self.hi += 1;
            self.push(&entries[self.hi]);
        }
        while entries[self.lo].ts <= entries[hi].ts - w {
            self.pop(&entries[self.lo]);
            self.lo += 1;
        }
    }

    /// The window ending at `entries[hi]`, built from scratch.
    fn ending_at(entries: &[Entry<Item>], hi: usize, w: Duration, distinct: bool) -> Self {
        let lo = entries.partition_point(|e| e.ts <= entries[hi].ts - w);
        let mut win = Window {
            lo,
            hi,
            distinct,
            ..Window::default()
        };
        for e in &entries[lo..=hi] {
            win.push(e);
        }
        win
    }
}

/// Windows of one width over every group.
pub struct Windows {
    width: Duration,
    /// Count distinct values (else add up amounts).
    distinct: bool,
    groups: FastMap<SubjectKey, Group>,
}

impl Windows {
    pub fn new(width: Duration, distinct: bool) -> Self {
        Windows {
            width,
            distinct,
            groups: FastMap::default(),
        }
    }

    /// Adds an event to `key`'s group; its index there, or `None` if this id is there already.
    pub fn add(&mut self, key: Key<'_>, ts: DateTime<Utc>, id: &str, item: Item) -> Option<usize> {
        let g = key.slot(&mut self.groups);
        let at = g.log.add(ts, id, item)?;
        let entries = g.log.entries();
        if at + 1 != entries.len() {
            match g.tail.as_mut() {
                // At the newest instant (an id that sorts earlier): inside the tail window, which grows.
                Some(t)
                    if entries[at].ts == entries[entries.len() - 1].ts
                        && at > t.lo
                        && t.hi + 2 == entries.len() =>
                {
                    t.hi += 1;
                    t.push(&entries[at]);
                }
                _ => g.tail = None, // a late event: indexes moved
            }
        }
        Some(at)
    }

    /// `key`'s events, in event-time order.
    pub fn entries(&self, key: Key<'_>) -> &[Entry<Item>] {
        self.groups.get(&key).map_or(&[], |g| g.log.entries())
    }

    /// The heaviest window `(end - width, end]` holding the event at `at` in `key`'s group: (total,
    /// first index, last index).
    pub fn heaviest(&mut self, key: Key<'_>, at: usize) -> (u64, usize, usize) {
        let (distinct, w) = (self.distinct, self.width);
        let g = self.groups.get_mut(&key).expect("added");
        let entries = g.log.entries();
        let last = entries.len() - 1;
        if entries[at].ts == entries[last].ts {
            // At the newest instant: the only window holding it ends at the newest event.
            let tail = g
                .tail
                .get_or_insert_with(|| Box::new(Window::ending_at(entries, last, w, distinct)));
            tail.advance(entries, last, w);
            return (tail.total(distinct), tail.lo, tail.hi);
        }
        // Late: every window ending in [ts, ts + w), swept once.
        let t = entries[at].ts;
        let mut best = (0, 0, 0);
        let mut win: Option<Window> = None;
        for hi in at..entries.len() {
            if entries[hi].ts - t >= w {
                break;
            }
            let win = match win.as_mut() {
                Some(x) => {
                    x.advance(entries, hi, w);
                    x
                }
                None => win.insert(Window::ending_at(entries, hi, w, distinct)),
            };
            if win.lo <= at && win.total(distinct) > best.0 {
                best = (win.total(distinct), win.lo, win.hi);
            }
        }
        best
    }

    /// The windows holding the event at `at`: `(first, last)` index of each, from the earliest end.
    pub fn holding(&self, key: Key<'_>, at: usize) -> Vec<(usize, usize)> {
        let entries = self.entries(key);
        let t = entries[at].ts;
        (at..entries.len())
            .take_while(|&hi| entries[hi].ts - t < self.width)
            .map(|hi| {
                let lo = entries.partition_point(|e| e.ts <= entries[hi].ts - self.width);
                (lo, hi)
            })
            .collect()
    }

    /// Forgets events before `before`.
    pub fn evict(&mut self, before: DateTime<Utc>) {
        self.groups.retain(|_, g| {
            g.tail = None;
            g.log.evict(before, 0)
        });
    }
}

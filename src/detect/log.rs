//! What windowed and history-keeping kinds remember: per subject, the matching events in event-time
//! order (late ones slot into place), each event once, forgotten in event time. An event is known by
//! `(ts, event_id)`, the order the log is sorted in, so a re-delivery is found by the same binary
//! search that places an event (no second index: a million subjects' logs stay small).

use chrono::{DateTime, Utc};

/// One remembered event and what the kind keeps of it.
pub struct Entry<T> {
    pub ts: DateTime<Utc>,
    pub id: String,
    pub data: T,
}

/// One subject's events, sorted by `(ts, id)`.
pub struct Log<T> {
    entries: Vec<Entry<T>>,
}

impl<T> Default for Log<T> {
    fn default() -> Self {
        Log {
            entries: Vec::new(),
        }
    }
}

impl<T> Log<T> {
    /// Inserts in event-time order and returns its index; `None` if this event is already here.
    pub fn add(&mut self, ts: DateTime<Utc>, id: &str, data: T) -> Option<usize> {
        let at = self
            .entries
            .partition_point(|e| (e.ts, e.id.as_str()) < (ts, id));
        if self
            .entries
            .get(at)
            .is_some_and(|e| e.ts == ts && e.id == id)
        {
            return None;
        }
        if self.entries.len() == self.entries.capacity() {
            // Grow by half, from one: most subjects hold one or two events (a plain `insert` would
            // reserve four).
            self.entries.reserve_exact((self.entries.len() / 2).max(1));
        }
        self.entries.insert(
            at,
            Entry {
                ts,
                id: id.to_owned(),
                data,
            },
        );
        Some(at)
    }

    pub fn entries(&self) -> &[Entry<T>] {
        &self.entries
    }

    /// Forgets events before `before`, except the newest `keep_last` of them; false once empty.
    pub fn evict(&mut self, before: DateTime<Utc>, keep_last: usize) -> bool {
        let n = self
            .entries
            .partition_point(|e| e.ts < before)
            .saturating_sub(keep_last);
        self.entries.drain(..n);
        if self.entries.capacity() > 2 * self.entries.len() + 4 {
            self.entries.shrink_to_fit();
        }
        !self.entries.is_empty()
    }
}

/// A subject within its tenant, held as one allocation (a million subjects' keys stay small), and
/// looked up by its parts ([`KeyRef`]) without building one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectKey(Box<str>);

impl std::hash::Hash for SubjectKey {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        KeyRef::new(self.tenant(), self.subject()).hash(h);
    }
}

/// A [`SubjectKey`] by its parts, borrowed.
#[derive(Debug, Clone, Copy, Hash)]
pub struct KeyRef<'a> {
    tenant: &'a str,
    subject: &'a str,
}

impl<'a> KeyRef<'a> {
    pub fn new(tenant: &'a str, subject: &'a str) -> Self {
        KeyRef { tenant, subject }
    }

    pub fn to_key(self) -> SubjectKey {
        SubjectKey::new(self.tenant, self.subject)
    }
}

impl KeyRef<'_> {
    /// The entry of this key in `map`, a default one if it has none: one lookup, and a key
    /// allocated only for a new entry.
    pub fn slot<'m, V: Default>(
        &self,
        map: &'m mut crate::model::FastMap<SubjectKey, V>,
    ) -> &'m mut V {
        match map.entry_ref(self) {
            hashbrown::hash_map::EntryRef::Occupied(e) => e.into_mut(),
            hashbrown::hash_map::EntryRef::Vacant(e) => {
                e.insert_with_key(self.to_key(), V::default())
            }
        }
    }
}

impl hashbrown::Equivalent<SubjectKey> for KeyRef<'_> {
    fn equivalent(&self, key: &SubjectKey) -> bool {
        (key.tenant(), key.subject()) == (self.tenant, self.subject)
    }
}

impl SubjectKey {
    pub fn new(tenant: &str, subject: &str) -> Self {
        let mut s = String::with_capacity(tenant.len() + 1 + subject.len());
        s.push_str(tenant);
        s.push('\u{1f}');
        s.push_str(subject);
        SubjectKey(s.into_boxed_str())
    }

    /// The tenant (which never holds the separator: decoding refuses control characters).
    pub fn tenant(&self) -> &str {
        self.0.split_once('\u{1f}').map_or("", |(t, _)| t)
    }

    pub fn subject(&self) -> &str {
        self.0.split_once('\u{1f}').map_or(&*self.0, |(_, s)| s)
    }
}

/// Logs per subject.
pub type Logs<T> = crate::model::FastMap<SubjectKey, Log<T>>;

/// The log of `key`'s subject, a new one if it has none (allocating a key only then).
pub fn log_mut<'a, T>(logs: &'a mut Logs<T>, key: KeyRef<'_>) -> &'a mut Log<T> {
    key.slot(logs)
}

/// [`Log::evict`] on every subject, dropping the empty ones.
pub fn evict_all<T>(logs: &mut Logs<T>, before: DateTime<Utc>, keep_last: usize) {
    logs.retain(|_, l| l.evict(before, keep_last));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn late_events_slot_in_duplicates_are_refused_and_eviction_keeps_the_tail() {
        let t = |s: i64| DateTime::from_timestamp(s, 0).unwrap();
        let mut l = Log::default();
        assert_eq!(l.add(t(20), "b", ()), Some(0));
        assert_eq!(l.add(t(10), "a", ()), Some(0), "a late event goes first");
        assert_eq!(l.add(t(10), "a", ()), None, "once per id");
        assert_eq!(l.add(t(30), "c", ()), Some(2));
        assert!(l.evict(t(25), 1));
        assert_eq!(
            l.entries()
                .iter()
                .map(|e| e.id.as_str())
                .collect::<Vec<_>>(),
            ["b", "c"]
        );
        assert_eq!(
            l.add(t(10), "a", ()),
            Some(0),
            "an evicted id may come back"
        );
        assert!(!l.evict(t(99), 0));
    }
}

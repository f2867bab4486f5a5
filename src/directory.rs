//! The in-memory current view of the directory feed: per user, every version ordered by
//! `effective_ts` (records without one count as effective from the start), so a detector can ask
//! "what was this account's status at event time?".

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::model::DirectoryRecord;

#[derive(Debug, Default)]
pub struct Directory {
    users: HashMap<String, Vec<DirectoryRecord>>,
}

impl Directory {
    /// Adds a version; the same version twice is kept once. Equal `effective_ts` → the later arrival wins.
    pub fn apply(&mut self, rec: DirectoryRecord) {
        let versions = self.users.entry(rec.user_id.clone()).or_default();
        if versions.iter().any(|v| v.record_id == rec.record_id) {
            return;
        }
        let key = rec.effective_ts;
        let at = versions.partition_point(|v| v.effective_ts <= key);
        versions.insert(at, rec);
    }

    /// The latest known version of a user's record.
    pub fn current(&self, user_id: &str) -> Option<&DirectoryRecord> {
        self.users.get(user_id).and_then(|v| v.last())
    }

    /// The version in force at `ts`: the last one whose `effective_ts` ≤ `ts`.
    pub fn at(&self, user_id: &str, ts: DateTime<Utc>) -> Option<&DirectoryRecord> {
        let versions = self.users.get(user_id)?;
        let n = versions.partition_point(|v| v.effective_ts.is_none_or(|e| e <= ts));
        n.checked_sub(1).map(|i| &versions[i])
    }

    /// Whether the directory has any record for this user.
    pub fn knows(&self, user_id: &str) -> bool {
        self.users.contains_key(user_id)
    }

    /// Every user's versions (for the sweep).
    pub fn users(&self) -> impl Iterator<Item = (&String, &Vec<DirectoryRecord>)> {
        self.users.iter()
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

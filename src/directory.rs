//! The in-memory current view of the directory feed: per user, every version ordered by
//! `effective_ts` (records without one count as effective from the start), so a detector can ask
//! "what was this account's status at event time?".

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::model::DirectoryRecord;

#[derive(Debug, Default)]
pub struct Directory {
    users: HashMap<String, Vec<DirectoryRecord>>,
    /// Per user, what applies before the earliest version takes effect: that version's profile
    /// (time zone, hours, role, …) with status `active`. HR exports often send one current-state record
    /// (`terminated` since its `effective_ts`); the person worked there, on that schedule, before.
    before: HashMap<String, DirectoryRecord>,
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
        let earliest = &versions[0];
        if earliest.effective_ts.is_some() {
            let mut pre = earliest.clone();
            pre.status = crate::model::UserStatus::Active;
            pre.effective_ts = None;
            self.before.insert(pre.user_id.clone(), pre);
        } else {
            self.before.remove(&earliest.user_id);
        }
    }

    /// The latest known version of a user's record.
    pub fn current(&self, user_id: &str) -> Option<&DirectoryRecord> {
        self.users.get(user_id).and_then(|v| v.last())
    }

    /// The version in force at `ts`: the last one whose `effective_ts` ≤ `ts`; before the earliest,
    /// that earliest version's profile as an active account.
    pub fn at(&self, user_id: &str, ts: DateTime<Utc>) -> Option<&DirectoryRecord> {
        let versions = self.users.get(user_id)?;
        let n = versions.partition_point(|v| v.effective_ts.is_none_or(|e| e <= ts));
        match n.checked_sub(1) {
            Some(i) => Some(&versions[i]),
            None => self.before.get(user_id),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(raw: &str) -> DirectoryRecord {
        crate::decode::decode_directory(raw.as_bytes(), 1 << 20).unwrap()
    }

    #[test]
    fn before_a_current_state_record_the_person_was_active_on_that_profile() {
        let mut d = Directory::default();
        d.apply(rec(r#"{"user_id":"u","status":"terminated","effective_ts":"2026-01-07T17:00:00Z","timezone":"Asia/Shanghai","role":"sales"}"#));
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let before = d.at("u", t("2026-01-06T02:00:00Z")).unwrap();
        assert_eq!(
            (before.status, before.timezone, before.role.as_str()),
            (
                crate::model::UserStatus::Active,
                Some(chrono_tz::Asia::Shanghai),
                "sales"
            )
        );
        assert_eq!(
            d.at("u", t("2026-01-07T17:00:00Z")).unwrap().status,
            crate::model::UserStatus::Terminated
        );
        // An earlier version arriving later replaces what applies before.
        d.apply(rec(
            r#"{"user_id":"u","status":"active","timezone":"Europe/Berlin"}"#,
        ));
        assert_eq!(
            d.at("u", t("2026-01-06T02:00:00Z")).unwrap().timezone,
            Some(chrono_tz::Europe::Berlin)
        );
        assert!(d.at("nobody", t("2026-01-06T02:00:00Z")).is_none());
    }
}

//! The in-memory current view of the directory feed: per user (and tenant, where records name one),
//! every version ordered by `effective_ts` (records without one count as effective from the start),
//! so a detector can ask "what was this account's status at event time?".

use crate::model::FastMap;

use chrono::{DateTime, Utc};

use crate::model::DirectoryRecord;

/// One scope's versions of a user's record (all tenants, or one tenant), by `effective_ts`.
#[derive(Debug, Default)]
struct Versions {
    list: Vec<DirectoryRecord>,
    /// What applies before the earliest version takes effect: that version's profile (time zone,
    /// hours, role, …) with status `active`. HR exports often send one current-state record
    /// (`terminated` since its `effective_ts`); the person worked there, on that schedule, before.
    before: Option<DirectoryRecord>,
}

impl Versions {
    fn apply(&mut self, rec: DirectoryRecord) {
        if self.list.iter().any(|v| v.record_id == rec.record_id) {
            return;
        }
        let key = rec.effective_ts;
        let at = self.list.partition_point(|v| v.effective_ts <= key);
        self.list.insert(at, rec);
        let earliest = &self.list[0];
        self.before = earliest.effective_ts.is_some().then(|| {
            let mut pre = earliest.clone();
            pre.status = crate::model::UserStatus::Active;
            pre.effective_ts = None;
            pre
        });
    }

    fn at(&self, ts: DateTime<Utc>) -> Option<&DirectoryRecord> {
        let n = self
            .list
            .partition_point(|v| v.effective_ts.is_none_or(|e| e <= ts));
        match n.checked_sub(1) {
            Some(i) => Some(&self.list[i]),
            None => self.before.as_ref(),
        }
    }
}

/// A user's records: those for every tenant, and those of particular tenants.
#[derive(Debug, Default)]
struct User {
    all: Versions,
    tenants: FastMap<String, Versions>,
}

impl User {
    /// The tenant's own records where it has any, else the records for every tenant.
    fn scope(&self, tenant: &str) -> Option<&Versions> {
        match self.tenants.get(tenant) {
            Some(v) => Some(v),
            None => Some(&self.all).filter(|a| !a.list.is_empty()),
        }
    }
}

#[derive(Debug, Default)]
pub struct Directory {
    users: FastMap<String, User>,
}

impl Directory {
    /// Adds a version; the same version twice is kept once. Equal `effective_ts` → the later arrival
    /// wins. A record with a `tenant` applies to that tenant's events only; one without, to every
    /// tenant that has no record of its own for the user.
    pub fn apply(&mut self, rec: DirectoryRecord) {
        let user = self.users.entry(rec.user_id.clone()).or_default();
        match rec.tenant.clone() {
            Some(t) => user.tenants.entry(t).or_default().apply(rec),
            None => user.all.apply(rec),
        }
    }

    /// The version in force for `tenant`'s user at `ts`: the last one whose `effective_ts` ≤ `ts`;
    /// before the earliest, that earliest version's profile as an active account.
    pub fn at(&self, tenant: &str, user_id: &str, ts: DateTime<Utc>) -> Option<&DirectoryRecord> {
        self.users.get(user_id)?.scope(tenant)?.at(ts)
    }

    /// [`Directory::at`] for the actor of `ev` at its time.
    pub fn for_event(&self, ev: &crate::model::Event) -> Option<&DirectoryRecord> {
        self.at(&ev.tenant, &ev.user_id, ev.ts)
    }

    /// Whether any record names `ev`'s user id, and the record that applies to its tenant at its
    /// time: [`Directory::has_user`] and [`Directory::for_event`] in one lookup.
    pub fn actor(&self, ev: &crate::model::Event) -> (bool, Option<&DirectoryRecord>) {
        match self.users.get(&*ev.user_id) {
            None => (false, None),
            Some(u) => (true, u.scope(&ev.tenant).and_then(|v| v.at(ev.ts))),
        }
    }

    /// Whether the directory has a record that applies to this tenant's user.
    pub fn knows(&self, tenant: &str, user_id: &str) -> bool {
        self.users
            .get(user_id)
            .and_then(|u| u.scope(tenant))
            .is_some()
    }

    /// Whether any record (of any tenant) names this user id.
    pub fn has_user(&self, user_id: &str) -> bool {
        self.users.contains_key(user_id)
    }

    /// Every scope's versions of every user (for the sweep).
    pub fn versions(&self) -> impl Iterator<Item = &[DirectoryRecord]> {
        self.users
            .values()
            .flat_map(|u| std::iter::once(&u.all).chain(u.tenants.values()))
            .map(|v| v.list.as_slice())
            .filter(|l| !l.is_empty())
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
        let before = d.at("default", "u", t("2026-01-06T02:00:00Z")).unwrap();
        assert_eq!(
            (before.status, before.timezone, before.role.as_str()),
            (
                crate::model::UserStatus::Active,
                Some(chrono_tz::Asia::Shanghai),
                "sales"
            )
        );
        assert_eq!(
            d.at("default", "u", t("2026-01-07T17:00:00Z"))
                .unwrap()
                .status,
            crate::model::UserStatus::Terminated
        );
        // An earlier version arriving later replaces what applies before.
        d.apply(rec(
            r#"{"user_id":"u","status":"active","timezone":"Europe/Berlin"}"#,
        ));
        assert_eq!(
            d.at("default", "u", t("2026-01-06T02:00:00Z"))
                .unwrap()
                .timezone,
            Some(chrono_tz::Europe::Berlin)
        );
        assert!(d
            .at("default", "nobody", t("2026-01-06T02:00:00Z"))
            .is_none());
    }
}

#[cfg(test)]
mod tenant_tests {
    use super::*;

    #[test]
    fn a_tenants_own_record_wins_and_never_leaks_to_another_tenant() {
        let rec = |raw: &str| crate::decode::decode_directory(raw.as_bytes(), 1 << 20).unwrap();
        let t = DateTime::parse_from_rfc3339("2026-01-08T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut d = Directory::default();
        d.apply(rec(r#"{"user_id":"u1","tenant":"a","status":"terminated","effective_ts":"2026-01-07T00:00:00Z"}"#));
        assert_eq!(
            d.at("a", "u1", t).unwrap().status,
            crate::model::UserStatus::Terminated
        );
        assert!(
            d.at("b", "u1", t).is_none() && !d.knows("b", "u1"),
            "tenant a's record says nothing about tenant b"
        );
        d.apply(rec(r#"{"user_id":"u1","status":"active","role":"admin"}"#));
        assert_eq!(
            d.at("b", "u1", t).unwrap().role,
            "admin",
            "a record without a tenant applies to every tenant"
        );
        assert_eq!(
            d.at("a", "u1", t).unwrap().status,
            crate::model::UserStatus::Terminated,
            "… but the tenant's own wins"
        );
    }
}

//! `orphaned_account`: activity by an account whose directory status is `terminated` or `suspended`
//! at the event's time (its tenant's own record, else the record for every tenant), or by an account
//! the directory does not know at all (when a directory is loaded). A user id known only in another
//! tenant is neither: terminating `u1` in tenant A never flags `u1` of tenant B.
//! The alert lists what the account did (later events extend the open alert). An unknown account is
//! given `unknown_grace` of wall time for its HR record to arrive (all of the input in `replay`): only
//! if it is still unknown then does it alert, and it never locks unless `lock_unknown`. The waiting
//! events are rebuilt from storage after a restart (their wait counted from their event time), so a
//! crash during the wait does not lose the alert.

use serde::Deserialize;
use serde_json::json;

use super::rule::{Ctx, History, Kind, Rule, Trigger};
use crate::model::closed_set;
use crate::model::{Event, UserStatus};
use crate::time::Span;

/// Unknown-account events waiting at most (the oldest are released early beyond this).
const MAX_PENDING: usize = 100_000;

closed_set! {
    /// What to do with events by accounts the directory does not know.
    pub enum UnknownUsers { Alert = "alert", Ignore = "ignore" }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// `alert` or `ignore` events by accounts without a directory record.
    pub unknown_users: UnknownUsers,
    /// Statuses that make an account orphaned.
    pub statuses: Vec<UserStatus>,
    /// Whether an alert about an account the directory does not know may lock it (`response = "lock"`).
    /// Off by default: a new hire whose HR record arrives after the first login is not locked.
    pub lock_unknown: bool,
    /// How long (wall time) an unknown account's event waits for a directory record before alerting;
    /// `0s` alerts at once. At the end of a finite input (`replay`, fixtures, backtests) all are due.
    pub unknown_grace: Span,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            unknown_users: UnknownUsers::Alert,
            statuses: vec![UserStatus::Terminated, UserStatus::Suspended],
            lock_unknown: false,
            unknown_grace: "15m".parse().expect("a duration"),
        }
    }
}

impl Kind for Params {
    fn check(&self) -> Vec<(String, String)> {
        if self.statuses.contains(&UserStatus::Active) {
            return vec![(
                "params.statuses".into(),
                "`active` is not terminated or suspended".into(),
            )];
        }
        Vec::new()
    }

    fn build(&self) -> Box<dyn Rule> {
        Box::new(OrphanedAccount {
            p: self.clone(),
            pending: Default::default(),
            waiting: Default::default(),
        })
    }
}

pub struct OrphanedAccount {
    p: Params,
    /// Unknown-account events waiting for their HR record, with the wall time they are due (in the
    /// order they are due).
    pending: std::collections::VecDeque<(std::time::Instant, Event)>,
    /// The ids of the events in `pending` (a rebuilt queue does not take one twice).
    waiting: std::collections::HashSet<String>,
}

fn did(ev: &Event) -> String {
    let mut s = ev.action.to_string();
    if ev.record_count > 0 {
        s.push_str(&format!(
            " of {} {}",
            super::rule::thousands(ev.record_count),
            if ev.object_type.is_empty() {
                "records"
            } else {
                &ev.object_type
            }
        ));
    }
    if let Some(ip) = ev.ip {
        s.push_str(&format!(" from {ip}"));
        if !ev.geo.country.is_empty() {
            s.push_str(&format!(" ({})", ev.geo.country));
        }
    }
    s
}

impl Rule for OrphanedAccount {
    fn on_event(&mut self, ev: &Event, ctx: &Ctx) -> Option<Trigger> {
        let unknown = !ctx.actor(ev).known
            && self.p.unknown_users == UnknownUsers::Alert
            && !ctx.directory.is_empty();
        if unknown && !self.p.unknown_grace.as_std().is_zero() {
            self.wait(
                std::time::Instant::now() + self.p.unknown_grace.as_std(),
                ev,
            );
            return None;
        }
        self.finding(ev, ctx)
    }

    /// Stored events rebuild the wait: those of the last `unknown_grace` of event time.
    fn history(&self) -> Option<History> {
        self.waits().then(|| History {
            actions: None,
            horizon: self.p.unknown_grace.as_chrono(),
        })
    }

    /// A stored event of an unknown account waits out what is left of its grace, counted from its
    /// event time (the time it was stored is close to it on a live stream; an old event is due now).
    fn rehydrate(&mut self, ev: &Event, ctx: &Ctx) {
        if !self.waits() || ctx.directory.is_empty() || ctx.directory.has_user(&ev.user_id) {
            return;
        }
        // The wait is wall time by design (HR lag is wall time); only this wait reads the clock.
        let waited = (chrono::Utc::now() - ev.ts).to_std().unwrap_or_default();
        let left = self.p.unknown_grace.as_std().saturating_sub(waited);
        self.wait(std::time::Instant::now() + left, ev);
    }

    fn release(&mut self, ctx: &Ctx, end_of_input: bool) -> Vec<(Event, Trigger)> {
        let now = std::time::Instant::now();
        let mut out = Vec::new();
        while let Some((due, _)) = self.pending.front() {
            if !(end_of_input || *due <= now || self.pending.len() > MAX_PENDING) {
                break;
            }
            let (_, ev) = self.pending.pop_front().expect("front exists");
            self.waiting.remove(ev.event_id.as_str());
            if let Some(t) = self.finding(&ev, ctx) {
                out.push((ev, t));
            }
        }
        out
    }
}

impl OrphanedAccount {
    fn waits(&self) -> bool {
        self.p.unknown_users == UnknownUsers::Alert && !self.p.unknown_grace.as_std().is_zero()
    }

    /// Queues `ev` until `due` (once per event id), keeping the queue in due order.
    fn wait(&mut self, due: std::time::Instant, ev: &Event) {
        if !self.waiting.insert(ev.event_id.to_string()) {
            return;
        }
        let at = self.pending.partition_point(|(d, _)| *d <= due);
        self.pending.insert(at, (due, ev.clone()));
    }

    /// The finding for `ev` with the directory as it is now.
    fn finding(&self, ev: &Event, ctx: &Ctx) -> Option<Trigger> {
        let actor = ctx.actor(ev);
        let known = actor.known;
        let rec = match actor.record {
            Some(r) if r.status == UserStatus::Active || !self.p.statuses.contains(&r.status) => {
                return None
            }
            None if known
                || self.p.unknown_users != UnknownUsers::Alert
                || ctx.directory.is_empty() =>
            {
                return None
            }
            r => r,
        };
        let ts = crate::time::rfc3339(ev.ts);
        let (summary, details) = if let Some(rec) = rec {
            let since = rec
                .effective_ts
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_else(|| "always".into());
            let name = if rec.display_name.is_empty() {
                String::new()
            } else {
                format!(" ({})", rec.display_name)
            };
            (
                format!(
                    "{}{name} is {} since {since} but was active at {ts}: {}",
                    ev.user_id,
                    rec.status.as_str(),
                    did(ev)
                ),
                json!({"reason": rec.status.as_str(), "effective_ts": rec.effective_ts.map(|t| t.to_rfc3339()), "department": rec.department, "manager_id": rec.manager_id}),
            )
        } else {
            (
                format!(
                    "{} has no directory record but was active at {ts}: {}",
                    ev.user_id,
                    did(ev)
                ),
                json!({"reason": "unknown_account"}),
            )
        };
        let mut details = details;
        details["first_action"] = json!(ev.action);
        details["ip"] = json!(ev.ip.map(|i| i.to_string()));
        details["country_iso"] = json!(ev.geo.country_iso);
        details["events"] = json!(1);
        Some(Trigger {
            extends: true,
            respond: known || self.p.lock_unknown,
            ..Trigger::of(ev, summary, details)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DetectorsConfig;
    use crate::detect::worktime::WorkTime;
    use crate::directory::Directory;

    fn ev(id: &str, user: &str) -> Event {
        let raw = format!(
            r#"{{"event_id":"{id}","ts":"2026-01-06T09:00:00Z","user_id":"{user}","action":"login"}}"#
        );
        crate::decode::decode_event(raw.as_bytes(), 1 << 20).unwrap()
    }

    /// After a crash the stored events of unknown accounts wait again, for what is left of their
    /// grace: an old one is due at once, a recent one later, and each event once.
    #[test]
    fn the_wait_is_rebuilt_from_stored_events_after_a_restart() {
        let wt = WorkTime::from_config(&DetectorsConfig::default());
        let mut dir = Directory::default();
        dir.apply(
            crate::decode::decode_directory(br#"{"user_id":"old","status":"active"}"#, 1 << 20)
                .unwrap(),
        );
        let ctx = Ctx::new(&dir, &wt);
        let mut r = Params::default().build();
        let h = r.history().expect("the wait has a history");
        assert_eq!(
            (h.actions, h.horizon),
            (None, chrono::Duration::minutes(15))
        );
        let at = |id: &str, user: &str, ago_min: i64| {
            let mut e = ev(id, user);
            e.ts = chrono::Utc::now() - chrono::Duration::minutes(ago_min);
            e
        };
        r.rehydrate(&at("s1", "stale", 20), &ctx); // waited out before the crash
        r.rehydrate(&at("s1", "stale", 20), &ctx); // read twice (a handover): once
        r.rehydrate(&at("f1", "fresh", 5), &ctx); // 10 more minutes to wait
        r.rehydrate(&at("k1", "old", 30), &ctx); // known: never waits
        let due = r.release(&ctx, false);
        assert_eq!(
            due.iter()
                .map(|(e, _)| e.event_id.as_str())
                .collect::<Vec<_>>(),
            ["s1"]
        );
        let rest = r.release(&ctx, true);
        assert_eq!(
            rest.iter()
                .map(|(e, _)| e.event_id.as_str())
                .collect::<Vec<_>>(),
            ["f1"]
        );
        // A rule that never waits keeps no history.
        let none = Params {
            unknown_grace: "0s".parse().unwrap(),
            ..Params::default()
        }
        .build();
        assert!(none.history().is_none());
    }

    #[test]
    fn an_unknown_account_waits_for_its_hr_record_and_never_locks_by_default() {
        let wt = WorkTime::from_config(&DetectorsConfig::default());
        let mut dir = Directory::default();
        dir.apply(
            crate::decode::decode_directory(br#"{"user_id":"old","status":"active"}"#, 1 << 20)
                .unwrap(),
        );
        let mut r = Params::default().build();
        assert!(
            r.on_event(&ev("a", "newhire"), &Ctx::new(&dir, &wt))
                .is_none(),
            "waits"
        );
        assert!(
            r.on_event(&ev("b", "intruder"), &Ctx::new(&dir, &wt))
                .is_none(),
            "waits"
        );
        assert!(
            r.release(&Ctx::new(&dir, &wt), false).is_empty(),
            "not due for 15 min"
        );
        // The new hire's record arrives; the intruder's never does.
        dir.apply(
            crate::decode::decode_directory(br#"{"user_id":"newhire","status":"active"}"#, 1 << 20)
                .unwrap(),
        );
        let due = r.release(&Ctx::new(&dir, &wt), true);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].0.user_id, "intruder");
        assert!(
            !due[0].1.respond,
            "an unknown account is not locked unless lock_unknown"
        );
        assert_eq!(due[0].1.details["reason"], "unknown_account");
        // With no grace it alerts at once.
        let mut now = Params {
            unknown_grace: "0s".parse().unwrap(),
            ..Params::default()
        }
        .build();
        assert!(now
            .on_event(&ev("c", "intruder"), &Ctx::new(&dir, &wt))
            .is_some());
    }
}

//! `orphaned_account`: activity by an account whose directory status is `terminated` or `suspended`
//! at the event's time, or by an account the directory does not know (when a directory is loaded).
//! The alert lists what the account did (later events extend the open alert).

use serde::Deserialize;
use serde_json::json;

use super::rule::{Ctx, Kind, Rule, Trigger};
use crate::model::closed_set;
use crate::model::{Event, UserStatus};

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
}

impl Default for Params {
    fn default() -> Self {
        Params {
            unknown_users: UnknownUsers::Alert,
            statuses: vec![UserStatus::Terminated, UserStatus::Suspended],
            lock_unknown: false,
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
        Box::new(OrphanedAccount { p: self.clone() })
    }
}

pub struct OrphanedAccount {
    p: Params,
}

fn did(ev: &Event) -> String {
    let mut s = ev.action.clone();
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
        let ts = ev.ts.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let known = ctx.directory.knows(&ev.user_id);
        let (summary, details) = if known {
            let rec = ctx.directory.at(&ev.user_id, ev.ts)?;
            if rec.status == UserStatus::Active || !self.p.statuses.contains(&rec.status) {
                return None;
            }
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
        } else if self.p.unknown_users == UnknownUsers::Alert && !ctx.directory.is_empty() {
            (
                format!(
                    "{} has no directory record but was active at {ts}: {}",
                    ev.user_id,
                    did(ev)
                ),
                json!({"reason": "unknown_account"}),
            )
        } else {
            return None;
        };
        let mut details = details;
        details["first_action"] = json!(ev.action);
        details["ip"] = json!(ev.ip.map(|i| i.to_string()));
        details["country_iso"] = json!(ev.geo.country_iso);
        details["events"] = json!(1);
        Some(Trigger {
            key: ev.event_id.clone(),
            subject: None,
            ts: ev.ts,
            summary,
            evidence: vec![ev.event_id.clone()],
            details,
            extends: true,
            respond: known || self.p.lock_unknown,
        })
    }
}

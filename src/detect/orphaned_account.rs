//! `orphaned_account`: activity by an account whose directory status is `terminated` or `suspended`
//! at the event's time, or by an account the directory does not know (when a directory is loaded).
//! The alert lists what the account did (later events extend the open alert).

use serde::Deserialize;
use serde_json::json;

use super::{kinds, Ctx, Rule, Trigger};
use crate::model::{Event, UserStatus};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// `alert` or `ignore` events by accounts without a directory record.
    pub unknown_users: String,
    /// Statuses that make an account orphaned.
    pub statuses: Vec<String>,
}

impl Default for Params {
    fn default() -> Self {
        Params { unknown_users: "alert".into(), statuses: vec!["terminated".into(), "suspended".into()] }
    }
}

impl Params {
    pub fn parse(t: &toml::Table) -> Result<Self, Vec<(String, String)>> {
        let p: Params = kinds::parse_params(t)?;
        let mut errs = Vec::new();
        if !matches!(p.unknown_users.as_str(), "alert" | "ignore") {
            errs.push(("params.unknown_users".into(), "must be \"alert\" or \"ignore\"".into()));
        }
        for s in &p.statuses {
            if !matches!(s.as_str(), "terminated" | "suspended") {
                errs.push(("params.statuses".into(), format!("`{s}` is not terminated or suspended")));
            }
        }
        if errs.is_empty() {
            Ok(p)
        } else {
            Err(errs)
        }
    }
}

pub struct OrphanedAccount {
    p: Params,
}

impl OrphanedAccount {
    pub fn new(p: Params) -> Self {
        OrphanedAccount { p }
    }
}

fn did(ev: &Event) -> String {
    let mut s = ev.action.clone();
    if ev.record_count > 0 {
        s.push_str(&format!(" of {} {}", super::thousands(ev.record_count), if ev.object_type.is_empty() { "records" } else { &ev.object_type }));
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
        let (summary, details) = if ctx.directory.knows(&ev.user_id) {
            let rec = ctx.directory.at(&ev.user_id, ev.ts)?;
            if rec.status == UserStatus::Active || !self.p.statuses.iter().any(|s| s == rec.status.as_str()) {
                return None;
            }
            let since = rec.effective_ts.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)).unwrap_or_else(|| "always".into());
            let name = if rec.display_name.is_empty() { String::new() } else { format!(" ({})", rec.display_name) };
            (
                format!("{}{name} is {} since {since} but was active at {ts}: {}", ev.user_id, rec.status.as_str(), did(ev)),
                json!({"reason": rec.status.as_str(), "effective_ts": rec.effective_ts.map(|t| t.to_rfc3339()), "department": rec.department, "manager_id": rec.manager_id}),
            )
        } else if self.p.unknown_users == "alert" && !ctx.directory.is_empty() {
            (
                format!("{} has no directory record but was active at {ts}: {}", ev.user_id, did(ev)),
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
        Some(Trigger { key: ev.event_id.clone(), ts: ev.ts, summary, evidence: vec![ev.event_id.clone()], details, extends: true })
    }
}

//! `match`: every event matching `filter` raises an alert (one per subject per `suppress_for`).

use serde::Deserialize;
use serde_json::json;

use super::filter::Filter;
use super::rule::{thousands, Ctx, Kind, Rule, Trigger};
use crate::model::Event;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub filter: Filter,
    /// What happened, for the summary ("changed permissions").
    pub label: String,
}

impl Kind for Params {
    fn build(&self) -> Box<dyn Rule> {
        Box::new(Match { p: self.clone() })
    }
}

pub struct Match {
    p: Params,
}

impl Rule for Match {
    fn on_event(&mut self, ev: &Event, ctx: &Ctx) -> Option<Trigger> {
        if !self.p.filter.matches(ev, ctx.directory) {
            return None;
        }
        let rec = ctx.record(ev);
        let role = rec
            .map(|r| r.role.as_str())
            .filter(|r| !r.is_empty())
            .unwrap_or("no role");
        let label = if self.p.label.is_empty() {
            ev.action.as_str()
        } else {
            self.p.label.as_str()
        };
        let mut what = label.to_owned();
        if let Some((_, target)) = ev.attributes.iter().find(|(k, _)| k == "target_user_id") {
            what.push_str(&format!(" of {target}"));
        }
        if ev.record_count > 0 {
            what.push_str(&format!(" ({} records)", thousands(ev.record_count)));
        }
        let from = ev.ip.map(|i| format!(" from {i}")).unwrap_or_default();
        let summary = format!(
            "{} ({role}) {what} at {} UTC{from}",
            ev.user_id,
            ev.ts.format("%Y-%m-%d %H:%M")
        );
        Some(Trigger::of(
            ev,
            summary,
            json!({
                "action": ev.action,
                "role": rec.map(|r| r.role.clone()),
                "target_user_id": ev.attributes.iter().find(|(k, _)| k == "target_user_id").map(|(_, v)| v),
                "ip": ev.ip.map(|i| i.to_string()),
                "country_iso": ev.geo.country_iso,
            }),
        ))
    }
}

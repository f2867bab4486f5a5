//! `new_value`: an event matching `filter` whose `field` has a value the same user's earlier matching
//! events (with a value) did not have within `lookback`, while there were at least `min_history` of
//! them — "a login from a country this user never logs in from".

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::json;

use super::filter::{Field, Filter};
use super::log::{evict_all, log_mut, Entry, KeyRef, Logs};
use super::rule::{Ctx, History, Kind, Rule, Trigger};
use crate::model::Event;
use crate::time::Span;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub filter: Filter,
    pub field: Field,
    pub lookback: Span,
    pub min_history: usize,
    /// What the value is, for the summary ("country").
    pub label: String,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            filter: Filter::default(),
            field: Field::CountryIso,
            lookback: "30d".parse().expect("a duration"),
            min_history: 5,
            label: "value".into(),
        }
    }
}

impl Kind for Params {
    fn check(&self) -> Vec<(String, String)> {
        if !(60..=366 * 86_400).contains(&self.lookback.secs()) {
            return vec![(
                "params.lookback".into(),
                "must be between 1m and 366d".into(),
            )];
        }
        Vec::new()
    }

    fn build(&self) -> Box<dyn Rule> {
        Box::new(NewValue {
            lookback: self.lookback.as_chrono(),
            p: self.clone(),
            users: Logs::default(),
        })
    }
}

pub struct NewValue {
    p: Params,
    lookback: Duration,
    users: Logs<String>,
}

impl NewValue {
    /// Records a matching event with a value; its value and index unless it was seen before.
    fn add(&mut self, ev: &Event, ctx: &Ctx) -> Option<(String, usize)> {
        if !self.p.filter.matches(ev, ctx.directory) {
            return None;
        }
        let value = self.p.field.text(ev, ctx.directory)?.into_owned();
        let log = log_mut(&mut self.users, KeyRef::new(&ev.tenant, &ev.user_id));
        let at = log.add(ev.ts, &ev.event_id, value.clone())?;
        Some((value, at))
    }
}

impl Rule for NewValue {
    fn on_event(&mut self, ev: &Event, ctx: &Ctx) -> Option<Trigger> {
        let (value, at) = self.add(ev, ctx)?;
        let h = self.users[&KeyRef::new(&ev.tenant, &ev.user_id)].entries();
        // Earlier events within the lookback: [ts - lookback, ts), just before it in the log.
        let from = h[..at].partition_point(|s| s.ts < ev.ts - self.lookback);
        let earlier: Vec<&Entry<String>> = h[from..at].iter().filter(|s| s.ts < ev.ts).collect();
        if earlier.len() < self.p.min_history || earlier.iter().any(|s| s.data == value) {
            return None;
        }
        let mut known: Vec<&str> = earlier.iter().map(|s| s.data.as_str()).collect();
        known.sort_unstable();
        known.dedup();
        let place = if ev.geo.city.is_empty() {
            ev.geo.country.to_string()
        } else {
            format!("{}, {}", ev.geo.city, ev.geo.country)
        };
        let from = if place.is_empty() {
            String::new()
        } else {
            format!(" ({place})")
        };
        let summary = format!(
            "{} at {} UTC: new {} {value}{from}; the {} earlier in {} were from {}",
            ev.user_id,
            ev.ts.format("%Y-%m-%d %H:%M"),
            self.p.label,
            earlier.len(),
            self.p.lookback,
            known.join(", ")
        );
        Some(Trigger::of(
            ev,
            summary,
            json!({
                "value": value,
                "known_values": known,
                "history_events": earlier.len(),
                "lookback": self.p.lookback.to_string(),
                "ip": ev.ip.map(|i| i.to_string()),
                "country_iso": ev.geo.country_iso,
                "city": ev.geo.city,
            }),
        ))
    }

    fn history(&self) -> Option<History> {
        Some(History {
            actions: self.p.filter.actions(),
            horizon: self.lookback,
        })
    }

    fn rehydrate(&mut self, ev: &Event, ctx: &Ctx) {
        self.add(ev, ctx);
    }

    fn evict(&mut self, before: DateTime<Utc>) {
        evict_all(&mut self.users, before, 0);
    }
}

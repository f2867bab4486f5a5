//! `threshold`: an aggregate of the events matching `filter`, per `group_by` (the user by default, or
//! `ip`, `tenant`, `attributes.<key>`), over a rolling event-time `window`, reaching `threshold`.
//! `aggregate` is `count`, `sum` (of `field`, each event at least `min_each`) or `distinct` (values of
//! `field`). Late events count in the window they belong to; each `event_id` counts once.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::json;

use super::filter::{Field, Filter};
use super::log::{evict_all, Entry, Logs};
use super::rule::{thousands, Ctx, History, Kind, Rule, Trigger};
use crate::model::{closed_set, Event};
use crate::time::Span;

closed_set! {
    /// What a threshold adds up.
    pub enum Aggregate { Count = "count", Sum = "sum", Distinct = "distinct" }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub filter: Filter,
    /// `user_id` (default), `ip`, `tenant` or `attributes.<key>`: whose events are added up.
    pub group_by: Field,
    pub window: Span,
    pub aggregate: Aggregate,
    /// The field summed or whose distinct values are counted.
    pub field: Option<Field>,
    /// With `sum`: each event counts at least this much (`1` counts a delete of 0 rows as one).
    pub min_each: u64,
    pub threshold: u64,
    /// What the events are, for the summary ("failed logins", "records deleted").
    pub label: String,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            filter: Filter::default(),
            group_by: Field::UserId,
            window: "10m".parse().expect("a duration"),
            aggregate: Aggregate::Count,
            field: None,
            min_each: 0,
            threshold: 10,
            label: "events".into(),
        }
    }
}

impl Kind for Params {
    fn check(&self) -> Vec<(String, String)> {
        let mut errs = Vec::new();
        if !(1..=31 * 86_400).contains(&self.window.secs()) {
            errs.push(("params.window".into(), "must be between 1s and 31d".into()));
        }
        if self.threshold == 0 {
            errs.push(("params.threshold".into(), "must be at least 1".into()));
        }
        if self.aggregate != Aggregate::Count && self.field.is_none() {
            errs.push((
                "params.field".into(),
                format!("`{}` needs a field", self.aggregate),
            ));
        }
        if !matches!(
            self.group_by,
            Field::UserId | Field::Ip | Field::Tenant | Field::Attribute(_)
        ) {
            errs.push((
                "params.group_by".into(),
                "must be user_id, ip, tenant or attributes.<key>".into(),
            ));
        }
        errs
    }

    fn build(&self) -> Box<dyn Rule> {
        Box::new(Threshold {
            window: self.window.as_chrono(),
            p: self.clone(),
            groups: Logs::new(),
        })
    }
}

/// What a threshold keeps of an event: its amount, or the value it counts as distinct.
struct Item {
    amount: u64,
    value: String,
}

pub struct Threshold {
    p: Params,
    window: Duration,
    groups: Logs<Item>,
}

impl Threshold {
    /// Adds a matching event to its group; the group key, or `None` (no group value, or seen before).
    fn add(&mut self, ev: &Event, ctx: &Ctx) -> Option<(String, String)> {
        if !self.p.filter.matches(ev, ctx.directory) {
            return None;
        }
        let subject = self.p.group_by.text(ev, ctx.directory)?.into_owned();
        let field = self.p.field.as_ref();
        let amount = match self.p.aggregate {
            Aggregate::Count | Aggregate::Distinct => 1,
            Aggregate::Sum => field
                .and_then(|f| f.number(ev, ctx.directory))
                .unwrap_or(0.0)
                .max(0.0) as u64,
        }
        .max(self.p.min_each);
        let value = match self.p.aggregate {
            Aggregate::Distinct => field
                .and_then(|f| f.text(ev, ctx.directory))
                .map(|v| v.into_owned())?,
            _ => String::new(),
        };
        let key = (ev.tenant.clone(), subject);
        self.groups.entry(key.clone()).or_default().add(
            ev.ts,
            &ev.event_id,
            Item { amount, value },
        )?;
        Some(key)
    }
}

/// The heaviest window `(end - w, end]` holding `t`: (total, first index, last index).
fn heaviest(
    entries: &[Entry<Item>],
    t: DateTime<Utc>,
    w: Duration,
    distinct: bool,
) -> (u64, usize, usize) {
    let mut best = (0, 0, 0);
    let first = entries.partition_point(|e| e.ts <= t - w);
    for hi in first..entries.len() {
        let end = entries[hi].ts;
        if end < t {
            continue;
        }
        if end - t >= w {
            break;
        }
        let lo = entries.partition_point(|e| e.ts <= end - w);
        let total = if distinct {
            entries[lo..=hi]
                .iter()
                .map(|e| e.data.value.as_str())
                .collect::<HashSet<_>>()
                .len() as u64
        } else {
            entries[lo..=hi].iter().map(|e| e.data.amount).sum()
        };
        if total > best.0 {
            best = (total, lo, hi);
        }
    }
    best
}

impl Rule for Threshold {
    fn on_event(&mut self, ev: &Event, ctx: &Ctx) -> Option<Trigger> {
        let key = self.add(ev, ctx)?;
        let g = self.groups[&key].entries();
        let distinct = self.p.aggregate == Aggregate::Distinct;
        let (total, lo, hi) = heaviest(g, ev.ts, self.window, distinct);
        if total < self.p.threshold {
            return None;
        }
        let (first, last) = (&g[lo], &g[hi]);
        let fmt = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M:%S").to_string();
        let what = match (self.p.aggregate, &self.p.field) {
            (Aggregate::Distinct, Some(_)) => {
                format!("{} for {} distinct values", self.p.label, thousands(total))
            }
            _ => format!("{} {}", thousands(total), self.p.label),
        };
        let subject = &key.1;
        let summary = format!(
            "{subject}: {what} between {} and {} UTC (threshold {} within {})",
            fmt(first.ts),
            fmt(last.ts),
            thousands(self.p.threshold),
            self.p.window
        );
        let mut evidence: Vec<String> = g[lo..=hi].iter().map(|e| e.id.clone()).collect();
        evidence.truncate(super::MAX_EVIDENCE);
        let values: Vec<&str> = if distinct {
            let mut v: Vec<&str> = g[lo..=hi].iter().map(|e| e.data.value.as_str()).collect();
            v.sort_unstable();
            v.dedup();
            v.truncate(super::MAX_EVIDENCE);
            v
        } else {
            Vec::new()
        };
        Some(Trigger {
            key: ev.event_id.clone(),
            subject: (self.p.group_by != Field::UserId).then(|| subject.clone()),
            ts: ev.ts,
            summary,
            evidence,
            details: json!({
                "group_by": format!("{:?}", self.p.group_by).to_lowercase(),
                "subject": subject,
                "aggregate": self.p.aggregate,
                "total": total,
                "threshold": self.p.threshold,
                "window": self.p.window.to_string(),
                "first_ts": crate::time::rfc3339(first.ts),
                "last_ts": crate::time::rfc3339(last.ts),
                "distinct_values": values,
                "ip": ev.ip.map(|i| i.to_string()),
                "country_iso": ev.geo.country_iso,
            }),
            extends: false,
            respond: true,
        })
    }

    fn history(&self) -> Option<History> {
        Some(History {
            actions: self.p.filter.actions(),
            horizon: self.window,
        })
    }

    fn rehydrate(&mut self, ev: &Event, ctx: &Ctx) {
        self.add(ev, ctx);
    }

    fn evict(&mut self, before: DateTime<Utc>) {
        evict_all(&mut self.groups, before, 0);
    }
}

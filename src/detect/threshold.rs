//! `threshold`: an aggregate of the events matching `filter`, per `group_by` (the user by default, or
//! `ip`, `tenant`, `attributes.<key>`), over a rolling event-time `window`, reaching `threshold`.
//! `aggregate` is `count`, `sum` (of `field`, each event at least `min_each`) or `distinct` (values of
//! `field`). Late events count in the window they belong to; each `event_id` counts once.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use super::filter::{Field, Filter};
use super::rule::{thousands, Ctx, History, Kind, Rule, Trigger};
use super::window::{Item, Key, Windows};
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
            windows: Windows::new(
                self.window.as_chrono(),
                self.aggregate == Aggregate::Distinct,
            ),
            p: self.clone(),
        })
    }
}

pub struct Threshold {
    p: Params,
    windows: Windows,
}

impl Threshold {
    /// Adds a matching event to its group; the group's subject and the event's index there, or `None`
    /// (no group value, or seen before).
    fn add<'e>(&mut self, ev: &'e Event, ctx: &Ctx<'e>) -> Option<(Cow<'e, str>, usize)> {
        if !self.p.filter.matches(ev, ctx.directory) {
            return None;
        }
        let subject = self.p.group_by.text(ev, ctx.directory)?;
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
        let at = self.windows.add(
            Key::new(&ev.tenant, &subject),
            ev.ts,
            &ev.event_id,
            Item { amount, value },
        )?;
        Some((subject, at))
    }
}

impl Rule for Threshold {
    fn on_event(&mut self, ev: &Event, ctx: &Ctx) -> Option<Trigger> {
        let (subject, at) = self.add(ev, ctx)?;
        let key = Key::new(&ev.tenant, &subject);
        let (total, lo, hi) = self.windows.heaviest(key, at);
        let distinct = self.p.aggregate == Aggregate::Distinct;
        let g = self.windows.entries(key);
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
        let subject: &str = &subject;
        let summary = format!(
            "{subject}: {what} between {} and {} UTC (threshold {} within {})",
            fmt(first.ts),
            fmt(last.ts),
            thousands(self.p.threshold),
            self.p.window
        );
        // Bounded work per finding: a window can hold a whole attack (and fires on every event of it).
        let evidence: Vec<String> = g[lo..=hi]
            .iter()
            .take(super::MAX_EVIDENCE)
            .map(|e| e.id.clone())
            .collect();
        let values: Vec<&str> = if distinct {
            let mut v = std::collections::BTreeSet::new();
            for e in g[lo..=hi].iter().take(10 * super::MAX_EVIDENCE) {
                if v.len() == super::MAX_EVIDENCE {
                    break;
                }
                v.insert(e.data.value.as_str());
            }
            v.into_iter().collect()
        } else {
            Vec::new()
        };
        Some(Trigger {
            key: ev.event_id.to_string(),
            subject: (self.p.group_by != Field::UserId).then(|| subject.to_owned()),
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
            horizon: self.p.window.as_chrono(),
        })
    }

    fn rehydrate(&mut self, ev: &Event, ctx: &Ctx) {
        self.add(ev, ctx);
    }

    fn evict(&mut self, before: DateTime<Utc>) {
        self.windows.evict(before);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DetectorsConfig;
    use crate::detect::worktime::WorkTime;
    use crate::directory::Directory;

    /// The heaviest window holding each event, computed the slow way, equals the rule's, for in-order,
    /// late and duplicated events alike.
    #[test]
    fn incremental_windows_match_a_brute_force_count_in_any_arrival_order() {
        for aggregate in [Aggregate::Count, Aggregate::Distinct] {
            let p = Params {
                window: "10m".parse().unwrap(),
                aggregate,
                field: Some(Field::Ip),
                threshold: u64::MAX,
                ..Params::default()
            };
            let mut rule = Threshold {
                windows: Windows::new(p.window.as_chrono(), aggregate == Aggregate::Distinct),
                p,
            };
            let (dir, wt) = (
                Directory::default(),
                WorkTime::from_config(&DetectorsConfig::default()),
            );
            let ctx = Ctx::new(&dir, &wt);
            let mut seed = 7u64;
            let mut next = || {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                seed >> 33
            };
            let mut seen: Vec<(i64, String, u64)> = Vec::new();
            for i in 0..400 {
                // Mostly forward in time, sometimes up to 15 minutes late, sometimes a re-delivery.
                let base = 1_767_600_000 + i as i64 * 20;
                let late = if next() % 5 == 0 {
                    (next() % 900) as i64
                } else {
                    0
                };
                let (id, ts, ipn) = if i > 0 && next() % 10 == 0 {
                    let (t, id, ip) = seen[(next() % seen.len() as u64) as usize].clone();
                    (id, t, ip)
                } else if i > 0 && next() % 6 == 0 {
                    // The same instant as the newest so far, under an id that may sort before it.
                    let newest = seen.iter().map(|(t, _, _)| *t).max().unwrap();
                    (format!("e{i}"), newest, next() % 7)
                } else {
                    (format!("e{i}"), base - late, next() % 7)
                };
                let raw = format!(
                    r#"{{"event_id":"{id}","ts":"{}","user_id":"u","action":"login_failed","ip":"10.0.0.{ipn}"}}"#,
                    chrono::DateTime::from_timestamp(ts, 0)
                        .unwrap()
                        .to_rfc3339()
                );
                let ev = crate::decode::decode_event(raw.as_bytes(), 1 << 20).unwrap();
                let fresh = !seen.iter().any(|(_, s, _)| *s == id);
                if fresh {
                    seen.push((ts, id.clone(), ipn));
                }
                let Some((subject, at)) = rule.add(&ev, &ctx) else {
                    assert!(!fresh, "a fresh event is added");
                    continue;
                };
                let (got, _, _) = rule.windows.heaviest(Key::new(&ev.tenant, &subject), at);
                // Brute force: every window (end - 10m, end] that holds ts.
                let want = seen
                    .iter()
                    .filter(|(end, _, _)| *end >= ts && *end - ts < 600)
                    .map(|(end, _, _)| {
                        let inside = seen.iter().filter(|(t, _, _)| *t > end - 600 && t <= end);
                        match aggregate {
                            Aggregate::Distinct => inside
                                .map(|(_, _, ip)| *ip)
                                .collect::<std::collections::HashSet<_>>()
                                .len() as u64,
                            _ => inside.count() as u64,
                        }
                    })
                    .max()
                    .unwrap();
                assert_eq!(got, want, "{aggregate} event {i} ({id} at {ts})");
            }
        }
    }
}

//! Sigma rules as a detector kind (files in `detectors/sigma/`, loaded by [`super::sigma_load`]).
//! A **detection** is evaluated by rsigma over the event as [`View`] shows it; each match raises an
//! alert, like `match`. A **correlation** (`event_count`, `value_count`, `value_sum`, `temporal`,
//! `temporal_ordered`) evaluates its rules' detections by rsigma and aggregates the matches on
//! custos' own event-time [`Windows`] — late events count in their window, each `event_id` once, the
//! state is rebuilt from storage — rather than on rsigma's arrival-order engine.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use rsigma_eval::{evaluate_rule, CompiledRule, Event as _};
use serde_json::json;

use super::rule::{thousands, Ctx, History, Kind, Rule, Trigger};
use super::sigma_view::View;
use super::window::{Item, Key, Windows};
use crate::model::Event;

/// What a correlation aggregates.
#[derive(Debug, Clone, PartialEq)]
pub enum Aggregation {
    EventCount,
    /// Distinct values of a field.
    ValueCount(String),
    /// The sum of a numeric field.
    ValueSum(String),
    /// Distinct rules matched.
    Temporal,
    /// Every rule matched, in the order listed.
    TemporalOrdered,
}

/// A compiled correlation.
#[derive(Debug)]
pub struct Correlation {
    pub title: String,
    /// The rules it correlates (their `name` or `id` as referenced), compiled.
    pub rules: Vec<(String, CompiledRule)>,
    pub group_by: Vec<String>,
    pub width: Duration,
    pub timespan: String,
    pub aggregation: Aggregation,
    /// The aggregate reaches at least this (Sigma's `gte`, or `gt` + 1).
    pub min: u64,
}

/// One Sigma detector.
#[derive(Debug)]
pub enum Sigma {
    Detection(CompiledRule),
    Correlation(Correlation),
}

/// The kind's params: the compiled rule, shared by every engine built from it.
#[derive(Debug, Clone)]
pub struct Params(pub Arc<Sigma>);

impl Params {
    /// The kind's name, as `detectors lint` shows it.
    pub fn kind_name(&self) -> &'static str {
        match &*self.0 {
            Sigma::Detection(_) => "sigma",
            Sigma::Correlation(_) => "sigma correlation",
        }
    }
}

impl Kind for Params {
    fn build(&self) -> Box<dyn Rule> {
        match &*self.0 {
            Sigma::Detection(_) => Box::new(Detection(self.0.clone())),
            Sigma::Correlation(c) => Box::new(Correlating {
                windows: Windows::new(
                    c.width,
                    !matches!(
                        c.aggregation,
                        Aggregation::EventCount | Aggregation::ValueSum(_)
                    ),
                ),
                sigma: self.0.clone(),
            }),
        }
    }
}

struct Detection(Arc<Sigma>);

impl Rule for Detection {
    fn on_event(&mut self, ev: &Event, ctx: &Ctx) -> Option<Trigger> {
        let Sigma::Detection(rule) = &*self.0 else {
            return None;
        };
        let hit = evaluate_rule(
            rule,
            &View {
                ev,
                dir: ctx.directory,
            },
        )?;
        let mut what = ev.action.to_string();
        if ev.record_count > 0 {
            what.push_str(&format!(" ({} records)", thousands(ev.record_count)));
        }
        let from = ev.ip.map(|i| format!(" from {i}")).unwrap_or_default();
        let summary = format!(
            "{} {what} at {} UTC{from} matched the Sigma rule “{}”",
            ev.user_id,
            ev.ts.format("%Y-%m-%d %H:%M"),
            rule.title
        );
        let matched = match &hit.body {
            rsigma_eval::ResultBody::Detection(d) => d.matched_selections.clone(),
            _ => Vec::new(),
        };
        Some(Trigger::of(
            ev,
            summary,
            json!({
                "sigma_title": rule.title,
                "sigma_id": rule.id,
                "matched_selections": matched,
                "action": ev.action,
                "ip": ev.ip.map(|i| i.to_string()),
                "country_iso": ev.geo.country_iso,
            }),
        ))
    }
}

struct Correlating {
    sigma: Arc<Sigma>,
    windows: Windows,
}

/// Strips the per-rule suffix a second matched rule's entry carries.
fn event_of(id: &str) -> &str {
    id.split('\u{1f}').next().unwrap_or(id)
}

impl Correlating {
    fn corr(&self) -> &Correlation {
        match &*self.sigma {
            Sigma::Correlation(c) => c,
            Sigma::Detection(_) => unreachable!("built for a correlation"),
        }
    }

    /// Adds a matching event to its group: the group's subject and the event's (first) index.
    fn add(&mut self, ev: &Event, ctx: &Ctx) -> Option<(String, usize)> {
        let sigma = self.sigma.clone();
        let Sigma::Correlation(c) = &*sigma else {
            return None;
        };
        let view = View {
            ev,
            dir: ctx.directory,
        };
        let matched: Vec<usize> = c
            .rules
            .iter()
            .enumerate()
            .filter(|(_, (_, r))| evaluate_rule(r, &view).is_some())
            .map(|(i, _)| i)
            .collect();
        if matched.is_empty() {
            return None;
        }
        let mut parts = Vec::with_capacity(c.group_by.len());
        for f in &c.group_by {
            parts.push(view.get_field(f)?.as_str()?.into_owned());
        }
        let subject = match parts.len() {
            0 => "(all)".to_owned(),
            1 => parts.pop().expect("one"),
            _ => c
                .group_by
                .iter()
                .zip(&parts)
                .map(|(f, v)| format!("{f}={v}"))
                .collect::<Vec<_>>()
                .join(", "),
        };
        let key = Key::new(&ev.tenant, &subject);
        let item = |amount, value| Item { amount, value };
        let at = match &c.aggregation {
            Aggregation::EventCount => {
                self.windows
                    .add(key, ev.ts, &ev.event_id, item(1, String::new()))?
            }
            Aggregation::ValueCount(f) => {
                let v = view.get_field(f)?.as_str()?.into_owned();
                self.windows.add(key, ev.ts, &ev.event_id, item(1, v))?
            }
            Aggregation::ValueSum(f) => {
                let n = view.get_field(f)?.as_f64()?.max(0.0) as u64;
                self.windows
                    .add(key, ev.ts, &ev.event_id, item(n, String::new()))?
            }
            Aggregation::Temporal | Aggregation::TemporalOrdered => {
                // One entry per rule the event matched; the event id once, then suffixed.
                let mut first = None;
                for (n, i) in matched.iter().enumerate() {
                    let id = if n == 0 {
                        ev.event_id.to_string()
                    } else {
                        format!("{}\u{1f}{i}", ev.event_id)
                    };
                    if let Some(at) = self.windows.add(key, ev.ts, &id, item(1, i.to_string())) {
                        first.get_or_insert(at);
                    }
                }
                let first = first?;
                // Later suffixed entries sort after the first: its index did not move.
                first
            }
        };
        Some((subject, at))
    }

    /// The window the finding is about: (aggregate, first index, last index), when it reaches `min`.
    fn finding(&mut self, key: Key<'_>, at: usize) -> Option<(u64, usize, usize)> {
        let (min, ordered, n) = {
            let c = self.corr();
            (
                c.min,
                c.aggregation == Aggregation::TemporalOrdered,
                c.rules.len(),
            )
        };
        if ordered {
            let entries = self.windows.entries(key);
            return self
                .windows
                .holding(key, at)
                .into_iter()
                .find_map(|(lo, hi)| {
                    let mut next = 0;
                    for e in &entries[lo..=hi] {
                        if next < n && e.data.value == next.to_string() {
                            next += 1;
                        }
                    }
                    (next == n).then_some((n as u64, lo, hi))
                });
        }
        let (total, lo, hi) = self.windows.heaviest(key, at);
        (total >= min).then_some((total, lo, hi))
    }
}

impl Rule for Correlating {
    fn on_event(&mut self, ev: &Event, ctx: &Ctx) -> Option<Trigger> {
        let (subject, at) = self.add(ev, ctx)?;
        let key = Key::new(&ev.tenant, &subject);
        let (total, lo, hi) = self.finding(key, at)?;
        let c = self.corr();
        let entries = self.windows.entries(key);
        let (first, last) = (&entries[lo], &entries[hi]);
        let names: Vec<&str> = c.rules.iter().map(|(n, _)| n.as_str()).collect();
        let what = match &c.aggregation {
            Aggregation::EventCount => {
                format!("{} events of {}", thousands(total), names.join(", "))
            }
            Aggregation::ValueCount(f) => format!(
                "{} distinct {f} values in events of {}",
                thousands(total),
                names.join(", ")
            ),
            Aggregation::ValueSum(f) => format!(
                "{f} adding up to {} in events of {}",
                thousands(total),
                names.join(", ")
            ),
            Aggregation::Temporal => {
                format!("events of {} of the rules {}", total, names.join(", "))
            }
            Aggregation::TemporalOrdered => {
                format!("events of {} in that order", names.join(" → "))
            }
        };
        let fmt = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M:%S").to_string();
        let summary = format!(
            "{subject}: {what} between {} and {} UTC (Sigma correlation “{}”: at least {} within {})",
            fmt(first.ts),
            fmt(last.ts),
            c.title,
            thousands(c.min),
            c.timespan
        );
        let mut evidence: Vec<String> = Vec::new();
        for e in &entries[lo..=hi] {
            if evidence.len() == super::MAX_EVIDENCE {
                break;
            }
            let id = event_of(&e.id);
            if evidence.last().map(String::as_str) != Some(id) {
                evidence.push(id.to_owned());
            }
        }
        Some(Trigger {
            key: ev.event_id.to_string(),
            subject: (c.group_by != ["user_id"]).then_some(subject.clone()),
            ts: ev.ts,
            summary,
            evidence,
            details: json!({
                "sigma_title": c.title,
                "rules": names,
                "group_by": c.group_by,
                "subject": subject,
                "total": total,
                "min": c.min,
                "timespan": c.timespan,
                "first_ts": crate::time::rfc3339(first.ts),
                "last_ts": crate::time::rfc3339(last.ts),
                "ip": ev.ip.map(|i| i.to_string()),
                "country_iso": ev.geo.country_iso,
            }),
            extends: false,
            respond: true,
        })
    }

    fn history(&self) -> Option<History> {
        Some(History {
            actions: None,
            horizon: self.corr().width,
        })
    }

    fn rehydrate(&mut self, ev: &Event, ctx: &Ctx) {
        self.add(ev, ctx);
    }

    fn evict(&mut self, before: DateTime<Utc>) {
        self.windows.evict(before);
    }
}

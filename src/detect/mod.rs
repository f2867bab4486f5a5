//! Detect stage: detectors defined as data (`detectors/<id>.toml`, see [`spec`]) evaluated over
//! enriched events in **event time**, with the directory view. The [`Engine`] applies what every
//! detector shares — allow lists, suppression, deterministic alert ids — and each `kind` module holds
//! only its own logic.

pub mod bulk_export;
pub mod fixtures;
mod kinds;
pub mod off_hours_login;
pub mod orphaned_account;
pub mod rehydrate;
pub mod spec;
pub mod worktime;

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::directory::Directory;
use crate::model::{stable_id, Event};
pub use spec::{DetectorSpec, Response, Severity};
use worktime::WorkTime;

/// Evidence kept on one alert at most (an orphaned account's activity list is capped here).
pub const MAX_EVIDENCE: usize = 100;

/// An alert. `alert_id` is derived from detector, tenant, user and the trigger, so a replay derives
/// the same id; `version` grows when an open alert gains evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub alert_id: String,
    pub detector: String,
    pub severity: Severity,
    pub tenant: String,
    pub user_id: String,
    /// Event time of the trigger.
    pub ts: DateTime<Utc>,
    pub summary: String,
    pub evidence_event_ids: Vec<String>,
    pub details: serde_json::Value,
    pub response: Response,
    pub status: String,
    pub version: u64,
}

/// Evaluates the detectors for one event; alerts (new, or updated versions) go to `out`.
pub trait Detect: Send {
    fn on_event(&mut self, event: &Event, directory: &Directory, out: &mut Vec<Alert>);
    /// The engine, for rehydration (none for [`NoDetect`]).
    fn engine_mut(&mut self) -> Option<&mut Engine> {
        None
    }
}

/// No detectors.
pub struct NoDetect;

impl Detect for NoDetect {
    fn on_event(&mut self, _: &Event, _: &Directory, _: &mut Vec<Alert>) {}
}

/// What a rule sees besides the event.
pub(crate) struct Ctx<'a> {
    pub directory: &'a Directory,
    pub worktime: &'a WorkTime,
}

/// A rule's finding for one event; the engine turns it into an alert (or suppresses it).
pub(crate) struct Trigger {
    /// Identity of the finding within detector and user (an event id, a window's trigger event).
    pub key: String,
    pub ts: DateTime<Utc>,
    pub summary: String,
    pub evidence: Vec<String>,
    pub details: serde_json::Value,
    /// While suppressed, add this event to the open alert instead of dropping it.
    pub extends: bool,
}

/// One detector kind's logic.
pub(crate) trait Rule: Send {
    fn on_event(&mut self, ev: &Event, ctx: &Ctx) -> Option<Trigger>;
    /// A past event loaded from storage at start-up: update state, never trigger.
    fn rehydrate(&mut self, _ev: &Event) {}
    /// Forget state for events older than `before` (event time).
    fn evict(&mut self, _before: DateTime<Utc>) {}
    /// How far back in event time this rule needs history.
    fn horizon(&self) -> Duration {
        Duration::zero()
    }
    /// Users with state (for memory accounting).
    fn tracked_users(&self) -> usize {
        0
    }
}

struct Active {
    spec: DetectorSpec,
    rule: Box<dyn Rule>,
}

/// Runs the enabled detectors.
pub struct Engine {
    active: Vec<Active>,
    worktime: WorkTime,
    /// The latest alert per (detector, tenant, user), for suppression and updates.
    open: HashMap<(usize, String, String), Alert>,
    max_ts: Option<DateTime<Utc>>,
    since_evict: u64,
}

impl Engine {
    pub fn new(specs: Vec<DetectorSpec>, worktime: WorkTime) -> Self {
        let active = specs
            .into_iter()
            .filter(|s| s.enabled)
            .map(|spec| Active { rule: kinds::build(&spec), spec })
            .collect();
        Engine { active, worktime, open: HashMap::new(), max_ts: None, since_evict: 0 }
    }

    pub fn detectors(&self) -> impl Iterator<Item = &DetectorSpec> {
        self.active.iter().map(|a| &a.spec)
    }

    /// The longest history any detector needs (exports window, suppression).
    pub fn horizon(&self) -> Duration {
        self.active
            .iter()
            .map(|a| a.rule.horizon().max(Duration::from_std(a.spec.suppress_for).unwrap_or(Duration::zero())))
            .max()
            .unwrap_or(Duration::zero())
    }

    /// Users with detector state, summed over detectors, plus open alerts.
    pub fn tracked(&self) -> usize {
        self.active.iter().map(|a| a.rule.tracked_users()).sum::<usize>() + self.open.len()
    }

    /// Past events from storage (rebuilds windows after a restart).
    pub fn rehydrate_event(&mut self, ev: &Event) {
        self.advance(ev.ts);
        for a in &mut self.active {
            a.rule.rehydrate(ev);
        }
    }

    /// Past alerts from storage (restores suppression after a restart).
    pub fn rehydrate_alert(&mut self, alert: Alert) {
        if let Some(idx) = self.active.iter().position(|a| a.spec.id == alert.detector) {
            let key = (idx, alert.tenant.clone(), alert.user_id.clone());
            match self.open.get(&key) {
                Some(cur) if cur.ts > alert.ts => {}
                _ => {
                    self.open.insert(key, alert);
                }
            }
        }
    }

    fn advance(&mut self, ts: DateTime<Utc>) {
        self.max_ts = Some(self.max_ts.map_or(ts, |m| m.max(ts)));
        self.since_evict += 1;
        if self.since_evict >= 50_000 {
            self.since_evict = 0;
            if let Some(max) = self.max_ts {
                let horizon = self.horizon();
                let before = max - horizon - horizon; // keep a horizon of slack for late events
                for a in &mut self.active {
                    a.rule.evict(before);
                }
                self.open.retain(|_, al| al.ts >= before);
            }
        }
    }

    fn excepted(spec: &DetectorSpec, ev: &Event) -> bool {
        spec.allow_users.iter().any(|u| *u == ev.user_id)
            || ev.ip.is_some_and(|ip| {
                let ip = crate::enrich::netclass::canonical(ip);
                spec.allow_cidrs.iter().any(|n| n.contains(&ip))
            })
    }
}

impl Detect for Engine {
    fn engine_mut(&mut self) -> Option<&mut Engine> {
        Some(self)
    }

    fn on_event(&mut self, ev: &Event, directory: &Directory, out: &mut Vec<Alert>) {
        self.advance(ev.ts);
        let ctx = Ctx { directory, worktime: &self.worktime };
        for (idx, a) in self.active.iter_mut().enumerate() {
            if Self::excepted(&a.spec, ev) {
                continue;
            }
            let Some(t) = a.rule.on_event(ev, &ctx) else { continue };
            let alert_id = stable_id(&[a.spec.id.as_bytes(), ev.tenant.as_bytes(), ev.user_id.as_bytes(), t.key.as_bytes()]);
            let key = (idx, ev.tenant.clone(), ev.user_id.clone());
            if let Some(open) = self.open.get_mut(&key) {
                if open.alert_id == alert_id {
                    continue; // already raised (a replay or a re-read)
                }
                let within = (t.ts - open.ts).abs() < Duration::from_std(a.spec.suppress_for).unwrap_or(Duration::zero());
                if within {
                    let new_evidence: Vec<String> = t.evidence.into_iter().filter(|e| !open.evidence_event_ids.contains(e)).collect();
                    if t.extends && !new_evidence.is_empty() && open.evidence_event_ids.len() < MAX_EVIDENCE {
                        open.evidence_event_ids.extend(new_evidence);
                        open.evidence_event_ids.truncate(MAX_EVIDENCE);
                        open.version += 1;
                        open.details["events"] = serde_json::json!(open.evidence_event_ids.len());
                        out.push(open.clone());
                    }
                    continue; // suppressed
                }
            }
            let alert = Alert {
                alert_id,
                detector: a.spec.id.clone(),
                severity: a.spec.severity,
                tenant: ev.tenant.clone(),
                user_id: ev.user_id.clone(),
                ts: t.ts,
                summary: t.summary,
                evidence_event_ids: t.evidence,
                details: t.details,
                response: a.spec.response,
                status: "open".into(),
                version: 1,
            };
            self.open.insert(key, alert.clone());
            out.push(alert);
        }
    }
}

/// Formats a count with thousands separators (`2,500`).
pub(crate) fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

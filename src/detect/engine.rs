//! The engine: runs the enabled detectors over each event and applies what every detector shares —
//! allow lists, suppression, deterministic alert ids, evidence growth, eviction in event time.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

use super::rule::{Ctx, Rule};
use super::spec::DetectorSpec;
use super::worktime::WorkTime;
use crate::directory::Directory;
use crate::model::{stable_id, Alert, AlertStatus, Event, FastMap};

/// Evidence kept on one alert at most (an orphaned account's activity list is capped here).
pub const MAX_EVIDENCE: usize = 100;

/// Alerts as a run raised them: each alert id once, at its latest version, in first-raised order
/// (fixtures, the sweep and backtests collect their results this way).
#[derive(Debug, Default)]
pub struct LatestAlerts {
    alerts: Vec<Alert>,
    index: HashMap<String, usize>,
}

impl LatestAlerts {
    /// Takes `new` (emptying it), replacing earlier versions of the same alerts.
    pub fn absorb(&mut self, new: &mut Vec<Alert>) {
        for a in new.drain(..) {
            match self.index.get(&a.alert_id) {
                Some(&i) => self.alerts[i] = a,
                None => {
                    self.index.insert(a.alert_id.clone(), self.alerts.len());
                    self.alerts.push(a);
                }
            }
        }
    }

    pub fn into_vec(self) -> Vec<Alert> {
        self.alerts
    }
}

/// Evaluates the detectors for one event; alerts (new, or updated versions) go to `out`.
pub trait Detect: Send {
    fn on_event(&mut self, event: &Event, directory: &Directory, out: &mut Vec<Alert>);
    /// Findings that waited (an unknown account given time for its HR record): those whose wait is
    /// over, or all of them at `end_of_input`.
    fn release(&mut self, _directory: &Directory, _end_of_input: bool, _out: &mut Vec<Alert>) {}
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

struct Active {
    spec: DetectorSpec,
    rule: Box<dyn Rule>,
    /// `rule.history()`, asked once (actions sorted, once each): it depends on the params only.
    history: Option<super::rule::History>,
}

/// Runs the enabled detectors.
pub struct Engine {
    active: Vec<Active>,
    worktime: WorkTime,
    /// The latest alert per (detector, tenant, user), for suppression and updates.
    open: FastMap<(usize, String, String), Alert>,
    max_ts: Option<DateTime<Utc>>,
    since_evict: u64,
    /// The newest stored event while rehydrating (see [`Engine::rehydrating_until`]).
    rehydrate_until: Option<DateTime<Utc>>,
}

impl Engine {
    pub fn new(specs: Vec<DetectorSpec>, worktime: WorkTime) -> Self {
        let active = specs
            .into_iter()
            .filter(|s| s.enabled)
            .map(|spec| {
                let rule = spec.kind.build();
                let mut history = rule.history();
                if let Some(a) = history.as_mut().and_then(|h| h.actions.as_mut()) {
                    a.sort_unstable();
                    a.dedup();
                }
                Active {
                    rule,
                    history,
                    spec,
                }
            })
            .collect();
        Engine {
            active,
            worktime,
            open: FastMap::default(),
            max_ts: None,
            since_evict: 0,
            rehydrate_until: None,
        }
    }

    pub fn detectors(&self) -> impl Iterator<Item = &DetectorSpec> {
        self.active.iter().map(|a| &a.spec)
    }

    /// The longest history any detector needs (a window, suppression).
    pub fn horizon(&self) -> Duration {
        self.active
            .iter()
            .map(|a| {
                a.history
                    .as_ref()
                    .map_or(Duration::zero(), |h| h.horizon)
                    .max(Duration::from_std(a.spec.suppress_for).unwrap_or(Duration::zero()))
            })
            .max()
            .unwrap_or(Duration::zero())
    }

    /// The stored events that rebuild the detectors' state: each detector's [`History`] (the same
    /// ones once).
    ///
    /// [`History`]: super::rule::History
    pub fn histories(&self) -> Vec<super::rule::History> {
        let mut v: Vec<super::rule::History> = Vec::new();
        for h in self.active.iter().filter_map(|a| a.history.as_ref()) {
            if !v
                .iter()
                .any(|x| x.horizon == h.horizon && x.actions == h.actions)
            {
                v.push(h.clone());
            }
        }
        v
    }

    /// Rehydration reads history ending at `newest` (event time): each rule then gets the past
    /// events its own [`History`](super::rule::History) names.
    pub fn rehydrating_until(&mut self, newest: DateTime<Utc>) {
        self.rehydrate_until = Some(newest);
    }

    /// Past events from storage (rebuilds windows after a restart); each rule gets those its
    /// history names.
    pub fn rehydrate_event(&mut self, ev: &Event, directory: &Directory) {
        self.advance(ev.ts);
        let ctx = Ctx::for_event(directory, &self.worktime, ev);
        let until = self.rehydrate_until;
        for a in &mut self.active {
            let wanted = match (&a.history, until) {
                (None, _) => false,
                (Some(h), newest) => {
                    h.actions
                        .as_ref()
                        .is_none_or(|x| x.iter().any(|a| *a == ev.action))
                        && newest.is_none_or(|n| ev.ts >= n - h.horizon)
                }
            };
            if wanted {
                a.rule.rehydrate(ev, &ctx);
            }
        }
    }

    /// Past alerts from storage (restores suppression after a restart).
    pub fn rehydrate_alert(&mut self, alert: Alert) {
        if let Some(idx) = self.active.iter().position(|a| a.spec.id == alert.detector) {
            let subject = alert
                .subject
                .clone()
                .unwrap_or_else(|| alert.user_id.clone());
            let key = (idx, alert.tenant.clone(), subject);
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
        let ctx = Ctx::for_event(directory, &self.worktime, ev);
        for (idx, a) in self.active.iter_mut().enumerate() {
            if Self::excepted(&a.spec, ev) {
                continue;
            }
            let Some(t) = a.rule.on_event(ev, &ctx) else {
                continue;
            };
            Self::raise(&mut self.open, idx, &a.spec, ev, t, out);
        }
    }

    fn release(&mut self, directory: &Directory, end_of_input: bool, out: &mut Vec<Alert>) {
        let ctx = Ctx::new(directory, &self.worktime);
        for (idx, a) in self.active.iter_mut().enumerate() {
            for (ev, t) in a.rule.release(&ctx, end_of_input) {
                Self::raise(&mut self.open, idx, &a.spec, &ev, t, out);
            }
        }
    }
}

impl Engine {
    /// Turns a rule's finding into an alert: the deterministic id, suppression per subject, evidence
    /// growth of the open alert.
    fn raise(
        open_alerts: &mut FastMap<(usize, String, String), Alert>,
        idx: usize,
        spec: &DetectorSpec,
        ev: &Event,
        t: super::rule::Trigger,
        out: &mut Vec<Alert>,
    ) {
        let subject = t.subject.clone().unwrap_or_else(|| ev.user_id.to_string());
        let alert_id = stable_id(&[
            spec.id.as_bytes(),
            ev.tenant.as_bytes(),
            subject.as_bytes(),
            t.key.as_bytes(),
        ]);
        let key = (idx, ev.tenant.to_string(), subject);
        if let Some(open) = open_alerts.get_mut(&key) {
            if open.alert_id == alert_id {
                return; // already raised (a replay or a re-read)
            }
            let within = (t.ts - open.ts).abs()
                < Duration::from_std(spec.suppress_for).unwrap_or(Duration::zero());
            if within {
                let new_evidence: Vec<String> = t
                    .evidence
                    .into_iter()
                    .filter(|e| !open.evidence_event_ids.contains(e))
                    .collect();
                if t.extends
                    && !new_evidence.is_empty()
                    && open.evidence_event_ids.len() < MAX_EVIDENCE
                {
                    open.evidence_event_ids.extend(new_evidence);
                    open.evidence_event_ids.truncate(MAX_EVIDENCE);
                    open.version += 1;
                    open.details["events"] = serde_json::json!(open.evidence_event_ids.len());
                    out.push(open.clone());
                }
                return; // suppressed
            }
        }
        let alert = Alert {
            alert_id,
            detector: spec.id.clone(),
            severity: spec.severity,
            tenant: ev.tenant.to_string(),
            user_id: ev.user_id.to_string(),
            ts: t.ts,
            summary: t.summary,
            evidence_event_ids: t.evidence,
            details: t.details,
            response: if t.respond {
                spec.response
            } else {
                crate::model::Response::None
            },
            status: AlertStatus::Open,
            version: 1,
            subject: t.subject.clone(),
        };
        open_alerts.insert(key, alert.clone());
        out.push(alert);
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::DetectorsConfig;
    use crate::decode::decode_event;

    fn engine(files: &[(&str, &str)]) -> Engine {
        let specs = files
            .iter()
            .map(|(name, text)| super::super::spec::load_text(Path::new(name), text).unwrap())
            .collect();
        Engine::new(specs, WorkTime::from_config(&DetectorsConfig::default()))
    }

    fn off_hours() -> Engine {
        engine(&[(
            "off_hours_login.toml",
            include_str!("../../detectors/off_hours_login.toml"),
        )])
    }

    fn login(id: &str, ts: &str, user: &str) -> Event {
        decode_event(
            format!(r#"{{"event_id":"{id}","ts":"{ts}","user_id":"{user}","action":"login"}}"#)
                .as_bytes(),
            1 << 20,
        )
        .unwrap()
    }

    fn run(e: &mut Engine, ev: &Event) -> Vec<Alert> {
        let mut out = Vec::new();
        e.on_event(ev, &Directory::default(), &mut out);
        out
    }

    #[test]
    fn alert_ids_are_derived_from_inputs_and_a_replay_raises_nothing_new() {
        let ev = login("e1", "2026-01-06T02:00:00Z", "alice");
        let (mut a, mut b) = (off_hours(), off_hours());
        let first = run(&mut a, &ev);
        assert_eq!(first.len(), 1);
        assert_eq!(
            first[0].alert_id,
            run(&mut b, &ev)[0].alert_id,
            "another engine derives the same id"
        );
        assert!(
            run(&mut a, &ev).is_empty(),
            "the same event again is no new alert"
        );
        assert_eq!(first[0].status, AlertStatus::Open);
        assert_eq!(first[0].evidence_event_ids, vec!["e1".to_owned()]);
    }

    #[test]
    fn suppression_holds_for_its_span_of_event_time_per_user() {
        let mut e = off_hours();
        assert_eq!(
            run(&mut e, &login("e1", "2026-01-06T02:00:00Z", "alice")).len(),
            1
        );
        // 30 minutes later (and also 30 minutes *earlier*, a late event): suppressed for 1 h.
        assert!(run(&mut e, &login("e2", "2026-01-06T02:30:00Z", "alice")).is_empty());
        assert!(run(&mut e, &login("e0", "2026-01-06T01:30:00Z", "alice")).is_empty());
        // Another user is not suppressed; past the hour alice alerts again.
        assert_eq!(
            run(&mut e, &login("e3", "2026-01-06T02:30:00Z", "bob")).len(),
            1
        );
        assert_eq!(
            run(&mut e, &login("e4", "2026-01-06T03:01:00Z", "alice")).len(),
            1
        );
    }

    #[test]
    fn allow_lists_skip_users_and_networks() {
        let text = include_str!("../../detectors/off_hours_login.toml")
            .replace("allow_users = []", "allow_users = [\"oncall\"]")
            .replace("allow_cidrs = []", "allow_cidrs = [\"10.0.0.0/8\"]");
        let mut e = engine(&[("off_hours_login.toml", &text)]);
        assert!(run(&mut e, &login("e1", "2026-01-06T02:00:00Z", "oncall")).is_empty());
        let mut vpn = login("e2", "2026-01-06T02:00:00Z", "alice");
        vpn.ip = Some("10.1.2.3".parse().unwrap());
        assert!(run(&mut e, &vpn).is_empty());
        assert_eq!(
            run(&mut e, &login("e3", "2026-01-06T02:00:00Z", "alice")).len(),
            1
        );
    }

    #[test]
    fn the_horizon_and_history_come_from_the_kinds() {
        let e = engine(&[
            (
                "bulk_export.toml",
                include_str!("../../detectors/bulk_export.toml"),
            ),
            (
                "off_hours_login.toml",
                include_str!("../../detectors/off_hours_login.toml"),
            ),
        ]);
        assert_eq!(e.horizon(), Duration::hours(24));
        let h = e.histories();
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].actions, Some(vec!["export".to_owned()]));
        assert_eq!(h[0].horizon, Duration::hours(24));
    }
}

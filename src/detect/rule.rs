//! The contract between the engine and a detector kind: what a rule sees ([`Ctx`]), what it finds
//! ([`Trigger`]), the history that rebuilds it ([`History`]), and what a kind's params provide ([`Kind`]).

use chrono::{DateTime, Duration, Utc};

use super::worktime::WorkTime;
use crate::directory::Directory;
use crate::model::Event;

/// What a rule sees besides the event.
pub struct Ctx<'a> {
    pub directory: &'a Directory,
    pub worktime: &'a WorkTime,
    /// The directory's answer for the one event this context was made for ([`Ctx::for_event`]).
    actor: Option<(*const Event, Actor<'a>)>,
}

/// What the directory says of an event's actor.
#[derive(Clone, Copy)]
pub struct Actor<'a> {
    /// Some record (of any tenant) names the user id.
    pub known: bool,
    /// The record that applies to the event's tenant at its time.
    pub record: Option<&'a crate::model::DirectoryRecord>,
}

impl<'a> Actor<'a> {
    fn of(directory: &'a Directory, ev: &Event) -> Self {
        let (known, record) = directory.actor(ev);
        Actor { known, record }
    }
}

impl<'a> Ctx<'a> {
    pub fn new(directory: &'a Directory, worktime: &'a WorkTime) -> Self {
        Ctx {
            directory,
            worktime,
            actor: None,
        }
    }

    /// A context for the rules' view of `ev` alone: the directory is asked about its actor once,
    /// however many rules ask.
    pub fn for_event(directory: &'a Directory, worktime: &'a WorkTime, ev: &Event) -> Self {
        Ctx {
            actor: Some((ev, Actor::of(directory, ev))),
            ..Ctx::new(directory, worktime)
        }
    }

    /// [`Directory::actor`] of `ev`.
    pub fn actor(&self, ev: &Event) -> Actor<'a> {
        match self.actor {
            Some((seen, a)) if std::ptr::eq(seen, ev) => a,
            _ => Actor::of(self.directory, ev),
        }
    }

    /// The record that applies to `ev`'s actor ([`Directory::for_event`]).
    pub fn record(&self, ev: &Event) -> Option<&'a crate::model::DirectoryRecord> {
        self.actor(ev).record
    }
}

/// A rule's finding for one event; the engine turns it into an alert (or suppresses it).
pub struct Trigger {
    /// Identity of the finding within detector and user (an event id, a window's trigger event).
    pub key: String,
    /// Whom the finding is about when it is not the event's user (an IP for a password spray):
    /// suppression and the alert id are per subject.
    pub subject: Option<String>,
    pub ts: DateTime<Utc>,
    pub summary: String,
    pub evidence: Vec<String>,
    pub details: serde_json::Value,
    /// While suppressed, add this event to the open alert instead of dropping it.
    pub extends: bool,
    /// Whether the detector's `response` applies (false: the alert is raised with response `none`).
    pub respond: bool,
}

impl Trigger {
    /// A finding about one event alone: keyed and evidenced by it, about its user, raised with the
    /// detector's response.
    pub fn of(ev: &Event, summary: String, details: serde_json::Value) -> Self {
        Trigger {
            key: ev.event_id.to_string(),
            subject: None,
            ts: ev.ts,
            summary,
            evidence: vec![ev.event_id.to_string()],
            details,
            extends: false,
            respond: true,
        }
    }
}

/// Which stored events rebuild a rule's state after a restart or a partition handover.
#[derive(Debug, Clone)]
pub struct History {
    /// Events with one of these actions (`None`: every event) …
    pub actions: Option<Vec<String>>,
    /// … within this much event time before the newest stored event.
    pub horizon: Duration,
}

/// One detector kind's logic.
pub trait Rule: Send {
    fn on_event(&mut self, ev: &Event, ctx: &Ctx) -> Option<Trigger>;
    /// The stored events this rule's state is rebuilt from (none: the rule keeps no state).
    fn history(&self) -> Option<History> {
        None
    }
    /// A past event from storage (one [`Rule::history`] asked for): update state, never trigger.
    fn rehydrate(&mut self, _ev: &Event, _ctx: &Ctx) {}
    /// Findings this rule held back (with the event each is about): those due now, or all at
    /// `end_of_input`.
    fn release(&mut self, _ctx: &Ctx, _end_of_input: bool) -> Vec<(Event, Trigger)> {
        Vec::new()
    }
    /// Forget state for events older than `before` (event time).
    fn evict(&mut self, _before: DateTime<Utc>) {}
}

/// What every kind's params provide.
pub trait Kind: std::fmt::Debug + Send + Sync {
    /// Checks beyond the types (ranges, combinations); problems are (field, message).
    fn check(&self) -> Vec<(String, String)> {
        Vec::new()
    }
    /// A fresh rule with these params.
    fn build(&self) -> Box<dyn Rule>;
}

/// Formats a count with thousands separators (`2,500`).
pub(crate) fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

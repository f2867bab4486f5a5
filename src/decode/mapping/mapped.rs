//! What a mapping found in one record ([`Mapped`]): the contract fields as text, the time parsed, the
//! attributes; checked by the native decoder's rules without a JSON round trip.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::super::event::{build, record_count_text, Parts, FIELDS, MAX_RECORD_COUNT};
use super::super::fields::Text;
use super::super::Rejection;
use crate::model::Event;

/// A contract field's place in [`FIELDS`] (`ts` and `attributes` are kept apart).
pub type Field = usize;
pub const EVENT_ID: Field = 0;
pub const TS: Field = 1;
pub const USER_ID: Field = 2;
pub const ACTION: Field = 3;
pub const TENANT: Field = 4;
const OBJECT_TYPE: Field = 5;
const RECORD_COUNT: Field = 6;
const IP: Field = 7;
const USER_AGENT: Field = 8;
const SESSION_ID: Field = 9;
const OUTCOME: Field = 10;

/// The contract fields a mapping found in one record, as text borrowed from the record or the
/// mapping where it can be, the time parsed, and its attributes (each name once).
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped<'a> {
    /// By [`Field`] (`ts` and `attributes` are always `None` here).
    pub fields: [Option<Cow<'a, str>>; FIELDS.len()],
    pub ts: Option<DateTime<Utc>>,
    pub attributes: Vec<(String, String)>,
}

impl<'a> Mapped<'a> {
    pub(super) fn new(attributes: usize) -> Mapped<'a> {
        Mapped {
            fields: Default::default(),
            ts: None,
            attributes: Vec::with_capacity(attributes),
        }
    }

    /// A field's text (`ts` has none: it is [`Mapped::ts`]).
    pub fn get(&self, field: Field) -> Option<&str> {
        self.fields[field].as_deref()
    }

    pub(super) fn has(&self, field: Field) -> bool {
        match field {
            TS => self.ts.is_some(),
            _ => self.fields[field].is_some(),
        }
    }

    pub(super) fn set(&mut self, field: Field, value: Cow<'a, str>) {
        self.fields[field] = Some(value);
    }

    /// Removes a field, giving its value.
    pub(super) fn take(&mut self, field: Field) -> Option<Cow<'a, str>> {
        self.fields[field].take()
    }

    /// Sets an attribute, replacing an earlier value of the same name.
    pub(super) fn set_attribute(&mut self, name: &str, value: String) {
        match self.attributes.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => *v = value,
            None => self.attributes.push((name.to_owned(), value)),
        }
    }

    /// The contract's JSON object: every field a string (`ts` in RFC 3339 UTC) but a numeric
    /// `record_count`.
    pub fn to_contract(&self) -> Map<String, Value> {
        let mut out = Map::new();
        if let Some(t) = self.ts {
            out.insert("ts".into(), Value::String(crate::time::rfc3339(t)));
        }
        for (field, val) in self.fields.iter().enumerate() {
            let Some(val) = val else { continue };
            let json = match field {
                RECORD_COUNT => val
                    .parse::<u64>()
                    .map_or_else(|_| Value::String(val.to_string()), Value::from),
                _ => Value::String(val.to_string()),
            };
            out.insert(FIELDS[field].to_owned(), json);
        }
        let attrs = self
            .attributes
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        out.insert("attributes".into(), Value::Object(attrs));
        out
    }

    /// The native decoder's checks on the fields, without writing them out as JSON: the same event
    /// (or rejection) as [`super::validate`] of [`Mapped::to_contract`] (a test holds them equal).
    pub fn validate(self) -> Result<Event, Rejection> {
        let Mapped {
            mut fields,
            ts,
            mut attributes,
        } = self;
        let mut text = |f: Field| fields[f].take().map(Text::Str);
        let parts = Parts {
            event_id: text(EVENT_ID),
            ts: None,
            ts_utc: ts,
            user_id: text(USER_ID),
            action: text(ACTION),
            tenant: text(TENANT),
            object_type: text(OBJECT_TYPE),
            ip: text(IP),
            user_agent: text(USER_AGENT),
            session_id: text(SESSION_ID),
            outcome: text(OUTCOME),
        };
        let count = fields[RECORD_COUNT].take();
        let count = || match count.as_deref().map(|v| (v, v.parse::<u64>())) {
            None => Ok(0),
            Some((_, Ok(n))) if n <= MAX_RECORD_COUNT => Ok(n),
            Some((_, Ok(n))) => record_count_text(&n.to_string()),
            Some((v, Err(_))) => {
                record_count_text(&serde_json::to_string(v).expect("a string serialises"))
            }
        };
        // In key order, as the contract object's (sorted) map writes them.
        attributes.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        build(parts, count, || Ok(attributes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_places_name_the_contract_fields() {
        let places = [
            (EVENT_ID, "event_id"),
            (TS, "ts"),
            (USER_ID, "user_id"),
            (ACTION, "action"),
            (TENANT, "tenant"),
            (OBJECT_TYPE, "object_type"),
            (RECORD_COUNT, "record_count"),
            (IP, "ip"),
            (USER_AGENT, "user_agent"),
            (SESSION_ID, "session_id"),
            (OUTCOME, "outcome"),
        ];
        for (f, name) in places {
            assert_eq!(FIELDS[f], name);
        }
    }
}

//! The CRM event contract (`schemas/crm-event.schema.json`).

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use super::fields::{clip, given_text, no_control, opt_text, req_text, timestamp, Text};
use super::{object_error, precheck, RejectCode, Rejection};
use crate::model::{Event, Outcome};

/// The contract's fields, in schema order (a mapping fills every one but `attributes` by name).
pub(crate) const FIELDS: &[&str] = &[
    "event_id",
    "ts",
    "user_id",
    "action",
    "tenant",
    "object_type",
    "record_count",
    "ip",
    "user_agent",
    "session_id",
    "outcome",
    "attributes",
];

/// The longest accepted `event_id`, in characters.
pub const MAX_EVENT_ID: usize = 128;

/// The largest accepted `record_count` (2^63).
pub const MAX_RECORD_COUNT: u64 = 1 << 63;

/// Every known field, read in one pass: the text fields borrowed from the record, the others as raw
/// JSON; unknown fields are skipped, a known field twice is an error.
#[derive(Deserialize)]
struct RawEvent<'a> {
    #[serde(borrow)]
    event_id: Option<Text<'a>>,
    #[serde(borrow)]
    ts: Option<Text<'a>>,
    #[serde(borrow)]
    user_id: Option<Text<'a>>,
    #[serde(borrow)]
    action: Option<Text<'a>>,
    #[serde(borrow)]
    tenant: Option<Text<'a>>,
    #[serde(borrow)]
    object_type: Option<Text<'a>>,
    #[serde(borrow)]
    record_count: Option<&'a RawValue>,
    #[serde(borrow)]
    ip: Option<Text<'a>>,
    #[serde(borrow)]
    user_agent: Option<Text<'a>>,
    #[serde(borrow)]
    session_id: Option<Text<'a>>,
    #[serde(borrow)]
    outcome: Option<Text<'a>>,
    #[serde(borrow)]
    attributes: Option<&'a RawValue>,
}

/// Decodes and validates one event. `max_bytes` is the size limit for a record.
pub fn decode_event(raw: &[u8], max_bytes: usize) -> Result<Event, Rejection> {
    let text = precheck(raw, max_bytes)?;
    match super::flat::scan(text) {
        Some(f) => decode_flat(&f),
        None => decode_serde(text),
    }
}

/// A flat record ([`super::flat`]): the fields as read, through the same checks.
pub(super) fn decode_flat(f: &super::flat::Fields<'_>) -> Result<Event, Rejection> {
    use super::flat::Tok;
    let text = |i: usize| match f[i] {
        Some(Tok::Str(s)) => Some(Text::Str(Cow::Borrowed(s))),
        Some(Tok::Raw(r)) => Some(Text::Wrong(r.to_owned())), // not produced for a text field
        None => None,
    };
    let raw = |i: usize| match f[i] {
        Some(Tok::Raw(r)) => Some(r),
        Some(Tok::Str(_)) | None => None, // not produced for a raw field
    };
    let parts = Parts {
        event_id: text(0),
        ts: text(1),
        ts_utc: None,
        user_id: text(2),
        action: text(3),
        tenant: text(4),
        object_type: text(5),
        ip: text(7),
        user_agent: text(8),
        session_id: text(9),
        outcome: text(10),
    };
    build(parts, || record_count(raw(6)), || attributes(raw(11)))
}

/// Any other record, read by serde_json (which words a malformed record's rejection).
pub(super) fn decode_serde(text: &str) -> Result<Event, Rejection> {
    let r: RawEvent = serde_json::from_str(text).map_err(|e| object_error(e, FIELDS))?;
    let parts = Parts {
        event_id: r.event_id,
        ts: r.ts,
        ts_utc: None,
        user_id: r.user_id,
        action: r.action,
        tenant: r.tenant,
        object_type: r.object_type,
        ip: r.ip,
        user_agent: r.user_agent,
        session_id: r.session_id,
        outcome: r.outcome,
    };
    let count = r.record_count.map(RawValue::get);
    let attrs = r.attributes.map(RawValue::get);
    build(parts, || record_count(count), || attributes(attrs))
}

/// The contract's text fields of one record, as read (from JSON, or by a mapping, which gives the
/// time already parsed as `ts_utc`).
#[derive(Default)]
pub(crate) struct Parts<'a> {
    pub event_id: Option<Text<'a>>,
    pub ts: Option<Text<'a>>,
    pub ts_utc: Option<DateTime<Utc>>,
    pub user_id: Option<Text<'a>>,
    pub action: Option<Text<'a>>,
    pub tenant: Option<Text<'a>>,
    pub object_type: Option<Text<'a>>,
    pub ip: Option<Text<'a>>,
    pub user_agent: Option<Text<'a>>,
    pub session_id: Option<Text<'a>>,
    pub outcome: Option<Text<'a>>,
}

/// Every contract check, in the contract's field order (the first failing field is the one
/// reported); `record_count` and `attributes` are read when their turn comes.
pub(crate) fn build(
    r: Parts<'_>,
    record_count: impl FnOnce() -> Result<u64, Rejection>,
    attributes: impl FnOnce() -> Result<Vec<(String, String)>, Rejection>,
) -> Result<Event, Rejection> {
    let event_id = text(req_text(r.event_id, "event_id")?);
    if event_id.len() > MAX_EVENT_ID && event_id.chars().count() > MAX_EVENT_ID {
        return Err(Rejection::new(
            RejectCode::BadValue("event_id"),
            "`event_id` is longer than 128 characters",
        ));
    }
    no_control(&event_id, "event_id")?;
    let ts = match r.ts_utc {
        Some(t) if (0..=u32::MAX as i64).contains(&t.timestamp()) => {
            DateTime::from_timestamp(t.timestamp(), t.timestamp_subsec_millis() * 1_000_000)
                .expect("in range")
        }
        // The rejection its text would get.
        Some(t) => timestamp(&crate::time::rfc3339(t), "ts")?,
        None => timestamp(&req_text(r.ts, "ts").map_err(ts_code)?, "ts")?,
    };
    let user_id = text(req_text(r.user_id, "user_id")?);
    no_control(&user_id, "user_id")?;
    let action = text(req_text(r.action, "action")?);
    no_control(&action, "action")?;
    let tenant = opt_text(r.tenant, "tenant")?.map_or_else(|| "default".into(), text);
    no_control(&tenant, "tenant")?;

    Ok(Event {
        event_id,
        ts,
        user_id,
        action,
        tenant,
        object_type: owned(opt_text(r.object_type, "object_type")?),
        record_count: record_count()?,
        ip: ip(r.ip)?,
        user_agent: owned(opt_text(r.user_agent, "user_agent")?),
        session_id: owned(opt_text(r.session_id, "session_id")?),
        outcome: outcome(r.outcome)?,
        attributes: attributes()?,
        geo: Default::default(),
    })
}

fn owned(s: Option<Cow<'_, str>>) -> crate::model::Text {
    s.map(text).unwrap_or_default()
}

/// A field's text as the event holds it (inline when short: no allocation).
fn text(s: Cow<'_, str>) -> crate::model::Text {
    match s {
        Cow::Borrowed(b) => b.into(),
        Cow::Owned(o) => o.into(),
    }
}

/// A `ts` of the wrong JSON type is a bad timestamp; absent or empty stays a missing/empty field.
fn ts_code(e: Rejection) -> Rejection {
    match e.code {
        RejectCode::BadType(_) => Rejection::new(RejectCode::BadTimestamp("ts"), e.message),
        _ => e,
    }
}

/// `record_count` from its JSON text (absent or `null`: 0).
fn record_count(v: Option<&str>) -> Result<u64, Rejection> {
    given_text(v).map_or(Ok(0), record_count_text)
}

/// A `record_count` from its JSON text (`1200`, or `"12 rows"` quoted: a bad count).
pub(crate) fn record_count_text(text: &str) -> Result<u64, Rejection> {
    let bad = |why: &str| {
        Rejection::new(
            RejectCode::BadRecordCount,
            format!("`record_count` {why}: {}", clip(text)),
        )
    };
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("must be a non-negative integer"));
    }
    match text.parse::<u64>() {
        Ok(n) if n <= MAX_RECORD_COUNT => Ok(n),
        _ => Err(bad("is larger than 2^63")),
    }
}

fn ip(v: Option<Text<'_>>) -> Result<Option<std::net::IpAddr>, Rejection> {
    let Some(s) = opt_text(v, "ip")? else {
        return Ok(None);
    };
    s.trim().parse().map(Some).map_err(|_| {
        Rejection::new(
            RejectCode::BadValue("ip"),
            format!("`ip` is not an IPv4 or IPv6 address: {}", clip(&s)),
        )
    })
}

fn outcome(v: Option<Text<'_>>) -> Result<Outcome, Rejection> {
    match opt_text(v, "outcome")?.as_deref() {
        None | Some("success") => Ok(Outcome::Success),
        Some("failure") => Ok(Outcome::Failure),
        Some(other) => Err(Rejection::new(
            RejectCode::BadValue("outcome"),
            format!(
                "`outcome` must be \"success\" or \"failure\", got {}",
                clip(other)
            ),
        )),
    }
}

/// `attributes` from its JSON text (absent or `null`: none).
fn attributes(v: Option<&str>) -> Result<Vec<(String, String)>, Rejection> {
    let Some(v) = given_text(v) else {
        return Ok(Vec::new());
    };
    serde_json::from_str::<Attributes>(v)
        .map(|a| a.0)
        .map_err(|e| {
            Rejection::new(
                RejectCode::BadValue("attributes"),
                format!("`attributes` must be an object of string values: {e}"),
            )
        })
}

/// An object of string → string, in the order given, with duplicate keys refused.
struct Attributes(Vec<(String, String)>);

impl<'de> Deserialize<'de> for Attributes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Attributes;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of string values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Attributes, A::Error> {
                let mut out: Vec<(String, String)> = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, String>()? {
                    if out.iter().any(|(seen, _)| *seen == k) {
                        return Err(serde::de::Error::custom(format!(
                            "duplicate key `{}`",
                            clip(&k)
                        )));
                    }
                    out.push((k, v));
                }
                Ok(Attributes(out))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(raw: &str) -> String {
        decode_event(raw.as_bytes(), 1 << 20)
            .unwrap_err()
            .code
            .to_string()
    }

    #[test]
    fn offsets_become_utc_milliseconds_and_defaults_apply() {
        let e = decode_event(br#"{"event_id":"a","ts":"2026-01-06T10:14:07.123456+08:00","user_id":"u","action":"login"}"#, 1 << 20).unwrap();
        assert_eq!(crate::time::rfc3339(e.ts), "2026-01-06T02:14:07.123Z");
        assert_eq!(
            (e.tenant.as_str(), e.record_count, e.outcome),
            ("default", 0, Outcome::Success)
        );
    }

    #[test]
    fn edge_cases_get_their_stable_codes() {
        let base = r#""event_id":"a","user_id":"u","action":"export""#;
        assert_eq!(
            code(&format!(r#"{{{base},"ts":"2026-01-06T02:14:07"}}"#)),
            "bad_timestamp"
        );
        assert_eq!(
            code(&format!(r#"{{{base},"ts":"1969-12-31T23:59:59Z"}}"#)),
            "bad_timestamp"
        );
        assert_eq!(
            code(&format!(
                r#"{{{base},"ts":"2026-01-06T02:14:07Z","record_count":-1}}"#
            )),
            "bad_record_count"
        );
        assert_eq!(
            code(&format!(
                r#"{{{base},"ts":"2026-01-06T02:14:07Z","record_count":1.5}}"#
            )),
            "bad_record_count"
        );
        assert_eq!(
            code(&format!(
                r#"{{{base},"ts":"2026-01-06T02:14:07Z","user_id":"v"}}"#
            )),
            "duplicate_field:user_id"
        );
        assert_eq!(
            code(&format!(
                r#"{{{base},"ts":"2026-01-06T02:14:07Z","outcome":"maybe"}}"#
            )),
            "bad_value:outcome"
        );
        assert_eq!(
            code(&format!(
                r#"{{{base},"ts":"2026-01-06T02:14:07Z","ip":"999.1.1.1"}}"#
            )),
            "bad_value:ip"
        );
        assert_eq!(
            code(
                r#"{"event_id":"a\u0007","ts":"2026-01-06T02:14:07Z","user_id":"u","action":"x"}"#
            ),
            "bad_value:event_id"
        );
        assert_eq!(
            code(r#"{"event_id":"a","ts":"2026-01-06T02:14:07Z","user_id":7,"action":"x"}"#),
            "bad_type:user_id"
        );
        assert_eq!(
            code(r#"{"event_id":"a","ts":"2026-01-06T02:14:07Z","user_id":"","action":"x"}"#),
            "empty_field:user_id"
        );
        assert_eq!(code("[1]"), "not_object");
        assert_eq!(code(""), "invalid_json");
    }
}

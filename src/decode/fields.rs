//! Field-level parsers shared by the event and directory decoders: each takes the raw JSON of one
//! field and either returns its typed value or the precise rejection.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;

use super::{RejectCode, Rejection};

/// A field that should be a string, read in the same pass as the record: borrowed from it when it
/// has no escapes; anything else is kept as a short excerpt for the rejection. (JSON `null` is
/// `None` of the `Option` around it.)
pub(crate) enum Text<'a> {
    Str(Cow<'a, str>),
    Wrong(String),
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text::Str(Cow::Owned(v)))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Text<'de>, E> {
                Ok(Text::Wrong(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Text<'de>, E> {
                Ok(Text::Wrong(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Text<'de>, E> {
                Ok(Text::Wrong(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Text<'de>, E> {
                Ok(Text::Wrong(v.to_string()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Text<'de>, A::Error> {
                while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Text::Wrong("[…]".into()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Text<'de>, A::Error> {
                while a
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(Text::Wrong("{…}".into()))
            }
        }
        d.deserialize_any(V)
    }
}

/// An optional string field read as [`Text`]; `""` counts as not given.
pub(crate) fn opt_text<'a>(
    v: Option<Text<'a>>,
    name: &'static str,
) -> Result<Option<Cow<'a, str>>, Rejection> {
    match v {
        None => Ok(None),
        Some(Text::Str(s)) if s.is_empty() => Ok(None),
        Some(Text::Str(s)) => Ok(Some(s)),
        Some(Text::Wrong(w)) => Err(Rejection::new(
            RejectCode::BadType(name),
            format!("`{name}` must be a string, got {}", clip(&w)),
        )),
    }
}

/// A required, non-empty string field read as [`Text`].
pub(crate) fn req_text<'a>(
    v: Option<Text<'a>>,
    name: &'static str,
) -> Result<Cow<'a, str>, Rejection> {
    let Some(v) = v else {
        return Err(Rejection::new(
            RejectCode::MissingField(name),
            format!("`{name}` is required"),
        ));
    };
    opt_text(Some(v), name)?.ok_or_else(|| {
        Rejection::new(
            RejectCode::EmptyField(name),
            format!("`{name}` must not be empty"),
        )
    })
}

/// Absent and JSON `null` both mean "not given".
pub(crate) fn given(v: Option<&RawValue>) -> Option<&RawValue> {
    v.filter(|r| r.get() != "null")
}

/// An optional string field; `""` counts as not given.
pub(crate) fn opt_string(
    v: Option<&RawValue>,
    name: &'static str,
) -> Result<Option<String>, Rejection> {
    opt_str(v, name).map(|s| s.map(Cow::into_owned))
}

/// [`opt_string`], borrowed from the record when the string has no escapes (the parser already
/// validated it), so a field parsed further (a time, an address) costs no allocation.
pub(crate) fn opt_str<'a>(
    v: Option<&'a RawValue>,
    name: &'static str,
) -> Result<Option<Cow<'a, str>>, Rejection> {
    let Some(v) = given(v) else { return Ok(None) };
    let raw = v.get();
    let s: Cow<'a, str> = match raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        Some(inner) if !inner.contains('\\') => Cow::Borrowed(inner),
        _ => Cow::Owned(serde_json::from_str(raw).map_err(|_| {
            Rejection::new(
                RejectCode::BadType(name),
                format!("`{name}` must be a string, got {}", clip(raw)),
            )
        })?),
    };
    Ok(if s.is_empty() { None } else { Some(s) })
}

/// A required, non-empty string field.
pub(crate) fn req_string(v: Option<&RawValue>, name: &'static str) -> Result<String, Rejection> {
    req_str(v, name).map(Cow::into_owned)
}

/// [`req_string`], borrowed when it can be (see [`opt_str`]).
pub(crate) fn req_str<'a>(
    v: Option<&'a RawValue>,
    name: &'static str,
) -> Result<Cow<'a, str>, Rejection> {
    if given(v).is_none() {
        return Err(Rejection::new(
            RejectCode::MissingField(name),
            format!("`{name}` is required"),
        ));
    }
    opt_str(v, name)?.ok_or_else(|| {
        Rejection::new(
            RejectCode::EmptyField(name),
            format!("`{name}` must not be empty"),
        )
    })
}

/// Identifiers must not carry control characters (they end up in logs, CSV exports and lock commands).
pub(crate) fn no_control(s: &str, name: &'static str) -> Result<(), Rejection> {
    if s.chars().any(char::is_control) {
        return Err(Rejection::new(
            RejectCode::BadValue(name),
            format!("`{name}` contains control characters"),
        ));
    }
    Ok(())
}

/// RFC 3339 with an explicit offset, within ClickHouse `DateTime` range (1970..2106), truncated to ms.
pub(crate) fn timestamp(s: &str, name: &'static str) -> Result<DateTime<Utc>, Rejection> {
    let bad = |why: &str| {
        Rejection::new(
            RejectCode::BadTimestamp(name),
            format!("`{name}` {why}: {}", clip(s)),
        )
    };
    let t = DateTime::parse_from_rfc3339(s)
        .map_err(|_| bad("is not RFC 3339 with an offset"))?
        .with_timezone(&Utc);
    let secs = t.timestamp();
    if !(0..=u32::MAX as i64).contains(&secs) {
        return Err(bad("is outside 1970-01-01..2106-02-07"));
    }
    let ms = t.timestamp_subsec_millis();
    Ok(DateTime::from_timestamp(secs, ms * 1_000_000).expect("in range"))
}

/// A short, single-line excerpt of a value for error messages.
pub(crate) fn clip(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(80)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.chars().count() > 80 {
        out.push('…');
    }
    out
}

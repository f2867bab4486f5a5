//! Field-level parsers shared by the event and directory decoders: each takes the raw JSON of one
//! field and either returns its typed value or the precise rejection.

use std::borrow::Cow;

use chrono::{DateTime, Datelike, Utc};
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
    v.filter(|r| given_text(Some(r.get())).is_some())
}

/// [`given`] for a value's JSON text.
pub(crate) fn given_text(v: Option<&str>) -> Option<&str> {
    v.filter(|t| *t != "null")
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
    if has_control(s) {
        return Err(Rejection::new(
            RejectCode::BadValue(name),
            format!("`{name}` contains control characters"),
        ));
    }
    Ok(())
}

/// `s.chars().any(char::is_control)`, by bytes: the control characters are C0 (`0x00..=0x1f`), DEL
/// and C1 (U+0080..=U+009F, encoded `0xc2 0x80..=0x9f`).
fn has_control(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().enumerate().any(|(i, &c)| {
        c < 0x20
            || c == 0x7f
            || (c == 0xc2 && b.get(i + 1).is_some_and(|n| (0x80..=0x9f).contains(n)))
    })
}

/// RFC 3339 with an explicit offset, within ClickHouse `DateTime` range (1970..2106), truncated to ms.
pub(crate) fn timestamp(s: &str, name: &'static str) -> Result<DateTime<Utc>, Rejection> {
    let bad = |why: &str| {
        Rejection::new(
            RejectCode::BadTimestamp(name),
            format!("`{name}` {why}: {}", clip(s)),
        )
    };
    let (secs, ms) = match rfc3339_common(s) {
        Some(t) => t,
        None => {
            let t = DateTime::parse_from_rfc3339(s)
                .map_err(|_| bad("is not RFC 3339 with an offset"))?
                .with_timezone(&Utc);
            (t.timestamp(), t.timestamp_subsec_millis())
        }
    };
    if !(0..=u32::MAX as i64).contains(&secs) {
        return Err(bad("is outside 1970-01-01..2106-02-07"));
    }
    Ok(DateTime::from_timestamp(secs, ms * 1_000_000).expect("in range"))
}

/// The common form `YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|±HH:MM)` as (Unix seconds, milliseconds), a
/// few times faster than chrono's parser; `None` hands anything else (lowercase separators, a
/// leap second, an invalid date …) to chrono, whose verdict is the contract.
fn rfc3339_common(s: &str) -> Option<(i64, u32)> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b.get(r)?.iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    if !(at(4, b'-') && at(7, b'-') && at(10, b'T') && at(13, b':') && at(16, b':')) {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut i = 19;
    let mut ms = 0;
    if at(i, b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            if i - start < 3 {
                ms = ms * 10 + u32::from(b[i] - b'0');
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 || n > 9 {
            return None;
        }
        ms *= 10u32.pow(3u32.saturating_sub(n as u32));
    }
    let offset = match b.get(i)? {
        b'Z' if i + 1 == b.len() => 0,
        &sign @ (b'+' | b'-') if i + 6 == b.len() && at(i + 3, b':') => {
            let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let o = i64::from(oh * 3600 + om * 60);
            if sign == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return None,
    };
    if h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let date = chrono::NaiveDate::from_ymd_opt(y as i32, mo, d)?;
    let days = i64::from(date.num_days_from_ce()) - 719_163; // 1970-01-01
    Some((
        days * 86_400 + i64::from(h * 3600 + mi * 60 + sec) - offset,
        ms,
    ))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path agrees with chrono wherever it answers, and leaves the rest to it.
    #[test]
    fn the_common_timestamp_form_parses_as_chrono_does() {
        let mut cases = vec![
            "2026-01-06T02:14:07Z".to_owned(),
            "2024-02-29T23:59:59.999+14:00".into(),
            "2023-02-29T00:00:00Z".into(),
            "1970-01-01T00:00:00Z".into(),
            "1969-12-31T23:59:59Z".into(),
            "2106-02-07T06:28:15Z".into(),
            "2106-02-07T06:28:16Z".into(),
            "2026-01-06T10:14:07.123456789+08:00".into(),
            "2026-01-06T10:14:07.1234567891Z".into(),
            "2026-01-06T10:14:07.Z".into(),
            "2026-01-06t10:14:07z".into(),
            "2026-01-06 10:14:07Z".into(),
            "2026-12-31T23:59:60Z".into(),
            "2026-01-06T24:00:00Z".into(),
            "2026-01-06T10:14:07+24:00".into(),
            "2026-01-06T10:14:07-00:30".into(),
            "2026-13-01T00:00:00Z".into(),
            "2026-01-06T10:14:07".into(),
            "2026-01-06T10:14:07+0800".into(),
            "+2026-01-06T10:14:07Z".into(),
        ];
        for y in [1970, 2000, 2024, 2100] {
            for (m, d) in [(1, 1), (2, 28), (2, 29), (3, 1), (12, 31)] {
                for frac in ["", ".5", ".05", ".005", ".0005"] {
                    for off in ["Z", "+00:00", "-11:45", "+05:30"] {
                        cases.push(format!("{y}-{m:02}-{d:02}T13:07:59{frac}{off}"));
                    }
                }
            }
        }
        for c in &cases {
            let chrono = DateTime::parse_from_rfc3339(c)
                .ok()
                .map(|t| (t.timestamp(), t.timestamp_subsec_millis()));
            if let Some(fast) = rfc3339_common(c) {
                assert_eq!(Some(fast), chrono, "{c}");
            }
            let ours = timestamp(c, "ts")
                .ok()
                .map(|t| (t.timestamp(), t.timestamp_subsec_millis()));
            let want = chrono.filter(|(s, _)| (0..=u32::MAX as i64).contains(s));
            assert_eq!(ours, want, "{c}");
        }
        assert!(
            rfc3339_common("2026-01-06T02:14:07.250Z").is_some(),
            "the common form is the fast path"
        );
    }

    #[test]
    fn control_characters_are_found_by_bytes_as_by_chars() {
        for s in [
            "plain",
            "tab\there",
            "del\u{7f}",
            "c1\u{85}x",
            "é and 中文",
            "\u{a0}nbsp",
            "end\u{9f}",
        ] {
            assert_eq!(has_control(s), s.chars().any(char::is_control), "{s:?}");
        }
    }
}

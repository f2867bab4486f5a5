//! The time formats CRMs write, read as UTC: epochs, RFC 3339 and its near relatives, Salesforce's
//! compact form. The common ISO shapes take a byte-level fast path; anything it does not recognise
//! goes through chrono's parsers, which decide (a test holds the fast path to chrono's verdicts).

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::value::TimeFormat;

/// A CRM's time as UTC: `tz` for times written without an offset.
pub fn parse_time(s: &str, f: TimeFormat, tz: Tz) -> Option<DateTime<Utc>> {
    let s = s.trim();
    let epoch = |n: i64, ms: bool| {
        if ms {
            DateTime::from_timestamp_millis(n)
        } else {
            DateTime::from_timestamp(n, 0)
        }
    };
    let local = |n: NaiveDateTime| in_zone(tz, n);
    match f {
        TimeFormat::EpochMs => epoch(s.parse().ok()?, true),
        TimeFormat::EpochS => epoch(s.parse().ok()?, false),
        TimeFormat::EpochMsLocal => local(epoch(s.parse().ok()?, true)?.naive_utc()),
        TimeFormat::Compact => local(NaiveDateTime::parse_from_str(s, "%Y%m%d%H%M%S%.f").ok()?),
        TimeFormat::Auto if s.parse::<i64>().is_ok() => {
            // Epoch seconds or milliseconds (no date format is digits alone: skip trying them).
            let n: i64 = s.parse().ok()?;
            epoch(n, n > 100_000_000_000)
        }
        TimeFormat::Rfc3339 | TimeFormat::Auto => {
            match iso(s) {
                Some(Iso::Offset(t)) => return Some(t.with_timezone(&Utc)),
                Some(Iso::Naive(n)) => return local(n),
                None => {}
            }
            chrono_iso(s, f, tz)
        }
    }
}

/// A wall time in `tz` as UTC (the earlier instant of an ambiguous one).
fn in_zone(tz: Tz, n: NaiveDateTime) -> Option<DateTime<Utc>> {
    tz.from_local_datetime(&n)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

/// The ISO shapes by chrono: RFC 3339, then with a `+0000`-style offset, then without one.
fn chrono_iso(s: &str, f: TimeFormat, tz: Tz) -> Option<DateTime<Utc>> {
    let local = |n: NaiveDateTime| in_zone(tz, n);
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z"] {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return Some(t.with_timezone(&Utc));
        }
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, fmt) {
            return local(n);
        }
    }
    if f == TimeFormat::Rfc3339 {
        return None;
    }
    // `auto` took digits alone as an epoch before coming here: what is left is the compact form.
    local(NaiveDateTime::parse_from_str(s, "%Y%m%d%H%M%S%.f").ok()?)
}

#[derive(Debug, PartialEq)]
enum Iso {
    Offset(DateTime<FixedOffset>),
    Naive(NaiveDateTime),
}

/// `YYYY-MM-DD`, `T` or a space, `HH:MM:SS`, an optional fraction of 1–9 digits, then `Z` (after
/// `T`), `±HH:MM`, `±HHMM` or nothing. `None` for anything else, leap seconds included.
fn iso(s: &str) -> Option<Iso> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<u32> {
        let d = b.get(from..from + len)?;
        d.iter()
            .all(u8::is_ascii_digit)
            .then(|| d.iter().fold(0u32, |n, c| n * 10 + u32::from(c - b'0')))
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    if !(at(4, b'-') && at(7, b'-') && at(13, b':') && at(16, b':')) {
        return None;
    }
    let sep = *b.get(10)?;
    if sep != b'T' && sep != b' ' {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(num(0, 4)? as i32, num(5, 2)?, num(8, 2)?)?;
    let (h, m, sec) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    let mut i = 19;
    let mut nano = 0;
    if at(i, b'.') {
        let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if !(1..=9).contains(&digits) {
            return None;
        }
        nano = num(i + 1, digits)? * 10u32.pow(9 - digits as u32);
        i += 1 + digits;
    }
    // `None` for a second of 60: chrono's parsers decide leap seconds.
    let naive = date.and_hms_nano_opt(h, m, sec, nano)?;
    let offset = match &b[i..] {
        [] => return Some(Iso::Naive(naive)),
        [b'Z'] if sep == b'T' => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] | [sign @ (b'+' | b'-'), _, _, _, _] => {
            let (oh, om) = (num(i + 1, 2)?, num(b.len() - 2, 2)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let secs = (oh * 3600 + om * 60) as i32;
            if *sign == b'-' {
                -secs
            } else {
                secs
            }
        }
        _ => return None,
    };
    let offset = FixedOffset::east_opt(offset)?;
    offset.from_local_datetime(&naive).single().map(Iso::Offset)
}

#[cfg(test)]
#[path = "times_tests.rs"]
mod tests;

//! Time values every layer shares: working hours and days, durations written like `24h`, and the one
//! place instants are formatted (RFC 3339, UTC) or split into the `(seconds, milliseconds)` columns.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Wall-clock seconds, used only for ingest timestamps and action bookkeeping (never for detection).
pub fn now_secs() -> u32 {
    (now_ms() / 1000) as u32
}

/// Wall-clock milliseconds since the epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The instant of a `(seconds, milliseconds)` column pair.
pub fn at(secs: u32, ms: u16) -> DateTime<Utc> {
    DateTime::from_timestamp(secs as i64, ms as u32 * 1_000_000).unwrap_or_default()
}

/// The instant of an epoch-milliseconds value.
pub fn at_ms(ms: u64) -> DateTime<Utc> {
    at((ms / 1000) as u32, (ms % 1000) as u16)
}

/// RFC 3339, UTC, millisecond precision (`2026-01-06T02:14:07.123Z`).
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// [`rfc3339`] of a `(seconds, milliseconds)` column pair.
pub fn rfc3339_cols(secs: u32, ms: u16) -> String {
    rfc3339(at(secs, ms))
}

/// `(seconds, milliseconds)` of an instant, as stored.
pub fn split(t: DateTime<Utc>) -> (u32, u16) {
    (t.timestamp() as u32, t.timestamp_subsec_millis() as u16)
}

/// A duration as written in config and detector files (`24h`, `90m`, `1h 30m`, `7d`), keeping its text
/// for messages and alert summaries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    text: String,
    dur: std::time::Duration,
}

impl Span {
    pub fn as_std(&self) -> std::time::Duration {
        self.dur
    }

    pub fn as_chrono(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.dur).unwrap_or(chrono::Duration::MAX)
    }

    pub fn secs(&self) -> u64 {
        self.dur.as_secs()
    }
}

impl FromStr for Span {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        humantime::parse_duration(s.trim())
            .map(|dur| Span {
                text: s.trim().to_owned(),
                dur,
            })
            .map_err(|e| format!("`{s}` is not a duration (like 30m, 24h, 7d): {e}"))
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A daily working window in minutes after local midnight. `end <= start` wraps past midnight
/// (`22:00-06:00`); such a window belongs to the day it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkHours {
    pub start_min: u16,
    pub end_min: u16,
}

impl WorkHours {
    pub fn wraps_midnight(&self) -> bool {
        self.end_min <= self.start_min
    }
}

impl FromStr for WorkHours {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not HH:MM-HH:MM");
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        let hm = |t: &str| -> Option<u16> {
            let (h, m) = t.trim().split_once(':')?;
            if h.len() != 2 || m.len() != 2 {
                return None;
            }
            let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
            if m >= 60 || h > 24 || (h == 24 && m != 0) {
                return None;
            }
            Some(h * 60 + m)
        };
        let (start_min, end_min) = (hm(a).ok_or_else(bad)?, hm(b).ok_or_else(bad)?);
        if start_min == end_min || start_min == 24 * 60 {
            return Err(bad());
        }
        Ok(WorkHours { start_min, end_min })
    }
}

impl fmt::Display for WorkHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (s, e) = (self.start_min, self.end_min);
        write!(f, "{:02}:{:02}-{:02}:{:02}", s / 60, s % 60, e / 60, e % 60)
    }
}

const DAY_NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// A set of weekdays; bit 0 = Monday … bit 6 = Sunday.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkDays(pub u8);

impl WorkDays {
    pub fn contains(&self, day: chrono::Weekday) -> bool {
        self.0 & (1 << day.num_days_from_monday()) != 0
    }
}

impl FromStr for WorkDays {
    type Err = String;
    /// `Mon-Fri`, `Mon,Tue,Sat`, or a mix (`Mon-Wed,Fri`); ranges may wrap (`Fri-Mon`). Case-insensitive.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not like Mon-Fri or Mon,Tue,Sat");
        let day = |t: &str| {
            DAY_NAMES
                .iter()
                .position(|d| d.eq_ignore_ascii_case(t.trim()))
                .ok_or_else(bad)
        };
        let mut bits = 0u8;
        for item in s.split(',') {
            match item.split_once('-') {
                Some((a, b)) => {
                    let (mut i, j) = (day(a)?, day(b)?);
                    loop {
                        bits |= 1 << i;
                        if i == j {
                            break;
                        }
                        i = (i + 1) % 7;
                    }
                }
                None => bits |= 1 << day(item)?,
            }
        }
        if bits == 0 {
            return Err(bad());
        }
        Ok(WorkDays(bits))
    }
}

impl fmt::Display for WorkDays {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = (0..7)
            .filter(|i| self.0 & (1 << i) != 0)
            .map(|i| DAY_NAMES[i])
            .collect();
        f.write_str(&names.join(","))
    }
}

/// Serde through `Display` / `FromStr` (the text form is the config form).
macro_rules! serde_as_text {
    ($($t:ty),*) => {$(
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
            }
        }
    )*};
}
serde_as_text!(Span, WorkHours, WorkDays);

/// Serde for an IANA zone name, with an error that says what was wrong.
pub mod tz {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn parse(s: &str) -> Result<chrono_tz::Tz, String> {
        s.trim()
            .parse()
            .map_err(|_| format!("`{s}` is not an IANA time zone"))
    }

    pub fn serialize<S: Serializer>(t: &chrono_tz::Tz, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(t.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<chrono_tz::Tz, D::Error> {
        parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }

    /// The same for `Option<Tz>`.
    pub mod opt {
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(
            t: &Option<chrono_tz::Tz>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => s.serialize_some(t.name()),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<chrono_tz::Tz>, D::Error> {
            Option::<String>::deserialize(d)?
                .map(|s| super::parse(&s))
                .transpose()
                .map_err(serde::de::Error::custom)
        }
    }
}

/// Serde for a list of `YYYY-MM-DD` days.
pub mod dates {
    use chrono::NaiveDate;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[NaiveDate], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|d| d.format("%Y-%m-%d").to_string()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<NaiveDate>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|s| {
                NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
                    .map_err(|_| format!("`{s}` is not a date (YYYY-MM-DD)"))
            })
            .collect::<Result<_, _>>()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_hours_and_days_round_trip_and_refuse_nonsense() {
        for s in ["09:00-18:00", "22:00-06:00", "00:00-24:00"] {
            assert_eq!(s.parse::<WorkHours>().unwrap().to_string(), s);
        }
        for s in [
            "9:00-18:00",
            "09:00-09:00",
            "24:00-01:00",
            "09:60-10:00",
            "0900-1800",
        ] {
            assert!(s.parse::<WorkHours>().is_err(), "{s}");
        }
        assert_eq!(
            "Mon-Fri".parse::<WorkDays>().unwrap().to_string(),
            "Mon,Tue,Wed,Thu,Fri"
        );
        assert_eq!(
            "fri-mon".parse::<WorkDays>().unwrap().to_string(),
            "Mon,Fri,Sat,Sun"
        );
        assert!("Funday".parse::<WorkDays>().is_err());
    }

    #[test]
    fn spans_keep_their_text() {
        let s: Span = "24h".parse().unwrap();
        assert_eq!((s.secs(), s.to_string()), (86_400, "24h".to_owned()));
        assert!("soon"
            .parse::<Span>()
            .unwrap_err()
            .contains("not a duration"));
    }

    #[test]
    fn instants_format_in_utc_with_milliseconds() {
        assert_eq!(rfc3339_cols(1_767_665_647, 123), "2026-01-06T02:14:07.123Z");
        assert_eq!(split(at(5, 7)), (5, 7));
        assert_eq!(at_ms(5_007), at(5, 7));
    }
}

//! Working time: whose schedule applies (directory record, else tenant defaults, else global defaults)
//! and whether an instant falls inside it — in the user's local time, with DST, overnight windows
//! belonging to the day they start, optional grace and holidays.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;

use crate::config::DetectorsConfig;
use crate::model::{closed_set, DirectoryRecord};
use crate::time::{WorkDays, WorkHours};

closed_set! {
    /// Where a schedule came from, least specific first.
    pub enum ScheduleSource { Default = "default", Tenant = "tenant", Directory = "directory" }
}

/// One level of defaults (global or a tenant's).
#[derive(Debug, Clone, Default)]
struct Defaults {
    tz: Option<Tz>,
    hours: Option<WorkHours>,
    days: Option<WorkDays>,
    holidays: BTreeSet<NaiveDate>,
}

/// The schedule in force for one user.
#[derive(Debug, Clone)]
pub struct Schedule<'a> {
    pub tz: Tz,
    pub hours: WorkHours,
    pub days: WorkDays,
    holidays: &'a BTreeSet<NaiveDate>,
    /// Where the schedule came from: `directory`, `tenant` or `default`.
    pub source: ScheduleSource,
}

/// Global and per-tenant defaults from `[detectors]`.
#[derive(Debug, Clone)]
pub struct WorkTime {
    global: Defaults,
    tenants: HashMap<String, Defaults>,
}

impl WorkTime {
    /// The defaults of `[detectors]` (already typed and checked by config loading).
    pub fn from_config(c: &DetectorsConfig) -> Self {
        let global = Defaults {
            tz: Some(c.timezone),
            hours: Some(c.work_hours),
            days: Some(c.work_days),
            holidays: c.holidays.iter().copied().collect(),
        };
        let tenants = c
            .tenants
            .iter()
            .map(|(t, v)| {
                (
                    t.clone(),
                    Defaults {
                        tz: v.timezone,
                        hours: v.work_hours,
                        days: v.work_days,
                        holidays: v.holidays.iter().copied().collect(),
                    },
                )
            })
            .collect();
        WorkTime { global, tenants }
    }

    /// The schedule for a user: each part from the directory record, else the tenant, else global.
    pub fn schedule<'a>(&'a self, tenant: &str, rec: Option<&DirectoryRecord>) -> Schedule<'a> {
        let t = self.tenants.get(tenant);
        let (tz, s1) = pick(
            rec.and_then(|r| r.timezone),
            t.and_then(|t| t.tz),
            self.global.tz,
        );
        let (hours, s2) = pick(
            rec.and_then(|r| r.work_hours),
            t.and_then(|t| t.hours),
            self.global.hours,
        );
        let (days, s3) = pick(
            rec.and_then(|r| r.work_days),
            t.and_then(|t| t.days),
            self.global.days,
        );
        // The most specific level any part came from (the enum orders Default < Tenant < Directory).
        let source = s1.max(s2).max(s3);
        let holidays = t
            .filter(|t| !t.holidays.is_empty())
            .map_or(&self.global.holidays, |t| &t.holidays);
        Schedule {
            tz: tz.unwrap_or(Tz::UTC),
            hours: hours.unwrap_or(WorkHours {
                start_min: 9 * 60,
                end_min: 18 * 60,
            }),
            days: days.unwrap_or(WorkDays(0b0001_1111)),
            holidays,
            source,
        }
    }
}

/// The first of directory, tenant, global that is set, and which one it was.
fn pick<T>(r: Option<T>, tenant: Option<T>, global: Option<T>) -> (Option<T>, ScheduleSource) {
    match (r, tenant) {
        (Some(v), _) => (Some(v), ScheduleSource::Directory),
        (None, Some(v)) => (Some(v), ScheduleSource::Tenant),
        _ => (global, ScheduleSource::Default),
    }
}

impl Schedule<'_> {
    /// Local wall-clock time of `ts` in this schedule's zone.
    pub fn local(&self, ts: DateTime<Utc>) -> NaiveDateTime {
        ts.with_timezone(&self.tz).naive_local()
    }

    /// Whether `ts` is inside a working window, widened by `grace_minutes` on both sides.
    pub fn contains(&self, ts: DateTime<Utc>, grace_minutes: u32) -> bool {
        let local = self.local(ts);
        let grace = Duration::minutes(grace_minutes as i64);
        let end_offset = self.hours.end_min as i64
            + if self.hours.wraps_midnight() {
                24 * 60
            } else {
                0
            };
        (-1..=1).any(|delta| {
            let day = local.date() + Duration::days(delta);
            if !self.days.contains(day.weekday()) || self.holidays.contains(&day) {
                return false;
            }
            let midnight = day.and_hms_opt(0, 0, 0).expect("midnight");
            let start = midnight + Duration::minutes(self.hours.start_min as i64) - grace;
            let end = midnight + Duration::minutes(end_offset) + grace;
            start <= local && local < end
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DetectorsConfig, TenantWorkTime};

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn worktime(tz: &str, hours: &str) -> WorkTime {
        WorkTime::from_config(&DetectorsConfig {
            timezone: tz.parse().unwrap(),
            work_hours: hours.parse().unwrap(),
            ..Default::default()
        })
    }

    #[test]
    fn working_hours_follow_daylight_saving_time() {
        let wt = worktime("America/New_York", "09:00-18:00");
        let s = wt.schedule("default", None);
        // Monday 2026-03-09, the day after clocks went forward: 09:00 local is 13:00 UTC (not 14:00).
        assert!(!s.contains(utc("2026-03-09T12:59:00Z"), 0));
        assert!(s.contains(utc("2026-03-09T13:00:00Z"), 0));
        // Friday 2026-03-06, still standard time: 09:00 local is 14:00 UTC.
        assert!(!s.contains(utc("2026-03-06T13:30:00Z"), 0));
        assert!(s.contains(utc("2026-03-06T14:00:00Z"), 0));
        // Berlin, Monday after clocks went back (2026-10-26): 09:00 CET is 08:00 UTC.
        let berlin = worktime("Europe/Berlin", "09:00-18:00");
        assert!(berlin
            .schedule("default", None)
            .contains(utc("2026-10-26T08:00:00Z"), 0));
        assert!(!berlin
            .schedule("default", None)
            .contains(utc("2026-10-26T07:59:00Z"), 0));
    }

    #[test]
    fn an_overnight_window_belongs_to_the_day_it_starts_and_grace_widens_it() {
        let wt = worktime("UTC", "22:00-06:00");
        let s = wt.schedule("default", None);
        assert!(s.contains(utc("2026-01-09T23:00:00Z"), 0), "Friday night");
        assert!(
            s.contains(utc("2026-01-10T05:00:00Z"), 0),
            "Saturday early morning is Friday's shift"
        );
        assert!(
            !s.contains(utc("2026-01-10T23:00:00Z"), 0),
            "Saturday night: no shift starts"
        );
        assert!(!s.contains(utc("2026-01-09T21:50:00Z"), 0));
        assert!(s.contains(utc("2026-01-09T21:50:00Z"), 15));
    }

    #[test]
    fn the_most_specific_level_wins_and_is_named() {
        let mut c = DetectorsConfig::default();
        c.tenants.insert(
            "acme".into(),
            TenantWorkTime {
                timezone: Some(chrono_tz::Asia::Shanghai),
                ..Default::default()
            },
        );
        let wt = WorkTime::from_config(&c);
        let s = wt.schedule("acme", None);
        assert_eq!(
            (s.tz, s.source),
            (chrono_tz::Asia::Shanghai, ScheduleSource::Tenant)
        );
        assert_eq!(wt.schedule("other", None).source, ScheduleSource::Default);
        // A holiday has no working hours.
        let h = DetectorsConfig {
            holidays: vec![NaiveDate::from_ymd_opt(2026, 1, 6).unwrap()],
            ..Default::default()
        };
        assert!(!WorkTime::from_config(&h)
            .schedule("x", None)
            .contains(utc("2026-01-06T10:00:00Z"), 0));
    }
}

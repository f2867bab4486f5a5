//! Working time: whose schedule applies (directory record, else tenant defaults, else global defaults)
//! and whether an instant falls inside it — in the user's local time, with DST, overnight windows
//! belonging to the day they start, optional grace and holidays.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;

use crate::config::DetectorsConfig;
use crate::model::DirectoryRecord;
use crate::time::{WorkDays, WorkHours};

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
    pub source: &'static str,
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
        let source = [s1, s2, s3]
            .into_iter()
            .find(|s| *s == "directory")
            .or([s1, s2, s3].into_iter().find(|s| *s == "tenant"))
            .unwrap_or("default");
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
fn pick<T>(r: Option<T>, tenant: Option<T>, global: Option<T>) -> (Option<T>, &'static str) {
    match (r, tenant) {
        (Some(v), _) => (Some(v), "directory"),
        (None, Some(v)) => (Some(v), "tenant"),
        _ => (global, "default"),
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

//! The directory (HR / identity) record contract (`schemas/directory-record.schema.json`).

use std::str::FromStr;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::fields::{clip, given, no_control, opt_string, req_string, timestamp};
use super::{object_error, precheck, RejectCode, Rejection};
use crate::model::{stable_id, DirectoryRecord, UserStatus};

const FIELDS: &[&str] = &[
    "user_id",
    "status",
    "effective_ts",
    "timezone",
    "work_hours",
    "work_days",
    "display_name",
    "email",
    "department",
    "role",
    "manager_id",
    "protected",
];

#[derive(Deserialize)]
struct RawRecord<'a> {
    #[serde(borrow)]
    user_id: Option<&'a RawValue>,
    #[serde(borrow)]
    status: Option<&'a RawValue>,
    #[serde(borrow)]
    effective_ts: Option<&'a RawValue>,
    #[serde(borrow)]
    timezone: Option<&'a RawValue>,
    #[serde(borrow)]
    work_hours: Option<&'a RawValue>,
    #[serde(borrow)]
    work_days: Option<&'a RawValue>,
    #[serde(borrow)]
    display_name: Option<&'a RawValue>,
    #[serde(borrow)]
    email: Option<&'a RawValue>,
    #[serde(borrow)]
    department: Option<&'a RawValue>,
    #[serde(borrow)]
    role: Option<&'a RawValue>,
    #[serde(borrow)]
    manager_id: Option<&'a RawValue>,
    #[serde(borrow)]
    protected: Option<&'a RawValue>,
    #[serde(borrow)]
    tenant: Option<&'a RawValue>,
}

/// Decodes and validates one directory record.
pub fn decode_directory(raw: &[u8], max_bytes: usize) -> Result<DirectoryRecord, Rejection> {
    let text = precheck(raw, max_bytes)?;
    let r: RawRecord = serde_json::from_str(text).map_err(|e| object_error(e, FIELDS))?;
    let user_id = req_string(r.user_id, "user_id")?;
    no_control(&user_id, "user_id")?;
    let status_text = req_string(r.status, "status")?;
    let status: UserStatus = status_text.parse().map_err(|_| {
        Rejection::new(
            RejectCode::BadValue("status"),
            format!(
                "`status` must be active, terminated or suspended, got {}",
                clip(&status_text)
            ),
        )
    })?;
    let effective_ts = match opt_string(r.effective_ts, "effective_ts")? {
        Some(s) => Some(timestamp(&s, "effective_ts")?),
        None => None,
    };
    let timezone = parsed(
        r.timezone,
        "timezone",
        |s| chrono_tz::Tz::from_str(s).ok(),
        "an IANA time zone name",
    )?;
    let work_hours = parsed(
        r.work_hours,
        "work_hours",
        |s| s.parse().ok(),
        "\"HH:MM-HH:MM\"",
    )?;
    let work_days = parsed(
        r.work_days,
        "work_days",
        |s| s.parse().ok(),
        "\"Mon-Fri\" or \"Mon,Tue,Sat\"",
    )?;
    let protected = match given(r.protected) {
        None => false,
        Some(v) => serde_json::from_str::<bool>(v.get()).map_err(|_| {
            Rejection::new(
                RejectCode::BadType("protected"),
                "`protected` must be true or false",
            )
        })?,
    };
    let text_field = |v, n| opt_string(v, n).map(Option::unwrap_or_default);
    let tenant = opt_string(r.tenant, "tenant")?;
    if let Some(t) = &tenant {
        no_control(t, "tenant")?;
    }
    let mut rec = DirectoryRecord {
        user_id,
        tenant,
        status,
        effective_ts,
        timezone,
        work_hours,
        work_days,
        display_name: text_field(r.display_name, "display_name")?,
        email: text_field(r.email, "email")?,
        department: text_field(r.department, "department")?,
        role: text_field(r.role, "role")?,
        manager_id: text_field(r.manager_id, "manager_id")?,
        protected,
        record_id: String::new(),
    };
    rec.record_id = record_id(&rec);
    Ok(rec)
}

/// Identity of a record version: its normalized content, so the same record delivered twice (in any
/// key order) is stored once, and every distinct version is kept.
fn record_id(r: &DirectoryRecord) -> String {
    let ts = r
        .effective_ts
        .map(|t| t.timestamp_millis().to_string())
        .unwrap_or_default();
    let tz = r.timezone.map(|t| t.name().to_owned()).unwrap_or_default();
    let wh = r.work_hours.map(|w| w.to_string()).unwrap_or_default();
    let wd = r.work_days.map(|w| w.to_string()).unwrap_or_default();
    let protected = [r.protected as u8];
    let mut parts: Vec<&[u8]> = vec![
        r.user_id.as_bytes(),
        r.status.as_str().as_bytes(),
        ts.as_bytes(),
        tz.as_bytes(),
        wh.as_bytes(),
        wd.as_bytes(),
        r.display_name.as_bytes(),
        r.email.as_bytes(),
        r.department.as_bytes(),
        r.role.as_bytes(),
        r.manager_id.as_bytes(),
        &protected,
    ];
    // Only when set, so the ids of records without a tenant stay what they always were.
    if let Some(t) = &r.tenant {
        parts.push(t.as_bytes());
    }
    stable_id(&parts)
}

fn parsed<T>(
    v: Option<&RawValue>,
    name: &'static str,
    parse: impl Fn(&str) -> Option<T>,
    expected: &str,
) -> Result<Option<T>, Rejection> {
    match opt_string(v, name)? {
        None => Ok(None),
        Some(s) => parse(s.trim()).map(Some).ok_or_else(|| {
            Rejection::new(
                RejectCode::BadValue(name),
                format!("`{name}` must be {expected}, got {}", clip(&s)),
            )
        }),
    }
}

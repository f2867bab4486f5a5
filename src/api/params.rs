//! Query-string validation: unknown parameters, bad dates, out-of-range limits and values outside a
//! closed set are 400s naming the parameter. Values reach `store` typed, and SQL only as bound
//! parameters.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::error::ApiError;
use crate::store::Cursor;

pub const DEFAULT_LIMIT: u64 = 100;
pub const MAX_LIMIT: u64 = 1000;

/// An optional `since` and `until`.
pub type Window = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

pub struct Params {
    map: HashMap<String, String>,
}

impl Params {
    /// Refuses parameters not in `allowed` (and repeated ones).
    pub fn new(raw: Option<&str>, allowed: &[&str]) -> Result<Self, ApiError> {
        let mut map = HashMap::new();
        for (k, v) in form_pairs(raw.unwrap_or_default()) {
            if !allowed.contains(&k.as_str()) {
                return Err(ApiError::BadRequest(format!(
                    "unknown parameter `{k}` (allowed: {})",
                    allowed.join(", ")
                )));
            }
            if map.insert(k.clone(), v).is_some() {
                return Err(ApiError::BadRequest(format!("parameter `{k}` given twice")));
            }
        }
        Ok(Params { map })
    }

    pub fn str(&self, k: &str) -> Option<&str> {
        self.map
            .get(k)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A value that must parse when the parameter is present at all (`?limit=` is an error, not "absent").
    fn typed(&self, k: &str) -> Option<&str> {
        self.map.get(k).map(String::as_str)
    }

    /// An RFC 3339 time, or a date (`2026-01-06`): its start, UTC — for `until` (exclusive) its
    /// end, so `since=2026-07-01&until=2026-09-30` is the whole quarter.
    pub fn time(&self, k: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
        self.typed(k)
            .map(|v| {
                let date = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").ok().map(|d| {
                    let d = if k == "until" { d.succ_opt().unwrap_or(d) } else { d };
                    d.and_hms_opt(0, 0, 0).expect("midnight").and_utc()
                });
                date.map(Ok)
                    .unwrap_or_else(|| DateTime::parse_from_rfc3339(v).map(|t| t.with_timezone(&Utc)))
                    .map_err(|_| ApiError::BadRequest(format!("`{k}` must be an RFC 3339 time with an offset, like 2026-01-06T00:00:00Z, or a date, like 2026-01-06")))
                    .and_then(|t| {
                        // Stored times are 1970..2106 (ClickHouse DateTime): outside, a query would
                        // silently wrap.
                        if (0..=u32::MAX as i64).contains(&t.timestamp()) {
                            Ok(t)
                        } else {
                            Err(ApiError::BadRequest(format!(
                                "`{k}` must be between 1970-01-01T00:00:00Z and 2106-02-07T06:28:15Z"
                            )))
                        }
                    })
            })
            .transpose()
    }

    /// `since` and `until`, with `since` not after `until`.
    pub fn window(&self) -> Result<Window, ApiError> {
        let (since, until) = (self.time("since")?, self.time("until")?);
        if let (Some(s), Some(u)) = (since, until) {
            if s > u {
                return Err(ApiError::BadRequest("`since` is after `until`".into()));
            }
        }
        Ok((since, until))
    }

    pub fn u64(&self, k: &str) -> Result<Option<u64>, ApiError> {
        self.typed(k)
            .map(|v| {
                v.parse::<u64>().map_err(|_| {
                    ApiError::BadRequest(format!("`{k}` must be a non-negative integer"))
                })
            })
            .transpose()
    }

    pub fn limit(&self, default: u64, max: u64) -> Result<u64, ApiError> {
        match self.u64("limit")? {
            None => Ok(default),
            Some(n) if (1..=max).contains(&n) => Ok(n),
            Some(_) => Err(ApiError::BadRequest(format!(
                "`limit` must be between 1 and {max}"
            ))),
        }
    }

    /// A value of a closed set (an enum's `FromStr`, whose error names the allowed values), if given.
    pub fn choice<T: std::str::FromStr<Err = String>>(
        &self,
        k: &str,
    ) -> Result<Option<T>, ApiError> {
        self.typed(k)
            .map(|v| {
                v.parse::<T>()
                    .map_err(|e| ApiError::BadRequest(format!("`{k}`: {e}")))
            })
            .transpose()
    }

    /// A comma list of a closed set's values (`severity=high,critical`); empty when not given.
    pub fn choices<T: std::str::FromStr<Err = String>>(&self, k: &str) -> Result<Vec<T>, ApiError> {
        self.typed(k)
            .map(|v| {
                v.split(',')
                    .map(|one| {
                        one.trim()
                            .parse::<T>()
                            .map_err(|e| ApiError::BadRequest(format!("`{k}`: {e}")))
                    })
                    .collect()
            })
            .unwrap_or(Ok(Vec::new()))
    }

    /// A comma list of texts; empty when not given.
    pub fn strings(&self, k: &str) -> Vec<String> {
        self.str(k)
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// An owned copy of a text parameter, if given and not empty.
    pub fn string(&self, k: &str) -> Option<String> {
        self.str(k).map(str::to_owned)
    }

    /// `cursor`, if given: it must be one this API returned.
    pub fn cursor(&self) -> Result<Option<Cursor>, ApiError> {
        self.str("cursor")
            .map(|c| {
                Cursor::decode(c).ok_or_else(|| {
                    ApiError::BadRequest("`cursor` is not a cursor returned by this API".into())
                })
            })
            .transpose()
    }
}

/// `application/x-www-form-urlencoded` pairs, percent-decoded.
fn form_pairs(q: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_is_percent_aware_and_bad_values_name_the_parameter() {
        let p = Params::new(Some("severity=urgent&cursor=zz"), &["severity", "cursor"]).unwrap();
        let e = p
            .choice::<crate::model::Severity>("severity")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`severity`") && e.contains("low, medium, high or critical"),
            "{e}"
        );
        assert!(p.cursor().is_err());
        assert!(Params::new(Some("x=1"), &["y"]).is_err());
        assert_eq!(
            form_pairs("a=x%20y&b=%2B1+2&c"),
            vec![
                ("a".into(), "x y".into()),
                ("b".into(), "+1 2".into()),
                ("c".into(), "".into())
            ]
        );
    }
}

//! Query-string validation: unknown parameters, bad dates and out-of-range limits are 400s naming the
//! parameter. Values only ever reach SQL as bound parameters.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::ApiError;

pub const DEFAULT_LIMIT: u64 = 100;
pub const MAX_LIMIT: u64 = 1000;

pub struct Params {
    map: HashMap<String, String>,
}

impl Params {
    /// Refuses parameters not in `allowed` (and repeated ones).
    pub fn new(raw: Option<&str>, allowed: &[&str]) -> Result<Self, ApiError> {
        let mut map = HashMap::new();
        for (k, v) in form_pairs(raw.unwrap_or_default()) {
            if !allowed.contains(&k.as_str()) {
                return Err(ApiError::BadRequest(format!("unknown parameter `{k}` (allowed: {})", allowed.join(", "))));
            }
            if map.insert(k.clone(), v).is_some() {
                return Err(ApiError::BadRequest(format!("parameter `{k}` given twice")));
            }
        }
        Ok(Params { map })
    }

    pub fn str(&self, k: &str) -> Option<&str> {
        self.map.get(k).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// A value that must parse when the parameter is present at all (`?limit=` is an error, not "absent").
    fn typed(&self, k: &str) -> Option<&str> {
        self.map.get(k).map(String::as_str)
    }

    pub fn time(&self, k: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
        self.typed(k)
            .map(|v| {
                DateTime::parse_from_rfc3339(v)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| ApiError::BadRequest(format!("`{k}` must be an RFC 3339 time with an offset, like 2026-01-06T00:00:00Z")))
            })
            .transpose()
    }

    pub fn u64(&self, k: &str) -> Result<Option<u64>, ApiError> {
        self.typed(k).map(|v| v.parse::<u64>().map_err(|_| ApiError::BadRequest(format!("`{k}` must be a non-negative integer")))).transpose()
    }

    pub fn limit(&self, default: u64, max: u64) -> Result<u64, ApiError> {
        match self.u64("limit")? {
            None => Ok(default),
            Some(n) if (1..=max).contains(&n) => Ok(n),
            Some(_) => Err(ApiError::BadRequest(format!("`limit` must be between 1 and {max}"))),
        }
    }

    /// One of `choices`, if given.
    pub fn choice(&self, k: &str, choices: &[&str]) -> Result<Option<String>, ApiError> {
        match self.typed(k) {
            None => Ok(None),
            Some(v) if choices.contains(&v) => Ok(Some(v.to_owned())),
            Some(v) => Err(ApiError::BadRequest(format!("`{k}` must be one of {}, got `{v}`", choices.join(", ")))),
        }
    }
}

/// `application/x-www-form-urlencoded` pairs, percent-decoded.
fn form_pairs(q: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(q.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// A keyset position: (seconds, milliseconds, id) of the last row of a page, newest-first order.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    pub ts: u32,
    pub ms: u16,
    pub id: String,
}

impl Cursor {
    /// Opaque text: hex of `ts.ms.id`.
    pub fn encode(&self) -> String {
        format!("{}.{}.{}", self.ts, self.ms, self.id).bytes().map(|b| format!("{b:02x}")).collect()
    }

    pub fn decode(s: &str) -> Result<Self, ApiError> {
        let bad = || ApiError::BadRequest("`cursor` is not a cursor returned by this API".into());
        // Hex digits only: slicing by byte pairs below must never split a multi-byte character.
        if s.len() % 2 != 0 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let bytes: Vec<u8> = (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16)).collect::<Result<_, _>>().map_err(|_| bad())?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        let mut it = text.splitn(3, '.');
        let ts = it.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
        let ms = it.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
        let id = it.next().ok_or_else(bad)?.to_owned();
        Ok(Cursor { ts, ms, id })
    }

}

/// A bound argument.
pub enum Arg {
    S(String),
    U32(u32),
    U16(u16),
    U64(u64),
}

/// SQL text with `?` placeholders and their arguments, bound in order (never spliced into the text).
pub struct Sql {
    pub text: String,
    args: Vec<Arg>,
}

impl Sql {
    pub fn new(text: &str) -> Self {
        Sql { text: text.to_owned(), args: Vec::new() }
    }

    pub fn push(&mut self, fragment: &str, args: impl IntoIterator<Item = Arg>) -> &mut Self {
        self.text.push_str(fragment);
        self.args.extend(args);
        self
    }

    /// ` AND column = ?` when the parameter is given.
    pub fn eq(&mut self, column: &str, value: Option<&str>) -> &mut Self {
        if let Some(v) = value {
            self.push(&format!(" AND {column} = ?"), [Arg::S(v.to_owned())]);
        }
        self
    }

    /// ` AND` event time at or after `t` (millisecond precision).
    pub fn since(&mut self, t: Option<DateTime<Utc>>) -> &mut Self {
        if let Some(t) = t {
            let (s, ms) = (t.timestamp() as u32, t.timestamp_subsec_millis() as u16);
            self.push(" AND (ts > toDateTime(?) OR (ts = toDateTime(?) AND ts_ms >= ?))", [Arg::U32(s), Arg::U32(s), Arg::U16(ms)]);
        }
        self
    }

    /// ` AND` event time before `t`.
    pub fn until(&mut self, t: Option<DateTime<Utc>>) -> &mut Self {
        if let Some(t) = t {
            let (s, ms) = (t.timestamp() as u32, t.timestamp_subsec_millis() as u16);
            self.push(" AND (ts < toDateTime(?) OR (ts = toDateTime(?) AND ts_ms < ?))", [Arg::U32(s), Arg::U32(s), Arg::U16(ms)]);
        }
        self
    }

    /// ` AND` strictly after the cursor's row in (ts, ts_ms, id) descending order.
    pub fn after(&mut self, c: Option<&Cursor>, id_column: &str) -> &mut Self {
        if let Some(c) = c {
            let frag = format!(" AND (ts < toDateTime(?) OR (ts = toDateTime(?) AND ts_ms < ?) OR (ts = toDateTime(?) AND ts_ms = ? AND {id_column} < ?))");
            self.push(&frag, [Arg::U32(c.ts), Arg::U32(c.ts), Arg::U16(c.ms), Arg::U32(c.ts), Arg::U16(c.ms), Arg::S(c.id.clone())]);
        }
        self
    }

    /// The query with every argument bound.
    pub fn query(&self, state: &super::AppState) -> clickhouse::query::Query {
        let mut q = state.query(&self.text);
        for a in &self.args {
            q = match a {
                Arg::S(v) => q.bind(v.as_str()),
                Arg::U32(v) => q.bind(*v),
                Arg::U16(v) => q.bind(*v),
                Arg::U64(v) => q.bind(*v),
            };
        }
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_decoding_is_percent_aware() {
        let c = Cursor { ts: 1_767_665_647, ms: 123, id: "a.b-c".into() };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        assert!(Cursor::decode("zz").is_err());
        // Found by schemathesis: non-ASCII input used to panic on a char boundary (a 500), now a 400.
        assert!(Cursor::decode("0\u{80}0").is_err());
        assert!(Cursor::decode("é1").is_err());
        assert_eq!(form_pairs("a=x%20y&b=%2B1+2&c"), vec![("a".into(), "x y".into()), ("b".into(), "+1 2".into()), ("c".into(), "".into())]);
    }
}

//! Decode stage: raw bytes → validated [`Event`](crate::model::Event) /
//! [`DirectoryRecord`](crate::model::DirectoryRecord), or a [`Rejection`] with a stable code that
//! becomes a dead letter. Pure functions: no I/O, no clocks.

mod directory;
mod event;
mod fields;
mod flat;
pub mod mapping;

pub use directory::decode_directory;
pub use event::decode_event;
pub(crate) use event::FIELDS;

use std::fmt;

/// Why a record was rejected. `Display` gives the stable code stored in `dead_letters.error_code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RejectCode {
    /// Larger than `[pipeline] max_record_bytes`.
    TooLarge,
    InvalidUtf8,
    InvalidJson,
    /// Objects/arrays nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// Valid JSON, but not an object.
    NotObject,
    /// The same known key twice in one object.
    DuplicateField(&'static str),
    /// A required field is absent or null.
    MissingField(&'static str),
    /// A required string field is "".
    EmptyField(&'static str),
    /// A field has the wrong JSON type (e.g. a number where a string belongs).
    BadType(&'static str),
    /// The event `ts` (or another named timestamp) is not RFC 3339 with an offset, or out of range.
    BadTimestamp(&'static str),
    /// `record_count` is negative, fractional, non-numeric or above 2^63.
    BadRecordCount,
    /// A field has the right type but a value outside its contract.
    BadValue(&'static str),
    /// A mapping (`--format`) accepted no variant, or found no value for a required field; the
    /// message names the mapping and the field.
    Unmapped,
}

impl fmt::Display for RejectCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejectCode::TooLarge => f.write_str("too_large"),
            RejectCode::InvalidUtf8 => f.write_str("invalid_utf8"),
            RejectCode::InvalidJson => f.write_str("invalid_json"),
            RejectCode::TooDeep => f.write_str("too_deep"),
            RejectCode::NotObject => f.write_str("not_object"),
            RejectCode::DuplicateField(n) => write!(f, "duplicate_field:{n}"),
            RejectCode::MissingField(n) => write!(f, "missing_field:{n}"),
            RejectCode::EmptyField(n) => write!(f, "empty_field:{n}"),
            RejectCode::BadType(n) => write!(f, "bad_type:{n}"),
            RejectCode::BadTimestamp("ts") => f.write_str("bad_timestamp"),
            RejectCode::BadTimestamp(n) => write!(f, "bad_timestamp:{n}"),
            RejectCode::BadRecordCount => f.write_str("bad_record_count"),
            RejectCode::BadValue(n) => write!(f, "bad_value:{n}"),
            RejectCode::Unmapped => f.write_str("unmapped"),
        }
    }
}

/// A rejected record: the stable code plus a message for humans.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Rejection {
    pub code: RejectCode,
    pub message: String,
}

impl Rejection {
    pub fn new(code: RejectCode, message: impl Into<String>) -> Self {
        Rejection {
            code,
            message: message.into(),
        }
    }
}

/// Checks shared by both contracts before any JSON parsing: size, UTF-8, object shape.
/// Returns the text to parse.
pub(crate) fn precheck(raw: &[u8], max_bytes: usize) -> Result<&str, Rejection> {
    if raw.len() > max_bytes {
        return Err(Rejection::new(
            RejectCode::TooLarge,
            format!("record is {} bytes, the limit is {max_bytes}", raw.len()),
        ));
    }
    let text = std::str::from_utf8(raw).map_err(|e| {
        Rejection::new(
            RejectCode::InvalidUtf8,
            format!("invalid UTF-8 at byte {}", e.valid_up_to()),
        )
    })?;
    match text.trim_start().as_bytes().first() {
        Some(b'{')
            if might_nest_deeper(text.as_bytes()) && nesting_depth(text.as_bytes()) > MAX_DEPTH =>
        {
            Err(Rejection::new(
                RejectCode::TooDeep,
                format!("JSON nested deeper than {MAX_DEPTH} levels"),
            ))
        }
        Some(b'{') => Ok(text),
        None => Err(Rejection::new(RejectCode::InvalidJson, "empty record")),
        Some(_) => Err(match serde_json::from_str::<serde::de::IgnoredAny>(text) {
            Ok(_) => Rejection::new(RejectCode::NotObject, "a record must be a JSON object"),
            Err(e) => Rejection::new(RejectCode::InvalidJson, e.to_string()),
        }),
    }
}

/// Deepest nesting a record may have; the contract needs 2 (`attributes`).
pub const MAX_DEPTH: usize = 32;

/// Cheap pre-filter (a vectorized count): fewer opening brackets than the limit cannot nest deeper.
/// `b | 0x20 == b'{'` holds for `{` (0x7b) and `[` (0x5b) only: one comparison per byte.
/// Counted in byte lanes, 255 bytes at a time (a `usize` count vectorizes two bytes per step).
fn might_nest_deeper(bytes: &[u8]) -> bool {
    let n: usize = bytes
        .chunks(255)
        .map(|c| c.iter().fold(0u8, |n, &b| n + u8::from(b | 0x20 == b'{')) as usize)
        .sum();
    n > MAX_DEPTH
}

/// The maximum depth of `{`/`[` nesting outside strings (one pass, no allocation).
fn nesting_depth(bytes: &[u8]) -> usize {
    let (mut depth, mut max, mut in_str, mut escaped) = (0usize, 0usize, false, false);
    for &b in bytes {
        if in_str {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'{' | b'[' => {
                depth += 1;
                max = max.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// Maps a serde_json error from parsing the top-level object to a rejection.
pub(crate) fn object_error(e: serde_json::Error, known: &[&'static str]) -> Rejection {
    use serde_json::error::Category;
    let msg = e.to_string();
    if e.classify() == Category::Data {
        if let Some(rest) = msg.strip_prefix("duplicate field `") {
            let name = rest.split('`').next().unwrap_or("");
            if let Some(n) = known.iter().find(|k| **k == name) {
                return Rejection::new(RejectCode::DuplicateField(n), msg);
            }
        }
    }
    Rejection::new(RejectCode::InvalidJson, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bracket_pre_count_counts_every_opening_bracket_across_chunks() {
        for n in [0, 1, 32, 33, 254, 255, 256, 600] {
            let text = format!(
                "{}{}",
                " ".repeat(250),
                "{[".repeat(n / 2) + &"[".repeat(n % 2)
            );
            let want = text.bytes().filter(|b| matches!(b, b'{' | b'[')).count() > MAX_DEPTH;
            assert_eq!(might_nest_deeper(text.as_bytes()), want, "{n}");
        }
    }
}

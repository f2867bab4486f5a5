//! The event contract's fast path: most records are one flat JSON object of plain strings (no
//! escapes), integers and literals, with at most a flat `attributes` object. Such a record is read
//! here in one pass over its bytes, without serde's machinery; anything else — an escape, a nested
//! value, a known field twice, a token out of place — returns `None`, and the record goes through
//! serde_json (`decode::event`), which decides it and words any rejection. A record read here gives
//! exactly what serde_json would give it (the unit tests below hold the two paths to each other over
//! every one-byte change of a set of records).

use super::event::FIELDS;

/// A known field's value, as read.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Tok<'a> {
    /// A string's contents (it had no escape).
    Str(&'a str),
    /// The JSON text of any other value (`record_count`'s number, `attributes`' object).
    Raw(&'a str),
}

/// The known fields of a flat record, by their index in [`FIELDS`] (`None`: absent or `null`).
pub(super) type Fields<'a> = [Option<Tok<'a>>; FIELDS.len()];

const RECORD_COUNT: usize = 6;
const ATTRIBUTES: usize = 11;

/// The known fields of `text` when it is a flat record this path reads, else `None`.
pub(super) fn scan(text: &str) -> Option<Fields<'_>> {
    let b = text.as_bytes();
    let mut out: Fields<'_> = [None; FIELDS.len()];
    let mut seen = 0u16;
    let mut i = ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        i += 1;
    } else {
        loop {
            let (key, j) = plain_string(text, i)?;
            i = ws(b, j);
            if b.get(i) != Some(&b':') {
                return None;
            }
            i = ws(b, i + 1);
            let slot = slot(key);
            let (tok, j) = match slot {
                Some(RECORD_COUNT) => scalar(text, i)?,
                Some(ATTRIBUTES) => attributes(text, i)?,
                Some(_) => match plain_string(text, i) {
                    Some((s, j)) => (Some(Tok::Str(s)), j),
                    None => (None, literal(b, i, b"null")?),
                },
                None => scalar(text, i)?,
            };
            if let Some(s) = slot {
                if seen & (1 << s) != 0 {
                    return None; // serde's `duplicate field` rejection
                }
                seen |= 1 << s;
                out[s] = tok;
            }
            i = ws(b, j);
            match b.get(i) {
                Some(b',') => i = ws(b, i + 1),
                Some(b'}') => {
                    i += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    (ws(b, i) == b.len()).then_some(out)
}

/// `key`'s index in [`FIELDS`]: one comparison, picked by length and first letter.
fn slot(key: &str) -> Option<usize> {
    let i = match (key.len(), key.as_bytes().first()?) {
        (2, b't') => 1,
        (2, b'i') => 7,
        (6, b'a') => 3,
        (6, b't') => 4,
        (7, b'u') => 2,
        (7, b'o') => 10,
        (8, _) => 0,
        (10, b'u') => 8,
        (10, b's') => 9,
        (10, b'a') => 11,
        (11, _) => 5,
        (12, _) => 6,
        _ => return None,
    };
    (FIELDS[i] == key).then_some(i)
}

/// The index after JSON whitespace from `i`.
fn ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = b.get(i) {
        i += 1;
    }
    i
}

/// A string at `i` without escapes or control characters: its contents and the index after it.
fn plain_string(text: &str, i: usize) -> Option<(&str, usize)> {
    let b = text.as_bytes();
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let mut j = i + 1;
    loop {
        match *b.get(j)? {
            b'"' => return Some((&text[i + 1..j], j + 1)),
            b'\\' | 0..=0x1f => return None,
            _ => j += 1,
        }
    }
}

/// `word` at `i`: the index after it.
fn literal(b: &[u8], i: usize, word: &[u8]) -> Option<usize> {
    b[i..].starts_with(word).then_some(i + word.len())
}

/// A plain string, a JSON number or a literal at `i`; `null` reads as `None`, anything else as its
/// JSON text.
fn scalar(text: &str, i: usize) -> Option<(Option<Tok<'_>>, usize)> {
    let b = text.as_bytes();
    let end = match *b.get(i)? {
        b'"' => plain_string(text, i)?.1,
        b'n' => return Some((None, literal(b, i, b"null")?)),
        b't' => literal(b, i, b"true")?,
        b'f' => literal(b, i, b"false")?,
        _ => number(b, i)?,
    };
    Some((Some(Tok::Raw(&text[i..end])), end))
}

/// A JSON number at `i` (`-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`): the index after it.
fn number(b: &[u8], mut i: usize) -> Option<usize> {
    let digits = |i: usize| i + b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    i = match b.get(i)? {
        b'0' => i + 1,
        b'1'..=b'9' => digits(i),
        _ => return None,
    };
    if b.get(i) == Some(&b'.') {
        let j = digits(i + 1);
        if j == i + 1 {
            return None;
        }
        i = j;
    }
    if let Some(b'e' | b'E') = b.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = b.get(i) {
            i += 1;
        }
        let j = digits(i);
        if j == i {
            return None;
        }
        i = j;
    }
    Some(i)
}

/// `attributes` at `i`: `null`, or an object of plain string keys and values (its JSON text, which
/// serde_json then reads into pairs exactly as on the other path).
fn attributes(text: &str, i: usize) -> Option<(Option<Tok<'_>>, usize)> {
    let b = text.as_bytes();
    if b.get(i) == Some(&b'n') {
        return Some((None, literal(b, i, b"null")?));
    }
    if b.get(i) != Some(&b'{') {
        return None;
    }
    let mut j = ws(b, i + 1);
    if b.get(j) != Some(&b'}') {
        loop {
            j = ws(b, plain_string(text, j)?.1);
            if b.get(j) != Some(&b':') {
                return None;
            }
            j = ws(b, plain_string(text, ws(b, j + 1))?.1);
            match b.get(j) {
                Some(b',') => j = ws(b, j + 1),
                Some(b'}') => break,
                _ => return None,
            }
        }
    }
    Some((Some(Tok::Raw(&text[i..=j])), j + 1))
}

#[cfg(test)]
#[path = "flat_tests.rs"]
mod tests;

//! Finding personal identifiers in text, each with a strict validator so ordinary numbers are left
//! alone: mainland China mobile numbers, resident identity numbers (GB 11643, ISO 7064 MOD 11-2),
//! bank card numbers (starting 2–6; Luhn, or UnionPay `62…` 16–19 digits) and e-mail addresses.
//! Pure functions.

use chrono::{Datelike, NaiveDate};

/// What an identifier is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    CnMobile,
    CnId,
    BankCard,
    Email,
    /// What a `[[privacy.rule]]` regex matched.
    Custom,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::CnMobile => "cn_mobile",
            Kind::CnId => "cn_id",
            Kind::BankCard => "bank_card",
            Kind::Email => "email",
            Kind::Custom => "custom",
        }
    }

    pub const ALL: [Kind; 4] = [Kind::CnMobile, Kind::CnId, Kind::BankCard, Kind::Email];
}

/// One identifier found: its byte range in the text, its kind, and its normal form (digits only,
/// an e-mail address lower-cased): the same person's number written two ways is one token.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub start: usize,
    pub end: usize,
    pub kind: Kind,
    pub normal: String,
}

/// Cheap test first: most strings have neither a run of 11 digits nor an `@`.
pub fn may_hold(s: &str) -> bool {
    let mut run = 0;
    for b in s.bytes() {
        match b {
            b'0'..=b'9' => {
                run += 1;
                if run >= 11 {
                    return true;
                }
            }
            b' ' | b'-' if run > 0 => {}
            b'@' => return true,
            _ => run = 0,
        }
    }
    false
}

/// Every identifier in `s` of the kinds in `kinds`, in order, not overlapping.
pub fn find(s: &str, kinds: &[Kind]) -> Vec<Found> {
    let mut out = Vec::new();
    if !may_hold(s) {
        return out;
    }
    let b = s.as_bytes();
    let numbers = kinds.iter().any(|k| *k != Kind::Email);
    let mut i = 0;
    while i < b.len() {
        if numbers && b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_alphanumeric()) {
            // Shorter than any identifier: passed over without building its digits.
            let (span, count) = digit_span(b, i);
            if count < 11 {
                i = span;
                continue;
            }
            let (end, digits) = number_at(b, i);
            // Not part of a longer word: the next byte is no letter or digit (an ID's final X counted).
            if end == b.len() || !b[end].is_ascii_alphanumeric() {
                if let Some(kind) = classify(&digits, kinds) {
                    out.push(Found {
                        start: i,
                        end,
                        kind,
                        normal: digits.to_ascii_uppercase(),
                    });
                    i = end;
                    continue;
                }
            }
            i = end.max(i + 1);
            continue;
        }
        if b[i] == b'@' && kinds.contains(&Kind::Email) {
            if let Some((start, end)) = email_at(b, i) {
                // An address found after a number already taken: keep order, no overlap.
                if out.last().is_none_or(|f: &Found| f.end <= start) {
                    out.push(Found {
                        start,
                        end,
                        kind: Kind::Email,
                        normal: s[start..end].to_ascii_lowercase(),
                    });
                }
                i = end;
                continue;
            }
        }
        i += 1;
    }
    out
}

/// Where the number at `i` ends and how many digits it has (separators as in [`number_at`]).
fn digit_span(b: &[u8], i: usize) -> (usize, usize) {
    let (mut j, mut n) = (i, 0);
    while j < b.len() {
        match b[j] {
            b'0'..=b'9' => {
                n += 1;
                j += 1;
            }
            b' ' | b'-' if n > 0 && j + 1 < b.len() && b[j + 1].is_ascii_digit() => j += 1,
            _ => break,
        }
    }
    (j.max(i + 1), n)
}

/// The digits from `i` on, single spaces or dashes between them allowed (`138 1234 5678`,
/// `6222-0202-…`), and a final `X` when 17 digits precede it (an ID's check character).
fn number_at(b: &[u8], i: usize) -> (usize, String) {
    let mut digits = String::new();
    let mut j = i;
    let mut end = i;
    while j < b.len() {
        match b[j] {
            c @ b'0'..=b'9' => {
                digits.push(c as char);
                j += 1;
                end = j;
            }
            b' ' | b'-' if j + 1 < b.len() && b[j + 1].is_ascii_digit() && !digits.is_empty() => {
                j += 1
            }
            b'X' | b'x' if digits.len() == 17 => {
                digits.push('X');
                end = j + 1;
                break;
            }
            _ => break,
        }
    }
    (end, digits)
}

fn classify(d: &str, kinds: &[Kind]) -> Option<Kind> {
    let on = |k| kinds.contains(&k);
    let n = d.len();
    if on(Kind::CnMobile) && is_cn_mobile(d) {
        return Some(Kind::CnMobile);
    }
    if on(Kind::CnId) && n == 18 && cn_id_valid(d) {
        return Some(Kind::CnId);
    }
    // Card numbers start 2–6 (Mastercard 2-series, Amex/JCB/Diners, Visa, Mastercard, UnionPay and
    // Discover): an epoch-milliseconds time (`17…`) that happens to pass Luhn is not one.
    let card = (13..=19).contains(&n)
        && d.bytes().all(|c| c.is_ascii_digit())
        && (b'2'..=b'6').contains(&d.as_bytes()[0]);
    if on(Kind::BankCard) && card && (luhn(d) || (d.starts_with("62") && n >= 16)) {
        return Some(Kind::BankCard);
    }
    None
}

/// 11 digits `1[3-9]…`, or with the country code `86` before them.
pub fn is_cn_mobile(d: &str) -> bool {
    let d = match d.len() {
        13 => match d.strip_prefix("86") {
            Some(rest) => rest,
            None => return false,
        },
        _ => d,
    };
    d.len() == 11
        && d.as_bytes()[0] == b'1'
        && (b'3'..=b'9').contains(&d.as_bytes()[1])
        && d.bytes().all(|c| c.is_ascii_digit())
}

/// The Luhn check of a digit string.
pub fn luhn(d: &str) -> bool {
    let mut sum = 0;
    for (i, c) in d.bytes().rev().enumerate() {
        let Some(v) = (c as char).to_digit(10) else {
            return false;
        };
        sum += if i % 2 == 1 {
            let x = v * 2;
            if x > 9 {
                x - 9
            } else {
                x
            }
        } else {
            v
        };
    }
    sum % 10 == 0
}

/// GB 11643: 17 digits (a birth date at 6..14 that exists and is not in the future), then the
/// ISO 7064 MOD 11-2 check character (`X` for 10).
pub fn cn_id_valid(d: &str) -> bool {
    let b = d.as_bytes();
    if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let date = NaiveDate::parse_from_str(&d[6..14], "%Y%m%d");
    let today = chrono::Utc::now().date_naive();
    if !date.is_ok_and(|t| t.year() >= 1900 && t <= today) {
        return false;
    }
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = b[..17]
        .iter()
        .zip(W)
        .map(|(c, w)| u32::from(c - b'0') * w)
        .sum();
    let check = b"10X98765432"[(sum % 11) as usize];
    b[17].to_ascii_uppercase() == check
}

/// The address around the `@` at `at`: a local part of `[A-Za-z0-9._%+-]`, a domain of labels
/// with a final one of two or more letters.
fn email_at(b: &[u8], at: usize) -> Option<(usize, usize)> {
    let local = |c: u8| c.is_ascii_alphanumeric() || b"._%+-".contains(&c);
    let mut start = at;
    while start > 0 && local(b[start - 1]) {
        start -= 1;
    }
    let mut end = at + 1;
    while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'.' || b[end] == b'-') {
        end += 1;
    }
    while end > at + 1 && b[end - 1] == b'.' {
        end -= 1; // a sentence's full stop
    }
    let domain = std::str::from_utf8(&b[at + 1..end]).ok()?;
    let tld = domain.rsplit('.').next()?;
    let ok = start < at
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.contains("..")
        && tld.len() >= 2
        && tld.bytes().all(|c| c.is_ascii_alphabetic());
    ok.then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<(Kind, String)> {
        find(s, &Kind::ALL)
            .into_iter()
            .map(|f| (f.kind, s[f.start..f.end].to_owned()))
            .collect()
    }

    #[test]
    fn identifiers_are_found_with_their_validators_and_ordinary_numbers_are_not() {
        assert_eq!(
            kinds("call 13812345678 now"),
            vec![(Kind::CnMobile, "13812345678".into())]
        );
        assert_eq!(
            kinds("tel:138-1234-5678."),
            vec![(Kind::CnMobile, "138-1234-5678".into())]
        );
        assert_eq!(
            kinds("+86 13812345678"),
            vec![(Kind::CnMobile, "86 13812345678".into())]
        );
        // 11 digits not starting 1[3-9], and a mobile inside a longer run, are left alone.
        assert!(kinds("order 12812345678").is_empty());
        assert!(kinds("id 913812345678123").is_empty());
        // A valid resident ID (check character computed by MOD 11-2), with and without X.
        assert_eq!(
            kinds("11010519491231002X"),
            vec![(Kind::CnId, "11010519491231002X".into())]
        );
        assert_eq!(kinds("身份证 110105194912310021 号"), vec![]);
        assert!(kinds("110105194913310025").is_empty(), "month 13");
        // Cards: Luhn-valid, or UnionPay 62 with 16–19 digits.
        assert_eq!(
            kinds("card 4111 1111 1111 1111"),
            vec![(Kind::BankCard, "4111 1111 1111 1111".into())]
        );
        assert!(kinds("4111111111111112").is_empty(), "fails Luhn");
        assert_eq!(
            kinds("6222020200001234567"),
            vec![(Kind::BankCard, "6222020200001234567".into())]
        );
        assert_eq!(
            kinds("mail Li.Lei+crm@Example.com.cn."),
            vec![(Kind::Email, "Li.Lei+crm@Example.com.cn".into())]
        );
        assert!(kinds("user@localhost and a@b.c1").is_empty());
        assert!(kinds("amount 1234567890, ts 1767898620005").is_empty());
        // Epoch milliseconds that pass Luhn are still not cards.
        let luhn_times: Vec<String> = (1_767_898_620_000u64..1_767_898_620_100)
            .map(|t| t.to_string())
            .filter(|t| luhn(t))
            .collect();
        assert!(!luhn_times.is_empty());
        assert!(luhn_times
            .iter()
            .all(|t| kinds(&format!("at {t}")).is_empty()));
        assert!(!may_hold("plain text with 12345 and no at-sign"));
    }

    #[test]
    fn the_check_character_and_luhn_are_computed() {
        assert!(cn_id_valid("11010519491231002X"));
        assert!(!cn_id_valid("110105194912310021"));
        assert!(luhn("79927398713"));
        assert!(!luhn("79927398710"));
        assert!(is_cn_mobile("8613912345678") && !is_cn_mobile("12912345678"));
    }
}

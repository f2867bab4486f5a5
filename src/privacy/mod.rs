//! De-identification (日志脱敏) of the personal data CRM events carry, right after decoding, before an
//! event reaches detectors' evidence, ClickHouse, the alerts topic, notifications, exports or logs.
//! Identity fields custos works with (`user_id`, `ip`, `tenant`, ids) are never rewritten; every
//! `attributes` value (whole, and inside free text), `user_agent`, and dead-letter payloads are.
//!
//! Layout: [`detect`] (the built-in identifiers and their validators, pure); this file (the rules of
//! `[privacy]`, the actions, and where they apply).

pub mod detect;

use std::borrow::Cow;

use anyhow::Context;
use hmac::{Hmac, Mac};
use regex::Regex;
use sha2::Sha256;

use crate::config::privacy::{PrivacyAction, PrivacyConfig, Validator};
use crate::model::Event;
use detect::{Found, Kind};

/// The compiled `[privacy]` section.
pub struct Redactor {
    builtin: Vec<Kind>,
    action: PrivacyAction,
    rules: Vec<(Regex, Option<Validator>, PrivacyAction)>,
    /// `attributes.<name>` (or `user_agent` as `None`) and its action.
    fields: Vec<(Option<String>, PrivacyAction)>,
    key: Option<Vec<u8>>,
}

impl Redactor {
    /// `None` when `[privacy] enabled = false`.
    pub fn build(cfg: &PrivacyConfig) -> anyhow::Result<Option<Redactor>> {
        if !cfg.enabled {
            return Ok(None);
        }
        let key = match (cfg.key.expose(), cfg.key_file.as_str()) {
            ("", "") => None,
            ("", file) => Some(
                std::fs::read_to_string(file)
                    .with_context(|| format!("reading [privacy] key_file {file}"))?
                    .trim()
                    .as_bytes()
                    .to_vec(),
            ),
            (k, _) => Some(k.as_bytes().to_vec()),
        };
        if key.as_ref().is_some_and(|k| k.len() < 16) {
            anyhow::bail!("[privacy] key: at least 16 bytes");
        }
        let rules = cfg
            .rule
            .iter()
            .map(|r| {
                Regex::new(&r.regex)
                    .map(|re| (re, r.validator, r.action.unwrap_or(cfg.action)))
                    .with_context(|| format!("[[privacy.rule]] `{}`", r.name))
            })
            .collect::<anyhow::Result<_>>()?;
        let fields = cfg
            .field
            .iter()
            .map(|f| {
                let name = f.path.strip_prefix("attributes.").map(str::to_owned);
                (name, f.action.unwrap_or(cfg.action))
            })
            .collect();
        Ok(Some(Redactor {
            builtin: Kind::ALL
                .into_iter()
                .filter(|k| !cfg.disable.iter().any(|d| d == k.name()))
                .collect(),
            action: cfg.action,
            rules,
            fields,
            key,
        }))
    }

    /// `hmac:<hex>` of `value` (after the normal form of the identifier it is, if any): the token
    /// `hash` writes, for searching. `None` without a key.
    pub fn token(&self, value: &str) -> Option<String> {
        let key = self.key.as_ref()?;
        let found = detect::find(value, &Kind::ALL);
        let normal = match found.as_slice() {
            [one] if one.start == 0 && one.end == value.len() => one.normal.clone(),
            _ => value.trim().to_owned(),
        };
        Some(hmac_token(key, &normal))
    }

    /// The text with every identifier replaced by its action's form.
    pub fn text<'a>(&self, s: &'a str) -> Cow<'a, str> {
        let mut hits: Vec<(Found, PrivacyAction)> = detect::find(s, &self.builtin)
            .into_iter()
            .map(|f| (f, self.action))
            .collect();
        for (re, validator, action) in &self.rules {
            for m in re.find_iter(s) {
                let ok = match validator {
                    None => true,
                    Some(Validator::Luhn) => detect::luhn(
                        &m.as_str()
                            .chars()
                            .filter(char::is_ascii_digit)
                            .collect::<String>(),
                    ),
                    Some(Validator::CnId) => detect::cn_id_valid(&m.as_str().to_ascii_uppercase()),
                };
                let overlaps = hits
                    .iter()
                    .any(|(f, _)| f.start < m.end() && m.start() < f.end);
                if ok && !overlaps && !m.as_str().is_empty() {
                    let f = Found {
                        start: m.start(),
                        end: m.end(),
                        kind: Kind::Custom,
                        normal: m.as_str().to_owned(),
                    };
                    hits.push((f, *action));
                }
            }
        }
        if hits.is_empty() {
            return Cow::Borrowed(s);
        }
        hits.sort_by_key(|(f, _)| f.start);
        let mut out = String::with_capacity(s.len());
        let mut at = 0;
        for (f, action) in &hits {
            out.push_str(&s[at..f.start]);
            out.push_str(&self.replace(f, &s[f.start..f.end], *action));
            at = f.end;
        }
        out.push_str(&s[at..]);
        Cow::Owned(out)
    }

    fn replace(&self, f: &Found, original: &str, action: PrivacyAction) -> String {
        match (action, &self.key) {
            (PrivacyAction::Drop, _) => String::new(),
            (PrivacyAction::Hash, Some(key)) => hmac_token(key, &f.normal),
            // No key (refused by the config check; never clear text): mask.
            _ => mask(f.kind, original, &f.normal),
        }
    }

    /// A whole value under a named field.
    fn whole(&self, v: &str, action: PrivacyAction) -> Option<String> {
        match (action, &self.key) {
            (PrivacyAction::Drop, _) => None,
            (PrivacyAction::Hash, Some(key)) => Some(hmac_token(key, v.trim())),
            _ => Some(mask_chars(v, 1, 1)),
        }
    }

    /// De-identifies an event in place: named fields whole, then every attribute value and the
    /// user agent scanned.
    pub fn event(&self, e: &mut Event) {
        let mut dropped = false;
        for (k, v) in e.attributes.iter_mut() {
            match self
                .fields
                .iter()
                .find(|(n, _)| n.as_deref() == Some(k.as_str()))
            {
                Some((_, action)) => match self.whole(v, *action) {
                    Some(w) => *v = w,
                    None => {
                        k.clear(); // removed below
                        dropped = true;
                    }
                },
                None => {
                    // Unchanged values stay where they are: no copy.
                    if let Cow::Owned(t) = self.text(v) {
                        *v = t;
                    }
                }
            }
        }
        if dropped {
            e.attributes.retain(|(k, _)| !k.is_empty());
        }
        if let Some((_, action)) = self.fields.iter().find(|(n, _)| n.is_none()) {
            e.user_agent = self
                .whole(&e.user_agent, *action)
                .unwrap_or_default()
                .into();
        } else if let Cow::Owned(ua) = self.text(&e.user_agent) {
            e.user_agent = ua.into();
        }
    }

    /// A dead letter's bytes: valid UTF-8 is scanned; other bytes are kept as they are.
    pub fn bytes(&self, raw: Vec<u8>) -> Vec<u8> {
        match std::str::from_utf8(&raw) {
            Ok(s) => match self.text(s) {
                Cow::Owned(t) => t.into_bytes(),
                Cow::Borrowed(_) => raw,
            },
            Err(_) => raw,
        }
    }
}

fn hmac_token(key: &[u8], value: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(value.as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("hmac:{hex}")
}

/// `138****5678`, `110105********002X`, `622202*********4567`, `l***@example.com`.
fn mask(kind: Kind, original: &str, normal: &str) -> String {
    match kind {
        Kind::CnMobile => mask_chars(&normal[normal.len() - 11..], 3, 4),
        Kind::CnId => mask_chars(normal, 6, 4),
        Kind::BankCard => mask_chars(normal, 6, 4),
        Kind::Email => match original.split_once('@') {
            Some((local, domain)) => format!("{}***@{domain}", local.chars().next().unwrap_or('*')),
            None => mask_chars(original, 1, 1),
        },
        Kind::Custom => mask_chars(original, 2, 2),
    }
}

/// Keeps `head` and `tail` characters, `*` for the rest (all `*` when too short to keep any).
fn mask_chars(s: &str, head: usize, tail: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= head + tail + 1 {
        return "*".repeat(chars.len().max(1));
    }
    let mut out: String = chars[..head].iter().collect();
    out.push_str(&"*".repeat(chars.len() - head - tail));
    out.extend(&chars[chars.len() - tail..]);
    out
}

#[cfg(test)]
mod tests;

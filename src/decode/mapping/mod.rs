//! Mappings: a CRM's own records (Salesforce, Dynamics 365, OCSF, …) read into the event contract by
//! a data file instead of code. A mapping finds the record's root (the envelope), picks a variant by
//! a discriminator (a Salesforce stream, an OCSF `class_uid`), fills each contract field from the
//! first source that has a value, keeps what it did not read as `attributes`, and checks the result
//! by the native decoder's rules, so every contract check applies. A record no variant accepts, or
//! without a required field, is a dead letter `unmapped` naming the mapping and the field.
//!
//! Layout: `spec` (the file format) → `compile` (checks, and the `shape`: a trie of every path the
//! mapping reads, which guides a one-pass parse that builds values only at the paths' ends; a
//! byte-level pass, `shape::scan`, reads the plain records and leaves the rest to serde's) →
//! `value` (sources and their transforms) → `mapped` (the fields found, checked as an event).
//! `tree` is the JSON value type the parse gives at a path's end.

mod compile;
pub mod fixtures;
mod mapped;
mod shape;
mod spec;
mod times;
mod tree;
mod value;

use std::borrow::Cow;
use std::fmt::Write;

use chrono_tz::Tz;
use regex::Regex;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

pub use spec::MappingSpec;
use spec::Unmapped;

/// The contract fields a mapping fills by name (`attributes` is built: unmapped fields and
/// `attributes.NAME` sources).
fn contract_fields() -> impl Iterator<Item = &'static &'static str> {
    super::FIELDS.iter().filter(|f| **f != "attributes")
}
pub use mapped::Mapped;
use shape::{At, Shape};
use times::parse_time;
use tree::Node;
use value::{text, Source};

use super::event::FIELDS;
use super::{precheck, RejectCode, Rejection};
use crate::model::Event;

/// The mappings built into the binary: `(name, file text)`.
pub const PRESETS: &[(&str, &str)] = &[
    ("ocsf", include_str!("../../../mappings/ocsf.toml")),
    (
        "salesforce-rtem",
        include_str!("../../../mappings/salesforce-rtem.toml"),
    ),
    ("m365-crm", include_str!("../../../mappings/m365-crm.toml")),
    (
        "salesforce-elf",
        include_str!("../../../mappings/salesforce-elf.toml"),
    ),
    ("wukong", include_str!("../../../mappings/wukong.toml")),
];

/// An attribute value kept from an unmapped field is cut to this many bytes, and at most
/// [`MAX_KEPT`] fields are kept.
const MAX_KEPT_BYTES: usize = 1024;
const MAX_KEPT: usize = 64;

/// What an input says about its records that the records may not: the tenant (Salesforce payloads
/// carry no org id), the timezone of times written without an offset, the stream of bare payloads.
#[derive(Debug, Clone)]
pub struct InputContext {
    pub tenant: Option<String>,
    pub timezone: Tz,
    pub stream: Option<String>,
}

impl Default for InputContext {
    fn default() -> Self {
        InputContext {
            tenant: None,
            timezone: Tz::UTC,
            stream: None,
        }
    }
}

/// A compiled mapping.
#[derive(Debug)]
pub struct Mapping {
    pub name: String,
    /// What the mapping reads of a record.
    shape: Shape,
    /// The envelope candidates' roots, in order.
    envelope: Vec<At>,
    /// Where the discriminator's paths are, tried in order: one place for a path read from the raw
    /// record, else one per envelope root.
    discriminator: Vec<Vec<At>>,
    variants: Vec<Variant>,
    unmapped: Unmapped,
    /// The allowlist of unmapped fields kept (empty: all).
    keep: Vec<String>,
}

#[derive(Debug)]
struct Variant {
    name: String,
    test: Test,
    fields: Vec<(mapped::Field, Vec<Source>)>,
    attrs: Vec<(String, Vec<Source>)>,
    /// The dedup key: records sharing its value are one event (one id).
    dedup: Vec<Source>,
    /// The root's keys some source reads (never kept as unmapped attributes).
    read_keys: Vec<String>,
    /// The same, as shape nodes (by index).
    read_nodes: Vec<bool>,
    /// `attributes.source`: `<mapping>/<variant>`.
    source: String,
}

#[derive(Debug)]
enum Test {
    Any,
    Eq(Vec<String>),
    Prefix(String),
    /// A regex that is a literal: `LIT$` and `LIT`.
    Suffix(String),
    Contains(String),
    Regex(Regex),
}

impl Test {
    /// Whether a variant takes a record whose discriminator is `key`.
    fn accepts(&self, key: Option<&str>) -> bool {
        match (self, key) {
            (Test::Any, _) => true,
            (_, None) => false,
            (Test::Eq(vals), Some(k)) => vals.iter().any(|x| x == k),
            (Test::Prefix(p), Some(k)) => k.starts_with(p.as_str()),
            (Test::Suffix(p), Some(k)) => k.ends_with(p.as_str()),
            (Test::Contains(p), Some(k)) => k.contains(p.as_str()),
            (Test::Regex(r), Some(k)) => r.is_match(k),
        }
    }
}

impl Mapping {
    /// A built-in mapping by name.
    pub fn preset(name: &str) -> Option<Result<Mapping, Vec<String>>> {
        PRESETS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, text)| Mapping::parse(text))
    }

    /// Parses and compiles a mapping file, reporting every problem at once.
    pub fn parse(text: &str) -> Result<Mapping, Vec<String>> {
        let spec: MappingSpec = toml::from_str(text).map_err(|e| vec![e.to_string()])?;
        Mapping::compile(&spec)
    }

    /// Whether an unmapped root field `k` is kept: on the allowlist (if any) and not named by an
    /// `attributes.NAME` source.
    fn wants(&self, k: &str, named: &[(String, String)]) -> bool {
        (self.keep.is_empty() || self.keep.iter().any(|x| x == k))
            && !named.iter().any(|(n, _)| n == k)
    }

    /// `<mapping>:<text>` where the text is short enough for an event id, else `<mapping>:` and a
    /// hash of `bytes`.
    fn id_of(&self, bytes: &[u8], text: Option<&str>) -> String {
        let mut id = String::with_capacity(self.name.len() + 33);
        id.push_str(&self.name);
        id.push(':');
        match text {
            Some(t) if id.len() + t.len() <= super::event::MAX_EVENT_ID => id.push_str(t),
            _ => {
                for b in &Sha256::digest(bytes)[..16] {
                    let _ = write!(id, "{b:02x}");
                }
            }
        }
        id
    }

    fn unmapped(&self, msg: String) -> Rejection {
        Rejection::new(
            RejectCode::Unmapped,
            format!("mapping `{}`: {msg}", self.name),
        )
    }

    /// One raw record → the contract fields it gives, before the contract's checks.
    pub fn map<'a>(
        &'a self,
        raw: &'a [u8],
        max_bytes: usize,
        ctx: &'a InputContext,
    ) -> Result<Mapped<'a>, Rejection> {
        let text_in = precheck(raw, max_bytes)?;
        let bad = |e: serde_json::Error| Rejection::new(RejectCode::InvalidJson, e.to_string());
        let choose = |n: &Node<'_>| {
            let key = text(n)?;
            self.variants
                .iter()
                .position(|v| v.test.accepts(Some(&key)))
        };
        let mut rec = self.shape.parse(text_in, Some(&choose)).map_err(bad)?;
        if rec.unsure {
            rec = self.shape.parse(text_in, None).map_err(bad)?;
        }
        let env = self
            .envelope
            .iter()
            .position(|at| rec.is_object(at))
            .ok_or_else(|| self.unmapped("no envelope root is an object".into()))?;
        let key = match self.discriminator.is_empty() {
            true => None,
            false => self
                .discriminator
                .iter()
                .find_map(|ats| rec.value(&ats[env.min(ats.len() - 1)]).and_then(text))
                .or_else(|| ctx.stream.as_deref().map(Cow::Borrowed)),
        };
        let v =
            self.variants
                .iter()
                .find(|v| v.test.accepts(key.as_deref()))
                .ok_or_else(|| {
                    self.unmapped(format!(
                        "no variant accepts {}",
                        key.as_deref().map_or(
                            "a record without a discriminator".into(),
                            |k| format!("`{}`", super::fields::clip(k))
                        )
                    ))
                })?;
        let mut out = Mapped::new(v.attrs.len() + 1);
        for (field, sources) in &v.fields {
            let Some((src, val)) = sources
                .iter()
                .find_map(|s| s.read(&rec, env).filter(|x| !x.is_empty()).map(|x| (s, x)))
            else {
                continue;
            };
            match (*field, src.time) {
                (mapped::TS, Some(f)) => match parse_time(&val, f, ctx.timezone) {
                    Some(t) => out.ts = Some(t),
                    None => {
                        return Err(Rejection::new(
                            RejectCode::BadTimestamp("ts"),
                            format!(
                                "mapping `{}/{}`: `{}` is not a time ({f:?})",
                                self.name,
                                v.name,
                                super::fields::clip(&val)
                            ),
                        ))
                    }
                },
                _ => out.set(*field, val),
            }
        }
        for r in [mapped::TS, mapped::USER_ID, mapped::ACTION] {
            if !out.has(r) {
                return Err(self.unmapped(format!("`{}` has no value for `{}`", v.name, FIELDS[r])));
            }
        }
        if out.get(mapped::TENANT).is_none() {
            if let Some(t) = &ctx.tenant {
                out.set(mapped::TENANT, Cow::Borrowed(t));
            }
        }
        let dedup = v
            .dedup
            .iter()
            .find_map(|s| s.read(&rec, env).filter(|x| !x.is_empty()));
        if let Some(key) = dedup {
            // One event for every record sharing the key: its id is the key's; each record's own id
            // is kept as an attribute.
            let id = self.id_of(key.as_bytes(), Some(&key));
            if let Some(own) = out.take(mapped::EVENT_ID) {
                out.set_attribute("source_event_id", own.into_owned());
            }
            out.set(mapped::EVENT_ID, Cow::Owned(id));
        } else if out.get(mapped::EVENT_ID).is_none() {
            out.set(mapped::EVENT_ID, Cow::Owned(self.id_of(raw, None)));
        }
        out.set_attribute("source", v.source.clone());
        for (name, sources) in &v.attrs {
            if let Some(x) = sources
                .iter()
                .find_map(|s| s.read(&rec, env).filter(|x| !x.is_empty()))
            {
                out.set_attribute(name, x.into_owned());
            }
        }
        if self.unmapped == Unmapped::Keep {
            let named = out.attributes.len();
            let mut kept = Vec::new();
            let root = &self.envelope[env];
            if root.rest.is_empty() && !self.shape.is_leaf(root.node) {
                // The root's entries as the parse listed them: each key once (its last value).
                let entries = &rec.entries;
                for (i, (node, k, child, entry)) in entries.iter().enumerate() {
                    if kept.len() == MAX_KEPT {
                        break;
                    }
                    if *node != root.node
                        || child.is_some_and(|c| v.read_nodes[c])
                        || !self.wants(k, &out.attributes[..named])
                        || entries[i + 1..]
                            .iter()
                            .any(|later| later.0 == root.node && later.1 == *k)
                    {
                        continue;
                    }
                    kept.push((k.as_ref(), rec.entry_value(entry)));
                }
            } else if let Some(node) = rec.value(root) {
                for (k, val) in node.entries() {
                    if kept.len() == MAX_KEPT {
                        break;
                    }
                    if v.read_keys.iter().any(|r| r == k)
                        || !self.wants(k, &out.attributes[..named])
                    {
                        continue;
                    }
                    kept.push((k, Some(Cow::Borrowed(val))));
                }
            }
            let kept: Vec<(String, String)> = kept
                .into_iter()
                .filter_map(|(k, val)| Some((k.to_owned(), kept_text(&*val?)?)))
                .collect();
            for (k, s) in kept {
                out.set_attribute(&k, s);
            }
        }
        Ok(out)
    }

    /// One raw record → the contract's JSON object (what `mappings try` prints and fixtures hold).
    pub fn to_contract(
        &self,
        raw: &[u8],
        max_bytes: usize,
        ctx: &InputContext,
    ) -> Result<Map<String, Value>, Rejection> {
        Ok(self.map(raw, max_bytes, ctx)?.to_contract())
    }

    /// One raw record → a validated event: the native decoder's checks on the mapped fields.
    pub fn decode(
        &self,
        raw: &[u8],
        max_bytes: usize,
        ctx: &InputContext,
    ) -> Result<Event, Rejection> {
        self.map(raw, max_bytes, ctx)?.validate()
    }
}

/// An unmapped field's attribute value: a string as it is, anything else as JSON, cut to
/// [`MAX_KEPT_BYTES`]; null is not kept.
fn kept_text(val: &Node<'_>) -> Option<String> {
    let mut s = match val {
        Node::Null => return None,
        Node::Str(s) => s.to_string(),
        other => other.to_string(),
    };
    if s.len() > MAX_KEPT_BYTES {
        let mut end = MAX_KEPT_BYTES;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    Some(s)
}

/// A mapped object through the native decoder: the event it would store.
pub fn validate(obj: &Map<String, Value>) -> Result<Event, Rejection> {
    let bytes = serde_json::to_vec(obj).expect("a JSON object serialises");
    super::decode_event(&bytes, usize::MAX)
}

#[cfg(test)]
mod tests;

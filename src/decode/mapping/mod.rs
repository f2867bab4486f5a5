//! Mappings: a CRM's own records (Salesforce, Dynamics 365, OCSF, …) read into the event contract by
//! a data file instead of code. A mapping finds the record's root (the envelope), picks a variant by
//! a discriminator (a Salesforce stream, an OCSF `class_uid`), fills each contract field from the
//! first source that has a value, keeps what it did not read as `attributes`, and hands the result
//! to the native decoder, so every contract check applies. A record no variant accepts, or without a
//! required field, is a dead letter `unmapped` naming the mapping and the field.

pub mod fixtures;
mod spec;
mod tree;
mod value;

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt::Write;

use chrono_tz::Tz;
use regex::Regex;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

pub use spec::MappingSpec;
use spec::{SourceSpec, Unmapped, REQUIRED};

/// The contract fields a mapping fills by name (`attributes` is built: unmapped fields and
/// `attributes.NAME` sources).
fn contract_fields() -> impl Iterator<Item = &'static &'static str> {
    super::FIELDS.iter().filter(|f| **f != "attributes")
}
use tree::Node;
use value::{get, parse_path, parse_time, text, Source, Step};

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
    envelope: Vec<Vec<Step>>,
    /// `(read from the raw record, path)`, tried in order.
    discriminator: Vec<(bool, Vec<Step>)>,
    variants: Vec<Variant>,
    unmapped: Unmapped,
    /// The allowlist of unmapped fields kept (empty: all).
    keep: HashSet<String>,
}

#[derive(Debug)]
struct Variant {
    name: String,
    test: Test,
    fields: Vec<(&'static str, Vec<Source>)>,
    attrs: Vec<(String, Vec<Source>)>,
    read_keys: HashSet<String>,
}

#[derive(Debug)]
enum Test {
    Any,
    Eq(Vec<String>),
    Prefix(String),
    Regex(Regex),
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

    pub fn compile(s: &MappingSpec) -> Result<Mapping, Vec<String>> {
        let mut errs = Vec::new();
        let path = |p: &str, errs: &mut Vec<String>| parse_path(p).map_err(|e| errs.push(e)).ok();
        let envelope = if s.envelope.is_empty() {
            vec![Vec::new()]
        } else {
            s.envelope
                .iter()
                .filter_map(|p| path(p, &mut errs))
                .collect()
        };
        let discriminator: Vec<(bool, Vec<Step>)> = s
            .discriminator
            .iter()
            .flat_map(|d| std::iter::once(&d.path).chain(&d.also))
            .filter_map(|d| match d.strip_prefix('/') {
                Some(p) => path(p, &mut errs).map(|p| (true, p)),
                None => path(d, &mut errs).map(|p| (false, p)),
            })
            .collect();
        if s.variants.is_empty() {
            errs.push("a mapping needs at least one `[[variant]]`".into());
        }
        let mut variants = Vec::new();
        for v in &s.variants {
            let at = format!("variant `{}`", v.name);
            let test = match (v.eq.is_empty(), &v.prefix, &v.regex) {
                (true, None, None) => Test::Any,
                (false, None, None) => Test::Eq(v.eq.clone()),
                (true, Some(p), None) => Test::Prefix(p.clone()),
                (true, None, Some(r)) => match Regex::new(r) {
                    Ok(r) => Test::Regex(r),
                    Err(e) => {
                        errs.push(format!("{at}: bad regex: {e}"));
                        Test::Any
                    }
                },
                _ => {
                    errs.push(format!("{at}: at most one of `eq`, `prefix`, `regex`"));
                    Test::Any
                }
            };
            if s.discriminator.is_none() && !matches!(test, Test::Any) {
                errs.push(format!("{at}: a test without a `[discriminator]`"));
            }
            let mut merged: std::collections::BTreeMap<&str, &Vec<SourceSpec>> =
                s.fields.iter().map(|(k, v)| (k.as_str(), v)).collect();
            merged.extend(v.fields.iter().map(|(k, v)| (k.as_str(), v)));
            let (mut fields, mut attrs, mut read_keys) = (Vec::new(), Vec::new(), HashSet::new());
            for (field, sources) in merged {
                let compiled: Vec<Source> = sources
                    .iter()
                    .enumerate()
                    .filter_map(|(i, src)| {
                        Source::compile(
                            src,
                            &format!("{at}, `{field}` source {}", i + 1),
                            &mut errs,
                        )
                    })
                    .collect();
                read_keys.extend(
                    compiled
                        .iter()
                        .flat_map(|c| c.top_keys().map(str::to_owned)),
                );
                if let Some(name) = field.strip_prefix("attributes.") {
                    attrs.push((name.to_owned(), compiled));
                } else if let Some(f) = contract_fields().find(|f| **f == field) {
                    if *f == "ts" && compiled.iter().any(|c| c.time.is_none()) {
                        errs.push(format!("{at}: every `ts` source needs a `time` format"));
                    }
                    fields.push((*f, compiled));
                } else {
                    errs.push(format!(
                        "{at}: `{field}` is not a contract field ({}, or attributes.NAME)",
                        contract_fields().copied().collect::<Vec<_>>().join(", ")
                    ));
                }
            }
            for r in REQUIRED {
                if !fields.iter().any(|(f, _)| f == r) {
                    errs.push(format!("{at}: no source for the required `{r}`"));
                }
            }
            for (raw, p) in &discriminator {
                if let (false, Some(Step::Key(k))) = (raw, p.first()) {
                    read_keys.insert(k.clone());
                }
            }
            variants.push(Variant {
                name: v.name.clone(),
                test,
                fields,
                attrs,
                read_keys,
            });
        }
        if s.unmapped == Unmapped::Drop && !s.keep.is_empty() {
            errs.push("`keep` lists unmapped fields to keep, but `unmapped = \"drop\"`".into());
        }
        if errs.is_empty() {
            Ok(Mapping {
                name: s.name.clone(),
                envelope,
                discriminator,
                variants,
                unmapped: s.unmapped,
                keep: s.keep.iter().cloned().collect(),
            })
        } else {
            Err(errs
                .into_iter()
                .map(|e| format!("mapping `{}`: {e}", s.name))
                .collect())
        }
    }

    fn unmapped(&self, msg: String) -> Rejection {
        Rejection::new(
            RejectCode::Unmapped,
            format!("mapping `{}`: {msg}", self.name),
        )
    }

    /// One raw record → the contract fields it gives, before the contract's checks.
    pub fn map(
        &self,
        raw: &[u8],
        max_bytes: usize,
        ctx: &InputContext,
    ) -> Result<Mapped, Rejection> {
        let text_in = precheck(raw, max_bytes)?;
        let record = Node::parse(text_in)
            .map_err(|e| Rejection::new(RejectCode::InvalidJson, e.to_string()))?;
        let root = self
            .envelope
            .iter()
            .find_map(|p| get(&record, p).filter(|v| v.is_object()))
            .ok_or_else(|| self.unmapped("no envelope root is an object".into()))?;
        let key = match self.discriminator.is_empty() {
            true => None,
            false => self
                .discriminator
                .iter()
                .find_map(|(raw_side, p)| {
                    get(if *raw_side { &record } else { root }, p).and_then(text)
                })
                .or_else(|| ctx.stream.as_deref().map(Cow::Borrowed)),
        };
        let v =
            self.variants
                .iter()
                .find(|v| match (&v.test, key.as_deref()) {
                    (Test::Any, _) => true,
                    (_, None) => false,
                    (Test::Eq(vals), Some(k)) => vals.iter().any(|x| x == k),
                    (Test::Prefix(p), Some(k)) => k.starts_with(p.as_str()),
                    (Test::Regex(r), Some(k)) => r.is_match(k),
                })
                .ok_or_else(|| {
                    self.unmapped(format!(
                        "no variant accepts {}",
                        key.as_deref().map_or(
                            "a record without a discriminator".into(),
                            |k| format!("`{}`", super::fields::clip(k))
                        )
                    ))
                })?;
        let mut out = Mapped {
            fields: Vec::with_capacity(v.fields.len() + 2),
            attributes: Vec::with_capacity(v.attrs.len() + 1),
        };
        for (field, sources) in &v.fields {
            let Some((src, val)) = sources
                .iter()
                .find_map(|s| s.read(root).filter(|x| !x.is_empty()).map(|x| (s, x)))
            else {
                continue;
            };
            let val = match (*field, src.time) {
                ("ts", Some(f)) => match parse_time(&val, f, ctx.timezone) {
                    Some(t) => crate::time::rfc3339(t),
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
                _ => val,
            };
            out.fields.push((field, val));
        }
        for r in REQUIRED {
            if out.get(r).is_none() {
                return Err(self.unmapped(format!("`{}` has no value for `{r}`", v.name)));
            }
        }
        if out.get("tenant").is_none() {
            if let Some(t) = &ctx.tenant {
                out.fields.push(("tenant", t.clone()));
            }
        }
        if out.get("event_id").is_none() {
            let digest = Sha256::digest(raw);
            let mut id = String::with_capacity(self.name.len() + 33);
            id.push_str(&self.name);
            id.push(':');
            for b in &digest[..16] {
                let _ = write!(id, "{b:02x}");
            }
            out.fields.push(("event_id", id));
        }
        out.set_attribute("source", format!("{}/{}", self.name, v.name));
        for (name, sources) in &v.attrs {
            if let Some(x) = sources
                .iter()
                .find_map(|s| s.read(root).filter(|x| !x.is_empty()))
            {
                out.set_attribute(name, x);
            }
        }
        if self.unmapped == Unmapped::Keep {
            let named = out.attributes.len();
            let mut kept = 0;
            for (k, val) in root.entries() {
                if kept == MAX_KEPT {
                    break;
                }
                if v.read_keys.contains(k)
                    || out.attributes[..named].iter().any(|(n, _)| n == k)
                    || !(self.keep.is_empty() || self.keep.contains(k))
                {
                    continue;
                }
                kept += 1;
                let mut s = match val {
                    Node::Null => continue,
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
                out.set_attribute(k, s);
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

/// The contract fields a mapping found in one record, as text (`ts` in RFC 3339 UTC), and its
/// attributes (each name once).
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    pub fields: Vec<(&'static str, String)>,
    pub attributes: Vec<(String, String)>,
}

impl Mapped {
    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, v)| v.as_str())
    }

    /// Sets an attribute, replacing an earlier value of the same name.
    fn set_attribute(&mut self, name: &str, value: String) {
        match self.attributes.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => *v = value,
            None => self.attributes.push((name.to_owned(), value)),
        }
    }

    /// The contract's JSON object: every field a string but a numeric `record_count`.
    pub fn to_contract(&self) -> Map<String, Value> {
        let mut out = Map::new();
        for (field, val) in &self.fields {
            let json = match *field {
                "record_count" => val
                    .parse::<u64>()
                    .map_or_else(|_| Value::String(val.clone()), Value::from),
                _ => Value::String(val.clone()),
            };
            out.insert((*field).to_owned(), json);
        }
        let attrs = self
            .attributes
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        out.insert("attributes".into(), Value::Object(attrs));
        out
    }

    /// The native decoder's checks on the fields, without writing them out as JSON: the same event
    /// (or rejection) as [`validate`] of [`Mapped::to_contract`] (a test holds them equal).
    pub fn validate(self) -> Result<Event, Rejection> {
        let Mapped {
            fields,
            mut attributes,
        } = self;
        let get = |f: &str| {
            fields
                .iter()
                .find(|(n, _)| *n == f)
                .map(|(_, v)| v.as_str())
        };
        let text = |f: &str| get(f).map(|v| super::fields::Text::Str(Cow::Borrowed(v)));
        let parts = super::event::Parts {
            event_id: text("event_id"),
            ts: text("ts"),
            user_id: text("user_id"),
            action: text("action"),
            tenant: text("tenant"),
            object_type: text("object_type"),
            ip: text("ip"),
            user_agent: text("user_agent"),
            session_id: text("session_id"),
            outcome: text("outcome"),
        };
        let count = || match get("record_count").map(|v| (v, v.parse::<u64>())) {
            None => Ok(0),
            Some((_, Ok(n))) if n <= super::event::MAX_RECORD_COUNT => Ok(n),
            Some((_, Ok(n))) => super::event::record_count_text(&n.to_string()),
            Some((v, Err(_))) => super::event::record_count_text(
                &serde_json::to_string(v).expect("a string serialises"),
            ),
        };
        // In key order, as the contract object's (sorted) map writes them.
        attributes.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        super::event::build(parts, count, || Ok(attributes))
    }
}

/// A mapped object through the native decoder: the event it would store.
pub fn validate(obj: &Map<String, Value>) -> Result<Event, Rejection> {
    let bytes = serde_json::to_vec(obj).expect("a JSON object serialises");
    super::decode_event(&bytes, usize::MAX)
}

#[cfg(test)]
mod tests;

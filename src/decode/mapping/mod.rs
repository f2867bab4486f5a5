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
use std::fmt::Write;

use chrono::{DateTime, Utc};
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
    keep: Vec<String>,
}

#[derive(Debug)]
struct Variant {
    name: String,
    test: Test,
    fields: Vec<(&'static str, Vec<Source>)>,
    attrs: Vec<(String, Vec<Source>)>,
    /// The dedup key: records sharing its value are one event (one id).
    dedup: Vec<Source>,
    /// The root's keys some source reads (never kept as unmapped attributes).
    read_keys: Vec<String>,
    /// `attributes.source`: `<mapping>/<variant>`.
    source: String,
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
            let (mut fields, mut attrs, mut read_keys) = (Vec::new(), Vec::new(), Vec::new());
            let mut dedup = Vec::new();
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
                for k in compiled.iter().flat_map(|c| c.top_keys()) {
                    if !read_keys.iter().any(|r| r == k) {
                        read_keys.push(k.to_owned());
                    }
                }
                if field == "dedup" {
                    dedup = compiled;
                } else if let Some(name) = field.strip_prefix("attributes.") {
                    attrs.push((name.to_owned(), compiled));
                } else if let Some(f) = contract_fields().find(|f| **f == field) {
                    if *f == "ts" && compiled.iter().any(|c| c.time.is_none()) {
                        errs.push(format!("{at}: every `ts` source needs a `time` format"));
                    }
                    fields.push((*f, compiled));
                } else {
                    errs.push(format!(
                        "{at}: `{field}` is not a contract field ({}, attributes.NAME or dedup)",
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
                    if !read_keys.contains(k) {
                        read_keys.push(k.clone());
                    }
                }
            }
            variants.push(Variant {
                name: v.name.clone(),
                test,
                fields,
                attrs,
                dedup,
                read_keys,
                source: format!("{}/{}", s.name, v.name),
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
                keep: s.keep.clone(),
            })
        } else {
            Err(errs
                .into_iter()
                .map(|e| format!("mapping `{}`: {e}", s.name))
                .collect())
        }
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
            ts: None,
            attributes: Vec::with_capacity(v.attrs.len() + 1),
        };
        for (field, sources) in &v.fields {
            let Some((src, val)) = sources
                .iter()
                .find_map(|s| s.read(root).filter(|x| !x.is_empty()).map(|x| (s, x)))
            else {
                continue;
            };
            match (*field, src.time) {
                ("ts", Some(f)) => match parse_time(&val, f, ctx.timezone) {
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
                _ => out.fields.push((field, val)),
            }
        }
        for r in REQUIRED {
            if !out.has(r) {
                return Err(self.unmapped(format!("`{}` has no value for `{r}`", v.name)));
            }
        }
        if out.get("tenant").is_none() {
            if let Some(t) = &ctx.tenant {
                out.fields.push(("tenant", Cow::Borrowed(t)));
            }
        }
        let dedup = v
            .dedup
            .iter()
            .find_map(|s| s.read(root).filter(|x| !x.is_empty()));
        if let Some(key) = dedup {
            // One event for every record sharing the key: its id is the key's; each record's own id
            // is kept as an attribute.
            let id = self.id_of(key.as_bytes(), Some(&key));
            if let Some(own) = out.take("event_id") {
                out.set_attribute("source_event_id", own.into_owned());
            }
            out.fields.push(("event_id", Cow::Owned(id)));
        } else if out.get("event_id").is_none() {
            out.fields.push(("event_id", Cow::Owned(self.id_of(raw, None))));
        }
        out.set_attribute("source", v.source.clone());
        for (name, sources) in &v.attrs {
            if let Some(x) = sources
                .iter()
                .find_map(|s| s.read(root).filter(|x| !x.is_empty()))
            {
                out.set_attribute(name, x.into_owned());
            }
        }
        if self.unmapped == Unmapped::Keep {
            let named = out.attributes.len();
            let mut kept = 0;
            for (k, val) in root.entries() {
                if kept == MAX_KEPT {
                    break;
                }
                if v.read_keys.iter().any(|r| r == k)
                    || out.attributes[..named].iter().any(|(n, _)| n == k)
                    || !(self.keep.is_empty() || self.keep.iter().any(|x| x == k))
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

/// The contract fields a mapping found in one record, as text borrowed from the record or the
/// mapping where it can be, the time parsed, and its attributes (each name once).
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped<'a> {
    pub fields: Vec<(&'static str, Cow<'a, str>)>,
    pub ts: Option<DateTime<Utc>>,
    pub attributes: Vec<(String, String)>,
}

impl<'a> Mapped<'a> {
    /// A field's text (`ts` has none: it is [`Mapped::ts`]).
    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, v)| v.as_ref())
    }

    fn has(&self, field: &str) -> bool {
        match field {
            "ts" => self.ts.is_some(),
            _ => self.get(field).is_some(),
        }
    }

    /// Removes a field, giving its value.
    fn take(&mut self, field: &str) -> Option<Cow<'a, str>> {
        let i = self.fields.iter().position(|(f, _)| *f == field)?;
        Some(self.fields.swap_remove(i).1)
    }

    /// Sets an attribute, replacing an earlier value of the same name.
    fn set_attribute(&mut self, name: &str, value: String) {
        match self.attributes.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => *v = value,
            None => self.attributes.push((name.to_owned(), value)),
        }
    }

    /// The contract's JSON object: every field a string (`ts` in RFC 3339 UTC) but a numeric
    /// `record_count`.
    pub fn to_contract(&self) -> Map<String, Value> {
        let mut out = Map::new();
        if let Some(t) = self.ts {
            out.insert("ts".into(), Value::String(crate::time::rfc3339(t)));
        }
        for (field, val) in &self.fields {
            let json = match *field {
                "record_count" => val
                    .parse::<u64>()
                    .map_or_else(|_| Value::String(val.to_string()), Value::from),
                _ => Value::String(val.to_string()),
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
        use super::fields::Text;
        let Mapped {
            fields,
            ts,
            mut attributes,
        } = self;
        let mut parts = super::event::Parts::default();
        let mut count = None;
        for (field, val) in fields {
            let slot = match field {
                "event_id" => &mut parts.event_id,
                "user_id" => &mut parts.user_id,
                "action" => &mut parts.action,
                "tenant" => &mut parts.tenant,
                "object_type" => &mut parts.object_type,
                "ip" => &mut parts.ip,
                "user_agent" => &mut parts.user_agent,
                "session_id" => &mut parts.session_id,
                "outcome" => &mut parts.outcome,
                "record_count" => {
                    count = Some(val);
                    continue;
                }
                _ => continue,
            };
            *slot = Some(Text::Str(val));
        }
        parts.ts_utc = ts;
        let count = || match count.as_deref().map(|v| (v, v.parse::<u64>())) {
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

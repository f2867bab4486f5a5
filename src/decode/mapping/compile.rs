//! Compiling a mapping file ([`MappingSpec`]) into a [`Mapping`]: every problem reported at once,
//! then the shape of everything the mapping reads built and its paths resolved in it.

use regex::Regex;

use super::super::event::FIELDS;
use super::shape::{At, Shape};
use super::spec::{SourceSpec, Unmapped, REQUIRED};
use super::tree::{parse_path, Step};
use super::value::Source;
use super::{contract_fields, mapped, Mapping, MappingSpec, Test, Variant};

impl Mapping {
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
                    Ok(re) => literal_test(r).unwrap_or(Test::Regex(re)),
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
                } else if let Some(f) = contract_fields().position(|f| *f == field) {
                    if f == mapped::TS && compiled.iter().any(|c| c.time.is_none()) {
                        errs.push(format!("{at}: every `ts` source needs a `time` format"));
                    }
                    fields.push((f, compiled));
                } else {
                    errs.push(format!(
                        "{at}: `{field}` is not a contract field ({}, attributes.NAME or dedup)",
                        contract_fields().copied().collect::<Vec<_>>().join(", ")
                    ));
                }
            }
            for r in REQUIRED {
                if !fields.iter().any(|(f, _)| FIELDS[*f] == *r) {
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
                read_nodes: Vec::new(),
                source: format!("{}/{}", s.name, v.name),
            });
        }
        if s.unmapped == Unmapped::Drop && !s.keep.is_empty() {
            errs.push("`keep` lists unmapped fields to keep, but `unmapped = \"drop\"`".into());
        }
        if errs.is_empty() {
            let (mut shape, envelope, discriminator) =
                shape_of(&envelope, &discriminator, &mut variants);
            if s.unmapped == Unmapped::Drop {
                shape.list_no_entries();
            }
            Ok(Mapping {
                name: s.name.clone(),
                shape,
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
}

/// The shape of everything a mapping reads (envelope roots, discriminator paths, every variant's
/// sources), and where the roots and the discriminator's paths are in it; resolves the sources.
fn shape_of(
    envelope: &[Vec<Step>],
    discriminator: &[(bool, Vec<Step>)],
    variants: &mut [Variant],
) -> (Shape, Vec<At>, Vec<Vec<At>>) {
    let mut shape = Shape::default();
    let roots: Vec<usize> = envelope.iter().map(|p| shape.add_root(p)).collect();
    for (raw_side, p) in discriminator {
        match raw_side {
            true => shape.add_leaf(0, p),
            false => roots.iter().for_each(|r| shape.add_leaf(*r, p)),
        }
    }
    for v in variants.iter() {
        for s in v.sources() {
            s.shape(&mut shape, &roots);
        }
    }
    let top = At {
        node: 0,
        rest: Vec::new(),
    };
    let root_at: Vec<At> = envelope.iter().map(|p| shape.at(&top, p)).collect();
    let disc = discriminator
        .iter()
        .map(|(raw_side, p)| match raw_side {
            true => vec![shape.at(&top, p)],
            false => root_at.iter().map(|r| shape.at(r, p)).collect(),
        })
        .collect();
    for v in variants.iter_mut() {
        for s in v.sources_mut() {
            s.resolve(&shape, &root_at);
        }
        v.read_nodes = vec![false; shape.len()];
        for r in root_at.iter().filter(|r| r.rest.is_empty()) {
            for k in &v.read_keys {
                if let Some(c) = shape.child(r.node, k) {
                    v.read_nodes[c] = true;
                }
            }
        }
    }
    for r in root_at.iter().filter(|r| r.rest.is_empty()) {
        for c in shape.children(r.node) {
            if variants.iter().any(|v| !v.read_nodes[c]) {
                shape.set_maybe_kept(c);
            }
        }
    }
    if let ([root], Some((false, [Step::Key(k)]))) = (
        &root_at[..],
        discriminator.first().map(|(raw, p)| (*raw, &p[..])),
    ) {
        if root.rest.is_empty() && !shape.is_leaf(root.node) {
            if let Some(key) = shape.child(root.node, k) {
                let reads = variants.iter().map(|v| v.read_nodes.clone()).collect();
                shape.set_early(root.node, key, reads);
            }
        }
    }
    (shape, root_at, disc)
}

impl Variant {
    fn sources(&self) -> impl Iterator<Item = &Source> {
        self.fields
            .iter()
            .flat_map(|(_, s)| s)
            .chain(self.attrs.iter().flat_map(|(_, s)| s))
            .chain(&self.dedup)
    }

    fn sources_mut(&mut self) -> impl Iterator<Item = &mut Source> {
        self.fields
            .iter_mut()
            .flat_map(|(_, s)| s)
            .chain(self.attrs.iter_mut().flat_map(|(_, s)| s))
            .chain(&mut self.dedup)
    }
}

/// A regex test that is a plain literal, anchored at the end (`LoginEventStream$`) or not at all,
/// as the string test it is (a regex match costs more than a suffix or substring test).
pub(super) fn literal_test(pattern: &str) -> Option<Test> {
    let (lit, end) = match pattern.strip_suffix('$') {
        Some(lit) => (lit, true),
        None => (pattern, false),
    };
    // `escape` leaves a text alone only when it holds no character a regex treats specially.
    if lit.is_empty() || regex::escape(lit) != lit {
        return None;
    }
    Some(if end {
        Test::Suffix(lit.to_owned())
    } else {
        Test::Contains(lit.to_owned())
    })
}

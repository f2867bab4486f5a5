//! What a mapping reads of a record, as a trie of its paths, and the one-pass parse it guides: the
//! values at the paths' ends become [`Node`]s in a slot per trie node, the objects on the way build
//! nothing, values no path reaches are skipped, and the entries of an envelope root are kept as raw
//! JSON for `unmapped = "keep"`. Reads like a whole [`Node`] tree (a test holds them equal) at a
//! fraction of its allocations.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::tree::{get, Key, Node, Step};

mod scan;

/// A trie of paths; node 0 is the record.
#[derive(Debug)]
pub struct Shape {
    nodes: Vec<ShapeNode>,
    /// With one envelope root whose discriminator is one of its keys: `(root, key node)`, and what
    /// each variant reads (by node). Once the key is parsed the variant is known, and a root's
    /// entry the variant reads needs no raw copy.
    early: Option<(usize, usize)>,
    reads: Vec<Vec<bool>>,
    /// Room for a record's root entries (none when no root lists them).
    entries_hint: usize,
}

/// Chooses the variant from the discriminator's value (see [`Shape::parse`]).
pub type Choose<'c> = &'c dyn Fn(&Node<'_>) -> Option<usize>;

#[derive(Debug, Default)]
struct ShapeNode {
    keys: Vec<(String, usize)>,
    items: Vec<(usize, usize)>,
    /// A path ends here: its whole value is parsed (and nothing below is looked at separately).
    leaf: bool,
    /// An envelope root: its entries are listed (raw) for `unmapped = "keep"`.
    root: bool,
    /// A root's child some variant does not read (so it may be kept): listed.
    maybe_kept: bool,
}

/// Where a path's value is: at a trie node, or inside a leaf's value after `rest` more steps.
#[derive(Debug, Clone, PartialEq)]
pub struct At {
    pub node: usize,
    pub rest: Vec<Step>,
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            nodes: vec![ShapeNode::default()],
            early: None,
            reads: Vec::new(),
            entries_hint: 0,
        }
    }
}

impl Shape {
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_leaf(&self, node: usize) -> bool {
        self.nodes[node].leaf
    }

    /// Marks a root's child some variant does not read.
    pub fn set_maybe_kept(&mut self, node: usize) {
        self.nodes[node].maybe_kept = true;
    }

    /// The variant can be chosen once `key` of `root` is parsed; `reads[variant][node]`.
    pub fn set_early(&mut self, root: usize, key: usize, reads: Vec<Vec<bool>>) {
        self.early = Some((root, key));
        self.reads = reads;
    }

    /// No entries are listed (`unmapped = "drop"`).
    pub fn list_no_entries(&mut self) {
        self.nodes.iter_mut().for_each(|n| n.root = false);
        self.entries_hint = 0;
    }

    /// Adds `path` below node `from`; the node it ends at.
    pub fn add(&mut self, from: usize, path: &[Step]) -> usize {
        let mut at = from;
        for step in path {
            at = match self.next(at, step) {
                Some(i) => i,
                None => {
                    let i = self.nodes.len();
                    self.nodes.push(ShapeNode::default());
                    match step {
                        Step::Key(k) => self.nodes[at].keys.push((k.clone(), i)),
                        Step::Index(n) => self.nodes[at].items.push((*n, i)),
                    }
                    i
                }
            };
        }
        at
    }

    /// A path whose value is read: its end is parsed whole.
    pub fn add_leaf(&mut self, from: usize, path: &[Step]) {
        let n = self.add(from, path);
        self.nodes[n].leaf = true;
    }

    /// An envelope root: its entries are listed.
    pub fn add_root(&mut self, path: &[Step]) -> usize {
        let n = self.add(0, path);
        self.nodes[n].root = true;
        self.entries_hint = 16;
        n
    }

    /// Where `path` below `from` ends (once every path is added): at the first leaf it passes.
    pub fn at(&self, from: &At, path: &[Step]) -> At {
        if !from.rest.is_empty() || self.nodes[from.node].leaf {
            let mut rest = from.rest.clone();
            rest.extend_from_slice(path);
            return At {
                node: from.node,
                rest,
            };
        }
        let mut node = from.node;
        for (i, step) in path.iter().enumerate() {
            node = self
                .next(node, step)
                .expect("every path was added to the shape");
            if self.nodes[node].leaf {
                return At {
                    node,
                    rest: path[i + 1..].to_vec(),
                };
            }
        }
        At {
            node,
            rest: Vec::new(),
        }
    }

    /// A node's children by key.
    pub fn children(&self, node: usize) -> Vec<usize> {
        self.nodes[node].keys.iter().map(|(_, i)| *i).collect()
    }

    /// The child of `node` for its key `key`.
    pub fn child(&self, node: usize, key: &str) -> Option<usize> {
        self.nodes[node]
            .keys
            .iter()
            .find(|(c, _)| c == key)
            .map(|(_, i)| *i)
    }

    /// The child of `node` for its item `i`.
    fn item(&self, node: usize, i: usize) -> Option<usize> {
        self.nodes[node]
            .items
            .iter()
            .find(|(c, _)| *c == i)
            .map(|(_, c)| *c)
    }

    /// The child of `node` one step on.
    fn next(&self, node: usize, step: &Step) -> Option<usize> {
        match step {
            Step::Key(k) => self.child(node, k),
            Step::Index(i) => self.item(node, *i),
        }
    }

    /// After the child `c` of `root` was parsed: when it is the discriminator, the variant (both
    /// parses).
    fn chosen(&self, choose: Option<Choose>, out: &mut Parsed<'_>, root: usize, c: usize) {
        if let (Some(choose), Some((r, key))) = (choose, self.early) {
            if (r, key) == (root, c) {
                if let Slot::Value(v) = &out.slots[c] {
                    out.variant = choose(v);
                }
            }
        }
    }

    /// Whether a root's child may be kept: some variant (the chosen one, once known) does not
    /// read it (both parses).
    fn maybe_kept(&self, out: &Parsed<'_>, root: usize, c: usize) -> bool {
        match (out.variant, self.early) {
            (Some(v), Some((r, _))) if r == root => !self.reads[v][c],
            _ => self.nodes[c].maybe_kept,
        }
    }

    /// Parses one record along the shape; `choose` (with an early discriminator) names the
    /// variant its value selects. A byte-level pass first; what it is not sure of, serde's.
    pub fn parse<'a>(
        &self,
        text: &'a str,
        choose: Option<Choose>,
    ) -> serde_json::Result<Parsed<'a>> {
        match scan::parse(self, text, choose) {
            Some(p) => Ok(p),
            None => self.parse_serde(text, choose),
        }
    }

    /// The parse by serde's visitors: every record, and every error's text.
    fn parse_serde<'a>(
        &self,
        text: &'a str,
        choose: Option<Choose>,
    ) -> serde_json::Result<Parsed<'a>> {
        let mut out = Parsed::empty(self);
        let mut de = serde_json::Deserializer::from_str(text);
        Seed {
            shape: self,
            node: 0,
            out: &mut out,
            choose: choose.filter(|_| self.early.is_some()),
        }
        .deserialize(&mut de)?;
        de.end()?;
        Ok(out)
    }
}

/// What a trie node found in a record.
#[derive(Debug, PartialEq)]
pub enum Slot<'a> {
    Absent,
    /// An object or array on a path's way (its parts are in the nodes below).
    Obj,
    Arr,
    /// A path's end (or a scalar where an object was expected).
    Value(Node<'a>),
}

/// An entry of an envelope root: its value as raw JSON, or in a leaf's slot.
#[derive(Debug, PartialEq)]
pub enum Entry<'a> {
    Raw(&'a str),
    Slot(usize),
}

/// One record, parsed along a [`Shape`].
#[derive(Debug, PartialEq)]
pub struct Parsed<'a> {
    slots: Vec<Slot<'a>>,
    /// `(root node, key, child node, value)` of every envelope root's entries, in record order.
    pub entries: Vec<(usize, Cow<'a, str>, Option<usize>, Entry<'a>)>,
    /// The variant chosen while parsing.
    variant: Option<usize>,
    /// The discriminator or its root came twice: parse again without choosing early.
    pub unsure: bool,
}

impl<'a> Parsed<'a> {
    fn empty(shape: &Shape) -> Parsed<'a> {
        let mut slots = Vec::with_capacity(shape.nodes.len());
        slots.resize_with(shape.nodes.len(), || Slot::Absent);
        Parsed {
            slots,
            entries: Vec::with_capacity(shape.entries_hint),
            variant: None,
            unsure: false,
        }
    }

    /// The value at `at` (`None` for an object or array on a path's way).
    pub fn value(&self, at: &At) -> Option<&Node<'a>> {
        match &self.slots[at.node] {
            Slot::Value(n) => get(n, &at.rest),
            _ => None,
        }
    }

    pub fn is_object(&self, at: &At) -> bool {
        match (&self.slots[at.node], at.rest.is_empty()) {
            (Slot::Obj, true) => true,
            (Slot::Value(n), _) => get(n, &at.rest).is_some_and(Node::is_object),
            _ => false,
        }
    }

    /// An entry's value as a node (parsed from its raw JSON when it was skipped).
    pub fn entry_value<'e>(&'e self, e: &'e Entry<'a>) -> Option<Cow<'e, Node<'a>>> {
        match e {
            Entry::Slot(n) => match &self.slots[*n] {
                Slot::Value(v) => Some(Cow::Borrowed(v)),
                _ => None,
            },
            Entry::Raw(raw) => Node::parse(raw).ok().map(Cow::Owned),
        }
    }
}

/// A path's end from its JSON text: a string without escapes and an integer that fits 64 bits are
/// borrowed as they are, anything else is parsed (the same value `Node::parse` gives).
fn leaf(raw: &str) -> serde_json::Result<Node<'_>> {
    let digits = |d: &str, max: usize| d.len() <= max && d.bytes().all(|c| c.is_ascii_digit());
    match raw.as_bytes().first() {
        Some(b'"') if !raw.contains('\\') => Ok(Node::Str(Cow::Borrowed(&raw[1..raw.len() - 1]))),
        Some(b'0'..=b'9') if digits(raw, 19) => Ok(Node::Num(raw)),
        Some(b'-') if raw != "-0" && digits(&raw[1..], 18) && raw.len() > 1 => Ok(Node::Num(raw)),
        _ => Node::parse(raw),
    }
}

struct Seed<'s, 'p, 'a> {
    shape: &'s Shape,
    node: usize,
    out: &'p mut Parsed<'a>,
    choose: Option<Choose<'s>>,
}

impl<'s, 'p, 'a> Seed<'s, 'p, 'a> {
    /// A repeated key: the last value counts, so what the earlier one left below is forgotten.
    fn forget(&mut self, node: usize) {
        self.out.slots[node] = Slot::Absent;
        self.out.entries.retain(|e| e.0 != node);
        if let Some((root, key)) = self.shape.early {
            self.out.unsure |= node == root || node == key;
        }
        let n = &self.shape.nodes[node];
        for c in n
            .keys
            .iter()
            .map(|(_, i)| *i)
            .chain(n.items.iter().map(|(_, i)| *i))
        {
            self.forget(c);
        }
    }

    fn child(&mut self, node: usize) -> Seed<'s, '_, 'a> {
        Seed {
            shape: self.shape,
            node,
            out: self.out,
            choose: self.choose,
        }
    }

    fn chosen(&mut self, root: usize, c: usize) {
        self.shape.chosen(self.choose, &mut *self.out, root, c);
    }

    fn maybe_kept(&self, root: usize, c: usize) -> bool {
        self.shape.maybe_kept(&*self.out, root, c)
    }
}

impl<'de: 'a, 's, 'p, 'a> DeserializeSeed<'de> for Seed<'s, 'p, 'a> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(mut self, d: D) -> Result<(), D::Error> {
        if !matches!(self.out.slots[self.node], Slot::Absent) {
            let node = self.node;
            self.forget(node);
        }
        if self.shape.nodes[self.node].leaf {
            let raw: &'de RawValue = Deserialize::deserialize(d)?;
            self.out.slots[self.node] = Slot::Value(leaf(raw.get()).map_err(de::Error::custom)?);
            return Ok(());
        }
        d.deserialize_any(self)
    }
}

impl<'de: 'a, 's, 'p, 'a> Visitor<'de> for Seed<'s, 'p, 'a> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut a: A) -> Result<(), A::Error> {
        let node = self.node;
        self.out.slots[node] = Slot::Obj;
        let shape = self.shape;
        let n = &shape.nodes[node];
        while let Some(Key(k)) = a.next_key::<Key>()? {
            let child = shape.child(node, &k);
            match (n.root, child) {
                (false, None) => {
                    a.next_value::<IgnoredAny>()?;
                }
                (false, Some(c)) => a.next_value_seed(self.child(c))?,
                // Read by every variant (or by the chosen one): never kept, not listed.
                (true, Some(c)) if !self.maybe_kept(node, c) => {
                    a.next_value_seed(self.child(c))?;
                    self.chosen(node, c);
                }
                (true, Some(c)) if shape.nodes[c].leaf => {
                    a.next_value_seed(self.child(c))?;
                    self.chosen(node, c);
                    self.out.entries.push((node, k, Some(c), Entry::Slot(c)));
                }
                (true, c) => {
                    let raw: &'de RawValue = a.next_value()?;
                    if let Some(c) = c {
                        // On a path's way and perhaps kept: read twice, as raw JSON and along the shape.
                        let mut de = serde_json::Deserializer::from_str(raw.get());
                        self.child(c)
                            .deserialize(&mut de)
                            .map_err(de::Error::custom)?;
                    }
                    self.out.entries.push((node, k, c, Entry::Raw(raw.get())));
                }
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut a: A) -> Result<(), A::Error> {
        self.out.slots[self.node] = Slot::Arr;
        let mut i = 0;
        loop {
            let more = match self.shape.item(self.node, i) {
                Some(c) => a.next_element_seed(self.child(c))?.is_some(),
                None => a.next_element::<IgnoredAny>()?.is_some(),
            };
            if !more {
                return Ok(());
            }
            i += 1;
        }
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.out.slots[self.node] = Slot::Value(Node::Null);
        Ok(())
    }
    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.out.slots[self.node] = Slot::Value(Node::Bool(v));
        Ok(())
    }
    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.out.slots[self.node] = Slot::Value(Node::U64(v));
        Ok(())
    }
    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.out.slots[self.node] = Slot::Value(Node::I64(v));
        Ok(())
    }
    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.out.slots[self.node] = Slot::Value(Node::F64(v));
        Ok(())
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<(), E> {
        self.out.slots[self.node] = Slot::Value(Node::Str(Cow::Borrowed(v)));
        Ok(())
    }
    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.out.slots[self.node] = Slot::Value(Node::Str(Cow::Owned(v.to_owned())));
        Ok(())
    }
}

#[cfg(test)]
mod tests;

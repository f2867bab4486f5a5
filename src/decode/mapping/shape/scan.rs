//! The fast path of [`Shape::parse`]: one byte-level pass over a record, with no visitor layers.
//! It takes only what it is sure of — strings without escapes or control characters, integers,
//! keys seen once, nesting below 100 — and gives up (`None`) on anything else, so the serde parse
//! gives that record's value or error; where it does accept, it gives what the serde parse gives
//! (a test compares the two on the presets' fixtures and on every one-byte change of them).

use std::borrow::Cow;

use super::super::tree::Node;
use super::{leaf, Choose, Entry, Parsed, Shape, Slot};

/// Deeper records go to the serde parse (whose limit is 128).
const MAX_DEPTH: u32 = 100;

/// `Some` only for a record the serde parse would read the same way.
pub(super) fn parse<'a>(
    shape: &Shape,
    text: &'a str,
    choose: Option<Choose>,
) -> Option<Parsed<'a>> {
    let mut s = Scan {
        shape,
        text,
        b: text.as_bytes(),
        i: 0,
        depth: 0,
        choose: choose.filter(|_| shape.early.is_some()),
        out: Parsed::empty(shape),
    };
    s.ws();
    s.node(0)?;
    s.ws();
    (s.i == s.b.len()).then_some(s.out)
}

struct Scan<'s, 'c, 'a> {
    shape: &'s Shape,
    text: &'a str,
    b: &'a [u8],
    i: usize,
    depth: u32,
    choose: Option<Choose<'c>>,
    out: Parsed<'a>,
}

impl<'a> Scan<'_, '_, 'a> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    /// The value at trie node `node` (as `Seed::deserialize`).
    fn node(&mut self, node: usize) -> Option<()> {
        if !matches!(self.out.slots[node], Slot::Absent) {
            return None; // a repeated key: the serde parse forgets what came first
        }
        if self.shape.nodes[node].leaf {
            let v = match self.peek()? {
                b'"' => Node::Str(Cow::Borrowed(self.string()?)),
                b'-' | b'0'..=b'9' => leaf(self.number()?).ok()?,
                _ => leaf(self.raw()?).ok()?,
            };
            self.out.slots[node] = Slot::Value(v);
            return Some(());
        }
        match self.peek()? {
            b'{' => self.object(node),
            b'[' => self.array(node),
            _ => {
                let v = self.scalar()?;
                self.out.slots[node] = Slot::Value(v);
                Some(())
            }
        }
    }

    fn enter(&mut self) -> Option<()> {
        self.i += 1;
        self.depth += 1;
        (self.depth < MAX_DEPTH).then_some(())
    }

    /// An object at `node` (as `Seed::visit_map`).
    fn object(&mut self, node: usize) -> Option<()> {
        self.out.slots[node] = Slot::Obj;
        self.enter()?;
        let shape = self.shape;
        let n = &shape.nodes[node];
        self.ws();
        if self.eat(b'}').is_none() {
            loop {
                let k = self.string()?;
                self.ws();
                self.eat(b':')?;
                self.ws();
                let child = shape.child(node, k);
                match (n.root, child) {
                    (false, None) => self.skip()?,
                    (false, Some(c)) => self.node(c)?,
                    (true, Some(c)) if !self.maybe_kept(node, c) => {
                        self.node(c)?;
                        self.chosen(node, c);
                    }
                    (true, Some(c)) if shape.nodes[c].leaf => {
                        self.node(c)?;
                        self.chosen(node, c);
                        let e = (node, Cow::Borrowed(k), Some(c), Entry::Slot(c));
                        self.out.entries.push(e);
                    }
                    (true, c) => {
                        let start = self.i;
                        match c {
                            Some(c) => self.node(c)?,
                            None => self.skip()?,
                        }
                        let raw = Entry::Raw(&self.text[start..self.i]);
                        self.out.entries.push((node, Cow::Borrowed(k), c, raw));
                    }
                }
                self.ws();
                match self.peek()? {
                    b',' => {
                        self.i += 1;
                        self.ws();
                    }
                    b'}' => {
                        self.i += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        self.depth -= 1;
        Some(())
    }

    /// An array at `node` (as `Seed::visit_seq`).
    fn array(&mut self, node: usize) -> Option<()> {
        self.out.slots[node] = Slot::Arr;
        self.enter()?;
        self.ws();
        if self.eat(b']').is_none() {
            let mut i = 0;
            loop {
                match self.shape.item(node, i) {
                    Some(c) => self.node(c)?,
                    None => self.skip()?,
                }
                i += 1;
                self.ws();
                match self.peek()? {
                    b',' => {
                        self.i += 1;
                        self.ws();
                    }
                    b']' => {
                        self.i += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        self.depth -= 1;
        Some(())
    }

    fn chosen(&mut self, root: usize, c: usize) {
        self.shape.chosen(self.choose, &mut self.out, root, c);
    }

    fn maybe_kept(&self, root: usize, c: usize) -> bool {
        self.shape.maybe_kept(&self.out, root, c)
    }

    /// A string without escapes or control characters, its quotes removed.
    fn string(&mut self) -> Option<&'a str> {
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.i + 1;
        let end = start + plain(&self.b[start..])?;
        if self.b[end] != b'"' {
            return None; // an escape or a control character
        }
        self.i = end + 1;
        // Quotes are ASCII, so both ends are character boundaries.
        Some(&self.text[start..end])
    }

    /// A number's text, checked against JSON's grammar.
    fn number(&mut self) -> Option<&'a str> {
        let start = self.i;
        let digits = |s: &mut Self| {
            let from = s.i;
            while s.peek().is_some_and(|c| c.is_ascii_digit()) {
                s.i += 1;
            }
            (s.i > from).then_some(())
        };
        let _ = self.eat(b'-');
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => digits(self)?,
            _ => return None,
        }
        if self.eat(b'.').is_some() {
            digits(self)?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            digits(self)?;
        }
        Some(&self.text[start..self.i])
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.i + word.len();
        (self.b.get(self.i..end)? == word).then(|| self.i = end)
    }

    /// A scalar where an object was expected: integers only (a float's value is the serde parse's).
    fn scalar(&mut self) -> Option<Node<'a>> {
        Some(match self.peek()? {
            b'"' => Node::Str(Cow::Borrowed(self.string()?)),
            b't' => self.literal(b"true").map(|_| Node::Bool(true))?,
            b'f' => self.literal(b"false").map(|_| Node::Bool(false))?,
            b'n' => self.literal(b"null").map(|_| Node::Null)?,
            _ => {
                let n = self.number()?;
                match n.strip_prefix('-') {
                    None => Node::U64(n.parse().ok()?),
                    // `-0` is a float to serde_json.
                    Some(_) => Node::I64(n.parse().ok().filter(|v| *v != 0)?),
                }
            }
        })
    }

    /// Any value, checked and passed over.
    fn skip(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' => {
                self.enter()?;
                self.ws();
                if self.eat(b'}').is_none() {
                    loop {
                        self.string()?;
                        self.ws();
                        self.eat(b':')?;
                        self.ws();
                        self.skip()?;
                        self.ws();
                        match self.peek()? {
                            b',' => self.i += 1,
                            b'}' => break self.i += 1,
                            _ => return None,
                        }
                        self.ws();
                    }
                }
                self.depth -= 1;
                Some(())
            }
            b'[' => {
                self.enter()?;
                self.ws();
                if self.eat(b']').is_none() {
                    loop {
                        self.skip()?;
                        self.ws();
                        match self.peek()? {
                            b',' => self.i += 1,
                            b']' => break self.i += 1,
                            _ => return None,
                        }
                        self.ws();
                    }
                }
                self.depth -= 1;
                Some(())
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number().map(drop),
        }
    }

    /// A value's text, checked.
    fn raw(&mut self) -> Option<&'a str> {
        let start = self.i;
        self.skip()?;
        Some(&self.text[start..self.i])
    }
}

/// Where the first `"`, `\\` or control character of `s` is: eight bytes at a time (in each test
/// below, a byte can look like a match only above a real one, so the lowest flag is exact).
fn plain(s: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |v: u64| v.wrapping_sub(ONES) & !v;
    let mut i = 0;
    while let Some(chunk) = s.get(i..i + 8) {
        let x = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let below_space = x.wrapping_sub(ONES * 0x20) & !x;
        let hits = (zero(x ^ (ONES * u64::from(b'"')))
            | zero(x ^ (ONES * u64::from(b'\\')))
            | below_space)
            & HIGH;
        if hits != 0 {
            return Some(i + hits.trailing_zeros() as usize / 8);
        }
        i += 8;
    }
    s[i..]
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .map(|p| i + p)
}

#[cfg(test)]
#[path = "scan_tests.rs"]
mod tests;

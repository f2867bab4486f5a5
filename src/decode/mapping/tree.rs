//! A borrowed JSON tree for mappings, and the paths into it: strings point into the record (owned only when they had
//! escapes), objects are vectors of entries. One allocation per object or array, none per string —
//! a fifth of what `serde_json::Value` costs on a CRM record, and mappings only read a few paths.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// One step of a path: an object key or an array index.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// `a.b[0].c` → steps; `""` is the value itself.
pub fn parse_path(p: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    for part in p.split('.').filter(|s| !s.is_empty()) {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            steps.push(Step::Key(key.to_owned()));
        }
        while let Some(r) = rest.strip_prefix('[') {
            let end = r
                .find(']')
                .ok_or_else(|| format!("`{p}`: `[` without `]`"))?;
            let n = r[..end]
                .parse()
                .map_err(|_| format!("`{p}`: `[{}]` is not an index", &r[..end]))?;
            steps.push(Step::Index(n));
            rest = &r[end + 1..];
        }
        if !rest.is_empty() {
            return Err(format!("`{p}`: unexpected `{rest}`"));
        }
    }
    Ok(steps)
}

pub fn get<'v, 'a>(v: &'v Node<'a>, path: &[Step]) -> Option<&'v Node<'a>> {
    path.iter().try_fold(v, |v, s| match s {
        Step::Key(k) => v.key(k),
        Step::Index(i) => v.index(*i),
    })
}

/// One JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Node<'a> {
    Null,
    Bool(bool),
    U64(u64),
    I64(i64),
    F64(f64),
    /// An integer as the record wrote it (the same text as `U64`/`I64` would write: the shape's
    /// parse keeps an integer's digits instead of converting them back and forth).
    Num(&'a str),
    Str(Cow<'a, str>),
    Arr(Vec<Node<'a>>),
    /// In record order; a repeated key: the last one counts (as `serde_json::Value` reads it).
    Obj(Vec<(Cow<'a, str>, Node<'a>)>),
}

impl<'a> Node<'a> {
    /// Parses one JSON document (trailing characters are an error, as for `serde_json::from_str`).
    pub fn parse(text: &'a str) -> serde_json::Result<Node<'a>> {
        serde_json::from_str(text)
    }

    /// The value of `key` in an object.
    pub fn key(&self, key: &str) -> Option<&Node<'a>> {
        match self {
            Node::Obj(entries) => entries.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Item `i` of an array.
    pub fn index(&self, i: usize) -> Option<&Node<'a>> {
        match self {
            Node::Arr(items) => items.get(i),
            _ => None,
        }
    }

    /// An object's entries, each key once (its last value), in record order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Node<'a>)> {
        let entries: &[(Cow<'a, str>, Node<'a>)] = match self {
            Node::Obj(e) => e,
            _ => &[],
        };
        entries
            .iter()
            .enumerate()
            .filter(move |(i, (k, _))| !entries[i + 1..].iter().any(|(later, _)| later == k))
            .map(|(_, (k, v))| (k.as_ref(), v))
    }

    pub fn is_object(&self) -> bool {
        matches!(self, Node::Obj(_))
    }
}

/// JSON text, as `serde_json` writes the same value.
impl fmt::Display for Node<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quoted = |f: &mut fmt::Formatter<'_>, s: &str| {
            f.write_str(&serde_json::to_string(s).expect("a string serialises"))
        };
        match self {
            Node::Null => f.write_str("null"),
            Node::Bool(b) => write!(f, "{b}"),
            Node::U64(n) => write!(f, "{n}"),
            Node::I64(n) => write!(f, "{n}"),
            Node::Num(s) => f.write_str(s),
            Node::F64(x) => match serde_json::Number::from_f64(*x) {
                Some(n) => write!(f, "{n}"),
                None => f.write_str("null"),
            },
            Node::Str(s) => quoted(f, s),
            Node::Arr(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Node::Obj(_) => {
                // Sorted by key, like `serde_json::Value`'s map.
                let mut entries: Vec<(&str, &Node)> = self.entries().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                f.write_str("{")?;
                for (i, (k, v)) in entries.into_iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    quoted(f, k)?;
                    write!(f, ":{v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

/// An object key, borrowed when it has no escapes.
pub(super) struct Key<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Node<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Node<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E>(self) -> Result<Node<'de>, E> {
                Ok(Node::Null)
            }
            fn visit_none<E>(self) -> Result<Node<'de>, E> {
                Ok(Node::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node<'de>, D::Error> {
                Node::deserialize(d)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Node<'de>, E> {
                Ok(Node::Bool(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Node<'de>, E> {
                Ok(Node::U64(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Node<'de>, E> {
                Ok(Node::I64(v))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Node<'de>, E> {
                Ok(Node::F64(v))
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Node<'de>, E> {
                Ok(Node::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Node<'de>, E> {
                Ok(Node::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Node<'de>, E> {
                Ok(Node::Str(Cow::Owned(v)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Node<'de>, A::Error> {
                let mut items = Vec::with_capacity(a.size_hint().unwrap_or(0));
                while let Some(v) = a.next_element()? {
                    items.push(v);
                }
                Ok(Node::Arr(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Node<'de>, A::Error> {
                let mut entries = Vec::with_capacity(8);
                while let Some((Key(k), v)) = a.next_entry::<Key, Node>()? {
                    entries.push((k, v));
                }
                Ok(Node::Obj(entries))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_like_serde_json_value() {
        for text in [
            r#"{"b":1,"a":[true,null,-3,2.5,"x\"y"],"c":{"d":"é","e":18446744073709551615}}"#,
            r#"{"k":1,"k":2}"#,
            r#"[1,{"z":{}},[]]"#,
        ] {
            let node = Node::parse(text).unwrap();
            let value: serde_json::Value = serde_json::from_str(text).unwrap();
            assert_eq!(node.to_string(), value.to_string(), "{text}");
        }
        let n = Node::parse(r#"{"k":1,"s":"a\nb","k":2}"#).unwrap();
        assert_eq!(
            n.key("k"),
            Some(&Node::U64(2)),
            "the last of a repeated key"
        );
        assert_eq!(n.entries().count(), 2);
        assert!(matches!(n.key("s"), Some(Node::Str(Cow::Owned(_)))));
        assert!(Node::parse(r#"{"a":1} x"#).is_err());
        assert!(Node::parse(r#"{"a":"#).is_err());
    }
}

//! The filter language of the rule kinds: conditions on an event's fields — and on the actor's
//! directory record at the event's time — combined with `all` / `any` / `not`.
//!
//! ```toml
//! filter = { all = [
//!   { field = "action", in = ["login_failed"] },
//!   { not = { field = "network_class", eq = "private" } },
//! ] }
//! ```
//! Fields: `action`, `outcome`, `object_type`, `record_count`, `tenant`, `user_id`, `ip`,
//! `network_class`, `country_iso`, `asn`, `user_agent`, `attributes.<key>`, `directory.role`,
//! `directory.department`, `directory.status`. Operators: `eq`, `in`, `not_in`, `prefix`, `contains`,
//! `regex`, `cidr`, `gt`, `gte`, `lt`, `lte`, `exists`, `same_as` (equal to another field).

use std::borrow::Cow;

use serde::{Deserialize, Deserializer};
use toml::Value;

use crate::directory::Directory;
use crate::model::Event;

/// A field of an event (or of its actor's directory record).
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    Action,
    Outcome,
    ObjectType,
    RecordCount,
    Tenant,
    UserId,
    Ip,
    NetworkClass,
    CountryIso,
    Asn,
    UserAgent,
    Attribute(String),
    DirectoryRole,
    DirectoryDepartment,
    DirectoryStatus,
}

const FIELDS: &str = "action, outcome, object_type, record_count, tenant, user_id, ip, network_class, country_iso, asn, \
    user_agent, attributes.<key>, directory.role, directory.department, directory.status";

impl std::str::FromStr for Field {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "action" => Field::Action,
            "outcome" => Field::Outcome,
            "object_type" => Field::ObjectType,
            "record_count" => Field::RecordCount,
            "tenant" => Field::Tenant,
            "user_id" => Field::UserId,
            "ip" => Field::Ip,
            "network_class" => Field::NetworkClass,
            "country_iso" => Field::CountryIso,
            "asn" => Field::Asn,
            "user_agent" => Field::UserAgent,
            "directory.role" => Field::DirectoryRole,
            "directory.department" => Field::DirectoryDepartment,
            "directory.status" => Field::DirectoryStatus,
            other => match other.strip_prefix("attributes.") {
                Some(k) if !k.is_empty() => Field::Attribute(k.to_owned()),
                _ => return Err(format!("`{other}` is not a field ({FIELDS})")),
            },
        })
    }
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl Field {
    /// The field's value in `ev` as text; `None` when the event does not have it.
    pub fn text<'a>(&self, ev: &'a Event, dir: &'a Directory) -> Option<Cow<'a, str>> {
        let nonempty = |s: &'a str| Some(Cow::Borrowed(s)).filter(|s| !s.is_empty());
        match self {
            Field::Action => nonempty(&ev.action),
            Field::Outcome => Some(Cow::Borrowed(ev.outcome.as_str())),
            Field::ObjectType => nonempty(&ev.object_type),
            Field::RecordCount => Some(Cow::Owned(ev.record_count.to_string())),
            Field::Tenant => nonempty(&ev.tenant),
            Field::UserId => nonempty(&ev.user_id),
            Field::Ip => ev.ip.map(|i| Cow::Owned(i.to_string())),
            Field::NetworkClass => ev.geo.network_class.map(|c| Cow::Borrowed(c.as_str())),
            Field::CountryIso => nonempty(&ev.geo.country_iso),
            Field::Asn => Some(ev.geo.asn)
                .filter(|a| *a != 0)
                .map(|a| Cow::Owned(a.to_string())),
            Field::UserAgent => nonempty(&ev.user_agent),
            Field::Attribute(k) => ev
                .attributes
                .iter()
                .find(|(ak, _)| ak == k)
                .map(|(_, v)| Cow::Borrowed(v.as_str())),
            Field::DirectoryRole => dir.for_event(ev).and_then(|r| nonempty(&r.role)),
            Field::DirectoryDepartment => dir.for_event(ev).and_then(|r| nonempty(&r.department)),
            Field::DirectoryStatus => dir.for_event(ev).map(|r| Cow::Borrowed(r.status.as_str())),
        }
    }

    /// The field as a number (`record_count`, `asn`, or text that parses).
    pub fn number(&self, ev: &Event, dir: &Directory) -> Option<f64> {
        match self {
            Field::RecordCount => Some(ev.record_count as f64),
            Field::Asn => Some(ev.geo.asn as f64),
            _ => self.text(ev, dir)?.trim().parse().ok(),
        }
    }
}

/// One condition's test.
#[derive(Debug, Clone)]
pub enum Op {
    Eq(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Prefix(String),
    Contains(String),
    Regex(regex::Regex),
    Cidr(Vec<ipnet::IpNet>),
    Gt(f64),
    Gte(f64),
    Lt(f64),
    Lte(f64),
    Exists(bool),
    SameAs(Field),
}

/// A filter over events.
#[derive(Debug, Clone)]
pub enum Filter {
    All(Vec<Filter>),
    Any(Vec<Filter>),
    Not(Box<Filter>),
    Cond { field: Field, op: Op },
}

impl Default for Filter {
    /// Every event.
    fn default() -> Self {
        Filter::All(Vec::new())
    }
}

impl Filter {
    pub fn matches(&self, ev: &Event, dir: &Directory) -> bool {
        match self {
            Filter::All(v) => v.iter().all(|f| f.matches(ev, dir)),
            Filter::Any(v) => v.iter().any(|f| f.matches(ev, dir)),
            Filter::Not(f) => !f.matches(ev, dir),
            Filter::Cond { field, op } => {
                let num = |cmp: fn(f64, f64) -> bool, x: f64| {
                    field.number(ev, dir).is_some_and(|n| cmp(n, x))
                };
                match op {
                    Op::Exists(want) => field.text(ev, dir).is_some() == *want,
                    Op::NotIn(v) => field
                        .text(ev, dir)
                        .is_none_or(|t| !v.iter().any(|x| *x == t)),
                    Op::Gt(x) => num(|a, b| a > b, *x),
                    Op::Gte(x) => num(|a, b| a >= b, *x),
                    Op::Lt(x) => num(|a, b| a < b, *x),
                    Op::Lte(x) => num(|a, b| a <= b, *x),
                    Op::Cidr(nets) => ev.ip.is_some_and(|ip| {
                        let ip = crate::enrich::netclass::canonical(ip);
                        nets.iter().any(|n| n.contains(&ip))
                    }),
                    Op::SameAs(other) => match (field.text(ev, dir), other.text(ev, dir)) {
                        (Some(a), Some(b)) => a == b,
                        _ => false,
                    },
                    _ => {
                        let Some(t) = field.text(ev, dir) else {
                            return false;
                        };
                        match op {
                            Op::Eq(x) => *x == t,
                            Op::In(v) => v.iter().any(|x| *x == t),
                            Op::Prefix(x) => t.starts_with(x.as_str()),
                            Op::Contains(x) => t.contains(x.as_str()),
                            Op::Regex(r) => r.is_match(&t),
                            _ => unreachable!("handled above"),
                        }
                    }
                }
            }
        }
    }

    /// The actions the filter can match, if it pins `action` (for rebuilding state from storage).
    pub fn actions(&self) -> Option<Vec<String>> {
        match self {
            Filter::Cond {
                field: Field::Action,
                op: Op::Eq(a),
            } => Some(vec![a.clone()]),
            Filter::Cond {
                field: Field::Action,
                op: Op::In(v),
            } => Some(v.clone()),
            Filter::All(v) => v.iter().find_map(Filter::actions),
            Filter::Any(v) => v
                .iter()
                .map(Filter::actions)
                .collect::<Option<Vec<_>>>()
                .map(|a| a.concat()),
            _ => None,
        }
    }

    /// Parses the TOML form; the error names what is wrong.
    pub fn parse(v: &Value) -> Result<Filter, String> {
        let Value::Table(t) = v else {
            return Err("a filter is a table like { field = \"action\", eq = \"login\" }".into());
        };
        let list = |v: &Value, key: &str| -> Result<Vec<Filter>, String> {
            match v {
                Value::Array(items) => items.iter().map(Filter::parse).collect(),
                _ => Err(format!("`{key}` takes a list of filters")),
            }
        };
        if t.len() == 1 {
            if let Some(v) = t.get("all") {
                return list(v, "all").map(Filter::All);
            }
            if let Some(v) = t.get("any") {
                return list(v, "any").map(Filter::Any);
            }
            if let Some(v) = t.get("not") {
                return Filter::parse(v).map(|f| Filter::Not(Box::new(f)));
            }
        }
        let field: Field = match t.get("field") {
            Some(Value::String(s)) => s.parse()?,
            _ => return Err("a condition needs `field` (or use all / any / not)".into()),
        };
        let ops: Vec<(&String, &Value)> = t.iter().filter(|(k, _)| *k != "field").collect();
        let [(name, value)] = ops.as_slice() else {
            return Err(format!("the condition on `{}` needs exactly one operator (eq, in, not_in, prefix, contains, regex, cidr, gt, gte, lt, lte, exists, same_as)", t["field"]));
        };
        let text = || {
            value
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("`{name}` takes a string"))
        };
        let texts = || match value {
            Value::Array(a) => a
                .iter()
                .map(|x| {
                    x.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| format!("`{name}` takes a list of strings"))
                })
                .collect(),
            _ => Err(format!("`{name}` takes a list of strings")),
        };
        let number = || match value {
            Value::Integer(i) => Ok(*i as f64),
            Value::Float(f) => Ok(*f),
            _ => Err(format!("`{name}` takes a number")),
        };
        let op = match name.as_str() {
            "eq" => Op::Eq(text()?),
            "in" => Op::In(texts()?),
            "not_in" => Op::NotIn(texts()?),
            "prefix" => Op::Prefix(text()?),
            "contains" => Op::Contains(text()?),
            "regex" => Op::Regex(regex::Regex::new(&text()?).map_err(|e| format!("`regex`: {e}"))?),
            "cidr" => Op::Cidr(
                texts()?
                    .iter()
                    .map(|c| {
                        c.parse::<ipnet::IpNet>()
                            .or_else(|_| c.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                            .map_err(|_| format!("`{c}` is not a CIDR"))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            "gt" => Op::Gt(number()?),
            "gte" => Op::Gte(number()?),
            "lt" => Op::Lt(number()?),
            "lte" => Op::Lte(number()?),
            "exists" => Op::Exists(value.as_bool().ok_or("`exists` takes true or false")?),
            "same_as" => Op::SameAs(text()?.parse()?),
            other => return Err(format!("`{other}` is not an operator")),
        };
        Ok(Filter::Cond { field, op })
    }
}

impl<'de> Deserialize<'de> for Filter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Filter::parse(&Value::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(s: &str) -> Result<Filter, String> {
        let t: toml::Table = format!("f = {s}").parse().unwrap();
        Filter::parse(&t["f"])
    }

    fn ev(raw: &str) -> Event {
        crate::decode::decode_event(raw.as_bytes(), 1 << 20).unwrap()
    }

    #[test]
    fn conditions_combine_and_bad_filters_say_why() {
        let e = ev(
            r#"{"event_id":"a","ts":"2026-01-06T02:00:00Z","user_id":"u","action":"login","outcome":"failure","ip":"10.1.2.3","record_count":7,"attributes":{"target_user_id":"u"}}"#,
        );
        let d = Directory::default();
        let yes = [
            r#"{ field = "action", eq = "login" }"#,
            r#"{ all = [{ field = "outcome", in = ["failure"] }, { not = { field = "action", eq = "export" } }] }"#,
            r#"{ field = "ip", cidr = ["10.0.0.0/8"] }"#,
            r#"{ field = "record_count", gte = 7 }"#,
            r#"{ field = "attributes.target_user_id", same_as = "user_id" }"#,
            r#"{ field = "directory.role", exists = false }"#,
            r#"{ field = "directory.role", not_in = ["admin"] }"#,
            r#"{ field = "action", regex = "^log" }"#,
        ];
        for s in yes {
            assert!(f(s).unwrap().matches(&e, &d), "{s}");
        }
        for s in [
            r#"{ field = "record_count", gt = 7 }"#,
            r#"{ any = [{ field = "action", prefix = "exp" }] }"#,
            r#"{ field = "country_iso", exists = true }"#,
        ] {
            assert!(!f(s).unwrap().matches(&e, &d), "{s}");
        }
        assert!(f(r#"{ field = "colour", eq = "x" }"#)
            .unwrap_err()
            .contains("not a field"));
        assert!(f(r#"{ field = "action", eq = "x", in = ["y"] }"#)
            .unwrap_err()
            .contains("exactly one operator"));
        assert!(f(r#"{ field = "action", like = "x" }"#)
            .unwrap_err()
            .contains("not an operator"));
        assert_eq!(
            f(r#"{ all = [{ field = "action", in = ["a", "b"] }] }"#)
                .unwrap()
                .actions(),
            Some(vec!["a".into(), "b".into()])
        );
    }
}

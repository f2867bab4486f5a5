//! A mapping's sources, compiled: paths into a JSON record, the transforms on what they find, and
//! the time formats CRMs write (read in `times`). Pure functions of the record (and the input's timezone).

use regex::Regex;
use std::borrow::Cow;

use super::shape::{At, Parsed, Shape};
use super::tree::{parse_path, Node, Step};

use super::spec::SourceSpec;

/// A value's text: strings as they are (borrowed from the record when it had no escapes), numbers
/// and booleans as JSON writes them; null, objects and arrays have none (an array of scalars joins
/// with commas, so `count_list` can count it).
pub fn text<'a>(v: &Node<'a>) -> Option<Cow<'a, str>> {
    match v {
        Node::Str(Cow::Borrowed(s)) => Some(Cow::Borrowed(s)),
        Node::Str(Cow::Owned(s)) => Some(Cow::Owned(s.clone())),
        Node::Num(s) => Some(Cow::Borrowed(s)),
        Node::U64(_) | Node::I64(_) | Node::F64(_) | Node::Bool(_) => {
            Some(Cow::Owned(v.to_string()))
        }
        Node::Arr(a) => a
            .iter()
            .map(text)
            .collect::<Option<Vec<_>>>()
            .map(|v| Cow::Owned(v.join(","))),
        Node::Null | Node::Obj(_) => None,
    }
}

/// A part of a value: borrowed where the value was, owned where it was.
fn narrow<'a>(
    v: Cow<'a, str>,
    part: impl for<'x> Fn(&'x str) -> Option<&'x str>,
) -> Option<Cow<'a, str>> {
    match v {
        Cow::Borrowed(s) => part(s).map(Cow::Borrowed),
        Cow::Owned(s) => part(&s).map(|x| Cow::Owned(x.to_owned())),
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TimeFormat {
    Rfc3339,
    EpochMs,
    EpochS,
    Compact,
    Auto,
    EpochMsLocal,
}

#[derive(Debug)]
pub struct Source {
    paths: Vec<Vec<Step>>,
    /// Where each path's value is, per envelope candidate (see [`Source::resolve`]).
    at: Vec<Vec<At>>,
    concat: bool,
    sep: String,
    constant: Option<String>,
    first_of_list: bool,
    count_list: bool,
    capture: Option<Regex>,
    map: Vec<(String, String)>,
    map_prefix: Vec<(String, String)>,
    map_regex: Vec<(Regex, String)>,
    prefix: Option<String>,
    pub time: Option<TimeFormat>,
}

impl Source {
    /// Compiles one source; every problem is pushed to `errs` (prefixed by `at`).
    pub fn compile(s: &SourceSpec, at: &str, errs: &mut Vec<String>) -> Option<Source> {
        let before = errs.len();
        let kinds = [s.path.is_some(), !s.concat.is_empty(), s.constant.is_some()];
        if kinds.iter().filter(|k| **k).count() != 1 {
            errs.push(format!(
                "{at}: exactly one of `path`, `concat`, `const` is needed"
            ));
        }
        let mut paths = Vec::new();
        for p in s.path.iter().chain(&s.concat) {
            match parse_path(p) {
                Ok(p) => paths.push(p),
                Err(e) => errs.push(format!("{at}: {e}")),
            }
        }
        let re = |p: &str, errs: &mut Vec<String>| match Regex::new(p) {
            Ok(r) => Some(r),
            Err(e) => {
                errs.push(format!("{at}: bad regex `{p}`: {e}"));
                None
            }
        };
        let capture = s.capture.as_deref().and_then(|p| re(p, errs));
        if capture.as_ref().is_some_and(|r| r.captures_len() < 2) {
            errs.push(format!("{at}: `capture` needs one capture group"));
        }
        let map_regex = s
            .map_regex
            .iter()
            .filter_map(|(p, v)| re(p, errs).map(|r| (r, v.clone())))
            .collect();
        let time = match s.time.as_deref() {
            None => None,
            Some("rfc3339") => Some(TimeFormat::Rfc3339),
            Some("epoch_ms") => Some(TimeFormat::EpochMs),
            Some("epoch_s") => Some(TimeFormat::EpochS),
            Some("compact") => Some(TimeFormat::Compact),
            Some("auto") => Some(TimeFormat::Auto),
            Some("epoch_ms_local") => Some(TimeFormat::EpochMsLocal),
            Some(other) => {
                errs.push(format!("{at}: unknown time format `{other}` (rfc3339, epoch_ms, epoch_s, compact, auto, epoch_ms_local)"));
                None
            }
        };
        (errs.len() == before).then(|| Source {
            paths,
            at: Vec::new(),
            concat: !s.concat.is_empty(),
            sep: s.sep.clone(),
            constant: s.constant.clone(),
            first_of_list: s.first_of_list,
            count_list: s.count_list,
            capture,
            map: s.map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            map_prefix: s
                .map_prefix
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            map_regex,
            prefix: s.prefix.clone(),
            time,
        })
    }

    /// The paths this source reads at the root's top level (for `unmapped = "keep"`).
    pub fn top_keys(&self) -> impl Iterator<Item = &str> {
        self.paths.iter().filter_map(|p| match p.first() {
            Some(Step::Key(k)) => Some(k.as_str()),
            _ => None,
        })
    }

    /// Adds the source's paths below each envelope root to the shape.
    pub fn shape(&self, shape: &mut Shape, roots: &[usize]) {
        for r in roots {
            for p in &self.paths {
                shape.add_leaf(*r, p);
            }
        }
    }

    /// Where the paths' values are, below each envelope root (once the shape is complete).
    pub fn resolve(&mut self, shape: &Shape, roots: &[At]) {
        self.at = self
            .paths
            .iter()
            .map(|p| roots.iter().map(|r| shape.at(r, p)).collect())
            .collect();
    }

    /// The value of path `i` below envelope root `env`.
    fn value<'r, 'a>(&self, rec: &'r Parsed<'a>, env: usize, i: usize) -> Option<&'r Node<'a>> {
        rec.value(&self.at[i][env])
    }

    /// The value from the record below envelope root `env`, transformed; `None` or `""` means
    /// "try the next source". Borrowed from the record or the mapping unless a transform built it.
    pub fn read<'a>(&'a self, rec: &Parsed<'a>, env: usize) -> Option<Cow<'a, str>> {
        let mut v: Cow<'a, str> = match (&self.constant, self.concat) {
            (Some(c), _) => Cow::Borrowed(c),
            (None, true) => {
                let parts: Option<Vec<Cow<str>>> = (0..self.paths.len())
                    .map(|i| self.value(rec, env, i).and_then(text))
                    .collect();
                Cow::Owned(parts?.join(&self.sep))
            }
            (None, false) => text(self.value(rec, env, 0)?)?,
        };
        if self.count_list {
            let n = v.split(',').filter(|s| !s.trim().is_empty()).count();
            v = Cow::Owned(n.to_string());
        }
        if self.first_of_list {
            v = narrow(v, |s| s.split(',').next().map(str::trim))?;
        }
        if let Some(re) = &self.capture {
            v = narrow(v, |s| Some(re.captures(s)?.get(1)?.as_str()))?;
        }
        if let Some((_, to)) = self.map.iter().find(|(k, _)| *k == v) {
            v = Cow::Borrowed(to);
        } else if let Some((_, to)) = self
            .map_prefix
            .iter()
            .find(|(k, _)| v.starts_with(k.as_str()))
        {
            v = Cow::Borrowed(to);
        } else if let Some((_, to)) = self.map_regex.iter().find(|(r, _)| r.is_match(&v)) {
            v = Cow::Borrowed(to);
        }
        if let (Some(p), false) = (&self.prefix, v.is_empty()) {
            v = Cow::Owned(format!("{p}{v}"));
        }
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tree::get;
    use super::*;

    #[test]
    fn paths_reach_into_objects_and_arrays() {
        let v = Node::parse(r#"{"a": {"b": [{"c": 7}]}, "ids": ["x", "y"]}"#).unwrap();
        assert_eq!(
            get(&v, &parse_path("a.b[0].c").unwrap()),
            Some(&Node::U64(7))
        );
        assert_eq!(get(&v, &parse_path("a.b[1].c").unwrap()), None);
        assert_eq!(
            text(get(&v, &parse_path("ids").unwrap()).unwrap()).unwrap(),
            "x,y"
        );
        assert!(parse_path("a[x]").is_err());
        assert!(parse_path("a[0").is_err());
    }

    fn src(toml_text: &str) -> Source {
        let spec: SourceSpec = toml::from_str(toml_text).unwrap();
        let mut errs = Vec::new();
        Source::compile(&spec, "t", &mut errs).unwrap_or_else(|| panic!("{errs:?}"))
    }

    /// A source read from one record (the record itself its root).
    impl Source {
        fn read_from(mut self, json: &str) -> Option<String> {
            let mut shape = Shape::default();
            let root = shape.add_root(&[]);
            self.shape(&mut shape, &[root]);
            self.resolve(
                &shape,
                &[At {
                    node: root,
                    rest: Vec::new(),
                }],
            );
            let rec = shape.parse(json, None).unwrap();
            self.read(&rec, 0).map(Cow::into_owned)
        }
    }

    #[test]
    fn transforms_apply_in_order_and_unknown_values_pass_through() {
        let v = r#"{"op": "ReportExported", "n": "a, b,c", "d": "导出了42条客户", "s": 2, "x": "Other"}"#;
        assert_eq!(
            src("path = 'n'\ncount_list = true").read_from(v).unwrap(),
            "3"
        );
        assert_eq!(
            src("path = 'n'\nfirst_of_list = true")
                .read_from(v)
                .unwrap(),
            "a"
        );
        assert_eq!(
            src("path = 'd'\ncapture = '导出了(\\d+)条'")
                .read_from(v)
                .unwrap(),
            "42"
        );
        assert_eq!(
            src("path = 's'\nmap = { '1' = 'login', '2' = 'login_failed' }")
                .read_from(v)
                .unwrap(),
            "login_failed"
        );
        assert_eq!(
            src("path = 'x'\nmap = { '1' = 'login' }")
                .read_from(v)
                .unwrap(),
            "Other"
        );
        assert_eq!(
            src("path = 'op'\nmap_prefix = { 'Report' = 'r' }")
                .read_from(v)
                .unwrap(),
            "r"
        );
        assert_eq!(
            src("path = 'op'\nmap_regex = [['Exp', 'export']]")
                .read_from(v)
                .unwrap(),
            "export"
        );
        assert_eq!(
            src("concat = ['op', 's']\nsep = ':'").read_from(v).unwrap(),
            "ReportExported:2"
        );
        assert_eq!(src("concat = ['op', 'missing']").read_from(v), None);
        assert_eq!(src("const = 'view'").read_from(v).unwrap(), "view");
        assert_eq!(
            src("path = 's'\nprefix = 'wk:'").read_from(v).unwrap(),
            "wk:2"
        );
        let mut errs = Vec::new();
        let bad: SourceSpec =
            toml::from_str("path = 'a'\nconst = 'b'\ncapture = '('\ntime = 'julian'").unwrap();
        assert!(Source::compile(&bad, "f", &mut errs).is_none());
        assert_eq!(errs.len(), 3, "{errs:?}");
    }
}

//! The module map of `src/lib.rs` holds: reads every `use crate::…` / `use super::…` line of `src/`
//! and fails on an import of a higher layer (or a module of the same layer), and on an import cycle
//! between the files of one folder. Needs no server.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers of `src/lib.rs`, lowest first: a module may use modules of lower layers only.
const LAYERS: &[&[&str]] = &[
    &["time"],
    &["model"],
    &["config", "shutdown", "stats"],
    &["metrics", "tls"],
    &["decode", "directory", "enrich", "source", "gen", "privacy"],
    &["store"],
    &["detect", "archive"],
    &["act"],
    &["pipeline", "api"],
    &["commands"],
    &["cli"],
];

fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The `use` statements of a file, joined over lines, with whether each is a `pub use`.
fn uses(text: &str) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    let mut cur: Option<(bool, String)> = None;
    for line in text.lines() {
        if line.starts_with("#[cfg(test)]") {
            break; // unit tests may import what they test from anywhere
        }
        let t = line.trim();
        if line.starts_with(' ') && t.starts_with("use super::") {
            continue; // inside an inline module: `super` is this same file
        }
        if let Some(c) = cur.as_mut() {
            c.1.push_str(t);
        } else {
            let (public, rest) = if let Some(r) = t
                .strip_prefix("pub use ")
                .or_else(|| t.strip_prefix("pub(crate) use "))
            {
                (true, r)
            } else if let Some(r) = t.strip_prefix("use ") {
                (false, r)
            } else {
                continue;
            };
            cur = Some((public, rest.to_owned()));
        }
        if t.ends_with(';') && cur.is_some() {
            out.push(cur.take().unwrap());
        }
    }
    out
}

/// `src/a/b.rs` → ["a", "b"]; `src/a/mod.rs` → ["a"]; `src/lib.rs` → [].
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap();
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The first path segments of a use tree after `crate::` or `super::` (`a::{b, c::d}` → a::b, a::c).
fn targets(path: &str) -> Vec<Vec<String>> {
    let path = path.trim_end_matches(';');
    if let Some(i) = path.find('{') {
        let head: Vec<String> = path[..i]
            .split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let inner = &path[i + 1..path.rfind('}').unwrap_or(path.len())];
        let mut depth = 0;
        let mut item = String::new();
        let mut out = Vec::new();
        for c in inner.chars().chain([',']) {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    let first = item.trim().split("::").next().unwrap_or("").to_owned();
                    if !first.is_empty() && first != "self" {
                        out.push([head.clone(), vec![first]].concat());
                    } else if first == "self" {
                        out.push(head.clone());
                    }
                    item.clear();
                    continue;
                }
                _ => {}
            }
            item.push(c);
        }
        out
    } else {
        vec![path
            .split("::")
            .map(|s| s.split(" as ").next().unwrap().trim().to_owned())
            .collect()]
    }
}

#[test]
fn no_upward_import_and_no_cycle() {
    let src = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src"));
    let mut all = Vec::new();
    files(src, &mut all);
    let mut problems = Vec::new();
    // Files of one folder: (module path) -> the sibling files it imports.
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    let known: BTreeSet<Vec<String>> = all.iter().map(|f| module_path(src, f)).collect();
    for f in &all {
        let me = module_path(src, f);
        let is_facade = f
            .file_name()
            .is_some_and(|n| n == "mod.rs" || n == "lib.rs" || n == "main.rs");
        let text = std::fs::read_to_string(f).unwrap();
        for (public, u) in uses(&text) {
            let (base, rest): (Vec<String>, &str) = if let Some(r) = u.strip_prefix("crate::") {
                (vec![], r)
            } else if let Some(r) = u.strip_prefix("super::") {
                let mut b = me.clone();
                b.pop();
                (b, r)
            } else if u.starts_with("custos::") || !is_facade {
                continue;
            } else {
                (me.clone(), u.as_str()) // `use child::X` in a folder's mod.rs
            };
            for t in targets(rest) {
                let full = [base.clone(), t].concat();
                let (Some(from), Some(to)) = (me.first(), full.first()) else {
                    continue;
                };
                if from != to {
                    match (layer(from), layer(to)) {
                        (Some(a), Some(b)) if b < a => {}
                        (Some(_), Some(_)) => problems.push(format!(
                            "{}: `{u}` imports {to}, which is not in a lower layer than {from}",
                            f.display()
                        )),
                        _ => problems.push(format!(
                            "{}: module {from} or {to} is missing from LAYERS",
                            f.display()
                        )),
                    }
                    continue;
                }
                // Within one folder: the longest known file prefix of the target.
                let target = (1..=full.len())
                    .rev()
                    .map(|n| full[..n].to_vec())
                    .find(|p| known.contains(p));
                if let Some(target) = target {
                    if target != me && !(is_facade && public) {
                        edges.entry(me.clone()).or_default().insert(target);
                    }
                }
            }
        }
    }
    // Cycles among the files of a folder (depth-first search).
    fn visit(
        n: &Vec<String>,
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        stack: &mut Vec<Vec<String>>,
        done: &mut BTreeSet<Vec<String>>,
        problems: &mut Vec<String>,
    ) {
        if done.contains(n) {
            return;
        }
        if let Some(i) = stack.iter().position(|s| s == n) {
            let cycle: Vec<String> = stack[i..].iter().chain([n]).map(|p| p.join("::")).collect();
            problems.push(format!("import cycle: {}", cycle.join(" -> ")));
            return;
        }
        stack.push(n.clone());
        for m in edges.get(n).into_iter().flatten() {
            visit(m, edges, stack, done, problems);
        }
        stack.pop();
        done.insert(n.clone());
    }
    let mut done = BTreeSet::new();
    for n in edges.keys() {
        visit(n, &edges, &mut Vec::new(), &mut done, &mut problems);
    }
    assert!(
        problems.is_empty(),
        "{} layering problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn the_module_map_in_lib_rs_names_every_module_and_layer() {
    let lib = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/lib.rs")).unwrap();
    let declared: BTreeSet<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .map(|m| m.trim_end_matches(';'))
        .collect();
    let layered: BTreeSet<&str> = LAYERS.iter().flat_map(|l| l.iter().copied()).collect();
    assert_eq!(
        declared, layered,
        "src/lib.rs modules and this test's LAYERS differ"
    );
    for m in &declared {
        assert!(
            lib.contains(&format!("[`{m}`]")),
            "the module map in src/lib.rs does not describe `{m}`"
        );
    }
}

//! Detector files: `detectors/<id>.toml`, one per detector. [`load_dir`] parses and lints every file
//! and reports all problems (file and field) at once; the service refuses to start on any.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use std::time::Duration;

use serde::Deserialize;

use super::kinds::KindParams;
use crate::model::{Response, Severity};
use crate::time::Span;

/// The raw file, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    id: String,
    title: String,
    #[serde(default)]
    description: String,
    kind: String,
    severity: Severity,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    params: toml::Table,
    #[serde(default)]
    allow_users: Vec<String>,
    #[serde(default)]
    allow_cidrs: Vec<String>,
    #[serde(default)]
    suppress_for: Option<Span>,
    #[serde(default = "no_response")]
    response: Response,
}

fn yes() -> bool {
    true
}

fn no_response() -> Response {
    Response::None
}

/// A validated detector definition.
#[derive(Debug, Clone)]
pub struct DetectorSpec {
    pub id: String,
    pub title: String,
    pub description: String,
    /// The kind and its params, parsed and checked.
    pub kind: KindParams,
    pub severity: Severity,
    pub enabled: bool,
    pub allow_users: Vec<String>,
    pub allow_cidrs: Vec<ipnet::IpNet>,
    pub suppress_for: Duration,
    pub response: Response,
    pub path: PathBuf,
}

/// Every problem found in the detector files.
#[derive(Debug, thiserror::Error)]
#[error("invalid detector files ({} problem{}):\n  - {}", .0.len(), if .0.len() == 1 { "" } else { "s" }, .0.join("\n  - "))]
pub struct LintErrors(pub Vec<String>);

/// The shipped detector files, compiled in: used when the configured folder does not exist.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "bulk_export.toml",
        include_str!("../../detectors/bulk_export.toml"),
    ),
    (
        "failed_login_burst.toml",
        include_str!("../../detectors/failed_login_burst.toml"),
    ),
    (
        "impossible_travel.toml",
        include_str!("../../detectors/impossible_travel.toml"),
    ),
    (
        "mass_delete.toml",
        include_str!("../../detectors/mass_delete.toml"),
    ),
    (
        "new_country_login.toml",
        include_str!("../../detectors/new_country_login.toml"),
    ),
    (
        "off_hours_login.toml",
        include_str!("../../detectors/off_hours_login.toml"),
    ),
    (
        "orphaned_account.toml",
        include_str!("../../detectors/orphaned_account.toml"),
    ),
    (
        "password_spray.toml",
        include_str!("../../detectors/password_spray.toml"),
    ),
    (
        "privilege_change.toml",
        include_str!("../../detectors/privilege_change.toml"),
    ),
];

/// Parses and checks one file; every problem is prefixed with the file's path and names the field.
pub fn load_text(path: &Path, text: &str) -> Result<DetectorSpec, Vec<String>> {
    let at = |field: &str, msg: &str| format!("{}: {field}: {msg}", path.display());
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| vec![at("(syntax)", e.message())])?;
    let file: File = match File::deserialize(toml::Value::Table(table.clone())) {
        Ok(f) => f,
        Err(e) => {
            // Name every bad key, not just the first.
            let mut problems = Vec::new();
            for (k, v) in &table {
                let mut probe = minimal();
                probe.insert(k.clone(), v.clone());
                if let Err(e) = File::deserialize(toml::Value::Table(probe)) {
                    problems.push(at(k, e.message().trim()));
                }
            }
            for required in ["id", "title", "kind", "severity"] {
                if !table.contains_key(required) {
                    problems.push(at(required, "is required"));
                }
            }
            if problems.is_empty() {
                problems.push(at("(file)", e.message()));
            }
            return Err(problems);
        }
    };
    let mut problems = Vec::new();
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    if file.id != stem {
        problems.push(at(
            "id",
            &format!("`{}` must match the file name `{stem}`", file.id),
        ));
    }
    if file.title.trim().is_empty() {
        problems.push(at("title", "must not be empty"));
    }
    let suppress_for = file
        .suppress_for
        .as_ref()
        .map_or(Duration::from_secs(3600), Span::as_std);
    let mut allow_cidrs = Vec::new();
    for c in &file.allow_cidrs {
        match crate::config::cidr(c) {
            Some(n) => allow_cidrs.push(n),
            None => problems.push(at(
                "allow_cidrs",
                &format!("`{c}` is not a CIDR or an address"),
            )),
        }
    }
    let kind = KindParams::parse(&file.kind, &file.params).map_err(|errs| {
        errs.into_iter()
            .map(|(field, msg)| at(&field, &msg))
            .collect::<Vec<_>>()
    });
    let kind = match kind {
        Ok(k) if problems.is_empty() => k,
        Ok(_) => return Err(problems),
        Err(mut errs) => {
            problems.append(&mut errs);
            return Err(problems);
        }
    };
    Ok(DetectorSpec {
        id: file.id,
        title: file.title,
        description: file.description,
        kind,
        severity: file.severity,
        enabled: file.enabled,
        allow_users: file.allow_users,
        allow_cidrs,
        suppress_for,
        response: file.response,
        path: path.to_owned(),
    })
}

/// The required keys with placeholder values, to test one other key at a time.
fn minimal() -> toml::Table {
    let mut t = toml::Table::new();
    for k in ["id", "title", "kind"] {
        t.insert(k.into(), toml::Value::String("x".into()));
    }
    t.insert("severity".into(), toml::Value::String("low".into()));
    t
}

/// The summary `custos detectors lint` prints for valid files.
pub fn describe(specs: &[DetectorSpec]) -> BTreeMap<String, String> {
    specs
        .iter()
        .map(|s| {
            let state = if s.enabled { "enabled" } else { "disabled" };
            (
                s.id.clone(),
                format!(
                    "{} ({}, {}, {state}, response {})",
                    s.title,
                    s.kind.name(),
                    s.severity,
                    s.response
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> String {
        load_text(Path::new("x.toml"), text).unwrap_err().join("\n")
    }

    #[test]
    fn every_problem_names_its_field_and_closed_sets_name_their_values() {
        let p =
            problems("id = \"y\"\ntitle = \"\"\nkind = \"bulk_export\"\nseverity = \"urgent\"\n");
        assert!(
            p.contains("severity") && p.contains("low, medium, high or critical"),
            "{p}"
        );
        let p = problems("id = \"x\"\ntitle = \"t\"\nkind = \"bulk_export\"\nseverity = \"low\"\n[params]\nwindow = \"soon\"\nthreshold_rows = 0\n");
        assert!(
            p.contains("params.window") && p.contains("not a duration"),
            "{p}"
        );
        let p = problems("id = \"x\"\ntitle = \"t\"\nkind = \"bulk_export\"\nseverity = \"low\"\n[params]\nthreshold_rows = 0\n");
        assert!(
            p.contains("params.threshold_rows: must be at least 1"),
            "{p}"
        );
        let p = problems("id = \"x\"\ntitle = \"t\"\nkind = \"telepathy\"\nseverity = \"low\"\n");
        assert!(
            p.contains("kind") && p.contains("telepathy") && p.contains("bulk_export"),
            "{p}"
        );
        let p = problems("id = \"x\"\ntitle = \"t\"\nkind = \"orphaned_account\"\nseverity = \"low\"\n[params]\nunknown_users = \"maybe\"\n");
        assert!(
            p.contains("params.unknown_users") && p.contains("alert or ignore"),
            "{p}"
        );
    }

    #[test]
    fn the_shipped_files_parse() {
        for (name, text) in BUILTIN {
            let spec = load_text(Path::new(name), text).unwrap();
            assert_eq!(format!("{}.toml", spec.id), *name);
        }
        assert_eq!(
            BUILTIN.len(),
            std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/detectors"))
                .unwrap()
                .filter(|e| e
                    .as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "toml"))
                .count()
        );
    }
}

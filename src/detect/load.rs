//! A detectors folder: its `*.toml` files (native kinds, see [`super::spec`]) and the Sigma rules of
//! its `sigma/` folder (see [`super::sigma_load`]), loaded and linted together; every problem is
//! reported at once and ids must be unique across both.

use std::path::{Path, PathBuf};

use super::sigma_load;
use super::spec::{load_text, DetectorSpec, LintErrors, BUILTIN};

/// [`load_dir_noting`], logging the notes (skipped Sigma rules).
pub fn load_dir(dir: &Path) -> Result<Vec<DetectorSpec>, LintErrors> {
    let (specs, notes) = load_dir_noting(dir)?;
    for n in notes {
        tracing::info!(note = %n, "sigma rule skipped");
    }
    Ok(specs)
}

/// Loads every `*.toml` in `dir` (sorted), or the built-in files when `dir` does not exist, then the
/// Sigma rules of `dir/sigma/`. Returns all specs and notes, or every problem found.
pub fn load_dir_noting(dir: &Path) -> Result<(Vec<DetectorSpec>, Vec<String>), LintErrors> {
    let mut files: Vec<(PathBuf, Result<String, String>)> = if dir.is_dir() {
        let entries = std::fs::read_dir(dir).map_err(|e| {
            LintErrors(vec![format!(
                "{}: cannot read the detectors folder: {e}",
                dir.display()
            )])
        })?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        paths
            .into_iter()
            .map(|p| {
                let t = std::fs::read_to_string(&p).map_err(|e| e.to_string());
                (p, t)
            })
            .collect()
    } else {
        tracing::warn!(dir = %dir.display(), "detectors folder not found; using the built-in detector files");
        BUILTIN
            .iter()
            .map(|(name, text)| {
                (
                    PathBuf::from(format!("<built-in>/{name}")),
                    Ok(text.to_string()),
                )
            })
            .collect()
    };
    let mut problems = Vec::new();
    let mut specs: Vec<DetectorSpec> = Vec::new();
    for (path, text) in files.drain(..) {
        let parsed = match text {
            Ok(t) => load_text(&path, &t),
            Err(e) => Err(vec![format!(
                "{}: (file): cannot read: {e}",
                path.display()
            )]),
        };
        match parsed {
            Ok(spec) => {
                if let Some(other) = specs.iter().find(|s| s.id == spec.id) {
                    problems.push(format!(
                        "{}: id: `{}` is already defined in {}",
                        path.display(),
                        spec.id,
                        other.path.display()
                    ));
                }
                specs.push(spec);
            }
            Err(mut p) => problems.append(&mut p),
        }
    }
    let mut notes = Vec::new();
    let sigma_dir = dir.join("sigma");
    if sigma_dir.is_dir() {
        let mut loaded = sigma_load::load(&sigma_dir);
        problems.append(&mut loaded.problems);
        notes.append(&mut loaded.notes);
        for spec in loaded.specs {
            if let Some(other) = specs.iter().find(|s| s.id == spec.id) {
                problems.push(format!(
                    "{}: id: `{}` is already defined in {}",
                    spec.path.display(),
                    spec.id,
                    other.path.display()
                ));
            }
            specs.push(spec);
        }
    }
    if problems.is_empty() {
        Ok((specs, notes))
    } else {
        Err(LintErrors(problems))
    }
}

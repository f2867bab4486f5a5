//! `custos detectors test`: runs each detector over its fixture (`detectors/tests/<id>/events.jsonl`,
//! optional `directory.jsonl`) and compares the alerts with `expected.jsonl`. An expected line lists
//! the fields that matter (e.g. `user_id`, `ts`, `evidence_event_ids`); every listed field must match,
//! and the number of alerts must be equal.

use std::path::Path;

use anyhow::Context;
use serde_json::Value;

use super::engine::{Detect, Engine, LatestAlerts};
use super::spec::DetectorSpec;
use super::worktime::WorkTime;
use crate::decode::{decode_directory, decode_event};
use crate::directory::Directory;
use crate::model::Alert;

/// The outcome of one detector's fixture.
pub struct FixtureResult {
    pub detector: String,
    pub alerts: usize,
    pub problems: Vec<String>,
}

fn lines(path: &Path) -> anyhow::Result<Vec<String>> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with("//"))
        .map(str::to_owned)
        .collect())
}

/// The JSON form of an alert (as published), for comparison.
pub fn alert_json(a: &Alert) -> Value {
    let mut v = serde_json::to_value(a).expect("alert serializes");
    v["ts"] = Value::String(crate::time::rfc3339(a.ts));
    v
}

/// The geo-IP stage fixtures run through: the generator's demo City database (London 81.2.69.0/24,
/// Berlin 85.214.0.0/16, New York 12.0.0.0/8, Tokyo 133.0.0.0/8, Sydney 1.128.0.0/16, … — see
/// `src/gen/mod.rs`), written once per process.
fn geo() -> anyhow::Result<crate::enrich::GeoEnricher> {
    static DB: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    let path = match DB.get() {
        Some(p) => p.clone(),
        None => {
            let p = std::env::temp_dir()
                .join(format!("custos-fixtures-city-{}.mmdb", std::process::id()));
            crate::gen::geodb::write_demo_city_db(&p)?;
            DB.get_or_init(|| p).clone()
        }
    };
    let cfg = crate::config::GeoIpConfig {
        city_db: vec![path.to_string_lossy().into_owned()],
        asn_db: vec![],
        cache_entries: 0,
        reload_interval_ms: 0,
    };
    Ok(crate::enrich::build(&cfg)?.0)
}

/// Runs the fixture of `spec` (which must exist) through geo-IP enrichment and the detector, and returns
/// its alerts' final versions, in order.
pub fn run_one(dir: &Path, spec: &DetectorSpec, worktime: &WorkTime) -> anyhow::Result<Vec<Alert>> {
    use crate::enrich::Enricher;
    let mut geo = geo()?;
    let mut directory = Directory::default();
    for (i, l) in lines(&dir.join("directory.jsonl"))?.iter().enumerate() {
        let rec = decode_directory(l.as_bytes(), 1 << 20).map_err(|e| {
            anyhow::anyhow!(
                "{}: line {}: {e}",
                dir.join("directory.jsonl").display(),
                i + 1
            )
        })?;
        directory.apply(rec);
    }
    let mut spec = spec.clone();
    spec.enabled = true;
    let mut engine = Engine::new(vec![spec], worktime.clone());
    let mut alerts = LatestAlerts::default();
    let mut out = Vec::new();
    for (i, l) in lines(&dir.join("events.jsonl"))?.iter().enumerate() {
        let mut ev = decode_event(l.as_bytes(), 1 << 20).map_err(|e| {
            anyhow::anyhow!(
                "{}: line {}: {e}",
                dir.join("events.jsonl").display(),
                i + 1
            )
        })?;
        geo.enrich(&mut ev);
        out.clear();
        engine.on_event(&ev, &directory, &mut out);
        alerts.absorb(&mut out);
    }
    // The end of the input: what waited (unknown accounts) is due.
    engine.release(&directory, true, &mut out);
    alerts.absorb(&mut out);
    Ok(alerts.into_vec())
}

/// Runs every detector that has a fixture folder under `root/tests/`.
pub fn run_all(
    root: &Path,
    specs: &[DetectorSpec],
    worktime: &WorkTime,
) -> anyhow::Result<Vec<FixtureResult>> {
    let mut results = Vec::new();
    for spec in specs {
        let dir = root.join("tests").join(&spec.id);
        if !dir.is_dir() {
            results.push(FixtureResult {
                detector: spec.id.clone(),
                alerts: 0,
                problems: vec![format!("no fixture folder {}", dir.display())],
            });
            continue;
        }
        let alerts = run_one(&dir, spec, worktime)?;
        let expected: Vec<Value> = lines(&dir.join("expected.jsonl"))?
            .iter()
            .enumerate()
            .map(|(i, l)| {
                serde_json::from_str(l).with_context(|| {
                    format!("{}: line {}", dir.join("expected.jsonl").display(), i + 1)
                })
            })
            .collect::<anyhow::Result<_>>()?;
        let mut problems = Vec::new();
        if alerts.len() != expected.len() {
            problems.push(format!(
                "expected {} alert(s), got {}",
                expected.len(),
                alerts.len()
            ));
        }
        for (i, (want, got)) in expected
            .iter()
            .zip(alerts.iter().map(alert_json))
            .enumerate()
        {
            for (k, v) in want.as_object().into_iter().flatten() {
                if got.get(k) != Some(v) {
                    problems.push(format!(
                        "alert {}: `{k}` expected {v}, got {}",
                        i + 1,
                        got.get(k).unwrap_or(&Value::Null)
                    ));
                }
            }
        }
        for (i, extra) in alerts.iter().enumerate().skip(expected.len()) {
            problems.push(format!(
                "unexpected alert {}: {} {} {}",
                i + 1,
                extra.user_id,
                extra.ts,
                extra.summary
            ));
        }
        results.push(FixtureResult {
            detector: spec.id.clone(),
            alerts: alerts.len(),
            problems,
        });
    }
    Ok(results)
}

//! Expected-output fixtures of a mapping (`mappings/tests/<name>/`): `input.jsonl` records, the
//! input's context in `input.toml` (`tenant`, `timezone`, `stream`), and `expected.jsonl`, one line
//! per record: the contract object it maps to, or `{"rejected": "<code>"}`.

use std::path::Path;

use serde::Deserialize;
use serde_json::{json, Value};

use super::{InputContext, Mapping};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextSpec {
    pub tenant: Option<String>,
    pub timezone: Option<String>,
    pub stream: Option<String>,
}

impl ContextSpec {
    pub fn build(self) -> Result<InputContext, String> {
        let timezone = match self.timezone {
            Some(t) => t.parse().map_err(|_| format!("unknown timezone `{t}`"))?,
            None => chrono_tz::Tz::UTC,
        };
        Ok(InputContext {
            tenant: self.tenant,
            timezone,
            stream: self.stream,
        })
    }
}

/// What one record maps to, as a fixture line writes it.
pub fn outcome(m: &Mapping, raw: &str, ctx: &InputContext) -> Value {
    // The native checks too: a fixture's object is what would be stored.
    match m.map(raw.as_bytes(), 1 << 20, ctx).and_then(|mapped| {
        let obj = mapped.to_contract();
        mapped.validate().map(|_| obj)
    }) {
        Ok(obj) => Value::Object(obj),
        Err(r) => json!({ "rejected": r.code.to_string() }),
    }
}

/// Where the pipeline's direct checks of a mapped record ([`super::Mapped::validate`]) and the
/// native decoder reading the record's contract object disagree (they must not: same event, same
/// rejection).
pub fn disagreement(m: &Mapping, raw: &str, ctx: &InputContext) -> Option<String> {
    let mapped = m.map(raw.as_bytes(), 1 << 20, ctx).ok()?;
    let via_json = super::validate(&mapped.to_contract());
    let direct = mapped.validate();
    (direct != via_json).then(|| format!("direct {direct:?} ≠ through JSON {via_json:?}"))
}

/// Runs the fixtures in `dir` against `m`; the differences, one message each (empty: all pass).
pub fn check(m: &Mapping, dir: &Path) -> Result<Vec<String>, String> {
    let read = |f: &str| {
        std::fs::read_to_string(dir.join(f)).map_err(|e| format!("{}: {e}", dir.join(f).display()))
    };
    let ctx = match std::fs::read_to_string(dir.join("input.toml")) {
        Ok(t) => toml::from_str::<ContextSpec>(&t)
            .map_err(|e| format!("input.toml: {e}"))?
            .build()?,
        Err(_) => InputContext::default(),
    };
    let (input, expected) = (read("input.jsonl")?, read("expected.jsonl")?);
    let inputs: Vec<&str> = input.lines().filter(|l| !l.trim().is_empty()).collect();
    let wants: Vec<&str> = expected.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut diffs = Vec::new();
    if inputs.len() != wants.len() {
        diffs.push(format!(
            "{} input records, {} expected lines",
            inputs.len(),
            wants.len()
        ));
    }
    for (i, (raw, want)) in inputs.iter().zip(&wants).enumerate() {
        let want: Value = serde_json::from_str(want)
            .map_err(|e| format!("expected.jsonl line {}: {e}", i + 1))?;
        let got = outcome(m, raw, &ctx);
        if got != want {
            diffs.push(format!("record {}: got {got}, expected {want}", i + 1));
        }
        if let Some(d) = disagreement(m, raw, &ctx) {
            diffs.push(format!("record {}: {d}", i + 1));
        }
    }
    Ok(diffs)
}

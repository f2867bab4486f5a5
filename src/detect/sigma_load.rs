//! Loads and lints the Sigma rules of `<detectors dir>/sigma/*.yml` into detector specs. Every
//! problem names its file: a document rsigma could not parse, a rule that does not compile, a field
//! a custos event does not have, a correlation custos cannot evaluate as events arrive. A rule whose
//! `logsource` is neither absent nor `product: crm` is about another system: it is skipped, with a
//! note. Custos' own settings live in an optional `custos:` mapping of the rule.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use rsigma_parser::{
    parse_sigma_yaml, ConditionOperator, CorrelationCondition, CorrelationRule, CorrelationType,
    Level, SigmaCollection, SigmaRule, Status, WindowMode,
};
use serde::Deserialize;

use super::kinds::KindParams;
use super::sigma::{Aggregation, Correlation, Params, Sigma};
use super::sigma_view::{known, FIELDS};
use super::spec::DetectorSpec;
use crate::model::{Response, Severity};
use crate::time::Span;

/// A rule's `custos:` mapping.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Custos {
    enabled: Option<bool>,
    suppress_for: Option<Span>,
    response: Option<Response>,
    allow_users: Vec<String>,
    allow_cidrs: Vec<String>,
}

/// What loading a Sigma folder found.
#[derive(Debug, Default)]
pub struct Loaded {
    pub specs: Vec<DetectorSpec>,
    pub problems: Vec<String>,
    /// Rules skipped on purpose (another product's logsource).
    pub notes: Vec<String>,
}

fn severity(level: Option<Level>) -> Severity {
    match level {
        Some(Level::Informational | Level::Low) => Severity::Low,
        Some(Level::High) => Severity::High,
        Some(Level::Critical) => Severity::Critical,
        Some(Level::Medium) | None => Severity::Medium,
    }
}

/// The rule is about CRM events: no logsource at all, or `product: crm`.
fn applies(ls: &rsigma_parser::LogSource) -> bool {
    match &ls.product {
        Some(p) => p.eq_ignore_ascii_case("crm"),
        None => ls.category.is_none() && ls.service.is_none() && ls.custom.is_empty(),
    }
}

/// The names (`id`, `name` and `title`) of the temporal correlations that have no `condition` (all
/// their rules must match; rsigma reads a missing condition as `gte: 1`).
fn temporal_without_condition(text: &str) -> HashSet<String> {
    let mut out = HashSet::new();
    for doc in yaml_serde::Deserializer::from_str(text) {
        let Ok(v) = yaml_serde::Value::deserialize(doc) else {
            break;
        };
        let Some(corr) = v.get("correlation") else {
            continue;
        };
        let temporal = corr
            .get("type")
            .and_then(|t| t.as_str())
            .is_some_and(|t| t.starts_with("temporal"));
        if temporal && corr.get("condition").is_none() {
            for k in ["id", "name", "title"] {
                if let Some(s) = v.get(k).and_then(|s| s.as_str()) {
                    out.insert(s.to_owned());
                }
            }
        }
    }
    out
}

fn custos_settings(attrs: &HashMap<String, yaml_serde::Value>) -> Result<Custos, String> {
    let Some(v) = attrs.get("custos") else {
        return Ok(Custos::default());
    };
    let json = serde_json::to_value(v).map_err(|e| e.to_string())?;
    Custos::deserialize(json).map_err(|e| format!("custos: {e}"))
}

/// The fields a rule names (detections, group-by, value fields).
fn fields_of(rule: Option<&SigmaRule>, corr: Option<&CorrelationRule>) -> Vec<String> {
    let mut c = SigmaCollection::new();
    c.rules.extend(rule.cloned());
    c.correlations.extend(corr.cloned());
    rsigma_eval::RuleFieldSet::collect(&c, &[], false)
        .names()
        .map(str::to_owned)
        .collect()
}

fn unknown_fields(fields: &[String]) -> Option<String> {
    let bad: Vec<&str> = fields
        .iter()
        .map(String::as_str)
        .filter(|f| !known(f))
        .collect();
    (!bad.is_empty()).then(|| {
        format!(
            "{} not a field of custos events (fields: {}, attributes.<key>)",
            bad.iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(", ")
                + if bad.len() == 1 { " is" } else { " are" },
            FIELDS.join(", ")
        )
    })
}

/// The lower bound a condition sets (streaming alerts can only be raised when a count reaches a
/// bound); an upper bound or an inequality is a problem.
fn lower_bound(preds: &[(ConditionOperator, u64)]) -> Result<u64, String> {
    let mut min = None::<u64>;
    for (op, n) in preds {
        let m = match op {
            ConditionOperator::Gte => *n,
            ConditionOperator::Gt => n.saturating_add(1),
            other => {
                return Err(format!(
                    "condition `{}` is not supported: custos raises a correlation when its count reaches a bound (gte or gt), as events arrive",
                    format!("{other:?}").to_lowercase()
                ))
            }
        };
        min = Some(min.map_or(m, |x| x.max(m)));
    }
    min.ok_or_else(|| "condition needs gte or gt".to_owned())
}

struct Doc {
    path: PathBuf,
    rule: SigmaRule,
}

/// Loads `dir/*.yml` and `dir/*.yaml` (sorted).
pub fn load(dir: &Path) -> Loaded {
    let mut out = Loaded::default();
    let mut paths: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
            .collect(),
        Err(e) => {
            out.problems.push(format!(
                "{}: cannot read the Sigma folder: {e}",
                dir.display()
            ));
            return out;
        }
    };
    paths.sort();
    let mut docs: Vec<Doc> = Vec::new();
    let mut corrs: Vec<(PathBuf, CorrelationRule, bool)> = Vec::new();
    for path in paths {
        let at = |msg: &str| format!("{}: {msg}", path.display());
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                out.problems.push(at(&format!("cannot read: {e}")));
                continue;
            }
        };
        let coll = match parse_sigma_yaml(&text) {
            Ok(c) => c,
            Err(e) => {
                out.problems.push(at(&format!("(syntax): {e}")));
                continue;
            }
        };
        // A parse returns Ok with the documents it could not read listed: each is a problem.
        out.problems.extend(coll.errors.iter().map(|e| at(e)));
        if !coll.filters.is_empty() {
            out.problems.push(at(
                "Sigma filter documents are not supported; put the exclusion in the rule",
            ));
        }
        let no_condition = temporal_without_condition(&text);
        for c in coll.correlations {
            let all = [&c.id, &c.name]
                .into_iter()
                .flatten()
                .chain([&c.title])
                .any(|k| no_condition.contains(k));
            corrs.push((path.clone(), c, all));
        }
        docs.extend(coll.rules.into_iter().map(|rule| Doc {
            path: path.clone(),
            rule,
        }));
    }
    // A correlation names its rules by `id` or `name`.
    let by_ref: HashMap<&str, usize> = docs
        .iter()
        .enumerate()
        .flat_map(|(i, d)| {
            [d.rule.id.as_deref(), d.rule.name.as_deref()]
                .into_iter()
                .flatten()
                .map(move |k| (k, i))
        })
        .collect();
    let mut referenced: HashMap<usize, bool> = HashMap::new(); // doc → some correlation generates it
    for (_, c, _) in &corrs {
        for r in &c.rules {
            if let Some(&i) = by_ref.get(r.as_str()) {
                *referenced.entry(i).or_default() |= c.generate;
            }
        }
    }
    let mut compiled: HashMap<usize, Option<rsigma_eval::CompiledRule>> = HashMap::new();
    for (i, d) in docs.iter().enumerate() {
        let at = |msg: &str| format!("{}: rule “{}”: {msg}", d.path.display(), d.rule.title);
        if !applies(&d.rule.logsource) {
            out.notes.push(at(&format!(
                "skipped: its logsource ({}) is not CRM events (product: crm)",
                describe_logsource(&d.rule.logsource)
            )));
            compiled.insert(i, None);
            continue;
        }
        if let Some(msg) = unknown_fields(&fields_of(Some(&d.rule), None)) {
            out.problems.push(at(&msg));
            continue;
        }
        let rule = match rsigma_eval::compile_rule(&d.rule) {
            Ok(r) => r,
            Err(e) => {
                out.problems.push(at(&format!("does not compile: {e}")));
                continue;
            }
        };
        compiled.insert(i, Some(rule.clone()));
        if referenced.get(&i) == Some(&false) {
            continue; // only its correlations alert
        }
        let Some(id) = d.rule.name.clone().or_else(|| d.rule.id.clone()) else {
            out.problems
                .push(at("needs a `name` or an `id` (the alert's detector)"));
            continue;
        };
        let spec = spec_for(
            id,
            &d.rule.title,
            d.rule.description.as_deref(),
            d.rule.level,
            d.rule.status,
            &d.rule.custom_attributes,
            StdDuration::from_secs(3600),
            Sigma::Detection(rule),
            &d.path,
        );
        match spec {
            Ok(s) => out.specs.push(s),
            Err(mut p) => out.problems.append(&mut p),
        }
    }
    for (path, c, all_rules) in &corrs {
        let at = |msg: &str| format!("{}: correlation “{}”: {msg}", path.display(), c.title);
        let mut rules = Vec::new();
        let mut skipped = false;
        let mut bad = false;
        for r in &c.rules {
            match by_ref.get(r.as_str()).map(|i| compiled.get(i)) {
                Some(Some(Some(rule))) => rules.push((r.clone(), rule.clone())),
                Some(Some(None)) => skipped = true,
                Some(None) => bad = true, // the rule's own problem is reported
                None => {
                    out.problems.push(at(&format!(
                        "rule `{r}` is not the `id` or `name` of a detection rule in this folder"
                    )));
                    bad = true;
                }
            }
        }
        if skipped {
            out.notes
                .push(at("skipped: it correlates rules about another product"));
            continue;
        }
        match correlation(c, rules, *all_rules) {
            Ok(corr) if !bad => {
                let Some(id) = c.name.clone().or_else(|| c.id.clone()) else {
                    out.problems
                        .push(at("needs a `name` or an `id` (the alert's detector)"));
                    continue;
                };
                let suppress = StdDuration::from_secs(c.timespan.seconds.max(1));
                match spec_for(
                    id,
                    &c.title,
                    c.description.as_deref(),
                    c.level,
                    c.status,
                    &c.custom_attributes,
                    suppress,
                    Sigma::Correlation(corr),
                    path,
                ) {
                    Ok(s) => out.specs.push(s),
                    Err(mut p) => out.problems.append(&mut p),
                }
            }
            Ok(_) => {}
            Err(errs) => out.problems.extend(errs.iter().map(|e| at(e))),
        }
    }
    out
}

fn describe_logsource(ls: &rsigma_parser::LogSource) -> String {
    let mut parts: Vec<String> = [
        ("product", &ls.product),
        ("category", &ls.category),
        ("service", &ls.service),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}: {v}")))
    .collect();
    let mut custom: Vec<_> = ls.custom.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    custom.sort();
    parts.extend(custom);
    parts.join(", ")
}

/// Checks a correlation custos can evaluate on its event-time windows, and compiles it.
fn correlation(
    c: &CorrelationRule,
    rules: Vec<(String, rsigma_eval::CompiledRule)>,
    all_rules: bool,
) -> Result<Correlation, Vec<String>> {
    let mut errs = Vec::new();
    if c.window != WindowMode::Sliding {
        errs.push(format!(
            "window `{}` is not supported (custos windows slide in event time)",
            c.window.as_str()
        ));
    }
    if !c.aliases.is_empty() {
        errs.push("field aliases are not supported: name the same field in every rule".into());
    }
    if c.timespan.seconds == 0 || c.timespan.seconds > 31 * 86_400 {
        errs.push("timespan must be between 1s and 31d".into());
    }
    let (preds, field) = match &c.condition {
        CorrelationCondition::Threshold {
            predicates, field, ..
        } => (predicates.clone(), field.clone().unwrap_or_default()),
        CorrelationCondition::Extended(_) => {
            errs.push("a boolean condition over rules is not supported; temporal needs all its rules, or `gte: N` of them".into());
            (Vec::new(), Vec::new())
        }
    };
    let one_field = |errs: &mut Vec<String>| match field.as_slice() {
        [f] => Some(f.clone()),
        _ => {
            errs.push(format!(
                "`{}` needs exactly one condition field",
                c.correlation_type.as_str()
            ));
            None
        }
    };
    let aggregation = match c.correlation_type {
        CorrelationType::EventCount => Some(Aggregation::EventCount),
        CorrelationType::ValueCount => one_field(&mut errs).map(Aggregation::ValueCount),
        CorrelationType::ValueSum => one_field(&mut errs).map(Aggregation::ValueSum),
        CorrelationType::Temporal => Some(Aggregation::Temporal),
        CorrelationType::TemporalOrdered => Some(Aggregation::TemporalOrdered),
        other => {
            errs.push(format!(
                "correlation type `{}` is not supported (event_count, value_count, value_sum, temporal, temporal_ordered)",
                other.as_str()
            ));
            None
        }
    };
    let mut named = c.group_by.clone();
    named.extend(field.iter().cloned());
    if let Some(msg) = unknown_fields(&named) {
        errs.push(msg);
    }
    let min = match (&aggregation, all_rules) {
        (Some(Aggregation::Temporal | Aggregation::TemporalOrdered), true) => {
            Ok(rules.len() as u64)
        }
        (Some(Aggregation::TemporalOrdered), false) => {
            errs.push("temporal_ordered takes no condition: all its rules, in order".into());
            Ok(0)
        }
        _ if preds.is_empty() => Ok(0),
        _ => lower_bound(&preds),
    };
    let min = match min {
        Ok(m) => m,
        Err(e) => {
            errs.push(e);
            0
        }
    };
    if c.rules.is_empty() {
        errs.push("names no rules".into());
    }
    match aggregation {
        Some(aggregation) if errs.is_empty() => Ok(Correlation {
            title: c.title.clone(),
            rules,
            group_by: c.group_by.clone(),
            width: chrono::Duration::seconds(c.timespan.seconds as i64),
            timespan: c.timespan.original.clone(),
            aggregation,
            min: min.max(1),
        }),
        _ => Err(errs),
    }
}

#[allow(clippy::too_many_arguments)]
fn spec_for(
    id: String,
    title: &str,
    description: Option<&str>,
    level: Option<Level>,
    status: Option<Status>,
    attrs: &HashMap<String, yaml_serde::Value>,
    default_suppress: StdDuration,
    sigma: Sigma,
    path: &Path,
) -> Result<DetectorSpec, Vec<String>> {
    let at = |msg: &str| format!("{}: {id}: {msg}", path.display());
    let custos = custos_settings(attrs).map_err(|e| vec![at(&e)])?;
    let mut allow_cidrs = Vec::new();
    let mut problems = Vec::new();
    for c in &custos.allow_cidrs {
        match crate::config::cidr(c) {
            Some(n) => allow_cidrs.push(n),
            None => problems.push(at(&format!(
                "custos.allow_cidrs: `{c}` is not a CIDR or an address"
            ))),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let retired = matches!(status, Some(Status::Deprecated | Status::Unsupported));
    Ok(DetectorSpec {
        id,
        title: title.to_owned(),
        description: description.unwrap_or_default().to_owned(),
        kind: KindParams::Sigma(Params(Arc::new(sigma))),
        severity: severity(level),
        enabled: custos.enabled.unwrap_or(!retired),
        allow_users: custos.allow_users,
        allow_cidrs,
        suppress_for: custos
            .suppress_for
            .as_ref()
            .map_or(default_suppress, Span::as_std),
        response: custos.response.unwrap_or(Response::None),
        path: path.to_owned(),
    })
}

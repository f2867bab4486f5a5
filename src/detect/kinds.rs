//! The registry of detector kinds. `kind` and `[params]` of a detector file parse once, into
//! [`KindParams`]: one variant per kind, holding that kind's typed params. Each kind is one file
//! (`src/detect/<kind>.rs`) whose `Params` implement [`Kind`](super::rule::Kind); adding a kind is that file, a variant
//! here, and its fixtures under `detectors/tests/<id>/`.

use serde::Deserialize;

use super::rule::{Kind, Rule};
use super::{
    bulk_export, impossible_travel, matching, new_value, off_hours_login, orphaned_account, sigma,
    threshold,
};

/// `kind` + `[params]` of a detector file.
#[derive(Debug, Clone, Deserialize)]
#[serde(
    tag = "kind",
    content = "params",
    rename_all = "snake_case",
    deny_unknown_fields
)]
pub enum KindParams {
    OffHoursLogin(off_hours_login::Params),
    BulkExport(bulk_export::Params),
    OrphanedAccount(orphaned_account::Params),
    #[serde(rename = "match")]
    Match(matching::Params),
    Threshold(threshold::Params),
    NewValue(new_value::Params),
    ImpossibleTravel(impossible_travel::Params),
    /// A Sigma rule (from `detectors/sigma/*.yml`, never from a TOML file).
    #[serde(skip_deserializing)]
    Sigma(sigma::Params),
}

impl KindParams {
    fn as_kind(&self) -> &dyn Kind {
        match self {
            KindParams::OffHoursLogin(p) => p,
            KindParams::BulkExport(p) => p,
            KindParams::OrphanedAccount(p) => p,
            KindParams::Match(p) => p,
            KindParams::Threshold(p) => p,
            KindParams::NewValue(p) => p,
            KindParams::ImpossibleTravel(p) => p,
            KindParams::Sigma(p) => p,
        }
    }

    /// The kind's name as written in detector files.
    pub fn name(&self) -> &'static str {
        match self {
            KindParams::OffHoursLogin(_) => "off_hours_login",
            KindParams::BulkExport(_) => "bulk_export",
            KindParams::OrphanedAccount(_) => "orphaned_account",
            KindParams::Match(_) => "match",
            KindParams::Threshold(_) => "threshold",
            KindParams::NewValue(_) => "new_value",
            KindParams::ImpossibleTravel(_) => "impossible_travel",
            KindParams::Sigma(p) => p.kind_name(),
        }
    }

    pub fn build(&self) -> Box<dyn Rule> {
        self.as_kind().build()
    }

    /// Parses and checks `params` for `kind`; every problem is (field, message).
    pub fn parse(kind: &str, params: &toml::Table) -> Result<Self, Vec<(String, String)>> {
        let whole = |params: toml::Table| {
            let mut t = toml::Table::new();
            t.insert("kind".into(), toml::Value::String(kind.to_owned()));
            t.insert("params".into(), toml::Value::Table(params));
            KindParams::deserialize(toml::Value::Table(t))
        };
        let parsed = match whole(params.clone()) {
            Ok(p) => p,
            Err(e) => {
                // An unknown kind fails even without params; otherwise name every bad key on its own.
                if let Err(e) = whole(toml::Table::new()) {
                    return Err(vec![("kind".into(), e.message().trim().to_owned())]);
                }
                let mut errs: Vec<(String, String)> = params
                    .iter()
                    .filter_map(|(k, v)| {
                        let mut one = toml::Table::new();
                        one.insert(k.clone(), v.clone());
                        whole(one)
                            .err()
                            .map(|e| (format!("params.{k}"), e.message().trim().to_owned()))
                    })
                    .collect();
                if errs.is_empty() {
                    errs.push(("params".into(), e.message().trim().to_owned()));
                }
                return Err(errs);
            }
        };
        let problems = parsed.as_kind().check();
        if problems.is_empty() {
            Ok(parsed)
        } else {
            Err(problems)
        }
    }
}

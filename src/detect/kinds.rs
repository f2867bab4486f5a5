//! The registry of detector kinds: `kind` in a detector file selects the code in
//! `src/detect/<kind>.rs`. Each kind parses and checks its own `params`.

use super::spec::DetectorSpec;
use super::{bulk_export, off_hours_login, orphaned_account, Rule};

pub const KINDS: &[&str] = &["off_hours_login", "bulk_export", "orphaned_account"];

/// Checks `params` for `kind`; errors are (field, message).
pub fn check_params(kind: &str, params: &toml::Table) -> Result<(), Vec<(String, String)>> {
    match kind {
        "off_hours_login" => off_hours_login::Params::parse(params).map(|_| ()),
        "bulk_export" => bulk_export::Params::parse(params).map(|_| ()),
        "orphaned_account" => orphaned_account::Params::parse(params).map(|_| ()),
        other => Err(vec![("kind".into(), format!("unknown kind `{other}` (known: {})", KINDS.join(", ")))]),
    }
}

/// Builds the rule for a validated spec.
pub fn build(spec: &DetectorSpec) -> Box<dyn Rule> {
    let bad = "params were checked at load";
    match spec.kind.as_str() {
        "off_hours_login" => Box::new(off_hours_login::OffHoursLogin::new(off_hours_login::Params::parse(&spec.params).expect(bad))),
        "bulk_export" => Box::new(bulk_export::BulkExport::new(bulk_export::Params::parse(&spec.params).expect(bad))),
        "orphaned_account" => Box::new(orphaned_account::OrphanedAccount::new(orphaned_account::Params::parse(&spec.params).expect(bad))),
        _ => unreachable!("kind was checked at load"),
    }
}

/// Deserializes a kind's params struct, naming every bad key.
pub fn parse_params<T: serde::de::DeserializeOwned + Default>(params: &toml::Table) -> Result<T, Vec<(String, String)>> {
    match T::deserialize(toml::Value::Table(params.clone())) {
        Ok(p) => Ok(p),
        Err(_) => {
            let mut errs = Vec::new();
            for (k, v) in params {
                let mut one = toml::Table::new();
                one.insert(k.clone(), v.clone());
                if let Err(e) = T::deserialize(toml::Value::Table(one)) {
                    errs.push((format!("params.{k}"), e.message().trim().to_owned()));
                }
            }
            Err(errs)
        }
    }
}

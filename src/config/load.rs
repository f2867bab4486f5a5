//! Reads the config file, applies `CUSTOS_<SECTION>_<KEY>` overrides and collects every problem.

use std::path::Path;

use serde::de::DeserializeOwned;
use toml::{Table, Value};

use super::Config;

/// Variables that are not settings.
const NOT_SETTINGS: &[&str] = &["CUSTOS_CONFIG", "CUSTOS_LOG"];

/// Every problem found in a configuration, listed together.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration ({} problem{}):\n  - {}", .problems.len(), if .problems.len() == 1 { "" } else { "s" }, .problems.join("\n  - "))]
pub struct ConfigError {
    pub problems: Vec<String>,
}

/// Loads `path` (or defaults when `None`), then the environment overrides, then validates.
pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
    load_from(path, std::env::vars())
}

pub(crate) fn load_from(
    path: Option<&Path>,
    env: impl Iterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    let mut problems = Vec::new();
    let mut root = match path {
        None => Table::new(),
        Some(p) => match std::fs::read_to_string(p) {
            Err(e) => {
                return Err(ConfigError {
                    problems: vec![format!("{}: cannot read: {e}", p.display())],
                })
            }
            Ok(text) => match text.parse::<Table>() {
                Ok(t) => t,
                Err(e) => {
                    // The message without the quoted source line: it may be a secret's.
                    let line = e
                        .span()
                        .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
                    return Err(ConfigError {
                        problems: vec![format!(
                            "{}:{} {}",
                            p.display(),
                            line.map(|l| format!(" line {l}:")).unwrap_or_default(),
                            e.message().trim()
                        )],
                    });
                }
            },
        },
    };
    let defaults = match Value::try_from(Config::default()) {
        Ok(Value::Table(t)) => t,
        _ => unreachable!("Config serializes to a table"),
    };
    let (routes_env, env): (Vec<_>, Vec<_>) = env.partition(|(k, _)| k.starts_with(ROUTE_ENV));
    apply_env(&mut root, &defaults, env.into_iter(), &mut problems);
    apply_route_env(&mut root, routes_env, &mut problems);
    // Every secret the configuration holds is masked in whatever custos prints from now on.
    super::redact::register_tree(&Value::Table(root.clone()));

    let mut config = Config::default();
    for (name, value) in root {
        match name.as_str() {
            "clickhouse" => config.clickhouse = section(&name, value, &mut problems),
            "kafka" => config.kafka = section(&name, value, &mut problems),
            "pipeline" => config.pipeline = section(&name, value, &mut problems),
            "geoip" => config.geoip = section(&name, value, &mut problems),
            "detectors" => config.detectors = section(&name, value, &mut problems),
            "api" => config.api = section(&name, value, &mut problems),
            "response" => config.response = section(&name, value, &mut problems),
            "retention" => config.retention = section(&name, value, &mut problems),
            "demo" => config.demo = section(&name, value, &mut problems),
            "log" => config.log = section(&name, value, &mut problems),
            "mappings" => config.mappings = section(&name, value, &mut problems),
            "archive" => config.archive = section(&name, value, &mut problems),
            "notify" => config.notify = routes(value, &mut problems),
            "privacy" => config.privacy = section(&name, value, &mut problems),
            other => problems.push(format!(
                "unknown section [{other}] (known: {})",
                defaults
                    .keys()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
    problems.extend(config.validate());
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError { problems })
    }
}

/// `[[notify]]`: each route parsed alone, so every bad key of every route is named.
fn routes(value: Value, problems: &mut Vec<String>) -> Vec<super::NotifyRoute> {
    let Value::Array(items) = value else {
        problems.push("notify: must be an array of tables ([[notify]])".into());
        return Vec::new();
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| section(&format!("notify #{}", i + 1), v, problems))
        .collect()
}

/// Parses one section; on failure tries each key alone so that every bad key is named.
fn section<T: DeserializeOwned + Default>(
    name: &str,
    value: Value,
    problems: &mut Vec<String>,
) -> T {
    let Value::Table(table) = value else {
        problems.push(format!("[{name}] must be a table"));
        return T::default();
    };
    match T::deserialize(Value::Table(table.clone())) {
        Ok(t) => t,
        Err(_) => {
            // Keep the keys that parse alone, so the semantic checks still see them.
            let mut good = Table::new();
            for (key, v) in table {
                let mut one = Table::new();
                one.insert(key.clone(), v.clone());
                match T::deserialize(Value::Table(one)) {
                    Ok(_) => {
                        good.insert(key, v);
                    }
                    Err(e) => problems.push(format!("[{name}] {key}: {}", e.message().trim())),
                }
            }
            T::deserialize(Value::Table(good)).unwrap_or_default()
        }
    }
}

const ROUTE_ENV: &str = "CUSTOS_NOTIFY_";

/// `CUSTOS_NOTIFY_SOC_WECOM_URL=…` → `url` of the `[[notify]]` route named `soc-wecom` (its name
/// upper-cased, `-` as `_`): how a route's URL, secret or SMTP password stays out of the file.
fn apply_route_env(root: &mut Table, vars: Vec<(String, String)>, problems: &mut Vec<String>) {
    let mut vars = vars;
    vars.sort();
    for (var, raw) in vars {
        let rest = &var[ROUTE_ENV.len()..];
        let routes = match root.get_mut("notify") {
            Some(Value::Array(items)) => items,
            _ => {
                problems.push(format!("{var}: the config file has no [[notify]] route"));
                continue;
            }
        };
        let env_name = |t: &Table| {
            t.get("name")
                .and_then(Value::as_str)
                .map(|n| n.to_ascii_uppercase().replace('-', "_"))
        };
        // The longest matching name, so `SOC` and `SOC_MAIL` routes are told apart.
        let found = routes
            .iter_mut()
            .filter_map(Value::as_table_mut)
            .filter_map(|t| env_name(t).map(|n| (n, t)))
            .filter(|(n, _)| rest.starts_with(&format!("{n}_")))
            .max_by_key(|(n, _)| n.len());
        let Some((name, table)) = found else {
            problems.push(format!("{var}: no [[notify]] route has this name"));
            continue;
        };
        let key = rest[name.len() + 1..].to_ascii_lowercase();
        let default = Value::try_from(super::NotifyRoute::default())
            .ok()
            .and_then(|v| v.get(&key).cloned());
        if default.is_none() {
            problems.push(format!("{var}: a [[notify]] route has no `{key}`"));
            continue;
        }
        match typed(default.as_ref(), &raw) {
            Ok(v) => {
                table.insert(key, v);
            }
            Err(why) => problems.push(format!(
                "{var}: {}",
                why.replace(raw.as_str(), super::redact::MASK)
            )),
        }
    }
}

/// `CUSTOS_PIPELINE_BATCH_ROWS=100` → `[pipeline] batch_rows = 100`, typed like the default value.
fn apply_env(
    root: &mut Table,
    defaults: &Table,
    env: impl Iterator<Item = (String, String)>,
    problems: &mut Vec<String>,
) {
    let mut vars: Vec<(String, String)> = env
        .filter(|(k, _)| k.starts_with("CUSTOS_") && !NOT_SETTINGS.contains(&k.as_str()))
        .collect();
    vars.sort();
    for (var, raw) in vars {
        let rest = var["CUSTOS_".len()..].to_ascii_lowercase();
        let Some(sec) = defaults.keys().find(|s| rest.starts_with(&format!("{s}_"))) else {
            problems.push(format!(
                "{var}: no config section matches (known: {})",
                defaults
                    .keys()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            continue;
        };
        let key = &rest[sec.len() + 1..];
        let default = defaults.get(sec).and_then(|t| t.get(key));
        let value = match typed(default, &raw) {
            Ok(v) => v,
            Err(why) => {
                // A secret's value is never echoed.
                let why = if super::redact::is_secret_key(key) {
                    why.replace(raw.as_str(), super::redact::MASK)
                } else {
                    why
                };
                problems.push(format!("{var}: {why}"));
                continue;
            }
        };
        let table = root
            .entry(sec.clone())
            .or_insert_with(|| Value::Table(Table::new()));
        match table {
            Value::Table(t) => {
                t.insert(key.to_owned(), value);
            }
            _ => problems.push(format!("{var}: [{sec}] is not a table in the config file")),
        }
    }
}

fn typed(default: Option<&Value>, raw: &str) -> Result<Value, String> {
    let literal = || -> Result<Value, String> {
        format!("v = {raw}")
            .parse::<Table>()
            .map_err(|_| format!("`{raw}` is not a valid TOML value"))
            .and_then(|mut t| t.remove("v").ok_or_else(|| "empty value".to_owned()))
    };
    match default {
        Some(Value::Integer(_)) => raw
            .trim()
            .parse::<i64>()
            .map(Value::Integer)
            .map_err(|_| format!("`{raw}` is not an integer")),
        Some(Value::Float(_)) => raw
            .trim()
            .parse::<f64>()
            .map(Value::Float)
            .map_err(|_| format!("`{raw}` is not a number")),
        Some(Value::Boolean(_)) => match raw.trim() {
            "true" | "1" => Ok(Value::Boolean(true)),
            "false" | "0" => Ok(Value::Boolean(false)),
            _ => Err(format!("`{raw}` is not true or false")),
        },
        Some(Value::Array(_)) if !raw.trim_start().starts_with('[') => Ok(Value::Array(
            raw.split(',')
                .map(|s| Value::String(s.trim().to_owned()))
                .filter(|v| v.as_str() != Some(""))
                .collect(),
        )),
        Some(Value::Array(_)) | Some(Value::Table(_)) => literal(),
        _ => Ok(Value::String(raw.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn env_overrides_are_typed_by_the_default() {
        let c = load_from(
            None,
            env(&[
                ("CUSTOS_PIPELINE_BATCH_ROWS", "7"),
                ("CUSTOS_CLICKHOUSE_PASSWORD", "123"),
            ]),
        )
        .unwrap();
        assert_eq!(c.pipeline.batch_rows, 7);
        assert_eq!(c.clickhouse.password.expose(), "123");
    }

    #[test]
    fn a_routes_secrets_come_from_the_environment_by_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        let routes = "[[notify]]\nname = \"soc\"\nchannel = \"slack\"\n\n[[notify]]\nname = \"soc-mail\"\nchannel = \"email\"\nto = [\"a@b.c\"]\nfrom = \"c@b.c\"\nsmtp_host = \"mail.b.c\"\nsmtp_user = \"u\"\n";
        std::fs::write(&p, routes).unwrap();
        let c = load_from(
            Some(&p),
            env(&[
                (
                    "CUSTOS_NOTIFY_SOC_URL",
                    "https://hooks.slack.com/services/T/B/X",
                ),
                ("CUSTOS_NOTIFY_SOC_MAIL_SMTP_PASSWORD", "pw"),
                ("CUSTOS_NOTIFY_SOC_MAIL_SMTP_PORT", "465"),
            ]),
        )
        .unwrap();
        assert_eq!(
            c.notify[0].url.expose(),
            "https://hooks.slack.com/services/T/B/X"
        );
        assert_eq!(c.notify[1].smtp_password.expose(), "pw");
        assert_eq!(c.notify[1].smtp_port, 465);
        let e = load_from(
            Some(&p),
            env(&[
                ("CUSTOS_NOTIFY_NOPE_URL", "x"),
                ("CUSTOS_NOTIFY_SOC_URLS", "x"),
            ]),
        )
        .unwrap_err()
        .problems
        .join("\n");
        assert!(
            e.contains("CUSTOS_NOTIFY_NOPE_URL: no [[notify]] route has this name"),
            "{e}"
        );
        assert!(
            e.contains("CUSTOS_NOTIFY_SOC_URLS: a [[notify]] route has no `urls`"),
            "{e}"
        );
    }

    #[test]
    fn every_problem_is_listed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(
            &p,
            "[kafka]\nbrokerz = 1\ngroup_id = 5\n[pipeline]\nbatch_rows = 0\n[nope]\n",
        )
        .unwrap();
        let e = load_from(
            Some(&p),
            env(&[
                ("CUSTOS_CLICKHOUSE_URL_X", "a"),
                ("CUSTOS_PIPELINE_QUEUE_BATCHES", "x"),
            ]),
        )
        .unwrap_err();
        let all = e.problems.join("\n");
        for needle in [
            "brokerz",
            "group_id",
            "[nope]",
            "url_x",
            "CUSTOS_PIPELINE_QUEUE_BATCHES",
            "batch_rows",
        ] {
            assert!(all.contains(needle), "{needle} missing from:\n{all}");
        }
    }
}

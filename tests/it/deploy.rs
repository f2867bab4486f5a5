//! The deployment files stay consistent with the code: the compose and Kubernetes configurations pass
//! `custos check-config` with the environment those files set, the Kubernetes detector ConfigMap carries
//! the repository's detector files verbatim, and every series the Grafana dashboard queries is exported.

use crate::common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use common::CUSTOS;

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel))
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The literal block `key: |` of a YAML document, de-indented (our own files: two-space YAML).
fn yaml_block(doc: &str, key: &str) -> String {
    let lines = doc
        .lines()
        .skip_while(|l| l.trim() != format!("{key}: |"))
        .skip(1);
    let first = lines
        .clone()
        .find(|l| !l.trim().is_empty())
        .expect("block has content");
    let indent = first.len() - first.trim_start().len();
    lines
        .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() >= indent)
        .map(|l| if l.len() >= indent { &l[indent..] } else { "" })
        .collect::<Vec<_>>()
        .join("\n")
        .trim_end()
        .to_owned()
        + "\n"
}

/// `check-config` of `toml` with exactly `env` as CUSTOS_* variables; returns (success, stderr).
fn check(toml: &str, env: &[(String, String)]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("custos.toml"), toml).unwrap();
    let mut c = Command::new(CUSTOS);
    c.arg("--config")
        .arg(dir.path().join("custos.toml"))
        .arg("check-config");
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("CUSTOS_")) {
        c.env_remove(k);
    }
    // The detector files are baked into the image at /etc/custos/detectors; here, the repository's.
    c.envs(env.iter().cloned()).env(
        "CUSTOS_DETECTORS_DIR",
        Path::new(env!("CARGO_MANIFEST_DIR")).join("detectors"),
    );
    let out = c.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_compose_configuration_is_valid_with_the_compose_environment() {
    let compose = read("deploy/docker-compose.yml");
    let env: Vec<(String, String)> = compose
        .lines()
        .skip_while(|l| !l.starts_with("x-custos-env:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.trim().split_once(": "))
        .map(|(k, v)| {
            // ${VAR:-default} → default
            let v = v
                .strip_prefix("${")
                .and_then(|r| r.split_once(":-"))
                .map(|(_, d)| d.trim_end_matches('}'))
                .unwrap_or(v);
            (k.to_owned(), v.to_owned())
        })
        .collect();
    assert!(
        env.iter().any(|(k, _)| k == "CUSTOS_CLICKHOUSE_URL"),
        "{env:?}"
    );
    let (ok, err) = check(&read("deploy/custos.compose.toml"), &env);
    assert!(ok, "{err}");
}

#[test]
fn the_kubernetes_configuration_is_valid_with_the_deployment_and_secret_environment() {
    let cm = read("deploy/k8s/configmap.yaml");
    let toml = yaml_block(&cm, "custos.toml");
    let deployment = read("deploy/k8s/deployment.yaml");
    let mut env = Vec::new();
    let mut lines = deployment.lines().map(str::trim);
    while let Some(l) = lines.next() {
        if let Some(name) = l.strip_prefix("- name: CUSTOS_") {
            let value = lines
                .next()
                .and_then(|v| v.strip_prefix("value: "))
                .unwrap_or_else(|| panic!("value of CUSTOS_{name}"));
            if name != "CONFIG" {
                env.push((format!("CUSTOS_{name}"), value.trim_matches('"').to_owned()));
            }
        }
    }
    for l in read("deploy/k8s/secret.yaml")
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("CUSTOS_"))
    {
        let (k, v) = l.split_once(": ").unwrap();
        env.push((k.to_owned(), v.trim_matches('"').to_owned()));
    }
    assert!(env.len() >= 4, "{env:?}");
    let (ok, err) = check(&toml, &env);
    assert!(ok, "{err}\n--- custos.toml from configmap.yaml:\n{toml}");
    // And an unknown key in the ConfigMap would be caught the same way.
    let (bad, err) = check(&format!("{toml}\n[pipeline]\nbatch_rowz = 1\n"), &env);
    assert!(!bad && err.contains("batch_rowz"), "{err}");
}

#[test]
fn the_kubernetes_detector_configmap_matches_the_repository() {
    let cm = read("deploy/k8s/configmap.yaml");
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("detectors")).unwrap()
    {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            let file = std::fs::read_to_string(&path).unwrap();
            assert_eq!(
                yaml_block(&cm, &name).trim_end(),
                file.trim_end(),
                "deploy/k8s/configmap.yaml {name} differs from detectors/{name}"
            );
            names.insert(name);
        }
    }
    assert_eq!(names.len(), 9, "{names:?}");
}

#[test]
fn every_series_on_the_grafana_dashboard_is_exported() {
    let exported = custos::metrics::global().names();
    let dashboard: serde_json::Value =
        serde_json::from_str(&read("deploy/grafana/custos-dashboard.json")).unwrap();
    let mut used = BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for t in panel["targets"].as_array().into_iter().flatten() {
            let expr = t["expr"].as_str().unwrap();
            let mut rest = expr;
            while let Some(i) = rest.find("custos_") {
                let name: String = rest[i..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                rest = &rest[i + name.len()..];
                used.insert(name);
            }
        }
    }
    assert!(used.len() >= 10, "{used:?}");
    for name in &used {
        let base = name.trim_end_matches("_bucket");
        assert!(
            exported.iter().any(|e| e == base),
            "the dashboard queries {name}, which custos does not export: {exported:?}"
        );
    }
    for title in [
        "Ingest rate",
        "Consumer lag",
        "Insert latency",
        "Rejects",
        "Alerts by detector (per hour)",
        "Lockout actions by status (per hour)",
    ] {
        assert!(
            dashboard["panels"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["title"] == title),
            "no panel {title}"
        );
    }
}

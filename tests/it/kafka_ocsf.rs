//! `[kafka] alerts_format = "ocsf"`: the alerts of a replay, read back from the alerts topic of a
//! real Kafka-protocol broker (librdkafka's mock cluster), are OCSF Detection Findings that the OCSF
//! schema accepts (`tests/ocsf/validate.py`, PyPI `ocsf-json-schema` + `jsonschema`).

use crate::common;

use std::process::Command;
use std::time::Duration;

use common::*;

#[test]
fn published_alerts_are_detection_findings_the_ocsf_schema_accepts() {
    if skip_without_servers() {
        return;
    }
    let kafka = MockKafka::new(1);
    let topic = unique_name("alerts");
    kafka.create_topic(&topic, 1);
    let env = TestEnv::new(
        &ch_url(),
        &format!(
            "[kafka]\nbrokers = \"{}\"\nalerts_topic = \"{topic}\"\nalerts_format = \"ocsf\"\n",
            kafka.bootstrap()
        ),
    );
    let (ev, dir) = gen_files(&env, 20_000);
    replay_files(&env, &ev, Some(&dir), &["--publish-alerts"]);
    let alerts = env.u64("SELECT count() FROM alerts") as usize;
    assert!(alerts > 3, "{alerts}");
    let records = consume_all(&kafka.bootstrap(), &topic, alerts, Duration::from_secs(30));
    assert!(records.len() >= alerts, "{} of {alerts}", records.len());
    let mut detectors = std::collections::HashSet::new();
    let mut lines = String::new();
    for (key, payload) in &records {
        let f: serde_json::Value = serde_json::from_str(payload).unwrap();
        assert_eq!(f["class_uid"], 2004, "{f}");
        assert_eq!(
            f["evidences"][0]["user"]["uid"].as_str(),
            Some(key.as_str()),
            "keyed by user"
        );
        let id = f["finding_info"]["uid"].as_str().unwrap();
        let stored = env.u64(&format!(
            "SELECT count() FROM alerts WHERE alert_id = '{id}'"
        ));
        assert!(stored >= 1, "finding {id} is a stored alert");
        detectors.insert(
            f["finding_info"]["analytic"]["uid"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        lines.push_str(payload);
        lines.push('\n');
    }
    assert!(detectors.len() >= 3, "several detectors: {detectors:?}");
    let file = env.path("findings.jsonl");
    std::fs::write(&file, lines).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ocsf/validate.py");
    let v = Command::new("python3")
        .args([
            script,
            custos::act::ocsf::OCSF_VERSION,
            file.to_str().unwrap(),
        ])
        .output()
        .expect("python3 tests/ocsf/validate.py (tests/run.sh installs ocsf-json-schema)");
    let report = String::from_utf8_lossy(&v.stdout);
    assert!(
        v.status.success(),
        "the OCSF schema refuses:\n{report}{}",
        String::from_utf8_lossy(&v.stderr)
    );
    assert!(
        report.contains(&format!("{} records, 0 problems", records.len())),
        "{report}"
    );
}

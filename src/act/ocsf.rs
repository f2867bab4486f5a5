//! Alerts as OCSF 1.3 **Detection Finding** records (class 2004, category Findings), for SIEMs
//! that take OCSF (Splunk, Elastic, Amazon Security Lake) without a mapping of their own. The
//! mapping is documented in docs/integrations.md; a test validates records against the OCSF
//! schema (PyPI `ocsf-json-schema`).

use serde_json::{json, Value};

use crate::store::alerts::AlertRow;

pub const OCSF_VERSION: &str = "1.3.0";

/// OCSF `severity_id`: 2 Low, 3 Medium, 4 High, 5 Critical (0 Unknown).
fn severity(s: &str) -> (u8, &'static str) {
    match s {
        "low" => (2, "Low"),
        "medium" => (3, "Medium"),
        "high" => (4, "High"),
        "critical" => (5, "Critical"),
        _ => (0, "Unknown"),
    }
}

/// OCSF finding `status_id`: 1 New, 2 In Progress, 3 Suppressed, 4 Resolved.
fn status(s: &str) -> (u8, &'static str) {
    match s {
        "acknowledged" => (2, "In Progress"),
        "false_positive" => (3, "Suppressed"),
        "resolved" => (4, "Resolved"),
        _ => (1, "New"),
    }
}

/// The Detection Finding of an alert; `title` is its detector's title.
pub fn detection_finding(a: &AlertRow, title: &str) -> Value {
    let time = i64::from(a.ts) * 1000 + i64::from(a.ts_ms);
    let created = i64::from(a.created_at) * 1000;
    // A later version of an alert (a window that grew) updates the finding.
    let (activity_id, activity) = if a.version > 1 {
        (2, "Update")
    } else {
        (1, "Create")
    };
    let (severity_id, severity_name) = severity(&a.severity);
    let (status_id, status_name) = status(&a.status);
    let subject = if a.subject.is_empty() {
        &a.user_id
    } else {
        &a.subject
    };
    let details: Value = serde_json::from_str(&a.details).unwrap_or_default();
    json!({
        "activity_id": activity_id,
        "activity_name": activity,
        "category_uid": 2,
        "category_name": "Findings",
        "class_uid": 2004,
        "class_name": "Detection Finding",
        "type_uid": 2004 * 100 + activity_id,
        "type_name": format!("Detection Finding: {activity}"),
        "severity_id": severity_id,
        "severity": severity_name,
        "status_id": status_id,
        "status": status_name,
        "time": time,
        "message": a.summary,
        "finding_info": {
            "uid": a.alert_id,
            "title": title,
            "desc": a.summary,
            "types": [a.detector],
            "created_time": created,
            "first_seen_time": time,
            "last_seen_time": time,
            "analytic": { "uid": a.detector, "name": a.detector, "type_id": 1, "type": "Rule" },
            "related_events": a.evidence_event_ids.iter().map(|id| json!({ "uid": id })).collect::<Vec<_>>(),
        },
        "evidences": [{ "user": { "uid": a.user_id, "name": a.user_id } }],
        "metadata": {
            "version": OCSF_VERSION,
            "uid": a.alert_id,
            "tenant_uid": a.tenant,
            "product": { "name": "custos", "vendor_name": "custos", "version": env!("CARGO_PKG_VERSION") },
        },
        "unmapped": {
            "custos": {
                "subject": subject,
                "response": a.response,
                "version": a.version,
                "details": details,
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alert_is_a_detection_finding_with_its_severity_status_and_evidence() {
        let a = AlertRow {
            alert_id: "a1".into(),
            detector: "bulk_export".into(),
            severity: "high".into(),
            tenant: "acme".into(),
            user_id: "mallory".into(),
            ts: 1_767_898_620,
            ts_ms: 5,
            created_at: 1_767_898_700,
            summary: "mallory exported 1,500 records".into(),
            evidence_event_ids: vec!["x0".into(), "x1".into()],
            details: r#"{"records":1500}"#.into(),
            status: "open".into(),
            response: "lock".into(),
            version: 2,
            subject: String::new(),
        };
        let f = detection_finding(&a, "Bulk export of customer records");
        assert_eq!(f["class_uid"], 2004);
        assert_eq!(f["type_uid"], 200402, "version 2 updates the finding");
        assert_eq!(f["severity_id"], 4);
        assert_eq!(f["status_id"], 1);
        assert_eq!(f["time"], 1_767_898_620_005i64);
        assert_eq!(f["finding_info"]["related_events"][1]["uid"], "x1");
        assert_eq!(f["metadata"]["tenant_uid"], "acme");
        assert_eq!(f["unmapped"]["custos"]["details"]["records"], 1500);
    }
}

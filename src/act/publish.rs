//! Publishes stored alerts as JSON to `[kafka] alerts_topic`, keyed by user — custos' own form or
//! OCSF Detection Findings (`alerts_format`). At-least-once: consumers deduplicate by `alert_id`
//! (OCSF: `finding_info.uid`) and keep the highest `version`.

use std::time::Duration;

use anyhow::Context;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::ClientConfig;

use std::collections::HashMap;

use crate::config::{AlertsFormat, KafkaConfig};
use crate::store::alerts::AlertRow;

/// Publishes alerts as JSON to `[kafka] alerts_topic`, keyed by user.
pub struct AlertPublisher {
    producer: ThreadedProducer<DefaultProducerContext>,
    topic: String,
    format: AlertsFormat,
    /// Detector titles by id (OCSF findings carry them).
    titles: HashMap<String, String>,
}

impl AlertPublisher {
    /// `None` when `alerts_topic` is empty.
    pub fn build(cfg: &KafkaConfig) -> anyhow::Result<Option<Self>> {
        if cfg.alerts_topic.is_empty() {
            return Ok(None);
        }
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &cfg.brokers)
            .set("client.id", format!("{}-alerts", cfg.client_id))
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .set("message.timeout.ms", "300000");
        for (k, v) in &cfg.librdkafka {
            c.set(k, v);
        }
        let producer = c.create().context("creating the Kafka alerts producer")?;
        Ok(Some(AlertPublisher {
            producer,
            topic: cfg.alerts_topic.clone(),
            format: cfg.alerts_format,
            titles: HashMap::new(),
        }))
    }

    /// Detector titles for the records that carry them.
    pub fn with_titles(mut self, titles: HashMap<String, String>) -> Self {
        self.titles = titles;
        self
    }

    /// An alert as this topic's format writes it.
    pub fn payload(&self, a: &AlertRow) -> String {
        match self.format {
            AlertsFormat::Custos => alert_json(a),
            AlertsFormat::Ocsf => {
                let title = self.titles.get(&a.detector).unwrap_or(&a.detector);
                super::ocsf::detection_finding(a, title).to_string()
            }
        }
    }

    /// Enqueues the alerts (librdkafka delivers and retries in the background).
    pub fn publish(&self, alerts: &[AlertRow]) {
        for a in alerts {
            let payload = self.payload(a);
            let mut record = BaseRecord::to(&self.topic)
                .key(&a.user_id)
                .payload(&payload);
            loop {
                match self.producer.send(record) {
                    Ok(()) => break,
                    Err((
                        rdkafka::error::KafkaError::MessageProduction(
                            rdkafka::types::RDKafkaErrorCode::QueueFull,
                        ),
                        r,
                    )) => {
                        record = r;
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err((e, _)) => {
                        tracing::error!(alert_id = %a.alert_id, error = %e, "cannot publish alert to Kafka (it is stored in ClickHouse)");
                        break;
                    }
                }
            }
        }
    }

    /// Waits for queued alerts to be delivered (on shutdown).
    pub fn flush(&self, timeout: Duration) {
        if let Err(e) = self.producer.flush(timeout) {
            tracing::warn!(error = %e, in_queue = self.producer.in_flight_count(), "not every alert reached Kafka before exit (all are in ClickHouse)");
        }
    }
}

/// The published JSON form of an alert.
pub fn alert_json(a: &AlertRow) -> String {
    serde_json::json!({
        "alert_id": a.alert_id,
        "detector": a.detector,
        "severity": a.severity,
        "tenant": a.tenant,
        "user_id": a.user_id,
        "ts": crate::time::rfc3339_cols(a.ts, a.ts_ms),
        "created_at": crate::time::at(a.created_at, 0).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "summary": a.summary,
        "evidence_event_ids": a.evidence_event_ids,
        "details": serde_json::from_str::<serde_json::Value>(&a.details).unwrap_or_default(),
        "status": a.status,
        "response": a.response,
        "version": a.version,
        "subject": if a.subject.is_empty() { &a.user_id } else { &a.subject },
    })
    .to_string()
}

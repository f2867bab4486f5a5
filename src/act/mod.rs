//! Act stage: what custos does once alerts are stored — publish them to Kafka ([`publish`]) and, for
//! detectors with `response = "lock"`, decide and dispatch account lockouts with safety rails
//! ([`lockout`], [`dispatch`]). Runs after ClickHouse confirmed the batch.

pub mod dispatch;
pub mod lockout;
pub mod publish;

pub use lockout::Responder;
pub use publish::{alert_json, AlertPublisher};

use crate::store::rows::AlertRow;

/// Everything the writer hands stored alerts to.
#[derive(Default)]
pub struct Act {
    pub publisher: Option<AlertPublisher>,
    pub responder: Option<Responder>,
}

impl Act {
    /// Called by the writer after the batch holding `alerts` is in ClickHouse.
    pub async fn on_stored(&self, alerts: &[AlertRow]) {
        if alerts.is_empty() {
            return;
        }
        if let Some(p) = &self.publisher {
            p.publish(alerts);
        }
        if let Some(r) = &self.responder {
            for a in alerts.iter().filter(|a| a.response == "lock" && a.version == 1) {
                r.submit(a.clone()).await;
            }
        }
    }

    /// On shutdown: deliver what is queued.
    pub async fn flush(&self) {
        if let Some(p) = &self.publisher {
            p.flush(std::time::Duration::from_secs(10));
        }
        if let Some(r) = &self.responder {
            r.drain(std::time::Duration::from_secs(5)).await;
        }
    }
}

//! Act stage: what custos does once alerts are stored — publish them to Kafka ([`publish`]) and, for
//! detectors with `response = "lock"`, decide and dispatch account lockouts with safety rails
//! ([`lockout`], [`dispatch`]), and notify people by the `[[notify]]` routes ([`notify`]). Runs after
//! ClickHouse confirmed the batch.

pub mod decision;
pub mod dispatch;
pub mod lockout;
pub mod notify;
pub mod ocsf;
pub mod publish;
pub mod takeover;

pub use lockout::Responder;
pub use notify::Notifier;
pub use publish::{alert_json, AlertPublisher};

use crate::store::alerts::AlertRow;
use crate::store::writer::OnStored;

/// Everything the writer hands stored alerts to.
#[derive(Default)]
pub struct Act {
    pub publisher: Option<AlertPublisher>,
    pub responder: Option<Responder>,
    pub notifier: Option<Notifier>,
}

impl OnStored for Act {
    /// Called by the writer after the batch holding `alerts` is in ClickHouse.
    async fn on_stored(&self, alerts: &[AlertRow]) {
        if alerts.is_empty() {
            return;
        }
        if let Some(p) = &self.publisher {
            p.publish(alerts);
        }
        if let Some(r) = &self.responder {
            for a in alerts.iter().filter(|a| a.wants_lock() && a.version == 1) {
                r.submit(a.clone()).await;
            }
        }
        if let Some(n) = &self.notifier {
            n.submit(alerts);
        }
    }

    /// On shutdown: deliver what is queued.
    async fn flush(&self) {
        if let Some(p) = &self.publisher {
            p.flush(std::time::Duration::from_secs(10));
        }
        if let Some(r) = &self.responder {
            r.drain(std::time::Duration::from_secs(5)).await;
        }
        if let Some(n) = &self.notifier {
            n.drain(std::time::Duration::from_secs(5)).await;
        }
    }
}

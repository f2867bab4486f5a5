//! Rehydration from ClickHouse: the directory, the stored events each detector's [`History`] names
//! and recent alerts, so that state spanning a restart or a partition handover (a window,
//! suppression) behaves as if there had been none. "Recent" is measured in event time, from the
//! newest stored event.
//!
//! [`History`]: super::rule::History

use super::engine::Engine;
use crate::directory::Directory;
use crate::model::{Alert, AlertStatus};
use crate::store::Store;

/// Counts of what was restored.
#[derive(Debug, Default)]
pub struct Restored {
    pub events: usize,
    pub alerts: usize,
}

/// Loads every stored directory version into `directory`; returns how many were read.
pub async fn directory(
    store: &Store,
    directory: &mut Directory,
) -> Result<usize, clickhouse::error::Error> {
    let rows = store.directory_versions().await?;
    let n = rows.len();
    for r in rows {
        let user = r.user_id.clone();
        match r.into_record() {
            Ok(rec) => directory.apply(rec),
            Err(e) => {
                tracing::warn!(user = %user, error = %e, "stored directory record no longer valid; skipped")
            }
        }
    }
    Ok(n)
}

/// Restores the engine's windows and suppression from the newest `horizon` of stored data.
pub async fn engine(
    store: &Store,
    engine: &mut Engine,
    directory: &Directory,
) -> Result<Restored, clickhouse::error::Error> {
    let mut restored = Restored::default();
    let horizon = engine.horizon().num_seconds().max(0);
    let newest = store.newest_event_secs().await?;
    if newest == 0 || horizon == 0 {
        return Ok(restored);
    }
    let since = (newest as i64 - horizon).max(0) as u32;
    let histories: Vec<(u32, Option<Vec<String>>)> = engine
        .histories()
        .into_iter()
        .filter(|h| h.actions.as_ref().is_none_or(|a| !a.is_empty()))
        .map(|h| {
            let from = (newest as i64 - h.horizon.num_seconds().max(0)).max(0) as u32;
            (from, h.actions)
        })
        .collect();
    engine.rehydrating_until(crate::time::at(newest, 0));
    let events = store.events_for(&histories).await?;
    restored.events = events.len();
    for ev in &events {
        engine.rehydrate_event(ev, directory);
    }
    let alerts = store.alerts_since(since).await?;
    restored.alerts = alerts.len();
    for r in alerts {
        let Some(spec) = engine.detectors().find(|s| s.id == r.detector).cloned() else {
            continue;
        };
        engine.rehydrate_alert(Alert {
            subject: Some(r.subject.clone()).filter(|s| !s.is_empty()),
            ts: crate::time::at(r.ts, r.ts_ms),
            details: serde_json::from_str(&r.details).unwrap_or_default(),
            alert_id: r.alert_id,
            detector: r.detector,
            severity: spec.severity,
            tenant: r.tenant,
            user_id: r.user_id,
            summary: r.summary,
            evidence_event_ids: r.evidence_event_ids,
            response: spec.response,
            status: AlertStatus::Open,
            version: r.version,
        });
    }
    Ok(restored)
}

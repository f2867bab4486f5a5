//! Which alerts a route takes, the ids that make each decision once, digest periods, backoff, and
//! the lookups (with the notifier's [`Context`]) that turn a stored alert into a message's [`Item`].

use std::collections::HashMap;
use std::time::Duration;

use chrono::DateTime;
use chrono_tz::Tz;

use super::message::Item;
use crate::config::NotifyRoute;
use crate::model::{stable_id, Severity};
use crate::store::alerts::AlertRow;
use crate::store::Store;

/// What the notifier looks things up with.
pub struct Context {
    pub store: Store,
    /// The console's base, e.g. `https://custos.example.com`.
    pub public_url: String,
    /// Each detector's title by id.
    pub titles: HashMap<String, String>,
}

/// The severity floor, then the detector and tenant filters (empty: any).
pub fn takes(r: &NotifyRoute, a: &AlertRow) -> bool {
    let severe = a
        .severity
        .parse::<Severity>()
        .is_ok_and(|s| s >= r.min_severity);
    severe
        && (r.detectors.is_empty() || r.detectors.contains(&a.detector))
        && (r.tenants.is_empty() || r.tenants.contains(&a.tenant))
}

/// One alert on one route.
pub fn notification_id(route: &str, alert_id: &str) -> String {
    stable_id(&[b"notify", route.as_bytes(), alert_id.as_bytes()])
}

/// One digest period of one route.
pub fn digest_id(route: &str, period_start: u64) -> String {
    stable_id(&[b"digest", route.as_bytes(), &period_start.to_le_bytes()])
}

/// A digest's period, in epoch seconds (aligned to the period's length).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Period {
    pub start: u64,
    pub end: u64,
}

impl Period {
    pub fn of(at: u64, len: u64) -> Period {
        let start = at - at % len.max(1);
        Period {
            start,
            end: start + len.max(1),
        }
    }

    pub fn bounds(self) -> (DateTime<chrono::Utc>, DateTime<chrono::Utc>) {
        let t = |s: u64| DateTime::from_timestamp(s as i64, 0).unwrap_or_default();
        (t(self.start), t(self.end))
    }
}

/// The highest severity among `alerts`.
pub fn worst(alerts: &[AlertRow]) -> &str {
    alerts
        .iter()
        .filter_map(|a| a.severity.parse::<Severity>().ok())
        .max()
        .map_or("low", Severity::as_str)
}

/// The wait after failed attempt `n` (1-based): 1 s, doubling, at most 5 min.
pub fn backoff(n: u32) -> Duration {
    Duration::from_secs(1u64 << n.saturating_sub(1).min(9)).min(Duration::from_secs(300))
}

/// An alert as a message tells it: the detector's title, the user's timezone from the directory,
/// the place of the latest evidence event, the lock's state. A lookup that fails leaves its part
/// out (the message still goes).
pub async fn item(ctx: &Context, a: &AlertRow) -> Item {
    let store = &ctx.store;
    let tz = match store.user_directory(&a.user_id).await {
        Ok(versions) => versions
            .iter()
            .rev()
            .find(|v| v.tenant.is_empty() || v.tenant == a.tenant)
            .and_then(|v| v.timezone.parse::<Tz>().ok())
            .unwrap_or(Tz::UTC),
        Err(_) => Tz::UTC,
    };
    let place = match store
        .evidence(&a.tenant, &a.user_id, &a.evidence_event_ids, a.ts)
        .await
    {
        Ok(events) => events.last().map(place).unwrap_or_default(),
        Err(_) => String::new(),
    };
    let lock = match a.response.as_str() {
        "lock" => Some(
            store
                .lock_state(&a.alert_id)
                .await
                .ok()
                .flatten()
                .unwrap_or_else(|| "being decided".into()),
        ),
        _ => None,
    };
    let base = ctx.public_url.trim_end_matches('/');
    Item {
        alert_id: a.alert_id.clone(),
        detector: a.detector.clone(),
        title: ctx
            .titles
            .get(&a.detector)
            .cloned()
            .unwrap_or_else(|| a.detector.clone()),
        severity: a.severity.clone(),
        tenant: a.tenant.clone(),
        user_id: a.user_id.clone(),
        summary: a.summary.clone(),
        at: DateTime::from_timestamp(i64::from(a.ts), u32::from(a.ts_ms) * 1_000_000)
            .unwrap_or_default(),
        tz,
        place,
        link: format!("{base}/#/alerts/{}", a.alert_id),
        lock,
    }
}

fn place(e: &crate::store::events::EventRow) -> String {
    let town: Vec<&str> = [&*e.city, &*e.country]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    match (town.is_empty(), e.ip.is_empty()) {
        (true, true) => String::new(),
        (true, false) => e.ip.clone(),
        (false, true) => town.join(", "),
        (false, false) => format!("{} ({})", town.join(", "), e.ip),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(sev: &str, det: &str, tenant: &str) -> AlertRow {
        AlertRow {
            alert_id: "a".into(),
            detector: det.into(),
            severity: sev.into(),
            tenant: tenant.into(),
            user_id: "u".into(),
            ts: 0,
            ts_ms: 0,
            created_at: 0,
            summary: String::new(),
            evidence_event_ids: vec![],
            details: String::new(),
            status: "open".into(),
            response: "none".into(),
            version: 1,
            subject: String::new(),
        }
    }

    #[test]
    fn by_default_high_and_critical_notify_and_filters_narrow() {
        let r = NotifyRoute::default();
        assert!(takes(&r, &alert("critical", "x", "t")));
        assert!(takes(&r, &alert("high", "x", "t")));
        assert!(!takes(&r, &alert("medium", "x", "t")));
        assert!(!takes(&r, &alert("low", "x", "t")));
        let narrow = NotifyRoute {
            min_severity: Severity::Low,
            detectors: vec!["bulk_export".into()],
            tenants: vec!["acme".into()],
            ..Default::default()
        };
        assert!(takes(&narrow, &alert("low", "bulk_export", "acme")));
        assert!(!takes(&narrow, &alert("low", "bulk_export", "other")));
        assert!(!takes(
            &narrow,
            &alert("critical", "off_hours_login", "acme")
        ));
    }

    #[test]
    fn ids_periods_and_backoff() {
        assert_eq!(notification_id("soc", "a"), notification_id("soc", "a"));
        assert_ne!(notification_id("soc", "a"), notification_id("mail", "a"));
        assert_eq!(
            Period::of(7_250, 3_600),
            Period {
                start: 7_200,
                end: 10_800
            }
        );
        assert_eq!(digest_id("d", 3_600), digest_id("d", 3_600));
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(4));
        assert_eq!(backoff(40), Duration::from_secs(300));
        assert_eq!(
            worst(&[alert("medium", "x", "t"), alert("critical", "x", "t")]),
            "critical"
        );
    }
}

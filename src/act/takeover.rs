//! Taking over unfinished lock dispatches: a dispatch a dead instance left `dispatched` is resumed by
//! one live instance, and a dispatch a live instance is still working on is never taken from it.
//!
//! A live dispatcher records every failed attempt, so its latest transition in `actions` is never
//! older than one attempt plus the longest backoff. A dispatch whose latest transition is older than
//! [`takeover_after`] has no live owner; an instance claims it by recording a `dispatched` transition
//! naming itself, waits a moment, and resumes it only if its claim is the earliest made after the
//! stale point — the same answer on every instance, so exactly one resumes it.

use std::time::Duration;

use crate::config::{KafkaConfig, ResponseConfig};
use crate::store::actions::ActionRow;
use crate::store::Store;

/// The Kafka channel's per-send bound unless `[kafka.librdkafka]` sets another (`dispatch.rs`).
pub const KAFKA_MESSAGE_TIMEOUT_MS: u64 = 10_000;

/// How long a dispatch may go without a recorded transition before another instance takes it over:
/// the slower channel's attempt, the longest backoff, and a margin.
pub fn takeover_after(cfg: &ResponseConfig, kafka: &KafkaConfig) -> Duration {
    let kafka_ms = kafka
        .librdkafka
        .get("message.timeout.ms")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(KAFKA_MESSAGE_TIMEOUT_MS);
    Duration::from_millis(cfg.retry_max_ms + cfg.webhook_timeout_ms.max(kafka_ms) + 5_000)
}

/// Whether `row` (an unfinished dispatch's current state) has had no transition for `after`.
pub fn is_orphaned(row: &ActionRow, now_ms: u64, after: Duration) -> bool {
    now_ms.saturating_sub(row.at_ms) >= after.as_millis() as u64
}

/// The note a claim is recorded with (kept as the transition's `last_error`).
pub fn claim_note(instance: &str) -> String {
    format!("taken over by instance {instance}")
}

/// Whether this instance's claim on `action_id` stands: of the claims recorded after `stale_ms`
/// (the orphan's last transition), the earliest (then the smallest note) wins.
pub async fn claim_stands(
    store: &Store,
    action_id: &str,
    stale_ms: u64,
    note: &str,
) -> anyhow::Result<bool> {
    let claims = store.takeover_claims(action_id, stale_ms).await?;
    Ok(claims.iter().min().is_some_and(|(_, who)| who == note))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(at_ms: u64) -> ActionRow {
        ActionRow {
            action_id: "a".into(),
            action: "lock_user".into(),
            tenant: String::new(),
            user_id: "u".into(),
            alert_id: "x".into(),
            reason: String::new(),
            status: "dispatched".into(),
            mode: "enforce".into(),
            channels: "webhook".into(),
            attempts: 0,
            last_error: String::new(),
            actor: String::new(),
            requested_at: 0,
            at: (at_ms / 1000) as u32,
            at_ms,
        }
    }

    #[test]
    fn the_lease_covers_an_attempt_and_the_longest_backoff() {
        let mut cfg = ResponseConfig::default();
        let mut kafka = KafkaConfig::default();
        assert_eq!(
            takeover_after(&cfg, &kafka),
            Duration::from_millis(30_000 + 10_000 + 5_000)
        );
        cfg.webhook_timeout_ms = 20_000;
        kafka
            .librdkafka
            .insert("message.timeout.ms".into(), "60000".into());
        assert_eq!(
            takeover_after(&cfg, &kafka),
            Duration::from_millis(30_000 + 60_000 + 5_000)
        );
    }

    #[test]
    fn only_a_dispatch_silent_for_the_whole_lease_is_orphaned() {
        let after = Duration::from_secs(45);
        assert!(!is_orphaned(&row(100_000), 100_000 + 44_999, after));
        assert!(is_orphaned(&row(100_000), 145_000, after));
        assert!(
            !is_orphaned(&row(200_000), 100_000, after),
            "clock skew: newer than now"
        );
    }
}

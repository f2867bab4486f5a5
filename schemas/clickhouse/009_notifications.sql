-- notifications: the whole story of every message sent to people — one row per transition (pending,
-- each failed attempt as retrying, delivered / failed; for a digest route, each alert queued into its
-- period's digest). A notification's current state is its row with the highest at_ms.
-- notification_id is derived from the route and the alert (a digest: the route and its period), so a
-- replay, a re-read or a restart never notifies twice.
CREATE TABLE IF NOT EXISTS notifications
(
    notification_id String,
    route           String,
    channel         String,
    alert_id        String,
    tenant          String,
    user_id         String,
    severity        String,
    detector        String,
    status          String,
    attempts        UInt32,
    last_error      String,
    requested_at    DateTime('UTC'),
    at              DateTime('UTC'),
    at_ms           UInt64
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(requested_at)
ORDER BY (route, notification_id, at_ms)
SETTINGS index_granularity = 8192

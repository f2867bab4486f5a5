-- alerts: what the detectors raised. alert_id is derived from detector, tenant, user and the trigger
-- (an event, or the event that pushed a window over its limit), so a replay derives the same id and
-- the row collapses on merge; version grows when an open alert gains evidence (FINAL keeps the latest).
-- ts is the trigger's event time; created_at is when custos raised it.
CREATE TABLE IF NOT EXISTS alerts
(
    alert_id           String,
    detector           String,
    severity           String,
    tenant             String,
    user_id            String,
    ts                 DateTime('UTC'),
    ts_ms              UInt16,
    created_at         DateTime('UTC'),
    summary            String,
    evidence_event_ids Array(String),
    details            String,
    status             String,
    response           String,
    version            UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(ts)
ORDER BY (tenant, detector, user_id, alert_id)
SETTINGS index_granularity = 8192

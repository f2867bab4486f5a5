-- alert_status_history: every status change of an alert (who, when, why); the latest one is the
-- alert's status. api_audit: one row per API request — auditors' own access is auditable.
CREATE TABLE IF NOT EXISTS alert_status_history
(
    alert_id   String,
    status     String,
    note       String,
    actor      String,
    role       String,
    at         DateTime('UTC'),
    at_ms      UInt64
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(at)
ORDER BY (alert_id, at_ms)
SETTINGS index_granularity = 8192;

CREATE TABLE IF NOT EXISTS api_audit
(
    request_id  String,
    ts          DateTime('UTC'),
    ts_ms       UInt64,
    token_name  String,
    role        String,
    method      String,
    route       String,
    path        String,
    query       String,
    status      UInt16,
    rows        Int64,
    duration_ms UInt32,
    client      String
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(ts)
ORDER BY (ts, request_id)
SETTINGS index_granularity = 8192

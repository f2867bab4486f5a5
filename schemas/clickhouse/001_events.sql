-- events: every CRM event that passed the contract (schemas/crm-event.schema.json).
-- Replay-safe: ReplacingMergeTree keyed by the event's own identity, so a re-delivered event collapses into
-- one row on merge; query with FINAL (or uniqExact(event_id)) for exact counts before merges finish.
-- ts is event time in UTC (second precision, the only DateTime 18.16 has) and ts_ms its milliseconds.
CREATE TABLE IF NOT EXISTS events
(
    event_id        String,
    tenant          String,
    user_id         String,
    action          String,
    ts              DateTime('UTC'),
    ts_ms           UInt16,
    object_type     String,
    record_count    UInt64,
    ip              String,
    user_agent      String,
    session_id      String,
    outcome         String,
    attr_keys       Array(String),
    attr_values     Array(String),
    country_iso     String,
    country         String,
    subdivision     String,
    city            String,
    latitude        Nullable(Float64),
    longitude       Nullable(Float64),
    asn             UInt32,
    as_org          String,
    geo_timezone    String,
    network_class   String,
    ingest_ts       DateTime('UTC'),
    source          String,
    kafka_topic     String,
    kafka_partition Int32,
    kafka_offset    Int64,
    file_path       String,
    file_line       UInt64
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(ts)
ORDER BY (tenant, user_id, ts, event_id)
SETTINGS index_granularity = 8192

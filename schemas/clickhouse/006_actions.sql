-- actions: the whole story of every response decision — one row per transition (decided, dispatched,
-- each retry, acknowledged / failed, skipped_protected / skipped_dry_run / rate_limited, manual locks and
-- unlocks, storm-breaker trips and resets). An action's current state is its row with the highest
-- at_ms. action_id is derived from the alert, so a replay or restart never decides (or sends) twice.
CREATE TABLE IF NOT EXISTS actions
(
    action_id    String,
    action       String,
    tenant       String,
    user_id      String,
    alert_id     String,
    reason       String,
    status       String,
    mode         String,
    channels     String,
    attempts     UInt32,
    last_error   String,
    actor        String,
    requested_at DateTime('UTC'),
    at           DateTime('UTC'),
    at_ms        UInt64
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(requested_at)
ORDER BY (tenant, user_id, action_id, at_ms)
SETTINGS index_granularity = 8192

-- directory: every version of every HR / identity record (schemas/directory-record.schema.json).
-- record_id is a hash of the record's content: the same version delivered twice is one row, and each
-- distinct version is kept for history ("what was this user's status on that day?").
CREATE TABLE IF NOT EXISTS directory
(
    record_id       String,
    user_id         String,
    status          String,
    effective_ts    Nullable(DateTime('UTC')),
    timezone        String,
    work_hours      String,
    work_days       String,
    display_name    String,
    email           String,
    department      String,
    role            String,
    manager_id      String,
    protected       UInt8,
    ingest_ts       DateTime('UTC'),
    source          String,
    kafka_topic     String,
    kafka_partition Int32,
    kafka_offset    Int64,
    file_path       String,
    file_line       UInt64
)
ENGINE = ReplacingMergeTree()
ORDER BY (user_id, record_id)
SETTINGS index_granularity = 8192

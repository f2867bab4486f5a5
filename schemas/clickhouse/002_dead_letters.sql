-- dead_letters: every record that failed its contract, with the exact bytes received (raw) and a stable
-- error_code (invalid_json, missing_field:user_id, bad_timestamp, ...). dl_id is derived from the stream,
-- the source position and the bytes, so re-reading a partition or replaying a file adds no row.
-- Not partitioned by time on purpose: a wall-clock partition key would let the same dead letter land in
-- two partitions (ReplacingMergeTree only deduplicates within one) when replayed in another month.
CREATE TABLE IF NOT EXISTS dead_letters
(
    dl_id           String,
    received_at     DateTime('UTC'),
    stream          String,
    source          String,
    kafka_topic     String,
    kafka_partition Int32,
    kafka_offset    Int64,
    file_path       String,
    file_line       UInt64,
    raw             String,
    error_code      String,
    error_message   String
)
ENGINE = ReplacingMergeTree()
ORDER BY dl_id
SETTINGS index_granularity = 8192

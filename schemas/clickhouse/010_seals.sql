-- seals: the signed proof of each closed UTC day of `events` (custos seal, docs/archives.md). A seal
-- holds the day's event count and an order-independent hash of its events' ids and contents, chained
-- to the previous seal (prev_hash) and signed with the archive key (Ed25519). Events that arrive after
-- a day was sealed go into a new seal for that day (the day's latest seal covers all of them).
-- seal_hash is derived from every other field, so sealing again never duplicates a seal.
CREATE TABLE IF NOT EXISTS seals
(
    seq          UInt64,
    day          Date,
    event_count  UInt64,
    content_hash String,
    prev_hash    String,
    seal_hash    String,
    signature    String,
    public_key   String,
    sealed_at    DateTime('UTC')
)
ENGINE = ReplacingMergeTree()
ORDER BY (seq, seal_hash)
SETTINGS index_granularity = 8192

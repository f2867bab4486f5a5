//! custos: a streaming audit-log and security-analytics service for CRM systems.
//!
//! # Layout
//! One stage, one module; data flows left to right and only [`store`] talks to ClickHouse:
//!
//! ```text
//! source ──▶ decode ──▶ enrich ──▶ detect ──▶ store (batched writer) ──▶ ack back to source
//! (kafka,    (contract,  (geo-IP)   (rules in   (ClickHouse: events,
//!  file,      dead                   detectors/) dead_letters, directory)
//!  gen)       letters)
//! ```
//! - [`source`]: Kafka consumer group, JSONL files, positions and acknowledgements.
//! - [`decode`]: the event and directory contracts (`schemas/`); rejections carry stable codes.
//! - [`enrich`]: geo-IP and network class; [`detect`]: detectors as data, in event time.
//! - [`act`]: what happens to stored alerts (published to Kafka).
//! - [`pipeline`]: wires the stages with bounded channels; cuts batches by size or age.
//! - [`store`]: schema migrations, row types, the retrying writer.
//! - [`directory`]: the in-memory view of the HR feed.
//! - [`config`], [`cli`], [`commands`]: configuration and the `custos` commands.
//! - [`gen`]: the synthetic CRM traffic generator.
//!
//! Invariants: every output has a deterministic id (replay-safe); a source position is acknowledged
//! only after ClickHouse confirmed the batch holding it; event time drives detectors.

pub mod act;
pub mod api;
pub mod cli;
pub mod commands;
pub mod config;
pub mod decode;
pub mod detect;
pub mod directory;
pub mod enrich;
pub mod gen;
pub mod metrics;
pub mod model;
pub mod pipeline;
pub mod shutdown;
pub mod source;
pub mod stats;
pub mod store;

/// Wall-clock seconds, used only for ingest timestamps (never for detection).
pub fn now_secs() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as u32).unwrap_or(0)
}

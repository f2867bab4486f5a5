//! custos: a streaming audit-log and security-analytics service for CRM systems.
//!
//! # Layout
//! One stage, one module; data flows left to right, and only [`store`] talks to ClickHouse:
//!
//! ```text
//! source ──▶ decode ──▶ enrich ──▶ detect ──▶ store (batched writer) ──▶ ack back to source
//! (kafka,    (contract,  (geo-IP)   (detectors  (ClickHouse: events,        │
//!  file,      dead                   as data)    dead_letters, directory,   └─▶ act (publish alerts,
//!  gen)       letters)                           alerts, actions, audit)          lock accounts)
//! ```
//!
//! The modules, by layer (lowest first). **A module may use only modules of lower layers**; the
//! files of one folder import each other without cycles, and a folder's `mod.rs` only declares and
//! re-exports. `tests/it/layering.rs` reads every `use` line and keeps this true.
//!
//! 0. [`time`]: working hours and days, durations, RFC 3339 formatting, the wall clock.
//! 1. [`model`]: the shared data — events, directory records, dead letters, alerts, ids, and the
//!    closed sets (statuses, severities, actions) as enums.
//! 2. [`config`]: `custos.toml` + environment, parsed into typed values, every problem at once;
//!    [`shutdown`]: the broadcast stop signal; [`stats`]: pipeline counters.
//! 3. [`metrics`]: Prometheus metrics; [`tls`]: the rustls crypto provider (ring, installed once), the
//!    API's server config and ClickHouse's HTTPS client, from the configured PEM files.
//! 4. The stages that need no storage: [`source`] (Kafka, JSONL files, acknowledgements),
//!    [`decode`] (the contracts; rejections carry stable codes), [`enrich`] (geo-IP, network
//!    class), [`directory`] (the in-memory view of the HR feed), [`gen`] (synthetic CRM traffic),
//!    [`privacy`] (de-identification of the personal data events carry, right after decoding).
//! 5. [`store`]: every SQL statement — schema migrations, one module per table family with its row
//!    type, retention, and the retrying batched writer.
//! 6. [`detect`]: the engine and the detector-kind registry, in event time; rebuilt from `store`;
//!    [`archive`]: signed, chained month archives (write, verify, restore), retention that archives
//!    before it drops, and the signed seals of each closed day.
//! 7. [`act`]: what happens once alerts are stored: the lockout decision (a pure function), its
//!    safety rails and dispatch, alerts published to Kafka (custos' form or OCSF), notifications.
//! 8. [`pipeline`]: wires the stages with bounded channels; [`api`]: the query API over `store`.
//! 9. [`commands`]: one module per `custos` command and its arguments.
//! 10. [`cli`]: parses the command line, loads config, sets up logging.
//!
//! Invariants (docs/architecture.md): every output has a deterministic id (replay-safe); a source
//! position is acknowledged only after ClickHouse confirmed the batch holding it; event time drives
//! detectors; one stage, one module; everything that leaves custos is recorded once.

pub mod act;
pub mod api;
pub mod archive;
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
pub mod privacy;
pub mod shutdown;
pub mod source;
pub mod stats;
pub mod store;
pub mod time;
pub mod tls;

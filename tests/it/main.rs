//! The integration suite, one test binary: each module was its own `tests/*.rs` binary, each linking
//! custos and every dependency again (30 links; with debug info they filled a CI machine's disk).
//! `cargo nextest` still runs every test in its own process; filter a module with its path, e.g.
//! `cargo nextest run --test it kafka::`.
//!
//! Server tests use the real ClickHouse, cluster, Kafka-protocol broker, SMTP server and browser that
//! `tests/run.sh` starts or installs; [`common`] finds them.

mod common;

mod api;
mod archive;
mod assignment;
mod audit;
mod clickhouse_outage;
mod cluster;
mod config;
mod console;
mod contract;
mod deploy;
mod detectors;
mod event_rows;
mod faults;
mod gen;
mod geoip;
mod hostile;
mod kafka;
mod kafka_ocsf;
mod layering;
mod lockout;
mod mappings;
mod notify;
mod privacy;
mod replay;
mod retention;
mod roundtrip;
mod schema;
mod seal;
mod secrets;
mod sigma;
mod tls;

//! The query API (axum) for investigators and auditors: alerts, events, timelines, exports — read from
//! ClickHouse only, authenticated by bearer tokens with roles, and every request itself recorded in
//! `api_audit`. The OpenAPI document is generated from the handlers (`openapi.rs`).

mod alerts;
mod audit;
pub mod auth;
pub mod console;
mod dead_letters;
mod error;
mod events;
mod health;
mod layers;
pub mod openapi;
mod params;
mod response;
mod router;
mod state;
mod timeline;
mod trail;
mod users;
mod views;

pub use audit::AuditWriter;
pub use error::{ApiError, ErrorBody};
pub use router::{bind, router, serve, serve_on};
pub use state::{AppState, Inner};

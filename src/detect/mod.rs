//! Detect stage: detectors defined as data (`detectors/<id>.toml`, see [`spec`]) evaluated over
//! enriched events in **event time**, with the directory view. The [`Engine`] applies what every
//! detector shares — allow lists, suppression, deterministic alert ids — and each kind's file holds
//! only its own logic ([`kinds`] is the registry, [`rule`] the contract).
//!
//! Files, lowest first: `worktime`, `filter` → `rule` → the kinds → `kinds` → `spec` → `engine` →
//! `fixtures`, `rehydrate`. This file only declares and re-exports.

pub mod bulk_export;
pub mod engine;
pub mod filter;
pub mod fixtures;
pub mod impossible_travel;
pub mod kinds;
pub mod log;
pub mod matching;
pub mod new_value;
pub mod off_hours_login;
pub mod orphaned_account;
pub mod rehydrate;
pub mod rule;
pub mod spec;
pub mod threshold;
pub mod worktime;

pub use engine::{Detect, Engine, LatestAlerts, NoDetect, MAX_EVIDENCE};
pub use kinds::KindParams;
pub use rule::{Ctx, History, Kind, Rule, Trigger};
pub use spec::DetectorSpec;

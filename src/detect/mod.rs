//! Detect stage: detectors defined as data (`detectors/<id>.toml`, see [`spec`]) evaluated over
//! enriched events in **event time**, with the directory view. The [`Engine`] applies what every
//! detector shares — allow lists, suppression, deterministic alert ids — and each kind's file holds
//! only its own logic ([`kinds`] is the registry, [`rule`] the contract).
//!
//! Files, lowest first: `worktime`, `filter`, `log` → `window` → `rule`, `sigma_view` → the kinds
//! (`sigma` among them) → `kinds` → `spec` → `sigma_load` → `load` → `engine` → `fixtures`,
//! `rehydrate`. This file only declares and re-exports.

pub mod bulk_export;
pub mod engine;
pub mod filter;
pub mod fixtures;
pub mod impossible_travel;
pub mod kinds;
pub mod load;
pub mod log;
pub mod matching;
pub mod new_value;
pub mod off_hours_login;
pub mod orphaned_account;
pub mod rehydrate;
pub mod rule;
pub mod sigma;
pub mod sigma_load;
pub mod sigma_view;
pub mod spec;
pub mod threshold;
pub mod window;
pub mod worktime;

pub use engine::{Detect, Engine, LatestAlerts, NoDetect, MAX_EVIDENCE};
pub use kinds::KindParams;
pub use load::{load_dir, load_dir_noting};
pub use rule::{Ctx, History, Kind, Rule, Trigger};
pub use spec::DetectorSpec;

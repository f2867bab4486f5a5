//! The mapping file format (`mappings/*.toml`): what a user writes to read a CRM's own records, as
//! serde types, and their compilation into a [`Mapping`](super::Mapping) with every problem reported.

use std::collections::BTreeMap;

use serde::Deserialize;

/// One mapping file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Candidate roots, tried in order; `""` is the record itself. Default: the record itself.
    #[serde(default)]
    pub envelope: Vec<String>,
    /// Chooses the variant; without one the single variant applies.
    pub discriminator: Option<DiscriminatorSpec>,
    /// Fields every variant shares (a variant's own list for a field replaces the shared one).
    #[serde(default)]
    pub fields: BTreeMap<String, Vec<SourceSpec>>,
    #[serde(default, rename = "variant")]
    pub variants: Vec<VariantSpec>,
    /// What happens to the root's fields no source reads: `keep` (as `attributes`) or `drop`.
    #[serde(default)]
    pub unmapped: Unmapped,
    /// With `unmapped = "keep"`: only these of them (an allowlist); empty = every one.
    #[serde(default)]
    pub keep: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscriminatorSpec {
    /// Path of the value the variants test (read from the root, or from the raw record when it
    /// starts with `/`: a CometD `channel` sits outside the payload).
    pub path: String,
    /// More paths, tried in order when `path` has no value (Debezium's `source.table` sits at
    /// `/source.table`, or at `/payload.source.table` with schemas on).
    #[serde(default)]
    pub also: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantSpec {
    pub name: String,
    /// The test on the discriminator's value (its text: numbers and booleans as JSON writes them).
    #[serde(default)]
    pub eq: Vec<String>,
    pub prefix: Option<String>,
    pub regex: Option<String>,
    #[serde(default)]
    pub fields: BTreeMap<String, Vec<SourceSpec>>,
}

/// One candidate source of a contract field; the first giving a non-empty value wins.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// A dotted path from the root (`a.b`, `list[0].c`).
    pub path: Option<String>,
    /// Several paths joined by `sep` (missing ones as ""); every one must be present.
    #[serde(default)]
    pub concat: Vec<String>,
    #[serde(default = "space")]
    pub sep: String,
    /// A fixed value.
    #[serde(rename = "const")]
    pub constant: Option<String>,
    /// Transforms, applied in this order.
    #[serde(default)]
    pub first_of_list: bool,
    #[serde(default)]
    pub count_list: bool,
    /// A regex with one capture group: its capture replaces the value (no match: no value).
    pub capture: Option<String>,
    /// Exact value maps; a value named by none of the maps passes through unchanged.
    #[serde(default)]
    pub map: BTreeMap<String, String>,
    #[serde(default)]
    pub map_prefix: BTreeMap<String, String>,
    /// `[[pattern, value], …]`, tried in order.
    #[serde(default)]
    pub map_regex: Vec<(String, String)>,
    /// Prepended to the value last (ids unique per table: `wk_admin_login_log:`).
    pub prefix: Option<String>,
    /// How a time is written: `rfc3339`, `epoch_ms`, `epoch_s`, `compact` (`yyyyMMddHHmmss.SSS`),
    /// `auto` (any of those; no offset = the input's timezone, else UTC), `epoch_ms_local` (epoch
    /// milliseconds of the local wall time, as Debezium writes a MySQL DATETIME: the input's timezone).
    pub time: Option<String>,
}

fn space() -> String {
    " ".into()
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unmapped {
    #[default]
    Keep,
    Drop,
}

/// Fields without which a record is a dead letter (`event_id` falls back to a hash of the record).
pub const REQUIRED: &[&str] = &["ts", "user_id", "action"];

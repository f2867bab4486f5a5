//! `[privacy]`: de-identification of the personal data CRM events carry (docs/privacy.md). On by
//! default with the built-in identifier rules; rules can be turned off or added, fields named.

use serde::{Deserialize, Serialize};

use super::secret::Secret;
use crate::model::closed_set;

closed_set! {
    /// What is done with a value a rule or field matched: `mask` keeps a short prefix and suffix
    /// (nothing recoverable), `hash` writes `hmac:<hex>` (keyed HMAC-SHA256: the same value, the
    /// same token), `drop` removes it.
    pub enum PrivacyAction { Mask = "mask", Hash = "hash", Drop = "drop" }
}

closed_set! {
    /// A custom rule's extra check on what its regex matched.
    pub enum Validator { Luhn = "luhn", CnId = "cn_id" }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrivacyConfig {
    /// Off: events are stored as received (not recommended: docs/privacy.md).
    pub enabled: bool,
    /// The action of the built-in rules and of rules and fields that name none.
    pub action: PrivacyAction,
    /// Built-in rules turned off, by name: `cn_mobile`, `cn_id`, `bank_card`, `email`.
    pub disable: Vec<String>,
    /// The `hash` key: a file holding it, or `CUSTOS_PRIVACY_KEY` (at least 16 bytes; keep it apart
    /// from the logs).
    pub key_file: String,
    pub key: Secret,
    /// `[[privacy.rule]]`: more identifiers.
    pub rule: Vec<PrivacyRule>,
    /// `[[privacy.field]]`: fields de-identified whatever they hold.
    pub field: Vec<PrivacyField>,
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        PrivacyConfig {
            enabled: true,
            action: PrivacyAction::Mask,
            disable: Vec::new(),
            key_file: String::new(),
            key: Secret::default(),
            rule: Vec::new(),
            field: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrivacyRule {
    pub name: String,
    pub regex: String,
    pub validator: Option<Validator>,
    pub action: Option<PrivacyAction>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrivacyField {
    /// `attributes.<name>` or `user_agent`.
    pub path: String,
    pub action: Option<PrivacyAction>,
}

/// Every problem of `[privacy]`.
pub fn validate(c: &PrivacyConfig, p: &mut Vec<String>) {
    for d in &c.disable {
        if !["cn_mobile", "cn_id", "bank_card", "email"].contains(&d.as_str()) {
            p.push(format!(
                "[privacy] disable: unknown rule `{d}` (cn_mobile, cn_id, bank_card, email)"
            ));
        }
    }
    for r in &c.rule {
        if r.name.is_empty() {
            p.push("[[privacy.rule]]: a rule needs a name".into());
        }
        if let Err(e) = regex::Regex::new(&r.regex) {
            p.push(format!("[[privacy.rule]] `{}`: regex: {e}", r.name));
        }
    }
    for f in &c.field {
        if !(f.path == "user_agent"
            || f.path
                .strip_prefix("attributes.")
                .is_some_and(|n| !n.is_empty()))
        {
            p.push(format!(
                "[[privacy.field]] `{}`: path must be attributes.<name> or user_agent",
                f.path
            ));
        }
    }
    let hashes = c.action == PrivacyAction::Hash
        || c.rule.iter().any(|r| r.action == Some(PrivacyAction::Hash))
        || c.field
            .iter()
            .any(|f| f.action == Some(PrivacyAction::Hash));
    if c.enabled && hashes && c.key.expose().is_empty() && c.key_file.is_empty() {
        p.push("[privacy] hash needs a key: key_file or CUSTOS_PRIVACY_KEY (e.g. `openssl rand -hex 32`)".into());
    }
    if !c.key.expose().is_empty() && c.key.expose().len() < 16 {
        p.push("[privacy] key: at least 16 characters".into());
    }
}

//! `[archive]`: the Ed25519 key that signs archive digests and the seals of live history
//! (docs/archives.md), and its checks.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArchiveConfig {
    /// PKCS#8 PEM Ed25519 private key (`openssl genpkey -algorithm ed25519 -out FILE`); keep it apart
    /// from the archives. Without it, `custos archive` and `custos seal` refuse to run.
    pub signing_key_file: String,
}

/// `[archive]` and `[retention] archive_dir`: every problem into `p`.
pub fn validate(c: &super::Config, p: &mut Vec<String>) {
    let key = &c.archive.signing_key_file;
    if !key.is_empty() && !std::path::Path::new(key).is_file() {
        p.push(format!(
            "[archive] signing_key_file: {key} is not a readable file"
        ));
    }
    if !c.retention.archive_dir.is_empty() && key.is_empty() {
        p.push(
            "[retention] archive_dir needs [archive] signing_key_file (archives are signed; \
             make a key with `openssl genpkey -algorithm ed25519 -out custos-archive.pem`)"
                .into(),
        );
    }
}

//! Bearer tokens with roles. Only each token's SHA-256 is configured; a request's token is hashed and
//! compared. Missing/unknown token → 401; a role too low for the route → 403.

use sha2::{Digest, Sha256};

use super::error::ApiError;
use crate::config::{ApiToken, Role};

/// Who made a request (a request extension once authenticated).
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: String,
    pub role: Role,
}

impl Caller {
    /// 403 unless the caller has at least `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.role >= role {
            Ok(())
        } else {
            Err(ApiError::Forbidden(role.as_str()))
        }
    }
}

/// The configured tokens: (sha256, caller).
#[derive(Debug, Default)]
pub struct Tokens(Vec<([u8; 32], Caller)>);

pub fn sha256_hex(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Tokens {
    pub fn from_config(tokens: &[ApiToken]) -> anyhow::Result<Self> {
        let mut out = Vec::new();
        for t in tokens {
            let role = t.role;
            let mut hash = [0u8; 32];
            for (i, b) in hash.iter_mut().enumerate() {
                *b = u8::from_str_radix(t.sha256.get(i * 2..i * 2 + 2).unwrap_or("zz"), 16)
                    .map_err(|_| anyhow::anyhow!("[[api.tokens]] {}: sha256 is not hex", t.name))?;
            }
            out.push((
                hash,
                Caller {
                    name: t.name.clone(),
                    role,
                },
            ));
        }
        if out.is_empty() {
            tracing::warn!("no [[api.tokens]] configured: every /api/v1 request will get 401 (create one with `custos token new`)");
        }
        Ok(Tokens(out))
    }

    /// The caller whose token this is. Every configured digest is compared, each in constant time
    /// (no early exit on the first differing byte, nor on the first match).
    pub fn find(&self, token: &str) -> Option<&Caller> {
        use subtle::ConstantTimeEq;
        let h: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for (k, c) in &self.0 {
            let equal: bool = k.ct_eq(&h).into();
            if equal && found.is_none() {
                found = Some(c);
            }
        }
        found
    }
}

/// A fresh random token and the config line for it.
pub fn new_token(name: &str, role: &str) -> anyhow::Result<(String, String)> {
    use rand::RngCore;
    let role: Role = role.parse().map_err(|e| anyhow::anyhow!("role: {e}"))?;
    anyhow::ensure!(
        !name.trim().is_empty() && !name.contains('"'),
        "name must be non-empty, without quotes"
    );
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token: String = format!(
        "cst_{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    let line = format!(
        "[[api.tokens]]\nname = \"{name}\"\nrole = \"{role}\"\nsha256 = \"{}\"",
        sha256_hex(&token)
    );
    Ok((token, line))
}

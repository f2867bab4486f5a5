//! Bearer tokens with roles. Only each token's SHA-256 is configured; a request's token is hashed and
//! compared. Missing/unknown token → 401; a role too low for the route → 403.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};

use super::{ApiError, AppState};
use crate::config::ApiToken;

/// Roles, in increasing power: each includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Auditor,
    Analyst,
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "auditor" => Some(Role::Auditor),
            "analyst" => Some(Role::Analyst),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Auditor => "auditor",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
        }
    }
}

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
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

impl Tokens {
    pub fn from_config(tokens: &[ApiToken]) -> anyhow::Result<Self> {
        let mut out = Vec::new();
        for t in tokens {
            let role = Role::parse(&t.role).ok_or_else(|| anyhow::anyhow!("[[api.tokens]] {}: bad role", t.name))?;
            let mut hash = [0u8; 32];
            for (i, b) in hash.iter_mut().enumerate() {
                *b = u8::from_str_radix(t.sha256.get(i * 2..i * 2 + 2).unwrap_or("zz"), 16)
                    .map_err(|_| anyhow::anyhow!("[[api.tokens]] {}: sha256 is not hex", t.name))?;
            }
            out.push((hash, Caller { name: t.name.clone(), role }));
        }
        if out.is_empty() {
            tracing::warn!("no [[api.tokens]] configured: every /api/v1 request will get 401 (create one with `custos token new`)");
        }
        Ok(Tokens(out))
    }

    pub fn find(&self, token: &str) -> Option<&Caller> {
        let h: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.0.iter().find(|(k, _)| *k == h).map(|(_, c)| c)
    }
}

/// Middleware: authenticates the bearer token and attaches the [`Caller`].
pub async fn require_token(State(state): State<AppState>, mut req: Request, next: Next) -> Result<Response, ApiError> {
    let token = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .ok_or(ApiError::Unauthorized)?;
    let caller = state.tokens.find(token).cloned().ok_or(ApiError::Unauthorized)?;
    req.extensions_mut().insert(caller.clone());
    let mut resp = next.run(req).await;
    resp.extensions_mut().insert(caller); // for the audit record
    Ok(resp)
}

/// A fresh random token and the config line for it.
pub fn new_token(name: &str, role: &str) -> anyhow::Result<(String, String)> {
    use rand::RngCore;
    anyhow::ensure!(Role::parse(role).is_some(), "role must be auditor, analyst or admin");
    anyhow::ensure!(!name.trim().is_empty() && !name.contains('"'), "name must be non-empty, without quotes");
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token: String = format!("cst_{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>());
    let line = format!("[[api.tokens]]\nname = \"{name}\"\nrole = \"{role}\"\nsha256 = \"{}\"", sha256_hex(&token));
    Ok((token, line))
}

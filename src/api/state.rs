//! What every handler shares: the [`AppState`] and the per-request time limit.

use std::sync::Arc;
use std::time::Duration;

use super::audit::AuditWriter;
use super::auth::Tokens;
use super::error::ApiError;
use crate::config::ApiConfig;
use crate::stats::Stats;
use crate::store::Store;

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub store: Store,
    pub tokens: Tokens,
    pub cfg: ApiConfig,
    /// Present when a pipeline runs in this process (`serve`, `demo`).
    pub stats: Option<Arc<Stats>>,
    pub audit: AuditWriter,
    /// Manual lockouts and the storm breaker (admin routes).
    pub responder: Option<crate::act::Responder>,
    /// `[api] trusted_proxies`, parsed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The configured detectors' ids (with those of stored alerts, the `detector` values a filter
    /// may name).
    pub detectors: std::sync::RwLock<Vec<String>>,
    /// Export slots: all tokens together, and per token name.
    pub exports: Arc<tokio::sync::Semaphore>,
    pub exports_per_token:
        std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Semaphore>>>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(
        store: Store,
        cfg: ApiConfig,
        stats: Option<Arc<Stats>>,
        responder: Option<crate::act::Responder>,
    ) -> anyhow::Result<Self> {
        let tokens = Tokens::from_config(&cfg.tokens)?;
        let audit = AuditWriter::spawn(store.clone());
        let store = store.with_query_timeout(cfg.query_timeout_secs);
        let trusted_proxies = cfg
            .trusted_proxies
            .iter()
            .filter_map(|p| crate::config::cidr(p))
            .collect();
        Ok(AppState(Arc::new(Inner {
            trusted_proxies,
            detectors: Default::default(),
            exports: Arc::new(tokio::sync::Semaphore::new(cfg.max_exports)),
            exports_per_token: Default::default(),
            store,
            tokens,
            cfg,
            stats,
            audit,
            responder,
        })))
    }
}

impl AppState {
    /// Names the configured detectors (for checking `detector` filters).
    pub fn with_detectors(self, ids: impl IntoIterator<Item = String>) -> Self {
        *self.detectors.write().unwrap_or_else(|e| e.into_inner()) = ids.into_iter().collect();
        self
    }
}

/// Runs a storage future under the API's time limit.
pub(crate) async fn timed<T>(
    state: &AppState,
    fut: impl std::future::Future<Output = Result<T, clickhouse::error::Error>>,
) -> Result<T, ApiError> {
    match tokio::time::timeout(Duration::from_secs(state.cfg.query_timeout_secs + 2), fut).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(ApiError::Timeout),
    }
}

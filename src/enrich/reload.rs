//! Hot reload: polls the configured files; when one is replaced (new size, mtime or inode — the usual
//! weekly GeoLite2 update, by copy or atomic rename) the whole set is loaded and verified off the
//! pipeline's threads, then swapped in atomically. A corrupt replacement is logged and the set in
//! service stays.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use super::geoip::{FileStamp, GeoSet};
use crate::config::GeoIpConfig;

/// The watcher task; stops when dropped.
pub struct Reloader(tokio::task::JoinHandle<()>);

impl Drop for Reloader {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn stamps(cfg: &GeoIpConfig) -> Vec<Option<FileStamp>> {
    cfg.city_db
        .iter()
        .chain(&cfg.asn_db)
        .map(|p| FileStamp::of(Path::new(p)).ok())
        .collect()
}

impl Reloader {
    pub fn spawn(cfg: GeoIpConfig, set: Arc<ArcSwap<GeoSet>>) -> Self {
        Reloader(tokio::spawn(async move {
            let mut seen = {
                let s = set.load();
                s.city
                    .iter()
                    .chain(&s.asn)
                    .map(|db| Some(db.stamp))
                    .collect::<Vec<_>>()
            };
            let mut tick = tokio::time::interval(Duration::from_millis(cfg.reload_interval_ms));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let now = stamps(&cfg);
                if now == seen || now.iter().any(Option::is_none) {
                    continue; // unchanged, or a file is missing mid-replacement: keep serving
                }
                seen = now;
                let generation = set.load().generation + 1;
                let c = cfg.clone();
                match tokio::task::spawn_blocking(move || super::load_set(&c, generation)).await {
                    Ok(Ok(new)) => {
                        // Record what was actually loaded (a file may have changed again meanwhile).
                        seen = new
                            .city
                            .iter()
                            .chain(&new.asn)
                            .map(|db| Some(db.stamp))
                            .collect();
                        set.store(Arc::new(new));
                        tracing::info!(generation, "geoip databases reloaded");
                    }
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "geoip reload rejected; the previous databases stay in service")
                    }
                    Err(e) => tracing::error!(error = %e, "geoip reload task failed"),
                }
            }
        }))
    }
}

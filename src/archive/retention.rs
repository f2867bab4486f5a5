//! Retention with archives: with `[retention] archive_dir` set, an expired month is archived, the
//! archive directory verified and the archive's row counts checked against what is stored before the
//! month's partitions are dropped; a partition whose archive does not verify is never dropped.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{bail, Context};

use super::keys::SigningKey;
use super::verify::verify_dir;
use super::write::{archive_month, Month};
use crate::config::Config;
use crate::store::archive::archived;
use crate::store::retention::{apply, drop_partition, expire_dead_letters, expired};
use crate::store::Store;

/// Applies retention once; returns what was dropped as `table:partition`.
pub async fn run(store: &Store, cfg: &Config) -> anyhow::Result<Vec<String>> {
    let r = &cfg.retention;
    if r.archive_dir.is_empty() {
        return apply(store, r).await;
    }
    let key = SigningKey::load(&cfg.archive.signing_key_file)?;
    let dir = Path::new(&r.archive_dir);
    let expired = expired(store, r).await?;
    let months: BTreeSet<u32> = expired.iter().map(|(_, id)| *id).collect();
    let mut dropped = Vec::new();
    for id in months {
        let Some(month) = Month::from_partition(id) else {
            continue;
        };
        let tables: Vec<&str> = expired
            .iter()
            .filter(|(_, m)| *m == id)
            .map(|(t, _)| *t)
            .collect();
        match archived_and_verified(store, month, dir, &key, &tables).await {
            Ok(()) => {
                for t in tables {
                    drop_partition(store, t, id).await?;
                    dropped.push(format!("{t}:{id}"));
                }
            }
            Err(e) => tracing::error!(
                %month,
                error = format!("{e:#}"),
                "retention: the month's archive did not verify; its partitions are kept"
            ),
        }
    }
    dropped.extend(expire_dead_letters(store, r).await?);
    Ok(dropped)
}

/// Makes sure `dir` verifies and holds an archive of `month` with every row `tables` store now
/// (archiving the month again when rows arrived since its last archive).
async fn archived_and_verified(
    store: &Store,
    month: Month,
    dir: &Path,
    key: &SigningKey,
    tables: &[&str],
) -> anyhow::Result<()> {
    for attempt in 0..2 {
        let report = verify_dir(dir, Some(key.public()))
            .with_context(|| format!("verifying {}", dir.display()))?;
        if !report.ok() {
            let first = report
                .chain
                .first()
                .cloned()
                .or_else(|| {
                    report
                        .files
                        .iter()
                        .find(|(_, s)| **s != super::verify::FileStatus::Ok)
                        .map(|(p, s)| format!("{p}: {}", s.label()))
                })
                .unwrap_or_default();
            bail!("{} does not verify ({first})", dir.display());
        }
        let name = month.to_string();
        if let Some(d) = report.digests.iter().rev().find(|d| d.month == name) {
            let mut complete = true;
            for t in tables {
                let Some(a) = archived(t) else { continue };
                let now = store.month_span(a, month.partition()).await?.rows;
                complete &= d.files.iter().any(|f| f.table == *t && f.rows == now);
            }
            if complete {
                return Ok(());
            }
        }
        if attempt == 0 {
            let (path, _) = archive_month(store, month, dir, key).await?;
            tracing::info!(%month, digest = %path.display(), "retention: archived before dropping");
        }
    }
    bail!("the rows of {month} changed while it was archived")
}

//! Retention: drops monthly partitions whose every row is older than the configured limit
//! (`ALTER TABLE … DROP PARTITION`, which every ClickHouse version has). `dead_letters` is not
//! partitioned by time (see its DDL), so expired rows there are deleted with `ALTER TABLE … DELETE`.
//! In the cluster profile both act on the `_local` tables `ON CLUSTER`, and partitions are listed on
//! every server (`cluster()` table function over `system.parts`).

use chrono::{Duration, NaiveDate, Utc};

use super::Store;
use crate::config::RetentionConfig;

/// (table, days) for the monthly-partitioned tables.
fn plan(cfg: &RetentionConfig) -> Vec<(&'static str, u32)> {
    vec![
        ("events", cfg.events_days),
        ("alerts", cfg.events_days),
        ("alert_status_history", cfg.events_days),
        ("actions", cfg.events_days),
        ("notifications", cfg.events_days),
        ("api_audit", cfg.api_audit_days),
    ]
}

/// The first day after the month a `YYYYMM` partition holds.
fn month_end(partition: &str) -> Option<NaiveDate> {
    let n: u32 = partition.trim_matches('\'').parse().ok()?;
    let (y, m) = ((n / 100) as i32, n % 100);
    let first = NaiveDate::from_ymd_opt(y, m, 1)?;
    Some(if m == 12 {
        NaiveDate::from_ymd_opt(y + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(y, m + 1, 1)?
    })
    .filter(|d| *d > first)
}

/// The expired monthly partitions, as (table, `YYYYMM`), oldest first per table.
pub async fn expired(
    store: &Store,
    cfg: &RetentionConfig,
) -> anyhow::Result<Vec<(&'static str, u32)>> {
    let today = Utc::now().date_naive();
    let mut out = Vec::new();
    for (table, days) in plan(cfg) {
        if days == 0 {
            continue;
        }
        let cutoff = today - Duration::days(days as i64);
        let parts_table = match store.cluster() {
            Some(c) => format!("cluster('{c}', system, parts)"),
            None => "system.parts".to_owned(),
        };
        let mut parts: Vec<String> = store
            .query(&format!("SELECT DISTINCT partition FROM {parts_table} WHERE database = ? AND table = ? AND active"))
            .bind(store.database())
            .bind(store.local_name(table))
            .fetch_all()
            .await?;
        parts.sort();
        for p in parts {
            let Some(end) = month_end(&p) else { continue };
            if end <= cutoff {
                out.push((table, p.trim_matches('\'').parse()?));
            }
        }
    }
    Ok(out)
}

/// Drops one monthly partition.
pub async fn drop_partition(store: &Store, table: &str, id: u32) -> anyhow::Result<()> {
    let (local, on) = (store.local_table(table), store.on_cluster());
    store
        .query(&format!("ALTER TABLE {local}{on} DROP PARTITION {id}"))
        .execute()
        .await?;
    tracing::info!(
        table,
        partition = id,
        "retention: dropped an expired partition"
    );
    Ok(())
}

/// Applies retention once without archives; returns what was dropped as `table:partition`.
pub async fn apply(store: &Store, cfg: &RetentionConfig) -> anyhow::Result<Vec<String>> {
    let mut dropped = Vec::new();
    for (table, id) in expired(store, cfg).await? {
        drop_partition(store, table, id).await?;
        dropped.push(format!("{table}:{id}"));
    }
    dropped.extend(expire_dead_letters(store, cfg).await?);
    Ok(dropped)
}

/// Deletes dead letters older than `[retention] dead_letters_days`.
pub async fn expire_dead_letters(
    store: &Store,
    cfg: &RetentionConfig,
) -> anyhow::Result<Option<String>> {
    if cfg.dead_letters_days == 0 {
        return Ok(None);
    }
    let cutoff = (Utc::now() - Duration::days(cfg.dead_letters_days as i64)).timestamp() as u32;
    let old: u64 = store
        .query("SELECT count() FROM dead_letters WHERE received_at < toDateTime(?)")
        .bind(cutoff)
        .fetch_one()
        .await?;
    if old == 0 {
        return Ok(None);
    }
    let (local, on) = (store.local_table("dead_letters"), store.on_cluster());
    store
        .query(&format!(
            "ALTER TABLE {local}{on} DELETE WHERE received_at < toDateTime(?)"
        ))
        .bind(cutoff)
        .execute()
        .await?;
    tracing::info!(rows = old, "retention: deleting expired dead letters");
    Ok(Some(format!("dead_letters:{old} rows")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn month_ends() {
        use chrono::NaiveDate;
        assert_eq!(
            super::month_end("202601"),
            NaiveDate::from_ymd_opt(2026, 2, 1)
        );
        assert_eq!(
            super::month_end("202512"),
            NaiveDate::from_ymd_opt(2026, 1, 1)
        );
        assert_eq!(super::month_end("tuple()"), None);
    }
}

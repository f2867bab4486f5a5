//! Every row type's columns against the real server: `DESCRIBE TABLE` after `migrate` must list
//! exactly the struct's fields, in the struct's order (RowBinary is positional; reads select the
//! struct's own field list), so a column-order slip fails here rather than corrupting rows.

use crate::common;

use clickhouse::Row;
use common::*;
use custos::config::ClickHouseConfig;
use custos::store::{
    actions, alerts, audit, dead_letters, directory, events, migrate::migrate, notifications,
    seals, Store,
};

fn columns<T: Row>() -> Vec<String> {
    T::COLUMN_NAMES.iter().map(|c| c.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_row_type_matches_its_table() {
    if skip_without_servers() {
        return;
    }
    let url = ch_url();
    let db = unique_name("schema");
    let store = Store::new(&ClickHouseConfig {
        url: url.clone(),
        database: db.clone(),
        ..Default::default()
    });
    migrate(&store, true).await.unwrap();
    let tables = [
        ("events", columns::<events::EventRow>()),
        ("dead_letters", columns::<dead_letters::DeadLetterRow>()),
        ("directory", columns::<directory::DirectoryRow>()),
        ("alerts", columns::<alerts::AlertRow>()),
        ("alert_status_history", columns::<alerts::StatusRow>()),
        ("actions", columns::<actions::ActionRow>()),
        ("api_audit", columns::<audit::AuditRow>()),
        ("notifications", columns::<notifications::NotificationRow>()),
        ("seals", columns::<seals::SealRow>()),
    ];
    for (table, fields) in tables {
        let described: Vec<String> =
            tokio::task::block_in_place(|| sql(&url, &db, &format!("DESCRIBE TABLE {table}")))
                .lines()
                .map(|l| l.split('\t').next().unwrap_or_default().to_owned())
                .collect();
        assert_eq!(
            described, fields,
            "`{table}`: DESCRIBE TABLE vs the row type's fields"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_migrating_at_once_both_succeed() {
    if skip_without_servers() {
        return;
    }
    // Both may see a column missing and add it: the second must take "already exists" as done.
    for _ in 0..3 {
        let cfg = ClickHouseConfig {
            url: ch_url(),
            database: unique_name("race"),
            ..Default::default()
        };
        let (a, b) = (Store::new(&cfg), Store::new(&cfg));
        let (ra, rb) = tokio::join!(migrate(&a, true), migrate(&b, true));
        ra.unwrap();
        rb.unwrap();
        let cols = tokio::task::block_in_place(|| {
            sql(&cfg.url, &cfg.database, "SELECT count() FROM system.columns WHERE database = currentDatabase() AND name IN ('tenant', 'subject') AND table IN ('directory', 'alerts')")
        });
        assert_eq!(
            cols, "3",
            "directory.tenant, alerts.tenant and alerts.subject"
        );
    }
}

//! Applies the numbered DDL files in `schemas/clickhouse/` (embedded in the binary) idempotently:
//! every statement is `IF NOT EXISTS`, and applied versions are recorded in `schema_migrations`.
//! With `[clickhouse] cluster` set, each statement runs in its cluster form ([`super::cluster`]).

use super::{base_client, cluster, Store, StoreError};

pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// The schema, in order. Add a file as `NNN_name.sql` and a line here; never edit an applied one.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "001_events",
        sql: include_str!("../../schemas/clickhouse/001_events.sql"),
    },
    Migration {
        version: 2,
        name: "002_dead_letters",
        sql: include_str!("../../schemas/clickhouse/002_dead_letters.sql"),
    },
    Migration {
        version: 3,
        name: "003_directory",
        sql: include_str!("../../schemas/clickhouse/003_directory.sql"),
    },
    Migration {
        version: 4,
        name: "004_alerts",
        sql: include_str!("../../schemas/clickhouse/004_alerts.sql"),
    },
    Migration {
        version: 5,
        name: "005_api",
        sql: include_str!("../../schemas/clickhouse/005_api.sql"),
    },
    Migration {
        version: 6,
        name: "006_actions",
        sql: include_str!("../../schemas/clickhouse/006_actions.sql"),
    },
    Migration {
        version: 7,
        name: "007_tenants_subjects",
        sql: include_str!("../../schemas/clickhouse/007_tenants_subjects.sql"),
    },
    Migration {
        version: 8,
        name: "008_audit_decoded",
        sql: include_str!("../../schemas/clickhouse/008_audit_decoded.sql"),
    },
    Migration {
        version: 9,
        name: "009_notifications",
        sql: include_str!("../../schemas/clickhouse/009_notifications.sql"),
    },
    Migration {
        version: 10,
        name: "010_seals",
        sql: include_str!("../../schemas/clickhouse/010_seals.sql"),
    },
];

const MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations \
    (version UInt32, name String, applied_at DateTime('UTC')) ENGINE = ReplacingMergeTree() ORDER BY version";

/// Statements of a DDL file: `--` comment lines dropped, split on `;`.
pub fn statements(sql: &str) -> Vec<String> {
    let body: String = sql
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    body.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `(table, column)` of an `ALTER TABLE <table> ADD COLUMN <column> …` statement.
pub fn added_column(stmt: &str) -> Option<(&str, &str)> {
    let rest = stmt.strip_prefix("ALTER TABLE ")?;
    let (table, rest) = rest.split_once(' ')?;
    let rest = rest.trim_start().strip_prefix("ADD COLUMN ")?;
    Some((table, rest.split_whitespace().next()?))
}

/// Whether `db.table` has `column` (on the server this handle talks to).
async fn has_column(
    store: &Store,
    backoff: &super::Backoff,
    db: &str,
    table: &str,
    column: &str,
) -> Result<bool, StoreError> {
    let sql = "SELECT count() FROM system.columns WHERE database = ? AND table = ? AND name = ?";
    let n: u64 = backoff
        .run("read system.columns", &store.cfg.url, || {
            store
                .client
                .query(sql)
                .bind(db)
                .bind(table)
                .bind(column)
                .fetch_one()
        })
        .await?;
    Ok(n > 0)
}

/// Creates the database and applies pending migrations; returns how many were applied.
/// With `give_up` the ClickHouse retry deadline applies; without it, waits for ClickHouse forever.
pub async fn migrate(store: &Store, give_up: bool) -> Result<usize, StoreError> {
    let backoff = store.retry_policy(give_up);
    let url = store.cfg.url.as_str();
    let root = base_client(&store.cfg);
    let db = store.cfg.database.as_str();
    let create_db = format!("CREATE DATABASE IF NOT EXISTS `{db}`{}", store.on_cluster());
    backoff
        .run("create database", url, || root.query(&create_db).execute())
        .await?;
    let migrations_table = match store.cluster() {
        Some(c) => cluster::migrations_table(db, c),
        None => MIGRATIONS_TABLE.to_owned(),
    };
    backoff
        .run("create schema_migrations", url, || {
            store.client.query(&migrations_table).execute()
        })
        .await?;
    let applied: Vec<u32> = backoff
        .run("read schema_migrations", url, || {
            store
                .client
                .query("SELECT DISTINCT version FROM schema_migrations")
                .fetch_all::<u32>()
        })
        .await?;
    let mut count = 0;
    for m in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        for stmt in statements(m.sql) {
            if let Some((table, column)) = added_column(&stmt) {
                // No `ADD COLUMN IF NOT EXISTS` on 18.16: each step runs only where the column is missing,
                // so a half-applied run completes.
                let mut forms = Vec::new();
                match store.cluster() {
                    None => {
                        if !has_column(store, &backoff, db, table, column).await? {
                            forms.push(stmt.clone());
                        }
                    }
                    Some(c) => {
                        let change = &stmt["ALTER TABLE ".len() + table.len() + 1..];
                        let (alter, dist) = cluster::add_column_forms(table, change, db, c)
                            .map_err(|e| StoreError::Schema(format!("{}: {e}", m.name)))?;
                        if !has_column(store, &backoff, db, &cluster::local_name(table), column)
                            .await?
                        {
                            forms.push(alter);
                        }
                        if !has_column(store, &backoff, db, table, column).await? {
                            forms.extend(dist);
                        }
                    }
                }
                for f in forms {
                    // Another instance migrating at the same moment may add the column first (Code 44,
                    // "column with this name already exists"): the column is there, which is the goal.
                    backoff
                        .run(m.name, url, || async {
                            match store.client.query(&f).execute().await {
                                Err(clickhouse::error::Error::BadResponse(msg))
                                    if msg.contains("Code: 44")
                                        && msg.contains("already exists") =>
                                {
                                    Ok(())
                                }
                                r => r,
                            }
                        })
                        .await?;
                }
                continue;
            }
            let forms = match store.cluster() {
                Some(c) => cluster::statements(&stmt, db, c)
                    .map_err(|e| StoreError::Schema(format!("{}: {e}", m.name)))?
                    .to_vec(),
                None => vec![stmt],
            };
            for stmt in forms {
                backoff
                    .run(m.name, url, || store.client.query(&stmt).execute())
                    .await?;
            }
        }
        let record = format!(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ({}, '{}', now())",
            m.version, m.name
        );
        backoff
            .run("record migration", url, || {
                store.client.query(&record).execute()
            })
            .await?;
        tracing::info!(version = m.version, name = m.name, database = %store.cfg.database, "applied migration");
        count += 1;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_statement_is_idempotent() {
        for m in super::MIGRATIONS {
            let s = super::statements(m.sql);
            assert!(!s.is_empty(), "{}", m.name);
            assert!(
                s.iter()
                    .all(|st| st.starts_with("CREATE TABLE IF NOT EXISTS")
                        || super::added_column(st).is_some()),
                "{}: every statement is CREATE TABLE IF NOT EXISTS or a checked ADD COLUMN",
                m.name
            );
        }
    }
}

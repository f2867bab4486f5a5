//! The cluster storage profile's DDL: turns each single-server `CREATE TABLE` of `schemas/clickhouse/`
//! into a `Replicated*MergeTree` table `<name>_local` on every server plus a `Distributed` table `<name>`
//! over them, both `ON CLUSTER`, sharded so that all of one user's rows share a shard.

/// The sharding key of each table's Distributed table. User-keyed tables hash `user_id` alone, so a user's
/// events, alerts, actions and directory history are on one shard (timelines, windows and `FINAL`
/// deduplication stay shard-local: a row's replay always goes to the shard of its first delivery).
pub fn shard_key(table: &str) -> Option<&'static str> {
    Some(match table {
        "events" | "alerts" | "actions" | "directory" => "cityHash64(user_id)",
        "dead_letters" => "cityHash64(dl_id)",
        "notifications" => "cityHash64(notification_id)",
        "alert_status_history" => "cityHash64(alert_id)",
        "api_audit" => "cityHash64(request_id)",
        "seals" => "cityHash64(seal_hash)",
        _ => return None,
    })
}

/// The cluster form of `ALTER TABLE name ADD COLUMN …`: the change on every server's local table
/// (`ON CLUSTER`), and the Distributed table dropped and created again over it — an `ALTER … ON
/// CLUSTER` of a non-replicated table is refused on a replicated cluster, and a Distributed table holds
/// no rows (inserts are synchronous), so re-creating it loses nothing.
pub fn add_column_forms(
    name: &str,
    change: &str,
    db: &str,
    cluster: &str,
) -> Result<(String, [String; 2]), String> {
    let key = shard_key(name)
        .ok_or_else(|| format!("table `{name}` has no sharding key in store/cluster.rs"))?;
    let local = local_name(name);
    Ok((
        format!("ALTER TABLE `{db}`.`{local}` ON CLUSTER `{cluster}` {change}"),
        [
            format!("DROP TABLE IF EXISTS `{db}`.`{name}` ON CLUSTER `{cluster}`"),
            distributed(name, key, db, cluster),
        ],
    ))
}

/// The Distributed table `name` over `<name>_local` on every server.
fn distributed(name: &str, key: &str, db: &str, cluster: &str) -> String {
    let local = local_name(name);
    format!(
        "CREATE TABLE IF NOT EXISTS `{db}`.`{name}` ON CLUSTER `{cluster}` AS `{db}`.`{local}` \
         ENGINE = Distributed('{cluster}', '{db}', '{local}', {key})"
    )
}

/// The name of the replicated table that holds `table`'s rows on each server.
pub fn local_name(table: &str) -> String {
    format!("{table}_local")
}

/// ZooKeeper path of a replicated table; `{shard}` is the servers' macro.
fn zk_path(db: &str, table: &str) -> String {
    format!("/clickhouse/tables/{{shard}}/{db}/{table}")
}

/// `schema_migrations` replicated to every server of the cluster (one ZooKeeper path for all shards, each
/// server its own replica), so any node knows which migrations ran.
pub fn migrations_table(db: &str, cluster: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS `{db}`.schema_migrations ON CLUSTER `{cluster}` \
         (version UInt32, name String, applied_at DateTime('UTC')) \
         ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/{db}/schema_migrations', '{{shard}}-{{replica}}') ORDER BY version"
    )
}

/// The two statements for one `CREATE TABLE IF NOT EXISTS name (...) ENGINE = X(args) ...` of the schema.
pub fn statements(stmt: &str, db: &str, cluster: &str) -> Result<[String; 2], String> {
    const HEAD: &str = "CREATE TABLE IF NOT EXISTS ";
    let rest = stmt
        .strip_prefix(HEAD)
        .ok_or_else(|| format!("not a `{HEAD}…` statement"))?;
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .ok_or("no table definition")?;
    let (name, rest) = rest.split_at(end);
    let key = shard_key(name)
        .ok_or_else(|| format!("table `{name}` has no sharding key in store/cluster.rs"))?;
    let at = rest
        .find("ENGINE = ")
        .ok_or_else(|| format!("`{name}`: no `ENGINE = `"))?;
    let (columns, engine) = rest.split_at(at);
    let engine = &engine["ENGINE = ".len()..];
    let open = engine
        .find('(')
        .ok_or_else(|| format!("`{name}`: engine without ()"))?;
    let close = engine[open..]
        .find(')')
        .map(|i| open + i)
        .ok_or_else(|| format!("`{name}`: engine without )"))?;
    let (kind, args, tail) = (
        &engine[..open],
        engine[open + 1..close].trim(),
        &engine[close + 1..],
    );
    if !matches!(kind, "MergeTree" | "ReplacingMergeTree") {
        return Err(format!(
            "`{name}`: engine {kind} has no replicated form here"
        ));
    }
    let local = local_name(name);
    let args = if args.is_empty() {
        String::new()
    } else {
        format!(", {args}")
    };
    Ok([
        format!(
            "CREATE TABLE IF NOT EXISTS `{db}`.`{local}` ON CLUSTER `{cluster}`{columns}ENGINE = Replicated{kind}('{}', '{{replica}}'{args}){tail}",
            zk_path(db, &local)
        ),
        distributed(name, key, db, cluster),
    ])
}

#[cfg(test)]
mod tests {
    use super::statements;
    use crate::store::migrate::{statements as split, MIGRATIONS};

    #[test]
    fn every_schema_table_has_a_cluster_form() {
        for m in MIGRATIONS {
            for stmt in split(m.sql) {
                if let Some((table, _)) = crate::store::migrate::added_column(&stmt) {
                    let change = &stmt["ALTER TABLE ".len() + table.len() + 1..];
                    let (alter, [drop, create]) =
                        super::add_column_forms(table, change, "db", "c").unwrap();
                    assert!(
                        alter.contains("_local` ON CLUSTER `c` ADD COLUMN"),
                        "{alter}"
                    );
                    assert!(
                        drop.starts_with("DROP TABLE IF EXISTS")
                            && create.contains("ENGINE = Distributed('c', 'db', '"),
                        "{drop} / {create}"
                    );
                    continue;
                }
                let [local, dist] =
                    statements(&stmt, "db", "c").unwrap_or_else(|e| panic!("{}: {e}", m.name));
                if stmt.starts_with("ALTER") {
                    assert!(
                        local.contains("_local` ON CLUSTER `c` ADD COLUMN"),
                        "{local}"
                    );
                    assert!(
                        dist.contains("` ON CLUSTER `c` ADD COLUMN") && !dist.contains("_local"),
                        "{dist}"
                    );
                    continue;
                }
                assert!(
                    local.contains("_local` ON CLUSTER `c`")
                        && local.contains("ENGINE = Replicated"),
                    "{local}"
                );
                assert!(
                    dist.contains("ENGINE = Distributed('c', 'db', '")
                        && dist.contains("cityHash64("),
                    "{dist}"
                );
            }
        }
    }

    #[test]
    fn keeps_engine_arguments_and_clauses() {
        let [local, _] = statements(
            "CREATE TABLE IF NOT EXISTS alerts\n(\n  version UInt64\n)\nENGINE = ReplacingMergeTree(version)\nORDER BY alert_id",
            "custos",
            "prod",
        )
        .unwrap();
        assert_eq!(
            local,
            "CREATE TABLE IF NOT EXISTS `custos`.`alerts_local` ON CLUSTER `prod`\n(\n  version UInt64\n)\nENGINE = \
             ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/custos/alerts_local', '{replica}', version)\nORDER BY alert_id"
        );
        assert!(statements(
            "CREATE TABLE IF NOT EXISTS unknown (a UInt8) ENGINE = MergeTree() ORDER BY a",
            "d",
            "c"
        )
        .is_err());
    }
}

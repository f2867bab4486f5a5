//! What archives read and load: one month of an archived table as ClickHouse writes it
//! (JSONEachRow, sorted, one row per key where the engine keeps one), the months a table holds,
//! and archived rows loaded back (`custos archive restore`).

use super::Store;

type Result<T> = std::result::Result<T, clickhouse::error::Error>;

/// A table `custos archive` writes: its time column (the partition key's), its sort order, and
/// whether its engine keeps one row per key (read `FINAL`; rows loaded twice collapse on merge).
#[derive(Debug, Clone, Copy)]
pub struct Archived {
    pub table: &'static str,
    pub time: &'static str,
    order: &'static str,
    pub replacing: bool,
}

/// Every monthly-partitioned table of custos' history, events first.
pub const ARCHIVED: &[Archived] = &[
    Archived {
        table: "events",
        time: "ts",
        order: "tenant, user_id, ts, event_id",
        replacing: true,
    },
    Archived {
        table: "alerts",
        time: "ts",
        order: "tenant, detector, user_id, alert_id",
        replacing: true,
    },
    Archived {
        table: "alert_status_history",
        time: "at",
        order: "alert_id, at_ms, status",
        replacing: false,
    },
    Archived {
        table: "actions",
        time: "requested_at",
        order: "tenant, user_id, action_id, at_ms, status",
        replacing: false,
    },
    Archived {
        table: "notifications",
        time: "requested_at",
        order: "route, notification_id, at_ms, status, alert_id",
        replacing: false,
    },
    Archived {
        table: "api_audit",
        time: "ts",
        order: "ts, request_id",
        replacing: false,
    },
];

/// The archived table named `table`.
pub fn archived(table: &str) -> Option<&'static Archived> {
    ARCHIVED.iter().find(|a| a.table == table)
}

/// Rows, first and last time (UNIX seconds) of one month of one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clickhouse::Row, serde::Deserialize)]
pub struct MonthSpan {
    pub rows: u64,
    pub first: u32,
    pub last: u32,
}

impl Store {
    /// `month` (`YYYYMM`) of `t` as JSONEachRow lines, in the table's sort order.
    pub fn month_rows(&self, t: &Archived, month: u32) -> Result<clickhouse::query::BytesCursor> {
        let final_ = if t.replacing { " FINAL" } else { "" };
        self.client
            .query(&format!(
                "SELECT * FROM `{}`{final_} WHERE toYYYYMM({}) = ? ORDER BY {}",
                t.table, t.time, t.order
            ))
            .bind(month)
            .fetch_bytes("JSONEachRow")
    }

    /// How many rows `month` of `t` holds (one per key where the engine keeps one), and their first
    /// and last time.
    pub async fn month_span(&self, t: &Archived, month: u32) -> Result<MonthSpan> {
        let final_ = if t.replacing { " FINAL" } else { "" };
        self.client
            .query(&format!(
                "SELECT count(), toUInt32(min({time})), toUInt32(max({time})) FROM `{}`{final_} \
                 WHERE toYYYYMM({time}) = ?",
                t.table,
                time = t.time
            ))
            .bind(month)
            .fetch_one()
            .await
    }

    /// The months (`YYYYMM`) `table` has rows in, oldest first.
    pub async fn months(&self, table: &str) -> Result<Vec<u32>> {
        let t = archived(table).map_or("ts", |a| a.time);
        self.client
            .query(&format!(
                "SELECT DISTINCT toUInt32(toYYYYMM({t})) AS m FROM `{table}` ORDER BY m"
            ))
            .fetch_all()
            .await
    }

    /// Loads JSONEachRow `lines` (whole lines) into `table`.
    pub async fn load_rows(&self, table: &str, lines: Vec<u8>) -> Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        let mut ins = self
            .client
            .insert_formatted_with(format!("INSERT INTO `{table}` FORMAT JSONEachRow"));
        ins.send(lines.into()).await?;
        ins.end().await
    }
}

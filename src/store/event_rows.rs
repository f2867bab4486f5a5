//! The `events` rows of a write batch, encoded as ClickHouse's `RowBinary` straight from each event:
//! no [`EventRow`] is built, moved or dropped on the hot path, the event is freed as soon as it is
//! encoded, and a batch is one buffer (its room kept between batches) instead of a row struct and a
//! dozen heap texts per event.
//!
//! The column order is [`EventRow`]'s, which `tests/it/schema.rs` holds against `DESCRIBE TABLE`;
//! `tests/it/event_rows.rs` stores encoded events in a real ClickHouse and reads each back equal to
//! [`EventRow::new`] of the same event.

use clickhouse::Row;

use super::events::EventRow;
use crate::model::{Event, Position};

/// Encoded `events` rows, in arrival order.
#[derive(Default)]
pub struct EventRows {
    buf: Vec<u8>,
    rows: usize,
}

/// Bytes reserved per row of a new batch (a generated event encodes to ~260).
const ROW_BYTES: usize = 320;

impl EventRows {
    /// Room for `rows` typical rows, reserved and not touched.
    pub fn with_capacity(rows: usize) -> Self {
        EventRows {
            buf: Vec::with_capacity(rows.saturating_mul(ROW_BYTES)),
            rows: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Empties the rows, keeping the buffer's room.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.rows = 0;
    }

    /// The `RowBinary` body of an `INSERT` of every row.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The `INSERT` statement the bytes are the body of.
    pub fn insert_sql() -> String {
        let cols: Vec<String> = EventRow::COLUMN_NAMES
            .iter()
            .map(|c| format!("`{c}`"))
            .collect();
        format!("INSERT INTO events({}) FORMAT RowBinary", cols.join(","))
    }

    /// Appends the row [`EventRow::new`]`(e, at, ingest_ts)` would be, column by column.
    pub fn push(&mut self, e: &Event, at: &Position, ingest_ts: u32) {
        let b = &mut self.buf;
        let (ts, ts_ms) = crate::time::split(e.ts);
        text(b, &e.event_id);
        text(b, &e.tenant);
        text(b, &e.user_id);
        text(b, &e.action);
        b.extend_from_slice(&ts.to_le_bytes());
        b.extend_from_slice(&ts_ms.to_le_bytes());
        text(b, &e.object_type);
        b.extend_from_slice(&e.record_count.to_le_bytes());
        match e.ip {
            Some(std::net::IpAddr::V4(v4)) => ipv4(b, v4),
            Some(ip) => text(b, &ip.to_string()),
            None => b.push(0),
        }
        text(b, &e.user_agent);
        text(b, &e.session_id);
        text(b, e.outcome.as_str());
        varint(b, e.attributes.len() as u64);
        for (k, _) in &e.attributes {
            text(b, k);
        }
        varint(b, e.attributes.len() as u64);
        for (_, v) in &e.attributes {
            text(b, v);
        }
        let g = &e.geo;
        text(b, &g.country_iso);
        text(b, &g.country);
        text(b, &g.subdivision);
        text(b, &g.city);
        nullable_f64(b, g.coords.map(|c| c.lat));
        nullable_f64(b, g.coords.map(|c| c.lon));
        b.extend_from_slice(&g.asn.to_le_bytes());
        text(b, &g.as_org);
        text(b, &g.timezone);
        text(b, g.network_class.map(|c| c.as_str()).unwrap_or_default());
        b.extend_from_slice(&ingest_ts.to_le_bytes());
        let (source, topic, partition, offset, path, line) = match at {
            Position::Kafka {
                topic,
                partition,
                offset,
            } => ("kafka", &**topic, *partition, *offset, "", 0),
            Position::File { path, line } => ("file", "", 0, 0, &**path, *line),
            Position::Generator { seq } => ("generator", "", 0, 0, "", *seq),
        };
        text(b, source);
        text(b, topic);
        b.extend_from_slice(&partition.to_le_bytes());
        b.extend_from_slice(&offset.to_le_bytes());
        text(b, path);
        b.extend_from_slice(&line.to_le_bytes());
        self.rows += 1;
    }
}

/// An unsigned LEB128 length, as `RowBinary` writes string lengths and array sizes.
fn varint(b: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        b.push((n as u8) | 0x80);
        n >>= 7;
    }
    b.push(n as u8);
}

/// A `String` column: its length, then its bytes.
fn text(b: &mut Vec<u8>, s: &str) {
    varint(b, s.len() as u64);
    b.extend_from_slice(s.as_bytes());
}

/// A `Nullable(Float64)` column: 1 for NULL, else 0 and the value.
fn nullable_f64(b: &mut Vec<u8>, v: Option<f64>) {
    match v {
        None => b.push(1),
        Some(x) => {
            b.push(0);
            b.extend_from_slice(&x.to_le_bytes());
        }
    }
}

/// An IPv4 address's dotted text as a `String` column ([`crate::model::ipv4_text`]).
fn ipv4(b: &mut Vec<u8>, ip: std::net::Ipv4Addr) {
    let mut t = [0u8; 15];
    let n = crate::model::ipv4_text(ip, &mut t);
    b.push(n as u8);
    b.extend_from_slice(&t[..n]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_leb128() {
        for (n, want) in [
            (0u64, vec![0u8]),
            (127, vec![0x7f]),
            (128, vec![0x80, 0x01]),
            (300, vec![0xac, 0x02]),
            (16_384, vec![0x80, 0x80, 0x01]),
        ] {
            let mut b = Vec::new();
            varint(&mut b, n);
            assert_eq!(b, want, "{n}");
        }
    }

    #[test]
    fn ipv4_text_is_display() {
        for ip in ["0.0.0.0", "1.9.10.99", "100.101.199.200", "255.255.255.255"] {
            let mut b = Vec::new();
            ipv4(&mut b, ip.parse().unwrap());
            assert_eq!(b[0] as usize, ip.len());
            assert_eq!(&b[1..], ip.as_bytes());
        }
    }

    #[test]
    fn nulls_and_values_are_tagged() {
        let mut b = Vec::new();
        nullable_f64(&mut b, None);
        nullable_f64(&mut b, Some(1.5));
        assert_eq!(b[0], 1);
        assert_eq!(b[1], 0);
        assert_eq!(&b[2..], &1.5f64.to_le_bytes());
    }

    #[test]
    fn the_statement_names_every_column_in_row_order() {
        let sql = EventRows::insert_sql();
        assert!(
            sql.starts_with("INSERT INTO events(`event_id`,`tenant`,"),
            "{sql}"
        );
        assert!(
            sql.ends_with("`file_path`,`file_line`) FORMAT RowBinary"),
            "{sql}"
        );
        assert_eq!(sql.matches('`').count(), 2 * EventRow::COLUMN_NAMES.len());
    }
}

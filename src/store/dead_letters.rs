//! `dead_letters`: every record that failed its contract, with the exact bytes received.

use clickhouse::Row;
use serde::Serialize;

use super::pos::ingested_row;
use crate::model::DeadLetter;

ingested_row! {
    /// One row of `dead_letters`.
    #[derive(Debug, Clone, Default, Row, Serialize, utoipa::ToSchema)]
    pub struct DeadLetterRow {
        pub dl_id: String,
        pub received_at: u32,
        pub stream: String,
        ;
        #[serde(with = "bytes_as_string")]
        pub raw: Vec<u8>,
        pub error_code: String,
        pub error_message: String,
    }
}

impl DeadLetterRow {
    pub fn new(d: DeadLetter, received_at: u32) -> Self {
        let mut row = DeadLetterRow {
            dl_id: d.id(),
            received_at,
            stream: d.stream.as_str().to_owned(),
            raw: d.raw,
            error_code: d.code,
            error_message: d.message,
            ..Default::default()
        };
        row.set_position(&d.pos);
        row
    }
}

/// ClickHouse `String` is bytes: RowBinary writes a length and the bytes, valid UTF-8 or not.
mod bytes_as_string {
    pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }
}

/// A stored dead letter as the API reads it (`raw` as hex: it may not be text).
#[derive(Debug, Clone, clickhouse::Row, serde::Deserialize)]
pub struct StoredDeadLetter {
    pub dl_id: String,
    pub received_at: u32,
    pub stream: String,
    pub source: String,
    pub kafka_topic: String,
    pub kafka_partition: i32,
    pub kafka_offset: i64,
    pub file_path: String,
    pub file_line: u64,
    pub raw_hex: String,
    pub error_code: String,
    pub error_message: String,
}

/// What a dead-letters query may be narrowed by (`received_at` in `[since, until)`).
#[derive(Debug, Clone, Default)]
pub struct DeadLetterFilter {
    /// Any of these codes (empty: all).
    pub codes: Vec<String>,
    pub stream: Option<String>,
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    pub until: Option<chrono::DateTime<chrono::Utc>>,
}

impl DeadLetterFilter {
    fn sql(&self, head: &str) -> super::query::Sql {
        use super::query::{Arg, Sql};
        let mut sql = Sql::new(head);
        sql.any_of("error_code", &self.codes)
            .eq("stream", self.stream.as_deref());
        if let Some(t) = self.since {
            sql.push(
                " AND received_at >= toDateTime(?)",
                [Arg::U32(t.timestamp().max(0) as u32)],
            );
        }
        if let Some(t) = self.until {
            sql.push(
                " AND received_at < toDateTime(?)",
                [Arg::U32(t.timestamp().max(0) as u32)],
            );
        }
        sql
    }
}

impl super::Store {
    /// One page of dead letters, newest first.
    pub async fn dead_letters_page(
        &self,
        f: &DeadLetterFilter,
        after: Option<&super::Cursor>,
        limit: u64,
    ) -> Result<super::query::Page<StoredDeadLetter>, clickhouse::error::Error> {
        use super::query::{Arg, Page};
        let mut sql = f.sql(
            "SELECT dl_id, toUInt32(received_at), stream, source, kafka_topic, kafka_partition, kafka_offset, \
             file_path, file_line, hex(raw), error_code, error_message FROM dead_letters FINAL WHERE 1",
        );
        if let Some(c) = after {
            sql.push(
                " AND (received_at < toDateTime(?) OR (received_at = toDateTime(?) AND dl_id < ?))",
                [Arg::U32(c.ts), Arg::U32(c.ts), Arg::S(c.id.clone())],
            );
        }
        sql.push(
            " ORDER BY received_at DESC, dl_id DESC LIMIT ?",
            [Arg::U64(limit)],
        );
        let rows = sql.query(self).fetch_all().await?;
        Ok(Page::new(rows, limit, |r: &StoredDeadLetter| {
            super::Cursor {
                ts: r.received_at,
                ms: 0,
                id: r.dl_id.clone(),
            }
        }))
    }

    /// Dead letters per code under `f` (each stored record once).
    pub async fn dead_letter_counts(
        &self,
        f: &DeadLetterFilter,
    ) -> Result<Vec<(String, u64)>, clickhouse::error::Error> {
        let mut sql = f.sql("SELECT error_code, uniqExact(dl_id) FROM dead_letters WHERE 1");
        sql.push(" GROUP BY error_code ORDER BY error_code", []);
        sql.query(self).fetch_all().await
    }
}

//! `dead_letters`: every record that failed its contract, with the exact bytes received.

use clickhouse::Row;
use serde::Serialize;

use super::pos::Pos;
use crate::model::DeadLetter;

/// One row of `dead_letters`.
#[derive(Debug, Clone, Row, Serialize)]
pub struct DeadLetterRow {
    pub dl_id: String,
    pub received_at: u32,
    pub stream: String,
    pub source: String,
    pub kafka_topic: String,
    pub kafka_partition: i32,
    pub kafka_offset: i64,
    pub file_path: String,
    pub file_line: u64,
    #[serde(with = "bytes_as_string")]
    pub raw: Vec<u8>,
    pub error_code: String,
    pub error_message: String,
}

impl DeadLetterRow {
    pub fn new(d: DeadLetter, received_at: u32) -> Self {
        let p = Pos::from(&d.pos);
        DeadLetterRow {
            dl_id: d.id(),
            received_at,
            stream: d.stream.as_str().to_owned(),
            source: p.source.to_owned(),
            kafka_topic: p.kafka_topic,
            kafka_partition: p.kafka_partition,
            kafka_offset: p.kafka_offset,
            file_path: p.file_path,
            file_line: p.file_line,
            raw: d.raw,
            error_code: d.code,
            error_message: d.message,
        }
    }
}

/// ClickHouse `String` is bytes: RowBinary writes a length and the bytes, valid UTF-8 or not.
mod bytes_as_string {
    pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }
}

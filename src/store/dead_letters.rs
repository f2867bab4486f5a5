//! `dead_letters`: every record that failed its contract, with the exact bytes received.

use clickhouse::Row;
use serde::Serialize;

use super::pos::ingested_row;
use crate::model::DeadLetter;

ingested_row! {
    /// One row of `dead_letters`.
    #[derive(Debug, Clone, Default, Row, Serialize)]
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

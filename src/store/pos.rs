//! The source-position columns every ingested table carries (`source`, `kafka_*`, `file_*`).

use crate::model::Position;

/// A [`Position`] as columns.
#[derive(Debug, Clone, Default)]
pub(crate) struct Pos {
    pub source: &'static str,
    pub kafka_topic: String,
    pub kafka_partition: i32,
    pub kafka_offset: i64,
    pub file_path: String,
    pub file_line: u64,
}

impl From<&Position> for Pos {
    fn from(p: &Position) -> Self {
        match p {
            Position::Kafka {
                topic,
                partition,
                offset,
            } => Pos {
                source: "kafka",
                kafka_topic: topic.to_string(),
                kafka_partition: *partition,
                kafka_offset: *offset,
                ..Default::default()
            },
            Position::File { path, line } => Pos {
                source: "file",
                file_path: path.to_string(),
                file_line: *line,
                ..Default::default()
            },
            Position::Generator { seq } => Pos {
                source: "generator",
                file_line: *seq,
                ..Default::default()
            },
        }
    }
}

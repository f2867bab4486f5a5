//! The source-position columns every ingested table carries (`source`, `kafka_*`, `file_*`), declared
//! once: [`ingested_row!`] adds them to a row type (where its table has them) with `set_position`.

use std::sync::Arc;

use crate::model::Position;

/// Declares a row type whose table has the six position columns after the fields before `;` and
/// before the fields after it, and `set_position` to fill them from a [`Position`]. The row type derives
/// `utoipa::ToSchema` (the position columns' schema attributes need it). The texts are shared with the
/// position (`Arc`) or static (`Cow`): no copy per row.
macro_rules! ingested_row {
    (
        $(#[$m:meta])* pub struct $name:ident {
            $($(#[$fm:meta])* pub $f:ident: $t:ty,)*
            ;
            $($(#[$gm:meta])* pub $g:ident: $u:ty,)*
        }
    ) => {
        $(#[$m])*
        pub struct $name {
            $($(#[$fm])* pub $f: $t,)*
            /// Where it was read: kafka, file or generator, and the position.
            #[schema(value_type = String)]
            pub source: std::borrow::Cow<'static, str>,
            #[schema(value_type = String)]
            pub kafka_topic: std::sync::Arc<str>,
            pub kafka_partition: i32,
            pub kafka_offset: i64,
            #[schema(value_type = String)]
            pub file_path: std::sync::Arc<str>,
            pub file_line: u64,
            $($(#[$gm])* pub $g: $u,)*
        }

        impl $name {
            /// Fills the position columns.
            fn set_position(&mut self, p: &$crate::model::Position) {
                let c = $crate::store::pos::Columns::from(p);
                self.source = c.source.into();
                self.kafka_topic = c.kafka_topic;
                self.kafka_partition = c.kafka_partition;
                self.kafka_offset = c.kafka_offset;
                self.file_path = c.file_path;
                self.file_line = c.file_line;
            }
        }
    };
}
pub(crate) use ingested_row;

/// A [`Position`] as column values.
#[derive(Debug, Clone, Default)]
pub(crate) struct Columns {
    pub source: &'static str,
    pub kafka_topic: Arc<str>,
    pub kafka_partition: i32,
    pub kafka_offset: i64,
    pub file_path: Arc<str>,
    pub file_line: u64,
}

impl From<&Position> for Columns {
    fn from(p: &Position) -> Self {
        match p {
            Position::Kafka {
                topic,
                partition,
                offset,
            } => Columns {
                source: "kafka",
                kafka_topic: topic.clone(),
                kafka_partition: *partition,
                kafka_offset: *offset,
                ..Default::default()
            },
            Position::File { path, line } => Columns {
                source: "file",
                file_path: path.clone(),
                file_line: *line,
                ..Default::default()
            },
            Position::Generator { seq } => Columns {
                source: "generator",
                file_line: *seq,
                ..Default::default()
            },
        }
    }
}

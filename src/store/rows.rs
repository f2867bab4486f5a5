//! ClickHouse row types (RowBinary) and their construction from the model. Column names match
//! `schemas/clickhouse/*.sql`; the insert names its columns, so order need not match the table.

use clickhouse::Row;
use serde::Serialize;

use crate::detect::Alert;
use crate::model::{DeadLetter, DirectoryRecord, Event, Position};

/// Source position columns shared by every table.
#[derive(Debug, Clone, Default)]
struct Pos {
    source: &'static str,
    kafka_topic: String,
    kafka_partition: i32,
    kafka_offset: i64,
    file_path: String,
    file_line: u64,
}

fn pos(p: &Position) -> Pos {
    match p {
        Position::Kafka { topic, partition, offset } => Pos {
            source: "kafka",
            kafka_topic: topic.to_string(),
            kafka_partition: *partition,
            kafka_offset: *offset,
            ..Default::default()
        },
        Position::File { path, line } => Pos { source: "file", file_path: path.to_string(), file_line: *line, ..Default::default() },
        Position::Generator { seq } => Pos { source: "generator", file_line: *seq, ..Default::default() },
    }
}

/// Also what the API reads back (`SELECT` [`EventRow::COLUMNS`]).
#[derive(Debug, Clone, Row, Serialize, serde::Deserialize)]
pub struct EventRow {
    pub event_id: String,
    pub tenant: String,
    pub user_id: String,
    pub action: String,
    pub ts: u32,
    pub ts_ms: u16,
    pub object_type: String,
    pub record_count: u64,
    pub ip: String,
    pub user_agent: String,
    pub session_id: String,
    pub outcome: String,
    pub attr_keys: Vec<String>,
    pub attr_values: Vec<String>,
    pub country_iso: String,
    pub country: String,
    pub subdivision: String,
    pub city: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub asn: u32,
    pub as_org: String,
    pub geo_timezone: String,
    pub network_class: String,
    pub ingest_ts: u32,
    pub source: String,
    pub kafka_topic: String,
    pub kafka_partition: i32,
    pub kafka_offset: i64,
    pub file_path: String,
    pub file_line: u64,
}

impl EventRow {
    /// Every column, in field order, for reading rows back.
    pub const COLUMNS: &'static str = "event_id, tenant, user_id, action, toUInt32(ts), ts_ms, object_type, record_count, ip, user_agent, \
        session_id, outcome, attr_keys, attr_values, country_iso, country, subdivision, city, latitude, longitude, asn, as_org, \
        geo_timezone, network_class, toUInt32(ingest_ts), source, kafka_topic, kafka_partition, kafka_offset, file_path, file_line";

    pub fn new(e: Event, at: &Position, ingest_ts: u32) -> Self {
        let p = pos(at);
        let (attr_keys, attr_values) = e.attributes.into_iter().unzip();
        let g = e.geo;
        EventRow {
            ts: e.ts.timestamp() as u32,
            ts_ms: e.ts.timestamp_subsec_millis() as u16,
            event_id: e.event_id,
            tenant: e.tenant,
            user_id: e.user_id,
            action: e.action,
            object_type: e.object_type,
            record_count: e.record_count,
            ip: e.ip.map(|ip| ip.to_string()).unwrap_or_default(),
            user_agent: e.user_agent,
            session_id: e.session_id,
            outcome: e.outcome.as_str().to_owned(),
            attr_keys,
            attr_values,
            country_iso: g.country_iso,
            country: g.country,
            subdivision: g.subdivision,
            city: g.city,
            latitude: g.latitude,
            longitude: g.longitude,
            asn: g.asn,
            as_org: g.as_org,
            geo_timezone: g.timezone,
            network_class: g.network_class,
            ingest_ts,
            source: p.source.to_owned(),
            kafka_topic: p.kafka_topic,
            kafka_partition: p.kafka_partition,
            kafka_offset: p.kafka_offset,
            file_path: p.file_path,
            file_line: p.file_line,
        }
    }
}

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
    #[serde(with = "serde_bytes_as_string")]
    pub raw: Vec<u8>,
    pub error_code: String,
    pub error_message: String,
}

impl DeadLetterRow {
    pub fn new(d: DeadLetter, received_at: u32) -> Self {
        let p = pos(&d.pos);
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
mod serde_bytes_as_string {
    pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }
}

/// Also what rehydration and the API read back (`SELECT` [`DirectoryRow::COLUMNS`]).
#[derive(Debug, Clone, Row, Serialize, serde::Deserialize)]
pub struct DirectoryRow {
    pub record_id: String,
    pub user_id: String,
    pub status: String,
    pub effective_ts: Option<u32>,
    pub timezone: String,
    pub work_hours: String,
    pub work_days: String,
    pub display_name: String,
    pub email: String,
    pub department: String,
    pub role: String,
    pub manager_id: String,
    pub protected: u8,
    pub ingest_ts: u32,
    pub source: String,
    pub kafka_topic: String,
    pub kafka_partition: i32,
    pub kafka_offset: i64,
    pub file_path: String,
    pub file_line: u64,
}

impl DirectoryRow {
    /// Every column, in field order, for reading rows back.
    pub const COLUMNS: &'static str = "record_id, user_id, status, effective_ts, timezone, work_hours, work_days, display_name, email, \
        department, role, manager_id, protected, toUInt32(ingest_ts), source, kafka_topic, kafka_partition, kafka_offset, file_path, file_line";

    pub fn new(r: &DirectoryRecord, at: &Position, ingest_ts: u32) -> Self {
        let p = pos(at);
        DirectoryRow {
            record_id: r.record_id.clone(),
            user_id: r.user_id.clone(),
            status: r.status.as_str().to_owned(),
            effective_ts: r.effective_ts.map(|t| t.timestamp() as u32),
            timezone: r.timezone.map(|t| t.name().to_owned()).unwrap_or_default(),
            work_hours: r.work_hours.map(|w| w.to_string()).unwrap_or_default(),
            work_days: r.work_days.map(|w| w.to_string()).unwrap_or_default(),
            display_name: r.display_name.clone(),
            email: r.email.clone(),
            department: r.department.clone(),
            role: r.role.clone(),
            manager_id: r.manager_id.clone(),
            protected: r.protected as u8,
            ingest_ts,
            source: p.source.to_owned(),
            kafka_topic: p.kafka_topic,
            kafka_partition: p.kafka_partition,
            kafka_offset: p.kafka_offset,
            file_path: p.file_path,
            file_line: p.file_line,
        }
    }
}

#[derive(Debug, Clone, Row, Serialize, serde::Deserialize)]
pub struct AlertRow {
    pub alert_id: String,
    pub detector: String,
    pub severity: String,
    pub tenant: String,
    pub user_id: String,
    pub ts: u32,
    pub ts_ms: u16,
    pub created_at: u32,
    pub summary: String,
    pub evidence_event_ids: Vec<String>,
    pub details: String,
    pub status: String,
    pub response: String,
    pub version: u64,
}

impl AlertRow {
    pub fn new(a: &Alert, created_at: u32) -> Self {
        AlertRow {
            alert_id: a.alert_id.clone(),
            detector: a.detector.clone(),
            severity: a.severity.as_str().to_owned(),
            tenant: a.tenant.clone(),
            user_id: a.user_id.clone(),
            ts: a.ts.timestamp() as u32,
            ts_ms: a.ts.timestamp_subsec_millis() as u16,
            created_at,
            summary: a.summary.clone(),
            evidence_event_ids: a.evidence_event_ids.clone(),
            details: a.details.to_string(),
            status: a.status.clone(),
            response: a.response.as_str().to_owned(),
            version: a.version,
        }
    }
}

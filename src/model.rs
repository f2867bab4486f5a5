//! The validated data model every stage shares: events, directory records, dead letters and where each
//! came from. Stages pass these, never raw JSON.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// The two input streams custos consumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Events,
    Directory,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Events => "events",
            Stream::Directory => "directory",
        }
    }
}

/// Where a raw record was read: enough to find it again and to acknowledge it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Position {
    Kafka { topic: Arc<str>, partition: i32, offset: i64 },
    File { path: Arc<str>, line: u64 },
    Generator { seq: u64 },
}

impl Position {
    pub fn source(&self) -> &'static str {
        match self {
            Position::Kafka { .. } => "kafka",
            Position::File { .. } => "file",
            Position::Generator { .. } => "generator",
        }
    }

    /// A stable text form, used in deterministic ids and logs.
    pub fn key(&self) -> String {
        match self {
            Position::Kafka { topic, partition, offset } => format!("kafka:{topic}:{partition}:{offset}"),
            Position::File { path, line } => format!("file:{path}:{line}"),
            Position::Generator { seq } => format!("generator:{seq}"),
        }
    }
}

/// One raw record as a source delivered it.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub stream: Stream,
    pub pos: Position,
    pub raw: Vec<u8>,
}

/// `outcome` of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }
}

/// Geo-IP facts about an event's IP, filled by the enrich stage (empty until then).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Geo {
    pub country_iso: String,
    pub country: String,
    pub subdivision: String,
    pub city: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub asn: u32,
    pub as_org: String,
    pub timezone: String,
    pub network_class: String,
}

/// A CRM event that passed the contract in `schemas/crm-event.schema.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub event_id: String,
    /// Event time, UTC, millisecond precision.
    pub ts: DateTime<Utc>,
    pub user_id: String,
    pub action: String,
    pub tenant: String,
    pub object_type: String,
    pub record_count: u64,
    pub ip: Option<std::net::IpAddr>,
    pub user_agent: String,
    pub session_id: String,
    pub outcome: Outcome,
    pub attributes: Vec<(String, String)>,
    pub geo: Geo,
}

/// Employment status from the directory feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserStatus {
    Active,
    Terminated,
    Suspended,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Terminated => "terminated",
            UserStatus::Suspended => "suspended",
        }
    }
}

/// A directory (HR / identity) record that passed `schemas/directory-record.schema.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct DirectoryRecord {
    pub user_id: String,
    pub status: UserStatus,
    pub effective_ts: Option<DateTime<Utc>>,
    pub timezone: Option<chrono_tz::Tz>,
    pub work_hours: Option<crate::decode::WorkHours>,
    pub work_days: Option<crate::decode::WorkDays>,
    pub display_name: String,
    pub email: String,
    pub department: String,
    pub role: String,
    pub manager_id: String,
    pub protected: bool,
    /// Deterministic identity of this version of the record (hash of its content).
    pub record_id: String,
}

/// A record that failed its contract, kept with the exact bytes received.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub stream: Stream,
    pub pos: Position,
    pub raw: Vec<u8>,
    pub code: String,
    pub message: String,
}

impl DeadLetter {
    /// Deterministic id: the same bytes at the same position always give the same id, so re-reading a
    /// partition or replaying a file never adds a second row.
    pub fn id(&self) -> String {
        stable_id(&[self.stream.as_str().as_bytes(), self.pos.key().as_bytes(), &self.raw])
    }
}

/// Hex SHA-256 over length-prefixed parts: the one way custos derives output ids from inputs.
pub fn stable_id(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    let digest = h.finalize();
    let mut out = String::with_capacity(32);
    for b in &digest[..16] {
        use std::fmt::Write;
        let _ = write!(out, "{b:02x}");
    }
    out
}

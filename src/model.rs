//! The validated data model every stage shares: events, directory records, dead letters, alerts, where
//! each came from, and the closed sets of values (statuses, severities, actions) as enums. Stages pass
//! these, never raw JSON or free strings.

use std::sync::Arc;

/// The hash map of per-event lookups (users, subjects, groups): aHash, seeded at random per process, so
/// ids an attacker picks cannot be made to collide (SipHash costs more per lookup than the lookup).
pub type FastMap<K, V> = hashbrown::HashMap<K, V, ahash::RandomState>;

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
    Kafka {
        topic: Arc<str>,
        partition: i32,
        offset: i64,
    },
    File {
        path: Arc<str>,
        line: u64,
    },
    Generator {
        seq: u64,
    },
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
            Position::Kafka {
                topic,
                partition,
                offset,
            } => format!("kafka:{topic}:{partition}:{offset}"),
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

/// Geo-IP facts about an event's IP, filled by the enrich stage (empty until then). The texts are
/// shared (`Arc<str>`): the enricher's cache hands out the same place to every event from an address,
/// and the stored row takes them over, so an event costs no copy of them (they were 7 % of a replay).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Geo {
    /// ISO 3166 code and English name.
    pub country_iso: Arc<str>,
    pub country: Arc<str>,
    pub subdivision: Arc<str>,
    pub city: Arc<str>,
    pub coords: Option<Coords>,
    /// The place's own IANA time zone.
    pub timezone: Arc<str>,
    /// Autonomous system (0 = unknown) and its organisation.
    pub asn: u32,
    pub as_org: Arc<str>,
    /// `None` for an event without an IP.
    pub network_class: Option<NetClass>,
}

/// An event's geo facts, shared: the enricher's cache hands every event from an address the same
/// record, so an event costs one reference count instead of one per text (the counts were touched
/// by the preparing thread and again by the one dropping the event). No facts read as
/// [`Geo::default`].
#[derive(Clone, Default)]
pub struct SharedGeo(Option<Arc<Geo>>);

impl SharedGeo {
    /// The facts, to change (copied first if another event shares them).
    pub fn make_mut(&mut self) -> &mut Geo {
        Arc::make_mut(self.0.get_or_insert_with(Default::default))
    }
}

impl From<Geo> for SharedGeo {
    fn from(g: Geo) -> Self {
        SharedGeo(Some(Arc::new(g)))
    }
}

impl std::ops::Deref for SharedGeo {
    type Target = Geo;
    fn deref(&self) -> &Geo {
        static NONE: std::sync::OnceLock<Geo> = std::sync::OnceLock::new();
        match &self.0 {
            Some(g) => g,
            None => NONE.get_or_init(Geo::default),
        }
    }
}

impl PartialEq for SharedGeo {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl std::fmt::Debug for SharedGeo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

/// A place on Earth, in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coords {
    pub lat: f64,
    pub lon: f64,
}

/// A closed set of text values: `as_str`, `FromStr` (the error names every allowed value), `Display` and
/// serde as the same text, and `ALL`.
macro_rules! closed_set {
    ($(#[$m:meta])* $vis:vis enum $name:ident { $($(#[$vm:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name { $($(#[$vm])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// The allowed values, for messages: `a, b or c`.
            pub fn allowed() -> String {
                let all: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                match all.split_last() {
                    Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
                    _ => all.join(""),
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!("`{other}` is not {}", Self::allowed())),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

pub(crate) use closed_set;

closed_set! {
    /// `outcome` of an event.
    pub enum Outcome { Success = "success", Failure = "failure" }
}

closed_set! {
    /// Employment status from the directory feed.
    pub enum UserStatus { Active = "active", Terminated = "terminated", Suspended = "suspended" }
}

closed_set! {
    /// What kind of address an IP is; only `public` ones are looked up in the geo-IP databases.
    pub enum NetClass {
        Public = "public",
        Private = "private",
        Loopback = "loopback",
        LinkLocal = "link_local",
        Cgnat = "cgnat",
        Unspecified = "unspecified",
        Multicast = "multicast",
        Broadcast = "broadcast",
        Reserved = "reserved",
        Documentation = "documentation",
        Benchmarking = "benchmarking",
        Nat64 = "nat64",
    }
}

closed_set! {
    /// `severity` of a detector and its alerts.
    pub enum Severity { Low = "low", Medium = "medium", High = "high", Critical = "critical" }
}

closed_set! {
    /// What custos does when a detector fires.
    pub enum Response { None = "none", Lock = "lock" }
}

closed_set! {
    /// An alert's triage status (the latest row of `alert_status_history`; none = open).
    pub enum AlertStatus { Open = "open", Acknowledged = "acknowledged", Resolved = "resolved", FalsePositive = "false_positive" }
}

closed_set! {
    /// What an `actions` row is about.
    pub enum ActionKind { LockUser = "lock_user", UnlockUser = "unlock_user", BreakerTrip = "breaker_trip", BreakerReset = "breaker_reset" }
}

closed_set! {
    /// One step in an action's story.
    pub enum ActionStatus {
        Dispatched = "dispatched",
        Acknowledged = "acknowledged",
        Failed = "failed",
        SkippedProtected = "skipped_protected",
        SkippedDryRun = "skipped_dry_run",
        SkippedAlreadyLocked = "skipped_already_locked",
        RateLimited = "rate_limited",
        /// Recorded by a person (a manual lock/unlock, a breaker reset) or the breaker itself.
        Manual = "manual",
    }
}

/// An alert. `alert_id` is derived from detector, tenant, user and the trigger, so a replay derives
/// the same id; `version` grows when an open alert gains evidence.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Alert {
    pub alert_id: String,
    pub detector: String,
    pub severity: Severity,
    pub tenant: String,
    pub user_id: String,
    /// Event time of the trigger.
    pub ts: DateTime<Utc>,
    pub summary: String,
    pub evidence_event_ids: Vec<String>,
    pub details: serde_json::Value,
    pub response: Response,
    pub status: AlertStatus,
    pub version: u64,
    /// Whom the alert is about when it is not `user_id` (the IP of a password spray).
    pub subject: Option<String>,
}

/// An event's short text: held inline up to 24 bytes (ids, actions, tenants), so most events'
/// texts cost no allocation, and no free on the thread that drops the event.
pub type Text = compact_str::CompactString;

/// A CRM event that passed the contract in `schemas/crm-event.schema.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub event_id: Text,
    /// Event time, UTC, millisecond precision.
    pub ts: DateTime<Utc>,
    pub user_id: Text,
    pub action: Text,
    pub tenant: Text,
    pub object_type: Text,
    pub record_count: u64,
    pub ip: Option<std::net::IpAddr>,
    pub user_agent: Text,
    pub session_id: Text,
    pub outcome: Outcome,
    pub attributes: Vec<(String, String)>,
    pub geo: SharedGeo,
}

/// A directory (HR / identity) record that passed `schemas/directory-record.schema.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct DirectoryRecord {
    pub user_id: String,
    /// The tenant whose account this is; `None`: the record applies to every tenant.
    pub tenant: Option<String>,
    pub status: UserStatus,
    pub effective_ts: Option<DateTime<Utc>>,
    pub timezone: Option<chrono_tz::Tz>,
    pub work_hours: Option<crate::time::WorkHours>,
    pub work_days: Option<crate::time::WorkDays>,
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
        stable_id(&[
            self.stream.as_str().as_bytes(),
            self.pos.key().as_bytes(),
            &self.raw,
        ])
    }
}

/// The first 128 bits of SHA-256 over length-prefixed parts, as 32 hex digits: the one way custos
/// derives output ids from inputs.
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
/// An address as text, as `IpAddr`'s `Display` writes it. IPv4 (nearly every event) without the
/// formatting machinery, which was 3 % of a replay's CPU.
pub fn ip_text(ip: std::net::IpAddr) -> String {
    let std::net::IpAddr::V4(v4) = ip else {
        return ip.to_string();
    };
    let mut t = [0u8; 15];
    let n = ipv4_text(v4, &mut t);
    String::from_utf8_lossy(&t[..n]).into_owned()
}

/// An IPv4 address's dotted text into `t` (its length returned), as `Display` writes it.
pub fn ipv4_text(ip: std::net::Ipv4Addr, t: &mut [u8; 15]) -> usize {
    let mut n = 0;
    for (i, o) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            t[n] = b'.';
            n += 1;
        }
        if o >= 100 {
            t[n] = b'0' + o / 100;
            n += 1;
        }
        if o >= 10 {
            t[n] = b'0' + o / 10 % 10;
            n += 1;
        }
        t[n] = b'0' + o % 10;
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    #[test]
    fn ip_text_is_display() {
        let octets = [0u8, 1, 9, 10, 42, 99, 100, 101, 199, 200, 249, 250, 255];
        for &a in &octets {
            for &b in &octets {
                let ip = IpAddr::V4(Ipv4Addr::new(a, b, 255 - a, b / 2));
                assert_eq!(super::ip_text(ip), ip.to_string());
            }
        }
        for v6 in ["::1", "2001:db8::8a2e:370:7334", "::ffff:1.2.3.4"] {
            let ip: IpAddr = v6.parse().unwrap();
            assert_eq!(super::ip_text(ip), ip.to_string());
        }
    }
}

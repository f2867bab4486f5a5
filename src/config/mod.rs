//! Configuration: `custos.toml` plus `CUSTOS_<SECTION>_<KEY>` environment overrides. Every section is a
//! struct with `deny_unknown_fields` and defaults; [`load`] reports every problem at once.

pub mod archive;
mod load;
pub mod notify;
pub mod privacy;
mod secret;

pub use load::{load, ConfigError};
pub mod redact;
pub mod tls;
pub use notify::NotifyRoute;
pub use secret::Secret;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::model::closed_set;
use crate::time::{Span, WorkDays, WorkHours};

closed_set! {
    /// `[response] mode`.
    pub enum Mode {
        /// Record what would have happened; send nothing.
        DryRun = "dry_run",
        /// Lock accounts.
        Enforce = "enforce",
    }
}

closed_set! {
    /// API roles, in increasing power: each includes the ones before it.
    pub enum Role { Auditor = "auditor", Analyst = "analyst", Admin = "admin" }
}

closed_set! {
    /// `[kafka] alerts_format`: how alerts are written on the alerts topic.
    pub enum AlertsFormat { Custos = "custos", Ocsf = "ocsf" }
}

closed_set! {
    /// `[log] format`.
    pub enum LogFormat { Text = "text", Json = "json" }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub clickhouse: ClickHouseConfig,
    pub kafka: KafkaConfig,
    pub pipeline: PipelineConfig,
    pub geoip: GeoIpConfig,
    pub detectors: DetectorsConfig,
    pub api: ApiConfig,
    pub response: ResponseConfig,
    pub retention: RetentionConfig,
    pub demo: DemoConfig,
    pub log: LogConfig,
    pub mappings: MappingsConfig,
    /// `[[notify]]` routes (docs/notifications.md); none: alerts are only stored and published.
    pub notify: Vec<NotifyRoute>,
    /// `[privacy]`: de-identification (docs/privacy.md); on by default.
    pub privacy: privacy::PrivacyConfig,
    /// `[archive]`: the key that signs archives and seals (docs/archives.md).
    pub archive: archive::ArchiveConfig,
}

/// `[mappings]`: where the team's own mapping files live (docs/sources.md).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MappingsConfig {
    /// A folder of `<name>.toml` mapping files, used by name in `--format` and `[kafka]
    /// events_format` next to the presets. Empty: presets and file paths only.
    pub dir: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClickHouseConfig {
    /// HTTP interface, e.g. `http://127.0.0.1:8123`, or `https://…` (the server's `https_port`).
    pub url: String,
    /// For an `https://` url: a PEM file of the CA certificate(s) (a private CA) trusted besides the
    /// public web roots. Empty: the public roots only.
    pub ca_file: String,
    pub database: String,
    pub user: String,
    pub password: Secret,
    /// First retry delay after a failed insert; doubles up to `retry_max_ms`.
    pub retry_initial_ms: u64,
    pub retry_max_ms: u64,
    /// Finite commands (`replay`, `migrate`) give up after ClickHouse failed this long; `serve` never does.
    pub give_up_after_secs: u64,
    /// Per-request timeout.
    pub request_timeout_secs: u64,
    /// Cluster storage profile: the name of a cluster in the servers' `remote_servers`. Empty = one server.
    /// When set, `custos migrate` creates `Replicated*MergeTree` tables `<table>_local` and `Distributed`
    /// tables `<table>` over them `ON CLUSTER`, sharded by user; the servers need `{shard}`/`{replica}`
    /// macros, ZooKeeper and `distributed_ddl` (docs/operations.md).
    pub cluster: String,
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        ClickHouseConfig {
            url: "http://127.0.0.1:8123".into(),
            ca_file: String::new(),
            database: "custos".into(),
            user: "default".into(),
            password: Secret::default(),
            retry_initial_ms: 200,
            retry_max_ms: 10_000,
            give_up_after_secs: 120,
            request_timeout_secs: 60,
            cluster: String::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    /// Comma-separated `host:port` list.
    pub brokers: String,
    pub group_id: String,
    pub events_topic: String,
    /// How `events_topic`'s records are written: `custos` (the contract), a preset mapping (docs/sources.md)
    /// or a mapping file.
    pub events_format: String,
    /// For a mapped format: the tenant of records that name none, the IANA timezone of times without
    /// an offset (default UTC), the stream of bare payloads (Salesforce). Empty: not set.
    pub events_tenant: String,
    pub events_timezone: String,
    pub events_stream: String,
    /// Several event topics, each with its own format (`[[kafka.inputs]]`). When set, they replace
    /// `events_topic` and the `events_*` settings; when empty, `events_topic` is the one input.
    pub inputs: Vec<KafkaInput>,
    /// Directory (HR) feed; empty disables it.
    pub directory_topic: String,
    pub client_id: String,
    pub session_timeout_ms: u64,
    /// Alerts are published here as JSON, keyed by user ("" disables publishing).
    pub alerts_topic: String,
    /// `custos` (the alert as the API shows it) or `ocsf` (an OCSF 1.3 Detection Finding, class
    /// 2004: docs/integrations.md).
    pub alerts_format: AlertsFormat,
    /// Extra librdkafka properties passed as is (e.g. `"security.protocol" = "ssl"`).
    pub librdkafka: BTreeMap<String, String>,
}

/// One events topic and how its records are written (`[[kafka.inputs]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaInput {
    pub topic: String,
    /// `custos` (the contract), a preset mapping (docs/sources.md) or a mapping file.
    pub format: String,
    /// For a mapped format: the tenant of records that name none, the IANA timezone of times without
    /// an offset (default UTC), the stream of bare payloads (Salesforce). Empty: not set.
    pub tenant: String,
    pub timezone: String,
    pub stream: String,
}

impl Default for KafkaInput {
    fn default() -> Self {
        KafkaInput {
            topic: String::new(),
            format: "custos".into(),
            tenant: String::new(),
            timezone: String::new(),
            stream: String::new(),
        }
    }
}

impl KafkaConfig {
    /// The event topics consumed: `[[kafka.inputs]]`, or else `events_topic` with the `events_*`
    /// settings.
    pub fn event_inputs(&self) -> Vec<KafkaInput> {
        if !self.inputs.is_empty() {
            return self.inputs.clone();
        }
        vec![KafkaInput {
            topic: self.events_topic.clone(),
            format: self.events_format.clone(),
            tenant: self.events_tenant.clone(),
            timezone: self.events_timezone.clone(),
            stream: self.events_stream.clone(),
        }]
    }
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: "127.0.0.1:9092".into(),
            group_id: "custos".into(),
            events_topic: "crm.events".into(),
            events_format: "custos".into(),
            events_tenant: String::new(),
            events_timezone: String::new(),
            events_stream: String::new(),
            inputs: Vec::new(),
            directory_topic: "crm.directory".into(),
            client_id: "custos".into(),
            session_timeout_ms: 10_000,
            alerts_topic: "custos.alerts".into(),
            alerts_format: AlertsFormat::Custos,
            librdkafka: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    /// Flush a batch to ClickHouse at this many rows …
    pub batch_rows: usize,
    /// … or when its oldest row is this old.
    pub batch_max_age_ms: u64,
    /// … or, once a detector raised an alert in it, at most this long after (alerts and the locks
    /// they decide do not wait for a full batch; alert storms still make batches of this age).
    pub alert_flush_ms: u64,
    /// Batches in flight between stages (bounds memory: about `queue_batches × batch_rows` records).
    pub queue_batches: usize,
    /// Records larger than this are dead-lettered as `too_large`.
    pub max_record_bytes: usize,
    /// A dead letter keeps at most this much of its record (with the full length and the SHA-256
    /// of the whole in its message), so a flood of oversized records cannot fill the disk.
    pub dead_letter_max_bytes: usize,
    /// How many recent `event_id`s the pipeline remembers to drop in-stream duplicates.
    pub dedup_window: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            batch_rows: 50_000,
            batch_max_age_ms: 1_000,
            alert_flush_ms: 50,
            queue_batches: 4,
            max_record_bytes: 1 << 20,
            dead_letter_max_bytes: 64 << 10,
            dedup_window: 1_000_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GeoIpConfig {
    /// City database file(s), tried in order (e.g. separate IPv4 and IPv6 files). One path or a list.
    #[serde(deserialize_with = "one_or_many")]
    pub city_db: Vec<String>,
    /// ASN database file(s), tried in order. One path or a list.
    #[serde(deserialize_with = "one_or_many")]
    pub asn_db: Vec<String>,
    /// Bounded cache of recent addresses (S3-FIFO); 0 disables it.
    pub cache_entries: usize,
    /// How often the files are checked for replacement; 0 disables hot reload.
    pub reload_interval_ms: u64,
}

impl Default for GeoIpConfig {
    fn default() -> Self {
        GeoIpConfig {
            city_db: Vec::new(),
            asn_db: Vec::new(),
            cache_entries: 100_000,
            reload_interval_ms: 30_000,
        }
    }
}

/// `"a.mmdb"` or `["a.mmdb", "b.mmdb"]`.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) if s.is_empty() => Vec::new(),
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectorsConfig {
    /// Folder of detector files (`<id>.toml`).
    pub dir: String,
    /// Working time for users whose directory record does not say (and no tenant default applies).
    #[serde(with = "crate::time::tz")]
    pub timezone: Tz,
    pub work_hours: WorkHours,
    pub work_days: WorkDays,
    /// Days (YYYY-MM-DD) without working hours, unless a tenant lists its own.
    #[serde(with = "crate::time::dates")]
    pub holidays: Vec<NaiveDate>,
    /// Per-tenant defaults: `[detectors.tenants.acme] timezone = "Asia/Shanghai"`.
    pub tenants: BTreeMap<String, TenantWorkTime>,
}

impl Default for DetectorsConfig {
    fn default() -> Self {
        DetectorsConfig {
            dir: "detectors".into(),
            timezone: Tz::UTC,
            work_hours: WorkHours {
                start_min: 9 * 60,
                end_min: 18 * 60,
            },
            work_days: WorkDays(0b0001_1111),
            holidays: Vec::new(),
            tenants: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantWorkTime {
    #[serde(with = "crate::time::tz::opt", skip_serializing_if = "Option::is_none")]
    pub timezone: Option<Tz>,
    pub work_hours: Option<WorkHours>,
    pub work_days: Option<WorkDays>,
    #[serde(with = "crate::time::dates")]
    pub holidays: Vec<NaiveDate>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Address the HTTP API listens on.
    pub listen: String,
    /// HTTPS: the server's certificate chain and its private key, PEM files (both or neither).
    /// Empty: plain HTTP (a warning at start when `listen` is not a loopback address).
    pub tls_cert_file: String,
    pub tls_key_file: String,
    /// `/healthz` and `/readyz` without a token (for orchestrators).
    pub open_health: bool,
    /// `/metrics` without a token (for Prometheus).
    pub open_metrics: bool,
    /// ClickHouse time limit for one API query.
    pub query_timeout_secs: u64,
    /// `[[api.tokens]] name, role, sha256` — only the SHA-256 of each token is stored
    /// (`custos token new` prints a token and its line).
    pub tokens: Vec<ApiToken>,
    /// Proxies (CIDRs or addresses) whose `X-Forwarded-For` is believed; from anyone else it is
    /// ignored and the audit records the TCP peer alone.
    pub trusted_proxies: Vec<String>,
    /// A connection must send a request's headers within this long (also the longest an idle
    /// keep-alive connection waits for its next request).
    pub header_read_timeout_secs: u64,
    /// Connections served at once; more are closed at accept.
    pub max_connections: usize,
    /// Exports (`format=csv|ndjson`) one token may run at once, and all tokens together: slow
    /// exports cannot take every ClickHouse query slot.
    pub max_exports_per_token: usize,
    pub max_exports: usize,
    /// The longest an export may run (ClickHouse's `max_execution_time` for it, and the stream's
    /// deadline).
    pub max_export_secs: u64,
    /// An export whose client has not taken the next chunk for this long is stopped (its slots freed).
    pub export_send_timeout_secs: u64,
    /// Where people reach this API (and its console), e.g. `https://custos.example.com`: the base of
    /// the alert links in notifications ("" = `http(s)://<listen>`).
    pub public_url: String,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: "127.0.0.1:8080".into(),
            tls_cert_file: String::new(),
            tls_key_file: String::new(),
            open_health: true,
            open_metrics: true,
            query_timeout_secs: 30,
            tokens: Vec::new(),
            trusted_proxies: Vec::new(),
            header_read_timeout_secs: 10,
            max_connections: 1024,
            max_exports_per_token: 2,
            max_exports: 4,
            max_export_secs: 3600,
            export_send_timeout_secs: 30,
            public_url: String::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResponseConfig {
    /// `dry_run` records what would have happened and sends nothing; `enforce` locks accounts.
    pub mode: Mode,
    /// Lock commands as JSON, keyed by user ("" disables the Kafka channel).
    pub actions_topic: String,
    /// POST of the same JSON, signed (`X-Custos-Signature: sha256=<hmac>`); "" disables the webhook.
    pub webhook_url: String,
    pub webhook_secret: Secret,
    pub webhook_timeout_ms: u64,
    /// Attempts per channel before an action is `failed` (capped exponential backoff between).
    pub max_attempts: u32,
    pub retry_initial_ms: u64,
    pub retry_max_ms: u64,
    /// Accounts never locked automatically (in addition to `protected = true` in the directory).
    pub protected_users: Vec<String>,
    /// Storm breaker: more than `max_locks` automatic locks within `window` stops auto-locking.
    pub max_locks: u32,
    pub window: Span,
    /// Manual locks (admins, through the API) allowed within `window`, counted apart from the
    /// automatic ones.
    pub max_manual_locks: u32,
}

impl Default for ResponseConfig {
    fn default() -> Self {
        ResponseConfig {
            mode: Mode::DryRun,
            actions_topic: "custos.actions".into(),
            webhook_url: String::new(),
            webhook_secret: Secret::default(),
            webhook_timeout_ms: 5_000,
            max_attempts: 6,
            retry_initial_ms: 500,
            retry_max_ms: 30_000,
            protected_users: Vec::new(),
            max_locks: 20,
            window: "10m".parse().expect("a duration"),
            max_manual_locks: 20,
        }
    }
}

/// How long data is kept, in days (0 = forever). A daily task in `serve` (and `custos retention`)
/// drops whole monthly partitions once every row in them is older than the limit.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// `events`, and `alerts` / `actions` / `alert_status_history` with them.
    pub events_days: u32,
    pub dead_letters_days: u32,
    pub api_audit_days: u32,
    /// A directory the daily retention task archives each month into (`custos archive`) before it
    /// drops it; a partition whose archive does not verify is never dropped. "" = drop unarchived.
    pub archive_dir: String,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        // Compliance-minded defaults: 13 months of activity (a full audit year plus a month), 90 days of
        // rejected input, 2 years of the auditors' own access log.
        RetentionConfig {
            events_days: 396,
            dead_letters_days: 90,
            api_audit_days: 730,
            archive_dir: String::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiToken {
    pub name: String,
    pub role: Role,
    /// Hex SHA-256 of the token.
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DemoConfig {
    /// Generated events per second of wall time.
    pub rate: u64,
    pub users: usize,
    pub seed: u64,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            rate: 500,
            users: 200,
            seed: 42,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `error`, `warn`, `info`, `debug`, `trace` or a tracing filter (`custos=debug,rdkafka=warn`).
    pub level: String,
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

impl Config {
    /// Semantic checks after parsing; returns every problem found.
    pub fn validate(&self) -> Vec<String> {
        let mut p = Vec::new();
        let mut check = |ok: bool, msg: &str| {
            if !ok {
                p.push(msg.to_owned());
            }
        };
        let ch = &self.clickhouse;
        check(
            ch.url.starts_with("http://") || ch.url.starts_with("https://"),
            "[clickhouse] url: must start with http:// or https://",
        );
        check(
            is_identifier(&ch.database),
            "[clickhouse] database: must be letters, digits and _ (not starting with a digit)",
        );
        check(ch.cluster.is_empty() || is_identifier(&ch.cluster), "[clickhouse] cluster: must be empty or letters, digits and _ (not starting with a digit)");
        check(!ch.user.is_empty(), "[clickhouse] user: must not be empty");
        check(
            ch.retry_initial_ms >= 1 && ch.retry_initial_ms <= ch.retry_max_ms,
            "[clickhouse] retry_initial_ms: must be ≥ 1 and ≤ retry_max_ms",
        );
        check(
            ch.request_timeout_secs >= 1,
            "[clickhouse] request_timeout_secs: must be ≥ 1",
        );
        let k = &self.kafka;
        check(
            !k.brokers.trim().is_empty(),
            "[kafka] brokers: must not be empty",
        );
        check(
            !k.group_id.is_empty(),
            "[kafka] group_id: must not be empty",
        );
        check(
            k.directory_topic.is_empty() || is_topic(&k.directory_topic),
            "[kafka] directory_topic: must be empty or 1-249 of [A-Za-z0-9._-]",
        );
        let defaults = KafkaConfig::default();
        check(
            k.inputs.is_empty()
                || (k.events_format == defaults.events_format
                    && k.events_tenant.is_empty()
                    && k.events_timezone.is_empty()
                    && k.events_stream.is_empty()),
            "[kafka] events_format, events_tenant, events_timezone, events_stream: not used with [[kafka.inputs]] (set them per input)",
        );
        let inputs = k.event_inputs();
        for (n, i) in inputs.iter().enumerate() {
            let at = if k.inputs.is_empty() {
                "[kafka] events_".to_owned()
            } else {
                format!("[[kafka.inputs]] #{} ", n + 1)
            };
            check(
                is_topic(&i.topic),
                &format!("{at}topic: must be 1-249 of [A-Za-z0-9._-]"),
            );
            check(
                i.topic != k.directory_topic,
                &format!("{at}topic: must differ from directory_topic"),
            );
            check(
                !inputs[..n].iter().any(|o| o.topic == i.topic),
                &format!("{at}topic: `{}` is listed twice", i.topic),
            );
            check(
                !i.format.trim().is_empty(),
                &format!("{at}format: `custos`, a preset mapping or a mapping file"),
            );
            check(
                i.format != "custos"
                    || (i.tenant.is_empty() && i.timezone.is_empty() && i.stream.is_empty()),
                &format!("{at}tenant, timezone, stream: apply to a mapped format only"),
            );
            check(
                i.timezone.is_empty() || i.timezone.parse::<chrono_tz::Tz>().is_ok(),
                &format!("{at}timezone: must be an IANA timezone name (e.g. Europe/Berlin)"),
            );
        }
        check(
            (1_000..=3_600_000).contains(&k.session_timeout_ms),
            "[kafka] session_timeout_ms: must be 1000..=3600000",
        );
        let pl = &self.pipeline;
        check(
            (1..=1_000_000).contains(&pl.batch_rows),
            "[pipeline] batch_rows: must be 1..=1000000",
        );
        check(
            (1..=600_000).contains(&pl.batch_max_age_ms),
            "[pipeline] batch_max_age_ms: must be 1..=600000",
        );
        check(
            pl.alert_flush_ms <= 600_000,
            "[pipeline] alert_flush_ms: must be 0..=600000",
        );
        check(
            (1..=64).contains(&pl.queue_batches),
            "[pipeline] queue_batches: must be 1..=64",
        );
        check(
            (1_024..=256 << 20).contains(&pl.max_record_bytes),
            "[pipeline] max_record_bytes: must be 1024..=268435456",
        );
        check(
            (256..=256 << 20).contains(&pl.dead_letter_max_bytes),
            "[pipeline] dead_letter_max_bytes: must be 256..=268435456",
        );
        check(
            pl.dedup_window <= 100_000_000,
            "[pipeline] dedup_window: must be ≤ 100000000",
        );
        check(
            self.geoip.cache_entries <= 10_000_000,
            "[geoip] cache_entries: must be ≤ 10000000",
        );
        check(
            self.geoip
                .city_db
                .iter()
                .chain(&self.geoip.asn_db)
                .all(|p| !p.trim().is_empty()),
            "[geoip] city_db/asn_db: paths must not be empty",
        );
        check(
            k.alerts_topic.is_empty() || is_topic(&k.alerts_topic),
            "[kafka] alerts_topic: must be empty or 1-249 of [A-Za-z0-9._-]",
        );
        check(
            !self.detectors.dir.is_empty(),
            "[detectors] dir: must not be empty",
        );
        check(self.demo.rate >= 1, "[demo] rate: must be ≥ 1");
        check(self.demo.users >= 1, "[demo] users: must be ≥ 1");
        check(
            tracing_subscriber::EnvFilter::try_new(&self.log.level).is_ok(),
            "[log] level: not a valid level or filter",
        );
        if self.api.listen.parse::<std::net::SocketAddr>().is_err() {
            p.push("[api] listen: must be an address like 127.0.0.1:8080".into());
        }
        for t in &self.api.trusted_proxies {
            if cidr(t).is_none() {
                p.push(format!(
                    "[api] trusted_proxies: `{t}` is not a CIDR or an address"
                ));
            }
        }
        if !(1..=600).contains(&self.api.header_read_timeout_secs) {
            p.push("[api] header_read_timeout_secs: must be 1..=600".into());
        }
        if self.api.max_exports_per_token == 0 || self.api.max_exports == 0 {
            p.push("[api] max_exports_per_token and max_exports must be ≥ 1".into());
        }
        if !(1..=7 * 86_400).contains(&self.api.max_export_secs) {
            p.push("[api] max_export_secs: must be 1..=604800".into());
        }
        if !(1..=3600).contains(&self.api.export_send_timeout_secs) {
            p.push("[api] export_send_timeout_secs: must be 1..=3600".into());
        }
        if !(1..=1_000_000).contains(&self.api.max_connections) {
            p.push("[api] max_connections: must be 1..=1000000".into());
        }
        if !(1..=3600).contains(&self.api.query_timeout_secs) {
            p.push("[api] query_timeout_secs: must be 1..=3600".into());
        }
        for (i, t) in self.api.tokens.iter().enumerate() {
            if t.name.trim().is_empty() || self.api.tokens[..i].iter().any(|o| o.name == t.name) {
                p.push(format!(
                    "[[api.tokens]] #{}: name must be non-empty and unique",
                    i + 1
                ));
            }
            if t.sha256.len() != 64 || !t.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                p.push(format!("[[api.tokens]] {}: sha256 must be 64 hex characters (custos token new prints it)", t.name));
            }
        }
        let r = &self.response;
        if !r.actions_topic.is_empty() && !is_topic(&r.actions_topic) {
            p.push("[response] actions_topic: must be empty or 1-249 of [A-Za-z0-9._-]".into());
        }
        if !(r.webhook_url.is_empty()
            || r.webhook_url.starts_with("http://")
            || r.webhook_url.starts_with("https://"))
        {
            p.push("[response] webhook_url: must start with http:// or https://".into());
        }
        if !r.webhook_url.is_empty() && r.webhook_secret.expose().len() < 16 {
            p.push(
                "[response] webhook_secret: needs at least 16 characters when webhook_url is set"
                    .into(),
            );
        }
        if r.mode == Mode::Enforce && r.actions_topic.is_empty() && r.webhook_url.is_empty() {
            p.push("[response] mode = \"enforce\" needs actions_topic or webhook_url".into());
        }
        if !(1..=50).contains(&r.max_attempts)
            || r.retry_initial_ms == 0
            || r.retry_initial_ms > r.retry_max_ms
            || r.webhook_timeout_ms == 0
        {
            p.push("[response] max_attempts must be 1..=50, 0 < retry_initial_ms ≤ retry_max_ms, webhook_timeout_ms > 0".into());
        }
        if r.max_manual_locks == 0 {
            p.push("[response] max_manual_locks must be ≥ 1".into());
        }
        if r.max_locks == 0 || r.window.secs() == 0 {
            p.push("[response] max_locks must be ≥ 1 and window a duration like 10m".into());
        }
        let url = &self.api.public_url;
        if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
            p.push("[api] public_url: must be empty or start with http:// or https://".into());
        }
        notify::validate(&self.notify, &mut p);
        privacy::validate(&self.privacy, &mut p);
        archive::validate(self, &mut p);
        tls::validate(self, &mut p);
        p
    }
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_topic(s: &str) -> bool {
    (1..=249).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// A network written as a CIDR or a single address.
pub fn cidr(s: &str) -> Option<ipnet::IpNet> {
    s.trim()
        .parse::<ipnet::IpNet>()
        .or_else(|_| s.trim().parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .ok()
}

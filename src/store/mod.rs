//! Store stage: the only module that talks to ClickHouse. The schema ([`migrate`], [`cluster`]), one
//! module per table family with its row type and every statement on it ([`events`], [`dead_letters`],
//! [`directory`], [`alerts`], [`actions`], [`audit`]), retention, and the batched, retrying
//! [`writer`] that acknowledges source positions only after ClickHouse confirmed.
//!
//! Row types name their columns once: reads select `?fields` (the struct's own field list), inserts
//! name them, and `tests/it/schema.rs` holds every row type against `DESCRIBE TABLE` on the real server.

pub mod actions;
pub mod alerts;
pub mod archive;
pub mod audit;
pub mod cluster;
mod day_counts;
pub mod dead_letters;
pub mod directory;
mod event_pages;
pub mod event_rows;
pub mod events;
pub mod migrate;
pub mod notifications;
mod pos;
pub mod query;
pub mod retention;
pub mod seals;
pub mod writer;

pub use query::{Cursor, Page};

use std::time::Duration;

use crate::config::ClickHouseConfig;

/// Errors callers branch on: a finite command gives up on [`StoreError::Unavailable`], and
/// [`StoreError::Rejected`] means ClickHouse refused the statement itself (a bug or schema drift).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("ClickHouse at {url} unavailable for {secs}s, giving up: {last}")]
    Unavailable {
        url: String,
        secs: u64,
        last: String,
    },
    #[error("ClickHouse refused `{what}`: {source}")]
    Rejected {
        what: String,
        source: clickhouse::error::Error,
    },
    #[error("schema: {0}")]
    Schema(String),
}

/// A handle on the configured ClickHouse database.
#[derive(Clone)]
pub struct Store {
    client: clickhouse::Client,
    cfg: ClickHouseConfig,
    /// `max_execution_time` of every read, when set ([`Store::with_query_timeout`]).
    query_timeout_secs: Option<u64>,
    /// Per-day event counts `stats` may answer from while their parts are unchanged.
    day_counts: std::sync::Arc<day_counts::DayCounts>,
    /// The time span of `events` the API's page windows start from, remembered briefly.
    event_span: std::sync::Arc<event_pages::SpanMemo>,
}

impl Store {
    pub fn new(cfg: &ClickHouseConfig) -> Self {
        let mut client = base_client(cfg).with_database(&cfg.database);
        if !cfg.cluster.is_empty() {
            // An insert into a Distributed table returns only once every shard has stored its rows (so a Kafka
            // offset is never committed past rows still queued on one node's disk), and `IN (subquery)` over
            // Distributed tables runs the subquery once, cluster-wide.
            client = client
                .with_setting("insert_distributed_sync", "1")
                .with_setting("distributed_product_mode", "global");
        }
        Store {
            client,
            cfg: cfg.clone(),
            query_timeout_secs: None,
            day_counts: Default::default(),
            event_span: Default::default(),
        }
    }

    /// The same database, with a ClickHouse time limit on every query (the API's).
    pub fn with_query_timeout(&self, secs: u64) -> Self {
        Store {
            query_timeout_secs: Some(secs),
            ..self.clone()
        }
    }

    /// A statement under this handle's limits.
    /// (Such reads filter `FINAL` tables by `PREWHERE` on a sorting-key column — `user_id`,
    /// `alert_id` —, which is exact: every version of a row shares its key, so the filter keeps all
    /// of them or none before the merge picks the latest; 15 → 2 ms for a user's directory on 18.16.)
    ///
    /// A read of one user's rows (or one alert's) for an API page: bounded by the sorting key's
    /// `user_id`, it reads a few granules, so one thread (under concurrent pages a second thread per
    /// query only adds scheduling: measured on 10 M events, 16 clients, events p99 257 → 203 ms).
    pub(crate) fn narrow_query(&self, sql: &str) -> clickhouse::query::Query {
        self.query(sql).with_setting("max_threads", "1")
    }

    pub(crate) fn query(&self, sql: &str) -> clickhouse::query::Query {
        let q = self.client.query(sql);
        match self.query_timeout_secs {
            Some(s) => q.with_setting("max_execution_time", s.to_string()),
            None => q,
        }
    }

    /// Inserts `rows` into `table` in one statement (nothing when empty).
    pub(crate) async fn insert_rows<T>(
        &self,
        table: &str,
        rows: &[T],
    ) -> Result<(), clickhouse::error::Error>
    where
        T: clickhouse::Row
            + clickhouse::RowWrite
            + for<'a> clickhouse::Row<Value<'a> = T>
            + serde::Serialize,
    {
        if rows.is_empty() {
            return Ok(());
        }
        let mut ins = self.client.insert::<T>(table).await?;
        for r in rows {
            ins.write(r).await?;
        }
        ins.end().await
    }

    /// Inserts encoded `events` rows in one statement (nothing when empty).
    pub async fn insert_events(
        &self,
        rows: &event_rows::EventRows,
    ) -> Result<(), clickhouse::error::Error> {
        static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let sql = SQL.get_or_init(event_rows::EventRows::insert_sql);
        self.insert_body(sql, rows.bytes()).await
    }

    /// Runs `sql` (an `INSERT … FORMAT RowBinary`) with `body` as its data, sent in chunks of 256 KiB
    /// (nothing when empty).
    async fn insert_body(
        &self,
        sql: &str,
        mut body: &[u8],
    ) -> Result<(), clickhouse::error::Error> {
        if body.is_empty() {
            return Ok(());
        }
        let mut ins = self
            .client
            .insert_formatted_with(sql)
            .buffered_with_capacity(256 * 1024);
        while !body.is_empty() {
            let n = ins.write(body).await?;
            body = &body[n..];
        }
        ins.end().await
    }

    /// The server's URL (for messages).
    pub fn url(&self) -> &str {
        &self.cfg.url
    }

    /// The cluster of the cluster storage profile, if configured.
    pub fn cluster(&self) -> Option<&str> {
        Some(self.cfg.cluster.as_str()).filter(|c| !c.is_empty())
    }

    /// The table holding `table`'s parts on each server: `<table>_local` in the cluster profile (where
    /// `table` is the Distributed table over it), `table` itself on a single server. Unqualified.
    pub fn local_name(&self, table: &str) -> String {
        match self.cluster() {
            Some(_) => cluster::local_name(table),
            None => table.to_owned(),
        }
    }

    /// [`Store::local_name`], qualified with the database.
    pub fn local_table(&self, table: &str) -> String {
        format!("`{}`.`{}`", self.cfg.database, self.local_name(table))
    }

    /// The ` ON CLUSTER <name>` clause in the cluster profile, empty otherwise: for DDL and `ALTER`s of local tables.
    pub fn on_cluster(&self) -> String {
        self.cluster()
            .map(|c| format!(" ON CLUSTER `{c}`"))
            .unwrap_or_default()
    }

    pub fn database(&self) -> &str {
        &self.cfg.database
    }

    /// `SELECT 1` against the server.
    pub async fn ping(&self) -> Result<(), clickhouse::error::Error> {
        self.client
            .query("SELECT 1")
            .fetch_one::<u8>()
            .await
            .map(|_| ())
    }

    pub fn retry_policy(&self, give_up: bool) -> Backoff {
        Backoff {
            initial: Duration::from_millis(self.cfg.retry_initial_ms),
            max: Duration::from_millis(self.cfg.retry_max_ms),
            give_up_after: Some(Duration::from_secs(self.cfg.give_up_after_secs))
                .filter(|_| give_up && self.cfg.give_up_after_secs > 0),
        }
    }
}

pub(crate) fn base_client(cfg: &ClickHouseConfig) -> clickhouse::Client {
    // `https://`: rustls, trusting the web roots and `[clickhouse] ca_file` (the crate's own client
    // speaks plain HTTP only).
    let client = if cfg.url.starts_with("https://") {
        clickhouse::Client::with_http_client(crate::tls::https_client(&cfg.ca_file))
    } else {
        clickhouse::Client::default()
    };
    client
        .with_url(&cfg.url)
        .with_user(&cfg.user)
        .with_password(cfg.password.expose())
        .with_validation(false)
        .with_compression(clickhouse::Compression::None)
        // `custos/<version>` in the User-Agent names custos' own queries in `system.query_log`
        // (tests/chdb/replay.py replays them on a current ClickHouse).
        .with_product_info("custos", env!("CARGO_PKG_VERSION"))
}

/// An error with its causes: a network error's own text is only `client error (Connect)`; the cause
/// says why (`invalid peer certificate: UnknownIssuer`, `Connection refused`).
pub(crate) fn with_causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let c_text = c.to_string();
        if !out.contains(&c_text) {
            out.push_str(": ");
            out.push_str(&c_text);
        }
        cause = c.source();
    }
    out
}

/// Capped exponential backoff with an optional deadline.
#[derive(Debug, Clone)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    pub give_up_after: Option<Duration>,
}

/// Whether an error is retried even when ClickHouse refused the statement: a long-running service keeps
/// its position and retries (an operator can fix the schema) rather than skip data.
impl Backoff {
    pub fn forever(mut self) -> Self {
        self.give_up_after = None;
        self
    }
}

/// Is this error worth retrying? Network errors, timeouts and server-side overload are; a statement
/// ClickHouse refuses (bad SQL, type mismatch) is not.
pub(crate) fn is_transient(e: &clickhouse::error::Error) -> bool {
    use clickhouse::error::Error as E;
    match e {
        E::Network(_) | E::TimedOut => true,
        E::BadResponse(msg) => {
            // Code 241/242/252 (memory, read-only, too many parts), 159/209 (timeouts), 999 (keeper), 202 (too many queries).
            [
                "Code: 241",
                "Code: 242",
                "Code: 252",
                "Code: 159",
                "Code: 209",
                "Code: 202",
                "Code: 999",
                "Code: 425",
            ]
            .iter()
            .any(|c| msg.contains(c))
                || !msg.contains("Code:")
        }
        _ => false,
    }
}

impl Backoff {
    /// Runs `op` until it succeeds, a non-transient error occurs, or the deadline passes.
    pub async fn run<T, F, Fut>(&self, what: &str, url: &str, mut op: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, clickhouse::error::Error>>,
    {
        let started = tokio::time::Instant::now();
        let mut delay = self.initial;
        let mut attempt = 0u32;
        loop {
            match op().await {
                Ok(v) => {
                    if attempt > 0 {
                        tracing::info!(what, attempts = attempt + 1, "ClickHouse recovered");
                    }
                    return Ok(v);
                }
                Err(e) if is_transient(&e) || self.give_up_after.is_none() => {
                    attempt += 1;
                    if let Some(limit) = self.give_up_after {
                        if started.elapsed() >= limit {
                            return Err(StoreError::Unavailable {
                                url: url.to_owned(),
                                secs: limit.as_secs(),
                                last: with_causes(&e),
                            });
                        }
                    }
                    tracing::warn!(
                        what,
                        attempt,
                        retry_in_ms = delay.as_millis() as u64,
                        error = with_causes(&e),
                        "ClickHouse unavailable, retrying"
                    );
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(self.max);
                }
                Err(e) => {
                    return Err(StoreError::Rejected {
                        what: what.to_owned(),
                        source: e,
                    })
                }
            }
        }
    }
}

//! `events`: the row written for every stored event, and every read of it — pages and exports for the
//! API, alert evidence, timelines, per-day counts, and the history detectors are rebuilt from.

use std::borrow::Cow;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use clickhouse::Row;
use serde::{Deserialize, Serialize};

use super::pos::ingested_row;
use super::query::{Arg, Sql};
use super::Store;
use crate::model::{Event, Geo, Outcome, Position};

type Result<T> = std::result::Result<T, clickhouse::error::Error>;

ingested_row! {
    /// One row of `events` (column order as in `schemas/clickhouse/001_events.sql`), written and read back.
    /// Its schema documents the API's view of it (`api::views`): times as RFC 3339 text, `attr_keys` and
    /// `attr_values` as one `attributes` object.
    #[derive(Debug, Clone, Default, Row, Serialize, Deserialize, utoipa::ToSchema)]
    pub struct EventRow {
        pub event_id: String,
        pub tenant: String,
        pub user_id: String,
        pub action: String,
        /// Event time (RFC 3339, UTC, ms).
        #[schema(value_type = String, format = DateTime)]
        pub ts: u32,
        #[schema(ignore)]
        pub ts_ms: u16,
        pub object_type: String,
        pub record_count: u64,
        pub ip: String,
        pub user_agent: String,
        pub session_id: String,
        pub outcome: Cow<'static, str>,
        #[schema(ignore)]
        pub attr_keys: Vec<String>,
        #[schema(ignore)]
        pub attr_values: Vec<String>,
        #[schema(value_type = String)]
        pub country_iso: Arc<str>,
        #[schema(value_type = String)]
        pub country: Arc<str>,
        #[schema(value_type = String)]
        pub subdivision: Arc<str>,
        #[schema(value_type = String)]
        pub city: Arc<str>,
        pub latitude: Option<f64>,
        pub longitude: Option<f64>,
        pub asn: u32,
        #[schema(value_type = String)]
        pub as_org: Arc<str>,
        #[schema(value_type = String)]
        pub geo_timezone: Arc<str>,
        pub network_class: Cow<'static, str>,
        #[schema(value_type = String, format = DateTime)]
        pub ingest_ts: u32,
        ;
    }
}

impl EventRow {
    pub fn new(e: Event, at: &Position, ingest_ts: u32) -> Self {
        let (attr_keys, attr_values) = e.attributes.into_iter().unzip();
        let g = &*e.geo;
        let (ts, ts_ms) = crate::time::split(e.ts);
        let mut row = EventRow {
            ts,
            ts_ms,
            event_id: e.event_id.into(),
            tenant: e.tenant.into(),
            user_id: e.user_id.into(),
            action: e.action.into(),
            object_type: e.object_type.into(),
            record_count: e.record_count,
            ip: e.ip.map(crate::model::ip_text).unwrap_or_default(),
            user_agent: e.user_agent.into(),
            session_id: e.session_id.into(),
            outcome: e.outcome.as_str().into(),
            attr_keys,
            attr_values,
            country_iso: g.country_iso.clone(),
            country: g.country.clone(),
            subdivision: g.subdivision.clone(),
            city: g.city.clone(),
            latitude: g.coords.map(|c| c.lat),
            longitude: g.coords.map(|c| c.lon),
            asn: g.asn,
            as_org: g.as_org.clone(),
            geo_timezone: g.timezone.clone(),
            network_class: g
                .network_class
                .map(|c| c.as_str().into())
                .unwrap_or_default(),
            ingest_ts,
            ..Default::default()
        };
        row.set_position(at);
        row
    }

    /// The event as detectors see it (stored rows passed the contract, so every field parses).
    pub fn into_event(self) -> Event {
        Event {
            ts: crate::time::at(self.ts, self.ts_ms),
            ip: self.ip.parse().ok(),
            outcome: self.outcome.parse().unwrap_or(Outcome::Success),
            attributes: self.attr_keys.into_iter().zip(self.attr_values).collect(),
            event_id: self.event_id.into(),
            user_id: self.user_id.into(),
            action: self.action.into(),
            tenant: self.tenant.into(),
            object_type: self.object_type.into(),
            record_count: self.record_count,
            user_agent: self.user_agent.into(),
            session_id: self.session_id.into(),
            geo: Geo {
                country_iso: self.country_iso,
                country: self.country,
                subdivision: self.subdivision,
                city: self.city,
                coords: self
                    .latitude
                    .zip(self.longitude)
                    .map(|(lat, lon)| crate::model::Coords { lat, lon }),
                asn: self.asn,
                as_org: self.as_org,
                timezone: self.geo_timezone,
                network_class: self.network_class.parse().ok(),
            }
            .into(),
        }
    }
}

/// What an events query may be narrowed by (all optional, combined with AND).
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub user_id: Option<String>,
    pub action: Option<String>,
    pub object_type: Option<String>,
    pub ip: Option<String>,
    pub country_iso: Option<String>,
    pub tenant: Option<String>,
    pub min_records: Option<u64>,
    /// Text any attribute value contains (a `hmac:` token of `[privacy] action = "hash"`, say).
    pub attribute: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// The formats an export streams in (ClickHouse writes them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Ndjson,
}

/// What `FINAL` does for a bounded read, without `FINAL`'s cost: one row per sorting key (the
/// `ReplacingMergeTree`'s identity), so a re-delivered event not merged yet is returned once. It
/// goes after `ORDER BY` and before `LIMIT`. On ClickHouse 18.16, `FINAL` merges every part in one
/// stream and ignores the rest of the primary key: 1.0 s against 0.04 s for one alert's evidence
/// over 10 M events. Unbounded reads (exports, backtests, rebuilding state) keep `FINAL`, which
/// streams in constant memory where `LIMIT BY` keeps every key it has seen.
pub(crate) const ONE_PER_KEY: &str = " LIMIT 1 BY tenant, user_id, ts, event_id";

/// A user's events are read by `PREWHERE user_id = ?`: on ClickHouse 18.16 the sorting key's second
/// column narrows the granules, but a plain `WHERE` then reads every selected column of them before
/// filtering. One user's newest page of 10 M events: 25 ms for its keys and 10 ms for its rows, against
/// 45 ms and 40 ms with `WHERE`.
pub(super) const USER_PREWHERE: &str = " PREWHERE user_id = ?";

impl EventFilter {
    /// The filtered `SELECT`; `final_` for unbounded reads (see [`ONE_PER_KEY`] for bounded ones).
    pub(super) fn sql(&self, select: &str, final_: bool) -> Sql {
        let from = if final_ { "events FINAL" } else { "events" };
        let mut sql = Sql::new(&format!("SELECT {select} FROM {from}"));
        match (&self.user_id, final_) {
            // See [`USER_PREWHERE`]; `FINAL` reads keep one plain `WHERE`.
            (Some(u), false) => sql.push(&format!("{USER_PREWHERE} WHERE 1"), [Arg::S(u.clone())]),
            (u, _) => sql.push(" WHERE 1", []).eq("user_id", u.as_deref()),
        };
        for (col, v) in [
            ("action", &self.action),
            ("object_type", &self.object_type),
            ("ip", &self.ip),
            ("country_iso", &self.country_iso),
            ("tenant", &self.tenant),
        ] {
            sql.eq(col, v.as_deref());
        }
        if let Some(n) = self.min_records {
            sql.push(" AND record_count >= ?", [Arg::U64(n)]);
        }
        if let Some(a) = &self.attribute {
            sql.push(
                " AND arrayExists(v -> position(v, ?) > 0, attr_values)",
                [Arg::S(a.clone())],
            );
        }
        sql.since(self.since).until(self.until);
        sql
    }
}

/// The columns of an export, in the order CSV writes them: storage order, with one `ts` (RFC 3339)
/// for `ts` + `ts_ms` and one `attributes` for the key and value arrays.
pub fn export_columns() -> Vec<&'static str> {
    EventRow::COLUMN_NAMES
        .iter()
        .copied()
        .filter_map(|c| match c {
            "ts_ms" | "attr_values" => None,
            "attr_keys" => Some("attributes"),
            other => Some(other),
        })
        .collect()
}

impl Store {
    /// Every matching event, oldest first, as a stream of rows (constant memory; at most `max_secs`
    /// of execution): what an export encodes.
    pub fn events_export(
        &self,
        f: &EventFilter,
        max_secs: u64,
    ) -> Result<clickhouse::query::RowCursor<EventRow>> {
        let mut sql = f.sql("?fields", true);
        sql.push(" ORDER BY ts, ts_ms, event_id", []);
        sql.query(self)
            .with_setting("max_execution_time", max_secs.to_string())
            .fetch()
    }

    /// A user's events in a range, oldest first, at most `limit`.
    pub async fn user_events(
        &self,
        user_id: &str,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
        limit: u64,
    ) -> Result<Vec<EventRow>> {
        let mut sql = Sql::new(&format!(
            "SELECT ?fields FROM events{USER_PREWHERE} WHERE 1"
        ));
        sql.push("", [Arg::S(user_id.to_owned())])
            .since(since)
            .until(until);
        sql.push(
            &format!(" ORDER BY ts, ts_ms, event_id{ONE_PER_KEY} LIMIT ?"),
            [Arg::U64(limit)],
        );
        sql.narrow_query(self).fetch_all().await
    }

    /// Event time (unix seconds) of the newest stored event; 0 when there is none.
    pub async fn newest_event_secs(&self) -> Result<u32> {
        self.query("SELECT toUInt32(max(ts)) FROM events")
            .fetch_one()
            .await
    }

    /// Stored events any of `histories` asks for — each at or after its `since` (unix seconds) with
    /// an action among its `actions` (any action when `None`) — oldest first: what detectors' state
    /// is rebuilt from.
    pub async fn events_for(&self, histories: &[(u32, Option<Vec<String>>)]) -> Result<Vec<Event>> {
        if histories.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = String::from("SELECT ?fields FROM events FINAL WHERE 0");
        for (_, actions) in histories {
            sql.push_str(match actions {
                Some(_) => " OR (ts >= toDateTime(?) AND has(?, action))",
                None => " OR ts >= toDateTime(?)",
            });
        }
        sql.push_str(" ORDER BY ts, ts_ms, event_id");
        let mut q = self.query(&sql);
        for (since, actions) in histories {
            q = q.bind(*since);
            if let Some(a) = actions {
                q = q.bind(a.as_slice());
            }
        }
        let rows: Vec<EventRow> = q.fetch_all().await?;
        Ok(rows.into_iter().map(EventRow::into_event).collect())
    }

    /// Every stored event in `[since, until)`, oldest first, as a stream (constant memory): what a
    /// backtest runs detectors over.
    pub fn events_between(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<clickhouse::query::RowCursor<EventRow>> {
        let mut sql = Sql::new("SELECT ?fields FROM events FINAL WHERE 1");
        sql.since(Some(since))
            .until(Some(until))
            .push(" ORDER BY ts, ts_ms, event_id", []);
        sql.query(self)
            .with_setting("max_execution_time", "0")
            .fetch()
    }
}

/// Events of one day.
#[derive(Debug, Row, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DayCount {
    pub day: String,
    pub events: u64,
}

/// Events from one country (`country_iso` '' = no geo-IP answer).
#[derive(Debug, Row, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CountryCount {
    pub country_iso: String,
    pub country: String,
    pub events: u64,
}

impl Store {
    /// Events per country in `[since, until)` (each stored event once), most first, at most `top`.
    pub async fn events_per_country(
        &self,
        tenant: Option<&str>,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        top: u64,
    ) -> Result<Vec<CountryCount>> {
        let mut sql = Sql::new(
            "SELECT country_iso, any(country), uniqExact(event_id) AS n FROM events WHERE 1",
        );
        sql.eq("tenant", tenant)
            .since(Some(since))
            .until(Some(until))
            .push(
                " GROUP BY country_iso ORDER BY n DESC, country_iso LIMIT ?",
                [Arg::U64(top)],
            );
        sql.query(self).fetch_all().await
    }
}

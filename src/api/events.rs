//! `/api/v1/events`: filtered, keyset-paginated (newest first) — or, with `format=csv|ndjson`, the
//! **whole** result streamed oldest first straight from ClickHouse in constant memory, for auditors.

use std::sync::atomic::Ordering::Relaxed;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;

use super::alerts::rfc3339;
use super::audit::RowCount;
use super::auth::{Caller, Role};
use super::params::{Arg, Cursor, Params, Sql, DEFAULT_LIMIT, MAX_LIMIT};
use super::{timed, ApiError, AppState};
use crate::store::rows::EventRow;

/// Columns of an export: event time as RFC 3339 text first, then every stored column.
const EXPORT_COLUMNS: &str = "concat(replaceOne(toString(ts), ' ', 'T'), '.', substring(toString(1000 + ts_ms), 2, 3), 'Z') AS time, event_id, tenant, user_id, action, object_type, \
    record_count, ip, user_agent, session_id, outcome, attr_keys, attr_values, country_iso, country, subdivision, city, latitude, longitude, \
    asn, as_org, geo_timezone, network_class, ingest_ts, source, kafka_topic, kafka_partition, kafka_offset, file_path, file_line";

/// A stored, enriched event.
#[derive(Serialize, ToSchema)]
pub struct EventOut {
    pub event_id: String,
    /// Event time (RFC 3339, UTC, ms).
    pub ts: String,
    pub tenant: String,
    pub user_id: String,
    pub action: String,
    pub object_type: String,
    pub record_count: u64,
    pub ip: String,
    pub user_agent: String,
    pub session_id: String,
    pub outcome: String,
    #[schema(value_type = Object)]
    pub attributes: serde_json::Map<String, serde_json::Value>,
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
    pub ingest_ts: String,
    /// Where it was read: kafka, file or generator, and the position.
    pub source: String,
    pub kafka_topic: String,
    pub kafka_partition: i32,
    pub kafka_offset: i64,
    pub file_path: String,
    pub file_line: u64,
}

#[derive(Serialize, ToSchema)]
pub struct EventPage {
    pub items: Vec<EventOut>,
    pub next_cursor: Option<String>,
}

impl From<EventRow> for EventOut {
    fn from(e: EventRow) -> Self {
        EventOut {
            ts: rfc3339(e.ts, e.ts_ms),
            attributes: e.attr_keys.into_iter().zip(e.attr_values).map(|(k, v)| (k, serde_json::Value::String(v))).collect(),
            ingest_ts: rfc3339(e.ingest_ts, 0),
            event_id: e.event_id,
            tenant: e.tenant,
            user_id: e.user_id,
            action: e.action,
            object_type: e.object_type,
            record_count: e.record_count,
            ip: e.ip,
            user_agent: e.user_agent,
            session_id: e.session_id,
            outcome: e.outcome,
            country_iso: e.country_iso,
            country: e.country,
            subdivision: e.subdivision,
            city: e.city,
            latitude: e.latitude,
            longitude: e.longitude,
            asn: e.asn,
            as_org: e.as_org,
            geo_timezone: e.geo_timezone,
            network_class: e.network_class,
            source: e.source,
            kafka_topic: e.kafka_topic,
            kafka_partition: e.kafka_partition,
            kafka_offset: e.kafka_offset,
            file_path: e.file_path,
            file_line: e.file_line,
        }
    }
}

/// The given events of one user (alert evidence), oldest first.
pub(crate) async fn fetch_events(state: &AppState, tenant: &str, user: &str, ids: &[String]) -> Result<Vec<EventOut>, ApiError> {
    let q = state
        .query(&format!("SELECT {} FROM events FINAL WHERE tenant = ? AND user_id = ? AND has(?, event_id) ORDER BY ts, ts_ms, event_id", EventRow::COLUMNS))
        .bind(tenant)
        .bind(user)
        .bind(ids);
    let rows: Vec<EventRow> = timed(state, q.fetch_all()).await?;
    Ok(rows.into_iter().map(EventOut::from).collect())
}

/// A user's events in a range, oldest first (for timelines).
pub(crate) async fn user_events(state: &AppState, user: &str, p: &Params, limit: u64) -> Result<Vec<EventOut>, ApiError> {
    let mut sql = Sql::new(&format!("SELECT {} FROM events FINAL WHERE user_id = ?", EventRow::COLUMNS));
    sql.push("", [Arg::S(user.to_owned())]).since(p.time("since")?).until(p.time("until")?);
    sql.push(" ORDER BY ts, ts_ms, event_id LIMIT ?", [Arg::U64(limit)]);
    let rows: Vec<EventRow> = timed(state, sql.query(state).fetch_all()).await?;
    Ok(rows.into_iter().map(EventOut::from).collect())
}

const FILTERS: &[&str] = &["user_id", "action", "object_type", "ip", "country_iso", "tenant", "since", "until", "min_records", "limit", "cursor", "format"];

fn filtered(p: &Params, select: &str) -> Result<Sql, ApiError> {
    let mut sql = Sql::new(&format!("SELECT {select} FROM events FINAL WHERE 1"));
    for col in ["user_id", "action", "object_type", "ip", "country_iso", "tenant"] {
        sql.eq(col, p.str(col));
    }
    if let Some(n) = p.u64("min_records")? {
        sql.push(" AND record_count >= ?", [Arg::U64(n)]);
    }
    sql.since(p.time("since")?).until(p.time("until")?);
    Ok(sql)
}

#[utoipa::path(get, path = "/api/v1/events", tag = "events",
    params(
        ("user_id" = Option<String>, Query), ("action" = Option<String>, Query), ("object_type" = Option<String>, Query),
        ("ip" = Option<String>, Query), ("country_iso" = Option<String>, Query), ("tenant" = Option<String>, Query),
        ("since" = Option<String>, Query, format = DateTime, description = "RFC 3339; event time at or after"),
        ("until" = Option<String>, Query, format = DateTime, description = "RFC 3339; event time before"),
        ("min_records" = Option<u64>, Query, description = "record_count at least"),
        ("limit" = Option<u64>, Query, minimum = 1, maximum = 1000, description = "1..=1000, default 100 (ignored by exports)"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
        ("format" = Option<String>, Query, description = "json (paged, default), csv or ndjson (the whole result, streamed, oldest first)"),
    ),
    responses(
        (status = 200, description = "A page (JSON), or with format=csv|ndjson the whole result as text/csv or application/x-ndjson", body = EventPage),
        (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(State(state): State<AppState>, Extension(caller): Extension<Caller>, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    caller.require(Role::Auditor)?;
    let p = Params::new(q.as_deref(), FILTERS)?;
    match p.choice("format", &["json", "csv", "ndjson"])?.as_deref() {
        Some("csv") => return export(&state, &p, "CSVWithNames", "text/csv; charset=utf-8", "csv", 1),
        Some("ndjson") => return export(&state, &p, "JSONEachRow", "application/x-ndjson", "ndjson", 0),
        _ => {}
    }
    let limit = p.limit(DEFAULT_LIMIT, MAX_LIMIT)?;
    let cursor = p.str("cursor").map(Cursor::decode).transpose()?;
    let mut sql = filtered(&p, EventRow::COLUMNS)?;
    sql.after(cursor.as_ref(), "event_id").push(" ORDER BY ts DESC, ts_ms DESC, event_id DESC LIMIT ?", [Arg::U64(limit)]);
    let rows: Vec<EventRow> = timed(&state, sql.query(&state).fetch_all()).await?;
    let next_cursor = (rows.len() as u64 == limit).then(|| rows.last().map(|r| Cursor { ts: r.ts, ms: r.ts_ms, id: r.event_id.clone() }.encode())).flatten();
    let items: Vec<EventOut> = rows.into_iter().map(EventOut::from).collect();
    let n = items.len() as i64;
    Ok((Extension(RowCount::new(n)), Json(EventPage { items, next_cursor })).into_response())
}

/// Counts row ends in a streamed export across chunk boundaries. In CSV a newline inside a quoted field
/// (a user agent may hold one) is data, not a row end; quotes toggle the state (`""` escapes toggle twice).
/// JSONEachRow escapes newlines in strings, so every newline ends a row.
#[derive(Default)]
struct RowEnds {
    in_quotes: bool,
}

impl RowEnds {
    fn count(&mut self, chunk: &[u8], quoted: bool) -> i64 {
        if !quoted {
            return chunk.iter().filter(|b| **b == b'\n').count() as i64;
        }
        let mut n = 0;
        for b in chunk {
            match b {
                b'"' => self.in_quotes = !self.in_quotes,
                b'\n' if !self.in_quotes => n += 1,
                _ => {}
            }
        }
        n
    }
}

/// Streams the whole filtered result in ClickHouse's own `format`; rows are counted as they pass.
fn export(state: &AppState, p: &Params, format: &str, content_type: &'static str, ext: &str, header_lines: i64) -> Result<Response, ApiError> {
    if p.str("cursor").is_some() || p.str("limit").is_some() {
        return Err(ApiError::BadRequest("`cursor` and `limit` do not apply to format=csv|ndjson: the whole result is exported".into()));
    }
    let mut sql = filtered(p, EXPORT_COLUMNS)?;
    sql.push(" ORDER BY ts, ts_ms, event_id", []);
    // Exports can be long: no execution limit beyond the client's timeout, but never buffered.
    let cursor = sql.query(state).with_setting("max_execution_time", "0").fetch_bytes(format)?;
    let rows = RowCount::new(-header_lines);
    let counter = rows.clone();
    let quoted = format.starts_with("CSV");
    let stream = futures_util::stream::unfold((cursor, RowEnds::default()), move |(mut c, mut ends)| {
        let counter = counter.clone();
        async move {
            match c.next().await {
                Ok(Some(chunk)) => {
                    counter.0.fetch_add(ends.count(&chunk, quoted), Relaxed);
                    Some((Ok::<_, std::io::Error>(chunk), (c, ends)))
                }
                Ok(None) => None,
                Err(e) => {
                    tracing::error!(error = %e, "export stream failed");
                    Some((Err(std::io::Error::other(e.to_string())), (c, ends)))
                }
            }
        }
    });
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let disposition = format!("attachment; filename=\"custos-events-{stamp}.{ext}\"");
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static(content_type));
    resp.headers_mut().insert(header::CONTENT_DISPOSITION, header::HeaderValue::from_str(&disposition).expect("ascii"));
    resp.extensions_mut().insert(rows);
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::RowEnds;

    #[test]
    fn csv_row_ends_ignore_newlines_in_quoted_fields_across_chunks() {
        let csv = b"\"time\",\"ua\"\n\"t1\",\"a\nb \"\"q\"\"\"\n\"t2\",\"\"\n";
        for split in 0..csv.len() {
            let mut ends = RowEnds::default();
            let n = ends.count(&csv[..split], true) + ends.count(&csv[split..], true);
            assert_eq!(n, 3, "split at {split}");
        }
        assert_eq!(RowEnds::default().count(b"{\"a\":\"x\\ny\"}\n{}\n", false), 2);
    }
}

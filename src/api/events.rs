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

use super::audit::RowCount;
use super::auth::Caller;
use super::error::ApiError;
use super::params::{Params, DEFAULT_LIMIT, MAX_LIMIT};
use super::state::{timed, AppState};
use super::views::EventOut;
use crate::config::Role;
use crate::model::closed_set;
use crate::store::events::{EventFilter, ExportFormat};

closed_set! {
    /// `format` of `/api/v1/events`.
    enum Format { Json = "json", Csv = "csv", Ndjson = "ndjson" }
}

#[derive(Serialize, ToSchema)]
pub struct EventPage {
    pub items: Vec<EventOut>,
    pub next_cursor: Option<String>,
}

const FILTERS: &[&str] = &[
    "user_id",
    "action",
    "object_type",
    "ip",
    "country_iso",
    "tenant",
    "since",
    "until",
    "min_records",
    "limit",
    "cursor",
    "format",
];

fn filter(p: &Params) -> Result<EventFilter, ApiError> {
    Ok(EventFilter {
        user_id: p.string("user_id"),
        action: p.string("action"),
        object_type: p.string("object_type"),
        ip: p.string("ip"),
        country_iso: p.string("country_iso"),
        tenant: p.string("tenant"),
        min_records: p.u64("min_records")?,
        since: p.time("since")?,
        until: p.time("until")?,
    })
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
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    caller.require(Role::Auditor)?;
    let p = Params::new(q.as_deref(), FILTERS)?;
    match p.choice::<Format>("format")? {
        Some(Format::Csv) => return export(&state, &caller, &p, ExportFormat::Csv),
        Some(Format::Ndjson) => return export(&state, &caller, &p, ExportFormat::Ndjson),
        Some(Format::Json) | None => {}
    }
    let limit = p.limit(DEFAULT_LIMIT, MAX_LIMIT)?;
    let cursor = p.cursor()?;
    let page = timed(
        &state,
        state
            .store
            .events_page(&filter(&p)?, cursor.as_ref(), limit),
    )
    .await?;
    let next_cursor = page.next.map(|c| c.encode());
    let items: Vec<EventOut> = page.rows.into_iter().map(EventOut::from).collect();
    let n = items.len() as i64;
    Ok((
        Extension(RowCount::new(n)),
        Json(EventPage { items, next_cursor }),
    )
        .into_response())
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

/// An export's slots (per token and overall), held until its stream ends or is dropped.
fn export_slots(
    state: &AppState,
    caller: &Caller,
) -> Result<
    (
        tokio::sync::OwnedSemaphorePermit,
        tokio::sync::OwnedSemaphorePermit,
    ),
    ApiError,
> {
    let mine = {
        let mut m = state
            .exports_per_token
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        m.entry(caller.name.clone())
            .or_insert_with(|| {
                std::sync::Arc::new(tokio::sync::Semaphore::new(state.cfg.max_exports_per_token))
            })
            .clone()
    };
    let mine = mine.try_acquire_owned().map_err(|_| {
        ApiError::TooMany(format!(
            "at most {} exports at once per token ([api] max_exports_per_token)",
            state.cfg.max_exports_per_token
        ))
    })?;
    let all = state.exports.clone().try_acquire_owned().map_err(|_| {
        ApiError::TooMany(format!(
            "at most {} exports at once ([api] max_exports)",
            state.cfg.max_exports
        ))
    })?;
    Ok((mine, all))
}

/// Streams the whole filtered result in ClickHouse's own `format`; rows are counted as they pass.
/// It holds an export slot, and ends (with an error) at `[api] max_export_secs`.
fn export(
    state: &AppState,
    caller: &Caller,
    p: &Params,
    format: ExportFormat,
) -> Result<Response, ApiError> {
    if p.str("cursor").is_some() || p.str("limit").is_some() {
        return Err(ApiError::BadRequest(
            "`cursor` and `limit` do not apply to format=csv|ndjson: the whole result is exported"
                .into(),
        ));
    }
    let slots = export_slots(state, caller)?;
    let limit = std::time::Duration::from_secs(state.cfg.max_export_secs);
    let deadline = tokio::time::Instant::now() + limit;
    let (content_type, ext, header_lines) = match format {
        ExportFormat::Csv => ("text/csv; charset=utf-8", "csv", 1),
        ExportFormat::Ndjson => ("application/x-ndjson", "ndjson", 0),
    };
    let cursor = state
        .store
        .events_export(&filter(p)?, format, state.cfg.max_export_secs)?;
    let rows = RowCount::new(-header_lines);
    let counter = rows.clone();
    let quoted = format == ExportFormat::Csv;
    let stream = futures_util::stream::unfold(
        (Some(cursor), RowEnds::default(), slots),
        move |(c, mut ends, slots)| {
            let counter = counter.clone();
            async move {
                let mut c = c?;
                match tokio::time::timeout_at(deadline, c.next()).await {
                    Ok(Ok(Some(chunk))) => {
                        counter.0.fetch_add(ends.count(&chunk, quoted), Relaxed);
                        Some((Ok::<_, std::io::Error>(chunk), (Some(c), ends, slots)))
                    }
                    Ok(Ok(None)) => None,
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "export stream failed");
                        Some((
                            Err(std::io::Error::other("the export failed")),
                            (None, ends, slots),
                        ))
                    }
                    Err(_) => {
                        tracing::warn!(
                            limit_secs = limit.as_secs(),
                            "export stopped at [api] max_export_secs"
                        );
                        Some((
                            Err(std::io::Error::other(
                                "the export took longer than [api] max_export_secs",
                            )),
                            (None, ends, slots),
                        ))
                    }
                }
            }
        },
    );
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let disposition = format!("attachment; filename=\"custos-events-{stamp}.{ext}\"");
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    resp.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        header::HeaderValue::from_str(&disposition).expect("ascii"),
    );
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
        assert_eq!(
            RowEnds::default().count(b"{\"a\":\"x\\ny\"}\n{}\n", false),
            2
        );
    }
}

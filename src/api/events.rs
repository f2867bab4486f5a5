//! `/api/v1/events`: filtered, keyset-paginated (newest first) — or, with `format=csv|ndjson`, the
//! **whole** result streamed oldest first in constant memory, for auditors: rows stream from
//! ClickHouse and custos encodes them, so JSON, NDJSON and CSV carry every field the same way.

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
    "attribute",
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
        attribute: p.string("attribute"),
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
        ("attribute" = Option<String>, Query, description = "text any attribute value contains, e.g. a `custos privacy token` (hmac:…)"),
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

/// One field encoding for every format: the JSON view of the row (numbers as numbers, RFC 3339 UTC
/// times, `attributes` an object, null for a missing value). NDJSON writes it as is; CSV writes each
/// value as a cell — text quoted (and neutralised when a spreadsheet would run it as a formula: a
/// leading `'` before `=`, `+`, `-`, `@`, tab, CR), numbers and booleans plain, null empty,
/// `attributes` as its JSON text.
fn encode(
    row: crate::store::events::EventRow,
    format: ExportFormat,
    columns: &[&str],
    out: &mut Vec<u8>,
) {
    let serde_json::Value::Object(m) = serde_json::to_value(EventOut(row)).expect("serializes")
    else {
        unreachable!("a view is an object")
    };
    match format {
        ExportFormat::Ndjson => {
            serde_json::to_writer(&mut *out, &m).expect("serializes");
            out.push(b'\n');
        }
        ExportFormat::Csv => {
            for (i, c) in columns.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                csv_cell(m.get(*c).unwrap_or(&serde_json::Value::Null), out);
            }
            out.push(b'\n');
        }
    }
}

fn csv_cell(v: &serde_json::Value, out: &mut Vec<u8>) {
    use serde_json::Value;
    let text = match v {
        Value::Null => return,
        Value::Bool(b) => return out.extend_from_slice(b.to_string().as_bytes()),
        Value::Number(n) => return out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => std::borrow::Cow::Borrowed(s.as_str()),
        other => std::borrow::Cow::Owned(other.to_string()),
    };
    out.push(b'"');
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        out.push(b'\'');
    }
    for b in text.bytes() {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
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

/// Streams the whole filtered result, encoded by custos (one encoding for every format); rows are counted as they pass.
/// It holds an export slot, and ends (with an error) at `[api] max_export_secs`, or when the client
/// has not read for `[api] export_send_timeout_secs`.
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
    let (content_type, ext) = match format {
        ExportFormat::Csv => ("text/csv; charset=utf-8", "csv"),
        ExportFormat::Ndjson => ("application/x-ndjson", "ndjson"),
    };
    let cursor = state
        .store
        .events_export(&filter(p)?, state.cfg.max_export_secs)?;
    let rows = RowCount::new(0);
    let counter = rows.clone();
    let columns = crate::store::events::export_columns();
    let header = (format == ExportFormat::Csv).then(|| {
        let mut h = Vec::new();
        for (i, c) in columns.iter().enumerate() {
            if i > 0 {
                h.push(b',');
            }
            h.extend_from_slice(format!("\"{c}\"").as_bytes());
        }
        h.push(b'\n');
        h
    });
    // A producer task reads ClickHouse and hands ~64 KiB chunks to the response through a channel of
    // two: a client that stops reading (without closing) blocks the hand-over, and after
    // `[api] export_send_timeout_secs` the producer gives up, ending the query and freeing the slots.
    let send_timeout = std::time::Duration::from_secs(state.cfg.export_send_timeout_secs);
    let (tx, rx) = tokio::sync::mpsc::channel::<Chunk>(2);
    tokio::spawn(async move {
        let _slots = slots;
        let mut c = cursor;
        let mut buf = header.unwrap_or_default();
        let mut n = 0;
        let last = loop {
            let end = match tokio::time::timeout_at(deadline, c.next()).await {
                Ok(Ok(Some(row))) => {
                    encode(row, format, &columns, &mut buf);
                    n += 1;
                    if buf.len() < 64 << 10 {
                        continue;
                    }
                    None
                }
                Ok(Ok(None)) => Some(Chunk::End),
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "export stream failed");
                    Some(Chunk::Failed("the export failed"))
                }
                Err(_) => {
                    tracing::warn!(
                        limit_secs = limit.as_secs(),
                        "export stopped at [api] max_export_secs"
                    );
                    Some(Chunk::Failed(
                        "the export took longer than [api] max_export_secs",
                    ))
                }
            };
            counter.0.fetch_add(std::mem::take(&mut n), Relaxed);
            if !buf.is_empty() {
                let data = Chunk::Data(axum::body::Bytes::from(std::mem::take(&mut buf)));
                if let Some(why) = hand_over(&tx, data, send_timeout, deadline).await {
                    break Some(why);
                }
            }
            if let Some(end) = end {
                break Some(end);
            }
        };
        if let Some(last) = last {
            // Best effort: a client that stopped reading sees the body cut short either way.
            let _ = tx.try_send(last);
        }
    });
    let stream = futures_util::stream::unfold((rx, false), |(mut rx, done)| async move {
        if done {
            return None;
        }
        match rx.recv().await {
            Some(Chunk::Data(b)) => Some((Ok(b), (rx, false))),
            Some(Chunk::End) => None,
            Some(Chunk::Failed(why)) => Some((Err(std::io::Error::other(why)), (rx, true))),
            // The producer gave up without a last word (the client stalled): never end cleanly, or
            // a cut export would look complete.
            None => Some((
                Err(std::io::Error::other("the export was abandoned")),
                (rx, true),
            )),
        }
    });
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

/// What the export's producer hands to the response body.
enum Chunk {
    Data(axum::body::Bytes),
    End,
    Failed(&'static str),
}

/// Hands a chunk to the response; the reason to stop when the client has not taken one for
/// `send_timeout`, has gone away, or the export's deadline passed.
async fn hand_over(
    tx: &tokio::sync::mpsc::Sender<Chunk>,
    chunk: Chunk,
    send_timeout: std::time::Duration,
    deadline: tokio::time::Instant,
) -> Option<Chunk> {
    let wait = send_timeout.min(deadline.saturating_duration_since(tokio::time::Instant::now()));
    match tx.send_timeout(chunk, wait).await {
        Ok(()) => None,
        Err(tokio::sync::mpsc::error::SendTimeoutError::Closed(_)) => Some(Chunk::End),
        Err(tokio::sync::mpsc::error::SendTimeoutError::Timeout(_)) => {
            tracing::warn!(
                send_timeout_secs = send_timeout.as_secs(),
                "export stopped: the client did not read ([api] export_send_timeout_secs)"
            );
            Some(Chunk::Failed(
                "the client did not read the export for [api] export_send_timeout_secs",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::csv_cell;
    use serde_json::json;

    #[test]
    fn csv_cells_quote_text_neutralise_formulas_and_leave_numbers_and_nulls_bare() {
        let cell = |v| {
            let mut out = Vec::new();
            csv_cell(&v, &mut out);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(cell(json!("a \"q\"\nb")), "\"a \"\"q\"\"\nb\"");
        assert_eq!(cell(json!("=1+2")), "\"'=1+2\"");
        assert_eq!(cell(json!("-3")), "\"'-3\"");
        assert_eq!(cell(json!(-3)), "-3", "a number is not a formula");
        assert_eq!(cell(json!(null)), "");
        assert_eq!(cell(json!({"k": "v"})), "\"{\"\"k\"\":\"\"v\"\"}\"");
    }
}

//! `/api/v1/dead_letters`: the records custos refused, for auditors — each with its code, message,
//! where it was read and its exact bytes — and how many of each code the filter matches.

use std::collections::BTreeMap;

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;

use super::audit::RowCount;
use super::auth::Caller;
use super::error::ApiError;
use super::params::{Params, DEFAULT_LIMIT, MAX_LIMIT};
use super::state::{timed, AppState};
use crate::config::Role;
use crate::store::dead_letters::{DeadLetterFilter, StoredDeadLetter};
use crate::time::rfc3339_cols;

/// One refused record.
#[derive(Serialize, ToSchema)]
pub struct DeadLetterOut {
    pub dl_id: String,
    /// RFC 3339, UTC.
    pub received_at: String,
    /// events or directory.
    pub stream: String,
    /// kafka, file or generator, and the position read from.
    pub source: String,
    pub kafka_topic: String,
    pub kafka_partition: i32,
    pub kafka_offset: i64,
    pub file_path: String,
    pub file_line: u64,
    pub error_code: String,
    pub error_message: String,
    /// The bytes received, as text when they are UTF-8 (else null, and `raw_hex` holds them).
    pub raw: Option<String>,
    pub raw_hex: String,
}

impl From<StoredDeadLetter> for DeadLetterOut {
    fn from(d: StoredDeadLetter) -> Self {
        let bytes: Option<Vec<u8>> = (0..d.raw_hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(d.raw_hex.get(i..i + 2)?, 16).ok())
            .collect();
        DeadLetterOut {
            raw: bytes.and_then(|b| String::from_utf8(b).ok()),
            raw_hex: d.raw_hex,
            dl_id: d.dl_id,
            received_at: rfc3339_cols(d.received_at, 0),
            stream: d.stream,
            source: d.source,
            kafka_topic: d.kafka_topic,
            kafka_partition: d.kafka_partition,
            kafka_offset: d.kafka_offset,
            file_path: d.file_path,
            file_line: d.file_line,
            error_code: d.error_code,
            error_message: d.error_message,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DeadLetterPage {
    /// Every record the filter matches, by code (not only this page's).
    pub counts: BTreeMap<String, u64>,
    pub total: u64,
    /// Newest first.
    pub items: Vec<DeadLetterOut>,
    pub next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/dead_letters", tag = "dead_letters",
    params(("code" = Option<String>, Query, description = "error code(s), a comma list: invalid_json,missing_field:user_id"),
        ("stream" = Option<String>, Query, description = "events or directory"),
        ("since" = Option<String>, Query, format = DateTime, description = "RFC 3339 or a date; received at or after"),
        ("until" = Option<String>, Query, format = DateTime, description = "RFC 3339 or a date (through its end); received before"),
        ("limit" = Option<u64>, Query, minimum = 1, maximum = 1000, description = "1..=1000, default 100"), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = DeadLetterPage), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    caller.require(Role::Auditor)?;
    let p = Params::new(
        q.as_deref(),
        &["code", "stream", "since", "until", "limit", "cursor"],
    )?;
    let limit = p.limit(DEFAULT_LIMIT, MAX_LIMIT)?;
    let cursor = p.cursor()?;
    let (since, until) = p.window()?;
    let filter = DeadLetterFilter {
        codes: p.strings("code"),
        stream: p.string("stream"),
        since,
        until,
    };
    let (page, counts) = timed(&state, async {
        tokio::try_join!(
            state
                .store
                .dead_letters_page(&filter, cursor.as_ref(), limit),
            state.store.dead_letter_counts(&filter)
        )
    })
    .await?;
    let counts: BTreeMap<String, u64> = counts.into_iter().collect();
    let items: Vec<DeadLetterOut> = page.rows.into_iter().map(DeadLetterOut::from).collect();
    let n = items.len() as i64;
    let body = DeadLetterPage {
        total: counts.values().sum(),
        counts,
        items,
        next_cursor: page.next.map(|c| c.encode()),
    };
    Ok((Extension(RowCount::new(n)), Json(body)).into_response())
}

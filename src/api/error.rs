//! The API's error type: a status and `{"error": code, "message": text}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

/// An error as the API reports it: a status and `{"error": code, "message": text}`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("missing or invalid bearer token")]
    Unauthorized,
    #[error("this needs the {0} role")]
    Forbidden(&'static str),
    #[error("{0}")]
    NotFound(String),
    /// The text stays in the log (under the request id); the client gets the id only.
    #[error("storage is unavailable")]
    Storage(#[from] clickhouse::error::Error),
    #[error("query took longer than the time limit")]
    Timeout,
    /// A limit on concurrent work (exports) is reached.
    #[error("{0}")]
    TooMany(String),
    /// Refused by a safety rail (a protected account, the manual-lock limit).
    #[error("{0}")]
    Conflict(String),
    /// A dependency failed; the details are in the log under the request id.
    #[error("the action could not be recorded")]
    Unavailable,
    #[error("the change may have been made, but its audit record could not be stored yet (it is queued and retried): check the state before repeating the request")]
    AuditUnavailable,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable code: bad_request, unauthorized, forbidden, not_found, storage_unavailable, timeout,
    /// audit_unavailable, refused, unavailable, too_many.
    pub error: &'static str,
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Storage(e) => {
                tracing::error!(request_id = %super::layers::request_id(), error = %e, "API query failed");
                (StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable")
            }
            ApiError::Timeout => (StatusCode::GATEWAY_TIMEOUT, "timeout"),
            ApiError::AuditUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "audit_unavailable"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "refused"),
            ApiError::TooMany(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many"),
            ApiError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        };
        let message = match &self {
            ApiError::Storage(_) | ApiError::Unavailable => format!(
                "storage is unavailable; see the server log for request {}",
                super::layers::request_id()
            ),
            other => other.to_string(),
        };
        let mut resp = (
            status,
            Json(ErrorBody {
                error: code,
                message,
            }),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                "www-authenticate",
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        resp
    }
}

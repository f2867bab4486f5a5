//! `/healthz` (the process is up), `/readyz` (ClickHouse reachable and, where a pipeline runs here, it
//! is storing) and `/metrics` (Prometheus text).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::state::AppState;
use crate::model::closed_set;

closed_set! {
    /// The pipeline in this process, as `/readyz` reports it.
    enum Pipeline { Absent = "absent", Stalled = "stalled", Running = "running" }
}

pub async fn healthz() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

pub async fn readyz(State(state): State<AppState>) -> Response {
    let clickhouse = tokio::time::timeout(std::time::Duration::from_secs(3), state.store.ping())
        .await
        .map(|r| r.is_ok())
        .unwrap_or(false);
    let pipeline = match &state.stats {
        None => Pipeline::Absent,
        Some(s) if s.store_down.load(std::sync::atomic::Ordering::Relaxed) => Pipeline::Stalled,
        Some(_) => Pipeline::Running,
    };
    // A Kafka consumer left without partitions for too long is not ready (it would idle silently).
    let unassigned = state.stats.as_ref().is_some_and(|s| {
        s.kafka_unassigned
            .load(std::sync::atomic::Ordering::Relaxed)
    });
    let ready = clickhouse && pipeline != Pipeline::Stalled && !unassigned;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "ready": ready,
            "clickhouse": clickhouse,
            "pipeline": pipeline,
            "kafka_partitions_assigned": !unassigned,
        })),
    )
        .into_response()
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    let body = crate::metrics::global().render(state.stats.as_deref());
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        body,
    )
        .into_response()
}

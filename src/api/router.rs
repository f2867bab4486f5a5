//! The routes, their layers (tokens, audit, tracing) and the server loop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::{middleware, Router};

use super::error::ApiError;
use super::state::AppState;
use super::{
    alerts, dead_letters, events, health, layers, openapi, response, timeline, trail, users,
};
use crate::shutdown::Shutdown;

/// The whole router: `/api/v1/*` behind tokens; health and metrics open or not per config; every
/// request audited.
pub fn router(state: AppState) -> Router {
    let v1 = Router::new()
        .route("/api/v1/alerts", get(alerts::list))
        .route("/api/v1/alerts/{alert_id}", get(alerts::get_one))
        .route("/api/v1/alerts/{alert_id}/status", post(alerts::set_status))
        .route("/api/v1/events", get(events::list))
        .route("/api/v1/users/{user_id}/timeline", get(timeline::timeline))
        .route("/api/v1/stats", get(users::stats))
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/api/v1/users/{user_id}/lock", post(response::lock))
        .route("/api/v1/users/{user_id}/unlock", post(response::unlock))
        .route("/api/v1/actions", get(response::list))
        .route("/api/v1/audit", get(trail::list))
        .route("/api/v1/dead_letters", get(dead_letters::list))
        .route(
            "/api/v1/response/reset-breaker",
            post(response::reset_breaker),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            layers::require_token,
        ))
        .route_layer(middleware::from_fn(layers::matched));
    // The route layer goes outside the token check, so a refused request is audited with its route.
    let mut health = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz));
    if !state.cfg.open_health {
        health = health.route_layer(middleware::from_fn_with_state(
            state.clone(),
            layers::require_token,
        ));
    }
    let health = health.route_layer(middleware::from_fn(layers::matched));
    let mut metrics = Router::new().route("/metrics", get(health::metrics));
    if !state.cfg.open_metrics {
        metrics = metrics.route_layer(middleware::from_fn_with_state(
            state.clone(),
            layers::require_token,
        ));
    }
    let metrics = metrics.route_layer(middleware::from_fn(layers::matched));
    v1.merge(health)
        .merge(metrics)
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            layers::record,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        // The console's static files: outside the audit (they carry no data; its API calls are audited).
        .merge(super::console::routes())
        .with_state(state)
}

/// Binds the API's address (port 0 picks a free port): a taken address is an error naming it.
pub async fn bind(listen: &str) -> anyhow::Result<tokio::net::TcpListener> {
    use anyhow::Context;
    tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding the API to {listen}"))
}

/// Serves until `shutdown` fires. Binds `listen`; returns the bound address through `bound` before
/// serving.
pub async fn serve(
    state: AppState,
    listen: &str,
    shutdown: Shutdown,
    bound: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
) -> anyhow::Result<()> {
    serve_on(state, bind(listen).await?, shutdown, bound).await
}

/// [`serve`] on a listener already bound.
pub async fn serve_on(
    state: AppState,
    listener: tokio::net::TcpListener,
    mut shutdown: Shutdown,
    bound: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "API listening");
    if let Some(tx) = bound {
        let _ = tx.send(addr);
    }
    let audit = state.audit.clone();
    let header_timeout = Duration::from_secs(state.cfg.header_read_timeout_secs);
    let slots = Arc::new(tokio::sync::Semaphore::new(state.cfg.max_connections));
    let app = router(state);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.recv() => break,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting an API connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // A connection cap: beyond it, new connections are closed at once.
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "API connection limit reached ([api] max_connections): closed");
            continue;
        };
        let app = app.clone();
        let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            let mut req = req.map(axum::body::Body::new);
            // The peer reaches the audit record (`X-Forwarded-For` only from trusted proxies).
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
            tower::ServiceExt::oneshot(app.clone(), req)
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(header_timeout)
            .serve_connection(hyper_util::rt::TokioIo::new(stream), svc);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
            drop(slot);
        });
    }
    // In-flight requests finish (a bounded wait), then the audit trail is flushed.
    if tokio::time::timeout(Duration::from_secs(10), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("API connections still open after 10 s at shutdown");
    }
    audit.flush().await;
    Ok(())
}

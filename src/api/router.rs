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

/// [`serve`] on a listener already bound: HTTPS when `[api] tls_cert_file` is set, plain HTTP
/// otherwise (with a warning when the address is not a loopback one).
pub async fn serve_on(
    state: AppState,
    listener: tokio::net::TcpListener,
    mut shutdown: Shutdown,
    bound: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    let tls = crate::tls::server_config(&state.cfg)?.map(tokio_rustls::TlsAcceptor::from);
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(%addr, %scheme, "API listening");
    if tls.is_none() && !addr.ip().is_loopback() {
        tracing::warn!(%addr, "the API serves plain HTTP on a non-loopback address: tokens and data cross the network unencrypted (set [api] tls_cert_file and tls_key_file)");
    }
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
        let watcher = graceful.watcher();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => serve_connection(stream, svc, header_timeout, watcher).await,
                // The handshake within the header-read timeout: a slow client cannot hold a slot.
                Some(acceptor) => {
                    match tokio::time::timeout(header_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            serve_connection(stream, svc, header_timeout, watcher).await
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "API TLS handshake failed")
                        }
                        Err(_) => tracing::debug!(%peer, "API TLS handshake timed out"),
                    }
                }
            }
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

/// One connection, HTTP/1.1 with the header-read timeout, until it closes or shutdown ends it.
async fn serve_connection<I, S>(
    io: I,
    svc: S,
    header_timeout: Duration,
    watcher: hyper_util::server::graceful::Watcher,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::Service<
            hyper::Request<hyper::body::Incoming>,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Send
        + 'static,
    S::Future: Send + 'static,
{
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(hyper_util::rt::TokioIo::new(io), svc);
    let _ = watcher.watch(conn).await;
}

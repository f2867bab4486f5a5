//! TLS for the hops custos serves or calls over HTTP: the one rustls crypto provider (ring, installed
//! once as the process default — with two providers compiled in, rustls 0.23 would panic at the first
//! handshake without it), the API's server config from `[api] tls_cert_file` / `tls_key_file`, and the
//! HTTPS client for ClickHouse trusting the public web roots plus `[clickhouse] ca_file`.
//! (Kafka's TLS is librdkafka's own OpenSSL, configured in `[kafka.librdkafka]`.)

use std::sync::{Arc, Once};
use std::time::Duration;

use anyhow::Context;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::crypto::CryptoProvider;

use crate::config::{tls, ApiConfig};

/// The process-wide crypto provider (ring), installed on first use.
pub fn provider() -> Arc<CryptoProvider> {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // Err: a provider was installed already (by whoever ran first): that one is used.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()))
}

/// The API's TLS settings: `None` when `tls_cert_file` is not set (plain HTTP). The files were
/// checked at load; an error here (a file changed since) names the file.
pub fn server_config(api: &ApiConfig) -> anyhow::Result<Option<Arc<rustls::ServerConfig>>> {
    if api.tls_cert_file.is_empty() && api.tls_key_file.is_empty() {
        return Ok(None);
    }
    let certs =
        tls::certs(&api.tls_cert_file).map_err(|e| anyhow::anyhow!("[api] tls_cert_file: {e}"))?;
    let key =
        tls::key(&api.tls_key_file).map_err(|e| anyhow::anyhow!("[api] tls_key_file: {e}"))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .with_context(|| {
            format!(
                "[api] tls_key_file `{}` with the certificate of `{}`",
                api.tls_key_file, api.tls_cert_file
            )
        })?;
    // The API speaks HTTP/1.1 only.
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(Arc::new(cfg)))
}

/// A client config trusting the public web roots and the certificates of `ca_file` (if not empty).
pub fn client_config(ca_file: &str) -> Result<rustls::ClientConfig, String> {
    let mut roots = web_roots();
    if !ca_file.is_empty() {
        let (_, bad) = roots.add_parsable_certificates(tls::certs(ca_file)?);
        if bad > 0 {
            return Err(format!(
                "`{ca_file}`: {bad} certificate(s) cannot be used as a CA"
            ));
        }
    }
    Ok(trusting(roots))
}

fn web_roots() -> rustls::RootCertStore {
    rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

fn trusting(roots: rustls::RootCertStore) -> rustls::ClientConfig {
    rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring has cipher suites for TLS 1.2 and 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// ClickHouse's TCP keepalive and idle-connection lifetime, as the `clickhouse` crate's own client
/// (the server closes idle keep-alive connections after 3 s).
const TCP_KEEPALIVE: Duration = Duration::from_secs(60);
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(2);

/// The HTTPS client for ClickHouse (`clickhouse::Client::with_http_client`), trusting the web roots
/// and `[clickhouse] ca_file`. A `ca_file` unreadable now (it was checked at load) is logged and the
/// web roots alone are trusted: connections then fail with a certificate error, never a panic.
pub fn https_client<B>(
    ca_file: &str,
) -> hyper_util::client::legacy::Client<HttpsConnector<HttpConnector>, B>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
{
    let cfg = client_config(ca_file).unwrap_or_else(|e| {
        tracing::error!(error = %e, "[clickhouse] ca_file: trusting the public web roots only");
        trusting(web_roots())
    });
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_keepalive(Some(TCP_KEEPALIVE));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(cfg)
        .https_only()
        .enable_http1()
        .wrap_connector(http);
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .build(https)
}

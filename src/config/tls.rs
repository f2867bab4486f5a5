//! The TLS settings' PEM files — `[api] tls_cert_file` / `tls_key_file`, `[clickhouse] ca_file` —
//! read and checked at load, so a missing, unreadable or invalid file is a configuration problem
//! naming the file (never a panic at first use). `crate::tls` builds the rustls configs from them.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::Config;

/// The certificates of a PEM file (at least one); the error names the file.
pub fn certs(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("`{path}`: not a PEM certificate file ({e})"))?;
    if certs.is_empty() {
        return Err(format!(
            "`{path}`: holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        ));
    }
    Ok(certs)
}

/// The private key of a PEM file (PKCS#8, PKCS#1 or SEC1); the error names the file, never a byte of
/// the key.
pub fn key(path: &str) -> Result<PrivateKeyDer<'static>, String> {
    let bytes = read(path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|_| {
        format!("`{path}`: holds no PEM private key (PKCS#8, PKCS#1 or SEC1, unencrypted)")
    })
}

fn read(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("`{path}`: cannot read: {e}"))
}

/// The TLS settings' problems, appended to `p`.
pub(super) fn validate(cfg: &Config, p: &mut Vec<String>) {
    let api = &cfg.api;
    match (api.tls_cert_file.is_empty(), api.tls_key_file.is_empty()) {
        (true, true) => {}
        (false, true) | (true, false) => p.push(
            "[api] tls_cert_file, tls_key_file: set both (HTTPS) or neither (plain HTTP)".into(),
        ),
        (false, false) => {
            let certs = certs(&api.tls_cert_file).map_err(|e| format!("[api] tls_cert_file: {e}"));
            let key = key(&api.tls_key_file).map_err(|e| format!("[api] tls_key_file: {e}"));
            match (certs, key) {
                (Ok(certs), Ok(key)) => {
                    let provider = rustls::crypto::ring::default_provider();
                    if let Err(e) = rustls::sign::CertifiedKey::from_der(certs, key, &provider) {
                        p.push(format!(
                            "[api] tls_key_file: `{}` is not a usable key for the certificate of `{}` ({e})",
                            api.tls_key_file, api.tls_cert_file
                        ));
                    }
                }
                (certs, key) => p.extend(certs.err().into_iter().chain(key.err())),
            }
        }
    }
    let ch = &cfg.clickhouse;
    if !ch.ca_file.is_empty() {
        if !ch.url.starts_with("https://") {
            p.push("[clickhouse] ca_file: set, but url is not https://".into());
        }
        match certs(&ch.ca_file) {
            Err(e) => p.push(format!("[clickhouse] ca_file: {e}")),
            Ok(certs) => {
                let mut roots = rustls::RootCertStore::empty();
                let (_, bad) = roots.add_parsable_certificates(certs);
                if bad > 0 {
                    p.push(format!(
                        "[clickhouse] ca_file: `{}`: {bad} certificate(s) cannot be used as a CA",
                        ch.ca_file
                    ));
                }
            }
        }
    }
}

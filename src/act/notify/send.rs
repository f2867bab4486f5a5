//! Delivers one notice on one route's channel: a POST for the webhook-style channels (the generic
//! webhook signed like lock commands, with `Idempotency-Key`; DingTalk signed by its own scheme when
//! the robot has a secret), SMTP for e-mail (`Message-ID` fixed per notification, so a resend after
//! a crash is one message to mail clients). Errors never carry a URL or a credential.

use std::time::Duration;

use anyhow::Context;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sha2::Sha256;

use super::message::Notice;
use crate::act::dispatch::{signature, timestamped_signature};
use crate::config::notify::{Channel, NotifyRoute, SmtpTls};
use crate::time::now_ms;

/// A route's way out, built once.
pub enum Sender {
    Http(reqwest::Client),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

impl Sender {
    pub fn build(r: &NotifyRoute) -> anyhow::Result<Sender> {
        let timeout = Duration::from_millis(r.timeout_ms);
        if r.channel != Channel::Email {
            // No redirects: a 3xx would re-send the signed body elsewhere.
            let client = reqwest::Client::builder()
                .timeout(timeout)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .context("building the notification HTTP client")?;
            return Ok(Sender::Http(client));
        }
        let builder = match (r.smtp_tls, r.smtp_ca_file.as_str()) {
            (SmtpTls::None, _) => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&r.smtp_host)
            }
            (SmtpTls::Starttls, "") => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&r.smtp_host)
                    .context("smtp_host")?
            }
            (SmtpTls::Tls, "") => {
                AsyncSmtpTransport::<Tokio1Executor>::relay(&r.smtp_host).context("smtp_host")?
            }
            (mode, ca) => {
                // A private relay: its CA instead of the public roots.
                let pem =
                    std::fs::read(ca).with_context(|| format!("reading smtp_ca_file {ca}"))?;
                let params = TlsParameters::builder(r.smtp_host.clone())
                    .add_root_certificate(
                        Certificate::from_pem(&pem)
                            .context("smtp_ca_file: not a PEM certificate")?,
                    )
                    .build_rustls()
                    .context("smtp_ca_file")?;
                let tls = match mode {
                    SmtpTls::Tls => Tls::Wrapper(params),
                    _ => Tls::Required(params),
                };
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&r.smtp_host).tls(tls)
            }
        };
        let mut builder = builder.port(r.smtp_port).timeout(Some(timeout));
        if !r.smtp_user.is_empty() {
            builder = builder.credentials(Credentials::new(
                r.smtp_user.clone(),
                r.smtp_password.expose().to_owned(),
            ));
        }
        Ok(Sender::Smtp(builder.build()))
    }

    /// One attempt; the error says what failed, without the URL or a credential.
    pub async fn send(&self, r: &NotifyRoute, notice: &Notice) -> Result<(), String> {
        match self {
            Sender::Http(client) => post(client, r, notice).await,
            Sender::Smtp(smtp) => mail(smtp, r, notice).await,
        }
    }
}

async fn post(client: &reqwest::Client, r: &NotifyRoute, notice: &Notice) -> Result<(), String> {
    let body = serde_json::to_vec(&notice.body(r.channel)).expect("JSON serialises");
    let mut url = r.url.expose().to_owned();
    if r.channel == Channel::Dingtalk && !r.secret.expose().is_empty() {
        let (ts, sign) = dingtalk_sign(r.secret.expose(), now_ms());
        let sep = if url.contains('?') { '&' } else { '?' };
        url = format!("{url}{sep}timestamp={ts}&sign={sign}");
    }
    let mut req = client
        .post(&url)
        .header("Content-Type", "application/json")
        .header("Idempotency-Key", &notice.notification_id);
    if r.channel == Channel::Webhook && !r.secret.expose().is_empty() {
        let ts = (now_ms() / 1000).to_string();
        let key = r.secret.expose().as_bytes();
        req = req
            .header("X-Custos-Signature", signature(key, &body))
            .header("X-Custos-Timestamp", &ts)
            .header(
                "X-Custos-Signature-Timestamped",
                timestamped_signature(key, &ts, &body),
            );
    }
    let resp = req
        .body(body)
        .send()
        .await
        .map_err(|e| format!("{} request failed: {}", r.channel, e.without_url()))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("{} answered HTTP {status}", r.channel));
    }
    // WeCom and DingTalk answer 200 with an error code in the body.
    if matches!(r.channel, Channel::Wecom | Channel::Dingtalk) {
        let v: serde_json::Value = resp.json().await.unwrap_or_default();
        match v.get("errcode").and_then(|c| c.as_i64()) {
            Some(0) | None => {}
            Some(code) => {
                let msg = v.get("errmsg").and_then(|m| m.as_str()).unwrap_or("");
                return Err(format!(
                    "{} refused the message: errcode {code} {msg}",
                    r.channel
                ));
            }
        }
    }
    Ok(())
}

/// DingTalk's robot signature: `timestamp` (ms) and the URL-encoded base64 HMAC-SHA256 of
/// `"<timestamp>\n<secret>"` under the secret.
pub fn dingtalk_sign(secret: &str, ts_ms: u64) -> (String, String) {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{ts_ms}\n{secret}").as_bytes());
    let b64 = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let encoded: String = b64
        .bytes()
        .map(|b| match b {
            b'+' => "%2B".to_owned(),
            b'/' => "%2F".to_owned(),
            b'=' => "%3D".to_owned(),
            b => (b as char).to_string(),
        })
        .collect();
    (ts_ms.to_string(), encoded)
}

async fn mail(
    smtp: &AsyncSmtpTransport<Tokio1Executor>,
    r: &NotifyRoute,
    notice: &Notice,
) -> Result<(), String> {
    let addr = |a: &str| a.parse().map_err(|e| format!("address `{a}`: {e}"));
    let mut m = Message::builder()
        .from(addr(&r.from)?)
        .subject(notice.subject())
        .message_id(Some(format!("<{}@custos>", notice.notification_id)))
        .header(ContentType::TEXT_PLAIN);
    for to in &r.to {
        m = m.to(addr(to)?);
    }
    let msg = m
        .body(notice.text())
        .map_err(|e| format!("building the e-mail: {e}"))?;
    smtp.send(msg)
        .await
        .map(drop)
        .map_err(|e| format!("SMTP delivery failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dingtalk_signs_timestamp_and_secret() {
        // The value DingTalk's documented algorithm gives (Python's hmac/base64/quote_plus).
        let (ts, sign) = dingtalk_sign("SECabc", 1_700_000_000_000);
        assert_eq!(ts, "1700000000000");
        assert!(!sign.contains('+') && !sign.contains('/') && !sign.contains('='));
        let mut mac = Hmac::<Sha256>::new_from_slice(b"SECabc").unwrap();
        mac.update(b"1700000000000\nSECabc");
        let b64 = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        assert_eq!(
            sign.replace("%2B", "+")
                .replace("%2F", "/")
                .replace("%3D", "="),
            b64
        );
    }
}

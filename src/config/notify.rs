//! `[[notify]]`: where alerts reach people — one route per channel (a signed webhook, Slack,
//! WeCom, DingTalk, e-mail), each with its severity floor and filters, checked all at once.

use serde::{Deserialize, Serialize};

use super::secret::Secret;
use crate::model::{closed_set, Severity};
use crate::time::Span;

closed_set! {
    /// How a route delivers.
    pub enum Channel { Webhook = "webhook", Slack = "slack", Wecom = "wecom", Dingtalk = "dingtalk", Email = "email" }
}

closed_set! {
    /// How an e-mail route reaches its SMTP server: STARTTLS on a plain port (587), TLS from the
    /// first byte (465), or neither (only to a server on this machine).
    pub enum SmtpTls { Starttls = "starttls", Tls = "tls", None = "none" }
}

/// One `[[notify]]` route.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyRoute {
    /// Unique; part of each notification's id (renaming a route notifies its alerts again).
    pub name: String,
    pub channel: Channel,
    /// Alerts below this severity are only recorded (default `high`: high and critical notify).
    pub min_severity: Severity,
    /// Only these detectors (empty: all).
    pub detectors: Vec<String>,
    /// Only these tenants (empty: all).
    pub tenants: Vec<String>,
    /// One message per period listing its alerts instead of one per alert (e.g. `1h`).
    pub digest: Option<Span>,
    /// Webhook-style channels: where to POST. Slack and WeCom URLs are credentials themselves, so
    /// the URL is kept like a secret (never logged or printed).
    pub url: Secret,
    /// `webhook`: the HMAC-SHA256 key of `X-Custos-Signature`; `dingtalk`: the robot's signing
    /// secret (`SEC…`), when it has one.
    pub secret: Secret,
    /// `email`: recipients, sender and server.
    pub to: Vec<String>,
    pub from: String,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_tls: SmtpTls,
    /// PEM root certificate(s) of a private mail relay's CA ("" = the public web PKI roots).
    pub smtp_ca_file: String,
    pub smtp_user: String,
    pub smtp_password: Secret,
    /// One delivery attempt's limit.
    pub timeout_ms: u64,
    /// Attempts before a notification is `failed` (retries back off from 1 s, doubling, to 5 min).
    pub max_attempts: u32,
}

impl Default for NotifyRoute {
    fn default() -> Self {
        NotifyRoute {
            name: String::new(),
            channel: Channel::Webhook,
            min_severity: Severity::High,
            detectors: Vec::new(),
            tenants: Vec::new(),
            digest: None,
            url: Secret::default(),
            secret: Secret::default(),
            to: Vec::new(),
            from: String::new(),
            smtp_host: String::new(),
            smtp_port: 587,
            smtp_tls: SmtpTls::Starttls,
            smtp_ca_file: String::new(),
            smtp_user: String::new(),
            smtp_password: Secret::default(),
            timeout_ms: 10_000,
            max_attempts: 8,
        }
    }
}

/// Every problem of the routes, each naming its route.
pub fn validate(routes: &[NotifyRoute], p: &mut Vec<String>) {
    for (i, r) in routes.iter().enumerate() {
        let at = if r.name.is_empty() {
            format!("[[notify]] #{}", i + 1)
        } else {
            format!("[[notify]] `{}`", r.name)
        };
        let mut check = |ok: bool, msg: &str| {
            if !ok {
                p.push(format!("{at}: {msg}"));
            }
        };
        check(
            !r.name.is_empty()
                && r.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "name: must be letters, digits, - and _",
        );
        check(
            routes[..i].iter().all(|o| o.name != r.name),
            "name: used by an earlier route",
        );
        check(
            r.digest.as_ref().is_none_or(|d| d.secs() >= 10),
            "digest: must be at least 10s",
        );
        check(r.timeout_ms >= 100, "timeout_ms: must be at least 100");
        check(
            (1..=100).contains(&r.max_attempts),
            "max_attempts: must be 1 to 100",
        );
        match r.channel {
            Channel::Email => {
                check(!r.to.is_empty(), "to: an e-mail route needs recipients");
                check(
                    r.to.iter()
                        .chain([&r.from])
                        .all(|a| a.parse::<lettre::Address>().is_ok()),
                    "to/from: must be e-mail addresses (name@domain)",
                );
                check(!r.smtp_host.is_empty(), "smtp_host: must be set");
                check(
                    r.smtp_tls != SmtpTls::None || is_loopback(&r.smtp_host),
                    "smtp_tls: `none` only for a server on this machine (127.0.0.1, ::1, localhost)",
                );
                check(
                    r.smtp_ca_file.is_empty() || std::path::Path::new(&r.smtp_ca_file).is_file(),
                    "smtp_ca_file: no such file",
                );
                check(
                    r.smtp_user.is_empty() == r.smtp_password.expose().is_empty(),
                    "smtp_user/smtp_password: both or neither",
                );
            }
            channel => {
                check(
                    channel != Channel::Webhook || r.secret.expose().len() >= 16,
                    "secret: a webhook route signs its messages: at least 16 characters",
                );
                let url = r.url.expose();
                check(
                    url.starts_with("https://")
                        || (url.starts_with("http://") && is_loopback(host(url))),
                    "url: must be https:// (http:// only to this machine)",
                );
            }
        }
    }
}

fn host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_problem_is_named_at_once() {
        let bad = vec![
            NotifyRoute {
                name: "soc".into(),
                url: Secret::new("http://hooks.example.com/x"),
                ..Default::default()
            },
            NotifyRoute {
                name: "soc".into(),
                channel: Channel::Email,
                smtp_tls: SmtpTls::None,
                smtp_host: "mail.example.com".into(),
                from: "custos".into(),
                ..Default::default()
            },
            NotifyRoute {
                name: "ok".into(),
                channel: Channel::Wecom,
                url: Secret::new("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"),
                ..Default::default()
            },
        ];
        let mut p = Vec::new();
        validate(&bad, &mut p);
        let text = p.join("\n");
        for want in [
            "`soc`: url: must be https://",
            "`soc`: secret: a webhook route signs its messages",
            "`soc`: name: used by an earlier route",
            "`soc`: to: an e-mail route needs recipients",
            "`soc`: to/from: must be e-mail addresses",
            "`soc`: smtp_tls: `none` only for a server on this machine",
        ] {
            assert!(text.contains(want), "{want} in\n{text}");
        }
        assert!(!text.contains("`ok`"), "{text}");
        assert_eq!(host("http://u:p@[::1]:80/x"), "::1");
        assert_eq!(host("http://127.0.0.1:9/x?y"), "127.0.0.1");
    }
}

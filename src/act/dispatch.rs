//! Delivers a lock/unlock command: to the Kafka actions topic (keyed by user; acknowledged on broker
//! delivery) and/or a webhook (POST, `X-Custos-Signature: sha256=<HMAC-SHA256 of the body>`,
//! `X-Custos-Timestamp` and `X-Custos-Signature-Timestamped: sha256=<HMAC of "<timestamp>.<body>">`,
//! `Idempotency-Key: <action_id>`; 2xx = acknowledged, redirects are not followed and fail), each
//! with capped exponential retries. Receivers drop duplicates by `Idempotency-Key`.

use std::time::Duration;

use anyhow::Context;
use hmac::{Hmac, Mac};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use serde::Serialize;
use sha2::Sha256;

use crate::config::{KafkaConfig, ResponseConfig};

/// The command sent to the CRM.
#[derive(Debug, Clone, Serialize)]
pub struct Command {
    pub action_id: String,
    /// `lock_user` or `unlock_user`.
    pub action: String,
    pub tenant: String,
    pub user_id: String,
    pub reason: String,
    pub alert_id: String,
    pub requested_at: String,
}

/// The configured channels.
pub struct Dispatcher {
    kafka: Option<(FutureProducer, String)>,
    webhook: Option<(reqwest::Client, String, Vec<u8>)>,
    cfg: ResponseConfig,
}

/// `sha256=<hex>` of the HMAC-SHA256 of `<timestamp>.<body>` under `secret` (the
/// `X-Custos-Signature-Timestamped` header; receivers check it and refuse old timestamps).
pub fn timestamped_signature(secret: &[u8], ts: &str, body: &[u8]) -> String {
    let mut signed = Vec::with_capacity(ts.len() + 1 + body.len());
    signed.extend_from_slice(ts.as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(body);
    signature(secret, &signed)
}

/// `sha256=<hex>` of the HMAC-SHA256 of `body` under `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    format!(
        "sha256={}",
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

impl Dispatcher {
    pub fn build(cfg: &ResponseConfig, kafka: &KafkaConfig) -> anyhow::Result<Self> {
        let kafka_channel = if cfg.actions_topic.is_empty() {
            None
        } else {
            let mut c = ClientConfig::new();
            c.set("bootstrap.servers", &kafka.brokers)
                .set("client.id", format!("{}-actions", kafka.client_id))
                .set("enable.idempotence", "true")
                .set(
                    "message.timeout.ms",
                    super::takeover::KAFKA_MESSAGE_TIMEOUT_MS.to_string(),
                );
            for (k, v) in &kafka.librdkafka {
                c.set(k, v);
            }
            Some((
                c.create().context("creating the Kafka actions producer")?,
                cfg.actions_topic.clone(),
            ))
        };
        let webhook = if cfg.webhook_url.is_empty() {
            None
        } else {
            // No redirects: a 301 would turn the POST into a body-less GET whose 200 looks like an
            // acknowledged lock, a 307 would re-send the signed body elsewhere. Any 3xx fails.
            let client = reqwest::Client::builder()
                .timeout(Duration::from_millis(cfg.webhook_timeout_ms))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .context("building the webhook client")?;
            Some((
                client,
                cfg.webhook_url.clone(),
                cfg.webhook_secret.expose().as_bytes().to_vec(),
            ))
        };
        Ok(Dispatcher {
            kafka: kafka_channel,
            webhook,
            cfg: cfg.clone(),
        })
    }

    /// `kafka`, `webhook`, `kafka+webhook` or "".
    pub fn channels(&self) -> String {
        [
            self.kafka.as_ref().map(|_| "kafka"),
            self.webhook.as_ref().map(|_| "webhook"),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("+")
    }

    /// Sends `cmd` on every channel at once, each with its own retries: a slow or dead channel never
    /// delays another. `on_attempt(attempt, error)` is called after each failed try (the attempt
    /// number is the channel's, the error names it). Ok (attempts on all channels) when every channel
    /// acknowledged; otherwise Err with each channel's outcome.
    pub async fn send(
        &self,
        cmd: &Command,
        on_attempt: &(dyn Fn(u32, &str) + Sync),
    ) -> Result<u32, (u32, String)> {
        let body = serde_json::to_vec(cmd).expect("command serializes");
        let kafka = async {
            let Some((producer, topic)) = &self.kafka else {
                return None;
            };
            let mut attempts = 0;
            let r = self
                .retry(&mut attempts, on_attempt, || async {
                    let rec = FutureRecord::to(topic).key(&cmd.user_id).payload(&body);
                    producer
                        .send(rec, Duration::from_secs(10))
                        .await
                        .map(|_| ())
                        .map_err(|(e, _)| format!("kafka: {e}"))
                })
                .await;
            Some((attempts, r))
        };
        let webhook = async {
            let Some((client, url, secret)) = &self.webhook else {
                return None;
            };
            let sig = signature(secret, &body);
            let mut attempts = 0;
            let r = self
                .retry(&mut attempts, on_attempt, || async {
                    // Replay protection: the attempt's time, signed with the body.
                    let ts = crate::time::now_secs().to_string();
                    let timed = timestamped_signature(secret, &ts, &body);
                    let resp = client
                        .post(url)
                        .header("content-type", "application/json")
                        .header("x-custos-signature", &sig)
                        .header("x-custos-timestamp", &ts)
                        .header("x-custos-signature-timestamped", timed)
                        .header("idempotency-key", &cmd.action_id)
                        .body(body.clone())
                        .send()
                        .await
                        .map_err(|e| format!("webhook: {e}"))?;
                    if resp.status().is_success() {
                        Ok(())
                    } else if resp.status().is_redirection() {
                        Err(format!(
                            "webhook: HTTP {} (redirects are not followed)",
                            resp.status()
                        ))
                    } else {
                        Err(format!("webhook: HTTP {}", resp.status()))
                    }
                })
                .await;
            Some((attempts, r))
        };
        let (k, w) = tokio::join!(kafka, webhook);
        let outcomes: Vec<(&str, u32, Result<(), String>)> = [("kafka", k), ("webhook", w)]
            .into_iter()
            .filter_map(|(name, o)| o.map(|(n, r)| (name, n, r)))
            .collect();
        let attempts = outcomes.iter().map(|(_, n, _)| n).sum();
        if outcomes.iter().all(|(_, _, r)| r.is_ok()) {
            return Ok(attempts);
        }
        let story: Vec<String> = outcomes
            .iter()
            .map(|(name, n, r)| match r {
                Ok(()) => format!("{name}: acknowledged after {n} attempt(s)"),
                Err(e) => format!("{e} (after {n} attempt(s))"),
            })
            .collect();
        Err((attempts, story.join("; ")))
    }

    async fn retry<F, Fut>(
        &self,
        attempts: &mut u32,
        on_attempt: &(dyn Fn(u32, &str) + Sync),
        mut op: F,
    ) -> Result<(), String>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<(), String>>,
    {
        let mut delay = Duration::from_millis(self.cfg.retry_initial_ms);
        for n in 1..=self.cfg.max_attempts {
            *attempts += 1;
            match op().await {
                Ok(()) => return Ok(()),
                Err(e) if n == self.cfg.max_attempts => return Err(e),
                Err(e) => {
                    on_attempt(*attempts, &e);
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_millis(self.cfg.retry_max_ms));
                }
            }
        }
        unreachable!("max_attempts ≥ 1")
    }
}

//! `custos gen`: synthetic events and directory to JSONL files (gzip for `.gz`) or to Kafka topics.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::ClientConfig;

use crate::config::Config;
use crate::gen::{GenOptions, Generator};

#[derive(clap::Args, Debug)]
pub struct GenArgs {
    /// Events file (`-` = stdout; `.gz` = gzip). Ignored with --kafka.
    #[arg(long, default_value = "-")]
    pub events: String,
    /// Directory file to write alongside.
    #[arg(long)]
    pub directory: Option<String>,
    /// Number of events.
    #[arg(long, default_value_t = 10_000)]
    pub count: u64,
    #[arg(long, default_value_t = 200)]
    pub users: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// First simulated day (RFC 3339).
    #[arg(long, default_value = "2026-01-05T00:00:00Z")]
    pub start: DateTime<Utc>,
    /// Leave out the planted incidents.
    #[arg(long)]
    pub no_incidents: bool,
    /// Produce to the first Kafka input of the `custos` format / `directory_topic` (keyed by user) instead of writing files.
    #[arg(long)]
    pub kafka: bool,
}

fn writer(path: &str) -> anyhow::Result<Box<dyn Write>> {
    let out: Box<dyn Write> = if path == "-" {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(std::fs::File::create(path).with_context(|| format!("cannot create {path}"))?)
    };
    let out = std::io::BufWriter::with_capacity(1 << 20, out);
    Ok(if path.ends_with(".gz") {
        Box::new(flate2::write::GzEncoder::new(
            out,
            flate2::Compression::fast(),
        ))
    } else {
        Box::new(out)
    })
}

pub async fn run(cfg: Config, a: GenArgs) -> anyhow::Result<()> {
    let mut g = Generator::new(GenOptions {
        seed: a.seed,
        users: a.users,
        start: a.start,
        incidents: !a.no_incidents,
    });
    if a.kafka {
        return tokio::task::spawn_blocking(move || produce(&cfg, g, a.count as usize)).await?;
    }
    let mut records = 0usize;
    if let Some(path) = &a.directory {
        let mut w = writer(path)?;
        for rec in g.directory_records() {
            writeln!(w, "{rec}")?;
            records += 1;
        }
        w.flush()?;
    }
    let mut w = writer(&a.events)?;
    for line in g.by_ref().take(a.count as usize) {
        writeln!(w, "{line}")?;
    }
    w.flush()?;
    drop(w);
    eprintln!(
        "gen: wrote {} events{}",
        a.count,
        a.directory
            .as_ref()
            .map(|d| format!(" and {records} directory records to {d}"))
            .unwrap_or_default()
    );
    Ok(())
}

fn user_key(line: &str) -> String {
    serde_json::from_str::<serde_json::Value>(line)
        .ok()
        .and_then(|v| v["user_id"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn produce(cfg: &Config, mut g: Generator, count: usize) -> anyhow::Result<()> {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &cfg.kafka.brokers)
        .set("linger.ms", "20")
        .set("compression.type", "lz4");
    for (k, v) in &cfg.kafka.librdkafka {
        c.set(k, v);
    }
    let producer: ThreadedProducer<DefaultProducerContext> =
        c.create().context("creating the Kafka producer")?;
    let send = |topic: &str, line: &str| -> anyhow::Result<()> {
        let key = user_key(line);
        loop {
            match producer.send(BaseRecord::to(topic).key(&key).payload(line)) {
                Ok(()) => return Ok(()),
                Err((
                    rdkafka::error::KafkaError::MessageProduction(
                        rdkafka::types::RDKafkaErrorCode::QueueFull,
                    ),
                    _,
                )) => std::thread::sleep(Duration::from_millis(5)),
                Err((e, _)) => return Err(e).with_context(|| format!("producing to {topic}")),
            }
        }
    };
    let mut records = 0usize;
    if !cfg.kafka.directory_topic.is_empty() {
        for rec in g.directory_records() {
            send(&cfg.kafka.directory_topic, &rec.to_string())?;
            records += 1;
        }
    }
    // The generator writes the native contract: the first input that reads it.
    let topic = cfg
        .kafka
        .event_inputs()
        .into_iter()
        .find(|i| i.format == "custos")
        .map(|i| i.topic)
        .context("no Kafka input reads the `custos` format: `gen --kafka` has nowhere to write")?;
    let mut n = 0u64;
    for line in g.by_ref().take(count) {
        send(&topic, &line)?;
        n += 1;
    }
    producer
        .flush(Duration::from_secs(60))
        .context("flushing the Kafka producer")?;
    eprintln!("gen: produced {n} events to {topic} and {records} directory records");
    Ok(())
}

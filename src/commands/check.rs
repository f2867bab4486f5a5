//! `custos check-config [--probe]`: validates the configuration (every problem at once, at load),
//! prints the effective values with every secret masked, says what it did not check — and with
//! `--probe` checks those too: ClickHouse, the Kafka brokers, the detector files, the geo-IP files.

use std::path::Path;
use std::time::Duration;

use crate::config::{redact, Config};

const UNCHECKED: &str = "ClickHouse (reachable, credentials), the Kafka brokers, the detector files, the geo-IP database files, the mappings of the Kafka event inputs";

pub async fn run(cfg: Config, probe: bool) -> anyhow::Result<()> {
    println!("# configuration is valid; effective values (secrets shown as ***):");
    let mut tree = toml::Value::try_from(&cfg)?;
    redact::toml(&mut tree);
    print!("{}", toml::to_string_pretty(&tree)?);
    if !probe {
        println!("\n# not checked (run `custos check-config --probe`): {UNCHECKED}");
        return Ok(());
    }
    println!("\n# probes");
    let results = [
        ("clickhouse", clickhouse(&cfg).await),
        ("kafka", kafka(&cfg).await),
        ("detectors", detectors(&cfg)),
        ("geoip", geoip(&cfg)),
        ("events_format", events_format(&cfg)),
    ];
    let mut failed = 0;
    for (what, r) in &results {
        match r {
            Ok(detail) => println!("ok     {what}: {}", redact::text(detail)),
            Err(e) => {
                failed += 1;
                println!("FAILED {what}: {}", redact::text(&format!("{e:#}")));
            }
        }
    }
    anyhow::ensure!(failed == 0, "{failed} probe(s) failed");
    Ok(())
}

fn events_format(cfg: &Config) -> anyhow::Result<String> {
    let formats = super::FormatArgs::of_kafka(&cfg.kafka, &cfg.mappings.dir)?;
    let each: Vec<String> = formats
        .by_topic
        .iter()
        .map(|(topic, f)| match f {
            None => format!("`{topic}`: the native contract"),
            Some((m, _)) => format!("`{topic}`: mapping `{}` compiles", m.name),
        })
        .collect();
    Ok(each.join("; "))
}

async fn clickhouse(cfg: &Config) -> anyhow::Result<String> {
    let store = crate::store::Store::new(&cfg.clickhouse);
    tokio::time::timeout(Duration::from_secs(5), store.ping())
        .await
        .map_err(|_| anyhow::anyhow!("no answer from {} within 5 s", cfg.clickhouse.url))?
        // With the causes once each (`invalid peer certificate: UnknownIssuer`).
        .map_err(|e| anyhow::anyhow!(crate::store::with_causes(&e)))?;
    Ok(format!(
        "{} answers (database `{}`)",
        cfg.clickhouse.url, cfg.clickhouse.database
    ))
}

async fn kafka(cfg: &Config) -> anyhow::Result<String> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let client: BaseConsumer = crate::source::kafka::client_config(&cfg.kafka).create()?;
    let brokers = cfg.kafka.brokers.clone();
    let mut topics: Vec<String> = cfg
        .kafka
        .event_inputs()
        .into_iter()
        .map(|i| i.topic)
        .collect();
    topics.push(cfg.kafka.directory_topic.clone());
    tokio::task::spawn_blocking(move || {
        let md = client.fetch_metadata(None, Duration::from_secs(5))?;
        let missing: Vec<&str> = topics
            .iter()
            .filter(|t| !t.is_empty() && !md.topics().iter().any(|m| m.name() == t.as_str()))
            .map(String::as_str)
            .collect();
        anyhow::ensure!(
            missing.is_empty(),
            "brokers {brokers} answer, but topic(s) {} do not exist",
            missing.join(", ")
        );
        Ok(format!(
            "{} broker(s) at {brokers}, {} topic(s)",
            md.brokers().len(),
            md.topics().len()
        ))
    })
    .await?
}

fn detectors(cfg: &Config) -> anyhow::Result<String> {
    let (specs, notes) = crate::detect::load_dir_noting(Path::new(&cfg.detectors.dir))?;
    let enabled = specs.iter().filter(|s| s.enabled).count();
    Ok(format!(
        "{} detector(s), {enabled} enabled, from {}{}",
        specs.len(),
        cfg.detectors.dir,
        if notes.is_empty() {
            String::new()
        } else {
            format!(" ({} Sigma rule(s) skipped)", notes.len())
        }
    ))
}

fn geoip(cfg: &Config) -> anyhow::Result<String> {
    if cfg.geoip.city_db.is_empty() && cfg.geoip.asn_db.is_empty() {
        return Ok("no database configured (events are stored without places)".into());
    }
    crate::enrich::build(&cfg.geoip)?;
    Ok(format!(
        "loaded {}",
        cfg.geoip
            .city_db
            .iter()
            .chain(&cfg.geoip.asn_db)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

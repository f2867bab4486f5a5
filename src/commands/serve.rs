//! `custos serve`: the long-running service. Kafka → pipeline → ClickHouse until SIGTERM/SIGINT; then
//! stop reading, flush what was read (up to a grace period), commit acknowledged offsets, exit.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::config::Config;
use crate::shutdown;
use crate::source::kafka::KafkaSource;
use crate::stats::Stats;
use crate::store::{migrate::migrate, Store};

/// How long shutdown waits for in-flight batches before exiting anyway (they will be re-read).
const DRAIN_GRACE: Duration = Duration::from_secs(8);

pub async fn run(cfg: Config) -> anyhow::Result<()> {
    let (trigger, _) = shutdown::channel();
    let mut stop = trigger.on_signals();
    let store = Store::new(&cfg.clickhouse);
    // Nothing is consumed until ClickHouse is reachable and the schema is in place.
    tokio::select! {
        r = migrate(&store, false) => r.context("preparing the ClickHouse schema")?,
        _ = stop.recv() => return Ok(()),
    };
    let source = KafkaSource::build(&cfg.kafka)?;
    let stats = Arc::new(Stats::default());
    let formats = super::FormatArgs::of_kafka(&cfg.kafka, &cfg.mappings.dir)?;
    let stages = crate::pipeline::Stages {
        formats,
        ..super::wiring::stages(&cfg, &store, true).await?
    };
    let responder = stages.act.responder.clone();
    let pipeline = crate::pipeline::start(
        &cfg.pipeline,
        store.clone(),
        store.retry_policy(false).forever(),
        source.acker(),
        stats.clone(),
        stages,
    );
    tracing::info!(database = %cfg.clickhouse.database, "custos serving");
    let sweeper = tokio::spawn(daily_sweep(cfg.clone(), store.clone(), responder.clone()));
    let watchdog =
        source.watch_assignment(stats.clone(), cfg.kafka.session_timeout_ms, stop.clone());
    let api =
        super::wiring::spawn_api(&cfg, &store, stats.clone(), responder, stop.clone()).await?;
    source.run(pipeline.input, stop.clone()).await;
    sweeper.abort();
    watchdog.abort();
    match tokio::time::timeout(DRAIN_GRACE, pipeline.done).await {
        Ok(Ok(Ok(()))) => source.commit(),
        Ok(Ok(Err(e))) => {
            tracing::error!(error = %e, "storage failed during shutdown; uncommitted data will be re-read")
        }
        Ok(Err(e)) => tracing::error!(error = %e, "pipeline task failed"),
        Err(_) => tracing::warn!(
            grace_secs = DRAIN_GRACE.as_secs(),
            "flush did not finish in time; uncommitted data will be re-read"
        ),
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), api).await;
    let s = stats.summary();
    tracing::info!(
        read = s.read,
        stored = s.stored,
        rejected = s.rejected,
        duplicates = s.duplicates,
        "custos stopped"
    );
    Ok(())
}

/// Daily housekeeping: the `orphaned_account` sweep, the seals of closed days and retention, a minute after start, then every 24 h.
async fn daily_sweep(cfg: Config, store: Store, responder: Option<crate::act::Responder>) {
    let publisher = crate::act::AlertPublisher::build(&cfg.kafka).ok().flatten();
    tokio::time::sleep(Duration::from_secs(60)).await;
    let mut tick = tokio::time::interval(Duration::from_secs(24 * 3600));
    loop {
        tick.tick().await;
        match super::detectors::sweep_once(&cfg, &store, publisher.as_ref(), responder.as_ref())
            .await
        {
            Ok(n) => tracing::info!(alerts = n, "sweep for departed accounts done"),
            Err(e) => tracing::warn!(
                error = format!("{e:#}"),
                "sweep for departed accounts failed; next in 24 h"
            ),
        }
        super::archive::seal_if_configured(&cfg, &store).await;
        if let Err(e) = crate::archive::retention::run(&store, &cfg).await {
            tracing::warn!(error = format!("{e:#}"), "retention failed; next in 24 h");
        }
    }
}

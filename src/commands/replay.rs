//! `custos replay`: a file through the same pipeline as `serve`; exits once everything read is stored.

use std::sync::Arc;

use anyhow::Context;

use crate::config::Config;
use crate::model::Stream;
use crate::source::{file, NoAck};
use crate::stats::Stats;
use crate::store::{migrate::migrate, Store};

pub async fn run(
    cfg: Config,
    input: String,
    directory: Option<String>,
    publish: bool,
    format: Option<crate::pipeline::EventsFormat>,
) -> anyhow::Result<()> {
    let store = Store::new(&cfg.clickhouse);
    migrate(&store, true)
        .await
        .context("preparing the ClickHouse schema")?;
    let stats = Arc::new(Stats::default());
    let pipeline = crate::pipeline::start(
        &cfg.pipeline,
        store.clone(),
        store.retry_policy(true),
        Arc::new(NoAck),
        stats.clone(),
        crate::pipeline::Stages {
            formats: crate::pipeline::Formats::all(format),
            ..super::wiring::stages(&cfg, &store, publish).await?
        },
    );
    let progress = super::wiring::spawn_progress(stats.clone(), "replay");
    let tx = pipeline.input;
    let reader = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        if let Some(d) = directory {
            file::read_lines(&d, Stream::Directory, &tx)?;
        }
        file::read_lines(&input, Stream::Events, &tx)?;
        Ok(())
    });
    let read = reader.await.context("reader thread")?;
    let stored = pipeline.done.await.context("pipeline task")?;
    progress.abort();
    // A storage failure explains a reader failure ("pipeline stopped"), so report it first.
    stored.context("storing into ClickHouse")?;
    read?;
    // Closed days the file filled are sealed at once (with `[archive] signing_key_file`).
    super::archive::seal_if_configured(&cfg, &store).await;
    let s = stats.summary();
    if stats
        .directory_read
        .load(std::sync::atomic::Ordering::Relaxed)
        > 0
    {
        eprintln!(
            "replay: directory read {} stored {} rejected {}",
            stats
                .directory_read
                .load(std::sync::atomic::Ordering::Relaxed),
            stats
                .directory_stored
                .load(std::sync::atomic::Ordering::Relaxed),
            stats
                .directory_rejected
                .load(std::sync::atomic::Ordering::Relaxed),
        );
    }
    println!("{}", serde_json::to_string(&s)?);
    Ok(())
}

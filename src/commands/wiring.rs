//! What several commands build the same way: the detector engine, the pipeline's stages with state
//! rehydrated from ClickHouse, the API beside a pipeline, progress lines.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;

use crate::config::Config;
use crate::detect::load_dir;
use crate::detect::rehydrate;
use crate::detect::worktime::WorkTime;
use crate::detect::Engine;
use crate::pipeline::Stages;
use crate::store::Store;

/// The detector engine for this configuration (refuses invalid detector files, naming file and field).
pub fn engine(cfg: &Config) -> anyhow::Result<Engine> {
    let specs = load_dir(Path::new(&cfg.detectors.dir))?;
    Ok(Engine::new(specs, WorkTime::from_config(&cfg.detectors)))
}

/// Each detector's title by id.
fn titles(engine: &Engine) -> std::collections::HashMap<String, String> {
    engine
        .detectors()
        .map(|d| (d.id.clone(), d.title.clone()))
        .collect()
}

/// Where people reach the API: `[api] public_url`, else `http://<listen>` (`https://` with TLS).
pub fn public_url(cfg: &Config) -> String {
    match cfg.api.public_url.as_str() {
        "" => format!("{}://{}", api_scheme(cfg), cfg.api.listen),
        url => url.to_owned(),
    }
}

/// `https` when the API serves TLS (`[api] tls_cert_file`), else `http`.
pub fn api_scheme(cfg: &Config) -> &'static str {
    if cfg.api.tls_cert_file.is_empty() {
        "http"
    } else {
        "https"
    }
}

/// The enrich, detect and act stages for this configuration, with state rehydrated from `store`
/// (directory, the last window of exports, recent alerts). `publish` sends alerts to Kafka.
pub async fn stages(cfg: &Config, store: &Store, publish: bool) -> anyhow::Result<Stages> {
    let (enrich, reloader) =
        crate::enrich::build(&cfg.geoip).context("loading geo-IP databases")?;
    let mut engine = engine(cfg)?;
    let mut directory = crate::directory::Directory::default();
    let users = rehydrate::directory(store, &mut directory)
        .await
        .context("loading the directory from ClickHouse")?;
    let restored = rehydrate::engine(store, &mut engine, &directory)
        .await
        .context("restoring detector state from ClickHouse")?;
    tracing::info!(
        detectors = ?engine.detectors().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        directory_records = users,
        events = restored.events,
        alerts = restored.alerts,
        "detectors ready (state restored from ClickHouse)"
    );
    let publisher = if publish {
        crate::act::AlertPublisher::build(&cfg.kafka)?.map(|p| p.with_titles(titles(&engine)))
    } else {
        None
    };
    let responder =
        crate::act::Responder::start(&cfg.response, &cfg.kafka, store.clone(), publish, true)
            .await?;
    let notifier = crate::act::Notifier::start(
        &cfg.notify,
        crate::act::notify::Context {
            store: store.clone(),
            public_url: public_url(cfg),
            titles: titles(&engine),
        },
        true,
    )
    .await?;
    let act = Arc::new(crate::act::Act {
        publisher,
        responder: Some(responder),
        notifier,
    });
    Ok(Stages {
        enrich: Box::new(enrich),
        detect: Box::new(engine),
        directory,
        act,
        reloader,
        formats: Default::default(),
        privacy: crate::privacy::Redactor::build(&cfg.privacy)?.map(Arc::new),
    })
}

/// Prints `what` every two seconds on stderr while counts move.
pub fn spawn_progress(
    stats: Arc<crate::stats::Stats>,
    what: &'static str,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last = 0;
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
        tick.tick().await;
        loop {
            tick.tick().await;
            let s = stats.summary();
            if s.read != last {
                last = s.read;
                eprintln!(
                    "{what}: read {} stored {} rejected {} duplicates {}",
                    s.read, s.stored, s.rejected, s.duplicates
                );
            }
        }
    })
}

/// Starts the API next to a pipeline (`serve`, `demo`); stops with `stop`.
/// Shares the pipeline's lockout responder (one decision task and one set of producers per process).
pub async fn spawn_api(
    cfg: &Config,
    store: &Store,
    stats: Arc<crate::stats::Stats>,
    responder: Option<crate::act::Responder>,
    stop: crate::shutdown::Shutdown,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let state = crate::api::AppState::new(store.clone(), cfg.api.clone(), Some(stats), responder)?
        .with_detectors(detector_ids(cfg));
    // Bound here, so a taken address stops the command (non-zero, naming it) instead of leaving it
    // running without its API.
    let listener = crate::api::bind(&cfg.api.listen).await?;
    Ok(tokio::spawn(async move {
        if let Err(e) = crate::api::serve_on(state, listener, stop, None).await {
            tracing::error!(error = format!("{e:#}"), "the API stopped");
        }
    }))
}

/// The ids of the configured detectors (none when the folder does not load: the API still serves).
pub fn detector_ids(cfg: &Config) -> Vec<String> {
    load_dir(Path::new(&cfg.detectors.dir))
        .map(|specs| specs.into_iter().map(|s| s.id).collect())
        .unwrap_or_default()
}

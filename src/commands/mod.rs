//! One module per CLI command; each builds the stages it needs from [`Config`] and runs them.

mod demo;
mod detectors;
mod gen;
mod replay;
mod serve;

pub use gen::GenArgs;

use std::sync::Arc;

use anyhow::Context;

use crate::cli::Command;
use crate::config::Config;
use std::path::Path;

use crate::detect::rehydrate;
use crate::detect::spec::load_dir;
use crate::detect::worktime::WorkTime;
use crate::detect::Engine;
use crate::pipeline::Stages;
use crate::store::{migrate::migrate, Store};

pub async fn run(command: Command, cfg: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve => serve::run(cfg).await,
        Command::Replay { input, directory, publish_alerts } => replay::run(cfg, input, directory, publish_alerts).await,
        Command::Demo { events, publish_alerts } => demo::run(cfg, events, publish_alerts).await,
        Command::Detectors { action } => detectors::run(cfg, action),
        Command::Sweep => detectors::sweep(cfg).await,
        Command::Api => api_only(cfg).await,
        Command::Retention => {
            let store = Store::new(&cfg.clickhouse);
            migrate(&store, true).await.context("preparing the ClickHouse schema")?;
            let dropped = crate::store::retention::apply(&store, &cfg.retention).await?;
            println!("{}", serde_json::json!({ "dropped": dropped }));
            Ok(())
        }
        Command::Token { action: crate::cli::TokenCommand::New { name, role } } => {
            let (token, lines) = crate::api::auth::new_token(&name, &role)?;
            eprintln!("# the token (shown once; custos stores only its SHA-256):");
            println!("{token}");
            eprintln!("# paste into custos.toml:");
            eprintln!("{lines}");
            Ok(())
        }
        Command::Gen(args) => gen::run(cfg, args).await,
        Command::Migrate => {
            let store = Store::new(&cfg.clickhouse);
            let n = migrate(&store, true).await.context("migrating the ClickHouse schema")?;
            println!("schema of database `{}` is up to date ({n} migration(s) applied)", store.database());
            Ok(())
        }
        Command::CheckConfig => {
            println!("# configuration is valid; effective values (secrets hidden):");
            print!("{}", toml::to_string_pretty(&cfg).context("printing config")?);
            Ok(())
        }
    }
}

/// The detector engine for this configuration (refuses invalid detector files, naming file and field).
pub(crate) fn engine(cfg: &Config) -> anyhow::Result<Engine> {
    let specs = load_dir(Path::new(&cfg.detectors.dir))?;
    let worktime = WorkTime::from_config(&cfg.detectors).map_err(|e| anyhow::anyhow!(e.join("; ")))?;
    Ok(Engine::new(specs, worktime))
}

/// The enrich, detect and act stages for this configuration, with state rehydrated from `store`
/// (directory, the last window of exports, recent alerts). `publish` sends alerts to Kafka.
pub(crate) async fn stages(cfg: &Config, store: &Store, publish: bool) -> anyhow::Result<Stages> {
    let (enrich, reloader) = crate::enrich::build(&cfg.geoip).context("loading geo-IP databases")?;
    let mut engine = engine(cfg)?;
    let mut directory = crate::directory::Directory::default();
    let users = rehydrate::directory(store, &mut directory).await.context("loading the directory from ClickHouse")?;
    let restored = rehydrate::engine(store, &mut engine).await.context("restoring detector state from ClickHouse")?;
    tracing::info!(
        detectors = ?engine.detectors().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        directory_records = users,
        exports = restored.exports,
        alerts = restored.alerts,
        "detectors ready (state restored from ClickHouse)"
    );
    let publisher = if publish { crate::act::AlertPublisher::build(&cfg.kafka)? } else { None };
    let responder = crate::act::Responder::start(&cfg.response, &cfg.kafka, store.clone(), publish, true).await?;
    let act = Arc::new(crate::act::Act { publisher, responder: Some(responder) });
    Ok(Stages { enrich: Box::new(enrich), detect: Box::new(engine), directory, act, reloader })
}

/// Prints `what` every two seconds on stderr while counts move.
pub(crate) fn spawn_progress(stats: Arc<crate::stats::Stats>, what: &'static str) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last = 0;
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
        tick.tick().await;
        loop {
            tick.tick().await;
            let s = stats.summary();
            if s.read != last {
                last = s.read;
                eprintln!("{what}: read {} stored {} rejected {} duplicates {}", s.read, s.stored, s.rejected, s.duplicates);
            }
        }
    })
}

/// `custos api`: the API alone over an existing database, until SIGTERM/SIGINT.
async fn api_only(cfg: Config) -> anyhow::Result<()> {
    let (trigger, _) = crate::shutdown::channel();
    let stop = trigger.on_signals();
    let store = Store::new(&cfg.clickhouse);
    migrate(&store, true).await.context("preparing the ClickHouse schema")?;
    let responder = crate::act::Responder::start(&cfg.response, &cfg.kafka, store.clone(), false, false).await?;
    let state = crate::api::AppState::new(store, cfg.api.clone(), None, Some(responder))?;
    crate::api::serve(state, &cfg.api.listen, stop, None).await
}

/// Starts the API next to a pipeline (`serve`, `demo`); stops with `stop`.
/// Shares the pipeline's lockout responder (one decision task and one set of producers per process).
pub(crate) fn spawn_api(
    cfg: &Config,
    store: &Store,
    stats: Arc<crate::stats::Stats>,
    responder: Option<crate::act::Responder>,
    stop: crate::shutdown::Shutdown,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let state = crate::api::AppState::new(store.clone(), cfg.api.clone(), Some(stats), responder)?;
    let listen = cfg.api.listen.clone();
    Ok(tokio::spawn(async move {
        if let Err(e) = crate::api::serve(state, &listen, stop, None).await {
            tracing::error!(error = format!("{e:#}"), "the API stopped");
        }
    }))
}

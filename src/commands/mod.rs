//! One module per CLI command; each builds the stages it needs from [`Config`] and runs them.

mod demo;
mod gen;
mod replay;
mod serve;

pub use gen::GenArgs;

use std::sync::Arc;

use anyhow::Context;

use crate::cli::Command;
use crate::config::Config;
use crate::detect::NoDetect;
use crate::pipeline::Stages;
use crate::store::{migrate::migrate, Store};

pub async fn run(command: Command, cfg: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve => serve::run(cfg).await,
        Command::Replay { input, directory } => replay::run(cfg, input, directory).await,
        Command::Demo { events } => demo::run(cfg, events).await,
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

/// The enrich and detect stages for this configuration.
pub(crate) fn stages(cfg: &Config) -> anyhow::Result<Stages> {
    let (enrich, reloader) = crate::enrich::build(&cfg.geoip).context("loading geo-IP databases")?;
    Ok(Stages { enrich: Box::new(enrich), detect: Box::new(NoDetect), reloader })
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

//! One module per CLI command; each builds the stages it needs from [`Config`] and runs them.

mod archive;
mod check;
mod demo;
mod detectors;
mod gen;
mod mappings;
mod replay;
mod serve;
mod wiring;

pub use archive::{ArchiveArgs, ArchiveCommand, VerifyArgs};
pub use detectors::DetectorsCommand;
pub use gen::GenArgs;
pub use mappings::{FormatArgs, MappingsCommand};

use anyhow::Context;
use clap::Subcommand;

use crate::config::Config;
use crate::store::{migrate::migrate, Store};

#[derive(Subcommand, Debug)]
pub enum Command {
    /// The long-running service: Kafka → pipeline → ClickHouse. SIGTERM/SIGINT flush and exit.
    Serve,
    /// Run a JSONL file (or `-` for stdin, optionally gzip) through the pipeline and exit when stored.
    Replay {
        /// Events, one JSON object per line.
        #[arg(long)]
        input: String,
        /// Directory (HR) records to load first.
        #[arg(long)]
        directory: Option<String>,
        /// Also publish alerts to `[kafka] alerts_topic` (as `serve` always does).
        #[arg(long)]
        publish_alerts: bool,
        #[command(flatten)]
        format: FormatArgs,
    },
    /// Generated CRM traffic fed through the pipeline into ClickHouse, continuously.
    Demo {
        /// Stop after this many events (default: run until interrupted).
        #[arg(long)]
        events: Option<u64>,
        /// Also publish alerts to `[kafka] alerts_topic`.
        #[arg(long)]
        publish_alerts: bool,
    },
    /// Check, test or try the mappings that read CRMs' own event formats (`--format`).
    Mappings {
        #[command(subcommand)]
        action: MappingsCommand,
    },
    /// Check or test the detector files.
    Detectors {
        #[command(subcommand)]
        action: DetectorsCommand,
    },
    /// Report terminated/suspended users who still show activity (alerts of `orphaned_account`).
    Sweep,
    /// Drop data older than `[retention]` (monthly partitions; archived first with
    /// `[retention] archive_dir`); `serve` does this daily.
    Retention,
    /// Write a month as signed, chained archive files (`--month YYYY-MM --out DIR`), print the
    /// public key, verify or restore an archive directory (docs/archives.md).
    Archive(ArchiveArgs),
    /// Seal every closed UTC day of events not sealed yet (`serve` does this daily, `replay` at its end).
    Seal,
    /// Recompute the seals of stored history and name every day that no longer matches.
    Verify(VerifyArgs),
    /// Only the query API, over an existing database (read-only deployment for auditors; no Kafka).
    Api,
    /// API tokens.
    Token {
        #[command(subcommand)]
        action: TokenCommand,
    },
    /// De-identification (`[privacy]`, docs/privacy.md).
    Privacy {
        #[command(subcommand)]
        action: PrivacyCommand,
    },
    /// Write synthetic CRM events and a matching directory (JSONL; `.gz` paths are gzipped), or produce them to Kafka.
    Gen(GenArgs),
    /// Create the database and tables (idempotent).
    Migrate,
    /// Validate the configuration, listing every problem; print the effective config (secrets masked).
    CheckConfig {
        /// Also connect to ClickHouse and Kafka and load the detector and geo-IP files.
        #[arg(long)]
        probe: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum PrivacyCommand {
    /// Print the `hash` token of VALUE (`hmac:<hex>`, with the `[privacy]` key): search events for
    /// it to find everything done with that phone number, ID, card or address.
    Token { value: String },
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Print a fresh token and the `[[api.tokens]]` lines to paste into custos.toml (only its hash).
    New {
        #[arg(long)]
        name: String,
        /// auditor, analyst or admin
        #[arg(long)]
        role: String,
    },
}

pub async fn run(command: Command, cfg: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve => serve::run(cfg).await,
        Command::Replay {
            input,
            directory,
            publish_alerts,
            format,
        } => {
            let format = format.build(&cfg.mappings.dir)?;
            replay::run(cfg, input, directory, publish_alerts, format).await
        }
        Command::Mappings { action } => mappings::run(action, &cfg.mappings.dir),
        Command::Demo {
            events,
            publish_alerts,
        } => demo::run(cfg, events, publish_alerts).await,
        Command::Detectors { action } => detectors::run(cfg, action).await,
        Command::Sweep => detectors::sweep(cfg).await,
        Command::Api => api_only(cfg).await,
        Command::Retention => {
            let store = Store::new(&cfg.clickhouse);
            migrate(&store, true)
                .await
                .context("preparing the ClickHouse schema")?;
            let dropped = crate::archive::retention::run(&store, &cfg).await?;
            println!("{}", serde_json::json!({ "dropped": dropped }));
            Ok(())
        }
        Command::Token {
            action: TokenCommand::New { name, role },
        } => {
            let (token, lines) = crate::api::auth::new_token(&name, &role)?;
            eprintln!("# the token (shown once; custos stores only its SHA-256):");
            println!("{token}");
            eprintln!("# paste into custos.toml:");
            eprintln!("{lines}");
            Ok(())
        }
        Command::Privacy {
            action: PrivacyCommand::Token { value },
        } => {
            let r = crate::privacy::Redactor::build(&cfg.privacy)?
                .context("[privacy] is disabled (enabled = false)")?;
            let token = r.token(&value).context(
                "[privacy] has no key: set key_file or CUSTOS_PRIVACY_KEY (e.g. `openssl rand -hex 32`)",
            )?;
            println!("{token}");
            Ok(())
        }
        Command::Gen(args) => gen::run(cfg, args).await,
        Command::Archive(args) => archive::archive(cfg, args).await,
        Command::Seal => archive::seal(cfg).await,
        Command::Verify(args) => archive::verify(cfg, args).await,
        Command::Migrate => {
            let store = Store::new(&cfg.clickhouse);
            let n = migrate(&store, true)
                .await
                .context("migrating the ClickHouse schema")?;
            println!(
                "schema of database `{}` is up to date ({n} migration(s) applied)",
                store.database()
            );
            Ok(())
        }
        Command::CheckConfig { probe } => check::run(cfg, probe).await,
    }
}

/// `custos api`: the API alone over an existing database, until SIGTERM/SIGINT.
async fn api_only(cfg: Config) -> anyhow::Result<()> {
    let (trigger, _) = crate::shutdown::channel();
    let stop = trigger.on_signals();
    let store = Store::new(&cfg.clickhouse);
    migrate(&store, true)
        .await
        .context("preparing the ClickHouse schema")?;
    let responder =
        crate::act::Responder::start(&cfg.response, &cfg.kafka, store.clone(), false, false)
            .await?;
    let state = crate::api::AppState::new(store, cfg.api.clone(), None, Some(responder))?
        .with_detectors(wiring::detector_ids(&cfg));
    crate::api::serve(state, &cfg.api.listen, stop, None).await
}

//! The `custos` command line (clap): parses arguments, loads config, sets up logging and runs a command.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{self, Config};

#[derive(Parser, Debug)]
#[command(name = "custos", version, about = "Streaming audit log and security analytics for CRM systems")]
pub struct Cli {
    /// Config file (TOML). Every key can also be set as CUSTOS_<SECTION>_<KEY>.
    #[arg(long, global = true, env = "CUSTOS_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

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
    /// Check or test the detector files.
    Detectors {
        #[command(subcommand)]
        action: DetectorsCommand,
    },
    /// Report terminated/suspended users who still show activity (alerts of `orphaned_account`).
    Sweep,
    /// Drop data older than `[retention]` (monthly partitions); `serve` does this daily.
    Retention,
    /// Only the query API, over an existing database (read-only deployment for auditors; no Kafka).
    Api,
    /// API tokens.
    Token {
        #[command(subcommand)]
        action: TokenCommand,
    },
    /// Write synthetic CRM events and a matching directory (JSONL; `.gz` paths are gzipped), or produce them to Kafka.
    Gen(crate::commands::GenArgs),
    /// Create the database and tables (idempotent).
    Migrate,
    /// Validate the configuration, listing every problem; print the effective config.
    CheckConfig,
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

#[derive(Subcommand, Debug)]
pub enum DetectorsCommand {
    /// Validate every detector file and list all problems.
    Lint {
        /// Folder of detector files (default: `[detectors] dir`).
        #[arg(long)]
        dir: Option<String>,
    },
    /// Run each detector's fixtures (`tests/<id>/`) and fail on any difference.
    Test {
        #[arg(long)]
        dir: Option<String>,
    },
}

/// Entry point used by `main.rs`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let cfg = match config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("custos: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&cfg);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("custos: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(crate::commands::run(cli.command, cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "custos failed");
            eprintln!("custos: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(cfg: &Config) {
    let filter = std::env::var("CUSTOS_LOG").unwrap_or_else(|_| cfg.log.level.clone());
    let filter = tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| "info".into());
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    if cfg.log.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

//! The `custos` command line (clap): parses arguments, loads config, sets up logging and runs a
//! command (the commands and their arguments are in [`crate::commands`]).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use crate::commands::Command;
use crate::config::{self, Config, LogFormat};

#[derive(Parser, Debug)]
#[command(
    name = "custos",
    version,
    about = "Streaming audit log and security analytics for CRM systems"
)]
pub struct Cli {
    /// Config file (TOML). Every key can also be set as CUSTOS_<SECTION>_<KEY>.
    #[arg(long, global = true, env = "CUSTOS_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// Entry point used by `main.rs`.
pub fn main() -> ExitCode {
    no_transparent_huge_pages();
    // The one rustls crypto provider, before any TLS config is built (`crate::tls`).
    crate::tls::provider();
    let cli = Cli::parse();
    let cfg = match config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("custos: {}", config::redact::text(&e.to_string()));
            return ExitCode::from(2);
        }
    };
    init_logging(&cfg);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("custos: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(crate::commands::run(cli.command, cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let e = config::redact::text(&format!("{e:#}"));
            tracing::error!(error = %e, "custos failed");
            eprintln!("custos: error: {e}");
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
        .with_writer(|| config::redact::Scrubbed(std::io::stderr()))
        .with_ansi(std::io::stderr().is_terminal());
    if cfg.log.format == LogFormat::Json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Transparent huge pages off for this process, unless `MIMALLOC_ALLOW_THP` is set (then mimalloc
/// follows it). Events are allocated on one thread and freed on another after their insert, so
/// mimalloc keeps taking fresh pages, and with THP the kernel zeroes 2 MiB for each: a third of a
/// file replay's CPU. Off, the same replay took 20 % less CPU and 13 % less wall time
/// (BENCHMARKS.md, 2026-12-07 (late)). Public for the benches, which run in-process.
pub fn no_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        // SAFETY: PR_SET_THP_DISABLE takes no pointers; it sets a flag on this process, read at
        // page-fault time. A kernel without it returns an error, which changes nothing.
        unsafe {
            libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
        }
    }
}

//! `custos archive` (write, `pubkey`, `verify`, `restore`), `custos seal` and `custos verify`: the
//! archives and the seals of live history (docs/archives.md).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};

use crate::archive::keys::{PublicKey, SigningKey};
use crate::archive::{restore, seal, verify, write};
use crate::config::Config;
use crate::store::{migrate::migrate, Store};

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ArchiveArgs {
    #[command(subcommand)]
    pub action: Option<ArchiveCommand>,
    /// The month to archive, `YYYY-MM` (UTC).
    #[arg(long)]
    pub month: Option<String>,
    /// The archive directory (the chain of digests lives in its `digests/`).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum ArchiveCommand {
    /// Print the public key of `[archive] signing_key_file` (PEM), to publish for auditors.
    Pubkey,
    /// Check every file against its digest, every signature and the chain; non-zero on any problem.
    Verify {
        dir: PathBuf,
        /// The public key every digest must be signed by (PEM). Default: the configured signing
        /// key's, else the key the first digest names (consistency only).
        #[arg(long)]
        pubkey: Option<PathBuf>,
    },
    /// Verify DIR, then load its rows back into ClickHouse (restoring twice changes nothing).
    Restore {
        dir: PathBuf,
        #[arg(long)]
        pubkey: Option<PathBuf>,
    },
}

/// The arguments of `custos verify`.
#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// First day to check, `YYYY-MM-DD` (UTC); default: the first day with events.
    #[arg(long)]
    pub since: Option<String>,
    /// Last day to check (inclusive), `YYYY-MM-DD`; default: today.
    #[arg(long)]
    pub until: Option<String>,
    /// The public key the seals must be signed by (PEM). Default: the configured signing key's.
    #[arg(long)]
    pub pubkey: Option<PathBuf>,
}

fn public_key(cfg: &Config, file: Option<&Path>) -> anyhow::Result<Option<PublicKey>> {
    if let Some(f) = file {
        return Ok(Some(PublicKey::load(f)?));
    }
    let path = &cfg.archive.signing_key_file;
    Ok(if path.is_empty() {
        None
    } else {
        Some(SigningKey::load(path)?.public())
    })
}

async fn store(cfg: &Config) -> anyhow::Result<Store> {
    let store = Store::new(&cfg.clickhouse);
    migrate(&store, true)
        .await
        .context("preparing the ClickHouse schema")?;
    Ok(store)
}

pub async fn archive(cfg: Config, args: ArchiveArgs) -> anyhow::Result<()> {
    match args.action {
        None => {
            let (Some(month), Some(out)) = (args.month, args.out) else {
                bail!("`custos archive` needs --month YYYY-MM and --out DIR (or a subcommand: pubkey, verify, restore)");
            };
            let month = write::Month::parse(&month).map_err(anyhow::Error::msg)?;
            let key = SigningKey::load(&cfg.archive.signing_key_file)?;
            let store = store(&cfg).await?;
            let (path, d) = write::archive_month(&store, month, &out, &key).await?;
            let rows: std::collections::BTreeMap<_, _> =
                d.files.iter().map(|f| (f.table.as_str(), f.rows)).collect();
            println!(
                "{}",
                serde_json::json!({ "digest": path, "month": d.month, "rows": rows })
            );
            Ok(())
        }
        Some(ArchiveCommand::Pubkey) => {
            print!(
                "{}",
                SigningKey::load(&cfg.archive.signing_key_file)?
                    .public()
                    .pem()
            );
            Ok(())
        }
        Some(ArchiveCommand::Verify { dir, pubkey }) => {
            let key = public_key(&cfg, pubkey.as_deref())?;
            if key.is_none() {
                eprintln!("custos: no --pubkey and no [archive] signing_key_file: signatures are checked against the key the digests name (consistency, not authorship)");
            }
            let r = verify::verify_dir(&dir, key)
                .with_context(|| format!("reading {}", dir.display()))?;
            for problem in &r.chain {
                println!("CHAIN     {problem}");
            }
            for (path, status) in &r.files {
                println!(
                    "{:<9} {path}",
                    status.label().to_uppercase().replace(' ', "_")
                );
            }
            if !r.ok() {
                bail!("{} does not verify", dir.display());
            }
            eprintln!(
                "custos: {} verifies: {} digest(s), {} file(s)",
                dir.display(),
                r.digests.len(),
                r.files.len()
            );
            Ok(())
        }
        Some(ArchiveCommand::Restore { dir, pubkey }) => {
            let key = public_key(&cfg, pubkey.as_deref())?;
            let store = store(&cfg).await?;
            let loaded = restore::restore(&store, &dir, key).await?;
            println!(
                "{}",
                serde_json::json!({ "restored": loaded.into_iter().collect::<std::collections::BTreeMap<_, _>>() })
            );
            Ok(())
        }
    }
}

/// `custos seal`.
pub async fn seal(cfg: Config) -> anyhow::Result<()> {
    let key = SigningKey::load(&cfg.archive.signing_key_file)?;
    let store = store(&cfg).await?;
    let out = seal::seal(&store, &key).await?;
    for (day, n) in &out.sealed {
        println!("sealed    {day} ({n} events)");
    }
    for r in &out.refused {
        println!("REFUSED   {r}");
    }
    if !out.refused.is_empty() {
        bail!("{} day(s) no longer match their seals", out.refused.len());
    }
    Ok(())
}

fn day(s: &str) -> anyhow::Result<u16> {
    let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .with_context(|| format!("`{s}` is not a day (YYYY-MM-DD)"))?;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
    u16::try_from((d - epoch).num_days()).with_context(|| format!("`{s}` is out of range"))
}

/// `custos verify`.
pub async fn verify(cfg: Config, args: VerifyArgs) -> anyhow::Result<()> {
    let from = args.since.as_deref().map(day).transpose()?.unwrap_or(0);
    let to = match args.until.as_deref() {
        Some(s) => day(s)? + 1,
        None => seal::today() + 1,
    };
    let key = public_key(&cfg, args.pubkey.as_deref())?;
    let store = store(&cfg).await?;
    let v = seal::verify(&store, key, from, to).await?;
    for problem in &v.chain {
        println!("CHAIN     {problem}");
    }
    for (d, status, detail) in &v.days {
        let label = match status {
            seal::DayStatus::Ok => "ok",
            seal::DayStatus::Open => "open",
            seal::DayStatus::Changed => "CHANGED",
            seal::DayStatus::Unsealed => "UNSEALED",
            seal::DayStatus::NoSeal => "NO_SEAL",
        };
        println!("{label:<9} {d}: {detail}");
    }
    if !v.ok() {
        bail!("stored history does not match its seals");
    }
    Ok(())
}

/// Seals closed days when a signing key is configured (`serve` daily, `replay` at its end).
pub async fn seal_if_configured(cfg: &Config, store: &Store) {
    if cfg.archive.signing_key_file.is_empty() {
        return;
    }
    let r = async {
        let key = SigningKey::load(&cfg.archive.signing_key_file)?;
        seal::seal(store, &key).await
    }
    .await;
    match r {
        Ok(out) => {
            for r in &out.refused {
                tracing::error!(problem = %r, "seal: a day no longer matches its seal");
            }
            tracing::info!(days = out.sealed.len(), "sealed closed days");
        }
        Err(e) => tracing::warn!(error = format!("{e:#}"), "sealing failed"),
    }
}

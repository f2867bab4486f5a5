//! `custos mappings …` and the `--format` of `replay`: choosing a mapping (a preset or a file),
//! linting mapping files, running their fixtures, and trying one on sample records.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};

use crate::decode::mapping::fixtures::{self, ContextSpec};
use crate::decode::mapping::{Mapping, PRESETS};
use crate::pipeline::{EventsFormat, Formats};

/// How an input's event records are written.
#[derive(Args, Debug, Clone, Default)]
pub struct FormatArgs {
    /// `custos` (the native contract, default), a preset (ocsf, salesforce-rtem, salesforce-elf, m365-crm, wukong) or a mapping file.
    #[arg(long, default_value = "custos")]
    pub format: String,
    /// The tenant of records that do not name one.
    #[arg(long)]
    pub tenant: Option<String>,
    /// The IANA timezone of times written without an offset (default UTC).
    #[arg(long)]
    pub timezone: Option<String>,
    /// The stream of bare payloads (e.g. `LoginEventStream` for salesforce-rtem).
    #[arg(long)]
    pub stream: Option<String>,
}

impl FormatArgs {
    /// The format of one Kafka events input.
    pub fn of_input(i: &crate::config::KafkaInput) -> Self {
        let set = |v: &str| (!v.is_empty()).then(|| v.to_owned());
        FormatArgs {
            format: i.format.clone(),
            tenant: set(&i.tenant),
            timezone: set(&i.timezone),
            stream: set(&i.stream),
        }
    }

    /// The formats of every Kafka events input, by topic.
    pub fn of_kafka(k: &crate::config::KafkaConfig, dir: &str) -> anyhow::Result<Formats> {
        let mut by_topic = Vec::new();
        for i in k.event_inputs() {
            let f = Self::of_input(&i)
                .build(dir)
                .with_context(|| format!("the format of Kafka topic `{}`", i.topic))?;
            by_topic.push((Arc::from(i.topic.as_str()), f));
        }
        Ok(Formats {
            default: None,
            by_topic,
        })
    }

    /// `None` for the native contract; names are looked up in the presets, then `dir`.
    pub fn build(&self, dir: &str) -> anyhow::Result<Option<EventsFormat>> {
        if self.format == "custos" {
            if self.tenant.is_some() || self.timezone.is_some() || self.stream.is_some() {
                bail!("--tenant, --timezone and --stream apply to a --format other than `custos`");
            }
            return Ok(None);
        }
        let mapping = load(&self.format, dir)?;
        let ctx = ContextSpec {
            tenant: self.tenant.clone(),
            timezone: self.timezone.clone(),
            stream: self.stream.clone(),
        }
        .build()
        .map_err(anyhow::Error::msg)?;
        Ok(Some((Arc::new(mapping), ctx)))
    }
}

/// A preset by name, a mapping file by path, or `<dir>/<name>.toml`.
pub fn load(format: &str, dir: &str) -> anyhow::Result<Mapping> {
    let in_dir = (!dir.is_empty()).then(|| Path::new(dir).join(format!("{format}.toml")));
    let file = [Some(PathBuf::from(format)), in_dir]
        .into_iter()
        .flatten()
        .find(|p| p.is_file());
    let compiled = match (Mapping::preset(format), file) {
        (Some(m), _) => m,
        (None, Some(f)) => {
            let text =
                std::fs::read_to_string(&f).with_context(|| format!("reading {}", f.display()))?;
            Mapping::parse(&text)
        }
        (None, None) => {
            let names: Vec<&str> = PRESETS.iter().map(|(n, _)| *n).collect();
            let also = match dir {
                "" => String::new(),
                d => format!(" (nor `{d}/{format}.toml`)"),
            };
            bail!(
                "unknown format `{format}`: not `custos`, a preset ({}) or a mapping file{also}",
                names.join(", ")
            )
        }
    };
    compiled.map_err(|errs| anyhow::anyhow!("{}", errs.join("\n")))
}

#[derive(Subcommand, Debug)]
pub enum MappingsCommand {
    /// Check mapping files (default: the presets and `[mappings] dir`), reporting every problem.
    Lint { files: Vec<PathBuf> },
    /// Run the fixtures under DIR/<name>/ of the presets and `[mappings] dir` (or of the files given).
    Test {
        #[arg(long, default_value = "mappings/tests")]
        dir: PathBuf,
        files: Vec<PathBuf>,
    },
    /// Map JSONL records from stdin and print the contract events (or the dead letter) as JSONL.
    Try(FormatArgs),
}

pub fn run(cmd: MappingsCommand, dir: &str) -> anyhow::Result<()> {
    match cmd {
        MappingsCommand::Lint { files } => {
            let mut failed = 0;
            for (name, result) in targets(&files, dir) {
                failed += report(&name, &result.err().unwrap_or_default());
            }
            if failed > 0 {
                bail!("{failed} mapping(s) failed lint");
            }
            Ok(())
        }
        MappingsCommand::Test {
            dir: fixtures_dir,
            files,
        } => {
            let mut failed = 0;
            for (name, result) in targets(&files, dir) {
                let m = result.map_err(|e| anyhow::anyhow!("{name}: {}", e.join("; ")))?;
                let fixture = fixtures_dir.join(&m.name);
                if !fixture.is_dir() {
                    println!("none    {name} (no {})", fixture.display());
                    continue;
                }
                let diffs = fixtures::check(&m, &fixture).map_err(anyhow::Error::msg)?;
                failed += report(&name, &diffs);
            }
            if failed > 0 {
                bail!("{failed} mapping(s) failed their fixtures");
            }
            Ok(())
        }
        MappingsCommand::Try(args) => {
            let Some((m, ctx)) = args.build(dir)? else {
                bail!("--format names the mapping to try");
            };
            let mut out = std::io::stdout().lock();
            for line in std::io::stdin().lock().lines() {
                let line = line.context("reading stdin")?;
                if line.trim().is_empty() {
                    continue;
                }
                writeln!(out, "{}", fixtures::outcome(&m, &line, &ctx))?;
            }
            Ok(())
        }
    }
}

/// Prints `ok` or each problem of one mapping; 1 when it failed.
fn report(name: &str, problems: &[String]) -> u32 {
    for p in problems {
        println!("FAILED  {name}: {p}");
    }
    if problems.is_empty() {
        println!("ok      {name}");
    }
    u32::from(!problems.is_empty())
}

/// The presets and the files of `[mappings] dir` (when no file is given) or the files, each compiled.
fn targets(files: &[PathBuf], dir: &str) -> Vec<(String, Result<Mapping, Vec<String>>)> {
    let mut out = Vec::new();
    let mut files = files.to_vec();
    if files.is_empty() {
        out.extend(
            PRESETS
                .iter()
                .map(|(n, text)| ((*n).to_owned(), Mapping::parse(text))),
        );
        if let Ok(entries) = std::fs::read_dir(dir) {
            files = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            files.sort();
        }
    }
    out.extend(files.iter().map(|f| {
        let r = std::fs::read_to_string(f)
            .map_err(|e| vec![e.to_string()])
            .and_then(|t| Mapping::parse(&t));
        (f.display().to_string(), r)
    }));
    out
}

//! `custos detectors lint|test` and `custos sweep`.

use std::path::Path;

use anyhow::Context;
use clap::Subcommand;

use crate::config::Config;
use crate::detect::fixtures::run_all;
use crate::detect::spec::{describe, load_dir};
use crate::detect::worktime::WorkTime;
use crate::detect::{Detect, Engine, KindParams};
use crate::model::{Alert, UserStatus};
use crate::store::alerts::AlertRow;
use crate::store::events::EventRow;
use crate::store::{migrate::migrate, Store};

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
        /// Print each fixture's actual alerts as JSON Lines (to write or review `expected.jsonl`).
        #[arg(long)]
        print: bool,
    },
}

pub fn run(cfg: Config, action: DetectorsCommand) -> anyhow::Result<()> {
    let (DetectorsCommand::Lint { dir: explicit } | DetectorsCommand::Test { dir: explicit, .. }) =
        &action;
    let dir = explicit
        .clone()
        .unwrap_or_else(|| cfg.detectors.dir.clone());
    if explicit.is_some() {
        // A folder named on the command line must be there: no silent fallback to the built-in files.
        anyhow::ensure!(Path::new(&dir).is_dir(), "--dir {dir}: no such folder");
    }
    let specs = load_dir(Path::new(&dir))?;
    anyhow::ensure!(!specs.is_empty(), "{dir}: no detector files (*.toml)");
    match action {
        DetectorsCommand::Lint { .. } => {
            for (id, what) in describe(&specs) {
                println!("ok  {id}: {what}");
            }
            println!("{} detector file(s) valid in {dir}", specs.len());
            Ok(())
        }
        DetectorsCommand::Test { print: true, .. } => {
            let worktime = WorkTime::from_config(&cfg.detectors);
            for spec in &specs {
                let fixture = Path::new(&dir).join("tests").join(&spec.id);
                if fixture.is_dir() {
                    for a in crate::detect::fixtures::run_one(&fixture, spec, &worktime)? {
                        println!("{}", crate::detect::fixtures::alert_json(&a));
                    }
                }
            }
            Ok(())
        }
        DetectorsCommand::Test { .. } => {
            let worktime = WorkTime::from_config(&cfg.detectors);
            let results = run_all(Path::new(&dir), &specs, &worktime)?;
            let mut failed = 0;
            for r in &results {
                if r.problems.is_empty() {
                    println!("PASS {} ({} alert(s))", r.detector, r.alerts);
                } else {
                    failed += 1;
                    println!("FAIL {}", r.detector);
                    for p in &r.problems {
                        println!("     {p}");
                    }
                }
            }
            println!("{} passed, {failed} failed", results.len() - failed);
            anyhow::ensure!(failed == 0, "{failed} detector fixture(s) failed");
            Ok(())
        }
    }
}

/// Terminated/suspended users with activity after `effective_ts`: the events are run through the
/// `orphaned_account` detector, so the alert has the same id as the streaming one (stored once).
pub async fn sweep(cfg: Config) -> anyhow::Result<()> {
    let store = Store::new(&cfg.clickhouse);
    migrate(&store, true)
        .await
        .context("preparing the ClickHouse schema")?;
    let found = sweep_once(&cfg, &store, None).await?;
    println!("{}", serde_json::json!({"alerts": found}));
    Ok(())
}

/// One sweep; returns the number of alerts (re)raised. Used by `custos sweep` and daily by `serve`.
pub async fn sweep_once(
    cfg: &Config,
    store: &Store,
    publisher: Option<&crate::act::AlertPublisher>,
) -> anyhow::Result<usize> {
    let mut engine = super::wiring::engine(cfg)?;
    let specs: Vec<_> = engine
        .detectors()
        .filter(|d| matches!(d.kind, KindParams::OrphanedAccount(_)))
        .cloned()
        .collect();
    if specs.is_empty() {
        return Ok(0);
    }
    engine = Engine::new(specs, WorkTime::from_config(&cfg.detectors));
    let mut directory = crate::directory::Directory::default();
    crate::detect::rehydrate::directory(store, &mut directory).await?;
    let mut alerts: Vec<Alert> = Vec::new();
    let departed: Vec<(String, u32)> = directory
        .users()
        .filter_map(|(u, versions)| {
            let v = versions
                .iter()
                .rev()
                .find(|v| v.status != UserStatus::Active)?;
            Some((
                u.clone(),
                v.effective_ts.map_or(0, |t| t.timestamp() as u32),
            ))
        })
        .collect();
    for (user, since) in departed {
        let since = Some(crate::time::at(since, 0));
        let rows = store
            .user_events(&user, since, None, crate::detect::MAX_EVIDENCE as u64)
            .await?;
        let events: Vec<_> = rows.into_iter().map(EventRow::into_event).collect();
        let mut out = Vec::new();
        for ev in &events {
            engine.on_event(ev, &directory, &mut out);
        }
        for a in out {
            match alerts.iter_mut().find(|x| x.alert_id == a.alert_id) {
                Some(x) => *x = a,
                None => alerts.push(a),
            }
        }
    }
    let now = crate::time::now_secs();
    let rows: Vec<AlertRow> = alerts.iter().map(|a| AlertRow::new(a, now)).collect();
    if !rows.is_empty() {
        store
            .insert_alerts(&rows)
            .await
            .context("storing sweep alerts")?;
        if let Some(p) = publisher {
            p.publish(&rows);
        }
    }
    for a in &alerts {
        tracing::warn!(user = %a.user_id, alert_id = %a.alert_id, summary = %a.summary, "sweep: activity on a departed account");
    }
    Ok(alerts.len())
}

//! `custos detectors lint|test|backtest` and `custos sweep`.

use std::path::Path;

use anyhow::Context;
use clap::Subcommand;

use crate::config::Config;
use crate::detect::fixtures::run_all;
use crate::detect::spec::describe;
use crate::detect::worktime::WorkTime;
use crate::detect::{load_dir, load_dir_noting};
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
    /// Run detector files over stored events (event-time order) and print the alerts they would raise;
    /// stores and sends nothing.
    Backtest {
        /// Event time at or after (RFC 3339).
        #[arg(long)]
        since: chrono::DateTime<chrono::Utc>,
        /// Event time before (RFC 3339).
        #[arg(long)]
        until: chrono::DateTime<chrono::Utc>,
        /// Only this detector (run even if it is disabled).
        #[arg(long)]
        detector: Option<String>,
        /// Folder of detector files (default: `[detectors] dir`).
        #[arg(long)]
        dir: Option<String>,
        /// `text` (per detector: alerts, subjects, first summaries) or `jsonl` (every alert).
        #[arg(long, default_value = "text")]
        format: BacktestFormat,
    },
}

crate::model::closed_set! {
    /// Output of `detectors backtest`.
    pub enum BacktestFormat { Text = "text", Jsonl = "jsonl" }
}

pub async fn run(cfg: Config, action: DetectorsCommand) -> anyhow::Result<()> {
    if let DetectorsCommand::Backtest {
        since,
        until,
        detector,
        dir,
        format,
    } = action
    {
        return backtest(cfg, since, until, detector, dir, format).await;
    }
    let (DetectorsCommand::Lint { dir: explicit }
    | DetectorsCommand::Test { dir: explicit, .. }
    | DetectorsCommand::Backtest { dir: explicit, .. }) = &action;
    let dir = explicit
        .clone()
        .unwrap_or_else(|| cfg.detectors.dir.clone());
    if explicit.is_some() {
        // A folder named on the command line must be there: no silent fallback to the built-in files.
        anyhow::ensure!(Path::new(&dir).is_dir(), "--dir {dir}: no such folder");
    }
    let (specs, notes) = load_dir_noting(Path::new(&dir))?;
    anyhow::ensure!(
        !specs.is_empty(),
        "{dir}: no detectors (*.toml, or Sigma rules in sigma/*.yml)"
    );
    match action {
        DetectorsCommand::Lint { .. } => {
            for (id, what) in describe(&specs) {
                println!("ok  {id}: {what}");
            }
            for n in &notes {
                println!("note {n}");
            }
            println!("{} detector(s) valid in {dir}", specs.len());
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
        DetectorsCommand::Backtest { .. } => unreachable!("handled above"),
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

/// The detector files a backtest runs: all enabled ones, or `--detector` alone (enabled or not).
fn backtest_specs(
    cfg: &Config,
    detector: Option<&str>,
    dir: Option<&str>,
) -> anyhow::Result<Vec<crate::detect::DetectorSpec>> {
    let dir = dir.unwrap_or(&cfg.detectors.dir);
    anyhow::ensure!(
        Path::new(dir).is_dir() || dir == cfg.detectors.dir,
        "--dir {dir}: no such folder"
    );
    let mut specs = load_dir(Path::new(dir))?;
    if let Some(id) = detector {
        specs.retain(|s| s.id == id);
        anyhow::ensure!(!specs.is_empty(), "no detector `{id}` in {dir}");
        specs[0].enabled = true;
    }
    Ok(specs)
}

/// `custos detectors backtest`: stored events of `[since, until)` through the detectors, with the
/// stored directory; nothing is stored or sent.
async fn backtest(
    cfg: Config,
    since: chrono::DateTime<chrono::Utc>,
    until: chrono::DateTime<chrono::Utc>,
    detector: Option<String>,
    dir: Option<String>,
    format: BacktestFormat,
) -> anyhow::Result<()> {
    anyhow::ensure!(since < until, "--since must be before --until");
    let specs = backtest_specs(&cfg, detector.as_deref(), dir.as_deref())?;
    let mut engine = Engine::new(specs, WorkTime::from_config(&cfg.detectors));
    let store = Store::new(&cfg.clickhouse);
    let mut directory = crate::directory::Directory::default();
    crate::detect::rehydrate::directory(&store, &mut directory)
        .await
        .context("loading the directory from ClickHouse")?;
    let mut cursor = store
        .events_between(since, until)
        .context("reading stored events")?;
    let mut alerts = crate::detect::LatestAlerts::default();
    let (mut out, mut events) = (Vec::new(), 0u64);
    loop {
        let more = match cursor.next().await.context("reading stored events")? {
            Some(row) => {
                events += 1;
                engine.on_event(&row.into_event(), &directory, &mut out);
                true
            }
            None => {
                // The end of the range: what waited (unknown accounts) is due.
                engine.release(&directory, true, &mut out);
                false
            }
        };
        alerts.absorb(&mut out);
        if !more {
            break;
        }
    }
    let alerts = alerts.into_vec();
    if format == BacktestFormat::Jsonl {
        for a in &alerts {
            println!("{}", crate::detect::fixtures::alert_json(a));
        }
        return Ok(());
    }
    println!("backtest over {events} stored event(s) from {since} to {until}");
    for spec in engine.detectors() {
        let mine: Vec<&Alert> = alerts.iter().filter(|a| a.detector == spec.id).collect();
        let subjects: std::collections::BTreeSet<&str> = mine
            .iter()
            .map(|a| {
                a.details
                    .get("subject")
                    .and_then(|s| s.as_str())
                    .unwrap_or(&a.user_id)
            })
            .collect();
        println!(
            "{}: {} alert(s), {} subject(s)",
            spec.id,
            mine.len(),
            subjects.len()
        );
        for a in mine.iter().take(5) {
            println!("  {} {}", crate::time::rfc3339(a.ts), a.summary);
        }
    }
    Ok(())
}

/// Terminated/suspended users with activity after `effective_ts`: the events are run through the
/// `orphaned_account` detector, so the alert has the same id as the streaming one (stored once).
pub async fn sweep(cfg: Config) -> anyhow::Result<()> {
    let store = Store::new(&cfg.clickhouse);
    migrate(&store, true)
        .await
        .context("preparing the ClickHouse schema")?;
    // Lock alerts the sweep finds are decided now, as in `serve`.
    let responder =
        crate::act::Responder::start(&cfg.response, &cfg.kafka, store.clone(), false, false)
            .await?;
    let found = sweep_once(&cfg, &store, None, Some(&responder)).await?;
    responder.drain(std::time::Duration::from_secs(30)).await;
    println!("{}", serde_json::json!({"alerts": found}));
    Ok(())
}

/// One sweep; returns the number of alerts stored (new, or grown since stored). Used by `custos
/// sweep` and daily by `serve`. An alert already stored as it is now is neither stored nor published
/// again; a lock alert goes to `responder` at once (it decides each alert once).
pub async fn sweep_once(
    cfg: &Config,
    store: &Store,
    publisher: Option<&crate::act::AlertPublisher>,
    responder: Option<&crate::act::Responder>,
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
    let mut alerts = crate::detect::LatestAlerts::default();
    let mut departed: Vec<(String, u32)> = directory
        .versions()
        .filter_map(|versions| {
            let v = versions
                .iter()
                .rev()
                .find(|v| v.status != UserStatus::Active)?;
            Some((
                v.user_id.clone(),
                v.effective_ts.map_or(0, |t| t.timestamp() as u32),
            ))
        })
        .collect();
    // A user departed in several tenants is read once, from the earliest departure.
    departed.sort();
    departed.dedup_by(|a, b| a.0 == b.0);
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
        alerts.absorb(&mut out);
    }
    let alerts = alerts.into_vec();
    let stored = store
        .alerts_by_ids(alerts.iter().map(|a| a.alert_id.clone()).collect())
        .await
        .context("reading stored alerts")?;
    let now = crate::time::now_secs();
    let mut rows: Vec<AlertRow> = Vec::new();
    for a in &alerts {
        let mut row = AlertRow::new(a, now);
        if let Some(old) = stored.get(&a.alert_id) {
            if old.response == row.response
                && row
                    .evidence_event_ids
                    .iter()
                    .all(|e| old.evidence_event_ids.contains(e))
            {
                continue; // stored as it is: not again, not republished
            }
            // Grown: a newer version than the stored one (storage keeps the highest).
            row.version = row.version.max(old.version + 1);
            row.created_at = old.created_at;
        }
        tracing::warn!(user = %a.user_id, alert_id = %a.alert_id, summary = %a.summary, "sweep: activity on a departed account");
        rows.push(row);
    }
    if !rows.is_empty() {
        store
            .insert_alerts(&rows)
            .await
            .context("storing sweep alerts")?;
        if let Some(p) = publisher {
            p.publish(&rows);
        }
        if let Some(r) = responder {
            for row in rows.iter().filter(|r| r.response == "lock") {
                r.submit(row.clone()).await;
            }
        }
    }
    Ok(rows.len())
}

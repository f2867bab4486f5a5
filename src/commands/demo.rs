//! `custos demo`: the generator feeds the pipeline in-process, paced at `[demo] rate`, into the
//! configured ClickHouse, until interrupted (or `--events N`).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{Duration as Days, Utc};

use crate::config::Config;
use crate::gen::{GenOptions, Generator};
use crate::model::{Envelope, Position, Stream};
use crate::shutdown;
use crate::source::{Input, NoAck};
use crate::stats::Stats;
use crate::store::{migrate::migrate, Store};

pub async fn run(mut cfg: Config, limit: Option<u64>, publish: bool) -> anyhow::Result<()> {
    if cfg.geoip.city_db.is_empty() {
        // No real database configured: write a small one covering the generator's networks.
        let path =
            std::env::temp_dir().join(format!("custos-demo-city-{}.mmdb", std::process::id()));
        crate::gen::geodb::write_demo_city_db(&path)?;
        eprintln!(
            "demo: no [geoip] city_db configured; using a generated demo database at {}",
            path.display()
        );
        cfg.geoip.city_db = vec![path.to_string_lossy().into_owned()];
    }
    let (trigger, _) = shutdown::channel();
    let mut stop = trigger.on_signals();
    let store = Store::new(&cfg.clickhouse);
    migrate(&store, true)
        .await
        .context("preparing the ClickHouse schema")?;
    let stats = Arc::new(Stats::default());
    let stages = super::wiring::stages(&cfg, &store, publish).await?;
    let responder = stages.act.responder.clone();
    let pipeline = crate::pipeline::start(
        &cfg.pipeline,
        store.clone(),
        store.retry_policy(true),
        Arc::new(NoAck),
        stats.clone(),
        stages,
    );
    // Simulated time starts a week ago at midnight UTC and runs faster than the wall clock.
    let today = Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc();
    let opts = GenOptions {
        seed: cfg.demo.seed,
        users: cfg.demo.users,
        start: today - Days::days(7),
        incidents: true,
    };
    let mut generator = Generator::new(opts);
    eprintln!(
        "demo: {} users, {} events/s into {} database `{}` (Ctrl-C to stop)",
        cfg.demo.users, cfg.demo.rate, cfg.clickhouse.url, cfg.clickhouse.database
    );
    let (api_trigger, api_stop) = shutdown::channel();
    let api = super::wiring::spawn_api(&cfg, &store, stats.clone(), responder, api_stop).await?;
    eprintln!(
        "demo: API on {}://{} (create a token with `custos token new`)",
        super::wiring::api_scheme(&cfg),
        cfg.api.listen
    );
    let tx = pipeline.input;
    let mut seq = 0u64;
    let directory: Vec<Envelope> = generator
        .directory()
        .into_iter()
        .map(|r| {
            seq += 1;
            Envelope {
                stream: Stream::Directory,
                pos: Position::Generator { seq },
                raw: r.to_string().into_bytes(),
            }
        })
        .collect();
    tx.send(Input::Records(directory)).await.ok();

    let per_tick = (cfg.demo.rate / 10).max(1);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut sent = 0u64;
    let mut last_report = tokio::time::Instant::now();
    while limit.is_none_or(|l| sent < l) {
        tokio::select! {
            _ = stop.recv() => break,
            _ = tick.tick() => {}
        }
        let n = limit.map_or(per_tick, |l| per_tick.min(l - sent));
        let chunk: Vec<Envelope> = (0..n)
            .map(|_| {
                seq += 1;
                let mut raw = generator.next().expect("endless").into_bytes();
                if seq.is_multiple_of(401) {
                    raw = corrupt(raw, seq); // real feeds carry some garbage: show it dead-lettered
                }
                Envelope {
                    stream: Stream::Events,
                    pos: Position::Generator { seq },
                    raw,
                }
            })
            .collect();
        sent += n;
        if tx.send(Input::Records(chunk)).await.is_err() {
            break;
        }
        if last_report.elapsed() >= Duration::from_secs(5) {
            last_report = tokio::time::Instant::now();
            let s = stats.summary();
            eprintln!(
                "demo: generated {sent}, stored {} events, rejected {}",
                s.stored, s.rejected
            );
        }
    }
    drop(tx);
    pipeline
        .done
        .await
        .context("pipeline task")?
        .context("storing into ClickHouse")?;
    api_trigger.fire();
    let _ = tokio::time::timeout(Duration::from_secs(2), api).await;
    let s = stats.summary();
    eprintln!(
        "demo: stored {} events ({} rejected). Look: SELECT action, count() FROM {}.events GROUP BY action",
        s.stored, s.rejected, cfg.clickhouse.database
    );
    println!("{}", serde_json::to_string(&s)?);
    Ok(())
}

/// A malformed variant of a generated record, in one of a few realistic ways.
fn corrupt(mut raw: Vec<u8>, seq: u64) -> Vec<u8> {
    match seq % 3 {
        0 => {
            raw.truncate(raw.len() / 2);
            raw
        }
        1 => String::from_utf8_lossy(&raw)
            .replacen("\"ts\":\"", "\"ts\":\"yesterday ", 1)
            .into_bytes(),
        _ => String::from_utf8_lossy(&raw)
            .replacen("\"user_id\":\"", "\"user_id\":0,\"x\":\"", 1)
            .into_bytes(),
    }
}

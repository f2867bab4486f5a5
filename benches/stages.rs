//! In-process stage throughput on one core, detector state memory, and how cost grows with users.
//! Prints figures; asserts nothing. `cargo bench --bench stages` (or deploy/bench/run.sh).

use std::time::Instant;

use custos::config::{DetectorsConfig, GeoIpConfig};
use custos::decode::{decode_directory, decode_event};
use custos::detect::load_dir;
use custos::detect::worktime::WorkTime;
use custos::detect::{Detect, Engine};
use custos::directory::Directory;
use custos::enrich::Enricher;
use custos::gen::{GenOptions, Generator};
use custos::model::{Event, Position};
use custos::store::event_rows::EventRows;

#[path = "stages/formats.rs"]
mod formats;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn line(stage: &str, n: usize, secs: f64) {
    println!(
        "| {stage:<42} | {:>12.0} | {:>9.0} |",
        n as f64 / secs,
        secs * 1e9 / n as f64
    );
}

fn engine() -> Engine {
    let specs = load_dir(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/detectors"
    )))
    .unwrap();
    Engine::new(specs, WorkTime::from_config(&DetectorsConfig::default()))
}

fn main() {
    custos::cli::no_transparent_huge_pages(); // as the binary does
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    // BENCH_ONLY=memory: the memory section alone; BENCH_ONLY=throughput: the stage throughput alone;
    // BENCH_ONLY=mapping: native decoding against each preset mapping alone (mapping-profile: one
    // mapping alone, ten times, for perf).
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    // BENCH_PROFILE=1: only the combined hot path over 20,000 events (for callgrind/perf).
    if std::env::var("BENCH_PROFILE").is_ok() {
        return profile_run();
    }
    // Memory first, on a fresh heap (later sections free hundreds of MB the allocator would reuse).
    println!("## Detector state memory (per user: an export, a delete, a failed and a successful login from a public, geolocated IP — every shipped windowed or history-keeping detector holds state for every user)\n");
    println!(
        "| {:>10} | {:>14} | {:>16} |",
        "users", "RSS growth MiB", "bytes per user"
    );
    println!("|{}|{}|{}|", "-".repeat(12), "-".repeat(16), "-".repeat(18));
    for users in [100_000usize, 1_000_000]
        .into_iter()
        .filter(|_| only.is_empty() || only == "memory")
    {
        let before = rss_kib();
        let mut eng = engine();
        let empty = Directory::default();
        let mut e = decode_event(br#"{"event_id":"m","ts":"2026-01-05T10:00:00Z","user_id":"x","action":"export","record_count":10,"ip":"81.2.69.10"}"#, 1 << 20).unwrap();
        let g = e.geo.make_mut();
        g.country_iso = "GB".into();
        g.coords = Some(custos::model::Coords {
            lat: 51.5,
            lon: -0.1,
        });
        g.network_class = Some(custos::model::NetClass::Public);
        let mut out = Vec::new();
        let start = e.ts;
        for u in 0..users {
            e.user_id = format!("user{u:07}").into();
            e.ts = start + chrono::Duration::milliseconds(u as i64); // a realistic spread, in order
            for (k, (action, outcome)) in [
                ("export", "success"),
                ("delete", "success"),
                ("login", "failure"),
                ("login", "success"),
            ]
            .into_iter()
            .enumerate()
            {
                e.event_id = format!("mem-{u}-{k}").into();
                e.action = action.into();
                e.outcome = outcome.parse().unwrap();
                out.clear();
                eng.on_event(&e, &empty, &mut out);
            }
        }
        let grew = rss_kib().saturating_sub(before);
        println!(
            "| {users:>10} | {:>14.1} | {:>16.0} |",
            grew as f64 / 1024.0,
            grew as f64 * 1024.0 / users as f64
        );
        std::hint::black_box(&eng);
    }

    println!();
    if only == "memory" {
        return;
    }
    if only == "growth" {
        return growth();
    }
    let n: usize = std::env::var("BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500_000);
    let gen = Generator::new(GenOptions {
        users: 2_000,
        ..GenOptions::default()
    });
    let directory_lines: Vec<String> = gen.directory().iter().map(|v| v.to_string()).collect();
    let raws: Vec<Vec<u8>> = gen.take(n).map(String::into_bytes).collect();
    let mut directory = Directory::default();
    for l in &directory_lines {
        directory.apply(decode_directory(l.as_bytes(), 1 << 20).unwrap());
    }
    println!("## Stage throughput (one core, {n} generated events, 2,000 users)\n");
    println!(
        "| {:<42} | {:>12} | {:>9} |",
        "stage", "events/s", "ns/event"
    );
    println!("|{}|{}|{}|", "-".repeat(44), "-".repeat(14), "-".repeat(11));

    let t = Instant::now();
    let events: Vec<Event> = raws
        .iter()
        .map(|r| decode_event(r, 1 << 20).unwrap())
        .collect();
    line("decode + validate", n, t.elapsed().as_secs_f64());

    // The same events in each preset's vendor format, read by the preset's mapping.
    let ctx = custos::decode::mapping::InputContext::default();
    let presets: Vec<(&str, custos::decode::mapping::Mapping, Vec<Vec<u8>>)> = formats::PRESETS
        .iter()
        .map(|(name, write)| {
            let m = custos::decode::mapping::Mapping::preset(name)
                .unwrap()
                .unwrap();
            (*name, m, events.iter().map(write).collect())
        })
        .collect();
    if only == "mapping-profile" {
        // One mapping alone (BENCH_MAPPING, default `ocsf`), ten times over (for perf).
        let name = std::env::var("BENCH_MAPPING").unwrap_or_else(|_| "ocsf".into());
        let (_, mapping, records) = presets.iter().find(|p| p.0 == name).expect("a preset");
        let mapped: usize = (0..10)
            .map(|_| {
                records
                    .iter()
                    .filter(|r| mapping.decode(r, 1 << 20, &ctx).is_ok())
                    .count()
            })
            .sum();
        return println!("{mapped} mapped");
    }
    // All decoded and dropped, so none pays for a growing vector of events. With
    // BENCH_ONLY=mapping, five rounds taken in turn (native, then each preset: the machine's noise
    // hits them alike) and their medians, and the median of each round's difference.
    let rounds = if only == "mapping" { 5 } else { 1 };
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (mut native_ns, mut native) = (vec![], 0);
    let mut mapped_ns = vec![vec![]; presets.len()];
    let mut mapped = vec![0; presets.len()];
    for _ in 0..rounds {
        let t = Instant::now();
        native = raws
            .iter()
            .filter(|r| decode_event(r, 1 << 20).is_ok())
            .count();
        native_ns.push(t.elapsed().as_secs_f64() * 1e9 / n as f64);
        for (i, (_, mapping, records)) in presets.iter().enumerate() {
            let t = Instant::now();
            mapped[i] = records
                .iter()
                .filter(|r| mapping.decode(r, 1 << 20, &ctx).is_ok())
                .count();
            mapped_ns[i].push(t.elapsed().as_secs_f64() * 1e9 / n as f64);
        }
    }
    let secs = |ns: f64| ns * n as f64 / 1e9;
    line(
        &format!("decode + validate, dropped ({native})"),
        n,
        secs(median(&native_ns)),
    );
    for (i, (name, _, _)) in presets.iter().enumerate() {
        line(
            &format!("decode via mapping `{name}` ({} mapped)", mapped[i]),
            n,
            secs(median(&mapped_ns[i])),
        );
    }
    if rounds > 1 {
        println!();
        for (i, (name, _, _)) in presets.iter().enumerate() {
            let diffs: Vec<f64> = mapped_ns[i]
                .iter()
                .zip(&native_ns)
                .map(|(m, n)| m - n)
                .collect();
            let each: Vec<String> = diffs.iter().map(|d| format!("{d:.0}")).collect();
            println!(
                "- `{name}` costs over native decoding: median {:.0} ns per event (rounds: {}).",
                median(&diffs),
                each.join(", ")
            );
        }
    }
    if only == "mapping" {
        return;
    }

    // `[privacy]` as shipped (on, mask): every attribute value and user agent scanned.
    let redactor = custos::privacy::Redactor::build(&Default::default())
        .unwrap()
        .unwrap();
    let mut private = events.clone();
    let t = Instant::now();
    for e in &mut private {
        redactor.event(e);
    }
    line("de-identify ([privacy] on)", n, t.elapsed().as_secs_f64());
    std::hint::black_box(&private);
    // The same with three attributes, two identifiers among them (generated events carry none).
    let mut private: Vec<Event> = events
        .iter()
        .map(|e| {
            let mut e = e.clone();
            e.attributes = vec![
                ("customer".into(), "Li Lei, key account since 2019".into()),
                ("email".into(), "li.lei@example.com".into()),
                (
                    "note".into(),
                    "call 138-1234-5678 about order 4411 before Friday".into(),
                ),
            ];
            e
        })
        .collect();
    let t = Instant::now();
    for e in &mut private {
        redactor.event(e);
    }
    line(
        "de-identify, 3 attributes, 2 identifiers",
        n,
        t.elapsed().as_secs_f64(),
    );
    std::hint::black_box(&private);

    let db = std::env::temp_dir().join("custos-bench-stages.mmdb");
    custos::gen::geodb::write_demo_city_db(&db).unwrap();
    let mut enriched = events.clone();
    for (label, cache) in [
        ("enrich (geo-IP, no cache)", 0),
        ("enrich (geo-IP, cache 100k)", 100_000),
    ] {
        let mut g = enricher(&db, cache);
        enriched = events.clone();
        let t = Instant::now();
        for e in &mut enriched {
            g.enrich(e);
        }
        line(label, n, t.elapsed().as_secs_f64());
    }

    let mut eng = engine();
    let mut out = Vec::new();
    let t = Instant::now();
    let mut alerts = 0;
    for e in &enriched {
        out.clear();
        eng.on_event(e, &directory, &mut out);
        alerts += out.len();
    }
    line(
        &format!("detect ({} detectors)", eng.detectors().count()),
        n,
        t.elapsed().as_secs_f64(),
    );

    // Sigma's cost: the twin of failed_login_burst against the native detector alone, and 20 Sigma
    // detections of the shapes rules are written in.
    let sigma_dir = sigma_bench_dir();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/detectors");
    let twin = concat!(env!("CARGO_MANIFEST_DIR"), "/detectors/examples/sigma-twin");
    for (label, dir, only) in [
        (
            "detect: native failed_login_burst",
            root,
            Some("failed_login_burst"),
        ),
        ("detect: its Sigma twin (correlation)", twin, None),
        (
            "detect: 20 Sigma detection rules",
            sigma_dir.path().to_str().unwrap(),
            None,
        ),
    ] {
        let specs: Vec<_> = load_dir(std::path::Path::new(dir))
            .unwrap()
            .into_iter()
            .filter(|s| only.is_none_or(|id| s.id == id))
            .collect();
        let mut e = Engine::new(specs, WorkTime::from_config(&DetectorsConfig::default()));
        let t = Instant::now();
        for ev in &enriched {
            out.clear();
            e.on_event(ev, &directory, &mut out);
        }
        line(label, n, t.elapsed().as_secs_f64());
    }

    let pos = Position::Generator { seq: 0 };
    let t = Instant::now();
    let mut rows = EventRows::with_capacity(BATCH);
    for e in &enriched {
        encode(&mut rows, e, &pos);
    }
    line("row encode (RowBinary)", n, t.elapsed().as_secs_f64());

    // The hot path end to end: the best of three runs (a shared 2-core machine swings by ±5 %).
    let geo = || enricher(&db, 100_000);
    let mut runs = Vec::new();
    for _ in 0..3 {
        let mut g2 = geo();
        let mut eng2 = engine();
        let mut rows = EventRows::with_capacity(BATCH);
        let t = Instant::now();
        for r in &raws {
            let mut e = decode_event(r, 1 << 20).unwrap();
            g2.enrich(&mut e);
            out.clear();
            eng2.on_event(&e, &directory, &mut out);
            encode(&mut rows, &e, &pos);
        }
        runs.push(t.elapsed().as_secs_f64());
    }
    line("decode+enrich+detect+row (all, 1st)", n, runs[0]);
    line(
        "decode+enrich+detect+row (all, best of 3)",
        n,
        runs.iter().copied().fold(f64::MAX, f64::min),
    );
    println!("\n({alerts} alerts raised; {} rows built)\n", rows.len());
    drop(rows);

    if only == "throughput" {
        return;
    }
    growth();
}

/// Cost growth with users: the same number of generated events over a directory of 2,000 … 1,000,000
/// users (with a million, nearly every event is a different user's, so every detector holds state
/// for ~200,000 of them). `BENCH_ONLY=growth` runs this section alone.
fn growth() {
    let events = 200_000usize;
    println!("\n## Cost growth with users (decode+enrich+detect+row, {events} events)\n");
    println!(
        "| {:>8} | {:>12} | {:>14} |",
        "users", "events/s", "RSS MiB after"
    );
    println!("|{}|{}|{}|", "-".repeat(10), "-".repeat(14), "-".repeat(16));
    let pos = Position::Generator { seq: 0 };
    let mut out = Vec::new();
    let db = std::env::temp_dir().join("custos-bench-growth.mmdb");
    custos::gen::geodb::write_demo_city_db(&db).unwrap();
    let geo = || enricher(&db, 100_000);
    for users in [2_000usize, 8_000, 32_000, 1_000_000] {
        let gen = Generator::new(GenOptions {
            users,
            ..GenOptions::default()
        });
        let mut dir = Directory::default();
        for v in gen.directory_records() {
            dir.apply(decode_directory(v.to_string().as_bytes(), 1 << 20).unwrap());
        }
        let raws: Vec<Vec<u8>> = gen.take(events).map(String::into_bytes).collect();
        let mut eng = engine();
        let mut g2 = geo();
        let mut rows = EventRows::with_capacity(BATCH);
        let t = Instant::now();
        for r in &raws {
            let mut e = decode_event(r, 1 << 20).unwrap();
            g2.enrich(&mut e);
            out.clear();
            eng.on_event(&e, &dir, &mut out);
            encode(&mut rows, &e, &pos);
        }
        let secs = t.elapsed().as_secs_f64();
        println!(
            "| {users:>8} | {:>12.0} | {:>14.1} |",
            events as f64 / secs,
            rss_kib() as f64 / 1024.0
        );
    }
}

/// The combined hot path alone, small enough to run under `valgrind --tool=callgrind`.
/// A detectors folder of 20 Sigma detection rules: exact values, lists, CIDRs, numbers, substrings,
/// attributes and the directory.
fn sigma_bench_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("sigma")).unwrap();
    let bodies = [
        "action: export\n    record_count|gte: 5000",
        "action: [delete, permission_change]\n    directory.role: intern",
        "ip|cidr: [198.51.100.0/24, 203.0.113.0/24]",
        "user_agent|contains: [curl, python-requests, sqlmap]",
        "country_iso: [KP, IR, SY]\n    action: login",
        "attributes.report|startswith: tmp_",
        "action: api_call\n    record_count|gt: 10000",
        "network_class: hosting\n    action: export",
        "object_type: contact\n    action: delete\n    record_count|gte: 50",
        "user_id|endswith: _admin\n    outcome: failure",
    ];
    let mut yaml = String::new();
    for i in 0..20 {
        yaml.push_str(&format!(
            "title: Bench {i}\nname: bench_{i}\nlogsource:\n  product: crm\ndetection:\n  s:\n    {}\n  condition: s\nlevel: low\n---\n",
            bodies[i % bodies.len()]
        ));
    }
    std::fs::write(
        d.path().join("sigma/bench.yml"),
        yaml.trim_end_matches("---\n"),
    )
    .unwrap();
    d
}

/// The geo-IP stage over the demo City DB at `db`, with an LRU of `cache` addresses.
fn enricher(db: &std::path::Path, cache: usize) -> custos::enrich::GeoEnricher {
    custos::enrich::build(&GeoIpConfig {
        city_db: vec![db.to_string_lossy().into_owned()],
        asn_db: vec![],
        cache_entries: cache,
        reload_interval_ms: 0,
    })
    .unwrap()
    .0
}

fn profile_run() {
    let gen = Generator::new(GenOptions {
        users: 2_000,
        ..GenOptions::default()
    });
    let mut directory = Directory::default();
    for v in gen.directory() {
        directory.apply(decode_directory(v.to_string().as_bytes(), 1 << 20).unwrap());
    }
    let raws: Vec<Vec<u8>> = gen.take(200_000).map(String::into_bytes).collect();
    let db = std::env::temp_dir().join("custos-bench-profile.mmdb");
    custos::gen::geodb::write_demo_city_db(&db).unwrap();
    let mut g = enricher(&db, 100_000);
    // BENCH_PROFILE=sigma: the 20 Sigma detection rules alone.
    let sigma = std::env::var("BENCH_PROFILE").as_deref() == Ok("sigma");
    let sigma_dir = sigma_bench_dir();
    let mut eng = if sigma {
        Engine::new(
            load_dir(sigma_dir.path()).unwrap(),
            WorkTime::from_config(&DetectorsConfig::default()),
        )
    } else {
        engine()
    };
    let pos = Position::Generator { seq: 0 };
    let mut out = Vec::new();
    if sigma {
        let events: Vec<Event> = raws
            .iter()
            .map(|r| {
                let mut e = decode_event(r, 1 << 20).unwrap();
                g.enrich(&mut e);
                e
            })
            .collect();
        for _ in 0..10 {
            for e in &events {
                out.clear();
                eng.on_event(e, &directory, &mut out);
            }
        }
        return;
    }
    let mut rows = EventRows::with_capacity(BATCH);
    for r in &raws {
        let mut e = decode_event(r, 1 << 20).unwrap();
        g.enrich(&mut e);
        out.clear();
        eng.on_event(&e, &directory, &mut out);
        encode(&mut rows, &e, &pos);
    }
}

/// Rows a batch holds before the writer takes it (`[pipeline] batch_rows`' default).
const BATCH: usize = 50_000;

/// Encodes `e` as the processor does, starting a new batch every [`BATCH`] rows.
fn encode(rows: &mut EventRows, e: &Event, pos: &Position) {
    if rows.len() == BATCH {
        rows.clear();
    }
    rows.push(e, pos, 0);
}

/// The binary's allocator (src/main.rs), so the figures are the service's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

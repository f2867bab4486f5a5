//! Micro-benchmark of the enrich stage: geo-IP lookups per second with and without the LRU cache, on
//! a realistic spread of addresses (80 % from a pool of active users' IPs, 20 % a long tail of random
//! public IPv4). Uses the real City DB when GEOIP_BENCH_DB is set (comma-separated files, e.g. the
//! output of deploy/fetch-geoip.sh), else the demo database. Prints figures; asserts nothing.
//!
//!   cargo bench --bench enrich

use std::net::IpAddr;
use std::time::Instant;

use custos::config::GeoIpConfig;
use custos::enrich::build;
use rand::{Rng, SeedableRng};

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let (files, label) = match std::env::var("GEOIP_BENCH_DB") {
        Ok(f) => (
            f.split(',').map(str::to_owned).collect::<Vec<_>>(),
            "real City DB",
        ),
        Err(_) => {
            let p = std::env::temp_dir().join("custos-bench-city.mmdb");
            custos::gen::geodb::write_demo_city_db(&p).unwrap();
            (vec![p.to_string_lossy().into_owned()], "demo City DB")
        }
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let regions = custos::gen::REGIONS;
    let pool: Vec<IpAddr> = (0..5_000)
        .map(|_| {
            let r = &regions[rng.gen_range(0..regions.len())];
            let base = u32::from_be_bytes(r.net);
            IpAddr::from((base | rng.gen_range(1..(1u32 << (32 - r.prefix)) - 1)).to_be_bytes())
        })
        .collect();
    let n = 1_000_000;
    let ips: Vec<IpAddr> = (0..n)
        .map(|_| {
            if rng.gen_bool(0.8) {
                pool[rng.gen_range(0..pool.len())]
            } else {
                IpAddr::from(rng.gen_range(0x0100_0000u32..0xdf00_0000).to_be_bytes())
            }
        })
        .collect();
    println!("enrich micro-benchmark: {n} lookups, {label} ({} file(s)), 5000-address active pool + 20% long tail", files.len());
    println!("{:<22} {:>14} {:>10}", "mode", "lookups/s", "ns/lookup");
    for (mode, cache) in [("no cache", 0usize), ("cache 100k entries", 100_000)] {
        let cfg = GeoIpConfig {
            city_db: files.clone(),
            asn_db: vec![],
            cache_entries: cache,
            reload_interval_ms: 0,
        };
        let (mut g, _) = build(&cfg).unwrap();
        for ip in &ips[..10_000] {
            std::hint::black_box(g.lookup(*ip)); // warm-up
        }
        let mut found = 0usize;
        let t = Instant::now();
        for ip in &ips {
            found += !g.lookup(*ip).country_iso.is_empty() as usize;
        }
        let secs = t.elapsed().as_secs_f64();
        println!(
            "{mode:<22} {:>14.0} {:>10.0}   (resolved {found})",
            n as f64 / secs,
            secs * 1e9 / n as f64
        );
    }
}

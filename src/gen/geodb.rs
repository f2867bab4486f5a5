//! A small City database (MaxMind's nested layout) covering the generator's networks, for `custos demo`
//! when no real database is configured. Written with the `mmdb-writer` crate.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use mmdb_writer::ipnet::{IpNet, Ipv4Net};
use serde::Serialize;

use super::{Region, FOREIGN, REGIONS};

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

#[derive(Serialize)]
struct City {
    country: Names,
    subdivisions: Vec<Names>,
    city: Names,
    location: Location,
}

fn record(r: &Region) -> City {
    let en = |s| BTreeMap::from([("en", s)]);
    City {
        country: Names {
            names: en(r.country),
            iso_code: Some(r.country_iso),
        },
        subdivisions: vec![Names {
            names: en(r.subdivision),
            iso_code: None,
        }],
        city: Names {
            names: en(r.city),
            iso_code: None,
        },
        location: Location {
            latitude: r.lat_lon.0,
            longitude: r.lat_lon.1,
            time_zone: r.time_zone,
        },
    }
}

/// Writes the demo City DB to `path` (replacing it atomically).
pub fn write_demo_city_db(path: &Path) -> anyhow::Result<()> {
    let mut w = mmdb_writer::Writer::new("custos-demo-City");
    for r in REGIONS.iter().chain(std::iter::once(&FOREIGN)) {
        let net = Ipv4Net::new(r.net.into(), r.prefix).context("region network")?;
        w.insert(IpNet::V4(net), &record(r))
            .context("adding a demo network")?;
    }
    let tmp = path.with_extension("mmdb.tmp");
    std::fs::write(&tmp, w.to_bytes().context("encoding the demo City DB")?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

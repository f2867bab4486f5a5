//! MaxMind-format databases (City and ASN), read in both record layouts: MaxMind GeoIP2/GeoLite2
//! (nested `country.names.en`, `location.time_zone`, …) and the flat ip-location-db layout
//! (`country_code`, `state1`, `city`, `latitude`, `timezone`). Several files per kind are tried in
//! order, e.g. separate IPv4 and IPv6 files.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::{countries, netclass};
use crate::model::Geo;

/// Why a database file could not be put in service.
#[derive(Debug, thiserror::Error)]
pub enum GeoDbError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a valid MaxMind DB: {source}")]
    Invalid {
        path: PathBuf,
        source: maxminddb::MaxMindDbError,
    },
}

/// Identity of a file version on disk; a change means "reload".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    pub len: u64,
    pub modified: Option<SystemTime>,
    pub inode: u64,
}

impl FileStamp {
    pub fn of(path: &Path) -> std::io::Result<Self> {
        let m = std::fs::metadata(path)?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&m);
        #[cfg(not(unix))]
        let inode = 0;
        Ok(FileStamp {
            len: m.len(),
            modified: m.modified().ok(),
            inode,
        })
    }
}

/// One loaded database file.
pub struct GeoDb {
    pub path: PathBuf,
    pub stamp: FileStamp,
    reader: maxminddb::Reader<Vec<u8>>,
}

impl GeoDb {
    /// Reads a file and probes it (a corrupt replacement must never go into service).
    pub fn open(path: &Path) -> Result<Self, GeoDbError> {
        let io = |source| GeoDbError::Io {
            path: path.to_owned(),
            source,
        };
        let stamp = FileStamp::of(path).map_err(io)?;
        let bytes = std::fs::read(path).map_err(io)?;
        let invalid = |source| GeoDbError::Invalid {
            path: path.to_owned(),
            source,
        };
        let reader = maxminddb::Reader::from_source(bytes).map_err(invalid)?;
        probe(&reader).map_err(invalid)?;
        Ok(GeoDb {
            path: path.to_owned(),
            stamp,
            reader,
        })
    }

    pub fn database_type(&self) -> &str {
        &self.reader.metadata().database_type
    }

    fn decode<'a, T: Deserialize<'a>>(&'a self, ip: IpAddr) -> Option<T> {
        // An IPv6 address in an IPv4-only file is an error here: just not this file's business.
        self.reader.lookup(ip).ok()?.decode::<T>().ok().flatten()
    }
}

/// Walks the search tree and decodes the records for a spread of addresses (one per /8 and a few
/// IPv6 prefixes): a truncated or scrambled file fails here. (`Reader::verify` is stricter than real
/// files allow: the ip-location-db files have an empty `description`, which it refuses.)
fn probe(reader: &maxminddb::Reader<Vec<u8>>) -> Result<(), maxminddb::MaxMindDbError> {
    let v6 = reader.metadata().ip_version == 6;
    let v4s = (1u8..=223).map(|a| IpAddr::from([a, a.wrapping_mul(7), a.wrapping_mul(13), 1]));
    let v6s = [0x2001u16, 0x2400, 0x2600, 0x2a00, 0x2c0f]
        .into_iter()
        .map(|p| IpAddr::from([p, 0x1234, 0, 0, 0, 0, 0, 1]));
    for ip in v4s.chain(v6s.filter(|_| v6)) {
        reader.lookup(ip)?.decode::<de::IgnoredAny>()?;
    }
    Ok(())
}

/// The databases in service at one moment; replaced as a whole on reload, so one event's geo always
/// comes from one consistent set.
#[derive(Default)]
pub struct GeoSet {
    pub city: Vec<GeoDb>,
    pub asn: Vec<GeoDb>,
    /// Bumped on every reload (caches key on it).
    pub generation: u64,
}

impl GeoSet {
    pub fn is_empty(&self) -> bool {
        self.city.is_empty() && self.asn.is_empty()
    }

    /// Geo facts for an address. Non-public addresses get only their `network_class`.
    pub fn lookup(&self, ip: IpAddr) -> Geo {
        let ip = netclass::canonical(ip);
        let class = netclass::classify(ip);
        let mut g = Geo {
            network_class: Some(class),
            ..Geo::default()
        };
        if class != crate::model::NetClass::Public {
            return g;
        }
        if let Some(rec) = self.city.iter().find_map(|db| db.decode::<CityRecord>(ip)) {
            rec.fill(&mut g);
        }
        if let Some(rec) = self.asn.iter().find_map(|db| db.decode::<AsnRecord>(ip)) {
            g.asn = rec.autonomous_system_number.unwrap_or(0);
            g.as_org = rec
                .autonomous_system_organization
                .unwrap_or_default()
                .into();
        }
        g
    }
}

#[derive(Deserialize, Default)]
struct Names<'a> {
    #[serde(borrow)]
    en: Option<&'a str>,
}

#[derive(Deserialize, Default)]
struct Place<'a> {
    #[serde(borrow)]
    iso_code: Option<&'a str>,
    #[serde(borrow, default)]
    names: Names<'a>,
}

#[derive(Deserialize, Default)]
struct Location<'a> {
    latitude: Option<Coord>,
    longitude: Option<Coord>,
    #[serde(borrow)]
    time_zone: Option<&'a str>,
}

/// Both layouts in one record: nested fields (MaxMind) and flat fields (ip-location-db).
#[derive(Deserialize, Default)]
struct CityRecord<'a> {
    #[serde(borrow)]
    country: Option<Place<'a>>,
    #[serde(borrow)]
    subdivisions: Option<Vec<Place<'a>>>,
    #[serde(borrow)]
    city: Option<CityName<'a>>,
    #[serde(borrow)]
    location: Option<Location<'a>>,
    #[serde(borrow)]
    country_code: Option<&'a str>,
    #[serde(borrow)]
    state1: Option<&'a str>,
    latitude: Option<Coord>,
    longitude: Option<Coord>,
    #[serde(borrow)]
    timezone: Option<&'a str>,
}

impl CityRecord<'_> {
    fn fill(self, g: &mut Geo) {
        let own = |s: Option<&str>| std::sync::Arc::<str>::from(s.unwrap_or_default());
        let country = self.country.unwrap_or_default();
        g.country_iso = own(country.iso_code.or(self.country_code));
        g.country = own(country.names.en.or_else(|| countries::name(&g.country_iso)));
        let sub = self
            .subdivisions
            .and_then(|s| s.into_iter().next())
            .unwrap_or_default();
        g.subdivision = own(sub.names.en.or(sub.iso_code).or(self.state1));
        g.city = own(self.city.and_then(|c| c.0));
        let loc = self.location.unwrap_or_default();
        let (lat, lon) = (
            loc.latitude.or(self.latitude),
            loc.longitude.or(self.longitude),
        );
        g.coords = lat.zip(lon).map(|(lat, lon)| crate::model::Coords {
            lat: lat.0,
            lon: lon.0,
        });
        g.timezone = own(loc.time_zone.or(self.timezone));
    }
}

#[derive(Deserialize)]
struct AsnRecord<'a> {
    autonomous_system_number: Option<u32>,
    #[serde(borrow)]
    autonomous_system_organization: Option<&'a str>,
}

/// A coordinate stored as `double` (MaxMind) or `float` (ip-location-db); the reader is strict about
/// the difference. Rounded to 4 decimals (~11 m) so both give clean values.
#[derive(Clone, Copy)]
struct Coord(f64);

impl<'de> Deserialize<'de> for Coord {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Coord;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Coord, E> {
                Ok(Coord((v * 10_000.0).round() / 10_000.0))
            }
            fn visit_f32<E: de::Error>(self, v: f32) -> Result<Coord, E> {
                self.visit_f64(v as f64)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Coord, E> {
                self.visit_f64(v as f64)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Coord, E> {
                self.visit_f64(v as f64)
            }
        }
        d.deserialize_any(V)
    }
}

/// `city` is `{"names": {"en": "London"}}` in MaxMind's layout and `"London"` in the flat one.
struct CityName<'a>(Option<&'a str>);

impl<'de: 'a, 'a> Deserialize<'de> for CityName<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CityName<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a city name or a map with names")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CityName(Some(v)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut name = None;
                while let Some(key) = map.next_key::<&'de str>()? {
                    if key == "names" {
                        name = map.next_value::<Names<'de>>()?.en;
                    } else {
                        map.next_value::<de::IgnoredAny>()?;
                    }
                }
                Ok(CityName(name))
            }
        }
        d.deserialize_any(V)
    }
}

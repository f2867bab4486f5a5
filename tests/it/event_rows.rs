//! Events encoded straight to `RowBinary` (`store::event_rows`) against the real server: every kind
//! of value (no IP, IPv4, IPv6, no coordinates, long and non-ASCII texts, many attributes, each
//! position kind) is stored and read back exactly as the row `EventRow::new` builds of the event.

use crate::common;

use std::net::IpAddr;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use common::*;
use custos::config::ClickHouseConfig;
use custos::model::{Coords, Event, Geo, NetClass, Outcome, Position};
use custos::store::event_rows::EventRows;
use custos::store::events::EventRow;
use custos::store::{migrate::migrate, Store};

fn event(n: u32, ip: Option<&str>, coords: Option<Coords>) -> Event {
    let long = "é".repeat(90 + n as usize); // > 127 bytes: a two-byte length
    Event {
        event_id: format!("enc-{n}").into(),
        ts: Utc
            .timestamp_millis_opt(1_767_225_600_123 + n as i64 * 1_001)
            .unwrap(),
        user_id: "u-enc".into(),
        action: if n.is_multiple_of(2) {
            "export"
        } else {
            "login"
        }
        .into(),
        tenant: "acme".into(),
        object_type: if n.is_multiple_of(2) {
            "contact".into()
        } else {
            Default::default()
        },
        record_count: u64::from(n) * 1_000_000_007,
        ip: ip.map(|i| i.parse::<IpAddr>().unwrap()),
        user_agent: if n == 1 {
            long.as_str().into()
        } else {
            "Mozilla/5.0".into()
        },
        session_id: format!("s-{n}").into(),
        outcome: if n == 2 {
            Outcome::Failure
        } else {
            Outcome::Success
        },
        attributes: (0..n * 70)
            .map(|i| {
                (
                    format!("k{i}"),
                    if i == 3 {
                        long.clone()
                    } else {
                        format!("v{i}")
                    },
                )
            })
            .collect(),
        geo: Geo {
            country_iso: Arc::from(if coords.is_some() { "DE" } else { "" }),
            country: Arc::from(if coords.is_some() { "Germany" } else { "" }),
            subdivision: Arc::from("Bayern"),
            city: Arc::from("München"),
            coords,
            timezone: Arc::from("Europe/Berlin"),
            asn: 3320 + n,
            as_org: Arc::from("Deutsche Telekom AG"),
            network_class: ip.map(|_| NetClass::Public),
        }
        .into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encoded_rows_read_back_as_event_rows() {
    if skip_without_servers() {
        return;
    }
    let store = Store::new(&ClickHouseConfig {
        url: ch_url(),
        database: unique_name("event_rows"),
        ..Default::default()
    });
    migrate(&store, true).await.unwrap();
    let at = [
        Position::Kafka {
            topic: Arc::from("crm.events"),
            partition: 7,
            offset: 1 << 40,
        },
        Position::File {
            path: Arc::from("/var/log/crm/ä.jsonl"),
            line: 123_456,
        },
        Position::Generator { seq: 9 },
    ];
    let events = [
        event(0, None, None),
        event(
            1,
            Some("203.0.113.250"),
            Some(Coords {
                lat: 48.1374,
                lon: -11.5755,
            }),
        ),
        event(2, Some("2001:db8::8a2e:370:7334"), None),
        event(
            3,
            Some("0.0.0.9"),
            Some(Coords {
                lat: -0.0,
                lon: 180.0,
            }),
        ),
    ];
    let mut rows = EventRows::with_capacity(4);
    let mut want = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let (pos, ingest) = (&at[i % at.len()], 1_767_300_000 + i as u32);
        rows.push(e, pos, ingest);
        want.push(serde_json::to_value(EventRow::new(e.clone(), pos, ingest)).unwrap());
    }
    assert_eq!(rows.len(), 4);
    store.insert_events(&rows).await.unwrap();
    let got: Vec<serde_json::Value> = store
        .user_events("u-enc", None, None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| serde_json::to_value(r).unwrap())
        .collect();
    assert_eq!(got.len(), want.len(), "every encoded row stored");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w, "stored row vs EventRow::new");
    }
}

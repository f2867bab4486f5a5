//! Property tests: any event or directory record that meets the contract, written as JSON the way a
//! producer might (any key order, escapes, offsets), decodes back to exactly the values encoded.

use std::net::IpAddr;

use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use custos::decode::{decode_directory, decode_event};
use custos::model::{Outcome, UserStatus};
use proptest::prelude::*;
use serde_json::json;

fn ident() -> impl Strategy<Value = String> {
    // Printable text including quotes, backslashes and non-ASCII, never control characters.
    proptest::string::string_regex("[a-zA-Z0-9_.@\\-\"\\\\ é中ß]{1,40}").unwrap()
}

fn ts() -> impl Strategy<Value = (DateTime<Utc>, i32)> {
    (0i64..4_000_000_000_000, -12i32 * 60..=14 * 60)
        .prop_map(|(ms, off)| (Utc.timestamp_millis_opt(ms).unwrap(), off * 60))
}

fn ip() -> impl Strategy<Value = Option<IpAddr>> {
    prop_oneof![
        Just(None),
        any::<[u8; 4]>().prop_map(|b| Some(IpAddr::from(b))),
        any::<[u16; 8]>().prop_map(|b| Some(IpAddr::from(b)))
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn events_round_trip(
        id in ident(), user in ident(), action in ident(), tenant in proptest::option::of(ident()),
        (t, off) in ts(), count in proptest::option::of(0u64..=(1u64 << 63)), ip in ip(), failure in any::<bool>(),
        attrs in proptest::collection::btree_map(ident(), ident(), 0..4), obj in proptest::option::of(ident()),
    ) {
        let local = t.with_timezone(&FixedOffset::east_opt(off).unwrap());
        let mut v = json!({"user_id": user, "event_id": id, "action": action, "ts": local.to_rfc3339_opts(chrono::SecondsFormat::Millis, false)});
        if let Some(te) = &tenant { v["tenant"] = json!(te); }
        if let Some(c) = count { v["record_count"] = json!(c); }
        if let Some(i) = ip { v["ip"] = json!(i.to_string()); }
        if failure { v["outcome"] = json!("failure"); }
        if !attrs.is_empty() { v["attributes"] = json!(attrs); }
        if let Some(o) = &obj { v["object_type"] = json!(o); }
        v["unknown_future_field"] = json!({"nested": [1, 2, 3]});
        let e = decode_event(v.to_string().as_bytes(), 1 << 20).map_err(|r| TestCaseError::fail(format!("{r}: {v}")))?;
        prop_assert_eq!(&e.event_id, &id);
        prop_assert_eq!(&e.user_id, &user);
        prop_assert_eq!(&e.action, &action);
        prop_assert_eq!(e.ts, t);
        prop_assert_eq!(e.tenant, tenant.unwrap_or_else(|| "default".into()));
        prop_assert_eq!(e.record_count, count.unwrap_or(0));
        prop_assert_eq!(e.ip, ip);
        prop_assert_eq!(e.outcome, if failure { Outcome::Failure } else { Outcome::Success });
        prop_assert_eq!(e.attributes, attrs.into_iter().collect::<Vec<_>>());
        prop_assert_eq!(e.object_type, obj.unwrap_or_default());
    }

    #[test]
    fn directory_records_round_trip(user in ident(), status in 0usize..3, (t, _) in ts(), protected in any::<bool>(), name in ident()) {
        let s = ["active", "terminated", "suspended"][status];
        let v = json!({"status": s, "user_id": user, "effective_ts": t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true), "protected": protected, "display_name": name, "work_hours": "22:00-06:00", "work_days": "Mon-Fri", "timezone": "Europe/Berlin"});
        let r = decode_directory(v.to_string().as_bytes(), 1 << 20).map_err(|e| TestCaseError::fail(format!("{e}: {v}")))?;
        prop_assert_eq!(&r.user_id, &user);
        prop_assert_eq!(r.status, [UserStatus::Active, UserStatus::Terminated, UserStatus::Suspended][status]);
        prop_assert_eq!(r.effective_ts, Some(t));
        prop_assert_eq!(r.protected, protected);
        prop_assert_eq!(&r.display_name, &name);
    }
}

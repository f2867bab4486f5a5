//! Fuzz target: any bytes given to the event decoder either decode or are rejected with a code —
//! never a panic — and an accepted event, written back as contract JSON, decodes to the same event.
#![no_main]

use custos::decode::decode_event;
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Map, Value};

const MAX: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Ok(ev) = decode_event(data, MAX) else { return };
    assert!(data.len() <= MAX);
    assert!(!ev.event_id.is_empty() && !ev.user_id.is_empty() && !ev.action.is_empty());
    let mut v = json!({
        "event_id": ev.event_id, "user_id": ev.user_id, "action": ev.action, "tenant": ev.tenant,
        "ts": ev.ts.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "record_count": ev.record_count, "outcome": ev.outcome.as_str(),
    });
    for (k, s) in [("object_type", &ev.object_type), ("user_agent", &ev.user_agent), ("session_id", &ev.session_id)] {
        if !s.is_empty() {
            v[k] = json!(s);
        }
    }
    if let Some(ip) = ev.ip {
        v["ip"] = json!(ip.to_string());
    }
    if !ev.attributes.is_empty() {
        let m: Map<String, Value> = ev.attributes.iter().map(|(k, s)| (k.clone(), json!(s))).collect();
        v["attributes"] = Value::Object(m);
    }
    let again = decode_event(v.to_string().as_bytes(), usize::MAX)
        .unwrap_or_else(|r| panic!("re-encoded event rejected: {r:?}\n{v}"));
    assert_eq!(again, ev, "decode(encode(decode(x))) != decode(x)");
});

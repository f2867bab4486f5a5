//! Fuzz target: any bytes given to the directory decoder either decode or are rejected with a code —
//! never a panic — and an accepted record, written back as contract JSON, decodes to the same record
//! (including its content-derived `record_id`).
#![no_main]

use custos::decode::decode_directory;
use libfuzzer_sys::fuzz_target;
use serde_json::json;

const MAX: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Ok(rec) = decode_directory(data, MAX) else { return };
    assert!(!rec.user_id.is_empty() && !rec.record_id.is_empty());
    let mut v = json!({ "user_id": rec.user_id, "status": rec.status.as_str(), "protected": rec.protected });
    if let Some(t) = rec.effective_ts {
        v["effective_ts"] = json!(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    }
    if let Some(tz) = rec.timezone {
        v["timezone"] = json!(tz.name());
    }
    if let Some(h) = rec.work_hours {
        v["work_hours"] = json!(h.to_string());
    }
    if let Some(d) = rec.work_days {
        v["work_days"] = json!(d.to_string());
    }
    for (k, s) in [("display_name", &rec.display_name), ("email", &rec.email), ("department", &rec.department), ("role", &rec.role), ("manager_id", &rec.manager_id)] {
        if !s.is_empty() {
            v[k] = json!(s);
        }
    }
    let again = decode_directory(v.to_string().as_bytes(), usize::MAX)
        .unwrap_or_else(|r| panic!("re-encoded record rejected: {r:?}\n{v}"));
    assert_eq!(again, rec, "decode(encode(decode(x))) != decode(x)");
});

//! How a Sigma rule sees a custos event: the event contract's field names, the geo-IP fields as
//! stored, and the actor's directory record at the event's time (`directory.*`). An empty text field
//! is absent (Sigma's `null`), as in the filter language.

use std::borrow::Cow;

use rsigma_eval::event::EventValue;
use serde_json::{json, Value};

use crate::directory::Directory;
use crate::model::Event;

/// The fields a Sigma rule may name, besides `attributes.<key>`.
pub const FIELDS: &[&str] = &[
    "event_id",
    "ts",
    "tenant",
    "user_id",
    "action",
    "object_type",
    "record_count",
    "ip",
    "user_agent",
    "session_id",
    "outcome",
    "attributes",
    "country_iso",
    "country",
    "subdivision",
    "city",
    "latitude",
    "longitude",
    "asn",
    "as_org",
    "geo_timezone",
    "network_class",
    "directory.role",
    "directory.department",
    "directory.status",
];

/// Whether `field` is one a custos event has.
pub fn known(field: &str) -> bool {
    FIELDS.contains(&field)
        || field
            .strip_prefix("attributes.")
            .is_some_and(|k| !k.is_empty())
}

/// An event (and the directory) as rsigma evaluates it.
pub struct View<'a> {
    pub ev: &'a Event,
    pub dir: &'a Directory,
}

fn text(s: &str) -> Option<EventValue<'_>> {
    (!s.is_empty()).then_some(EventValue::Str(Cow::Borrowed(s)))
}

impl View<'_> {
    /// Every text value of the event, for keyword detections.
    fn strings(&self, visit: &mut dyn FnMut(&str)) {
        let ev = self.ev;
        let g = &ev.geo;
        for s in [
            ev.event_id.as_str(),
            ev.tenant.as_str(),
            ev.user_id.as_str(),
            ev.action.as_str(),
            ev.object_type.as_str(),
            ev.user_agent.as_str(),
            ev.session_id.as_str(),
            ev.outcome.as_str(),
            &*g.country_iso,
            &*g.country,
            &*g.subdivision,
            &*g.city,
            &*g.as_org,
            &*g.timezone,
        ] {
            if !s.is_empty() {
                visit(s);
            }
        }
        if let Some(ip) = ev.ip {
            visit(&ip.to_string());
        }
        for (_, v) in &ev.attributes {
            visit(v);
        }
    }
}

impl rsigma_eval::Event for View<'_> {
    fn get_field(&self, path: &str) -> Option<EventValue<'_>> {
        let ev = self.ev;
        let g = &ev.geo;
        match path {
            "event_id" => text(&ev.event_id),
            "ts" => Some(EventValue::Str(Cow::Owned(crate::time::rfc3339(ev.ts)))),
            "tenant" => text(&ev.tenant),
            "user_id" => text(&ev.user_id),
            "action" => text(&ev.action),
            "object_type" => text(&ev.object_type),
            "record_count" => Some(EventValue::Int(ev.record_count.min(i64::MAX as u64) as i64)),
            "ip" => ev.ip.map(|i| EventValue::Str(Cow::Owned(i.to_string()))),
            "user_agent" => text(&ev.user_agent),
            "session_id" => text(&ev.session_id),
            "outcome" => text(ev.outcome.as_str()),
            "country_iso" => text(&g.country_iso),
            "country" => text(&g.country),
            "subdivision" => text(&g.subdivision),
            "city" => text(&g.city),
            "latitude" => g.coords.map(|c| EventValue::Float(c.lat)),
            "longitude" => g.coords.map(|c| EventValue::Float(c.lon)),
            "asn" => (g.asn != 0).then_some(EventValue::Int(g.asn.into())),
            "as_org" => text(&g.as_org),
            "geo_timezone" => text(&g.timezone),
            "network_class" => g.network_class.and_then(|c| text(c.as_str())),
            "directory.role" => self.dir.for_event(ev).and_then(|r| text(&r.role)),
            "directory.department" => self.dir.for_event(ev).and_then(|r| text(&r.department)),
            "directory.status" => self.dir.for_event(ev).and_then(|r| text(r.status.as_str())),
            "attributes" => Some(EventValue::Map(
                ev.attributes
                    .iter()
                    .map(|(k, v)| (Cow::Borrowed(k.as_str()), EventValue::Str(Cow::Borrowed(v))))
                    .collect(),
            )),
            other => {
                let key = other.strip_prefix("attributes.")?;
                ev.attributes
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| EventValue::Str(Cow::Borrowed(v.as_str())))
            }
        }
    }

    fn any_string_value(&self, pred: &dyn Fn(&str) -> bool) -> bool {
        let mut hit = false;
        self.strings(&mut |s| hit = hit || pred(s));
        hit
    }

    fn all_string_values(&self) -> Vec<Cow<'_, str>> {
        let mut out = Vec::new();
        self.strings(&mut |s| out.push(Cow::Owned(s.to_owned())));
        out
    }

    fn visit_string_values(&self, visit: &mut dyn FnMut(&str)) {
        self.strings(visit);
    }

    fn to_json(&self) -> Value {
        let mut obj = serde_json::Map::new();
        for f in FIELDS {
            if let Some(v) = self.get_field(f) {
                obj.insert((*f).to_owned(), v.to_json());
            }
        }
        json!(obj)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsigma_eval::Event as _;

    #[test]
    fn fields_read_as_the_contract_names_them_and_empty_text_is_absent() {
        let ev = crate::decode::decode_event(
            br#"{"event_id":"e1","ts":"2026-01-06T02:00:00Z","user_id":"u","action":"export","record_count":7,"ip":"8.8.8.8","attributes":{"report":"r1"}}"#,
            1 << 20,
        )
        .unwrap();
        let dir = Directory::default();
        let v = View { ev: &ev, dir: &dir };
        assert_eq!(v.get_field("record_count"), Some(EventValue::Int(7)));
        assert_eq!(
            v.get_field("attributes.report"),
            Some(EventValue::Str("r1".into()))
        );
        assert_eq!(v.get_field("ip"), Some(EventValue::Str("8.8.8.8".into())));
        assert_eq!(v.get_field("user_agent"), None, "empty is absent");
        assert_eq!(v.get_field("directory.role"), None, "an unknown actor");
        assert_eq!(
            v.get_field("ts"),
            Some(EventValue::Str("2026-01-06T02:00:00.000Z".into()))
        );
        assert!(v.any_string_value(&|s| s == "r1"));
        assert!(known("attributes.x") && known("directory.role") && !known("CommandLine"));
    }
}

//! How the API shows stored rows: each view is the row itself, serialized with its own fields, except
//! that times become RFC 3339 text (UTC, ms), attribute arrays an object and flags booleans. The
//! OpenAPI schema of each view is its row's (`store` documents the row types).

use serde::ser::{Serialize, Serializer};
use serde_json::{Map, Value};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use crate::store::actions::ActionRow;
use crate::store::directory::DirectoryRow;
use crate::store::events::EventRow;
use crate::time::rfc3339_cols;

/// The row's own fields, as JSON.
fn fields<T: Serialize>(row: &T) -> Map<String, Value> {
    match serde_json::to_value(row) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// Declares a view over a row type: `From<Row>`, the OpenAPI schema of the row under the view's name,
/// and `Serialize` through `shape`.
macro_rules! view {
    ($(#[$m:meta])* $name:ident($row:ty), $shape:expr) => {
        $(#[$m])*
        pub struct $name(pub $row);

        impl From<$row> for $name {
            fn from(r: $row) -> Self {
                $name(r)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let shape: fn(&$row, &mut Map<String, Value>) = $shape;
                let mut m = fields(&self.0);
                shape(&self.0, &mut m);
                m.serialize(s)
            }
        }

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                <$row as PartialSchema>::schema()
            }
        }

        impl ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
        }
    };
}

view!(
    /// A stored, enriched event.
    EventOut(EventRow),
    |r, m| {
        m.insert("ts".into(), rfc3339_cols(r.ts, r.ts_ms).into());
        m.remove("ts_ms");
        m.insert("ingest_ts".into(), rfc3339_cols(r.ingest_ts, 0).into());
        m.remove("attr_keys");
        m.remove("attr_values");
        let attributes: Map<String, Value> = r.attr_keys.iter().cloned().zip(r.attr_values.iter().cloned().map(Value::String)).collect();
        m.insert("attributes".into(), attributes.into());
    }
);

view!(
    /// One version of a user's directory record.
    DirectoryVersion(DirectoryRow),
    |r, m| {
        m.insert("effective_ts".into(), r.effective_ts.map(|t| rfc3339_cols(t, 0)).into());
        m.insert("ingest_ts".into(), rfc3339_cols(r.ingest_ts, 0).into());
        m.insert("protected".into(), (r.protected != 0).into());
    }
);

view!(
    /// An action's current state.
    ActionOut(ActionRow),
    |r, m| {
        m.insert("requested_at".into(), rfc3339_cols(r.requested_at, 0).into());
        m.insert("updated_at".into(), rfc3339_cols((r.at_ms / 1000) as u32, (r.at_ms % 1000) as u16).into());
        m.remove("at");
        m.remove("at_ms");
    }
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Event, Outcome, Position};

    #[test]
    fn an_event_shows_times_as_text_and_attributes_as_an_object() {
        let ev = Event {
            event_id: "e".into(),
            ts: crate::time::at(1_767_665_647, 123),
            user_id: "u".into(),
            action: "login".into(),
            tenant: "default".into(),
            object_type: Default::default(),
            record_count: 0,
            ip: None,
            user_agent: Default::default(),
            session_id: Default::default(),
            outcome: Outcome::Success,
            attributes: vec![("k".into(), "v".into())],
            geo: Default::default(),
        };
        let v = serde_json::to_value(EventOut(EventRow::new(
            ev,
            &Position::Generator { seq: 1 },
            1_767_665_650,
        )))
        .unwrap();
        assert_eq!(v["ts"], "2026-01-06T02:14:07.123Z");
        assert_eq!(v["ingest_ts"], "2026-01-06T02:14:10.000Z");
        assert_eq!(v["attributes"]["k"], "v");
        assert!(v.get("ts_ms").is_none() && v.get("attr_keys").is_none());
        assert_eq!(v["source"], "generator");
    }
}

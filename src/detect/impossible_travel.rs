//! `impossible_travel`: a login matching `filter` with coordinates, against the same user's previous
//! one with coordinates in event time: at least `min_km` apart and faster than `min_kmh` (no time
//! between them = infinitely fast).

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::json;

use super::filter::Filter;
use super::log::{evict_all, log_mut, Entry, KeyRef, Logs};
use super::rule::{Ctx, History, Kind, Rule, Trigger};
use crate::model::Event;
use crate::time::Span;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub filter: Filter,
    pub min_km: f64,
    pub min_kmh: f64,
    /// How far back the previous login may be (and how much history is rebuilt at start).
    pub lookback: Span,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            filter: Filter::default(),
            min_km: 500.0,
            min_kmh: 1000.0,
            lookback: "30d".parse().expect("a duration"),
        }
    }
}

impl Kind for Params {
    fn check(&self) -> Vec<(String, String)> {
        let mut errs = Vec::new();
        if !(self.min_km > 0.0 && self.min_kmh > 0.0) {
            errs.push((
                "params.min_km".into(),
                "min_km and min_kmh must be above 0".into(),
            ));
        }
        if self.lookback.secs() == 0 {
            errs.push(("params.lookback".into(), "must be above 0".into()));
        }
        errs
    }

    fn build(&self) -> Box<dyn Rule> {
        Box::new(ImpossibleTravel {
            lookback: self.lookback.as_chrono(),
            p: self.clone(),
            users: Logs::default(),
        })
    }
}

/// Where a login was.
struct Place {
    lat: f64,
    lon: f64,
    name: String,
}

pub struct ImpossibleTravel {
    p: Params,
    lookback: Duration,
    users: Logs<Place>,
}

/// Great-circle distance in km (haversine, mean Earth radius).
pub fn km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (la1, lo1, la2, lo2) = (
        a.0.to_radians(),
        a.1.to_radians(),
        b.0.to_radians(),
        b.1.to_radians(),
    );
    let h = ((la2 - la1) / 2.0).sin().powi(2)
        + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * 6371.0088 * h.sqrt().asin()
}

impl ImpossibleTravel {
    /// Records a matching login with coordinates; its index in the user's trail unless seen before.
    fn add(&mut self, ev: &Event, ctx: &Ctx) -> Option<usize> {
        let crate::model::Coords { lat, lon } = ev.geo.coords?;
        if !self.p.filter.matches(ev, ctx.directory) {
            return None;
        }
        let name = [&*ev.geo.city, &*ev.geo.country]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(", ");
        let name = if name.is_empty() {
            format!("{lat:.2},{lon:.2}")
        } else {
            name
        };
        log_mut(&mut self.users, KeyRef::new(&ev.tenant, &ev.user_id)).add(
            ev.ts,
            &ev.event_id,
            Place { lat, lon, name },
        )
    }
}

impl ImpossibleTravel {
    /// The finding for two consecutive logins, if the second is impossible after the first.
    fn pair(&self, user: &str, prev: &Entry<Place>, cur: &Entry<Place>) -> Option<Trigger> {
        if cur.ts - prev.ts > self.lookback {
            return None;
        }
        let dist = km((prev.data.lat, prev.data.lon), (cur.data.lat, cur.data.lon));
        let hours = (cur.ts - prev.ts).num_milliseconds() as f64 / 3_600_000.0;
        let speed = if hours > 0.0 {
            dist / hours
        } else {
            f64::INFINITY
        };
        if dist < self.p.min_km || speed < self.p.min_kmh {
            return None;
        }
        let speed_text = if speed.is_finite() {
            format!("{speed:.0} km/h")
        } else {
            "at the same time".into()
        };
        let summary = format!(
            "{user} logged in from {} at {} UTC and from {} at {} UTC: {dist:.0} km in {hours:.2} h ({speed_text})",
            prev.data.name,
            prev.ts.format("%Y-%m-%d %H:%M"),
            cur.data.name,
            cur.ts.format("%Y-%m-%d %H:%M")
        );
        Some(Trigger {
            key: cur.id.clone(),
            subject: None,
            ts: cur.ts,
            summary,
            evidence: vec![prev.id.clone(), cur.id.clone()],
            details: json!({
                "from": {"place": prev.data.name, "lat": prev.data.lat, "lon": prev.data.lon, "ts": crate::time::rfc3339(prev.ts), "event_id": prev.id},
                "to": {"place": cur.data.name, "lat": cur.data.lat, "lon": cur.data.lon, "ts": crate::time::rfc3339(cur.ts), "event_id": cur.id},
                "km": (dist * 10.0).round() / 10.0,
                "hours": (hours * 1000.0).round() / 1000.0,
                "kmh": if speed.is_finite() { json!((speed * 10.0).round() / 10.0) } else { json!(null) },
                "min_km": self.p.min_km,
                "min_kmh": self.p.min_kmh,
            }),
            extends: false,
            respond: true,
        })
    }
}

impl Rule for ImpossibleTravel {
    fn on_event(&mut self, ev: &Event, ctx: &Ctx) -> Option<Trigger> {
        let at = self.add(ev, ctx)?;
        let t = self.users[&KeyRef::new(&ev.tenant, &ev.user_id)].entries();
        // The new login against the one before it and — when it arrived late — the one after it.
        let before = at.checked_sub(1).map(|b| (&t[b], &t[at]));
        let after = t.get(at + 1).map(|n| (&t[at], n));
        before
            .into_iter()
            .chain(after)
            .find_map(|(prev, cur)| self.pair(&ev.user_id, prev, cur))
    }

    fn history(&self) -> Option<History> {
        Some(History {
            actions: self.p.filter.actions(),
            horizon: self.lookback,
        })
    }

    fn rehydrate(&mut self, ev: &Event, ctx: &Ctx) {
        self.add(ev, ctx);
    }

    fn evict(&mut self, before: DateTime<Utc>) {
        // Keep the newest place before the cut: it is the "previous login" of the next one.
        evict_all(&mut self.users, before, 1);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn great_circle_distances() {
        let (london, paris, sydney) = ((51.5074, -0.1278), (48.8566, 2.3522), (-33.8688, 151.2093));
        assert!((super::km(london, paris) - 343.5).abs() < 2.0);
        assert!((super::km(london, sydney) - 16_990.0).abs() < 30.0);
        assert_eq!(super::km(paris, paris), 0.0);
    }
}

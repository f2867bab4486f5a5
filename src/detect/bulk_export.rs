//! `bulk_export`: a user's exported rows summed over a rolling event-time window exceed
//! `threshold_rows`, or one export exceeds `single_event_rows`. An `event_id` counts once; late and
//! out-of-order exports count in the window they belong to.

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::json;

use super::log::{evict_all, log_mut, Entry, KeyRef, Logs};
use super::rule::{thousands, Ctx, History, Kind, Rule, Trigger};
use crate::model::Event;
use crate::time::Span;

/// The action this kind sums.
const EXPORT: &str = "export";

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub window: Span,
    pub threshold_rows: u64,
    /// One export above this fires on its own; 0 disables.
    pub single_event_rows: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            window: "24h".parse().expect("a duration"),
            threshold_rows: 1000,
            single_event_rows: 0,
        }
    }
}

impl Kind for Params {
    fn check(&self) -> Vec<(String, String)> {
        let mut errs = Vec::new();
        if !(60..=31 * 86_400).contains(&self.window.secs()) {
            errs.push(("params.window".into(), "must be between 1m and 31d".into()));
        }
        if self.threshold_rows == 0 {
            errs.push(("params.threshold_rows".into(), "must be at least 1".into()));
        }
        errs
    }

    fn build(&self) -> Box<dyn Rule> {
        Box::new(BulkExport {
            window: self.window.as_chrono(),
            p: self.clone(),
            users: Logs::default(),
        })
    }
}

struct Export {
    rows: u64,
    object_type: String,
}

/// The heaviest window `(end - w, end]` that contains `t`: (total, first index, last index).
fn heaviest_window_with(
    entries: &[Entry<Export>],
    t: DateTime<Utc>,
    w: Duration,
) -> (u64, usize, usize) {
    let mut best = (0, 0, 0);
    let mut lo = 0;
    let mut sum = 0u64;
    for (hi, e) in entries.iter().enumerate() {
        sum += e.data.rows;
        while entries[lo].ts <= e.ts - w {
            sum -= entries[lo].data.rows;
            lo += 1;
        }
        if e.ts >= t && e.ts - t < w && entries[lo].ts <= t && sum > best.0 {
            best = (sum, lo, hi);
        }
        if e.ts - t >= w {
            break;
        }
    }
    best
}

fn add(users: &mut Logs<Export>, ev: &Event) -> bool {
    let data = Export {
        rows: ev.record_count,
        object_type: ev.object_type.to_string(),
    };
    log_mut(users, KeyRef::new(&ev.tenant, &ev.user_id))
        .add(ev.ts, &ev.event_id, data)
        .is_some()
}

pub struct BulkExport {
    p: Params,
    window: Duration,
    users: Logs<Export>,
}

impl Rule for BulkExport {
    fn on_event(&mut self, ev: &Event, ctx: &Ctx) -> Option<Trigger> {
        if ev.action != EXPORT || ev.record_count == 0 {
            return None;
        }
        if !add(&mut self.users, ev) {
            return None; // the same export delivered twice counts once
        }
        let entries = self.users[&KeyRef::new(&ev.tenant, &ev.user_id)].entries();
        let (total, lo, hi) = heaviest_window_with(entries, ev.ts, self.window);
        let single = self.p.single_event_rows > 0 && ev.record_count > self.p.single_event_rows;
        if total <= self.p.threshold_rows && !single {
            return None;
        }
        let sched = ctx.worktime.schedule(&ev.tenant, ctx.record(ev));
        let (first, last) = (&entries[lo], &entries[hi]);
        let mut objects: Vec<&str> = entries[lo..=hi]
            .iter()
            .map(|e| e.data.object_type.as_str())
            .filter(|o| !o.is_empty())
            .collect();
        objects.sort_unstable();
        objects.dedup();
        let what = if objects.len() == 1 {
            format!("{} records", objects[0])
        } else {
            "records".to_owned()
        };
        let local = |t: DateTime<Utc>| sched.local(t).format("%Y-%m-%d %H:%M").to_string();
        let (summary, evidence, trigger_total) = if total > self.p.threshold_rows {
            let ratio = total as f64 / self.p.threshold_rows as f64;
            (
                format!(
                    "{} exported {} {what} between {} and {} {}, {ratio:.1}× the {}-row limit for {}",
                    ev.user_id,
                    thousands(total),
                    local(first.ts),
                    if sched.local(first.ts).date() == sched.local(last.ts).date() { sched.local(last.ts).format("%H:%M").to_string() } else { local(last.ts) },
                    sched.tz.name(),
                    thousands(self.p.threshold_rows),
                    self.p.window,
                ),
                entries[lo..=hi].iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
                total,
            )
        } else {
            (
                format!(
                    "{} exported {} {what} in one export at {} {}, above the {}-row single-export limit",
                    ev.user_id,
                    thousands(ev.record_count),
                    local(ev.ts),
                    sched.tz.name(),
                    thousands(self.p.single_event_rows),
                ),
                vec![ev.event_id.to_string()],
                ev.record_count,
            )
        };
        Some(Trigger {
            key: ev.event_id.to_string(),
            subject: None,
            ts: ev.ts,
            summary,
            details: json!({
                "window": self.p.window.to_string(),
                "window_total": total,
                "threshold_rows": self.p.threshold_rows,
                "single_event_rows": self.p.single_event_rows,
                "single_export_over_limit": single,
                "rows": trigger_total,
                "first_ts": crate::time::rfc3339(first.ts),
                "last_ts": crate::time::rfc3339(last.ts),
                "timezone": sched.tz.name(),
                "object_types": objects,
                "ip": ev.ip.map(|i| i.to_string()),
                "country_iso": ev.geo.country_iso,
            }),
            evidence,
            extends: false,
            respond: true,
        })
    }

    fn history(&self) -> Option<History> {
        Some(History {
            actions: Some(vec![EXPORT.to_owned()]),
            horizon: self.window,
        })
    }

    fn rehydrate(&mut self, ev: &Event, _ctx: &Ctx) {
        if ev.action == EXPORT && ev.record_count > 0 {
            add(&mut self.users, ev);
        }
    }

    fn evict(&mut self, before: DateTime<Utc>) {
        evict_all(&mut self.users, before, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DetectorsConfig;
    use crate::detect::worktime::WorkTime;
    use crate::directory::Directory;

    fn export(id: &str, ts: &str, rows: u64) -> Event {
        let raw = format!(
            r#"{{"event_id":"{id}","ts":"{ts}","user_id":"u","action":"export","object_type":"contact","record_count":{rows}}}"#
        );
        crate::decode::decode_event(raw.as_bytes(), 1 << 20).unwrap()
    }

    fn rule(threshold_rows: u64, single_event_rows: u64) -> Box<dyn Rule> {
        Params {
            window: "24h".parse().unwrap(),
            threshold_rows,
            single_event_rows,
        }
        .build()
    }

    fn fires(r: &mut Box<dyn Rule>, ev: &Event) -> Option<Trigger> {
        let (dir, wt) = (
            Directory::default(),
            WorkTime::from_config(&DetectorsConfig::default()),
        );
        r.on_event(ev, &Ctx::new(&dir, &wt))
    }

    #[test]
    fn a_late_export_counts_in_the_window_it_belongs_to() {
        let mut r = rule(1000, 0);
        assert!(fires(&mut r, &export("a", "2026-01-06T12:00:00Z", 600)).is_none());
        // Arrives later, but happened an hour before: 600 + 500 in one window.
        let t = fires(&mut r, &export("b", "2026-01-06T11:00:00Z", 500)).expect("over the limit");
        assert_eq!(t.details["window_total"], 1100);
        assert_eq!(t.evidence, vec!["b".to_owned(), "a".to_owned()]);
        assert_eq!(t.key, "b");
    }

    #[test]
    fn an_event_id_counts_once_and_a_window_does_not_reach_past_its_span() {
        let mut r = rule(1000, 0);
        assert!(fires(&mut r, &export("a", "2026-01-05T11:00:00Z", 600)).is_none());
        assert!(
            fires(&mut r, &export("a", "2026-01-05T11:00:00Z", 600)).is_none(),
            "a re-delivery adds nothing"
        );
        // 24 h later exactly: (end - 24h, end] no longer holds the first export.
        assert!(fires(&mut r, &export("b", "2026-01-06T11:00:00Z", 600)).is_none());
        assert!(fires(&mut r, &export("c", "2026-01-06T11:00:01Z", 500)).is_some());
    }

    #[test]
    fn one_big_export_fires_alone_and_eviction_forgets_old_windows() {
        let mut r = rule(100_000, 5000);
        let t = fires(&mut r, &export("big", "2026-01-06T12:00:00Z", 6000))
            .expect("single export over the limit");
        assert_eq!(t.details["single_export_over_limit"], true);
        r.evict(crate::time::at(1_900_000_000, 0));
        let mut again = rule(1000, 0);
        let (dir, wt) = (
            Directory::default(),
            WorkTime::from_config(&DetectorsConfig::default()),
        );
        again.rehydrate(
            &export("old", "2026-01-06T10:00:00Z", 900),
            &Ctx::new(&dir, &wt),
        );
        assert!(
            fires(&mut again, &export("new", "2026-01-06T10:30:00Z", 200)).is_some(),
            "rehydrated history counts"
        );
    }
}

//! Exact events per UTC day for `stats`, each day's count remembered while the parts holding that
//! day are the same ones. ClickHouse writes every insert as a new part, and every merge, mutation or
//! partition drop replaces parts with differently named ones, so an unchanged set of active part
//! names over a day is unchanged data: the remembered count is the count a fresh query would give.
//! Only days whose parts changed (today, under ingest; a late event's day) are counted again.
//!
//! The parts are read *before* the count: an insert landing in between makes the remembered set
//! older than the data counted, so the next request sees new parts and counts again (never the
//! other way round, which could keep a stale count). On the cluster profile the parts live on every
//! shard under `events_local`; there, every request counts live.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, DurationRound, Utc};
use clickhouse::Row;
use serde::Deserialize;

use super::events::DayCount;
use super::query::Sql;
use super::Store;

type Result<T> = std::result::Result<T, clickhouse::error::Error>;

/// Remembered slices at most; past it the memory starts over (each entry is a day of one tenant).
const MAX_ENTRIES: usize = 20_000;

/// The remembered counts of one process's store handles (shared by their clones).
#[derive(Default)]
pub(crate) struct DayCounts {
    known: Mutex<HashMap<Slice, (String, u64)>>,
    /// Held while days are counted: requests that find days missing wait for the one counting
    /// them and then read what it remembered, where sixteen at once would each count the same
    /// month (16 × 0.2 s on 2 cores: a 3.6 s p99 for the first second of load).
    counting: tokio::sync::Mutex<()>,
}

/// One day's part of a requested range, `[lo, hi)`, for one tenant (or all).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Slice {
    tenant: Option<String>,
    lo: DateTime<Utc>,
    hi: DateTime<Utc>,
}

/// An active part of `events` and the event times it holds (seconds, inclusive; both 0: unknown).
#[derive(Debug, Row, Deserialize)]
pub(super) struct PartSpan {
    pub name: String,
    pub min_time: u32,
    pub max_time: u32,
}

/// `[since, until)` cut at UTC midnights.
fn slices(tenant: Option<&str>, since: DateTime<Utc>, until: DateTime<Utc>) -> Vec<Slice> {
    let mut out = Vec::new();
    let mut lo = since;
    while lo < until {
        let day = lo.duration_trunc(Duration::days(1)).unwrap_or(lo);
        let hi = (day + Duration::days(1)).min(until);
        out.push(Slice {
            tenant: tenant.map(str::to_owned),
            lo,
            hi,
        });
        lo = hi;
    }
    out
}

/// The names of the parts that may hold events of `s`, sorted: the slice's identity in storage.
/// A part without time bounds (both 0) may hold any time.
fn fingerprint(parts: &[PartSpan], s: &Slice) -> String {
    let (lo, hi) = (
        s.lo.timestamp(),
        (s.hi - Duration::milliseconds(1)).timestamp(),
    );
    let mut names: Vec<&str> = parts
        .iter()
        .filter(|p| {
            (p.min_time == 0 && p.max_time == 0)
                || (i64::from(p.min_time) <= hi && i64::from(p.max_time) >= lo)
        })
        .map(|p| p.name.as_str())
        .collect();
    names.sort_unstable();
    names.join(",")
}

impl Store {
    /// Events per UTC day in `[since, until)` (days with none left out), exact: the distinct sorting
    /// keys, the rows `FINAL` would keep.
    pub async fn events_per_day(
        &self,
        tenant: Option<&str>,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<DayCount>> {
        let all = slices(tenant, since, until);
        let mut counts = self.remembered(&all).await?;
        if counts.0.iter().any(Option::is_none) {
            // One count at a time, then what the one before remembered; nothing is remembered on
            // the cluster profile, where each request counts on its own.
            let _one_at_a_time = match self.cluster() {
                None => {
                    let turn = self.day_counts.counting.lock().await;
                    counts = self.remembered(&all).await?;
                    Some(turn)
                }
                Some(_) => None,
            };
            let (counts, prints) = &mut counts;
            let missing: Vec<usize> = (0..all.len()).filter(|&i| counts[i].is_none()).collect();
            if !missing.is_empty() {
                let live = self.count_slices(tenant, &all, &missing).await?;
                let mut known = self.day_counts.known.lock().expect("day counts lock");
                if known.len() + missing.len() > MAX_ENTRIES {
                    known.clear();
                }
                for i in missing {
                    let n = live
                        .get(&all[i].lo.date_naive().to_string())
                        .copied()
                        .unwrap_or(0);
                    counts[i] = Some(n);
                    if let Some(fp) = prints[i].take() {
                        known.insert(all[i].clone(), (fp, n));
                    }
                }
            }
        }
        let counts = counts.0;
        Ok(all
            .iter()
            .zip(counts)
            .filter_map(|(s, n)| {
                let events = n.unwrap_or(0);
                (events > 0).then(|| DayCount {
                    day: s.lo.date_naive().to_string(),
                    events,
                })
            })
            .collect())
    }

    /// Each slice's remembered count if its parts are the ones it was counted on, and its
    /// fingerprint (the parts read now, before any count: see the module doc).
    async fn remembered(&self, all: &[Slice]) -> Result<(Vec<Option<u64>>, Vec<Option<String>>)> {
        let parts = match self.cluster() {
            None => Some(self.event_parts().await?),
            Some(_) => None,
        };
        let prints: Vec<Option<String>> = all
            .iter()
            .map(|s| parts.as_ref().map(|p| fingerprint(p, s)))
            .collect();
        let known = self.day_counts.known.lock().expect("day counts lock");
        let counts = all
            .iter()
            .zip(&prints)
            .map(|(s, fp)| match (known.get(s), fp) {
                (Some((was, n)), Some(fp)) if was == fp => Some(*n),
                _ => None,
            })
            .collect();
        Ok((counts, prints))
    }

    /// The active parts of `events` (one server; the cluster profile's live on every shard).
    pub(super) async fn event_parts(&self) -> Result<Vec<PartSpan>> {
        self.query("SELECT name, toUInt32(min_time) AS min_time, toUInt32(max_time) AS max_time FROM system.parts WHERE database = ? AND table = 'events' AND active")
            .bind(self.cfg.database.as_str())
            .fetch_all()
            .await
    }

    /// The live count of the slices `which` (indexes into `all`), by day: one query, contiguous
    /// slices read as one time range.
    async fn count_slices(
        &self,
        tenant: Option<&str>,
        all: &[Slice],
        which: &[usize],
    ) -> Result<HashMap<String, u64>> {
        let mut ranges: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
        for &i in which {
            match ranges.last_mut() {
                Some(r) if r.1 == all[i].lo => r.1 = all[i].hi,
                _ => ranges.push((all[i].lo, all[i].hi)),
            }
        }
        // Distinct sorting keys: exactly the rows `FINAL` would count, in a quarter of the time.
        let mut sql = Sql::new(
            "SELECT toString(toDate(ts)) AS day, uniqExact(tenant, user_id, ts, event_id) AS events FROM events WHERE 1",
        );
        sql.eq("tenant", tenant).push(" AND (0", []);
        for (lo, hi) in ranges {
            sql.push(" OR (1", [])
                .since(Some(lo))
                .until(Some(hi))
                .push(")", []);
        }
        sql.push(") GROUP BY day ORDER BY day", []);
        let rows: Vec<DayCount> = sql.query(self).fetch_all().await?;
        Ok(rows.into_iter().map(|r| (r.day, r.events)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn part(name: &str, lo: &str, hi: &str) -> PartSpan {
        PartSpan {
            name: name.into(),
            min_time: t(lo).timestamp() as u32,
            max_time: t(hi).timestamp() as u32,
        }
    }

    #[test]
    fn a_range_is_cut_at_utc_midnights_and_keeps_its_own_ends() {
        let s = slices(
            Some("acme"),
            t("2026-01-05T10:30:00.250Z"),
            t("2026-01-07T02:00:00Z"),
        );
        let bounds: Vec<(String, String)> = s
            .iter()
            .map(|s| (crate::time::rfc3339(s.lo), crate::time::rfc3339(s.hi)))
            .collect();
        assert_eq!(
            bounds,
            [
                ("2026-01-05T10:30:00.250Z", "2026-01-06T00:00:00.000Z"),
                ("2026-01-06T00:00:00.000Z", "2026-01-07T00:00:00.000Z"),
                ("2026-01-07T00:00:00.000Z", "2026-01-07T02:00:00.000Z"),
            ]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
        assert!(slices(None, t("2026-01-05T00:00:00Z"), t("2026-01-05T00:00:00Z")).is_empty());
    }

    #[test]
    fn a_day_is_identified_by_the_parts_that_may_hold_it() {
        let day = &slices(None, t("2026-01-06T00:00:00Z"), t("2026-01-07T00:00:00Z"))[0];
        let parts = [
            part(
                "202601_1_1_0",
                "2026-01-05T00:00:00Z",
                "2026-01-05T23:59:59Z",
            ),
            part(
                "202601_2_2_0",
                "2026-01-05T12:00:00Z",
                "2026-01-06T00:00:00Z",
            ),
            part(
                "202601_3_3_0",
                "2026-01-07T00:00:00Z",
                "2026-01-08T00:00:00Z",
            ),
            part(
                "202601_4_4_0",
                "2026-01-06T23:59:59Z",
                "2026-01-06T23:59:59Z",
            ),
        ];
        assert_eq!(fingerprint(&parts, day), "202601_2_2_0,202601_4_4_0");
        // A merge renames what it replaces: the day no longer matches what was remembered.
        let merged = [part(
            "202601_1_4_1",
            "2026-01-05T00:00:00Z",
            "2026-01-08T00:00:00Z",
        )];
        assert_eq!(fingerprint(&merged, day), "202601_1_4_1");
        // No time bounds: taken as holding every day.
        let unbounded = [PartSpan {
            name: "all_1_1_0".into(),
            min_time: 0,
            max_time: 0,
        }];
        assert_eq!(fingerprint(&unbounded, day), "all_1_1_0");
    }
}

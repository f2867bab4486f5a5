//! Bounded reads of `events` for the API — a page of matching events (newest first) and an alert's
//! evidence — each searched in widening time windows so a newest page reads the newest partitions
//! first, and still exact: one row per sorting key, every matching key in order.
//!
//! Why windows: `events` is ordered by `(tenant, user_id, ts, event_id)` with 8192-row granules, so
//! one user's newest page over 10 M events (ten monthly partitions, 47 parts) read a granule or two
//! of every part: 920 k rows for 100. Bounded to the week before the newest stored event it reads
//! 100 k rows (25 ms → 5 ms). Windows are disjoint and newest first, and a sorting key has one `ts`,
//! so the keys of the windows, concatenated, are the keys of the whole range in order; re-deliveries
//! of one key share its window and are dropped there.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clickhouse::Row;
use serde::Deserialize;

use super::day_counts::PartSpan;
use super::events::{EventFilter, EventRow, ONE_PER_KEY, USER_PREWHERE};
use super::query::{Arg, Cursor, Page};
use super::Store;

type Result<T> = std::result::Result<T, clickhouse::error::Error>;

/// The first window's length; each next one is [`GROWTH`] times longer, the last one unbounded.
/// Each window costs a query (about 8 ms of ClickHouse 18.16's CPU however little it reads), so the
/// first is a week: most pages of an active user are full within it.
const FIRST_WINDOW_SECS: u32 = 7 * 86_400;
const GROWTH: u32 = 8;
/// An alert's evidence is looked for first within this much of the alert's time.
const EVIDENCE_REACH_SECS: u32 = 7 * 86_400;

/// An event's storage identity: the `ReplacingMergeTree` sorting key.
#[derive(Debug, Row, Deserialize)]
struct EventKey {
    tenant: String,
    user_id: String,
    ts: u32,
    event_id: String,
}

impl EventKey {
    fn identity(&self) -> (&str, &str, u32, &str) {
        (&self.tenant, &self.user_id, self.ts, &self.event_id)
    }
}

/// How long a read of the span is reused. A stale span costs reads, never rows: the first window
/// is unbounded above and the last unbounded below, so events stored since are in one of them.
const SPAN_REUSE: Duration = Duration::from_secs(5);

/// The oldest and newest stored event second, when known.
type Span = Option<(u32, u32)>;

/// The last span read, and when.
#[derive(Default)]
pub(crate) struct SpanMemo(Mutex<Option<(Instant, Span)>>);

/// Half-open windows `[lo, hi)` in seconds, newest first, covering `(-∞, top]`: `None` is unbounded.
/// `floor` is the oldest stored second; the window reaching it is the last.
pub(super) fn windows(top: u32, floor: u32) -> Vec<(Option<u32>, Option<u32>)> {
    let mut out = Vec::new();
    let (mut hi, mut len) = (None::<u32>, FIRST_WINDOW_SECS);
    loop {
        let lo = top
            .saturating_add(1)
            .checked_sub(len)
            .filter(|&lo| lo > floor);
        out.push((lo, hi));
        match lo {
            Some(lo) => (hi, len) = (Some(lo), len.saturating_mul(GROWTH)),
            None => return out,
        }
    }
}

/// The oldest and newest second the parts hold; `None` for no parts or one without time bounds.
fn span_of(parts: &[PartSpan]) -> Span {
    if parts.is_empty() || parts.iter().any(|p| p.min_time == 0 && p.max_time == 0) {
        return None;
    }
    let lo = parts.iter().map(|p| p.min_time).min()?;
    let hi = parts.iter().map(|p| p.max_time).max()?;
    Some((lo, hi))
}

impl Store {
    /// The oldest and newest event second any active part of `events` holds; `None` when that is not
    /// known (the cluster profile, a part without time bounds, an empty table).
    async fn event_time_span(&self) -> Result<Span> {
        if self.cluster().is_some() {
            return Ok(None);
        }
        if let Some((at, span)) = *self.event_span.0.lock().expect("span lock") {
            if at.elapsed() < SPAN_REUSE {
                return Ok(span);
            }
        }
        let span = span_of(&self.event_parts().await?);
        *self.event_span.0.lock().expect("span lock") = Some((Instant::now(), span));
        Ok(span)
    }

    /// One page of matching events, newest first. Keys first — four narrow columns under
    /// ClickHouse's top-N sort, window by window (see the module doc), duplicates (re-deliveries not
    /// merged yet) dropped, more keys read when duplicates left a window short — then the rows of
    /// exactly those keys, found by event id within the keys' time span.
    pub async fn events_page(
        &self,
        f: &EventFilter,
        after: Option<&Cursor>,
        limit: u64,
    ) -> Result<Page<EventRow>> {
        let spans = match self.event_time_span().await? {
            Some((oldest, newest)) => {
                let floor = f
                    .since
                    .map_or(oldest, |t| oldest.max(t.timestamp().max(0) as u32));
                let top = [Some(newest), f.until.map(|t| t.timestamp().max(0) as u32)]
                    .into_iter()
                    .chain([after.map(|c| c.ts)])
                    .flatten()
                    .min()
                    .unwrap_or(newest);
                windows(top, floor)
            }
            None => vec![(None, None)],
        };
        let mut keys: Vec<EventKey> = Vec::new();
        for (lo, hi) in spans {
            let want = limit - keys.len() as u64;
            if want == 0 {
                break;
            }
            keys.extend(self.window_keys(f, after, lo, hi, want).await?);
        }
        let (Some(newest), Some(oldest)) = (keys.first(), keys.last()) else {
            return Ok(Page::new(Vec::new(), limit, |_: &EventRow| unreachable!()));
        };
        let ids: Vec<&str> = keys.iter().map(|k| k.event_id.as_str()).collect();
        let (prewhere, tenant) = (
            if f.user_id.is_some() {
                USER_PREWHERE
            } else {
                ""
            },
            if f.tenant.is_some() {
                " AND tenant = ?"
            } else {
                ""
            },
        );
        let read = match f.user_id {
            Some(_) => Store::narrow_query,
            None => Store::query,
        };
        let mut q = read(self, &format!("SELECT ?fields FROM events{prewhere} WHERE ts >= toDateTime(?) AND ts <= toDateTime(?) AND has(?, event_id){tenant} ORDER BY ts DESC, ts_ms DESC, event_id DESC{ONE_PER_KEY}"));
        if let Some(u) = &f.user_id {
            q = q.bind(u);
        }
        q = q.bind(oldest.ts).bind(newest.ts).bind(&ids);
        if let Some(t) = &f.tenant {
            q = q.bind(t);
        }
        let wanted: HashSet<_> = keys.iter().map(EventKey::identity).collect();
        let rows: Vec<EventRow> = q
            .fetch_all::<EventRow>()
            .await?
            .into_iter()
            .filter(|r| {
                wanted.contains(&(
                    r.tenant.as_str(),
                    r.user_id.as_str(),
                    r.ts,
                    r.event_id.as_str(),
                ))
            })
            .collect();
        Ok(Page::new(rows, limit, |r| Cursor {
            ts: r.ts,
            ms: r.ts_ms,
            id: r.event_id.clone(),
        }))
    }

    /// The newest `want` distinct keys matching `f` after `after` with `lo <= ts < hi`.
    async fn window_keys(
        &self,
        f: &EventFilter,
        after: Option<&Cursor>,
        lo: Option<u32>,
        hi: Option<u32>,
        want: u64,
    ) -> Result<Vec<EventKey>> {
        let mut n = want.saturating_mul(2).max(want + 16);
        loop {
            let mut sql = f.sql("tenant, user_id, ts, event_id", false);
            sql.after(after, "event_id");
            if let Some(lo) = lo {
                sql.push(" AND ts >= toDateTime(?)", [Arg::U32(lo)]);
            }
            if let Some(hi) = hi {
                sql.push(" AND ts < toDateTime(?)", [Arg::U32(hi)]);
            }
            sql.push(
                " ORDER BY ts DESC, ts_ms DESC, event_id DESC LIMIT ?",
                [Arg::U64(n)],
            );
            let q = match f.user_id {
                Some(_) => sql.narrow_query(self),
                None => sql.query(self),
            };
            let raw: Vec<EventKey> = q.fetch_all().await?;
            let last = (raw.len() as u64) < n || n >= 1 << 24;
            let mut seen = HashSet::new();
            let keys: Vec<EventKey> = raw
                .into_iter()
                .filter(|k| {
                    seen.insert((
                        k.tenant.clone(),
                        k.user_id.clone(),
                        k.ts,
                        k.event_id.clone(),
                    ))
                })
                .take(want as usize)
                .collect();
            if keys.len() as u64 == want || last {
                return Ok(keys);
            }
            n = n.saturating_mul(4);
        }
    }

    /// The given events of one user (an alert's evidence, the alert raised at `at`), oldest first.
    /// Looked for near `at` first; the whole history is read only when some are not found there.
    pub async fn evidence(
        &self,
        tenant: &str,
        user_id: &str,
        ids: &[String],
        at: u32,
    ) -> Result<Vec<EventRow>> {
        if ids.is_empty() {
            // An alert about an IP or a tenant (a lockout storm) may cite none; and 18.16 rejects
            // `has([], event_id)` (`Array(Nothing)`), which answered such an alert's page with 503.
            return Ok(Vec::new());
        }
        let near = (
            at.saturating_sub(EVIDENCE_REACH_SECS),
            at.saturating_add(EVIDENCE_REACH_SECS),
        );
        let rows = self.evidence_within(tenant, user_id, ids, near).await?;
        let found: HashSet<&str> = rows.iter().map(|r| r.event_id.as_str()).collect();
        if ids.iter().all(|id| found.contains(id.as_str())) {
            return Ok(rows);
        }
        self.evidence_within(tenant, user_id, ids, (0, u32::MAX))
            .await
    }

    async fn evidence_within(
        &self,
        tenant: &str,
        user_id: &str,
        ids: &[String],
        (lo, hi): (u32, u32),
    ) -> Result<Vec<EventRow>> {
        self.narrow_query(&format!("SELECT ?fields FROM events{USER_PREWHERE} WHERE tenant = ? AND has(?, event_id) AND ts >= toDateTime(?) AND ts <= toDateTime(?) ORDER BY ts, ts_ms, event_id{ONE_PER_KEY}"))
            .bind(user_id)
            .bind(tenant)
            .bind(ids)
            .bind(lo)
            .bind(hi)
            .fetch_all()
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_widen_newest_first_and_end_unbounded_at_the_oldest_event() {
        let (top, week) = (500 * 86_400, 7 * 86_400);
        let w = windows(top, 0);
        assert_eq!(w[0], (Some(top + 1 - week), None));
        assert_eq!(w[1], (Some(top + 1 - 8 * week), Some(top + 1 - week)));
        assert_eq!(w[2], (Some(top + 1 - 64 * week), Some(top + 1 - 8 * week)));
        assert_eq!(w[3], (None, Some(top + 1 - 64 * week)));
        assert_eq!(w.len(), 4);
        // Each window starts where the next newer one ends: nothing between them, nothing twice.
        for pair in w.windows(2) {
            assert_eq!(pair[1].1, pair[0].0);
        }
        // Everything stored within the first week: one unbounded window.
        assert_eq!(windows(top, top - 10), [(None, None)]);
        // Times near zero never wrap.
        assert_eq!(windows(5, 0), [(None, None)]);
    }

    #[test]
    fn the_span_is_known_only_when_every_part_has_time_bounds() {
        let part = |min_time, max_time| PartSpan {
            name: "p".into(),
            min_time,
            max_time,
        };
        assert_eq!(span_of(&[part(10, 20), part(5, 15)]), Some((5, 20)));
        assert_eq!(span_of(&[part(10, 20), part(0, 0)]), None);
        assert_eq!(span_of(&[]), None);
    }
}

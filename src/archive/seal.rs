//! Seals of live history: each closed UTC day of `events` gets a signed seal — its event count and an
//! order-independent hash of its events (the sum, mod 2^256, of each event's SHA-256 over its id
//! and content), chained to the previous seal. Events that arrive after their day was sealed go into a
//! new seal for that day. `custos verify` recomputes every day and names each that no longer matches.

use std::collections::BTreeMap;

use anyhow::Context;
use sha2::{Digest as _, Sha256};

use super::keys::{hex, sha256_hex, PublicKey, SigningKey};
use crate::store::seals::{SealRow, SealedEvent};
use crate::store::Store;

/// An order-independent hash of a set of events: the sum of their SHA-256s as 256-bit integers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SetHash([u64; 4]);

impl SetHash {
    pub fn add(&mut self, h: &[u8; 32]) {
        let mut carry = 0u128;
        for (i, limb) in self.0.iter_mut().enumerate() {
            let x = u64::from_le_bytes(h[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
            let s = *limb as u128 + x as u128 + carry;
            *limb = s as u64;
            carry = s >> 64;
        }
    }

    pub fn hex(&self) -> String {
        let mut b = [0u8; 32];
        for (i, l) in self.0.iter().enumerate() {
            b[i * 8..i * 8 + 8].copy_from_slice(&l.to_le_bytes());
        }
        hex(&b)
    }
}

fn put(buf: &mut Vec<u8>, s: &[u8]) {
    buf.extend_from_slice(&(s.len() as u32).to_le_bytes());
    buf.extend_from_slice(s);
}

/// SHA-256 of one event's identity and content, each field length-prefixed.
pub fn event_hash(e: &SealedEvent) -> [u8; 32] {
    let mut b = Vec::with_capacity(256);
    for s in [&e.event_id, &e.tenant, &e.user_id, &e.action] {
        put(&mut b, s.as_bytes());
    }
    b.extend_from_slice(&e.ts.to_le_bytes());
    b.extend_from_slice(&e.ts_ms.to_le_bytes());
    put(&mut b, e.object_type.as_bytes());
    b.extend_from_slice(&e.record_count.to_le_bytes());
    for s in [&e.ip, &e.user_agent, &e.session_id, &e.outcome] {
        put(&mut b, s.as_bytes());
    }
    for list in [&e.attr_keys, &e.attr_values] {
        b.extend_from_slice(&(list.len() as u32).to_le_bytes());
        for s in list {
            put(&mut b, s.as_bytes());
        }
    }
    Sha256::digest(&b).into()
}

/// What is signed of a seal; its SHA-256 is the seal's hash.
pub fn seal_text(seq: u64, day: u16, count: u64, content: &str, prev: &str) -> String {
    format!(
        "custos-seal/1\nseq={seq}\nday={}\nevents={count}\ncontent={content}\nprev={prev}\n",
        day_str(day)
    )
}

pub fn day_str(day: u16) -> String {
    (chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch") + chrono::Days::new(day as u64))
        .to_string()
}

/// A day's events now: their count and set hash.
pub async fn day_state(store: &Store, day: u16) -> anyhow::Result<(u64, String)> {
    let mut cursor = store.day_events(day)?;
    let (mut n, mut h) = (0u64, SetHash::default());
    while let Some(e) = cursor.next().await.context("reading a day's events")? {
        h.add(&event_hash(&e));
        n += 1;
    }
    Ok((n, h.hex()))
}

/// Today (days since 1970-01-01, UTC): days before it are closed.
pub fn today() -> u16 {
    (crate::time::now_secs() / 86_400) as u16
}

/// The latest seal of each day.
fn latest(seals: &[SealRow]) -> BTreeMap<u16, &SealRow> {
    let mut m = BTreeMap::new();
    for s in seals {
        m.insert(s.day, s);
    }
    m
}

/// What `custos seal` did.
#[derive(Debug, Default)]
pub struct Sealed {
    pub sealed: Vec<(String, u64)>,
    /// Days whose stored events no longer match their seal: not sealed again.
    pub refused: Vec<String>,
}

/// Seals every closed day with events not yet sealed (and days whose late events are not).
pub async fn seal(store: &Store, key: &SigningKey) -> anyhow::Result<Sealed> {
    let seals = store.seals().await.context("reading seals")?;
    let by_day = latest(&seals);
    let (mut seq, mut prev) = seals
        .last()
        .map_or((0, String::new()), |s| (s.seq, s.seal_hash.clone()));
    // Days with events stored since the last seal (two days back: the day still open then).
    let since = seals
        .last()
        .map_or(0, |s| s.sealed_at.saturating_sub(2 * 86_400));
    let days = store
        .event_days_ingested_since(since, today())
        .await
        .context("listing days to seal")?;
    let mut out = Sealed::default();
    let public = key.public().hex();
    for day in days {
        let (count, content) = day_state(store, day).await?;
        if let Some(s) = by_day.get(&day) {
            if s.event_count == count && s.content_hash == content {
                continue;
            }
            if count <= s.event_count {
                out.refused.push(format!(
                    "{}: its {} stored events no longer match its seal #{} ({} events): not sealed again; run `custos verify`",
                    day_str(day), count, s.seq, s.event_count
                ));
                continue;
            }
        }
        seq += 1;
        let text = seal_text(seq, day, count, &content, &prev);
        let row = SealRow {
            seq,
            day,
            event_count: count,
            content_hash: content,
            prev_hash: prev.clone(),
            seal_hash: sha256_hex(text.as_bytes()),
            signature: hex(&key.sign(text.as_bytes())),
            public_key: public.clone(),
            sealed_at: crate::time::now_secs(),
        };
        store.insert_seal(&row).await.context("storing a seal")?;
        tracing::info!(day = %day_str(day), events = count, seq, "sealed");
        prev = row.seal_hash;
        out.sealed.push((day_str(day), count));
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DayStatus {
    Ok,
    /// Not closed yet: sealed once it is.
    Open,
    /// Stored events differ from the day's latest seal (changed or deleted).
    Changed,
    /// More events than the seal: late events not sealed yet.
    Unsealed,
    /// A closed day with events and no seal (its seal is gone, or it was never sealed).
    NoSeal,
}

/// What `custos verify` found.
#[derive(Debug, Default)]
pub struct Verified {
    pub chain: Vec<String>,
    pub days: Vec<(String, DayStatus, String)>,
}

impl Verified {
    pub fn ok(&self) -> bool {
        self.chain.is_empty()
            && self
                .days
                .iter()
                .all(|(_, s, _)| matches!(s, DayStatus::Ok | DayStatus::Open))
    }
}

/// Checks the chain of seals and recomputes every day in `[from, to)` (days since 1970-01-01).
pub async fn verify(
    store: &Store,
    key: Option<PublicKey>,
    from: u16,
    to: u16,
) -> anyhow::Result<Verified> {
    let seals = store.seals().await.context("reading seals")?;
    let mut v = Verified::default();
    let mut prev: Option<&SealRow> = None;
    for s in &seals {
        let want_seq = prev.map_or(1, |p| p.seq + 1);
        if s.seq != want_seq {
            v.chain.push(if s.seq < want_seq {
                format!("seal #{} appears twice with different contents", s.seq)
            } else {
                format!(
                    "seals #{want_seq}..#{} are gone (the chain is broken)",
                    s.seq - 1
                )
            });
        } else if s.prev_hash != prev.map_or("", |p| p.seal_hash.as_str()) {
            v.chain.push(format!(
                "seal #{}: does not follow the seal before it",
                s.seq
            ));
        }
        let text = seal_text(s.seq, s.day, s.event_count, &s.content_hash, &s.prev_hash);
        let k = key.or_else(|| PublicKey::from_hex(&s.public_key));
        if sha256_hex(text.as_bytes()) != s.seal_hash
            || !k.is_some_and(|k| k.verifies(text.as_bytes(), &s.signature))
        {
            v.chain.push(format!(
                "seal #{} ({}): modified (its hash or signature does not verify)",
                s.seq,
                day_str(s.day)
            ));
        }
        prev = Some(s);
    }
    let by_day = latest(&seals);
    let mut days: std::collections::BTreeSet<u16> =
        store.event_days(from, to).await?.into_iter().collect();
    days.extend(by_day.keys().filter(|d| (from..to).contains(*d)));
    let today = today();
    for day in days {
        let (count, content) = day_state(store, day).await?;
        let (status, detail) = match by_day.get(&day) {
            _ if day >= today => (DayStatus::Open, format!("{count} events; not closed yet")),
            None => (
                DayStatus::NoSeal,
                format!("{count} events and no seal (its seal is gone, or `custos seal` has not run)"),
            ),
            Some(s) if s.event_count == count && s.content_hash == content => {
                (DayStatus::Ok, format!("{count} events, seal #{}", s.seq))
            }
            Some(s) if count > s.event_count => (
                DayStatus::Unsealed,
                format!(
                    "{count} events, {} more than seal #{}: late events not sealed yet (`custos seal`)",
                    count - s.event_count,
                    s.seq
                ),
            ),
            Some(s) => (
                DayStatus::Changed,
                format!(
                    "stored events no longer match seal #{} ({count} events now, {} sealed)",
                    s.seq, s.event_count
                ),
            ),
        };
        v.days.push((day_str(day), status, detail));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_set_hash_ignores_order_and_carries() {
        let (a, b) = ([0xffu8; 32], [1u8; 32]);
        let (mut x, mut y) = (SetHash::default(), SetHash::default());
        x.add(&a);
        x.add(&b);
        y.add(&b);
        y.add(&a);
        assert_eq!(x, y);
        let mut one = SetHash::default();
        one.add(&a);
        assert_ne!(one, x);
        // 0xff..ff + 0x01..01 wraps with carries between limbs.
        assert_eq!(&x.hex()[..4], "0001");
    }

    #[test]
    fn an_event_hash_covers_every_content_field() {
        let e = SealedEvent {
            event_id: "e1".into(),
            tenant: "t".into(),
            user_id: "u".into(),
            action: "export".into(),
            ts: 1,
            ts_ms: 2,
            object_type: "contact".into(),
            record_count: 3,
            ip: "10.0.0.1".into(),
            user_agent: "ua".into(),
            session_id: "s".into(),
            outcome: "success".into(),
            attr_keys: vec!["k".into()],
            attr_values: vec!["v".into()],
        };
        let h = event_hash(&e);
        let mut f = e.clone();
        f.record_count = 4;
        assert_ne!(event_hash(&f), h);
        let mut f = e.clone();
        f.attr_values = vec!["w".into()];
        assert_ne!(event_hash(&f), h);
        // Length prefixes: moving a byte between fields changes the hash.
        let mut f = e.clone();
        f.tenant = "tu".into();
        f.user_id = String::new();
        assert_ne!(event_hash(&f), h);
        assert_eq!(day_str(0), "1970-01-01");
        assert!(seal_text(1, 0, 2, "c", "").contains("day=1970-01-01\n"));
    }
}

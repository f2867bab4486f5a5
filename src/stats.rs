//! Process-wide counters shared by the stages (read by `replay`'s summary, progress and later `/metrics`).
//! "stored" and "rejected" count only what ClickHouse confirmed.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use std::collections::BTreeMap;

use serde::Serialize;

#[derive(Debug, Default)]
pub struct Stats {
    pub read: AtomicU64,
    pub stored: AtomicU64,
    pub rejected: AtomicU64,
    pub duplicates: AtomicU64,
    pub alerts: AtomicU64,
    pub directory_read: AtomicU64,
    pub directory_stored: AtomicU64,
    pub directory_rejected: AtomicU64,
    pub batches: AtomicU64,
    pub insert_failures: AtomicU64,
    /// Set while the writer is failing to reach ClickHouse (for readiness).
    pub store_down: std::sync::atomic::AtomicBool,
    /// Kafka partitions of the events topic this instance holds now.
    pub kafka_partitions: AtomicU64,
    /// Set while this instance has held no partition for longer than 3 × the session timeout
    /// (for readiness: a consumer left without work is not silently idle).
    pub kafka_unassigned: std::sync::atomic::AtomicBool,
    /// Dead letters stored, by rejection code (events and directory records together).
    pub rejected_by_code: std::sync::Mutex<BTreeMap<String, u64>>,
}

/// The counts of one batch, added to [`Stats`] once ClickHouse confirmed it.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub read: u64,
    pub stored: u64,
    pub rejected: u64,
    pub duplicates: u64,
    pub alerts: u64,
    pub directory_read: u64,
    pub directory_stored: u64,
    pub directory_rejected: u64,
}

/// `replay`'s summary line.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub read: u64,
    pub stored: u64,
    pub rejected: u64,
    /// `rejected` (and rejected directory records) by code: `invalid_json`, `missing_field`, …
    pub rejected_by_code: BTreeMap<String, u64>,
    pub duplicates: u64,
    pub alerts: u64,
}

impl Stats {
    /// Counts stored dead letters by code.
    pub fn add_codes<'a>(&self, codes: impl Iterator<Item = &'a str>) {
        let mut by = self.rejected_by_code.lock().expect("stats lock");
        for c in codes {
            *by.entry(c.to_owned()).or_default() += 1;
        }
    }

    pub fn add(&self, t: &Tally) {
        self.read.fetch_add(t.read, Relaxed);
        self.stored.fetch_add(t.stored, Relaxed);
        self.rejected.fetch_add(t.rejected, Relaxed);
        self.duplicates.fetch_add(t.duplicates, Relaxed);
        self.alerts.fetch_add(t.alerts, Relaxed);
        self.directory_read.fetch_add(t.directory_read, Relaxed);
        self.directory_stored.fetch_add(t.directory_stored, Relaxed);
        self.directory_rejected
            .fetch_add(t.directory_rejected, Relaxed);
        self.batches.fetch_add(1, Relaxed);
    }

    pub fn summary(&self) -> Summary {
        Summary {
            read: self.read.load(Relaxed),
            stored: self.stored.load(Relaxed),
            rejected: self.rejected.load(Relaxed),
            rejected_by_code: self.rejected_by_code.lock().expect("stats lock").clone(),
            duplicates: self.duplicates.load(Relaxed),
            alerts: self.alerts.load(Relaxed),
        }
    }
}

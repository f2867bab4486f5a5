//! Prometheus metrics (`GET /metrics`): pipeline counters mirrored from [`Stats`] at scrape time,
//! plus what only the stages can observe — ClickHouse insert latency, consumer lag, alerts by detector,
//! lockout actions by status.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::OnceLock;

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

use crate::stats::Stats;

/// A gauge copied from a [`Stats`] counter at scrape time.
type Mirrored = (IntGauge, fn(&Stats) -> u64);

pub struct Metrics {
    registry: Registry,
    pub insert_latency: Histogram,
    pub consumer_lag: IntGauge,
    pub alerts: IntCounterVec,
    pub api_requests: IntCounterVec,
    pub actions: IntCounterVec,
    mirrored: Vec<Mirrored>,
}

fn gauge(r: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("valid metric");
    r.register(Box::new(g.clone())).expect("unique metric");
    g
}

impl Metrics {
    fn new() -> Self {
        let registry = Registry::new();
        let insert_latency = Histogram::with_opts(
            HistogramOpts::new(
                "custos_clickhouse_insert_seconds",
                "ClickHouse batch insert latency (all tables of one batch)",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
        )
        .expect("valid histogram");
        registry
            .register(Box::new(insert_latency.clone()))
            .expect("unique metric");
        let alerts = IntCounterVec::new(
            Opts::new("custos_alerts_total", "New alerts stored, by detector"),
            &["detector"],
        )
        .expect("valid");
        registry
            .register(Box::new(alerts.clone()))
            .expect("unique metric");
        let api_requests = IntCounterVec::new(
            Opts::new(
                "custos_api_requests_total",
                "API requests by route and status",
            ),
            &["route", "status"],
        )
        .expect("valid");
        registry
            .register(Box::new(api_requests.clone()))
            .expect("unique metric");
        let actions = IntCounterVec::new(
            Opts::new(
                "custos_lockout_actions_total",
                "Lockout action transitions recorded in `actions`, by action and status",
            ),
            &["action", "status"],
        )
        .expect("valid");
        registry
            .register(Box::new(actions.clone()))
            .expect("unique metric");
        let consumer_lag = gauge(
            &registry,
            "custos_consumer_lag_messages",
            "Kafka messages behind the high watermark, summed over assigned partitions",
        );
        let mirrored: Vec<Mirrored> = vec![
            (
                gauge(
                    &registry,
                    "custos_events_in_total",
                    "Event records read from sources",
                ),
                |s| s.read.load(Relaxed),
            ),
            (
                gauge(
                    &registry,
                    "custos_events_stored_total",
                    "Events confirmed stored by ClickHouse",
                ),
                |s| s.stored.load(Relaxed),
            ),
            (
                gauge(
                    &registry,
                    "custos_events_rejected_total",
                    "Event records dead-lettered",
                ),
                |s| s.rejected.load(Relaxed),
            ),
            (
                gauge(
                    &registry,
                    "custos_events_duplicate_total",
                    "In-stream duplicate events dropped",
                ),
                |s| s.duplicates.load(Relaxed),
            ),
            (
                gauge(
                    &registry,
                    "custos_directory_records_total",
                    "Directory records read",
                ),
                |s| s.directory_read.load(Relaxed),
            ),
            (
                gauge(&registry, "custos_batches_total", "Batches stored"),
                |s| s.batches.load(Relaxed),
            ),
            (
                gauge(
                    &registry,
                    "custos_insert_failures_total",
                    "Failed ClickHouse insert attempts (retried)",
                ),
                |s| s.insert_failures.load(Relaxed),
            ),
            (
                gauge(
                    &registry,
                    "custos_clickhouse_down",
                    "1 while the writer cannot reach ClickHouse",
                ),
                |s| s.store_down.load(Relaxed) as u64,
            ),
            (
                gauge(
                    &registry,
                    "custos_kafka_assigned_partitions",
                    "Partitions of the events topic this instance consumes now",
                ),
                |s| s.kafka_partitions.load(Relaxed),
            ),
        ];
        Metrics {
            registry,
            insert_latency,
            consumer_lag,
            alerts,
            api_requests,
            actions,
            mirrored,
        }
    }

    /// Every metric family custos exports (also those with no labelled series yet, which `render` omits).
    pub fn names(&self) -> Vec<String> {
        use prometheus::core::Collector;
        let mut descs = Vec::new();
        descs.extend(self.insert_latency.desc());
        descs.extend(self.consumer_lag.desc());
        descs.extend(self.alerts.desc());
        descs.extend(self.api_requests.desc());
        descs.extend(self.actions.desc());
        for (g, _) in &self.mirrored {
            descs.extend(g.desc());
        }
        descs.into_iter().map(|d| d.fq_name.clone()).collect()
    }

    /// Prometheus text format, with the pipeline counters of `stats` (if a pipeline runs here).
    pub fn render(&self, stats: Option<&Stats>) -> String {
        if let Some(s) = stats {
            for (g, read) in &self.mirrored {
                g.set(read(s) as i64);
            }
        }
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding");
        String::from_utf8(buf).expect("utf-8")
    }
}

/// The process's metrics.
pub fn global() -> &'static Metrics {
    static M: OnceLock<Metrics> = OnceLock::new();
    M.get_or_init(Metrics::new)
}

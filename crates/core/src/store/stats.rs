//! Store counters and Redis telemetry. Plain atomics and lock-free histograms: the hot path
//! must never wait on a lock to count.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};

use super::error::is_wrong_type;
use super::StoreError;

use crate::model::StoreStats;

#[derive(Debug, Default)]
pub(crate) struct Counters {
    batch_writes: AtomicU64,
    streaming_writes: AtomicU64,
    /// Rows skipped by the event-time rule.
    older_skipped: AtomicU64,
    reads: AtomicU64,
    requested_fields: AtomicU64,
    read_fields: AtomicU64,
    /// When the last bulk load last wrote (its end, or its last part so far), in Unix
    /// milliseconds; 0 for never.
    last_load_unix_ms: AtomicU64,
    last_load_rows: AtomicU64,
    /// The key TTL that load gave its rows.
    last_load_ttl_seconds: AtomicU64,
}

impl Counters {
    pub(crate) fn batch_written(&self, entities: usize) {
        self.batch_writes.fetch_add(entities as u64, Relaxed);
    }

    /// A bulk load has written `rows` so far (all of them, once it ends), the last just now.
    pub(crate) fn bulk_loaded(&self, rows: usize, ttl_seconds: u64) {
        self.last_load_rows.store(rows as u64, Relaxed);
        self.last_load_ttl_seconds.store(ttl_seconds, Relaxed);
        self.last_load_unix_ms.store(unix_ms_now(), Relaxed);
    }

    pub(crate) fn streaming_written(&self) {
        self.streaming_writes.fetch_add(1, Relaxed);
    }

    pub(crate) fn older_skipped(&self, rows: usize) {
        self.older_skipped.fetch_add(rows as u64, Relaxed);
    }

    /// `entities` read, asking for `requested` fields in all and finding `found`.
    pub(crate) fn read(&self, entities: usize, requested: usize, found: usize) {
        self.reads.fetch_add(entities as u64, Relaxed);
        self.requested_fields.fetch_add(requested as u64, Relaxed);
        self.read_fields.fetch_add(found as u64, Relaxed);
    }

    pub(crate) fn snapshot(&self) -> StoreStats {
        let last_load = self.last_load_unix_ms.load(Relaxed);
        StoreStats {
            batch_writes_total: self.batch_writes.load(Relaxed),
            streaming_writes_total: self.streaming_writes.load(Relaxed),
            older_events_skipped_total: self.older_skipped.load(Relaxed),
            reads_total: self.reads.load(Relaxed),
            requested_fields_total: self.requested_fields.load(Relaxed),
            read_fields_total: self.read_fields.load(Relaxed),
            last_bulk_load_unix_ms: (last_load > 0).then_some(last_load),
            last_bulk_load_rows: self.last_load_rows.load(Relaxed),
            last_bulk_load_ttl_seconds: (last_load > 0)
                .then(|| self.last_load_ttl_seconds.load(Relaxed)),
        }
    }

    pub(crate) fn reset(&self) {
        for counter in [
            &self.batch_writes,
            &self.streaming_writes,
            &self.older_skipped,
            &self.reads,
            &self.requested_fields,
            &self.read_fields,
            &self.last_load_unix_ms,
            &self.last_load_rows,
            &self.last_load_ttl_seconds,
        ] {
            counter.store(0, Relaxed);
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OpLabels {
    /// The store operation: read, batch_read, bulk_load, streaming_write, inspect, scan, reset,
    /// ping.
    pub op: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub op: &'static str,
    /// unavailable (unreachable, timed out, a cluster in failover), deadline (the caller's read
    /// deadline cut the round trip off), wrong_type, or other.
    pub kind: &'static str,
}

pub type OpDurations = Family<OpLabels, Histogram, fn() -> Histogram>;

/// How long each store operation's Redis round trips take, and how they fail: recorded by the
/// store, encoded by `/metrics`.
#[derive(Clone, Debug)]
pub struct RedisTelemetry {
    pub durations: OpDurations,
    pub errors: Family<ErrorLabels, Counter>,
}

/// Every store operation that times its round trips.
const OPS: [&str; 9] = [
    "read",
    "batch_read",
    "bulk_load",
    "streaming_write",
    "inspect",
    "scan",
    "reset",
    "ping",
    "lease",
];
/// Every kind of error counted.
const ERROR_KINDS: [&str; 4] = ["unavailable", "deadline", "wrong_type", "other"];

impl Default for RedisTelemetry {
    fn default() -> Self {
        // 10 µs to about 0.3 s.
        let durations: OpDurations =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.000_01, 2.0, 16)));
        let errors: Family<ErrorLabels, Counter> = Family::default();
        // Every series exists at 0 from the start, so a scraper sees the first error as an
        // increase rather than as a new series.
        for op in OPS {
            for kind in ERROR_KINDS {
                let _ = errors.get_or_create(&ErrorLabels { op, kind });
            }
        }
        RedisTelemetry { durations, errors }
    }
}

impl RedisTelemetry {
    /// Starts timing the round trips of `op`.
    pub(crate) fn start(&self, op: &'static str) -> Timing<'_> {
        debug_assert!(OPS.contains(&op), "{op} is not in OPS");
        Timing {
            telemetry: self,
            op,
            started: Instant::now(),
            finished: false,
        }
    }

    fn observe(&self, op: &'static str, started: Instant, error_kind: Option<&'static str>) {
        self.durations
            .get_or_create(&OpLabels { op })
            .observe(started.elapsed().as_secs_f64());
        if let Some(kind) = error_kind {
            self.errors.get_or_create(&ErrorLabels { op, kind }).inc();
        }
    }
}

/// The round trips of one operation being timed. Dropped unfinished, they were cut off by a
/// read deadline, and count as an error of kind `deadline`: a frozen Redis shows in the metrics.
pub(crate) struct Timing<'a> {
    telemetry: &'a RedisTelemetry,
    op: &'static str,
    started: Instant,
    finished: bool,
}

impl Timing<'_> {
    pub(crate) fn finish(mut self, error: Option<&StoreError>) {
        self.finished = true;
        let kind = error.map(|error| match error {
            e if e.is_unavailable() => "unavailable",
            StoreError::NotAHash { .. } => "wrong_type",
            StoreError::Redis(e) if is_wrong_type(e) => "wrong_type",
            _ => "other",
        });
        self.telemetry.observe(self.op, self.started, kind);
    }
}

impl Drop for Timing<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.telemetry
                .observe(self.op, self.started, Some("deadline"));
        }
    }
}

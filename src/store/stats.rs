//! Store counters. Plain atomics: the hot path must never wait on a lock to count.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::model::StoreStats;

#[derive(Debug, Default)]
pub(crate) struct Counters {
    batch_writes: AtomicU64,
    streaming_writes: AtomicU64,
    reads: AtomicU64,
    requested_fields: AtomicU64,
    read_fields: AtomicU64,
    /// When the last bulk load finished, in Unix milliseconds; 0 for never.
    last_load_unix_ms: AtomicU64,
    last_load_rows: AtomicU64,
}

impl Counters {
    pub(crate) fn batch_written(&self, entities: usize) {
        self.batch_writes.fetch_add(entities as u64, Relaxed);
    }

    pub(crate) fn bulk_load_finished(&self, rows: usize) {
        self.last_load_rows.store(rows as u64, Relaxed);
        self.last_load_unix_ms.store(unix_ms_now(), Relaxed);
    }

    pub(crate) fn streaming_written(&self) {
        self.streaming_writes.fetch_add(1, Relaxed);
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
            reads_total: self.reads.load(Relaxed),
            requested_fields_total: self.requested_fields.load(Relaxed),
            read_fields_total: self.read_fields.load(Relaxed),
            last_bulk_load_unix_ms: (last_load > 0).then_some(last_load),
            last_bulk_load_rows: self.last_load_rows.load(Relaxed),
        }
    }

    pub(crate) fn reset(&self) {
        for counter in [
            &self.batch_writes,
            &self.streaming_writes,
            &self.reads,
            &self.requested_fields,
            &self.read_fields,
            &self.last_load_unix_ms,
            &self.last_load_rows,
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

//! Store counters. Plain atomics: the hot path must never wait on a lock to count.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::model::StoreStats;

#[derive(Debug, Default)]
pub(crate) struct Counters {
    batch_writes: AtomicU64,
    streaming_writes: AtomicU64,
    reads: AtomicU64,
    read_fields: AtomicU64,
}

impl Counters {
    pub(crate) fn batch_written(&self, entities: usize) {
        self.batch_writes.fetch_add(entities as u64, Relaxed);
    }

    pub(crate) fn streaming_written(&self) {
        self.streaming_writes.fetch_add(1, Relaxed);
    }

    pub(crate) fn read(&self, entities: usize, fields: usize) {
        self.reads.fetch_add(entities as u64, Relaxed);
        self.read_fields.fetch_add(fields as u64, Relaxed);
    }

    pub(crate) fn snapshot(&self) -> StoreStats {
        StoreStats {
            batch_writes_total: self.batch_writes.load(Relaxed),
            streaming_writes_total: self.streaming_writes.load(Relaxed),
            reads_total: self.reads.load(Relaxed),
            read_fields_total: self.read_fields.load(Relaxed),
        }
    }

    pub(crate) fn reset(&self) {
        for counter in [
            &self.batch_writes,
            &self.streaming_writes,
            &self.reads,
            &self.read_fields,
        ] {
            counter.store(0, Relaxed);
        }
    }
}

//! Preparing a store before it serves, or from a batch job: reset what is under the prefix and
//! materialize synthetic entities. The server's startup, `build-features` and the bulk-load
//! operation all seed through `seed`, and say what they did with `Seeded::summary`.

use crate::registry::Registry;
use crate::store::{EventRule, FeatureStore, LoadReport, StoreError};
use crate::synth::synthesize;

/// What to write: `count` synthetic entities (u0001 onwards) drawn from `seed`.
#[derive(Clone, Copy, Debug)]
pub struct Seeding {
    pub count: u64,
    pub seed: u64,
    /// Their key TTL; the registry's batch TTL when `None`.
    pub ttl_seconds: Option<u64>,
    pub rule: EventRule,
}

/// What a seeding did.
#[derive(Clone, Debug)]
pub struct Seeded {
    pub report: LoadReport,
    pub ttl_seconds: u64,
}

impl Seeded {
    /// One line for a person: written, and what was skipped and why.
    pub fn summary(&self, store: &FeatureStore) -> String {
        let report = &self.report;
        let mut line = format!(
            "Materialized {} users at {}* with a {}s key-level TTL.",
            report.written,
            store.config().key_prefix,
            self.ttl_seconds
        );
        if !report.older.is_empty() {
            line.push_str(&format!(
                " Skipped {} whose stored event is as new or newer (--overwrite writes them).",
                report.older.len()
            ));
        }
        if !report.not_hashes.is_empty() {
            line.push_str(&format!(
                " Skipped {} whose key holds something other than a hash (left untouched).",
                report.not_hashes.len()
            ));
        }
        line
    }
}

/// Deletes every entity under the store's prefix (nothing else); the count deleted.
pub async fn reset(store: &FeatureStore) -> Result<u64, StoreError> {
    let deleted = store.reset().await?;
    tracing::info!(
        "reset: deleted {deleted} entities under {}",
        store.config().key_prefix
    );
    Ok(deleted)
}

/// Writes the synthetic entities `seeding` asks for, calling `progress` with the rows done so
/// far after each chunk.
pub async fn seed(
    store: &FeatureStore,
    registry: &Registry,
    seeding: Seeding,
    progress: impl FnMut(usize),
) -> Result<Seeded, StoreError> {
    let rows = synthesize(registry, seeding.count, seeding.seed);
    let report = store
        .bulk_load_with_progress(rows, seeding.ttl_seconds, seeding.rule, progress)
        .await?;
    Ok(Seeded {
        report,
        ttl_seconds: seeding
            .ttl_seconds
            .unwrap_or(store.config().batch_ttl_seconds),
    })
}

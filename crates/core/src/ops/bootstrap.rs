//! Preparing a store before it serves, or from a batch job: reset what is under the prefix and
//! materialize synthetic entities. The server's startup, `build-features` and the bulk-load
//! operation all seed through `seed`, and say what they did with `Seeded::summary`.

use crate::materialize::forget_watermarks;
use crate::registry::{Registry, View};
use crate::store::{reset_all, EventRule, FeatureStore, LoadReport, StoreConfig, StoreError};
use crate::synth::synthesize;

/// What to write: `count` synthetic entities of each entity (u0001 onwards for `user`, m0001
/// for `merchant`: the entity's initial) drawn from `seed`.
#[derive(Clone, Copy, Debug)]
pub struct Seeding {
    pub count: u64,
    pub seed: u64,
    /// Their key TTL; the registry's batch TTL when `None`.
    pub ttl_seconds: Option<u64>,
    pub rule: EventRule,
}

/// What a seeding did, per entity.
#[derive(Clone, Debug)]
pub struct Seeded {
    pub loads: Vec<EntityLoad>,
}

/// What a seeding wrote of one entity.
#[derive(Clone, Debug)]
pub struct EntityLoad {
    pub entity: String,
    pub key_prefix: String,
    pub report: LoadReport,
    pub ttl_seconds: u64,
}

impl Seeded {
    /// Entities written, all entities together.
    pub fn written(&self) -> usize {
        self.loads.iter().map(|l| l.report.written).sum()
    }

    /// Rows left out because their key is not a hash, all entities together.
    pub fn not_hashes(&self) -> usize {
        self.loads.iter().map(|l| l.report.not_hashes.len()).sum()
    }

    /// One line for a person: per entity, written, and what was skipped and why.
    pub fn summary(&self) -> String {
        let lines: Vec<String> = self.loads.iter().map(EntityLoad::summary).collect();
        lines.join(" ")
    }
}

impl EntityLoad {
    fn summary(&self) -> String {
        let report = &self.report;
        let mut line = format!(
            "Materialized {} {} entities at {}* with a {}s key-level TTL.",
            report.written, self.entity, self.key_prefix, self.ttl_seconds
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

/// Deletes every entity under each entity's prefix, all in one walk, and the marks where
/// incremental materializations of its views stopped (nothing else); the count of entities
/// deleted. `store` is any of the registry's stores: each entity's is made from it.
pub async fn reset(store: &FeatureStore, registry: &Registry) -> Result<u64, StoreError> {
    let stores: Vec<FeatureStore> = registry
        .entities
        .iter()
        .map(|entity| store.for_entity(StoreConfig::of_entity(registry, entity)))
        .collect();
    let deleted = reset_all(&stores.iter().collect::<Vec<_>>()).await?;
    for ((entity, store), gone) in registry.entities.iter().zip(&stores).zip(&deleted) {
        let views: Vec<&View> = (registry.views.iter())
            .filter(|v| v.entity == entity.name)
            .collect();
        let marks = forget_watermarks(store, &views).await?;
        tracing::info!(
            "reset: deleted {gone} entities and {marks} materialization marks under {}",
            entity.key_prefix
        );
    }
    Ok(deleted.iter().sum())
}

/// Writes the synthetic entities `seeding` asks for, `count` of each entity of the registry,
/// calling `progress` with the rows done so far (all entities together) after each chunk.
pub async fn seed(
    store: &FeatureStore,
    registry: &Registry,
    seeding: Seeding,
    mut progress: impl FnMut(usize),
) -> Result<Seeded, StoreError> {
    let mut loads = Vec::with_capacity(registry.entities.len());
    let mut done_before = 0;
    for entity in &registry.entities {
        let store = store.for_entity(StoreConfig::of_entity(registry, entity));
        let rows = synthesize(&registry.of_entity(entity), seeding.count, seeding.seed);
        let report = store
            .bulk_load_with_progress(rows, seeding.ttl_seconds, seeding.rule, |done| {
                progress(done_before + done)
            })
            .await?;
        done_before += report.written + report.not_hashes.len() + report.older.len();
        loads.push(EntityLoad {
            entity: entity.name.clone(),
            key_prefix: entity.key_prefix.to_string(),
            report,
            ttl_seconds: seeding
                .ttl_seconds
                .unwrap_or(store.config().batch_ttl_seconds),
        });
    }
    Ok(Seeded { loads })
}

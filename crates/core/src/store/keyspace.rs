//! The keyspace under a store's prefix, or under those of every entity of a registry in one
//! walk: walking it (the index's SCAN), counting, deleting. Only hashes whose key is exactly a
//! prefix and a valid entity id are entities; nothing else is touched.

use redis::cmd;

use super::link::{KeyScan, ScanBatch};
use super::{FeatureStore, StoreError};
use crate::domain::EntityId;

impl FeatureStore {
    /// A walk over this store's entities, one `SCAN … COUNT` round trip per batch. For the
    /// background index and tools, never for a request: it costs O(stored entities).
    pub fn scan_entities(&self) -> EntityScan<'_> {
        EntityScan::over(vec![self])
    }

    /// How many entities exist under this prefix: a full SCAN, exact, for tools and tests.
    pub async fn count(&self) -> Result<u64, StoreError> {
        let mut count = 0;
        let mut scan = self.scan_entities();
        while let Some(batch) = scan.next_batch().await? {
            count += batch.ids.len() as u64;
        }
        Ok(count)
    }

    /// Deletes one entity; true if it existed.
    pub async fn delete(&self, id: &EntityId) -> Result<bool, StoreError> {
        let key = self.key(id);
        let removed: i64 = self.link.query(&key, cmd("UNLINK").arg(&key)).await?;
        Ok(removed == 1)
    }

    /// Deletes every entity under this store's prefix with SCAN + UNLINK: only hashes whose key
    /// is exactly prefix + a valid entity id. Nothing else is touched.
    pub async fn reset(&self) -> Result<u64, StoreError> {
        Ok(reset_all(&[self]).await?[0])
    }
}

/// Deletes every entity of `stores`, which share a connection (each entity of a registry), in
/// one SCAN walk + UNLINK: only hashes whose key is exactly a store's prefix + a valid entity
/// id. Nothing else is touched. How many were deleted of each store, in their order.
pub async fn reset_all(stores: &[&FeatureStore]) -> Result<Vec<u64>, StoreError> {
    let first = stores.first().expect("a reset of at least one store");
    let mut deleted = vec![0; stores.len()];
    let mut scan = first.link.scan(common_pattern(stores));
    while let Some(batches) = scan.next_step().await? {
        // One UNLINK per key: on a cluster, keys of different slots never share a command.
        let (owners, unlinks): (Vec<usize>, Vec<(String, redis::Cmd)>) = batches
            .into_iter()
            .flat_map(|batch| batch.keys)
            .filter_map(|key| {
                let at = owner(stores, &key)?.0;
                let mut unlink = cmd("UNLINK");
                unlink.arg(&key);
                Some((at, (key, unlink)))
            })
            .unzip();
        if unlinks.is_empty() {
            continue;
        }
        let removed = first
            .timed("reset", first.link.per_key::<u64>(unlinks))
            .await?;
        for (at, removed) in owners.into_iter().zip(removed) {
            deleted[at] += removed?;
        }
    }
    Ok(deleted)
}

/// The SCAN MATCH pattern of every key of `stores`: their prefixes' longest common start, its
/// glob characters escaped.
fn common_pattern(stores: &[&FeatureStore]) -> String {
    let mut common = stores[0].config.key_prefix.as_str();
    for store in &stores[1..] {
        let prefix = store.config.key_prefix.as_str();
        let shared = common
            .char_indices()
            .zip(prefix.chars())
            .find(|((_, a), b)| a != b)
            .map_or(common.len().min(prefix.len()), |((at, _), _)| at);
        common = &common[..shared];
    }
    format!("{}*", escape_glob(common))
}

/// Which of `stores` `key` is an entity key of (its position), with the entity's id.
fn owner(stores: &[&FeatureStore], key: &str) -> Option<(usize, EntityId)> {
    stores
        .iter()
        .enumerate()
        .find_map(|(at, store)| Some((at, store.config.key_prefix.entity_of(key)?)))
}

/// A SCAN in progress over the entities of one store, or of several sharing a connection (each
/// entity of a registry): one walk however many there are, its MATCH the prefixes' common
/// start, each key going to the store whose prefix it has (prefixes never overlap).
pub struct EntityScan<'a> {
    stores: Vec<&'a FeatureStore>,
    scan: KeyScan<'a>,
    /// What the last step found and `next_batch` has not given yet, a batch per node.
    found: Vec<ScanBatch>,
}

/// Entities one SCAN call found on one master.
pub struct EntityBatch {
    /// Each id with the position of its store among those walked.
    pub ids: Vec<(usize, EntityId)>,
    /// The master (`host:port`) they came from; `None` on a single Redis.
    pub master: Option<String>,
}

impl<'a> EntityScan<'a> {
    /// One walk over the entities of `stores`, which share a connection (`for_entity`).
    pub fn over(stores: Vec<&'a FeatureStore>) -> Self {
        let first = stores.first().expect("a walk over at least one store");
        EntityScan {
            scan: first.link.scan(common_pattern(&stores)),
            stores,
            found: Vec::new(),
        }
    }

    /// The ids of the next non-empty batch, all from one master, or `None` when the walk is
    /// complete. Each SCAN call is timed as one `scan`, so the metric counts Redis's calls.
    pub async fn next_batch(&mut self) -> Result<Option<EntityBatch>, StoreError> {
        loop {
            while let Some(batch) = self.found.pop() {
                let ids: Vec<(usize, EntityId)> = batch
                    .keys
                    .iter()
                    .filter_map(|key| owner(&self.stores, key))
                    .collect();
                if !ids.is_empty() {
                    return Ok(Some(EntityBatch {
                        ids,
                        master: batch.master,
                    }));
                }
            }
            let telemetry = &self.stores[0].telemetry;
            let timings: Vec<_> = (0..self.scan.calls())
                .map(|_| telemetry.start("scan"))
                .collect();
            let step = self.scan.next_step().await;
            for timing in timings {
                timing.finish(step.as_ref().err());
            }
            match step? {
                Some(found) => self.found = found,
                None => return Ok(None),
            }
        }
    }
}

/// Escapes the characters SCAN's MATCH treats as glob syntax, so a prefix matches literally.
pub fn escape_glob(prefix: &str) -> String {
    let mut escaped = String::with_capacity(prefix.len());
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

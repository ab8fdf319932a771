//! The keyspace under one store's prefix: walking it (the index's SCAN), counting, deleting.
//! Only hashes whose key is exactly the prefix and a valid entity id are entities; nothing else
//! is touched.

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
        let mut deleted = 0;
        let mut scan = self.link.scan(self.match_pattern());
        while let Some(batches) = scan.next_step().await? {
            let keys = batches.into_iter().flat_map(|batch| batch.keys).collect();
            // One UNLINK per key: on a cluster, keys of different slots never share a command.
            let unlinks: Vec<(String, redis::Cmd)> = self
                .entities_among(keys)
                .map(|(key, _)| {
                    let mut unlink = cmd("UNLINK");
                    unlink.arg(&key);
                    (key, unlink)
                })
                .collect();
            if unlinks.is_empty() {
                continue;
            }
            for removed in self
                .timed("reset", self.link.per_key::<u64>(unlinks))
                .await?
            {
                deleted += removed?;
            }
        }
        Ok(deleted)
    }

    /// The keys of a SCAN batch that are entity keys of this store, with their ids.
    fn entities_among(&self, keys: Vec<String>) -> impl Iterator<Item = (String, EntityId)> + '_ {
        keys.into_iter().filter_map(|key| {
            let id = self.config.key_prefix.entity_of(&key)?;
            Some((key, id))
        })
    }

    /// The SCAN MATCH pattern for this prefix, with its glob characters escaped.
    fn match_pattern(&self) -> String {
        format!("{}*", escape_glob(self.config.key_prefix.as_str()))
    }
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
        let mut common = first.config.key_prefix.as_str();
        for store in &stores[1..] {
            let prefix = store.config.key_prefix.as_str();
            let shared = common
                .char_indices()
                .zip(prefix.chars())
                .find(|((_, a), b)| a != b)
                .map_or(common.len().min(prefix.len()), |((at, _), _)| at);
            common = &common[..shared];
        }
        EntityScan {
            scan: first.link.scan(format!("{}*", escape_glob(common))),
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
                    .filter_map(|key| {
                        self.stores.iter().enumerate().find_map(|(at, store)| {
                            Some((at, store.config.key_prefix.entity_of(key)?))
                        })
                    })
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

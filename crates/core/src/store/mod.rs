//! The feature store: one Redis hash per entity, batch fields under a key-level TTL, streaming
//! fields under their own per-field TTL. One `FeatureStore` serves a whole process.

mod error;
mod keyspace;
mod lease;
mod link;
mod read;
mod stats;
mod write;

pub use keyspace::{escape_glob, reset_all, EntityBatch, EntityScan};
pub use lease::{Fence, Holding};
pub use read::{reads_whole_hash, HashRead};
pub use write::BulkLoad;

use std::time::Instant;

use redis::{cmd, Script};

use error::is_wrong_type;
pub use error::StoreError;
use link::RedisLink;
pub use link::{redact_url, MastersChanges, RedisMode, RedisVersion, CLUSTER_SCHEME};
pub use stats::unix_ms_now;
use stats::Counters;
pub use stats::RedisTelemetry;

use crate::domain::{EntityId, KeyPrefix};
use crate::model::{StoreStats, Ttl};
use crate::registry::{EntityDef, Registry};
use crate::schema::FeatureKind;

/// Chunks of a bulk load awaiting their reply at once.
const CHUNKS_IN_FLIGHT: usize = 4;
/// Rows per call of the batch write script: a call costs Redis more than a row, and one call
/// holds Redis for all of its rows.
pub const ROWS_PER_CALL: usize = 64;
/// Rows of a bulk load, up to `ROWS_PER_CALL` of one node per call: each entity's fields and
/// key TTL together. Loaded once per bulk load, then called by its hash in pipelines.
const BATCH_WRITE_LUA: &str = include_str!("lua/batch_write.lua");
/// One entity's streaming fields, each with its TTL, only if the entity exists.
const STREAMING_WRITE_LUA: &str = include_str!("lua/streaming_write.lua");

/// How the store is keyed and how long each TTL layer lasts. The store owns these values and
/// applies them itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    pub key_prefix: KeyPrefix,
    pub batch_ttl_seconds: u64,
    pub streaming_ttl_seconds: u64,
}

impl StoreConfig {
    /// The prefix and the two TTL layers of the registry's first entity, as the registry (with
    /// its overrides) says.
    pub fn of(registry: &Registry) -> Self {
        Self::of_entity(registry, registry.entity())
    }

    /// The prefix and the two TTL layers of `entity`, as its views say.
    pub fn of_entity(registry: &Registry, entity: &EntityDef) -> Self {
        let registry = registry.of_entity(entity);
        let default = StoreConfig::default();
        StoreConfig {
            key_prefix: registry.key_prefix().clone(),
            batch_ttl_seconds: registry
                .ttl_of(FeatureKind::Batch)
                .unwrap_or(default.batch_ttl_seconds),
            streaming_ttl_seconds: registry
                .ttl_of(FeatureKind::Streaming)
                .unwrap_or(default.streaming_ttl_seconds),
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            key_prefix: KeyPrefix::parse("fs:user:").expect("the default prefix is valid"),
            batch_ttl_seconds: 86_400,
            streaming_ttl_seconds: 300,
        }
    }
}

/// One entity's features, values already in their stored string form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntityRow {
    pub id: EntityId,
    pub fields: Vec<(String, String)>,
    /// Fields the row has no value for (a null in a file): deleted when the row is written, so
    /// an older value never outlives a newer null.
    pub cleared: Vec<String>,
}

/// The fields a read found, in the order they were asked for; absent ones are left out.
pub type Features = Vec<(String, String)>;

/// A read with the freshness of what it asked for.
#[derive(Clone, Debug, PartialEq)]
pub struct ReadWithTtls {
    /// One per requested name, in order; `None` for a missing or expired field.
    pub values: Vec<Option<String>>,
    /// One per requested name.
    pub field_ttls: Vec<Ttl>,
    pub key_ttl: Ttl,
    /// The round trip, in milliseconds.
    pub elapsed_ms: f64,
}

/// What a bulk load did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Entities written, each with its key TTL.
    pub written: usize,
    /// Rows left out because their key holds something other than a hash.
    pub not_hashes: Vec<EntityId>,
    /// Rows left out because an event at least as new is stored (the event-time rule).
    pub older: Vec<EntityId>,
}

/// Whether a write follows the event-time rule. A row carries each of its views' event times
/// in `_ts:<view>`; under the rule it is written only if each is newer than the stored one, in
/// the same script as the write (Feast's Redis store checks the same, but in a second round
/// trip, so two writers can both pass it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EventRule {
    /// Older or equal events are skipped and reported.
    #[default]
    NewerOnly,
    /// Written whatever is stored: a reload after fixing a source.
    Overwrite,
}

impl EventRule {
    /// The scripts' flag.
    fn arg(self) -> &'static str {
        match self {
            EventRule::NewerOnly => "0",
            EventRule::Overwrite => "1",
        }
    }
}

/// What one streaming write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamingOutcome {
    Written,
    Skipped(SkipReason),
}

/// Why a streaming write wrote nothing. It never creates an entity nor touches a key that is not
/// one: only the batch path creates entities, always with their key TTL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SkipReason {
    /// No such entity (never loaded, or its key TTL ran out).
    #[error("no such entity: only a batch write creates one")]
    NoEntity,
    /// The key holds something other than a hash.
    #[error("its key holds something other than an entity hash")]
    NotAHash,
    /// The hash has no key TTL, so it is not an entity the batch path wrote.
    #[error("its hash has no key TTL, so no batch write made it")]
    NoKeyTtl,
    /// The event-time rule: the stored event of this view is as new or newer.
    #[error("an event at least as new is stored; send \"overwrite\": true to write it anyway")]
    Older,
    /// The writer's lease token is no longer the latest: another server took the lease over.
    #[error("another server holds the worker's lease now")]
    Fenced,
}

/// A key under the prefix that holds something other than a hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WrongType;

/// How streaming values and their TTL reach Redis together, picked once from the version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StreamingWrite {
    /// Redis >= 8.0: HSETEX writes values and TTL in one command.
    HSetEx,
    /// Redis 7.4: HSET + HEXPIRE, in the same script, so no reader sees a field without its TTL.
    HSetThenHExpire,
}

/// Cheap to clone: clones share the connections, the counters and the telemetry.
#[derive(Clone)]
pub struct FeatureStore {
    link: RedisLink,
    /// A connection of its own for bulk loads: on the shared one a read queued behind their
    /// pipelined chunks (a read during a million-row materialization took 20 ms, not 0.3).
    bulk: RedisLink,
    config: StoreConfig,
    streaming_write: StreamingWrite,
    counters: std::sync::Arc<Counters>,
    telemetry: RedisTelemetry,
    streaming_script: Script,
    batch_script: Script,
}

impl FeatureStore {
    /// Connects and checks the server version once; every later call reuses that answer.
    pub async fn connect(url: &str, config: StoreConfig) -> Result<Self, StoreError> {
        let link = RedisLink::connect(url, "feature-store").await?;
        let bulk = RedisLink::connect(url, "feature-store-bulk").await?;
        let streaming_write = if link.version() >= RedisVersion::HSETEX {
            StreamingWrite::HSetEx
        } else {
            StreamingWrite::HSetThenHExpire
        };
        Ok(FeatureStore {
            link,
            bulk,
            config,
            streaming_write,
            counters: Default::default(),
            telemetry: RedisTelemetry::default(),
            streaming_script: Script::new(STREAMING_WRITE_LUA),
            batch_script: Script::new(BATCH_WRITE_LUA),
        })
    }

    /// This store keyed by another entity's prefix and TTLs, over the same connections,
    /// counters and telemetry.
    pub fn for_entity(&self, config: StoreConfig) -> FeatureStore {
        FeatureStore {
            config,
            ..self.clone()
        }
    }

    /// Writes streaming fields the Redis 7.4 way (HSET + HEXPIRE) even on a server with
    /// HSETEX: for proxies that lack HSETEX, and so that path is tested.
    pub fn with_multi_exec_streaming_writes(mut self) -> Self {
        self.streaming_write = StreamingWrite::HSetThenHExpire;
        self
    }

    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    pub fn redis_version(&self) -> RedisVersion {
        self.link.version()
    }

    /// Each change of a cluster's set of masters (a failover): what was counted per master is
    /// stale after one.
    pub fn masters_changes(&self) -> MastersChanges {
        self.link.masters_changes()
    }

    /// One Redis or a cluster, and its masters.
    pub fn redis_mode(&self) -> RedisMode {
        self.link.mode()
    }

    /// The command the streaming path writes with on this server, as the UI names it.
    pub fn streaming_write_command(&self) -> &'static str {
        match self.streaming_write {
            StreamingWrite::HSetEx => "HSETEX key EX ttl FIELDS n …",
            StreamingWrite::HSetThenHExpire => "HSET key … then HEXPIRE key ttl FIELDS n …",
        }
    }

    pub fn stats(&self) -> StoreStats {
        self.counters.snapshot()
    }

    /// Round-trip times and errors per operation, for `/metrics`.
    pub fn telemetry(&self) -> &RedisTelemetry {
        &self.telemetry
    }

    pub fn reset_stats(&self) {
        self.counters.reset();
    }

    /// The Redis key of an entity.
    pub fn key(&self, id: &EntityId) -> String {
        format!("{}{}", self.config.key_prefix, id)
    }

    /// One PING: Redis is reachable and answering.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.timed("ping", self.link.ping()).await
    }

    /// One command on one key of the store's own (not an entity: a materialization's
    /// watermark), routed by that key.
    pub async fn query_key<T: redis::FromRedisValue + Send>(
        &self,
        key: &str,
        command: &redis::Cmd,
    ) -> Result<T, StoreError> {
        self.link.query(key, command).await
    }

    /// Which Redis processes answer now: their run ids (see `Link::run_ids`).
    pub async fn run_ids(&self) -> Result<Vec<String>, StoreError> {
        self.timed("ping", self.link.run_ids()).await
    }

    /// Runs the Redis round trips of `op`, recording how long they took and how they failed, or
    /// that a deadline cut them off.
    async fn timed<T>(
        &self,
        op: &'static str,
        request: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let timing = self.telemetry.start(op);
        let result = request.await;
        timing.finish(result.as_ref().err());
        result
    }

    /// Turns Redis's WRONGTYPE for `key` into an error naming what the key holds; times `op`.
    async fn on_key<T>(
        &self,
        op: &'static str,
        key: &str,
        request: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match self.timed(op, request).await {
            Err(StoreError::Redis(e)) if is_wrong_type(&e) => {
                let found: String = self.link.query(key, cmd("TYPE").arg(key)).await?;
                Err(StoreError::NotAHash {
                    key: key.to_owned(),
                    found,
                })
            }
            other => other,
        }
    }
}

fn elapsed_ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_write_scripts_check_the_ttl_bound_and_the_event_times_of_the_registry() {
        let bound = crate::limits::MAX_TTL_SECONDS.to_string();
        for script in [BATCH_WRITE_LUA, STREAMING_WRITE_LUA] {
            assert!(script.contains(&format!("ttl > {bound} then")), "{script}");
            let stamp = crate::registry::STAMP_PREFIX;
            let prefix = format!("string.sub(ARGV[i], 1, {}) == '{stamp}'", stamp.len());
            assert!(script.contains(&prefix), "{script}");
        }
    }

    #[test]
    fn glob_characters_are_escaped() {
        assert_eq!(escape_glob("fs:user:"), "fs:user:");
        assert_eq!(escape_glob(r"t[1]:*?\"), r"t\[1\]:\*\?\\");
    }
}

//! The feature store: one Redis hash per entity, batch fields under a key-level TTL, streaming
//! fields under their own per-field TTL. One `FeatureStore` serves a whole process.

mod cluster;
mod error;
mod link;
mod slots;
mod stats;

use std::time::Instant;

use futures::{stream, StreamExt};
use redis::{cmd, Script};

use error::is_wrong_type;
pub use error::StoreError;
use link::RedisLink;
pub use link::{redact_url, RedisMode, RedisVersion, CLUSTER_SCHEME};
pub use stats::unix_ms_now;
use stats::Counters;
pub use stats::RedisTelemetry;

use crate::domain::{EntityId, KeyPrefix};
use crate::limits::PIPELINE_CHUNK as CHUNK;
use crate::model::{StoreStats, Ttl};
use crate::registry::{is_reserved, Registry};
use crate::schema::FeatureKind;

/// Chunks of a bulk load awaiting their reply at once.
const CHUNKS_IN_FLIGHT: usize = 4;
/// One entity of a bulk load: fields and key TTL together. Loaded once per bulk load, then
/// called by its hash in pipelines.
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
    /// The prefix and the two TTL layers as the registry (with its overrides) says.
    pub fn of(registry: &Registry) -> Self {
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

pub struct FeatureStore {
    link: RedisLink,
    config: StoreConfig,
    streaming_write: StreamingWrite,
    counters: Counters,
    telemetry: RedisTelemetry,
    streaming_script: Script,
    batch_script: Script,
}

impl FeatureStore {
    /// Connects and checks the server version once; every later call reuses that answer.
    pub async fn connect(url: &str, config: StoreConfig) -> Result<Self, StoreError> {
        let link = RedisLink::connect(url).await?;
        let streaming_write = if link.version() >= RedisVersion::HSETEX {
            StreamingWrite::HSetEx
        } else {
            StreamingWrite::HSetThenHExpire
        };
        Ok(FeatureStore {
            link,
            config,
            streaming_write,
            counters: Counters::default(),
            telemetry: RedisTelemetry::default(),
            streaming_script: Script::new(STREAMING_WRITE_LUA),
            batch_script: Script::new(BATCH_WRITE_LUA),
        })
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

    /// Writes each entity's fields and its key TTL (`ttl_seconds`, else the store's batch TTL)
    /// in one script per entity: no key is ever visible without its TTL, and a key that holds
    /// another type is left as it is and counted.
    pub async fn bulk_load(
        &self,
        rows: impl IntoIterator<Item = EntityRow>,
        ttl_seconds: Option<u64>,
    ) -> Result<LoadReport, StoreError> {
        self.bulk_load_with_progress(rows, ttl_seconds, EventRule::NewerOnly, |_| {})
            .await
    }

    /// `bulk_load` under `rule`, calling `progress` with the rows done so far after each chunk.
    pub async fn bulk_load_with_progress(
        &self,
        rows: impl IntoIterator<Item = EntityRow>,
        ttl_seconds: Option<u64>,
        rule: EventRule,
        mut progress: impl FnMut(usize),
    ) -> Result<LoadReport, StoreError> {
        let ttl_seconds = ttl_seconds.unwrap_or(self.config.batch_ttl_seconds);
        let mut rows = rows.into_iter().peekable();
        if rows.peek().is_none() {
            return Ok(LoadReport::default());
        }
        // The pipelined EVALSHAs below need the script loaded; a Redis that restarts mid-load
        // fails the load with NOSCRIPT, and the next load loads it again.
        self.link.load_script(BATCH_WRITE_LUA).await?;
        let hash = self.batch_script.get_hash();
        // A chunk per server: on a cluster each master still gets about CHUNK rows per round trip.
        let chunk_rows = CHUNK * self.link.masters();
        let chunks = std::iter::from_fn(|| {
            let mut ids = Vec::with_capacity(chunk_rows);
            let writes: Vec<(String, redis::Cmd)> = rows
                .by_ref()
                .take(chunk_rows)
                .map(|row| {
                    let key = self.key(&row.id);
                    let mut write = cmd("EVALSHA");
                    write
                        .arg(hash)
                        .arg(1)
                        .arg(&key)
                        .arg(ttl_seconds)
                        .arg(rule.arg())
                        .arg(&row.fields);
                    ids.push(row.id);
                    (key, write)
                })
                .collect();
            (!writes.is_empty()).then_some((ids, writes))
        });
        // A few chunks in flight on the one connection: Redis works on one while we encode the
        // next.
        let mut replies = stream::iter(chunks)
            .map(|(ids, writes)| async move {
                let codes = self
                    .timed("bulk_load", self.link.per_key::<i64>(writes))
                    .await?;
                let codes = codes
                    .into_iter()
                    .collect::<Result<Vec<i64>, _>>()
                    .map_err(StoreError::from)?;
                Ok::<_, StoreError>(ids.into_iter().zip(codes))
            })
            .buffered(CHUNKS_IN_FLIGHT);
        let mut report = LoadReport::default();
        while let Some(outcomes) = replies.next().await {
            let mut written = 0;
            for (id, code) in outcomes? {
                match code {
                    1 => written += 1,
                    0 => report.older.push(id),
                    _ => report.not_hashes.push(id),
                }
            }
            report.written += written;
            self.counters.batch_written(written);
            progress(report.written + report.not_hashes.len() + report.older.len());
        }
        self.counters.older_skipped(report.older.len());
        self.counters
            .bulk_load_finished(report.written, ttl_seconds);
        Ok(report)
    }

    /// Writes exactly `fields` of one existing entity, each with the store's streaming TTL,
    /// atomically with its value, if its event is newer than the stored one. Skips (and says
    /// why) an entity the batch path has not written.
    pub async fn update_streaming(
        &self,
        id: &EntityId,
        fields: &[(impl AsRef<str>, String)],
    ) -> Result<StreamingOutcome, StoreError> {
        self.write_streaming(id, fields, EventRule::NewerOnly).await
    }

    /// `update_streaming` under `rule`.
    pub async fn write_streaming(
        &self,
        id: &EntityId,
        fields: &[(impl AsRef<str>, String)],
        rule: EventRule,
    ) -> Result<StreamingOutcome, StoreError> {
        if fields.is_empty() {
            return Ok(StreamingOutcome::Written);
        }
        let use_hsetex = self.streaming_write == StreamingWrite::HSetEx;
        let key = self.key(id);
        let mut write = cmd("EVALSHA");
        write
            .arg(self.streaming_script.get_hash())
            .arg(1)
            .arg(&key)
            .arg(self.config.streaming_ttl_seconds)
            .arg(if use_hsetex { "1" } else { "0" })
            .arg(rule.arg());
        for (name, value) in fields {
            write.arg(name.as_ref()).arg(value);
        }
        let code: i64 = self
            .timed(
                "streaming_write",
                self.link.eval(&key, STREAMING_WRITE_LUA, &write),
            )
            .await?;
        let outcome = match code {
            1 => StreamingOutcome::Written,
            0 => StreamingOutcome::Skipped(SkipReason::NoEntity),
            -1 => StreamingOutcome::Skipped(SkipReason::NotAHash),
            -2 => StreamingOutcome::Skipped(SkipReason::NoKeyTtl),
            _ => StreamingOutcome::Skipped(SkipReason::Older),
        };
        match outcome {
            StreamingOutcome::Written => self.counters.streaming_written(),
            StreamingOutcome::Skipped(SkipReason::Older) => self.counters.older_skipped(1),
            StreamingOutcome::Skipped(_) => {}
        }
        Ok(outcome)
    }

    /// The inference read: one HMGET. Missing or expired fields are left out.
    pub async fn read(
        &self,
        id: &EntityId,
        names: &[impl AsRef<str>],
    ) -> Result<Features, StoreError> {
        if names.is_empty() {
            return Ok(Features::new());
        }
        let key = self.key(id);
        let values: Vec<Option<String>> = self
            .on_key("read", &key, self.link.query(&key, &hmget(&key, names)))
            .await?;
        let features = present(names, values);
        self.counters.read(1, names.len(), features.len());
        Ok(features)
    }

    /// The read the UI shows: HMGET, HTTL of the same names and TTL, in one pipeline, so the
    /// freshness display costs no extra round trip. `elapsed_ms` is that round trip.
    pub async fn read_with_ttls(
        &self,
        id: &EntityId,
        names: &[impl AsRef<str>],
    ) -> Result<ReadWithTtls, StoreError> {
        let key = self.key(id);
        let started = Instant::now();
        let (values, field_ttls, key_ttl) = if names.is_empty() {
            let key_ttl: i64 = self
                .timed("read", self.link.query(&key, cmd("TTL").arg(&key)))
                .await?;
            (Vec::new(), Vec::new(), key_ttl)
        } else {
            let commands = [
                hmget(&key, names),
                httl(&key, names),
                cmd("TTL").arg(&key).clone(),
            ];
            let (values, field_ttls, key_ttl): (Vec<Option<String>>, Option<Vec<i64>>, i64) = self
                .on_key("read", &key, self.link.pipeline(&key, &commands))
                .await?;
            self.counters
                .read(1, names.len(), values.iter().flatten().count());
            (values, ttls_or_missing(field_ttls, names.len()), key_ttl)
        };
        Ok(ReadWithTtls {
            values,
            field_ttls,
            key_ttl: key_ttl.into(),
            elapsed_ms: elapsed_ms(started),
        })
    }

    /// Every field of an entity with HGETALL. For inspection only, never the hot path.
    pub async fn read_all(&self, id: &EntityId) -> Result<Features, StoreError> {
        let key = self.key(id);
        self.on_key(
            "inspect",
            &key,
            self.link.query(&key, cmd("HGETALL").arg(&key)),
        )
        .await
    }

    /// Batch reads: one HMGET per id, pipelined in chunks sent together, in input order. Per
    /// id, one value or `None` per name, in the order of `names` (every `None` for a missing
    /// entity), or `WrongType` for a key that is not a hash.
    pub async fn batch_read(
        &self,
        ids: &[EntityId],
        names: &[impl AsRef<str>],
    ) -> Result<Vec<Result<Vec<Option<String>>, WrongType>>, StoreError> {
        if names.is_empty() {
            return Ok(ids.iter().map(|_| Ok(Vec::new())).collect());
        }
        // Every chunk in flight at once: a batch of up to the API's 1,000 ids costs one round
        // trip of latency, while no single pipeline grows past a chunk.
        let replies = futures::future::try_join_all(ids.chunks(CHUNK).map(|chunk| {
            let reads: Vec<(String, redis::Cmd)> = chunk
                .iter()
                .map(|id| {
                    let key = self.key(id);
                    let read = hmget(&key, names);
                    (key, read)
                })
                .collect();
            self.timed(
                "batch_read",
                self.link.per_key::<Vec<Option<String>>>(reads),
            )
        }))
        .await?;
        // Feature values asked for and found, for the counters: the views' write times that a
        // read may ask for alongside are not features.
        let is_feature: Vec<bool> = names
            .iter()
            .map(|name| !is_reserved(name.as_ref()))
            .collect();
        let features_asked = is_feature.iter().filter(|&&feature| feature).count();
        let mut found = 0;
        let rows = replies
            .into_iter()
            .flatten()
            .map(|reply| match reply {
                Ok(values) => {
                    found += values
                        .iter()
                        .zip(&is_feature)
                        .filter(|(value, &feature)| feature && value.is_some())
                        .count();
                    Ok(Ok(values))
                }
                Err(e) if is_wrong_type(&e) => Ok(Err(WrongType)),
                Err(e) => Err(StoreError::from(e)),
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.counters
            .read(ids.len(), ids.len() * features_asked, found);
        Ok(rows)
    }

    /// Per-field TTLs with one HTTL, in the order of `names`.
    pub async fn field_ttls(
        &self,
        id: &EntityId,
        names: &[impl AsRef<str>],
    ) -> Result<Vec<Ttl>, StoreError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let key = self.key(id);
        let ttls: Option<Vec<i64>> = self
            .on_key("inspect", &key, self.link.query(&key, &httl(&key, names)))
            .await?;
        Ok(ttls_or_missing(ttls, names.len()))
    }

    /// The key-level TTL of an entity.
    pub async fn key_ttl(&self, id: &EntityId) -> Result<Ttl, StoreError> {
        let key = self.key(id);
        let ttl: i64 = self
            .timed("inspect", self.link.query(&key, cmd("TTL").arg(&key)))
            .await?;
        Ok(ttl.into())
    }

    /// A walk over this store's entities, one `SCAN … COUNT` round trip per batch. For the
    /// background index and tools, never for a request: it costs O(stored entities).
    pub fn scan_entities(&self) -> EntityScan<'_> {
        EntityScan {
            store: self,
            scan: self.link.scan(self.match_pattern()),
        }
    }

    /// How many entities exist under this prefix: a full SCAN, exact, for tools and tests.
    pub async fn count(&self) -> Result<u64, StoreError> {
        let mut count = 0;
        let mut scan = self.scan_entities();
        while let Some(ids) = scan.next_batch().await? {
            count += ids.len() as u64;
        }
        Ok(count)
    }

    /// One PING: Redis is reachable and answering.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.timed("ping", self.link.ping()).await
    }

    /// Which Redis processes answer now: their run ids (see `Link::run_ids`).
    pub async fn run_ids(&self) -> Result<Vec<String>, StoreError> {
        self.timed("ping", self.link.run_ids()).await
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
        while let Some(keys) = scan.next_batch().await? {
            // One UNLINK per key: on a cluster, keys of different slots never share a command.
            let unlinks: Vec<(String, redis::Cmd)> = self
                .entities_among(keys)
                .map(|(key, _)| {
                    let mut unlink = cmd("UNLINK");
                    unlink.arg(&key);
                    (key, unlink)
                })
                .collect();
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

/// A SCAN in progress over one store's entities.
pub struct EntityScan<'a> {
    store: &'a FeatureStore,
    scan: link::KeyScan<'a>,
}

impl EntityScan<'_> {
    /// The ids of the next non-empty batch, or `None` when the walk is complete.
    pub async fn next_batch(&mut self) -> Result<Option<Vec<EntityId>>, StoreError> {
        while let Some(keys) = self.store.timed("scan", self.scan.next_batch()).await? {
            let ids: Vec<EntityId> = self.store.entities_among(keys).map(|(_, id)| id).collect();
            if !ids.is_empty() {
                return Ok(Some(ids));
            }
        }
        Ok(None)
    }

    /// The master (`host:port`) the last batch came from; `None` on a single Redis.
    pub fn master(&self) -> Option<&str> {
        self.scan.master()
    }
}

/// Some servers answer HTTL on a missing key with nil rather than one -2 per field.
fn ttls_or_missing(ttls: Option<Vec<i64>>, fields: usize) -> Vec<Ttl> {
    match ttls {
        Some(ttls) => ttls.into_iter().map(Ttl::from).collect(),
        None => vec![Ttl::Missing; fields],
    }
}

fn httl(key: &str, names: &[impl AsRef<str>]) -> redis::Cmd {
    let mut httl = cmd("HTTL");
    httl.arg(key).arg("FIELDS").arg(names.len());
    for name in names {
        httl.arg(name.as_ref());
    }
    httl
}

fn hmget(key: &str, names: &[impl AsRef<str>]) -> redis::Cmd {
    let mut hmget = cmd("HMGET");
    hmget.arg(key);
    for name in names {
        hmget.arg(name.as_ref());
    }
    hmget
}

/// Pairs requested names with the values HMGET found, dropping the nils.
fn present(names: &[impl AsRef<str>], values: Vec<Option<String>>) -> Features {
    names
        .iter()
        .zip(values)
        .filter_map(|(name, value)| Some((name.as_ref().to_owned(), value?)))
        .collect()
}

fn elapsed_ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
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

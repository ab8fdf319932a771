//! The feature store: one Redis hash per entity, batch fields under a key-level TTL, streaming
//! fields under their own per-field TTL. One `FeatureStore` serves a whole process.

mod error;
mod link;
mod stats;

use std::time::Instant;

use futures::{stream, StreamExt};
use redis::{cmd, pipe};

pub use error::StoreError;
use link::RedisLink;
pub use link::{redact_url, RedisVersion};
use stats::Counters;

use crate::model::StoreStats;

/// Entities per pipelined round trip: bounded so a million rows never build one giant buffer
/// and every chunk answers well inside the client's response timeout.
const CHUNK: usize = 500;
/// Chunks of a bulk load awaiting their reply at once.
const CHUNKS_IN_FLIGHT: usize = 4;

/// How the store is keyed and how long each TTL layer lasts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    pub key_prefix: String,
    pub batch_ttl_seconds: u64,
    pub streaming_ttl_seconds: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            key_prefix: "fs:user:".into(),
            batch_ttl_seconds: 86_400,
            streaming_ttl_seconds: 300,
        }
    }
}

/// One entity's features, values already in their stored string form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntityRow {
    pub id: String,
    pub fields: Vec<(String, String)>,
}

/// The fields a read found, in the order they were asked for; absent ones are left out.
pub type Features = Vec<(String, String)>;

/// A read with the freshness of what it asked for.
#[derive(Clone, Debug, PartialEq)]
pub struct ReadWithTtls {
    pub features: Features,
    /// One per requested name: -2 missing, -1 no field TTL, otherwise seconds left.
    pub field_ttls: Vec<i64>,
    /// -2 missing entity, -1 no key TTL, otherwise seconds left.
    pub key_ttl: i64,
    /// The round trip, in milliseconds.
    pub elapsed_ms: f64,
}

/// How streaming values and their TTL reach Redis together, picked once from the version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StreamingWrite {
    /// Redis >= 8.0: HSETEX writes values and TTL in one command.
    HSetEx,
    /// Redis 7.4: HSET + HEXPIRE inside MULTI/EXEC, so no reader sees a field without its TTL.
    HSetThenHExpire,
}

pub struct FeatureStore {
    link: RedisLink,
    config: StoreConfig,
    streaming_write: StreamingWrite,
    counters: Counters,
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
        })
    }

    /// Writes streaming fields the Redis 7.4 way (HSET + HEXPIRE in MULTI/EXEC) even on a
    /// server with HSETEX: for proxies that lack HSETEX, and so that path is tested.
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

    pub fn stats(&self) -> StoreStats {
        self.counters.snapshot()
    }

    pub fn reset_stats(&self) {
        self.counters.reset();
    }

    /// The Redis key of an entity.
    pub fn key(&self, id: &str) -> String {
        format!("{}{}", self.config.key_prefix, id)
    }

    /// Writes each entity's fields with HSET, then gives the key its TTL with EXPIRE.
    /// Returns how many entities got their TTL.
    pub async fn bulk_load(
        &self,
        rows: impl IntoIterator<Item = EntityRow>,
        ttl_seconds: u64,
    ) -> Result<usize, StoreError> {
        self.bulk_load_with_progress(rows, ttl_seconds, |_| {})
            .await
    }

    /// `bulk_load`, calling `progress` with the running total after each chunk.
    pub async fn bulk_load_with_progress(
        &self,
        rows: impl IntoIterator<Item = EntityRow>,
        ttl_seconds: u64,
        mut progress: impl FnMut(usize),
    ) -> Result<usize, StoreError> {
        let mut rows = rows.into_iter();
        let chunks = std::iter::from_fn(|| {
            let mut pipeline = pipe();
            let mut queued = 0;
            for row in rows.by_ref().take(CHUNK) {
                let key = self.key(&row.id);
                pipeline
                    .cmd("HSET")
                    .arg(&key)
                    .arg(&row.fields)
                    .ignore()
                    .cmd("EXPIRE")
                    .arg(&key)
                    .arg(ttl_seconds);
                queued += 1;
            }
            (queued > 0).then_some(pipeline)
        });
        // A few chunks in flight on the one connection: Redis works on one while we encode the
        // next. Commands still reach Redis in order, each HSET before its EXPIRE.
        let mut replies = stream::iter(chunks)
            .map(|pipeline| async move { self.link.pipeline::<Vec<i64>>(&pipeline).await })
            .buffered(CHUNKS_IN_FLIGHT);
        let mut written = 0;
        while let Some(expire_codes) = replies.next().await {
            let chunk_written = expire_codes?.iter().filter(|&&code| code == 1).count();
            written += chunk_written;
            self.counters.batch_written(chunk_written);
            progress(written);
        }
        Ok(written)
    }

    /// Writes exactly `fields` of one entity, each with its own TTL, atomically with its value.
    pub async fn update_streaming(
        &self,
        id: &str,
        fields: &[(&str, String)],
        ttl_seconds: u64,
    ) -> Result<(), StoreError> {
        if fields.is_empty() {
            return Ok(());
        }
        let key = self.key(id);
        let codes: Vec<i64> = match self.streaming_write {
            StreamingWrite::HSetEx => {
                let reply: i64 = self
                    .link
                    .query(
                        cmd("HSETEX")
                            .arg(&key)
                            .arg("EX")
                            .arg(ttl_seconds)
                            .arg("FIELDS")
                            .arg(fields.len())
                            .arg(fields),
                    )
                    .await?;
                vec![reply]
            }
            StreamingWrite::HSetThenHExpire => {
                let names: Vec<&str> = fields.iter().map(|(name, _)| *name).collect();
                let (_, codes): (i64, Vec<i64>) = self
                    .link
                    .pipeline(
                        pipe()
                            .atomic()
                            .cmd("HSET")
                            .arg(&key)
                            .arg(fields)
                            .cmd("HEXPIRE")
                            .arg(&key)
                            .arg(ttl_seconds)
                            .arg("FIELDS")
                            .arg(names.len())
                            .arg(&names),
                    )
                    .await?;
                codes
            }
        };
        // HSETEX answers 1 when every field and its TTL were set; HEXPIRE answers 1 per field.
        if codes.is_empty() || codes.iter().any(|&code| code != 1) {
            return Err(StoreError::FieldTtlNotSet { key, codes });
        }
        self.counters.streaming_written();
        Ok(())
    }

    /// The inference read: one HMGET. Missing or expired fields are left out.
    pub async fn read(&self, id: &str, names: &[impl AsRef<str>]) -> Result<Features, StoreError> {
        if names.is_empty() {
            return Ok(Features::new());
        }
        let values: Vec<Option<String>> = self.link.query(&hmget(&self.key(id), names)).await?;
        let features = present(names, values);
        self.counters.read(1, features.len());
        Ok(features)
    }

    /// The read the UI shows: HMGET, HTTL of the same names and TTL, in one pipeline, so the
    /// freshness display costs no extra round trip. `elapsed_ms` is that round trip.
    pub async fn read_with_ttls(
        &self,
        id: &str,
        names: &[impl AsRef<str>],
    ) -> Result<ReadWithTtls, StoreError> {
        let key = self.key(id);
        let started = Instant::now();
        let (features, field_ttls, key_ttl) = if names.is_empty() {
            let key_ttl: i64 = self.link.query(cmd("TTL").arg(&key)).await?;
            (Features::new(), Vec::new(), key_ttl)
        } else {
            let mut pipeline = pipe();
            pipeline
                .add_command(hmget(&key, names))
                .add_command(httl(&key, names))
                .cmd("TTL")
                .arg(&key);
            let (values, field_ttls, key_ttl): (Vec<Option<String>>, Option<Vec<i64>>, i64) =
                self.link.pipeline(&pipeline).await?;
            let features = present(names, values);
            self.counters.read(1, features.len());
            (features, ttls_or_missing(field_ttls, names.len()), key_ttl)
        };
        Ok(ReadWithTtls {
            features,
            field_ttls,
            key_ttl,
            elapsed_ms: elapsed_ms(started),
        })
    }

    /// Every field of an entity with HGETALL. For inspection only, never the hot path.
    pub async fn read_all(&self, id: &str) -> Result<Features, StoreError> {
        self.link.query(cmd("HGETALL").arg(self.key(id))).await
    }

    /// Batch scoring: one HMGET per id, pipelined, one round trip per chunk. Keeps the input
    /// order; a missing entity gets an empty row.
    pub async fn batch_read(
        &self,
        ids: &[impl AsRef<str>],
        names: &[impl AsRef<str>],
    ) -> Result<Vec<(String, Features)>, StoreError> {
        let mut rows = Vec::with_capacity(ids.len());
        if names.is_empty() {
            rows.extend(
                ids.iter()
                    .map(|id| (id.as_ref().to_owned(), Features::new())),
            );
            return Ok(rows);
        }
        for chunk in ids.chunks(CHUNK) {
            let mut pipeline = pipe();
            for id in chunk {
                pipeline.add_command(hmget(&self.key(id.as_ref()), names));
            }
            let replies: Vec<Vec<Option<String>>> = self.link.pipeline(&pipeline).await?;
            let mut fields = 0;
            for (id, values) in chunk.iter().zip(replies) {
                let features = present(names, values);
                fields += features.len();
                rows.push((id.as_ref().to_owned(), features));
            }
            self.counters.read(chunk.len(), fields);
        }
        Ok(rows)
    }

    /// Per-field TTLs with one HTTL: -2 missing, -1 no field TTL, otherwise seconds left.
    pub async fn field_ttls(
        &self,
        id: &str,
        names: &[impl AsRef<str>],
    ) -> Result<Vec<i64>, StoreError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let ttls: Option<Vec<i64>> = self.link.query(&httl(&self.key(id), names)).await?;
        Ok(ttls_or_missing(ttls, names.len()))
    }

    /// The key-level TTL: -2 missing entity, -1 no TTL, otherwise seconds left.
    pub async fn key_ttl(&self, id: &str) -> Result<i64, StoreError> {
        self.link.query(cmd("TTL").arg(self.key(id))).await
    }

    /// Entity ids under this prefix, shortest first then alphabetical (so u0002 < u10000),
    /// at most `limit` of them.
    pub async fn list_ids(&self, limit: usize) -> Result<Vec<String>, StoreError> {
        Ok(self.list_ids_and_count(limit).await?.1)
    }

    /// `list_ids` and the true entity count from one SCAN, for the state view.
    pub async fn list_ids_and_count(&self, limit: usize) -> Result<(u64, Vec<String>), StoreError> {
        let mut ids = self.scan_ids(usize::MAX).await?;
        let total = ids.len() as u64;
        let order = |a: &String, b: &String| a.len().cmp(&b.len()).then_with(|| a.cmp(b));
        // Partition first, so a million ids cost O(n) and only `limit` of them get sorted.
        if limit < ids.len() {
            ids.select_nth_unstable_by(limit, order);
            ids.truncate(limit);
        }
        ids.sort_unstable_by(order);
        Ok((total, ids))
    }

    /// Up to `max` entity ids in SCAN order, stopping early: a cheap pool to sample from
    /// when the whole sorted list is not needed.
    pub async fn some_ids(&self, max: usize) -> Result<Vec<String>, StoreError> {
        let mut ids = self.scan_ids(max).await?;
        ids.truncate(max);
        Ok(ids)
    }

    async fn scan_ids(&self, enough: usize) -> Result<Vec<String>, StoreError> {
        let prefix_len = self.config.key_prefix.len();
        let mut ids = Vec::new();
        let mut scan = self.link.scan(self.match_pattern());
        while ids.len() < enough {
            let Some(keys) = scan.next_batch().await? else {
                break;
            };
            ids.extend(keys.into_iter().map(|key| key[prefix_len..].to_owned()));
        }
        Ok(ids)
    }

    /// How many entities exist under this prefix (a full SCAN: exact, not an estimate).
    pub async fn count(&self) -> Result<u64, StoreError> {
        let mut count = 0;
        let mut scan = self.link.scan(self.match_pattern());
        while let Some(keys) = scan.next_batch().await? {
            count += keys.len() as u64;
        }
        Ok(count)
    }

    /// Deletes one entity; true if it existed.
    pub async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        let removed: i64 = self.link.query(cmd("UNLINK").arg(self.key(id))).await?;
        Ok(removed == 1)
    }

    /// Deletes every entity under this store's prefix, and nothing else, with SCAN + UNLINK.
    pub async fn reset(&self) -> Result<u64, StoreError> {
        let mut deleted = 0;
        let mut scan = self.link.scan(self.match_pattern());
        while let Some(keys) = scan.next_batch().await? {
            let removed: u64 = self.link.query(cmd("UNLINK").arg(keys)).await?;
            deleted += removed;
        }
        Ok(deleted)
    }

    /// The SCAN MATCH pattern for this prefix, with its glob characters escaped.
    fn match_pattern(&self) -> String {
        format!("{}*", escape_glob(&self.config.key_prefix))
    }
}

/// Some servers answer HTTL on a missing key with nil rather than one -2 per field.
fn ttls_or_missing(ttls: Option<Vec<i64>>, fields: usize) -> Vec<i64> {
    ttls.unwrap_or_else(|| vec![-2; fields])
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
    fn glob_characters_are_escaped() {
        assert_eq!(escape_glob("fs:user:"), "fs:user:");
        assert_eq!(escape_glob(r"t[1]:*?\"), r"t\[1\]:\*\?\\");
    }
}

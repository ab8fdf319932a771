//! Reads: one entity's features (with their TTLs for display), every field for inspection, and
//! batch reads of many entities pipelined per node.

use std::time::Instant;

use redis::cmd;

use super::error::is_wrong_type;
use super::{elapsed_ms, FeatureStore, Features, ReadWithTtls, StoreError, WrongType};
use crate::domain::EntityId;
use crate::limits::PIPELINE_CHUNK as CHUNK;
use crate::model::Ttl;
use crate::registry::is_reserved;

impl FeatureStore {
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
            let mut ttl = cmd("TTL");
            ttl.arg(&key);
            let commands = vec![hmget(&key, names), httl(&key, names), ttl];
            let (values, field_ttls, key_ttl): (Vec<Option<String>>, Option<Vec<i64>>, i64) = self
                .on_key("read", &key, self.link.pipeline(&key, commands))
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
        names: &[impl AsRef<str> + Sync],
    ) -> Result<Vec<Result<Vec<Option<String>>, WrongType>>, StoreError> {
        if names.is_empty() {
            return Ok(ids.iter().map(|_| Ok(Vec::new())).collect());
        }
        let reads: Vec<(String, &[_])> = ids.iter().map(|id| (self.key(id), names)).collect();
        self.read_keys(&reads).await
    }

    /// HMGETs of any keys, each with its own names (the rows of several entities, each under
    /// its own prefix), pipelined per node in chunks sent together, answered in input order as
    /// `batch_read` answers. The keys need not share this store's prefix.
    pub async fn read_keys(
        &self,
        reads: &[(String, &[impl AsRef<str> + Sync])],
    ) -> Result<Vec<Result<Vec<Option<String>>, WrongType>>, StoreError> {
        // Every chunk in flight at once: a batch of up to the API's 1,000 ids costs one round
        // trip of latency, while no single pipeline grows past a chunk.
        let replies = futures::future::try_join_all(reads.chunks(CHUNK).map(|chunk| {
            let commands: Vec<(String, redis::Cmd)> = chunk
                .iter()
                .map(|(key, names)| (key.clone(), hmget(key, names)))
                .collect();
            self.timed(
                "batch_read",
                self.link.per_key::<Vec<Option<String>>>(commands),
            )
        }))
        .await?;
        // Feature values asked for and found, for the counters: the views' write times that a
        // read may ask for alongside are not features.
        let (mut asked, mut found) = (0, 0);
        let rows = replies
            .into_iter()
            .flatten()
            .zip(reads)
            .map(|(reply, (_, names))| {
                asked += names.iter().filter(|n| !is_reserved(n.as_ref())).count();
                match reply {
                    Ok(values) => {
                        found += values
                            .iter()
                            .zip(names.iter())
                            .filter(|(value, name)| value.is_some() && !is_reserved(name.as_ref()))
                            .count();
                        Ok(Ok(values))
                    }
                    Err(e) if is_wrong_type(&e) => Ok(Err(WrongType)),
                    Err(e) => Err(StoreError::from(e)),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.counters.read(reads.len(), asked, found);
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
}

/// Some servers answer HTTL on a missing key with nil rather than one -2 per field.
fn ttls_or_missing(ttls: Option<Vec<i64>>, fields: usize) -> Vec<Ttl> {
    match ttls {
        Some(ttls) => ttls.into_iter().map(Ttl::from).collect(),
        None => vec![Ttl::Missing; fields],
    }
}

fn httl(key: &str, names: &[impl AsRef<str>]) -> redis::Cmd {
    field_command("HTTL", key, &["FIELDS", &names.len().to_string()], names)
}

fn hmget(key: &str, names: &[impl AsRef<str>]) -> redis::Cmd {
    field_command("HMGET", key, &[], names)
}

/// `name key head… names…` with its buffers sized once: a batch builds one per entity, and
/// growing them argument by argument was most of the cost of building them.
fn field_command(name: &str, key: &str, head: &[&str], names: &[impl AsRef<str>]) -> redis::Cmd {
    let names_len: usize = names.iter().map(|n| n.as_ref().len()).sum();
    let head_len: usize = head.iter().map(|h| h.len()).sum();
    let mut command = redis::Cmd::with_capacity(
        2 + head.len() + names.len(),
        name.len() + key.len() + head_len + names_len,
    );
    command.arg(name).arg(key);
    for part in head {
        command.arg(*part);
    }
    for name in names {
        command.arg(name.as_ref());
    }
    command
}

/// Pairs requested names with the values HMGET found, dropping the nils.
fn present(names: &[impl AsRef<str>], values: Vec<Option<String>>) -> Features {
    names
        .iter()
        .zip(values)
        .filter_map(|(name, value)| Some((name.as_ref().to_owned(), value?)))
        .collect()
}

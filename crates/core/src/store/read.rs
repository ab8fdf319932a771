//! Reads: one entity's features (with their TTLs for display), every field for inspection, and
//! batch reads of many entities pipelined per node.

use std::collections::HashMap;
use std::time::Instant;

use redis::{cmd, FromRedisValue, Value};

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
        let reads: Vec<HashRead<'_, _>> = ids
            .iter()
            .map(|id| HashRead {
                key: self.key(id),
                names,
                whole: false,
            })
            .collect();
        self.read_keys(&reads).await
    }

    /// Reads of any hashes, each with its own names (the rows of several entities, each under
    /// its own prefix), pipelined per node in chunks sent together, answered in input order as
    /// `batch_read` answers. The keys need not share this store's prefix.
    pub async fn read_keys<N: AsRef<str> + Sync>(
        &self,
        reads: &[HashRead<'_, N>],
    ) -> Result<Vec<Result<Vec<Option<String>>, WrongType>>, StoreError> {
        // Where each name is among its read's names, for the reads of whole hashes: one map per
        // list of names (a request's rows of one entity share theirs). A list that names a
        // field twice is read by name, as picking would answer the repeat once.
        let same = |a: &[N], b: &[N]| std::ptr::eq(a, b);
        let mut positions: Vec<(&[N], HashMap<&str, usize>)> = Vec::new();
        for read in reads.iter().filter(|read| read.whole) {
            if !positions.iter().any(|(names, _)| same(names, read.names)) {
                let at = read
                    .names
                    .iter()
                    .enumerate()
                    .map(|(at, n)| (n.as_ref(), at));
                positions.push((read.names, at.collect()));
            }
        }
        // Per read, the map it picks its fields through when it reads the whole hash.
        let picks: Vec<Option<&HashMap<&str, usize>>> = reads
            .iter()
            .map(|read| {
                let (_, at) = positions
                    .iter()
                    .find(|(names, _)| read.whole && same(names, read.names))?;
                (at.len() == read.names.len()).then_some(at)
            })
            .collect();
        // Every chunk in flight at once: a batch of up to the API's 1,000 ids costs one round
        // trip of latency, while no single pipeline grows past a chunk.
        let chunks = reads.chunks(CHUNK).zip(picks.chunks(CHUNK));
        let replies = futures::future::try_join_all(chunks.map(|(chunk, picks)| {
            let commands: Vec<(String, redis::Cmd)> = chunk
                .iter()
                .zip(picks)
                .map(|(read, whole)| {
                    let command = match whole {
                        Some(_) => cmd("HGETALL").arg(&read.key).to_owned(),
                        None => hmget(&read.key, read.names),
                    };
                    (read.key.clone(), command)
                })
                .collect();
            self.timed("batch_read", self.link.per_key::<Value>(commands))
        }))
        .await?;
        // Feature values asked for and found, for the counters: the views' write times that a
        // read may ask for alongside are not features.
        let (mut asked, mut found) = (0, 0);
        let rows = replies
            .into_iter()
            .flatten()
            .zip(reads.iter().zip(&picks))
            .map(|(reply, (read, whole))| {
                let names = read.names;
                asked += names.iter().filter(|n| !is_reserved(n.as_ref())).count();
                let values = reply.and_then(|reply| match whole {
                    Some(positions) => pick(names.len(), positions, reply),
                    None => Ok(Vec::<Option<String>>::from_redis_value(reply)?),
                });
                match values {
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

/// One hash a batch reads: its key, the fields wanted in their order, and whether to read the
/// whole hash (HGETALL) and pick them from it rather than name them (HMGET).
pub struct HashRead<'a, N> {
    pub key: String,
    pub names: &'a [N],
    pub whole: bool,
}

/// Reads of fewer fields than this name them whatever the hash holds.
const WHOLE_HASH_FROM: usize = 64;

/// Whether a read of `asked` fields of a hash whose rows hold `row_fields` reads it whole. A
/// small hash is a listpack, which HMGET searches from its head for each field asked, so the
/// cost of naming them grows with the fields asked times the fields stored, where HGETALL
/// walks it once: on a 260-field hash, HMGET of 255 fields took Redis 270 µs and HGETALL 21 µs
/// (of 51 fields at its head 15 µs). Whole reads answer twice the values to decode, so only a
/// read of many fields and of half the row or more is one.
pub fn reads_whole_hash(asked: usize, row_fields: usize) -> bool {
    asked >= WHOLE_HASH_FROM && 2 * asked >= row_fields
}

/// The values of the names at `positions` (`names` of them) among a whole hash's fields and
/// values (HGETALL's reply: pairs in a list, or a map under RESP3), in their order; `None` for
/// a field the hash does not hold.
fn pick(
    names: usize,
    positions: &HashMap<&str, usize>,
    hash: Value,
) -> redis::RedisResult<Vec<Option<String>>> {
    let pairs: Vec<(Value, Value)> = match hash {
        Value::Map(pairs) => pairs,
        Value::Array(items) => {
            let mut items = items.into_iter();
            std::iter::from_fn(|| Some((items.next()?, items.next()?))).collect()
        }
        other => Vec::<(Value, Value)>::from_redis_value(other)?,
    };
    let mut values = vec![None; names];
    for (field, value) in pairs {
        let Value::BulkString(field) = field else {
            continue;
        };
        let at = std::str::from_utf8(&field)
            .ok()
            .and_then(|field| positions.get(field));
        if let Some(&at) = at {
            values[at] = Some(String::from_redis_value(value)?);
        }
    }
    Ok(values)
}

/// Pairs requested names with the values HMGET found, dropping the nils.
fn present(names: &[impl AsRef<str>], values: Vec<Option<String>>) -> Features {
    names
        .iter()
        .zip(values)
        .filter_map(|(name, value)| Some((name.as_ref().to_owned(), value?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_read_of_many_fields_and_half_its_row_takes_the_whole_hash() {
        assert!(reads_whole_hash(255, 260));
        assert!(reads_whole_hash(64, 128));
        assert!(!reads_whole_hash(63, 64), "too few to pay");
        assert!(!reads_whole_hash(51, 260), "a fifth of the row");
        assert!(!reads_whole_hash(64, 129));
    }

    #[test]
    fn picking_from_a_whole_hash_answers_what_naming_the_fields_would() {
        let bulk = |text: &str| Value::BulkString(text.as_bytes().to_vec());
        let positions: HashMap<&str, usize> = [("b", 0), ("a", 1), ("gone", 2)].into();
        let expected = vec![Some("2".to_owned()), Some("1".to_owned()), None];
        let pairs = [("a", "1"), ("other", "x"), ("b", "2")];
        let resp2 = Value::Array(pairs.iter().flat_map(|(f, v)| [bulk(f), bulk(v)]).collect());
        let resp3 = Value::Map(pairs.iter().map(|(f, v)| (bulk(f), bulk(v))).collect());
        assert_eq!(pick(3, &positions, resp2).unwrap(), expected);
        assert_eq!(pick(3, &positions, resp3).unwrap(), expected);
        assert_eq!(
            pick(3, &positions, Value::Array(Vec::new())).unwrap(),
            [None, None, None]
        );
        assert!(pick(3, &positions, Value::Int(1)).is_err());
    }
}

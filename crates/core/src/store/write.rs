//! Writes: bulk loads (the batch path, which alone creates entities, with their key TTL) and
//! streaming writes (per-field TTLs, only onto an entity that exists), each one script per
//! entity so values and TTLs land together.

use futures::{stream, StreamExt};
use redis::cmd;

use super::{
    EntityRow, EventRule, FeatureStore, LoadReport, SkipReason, StoreError, StreamingOutcome,
    StreamingWrite, BATCH_WRITE_LUA, CHUNKS_IN_FLIGHT, STREAMING_WRITE_LUA,
};
use crate::domain::EntityId;
use crate::limits::PIPELINE_CHUNK as CHUNK;

impl FeatureStore {
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
}

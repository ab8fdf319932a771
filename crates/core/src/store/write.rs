//! Writes: bulk loads (the batch path, which alone creates entities, with their key TTL) and
//! streaming writes (per-field TTLs, only onto an entity that exists), each entity written by
//! a script so its values and TTLs land together.

use futures::{stream, StreamExt};
use redis::{cmd, ErrorKind, ServerErrorKind};

use super::{
    EntityRow, EventRule, FeatureStore, Fence, LoadReport, SkipReason, StoreError,
    StreamingOutcome, StreamingWrite, BATCH_WRITE_LUA, CHUNKS_IN_FLIGHT, ROWS_PER_CALL,
    STREAMING_WRITE_LUA,
};
use crate::domain::EntityId;
use crate::limits::PIPELINE_CHUNK as CHUNK;

impl FeatureStore {
    /// Writes each entity's fields and its key TTL (`ttl_seconds`, else the store's batch TTL)
    /// by the batch write script, several rows per call: no key is ever visible without its TTL,
    /// and a key that holds another type is left as it is and counted.
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
        progress: impl FnMut(usize),
    ) -> Result<LoadReport, StoreError> {
        self.bulk_load_in_parts(ttl_seconds, rule)
            .write(rows, progress)
            .await
    }

    /// A bulk load sent in parts (a materialization's batches, a paced run's slices): one load,
    /// as `bulk_load_with_progress` of all its rows would be.
    pub fn bulk_load_in_parts(&self, ttl_seconds: Option<u64>, rule: EventRule) -> BulkLoad<'_> {
        BulkLoad {
            store: self,
            ttl_seconds: ttl_seconds.unwrap_or(self.config.batch_ttl_seconds),
            rule,
            script_loaded: false,
            written: 0,
        }
    }

    /// One chunk of a bulk load: the rows of each server in calls of up to `ROWS_PER_CALL`,
    /// all in one pipeline per server. A call refused whole (a slot moved under it, the script
    /// forgotten) has written nothing; its rows are sent again one per call, following the
    /// redirects, once the script is loaded again where it was forgotten. The code of
    /// each row, in order.
    async fn write_rows(
        &self,
        rows: Vec<EntityRow>,
        ttl_seconds: u64,
        rule: EventRule,
    ) -> Result<Vec<(EntityId, i64)>, StoreError> {
        let keys: Vec<String> = rows.iter().map(|row| self.key(&row.id)).collect();
        let calls: Vec<Vec<usize>> = self
            .bulk
            .by_node(&keys)
            .iter()
            .flat_map(|group| group.chunks(ROWS_PER_CALL).map(<[usize]>::to_vec))
            .collect();
        let call = |positions: &[usize]| {
            let mut write = cmd("EVALSHA");
            write
                .arg(self.batch_script.get_hash())
                .arg(1)
                .arg(&keys[positions[0]])
                .arg(ttl_seconds)
                .arg(rule.arg());
            for &at in positions {
                let row = &rows[at];
                write
                    .arg(&keys[at])
                    .arg(row.fields.len())
                    .arg(row.cleared.len())
                    .arg(&row.fields)
                    .arg(&row.cleared);
            }
            (keys[positions[0]].clone(), write)
        };
        let sent = calls.iter().map(|positions| call(positions)).collect();
        let replies = self
            .timed("bulk_load", self.bulk.per_key::<Vec<i64>>(sent))
            .await?;
        let mut codes = vec![0; rows.len()];
        let mut again = Vec::new();
        let mut forgotten = false;
        for (positions, reply) in calls.iter().zip(replies) {
            match reply {
                Ok(replied) if replied.len() == positions.len() => {
                    for (&at, code) in positions.iter().zip(replied) {
                        codes[at] = code;
                    }
                }
                refused => {
                    forgotten |= refused
                        .is_err_and(|e| e.kind() == ErrorKind::Server(ServerErrorKind::NoScript));
                    again.extend_from_slice(positions)
                }
            }
        }
        // A Redis restarted (or its scripts flushed) since the load's first part.
        if forgotten {
            self.bulk.load_script(BATCH_WRITE_LUA).await?;
        }
        if !again.is_empty() {
            let sent = again.iter().map(|&at| call(&[at])).collect();
            let replies = self
                .timed("bulk_load", self.bulk.per_key::<(i64,)>(sent))
                .await?;
            for (&at, reply) in again.iter().zip(replies) {
                (codes[at],) = reply?;
            }
        }
        Ok(rows.into_iter().map(|row| row.id).zip(codes).collect())
    }

    /// Writes exactly `fields` of one existing entity, each with the store's streaming TTL,
    /// atomically with its value, if its event is newer than the stored one. Skips (and says
    /// why) an entity the batch path has not written.
    pub async fn update_streaming(
        &self,
        id: &EntityId,
        fields: &[(impl AsRef<str>, String)],
    ) -> Result<StreamingOutcome, StoreError> {
        self.streaming(id, fields, EventRule::NewerOnly, None).await
    }

    /// `update_streaming` by the holder of a lease: written only while `fence` is still the
    /// lease's latest token, checked in the same script as the write, so a holder that lost the
    /// lease (paused past it) can never write after another took over.
    pub async fn update_streaming_fenced(
        &self,
        id: &EntityId,
        fields: &[(impl AsRef<str>, String)],
        fence: &Fence,
    ) -> Result<StreamingOutcome, StoreError> {
        self.streaming(id, fields, EventRule::NewerOnly, Some(fence))
            .await
    }

    /// `update_streaming` under `rule`.
    pub async fn write_streaming(
        &self,
        id: &EntityId,
        fields: &[(impl AsRef<str>, String)],
        rule: EventRule,
    ) -> Result<StreamingOutcome, StoreError> {
        self.streaming(id, fields, rule, None).await
    }

    async fn streaming(
        &self,
        id: &EntityId,
        fields: &[(impl AsRef<str>, String)],
        rule: EventRule,
        fence: Option<&Fence>,
    ) -> Result<StreamingOutcome, StoreError> {
        if fields.is_empty() {
            return Ok(StreamingOutcome::Written);
        }
        let use_hsetex = self.streaming_write == StreamingWrite::HSetEx;
        let key = self.key(id);
        let mut write = cmd("EVALSHA");
        write.arg(self.streaming_script.get_hash());
        match fence {
            Some(fence) => write
                .arg(2)
                .arg(&key)
                .arg(self.link.fence_key(&fence.group, &key)),
            None => write.arg(1).arg(&key),
        };
        write
            .arg(self.config.streaming_ttl_seconds)
            .arg(if use_hsetex { "1" } else { "0" })
            .arg(rule.arg())
            .arg(
                fence
                    .map(|fence| fence.token.to_string())
                    .unwrap_or_default(),
            );
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
            -4 => StreamingOutcome::Skipped(SkipReason::Fenced),
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

/// One bulk load written in parts: its script loaded once, before its first rows, and its rows
/// counted as one load's (the store's last load: its rows so far, at its last part's time).
pub struct BulkLoad<'a> {
    store: &'a FeatureStore,
    ttl_seconds: u64,
    rule: EventRule,
    script_loaded: bool,
    /// Entities written by the parts so far.
    written: usize,
}

impl BulkLoad<'_> {
    /// Writes one part: each entity's fields and its key TTL by the batch write script, several
    /// rows per call, no key ever visible without its TTL, a key that holds another type left as
    /// it is and reported. `progress` sees this part's rows done so far after each chunk.
    pub async fn write(
        &mut self,
        rows: impl IntoIterator<Item = EntityRow>,
        mut progress: impl FnMut(usize),
    ) -> Result<LoadReport, StoreError> {
        let store = self.store;
        let mut rows = rows.into_iter().peekable();
        if rows.peek().is_none() {
            return Ok(LoadReport::default());
        }
        // The pipelined EVALSHAs below need the script loaded; one that finds it forgotten (a
        // restarted Redis) loads it again.
        if !self.script_loaded {
            store.bulk.load_script(BATCH_WRITE_LUA).await?;
            self.script_loaded = true;
        }
        // A chunk per server: on a cluster each master still gets about CHUNK rows per round trip.
        let chunk_rows = CHUNK * store.bulk.masters();
        let chunks = std::iter::from_fn(|| {
            let chunk: Vec<EntityRow> = rows.by_ref().take(chunk_rows).collect();
            (!chunk.is_empty()).then_some(chunk)
        });
        // A few chunks in flight on the one connection: Redis works on one while we encode the
        // next.
        let mut replies = stream::iter(chunks)
            .map(|chunk| store.write_rows(chunk, self.ttl_seconds, self.rule))
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
            store.counters.batch_written(written);
            progress(report.written + report.not_hashes.len() + report.older.len());
        }
        store.counters.older_skipped(report.older.len());
        self.written += report.written;
        store.counters.bulk_loaded(self.written, self.ttl_seconds);
        Ok(report)
    }
}

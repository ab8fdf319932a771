//! Health and state: what a probe, the state poll and `/metrics` read. No scan of its own:
//! the entity count is the background index's.

use std::time::UNIX_EPOCH;

use super::{Served, Service, ServiceError};
use crate::lease::{SWITCH_BOARD, WORKER_BOARD};
use crate::model::{EntityState, Health, MasterCount, StoreState, WorkerStats};
use crate::schema::FeatureKind;
use crate::store::RedisMode;

/// Most ids `state` lists; the count is always the index's total.
pub const STATE_ID_LIMIT: usize = 500;
/// Most ids `state` lists per entity, for the UI's suggestions.
const ENTITY_ID_LIMIT: usize = 100;

impl Service {
    /// Ready to serve: Redis answers a PING within the read deadline.
    pub async fn ready(&self) -> Result<Health, ServiceError> {
        self.within(None, self.first().store.ping()).await?;
        Ok(self.health())
    }

    pub fn health(&self) -> Health {
        let store = &self.first().store;
        let mode = store.redis_mode();
        Health {
            ok: true,
            redis_version: store.redis_version().to_string(),
            redis_mode: mode.name().to_owned(),
            masters: match mode {
                RedisMode::Single => Vec::new(),
                RedisMode::Cluster { masters } => masters,
            },
            key_prefix: store.config().key_prefix.to_string(),
        }
    }

    /// Configuration, counters and what the index last saw; never a scan of its own. An error
    /// while the index cannot reach Redis, or while Redis does not answer a PING within the read
    /// deadline, so a stale count is never shown as current: a frozen Redis shows at the next
    /// poll, not when the index's scan finally gives up.
    ///
    /// On a server that does not hold the lease, the worker is the holder's, as it last
    /// published it (one read of the board a second, shared by every caller).
    pub async fn state(&self) -> Result<StoreState, ServiceError> {
        if self.served.iter().any(|s| s.index.is_failing()) {
            return Err(ServiceError::IndexUnavailable);
        }
        let redis_run_ids = self.within(None, self.first().store.run_ids()).await?;
        let mut state = StoreState {
            redis_run_ids,
            ..self.snapshot()
        };
        state.worker = self.stream().await?;
        state.materializations = self.within(None, self.materializations()).await?;
        state.watermarks = self.within(None, self.watermarks()).await?;
        // Again: reading the board may have shown a `serve` server a new holder.
        state.lease = self.lease.state();
        Ok(state)
    }

    /// The worker that streams: this server's while it holds the lease, else the holder's as
    /// it last published it, with the pause switch as any server last set it.
    pub(super) async fn stream(&self) -> Result<WorkerStats, ServiceError> {
        let mut worker = self.worker.stats();
        if !self.lease.holds() {
            let board = self.within(None, self.lease.board()).await?;
            if let Some(published) = board
                .get(WORKER_BOARD)
                .and_then(|text| serde_json::from_str::<WorkerStats>(text).ok())
            {
                worker = published;
            }
            if let Some(switch) = board.get(SWITCH_BOARD) {
                worker.paused = worker.running && switch == "pause";
            }
        }
        Ok(worker)
    }

    /// `state` whether or not Redis is reachable now, for metrics: the count says its age; no
    /// run ids (they need Redis).
    pub fn snapshot(&self) -> StoreState {
        let Served { store, index, .. } = self.first();
        let index = index.snapshot();
        let config = store.config();
        let as_of = index.as_of.map(|time| {
            let unix_ms = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
            let age_ms = time.elapsed().map_or(0, |d| d.as_millis());
            (unix_ms as u64, age_ms as u64)
        });
        StoreState {
            redis_version: store.redis_version().to_string(),
            redis_mode: store.redis_mode().name().to_owned(),
            redis_run_ids: Vec::new(),
            key_prefix: config.key_prefix.to_string(),
            batch_ttl_seconds: config.batch_ttl_seconds,
            streaming_ttl_seconds: config.streaming_ttl_seconds,
            streaming_write: store.streaming_write_command().to_owned(),
            entity_count: index.count,
            entity_count_as_of: as_of.map(|(unix_ms, _)| unix_ms),
            entity_count_age_ms: as_of.map(|(_, age_ms)| age_ms),
            entities_per_master: index
                .per_master
                .iter()
                .map(|(master, &entities)| MasterCount {
                    master: master.clone(),
                    entities,
                })
                .collect(),
            entity_ids: index
                .ids
                .iter()
                .take(STATE_ID_LIMIT)
                .map(ToString::to_string)
                .collect(),
            entities: self
                .served
                .iter()
                .zip(&self.registry.entities)
                .map(|(served, entity)| {
                    let index = served.index.snapshot();
                    EntityState {
                        entity: entity.name.clone(),
                        join_key: entity.join_key.clone(),
                        key_prefix: entity.key_prefix.to_string(),
                        count: index.count,
                        ids: index
                            .ids
                            .iter()
                            .take(ENTITY_ID_LIMIT)
                            .map(ToString::to_string)
                            .collect(),
                        batch_ttl_seconds: served.store.config().batch_ttl_seconds,
                        streaming_ttl_seconds: served.registry.ttl_of(FeatureKind::Streaming),
                    }
                })
                .collect(),
            as_of_unix_ms: crate::store::unix_ms_now(),
            store: store.stats(),
            worker: self.worker.stats(),
            lease: self.lease.state(),
            read_latency: self.read_latency.snapshot(),
            batch_read_latency: self.batch_read_latency.snapshot(),
            materializations: self.own_materializations(),
            watermarks: Vec::new(),
        }
    }
}

//! The product, whatever the transport: what a read, a batch read, an inspection, a bulk load,
//! a reset and the worker switch do. Server functions, and later other routes, parse their input
//! into domain types, call one of these and map the error; they hold no logic of their own.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use futures::StreamExt;
use tokio::sync::{Mutex, Semaphore};

mod latency;
pub use latency::ReadLatency;

use crate::domain::{EntityId, FeatureName};
use crate::index::EntityIndex;
use crate::model::{
    BatchEntities, BatchFailure, BatchResult, BatchSample, BulkLoaded, FeatureStatus, FeatureValue,
    Health, Inspection, MasterCount, OnlineValue, PushSkipped, Pushed, ReadResult, ResetDone,
    StoreState, Ttl, WorkerAction, WorkerToggled,
};
use crate::registry::{is_reserved, Registry, View};
use crate::schema::{self, FeatureKind};
use crate::store::{
    EntityRow, EventRule, FeatureStore, RedisMode, RedisTelemetry, SkipReason, StoreError,
    StreamingOutcome, WrongType,
};
use crate::synth::synthesize;
use crate::worker::StreamingWorker;

/// Streaming writes of one push awaiting their reply at once.
const PUSH_WRITES_IN_FLIGHT: usize = 32;
/// Most ids `state` lists; the count is always the index's total.
pub const STATE_ID_LIMIT: usize = 500;
/// The longest a read waits in line for room among the reads in flight before it is shed.
const ADMISSION_WAIT: Duration = Duration::from_millis(100);
/// Rows of a batch read echoed back as a sample.
pub const BATCH_SAMPLE: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The background index cannot reach Redis, so what it last saw is no longer current.
    #[error("the entity index cannot reach Redis")]
    IndexUnavailable,
    /// Redis did not answer a read within its deadline.
    #[error("Redis did not answer within {} ms", .0.as_millis())]
    Deadline(Duration),
    /// Reads in flight already hold every cell the server admits at once; this one was shed
    /// before any Redis work.
    #[error("the server is at its limit of {0} feature values in flight; retry shortly")]
    Overloaded(usize),
}

/// One pushed row, checked, with its event time if the push gave one (else the write's time).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushRow {
    pub row: EntityRow,
    pub event_unix_ms: Option<u64>,
}

/// One per process: the store, the worker and the index it reads, and the lock that keeps admin
/// operations from interleaving.
pub struct Service {
    /// The entity and feature views everything here serves.
    registry: Arc<Registry>,
    store: Arc<FeatureStore>,
    worker: StreamingWorker,
    index: Arc<EntityIndex>,
    /// Held by bulk load, reset and the worker switch, so they run one at a time.
    admin: Mutex<()>,
    /// Seed of the synthetic entities that bulk load writes.
    seed: u64,
    /// The longest a read waits for Redis; a caller may ask for less.
    read_deadline: Duration,
    /// How long reads and batch reads take here, answered or not.
    read_latency: ReadLatency,
    batch_read_latency: ReadLatency,
    /// Feature values (entities × fields) reads may have in flight at once: the work, and the
    /// memory, a burst of large reads can take.
    read_cells: Semaphore,
    max_read_cells: usize,
}

impl Service {
    pub fn new(
        registry: Arc<Registry>,
        store: Arc<FeatureStore>,
        worker: StreamingWorker,
        index: Arc<EntityIndex>,
        seed: u64,
        read_deadline: Duration,
        max_read_cells: usize,
    ) -> Self {
        Service {
            read_cells: Semaphore::new(max_read_cells),
            max_read_cells,
            registry,
            store,
            worker,
            index,
            admin: Mutex::new(()),
            seed,
            read_deadline,
            read_latency: ReadLatency::default(),
            batch_read_latency: ReadLatency::default(),
        }
    }

    /// The time single reads, then batch reads, take here, for `/metrics`.
    pub fn read_latencies(&self) -> [(&'static str, &ReadLatency); 2] {
        [
            ("read", &self.read_latency),
            ("batch_read", &self.batch_read_latency),
        ]
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn worker(&self) -> &StreamingWorker {
        &self.worker
    }

    /// The store's Redis round-trip times and errors per operation, for `/metrics`.
    pub fn redis_telemetry(&self) -> &RedisTelemetry {
        self.store.telemetry()
    }

    /// Ready to serve: Redis answers a PING within the read deadline.
    pub async fn ready(&self) -> Result<Health, ServiceError> {
        self.within(None, self.store.ping()).await?;
        Ok(self.health())
    }

    pub fn health(&self) -> Health {
        let mode = self.store.redis_mode();
        Health {
            ok: true,
            redis_version: self.store.redis_version().to_string(),
            redis_mode: mode.name().to_owned(),
            masters: match mode {
                RedisMode::Single => Vec::new(),
                RedisMode::Cluster { masters } => masters,
            },
            key_prefix: self.store.config().key_prefix.to_string(),
        }
    }

    /// Configuration, counters and what the index last saw; never a scan of its own. An error
    /// while the index cannot reach Redis, or while Redis does not answer a PING within the read
    /// deadline, so a stale count is never shown as current: a frozen Redis shows at the next
    /// poll, not when the index's scan finally gives up.
    pub async fn state(&self) -> Result<StoreState, ServiceError> {
        if self.index.is_failing() {
            return Err(ServiceError::IndexUnavailable);
        }
        let redis_run_ids = self.within(None, self.store.run_ids()).await?;
        Ok(StoreState {
            redis_run_ids,
            ..self.snapshot()
        })
    }

    /// `state` whether or not Redis is reachable now, for metrics: the count says its age; no
    /// run ids (they need Redis).
    pub fn snapshot(&self) -> StoreState {
        let index = self.index.snapshot();
        let config = self.store.config();
        let as_of = index.as_of.map(|time| {
            let unix_ms = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
            let age_ms = time.elapsed().map_or(0, |d| d.as_millis());
            (unix_ms as u64, age_ms as u64)
        });
        StoreState {
            redis_version: self.store.redis_version().to_string(),
            redis_mode: self.store.redis_mode().name().to_owned(),
            redis_run_ids: Vec::new(),
            key_prefix: config.key_prefix.to_string(),
            batch_ttl_seconds: config.batch_ttl_seconds,
            streaming_ttl_seconds: config.streaming_ttl_seconds,
            streaming_write: self.store.streaming_write_command().to_owned(),
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
            as_of_unix_ms: crate::store::unix_ms_now(),
            store: self.store.stats(),
            worker: self.worker.stats(),
            read_latency: self.read_latency.snapshot(),
            batch_read_latency: self.batch_read_latency.snapshot(),
        }
    }

    /// Materializes `count` synthetic entities with a `ttl_seconds` key TTL, then waits for the
    /// index to see them.
    pub async fn bulk_load(
        &self,
        count: u64,
        ttl_seconds: u64,
    ) -> Result<BulkLoaded, ServiceError> {
        let _admin = self.admin.lock().await;
        let started = Instant::now();
        let report = self
            .store
            .bulk_load(
                synthesize(&self.registry, count, self.seed),
                Some(ttl_seconds),
            )
            .await?;
        self.index.refresh().await;
        Ok(BulkLoaded {
            loaded: report.written as u64,
            skipped: report.not_hashes.len() as u64,
            ttl_seconds,
            elapsed_ms: elapsed_ms(started),
        })
    }

    /// Does what `action` asks of the worker, idempotently, and says where it stands.
    pub async fn switch_worker(&self, action: WorkerAction) -> WorkerToggled {
        let _admin = self.admin.lock().await;
        match action {
            WorkerAction::Start | WorkerAction::Resume => self.worker.run(),
            WorkerAction::Pause => self.worker.pause(),
        }
        let stats = self.worker.stats();
        WorkerToggled {
            running: stats.running,
            paused: stats.paused,
        }
    }

    /// The inference read, with the freshness of every field asked for, within `deadline` (or
    /// the server's own, whichever is shorter).
    pub async fn read(
        &self,
        id: &EntityId,
        names: &[FeatureName],
        deadline: Option<Duration>,
    ) -> Result<ReadResult, ServiceError> {
        let started = Instant::now();
        let read = self
            .admitted(names.len(), deadline, self.store.read_with_ttls(id, names))
            .await;
        self.read_latency.observe(started.elapsed());
        let read = read?;
        let fields: Vec<FeatureValue> = names
            .iter()
            .zip(read.values)
            .zip(read.field_ttls)
            .map(|((name, value), ttl)| {
                FeatureValue::new(&self.registry, name.to_string(), value, ttl)
            })
            .collect();
        Ok(ReadResult {
            user: id.to_string(),
            returned_count: fields.iter().filter(|f| f.value.is_some()).count(),
            fields,
            key_ttl_seconds: read.key_ttl,
            elapsed_ms: read.elapsed_ms,
        })
    }

    /// Batch scoring: one pipelined HMGET per entity. `names` defaults to the registry's batch
    /// read fields.
    pub async fn batch_read(
        &self,
        entities: BatchEntities,
        names: Option<Vec<FeatureName>>,
        deadline: Option<Duration>,
    ) -> Result<BatchResult, ServiceError> {
        let names = names.unwrap_or_else(|| {
            self.registry
                .batch_read_default()
                .iter()
                .map(|name| FeatureName::parse(name).expect("registry names are valid"))
                .collect()
        });
        let ids = match entities {
            BatchEntities::Ids(ids) => ids,
            BatchEntities::First(count) => self
                .index
                .snapshot()
                .ids
                .iter()
                .take(count)
                .cloned()
                .collect(),
        };
        let started = Instant::now();
        let cells = ids.len() * names.len();
        let rows = self
            .admitted(cells, deadline, self.store.batch_read(&ids, &names))
            .await;
        self.batch_read_latency.observe(started.elapsed());
        let rows = rows?;
        let elapsed_ms = elapsed_ms(started);
        let mut served = Vec::with_capacity(rows.len());
        let mut failed = Vec::new();
        for row in rows {
            match row.features {
                Ok(features) => served.push((row.id, features)),
                Err(WrongType) => failed.push(BatchFailure {
                    error: format!("{} is not an entity hash", self.store.key(&row.id)),
                    id: row.id.to_string(),
                }),
            }
        }
        Ok(BatchResult {
            entity_count: served.len(),
            field_count: names.len(),
            fields: names.iter().map(ToString::to_string).collect(),
            elapsed_ms,
            sample: served
                .into_iter()
                .take(BATCH_SAMPLE)
                .map(|(id, features)| BatchSample {
                    id: id.to_string(),
                    field_count: features.len(),
                    values: features.into_iter().collect(),
                })
                .collect(),
            failed,
        })
    }

    /// The online read behind Feast's `get-online-features`: for each entity (in order, repeats
    /// allowed), each feature in `names` (registry features, in order) with its status and its
    /// view's write time. One pipelined HMGET per entity, features and write times together, one
    /// round trip per master.
    pub async fn online_features(
        &self,
        ids: &[EntityId],
        names: &[FeatureName],
        deadline: Option<Duration>,
    ) -> Result<Vec<Vec<OnlineValue>>, ServiceError> {
        // Each feature with its view and the name of the view's write-time field.
        let features: Vec<_> = names
            .iter()
            .map(|name| {
                let (view, feature) = self
                    .registry
                    .find(name.as_str())
                    .expect("the caller resolved every name in the registry");
                (view, feature, view.stamp_field())
            })
            .collect();
        let mut fields: Vec<String> = names.iter().map(ToString::to_string).collect();
        for (_, _, stamp) in &features {
            if !fields.contains(stamp) {
                fields.push(stamp.clone());
            }
        }
        // Where each feature's write time sits among the fields read.
        let stamp_at: Vec<usize> = features
            .iter()
            .map(|(_, _, stamp)| fields.iter().position(|f| f == stamp).unwrap_or(0))
            .collect();
        let started = Instant::now();
        let cells = ids.len() * fields.len();
        let rows = self
            .admitted(cells, deadline, self.store.batch_read_values(ids, &fields))
            .await;
        self.batch_read_latency.observe(started.elapsed());
        let now_ms = crate::store::unix_ms_now();
        rows?
            .into_iter()
            .zip(ids)
            .map(|(row, id)| {
                let stored = row.map_err(|WrongType| {
                    ServiceError::Store(StoreError::NotAHash {
                        key: self.store.key(id),
                        found: "value of another type".into(),
                    })
                })?;
                Ok(features
                    .iter()
                    .enumerate()
                    .map(|(at, (view, feature, _))| {
                        let Some(raw) = stored[at].as_deref() else {
                            return OnlineValue {
                                value: serde_json::Value::Null,
                                status: FeatureStatus::NotFound,
                                event_unix_ms: None,
                            };
                        };
                        let event_unix_ms: Option<u64> = stored[stamp_at[at]]
                            .as_deref()
                            .and_then(|ms| ms.parse().ok());
                        let too_old = event_unix_ms
                            .is_some_and(|ms| now_ms.saturating_sub(ms) > view.ttl_seconds * 1000);
                        OnlineValue {
                            value: schema::decode(feature.value_type, raw),
                            status: if too_old {
                                FeatureStatus::OutsideMaxAge
                            } else {
                                FeatureStatus::Present
                            },
                            event_unix_ms,
                        }
                    })
                    .collect())
            })
            .collect()
    }

    /// Writes pushed rows of one view through the path its kind takes: a batch view like a bulk
    /// load (creating the entity, with the key TTL), a streaming view like the worker (one
    /// atomic write per entity, values with their per-field TTL; an entity that does not exist
    /// is skipped). Each row carries the view's event time (its own, else now) and write time
    /// (now); under `rule` a row whose event is not newer than the stored one is skipped and
    /// listed. `rows` are checked by the caller.
    pub async fn push(
        &self,
        view: &View,
        rows: Vec<PushRow>,
        rule: EventRule,
    ) -> Result<Pushed, ServiceError> {
        let now_ms = crate::store::unix_ms_now();
        let rows = rows.into_iter().map(
            |PushRow {
                 mut row,
                 event_unix_ms,
             }| {
                row.fields
                    .extend(view.stamps(event_unix_ms.unwrap_or(now_ms), now_ms));
                row
            },
        );
        let mut pushed = Pushed {
            view: view.name.clone(),
            written: 0,
            skipped: Vec::new(),
        };
        match view.kind {
            FeatureKind::Batch => {
                let report = self
                    .store
                    .bulk_load_with_progress(rows, None, rule, |_| {})
                    .await?;
                pushed.written = report.written as u64;
                let skipped = |ids: Vec<EntityId>, reason: SkipReason| {
                    ids.into_iter().map(move |id| PushSkipped {
                        id: id.to_string(),
                        reason: reason.to_string(),
                    })
                };
                pushed.skipped = skipped(report.not_hashes, SkipReason::NotAHash)
                    .chain(skipped(report.older, SkipReason::Older))
                    .collect();
            }
            FeatureKind::Streaming => {
                let writes = rows.map(|row| async move {
                    let outcome = self.store.write_streaming(&row.id, &row.fields, rule).await;
                    (row.id, outcome)
                });
                let outcomes: Vec<_> = futures::stream::iter(writes)
                    .buffered(PUSH_WRITES_IN_FLIGHT)
                    .collect()
                    .await;
                for (id, outcome) in outcomes {
                    match outcome? {
                        StreamingOutcome::Written => pushed.written += 1,
                        StreamingOutcome::Skipped(reason) => pushed.skipped.push(PushSkipped {
                            id: id.to_string(),
                            reason: reason.to_string(),
                        }),
                    }
                }
            }
        }
        Ok(pushed)
    }

    /// Everything about one entity: every registry feature, present or not, then any other
    /// fields (the views' write times, foreign fields), each with its TTL.
    pub async fn inspect(&self, id: &EntityId) -> Result<Inspection, ServiceError> {
        let store = &self.store;
        let mut stored = self.within(None, store.read_all(id)).await?;
        let mut names: Vec<String> = self
            .registry
            .features()
            .map(|(_, f)| f.name.clone())
            .collect();
        let mut others: Vec<String> = stored
            .iter()
            .filter(|(name, _)| self.registry.find(name).is_none())
            .map(|(name, _)| name.clone())
            .collect();
        // Write times after the other extra fields, each group sorted: a stable order to read.
        others.sort_by_key(|name| (is_reserved(name), name.clone()));
        names.extend(others);
        let ttls_and_key_ttl =
            async { tokio::try_join!(store.field_ttls(id, &names), store.key_ttl(id)) };
        let (ttls, key_ttl) = self.within(None, ttls_and_key_ttl).await?;
        let fields = names
            .into_iter()
            .zip(ttls)
            .map(|(name, ttl)| {
                let value = stored
                    .iter()
                    .position(|(stored_name, _)| *stored_name == name)
                    .map(|at| stored.swap_remove(at).1);
                FeatureValue::new(&self.registry, name, value, ttl)
            })
            .collect();
        Ok(Inspection {
            user: id.to_string(),
            exists: key_ttl != Ttl::Missing,
            key_ttl_seconds: key_ttl,
            fields,
        })
    }

    /// Deletes every entity under the prefix with the worker held still, resets the counters,
    /// and waits for the index to see the empty store.
    pub async fn reset(&self) -> Result<ResetDone, ServiceError> {
        let _admin = self.admin.lock().await;
        let was_writing = {
            let worker = self.worker.stats();
            worker.running && !worker.paused
        };
        self.worker.pause();
        self.worker.wait_for_idle().await;
        let deleted = self.store.reset().await;
        self.store.reset_stats();
        self.worker.forget_recent();
        self.index.refresh().await;
        if was_writing {
            self.worker.resume();
        }
        Ok(ResetDone { deleted: deleted? })
    }
}

impl Service {
    /// Runs a read of `cells` feature values once there is room for it among the reads in
    /// flight, all within the read's deadline (the caller's, or the server's if shorter). It
    /// waits in line at most `ADMISSION_WAIT`, else it is shed as `Overloaded` before any Redis
    /// work: a read that cannot start soon would only queue work its caller may give up on, and
    /// the short wait keeps a client that retries at once from turning every refusal into CPU
    /// taken from the admitted reads. The deadline counts the wait: a read whose time ran out
    /// in line never reaches Redis.
    async fn admitted<T>(
        &self,
        cells: usize,
        requested: Option<Duration>,
        read: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, ServiceError> {
        let deadline = self.deadline(requested);
        let started = Instant::now();
        let cells = u32::try_from(cells.clamp(1, self.max_read_cells)).unwrap_or(u32::MAX);
        let room = self.read_cells.acquire_many(cells);
        let Ok(Ok(_permit)) = tokio::time::timeout(deadline.min(ADMISSION_WAIT), room).await else {
            return Err(ServiceError::Overloaded(self.max_read_cells));
        };
        let left = deadline.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, read).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(ServiceError::Deadline(deadline)),
        }
    }

    /// A read's deadline: the caller's, or the server's if that is shorter.
    fn deadline(&self, requested: Option<Duration>) -> Duration {
        requested.map_or(self.read_deadline, |asked| asked.min(self.read_deadline))
    }

    /// Runs `read` under the deadline the caller asked for, or the server's if that is shorter.
    async fn within<T>(
        &self,
        requested: Option<Duration>,
        read: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, ServiceError> {
        let deadline = self.deadline(requested);
        match tokio::time::timeout(deadline, read).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(ServiceError::Deadline(deadline)),
        }
    }
}

fn elapsed_ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}

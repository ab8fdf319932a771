//! The product, whatever the transport: one module per operation (a read, a batch read, an
//! inspection, a push, the admin operations, the state, startup's bootstrap), each an `impl
//! Service` of its own. Server functions and Feast's routes parse their input into domain types,
//! call one of these and map the error; they hold no logic of their own. Here: the service
//! itself, its errors, and the admission and deadline every read goes through.

use std::future::Future;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, Semaphore};

mod admin;
mod batch_read;
pub mod bootstrap;
mod inspect;
mod latency;
mod materialize;
mod push;
mod read;
mod runs;
mod state;

pub use batch_read::BATCH_SAMPLE;
pub use latency::ReadLatency;
pub use push::PushRow;
pub use runs::MaterializeCounts;
pub use state::STATE_ID_LIMIT;

use crate::index::EntityIndex;
use crate::lease::Lease;
use crate::registry::{Registry, View};
use crate::store::{FeatureStore, RedisTelemetry, StoreConfig, StoreError};
use crate::worker::{StreamingWorker, WorkerConfig};

/// The longest a read waits in line for room among the reads in flight before it is shed.
const ADMISSION_WAIT: Duration = Duration::from_millis(100);

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
    #[error(transparent)]
    Materialize(#[from] crate::materialize::MaterializeError),
    /// A caller named a feature view the registry does not define.
    #[error("Feature view {0} does not exist")]
    UnknownView(String),
    /// A caller named an entity the registry does not define.
    #[error("no entity {name:?}: the registry defines {known}")]
    UnknownEntity { name: String, known: String },
    /// A read of several entities was not given the ids of one of them: its join key.
    #[error("the entity column {0:?} is required: a feature asked for is stored by that entity")]
    MissingEntity(String),
    /// A background materialization was asked of views a run going on materializes.
    #[error(
        "{0:?} already materializing: try again once that run has ended (the store state shows it)"
    )]
    AlreadyMaterializing(Vec<String>),
    /// As many materializations as the server takes are running or waiting.
    #[error("{0} materializations are running or waiting, as many as the server takes; retry once one has ended")]
    MaterializeQueueFull(usize),
}

/// What serves one entity: its views, its store (the process's connection, keyed by the
/// entity's prefix and TTLs) and the index of its keys.
pub struct Served {
    pub registry: Registry,
    pub store: Arc<FeatureStore>,
    pub index: Arc<EntityIndex>,
}

impl Served {
    /// Each entity of `registry`: a store over `store`'s connection keyed by the entity's
    /// prefix and TTLs, and its index, started (walking while this process holds `lease`).
    pub fn start_all(registry: &Registry, store: &FeatureStore, lease: &Arc<Lease>) -> Vec<Served> {
        let stores: Vec<Arc<FeatureStore>> = registry
            .entities
            .iter()
            .map(|entity| Arc::new(store.for_entity(StoreConfig::of_entity(registry, entity))))
            .collect();
        let indexes = EntityIndex::start_all(
            stores
                .iter()
                .zip(&registry.entities)
                .map(|(store, entity)| (Arc::clone(store), entity.name.as_str()))
                .collect(),
            Arc::clone(lease),
        );
        registry
            .entities
            .iter()
            .zip(stores.into_iter().zip(indexes))
            .map(|(entity, (store, index))| Served {
                registry: registry.of_entity(entity),
                index: Arc::new(index),
                store,
            })
            .collect()
    }

    /// The worker of every entity in `all` (each from its own index).
    pub fn worker(all: &[Served], config: WorkerConfig) -> StreamingWorker {
        let entities = all
            .iter()
            .map(|s| (Arc::clone(&s.store), Arc::clone(&s.index)))
            .collect();
        StreamingWorker::over(entities, config)
    }
}

/// One per process: each entity's store and index, the worker, and the locks that keep admin
/// operations from interleaving.
pub struct Service {
    /// Every entity and feature view: what Feast's routes serve.
    registry: Arc<Registry>,
    /// Per entity of the registry, in its order.
    served: Vec<Served>,
    worker: StreamingWorker,
    /// Which of the servers sharing the prefix streams and walks.
    lease: Arc<Lease>,
    /// Held by bulk load, reset and materializations, so they run one at a time.
    admin: Mutex<()>,
    /// Held by the worker switch alone, so switches apply in turn without waiting for a long
    /// load (a tick never writes while a reset holds the worker, whatever the switch says).
    switch: Mutex<()>,
    /// The materializations running and recently finished, here and on the other servers.
    runs: Arc<runs::Runs>,
    /// The background materializations' tasks, stopped by `stop_background`.
    background: std::sync::Mutex<tokio::task::JoinSet<()>>,
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
    /// Rows a second materializations send at most; `None`: as fast as Redis takes them.
    materialize_max_rows_per_second: Option<NonZeroU32>,
}

impl Service {
    /// `served` holds each entity of `registry`, in its order (`Served::start_all`).
    pub fn new(
        registry: Arc<Registry>,
        served: Vec<Served>,
        worker: StreamingWorker,
        lease: Arc<Lease>,
        seed: u64,
        read_deadline: Duration,
        max_read_cells: usize,
    ) -> Self {
        // Published beside the lease, under the name it knows this server by.
        let runs = Arc::new(runs::Runs::new(
            Arc::clone(&served[0].store),
            lease.config().group.clone(),
            lease.config().replica.clone(),
        ));
        Service {
            read_cells: Semaphore::new(max_read_cells),
            max_read_cells,
            registry,
            served,
            worker,
            lease,
            admin: Mutex::new(()),
            switch: Mutex::new(()),
            runs,
            background: std::sync::Mutex::default(),
            seed,
            read_deadline,
            read_latency: ReadLatency::default(),
            batch_read_latency: ReadLatency::default(),
            materialize_max_rows_per_second: None,
        }
    }

    /// This service with its materializations sending at most `max_rows_per_second` rows a
    /// second (when given).
    pub fn pacing_materializations(mut self, max_rows_per_second: Option<NonZeroU32>) -> Self {
        self.materialize_max_rows_per_second = max_rows_per_second;
        self
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

    /// The store of the entity whose hash holds `view`.
    fn store_of(&self, view: &View) -> &FeatureStore {
        &self.served[self.registry.entity_of(view).0].store
    }

    /// The first entity: the worker's, and what a caller who names none reads.
    fn first(&self) -> &Served {
        &self.served[0]
    }

    /// The entity named `entity`, the first when `None`.
    fn served(&self, entity: Option<&str>) -> Result<&Served, ServiceError> {
        let Some(name) = entity else {
            return Ok(self.first());
        };
        self.registry
            .entities
            .iter()
            .position(|e| e.name == name)
            .map(|at| &self.served[at])
            .ok_or_else(|| ServiceError::UnknownEntity {
                name: crate::domain::bounded(name, 60),
                known: self
                    .registry
                    .entities
                    .iter()
                    .map(|e| e.name.clone())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// Waits for every entity's index to see the store as it is now.
    pub async fn refresh_indexes(&self) {
        futures::future::join_all(self.served.iter().map(|s| s.index.refresh())).await;
    }

    pub fn worker(&self) -> &StreamingWorker {
        &self.worker
    }

    pub fn lease(&self) -> &Lease {
        &self.lease
    }

    /// The store's Redis round-trip times and errors per operation, for `/metrics`.
    pub fn redis_telemetry(&self) -> &RedisTelemetry {
        self.first().store.telemetry()
    }

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

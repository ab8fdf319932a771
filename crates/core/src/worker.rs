//! The streaming worker: a tokio task standing in for a Flink or Kafka Streams job. Each tick
//! it writes fresh real-time features for a few existing entities of each entity of the
//! registry that has streaming views, each field with its own TTL. Among servers sharing a
//! lease only the holder's worker writes, each write fenced by its token; it publishes its
//! stats for the others, and obeys the pause switch any of them may set.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use rand::seq::IndexedRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::sync::{oneshot, Mutex};
use tokio::task::JoinHandle;

use crate::domain::EntityId;
use crate::index::EntityIndex;
use crate::lease::{Lease, SWITCH_BOARD, WORKER_BOARD};
use crate::model::{RecentWrite, WorkerStats};
use crate::registry::Registry;
use crate::schema::FeatureKind;
use crate::store::{unix_ms_now, FeatureStore, Fence, SkipReason, StoreError, StreamingOutcome};
use crate::synth;

/// Entities the worker remembers having written, of each entity of the registry, for the UI's
/// pickers.
const RECENT: usize = 20;

/// The shortest time a tick may take before it is given up: its interval, or this.
const MIN_TICK_LIMIT: Duration = Duration::from_secs(1);

#[derive(Clone, Debug, PartialEq)]
pub struct WorkerConfig {
    pub tick: Duration,
    pub users_per_tick: usize,
    pub seed: u64,
    /// Which features it streams: each entity's streaming views.
    pub registry: Arc<Registry>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            tick: Duration::from_secs(1),
            users_per_tick: 5,
            seed: 1337,
            registry: crate::registry_file::demo(),
        }
    }
}

/// Owns the worker task. Every method takes `&self`, so one worker is shared by the server;
/// dropping it stops the task.
pub struct StreamingWorker {
    shared: Arc<Shared>,
    running: StdMutex<Option<Running>>,
}

struct Running {
    task: JoinHandle<()>,
    stop: oneshot::Sender<()>,
}

/// One entity the worker streams.
struct Target {
    store: Arc<FeatureStore>,
    /// Where the worker samples entities from: the index's uniform sample, never a scan.
    index: Arc<EntityIndex>,
    /// The entity's own views.
    registry: Registry,
}

struct Shared {
    targets: Vec<Target>,
    config: WorkerConfig,
    lease: Arc<Lease>,
    /// The pause switch as last seen here, and how many times this process flipped it: set at
    /// once by `pause` and `resume` here, and from the group's switch at each tick (wherever it
    /// was set) unless flipped here meanwhile, so a read older than the flip never undoes it.
    paused: StdMutex<(bool, u64)>,
    /// Set by `hold` (an admin operation here), whatever the switch says.
    held: AtomicBool,
    /// Held for the whole of a tick. `wait_for_idle` takes it, so once it returns after a
    /// hold, no tick can write: the next one sees `held` while holding this gate.
    tick_gate: Mutex<()>,
    tick_count: AtomicU64,
    writes_count: AtomicU64,
    /// Sampled entities the store refused to write: gone by the time of the write, or a key
    /// that is not an entity.
    skipped_count: AtomicU64,
    /// Writes the fence refused: this process had lost the lease.
    fenced_count: AtomicU64,
    error_count: AtomicU64,
    /// The last failure, when it happened (Unix ms) and the writes counted by then.
    last_error: StdMutex<Option<(String, u64, u64)>>,
    /// Unix milliseconds of the last write; 0 for never.
    last_write_unix_ms: AtomicU64,
    /// The last entities written, newest first, at most `RECENT`.
    recent: StdMutex<VecDeque<RecentWrite>>,
}

impl StreamingWorker {
    /// A worker of the registry's first entity, on its store and index.
    pub fn new(store: Arc<FeatureStore>, index: Arc<EntityIndex>, config: WorkerConfig) -> Self {
        Self::over(vec![(store, index)], config)
    }

    /// A worker of every entity of the registry: `entities` holds each one's store and index,
    /// in the registry's order (fewer is the first ones only). It writes while this process
    /// holds the indexes' lease.
    ///
    /// # Panics
    /// With no entity: there would be no lease to write under.
    pub fn over(
        entities: Vec<(Arc<FeatureStore>, Arc<EntityIndex>)>,
        config: WorkerConfig,
    ) -> Self {
        let lease = Arc::clone(entities[0].1.lease());
        let targets = entities
            .into_iter()
            .zip(&config.registry.entities)
            .map(|((store, index), entity)| Target {
                store,
                index,
                registry: config.registry.of_entity(entity),
            })
            .filter(|t| t.registry.views_of(FeatureKind::Streaming).next().is_some())
            .collect();
        StreamingWorker {
            shared: Arc::new(Shared {
                targets,
                config,
                lease,
                paused: StdMutex::new((false, 0)),
                held: AtomicBool::new(false),
                tick_gate: Mutex::new(()),
                tick_count: AtomicU64::new(0),
                writes_count: AtomicU64::new(0),
                skipped_count: AtomicU64::new(0),
                fenced_count: AtomicU64::new(0),
                error_count: AtomicU64::new(0),
                last_error: StdMutex::new(None),
                last_write_unix_ms: AtomicU64::new(0),
                recent: StdMutex::new(VecDeque::with_capacity(RECENT)),
            }),
            running: StdMutex::new(None),
        }
    }

    /// Starts the task. Does nothing if it is already running, or on a server that never
    /// competes for the lease (`--role serve`): it could never write.
    pub fn start(&self) {
        let mut running = self.running.lock().expect("worker lock");
        if running.is_some() || !self.shared.lease.config().role.competes() {
            return;
        }
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(Arc::clone(&self.shared).run(stopped));
        *running = Some(Running { task, stop });
    }

    /// Ends the task, at the latest after the tick in flight. Safe to call twice.
    pub async fn stop(&self) {
        let running = self.running.lock().expect("worker lock").take();
        if let Some(Running { task, stop }) = running {
            let _ = stop.send(());
            if let Err(e) = task.await {
                tracing::error!("streaming worker task ended abnormally: {e}");
            }
        }
    }

    /// Pauses the stream of every server sharing the lease: the holder stops writing at its
    /// next tick (this process at once); the task keeps running.
    pub async fn pause(&self) -> Result<(), StoreError> {
        self.switch(true).await
    }

    /// Undoes `pause`, wherever it was sent.
    pub async fn resume(&self) -> Result<(), StoreError> {
        self.switch(false).await
    }

    async fn switch(&self, paused: bool) -> Result<(), StoreError> {
        let value = if paused { "pause" } else { "run" };
        self.shared.lease.command(SWITCH_BOARD, value).await?;
        let mut switch = self.shared.paused.lock().expect("switch lock");
        *switch = (paused, switch.1 + 1);
        Ok(())
    }

    /// Keeps this process's worker from writing, whatever the switch says, until `unhold`.
    pub fn hold(&self) {
        self.shared.held.store(true, SeqCst);
    }

    pub fn unhold(&self) {
        self.shared.held.store(false, SeqCst);
    }

    /// Waits for the tick in flight, if any. After `hold`, no write follows this.
    pub async fn wait_for_idle(&self) {
        drop(self.shared.tick_gate.lock().await);
    }

    /// Makes the worker write: starts it if stopped, resumes it if paused.
    pub async fn run(&self) -> Result<(), StoreError> {
        self.start();
        self.resume().await
    }

    pub fn stats(&self) -> WorkerStats {
        let running = self.running.lock().expect("worker lock").is_some();
        self.shared.stats(running)
    }

    /// Forgets the entities it wrote: a reset deleted them.
    pub fn forget_recent(&self) {
        self.shared.recent.lock().expect("recent lock").clear();
    }
}

/// The owner stops the task: dropping the worker ends it even if `stop` was never awaited.
impl Drop for StreamingWorker {
    fn drop(&mut self) {
        let running = self.running.get_mut().map(Option::take);
        if let Ok(Some(Running { task, stop })) = running {
            let _ = stop.send(());
            task.abort();
        }
    }
}

impl Shared {
    fn stats(&self, running: bool) -> WorkerStats {
        let shared = self;
        let last_error = shared.last_error.lock().expect("error lock").clone();
        WorkerStats {
            running,
            paused: running && (shared.is_paused() || shared.held.load(SeqCst)),
            tick_count: shared.tick_count.load(SeqCst),
            writes_count: shared.writes_count.load(SeqCst),
            skipped_count: shared.skipped_count.load(SeqCst),
            fenced_count: shared.fenced_count.load(SeqCst),
            error_count: shared.error_count.load(SeqCst),
            last_error: last_error.as_ref().map(|(message, _, _)| message.clone()),
            last_error_unix_ms: last_error.as_ref().map(|&(_, at, _)| at),
            writes_since_last_error: last_error.as_ref().map_or(0, |&(_, _, writes_then)| {
                shared.writes_count.load(SeqCst).saturating_sub(writes_then)
            }),
            last_write_unix_ms: Some(shared.last_write_unix_ms.load(SeqCst)).filter(|&ms| ms > 0),
            recent: shared
                .recent
                .lock()
                .expect("recent lock")
                .iter()
                .cloned()
                .collect(),
        }
    }

    fn is_paused(&self) -> bool {
        self.paused.lock().expect("switch lock").0
    }

    async fn run(self: Arc<Self>, mut stopped: oneshot::Receiver<()>) {
        let mut rng = ChaCha8Rng::seed_from_u64(self.config.seed);
        let mut ticks = tokio::time::interval(self.config.tick);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut stopped => return,
                _ = ticks.tick() => self.tick(&mut rng).await,
            }
        }
    }

    /// Writes while this process holds the lease, the switch says run and nothing here holds
    /// the worker; then publishes its stats for the other servers.
    async fn tick(&self, rng: &mut ChaCha8Rng) {
        let _gate = self.tick_gate.lock().await;
        let outcome = match self.lease.fence() {
            Some(fence) => {
                // A frozen Redis must not hold a tick (and the gate a reset waits on) for long.
                let limit = self.config.tick.max(MIN_TICK_LIMIT);
                match tokio::time::timeout(limit, self.write_some(rng, &fence)).await {
                    Ok(written) => written.map_err(|e| e.to_string()),
                    Err(_) => Err(format!(
                        "the tick did not finish within {} ms",
                        limit.as_millis()
                    )),
                }
            }
            // Another server streams; unless nobody can, Redis being out of reach.
            None => match self.lease.failure() {
                Some(failure) => Err(failure),
                None => return,
            },
        };
        self.tick_count.fetch_add(1, SeqCst);
        if let Err(e) = outcome {
            // A failing tick is counted and reported; the worker itself carries on.
            tracing::warn!("streaming tick failed: {e}");
            self.error_count.fetch_add(1, SeqCst);
            let writes_then = self.writes_count.load(SeqCst);
            *self.last_error.lock().expect("error lock") = Some((e, unix_ms_now(), writes_then));
        }
    }

    /// Keeps `id` of `entity` as the newest write, once; at most `RECENT` of each entity, so a
    /// busy entity never pushes another's out.
    fn remember(&self, entity: &str, id: &EntityId, unix_ms: u64) {
        let mut recent = self.recent.lock().expect("recent lock");
        recent.retain(|write| write.id != id.as_str() || write.entity != entity);
        if recent.iter().filter(|write| write.entity == entity).count() == RECENT {
            if let Some(oldest) = recent.iter().rposition(|write| write.entity == entity) {
                recent.remove(oldest);
            }
        }
        recent.push_front(RecentWrite {
            entity: entity.to_owned(),
            id: id.to_string(),
            unix_ms,
        });
    }

    /// `users_per_tick` entities of each target, sampled from its index, unless paused; then
    /// the stats, published.
    async fn write_some(&self, rng: &mut ChaCha8Rng, fence: &Fence) -> Result<(), StoreError> {
        let flips = self.paused.lock().expect("switch lock").1;
        if let Some(paused) = self.lease.switch().await? {
            let mut switch = self.paused.lock().expect("switch lock");
            if switch.1 == flips {
                switch.0 = paused;
            }
        }
        if !self.is_paused() && !self.held.load(SeqCst) {
            self.write_targets(rng, fence).await?;
        }
        let stats = serde_json::to_string(&self.stats(true)).expect("stats serialize");
        self.lease.publish(&[(WORKER_BOARD, stats)]).await?;
        Ok(())
    }

    async fn write_targets(&self, rng: &mut ChaCha8Rng, fence: &Fence) -> Result<(), StoreError> {
        for target in &self.targets {
            let snapshot = target.index.snapshot();
            let chosen: Vec<&EntityId> = snapshot
                .sample
                .choose_multiple(rng, self.config.users_per_tick)
                .collect();
            let entity = &target.registry.entity().name;
            for id in chosen {
                let event = synth::streaming_features(&target.registry, rng, unix_ms_now());
                let outcome = target
                    .store
                    .update_streaming_fenced(id, &event, fence)
                    .await?;
                let counter = match outcome {
                    StreamingOutcome::Written => {
                        let now = unix_ms_now();
                        self.last_write_unix_ms.store(now, SeqCst);
                        self.remember(entity, id, now);
                        &self.writes_count
                    }
                    StreamingOutcome::Skipped(SkipReason::Fenced) => {
                        self.fenced_count.fetch_add(1, SeqCst);
                        self.lease.lost(fence.token);
                        return Ok(());
                    }
                    StreamingOutcome::Skipped(_) => &self.skipped_count,
                };
                counter.fetch_add(1, SeqCst);
            }
        }
        Ok(())
    }
}

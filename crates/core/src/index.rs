//! The entity index: one background task per process that keeps what requests need to know
//! about each entity's whole store: how many entities there are, the first ids for the pickers
//! and the count form of batch read, and a uniform sample for the worker. No request scans;
//! each reads the last snapshot, which says how old it is. Among servers sharing a lease
//! (`crate::lease`) only the holder walks the store, every entity in one walk of bounded steps
//! (one `SCAN … COUNT` round trip each), and publishes each pass; the others take what it
//! published, so the keyspace is walked once however many servers and entities there are.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use serde::{Deserialize, Serialize};

use crate::domain::EntityId;
use crate::lease::{index_board, sample_board, Lease};
use crate::store::{EntityScan, FeatureStore, StoreError};

/// Ids the index keeps in order: enough for the largest batch read by count.
pub const ID_LIST_LIMIT: usize = 1_000;
/// Ids in the uniform sample the worker draws from.
const SAMPLE_SIZE: usize = 10_000;
/// Shortest rest between two passes over the store.
const PAUSE: Duration = Duration::from_secs(1);
/// A pass is followed by a rest this many times its length, so the index keeps Redis busy at
/// most a fifth of the time however large the store (a million entities: a pass of 2 to 5 s,
/// by the machine, then four times that of rest).
const REST_PER_PASS: u32 = 4;
/// How often a server that does not hold the lease looks at what the holder published.
const FOLLOW_EVERY: Duration = Duration::from_secs(1);
/// How long `refresh` waits for a pass before giving up (Redis down, say).
const REFRESH_DEADLINE: Duration = Duration::from_secs(30);

/// What one complete pass over the store saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub count: u64,
    /// The first ids, shortest then alphabetical (u0002 before u10000), at most `ID_LIST_LIMIT`.
    pub ids: Vec<EntityId>,
    /// A uniform sample of every id seen, at most `SAMPLE_SIZE`.
    pub sample: Vec<EntityId>,
    /// Entities on each master of a cluster, by `host:port`; empty on a single Redis.
    pub per_master: BTreeMap<String, u64>,
    /// When the pass finished; `None` before the first one.
    pub as_of: Option<SystemTime>,
}

/// A snapshot as the lease holder publishes it for the others' state polls; the sample goes
/// apart (`sample_board`), for the next holder's worker only.
#[derive(Serialize, Deserialize)]
struct Published {
    count: u64,
    ids: Vec<EntityId>,
    per_master: BTreeMap<String, u64>,
    as_of_unix_ms: u64,
}

impl Published {
    fn of(snapshot: &Snapshot) -> Self {
        Published {
            count: snapshot.count,
            ids: snapshot.ids.clone(),
            per_master: snapshot.per_master.clone(),
            as_of_unix_ms: snapshot.as_of.map_or(0, |time| {
                time.duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64)
            }),
        }
    }

    fn into_snapshot(self) -> Snapshot {
        Snapshot {
            count: self.count,
            ids: self.ids,
            sample: Vec::new(),
            per_master: self.per_master,
            as_of: Some(SystemTime::UNIX_EPOCH + Duration::from_millis(self.as_of_unix_ms)),
        }
    }
}

/// One entity's view of the index: its snapshot, refreshed by the task that walks every entity
/// of the process at once.
pub struct EntityIndex {
    walker: Arc<Walker>,
    /// This entity's place among the walker's.
    at: usize,
}

/// Owns the task; dropping the last entity's index stops it.
struct Walker {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Drop for Walker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Shared {
    lease: Arc<Lease>,
    /// Each entity walked, in the order `start_all` was given them.
    entities: Vec<Indexed>,
    /// Raised by `refresh`: a pass that starts after it sees every change made before it.
    requested: AtomicU64,
    wake: Notify,
    /// The highest request number a finished pass started after.
    finished: watch::Sender<u64>,
    /// Whether the last pass failed: Redis is unreachable, and the snapshots are getting old.
    failing: AtomicBool,
}

/// What the index keeps of one entity.
struct Indexed {
    store: Arc<FeatureStore>,
    /// Where the holder publishes this entity's snapshot, and its sample.
    board: String,
    sample_board: String,
    snapshot: RwLock<Arc<Snapshot>>,
}

impl EntityIndex {
    /// The index of `entity`'s keys in `store`: walked here while this process holds `lease`,
    /// else read from what its holder publishes.
    pub fn start(store: Arc<FeatureStore>, lease: Arc<Lease>, entity: &str) -> Self {
        Self::start_all(vec![(store, entity)], lease)
            .pop()
            .expect("one index per entity")
    }

    /// The indexes of several entities whose stores share a connection (`for_entity`), in
    /// their order: one task walks them all in a single SCAN per pass, so Redis's work does
    /// not grow with the number of entities.
    pub fn start_all(entities: Vec<(Arc<FeatureStore>, &str)>, lease: Arc<Lease>) -> Vec<Self> {
        let entities: Vec<Indexed> = entities
            .into_iter()
            .map(|(store, entity)| Indexed {
                store,
                board: index_board(entity),
                sample_board: sample_board(entity),
                snapshot: RwLock::new(Arc::default()),
            })
            .collect();
        let count = entities.len();
        let shared = Arc::new(Shared {
            lease,
            entities,
            requested: AtomicU64::new(0),
            wake: Notify::new(),
            finished: watch::Sender::new(0),
            failing: AtomicBool::new(false),
        });
        let task = tokio::spawn(Arc::clone(&shared).run());
        let walker = Arc::new(Walker { shared, task });
        (0..count)
            .map(|at| EntityIndex {
                walker: Arc::clone(&walker),
                at,
            })
            .collect()
    }

    fn shared(&self) -> &Shared {
        &self.walker.shared
    }

    /// The lease that decides whether this process walks.
    pub fn lease(&self) -> &Arc<Lease> {
        &self.shared().lease
    }

    /// The last complete pass.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.shared().entities[self.at].snapshot()
    }

    /// True when the last pass failed (Redis unreachable): the snapshot is no longer current.
    pub fn is_failing(&self) -> bool {
        self.shared().failing.load(SeqCst)
    }

    /// Starts a pass now, here whether or not this process holds the lease, and waits for it:
    /// after a change the caller made, the next snapshot shows it. Gives up after a deadline
    /// (the last snapshot stays).
    pub async fn refresh(&self) -> Arc<Snapshot> {
        let shared = self.shared();
        let ticket = shared.requested.fetch_add(1, SeqCst) + 1;
        shared.wake.notify_one();
        let mut finished = shared.finished.subscribe();
        let _ =
            tokio::time::timeout(REFRESH_DEADLINE, finished.wait_for(|done| *done >= ticket)).await;
        self.snapshot()
    }
}

impl Indexed {
    fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.snapshot.read().expect("snapshot lock"))
    }

    fn set(&self, snapshot: Snapshot) {
        *self.snapshot.write().expect("snapshot lock") = Arc::new(snapshot);
    }
}

impl Shared {
    async fn run(self: Arc<Self>) {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut masters_changes = self.entities[0].store.masters_changes();
        loop {
            let ticket = self.requested.load(SeqCst);
            let walk = ticket > *self.finished.borrow() || self.lease.holds();
            let started = Instant::now();
            let outcome = if walk {
                self.walk(&mut rng, ticket).await
            } else {
                self.follow().await
            };
            match outcome {
                Ok(()) => self.failing.store(false, SeqCst),
                Err(e) => {
                    // Logged once per outage, not once per pass.
                    if !self.failing.swap(true, SeqCst) {
                        tracing::warn!("entity index pass failed: {}", crate::chain(&e));
                    }
                }
            }
            let rest = if walk {
                PAUSE.max(started.elapsed() * REST_PER_PASS)
            } else {
                FOLLOW_EVERY
            };
            tokio::select! {
                () = tokio::time::sleep(rest) => {}
                () = self.wake.notified() => {}
                // A failover: the counts per master are wrong until the next pass.
                () = masters_changes.next() => {}
            }
        }
    }

    /// A pass here, published when this process holds the lease.
    async fn walk(&self, rng: &mut ChaCha8Rng, ticket: u64) -> Result<(), StoreError> {
        if self.lease.holds() {
            for entity in &self.entities {
                if entity.snapshot().sample.is_empty() {
                    entity.adopt_sample(&self.lease).await?;
                }
            }
        }
        let snapshots = self.pass(rng).await?;
        if self.lease.holds() {
            let mut published = Vec::with_capacity(2 * snapshots.len());
            for (entity, snapshot) in self.entities.iter().zip(&snapshots) {
                let pass =
                    serde_json::to_string(&Published::of(snapshot)).expect("a snapshot serializes");
                let sample = serde_json::to_string(&snapshot.sample).expect("ids serialize");
                published.push((entity.board.as_str(), pass));
                published.push((entity.sample_board.as_str(), sample));
            }
            self.lease.publish(&published).await?;
        }
        for (entity, snapshot) in self.entities.iter().zip(snapshots) {
            entity.set(snapshot);
        }
        self.finished.send_replace(ticket);
        Ok(())
    }

    /// Takes the holder's last published passes, where newer than the ones here.
    async fn follow(&self) -> Result<(), StoreError> {
        let board = self.lease.board().await?;
        for entity in &self.entities {
            let Some(published) = board
                .get(&entity.board)
                .and_then(|text| serde_json::from_str::<Published>(text).ok())
            else {
                continue;
            };
            let published = published.into_snapshot();
            let mut snapshot = entity.snapshot.write().expect("snapshot lock");
            if published.as_of > snapshot.as_of {
                *snapshot = Arc::new(published);
            }
        }
        Ok(())
    }

    /// One walk over every entity's keys: a snapshot per entity, in their order.
    async fn pass(&self, rng: &mut ChaCha8Rng) -> Result<Vec<Snapshot>, StoreError> {
        let mut passes: Vec<Pass> = self.entities.iter().map(|_| Pass::default()).collect();
        let mut scan = EntityScan::over(self.entities.iter().map(|e| &*e.store).collect());
        while let Some(batch) = scan.next_batch().await? {
            for (at, id) in batch.ids {
                passes[at].see(id, batch.master.as_deref(), rng);
            }
        }
        Ok(passes.into_iter().map(Pass::into_snapshot).collect())
    }
}

impl Indexed {
    /// A new holder's first step: the last holder's sample, so the worker has entities to
    /// stream while this server's own first pass runs.
    async fn adopt_sample(&self, lease: &Lease) -> Result<(), StoreError> {
        let Some(sample) = lease
            .read(&self.sample_board)
            .await?
            .and_then(|text| serde_json::from_str::<Vec<EntityId>>(&text).ok())
        else {
            return Ok(());
        };
        let mut snapshot = self.snapshot.write().expect("snapshot lock");
        *snapshot = Arc::new(Snapshot {
            sample,
            ..(**snapshot).clone()
        });
        Ok(())
    }
}

/// What a pass has seen of one entity so far.
#[derive(Default)]
struct Pass {
    count: u64,
    /// The first ids in display order: a max-heap of at most `ID_LIST_LIMIT`.
    first: BinaryHeap<ByDisplayOrder>,
    sample: Vec<EntityId>,
    per_master: BTreeMap<String, u64>,
}

impl Pass {
    fn see(&mut self, id: EntityId, master: Option<&str>, rng: &mut ChaCha8Rng) {
        if let Some(master) = master {
            match self.per_master.get_mut(master) {
                Some(count) => *count += 1,
                None => {
                    self.per_master.insert(master.to_owned(), 1);
                }
            }
        }
        // Reservoir sampling (Algorithm R): every id ends up in the sample with equal odds.
        if self.sample.len() < SAMPLE_SIZE {
            self.sample.push(id.clone());
        } else {
            let slot = rng.random_range(0..=self.count) as usize;
            if slot < SAMPLE_SIZE {
                self.sample[slot] = id.clone();
            }
        }
        self.count += 1;
        let id = ByDisplayOrder(id);
        // Once the list is full, only an id before its last one gets in.
        if self.first.len() < ID_LIST_LIMIT {
            self.first.push(id);
        } else if self.first.peek().is_some_and(|last| id < *last) {
            self.first.pop();
            self.first.push(id);
        }
    }

    fn into_snapshot(self) -> Snapshot {
        Snapshot {
            count: self.count,
            ids: self
                .first
                .into_sorted_vec()
                .into_iter()
                .map(|id| id.0)
                .collect(),
            sample: self.sample,
            per_master: self.per_master,
            as_of: Some(SystemTime::now()),
        }
    }
}

/// Shortest first, then alphabetical, so u0002 comes before u10000.
#[derive(PartialEq, Eq)]
struct ByDisplayOrder(EntityId);

impl Ord for ByDisplayOrder {
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (self.0.as_str(), other.0.as_str());
        a.len().cmp(&b.len()).then_with(|| a.cmp(b))
    }
}

impl PartialOrd for ByDisplayOrder {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

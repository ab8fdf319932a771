//! One streaming worker and one index walk among several servers on one Redis: whoever holds
//! the group's lease (a key with its id and a fencing token, `store::lease`) streams and walks
//! the keyspace; the others read what it publishes (the board). A candidate renews the lease
//! at a third of its TTL and takes it when free, so another takes over within two TTLs of the
//! holder's death; a holder that stops renewing (paused past its lease) stops writing before
//! its lease ends, and if it writes anyway the fence refuses it.

use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use tokio::sync::{watch, Mutex};
use tokio::task::JoinHandle;

use crate::model::LeaseState;
use crate::store::{unix_ms_now, FeatureStore, Fence, Holding, StoreError};

/// How long a board read is reused: the state poll of every replica costs one small read per
/// second, whatever the number of callers.
const BOARD_FOR: Duration = Duration::from_secs(1);

/// Board names: each entity's index snapshot, the worker's stats, the pause switch.
pub const WORKER_BOARD: &str = "worker";
pub const SWITCH_BOARD: &str = "switch";

pub fn index_board(entity: &str) -> String {
    format!("index:{entity}")
}

/// Where the holder keeps `entity`'s uniform sample: read only by a new holder, so its worker
/// streams before its own first pass over a large store ends.
pub fn sample_board(entity: &str) -> String {
    format!("sample:{entity}")
}

/// What a server process does (`--role`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Role {
    /// Serves, and competes for the lease: a single process does everything.
    #[default]
    All,
    /// Answers reads and writes; never streams nor walks the keyspace.
    Serve,
    /// Competes for the lease; serves only probes and `/metrics`.
    Worker,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::All => "all",
            Role::Serve => "serve",
            Role::Worker => "worker",
        }
    }

    /// Whether it competes for the lease (streams and walks while holding it).
    pub fn competes(self) -> bool {
        self != Role::Serve
    }

    /// Whether it answers the API and the UI.
    pub fn serves(self) -> bool {
        self != Role::Worker
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        [Role::All, Role::Serve, Role::Worker]
            .into_iter()
            .find(|role| role.name() == raw)
            .ok_or_else(|| "expected all, serve or worker".to_owned())
    }
}

#[derive(Clone, Debug)]
pub struct LeaseConfig {
    /// The servers that share a lease: their first entity's key prefix.
    pub group: String,
    /// This process, as `/api/state` names it.
    pub replica: String,
    pub ttl: Duration,
    pub role: Role,
    /// Every board name a reader reads at once.
    pub boards: Vec<String>,
}

/// What the holder last published; read in one `MGET` with the lease.
#[derive(Clone, Debug, Default)]
pub struct Board {
    values: Vec<(String, String)>,
}

impl Board {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Owns the renewal task; dropping it stops renewing (the lease then runs out).
pub struct Lease {
    shared: Arc<Shared>,
    task: StdMutex<Option<JoinHandle<()>>>,
}

struct Shared {
    store: Arc<FeatureStore>,
    config: LeaseConfig,
    /// This process's holding and until when it may act on it (its last renewal's start plus
    /// the TTL): past that another may hold the lease.
    held: StdMutex<Option<(Holding, Instant)>>,
    /// Who held the lease at the last look.
    seen: StdMutex<Option<Holding>>,
    /// Set once the first attempt finished.
    settled: watch::Sender<bool>,
    /// Why the last attempt failed (Redis unreachable, say); `None` when it succeeded.
    failure: StdMutex<Option<String>>,
    board: Mutex<Option<(Instant, Arc<Board>)>>,
}

impl Lease {
    /// Starts competing for the lease when `config.candidate`; either way the board can be read.
    pub fn start(store: Arc<FeatureStore>, config: LeaseConfig) -> Self {
        let candidate = config.role.competes();
        let shared = Arc::new(Shared {
            store,
            config,
            held: StdMutex::new(None),
            seen: StdMutex::new(None),
            settled: watch::Sender::new(!candidate),
            failure: StdMutex::new(None),
            board: Mutex::new(None),
        });
        let task = candidate.then(|| tokio::spawn(Arc::clone(&shared).run()));
        Lease {
            shared,
            task: StdMutex::new(task),
        }
    }

    /// Waits for the first attempt to take the lease (at most one TTL).
    pub async fn settle(&self) {
        let mut settled = self.shared.settled.subscribe();
        let _ = tokio::time::timeout(self.shared.config.ttl, settled.wait_for(|done| *done)).await;
    }

    pub fn config(&self) -> &LeaseConfig {
        &self.shared.config
    }

    /// The token to write under, while this process holds the lease and its time is not up.
    pub fn fence(&self) -> Option<Fence> {
        let held = self.shared.held.lock().expect("lease lock");
        let (holding, until) = held.as_ref()?;
        (Instant::now() < *until).then(|| Fence {
            group: self.shared.config.group.clone(),
            token: holding.token,
        })
    }

    pub fn holds(&self) -> bool {
        self.fence().is_some()
    }

    /// A fenced write was refused: another holds the lease; stop acting on `token` at once.
    pub fn lost(&self, token: u64) {
        let mut held = self.shared.held.lock().expect("lease lock");
        if held.as_ref().is_some_and(|(h, _)| h.token == token) {
            *held = None;
        }
    }

    /// Who holds the lease, as last seen (this process or another).
    pub fn holder(&self) -> Option<Holding> {
        self.shared.seen.lock().expect("lease lock").clone()
    }

    /// Why this candidate's last attempt to take or renew the lease failed, if it did.
    pub fn failure(&self) -> Option<String> {
        self.shared.failure.lock().expect("lease lock").clone()
    }

    /// The lease as `/api/state` shows it.
    pub fn state(&self) -> LeaseState {
        let holder = self.holder();
        LeaseState {
            replica: self.shared.config.replica.clone(),
            role: self.shared.config.role.name().to_owned(),
            held_here: self.holds(),
            holder_since_unix_ms: holder.as_ref().map(|h| h.since_unix_ms),
            token: holder.as_ref().map(|h| h.token),
            holder: holder.map(|h| h.holder),
        }
    }

    /// What the holder published, read at most once a second.
    pub async fn board(&self) -> Result<Arc<Board>, StoreError> {
        let mut cached = self.shared.board.lock().await;
        if let Some((read_at, board)) = cached.as_ref() {
            if read_at.elapsed() < BOARD_FOR {
                return Ok(Arc::clone(board));
            }
        }
        let config = &self.shared.config;
        let names: Vec<&str> = config.boards.iter().map(String::as_str).collect();
        let (holder, values) = self.shared.store.read_group(&config.group, &names).await?;
        if !config.role.competes() {
            self.shared
                .seen
                .lock()
                .expect("lease lock")
                .clone_from(&holder);
        }
        let board = Arc::new(Board {
            values: config
                .boards
                .iter()
                .cloned()
                .zip(values)
                .filter_map(|(name, value)| Some((name, value?)))
                .collect(),
        });
        *cached = Some((Instant::now(), Arc::clone(&board)));
        Ok(board)
    }

    /// Publishes board values under this process's token; false when it no longer holds it.
    pub async fn publish(&self, values: &[(&str, String)]) -> Result<bool, StoreError> {
        let Some(fence) = self.fence() else {
            return Ok(false);
        };
        let published = self
            .shared
            .store
            .publish_fenced(&fence.group, fence.token, values)
            .await?;
        if !published {
            self.lost(fence.token);
        }
        Ok(published)
    }

    /// Sets a board value any replica may set (the pause switch).
    pub async fn command(&self, name: &str, value: &str) -> Result<(), StoreError> {
        let config = &self.shared.config;
        self.shared
            .store
            .set_group(&config.group, name, value)
            .await?;
        // The next state poll here shows it.
        *self.shared.board.lock().await = None;
        Ok(())
    }

    /// The pause switch as any replica last set it: `Some(true)` paused, `None` never set.
    pub async fn switch(&self) -> Result<Option<bool>, StoreError> {
        Ok(self.read(SWITCH_BOARD).await?.map(|value| value == "pause"))
    }

    /// One board value, read now (not from the once-a-second board).
    pub async fn read(&self, name: &str) -> Result<Option<String>, StoreError> {
        let (_, values) = self
            .shared
            .store
            .read_group(&self.shared.config.group, &[name])
            .await?;
        Ok(values.into_iter().next().flatten())
    }

    /// Stops renewing and gives the lease up, so another candidate takes over at once.
    pub async fn release(&self) {
        if let Some(task) = self.task.lock().expect("lease lock").take() {
            task.abort();
        }
        if self
            .shared
            .held
            .lock()
            .expect("lease lock")
            .take()
            .is_some()
        {
            let config = &self.shared.config;
            if let Err(e) = self
                .shared
                .store
                .release_lease(&config.group, &config.replica)
                .await
            {
                tracing::warn!("could not give the lease up: {}", crate::chain(&e));
            }
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(task) = self.task.get_mut().ok().and_then(Option::take) {
            task.abort();
        }
    }
}

impl Shared {
    async fn run(self: Arc<Self>) {
        let every = self.config.ttl / 3;
        loop {
            let started = Instant::now();
            let outcome = self.attempt(started).await;
            self.record(outcome);
            self.settled.send_replace(true);
            tokio::time::sleep(every.saturating_sub(started.elapsed())).await;
        }
    }

    fn record(&self, outcome: Result<(), StoreError>) {
        let mut failure = self.failure.lock().expect("lease lock");
        match outcome {
            Ok(()) => *failure = None,
            Err(e) => {
                *self.held.lock().expect("lease lock") = None;
                let message = format!("cannot take or renew the lease: {}", crate::chain(&e));
                // Logged once per outage, not once per attempt.
                if failure.is_none() {
                    tracing::warn!("{message}");
                }
                *failure = Some(message);
            }
        }
    }

    /// Takes or renews the lease; on a new token, raises every fence before acting on it.
    async fn attempt(&self, started: Instant) -> Result<(), StoreError> {
        let config = &self.config;
        let ttl_ms = u64::try_from(config.ttl.as_millis()).unwrap_or(u64::MAX);
        let holding = self
            .store
            .take_lease(&config.group, &config.replica, ttl_ms, unix_ms_now())
            .await?;
        *self.seen.lock().expect("lease lock") = Some(holding.clone());
        if holding.holder != config.replica {
            *self.held.lock().expect("lease lock") = None;
            return Ok(());
        }
        let known = self
            .held
            .lock()
            .expect("lease lock")
            .as_ref()
            .is_some_and(|(h, _)| h.token == holding.token);
        if !known {
            self.store
                .raise_fences(&config.group, holding.token)
                .await?;
            tracing::info!(
                "this server ({}) holds the lease now (token {}): it streams and walks the keyspace",
                config.replica,
                holding.token
            );
        }
        *self.held.lock().expect("lease lock") = Some((holding, started + config.ttl));
        Ok(())
    }
}

//! The state poll's answer (`/api/state`), health, and the counters and histograms in it.

use serde::{Deserialize, Serialize};

/// Counters of what the store has done since start or since the last reset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreStats {
    pub batch_writes_total: u64,
    pub streaming_writes_total: u64,
    /// Rows of any write skipped by the event-time rule: an event at least as new was stored.
    pub older_events_skipped_total: u64,
    /// Entities read.
    pub reads_total: u64,
    /// Fields asked for across those reads, and of them the ones found.
    pub requested_fields_total: u64,
    pub read_fields_total: u64,
    /// When the last bulk load of this server finished, in Unix milliseconds.
    pub last_bulk_load_unix_ms: Option<u64>,
    pub last_bulk_load_rows: u64,
    /// The key TTL that load gave its rows (a load may choose its own).
    pub last_bulk_load_ttl_seconds: Option<u64>,
}

/// What the streaming worker is doing, as the UI and `/api/state` show it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerStats {
    pub running: bool,
    pub paused: bool,
    pub tick_count: u64,
    pub writes_count: u64,
    /// Writes skipped because the entity was gone (expired or deleted) or not an entity hash.
    pub skipped_count: u64,
    /// Writes refused by the lease's fence: the server had lost the lease (paused past it).
    #[serde(default)]
    pub fenced_count: u64,
    pub error_count: u64,
    pub last_error: Option<String>,
    /// When the last error happened, in Unix milliseconds.
    pub last_error_unix_ms: Option<u64>,
    /// Entities written since the last error: more than 0 means the worker has recovered.
    pub writes_since_last_error: u64,
    /// When the worker last wrote an entity, in Unix milliseconds.
    pub last_write_unix_ms: Option<u64>,
    /// The entities it wrote last, newest first, each with when (Unix ms): the UI's pickers
    /// start on one with live streaming fields.
    #[serde(default)]
    pub recent: Vec<RecentWrite>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentWrite {
    /// Which entity of the registry.
    #[serde(default)]
    pub entity: String,
    pub id: String,
    pub unix_ms: u64,
}

impl WorkerStats {
    pub fn label(&self) -> &'static str {
        match (self.running, self.paused) {
            (false, _) => "stopped",
            (true, true) => "paused",
            (true, false) => "running",
        }
    }
}

/// The lease that picks, among servers sharing a prefix, the one that streams and walks.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseState {
    /// This server: `host:port#pid-nonce`.
    pub replica: String,
    /// `all`, `serve` or `worker`.
    pub role: String,
    /// The server holding the lease, as last seen; `None` while nobody holds it.
    pub holder: Option<String>,
    /// Since when it holds it, in Unix milliseconds.
    pub holder_since_unix_ms: Option<u64>,
    /// Its fencing token: a new holder always has a greater one.
    pub token: Option<u64>,
    /// Whether this server holds it.
    pub held_here: bool,
}

/// `GET /api/health`: proof that the whole chain (SSR, hydration, server function, Redis) works.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub ok: bool,
    /// The lowest version of any node.
    pub redis_version: String,
    /// `single` or `cluster`.
    pub redis_mode: String,
    /// The cluster's masters as `host:port`; empty for a single Redis.
    pub masters: Vec<String>,
    pub key_prefix: String,
}

/// One entity as its index last saw it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EntityState {
    pub entity: String,
    pub join_key: String,
    pub key_prefix: String,
    pub count: u64,
    /// The first ids of its index, at most 100.
    pub ids: Vec<String>,
    /// Its batch views' key TTL.
    pub batch_ttl_seconds: u64,
    /// Its streaming views' field TTL; `None` when it has no streaming view.
    pub streaming_ttl_seconds: Option<u64>,
}

/// `GET /api/state`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoreState {
    pub redis_version: String,
    /// `single` or `cluster`.
    pub redis_mode: String,
    /// The run id of each Redis master answering now (sorted): one that changes between two
    /// answers is a restarted (or failed-over) Redis, whose data may be gone.
    pub redis_run_ids: Vec<String>,
    pub key_prefix: String,
    pub batch_ttl_seconds: u64,
    pub streaming_ttl_seconds: u64,
    /// The command the streaming path writes with on this server.
    pub streaming_write: String,
    /// Entities at the last pass of the background index (never a scan per request).
    pub entity_count: u64,
    /// When that pass finished, in Unix milliseconds; `None` before the first one.
    pub entity_count_as_of: Option<u64>,
    /// How long ago that was when this answer was made, in milliseconds.
    pub entity_count_age_ms: Option<u64>,
    /// On a cluster, the same count per master (`host:port`); empty on a single Redis.
    pub entities_per_master: Vec<MasterCount>,
    pub entity_ids: Vec<String>,
    /// Every entity of the registry, in its order (the first is the one counted above): its
    /// prefix, its index's count and first ids.
    #[serde(default)]
    pub entities: Vec<EntityState>,
    /// When this answer was made, by the server's clock, in Unix milliseconds: the base for
    /// the ages of the times below.
    pub as_of_unix_ms: u64,
    pub store: StoreStats,
    /// The stream's worker: this server's while it holds the lease, else the holder's as it
    /// last published them.
    pub worker: WorkerStats,
    /// Which server streams and walks the keyspace for all servers sharing the prefix.
    #[serde(default)]
    pub lease: LeaseState,
    /// Time the service took per single-entity read, and per batch read, since start.
    pub read_latency: LatencyHistogram,
    pub batch_read_latency: LatencyHistogram,
    /// Materializations through Feast's routes or the UI's, on this server and on the others
    /// sharing its lease: the ones running (oldest first), then the last few finished (newest
    /// first).
    #[serde(default)]
    pub materializations: Vec<MaterializeRun>,
    /// Each view with a source: where an incremental run of it starts.
    #[serde(default)]
    pub watermarks: Vec<ViewWatermark>,
}

/// Where the last incremental run of a view ended: the next one starts there.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ViewWatermark {
    pub view: String,
    /// In Unix ms; `None` before the first (the next starts one view TTL before its end).
    pub ended_unix_ms: Option<u64>,
    /// The mark holds something other than a time (written by someone else): an incremental
    /// run of the view fails until it is deleted.
    pub unreadable: bool,
}

/// One materialization, asked for through Feast's `/materialize` or `/materialize-incremental`,
/// or the UI's `/api/materialize`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MaterializeRun {
    pub views: Vec<String>,
    /// The server running it, as the lease names it (`LeaseState::replica`).
    pub server: String,
    /// From each view's last incremental run (`/materialize-incremental`, or `/api/materialize`
    /// without a start), not over a window.
    pub incremental: bool,
    /// Asked with `?async=true` (or through `/api/materialize`): answered at once, run by the
    /// server afterwards.
    pub background: bool,
    /// When it was asked for, in Unix milliseconds.
    pub asked_unix_ms: u64,
    /// Waiting for another admin operation (a materialization, bulk load or reset) to end.
    pub waiting: bool,
    /// Rows read from the sources and written so far, every view's together.
    pub rows_read: u64,
    pub written: u64,
    /// Each view's window, as far as the run has gone: known from the start over a window; an
    /// incremental run's as it reaches the view (from where its last one ended).
    pub windows: Vec<RunWindow>,
    /// Rows a second it sends at most (the server's `--materialize-max-rows-per-second`);
    /// `None`: as fast as Redis takes them.
    pub max_rows_per_second: Option<u32>,
    /// When it ended, in Unix milliseconds; `None` while it runs.
    pub finished_unix_ms: Option<u64>,
    /// Why it stopped before the end; `None` while it runs or once it has done every view.
    pub error: Option<String>,
}

/// The events a run materializes of one view, both ends included, in Unix ms.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunWindow {
    pub view: String,
    pub start_unix_ms: u64,
    pub end_unix_ms: u64,
}

impl StoreState {
    /// This state as the panels of the registry's `at`th entity see it: its prefix, count, ids
    /// and TTLs in place of the first entity's, and the worker's recent writes of it alone. The
    /// same state for an `at` it does not list.
    pub fn for_entity(mut self, at: usize) -> StoreState {
        let Some(entity) = self.entities.get(at) else {
            return self;
        };
        let name = entity.entity.clone();
        if at > 0 {
            self.key_prefix = entity.key_prefix.clone();
            self.entity_count = entity.count;
            self.entity_ids = entity.ids.clone();
            self.entities_per_master.clear();
            self.batch_ttl_seconds = entity.batch_ttl_seconds;
            if let Some(ttl) = entity.streaming_ttl_seconds {
                self.streaming_ttl_seconds = ttl;
            }
        }
        self.worker.recent.retain(|write| write.entity == name);
        self
    }
}

/// A latency histogram as Prometheus keeps it, cumulative since start: `counts[i]` observations
/// took at most `upper_bounds_us[i]` (and more than the bound before); the last count is the
/// overflow above every bound. Two snapshots subtract to the observations between them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencyHistogram {
    pub upper_bounds_us: Vec<u64>,
    pub counts: Vec<u64>,
}

impl LatencyHistogram {
    /// What was observed after `earlier` (a snapshot of the same histogram).
    pub fn since(&self, earlier: &LatencyHistogram) -> LatencyHistogram {
        let counts = self
            .counts
            .iter()
            .enumerate()
            .map(|(at, count)| count.saturating_sub(earlier.counts.get(at).copied().unwrap_or(0)))
            .collect();
        LatencyHistogram {
            upper_bounds_us: self.upper_bounds_us.clone(),
            counts,
        }
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The `q` quantile in microseconds, interpolated within its bucket as PromQL's
    /// `histogram_quantile` does; `None` without observations. One in the overflow bucket
    /// answers the highest bound: the truth is "more than that".
    pub fn quantile_us(&self, q: f64) -> Option<f64> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * total as f64;
        let mut below = 0u64;
        for (at, &count) in self.counts.iter().enumerate() {
            let Some(&upper) = self.upper_bounds_us.get(at) else {
                break;
            };
            if count > 0 && (below + count) as f64 >= rank {
                let lower = if at == 0 {
                    0
                } else {
                    self.upper_bounds_us[at - 1]
                };
                let share = (rank - below as f64) / count as f64;
                return Some(lower as f64 + (upper - lower) as f64 * share);
            }
            below += count;
        }
        self.upper_bounds_us.last().map(|&upper| upper as f64)
    }
}

/// Entities on one master of a cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MasterCount {
    pub master: String,
    pub entities: u64,
}

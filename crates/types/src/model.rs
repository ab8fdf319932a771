//! Plain data that crosses the wire between the server and the browser, and that the service
//! layer answers with whatever the transport. It lives outside the `ssr` code so the hydrated
//! client decodes exactly what the server encodes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::EntityId;
use crate::registry::Registry;
use crate::schema::{self, FeatureKind, ValueType};

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

/// A TTL as Redis reports it. On the wire it stays Redis's own integer (`TTL`, `HTTL`): -2
/// missing, -1 no TTL, otherwise seconds left.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "i64", into = "i64")]
pub enum Ttl {
    /// No such key or field (never written, expired or deleted).
    Missing,
    /// Present, with no TTL of its own.
    Persistent,
    /// Seconds left.
    Left(u64),
}

impl From<i64> for Ttl {
    fn from(reply: i64) -> Self {
        match reply {
            -1 => Ttl::Persistent,
            left if left >= 0 => Ttl::Left(left as u64),
            _ => Ttl::Missing,
        }
    }
}

impl From<Ttl> for i64 {
    fn from(ttl: Ttl) -> Self {
        match ttl {
            Ttl::Missing => -2,
            Ttl::Persistent => -1,
            Ttl::Left(left) => left as i64,
        }
    }
}

impl Ttl {
    /// What is left `elapsed` seconds after this was read: only a countdown moves.
    pub fn after(self, elapsed: u64) -> Ttl {
        match self {
            Ttl::Left(left) => Ttl::Left(left.saturating_sub(elapsed)),
            other => other,
        }
    }

    /// The raw seconds left, for a tooltip; empty when there is no countdown.
    pub fn seconds_text(self) -> String {
        match self {
            Ttl::Left(left) => format!("{left} s"),
            _ => String::new(),
        }
    }
}

/// One feature of one entity, as every read that shows freshness answers it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureValue {
    pub name: String,
    /// `None` for a field the registry does not know.
    pub kind: Option<FeatureKind>,
    /// The registry's type; `None` for a field it does not know.
    #[serde(default)]
    pub value_type: Option<ValueType>,
    /// The stored string; `None` when the field is absent (never written, or expired).
    pub value: Option<String>,
    /// The value decoded by the registry's type (numbers as numbers); `None` when absent.
    pub typed: Option<serde_json::Value>,
    pub ttl_seconds: Ttl,
}

impl FeatureValue {
    /// A row for `name`, its kind and type taken from the registry.
    pub fn new(registry: &Registry, name: String, value: Option<String>, ttl_seconds: Ttl) -> Self {
        let feature = registry.find(&name);
        // The store's own event and write times are Unix milliseconds, shown as times.
        let value_type = match feature {
            Some((_, f)) => Some(f.value_type),
            None => crate::registry::stamp_label(&name).map(|_| ValueType::Timestamp),
        };
        FeatureValue {
            kind: feature.map(|(view, _)| view.kind),
            value_type,
            typed: value.as_deref().map(|raw| match value_type {
                Some(value_type) => schema::decode(value_type, raw),
                None => serde_json::Value::String(raw.to_owned()),
            }),
            name,
            value,
            ttl_seconds,
        }
    }
}

/// Which entities a batch read serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BatchEntities {
    /// Exactly these, in this order, as a scoring service asks (duplicates and unknown ids
    /// allowed).
    Ids(Vec<EntityId>),
    /// The first `n` of the index, for the demo.
    First(usize),
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
    /// When this answer was made, by the server's clock, in Unix milliseconds: the base for
    /// the ages of the times below.
    pub as_of_unix_ms: u64,
    pub store: StoreStats,
    pub worker: WorkerStats,
    /// Time the service took per single-entity read, and per batch read, since start.
    pub read_latency: LatencyHistogram,
    pub batch_read_latency: LatencyHistogram,
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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BulkLoaded {
    pub loaded: u64,
    /// Rows left out because their key holds something other than an entity hash.
    pub skipped: u64,
    pub ttl_seconds: u64,
    pub elapsed_ms: f64,
}

/// What a caller asks of the worker. Each says the outcome it wants, so a request sent from a
/// stale page can never do the opposite: `pause` never starts the worker, `start` and `resume`
/// never pause it, and asking for the state it is already in changes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerAction {
    /// Stopped → running; a paused worker resumes.
    Start,
    /// Running → paused; the task stays, no tick writes.
    Pause,
    /// Paused → running; a stopped worker starts.
    Resume,
}

impl WorkerAction {
    const NAMES: [(&'static str, WorkerAction); 3] = [
        ("start", WorkerAction::Start),
        ("pause", WorkerAction::Pause),
        ("resume", WorkerAction::Resume),
    ];
}

/// By name, and a refusal that lists the names whatever was sent (a number, say), which serde's
/// derived enum cannot say.
impl<'de> Deserialize<'de> for WorkerAction {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Names;
        impl serde::de::Visitor<'_> for Names {
            type Value = WorkerAction;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(r#"one of "start", "pause", "resume""#)
            }

            fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<WorkerAction, E> {
                WorkerAction::NAMES
                    .iter()
                    .find(|(known, _)| *known == name)
                    .map(|(_, action)| *action)
                    .ok_or_else(|| E::invalid_value(serde::de::Unexpected::Str(name), &self))
            }
        }
        deserializer.deserialize_str(Names)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerToggled {
    pub running: bool,
    pub paused: bool,
}

/// `POST /api/read`: one row per requested field, in the order asked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReadResult {
    pub user: String,
    pub fields: Vec<FeatureValue>,
    /// Requested fields that exist.
    pub returned_count: usize,
    pub key_ttl_seconds: Ttl,
    /// The Redis round trip: HMGET, HTTL and TTL in one pipeline.
    pub elapsed_ms: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchSample {
    pub id: String,
    pub field_count: usize,
    pub values: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchFailure {
    pub id: String,
    pub error: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchResult {
    /// Entities served; a failed row is in `failed` instead.
    pub entity_count: usize,
    pub field_count: usize,
    pub fields: Vec<String>,
    pub elapsed_ms: f64,
    pub sample: Vec<BatchSample>,
    /// Rows that could not be served (a key that is not an entity hash), with the reason.
    pub failed: Vec<BatchFailure>,
}

/// `GET /api/inspect`: every schema feature, present or not, then any extra fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Inspection {
    pub user: String,
    pub exists: bool,
    pub key_ttl_seconds: Ttl,
    pub fields: Vec<FeatureValue>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResetDone {
    pub deleted: u64,
}

/// Whether a value an online read asked for is there, as Feast names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FeatureStatus {
    Present,
    /// No such entity, or the field is absent: never written, or expired (a streaming field's
    /// own TTL removes it).
    NotFound,
    /// Present, but written longer ago than its view's TTL: stored under a longer TTL than the
    /// registry's (a bulk load with its own TTL, or a server restarted with a shorter one).
    OutsideMaxAge,
    /// Cannot be served: the entity's key holds something other than an entity hash.
    Invalid,
}

/// One feature of one entity, as an online read answers it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OnlineValue {
    /// Typed by the registry; `Null` when not found.
    pub value: serde_json::Value,
    pub status: FeatureStatus,
    /// The event time of its view's stored values for this entity, in Unix ms, if known.
    pub event_unix_ms: Option<u64>,
}

impl OnlineValue {
    /// A value the entity does not have.
    pub fn not_found() -> Self {
        Self::without_value(FeatureStatus::NotFound)
    }

    /// A value of an entity whose key is not an entity hash.
    pub fn invalid() -> Self {
        Self::without_value(FeatureStatus::Invalid)
    }

    fn without_value(status: FeatureStatus) -> Self {
        OnlineValue {
            value: serde_json::Value::Null,
            status,
            event_unix_ms: None,
        }
    }
}

/// What a push wrote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pushed {
    pub view: String,
    /// Entities written, each row in one atomic command.
    pub written: u64,
    /// Rows not written, and why: a streaming push never creates an entity.
    pub skipped: Vec<PushSkipped>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushSkipped {
    pub id: String,
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_keep_redis_integers_on_the_wire() {
        for (reply, ttl) in [
            (-2, Ttl::Missing),
            (-1, Ttl::Persistent),
            (42, Ttl::Left(42)),
        ] {
            assert_eq!(Ttl::from(reply), ttl);
            assert_eq!(serde_json::to_string(&ttl).unwrap(), reply.to_string());
        }
        assert_eq!(Ttl::Left(3).after(5), Ttl::Left(0));
    }

    #[test]
    fn latency_quantiles_interpolate_within_buckets_of_the_window() {
        let bounds = vec![100, 200, 400];
        let earlier = LatencyHistogram {
            upper_bounds_us: bounds.clone(),
            counts: vec![5, 0, 0, 0],
        };
        let now = LatencyHistogram {
            upper_bounds_us: bounds,
            counts: vec![5, 50, 49, 1],
        };
        let window = now.since(&earlier);
        assert_eq!(window.counts, vec![0, 50, 49, 1]);
        assert_eq!(window.quantile_us(0.5), Some(200.0));
        assert_eq!(window.quantile_us(0.25), Some(150.0));
        // The 99th of 100 lands at the top of the third bucket; above it, only "more than 400".
        assert_eq!(window.quantile_us(0.99), Some(400.0));
        assert_eq!(window.quantile_us(1.0), Some(400.0));
        assert_eq!(earlier.since(&earlier).quantile_us(0.5), None);
    }
}

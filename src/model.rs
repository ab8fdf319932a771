//! Plain data that crosses the wire between the server and the browser, and that the service
//! layer answers with whatever the transport. It lives outside the `ssr` code so the hydrated
//! client decodes exactly what the server encodes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::schema::{self, FeatureKind};

/// Counters of what the store has done since start or since the last reset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreStats {
    pub batch_writes_total: u64,
    pub streaming_writes_total: u64,
    /// Entities read.
    pub reads_total: u64,
    /// Fields asked for across those reads, and of them the ones found.
    pub requested_fields_total: u64,
    pub read_fields_total: u64,
    /// When the last bulk load of this server finished, in Unix milliseconds.
    pub last_bulk_load_unix_ms: Option<u64>,
    pub last_bulk_load_rows: u64,
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

    /// How it reads on the page; `persistent` names the layer that has no TTL.
    pub fn text(self, persistent: &str) -> String {
        match self {
            Ttl::Missing => "missing".into(),
            Ttl::Persistent => persistent.into(),
            Ttl::Left(0) => "expired".into(),
            Ttl::Left(left) => format!("{left} s"),
        }
    }
}

/// One feature of one entity, as every read that shows freshness answers it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureValue {
    pub name: String,
    /// `None` for a field the schema does not know.
    pub kind: Option<FeatureKind>,
    /// The stored string; `None` when the field is absent (never written, or expired).
    pub value: Option<String>,
    /// The value decoded by the schema's type (numbers as numbers); `None` when absent.
    pub typed: Option<serde_json::Value>,
    pub ttl_seconds: Ttl,
}

impl FeatureValue {
    /// A row for `name`, its kind and type taken from the schema.
    pub fn new(name: String, value: Option<String>, ttl_seconds: Ttl) -> Self {
        let feature = schema::find(&name);
        FeatureValue {
            kind: feature.map(|f| f.kind),
            typed: value.as_deref().map(|raw| match feature {
                Some(f) => schema::decode(f.value_type, raw),
                None => serde_json::Value::String(raw.to_owned()),
            }),
            name,
            value,
            ttl_seconds,
        }
    }
}

/// `GET /api/state`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoreState {
    pub redis_version: String,
    /// `single` or `cluster`.
    pub redis_mode: String,
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerAction {
    /// Stopped → running; a paused worker resumes.
    Start,
    /// Running → paused; the task stays, no tick writes.
    Pause,
    /// Paused → running; a stopped worker starts.
    Resume,
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
        assert_eq!(Ttl::Left(0).text("no TTL"), "expired");
        assert_eq!(Ttl::Persistent.after(5).text("no key TTL"), "no key TTL");
    }

    #[test]
    fn a_row_takes_kind_and_type_from_the_schema() {
        let name = schema::FEATURES[2].name.to_owned();
        let row = FeatureValue::new(name, Some("42".into()), Ttl::Persistent);
        assert_eq!(row.typed, Some(serde_json::json!(42)));
        assert_eq!(row.kind, Some(FeatureKind::Batch));
        let extra = FeatureValue::new("extra".into(), Some("7".into()), Ttl::Left(1));
        assert_eq!(
            (extra.kind, extra.typed),
            (None, Some(serde_json::json!("7")))
        );
    }
}

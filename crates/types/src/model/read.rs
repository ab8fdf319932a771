//! What reads answer: one entity's features with their TTLs, batch reads, Feast's online values,
//! inspection.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::EntityId;
use crate::registry::Registry;
use crate::schema::{self, FeatureKind, ValueType};

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

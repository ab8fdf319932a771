//! The HTTP API. Each server function is also a stable JSON endpoint under `/api/`, so the UI
//! and `curl` call exactly the same code.

use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos::server_fn::codec::{GetUrl, PostUrl};
use serde::{Deserialize, Serialize};

use crate::codec::StrictJson;
use crate::errors::ApiError;
use crate::model::{Health, StoreStats, WorkerStats};
use crate::schema::FeatureKind;

/// Most ids `/api/state` lists; the count is always the true total.
pub const STATE_ID_LIMIT: usize = 500;
/// Rows of a batch read echoed back as a sample.
pub const BATCH_SAMPLE: usize = 10;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoreState {
    pub redis_version: String,
    pub key_prefix: String,
    pub batch_ttl_seconds: u64,
    pub streaming_ttl_seconds: u64,
    /// Entities at the last pass of the background index (never a scan per request).
    pub entity_count: u64,
    /// When that pass finished, in Unix milliseconds; `None` before the first one.
    pub entity_count_as_of: Option<u64>,
    /// How long ago that was when this answer was made, in milliseconds.
    pub entity_count_age_ms: Option<u64>,
    pub entity_ids: Vec<String>,
    pub store: StoreStats,
    pub worker: WorkerStats,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BulkLoaded {
    pub loaded: u64,
    /// Rows left out because their key holds something other than an entity hash.
    pub skipped: u64,
    pub ttl_seconds: u64,
    pub elapsed_ms: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerToggled {
    pub running: bool,
    pub paused: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReadResult {
    pub user: String,
    pub requested: Vec<String>,
    /// Only the fields that exist; an absent name is missing or expired.
    pub values: BTreeMap<String, String>,
    pub typed_values: BTreeMap<String, serde_json::Value>,
    /// One per requested field: -2 missing, -1 no field TTL, else seconds left.
    pub ttls: BTreeMap<String, i64>,
    pub key_ttl_seconds: i64,
    pub returned_count: usize,
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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InspectedField {
    pub name: String,
    /// `None` when the field is absent (never written, or expired).
    pub value: Option<String>,
    /// `None` for a field the schema does not know.
    pub kind: Option<FeatureKind>,
    pub ttl_seconds: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Inspection {
    pub user: String,
    pub exists: bool,
    pub key_ttl_seconds: i64,
    pub fields: Vec<InspectedField>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResetDone {
    pub deleted: u64,
}

/// The Redis version and key prefix: proves SSR, hydration, server functions and Redis work.
#[server(prefix = "/api", endpoint = "health", input = GetUrl)]
pub async fn get_health() -> Result<Health, ApiError> {
    let state = ssr::state()?;
    Ok(Health {
        ok: true,
        redis_version: state.store.redis_version().to_string(),
        key_prefix: state.store.config().key_prefix.to_string(),
    })
}

/// Store configuration, true entity count, up to 500 ids, store and worker counters.
#[server(prefix = "/api", endpoint = "state", input = GetUrl)]
pub async fn get_state() -> Result<StoreState, ApiError> {
    let state = ssr::state()?;
    let store = &state.store;
    if state.index.is_failing() {
        return Err(ApiError::redis_unavailable());
    }
    let index = state.index.snapshot();
    let config = store.config();
    let as_of = index.as_of.map(|time| {
        let unix_ms = time
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let age_ms = time.elapsed().map_or(0, |d| d.as_millis() as u64);
        (unix_ms, age_ms)
    });
    Ok(StoreState {
        redis_version: store.redis_version().to_string(),
        key_prefix: config.key_prefix.to_string(),
        batch_ttl_seconds: config.batch_ttl_seconds,
        streaming_ttl_seconds: config.streaming_ttl_seconds,
        entity_count: index.count,
        entity_count_as_of: as_of.map(|(unix_ms, _)| unix_ms),
        entity_count_age_ms: as_of.map(|(_, age_ms)| age_ms),
        entity_ids: index
            .ids
            .iter()
            .take(STATE_ID_LIMIT)
            .map(|id| id.to_string())
            .collect(),
        store: store.stats(),
        worker: state.worker.stats(),
    })
}

/// Materializes `count` synthetic users, each key with a `ttl_seconds` TTL.
#[server(prefix = "/api", endpoint = "bulk-load", input = StrictJson)]
pub async fn bulk_load(count: i64, ttl_seconds: i64) -> Result<BulkLoaded, ApiError> {
    use crate::input::{in_range, BULK_COUNT, TTL_SECONDS};
    let count = in_range("count", count, BULK_COUNT)?;
    let ttl_seconds = in_range("ttl_seconds", ttl_seconds, TTL_SECONDS)?;
    let state = ssr::state()?;
    let _admin = state.admin.lock().await;
    let started = std::time::Instant::now();
    let report = state
        .store
        .bulk_load(
            crate::synth::synthesize_users(count, state.seed),
            Some(ttl_seconds),
        )
        .await?;
    state.index.refresh().await;
    Ok(BulkLoaded {
        loaded: report.written as u64,
        skipped: report.not_hashes as u64,
        ttl_seconds,
        elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
    })
}

/// Stopped → start, running → pause, paused → resume.
#[server(prefix = "/api", endpoint = "worker/toggle", input = PostUrl)]
pub async fn toggle_worker() -> Result<WorkerToggled, ApiError> {
    let state = ssr::state()?;
    let _admin = state.admin.lock().await;
    let stats = state.worker.toggle();
    Ok(WorkerToggled {
        running: stats.running,
        paused: stats.paused,
    })
}

/// The inference read: one HMGET of `fields`, pipelined with their TTLs for display.
#[server(prefix = "/api", endpoint = "read", input = StrictJson)]
pub async fn read_features(user: String, fields: Vec<String>) -> Result<ReadResult, ApiError> {
    let user = crate::input::entity_id("user", &user)?;
    let fields = crate::input::feature_names("fields", fields)?;
    let read = ssr::state()?.store.read_with_ttls(&user, &fields).await?;
    let found = read.features;
    Ok(ReadResult {
        returned_count: found.len(),
        typed_values: found
            .iter()
            .map(|(name, raw)| (name.clone(), crate::schema::decode_field(name, raw)))
            .collect(),
        values: found.into_iter().collect(),
        ttls: fields
            .iter()
            .map(|name| name.to_string())
            .zip(read.field_ttls)
            .collect(),
        requested: fields.iter().map(|name| name.to_string()).collect(),
        user: user.to_string(),
        key_ttl_seconds: read.key_ttl,
        elapsed_ms: read.elapsed_ms,
    })
}

/// Batch scoring: pipelined HMGET over explicit `ids` (as a scoring service calls it; duplicates
/// and unknown ids allowed) or over the first `count` entities of the index (the demo).
/// `fields` defaults to the streaming features plus `risk_segment`.
#[server(prefix = "/api", endpoint = "batch-read", input = StrictJson)]
pub async fn batch_read(
    #[server(default)] count: Option<i64>,
    #[server(default)] ids: Option<Vec<String>>,
    #[server(default)] fields: Option<Vec<String>>,
) -> Result<BatchResult, ApiError> {
    use crate::input::{entity_ids, feature_names, in_range, BATCH_COUNT};
    let fields = feature_names("fields", fields.unwrap_or_else(default_batch_fields))?;
    let state = ssr::state()?;
    let store = &state.store;
    let ids = match (count, ids) {
        (Some(count), None) => {
            let count = in_range("count", count, BATCH_COUNT)? as usize;
            let index = state.index.snapshot();
            index.ids.iter().take(count).cloned().collect()
        }
        (None, Some(ids)) => entity_ids("ids", ids, BATCH_COUNT)?,
        _ => {
            return Err(ApiError::invalid(
                "count",
                "give exactly one of count and ids",
            ))
        }
    };
    let started = std::time::Instant::now();
    let rows = store.batch_read(&ids, &fields).await?;
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    let mut served = Vec::with_capacity(rows.len());
    let mut failed = Vec::new();
    for row in rows {
        match row.features {
            Ok(features) => served.push((row.id, features)),
            Err(crate::store::WrongType) => failed.push(BatchFailure {
                error: format!("{} is not an entity hash", store.key(&row.id)),
                id: row.id.to_string(),
            }),
        }
    }
    Ok(BatchResult {
        entity_count: served.len(),
        field_count: fields.len(),
        fields: fields.iter().map(|name| name.to_string()).collect(),
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

/// The fields batch scoring reads when none are given.
#[cfg(feature = "ssr")]
fn default_batch_fields() -> Vec<String> {
    std::iter::once("risk_segment")
        .chain(crate::schema::names_of(FeatureKind::Streaming))
        .map(str::to_owned)
        .collect()
}

/// Everything about one entity, for inspection: HGETALL, HTTL and TTL. Every schema field is
/// listed, present or not, followed by any extra fields.
#[server(prefix = "/api", endpoint = "inspect", input = GetUrl)]
pub async fn inspect(user: String) -> Result<Inspection, ApiError> {
    let user = crate::input::entity_id("user", &user)?;
    let store = ssr::state()?.store;
    let mut stored: BTreeMap<String, String> = store.read_all(&user).await?.into_iter().collect();
    let mut names: Vec<String> = crate::schema::FEATURES
        .iter()
        .map(|f| f.name.to_owned())
        .collect();
    names.extend(
        stored
            .keys()
            .filter(|name| crate::schema::find(name).is_none())
            .cloned(),
    );
    let (ttls, key_ttl_seconds) =
        tokio::try_join!(store.field_ttls(&user, &names), store.key_ttl(&user))?;
    Ok(Inspection {
        exists: key_ttl_seconds != -2,
        key_ttl_seconds,
        fields: names
            .into_iter()
            .zip(ttls)
            .map(|(name, ttl_seconds)| InspectedField {
                value: stored.remove(&name),
                kind: crate::schema::find(&name).map(|f| f.kind),
                name,
                ttl_seconds,
            })
            .collect(),
        user: user.to_string(),
    })
}

/// Deletes every entity under the prefix with the worker held still, and resets the counters.
#[server(prefix = "/api", endpoint = "reset", input = PostUrl)]
pub async fn reset_store() -> Result<ResetDone, ApiError> {
    let state = ssr::state()?;
    let _admin = state.admin.lock().await;
    let was_writing = {
        let worker = state.worker.stats();
        worker.running && !worker.paused
    };
    state.worker.pause();
    state.worker.wait_for_idle().await;
    let deleted = state.store.reset().await;
    state.store.reset_stats();
    state.index.refresh().await;
    if was_writing {
        state.worker.resume();
    }
    Ok(ResetDone { deleted: deleted? })
}

#[cfg(feature = "ssr")]
mod ssr {
    use crate::errors::ApiError;
    use crate::state::AppState;

    /// The process-wide state that `leptos_routes_with_context` provides to every call.
    pub(super) fn state() -> Result<AppState, ApiError> {
        leptos::prelude::use_context::<AppState>().ok_or_else(|| {
            tracing::error!("server state is missing from the request context");
            ApiError::internal()
        })
    }
}

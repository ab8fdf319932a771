//! The HTTP API. Each server function is also a stable JSON endpoint under `/api/`, so the UI
//! and `curl` call exactly the same code. A function parses its input into domain types and
//! calls the server's `Backend`; the product logic lives in the core's operations.

pub mod codec;
pub mod error;
pub mod input;

use leptos::prelude::*;
use leptos::server_fn::codec::{GetUrl, PostUrl};

use crate::model::{
    BatchResult, BulkLoaded, Health, Inspection, MaterializeAccepted, ReadResult, ResetDone,
    StoreState, WorkerAction, WorkerToggled,
};
use crate::registry::Registry;
use codec::StrictJson;
use error::ApiError;

/// The Redis version, mode and key prefix, after a PING: proves SSR, hydration, server
/// functions and Redis work now, not only at startup.
#[server(prefix = "/api", endpoint = "health", input = GetUrl)]
pub async fn get_health() -> Result<Health, ApiError> {
    backend()?.health().await
}

/// The entity and its feature views, with the TTLs this server applies.
#[server(prefix = "/api", endpoint = "registry", input = GetUrl)]
pub async fn get_registry() -> Result<Registry, ApiError> {
    Ok(backend()?.registry())
}

/// Store configuration, the index's entity count and first ids, store and worker counters.
#[server(prefix = "/api", endpoint = "state", input = GetUrl)]
pub async fn get_state() -> Result<StoreState, ApiError> {
    backend()?.state().await
}

/// Materializes `count` synthetic users, each key with a `ttl_seconds` TTL.
#[server(prefix = "/api", endpoint = "bulk-load", input = StrictJson)]
pub async fn bulk_load(count: i64, ttl_seconds: i64) -> Result<BulkLoaded, ApiError> {
    use input::{in_range, BULK_COUNT, TTL_SECONDS};
    let count = in_range("count", count, BULK_COUNT)?;
    let ttl_seconds = in_range("ttl_seconds", ttl_seconds, TTL_SECONDS)?;
    backend()?.bulk_load(count, ttl_seconds).await
}

/// `{"action": "start" | "pause" | "resume"}`: each names the outcome it wants, so a stale page
/// can never invert it; asking for the state the worker is in changes nothing.
#[server(prefix = "/api", endpoint = "worker", input = StrictJson)]
pub async fn switch_worker(action: WorkerAction) -> Result<WorkerToggled, ApiError> {
    backend()?.switch_worker(action).await
}

/// The inference read: one HMGET of `fields`, pipelined with their TTLs for display. `entity`
/// names which of the registry's entities `user` is (the first when absent).
#[server(prefix = "/api", endpoint = "read", input = StrictJson)]
pub async fn read_features(
    user: String,
    fields: Vec<String>,
    #[server(default)] entity: Option<String>,
) -> Result<ReadResult, ApiError> {
    let user = input::entity_id("user", &user)?;
    let fields = input::feature_names("fields", fields)?;
    let deadline = requested_deadline()?;
    backend()?.read(entity, user, fields, deadline).await
}

/// Batch scoring: pipelined HMGET over explicit `ids` (as a scoring service calls it; duplicates
/// and unknown ids allowed) or over the first `count` entities of the index (the demo).
/// `fields` defaults to the streaming features plus those the registry marks
/// `batch_read_by_default`.
#[server(prefix = "/api", endpoint = "batch-read", input = StrictJson)]
pub async fn batch_read(
    #[server(default)] count: Option<i64>,
    #[server(default)] ids: Option<Vec<String>>,
    #[server(default)] fields: Option<Vec<String>>,
    #[server(default)] entity: Option<String>,
) -> Result<BatchResult, ApiError> {
    use crate::model::BatchEntities;
    use input::{entity_ids, feature_names, in_range, BATCH_COUNT};
    let fields = fields
        .map(|fields| feature_names("fields", fields))
        .transpose()?;
    let entities = match (count, ids) {
        (Some(count), None) => {
            BatchEntities::First(in_range("count", count, BATCH_COUNT)? as usize)
        }
        (None, Some(ids)) => BatchEntities::Ids(entity_ids("ids", ids, BATCH_COUNT)?),
        _ => {
            return Err(ApiError::invalid(
                "count",
                "give exactly one of count and ids",
            ))
        }
    };
    let deadline = requested_deadline()?;
    backend()?
        .batch_read(entity, entities, fields, deadline)
        .await
}

/// Everything about one entity, for inspection: HGETALL, HTTL and TTL. Every registry feature
/// is listed, present or not, followed by any other fields.
#[server(prefix = "/api", endpoint = "inspect", input = GetUrl)]
pub async fn inspect(
    user: String,
    #[server(default)] entity: Option<String>,
) -> Result<Inspection, ApiError> {
    let user = input::entity_id("user", &user)?;
    backend()?.inspect(entity, user).await
}

/// Materializes views from their sources in the background, as Feast's `?async=true` does:
/// `views` by name (every view with a source when absent), over `[start, end]`, or from where
/// each view's last incremental run ended when `start` is absent; `end` is now when absent.
/// Times as Feast's clients write them. A conflict while a run of one of the views goes on.
#[server(prefix = "/api", endpoint = "materialize", input = StrictJson)]
pub async fn materialize_sources(
    #[server(default)] views: Option<Vec<String>>,
    #[server(default)] start: Option<String>,
    #[server(default)] end: Option<String>,
) -> Result<MaterializeAccepted, ApiError> {
    let time = |field: &str, text: &str| {
        input::parse_time(text).map_err(|rule| ApiError::invalid(field, rule))
    };
    let start_ms = start.map(|text| time("start", &text)).transpose()?;
    let end_ms = match end {
        Some(text) => time("end", &text)?,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |now| now.as_millis() as u64),
    };
    if start_ms.is_some_and(|start_ms| start_ms > end_ms) {
        return Err(ApiError::invalid("start", "must not be after end"));
    }
    backend()?.materialize(views, start_ms, end_ms).await
}

/// Deletes every entity under the prefix with the worker held still, and resets the counters.
#[server(prefix = "/api", endpoint = "reset", input = PostUrl)]
pub async fn reset_store() -> Result<ResetDone, ApiError> {
    backend()?.reset().await
}

#[cfg(feature = "ssr")]
use crate::backend::current as backend;

/// The header a caller sets to ask for a shorter read deadline than the server's.
pub const DEADLINE_HEADER: &str = "x-deadline-ms";

/// The caller's own read deadline, if it sent one (see `deadline_in`). Read in place: a copy
/// of the request's parts is a dozen allocations on every read.
#[cfg(feature = "ssr")]
fn requested_deadline() -> Result<Option<std::time::Duration>, ApiError> {
    leptos::prelude::with_context::<axum::http::request::Parts, _>(|parts| {
        deadline_in(
            parts
                .headers
                .get(DEADLINE_HEADER)
                .map(|value| value.to_str().unwrap_or("")),
        )
    })
    .unwrap_or(Ok(None))
}

/// The read deadline the `x-deadline-ms` header's value asks for, if there is one: whole
/// milliseconds, 1 to 60000.
pub fn deadline_in(value: Option<&str>) -> Result<Option<std::time::Duration>, ApiError> {
    let Some(value) = value else {
        return Ok(None);
    };
    let millis = value.trim().parse::<i64>().map_err(|_| {
        ApiError::invalid(DEADLINE_HEADER, "must be a whole number of milliseconds")
    })?;
    let millis = input::in_range(DEADLINE_HEADER, millis, input::DEADLINE_MS)?;
    Ok(Some(std::time::Duration::from_millis(millis)))
}

//! Feast's feature-server API on the same server, so the Feast SDK's remote online store and
//! any client of `feast serve` work unchanged: `POST /get-online-features`, `POST /push`,
//! `POST /write-to-online-store` (what `feast materialize` calls), `GET /health`. Plain axum routes beside the Leptos app; each parses its JSON into registry
//! names and domain types, calls the service, and shapes the answer as Feast does.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{Map, Value};

mod answer;
mod failure;
mod request;

use crate::api::error::ApiError;
use crate::api::input::parse_time;
use crate::api::{deadline_in, DEADLINE_HEADER};
use crate::domain::EntityId;
use crate::http::request_id::RequestId;
use crate::materialize::{Span, Window};
use crate::ops::Service;
use crate::registry::View;
use crate::store::EventRule;
use answer::{columns, EventTimes};
use failure::FeastFailure;
use request::{
    distinct_columns, entities, materialized_views, object, push_rows, requested_features,
};
/// The column of a push that gives each row's event time; without it (or for a null) the event
/// time is the write's.
const EVENT_TIME_COLUMN: &str = "event_timestamp";
/// Columns a Feast push carries besides the features: the event time, and `created`, which only
/// an offline store uses (to break ties), accepted and not stored.
const PUSH_TIME_COLUMNS: [&str; 2] = [EVENT_TIME_COLUMN, "created"];

pub fn routes(service: Arc<Service>) -> Router {
    Router::new()
        .route("/get-online-features", post(online_features))
        .route("/push", post(push))
        .route("/write-to-online-store", post(write_to_online_store))
        .route("/materialize", post(materialize))
        .route("/materialize-incremental", post(materialize_incremental))
        // Feast's own readiness route: the same answer as /readyz.
        .route("/health", get(crate::http::probes::ready))
        .with_state(service)
}

async fn online_features(
    State(service): State<Arc<Service>>,
    Extension(id): Extension<RequestId>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer(async {
        let request = object(&body)?;
        let registry = service.registry();
        let features = requested_features(registry, &request)?;
        let full_names = flag(&request, "full_feature_names")?;
        let view_metadata = flag(&request, "include_feature_view_version_metadata")?;
        distinct_columns(&features, full_names)?;
        let mut entity_columns = entities(registry, &request, &features)?;
        let deadline = deadline_in(
            headers
                .get(DEADLINE_HEADER)
                .map(|v| v.to_str().unwrap_or("")),
        )?;
        // The ids of the entities the features need; the answer echoes only what was sent.
        let ids: Vec<(usize, Vec<EntityId>)> = entity_columns
            .iter_mut()
            .filter(|column| column.needed)
            .map(|column| (column.entity, std::mem::take(&mut column.ids)))
            .collect();
        let rows = service
            .online_features(&ids, &features, deadline)
            .await
            .map_err(|e| FeastFailure::of(e, &id))?;
        let times = EventTimes::of_rows(&rows);
        let mut answer = columns(&features, &entity_columns, &rows, &times, full_names);
        if view_metadata {
            answer.name_views(&features);
        }
        Ok(answer.into_response())
    })
    .await
}

/// A flag of Feast's read request: false when absent.
fn flag(request: &Map<String, Value>, name: &str) -> Result<bool, FeastFailure> {
    match request.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(set)) => Ok(*set),
        Some(_) => Err(ApiError::invalid(name, "must be true or false").into()),
    }
}

async fn push(
    State(service): State<Arc<Service>>,
    Extension(id): Extension<RequestId>,
    body: Bytes,
) -> Response {
    answer(async {
        let request = object(&body)?;
        match request.get("to") {
            None | Some(Value::Null) => {}
            Some(Value::String(to)) if to == "online" => {}
            Some(_) => {
                return Err(FeastFailure::from(ApiError::invalid(
                    "to",
                    "must be \"online\": this store has no offline store",
                )))
            }
        }
        write_flags(&request)?;
        let source = required_string(&request, "push_source_name")?;
        let view = service
            .registry()
            .pushed_by(source)
            .ok_or_else(|| FeastFailure::no_push_source(source))?;
        let rule = match request.get("overwrite") {
            None | Some(Value::Null) | Some(Value::Bool(false)) => EventRule::NewerOnly,
            Some(Value::Bool(true)) => EventRule::Overwrite,
            Some(_) => {
                return Err(FeastFailure::from(ApiError::invalid(
                    "overwrite",
                    "must be true (write whatever event is stored) or false",
                )))
            }
        };
        write(&service, &id, view, &request, rule).await
    })
    .await
}

/// Feast's `write_to_online_store`, which the Feast SDK's remote online store calls for every
/// batch it materializes (`feast materialize`, `store.write_to_online_store`): rows of one view
/// by name, written like a push to it, under the event-time rule (Feast's own Redis store also
/// keeps the newer event).
async fn write_to_online_store(
    State(service): State<Arc<Service>>,
    Extension(id): Extension<RequestId>,
    body: Bytes,
) -> Response {
    answer(async {
        let request = object(&body)?;
        write_flags(&request)?;
        let name = required_string(&request, "feature_view_name")?;
        let view = service
            .registry()
            .view(name)
            .ok_or_else(|| FeastFailure::no_view(name))?;
        write(&service, &id, view, &request, EventRule::NewerOnly).await
    })
    .await
}

/// Feast's flags of a write for its registry cache and its on-write transformations: this
/// server has neither, so either value writes the same; anything but a flag is refused.
fn write_flags(request: &Map<String, Value>) -> Result<(), FeastFailure> {
    for name in ["allow_registry_cache", "transform_on_write"] {
        flag(request, name)?;
    }
    Ok(())
}

/// Writes a request's `df` to `view`: what a push and a write to the online store share.
async fn write(
    service: &Service,
    id: &RequestId,
    view: &View,
    request: &Map<String, Value>,
    rule: EventRule,
) -> Result<Response, FeastFailure> {
    let request::WriteRows { rows, ignored } =
        push_rows(service.registry(), view, request.get("df"))?;
    let pushed = service
        .push(view, rows, rule)
        .await
        .map_err(|e| FeastFailure::of(e, id))?;
    Ok(Json(WriteAnswer {
        pushed,
        ignored_columns: ignored,
    })
    .into_response())
}

/// What a write did, and the columns it ignored (no feature of the view).
#[derive(serde::Serialize)]
struct WriteAnswer {
    #[serde(flatten)]
    pushed: crate::model::Pushed,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ignored_columns: Vec<String>,
}

/// Feast's `/materialize`, which `feast materialize` calls on a remote online store: the
/// server reads the views' own sources (its registry's) over `[start_ts, end_ts]`.
async fn materialize(
    State(service): State<Arc<Service>>,
    Extension(id): Extension<RequestId>,
    query: Result<Query<MaterializeQuery>, QueryRejection>,
    body: Bytes,
) -> Response {
    materialize_views(&service, &id, query, &body, |request| {
        let window = Window {
            start_ms: request_time(request, "start_ts")?,
            end_ms: request_time(request, "end_ts")?,
        };
        // Refused before a background run is accepted, not when it starts.
        if window.start_ms > window.end_ms {
            return Err(ApiError::invalid("start_ts", "must not be after end_ts"));
        }
        Ok(Span::Window(window))
    })
    .await
}

/// Feast's `/materialize-incremental` (`feast materialize-incremental END`): each view from
/// where its last incremental run ended.
async fn materialize_incremental(
    State(service): State<Arc<Service>>,
    Extension(id): Extension<RequestId>,
    query: Result<Query<MaterializeQuery>, QueryRejection>,
    body: Bytes,
) -> Response {
    materialize_views(&service, &id, query, &body, |request| {
        Ok(Span::Incremental {
            end_ms: request_time(request, "end_ts")?,
        })
    })
    .await
}

/// Feast's `?async=true` (answer 202 at once and run in the background) and `?force=true`
/// (start even while a run of the same views goes on), as FastAPI reads a boolean.
#[derive(serde::Deserialize)]
struct MaterializeQuery {
    #[serde(rename = "async")]
    background: Option<String>,
    force: Option<String>,
}

impl MaterializeQuery {
    fn flag(value: Option<&str>, field: &str) -> Result<bool, FeastFailure> {
        match value.map(str::to_ascii_lowercase).as_deref() {
            None | Some("0" | "false" | "f" | "no" | "n" | "off") => Ok(false),
            Some("1" | "true" | "t" | "yes" | "y" | "on") => Ok(true),
            Some(_) => Err(FeastFailure::Invalid {
                part: "query",
                field: field.to_owned(),
                rule: "Input should be a valid boolean, unable to interpret input".to_owned(),
            }),
        }
    }
}

/// What both materialize routes share: the span their request asks for, then its views, run
/// now or in the background.
async fn materialize_views(
    service: &Arc<Service>,
    id: &RequestId,
    query: Result<Query<MaterializeQuery>, QueryRejection>,
    body: &[u8],
    span_of: fn(&Map<String, Value>) -> Result<Span, ApiError>,
) -> Response {
    answer(async {
        let Query(query) = query.map_err(|rejection| FeastFailure::Invalid {
            part: "query",
            field: "query".to_owned(),
            rule: crate::domain::bounded(&rejection.body_text(), 200),
        })?;
        let background = MaterializeQuery::flag(query.background.as_deref(), "async")?;
        // Feast reads `force` on the background path alone.
        let force = MaterializeQuery::flag(query.force.as_deref(), "force")?;
        let request = object(body)?;
        let span = span_of(&request)?;
        let names = materialized_views(&request)?;
        let views = service
            .views_to_materialize(names.as_deref())
            .map_err(|e| FeastFailure::of(e, id))?;
        if background {
            let accepted = service
                .materialize_in_background(&views, span, force)
                .await
                .map_err(|e| FeastFailure::of(e, id))?;
            let answer = serde_json::json!({"status": "accepted", "feature_views": accepted});
            return Ok((StatusCode::ACCEPTED, Json(answer)).into_response());
        }
        let done = service
            .materialize(&views, span)
            .await
            .map_err(|e| FeastFailure::of(e, id))?;
        Ok(Json(done).into_response())
    })
    .await
}

/// A time the request must give, as Feast's SDK writes it (`datetime.isoformat()`).
fn request_time(request: &Map<String, Value>, field: &str) -> Result<u64, ApiError> {
    parse_time(required_string(request, field)?).map_err(|rule| ApiError::invalid(field, rule))
}

/// A string field the request must have.
fn required_string<'r>(request: &'r Map<String, Value>, field: &str) -> Result<&'r str, ApiError> {
    match request.get(field) {
        Some(Value::String(value)) => Ok(value),
        _ => Err(ApiError::invalid(field, "a string is required")),
    }
}

async fn answer(
    handled: impl std::future::Future<Output = Result<Response, FeastFailure>>,
) -> Response {
    handled.await.unwrap_or_else(IntoResponse::into_response)
}

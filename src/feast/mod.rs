//! Feast's feature-server API on the same server, so the Feast SDK's remote online store and
//! any client of `feast serve` work unchanged: `POST /get-online-features`, `POST /push`,
//! `GET /health`. Plain axum routes beside the Leptos app; each parses its JSON into registry
//! names and domain types, calls the service, and shapes the answer as Feast does.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Serialize;
use serde_json::{Map, Value};

mod failure;

use crate::api::error::ApiError;
use crate::api::input::{self, BATCH_COUNT};
use crate::api::{deadline_in, DEADLINE_HEADER};
use crate::domain::{bounded, EntityId};
use crate::http::request_id::RequestId;
use crate::http::unique_keys;
use crate::model::{FeatureStatus, OnlineValue};
use crate::ops::{PushRow, Service};
use crate::registry::{Feature, Registry, View};
use crate::schema;
use crate::store::{EntityRow, EventRule};
use failure::FeastFailure;

/// Feast's timestamp for a value without one (the join key's column, a value not found).
const EPOCH: &str = "1970-01-01T00:00:00Z";
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
        let (id_values, ids) = entities(registry, &request)?;
        let full_names = match request.get("full_feature_names") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(full)) => *full,
            Some(_) => {
                return Err(FeastFailure::from(ApiError::invalid(
                    "full_feature_names",
                    "must be true or false",
                )))
            }
        };
        let deadline = deadline_in(
            headers
                .get(DEADLINE_HEADER)
                .map(|v| v.to_str().unwrap_or("")),
        )?;
        let rows = service
            .online_features(&ids, &features, deadline)
            .await
            .map_err(|e| FeastFailure::of(e, &id))?;
        let times = EventTimes::of_rows(&rows);
        let answer = columns(registry, &features, &id_values, &rows, &times, full_names);
        Ok(Json(answer).into_response())
    })
    .await
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
        let source = match request.get("push_source_name") {
            Some(Value::String(source)) => source,
            _ => {
                return Err(FeastFailure::from(ApiError::invalid(
                    "push_source_name",
                    "a string is required",
                )))
            }
        };
        let registry = service.registry();
        let view = registry
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
        let rows = push_rows(registry, view, request.get("df"))?;
        let pushed = service
            .push(view, rows, rule)
            .await
            .map_err(|e| FeastFailure::of(e, &id))?;
        Ok(Json(pushed).into_response())
    })
    .await
}

async fn answer(
    handled: impl std::future::Future<Output = Result<Response, FeastFailure>>,
) -> Response {
    handled.await.unwrap_or_else(IntoResponse::into_response)
}

/// The body as a JSON object naming each key once; anything else is 422, as Feast answers a
/// body it cannot take.
fn object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match unique_keys::parse(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(ApiError::invalid("body", "must be a JSON object")),
        Err(e) => Err(ApiError::invalid("body", format!("is not JSON: {e}"))),
    }
}

/// `features: ["view:feature", …]`, each one a feature of that view in the registry.
fn requested_features<'r>(
    registry: &'r Registry,
    request: &Map<String, Value>,
) -> Result<Vec<(&'r View, &'r Feature)>, FeastFailure> {
    if let Some(service) = request.get("feature_service").filter(|s| !s.is_null()) {
        let name = service
            .as_str()
            .map_or_else(|| service.to_string(), str::to_owned);
        return Err(FeastFailure::no_service(&name));
    }
    let Some(Value::Array(refs)) = request.get("features") else {
        return Err(ApiError::invalid("features", "a list of \"view:feature\" is required").into());
    };
    if refs.is_empty() {
        return Err(ApiError::invalid("features", "must name at least one feature").into());
    }
    let mut features = Vec::with_capacity(refs.len());
    for reference in refs {
        let text = reference.as_str().unwrap_or_default();
        let Some((view_name, feature)) = text.split_once(':') else {
            return Err(ApiError::invalid(
                "features",
                format!(
                    "{:?} must be view:feature",
                    bounded(&reference.to_string(), 60)
                ),
            )
            .into());
        };
        let view = registry
            .view(view_name)
            .ok_or_else(|| FeastFailure::no_view(view_name))?;
        let Some(feature) = view.feature(feature) else {
            return Err(FeastFailure::no_feature(&view.name, feature));
        };
        features.push((view, feature));
    }
    Ok(features)
}

/// `entities: {join_key: [id, …]}`: the ids as sent (echoed in the answer) and as entity ids.
fn entities(
    registry: &Registry,
    request: &Map<String, Value>,
) -> Result<(Vec<Value>, Vec<EntityId>), ApiError> {
    let join_key = &registry.entity.join_key;
    let Some(Value::Object(entities)) = request.get("entities") else {
        return Err(ApiError::invalid(
            "entities",
            format!("an object {{\"{join_key}\": [ids]}} is required"),
        ));
    };
    let only_ours = entities.len() == 1 && entities.contains_key(join_key);
    let Some(Value::Array(values)) = entities.get(join_key).filter(|_| only_ours) else {
        return Err(ApiError::invalid(
            "entities",
            format!("must hold exactly one list, under the join key {join_key:?}"),
        ));
    };
    let ids = entity_ids(join_key, values)?;
    Ok((values.clone(), ids))
}

/// Ids as a Feast client sends them: strings, or whole numbers for integer keys.
fn entity_ids(column: &str, values: &[Value]) -> Result<Vec<EntityId>, ApiError> {
    let texts = values
        .iter()
        .map(|value| match value {
            Value::String(text) => Ok(text.clone()),
            Value::Number(number) if number.is_i64() || number.is_u64() => Ok(number.to_string()),
            other => Err(ApiError::invalid(
                column,
                format!(
                    "{} is not a string or a whole number",
                    bounded(&other.to_string(), 40)
                ),
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    input::entity_ids(column, texts, BATCH_COUNT)
}

/// Feast's column-major answer, serialized straight from what the service read.
#[derive(Serialize)]
struct OnlineAnswer<'a> {
    metadata: Metadata,
    results: Vec<Column<'a>>,
}

#[derive(Serialize)]
struct Metadata {
    feature_names: Vec<String>,
}

/// One feature (or the join key) across all entities.
#[derive(Serialize)]
struct Column<'a> {
    values: Vec<&'a Value>,
    statuses: Vec<FeatureStatus>,
    event_timestamps: Vec<&'a str>,
}

/// The join key's column, then one column per feature.
fn columns<'a>(
    registry: &Registry,
    features: &[(&View, &Feature)],
    id_values: &'a [Value],
    rows: &'a [Vec<OnlineValue>],
    times: &'a EventTimes,
    full_names: bool,
) -> OnlineAnswer<'a> {
    let mut feature_names = vec![registry.entity.join_key.clone()];
    let mut results = vec![Column {
        values: id_values.iter().collect(),
        statuses: vec![FeatureStatus::Present; rows.len()],
        event_timestamps: vec![EPOCH; rows.len()],
    }];
    for (at, (view, feature)) in features.iter().enumerate() {
        feature_names.push(if full_names {
            format!("{}__{}", view.name, feature.name)
        } else {
            feature.name.clone()
        });
        results.push(Column {
            values: rows.iter().map(|row| &row[at].value).collect(),
            statuses: rows.iter().map(|row| row[at].status).collect(),
            event_timestamps: rows.iter().map(|row| times.of(&row[at])).collect(),
        });
    }
    OnlineAnswer {
        metadata: Metadata { feature_names },
        results,
    }
}

/// Each distinct event time of an answer, formatted once: RFC 3339 UTC, with milliseconds when
/// it has them (`2026-12-01T10:00:00.250Z`), as protobuf's JSON writes a Timestamp. Entities
/// written apart have times of their own (a thousand in a large read), so they are kept by time.
struct EventTimes {
    texts: Vec<String>,
    /// Where each time's text is in `texts`.
    at: HashMap<u64, usize>,
    /// The last time looked up, and where its text is: neighbouring values mostly share one
    /// (the features of an entity's view; entities loaded in the same millisecond), and a hash
    /// lookup per value was a tenth of a 100-entity read.
    last: std::cell::Cell<Option<(u64, usize)>>,
}

impl EventTimes {
    fn of_rows(rows: &[Vec<OnlineValue>]) -> Self {
        // Formatting a date is the dear part; the rows of one load share a few seconds.
        let mut seconds: HashMap<u64, String> = HashMap::new();
        let mut times = EventTimes {
            texts: Vec::new(),
            at: HashMap::new(),
            last: std::cell::Cell::new(None),
        };
        for value in rows.iter().flatten() {
            let Some(ms) = Self::unix_ms(value) else {
                continue;
            };
            if times.find(ms).is_some() {
                continue;
            }
            let second = seconds
                .entry(ms / 1000)
                .or_insert_with(|| rfc3339_second(ms / 1000));
            times.at.insert(ms, times.texts.len());
            times.texts.push(with_millis(second, ms % 1000));
        }
        times
    }

    /// Where the text of `ms` is, if it is known.
    fn find(&self, ms: u64) -> Option<usize> {
        if let Some((last, at)) = self.last.get() {
            if last == ms {
                return Some(at);
            }
        }
        let at = *self.at.get(&ms)?;
        self.last.set(Some((ms, at)));
        Some(at)
    }

    /// The event time of a found value's view.
    fn unix_ms(value: &OnlineValue) -> Option<u64> {
        match value.status {
            FeatureStatus::NotFound => None,
            _ => value.event_unix_ms,
        }
    }

    /// The view's event time of `value`; the epoch for a value not found or without one.
    fn of(&self, value: &OnlineValue) -> &str {
        Self::unix_ms(value)
            .and_then(|ms| self.find(ms))
            .map_or(EPOCH, |at| self.texts[at].as_str())
    }
}

/// Unix milliseconds as RFC 3339 UTC; the fraction only when there is one.
#[cfg(test)]
fn rfc3339(ms: u64) -> String {
    with_millis(&rfc3339_second(ms / 1000), ms % 1000)
}

/// A Unix second as RFC 3339 UTC (`…T10:00:00Z`); the epoch if it is out of range.
fn rfc3339_second(second: u64) -> String {
    i64::try_from(second)
        .ok()
        .and_then(|second| time::OffsetDateTime::from_unix_timestamp(second).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| EPOCH.to_owned())
}

/// `second` (RFC 3339, ending in `Z`) with `millis` after it, when there are any.
fn with_millis(second: &str, millis: u64) -> String {
    match millis {
        0 => second.to_owned(),
        _ => format!("{}.{millis:03}Z", second.trim_end_matches('Z')),
    }
}

/// `df: {join_key: [ids], feature: [values], …}`: one row per id, every feature of the view,
/// each value of its registry type. Checked whole before anything is written.
fn push_rows(
    registry: &Registry,
    view: &View,
    df: Option<&Value>,
) -> Result<Vec<PushRow>, ApiError> {
    let Some(Value::Object(df)) = df else {
        return Err(ApiError::invalid("df", "an object of columns is required"));
    };
    let join_key = &registry.entity.join_key;
    let Some(Value::Array(id_values)) = df.get(join_key) else {
        return Err(ApiError::invalid(
            "df",
            format!("the join key column {join_key:?} is required"),
        ));
    };
    let ids = entity_ids(join_key, id_values)?;
    for (column, values) in df {
        let known = column == join_key
            || view.feature(column).is_some()
            || PUSH_TIME_COLUMNS.contains(&column.as_str());
        if !known {
            return Err(ApiError::invalid(
                "df",
                format!(
                    "column {:?} is no feature of view {:?}",
                    bounded(column, 60),
                    view.name
                ),
            ));
        }
        match values {
            Value::Array(values) if values.len() == ids.len() => {}
            Value::Array(values) => {
                return Err(ApiError::invalid(
                    "df",
                    format!(
                        "column {column:?} has {} values, {join_key:?} has {}",
                        values.len(),
                        ids.len()
                    ),
                ))
            }
            _ => {
                return Err(ApiError::invalid(
                    "df",
                    format!("column {column:?} must be a list"),
                ))
            }
        }
    }
    let mut rows: Vec<EntityRow> = ids
        .into_iter()
        .map(|id| EntityRow {
            id,
            fields: Vec::with_capacity(view.features.len() + 1),
        })
        .collect();
    for feature in &view.features {
        let Some(Value::Array(values)) = df.get(&feature.name) else {
            return Err(ApiError::invalid(
                "df",
                format!(
                    "column {:?} is missing: a push writes whole rows of view {:?}",
                    feature.name, view.name
                ),
            ));
        };
        for (row, value) in rows.iter_mut().zip(values) {
            let stored = schema::encode(feature.value_type, value).ok_or_else(|| {
                ApiError::invalid(
                    "df",
                    format!(
                        "column {:?}: {} is not a {}",
                        feature.name,
                        bounded(&value.to_string(), 40),
                        feature.value_type.rule()
                    ),
                )
            })?;
            row.fields.push((feature.name.clone(), stored));
        }
    }
    let event_times = match df.get(EVENT_TIME_COLUMN) {
        Some(Value::Array(times)) => times
            .iter()
            .map(|time| {
                match time {
                    Value::Null => Ok(None),
                    Value::String(text) => event_unix_ms(text).map(Some).ok_or(()),
                    _ => Err(()),
                }
                .map_err(|()| {
                    ApiError::invalid(
                        "df",
                        format!(
                            "column {EVENT_TIME_COLUMN:?}: {} is not a date and time such as \
                         \"2026-12-01T10:00:00.250Z\" or \"2026-12-01 10:00:00\" (UTC)",
                            bounded(&time.to_string(), 40)
                        ),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => vec![None; rows.len()],
    };
    Ok(rows
        .into_iter()
        .zip(event_times)
        .map(|(row, event_unix_ms)| PushRow { row, event_unix_ms })
        .collect())
}

/// An event time as a push gives it, in Unix milliseconds: RFC 3339, or the same without a
/// zone (`2026-12-01 10:00:00.25`, as Python's `str(datetime)` writes it), taken as UTC, or a
/// date alone. Nothing before 1970.
fn event_unix_ms(text: &str) -> Option<u64> {
    use time::format_description::well_known::Rfc3339;
    let text = text.trim();
    let mut iso = if text.len() == 10 {
        format!("{text}T00:00:00")
    } else {
        text.replacen(' ', "T", 1)
    };
    let zoned =
        iso.ends_with(['Z', 'z']) || iso.get(19..).is_some_and(|zone| zone.contains(['+', '-']));
    if !zoned {
        iso.push('Z');
    }
    let time = time::OffsetDateTime::parse(&iso, &Rfc3339).ok()?;
    u64::try_from(time.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_times_are_answered_to_the_millisecond() {
        assert_eq!(rfc3339(978_307_200_000), "2001-01-01T00:00:00Z");
        assert_eq!(rfc3339(978_307_200_250), "2001-01-01T00:00:00.250Z");
        assert_eq!(rfc3339(5), "1970-01-01T00:00:00.005Z");
    }

    #[test]
    fn event_times_are_read_as_feast_clients_write_them() {
        let ms = event_unix_ms;
        assert_eq!(ms("2001-01-01T00:00:00Z"), Some(978_307_200_000));
        assert_eq!(ms("2001-01-01 00:00:00"), Some(978_307_200_000));
        assert_eq!(ms("2001-01-01"), Some(978_307_200_000));
        assert_eq!(ms("2001-01-01T01:00:00.250+01:00"), Some(978_307_200_250));
        assert_eq!(ms("2001-01-01 00:00:00.123456"), Some(978_307_200_123));
        assert_eq!(ms("1969-12-31T23:59:59Z"), None);
        assert_eq!(ms("yesterday"), None);
        assert_eq!(ms(""), None);
    }
}

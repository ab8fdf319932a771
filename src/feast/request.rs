//! Feast's requests, parsed the way Feast's feature server reads them, into what the operations
//! take: the features asked for (resolved once in the registry), the entity rows, pushed rows.

use serde_json::{Map, Value};

use super::failure::FeastFailure;
use super::{EVENT_TIME_COLUMN, PUSH_TIME_COLUMNS};
use crate::api::error::ApiError;
use crate::api::input::{self, event_unix_ms, BATCH_COUNT};
use crate::domain::{bounded, EntityId};
use crate::http::unique_keys;
use crate::ops::PushRow;
use crate::registry::{EntityDef, Feature, Registry, View};
use crate::schema;
use crate::store::EntityRow;

/// The body as a JSON object naming each key once; anything else is 422, as Feast answers a
/// body it cannot take.
pub(super) fn object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match unique_keys::parse(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(ApiError::invalid("body", "must be a JSON object")),
        Err(e) => Err(ApiError::invalid("body", format!("is not JSON: {e}"))),
    }
}

/// The features a read asks for: a feature service by name (`"feature_service": "name"`, or
/// `"features": "name"`), or a list of `"view:feature"`.
pub(super) fn requested_features<'r>(
    registry: &'r Registry,
    request: &Map<String, Value>,
) -> Result<Vec<(&'r View, &'r Feature)>, FeastFailure> {
    let service = match (request.get("feature_service"), request.get("features")) {
        (Some(Value::String(name)), _) | (None | Some(Value::Null), Some(Value::String(name))) => {
            Some(name)
        }
        (None | Some(Value::Null), _) => None,
        (Some(_), _) => {
            return Err(ApiError::invalid("feature_service", "must be a service's name").into())
        }
    };
    if let Some(name) = service {
        return registry
            .service_features(name)
            .ok_or_else(|| FeastFailure::no_service(name));
    }
    let Some(Value::Array(refs)) = request.get("features") else {
        return Err(ApiError::invalid(
            "features",
            "a list of \"view:feature\", or a feature service's name, is required",
        )
        .into());
    };
    if refs.is_empty() {
        return Err(ApiError::invalid("features", "must name at least one feature").into());
    }
    refs.iter()
        .map(|reference| match reference.as_str() {
            Some(text) if text.contains(':') => feature_of(registry, text),
            _ => Err(ApiError::invalid(
                "features",
                // The reference as JSON: quoted and escaped already, whatever its type.
                format!(
                    "{} must be view:feature",
                    bounded(&reference.to_string(), 60)
                ),
            )
            .into()),
        })
        .collect()
}

/// The view and feature of a `view:feature` reference.
fn feature_of<'r>(
    registry: &'r Registry,
    reference: &str,
) -> Result<(&'r View, &'r Feature), FeastFailure> {
    if let Some(found) = registry.reference(reference) {
        return Ok(found);
    }
    let (view_name, feature) = reference.split_once(':').unwrap_or((reference, ""));
    let view = registry
        .view(view_name)
        .ok_or_else(|| FeastFailure::no_view(view_name))?;
    let feature = view
        .feature(feature)
        .ok_or_else(|| FeastFailure::no_feature(&view.name, feature))?;
    Ok((view, feature))
}

/// `feature_views: [name, …]` of a materialization: the names, or `None` (null or absent) for
/// every view with a source, as Feast materializes every view.
pub(super) fn materialized_views(
    request: &Map<String, Value>,
) -> Result<Option<Vec<String>>, FeastFailure> {
    if matches!(
        request.get("disable_event_timestamp"),
        Some(Value::Bool(true))
    ) {
        return Err(ApiError::invalid(
            "disable_event_timestamp",
            "must be false: every row's own event time decides which row is the latest",
        )
        .into());
    }
    // Feast refuses a version too unless its registry versions views; this one never does.
    if !matches!(request.get("version"), None | Some(Value::Null)) {
        return Err(ApiError::invalid(
            "version",
            "must be null: this registry's views have no versions",
        )
        .into());
    }
    match request.get("feature_views") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(names)) => Ok(Some(
            (names.iter())
                .map(|name| name.as_str().unwrap_or_default().to_owned())
                .collect(),
        )),
        Some(_) => Err(ApiError::invalid("feature_views", "must be a list of view names").into()),
    }
}

/// Refuses a read whose answer would name two columns alike, as Feast does: a feature asked
/// twice, or, without full names, features of one name from two entities' views.
pub(super) fn distinct_columns(
    features: &[(&View, &Feature)],
    full_names: bool,
) -> Result<(), FeastFailure> {
    let mut columns: Vec<(&str, &str)> = features
        .iter()
        .map(|(view, feature)| {
            let view = if full_names { view.name.as_str() } else { "" };
            (view, feature.name.as_str())
        })
        .collect();
    columns.sort_unstable();
    let mut twice: Vec<(&str, &str)> = columns
        .windows(2)
        .filter(|pair| pair[0] == pair[1])
        .map(|pair| pair[1])
        .collect();
    if twice.is_empty() {
        return Ok(());
    }
    twice.dedup();
    let names: Vec<String> = twice
        .iter()
        .map(|&(view, feature)| match full_names {
            true => format!("{view}__{feature}"),
            false => feature.to_owned(),
        })
        .collect();
    Err(FeastFailure::name_collision(&names, full_names))
}

/// One entity's column of a read: which entity (its position in the registry), whether a
/// requested feature is stored by it (else the column is only echoed), its ids as sent (echoed
/// in the answer) and as entity ids.
#[derive(Debug)]
pub(super) struct EntityColumn<'r> {
    pub entity: usize,
    pub needed: bool,
    pub join_key: &'r str,
    pub sent: &'r [Value],
    pub ids: Vec<EntityId>,
}

/// `entities: {join_key: [id, …], …}`: a list per key, every list as long, one row per
/// position. Each entity the features need must have its list (a missing one is named); a list
/// under a join key of another entity is echoed back, as Feast does, and read for nothing; a
/// list under any other key is skipped, as Feast 0.67 skips it (a client may send request data
/// beside its ids). An entity's name stands for its join key, as in Feast (which deprecates
/// it); the join key wins when both are sent. Columns come in the registry's order of entities,
/// each named by its join key.
pub(super) fn entities<'r>(
    registry: &'r Registry,
    request: &'r Map<String, Value>,
    features: &[(&View, &Feature)],
) -> Result<Vec<EntityColumn<'r>>, ApiError> {
    let mut needed: Vec<usize> = features
        .iter()
        .map(|(view, _)| registry.entity_of(view).0)
        .collect();
    needed.sort_unstable();
    needed.dedup();
    let join_keys = |at: &[usize]| -> String {
        at.iter()
            .map(|&e| format!("\"{}\": [ids]", registry.entities[e].join_key))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(Value::Object(sent)) = request.get("entities") else {
        return Err(ApiError::invalid(
            "entities",
            format!("an object {{{}}} is required", join_keys(&needed)),
        ));
    };
    // An entity's ids under its join key, else under its name (deprecated in Feast, still
    // read) unless that name is some entity's join key, as Feast tells them apart.
    let is_join_key = |key: &str| registry.entities.iter().any(|e| e.join_key == key);
    let list_of = |entity: &EntityDef| -> Option<&'r Value> {
        sent.get(&entity.join_key).or_else(|| {
            (!is_join_key(&entity.name))
                .then(|| sent.get(&entity.name))
                .flatten()
        })
    };
    let foreign = sent.keys().find(|column| {
        !(registry.entities.iter()).any(|e| e.join_key == **column || e.name == **column)
    });
    if let Some(&missing) = needed
        .iter()
        .find(|&&e| list_of(&registry.entities[e]).is_none())
    {
        let entity = &registry.entities[missing];
        // A misspelt join key is skipped like any foreign column; naming it shows the slip.
        let sent_instead = foreign.map_or(String::new(), |column| {
            format!(
                " ({:?}, sent, is no entity's join key)",
                bounded(column, 60)
            )
        });
        return Err(ApiError::invalid(
            &entity.join_key,
            format!(
                "the join key {:?} is required: features of entity {:?} are asked for{sent_instead}",
                entity.join_key, entity.name
            ),
        ));
    }
    // Every list counts for the rows, a skipped one too, as in Feast.
    let mut rows: Option<(&str, usize)> = None;
    for (column, values) in sent {
        let Value::Array(values) = values else {
            return Err(ApiError::invalid(column, "must be a list, one value a row"));
        };
        match rows {
            None => rows = Some((column, values.len())),
            Some((first, count)) if count != values.len() => {
                return Err(ApiError::invalid(
                    "entities",
                    format!(
                        "{:?} has {} values and {:?} has {count}: each row takes one of each",
                        bounded(column, 60),
                        values.len(),
                        bounded(first, 60),
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    let mut columns: Vec<EntityColumn> = Vec::with_capacity(sent.len());
    for (at, entity) in registry.entities.iter().enumerate() {
        let join_key = entity.join_key.as_str();
        let Some(Value::Array(values)) = list_of(entity) else {
            continue;
        };
        let ids = entity_ids(join_key, values)?;
        columns.push(EntityColumn {
            entity: at,
            needed: needed.binary_search(&at).is_ok(),
            join_key,
            sent: values,
            ids,
        });
    }
    Ok(columns)
}

/// Ids as a Feast client sends them: strings, or whole numbers for integer keys; none at all
/// too (an empty batch of a stream, say), which Feast answers with no rows.
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
    input::entity_ids(column, texts, (0, BATCH_COUNT.1))
}

/// How many of the columns a write ignores it names in its answer.
const IGNORED_NAMED: usize = 16;

/// A write's rows, and the columns it ignores.
pub(super) struct WriteRows {
    pub rows: Vec<PushRow>,
    /// Columns that are no feature of the view (the first `IGNORED_NAMED`, each cut to 60
    /// characters): Feast writes a view's features and ignores the rest of a frame, and so
    /// does this server, saying which.
    pub ignored: Vec<String>,
}

/// `df: {join_key: [ids], feature: [values], …}`: one row per id, every feature of the view,
/// each value of its registry type; any other column is ignored, as long as the rest. Checked
/// whole before anything is written.
pub(super) fn push_rows(
    registry: &Registry,
    view: &View,
    df: Option<&Value>,
) -> Result<WriteRows, ApiError> {
    let Some(Value::Object(df)) = df else {
        return Err(ApiError::invalid("df", "an object of columns is required"));
    };
    let join_key = &registry.entity_of(view).1.join_key;
    let Some(Value::Array(id_values)) = df.get(join_key) else {
        return Err(ApiError::invalid(
            "df",
            format!("the join key column {join_key:?} is required"),
        ));
    };
    let ids = entity_ids(join_key, id_values)?;
    let mut ignored = Vec::new();
    for (column, values) in df {
        let known = column == join_key
            || view.feature(column).is_some()
            || PUSH_TIME_COLUMNS.contains(&column.as_str());
        if !known && ignored.len() < IGNORED_NAMED {
            ignored.push(bounded(column, 60));
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
            cleared: Vec::new(),
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
            // A null is no value: a batch row clears the field when it is written, so a read
            // finds it absent (NOT_FOUND); a streaming write leaves it to expire.
            if value.is_null() {
                row.cleared.push(feature.name.clone());
                continue;
            }
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
    let rows = rows
        .into_iter()
        .zip(event_times)
        .map(|(row, event_unix_ms)| PushRow { row, event_unix_ms })
        .collect();
    Ok(WriteRows { rows, ignored })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(body: Value) -> Map<String, Value> {
        object(body.to_string().as_bytes()).unwrap()
    }

    /// What a refusal says, in Feast's shape: the class, or the field and rule FastAPI names.
    fn refusal(failure: FeastFailure) -> String {
        match failure {
            FeastFailure::Error { class, message, .. } => format!("{class}: {message}"),
            FeastFailure::Invalid { field, rule, .. } => format!("{field}: {rule}"),
            FeastFailure::Busy { message, .. } => message,
        }
    }

    #[test]
    fn features_resolve_once_into_their_views_in_the_order_asked() {
        let registry = crate::registry_file::demo();
        let asked = request(
            json!({"features": ["user_stream:failed_logins_15m", "user_batch:risk_segment"]}),
        );
        let resolved = requested_features(&registry, &asked).unwrap();
        let names: Vec<_> = resolved
            .iter()
            .map(|(view, feature)| format!("{}:{}", view.name, feature.name))
            .collect();
        assert_eq!(
            names,
            ["user_stream:failed_logins_15m", "user_batch:risk_segment"]
        );
    }

    #[test]
    fn feature_references_that_feast_would_refuse_are_refused_as_feast_does() {
        let registry = crate::registry_file::demo();
        let refused =
            |body: Value| refusal(requested_features(&registry, &request(body)).unwrap_err());
        assert!(refused(json!({})).starts_with("features: a list"));
        assert!(refused(json!({"features": []})).contains("at least one"));
        assert_eq!(
            refused(json!({"features": ["risk_segment"]})),
            "features: \"risk_segment\" must be view:feature"
        );
        assert_eq!(
            refused(json!({"features": [7]})),
            "features: 7 must be view:feature"
        );
        assert!(
            refused(json!({"features": ["nope:x"]})).starts_with("FeatureViewNotFoundException")
        );
        assert!(refused(json!({"features": ["user_batch:nope"]}))
            .starts_with("FeastObjectNotFoundException"));
        assert!(refused(json!({"feature_service": "fraud"}))
            .starts_with("FeatureServiceNotFoundException"));
    }

    #[test]
    fn entity_rows_take_a_list_per_join_key_the_features_need() {
        let registry = crate::registry_file::demo();
        let features = |refs: &[&str]| -> Vec<(&View, &Feature)> {
            refs.iter()
                .map(|r| registry.reference(r).unwrap())
                .collect()
        };
        let user_only = features(&["user_batch:risk_segment"]);
        let both = features(&["user_batch:risk_segment", "merchant_batch:category"]);
        let sent = request(json!({"entities": {"user_id": ["u0001", 7]}}));
        let columns = entities(&registry, &sent, &user_only).unwrap();
        assert_eq!(columns.len(), 1);
        assert_eq!(columns[0].sent, [json!("u0001"), json!(7)]);
        assert_eq!(
            columns[0]
                .ids
                .iter()
                .map(EntityId::as_str)
                .collect::<Vec<_>>(),
            ["u0001", "7"]
        );
        // Both entities' columns, in the registry's order whatever the body's; another
        // entity's column beside what the features need is echoed.
        let sent = request(json!({"entities": {"merchant_id": ["m0001"], "user_id": ["u0001"]}}));
        for needed in [&both, &user_only] {
            let columns = entities(&registry, &sent, needed).unwrap();
            let keys: Vec<&str> = columns.iter().map(|c| c.join_key).collect();
            assert_eq!(keys, ["user_id", "merchant_id"]);
        }
        // A list under a key that is no join key is skipped, as Feast 0.67 skips it.
        let sent = request(json!({"entities": {"user_id": ["u1"], "request_hour": [9]}}));
        let columns = entities(&registry, &sent, &user_only).unwrap();
        let keys: Vec<&str> = columns.iter().map(|c| c.join_key).collect();
        assert_eq!(keys, ["user_id"]);
        // An entity's name stands for its join key (deprecated in Feast); the join key wins.
        for sent in [
            json!({"entities": {"user": ["u1"]}}),
            json!({"entities": {"user": ["u2"], "user_id": ["u1"]}}),
        ] {
            let sent = request(sent);
            let columns = entities(&registry, &sent, &user_only).unwrap();
            assert_eq!(columns.len(), 1);
            assert_eq!(
                (columns[0].join_key, columns[0].sent),
                ("user_id", &[json!("u1")][..])
            );
        }
        let refused = entities(
            &registry,
            &request(json!({"entities": {"user_idd": ["u1"]}})),
            &user_only,
        )
        .unwrap_err();
        assert_eq!(
            refused.to_string(),
            "invalid user_id: the join key \"user_id\" is required: features of entity \"user\" \
             are asked for (\"user_idd\", sent, is no entity's join key)"
        );
        for (body, field) in [
            (json!({}), "entities"),
            (json!({"entities": {"merchant_id": ["m1"]}}), "user_id"),
            (
                json!({"entities": {"user_id": ["u1"], "card_id": ["c1"]}}),
                "merchant_id",
            ),
            (
                json!({"entities": {"user_id": "u1", "merchant_id": ["m1"]}}),
                "user_id",
            ),
            (
                json!({"entities": {"user_id": ["u1"], "merchant_id": ["m1", "m2"]}}),
                "entities",
            ),
            (
                json!({"entities": {"user_id": ["u1"], "merchant_id": ["m1"], "hour": [1, 2]}}),
                "entities",
            ),
            (
                json!({"entities": {"user_id": ["u1"], "merchant_id": ["m1"], "hour": 1}}),
                "hour",
            ),
        ] {
            let refused = entities(&registry, &request(body.clone()), &both).unwrap_err();
            assert!(
                matches!(refused, ApiError::InvalidInput { field: ref f, .. } if f == field),
                "{body}: {refused}"
            );
        }
    }

    #[test]
    fn columns_named_alike_are_refused_as_feast_refuses_them() {
        let registry = crate::registry_file::parse(
            "[[entities]]\nname = \"user\"\njoin_key = \"user_id\"\nkey_prefix = \"u:\"\n\
             [[entities]]\nname = \"card\"\njoin_key = \"card_id\"\nkey_prefix = \"c:\"\n\
             [[views]]\nname = \"user_batch\"\nentity = \"user\"\nkind = \"batch\"\n\
             ttl_seconds = 60\nfeatures = [{ name = \"country\", type = \"string\" }]\n\
             [[views]]\nname = \"card_batch\"\nentity = \"card\"\nkind = \"batch\"\n\
             ttl_seconds = 60\nfeatures = [{ name = \"country\", type = \"string\" }]\n",
            "test",
        )
        .unwrap();
        let features = |refs: &[&str]| -> Vec<(&View, &Feature)> {
            refs.iter()
                .map(|r| registry.reference(r).unwrap())
                .collect()
        };
        let both = features(&["user_batch:country", "card_batch:country"]);
        let collision = |features: &[(&View, &Feature)], full| {
            refusal(distinct_columns(features, full).unwrap_err())
        };
        assert!(collision(&both, false)
            .starts_with("FeatureNameCollisionError: Duplicate features named country found."));
        assert!(distinct_columns(&both, true).is_ok());
        let twice = features(&["user_batch:country", "user_batch:country"]);
        assert!(collision(&twice, true).contains("named user_batch__country found"));
        assert!(distinct_columns(&features(&["user_batch:country"]), false).is_ok());
    }
}

//! Errors of the Feast routes in the shape Feast's feature server answers them, so the Feast
//! SDK raises what it raises against `feast serve`: a `FeastError` as a JSON string of
//! `{"module", "class", "message"}` (its `rest_exception_handler`), from which the SDK's
//! `FeastError.from_error_detail` rebuilds that exception class; a request its validation
//! refuses as FastAPI's `{"detail": [{"loc", "msg", "type"}]}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::api::error::ApiError;
use crate::http::error::api_error;
use crate::http::request_id::RequestId;
use crate::ops::ServiceError;

#[derive(Debug)]
pub enum FeastFailure {
    /// One of `feast.errors`' classes, with its HTTP status.
    Error {
        status: u16,
        class: &'static str,
        message: String,
        /// Seconds, for a `Retry-After` header (a shed request).
        retry_after: Option<u32>,
    },
    /// A request FastAPI's validation would refuse (422): a field of `part`, `body` or
    /// `query`.
    Invalid {
        part: &'static str,
        field: String,
        rule: String,
    },
    /// A background materialization of views already materializing: 409 in the shape Feast's
    /// `/materialize` answers it, which the SDK reads (`error`).
    Busy { message: String, views: Vec<String> },
}

impl FeastFailure {
    /// A feature view the registry does not define.
    pub fn no_view(name: &str) -> Self {
        Self::not_found(
            "FeatureViewNotFoundException",
            format!("Feature view {} does not exist", bounded(name)),
        )
    }

    /// A feature service the registry does not define.
    pub fn no_service(name: &str) -> Self {
        Self::not_found(
            "FeatureServiceNotFoundException",
            format!("Feature service {} does not exist", bounded(name)),
        )
    }

    /// A feature its view does not have.
    pub fn no_feature(view: &str, feature: &str) -> Self {
        Self::not_found(
            "FeastObjectNotFoundException",
            format!("Feature view {view} has no feature {}", bounded(feature)),
        )
    }

    /// A push source the registry does not define: 422, as Feast answers it.
    pub fn no_push_source(name: &str) -> Self {
        FeastFailure::Error {
            status: 422,
            class: "PushSourceNotFoundException",
            message: format!("Unable to find push source '{}'.", bounded(name)),
            retry_after: None,
        }
    }

    /// A read whose answer would name two columns alike, refused as Feast refuses it; 422
    /// here (Feast answers 500), for it is the caller's to mend.
    pub fn name_collision(names: &[String], full_names: bool) -> Self {
        let mend = if full_names {
            "To resolve this collision, please ensure that the feature views or their own \
             features have different names."
        } else {
            "To resolve this collision, either use the full feature name by setting \
             'full_feature_names=True', or ensure that the features in question have \
             different names."
        };
        let names: Vec<String> = names.iter().take(5).map(|name| bounded(name)).collect();
        FeastFailure::Error {
            status: 422,
            class: "FeatureNameCollisionError",
            message: format!(
                "Duplicate features named {} found.\n{mend}",
                names.join(", ")
            ),
            retry_after: None,
        }
    }

    fn not_found(class: &'static str, message: String) -> Self {
        FeastFailure::Error {
            status: 404,
            class,
            message,
            retry_after: None,
        }
    }
}

fn bounded(name: &str) -> String {
    crate::domain::bounded(name, 60)
}

impl From<ApiError> for FeastFailure {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::InvalidInput { field, rule } => FeastFailure::Invalid {
                part: "body",
                field,
                rule,
            },
            ApiError::BadRequest { message } => FeastFailure::Invalid {
                part: "body",
                field: "body".into(),
                rule: message,
            },
            other => FeastFailure::Error {
                status: other.status(),
                class: "FeastError",
                message: other.to_string(),
                retry_after: other.retry_after_seconds(),
            },
        }
    }
}

impl FeastFailure {
    /// A failed operation of request `id`: an internal failure quotes it, as the API does.
    pub fn of(e: ServiceError, id: &RequestId) -> Self {
        match e {
            // Feast's own text, which names its `?force=true`.
            ServiceError::AlreadyMaterializing(views) => FeastFailure::Busy {
                message: format!(
                    "Cannot start async materialization — the following feature views are \
                     already materializing: {views:?}. Use ?force=true to override."
                ),
                views,
            },
            ServiceError::UnknownView(ref name) => FeastFailure::no_view(name),
            e => api_error(e, Some(&id.0)).into(),
        }
    }
}

impl IntoResponse for FeastFailure {
    fn into_response(self) -> Response {
        match self {
            FeastFailure::Error {
                status,
                class,
                message,
                retry_after,
            } => {
                let detail = json!({"module": "feast.errors", "class": class, "message": message});
                let status =
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let mut response = (status, Json(detail.to_string())).into_response();
                crate::http::guard::retry_after(&mut response, retry_after);
                response
            }
            FeastFailure::Invalid { part, field, rule } => {
                let detail = json!({"detail": [{
                    "type": "value_error",
                    "loc": [part, field],
                    "msg": rule,
                }]});
                (StatusCode::UNPROCESSABLE_ENTITY, Json(detail)).into_response()
            }
            FeastFailure::Busy { message, views } => (
                StatusCode::CONFLICT,
                Json(json!({"error": message, "feature_views": views})),
            )
                .into_response(),
        }
    }
}

//! The one mapping from the core's errors to the API's: what a caller may see, and what only
//! the log does.

use crate::api::error::ApiError;
use crate::materialize::MaterializeError;
use crate::ops::ServiceError;
use crate::store::StoreError;

/// The API's answer for `e`; an internal failure quotes `request`, the id of the request the
/// log line about it carries.
pub fn api_error(e: ServiceError, request: Option<&str>) -> ApiError {
    match e {
        ServiceError::Store(StoreError::NotAHash { .. }) => ApiError::Conflict {
            message: e.to_string(),
        },
        ServiceError::AlreadyMaterializing(_)
        | ServiceError::Materialize(MaterializeError::UnreadableWatermark { .. }) => {
            ApiError::Conflict {
                message: e.to_string(),
            }
        }
        ServiceError::IndexUnavailable => ApiError::redis_unavailable(),
        ServiceError::Overloaded(_) | ServiceError::MaterializeQueueFull(_) => {
            ApiError::Overloaded {
                message: e.to_string(),
            }
        }
        ServiceError::Materialize(
            ref cause @ (MaterializeError::NoSource(_)
            | MaterializeError::NoSourcedView
            | MaterializeError::EmptyWindow),
        ) => ApiError::invalid("feature_views", cause.to_string()),
        ServiceError::UnknownView(_) => ApiError::NotFound {
            message: e.to_string(),
        },
        ServiceError::MissingEntity(ref join_key) => ApiError::invalid(join_key, e.to_string()),
        ServiceError::UnknownEntity { .. } => ApiError::invalid("entity", e.to_string()),
        ServiceError::Deadline(_) => {
            tracing::warn!("{e}");
            ApiError::Timeout {
                message: format!("{e}: the read deadline; nothing was changed"),
            }
        }
        ServiceError::Store(e) if e.is_unavailable() => {
            tracing::warn!("Redis unavailable: {}", crate::chain(&e));
            ApiError::redis_unavailable()
        }
        e => {
            tracing::error!("request failed: {}", crate::chain(&e));
            ApiError::internal(request)
        }
    }
}

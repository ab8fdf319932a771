//! Probes for orchestrators, as plain axum routes beside the Leptos app: liveness (the process
//! answers) and readiness (Redis answers within the read deadline).

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::error::api_error;
use super::guard::error_response;
use crate::api::error::ApiError;
use crate::ops::Service;

pub fn routes(service: Arc<Service>) -> Router {
    Router::new()
        .route("/livez", get(live))
        .route("/readyz", get(ready))
        .with_state(service)
}

/// 200 while the process serves requests; it never asks Redis.
async fn live() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "ok": true }))
}

/// 200 with the health facts while Redis answers within the read deadline; otherwise 503,
/// whether Redis refuses connections or is frozen (the message says which): a probe needs one
/// answer for "not ready".
pub(crate) async fn ready(State(service): State<Arc<Service>>) -> Response {
    match service.ready().await {
        Ok(health) => Json(health).into_response(),
        Err(e) => error_response(&match api_error(e, None) {
            ApiError::Timeout { message } => ApiError::Unavailable { message },
            other => other,
        }),
    }
}

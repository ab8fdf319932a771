//! The one middleware every request passes: its id, the Host allow-list and the guard on the
//! way in; its metrics and cache policy on the way out. One layer rather than one per concern:
//! each axum `from_fn` layer boxes the service beneath it and the request's future on every
//! request, and five of them cost about a fifth of an `/api/read`'s server CPU.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use super::hosts::AllowedHosts;
use super::{guard, request_id};
use crate::api::error::ApiError;
use crate::metrics::Metrics;
use crate::router::{set_cache_control, HashedAssets};

/// What the edge needs to know: the names served, where requests are counted, the build's
/// hashed files.
pub(crate) struct Edge {
    pub(crate) hosts: AllowedHosts,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) assets: HashedAssets,
}

/// The axum middleware.
pub(crate) async fn edge(
    State(edge): State<Arc<Edge>>,
    mut request: Request,
    next: Next,
) -> Response {
    // Before anything may refuse the request, so even a refusal has an id.
    let (id, span) = request_id::assign(&mut request);
    let mut response = async {
        let timing = edge.metrics.start(&request);
        let hashed = edge.assets.contains(request.uri().path());
        let mut response = match admit(&edge.hosts, request).await {
            Ok(request) => next.run(request).await,
            Err(refusal) => guard::error_response(&refusal),
        };
        edge.metrics.finish(timing, response.status());
        set_cache_control(&mut response, hashed);
        response
    }
    .instrument(span)
    .await;
    response.headers_mut().insert(request_id::HEADER, id);
    response
}

/// The request, if its Host is served and the guard lets it through.
async fn admit(hosts: &AllowedHosts, request: Request) -> Result<Request, ApiError> {
    hosts.admit(&request)?;
    guard::check(request).await
}

//! The one router: the Leptos app and its server functions, Feast's routes, probes and metrics,
//! behind the edge every request passes (request id, the Host allow-list, the API guard,
//! metrics, asset caching: `http::edge`) and compression.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;

use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};

use crate::backend::ServiceBackend;
use crate::http::hosts::AllowedHosts;
use crate::lease::Role;
use crate::metrics::Metrics;
use crate::ops::Service;
use feature_store_web::backend::Backend;
use feature_store_web::ui::{shell, App};

/// The router's state. leptos_axum clones it into the context of every server-function call, so
/// it is an `Arc`: cloning a whole `LeptosOptions` there and dropping it was 6 % of the CPU of
/// an `/api/read` under load. Handlers that want the options themselves get a copy.
#[derive(Clone)]
struct AppState(Arc<LeptosOptions>);

impl axum::extract::FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.0.as_ref().clone()
    }
}

pub(crate) fn router(
    leptos_options: LeptosOptions,
    service: Arc<Service>,
    allowed_hosts: AllowedHosts,
    assets: HashedAssets,
    role: Role,
) -> Router {
    let routes = generate_route_list(App);
    let state = AppState(Arc::new(leptos_options.clone()));
    let probes = crate::http::probes::routes(Arc::clone(&service));
    let feast = crate::feast::routes(Arc::clone(&service));
    let metrics = Arc::new(Metrics::new(Arc::clone(&service)));
    let backend: Arc<dyn Backend> = Arc::new(ServiceBackend(Arc::clone(&service)));
    // The build's files, served by a ServeDir of our own: Leptos's file fallback passes on only
    // Accept-Encoding, so a revalidation (If-Modified-Since) would never get its 304.
    let pkg = tower_http::services::ServeDir::new(format!(
        "{}/{}",
        leptos_options.site_root, leptos_options.site_pkg_dir
    ));
    let app = if role.serves() {
        Router::new()
            .nest_service(&format!("/{}", leptos_options.site_pkg_dir), pkg)
            .leptos_routes_with_context(
                &state,
                routes,
                {
                    let backend = Arc::clone(&backend);
                    move || provide_context(Arc::clone(&backend))
                },
                {
                    let leptos_options = leptos_options.clone();
                    move || shell(leptos_options.clone())
                },
            )
            .fallback(fallback(backend))
            .with_state(state)
            .merge(feast)
    } else {
        Router::new().fallback(only_probes)
    };
    let edge = crate::http::edge::Edge {
        hosts: allowed_hosts,
        metrics: Arc::clone(&metrics),
        assets,
    };
    app.merge(probes)
        .merge(crate::metrics::routes(metrics))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(edge),
            crate::http::edge::edge,
        ))
        // Only when the client asks for it (curl and wrk do not): the page's WASM shrinks to a
        // third.
        .layer(tower_http::compression::CompressionLayer::new())
}

/// Every path but the probes and `/metrics` of a `--role worker` server.
async fn only_probes() -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        axum::http::StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({
            "error": "this server runs with --role worker: it serves only /livez, /readyz and /metrics",
        })),
    )
        .into_response()
}

/// What no route matched: a JSON 404 for an API call; for a page or a file, a file from the
/// site root or the app's own 404 page, rendered with the service like every other page.
fn fallback(
    backend: Arc<dyn Backend>,
) -> impl Fn(
    axum::http::Uri,
    axum::extract::State<AppState>,
    axum::extract::Request,
) -> std::pin::Pin<Box<dyn Future<Output = axum::response::Response> + Send>>
       + Clone
       + Send
       + 'static {
    let files = leptos_axum::file_and_error_handler_with_context::<AppState, _>(
        move || provide_context(Arc::clone(&backend)),
        shell,
    );
    move |uri, state, request| match crate::http::guard::api_not_found(request.method(), uri.path())
    {
        Some(answer) => Box::pin(std::future::ready(answer)),
        None => files(uri, state, request),
    }
}

/// The paths of the build's JS, WASM and CSS when cargo-leptos named them after their contents
/// (LEPTOS_HASH_FILES): a new build gets new names, so a browser may keep these for good.
pub(crate) struct HashedAssets(HashSet<String>);

impl HashedAssets {
    /// Whether the build names its files after their contents.
    pub(crate) fn hashed(&self) -> bool {
        !self.0.is_empty()
    }

    /// Reads cargo-leptos's `hash.txt` (`js: <hash>` lines) where Leptos reads it, beside the
    /// binary; empty unless it names a file of each kind and every file it names is in the site.
    /// Otherwise the page names the plain files (`feature-store.js`).
    pub(crate) fn find(options: &LeptosOptions) -> Self {
        let hashes = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(|dir| dir.join(options.hash_file.as_ref())))
            .and_then(|path| std::fs::read_to_string(path).ok())
            .unwrap_or_default();
        let paths: HashSet<String> = hashes
            .lines()
            .filter_map(|line| line.split_once(':'))
            .map(|(extension, hash)| {
                format!(
                    "/{}/{}.{}.{}",
                    options.site_pkg_dir,
                    options.output_name,
                    hash.trim(),
                    extension.trim()
                )
            })
            .collect();
        let complete = ["js", "wasm", "css"].iter().all(|extension| {
            paths
                .iter()
                .any(|path| path.ends_with(&format!(".{extension}")))
        });
        let present = paths
            .iter()
            .all(|path| std::path::Path::new(&format!("{}{path}", options.site_root)).is_file());
        if complete && present {
            Self(paths)
        } else {
            if !paths.is_empty() {
                tracing::warn!(
                    "hash.txt names files the site does not have; serving the unhashed names"
                );
            }
            Self(HashSet::new())
        }
    }
}

impl HashedAssets {
    /// Whether `path` is one of the build's hashed files.
    pub(crate) fn contains(&self, path: &str) -> bool {
        self.0.contains(path)
    }
}

/// Hashed assets are cached for a year. Any other file the server serves (under `/pkg/` in a
/// build without hashed names, or from `public/`, such as the favicon: a file carries a
/// `last-modified`, which browsers would otherwise cache by heuristics) is revalidated each
/// time (a 304 when unchanged), so a new build is never served stale.
pub(crate) fn set_cache_control(response: &mut axum::response::Response, hashed: bool) {
    let policy = if hashed {
        "public, max-age=31536000, immutable"
    } else if response
        .headers()
        .contains_key(axum::http::header::LAST_MODIFIED)
    {
        "no-cache"
    } else {
        return;
    };
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static(policy),
    );
}

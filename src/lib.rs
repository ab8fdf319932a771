//! feature-store's server: the process that owns the store (built from the core), serves the
//! web app (from the web crate) and the HTTP edges around it: the API's guards, Feast's routes,
//! probes, metrics and its own connection handling.

// The layers below, under the names this crate's modules use for them.
use feature_store_core::{chain, lease, materialize, ops, registry_file, store, worker};
use feature_store_types::{domain, limits, model, registry, schema};
use feature_store_web::api;

mod backend;
pub mod build_features;
pub mod cli;
pub mod connections;
pub mod feast;
pub mod http;
pub mod metrics;
mod router;
pub mod server;

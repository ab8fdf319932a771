//! The feature store on Redis: the store (one hash per entity, both TTL layers, our own cluster
//! routing), the background entity index, the streaming worker, the synthesizer, the registry
//! file, and the service every transport calls. No web framework here.

// The shared types, under the names this crate's modules use for them.
use feature_store_types::{domain, limits, model, registry, schema};

pub mod index;
pub mod lease;
pub mod materialize;
pub mod ops;
pub mod registry_file;
pub mod store;
pub mod synth;
pub mod worker;

/// An error and every cause under it, on one line: `a: b: c`.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut line = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}

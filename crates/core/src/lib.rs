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

/// An error and every cause under it, on one line: `a: b: c`. A cause that says only what the
/// one above it said is left out (redis-rs's "broken pipe" over the I/O error's "broken pipe").
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut said = e.to_string();
    let mut line = said.clone();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if text != said {
            line.push_str(": ");
            line.push_str(&text);
        }
        said = text;
        source = cause.source();
    }
    line
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_chain_names_each_cause_once() {
        let io = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        let redis = redis::RedisError::from(io);
        let store = crate::store::StoreError::from(redis);
        assert_eq!(super::chain(&store), "Redis error: broken pipe");
    }
}

//! The one integration-test binary: one link of the crate instead of one per file. Every test
//! runs against a real Redis that `make test` starts (see `support`).

mod cli;
mod cluster;
mod failover;
mod feast;
mod index;
mod integrity;
mod materialize;
mod metrics;
mod replicas;
mod security;
mod server;
mod store;
mod support;
mod worker;

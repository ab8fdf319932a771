//! feature-store: an online feature store for ML inference on Redis, with a Leptos web UI.
//!
//! Shared by server and browser: the schema, the wire types, the API's server functions, the UI.
//! Server only (`ssr`): the service, the store, the index, the worker, the synthesizer and the
//! server itself.

// The panels' view types nest deeply; the browser build's layout computation needs the room.
#![recursion_limit = "256"]

pub mod api;
pub mod domain;
pub mod format;
pub mod limits;
pub mod model;
pub mod registry;
pub mod schema;
pub mod ui;

#[cfg(feature = "ssr")]
pub mod cli;
#[cfg(feature = "ssr")]
pub mod connections;
#[cfg(feature = "ssr")]
pub mod index;
#[cfg(feature = "ssr")]
pub mod materialize;
#[cfg(feature = "ssr")]
pub mod metrics;
#[cfg(feature = "ssr")]
pub mod server;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod store;
#[cfg(feature = "ssr")]
pub mod synth;
#[cfg(feature = "ssr")]
pub mod worker;

/// The browser entry point: hydrates the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(ui::App);
}

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

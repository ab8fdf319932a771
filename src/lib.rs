//! feature-store: an online feature store for ML inference on Redis, with a Leptos web UI.
//!
//! Shared by server and browser: the schema, the API types and server functions, the UI.
//! Server only (`ssr`): the store, the worker, the synthesizer and the server itself.

pub mod api;
pub mod app;
pub mod codec;
pub mod domain;
pub mod errors;
pub mod input;
pub mod model;
pub mod schema;

#[cfg(feature = "ssr")]
pub mod cli;
#[cfg(feature = "ssr")]
pub mod guard;
#[cfg(feature = "ssr")]
pub mod index;
#[cfg(feature = "ssr")]
pub mod materialize;
#[cfg(feature = "ssr")]
pub mod server;
#[cfg(feature = "ssr")]
pub mod state;
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
    leptos::mount::hydrate_body(app::App);
}

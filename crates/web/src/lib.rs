//! The web UI, server-rendered then hydrated, and the server functions it calls: each is also a
//! JSON endpoint under `/api/`. On the server their bodies call a `Backend` that the server
//! provides, so this crate never sees Redis.

// The panels' view types nest deeply; the browser build's layout computation needs the room.
#![recursion_limit = "256"]

// The shared types, under the names this crate's modules use for them.
use feature_store_types::{domain, limits, model, registry, schema};

pub mod api;
#[cfg(feature = "ssr")]
pub mod backend;
pub mod format;
pub mod ui;

/// The browser entry point: hydrates the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(ui::App);
}

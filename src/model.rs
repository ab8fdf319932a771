//! Plain data that crosses the wire between the server and the browser. It lives outside the
//! `ssr` code so the hydrated client decodes exactly what the server encodes.

use serde::{Deserialize, Serialize};

/// Counters of what the store has done since start or since the last reset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreStats {
    pub batch_writes_total: u64,
    pub streaming_writes_total: u64,
    pub reads_total: u64,
    pub read_fields_total: u64,
}

/// What the streaming worker is doing, as the UI and `/api/state` show it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerStats {
    pub running: bool,
    pub paused: bool,
    pub tick_count: u64,
    pub writes_count: u64,
    /// Writes skipped because the entity was gone (expired or deleted) or not an entity hash.
    pub skipped_count: u64,
    pub error_count: u64,
    pub last_error: Option<String>,
}

/// `GET /api/health`: proof that the whole chain (SSR, hydration, server function, Redis) works.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub ok: bool,
    pub redis_version: String,
    pub key_prefix: String,
}

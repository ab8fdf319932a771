//! Errors of the store layer: everything that can go wrong between us and Redis.

use super::RedisVersion;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Startup could not reach Redis at all; the message names the URL and the cause.
    #[error("cannot connect to Redis at {url}: {cause}")]
    Connect { url: String, cause: String },

    /// Per-field TTLs need HEXPIRE, which arrived in Redis 7.4.
    #[error(
        "Redis {found} at {url} is too old: per-field TTLs need Redis >= 7.4 (HEXPIRE). \
         Use `make run`, which starts a bundled Redis 8.2, or point REDIS_URL at Redis >= 7.4"
    )]
    UnsupportedVersion { url: String, found: RedisVersion },

    /// A streaming write whose TTL was not confirmed for every field: never a silent success.
    #[error("streaming write to {key} did not set every field TTL (codes {codes:?})")]
    FieldTtlNotSet { key: String, codes: Vec<i64> },

    /// Any failed command or lost connection after startup.
    #[error("Redis error: {0}")]
    Redis(#[from] redis::RedisError),
}

impl StoreError {
    /// True when Redis could not be reached, as opposed to Redis rejecting what we sent; the
    /// API maps this to 503 so callers know to retry.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Connect { .. } => true,
            StoreError::Redis(e) => {
                e.is_io_error()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
                    || e.is_timeout()
            }
            _ => false,
        }
    }
}

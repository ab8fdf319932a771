//! Errors of the store layer: everything that can go wrong between us and Redis.

use super::RedisVersion;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Startup could not reach Redis at all; the message names the URL and the cause.
    #[error("cannot connect to Redis at {url}")]
    Connect {
        url: String,
        #[source]
        source: redis::RedisError,
    },

    /// The server answered, but not as a Redis we can use (no version in `INFO`).
    #[error("Redis at {url} did not report its version in INFO server")]
    NoVersion { url: String },

    /// Per-field TTLs need HEXPIRE, which arrived in Redis 7.4.
    #[error(
        "Redis {found} at {url} is too old: per-field TTLs need Redis >= 7.4 (HEXPIRE). \
         Use `make run`, which starts a bundled Redis 8.2, or point REDIS_URL at Redis >= 7.4"
    )]
    UnsupportedVersion { url: String, found: RedisVersion },

    /// A key under the prefix that holds something other than an entity hash: written by
    /// someone else, never by this store. Only that entity fails.
    #[error("{key} holds a {found}, not an entity hash")]
    NotAHash { key: String, found: String },

    /// Any failed command or lost connection after startup.
    #[error("Redis error")]
    Redis(#[from] redis::RedisError),
}

impl StoreError {
    /// True when Redis could not be reached, as opposed to Redis rejecting what we sent; the
    /// API maps this to 503 so callers know to retry.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Connect { .. } => true,
            StoreError::Redis(e) => {
                use redis::{ErrorKind, ServerErrorKind};
                e.is_io_error()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
                    || e.is_timeout()
                    // A cluster in the middle of a failover or a reshard: no master for a slot
                    // yet, or redirects still pointing at the node that died.
                    || matches!(
                        e.kind(),
                        ErrorKind::ClusterConnectionNotFound
                            | ErrorKind::Server(
                                ServerErrorKind::ClusterDown
                                    | ServerErrorKind::MasterDown
                                    | ServerErrorKind::TryAgain
                                    | ServerErrorKind::BusyLoading
                                    | ServerErrorKind::Moved
                                    | ServerErrorKind::Ask
                            )
                    )
            }
            _ => false,
        }
    }
}

impl StoreError {
    /// True when Redis refused a command because the key holds another type.
    pub fn is_wrong_type(&self) -> bool {
        matches!(self, StoreError::Redis(e) if is_wrong_type(e))
    }
}

/// True when Redis refused a command because the key holds another type, whether the error
/// came from one command or from any command of a pipeline.
pub(crate) fn is_wrong_type(e: &redis::RedisError) -> bool {
    const WRONGTYPE: &str = "WRONGTYPE";
    e.code() == Some(WRONGTYPE)
        || e.clone()
            .into_server_errors()
            .is_some_and(|errors| errors.iter().any(|(_, e)| e.code() == WRONGTYPE))
}

//! The one seam between the store and Redis. Every operation goes through `query`, `pipeline`,
//! `pipeline_rows`, `invoke` or `scan`, so a cluster connection can slot in here without
//! touching the operations. Not true yet on Redis Cluster: a pipeline whose keys span slots is
//! refused there (CROSSSLOT), and `scan` reaches only one node.

use std::fmt;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::io::tcp::TcpSettings;
use redis::{
    Client, Cmd, FromRedisValue, IntoConnectionInfo, Pipeline, RedisResult, ScriptInvocation,
};

use super::StoreError;
use crate::limits::SCAN_COUNT;

/// A Redis server version, parsed from `INFO server`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RedisVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl RedisVersion {
    /// HEXPIRE and HTTL arrived in 7.4.
    pub const FIELD_TTL: RedisVersion = RedisVersion::new(7, 4, 0);
    /// HSETEX, which writes values and their TTL atomically, arrived in 8.0.
    pub const HSETEX: RedisVersion = RedisVersion::new(8, 0, 0);

    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        RedisVersion {
            major,
            minor,
            patch,
        }
    }

    /// Reads `redis_version:X.Y.Z` out of an `INFO server` reply.
    pub fn from_info(info: &str) -> Option<Self> {
        let raw = info
            .lines()
            .find_map(|line| line.strip_prefix("redis_version:"))?;
        let mut parts = raw.trim().split('.').map(|p| p.parse::<u32>().ok());
        Some(RedisVersion::new(
            parts.next()??,
            parts.next().flatten().unwrap_or(0),
            parts.next().flatten().unwrap_or(0),
        ))
    }
}

impl fmt::Display for RedisVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Hides the password of a `redis://user:password@host` URL so it can be printed.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.rsplit_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split_once(':').map_or("", |(user, _)| user);
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_owned(),
    }
}

/// A shared, self-reconnecting, multiplexed connection with TCP_NODELAY on.
#[derive(Clone)]
pub(crate) struct RedisLink {
    conn: ConnectionManager,
    version: RedisVersion,
}

impl RedisLink {
    /// Connects, then refuses a server that cannot do per-field TTLs.
    pub(crate) async fn connect(url: &str) -> Result<Self, StoreError> {
        let connect_error = |source| StoreError::Connect {
            url: redact_url(url),
            source,
        };
        let info = url
            .into_connection_info()
            .map_err(connect_error)?
            // Nagle's algorithm delays small writes by up to 40 ms on some stacks; every
            // request here is small.
            .set_tcp_settings(TcpSettings::default().set_nodelay(true));
        let client = Client::open(info).map_err(connect_error)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            // Pipelines are chunked to stay far below this; it only catches a stuck server.
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let mut conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(connect_error)?;
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query_async(&mut conn)
            .await
            .map_err(connect_error)?;
        let version = RedisVersion::from_info(&info).ok_or_else(|| StoreError::NoVersion {
            url: redact_url(url),
        })?;
        if version < RedisVersion::FIELD_TTL {
            return Err(StoreError::UnsupportedVersion {
                url: redact_url(url),
                found: version,
            });
        }
        Ok(RedisLink { conn, version })
    }

    pub(crate) fn version(&self) -> RedisVersion {
        self.version
    }

    pub(crate) async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, StoreError> {
        Ok(cmd.query_async(&mut self.conn.clone()).await?)
    }

    pub(crate) async fn pipeline<T: FromRedisValue>(
        &self,
        pipe: &Pipeline,
    ) -> Result<T, StoreError> {
        Ok(pipe.query_async(&mut self.conn.clone()).await?)
    }

    /// A pipeline whose commands may fail one by one (a key of the wrong type, say): one result
    /// per command. A lost connection still fails the whole call.
    pub(crate) async fn pipeline_rows<T: FromRedisValue>(
        &self,
        pipe: &mut Pipeline,
    ) -> Result<Vec<RedisResult<T>>, StoreError> {
        Ok(pipe
            .ignore_errors()
            .query_async(&mut self.conn.clone())
            .await?)
    }

    /// Runs a Lua script by its hash, loading it first if the server does not know it (a new
    /// or restarted Redis).
    pub(crate) async fn invoke<T: FromRedisValue>(
        &self,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        Ok(invocation.invoke_async(&mut self.conn.clone()).await?)
    }

    /// Starts a SCAN with MATCH over the hashes of the keyspace.
    pub(crate) fn scan(&self, pattern: String) -> KeyScan<'_> {
        KeyScan {
            link: self,
            pattern,
            cursor: Some(0),
        }
    }
}

/// A SCAN in progress: each `next_batch` is one round trip.
pub(crate) struct KeyScan<'a> {
    link: &'a RedisLink,
    pattern: String,
    /// `None` once the server has returned cursor 0.
    cursor: Option<u64>,
}

impl KeyScan<'_> {
    /// The next non-empty batch of matching keys, or `None` when the scan is complete.
    pub(crate) async fn next_batch(&mut self) -> Result<Option<Vec<String>>, StoreError> {
        while let Some(cursor) = self.cursor {
            let (next, keys): (u64, Vec<String>) = self
                .link
                .query(
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&self.pattern)
                        .arg("COUNT")
                        .arg(SCAN_COUNT)
                        // Entities are hashes; a key of another type is never ours.
                        .arg("TYPE")
                        .arg("hash"),
                )
                .await?;
            self.cursor = (next != 0).then_some(next);
            if !keys.is_empty() {
                return Ok(Some(keys));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_read_from_info() {
        let info = "# Server\r\nredis_version:8.2.3\r\nredis_git_sha1:0\r\n";
        assert_eq!(
            RedisVersion::from_info(info),
            Some(RedisVersion::new(8, 2, 3))
        );
        assert!(RedisVersion::new(7, 0, 15) < RedisVersion::FIELD_TTL);
        assert!(RedisVersion::new(7, 4, 0) >= RedisVersion::FIELD_TTL);
        assert_eq!(RedisVersion::from_info("nothing"), None);
    }

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(
            redact_url("redis://default:s3cret@host:6379/0"),
            "redis://default:***@host:6379/0"
        );
        assert_eq!(redact_url("redis://:pw@h"), "redis://:***@h");
        assert_eq!(
            redact_url("redis://127.0.0.1:6380"),
            "redis://127.0.0.1:6380"
        );
    }
}

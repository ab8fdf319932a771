//! What a Redis says about itself and how one is named: its version and run id (`INFO server`),
//! single or cluster, and URLs printed without their password.

use std::fmt;

use redis::{FromRedisValue, RedisError, RedisResult};

use super::Conn;

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
        let raw = info_field(info, "redis_version")?;
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

/// `INFO server` of the one Redis, or of every master of a cluster.
pub(super) async fn server_info(conn: &Conn) -> RedisResult<Vec<String>> {
    let mut info = redis::cmd("INFO");
    info.arg("server");
    match conn {
        Conn::Single(single) => info
            .query_async(&mut single.clone())
            .await
            .map(|text| vec![text]),
        Conn::Cluster(cluster) => cluster.on_every_master(&info).await.and_then(|texts| {
            texts
                .iter()
                .map(|text| String::from_redis_value_ref(text).map_err(RedisError::from))
                .collect()
        }),
    }
}

/// The value of `name:value` in an `INFO` reply.
pub(super) fn info_field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines().find_map(|line| {
        line.strip_prefix(name)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(str::trim)
    })
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

/// URLs in this scheme name a Redis Cluster by some of its nodes:
/// `redis+cluster://[user:password@]host:port,host:port,…`.
pub const CLUSTER_SCHEME: &str = "redis+cluster://";

/// What the store is connected to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RedisMode {
    Single,
    /// A Redis Cluster, with its masters as `host:port`.
    Cluster {
        masters: Vec<String>,
    },
}

impl RedisMode {
    pub fn name(&self) -> &'static str {
        match self {
            RedisMode::Single => "single",
            RedisMode::Cluster { .. } => "cluster",
        }
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

//! The one seam between the store and Redis: one node or a Redis Cluster behind the same
//! calls. Commands on one key go through `query`, `pipeline` and `eval`, which name the key so a
//! cluster can route them. Work over many keys goes through `per_key`: one pipeline on a single
//! node; on a cluster one pipeline per master, sent in parallel and reassembled in input order
//! (`cluster.rs`). `scan` walks every master.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::io::tcp::TcpSettings;
use redis::{
    Client, Cmd, ConnectionInfo, ErrorKind, FromRedisValue, IntoConnectionInfo, RedisError,
    RedisResult, ServerErrorKind, Value,
};

mod cluster;
mod fence;
mod info;
mod scan;
mod slots;

use cluster::ClusterLink;
pub(crate) use fence::{group_key, FENCE};
use info::{info_field, server_info};
pub use info::{redact_url, RedisMode, RedisVersion, CLUSTER_SCHEME};
pub(crate) use scan::{KeyScan, ScanBatch};

use super::StoreError;

/// How long connecting to a node may take.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Pipelines are chunked to stay far below this; it only catches a stuck server.
pub(super) const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

/// A shared, self-reconnecting, multiplexed connection with TCP_NODELAY on, to one Redis, or
/// a cluster routed by slot (`cluster.rs`).
#[derive(Clone)]
pub(crate) struct RedisLink {
    conn: Conn,
    version: RedisVersion,
}

#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(Arc<ClusterLink>),
}

/// A reply on its way, boxed: redis-rs's futures take kilobytes, and every layer that holds one
/// by value (timing, the WRONGTYPE check, admission, the deadline) made an inference read's
/// future 20 KB, copied several times per request.
pub(crate) type Reply<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Changes of a cluster's masters, as `RedisLink::masters_changes` gives them.
pub struct MastersChanges(Option<tokio::sync::watch::Receiver<u64>>);

impl MastersChanges {
    /// Waits for the next change not yet seen.
    pub async fn next(&mut self) {
        if let Some(changes) = &mut self.0 {
            if changes.changed().await.is_ok() {
                return;
            }
        }
        // A single Redis, or a link that is gone: nothing will change.
        std::future::pending().await
    }
}

/// Redis could not be reached, as opposed to a command being refused.
pub(super) fn is_connection_problem(e: &RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() || e.is_timeout()
}

/// A reply that is an error, as an error.
fn checked(value: Value) -> RedisResult<Value> {
    match value {
        Value::ServerError(e) => Err(e.into()),
        value => Ok(value),
    }
}

impl RedisLink {
    /// Connects (to a cluster for a `redis+cluster://` URL), then refuses a server, or any node
    /// of a cluster, that cannot do per-field TTLs.
    /// Its connections tell Redis what they carry (`CLIENT LIST`'s `lib-name`): `name`.
    pub(crate) async fn connect(url: &str, name: &'static str) -> Result<Self, StoreError> {
        let connect_error = |source| StoreError::Connect {
            url: redact_url(url),
            source,
        };
        let conn = match url.strip_prefix(CLUSTER_SCHEME) {
            Some(nodes) => Conn::Cluster(
                ClusterLink::connect(nodes, name)
                    .await
                    .map_err(connect_error)?,
            ),
            None => Conn::Single(connect_single(url, name).await.map_err(connect_error)?),
        };
        let texts = server_info(&conn).await;
        let texts = texts.map_err(connect_error)?;
        let versions: Option<Vec<RedisVersion>> = texts
            .iter()
            .map(|text| RedisVersion::from_info(text))
            .collect();
        let version = versions
            .and_then(|versions| versions.into_iter().min())
            .ok_or_else(|| StoreError::NoVersion {
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

    /// The lowest version of any node: a command is used only if every node has it.
    pub(crate) fn version(&self) -> RedisVersion {
        self.version
    }

    /// Resolves each time a cluster's set of masters changes (never on a single Redis); a
    /// change that came while the caller was busy resolves the next call at once.
    pub(crate) fn masters_changes(&self) -> MastersChanges {
        MastersChanges(match &self.conn {
            Conn::Single(_) => None,
            Conn::Cluster(cluster) => Some(cluster.masters_changes()),
        })
    }

    /// How many servers share the keys: 1, or a cluster's masters.
    pub(crate) fn masters(&self) -> usize {
        match &self.conn {
            Conn::Single(_) => 1,
            Conn::Cluster(cluster) => cluster.map().masters.len().max(1),
        }
    }

    /// The positions of `keys` grouped by the server that holds them, in input order within a
    /// group: one group on a single Redis, one per master on a cluster.
    pub(crate) fn by_node(&self, keys: &[String]) -> Vec<Vec<usize>> {
        match &self.conn {
            Conn::Single(_) => vec![(0..keys.len()).collect()],
            Conn::Cluster(cluster) => cluster.by_node(keys),
        }
    }

    pub(crate) fn mode(&self) -> RedisMode {
        match &self.conn {
            Conn::Single(_) => RedisMode::Single,
            Conn::Cluster(cluster) => RedisMode::Cluster {
                masters: cluster
                    .map()
                    .masters
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
            },
        }
    }

    /// One command on `key`.
    pub(crate) fn query<'a, T: FromRedisValue + Send + 'a>(
        &'a self,
        key: &'a str,
        command: &'a Cmd,
    ) -> Reply<'a, T> {
        Box::pin(async move {
            match &self.conn {
                // The hot path's single command, as it is: no pipeline around it.
                Conn::Single(conn) => Ok(command.query_async(&mut conn.clone()).await?),
                Conn::Cluster(_) => self
                    .pipeline(key, vec![command.clone()])
                    .await
                    .map(|mut values: Vec<Value>| values.remove(0))
                    .and_then(|value| Ok(T::from_redis_value(value).map_err(RedisError::from)?)),
            }
        })
    }

    /// Commands that all touch `key`, in one round trip: a tuple or a `Vec` of their replies.
    pub(crate) fn pipeline<'a, T: FromRedisValue + Send + 'a>(
        &'a self,
        key: &'a str,
        commands: Vec<Cmd>,
    ) -> Reply<'a, T> {
        Box::pin(async move {
            let values = match &self.conn {
                Conn::Single(conn) => {
                    let mut pipeline = redis::Pipeline::with_capacity(commands.len());
                    for command in commands {
                        pipeline.add_command(command);
                    }
                    pipeline
                        .query_async::<Vec<Value>>(&mut conn.clone())
                        .await?
                }
                Conn::Cluster(cluster) => {
                    let keyed: Vec<(String, Cmd)> = commands
                        .into_iter()
                        .map(|command| (key.to_owned(), command))
                        .collect();
                    cluster
                        .per_key(&keyed)
                        .await?
                        .into_iter()
                        .map(checked)
                        .collect::<RedisResult<Vec<Value>>>()?
                }
            };
            Ok(T::from_redis_value(Value::Array(values)).map_err(RedisError::from)?)
        })
    }

    /// The run id of the one Redis, or of every master of a cluster (sorted): a new one means a
    /// restarted process, whose data may be gone.
    pub(crate) async fn run_ids(&self) -> Result<Vec<String>, StoreError> {
        let mut ids: Vec<String> = server_info(&self.conn)
            .await?
            .iter()
            .filter_map(|text| info_field(text, "run_id"))
            .map(str::to_owned)
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// PING the one Redis, or every master of a cluster.
    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        let ping = redis::cmd("PING");
        match &self.conn {
            Conn::Single(conn) => ping.query_async::<()>(&mut conn.clone()).await?,
            Conn::Cluster(cluster) => drop(cluster.on_every_master(&ping).await?),
        }
        Ok(())
    }

    /// One command per key, pipelined, one reply per command in input order; a command may fail
    /// on its own (a key of the wrong type, say). A lost connection fails the whole call.
    pub(crate) fn per_key<T: FromRedisValue + Send + 'static>(
        &self,
        commands: Vec<(String, Cmd)>,
    ) -> Reply<'_, Vec<RedisResult<T>>> {
        Box::pin(async move {
            if commands.is_empty() {
                return Ok(Vec::new());
            }
            match &self.conn {
                Conn::Single(conn) => {
                    let mut pipeline = redis::Pipeline::with_capacity(commands.len());
                    for (_, command) in commands {
                        pipeline.add_command(command);
                    }
                    Ok(pipeline
                        .ignore_errors()
                        .query_async(&mut conn.clone())
                        .await?)
                }
                Conn::Cluster(cluster) => Ok(cluster
                    .per_key(&commands)
                    .await?
                    .into_iter()
                    .map(|value| {
                        RedisResult::<T>::from_redis_value(value).map_err(RedisError::from)?
                    })
                    .collect()),
            }
        })
    }

    /// Loads a script into the script cache of the one Redis, or of every master, so pipelined
    /// EVALSHAs find it; a cluster loads it again on any node that answers NOSCRIPT later.
    /// A connection found dead is made again for the next call, and an idle link (the bulk
    /// loads') finds out here that Redis restarted since its last use: loading is idempotent,
    /// so that failure is tried once more.
    pub(crate) async fn load_script(&self, source: &str) -> Result<(), StoreError> {
        match self.load_script_once(source).await {
            Err(e) if is_connection_problem(&e) => self.load_script_once(source).await?,
            loaded => loaded?,
        }
        Ok(())
    }

    async fn load_script_once(&self, source: &str) -> RedisResult<()> {
        match &self.conn {
            Conn::Single(conn) => {
                let mut load = redis::cmd("SCRIPT");
                load.arg("LOAD").arg(source);
                load.query_async::<String>(&mut conn.clone())
                    .await
                    .map(drop)
            }
            Conn::Cluster(cluster) => cluster.load_script(source).await,
        }
    }

    /// Runs `evalsha` (an EVALSHA of `source` on `key`), loading the script first where the
    /// server has forgotten it (a new or restarted Redis).
    pub(crate) fn eval<'a, T: FromRedisValue + Send + 'a>(
        &'a self,
        key: &'a str,
        source: &'a str,
        evalsha: &'a Cmd,
    ) -> Reply<'a, T> {
        Box::pin(async move {
            match self.query(key, evalsha).await {
                Err(StoreError::Redis(e))
                    if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) =>
                {
                    self.load_script(source).await?;
                    self.query(key, evalsha).await
                }
                other => other,
            }
        })
    }
}

async fn connect_single(url: &str, name: &str) -> RedisResult<ConnectionManager> {
    let info = named(
        url.into_connection_info()?
            // Nagle's algorithm delays small writes by up to 40 ms on some stacks; every request
            // here is small.
            .set_tcp_settings(TcpSettings::default().set_nodelay(true)),
        name,
    );
    let client = Client::open(info)?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_millis(500));
    ConnectionManager::new_with_config(client, config).await
}

/// `info` whose connections name themselves `name` to Redis, with this crate's version.
fn named(info: ConnectionInfo, name: &str) -> ConnectionInfo {
    let settings = info
        .redis_settings()
        .clone()
        .set_lib_name(name, env!("CARGO_PKG_VERSION"));
    info.set_redis_settings(settings)
}

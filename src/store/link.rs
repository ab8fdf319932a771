//! The one seam between the store and Redis: one node or a Redis Cluster behind the same
//! calls. Single-key commands, one-key pipelines and scripts go through `query`, `pipeline` and
//! `invoke` (the cluster connection routes them by key and follows MOVED itself). Work over many
//! keys goes through `per_key`: one pipeline on a single node; on a cluster one pipeline per
//! master, planned from the slot map, sent in parallel and reassembled in input order, with any
//! command that met a moved slot sent again on its own. `scan` walks every master.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::future::join_all;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::io::tcp::TcpSettings;
use redis::{
    AsyncConnectionConfig, Client, Cmd, ErrorKind, FromRedisValue, IntoConnectionInfo, Pipeline,
    RedisError, RedisResult, ScriptInvocation, Value,
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

/// A shared, self-reconnecting, multiplexed connection with TCP_NODELAY on, to one Redis or to
/// a Redis Cluster.
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

/// A cluster connection (it routes one command by its key and follows MOVED and ASK), our copy
/// of the slot map, and a plain connection per master for the pipelines we plan ourselves: a
/// reply that says a slot moved comes back to us as it is, instead of redis-rs redirecting the
/// whole pipeline to one node.
struct ClusterLink {
    conn: ClusterConnection,
    slots: RwLock<Arc<SlotMap>>,
    /// `user:password` of the URL, for the per-master connections.
    credentials: Option<String>,
    masters: tokio::sync::Mutex<HashMap<Node, MultiplexedConnection>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Node {
    host: String,
    port: u16,
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// Which master serves which slots, from `CLUSTER SLOTS`.
#[derive(Debug, Default)]
struct SlotMap {
    /// (first slot, last slot, master), sorted by first slot.
    ranges: Vec<(u16, u16, Node)>,
    /// Every master once, sorted.
    masters: Vec<Node>,
}

impl SlotMap {
    /// Reads `[[first, last, [host, port, id, …], replicas…], …]`.
    fn parse(reply: &Value) -> Option<SlotMap> {
        let Value::Array(ranges) = reply else {
            return None;
        };
        let mut map = SlotMap::default();
        for range in ranges {
            let Value::Array(items) = range else {
                return None;
            };
            let [Value::Int(first), Value::Int(last), Value::Array(master), ..] = items.as_slice()
            else {
                return None;
            };
            let [host, Value::Int(port), ..] = master.as_slice() else {
                return None;
            };
            let host = match host {
                Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok()?,
                Value::SimpleString(text) => text.clone(),
                _ => return None,
            };
            let node = Node {
                host,
                port: u16::try_from(*port).ok()?,
            };
            let (first, last) = (u16::try_from(*first).ok()?, u16::try_from(*last).ok()?);
            map.ranges.push((first, last, node.clone()));
            if !map.masters.contains(&node) {
                map.masters.push(node);
            }
        }
        map.ranges.sort_by_key(|(first, _, _)| *first);
        map.masters.sort();
        Some(map)
    }

    /// The master that serves `slot`, if the map knows one.
    fn owner(&self, slot: u16) -> Option<&Node> {
        let at = self.ranges.partition_point(|(first, _, _)| *first <= slot);
        let (_, last, node) = self.ranges.get(at.checked_sub(1)?)?;
        (slot <= *last).then_some(node)
    }
}

impl ClusterLink {
    /// Connects to the nodes of a `redis+cluster://` URL (without its scheme) and reads the
    /// slot map.
    async fn connect(nodes: &str) -> RedisResult<ClusterLink> {
        let (credentials, hosts) = match nodes.rsplit_once('@') {
            Some((credentials, hosts)) => (Some(credentials), hosts),
            None => (None, nodes),
        };
        let seeds: Vec<String> = hosts
            .split(',')
            .filter(|host| !host.trim().is_empty())
            .map(|host| match credentials {
                Some(credentials) => format!("redis://{credentials}@{}", host.trim()),
                None => format!("redis://{}", host.trim()),
            })
            .collect();
        let client = ClusterClientBuilder::new(seeds)
            .connection_timeout(Duration::from_secs(2))
            .response_timeout(Duration::from_secs(5))
            .retries(2)
            .tcp_settings(TcpSettings::default().set_nodelay(true))
            .build()?;
        let mut conn = client.get_async_connection().await?;
        let slots = read_slots(&mut conn).await?;
        Ok(ClusterLink {
            conn,
            slots: RwLock::new(Arc::new(slots)),
            credentials: credentials.map(str::to_owned),
            masters: tokio::sync::Mutex::new(HashMap::new()),
        })
    }

    /// The connection to one master, made on first use.
    async fn master(&self, node: &Node) -> RedisResult<MultiplexedConnection> {
        let mut masters = self.masters.lock().await;
        if let Some(conn) = masters.get(node) {
            return Ok(conn.clone());
        }
        let url = match &self.credentials {
            Some(credentials) => format!("redis://{credentials}@{node}"),
            None => format!("redis://{node}"),
        };
        let info = url
            .into_connection_info()?
            .set_tcp_settings(TcpSettings::default().set_nodelay(true));
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(5)));
        let conn = Client::open(info)?
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        masters.insert(node.clone(), conn.clone());
        Ok(conn)
    }

    /// Sends `pipeline` to one master; a broken connection is dropped for the next call.
    async fn send_to(&self, node: &Node, pipeline: &Pipeline) -> RedisResult<Vec<Value>> {
        let mut conn = self.master(node).await?;
        let replies = pipeline.query_async(&mut conn).await;
        if replies.as_ref().is_err_and(is_connection_problem) {
            self.masters.lock().await.remove(node);
        }
        replies
    }

    fn slots(&self) -> Arc<SlotMap> {
        Arc::clone(&self.slots.read().expect("slot map lock"))
    }

    /// Reads the slot map again, after a reply said a slot has moved. A failure keeps the old
    /// map: the commands it misroutes are sent again on their own.
    async fn refresh_slots(&self) {
        match read_slots(&mut self.conn.clone()).await {
            Ok(slots) => *self.slots.write().expect("slot map lock") = Arc::new(slots),
            Err(e) => tracing::warn!("cannot read the cluster's slot map: {e}"),
        }
    }

    /// One command per key, one pipeline per master in parallel, replies in input order.
    async fn per_key(&self, commands: &[(String, Cmd)]) -> Result<Vec<Value>, StoreError> {
        let slots = self.slots();
        let mut groups: HashMap<&Node, Vec<usize>> = HashMap::new();
        let mut alone = Vec::new();
        for (at, (key, _)) in commands.iter().enumerate() {
            match slots.owner(key_slot(key)) {
                Some(node) => groups.entry(node).or_default().push(at),
                None => alone.push(at),
            }
        }
        let sent = groups.into_iter().map(|(node, positions)| {
            let mut pipeline = redis::pipe();
            for &at in &positions {
                pipeline.add_command(commands[at].1.clone());
            }
            pipeline.ignore_errors();
            async move {
                let replies = self.send_to(node, &pipeline).await;
                (positions, replies)
            }
        });
        let mut replies: Vec<Option<Value>> = vec![None; commands.len()];
        let mut moved = false;
        for (positions, reply) in join_all(sent).await {
            match reply {
                Ok(values) => {
                    for (at, value) in positions.into_iter().zip(values) {
                        if is_redirect(&value) {
                            moved = true;
                            alone.push(at);
                        } else {
                            replies[at] = Some(value);
                        }
                    }
                }
                // The master is gone (a failover, say) or refused the pipeline: the map may be
                // stale, and the cluster connection finds each key's master now, or says
                // Redis is unavailable.
                Err(_) => {
                    moved = true;
                    alone.extend(positions);
                }
            }
        }
        if moved {
            self.refresh_slots().await;
        }
        // The cluster connection routes one command by its key and follows MOVED and ASK.
        let resent = alone.into_iter().map(|at| {
            let mut conn = self.conn.clone();
            async move { (at, commands[at].1.query_async::<Value>(&mut conn).await) }
        });
        for (at, reply) in join_all(resent).await {
            replies[at] = Some(match reply {
                Ok(value) => value,
                Err(e) if is_connection_problem(&e) => return Err(e.into()),
                Err(e) => match e.try_into() {
                    Ok(server_error) => Value::ServerError(server_error),
                    Err(e) => return Err(StoreError::Redis(e)),
                },
            });
        }
        Ok(replies
            .into_iter()
            .map(|reply| reply.expect("every command has a reply"))
            .collect())
    }
}

async fn read_slots(conn: &mut ClusterConnection) -> RedisResult<SlotMap> {
    let reply = conn
        .route_command(
            redis::cmd("CLUSTER").arg("SLOTS").clone(),
            RoutingInfo::SingleNode(SingleNodeRoutingInfo::RandomPrimary),
        )
        .await?;
    SlotMap::parse(&reply)
        .ok_or_else(|| RedisError::from((ErrorKind::Parse, "unexpected CLUSTER SLOTS reply")))
}

/// The cluster slot of a key: CRC16 of the key, or of its `{hash tag}` when it has one.
fn key_slot(key: &str) -> u16 {
    let bytes = key.as_bytes();
    let tagged = bytes.iter().position(|&b| b == b'{').and_then(|open| {
        let close = bytes[open + 1..].iter().position(|&b| b == b'}')?;
        (close > 0).then(|| &bytes[open + 1..open + 1 + close])
    });
    crc16::State::<crc16::XMODEM>::calculate(tagged.unwrap_or(bytes)) % 16384
}

fn is_redirect(value: &Value) -> bool {
    match value {
        Value::ServerError(error) => RedisError::from(error.clone()).redirect_node().is_some(),
        _ => false,
    }
}

/// Redis could not be reached, as opposed to a command being refused.
fn is_connection_problem(e: &RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() || e.is_timeout()
}

impl RedisLink {
    /// Connects (to a cluster for a `redis+cluster://` URL), then refuses a server, or any node
    /// of a cluster, that cannot do per-field TTLs.
    pub(crate) async fn connect(url: &str) -> Result<Self, StoreError> {
        let connect_error = |source| StoreError::Connect {
            url: redact_url(url),
            source,
        };
        let conn = match url.strip_prefix(CLUSTER_SCHEME) {
            Some(nodes) => Conn::Cluster(Arc::new(
                ClusterLink::connect(nodes).await.map_err(connect_error)?,
            )),
            None => Conn::Single(connect_single(url).await.map_err(connect_error)?),
        };
        let mut link = RedisLink {
            conn,
            version: RedisVersion::new(0, 0, 0),
        };
        let info = redis::cmd("INFO").arg("server").clone();
        // A cluster answers INFO with one text per node.
        let texts: Result<Vec<String>, StoreError> = match &link.conn {
            Conn::Single(_) => link.query(&info).await.map(|text| vec![text]),
            Conn::Cluster(_) => link
                .query::<HashMap<String, String>>(&info)
                .await
                .map(|texts| texts.into_values().collect()),
        };
        let texts = texts.map_err(|e| match e {
            StoreError::Redis(source) => connect_error(source),
            other => other,
        })?;
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
        link.version = version;
        Ok(link)
    }

    /// The lowest version of any node: a command is used only if every node has it.
    pub(crate) fn version(&self) -> RedisVersion {
        self.version
    }

    /// How many servers share the keys: 1, or a cluster's masters.
    pub(crate) fn masters(&self) -> usize {
        match &self.conn {
            Conn::Single(_) => 1,
            Conn::Cluster(cluster) => cluster.slots().masters.len().max(1),
        }
    }

    pub(crate) fn mode(&self) -> RedisMode {
        match &self.conn {
            Conn::Single(_) => RedisMode::Single,
            Conn::Cluster(cluster) => RedisMode::Cluster {
                masters: cluster
                    .slots()
                    .masters
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
            },
        }
    }

    pub(crate) async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, StoreError> {
        Ok(match &self.conn {
            Conn::Single(conn) => cmd.query_async(&mut conn.clone()).await?,
            Conn::Cluster(cluster) => cmd.query_async(&mut cluster.conn.clone()).await?,
        })
    }

    /// A pipeline whose commands all touch one key, so a cluster sends it to that key's master.
    pub(crate) async fn pipeline<T: FromRedisValue>(
        &self,
        pipe: &Pipeline,
    ) -> Result<T, StoreError> {
        Ok(match &self.conn {
            Conn::Single(conn) => pipe.query_async(&mut conn.clone()).await?,
            Conn::Cluster(cluster) => pipe.query_async(&mut cluster.conn.clone()).await?,
        })
    }

    /// One command per key, pipelined, one reply per command in input order; a command may fail
    /// on its own (a key of the wrong type, say). A lost connection fails the whole call.
    pub(crate) async fn per_key<T: FromRedisValue>(
        &self,
        commands: Vec<(String, Cmd)>,
    ) -> Result<Vec<RedisResult<T>>, StoreError> {
        if commands.is_empty() {
            return Ok(Vec::new());
        }
        match &self.conn {
            Conn::Single(conn) => {
                let mut pipeline = redis::pipe();
                for (_, command) in commands {
                    pipeline.add_command(command);
                }
                Ok(pipeline
                    .ignore_errors()
                    .query_async(&mut conn.clone())
                    .await?)
            }
            Conn::Cluster(cluster) => cluster
                .per_key(&commands)
                .await?
                .into_iter()
                .map(|value| {
                    RedisResult::<T>::from_redis_value(value)
                        .map_err(|e| StoreError::Redis(e.into()))
                })
                .collect(),
        }
    }

    /// Loads a script into the script cache of the one Redis, or of every master, so pipelined
    /// EVALSHAs find it. On a cluster each master is asked on its own connection: a node that
    /// has failed and left the slot map is not asked.
    pub(crate) async fn load_script(&self, source: &str) -> Result<(), StoreError> {
        let mut load = redis::cmd("SCRIPT");
        load.arg("LOAD").arg(source);
        match &self.conn {
            Conn::Single(_) => {
                let _: String = self.query(&load).await?;
            }
            Conn::Cluster(cluster) => {
                let slots = cluster.slots();
                let loads = slots.masters.iter().map(|node| {
                    let load = &load;
                    async move {
                        let mut conn = cluster.master(node).await?;
                        load.query_async::<String>(&mut conn).await
                    }
                });
                for loaded in join_all(loads).await {
                    loaded?;
                }
            }
        }
        Ok(())
    }

    /// Runs a Lua script by its hash, loading it first if the server does not know it (a new
    /// or restarted Redis).
    pub(crate) async fn invoke<T: FromRedisValue>(
        &self,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        Ok(match &self.conn {
            Conn::Single(conn) => invocation.invoke_async(&mut conn.clone()).await?,
            Conn::Cluster(cluster) => invocation.invoke_async(&mut cluster.conn.clone()).await?,
        })
    }

    /// Starts a SCAN with MATCH over the hashes of the keyspace: of every master, one after the
    /// other, on a cluster.
    pub(crate) fn scan(&self, pattern: String) -> KeyScan<'_> {
        let nodes = match &self.conn {
            Conn::Single(_) => vec![None],
            Conn::Cluster(cluster) => cluster.slots().masters.iter().cloned().map(Some).collect(),
        };
        KeyScan {
            link: self,
            pattern,
            nodes,
            cursor: 0,
            last_master: None,
        }
    }

    /// One SCAN step on `node` (the one Redis when `None`).
    async fn scan_step(
        &self,
        node: Option<&Node>,
        scan: Cmd,
    ) -> Result<(u64, Vec<String>), StoreError> {
        match (&self.conn, node) {
            (Conn::Cluster(cluster), Some(node)) => {
                let route = SingleNodeRoutingInfo::ByAddress {
                    host: node.host.clone(),
                    port: node.port,
                };
                let reply = cluster
                    .conn
                    .clone()
                    .route_command(scan, RoutingInfo::SingleNode(route))
                    .await?;
                Ok(redis::from_redis_value(reply).map_err(RedisError::from)?)
            }
            _ => self.query(&scan).await,
        }
    }
}

async fn connect_single(url: &str) -> RedisResult<ConnectionManager> {
    let info = url
        .into_connection_info()?
        // Nagle's algorithm delays small writes by up to 40 ms on some stacks; every request
        // here is small.
        .set_tcp_settings(TcpSettings::default().set_nodelay(true));
    let client = Client::open(info)?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        // Pipelines are chunked to stay far below this; it only catches a stuck server.
        .set_response_timeout(Some(Duration::from_secs(5)))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_millis(500));
    ConnectionManager::new_with_config(client, config).await
}

/// A SCAN in progress: each `next_batch` is one round trip.
pub(crate) struct KeyScan<'a> {
    link: &'a RedisLink,
    pattern: String,
    /// The nodes still to walk, the current one first; empty when the scan is complete.
    nodes: Vec<Option<Node>>,
    cursor: u64,
    /// The master the last batch came from, on a cluster.
    last_master: Option<String>,
}

impl KeyScan<'_> {
    /// The next non-empty batch of matching keys, or `None` when the scan is complete.
    pub(crate) async fn next_batch(&mut self) -> Result<Option<Vec<String>>, StoreError> {
        while let Some(node) = self.nodes.first() {
            let mut scan = redis::cmd("SCAN");
            scan.arg(self.cursor)
                .arg("MATCH")
                .arg(&self.pattern)
                .arg("COUNT")
                .arg(SCAN_COUNT)
                // Entities are hashes; a key of another type is never ours.
                .arg("TYPE")
                .arg("hash");
            let (next, keys) = self.link.scan_step(node.as_ref(), scan).await?;
            self.last_master = node.as_ref().map(ToString::to_string);
            if next == 0 {
                self.nodes.remove(0);
            }
            self.cursor = next;
            if !keys.is_empty() {
                return Ok(Some(keys));
            }
        }
        Ok(None)
    }

    /// The master (`host:port`) the last batch came from; `None` on a single Redis.
    pub(crate) fn master(&self) -> Option<&str> {
        self.last_master.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_slots_match_redis_cluster() {
        // Values from `CLUSTER KEYSLOT`.
        assert_eq!(key_slot("foo"), 12182);
        assert_eq!(key_slot("{user1000}.following"), key_slot("user1000"));
        assert_eq!(key_slot("foo{}{bar}"), key_slot("foo{}{bar}"));
        assert_ne!(key_slot("foo{}{bar}"), key_slot("bar"));
    }

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

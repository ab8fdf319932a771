//! A Redis Cluster, routed here rather than by redis-rs's cluster client. That client's slot
//! refresh waits for the write half of a lock that a request it has stopped polling may hold or
//! be queued for; after a master died under batch reads the refresh never finished and every
//! read answered 504 until a restart. So we keep our own copy of the slot map and one
//! multiplexed connection per node, send each command to the master of its key's slot, and
//! follow MOVED and ASK ourselves. A background task reads the map again every `MAP_PERIOD`,
//! and at once when a reply says a slot moved or a node cannot be reached. No request waits for
//! it, and no lock is held across a round trip, so one dead node never stalls the others.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, RwLock};

use futures::future::join_all;
use redis::aio::MultiplexedConnection;
use redis::io::tcp::TcpSettings;
use redis::{
    AsyncConnectionConfig, Client, Cmd, ErrorKind, IntoConnectionInfo, Pipeline, RedisError,
    RedisResult, ServerErrorKind, Value,
};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use super::slots::{key_slot, Node, SlotMap};
use super::{is_connection_problem, CONNECT_TIMEOUT, RESPONSE_TIMEOUT};

mod map;
use map::refresh_forever;

/// Redirects (or script loads) a command may go through before the call gives up.
const HOPS: usize = 3;

pub(super) struct ClusterLink {
    /// The nodes the URL names: asked for the map when no node of the map answers.
    seeds: Vec<Node>,
    /// `user:password` of the URL, for every node.
    credentials: Option<String>,
    /// What its connections tell Redis they carry.
    name: &'static str,
    map: RwLock<Arc<SlotMap>>,
    connections: Mutex<HashMap<Node, MultiplexedConnection>>,
    /// The sources of the scripts loaded so far, loaded again on a node that answers NOSCRIPT
    /// (a replica just promoted, a restarted master).
    scripts: Mutex<Vec<String>>,
    /// Wakes the refresher: something said the map is stale.
    stale: Arc<Notify>,
    /// Whether the last read of the map failed, so an outage is logged once.
    map_failing: AtomicBool,
    /// Counts the maps installed with another set of masters than the one before: a failover or
    /// a node added, after which whatever was counted per master is stale.
    masters_changed: watch::Sender<u64>,
    refresher: Mutex<Option<JoinHandle<()>>>,
}

/// Where a command goes: a node, and whether an ASK redirect sent it there.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Route {
    node: Node,
    asking: bool,
}

impl ClusterLink {
    /// Reads the map from the nodes of a `redis+cluster://` URL (without its scheme) and
    /// starts the refresher, which ends with the link.
    pub async fn connect(nodes: &str, name: &'static str) -> RedisResult<Arc<ClusterLink>> {
        let (credentials, hosts) = match nodes.rsplit_once('@') {
            Some((credentials, hosts)) => (Some(credentials.to_owned()), hosts),
            None => (None, nodes),
        };
        let seeds = hosts
            .split(',')
            .filter(|host| !host.trim().is_empty())
            .map(|host| {
                Node::parse(host).ok_or_else(|| {
                    RedisError::from((
                        ErrorKind::InvalidClientConfig,
                        "a cluster node is not host:port",
                        host.to_owned(),
                    ))
                })
            })
            .collect::<RedisResult<Vec<Node>>>()?;
        let link = Arc::new(ClusterLink {
            seeds,
            credentials,
            name,
            map: RwLock::default(),
            connections: Mutex::default(),
            scripts: Mutex::default(),
            stale: Arc::new(Notify::new()),
            map_failing: AtomicBool::new(false),
            masters_changed: watch::Sender::new(0),
            refresher: Mutex::new(None),
        });
        link.install(link.read_map().await?);
        let refresher = tokio::spawn(refresh_forever(
            Arc::downgrade(&link),
            Arc::clone(&link.stale),
        ));
        *link.refresher.lock().expect("refresher lock") = Some(refresher);
        Ok(link)
    }

    /// The connection to one node, made on first use.
    async fn connection(&self, node: &Node) -> RedisResult<MultiplexedConnection> {
        if let Some(conn) = self.connections.lock().expect("connections lock").get(node) {
            return Ok(conn.clone());
        }
        let url = match &self.credentials {
            Some(credentials) => format!("redis://{credentials}@{node}"),
            None => format!("redis://{node}"),
        };
        let info = super::named(
            url.into_connection_info()?
                .set_tcp_settings(TcpSettings::default().set_nodelay(true)),
            self.name,
        );
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT));
        let conn = Client::open(info)?
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        self.connections
            .lock()
            .expect("connections lock")
            .insert(node.clone(), conn.clone());
        Ok(conn)
    }

    fn forget(&self, node: &Node) {
        self.connections
            .lock()
            .expect("connections lock")
            .remove(node);
    }

    /// One command or a pipeline to one node. A node that cannot be reached loses its
    /// connection (the next call makes a new one) and marks the map stale.
    async fn send(&self, node: &Node, sent: Sent<'_>) -> RedisResult<Vec<Value>> {
        let result = async {
            let mut conn = self.connection(node).await?;
            match sent {
                Sent::One(command) => Ok(vec![command.query_async(&mut conn).await?]),
                Sent::Pipeline(pipeline) => pipeline.query_async(&mut conn).await,
            }
        }
        .await;
        if result.as_ref().is_err_and(is_connection_problem) {
            self.forget(node);
            self.stale.notify_one();
        }
        result
    }

    /// One command on every master of the map, in parallel; the first failure fails the call.
    pub async fn on_every_master(&self, command: &Cmd) -> RedisResult<Vec<Value>> {
        let map = self.map();
        let replies = join_all(
            map.masters
                .iter()
                .map(|node| self.send(node, Sent::One(command))),
        )
        .await;
        replies
            .into_iter()
            .map(|reply| {
                let value = reply?.remove(0);
                match value {
                    Value::ServerError(e) => Err(RedisError::from(e)),
                    value => Ok(value),
                }
            })
            .collect()
    }

    /// A receiver that has seen the current set of masters and wakes at the next change.
    pub fn masters_changes(&self) -> watch::Receiver<u64> {
        self.masters_changed.subscribe()
    }

    /// One command on one node, for work that walks the masters (SCAN).
    pub async fn on_node(&self, node: &Node, command: &Cmd) -> RedisResult<Value> {
        Ok(self.send(node, Sent::One(command)).await?.remove(0))
    }

    /// Loads a script on every master, and remembers it for the nodes that will answer NOSCRIPT.
    pub async fn load_script(&self, source: &str) -> RedisResult<()> {
        {
            let mut scripts = self.scripts.lock().expect("scripts lock");
            if !scripts.iter().any(|known| known == source) {
                scripts.push(source.to_owned());
            }
        }
        let mut load = redis::cmd("SCRIPT");
        load.arg("LOAD").arg(source);
        self.on_every_master(&load).await.map(drop)
    }

    async fn load_scripts_on(&self, node: &Node) -> RedisResult<()> {
        let scripts = self.scripts.lock().expect("scripts lock").clone();
        // None yet: the command is sent again, its NOSCRIPT stands, and the caller loads it.
        if scripts.is_empty() {
            return Ok(());
        }
        let mut loads = redis::pipe();
        for source in &scripts {
            loads.cmd("SCRIPT").arg("LOAD").arg(source);
        }
        self.send(node, Sent::Pipeline(&loads)).await.map(drop)
    }

    /// The positions of `keys` grouped by the master of their slot in the map as it is; a key
    /// whose slot has no master is alone, so the command routed by it reports that.
    pub fn by_node(&self, keys: &[String]) -> Vec<Vec<usize>> {
        let map = self.map();
        let mut groups: HashMap<&Node, Vec<usize>> = HashMap::new();
        let mut alone = Vec::new();
        for (at, key) in keys.iter().enumerate() {
            match map.owner(key_slot(key)) {
                Some(node) => groups.entry(node).or_default().push(at),
                None => alone.push(vec![at]),
            }
        }
        groups.into_values().chain(alone).collect()
    }

    /// One command per key, one pipeline per master in parallel, replies in input order. A
    /// command whose slot moved follows the redirect; one refused with NOSCRIPT is sent again
    /// once the node has the scripts loaded so far. A node that cannot be reached fails the
    /// whole call.
    pub async fn per_key(&self, commands: &[(String, Cmd)]) -> RedisResult<Vec<Value>> {
        let map = self.map();
        let mut pending = Vec::with_capacity(commands.len());
        for (at, (key, _)) in commands.iter().enumerate() {
            let slot = key_slot(key);
            let Some(node) = map.owner(slot) else {
                self.stale.notify_one();
                return Err(RedisError::from((
                    ErrorKind::ClusterConnectionNotFound,
                    "no master serves the slot",
                    slot.to_string(),
                )));
            };
            let route = Route {
                node: node.clone(),
                asking: false,
            };
            pending.push((at, route));
        }
        let mut replies: Vec<Option<Value>> = vec![None; commands.len()];
        // A node answers NOSCRIPT for a script we do not know only once: the reply stands.
        let mut scripts_loaded: Vec<Node> = Vec::new();
        for _ in 0..=HOPS {
            if pending.is_empty() {
                break;
            }
            let mut groups: HashMap<Route, Vec<usize>> = HashMap::new();
            for (at, route) in pending.drain(..) {
                groups.entry(route).or_default().push(at);
            }
            let sent = groups.into_iter().map(|(route, positions)| async move {
                let mut pipeline = redis::pipe();
                for &at in &positions {
                    if route.asking {
                        pipeline.cmd("ASKING");
                    }
                    pipeline.add_command(commands[at].1.clone());
                }
                pipeline.ignore_errors();
                let replies = self.send(&route.node, Sent::Pipeline(&pipeline)).await;
                (route, positions, replies)
            });
            let mut need_scripts: Vec<Node> = Vec::new();
            for (route, positions, result) in join_all(sent).await {
                let mut values = result?;
                if route.asking {
                    // Each command's reply follows its ASKING's OK.
                    values = values.into_iter().skip(1).step_by(2).collect();
                }
                for (at, value) in positions.into_iter().zip(values) {
                    if let Some(redirect) = redirect(&value, &route.node) {
                        if !redirect.asking {
                            self.stale.notify_one();
                        }
                        pending.push((at, redirect));
                    } else if is_noscript(&value) && !scripts_loaded.contains(&route.node) {
                        if !need_scripts.contains(&route.node) {
                            need_scripts.push(route.node.clone());
                        }
                        pending.push((at, route.clone()));
                    } else {
                        replies[at] = Some(value);
                    }
                }
            }
            for node in need_scripts {
                self.load_scripts_on(&node).await?;
                scripts_loaded.push(node);
            }
        }
        if !pending.is_empty() {
            return Err(RedisError::from((
                ErrorKind::ClusterConnectionNotFound,
                "slots kept moving: too many redirects",
            )));
        }
        Ok(replies.into_iter().flatten().collect())
    }
}

impl Drop for ClusterLink {
    fn drop(&mut self) {
        if let Some(refresher) = self.refresher.get_mut().expect("refresher lock").take() {
            refresher.abort();
        }
    }
}

/// What `send` sends.
#[derive(Clone, Copy)]
enum Sent<'a> {
    One(&'a Cmd),
    Pipeline(&'a Pipeline),
}

/// The node a MOVED or ASK reply sends a command to; `asked` supplies a host the reply leaves
/// out.
fn redirect(value: &Value, asked: &Node) -> Option<Route> {
    let Value::ServerError(error) = value else {
        return None;
    };
    let asking = match error.kind()? {
        ServerErrorKind::Moved => false,
        ServerErrorKind::Ask => true,
        _ => return None,
    };
    let error = RedisError::from(error.clone());
    let (address, _slot) = error.redirect_node()?;
    let mut node = Node::parse(address)?;
    if node.host.is_empty() {
        node.host.clone_from(&asked.host);
    }
    Some(Route { node, asking })
}

fn is_noscript(value: &Value) -> bool {
    matches!(value, Value::ServerError(e) if e.kind() == Some(ServerErrorKind::NoScript))
}

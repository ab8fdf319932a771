//! Shared by the integration tests: the private test Redis that `make test` starts, and a fresh
//! key prefix per test so tests never see each other's keys.

pub mod cluster;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use feature_store_core::lease::{index_board, Lease, LeaseConfig, Role};
use feature_store_core::store::{FeatureStore, StoreConfig};
use feature_store_types::domain::{EntityId, KeyPrefix};
use feature_store_types::registry::Registry;
use feature_store_types::schema::FeatureKind;

/// Feature names the tests use, from the built-in registry: two batch, two streaming
/// (`names_are_of_their_kind` checks).
pub const RISK: &str = "risk_segment";
pub const TX_7D: &str = "tx_count_7d";
pub const DEVICE: &str = "last_device_id";
pub const TX_5M: &str = "tx_count_5m";

/// The built-in registry's feature names of one kind, of its first entity (the user).
pub fn names_of(kind: FeatureKind) -> Vec<&'static str> {
    static USERS: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();
    USERS
        .get_or_init(|| {
            let demo = feature_store_core::registry_file::demo();
            demo.of_entity(demo.entity())
        })
        .names_of(kind)
        .collect()
}

/// How many entities the built-in registry defines: a bulk load writes each of them.
pub fn demo_entities() -> u64 {
    feature_store_core::registry_file::demo().entities.len() as u64
}

#[test]
fn names_are_of_their_kind() {
    let demo = feature_store_core::registry_file::demo();
    for (name, kind) in [
        (RISK, FeatureKind::Batch),
        (TX_7D, FeatureKind::Batch),
        (DEVICE, FeatureKind::Streaming),
        (TX_5M, FeatureKind::Streaming),
    ] {
        assert_eq!(
            demo.find(name).map(|(view, _)| view.kind),
            Some(kind),
            "{name}"
        );
    }
}

/// The test Redis. `make test` sets REDIS_URL to a throwaway server on a free port.
pub fn redis_url() -> String {
    std::env::var("REDIS_URL")
        .expect("REDIS_URL must point at a throwaway Redis >= 7.4; run the tests with `make test`")
}

/// A prefix no other test, and no earlier run, uses.
pub fn unique_prefix(test: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "test:{test}:{nanos}:{}:",
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// An entity id from a literal the test knows is valid.
pub fn id(raw: &str) -> EntityId {
    EntityId::parse(raw).unwrap()
}

/// A store on the single test Redis under a prefix of its own.
pub async fn store_with(test: &str, batch_ttl: u64, streaming_ttl: u64) -> FeatureStore {
    store_with_on(Target::Single, test, batch_ttl, streaming_ttl).await
}

/// Held for reading by cluster tests that count or reset exactly (a SCAN that walks the masters
/// while slots move between them may see a key twice or not at all), and for writing by the
/// tests that move slots.
pub static CLUSTER_TOPOLOGY: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// The private Redis Cluster that `make test` starts: 3 masters, 1 replica each.
pub fn cluster_url() -> String {
    std::env::var("REDIS_CLUSTER_URL").expect(
        "REDIS_CLUSTER_URL must name a throwaway Redis Cluster (redis+cluster://…); run the \
         tests with `make test`",
    )
}

/// A store on the test cluster, under a prefix of its own.
pub async fn cluster_store(test: &str) -> FeatureStore {
    FeatureStore::connect(
        &cluster_url(),
        StoreConfig {
            key_prefix: KeyPrefix::parse(&unique_prefix(test)).unwrap(),
            ..StoreConfig::default()
        },
    )
    .await
    .expect("connect to the test cluster")
}

/// A lease of the store's own prefix that this process holds (it is the only candidate), as a
/// single `--role all` server's: its index walks and its worker writes.
pub async fn lease_of(store: &std::sync::Arc<FeatureStore>) -> std::sync::Arc<Lease> {
    let lease = Lease::start(
        std::sync::Arc::clone(store),
        LeaseConfig {
            group: store.config().key_prefix.to_string(),
            replica: "test".into(),
            ttl: Duration::from_secs(5),
            role: Role::All,
            boards: vec![index_board("user")],
        },
    );
    lease.settle().await;
    assert!(lease.holds(), "the only candidate takes the lease");
    std::sync::Arc::new(lease)
}

/// Polls `check` every 50 ms until it returns true; panics with `what` after `deadline`.
pub async fn eventually<F, Fut>(deadline: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Where a test that runs on both kinds of Redis runs this time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Single,
    Cluster,
}

impl Target {
    pub fn url(self) -> String {
        match self {
            Target::Single => redis_url(),
            Target::Cluster => cluster_url(),
        }
    }
}

/// A store on `on` under a prefix of its own.
pub async fn store_with_on(
    on: Target,
    test: &str,
    batch_ttl: u64,
    streaming_ttl: u64,
) -> FeatureStore {
    FeatureStore::connect(
        &on.url(),
        StoreConfig {
            key_prefix: KeyPrefix::parse(&unique_prefix(test)).unwrap(),
            batch_ttl_seconds: batch_ttl,
            streaming_ttl_seconds: streaming_ttl,
        },
    )
    .await
    .expect("connect to the test Redis")
}

pub async fn store_on(on: Target, test: &str) -> FeatureStore {
    store_with_on(on, test, 86_400, 300).await
}

/// A plain redis-rs connection to `on`, for checking what the store wrote: commands on one
/// key, routed by the cluster client on a cluster.
pub enum RawConn {
    Single(redis::aio::MultiplexedConnection),
    Cluster(redis::cluster_async::ClusterConnection),
}

impl redis::aio::ConnectionLike for RawConn {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            RawConn::Single(conn) => conn.req_packed_command(cmd),
            RawConn::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            RawConn::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            RawConn::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        0
    }
}

pub async fn raw_on(on: Target) -> RawConn {
    match on {
        Target::Single => RawConn::Single(raw().await),
        Target::Cluster => {
            let url = cluster_url();
            let nodes = url.trim_start_matches("redis+cluster://");
            let seeds = nodes.split(',').map(|node| format!("redis://{node}"));
            let client = redis::cluster::ClusterClient::new(seeds.collect::<Vec<_>>()).unwrap();
            RawConn::Cluster(client.get_async_connection().await.unwrap())
        }
    }
}

/// Each named test (an `async fn(Target)` of the calling module) as two tests: `single::name`
/// on the single Redis and `cluster::name` on the cluster, the latter holding the cluster's
/// topology still (the tests count and reset exactly).
#[macro_export]
macro_rules! on_single_and_cluster {
    ($($test:ident),* $(,)?) => {
        mod single {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test($crate::support::Target::Single).await
                }
            )*
        }
        mod cluster {
            $(
                #[tokio::test]
                async fn $test() {
                    let _stable = $crate::support::CLUSTER_TOPOLOGY.read().await;
                    super::$test($crate::support::Target::Cluster).await
                }
            )*
        }
    };
}

/// A raw connection to the single test Redis, independent of the store's own reads. Its answers
/// may take seconds: redis-rs's default 500 ms gave up on a pipeline of 60,000 reads in a debug
/// build while the rest of the suite kept both cores busy.
pub async fn raw() -> redis::aio::MultiplexedConnection {
    let patient =
        redis::AsyncConnectionConfig::new().set_response_timeout(Some(Duration::from_secs(30)));
    redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection_with_config(&patient)
        .await
        .unwrap()
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.1 request to `addr` on a connection of its own, with hyper's client; `Host` is
/// `addr` unless `headers` name one.
pub async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<hyper::Response<String>, Box<dyn std::error::Error + Send + Sync>> {
    use http_body_util::{BodyExt, Full};
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let mut request = hyper::Request::builder().method(method).uri(path);
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("host"))
    {
        request = request.header("host", addr.to_string());
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Full::new(hyper::body::Bytes::copy_from_slice(body)))?;
    let (parts, body) = sender.send_request(request).await?.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(hyper::Response::from_parts(
        parts,
        String::from_utf8_lossy(&body).into_owned(),
    ))
}

/// A Redis of the test's own, so it can be killed and brought back on the same port.
pub struct OwnRedis {
    child: std::process::Child,
    pub port: u16,
}

impl OwnRedis {
    /// Starts REDIS_SERVER_BIN (set by `make test`) on `port`, without persistence.
    pub async fn start(port: u16) -> Self {
        let bin = std::env::var("REDIS_SERVER_BIN")
            .expect("REDIS_SERVER_BIN must name a redis-server >= 7.4; run with `make test`");
        let child = std::process::Command::new(bin)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(std::env::temp_dir())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start redis-server");
        let redis = OwnRedis { child, port };
        let url = redis.url();
        eventually(Duration::from_secs(10), "own Redis to answer", || {
            let url = url.clone();
            async move {
                let Ok(client) = redis::Client::open(url) else {
                    return false;
                };
                let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
                    return false;
                };
                redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .is_ok()
            }
        })
        .await;
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// A plain connection to it, for a test to look at or change what is stored.
    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing is answered.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// Lets a frozen server go on (SIGCONT).
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let sent = std::process::Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill {signal} failed");
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.thaw();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The server, built and run in-process on a port of its own, against the test Redis with a
/// fresh prefix. Stopped (gracefully) when dropped.
pub struct TestServer {
    pub addr: std::net::SocketAddr,
    pub prefix: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestServer {
    /// Starts with `--initial-users 20 --no-worker --read-timeout-ms 5000` (a loaded CI machine
    /// must not turn a slow read into a 504), then `args`, which may override any of them.
    pub async fn start(test: &str, args: &[&str]) -> Self {
        Self::start_on(&redis_url(), test, args).await
    }

    /// `start`, against the Redis at `url`.
    pub async fn start_on(url: &str, test: &str, args: &[&str]) -> Self {
        use clap::Parser;
        // What cargo-leptos would set; the binary sets the same default in main.
        if std::env::var_os("LEPTOS_OUTPUT_NAME").is_none() {
            std::env::set_var("LEPTOS_OUTPUT_NAME", "feature-store");
        }
        let prefix = unique_prefix(test);
        let mut argv = vec!["feature-store", "--redis-url", url, "--key-prefix", &prefix];
        argv.extend([
            "--initial-users",
            "20",
            "--no-worker",
            "--read-timeout-ms",
            "5000",
        ]);
        argv.extend(args);
        let args = feature_store::server::ServerArgs::try_parse_from(argv).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = feature_store::server::Server::build(args, listener)
            .await
            .unwrap();
        let addr = server.local_addr();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.run_until(async {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            prefix,
            stop: Some(stop),
        }
    }

    /// This server's own origin, as its pages would send it.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// One HTTP/1.1 request on a connection of its own; `headers` come after Host.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> hyper::Response<String> {
        http(self.addr, method, path, headers, body).await.unwrap()
    }

    /// `send`, answering (status, body).
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, String) {
        let response = self.send(method, path, headers, body).await;
        (response.status().as_u16(), response.into_body())
    }

    /// A POST with a JSON body, as a script or curl sends it (no Origin).
    pub async fn post_json(&self, path: &str, body: &str) -> (u16, String) {
        self.request(
            "POST",
            path,
            &[("content-type", "application/json")],
            body.as_bytes(),
        )
        .await
    }

    /// A POST the way the Feast SDK sends it (a JSON body, no content type): the status and the
    /// answer as JSON (`Null` if it is not).
    pub async fn feast(&self, path: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
        let (status, text) = self
            .request("POST", path, &[], body.to_string().as_bytes())
            .await;
        (status, serde_json::from_str(&text).unwrap_or_default())
    }

    /// `POST /api/worker {"action": …}`, which must succeed: the worker's (running, paused).
    pub async fn switch_worker(&self, action: &str) -> (bool, bool) {
        let body = serde_json::json!({ "action": action }).to_string();
        let (status, answer) = self.post_json("/api/worker", &body).await;
        assert_eq!(status, 200, "{action}: {answer}");
        let state: serde_json::Value = serde_json::from_str(&answer).unwrap();
        (
            state["running"].as_bool().unwrap(),
            state["paused"].as_bool().unwrap(),
        )
    }

    /// `/api/state`, answered 200.
    pub async fn state(&self) -> serde_json::Value {
        let (status, body) = self.request("GET", "/api/state", &[], b"").await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    /// How many entities the store has, through the API.
    pub async fn entity_count(&self) -> u64 {
        self.state().await["entity_count"].as_u64().unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A batch read's row as name/value pairs of the fields found, like `HGETALL` would list them.
pub fn present(
    names: &[impl AsRef<str>],
    row: &Result<Vec<Option<String>>, feature_store_core::store::WrongType>,
) -> Result<Vec<(String, String)>, feature_store_core::store::WrongType> {
    let values = row.as_ref().map_err(|wrong| *wrong)?;
    Ok(names
        .iter()
        .zip(values)
        .filter_map(|(name, value)| Some((name.as_ref().to_owned(), value.clone()?)))
        .collect())
}

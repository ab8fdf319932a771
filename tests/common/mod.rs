//! Shared by the integration tests: the private test Redis that `make test` starts, and a fresh
//! key prefix per test so tests never see each other's keys.

#![allow(dead_code)] // each test binary uses its own subset

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use feature_store::store::{FeatureStore, StoreConfig};

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

pub async fn store_with(test: &str, batch_ttl: u64, streaming_ttl: u64) -> FeatureStore {
    FeatureStore::connect(
        &redis_url(),
        StoreConfig {
            key_prefix: unique_prefix(test),
            batch_ttl_seconds: batch_ttl,
            streaming_ttl_seconds: streaming_ttl,
        },
    )
    .await
    .expect("connect to the test Redis")
}

pub async fn store(test: &str) -> FeatureStore {
    store_with(test, 86_400, 300).await
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

/// A raw connection for checking what the store wrote, independent of the store's own reads.
pub async fn raw() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
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
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

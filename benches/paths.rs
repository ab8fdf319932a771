//! `make bench`: every hot path measured against Redis's own floor, in one run, at 200 and at
//! 1,000,000 stored entities.
//!
//! `scripts/bench.sh` starts a private Redis and two release servers on it: SMALL (database 0,
//! 200 entities) and LARGE (database 1, which this bench fills with 1,000,000), and a private
//! Redis Cluster (3 masters, 1 replica each) for the cluster rows. The floor is
//! `redis-benchmark` on the same Redis and data; our paths are the store in-process and the HTTP
//! API under `wrk`. Shared 2-core machines swing by a third from one run to the next, so every
//! targeted row is measured in ROUNDS rounds, floor and path interleaved, and reports the median
//! of its per-round ratios with their min–max. Figures are times (smaller is better), so each
//! ratio is figure / floor. `paths/materialize.rs` adds the materialize rows, `paths/matrix.rs`
//! the rows beside Feast's benchmark matrix.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use feature_store_core::store::{FeatureStore, StoreConfig, ROWS_PER_CALL};

#[path = "paths/http_floor.rs"]
mod http_floor;
#[path = "paths/materialize.rs"]
mod materialize;
#[path = "paths/matrix.rs"]
mod matrix;
#[path = "paths/replicas.rs"]
mod replicas;
use feature_store_core::synth::{streaming_features, synthesize_users, user_id};
use feature_store_types::domain::{EntityId, KeyPrefix};
use rand::SeedableRng;
use serde::Serialize;
use serde_json::json;

/// Every batch feature of the built-in registry: what the batch-read rows ask for.
const BATCH_FIELDS: [&str; 6] = [
    "country_iso",
    "risk_segment",
    "account_age_days",
    "tx_count_7d",
    "avg_amount_30d",
    "chargeback_count_180d",
];
/// Five of them: what the single-read rows ask for.
const READ_FIELDS: [&str; 5] = [
    "country_iso",
    "risk_segment",
    "account_age_days",
    "tx_count_7d",
    "avg_amount_30d",
];
/// Entities of the in-process store rows.
const USERS: u64 = 1_000;
/// Entities the SMALL server holds (its `--initial-users`) and the LARGE one is filled with.
const SMALL: u64 = 200;
const LARGE: u64 = 1_000_000;
const CONCURRENCY: usize = 32;
const ROUNDS: usize = 5;
/// Seconds of each `wrk` run inside a round.
const WRK_SECONDS: u64 = 3;
/// The server CPU a read may cost under load, in µs.
const CPU_BUDGET_US: f64 = 35.0;
/// Whole passes of the LARGE server's index in each window of the UI-tabs row (about 25 s each
/// at a million entities: a pass, then four times its length of rest).
const TAB_PASSES: usize = 2;

#[derive(Serialize)]
struct Row {
    path: String,
    figure: f64,
    unit: &'static str,
    floor: f64,
    floor_source: String,
    /// Median of the per-round ratios (the only one for a single-shot row).
    ratio: f64,
    ratio_min: f64,
    ratio_max: f64,
    rounds: usize,
    /// Each round's figure and floor, in order.
    figures: Vec<f64>,
    floors: Vec<f64>,
    target: Option<f64>,
    holds: Option<bool>,
    detail: String,
}

/// One row's figure and floor in every round.
struct Rounds {
    figures: Vec<f64>,
    floors: Vec<f64>,
}

impl Rounds {
    fn new() -> Self {
        Rounds {
            figures: Vec::new(),
            floors: Vec::new(),
        }
    }

    fn push(&mut self, figure: f64, floor: f64) {
        self.figures.push(figure);
        self.floors.push(floor);
    }

    fn row(
        &self,
        path: &str,
        unit: &'static str,
        floor_source: &str,
        target: Option<f64>,
        detail: String,
    ) -> Row {
        let mut ratios: Vec<f64> = self
            .figures
            .iter()
            .zip(&self.floors)
            .map(|(figure, floor)| figure / floor)
            .collect();
        let ratio = median(&mut ratios);
        Row {
            path: path.into(),
            figure: median(&mut self.figures.clone()),
            unit,
            floor: median(&mut self.floors.clone()),
            floor_source: floor_source.into(),
            ratio,
            ratio_min: ratios[0],
            ratio_max: ratios[ratios.len() - 1],
            rounds: ratios.len(),
            figures: self.figures.clone(),
            floors: self.floors.clone(),
            target,
            holds: target.map(|t| ratio <= t),
            detail,
        }
    }
}

/// Sorts `values` and returns the middle one.
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn single(
    path: &str,
    figure: f64,
    unit: &'static str,
    (floor, source): (f64, &str),
    target: Option<f64>,
    detail: String,
) -> Row {
    let mut rounds = Rounds::new();
    rounds.push(figure, floor);
    rounds.row(path, unit, source, target, detail)
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run `make bench`"))
}

fn say(what: &str) {
    eprintln!("==> {what}");
}

/// Latency percentiles in ms from a list of samples.
fn percentiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort_unstable();
    let at =
        |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    (at(0.50), at(0.99))
}

/// One `redis-benchmark` run: (requests/s, p50 ms).
fn redis_benchmark(
    port: &str,
    clients: usize,
    requests: usize,
    pipeline: usize,
    command: &[&str],
) -> (f64, f64) {
    let out = Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", port, "-c", &clients.to_string()])
        .args(["-r", "1000"])
        .args(redis_benchmark_args(requests, pipeline, command))
        .output()
        .expect("run redis-benchmark");
    parse_redis_benchmark(&out)
}

/// `redis-benchmark` of one client into database `db`, keys drawn from `keys`.
fn redis_benchmark_into(
    port: &str,
    db: u32,
    keys: u64,
    requests: usize,
    pipeline: usize,
    command: &[&str],
) -> (f64, f64) {
    let out = Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", port, "-c", "1"])
        .args(["--dbnum", &db.to_string(), "-r", &keys.to_string()])
        .args(redis_benchmark_args(requests, pipeline, command))
        .output()
        .expect("run redis-benchmark");
    parse_redis_benchmark(&out)
}

fn redis_benchmark_args(requests: usize, pipeline: usize, command: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["--csv", "--precision", "3", "-n"].map(String::from).into();
    args.push(requests.to_string());
    args.push("-P".into());
    args.push(pipeline.to_string());
    args.extend(command.iter().map(|c| c.to_string()));
    args
}

/// Requests per second and p50 (ms) from redis-benchmark's CSV.
fn parse_redis_benchmark(out: &std::process::Output) -> (f64, f64) {
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .nth(1)
        .unwrap_or_else(|| panic!("redis-benchmark printed: {text}"));
    let cols: Vec<f64> = line
        .split("\",\"")
        .skip(1)
        .map(|c| c.trim_matches('"').parse().unwrap())
        .collect();
    (cols[0], cols[3])
}

/// What one `wrk` run saw.
struct Wrk {
    p50_ms: f64,
    p99_ms: f64,
    per_second: f64,
    requests: f64,
    /// Answers other than 2xx or 3xx.
    refused: f64,
}

/// Two measurements taken A B B A, each the mean of its two: what drifts over the four runs
/// weighs the same on both.
fn back_to_back(mut a: impl FnMut() -> f64, mut b: impl FnMut() -> f64) -> (f64, f64) {
    let (a1, b1, b2, a2) = (a(), b(), b(), a());
    ((a1 + a2) / 2.0, (b1 + b2) / 2.0)
}

/// One `wrk` run against the server, every answer a success: a POST of `body`, or a GET.
fn wrk(url: &str, connections: usize, seconds: u64, body: Option<&str>) -> Wrk {
    let run = wrk_any(url, connections, seconds, body);
    assert_eq!(run.refused, 0.0, "wrk saw errors from {url}");
    run
}

/// One `wrk` run against the server, counting answers other than 2xx or 3xx.
fn wrk_any(url: &str, connections: usize, seconds: u64, body: Option<&str>) -> Wrk {
    let script = std::env::temp_dir().join(format!("fs-bench-{}.lua", std::process::id()));
    let request = match body {
        Some(body) => format!(
            "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.body = '{body}'\n"
        ),
        None => "wrk.method = \"GET\"\n".into(),
    };
    std::fs::write(&script, request).unwrap();
    let threads = if connections > 1 { 2 } else { 1 };
    let out = Command::new("wrk")
        .args(["-t", &threads.to_string(), "-c", &connections.to_string()])
        .args(["-d", &format!("{seconds}s"), "--latency", "-s"])
        .arg(&script)
        .arg(url)
        .output()
        .expect("run wrk");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let value_after = |label: &str| -> &str {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .unwrap_or_else(|| panic!("no {label} in wrk output:\n{text}"))
            .trim()
    };
    let ms = |raw: &str| -> f64 {
        let split = raw.find(|c: char| c.is_alphabetic()).unwrap();
        let (n, unit) = raw.split_at(split);
        let n: f64 = n.parse().unwrap();
        match unit {
            "us" => n / 1e3,
            "ms" => n,
            "s" => n * 1e3,
            other => panic!("unknown wrk unit {other}"),
        }
    };
    let requests = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no request count in wrk output:\n{text}"));
    let refused = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Non-2xx or 3xx responses:"))
        .map_or(0.0, |n| n.trim().parse().unwrap());
    Wrk {
        p50_ms: ms(value_after("50%")),
        p99_ms: ms(value_after("99%")),
        per_second: value_after("Requests/sec:").parse().unwrap(),
        requests,
        refused,
    }
}

/// A server started by the bench itself, until dropped.
struct ReleaseServer {
    child: std::process::Child,
    url: String,
    port: u16,
}

impl ReleaseServer {
    /// The release build of the server, with `args`.
    fn start(args: &[&str]) -> ReleaseServer {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        Self::spawn(
            Command::new(root.join("target/release/feature-store")),
            args,
        )
    }

    /// `command` with `--port` and `args`, once its `/readyz` answers.
    fn spawn(mut command: Command, args: &[&str]) -> ReleaseServer {
        let port = free_port();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let child = command
            .current_dir(root)
            .args(["--port", &port.to_string()])
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("run target/release/feature-store");
        let url = format!("http://127.0.0.1:{port}");
        wait_for(&format!("{url}/readyz"), Duration::from_secs(60));
        ReleaseServer { child, url, port }
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }
}

impl Drop for ReleaseServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for `url` to answer 2xx; panics after `deadline`.
fn wait_for(url: &str, deadline: Duration) {
    let started = Instant::now();
    while !Command::new("curl")
        .args(["-sf", url])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        assert!(started.elapsed() < deadline, "{url} did not answer");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// User plus system CPU time of a process so far, in µs.
fn cpu_us(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks * 1e6 / 100.0
}

/// The machine's CPU time so far as `/proc/stat` counts it, in ticks: all of it, and the part
/// the hypervisor gave to other guests (steal). On a shared VM a latency row means little
/// without it, so rows and rounds say how much of the machine was taken while they ran.
#[derive(Clone, Copy)]
struct HostTicks {
    total: f64,
    steal: f64,
}

impl HostTicks {
    fn now() -> Self {
        let stat = std::fs::read_to_string("/proc/stat").unwrap();
        // `cpu  user nice system idle iowait irq softirq steal guest guest_nice`
        let ticks: Vec<f64> = stat
            .lines()
            .next()
            .unwrap()
            .split_whitespace()
            .skip(1)
            .take(8)
            .map(|n| n.parse().unwrap())
            .collect();
        HostTicks {
            total: ticks.iter().sum(),
            steal: ticks[7],
        }
    }

    /// The share of the machine's CPU time stolen since `self`, in percent.
    fn steal_since(self) -> f64 {
        let now = Self::now();
        100.0 * (now.steal - self.steal) / (now.total - self.total).max(1.0)
    }
}

fn rss_mb(pid: &str) -> f64 {
    status_mb(pid, "VmRSS:")
}

/// The most memory the process has held since it started.
fn peak_rss_mb(pid: &str) -> f64 {
    status_mb(pid, "VmHWM:")
}

/// A `/proc/<pid>/status` memory figure in MB.
fn status_mb(pid: &str, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb / 1024.0
}

fn http(method: &str, url: &str, body: &str) -> String {
    let out = Command::new("curl")
        .args(["-sf", "-X", method, "-H", "content-type: application/json"])
        .args(["-d", body, url])
        .output()
        .expect("run curl");
    assert!(out.status.success(), "{method} {url} failed");
    String::from_utf8_lossy(&out.stdout).into()
}

/// The body of a GET, or `None` if it failed (the server not up yet, say).
fn fetch(url: &str) -> Option<Vec<u8>> {
    let out = Command::new("curl").args(["-sf", url]).output().ok()?;
    out.status.success().then_some(out.stdout)
}

fn entity_count(server: &str) -> Option<u64> {
    let state: serde_json::Value =
        serde_json::from_slice(&fetch(&format!("{server}/api/state"))?).ok()?;
    state["entity_count"].as_u64()
}

/// Returns once the server's index has finished `passes` more passes, watched through its
/// `/metrics` (which never calls Redis): the age of the entity count drops at each one.
fn after_index_passes(server: &str, passes: usize) {
    let age = || -> Option<f64> {
        String::from_utf8_lossy(&fetch(&format!("{server}/metrics"))?)
            .lines()
            .find_map(|line| line.strip_prefix("feature_store_entities_age_seconds "))?
            .trim()
            .parse()
            .ok()
    };
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut last = age();
    let mut seen = 0;
    while seen < passes {
        assert!(
            Instant::now() < deadline,
            "{server}'s index finished no pass in 10 minutes"
        );
        std::thread::sleep(Duration::from_millis(50));
        let now = age();
        if let (Some(before), Some(now)) = (last, now) {
            if now < before {
                seen += 1;
            }
        }
        last = now.or(last);
    }
}

/// `INFO commandstats` for SCAN: (calls, µs).
async fn scan_stats(conn: &mut redis::aio::MultiplexedConnection) -> (u64, u64) {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await
        .unwrap();
    let line = info
        .lines()
        .find_map(|l| l.strip_prefix("cmdstat_scan:"))
        .unwrap_or("calls=0,usec=0");
    let field = |name: &str| -> u64 {
        line.split(',')
            .find_map(|kv| kv.strip_prefix(name))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("calls="), field("usec="))
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// p50 and p99 in ms of `op(i)`, after `warmup` runs that are not measured.
async fn latency(warmup: usize, runs: usize, mut op: impl AsyncFnMut(usize)) -> (f64, f64) {
    for i in 0..warmup {
        op(i).await;
    }
    let mut samples = Vec::with_capacity(runs);
    for i in 0..runs {
        let started = Instant::now();
        op(i).await;
        samples.push(started.elapsed());
    }
    percentiles(samples)
}

/// Runs `op` `total` times, spread over CONCURRENCY tasks sharing the store's one connection,
/// each on a different user; returns operations per second.
async fn throughput<F, Fut>(store: &Arc<FeatureStore>, total: usize, op: F) -> f64
where
    F: Fn(Arc<FeatureStore>, EntityId) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let started = Instant::now();
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|task| {
            let (store, op) = (Arc::clone(store), op.clone());
            tokio::spawn(async move {
                for i in 0..total / CONCURRENCY {
                    let id = user_id(((task * 7919 + i) as u64) % USERS + 1);
                    op(Arc::clone(&store), id).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    total as f64 / started.elapsed().as_secs_f64()
}

/// p50 in ms of a batch read of `ids` on `store`.
async fn p50_batch(store: &FeatureStore, ids: &[EntityId]) -> f64 {
    let runs = if ids.len() > 100 { 200 } else { 1_000 };
    latency(runs / 10, runs, async |_| {
        store.batch_read(ids, &BATCH_FIELDS).await.unwrap();
    })
    .await
    .0
}

async fn connect(url: &str, prefix: &str) -> FeatureStore {
    FeatureStore::connect(
        url,
        StoreConfig {
            key_prefix: KeyPrefix::parse(prefix).unwrap(),
            ..Default::default()
        },
    )
    .await
    .expect("connect to the bench Redis")
}

/// A plain redis-rs connection with the store's TCP_NODELAY, and no store code.
async fn bare_connection(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(
        redis::IntoConnectionInfo::into_connection_info(url)
            .unwrap()
            .set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true)),
    )
    .unwrap()
    .get_multiplexed_async_connection()
    .await
    .unwrap()
}

/// The server's allocator, so the HTTP floor (this binary, run as a server) has it too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    http_floor::serve_if_asked().await;
    let bench_started = HostTicks::now();
    let redis_url = env("REDIS_URL");
    let port = env("REDIS_PORT");
    let small = env("SMALL_URL");
    let small_pid = env("SMALL_PID");
    let large = env("LARGE_URL");
    let cluster_url = env("CLUSTER_URL");
    let store = Arc::new(connect(&redis_url, "bench:user:").await);
    store.reset().await.unwrap();
    store
        .bulk_load(synthesize_users(USERS, 42), Some(3600))
        .await
        .unwrap();
    let key = store.key(&user_id(1));
    // The bare client, with the same TCP_NODELAY, to separate its cost from the store's.
    let raw = bare_connection(&redis_url).await;
    let mut rows = Vec::new();

    say("bulk load of 1,000,000 entities into the LARGE server's database");
    let large_store = connect(&format!("{redis_url}/1"), "fs:user:").await;
    let started = Instant::now();
    let loaded = large_store
        .bulk_load(synthesize_users(LARGE, 7), Some(7200))
        .await
        .unwrap()
        .written;
    let bulk_us = started.elapsed().as_secs_f64() * 1e6 / loaded as f64;
    let script = include_str!("../crates/core/src/store/lua/batch_write.lua");
    let sha: String = redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg(script)
        .query_async(&mut raw.clone())
        .await
        .unwrap();
    let row_fields: Vec<String> = synthesize_users(1, 7)
        .next()
        .unwrap()
        .fields
        .into_iter()
        .flat_map(|(n, v)| [n, v])
        .collect();
    // The key TTL, then "0": the event-time rule on, as a load runs; rows as many per call as
    // a load sends.
    let fields_count = (row_fields.len() / 2).to_string();
    let mut evalsha = vec![
        "EVALSHA",
        &sha,
        "1",
        "bench:floor:__rand_int__",
        "3600",
        "0",
    ];
    for _ in 0..ROWS_PER_CALL {
        evalsha.extend(["bench:floor:__rand_int__", &fields_count, "0"]);
        evalsha.extend(row_fields.iter().map(String::as_str));
    }
    let (script_calls_per_second, _) = redis_benchmark(&port, 1, 10_000, 10, &evalsha);
    let script_rps = script_calls_per_second * ROWS_PER_CALL as f64;
    let mut hset = vec!["HSET", "bench:floor:__rand_int__"];
    hset.extend(row_fields.iter().map(String::as_str));
    let (hset_rps, _) = redis_benchmark(&port, 1, 300_000, 100, &hset);
    rows.push(single(
        "store bulk load, 1,000,000 entities into an empty store (µs per entity)",
        bulk_us,
        "µs",
        (
            1e6 / script_rps,
            "redis-benchmark EVALSHA of the same write script, as many rows per call, -P 10, µs per row",
        ),
        Some(2.0),
        format!(
            "{:.0} entities/s; a plain HSET without the key TTL and type check would be {:.2} µs",
            1e6 / bulk_us,
            1e6 / hset_rps
        ),
    ));
    say("bulk load of 100,000 entities on the single Redis and on the clusters");
    let single_bulk = connect(&redis_url, "bench:bulk:").await;
    // The cluster without replicas shows what the client's per-master pipelines achieve; with a
    // replica each, every write is also applied a second time, by a replica sharing the same
    // two cores.
    let bare_bulk = connect(&env("CLUSTER_NO_REPLICAS_URL"), "bench:bulk:").await;
    let cluster_bulk = connect(&cluster_url, "bench:bulk:").await;
    let (mut bare_rounds, mut bulk_rounds) = (Rounds::new(), Rounds::new());
    for _ in 0..3 {
        let mut per_entity = Vec::new();
        for store in [&bare_bulk, &cluster_bulk, &single_bulk] {
            let started = Instant::now();
            let written = store
                .bulk_load(synthesize_users(100_000, 9), Some(600))
                .await
                .unwrap()
                .written;
            per_entity.push(started.elapsed().as_secs_f64() * 1e6 / written as f64);
            store.reset().await.unwrap();
        }
        bare_rounds.push(per_entity[0], per_entity[2]);
        bulk_rounds.push(per_entity[1], per_entity[2]);
    }
    rows.push(bare_rounds.row(
        "cluster (3 masters, no replicas) bulk load, 100,000 entities into an empty prefix (µs per entity)",
        "µs",
        "the same load on the single Redis, same round",
        Some(1.25),
        "target: at least 80 % of the single node's throughput".into(),
    ));
    rows.push(bulk_rounds.row(
        "cluster (3 masters, 1 replica each) bulk load, 100,000 entities into an empty prefix (µs per entity)",
        "µs",
        "the same load on the single Redis, same round",
        None,
        "replication applies every write twice on this machine's 2 cores; on one core per node it would not".into(),
    ));

    say("waiting for the LARGE server's index to count them");
    let deadline = Instant::now() + Duration::from_secs(180);
    while entity_count(&large) != Some(LARGE) {
        assert!(
            Instant::now() < deadline,
            "LARGE never counted {LARGE} entities"
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    let mut hmget = vec!["HMGET", key.as_str()];
    hmget.extend(READ_FIELDS);
    let mut hmget6 = vec!["HMGET", key.as_str()];
    hmget6.extend(BATCH_FIELDS);
    let ids: Vec<EntityId> = (1..=100).map(user_id).collect();
    let mut raw_batch = redis::pipe();
    for id in &ids {
        raw_batch.cmd("HMGET").arg(store.key(id)).arg(&BATCH_FIELDS);
    }
    let read_body = json!({"user": "u0001", "fields": READ_FIELDS}).to_string();
    let id_texts: Vec<String> = ids.iter().map(ToString::to_string).collect();
    let ids_body = json!({"ids": id_texts, "fields": BATCH_FIELDS}).to_string();
    let count_body = json!({"count": 100, "fields": BATCH_FIELDS}).to_string();
    // The same reads through Feast's API: 1 entity × 5 features, 100 × 6.
    let feast_refs = |fields: &[&str]| -> Vec<String> {
        fields.iter().map(|f| format!("user_batch:{f}")).collect()
    };
    let feast_read_body =
        json!({"features": feast_refs(&READ_FIELDS), "entities": {"user_id": ["u0001"]}})
            .to_string();
    let feast_batch_body =
        json!({"features": feast_refs(&BATCH_FIELDS), "entities": {"user_id": id_texts}})
            .to_string();
    let (mut feast_read, mut feast_c32, mut feast_batch, mut feast_batch_c32) =
        (Rounds::new(), Rounds::new(), Rounds::new(), Rounds::new());
    let (mut store_read, mut reference_read, mut store_batch, mut reference_batch) =
        (Rounds::new(), Rounds::new(), Rounds::new(), Rounds::new());
    let (mut store_c32, mut http_read, mut http_c32, mut read_cpu) =
        (Rounds::new(), Rounds::new(), Rounds::new(), Rounds::new());
    // The HTTP read against a bare axum + redis-rs server doing the same pipeline: the stack's
    // own latency and CPU, so the server's are read against what no server on it could beat.
    let http_floor = http_floor::start(&redis_url, "fs:user:");
    let (mut floor_read, mut floor_cpu, mut http_read_same_stack, mut read_cpu_same_stack) =
        (Rounds::new(), Rounds::new(), Rounds::new(), Rounds::new());
    let (mut batch_ids, mut batch_count, mut state) = (Rounds::new(), Rounds::new(), Rounds::new());
    // The same paths against redis-rs's own pipeline of the same round: the store's and the
    // server's cost on the same client stack (redis-benchmark's parser is no floor redis-rs can
    // meet, so those ratios are information).
    let (mut store_read_same_stack, mut store_batch_same_stack, mut batch_ids_same_stack) =
        (Rounds::new(), Rounds::new(), Rounds::new());
    let (mut cluster_read, mut cluster_batch, mut cluster_batch_1000) =
        (Rounds::new(), Rounds::new(), Rounds::new());
    let cluster = connect(&cluster_url, "bench:user:").await;
    cluster.reset().await.unwrap();
    cluster
        .bulk_load(synthesize_users(USERS, 42), Some(3600))
        .await
        .unwrap();
    let ids_1000: Vec<EntityId> = (1..=USERS).map(user_id).collect();
    let mut notes = Vec::new();
    for round in 1..=ROUNDS {
        say(&format!(
            "round {round} of {ROUNDS}: floors, then every path"
        ));
        let round_started = HostTicks::now();
        let (_, hmget_p50) = redis_benchmark(&port, 1, 10_000, 1, &hmget);
        let (hmget_p100_rps, _) = redis_benchmark(&port, 1, 200_000, 100, &hmget6);
        let per_100_ms = 100.0 / hmget_p100_rps * 1e3;
        let (hmget_c32_rps, _) = redis_benchmark(&port, CONCURRENCY, 100_000, 1, &hmget);
        let c32_floor_us = 1e6 / hmget_c32_rps;

        let (p50, _) = latency(500, 5_000, async |i| {
            let id = user_id(i as u64 % USERS + 1);
            store.read(&id, &READ_FIELDS).await.unwrap();
        })
        .await;
        store_read.push(p50, hmget_p50);
        let store_read_p50 = p50;
        let (p50, _) = latency(500, 5_000, async |i| {
            let key = store.key(&user_id(i as u64 % USERS + 1));
            let _: redis::Value = redis::cmd("HMGET")
                .arg(key)
                .arg(&READ_FIELDS)
                .query_async(&mut raw.clone())
                .await
                .unwrap();
        })
        .await;
        reference_read.push(p50, hmget_p50);
        store_read_same_stack.push(store_read_p50, p50);
        let ops = throughput(&store, 50_000, |store, id| async move {
            store.read(&id, &READ_FIELDS).await.unwrap();
        })
        .await;
        store_c32.push(1e6 / ops, c32_floor_us);
        let (p50, _) = latency(100, 1_000, async |_| {
            store.batch_read(&ids, &BATCH_FIELDS).await.unwrap();
        })
        .await;
        store_batch.push(p50, per_100_ms);
        let store_batch_p50 = p50;
        let (p50, _) = latency(100, 1_000, async |_| {
            let _: redis::Value = raw_batch.query_async(&mut raw.clone()).await.unwrap();
        })
        .await;
        reference_batch.push(p50, per_100_ms);
        store_batch_same_stack.push(store_batch_p50, p50);
        let reference_batch_p50 = p50;
        let (single_read, _) = latency(500, 5_000, async |i| {
            store
                .read(&user_id(i as u64 % USERS + 1), &READ_FIELDS)
                .await
                .unwrap();
        })
        .await;
        let (on_cluster, _) = latency(500, 5_000, async |i| {
            cluster
                .read(&user_id(i as u64 % USERS + 1), &READ_FIELDS)
                .await
                .unwrap();
        })
        .await;
        cluster_read.push(on_cluster, single_read);
        let (on_cluster, _) = latency(100, 1_000, async |_| {
            cluster.batch_read(&ids, &BATCH_FIELDS).await.unwrap();
        })
        .await;
        cluster_batch.push(on_cluster, p50_batch(&store, &ids).await);
        let (on_cluster, _) = latency(20, 200, async |_| {
            cluster.batch_read(&ids_1000, &BATCH_FIELDS).await.unwrap();
        })
        .await;
        cluster_batch_1000.push(on_cluster, p50_batch(&store, &ids_1000).await);

        let read = wrk(
            &format!("{small}/api/read"),
            1,
            WRK_SECONDS,
            Some(&read_body),
        );
        http_read.push(read.p50_ms, hmget_p50);
        let cpu_before = cpu_us(&small_pid);
        let loaded = wrk(
            &format!("{small}/api/read"),
            CONCURRENCY,
            WRK_SECONDS,
            Some(&read_body),
        );
        let cpu_per_read = (cpu_us(&small_pid) - cpu_before) / loaded.requests;
        http_c32.push(1e6 / loaded.per_second, c32_floor_us);
        read_cpu.push(cpu_per_read, CPU_BUDGET_US);
        let floor_url = format!("{}/api/read", http_floor.url);
        let bare = wrk(&floor_url, 1, WRK_SECONDS, Some(&read_body));
        floor_read.push(bare.p50_ms, hmget_p50);
        http_read_same_stack.push(read.p50_ms, bare.p50_ms);
        let cpu_before = cpu_us(&http_floor.pid());
        let bare_loaded = wrk(&floor_url, CONCURRENCY, WRK_SECONDS, Some(&read_body));
        let floor_cpu_per_read = (cpu_us(&http_floor.pid()) - cpu_before) / bare_loaded.requests;
        floor_cpu.push(floor_cpu_per_read, CPU_BUDGET_US);
        read_cpu_same_stack.push(cpu_per_read, floor_cpu_per_read);
        let by_ids = wrk(
            &format!("{small}/api/batch-read"),
            1,
            WRK_SECONDS,
            Some(&ids_body),
        );
        batch_ids.push(by_ids.p50_ms, per_100_ms);
        batch_ids_same_stack.push(by_ids.p50_ms, reference_batch_p50);
        let count_small = wrk(
            &format!("{small}/api/batch-read"),
            1,
            WRK_SECONDS,
            Some(&count_body),
        );
        let count_large = wrk(
            &format!("{large}/api/batch-read"),
            1,
            WRK_SECONDS,
            Some(&count_body),
        );
        batch_count.push(count_large.p50_ms, count_small.p50_ms);
        let feast = wrk(
            &format!("{small}/get-online-features"),
            1,
            WRK_SECONDS,
            Some(&feast_read_body),
        );
        feast_read.push(feast.p50_ms, read.p50_ms);
        let feast = wrk(
            &format!("{small}/get-online-features"),
            CONCURRENCY,
            WRK_SECONDS,
            Some(&feast_read_body),
        );
        feast_c32.push(1e6 / feast.per_second, 1e6 / loaded.per_second);
        // Back to back, in the order A B B A: a p50 at c=1 drifts over a round by more than
        // the 20 % this row allows, so its floor is measured beside it, not minutes before.
        let (feast_p50, by_ids_p50) = back_to_back(
            || {
                wrk(
                    &format!("{small}/get-online-features"),
                    1,
                    WRK_SECONDS,
                    Some(&feast_batch_body),
                )
                .p50_ms
            },
            || {
                wrk(
                    &format!("{small}/api/batch-read"),
                    1,
                    WRK_SECONDS,
                    Some(&ids_body),
                )
                .p50_ms
            },
        );
        feast_batch.push(feast_p50, by_ids_p50);
        let feast = wrk(
            &format!("{small}/get-online-features"),
            CONCURRENCY,
            WRK_SECONDS,
            Some(&feast_batch_body),
        );
        let by_ids_c32 = wrk(
            &format!("{small}/api/batch-read"),
            CONCURRENCY,
            WRK_SECONDS,
            Some(&ids_body),
        );
        feast_batch_c32.push(1e6 / feast.per_second, 1e6 / by_ids_c32.per_second);
        let state_small = wrk(&format!("{small}/api/state"), 1, WRK_SECONDS, None);
        let state_large = wrk(&format!("{large}/api/state"), 1, WRK_SECONDS, None);
        state.push(state_large.p50_ms, state_small.p50_ms);
        notes.push(format!(
            "round {round}: read c=1 p99 {:.3} ms, c=32 {:.0}/s p99 {:.3} ms; state p50 {:.3} / {:.3} ms; host steal {:.0} %",
            read.p99_ms,
            loaded.per_second,
            loaded.p99_ms,
            state_small.p50_ms,
            state_large.p50_ms,
            round_started.steal_since()
        ));
    }
    drop(http_floor);
    let hmget_source = "redis-benchmark HMGET 5 fields, -c 1, p50";
    let per_100_source = "redis-benchmark HMGET 6 fields -P 100, ms per 100";
    let c32_source = "redis-benchmark HMGET, -c 32, µs per request";
    rows.push(store_read_same_stack.row(
        &format!("store read, 5 fields, 1 caller, {USERS} stored (p50 ms)"),
        "ms",
        "the redis-rs HMGET reference row, same round",
        Some(1.2),
        String::new(),
    ));
    rows.push(store_read.row(
        &format!(
            "store read, 5 fields, 1 caller, {USERS} stored, against redis-benchmark (p50 ms)"
        ),
        "ms",
        hmget_source,
        None,
        "information: redis-benchmark's own client is no floor redis-rs can meet".into(),
    ));
    rows.push(reference_read.row(
        &format!("reference: redis-rs HMGET alone, no store code, {USERS} stored (p50 ms)"),
        "ms",
        hmget_source,
        None,
        "the client library's own cost".into(),
    ));
    rows.push(store_c32.row(
        &format!("store read, 32 concurrent callers, {USERS} stored (µs per read)"),
        "µs",
        c32_source,
        None,
        String::new(),
    ));
    rows.push(store_batch_same_stack.row(
        &format!("store batch read, 100 ids × 6 fields, {USERS} stored (p50 ms)"),
        "ms",
        "the redis-rs pipeline reference row, same round",
        Some(1.3),
        String::new(),
    ));
    rows.push(store_batch.row(
        &format!("store batch read, 100 ids × 6 fields, {USERS} stored, against redis-benchmark (p50 ms)"),
        "ms",
        per_100_source,
        None,
        "information".into(),
    ));
    rows.push(reference_batch.row(
        &format!("reference: redis-rs pipeline of the same 100 HMGETs, {USERS} stored (p50 ms)"),
        "ms",
        per_100_source,
        None,
        "the client library's own cost".into(),
    ));
    rows.push(http_read.row(
        &format!("HTTP POST /api/read, c=1, {SMALL} stored (p50 ms)"),
        "ms",
        hmget_source,
        Some(3.0),
        String::new(),
    ));
    rows.push(http_c32.row(
        &format!("HTTP POST /api/read, c=32, {SMALL} stored (µs per request)"),
        "µs",
        c32_source,
        None,
        String::new(),
    ));
    rows.push(read_cpu.row(
        &format!("server CPU per HTTP read, c=32, {SMALL} stored (µs user+sys per request)"),
        "µs",
        "the 35 µs budget",
        Some(1.0),
        "server process CPU time over the requests wrk completed".into(),
    ));
    let floor_source = "an axum + redis-rs server doing the same pipeline, same round";
    rows.push(http_read_same_stack.row(
        &format!("HTTP POST /api/read, c=1, {SMALL} stored, against the same stack alone (p50 ms)"),
        "ms",
        floor_source,
        None,
        "information: the server's own cost above hyper, axum, serde_json and redis-rs".into(),
    ));
    rows.push(read_cpu_same_stack.row(
        &format!(
            "server CPU per HTTP read, c=32, {SMALL} stored, against the same stack alone (µs)"
        ),
        "µs",
        floor_source,
        None,
        "information".into(),
    ));
    rows.push(floor_read.row(
        &format!("reference: axum + redis-rs alone, POST /api/read's pipeline, c=1, {SMALL} stored (p50 ms)"),
        "ms",
        hmget_source,
        None,
        "the stack's own latency against redis-benchmark's (the 3× target's floor)".into(),
    ));
    rows.push(floor_cpu.row(
        &format!("reference: axum + redis-rs alone, CPU per read, c=32, {SMALL} stored (µs)"),
        "µs",
        "the 35 µs budget",
        None,
        "the stack's own CPU per request against the budget".into(),
    ));
    rows.push(batch_ids_same_stack.row(
        &format!("HTTP POST /api/batch-read, 100 explicit ids × 6 fields, {SMALL} stored (p50 ms)"),
        "ms",
        "the redis-rs pipeline reference row, same round",
        Some(1.6),
        String::new(),
    ));
    rows.push(batch_ids.row(
        &format!("HTTP POST /api/batch-read, 100 explicit ids × 6 fields, {SMALL} stored, against redis-benchmark (p50 ms)"),
        "ms",
        per_100_source,
        None,
        "information".into(),
    ));
    let against = |path: &str| format!("{path}, same round");
    rows.push(feast_read.row(
        &format!(
            "HTTP POST /get-online-features, 1 entity × 5 features, c=1, {SMALL} stored (p50 ms)"
        ),
        "ms",
        &against("HTTP POST /api/read c=1 p50"),
        Some(1.2),
        String::new(),
    ));
    rows.push(feast_c32.row(
        &format!("HTTP POST /get-online-features, 1 entity × 5 features, c=32, {SMALL} stored (µs per request)"),
        "µs",
        &against("HTTP POST /api/read c=32"),
        Some(1.2),
        String::new(),
    ));
    rows.push(feast_batch.row(
        &format!("HTTP POST /get-online-features, 100 entities × 6 features, c=1, {SMALL} stored (p50 ms)"),
        "ms",
        &against("HTTP POST /api/batch-read 100 ids × 6 c=1 p50, measured back to back"),
        Some(1.2),
        String::new(),
    ));
    rows.push(feast_batch_c32.row(
        &format!("HTTP POST /get-online-features, 100 entities × 6 features, c=32, {SMALL} stored (µs per request)"),
        "µs",
        &against("HTTP POST /api/batch-read 100 ids × 6 c=32"),
        Some(1.2),
        String::new(),
    ));
    rows.push(batch_count.row(
        &format!("HTTP POST /api/batch-read, count 100, {LARGE} stored (p50 ms)"),
        "ms",
        &format!("the same call with {SMALL} stored, same round"),
        Some(1.5),
        String::new(),
    ));
    rows.push(state.row(
        &format!("HTTP GET /api/state, {LARGE} stored (p50 ms)"),
        "ms",
        &format!("the same call with {SMALL} stored, same round"),
        Some(2.0),
        String::new(),
    ));

    let same_round = "the same call on the single Redis, same round";
    rows.push(cluster_read.row(
        &format!("cluster (3 masters) store read, 5 fields, 1 caller, {USERS} stored (p50 ms)"),
        "ms",
        same_round,
        None,
        String::new(),
    ));
    rows.push(cluster_batch.row(
        &format!(
            "cluster (3 masters) store batch read, 100 ids × 6 fields, {USERS} stored (p50 ms)"
        ),
        "ms",
        same_round,
        Some(1.2),
        "one pipeline per master, in parallel".into(),
    ));
    rows.push(cluster_batch_1000.row(
        &format!(
            "cluster (3 masters) store batch read, 1,000 ids × 6 fields, {USERS} stored (p50 ms)"
        ),
        "ms",
        same_round,
        Some(1.2),
        "one pipeline per master and chunk of 500, in parallel".into(),
    ));
    cluster.reset().await.unwrap();

    say("store: streaming updates of 5 fields and the view's write time, 32 concurrent writers");
    let hsetex = [
        "HSETEX",
        "bench:floor:__rand_int__",
        "EX",
        "300",
        "FIELDS",
        "6",
        "a",
        "1",
        "b",
        "2",
        "c",
        "3",
        "d",
        "4",
        "e",
        "5",
        "f",
        "6",
    ];
    let (hsetex_c32_rps, _) = redis_benchmark(&port, CONCURRENCY, 100_000, 1, &hsetex);
    let event = streaming_features(
        &feature_store_core::registry_file::demo(),
        &mut rand_chacha::ChaCha8Rng::seed_from_u64(1337),
        1_700_000_000_000,
    );
    let updates = throughput(&store, 100_000, move |store, id| {
        let event = event.clone();
        async move {
            store.update_streaming(&id, &event).await.unwrap();
        }
    })
    .await;
    rows.push(single(
        &format!("store streaming update, 5 fields + write time, 32 writers, {USERS} stored (µs per update)"),
        1e6 / updates,
        "µs",
        (
            1e6 / hsetex_c32_rps,
            "redis-benchmark HSETEX 6 fields, -c 32, µs per request",
        ),
        None,
        format!("{updates:.0} updates/s vs {hsetex_c32_rps:.0}/s; one guarded script per update"),
    ));

    say("Redis work of 10 open UI tabs on the LARGE server, per pass of its index");
    // Windows of whole passes: the walker runs flat out, then rests, so a fixed 30 s window
    // held one pass more or less by chance (±70 % of the SCAN calls at a million entities).
    let mut conn = raw.clone();
    let per_pass = async |conn: &mut redis::aio::MultiplexedConnection| {
        after_index_passes(&large, 1);
        let before = scan_stats(conn).await;
        after_index_passes(&large, TAB_PASSES);
        let after = scan_stats(conn).await;
        (after.0 - before.0, after.1 - before.1)
    };
    let (idle_calls, idle_us) = per_pass(&mut conn).await;
    let polling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let tabs: Vec<_> = (0..10)
        .map(|_| {
            let url = format!("{large}/api/state");
            let polling = Arc::clone(&polling);
            std::thread::spawn(move || {
                while polling.load(std::sync::atomic::Ordering::Relaxed) {
                    http("GET", &url, "");
                    std::thread::sleep(Duration::from_secs(1));
                }
            })
        })
        .collect();
    let (tab_calls, tab_us) = per_pass(&mut conn).await;
    polling.store(false, std::sync::atomic::Ordering::Relaxed);
    for tab in tabs {
        tab.join().unwrap();
    }
    rows.push(single(
        &format!(
            "Redis SCAN time over {TAB_PASSES} index passes, 10 UI tabs polling state each second, \
             {LARGE} stored (µs)"
        ),
        tab_us as f64,
        "µs",
        (
            idle_us.max(1) as f64,
            "SCAN time of as many passes just before, no tab open: the index alone",
        ),
        Some(1.5),
        format!(
            "{tab_calls} SCAN calls with the tabs vs {idle_calls} without, over whole passes; \
             every server on this Redis counts, so SMALL's few add to both"
        ),
    ));

    say("admission: a Feast read as large as the largest batch read (1,000 entities × 64 features) at c=8 and c=128");
    let wide = format!("{}/get-online-features", env("WIDE_URL"));
    let wide_pid = env("WIDE_PID");
    let largest = json!({
        "features": (0..64).map(|n| format!("wide:f{n:02}")).collect::<Vec<_>>(),
        "entities": {"user_id": (1..=1_000).map(|n| user_id(n).to_string()).collect::<Vec<_>>()},
    })
    .to_string();
    // Answers that carried the read, per second: the shed ones (503) are the server's defence.
    let goodput = |connections: usize| {
        let run = wrk_any(&wide, connections, 5, Some(&largest));
        (run.requests - run.refused) / 5.0
    };
    let (at_8, at_128) = (goodput(8), goodput(128));
    rows.push(single(
        &format!("HTTP POST /get-online-features, 1,000 entities × 64 features, c=128, {SMALL} stored (ms per answered read)"),
        1e3 / at_128,
        "ms",
        (1e3 / at_8, "the same read at c=8"),
        Some(1.25),
        format!(
            "goodput {at_128:.1}/s vs {at_8:.1}/s at c=8: a share of {:.2} (target ≥ 0.8); \
             the rest shed with 503 + Retry-After",
            at_128 / at_8
        ),
    ));
    let peak = peak_rss_mb(&wide_pid);
    rows.push(single(
        &format!("server peak RSS through those runs, {SMALL} stored (MB)"),
        peak,
        "MB",
        (256.0, "the 256 MB bound"),
        Some(1.0),
        "VmHWM of the server since it started".into(),
    ));

    rows.extend(replicas::rows(
        &redis_url,
        &read_body,
        &large,
        &env("LARGE_PID"),
    ));

    say("server RSS across 1,000,000 materialized rows (10 × POST /api/bulk-load 100,000)");
    let before = rss_mb(&small_pid);
    for _ in 0..10 {
        http(
            "POST",
            &format!("{small}/api/bulk-load"),
            r#"{"count":100000,"ttl_seconds":600}"#,
        );
    }
    let after = rss_mb(&small_pid);
    rows.push(single(
        "server RSS growth over 1,000,000 bulk-loaded rows (MB)",
        (after - before).max(0.0),
        "MB",
        (20.0, "the 20 MB budget"),
        Some(1.0),
        format!("{before:.1} MB before, {after:.1} MB after"),
    ));
    http("POST", &format!("{small}/api/reset"), "");
    store.reset().await.unwrap();
    large_store.reset().await.unwrap();

    // Database 3 of the bench Redis is empty: the servers use 0 to 2. SMALL's 200 again, for
    // its reads during the load.
    http(
        "POST",
        &format!("{small}/api/bulk-load"),
        &format!(r#"{{"count":{SMALL},"ttl_seconds":86400}}"#),
    );
    let no_replicas = env("CLUSTER_NO_REPLICAS_URL");
    let read = materialize::ReadDuring {
        url: &format!("{small}/api/read"),
        body: &read_body,
    };
    rows.extend(materialize::rows(&redis_url, &port, 3, &no_replicas, read).await);
    rows.extend(matrix::rows(&redis_url, &port, 4).await);

    let machine = format!(
        "{} cores, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model()
    );
    let redis_version = store.redis_version().to_string();
    let steal = bench_started.steal_since();
    let mut md = format!(
        "# feature-store benchmark\n\nMachine: {machine}; the hypervisor took {steal:.0} % of its CPU time during this run (steal). Redis {redis_version}. Ratio = figure / floor, smaller is better; \
         a row of {ROUNDS} rounds gives the median ratio and its min–max.\n\n\
         | path | figure | floor | ratio (min–max) | target | holds | detail |\n|---|---:|---:|---:|---:|:-:|---|\n"
    );
    for r in &rows {
        let spread = if r.rounds > 1 {
            format!(" ({:.2}–{:.2})", r.ratio_min, r.ratio_max)
        } else {
            String::new()
        };
        md.push_str(&format!(
            "| {} | {:.3} {} | {:.3} ({}) | {:.2}{spread} | {} | {} | {} |\n",
            r.path,
            r.figure,
            r.unit,
            r.floor,
            r.floor_source,
            r.ratio,
            r.target.map_or("–".into(), |t| format!("≤ {t}")),
            r.holds.map_or("–", |h| if h { "yes" } else { "NO" }),
            r.detail
        ));
    }
    md.push_str("\nPer round:\n\n");
    for note in &notes {
        md.push_str(&format!("- {note}\n"));
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("report.md"), &md).unwrap();
    let report = json!({ "machine": machine, "redis_version": redis_version, "rows": rows });
    std::fs::write(
        dir.join("report.json"),
        serde_json::to_string_pretty(&report).unwrap(),
    )
    .unwrap();
    println!("{md}");
    println!("Written to {}", dir.join("report.md").display());
}

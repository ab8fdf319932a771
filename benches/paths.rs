//! `make bench`: every hot path measured against Redis's own floor, in one run.
//!
//! `scripts/bench.sh` starts a private Redis and a release build of the server, then runs this
//! with REDIS_URL, REDIS_PORT, SERVER_URL and SERVER_PID set. The floor is `redis-benchmark`
//! on the same server and data; our paths are the store in-process and the HTTP API under
//! `wrk`. Figures are times (smaller is better), so each ratio is figure / floor.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use feature_store::domain::{EntityId, KeyPrefix};
use feature_store::schema::FEATURES;
use feature_store::store::{EntityRow, FeatureStore, StoreConfig};
use feature_store::synth::{streaming_features, synthesize_users, user_id};
use rand::SeedableRng;
use serde::Serialize;
use serde_json::json;

/// Every batch feature of the schema: what the batch-read rows ask for.
const BATCH_FIELDS: [&str; 6] = [
    FEATURES[0].name,
    FEATURES[1].name,
    FEATURES[2].name,
    FEATURES[3].name,
    FEATURES[4].name,
    FEATURES[5].name,
];
/// Five of them: what the single-read rows ask for.
const READ_FIELDS: [&str; 5] = [
    FEATURES[0].name,
    FEATURES[1].name,
    FEATURES[2].name,
    FEATURES[3].name,
    FEATURES[4].name,
];
const USERS: u64 = 1_000;
const CONCURRENCY: usize = 32;

#[derive(Serialize)]
struct Row {
    path: String,
    figure: f64,
    unit: &'static str,
    floor: f64,
    floor_source: String,
    ratio: f64,
    target: Option<f64>,
    holds: Option<bool>,
    detail: String,
}

impl Row {
    fn new(
        path: &str,
        figure: f64,
        unit: &'static str,
        floor: (f64, String),
        target: Option<f64>,
        detail: String,
    ) -> Row {
        let ratio = figure / floor.0;
        Row {
            path: path.into(),
            figure,
            unit,
            floor: floor.0,
            floor_source: floor.1,
            ratio,
            target,
            holds: target.map(|t| ratio <= t),
            detail,
        }
    }
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
        .args(["-h", "127.0.0.1", "-p", port, "--csv", "--precision", "3"])
        .args([
            "-c",
            &clients.to_string(),
            "-n",
            &requests.to_string(),
            "-P",
            &pipeline.to_string(),
        ])
        .args(["-r", "1000"])
        .args(command)
        .output()
        .expect("run redis-benchmark");
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

/// One `wrk` run against the server: (p50 ms, p99 ms, requests/s).
fn wrk(url: &str, threads: usize, connections: usize, seconds: u64, body: &str) -> (f64, f64, f64) {
    let script = std::env::temp_dir().join(format!("fs-bench-{}.lua", std::process::id()));
    std::fs::write(
        &script,
        format!(
            "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.body = '{body}'\n"
        ),
    )
    .unwrap();
    let out = Command::new("wrk")
        .args(["-t", &threads.to_string(), "-c", &connections.to_string()])
        .args(["-d", &format!("{seconds}s"), "--latency", "-s"])
        .arg(&script)
        .arg(url)
        .output()
        .expect("run wrk");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        !text.contains("Non-2xx"),
        "wrk saw errors from {url}:\n{text}"
    );
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
    (
        ms(value_after("50%")),
        ms(value_after("99%")),
        value_after("Requests/sec:").parse().unwrap(),
    )
}

fn rss_mb(pid: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb / 1024.0
}

fn post(url: &str, body: &str) -> String {
    let out = Command::new("curl")
        .args([
            "-sf",
            "-X",
            "POST",
            "-H",
            "content-type: application/json",
            "-d",
            body,
            url,
        ])
        .output()
        .expect("run curl");
    assert!(out.status.success(), "POST {url} failed");
    String::from_utf8_lossy(&out.stdout).into()
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

#[tokio::main]
async fn main() {
    let redis_url = env("REDIS_URL");
    let port = env("REDIS_PORT");
    let server = env("SERVER_URL");
    let server_pid = env("SERVER_PID");
    let store = Arc::new(
        FeatureStore::connect(
            &redis_url,
            StoreConfig {
                key_prefix: KeyPrefix::parse("bench:user:").unwrap(),
                ..Default::default()
            },
        )
        .await
        .expect("connect to the bench Redis"),
    );
    store.reset().await.unwrap();
    store
        .bulk_load(synthesize_users(USERS, 42), Some(3600))
        .await
        .unwrap();
    let key = store.key(&user_id(1));
    // The bare client, with the same TCP_NODELAY, to separate its cost from the store's.
    let raw = redis::Client::open(
        redis::IntoConnectionInfo::into_connection_info(redis_url.as_str())
            .unwrap()
            .set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true)),
    )
    .unwrap()
    .get_multiplexed_async_connection()
    .await
    .unwrap();
    let mut rows = Vec::new();

    say("floor: redis-benchmark");
    let mut hmget = vec!["HMGET", key.as_str()];
    hmget.extend(READ_FIELDS);
    let mut hmget6 = vec!["HMGET", key.as_str()];
    hmget6.extend(BATCH_FIELDS);
    let hset_key = "bench:floor:__rand_int__";
    let hset = [
        "HSET", hset_key, "a", "1", "b", "2", "c", "3", "d", "4", "e", "5", "f", "6",
    ];
    let hsetex = [
        "HSETEX", hset_key, "EX", "300", "FIELDS", "5", "a", "1", "b", "2", "c", "3", "d", "4",
        "e", "5",
    ];
    let (_, hmget_p50) = redis_benchmark(&port, 1, 20_000, 1, &hmget);
    let (hmget_p100_rps, _) = redis_benchmark(&port, 1, 300_000, 100, &hmget6);
    let per_100_ms = 100.0 / hmget_p100_rps * 1e3;
    let (hset_rps, _) = redis_benchmark(&port, 1, 500_000, 100, &hset);
    let (hmget_c32_rps, _) = redis_benchmark(&port, CONCURRENCY, 200_000, 1, &hmget);
    let (hsetex_c32_rps, _) = redis_benchmark(&port, CONCURRENCY, 200_000, 1, &hsetex);
    let hmget_floor = (
        hmget_p50,
        "redis-benchmark HMGET 5 fields, -c 1, p50".to_string(),
    );

    say("store: read of 5 fields, 1 caller");
    let (p50, p99) = latency(2_000, 20_000, async |i| {
        let id = user_id(i as u64 % USERS + 1);
        store.read(&id, &READ_FIELDS).await.unwrap();
    })
    .await;
    rows.push(Row::new(
        "store read, 5 fields, 1 caller (p50 ms)",
        p50,
        "ms",
        hmget_floor.clone(),
        Some(1.3),
        format!("p99 {p99:.3} ms"),
    ));
    let (p50, p99) = latency(2_000, 20_000, async |i| {
        let key = store.key(&user_id(i as u64 % USERS + 1));
        let _: redis::Value = redis::cmd("HMGET")
            .arg(key)
            .arg(&READ_FIELDS)
            .query_async(&mut raw.clone())
            .await
            .unwrap();
    })
    .await;
    rows.push(Row::new(
        "reference: redis-rs HMGET alone, no store code (p50 ms)",
        p50,
        "ms",
        hmget_floor.clone(),
        None,
        format!("p99 {p99:.3} ms; the client library's own cost"),
    ));

    say("store: read under 32 concurrent callers on one connection");
    let ops = throughput(&store, 200_000, |store, id| async move {
        store.read(&id, &READ_FIELDS).await.unwrap();
    })
    .await;
    rows.push(Row::new(
        "store read, 32 concurrent callers (µs per read)",
        1e6 / ops,
        "µs",
        (
            1e6 / hmget_c32_rps,
            "redis-benchmark HMGET, -c 32, µs per request".into(),
        ),
        None,
        format!("{ops:.0} reads/s vs {hmget_c32_rps:.0}/s"),
    ));

    say("store: batch read of 100 ids × 6 fields");
    let ids: Vec<EntityId> = (1..=100).map(user_id).collect();
    let (p50, p99) = latency(200, 3_000, async |_| {
        store.batch_read(&ids, &BATCH_FIELDS).await.unwrap();
    })
    .await;
    rows.push(Row::new(
        "store batch read, 100 ids × 6 fields (p50 ms)",
        p50,
        "ms",
        (
            per_100_ms,
            "redis-benchmark HMGET 6 fields -P 100, ms per 100".into(),
        ),
        Some(1.5),
        format!("p99 {p99:.3} ms"),
    ));
    let mut raw_batch = redis::pipe();
    for id in &ids {
        raw_batch.cmd("HMGET").arg(store.key(id)).arg(&BATCH_FIELDS);
    }
    let (p50, p99) = latency(200, 3_000, async |_| {
        let _: redis::Value = raw_batch.query_async(&mut raw.clone()).await.unwrap();
    })
    .await;
    rows.push(Row::new(
        "reference: redis-rs pipeline of the same 100 HMGETs, no store code (p50 ms)",
        p50,
        "ms",
        (
            per_100_ms,
            "redis-benchmark HMGET 6 fields -P 100, ms per 100".into(),
        ),
        None,
        format!("p99 {p99:.3} ms; the client library's own cost"),
    ));

    say("store: bulk load of 100,000 users");
    let bulk = Arc::new(
        FeatureStore::connect(
            &redis_url,
            StoreConfig {
                key_prefix: KeyPrefix::parse("bench:bulk:").unwrap(),
                ..Default::default()
            },
        )
        .await
        .unwrap(),
    );
    let users: Vec<EntityRow> = synthesize_users(100_000, 7).collect();
    let started = Instant::now();
    let loaded = bulk.bulk_load(users, Some(3600)).await.unwrap().written;
    let users_per_s = loaded as f64 / started.elapsed().as_secs_f64();
    rows.push(Row::new(
        "store bulk load, 100,000 users (µs per user)",
        1e6 / users_per_s,
        "µs",
        (
            1e6 / hset_rps,
            "redis-benchmark HSET 6 fields -P 100, µs per HSET".into(),
        ),
        Some(2.0),
        format!(
            "{users_per_s:.0} users/s (HSET + EXPIRE in one script each) vs {hset_rps:.0} HSET/s"
        ),
    ));
    bulk.reset().await.unwrap();

    say("store: streaming updates of 5 fields, 32 concurrent writers");
    let event = streaming_features(
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
    rows.push(Row::new(
        "store streaming update, 5 fields, 32 writers (µs per update)",
        1e6 / updates,
        "µs",
        (
            1e6 / hsetex_c32_rps,
            "redis-benchmark HSETEX 5 fields, -c 32, µs per request".into(),
        ),
        None,
        format!("{updates:.0} updates/s vs {hsetex_c32_rps:.0}/s"),
    ));

    say("HTTP: POST /api/read with wrk");
    let read_body = &json!({"user": "u0001", "fields": READ_FIELDS}).to_string();
    let _ = wrk(&format!("{server}/api/read"), 1, 1, 1, read_body);
    let (p50, p99, _) = wrk(&format!("{server}/api/read"), 1, 1, 5, read_body);
    rows.push(Row::new(
        "HTTP POST /api/read, concurrency 1 (p50 ms)",
        p50,
        "ms",
        hmget_floor.clone(),
        Some(3.0),
        format!("p99 {p99:.3} ms"),
    ));
    let (_, p99, rps) = wrk(&format!("{server}/api/read"), 2, CONCURRENCY, 5, read_body);
    rows.push(Row::new(
        "HTTP POST /api/read, concurrency 32 (µs per request)",
        1e6 / rps,
        "µs",
        (
            1e6 / hmget_c32_rps,
            "redis-benchmark HMGET, -c 32, µs per request".into(),
        ),
        None,
        format!("{rps:.0} requests/s, p99 {p99:.3} ms"),
    ));

    say("HTTP: POST /api/batch-read of 100 with wrk");
    let (p50, p99, _) = wrk(
        &format!("{server}/api/batch-read"),
        1,
        1,
        5,
        r#"{"count":100}"#,
    );
    rows.push(Row::new(
        "HTTP POST /api/batch-read, 100 ids (p50 ms)",
        p50,
        "ms",
        (
            per_100_ms,
            "redis-benchmark HMGET 6 fields -P 100, ms per 100".into(),
        ),
        None,
        format!("p99 {p99:.3} ms; includes listing the ids with SCAN"),
    ));

    say("server RSS across 1,000,000 materialized rows (10 × POST /api/bulk-load 100,000)");
    let before = rss_mb(&server_pid);
    for _ in 0..10 {
        post(
            &format!("{server}/api/bulk-load"),
            r#"{"count":100000,"ttl_seconds":600}"#,
        );
    }
    let after = rss_mb(&server_pid);
    rows.push(Row::new(
        "server RSS growth over 1,000,000 bulk-loaded rows (MB)",
        (after - before).max(0.0),
        "MB",
        (20.0, "the 20 MB budget".into()),
        Some(1.0),
        format!("{before:.1} MB before, {after:.1} MB after"),
    ));
    post(&format!("{server}/api/reset"), "");
    store.reset().await.unwrap();

    let machine = format!(
        "{} cores, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model()
    );
    let redis_version = store.redis_version().to_string();
    let mut md = format!(
        "# feature-store benchmark\n\nMachine: {machine}. Redis {redis_version}. Ratio = figure / floor, smaller is better.\n\n\
         | path | figure | floor | ratio | target | holds | detail |\n|---|---:|---:|---:|---:|:-:|---|\n"
    );
    for r in &rows {
        md.push_str(&format!(
            "| {} | {:.3} {} | {:.3} ({}) | {:.2} | {} | {} | {} |\n",
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

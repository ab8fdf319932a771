//! `make bench`'s materialize rows: a generated Parquet file (10 features, 2 rows per entity)
//! through the release `build-features materialize` into an empty database, timed, with the
//! process's peak RSS, on the single Redis and on the cluster, beside the floors of the same
//! rows written by redis-benchmark; and a server's reads of the same Redis during the load.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use feature_store_core::store::ROWS_PER_CALL;
use parquet::arrow::ArrowWriter;

use crate::{connect, redis_benchmark_into, say, single, wrk, Row, Wrk};

/// Features per row: ints and floats in turn.
const FEATURES: usize = 10;
/// 2025-12-01T00:00:00Z in Unix ms: the first row of each entity; its second is an hour later.
const T0: i64 = 1_764_547_200_000;
const HOUR: i64 = 3_600_000;
/// Rows generated per record batch of the file.
const BATCH: u64 = 500_000;

/// What one run did.
struct Run {
    rows_per_second: f64,
    peak_rss_mb: f64,
}

/// Writes `rows` rows for `rows / 2` entities (`e0`, `e1`, …): every entity once, then every
/// entity again an hour later, so half the rows replace an older one.
fn write_parquet(path: &Path, rows: u64) {
    let entities = rows / 2;
    let schema_batch = |first: u64, count: u64| {
        let numbers: Vec<u64> = (first..first + count).collect();
        let mut columns: Vec<(String, ArrayRef)> = vec![
            (
                "entity_id".into(),
                Arc::new(StringArray::from_iter_values(
                    numbers.iter().map(|n| format!("e{}", n % entities)),
                )),
            ),
            (
                "event_timestamp".into(),
                Arc::new(Int64Array::from_iter_values(
                    numbers.iter().map(|n| T0 + (n / entities) as i64 * HOUR),
                )),
            ),
        ];
        for f in 0..FEATURES {
            let column: ArrayRef = if f % 2 == 0 {
                Arc::new(Int64Array::from_iter_values(
                    numbers.iter().map(|n| ((n * 7 + f as u64) % 1000) as i64),
                ))
            } else {
                Arc::new(Float64Array::from_iter_values(
                    numbers.iter().map(|n| (n % 10_007) as f64 / 97.0),
                ))
            };
            columns.push((format!("f{f}"), column));
        }
        RecordBatch::try_from_iter(columns).unwrap()
    };
    let first = schema_batch(0, BATCH.min(rows));
    let mut writer =
        ArrowWriter::try_new(File::create(path).unwrap(), first.schema(), None).unwrap();
    writer.write(&first).unwrap();
    let mut at = BATCH.min(rows);
    while at < rows {
        let count = BATCH.min(rows - at);
        writer.write(&schema_batch(at, count)).unwrap();
        at += count;
    }
    writer.close().unwrap();
}

/// A registry whose one batch view reads `file` (beside it).
fn registry(dir: &Path, file: &str, prefix: &str) -> PathBuf {
    let features: Vec<String> = (0..FEATURES)
        .map(|f| {
            let kind = if f % 2 == 0 { "int" } else { "float" };
            format!("{{ name = \"f{f}\", type = \"{kind}\" }}")
        })
        .collect();
    let path = dir.join(format!("{file}.toml"));
    std::fs::write(
        &path,
        format!(
            "[entity]\nname = \"item\"\njoin_key = \"entity_id\"\nkey_prefix = \"{prefix}\"\n\n\
             [[views]]\nname = \"item_batch\"\nkind = \"batch\"\nttl_seconds = 864000\n\
             source = {{ path = \"{file}\" }}\nfeatures = [{}]\n",
            features.join(", ")
        ),
    )
    .unwrap();
    path
}

/// `build-features materialize` of every row of `registry`'s file, started, with `more` flags.
fn start_materialize(registry: &Path, redis_url: &str, more: &[&str]) -> Child {
    let binary = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/build-features");
    Command::new(binary)
        .args(["materialize", "--features"])
        .arg(registry)
        .args(["--redis-url", redis_url])
        .args(["--start", "2025-11-01", "--end", "2026-01-01"])
        .args(more)
        .stdout(Stdio::piped())
        .spawn()
        .expect("run target/release/build-features")
}

/// Runs `build-features materialize` over every row, polling the process's peak RSS.
fn materialize(registry: &Path, redis_url: &str, rows: u64) -> Run {
    let started = Instant::now();
    let mut child = start_materialize(registry, redis_url, &[]);
    let status = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0.0_f64;
    while child.try_wait().unwrap().is_none() {
        if let Ok(text) = std::fs::read_to_string(&status) {
            let hwm = text.lines().find_map(|l| l.strip_prefix("VmHWM:"));
            if let Some(kb) = hwm.and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            {
                peak_kb = peak_kb.max(kb);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let seconds = started.elapsed().as_secs_f64();
    let out = child.wait_with_output().unwrap();
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "materialize failed: {summary}");
    assert!(
        summary.contains(&format!("{rows} rows read, {rows} written")),
        "{summary}"
    );
    Run {
        rows_per_second: rows as f64 / seconds,
        peak_rss_mb: peak_kb / 1024.0,
    }
}

/// Redis's own rate for these rows into new keys of database `db`, per row: the write script
/// (as many rows per call as a load sends) and a plain HSET of the same fields (no key TTL, no
/// checks), both by redis-benchmark.
fn floors(port: &str, db: u32, flush: impl Fn()) -> (f64, f64) {
    let mut fields: Vec<String> = (0..FEATURES)
        .flat_map(|f| [format!("f{f}"), format!("{}", 100 + f)])
        .collect();
    fields.extend(
        [
            "_ts:item_batch",
            "1764547200000",
            "_wt:item_batch",
            "1764547200000",
        ]
        .map(String::from),
    );
    let count = (fields.len() / 2).to_string();
    let script = include_str!("../../crates/core/src/store/lua/batch_write.lua");
    let load = Command::new("redis-cli")
        .args(["-p", port, "SCRIPT", "LOAD", script])
        .output()
        .unwrap();
    let sha = String::from_utf8_lossy(&load.stdout).trim().to_owned();
    let mut evalsha = vec!["EVALSHA", &sha, "1", "mf:__rand_int__", "864000", "0"];
    for _ in 0..ROWS_PER_CALL {
        evalsha.extend(["mf:__rand_int__", &count, "0"]);
        evalsha.extend(fields.iter().map(String::as_str));
    }
    // Keys drawn from a space far larger than the rows written: nearly every row is new.
    let keys = 1_000_000_000;
    let (calls, _) = redis_benchmark_into(port, db, keys, 10_000, 10, &evalsha);
    flush();
    let mut hset = vec!["HSET", "mf:__rand_int__"];
    hset.extend(fields.iter().map(String::as_str));
    let (hsets, _) = redis_benchmark_into(port, db, keys, 640_000, 100, &hset);
    flush();
    (1e6 / (calls * ROWS_PER_CALL as f64), 1e6 / hsets)
}

/// A server's read (`url`, `body`) at c=1, measured just before the 10,000,000-row load and
/// while it writes: what a load costs the reads of a Redis it shares.
pub struct ReadDuring<'a> {
    pub url: &'a str,
    pub body: &'a str,
}

/// How long each c=1 run of `ReadDuring` lasts, and how far into a load it starts (past the
/// file's opening).
const READ_SECONDS: u64 = 10;
const READ_AFTER: Duration = Duration::from_secs(3);
/// The pace of the paced load the read is measured during: the README's "Loading while
/// serving" pace, at which a load kept Redis about a third busy here.
const PACED_ROWS_PER_SECOND: &str = "20000";

impl ReadDuring<'_> {
    /// The read at c=1, from `READ_AFTER` into `load` (a started process) for `READ_SECONDS`.
    fn during(&self, load: impl FnOnce()) -> Wrk {
        let (url, body) = (self.url.to_owned(), self.body.to_owned());
        let during = std::thread::spawn(move || {
            std::thread::sleep(READ_AFTER);
            wrk(&url, 1, READ_SECONDS, Some(&body))
        });
        load();
        during.join().unwrap()
    }
}

/// The materialize rows: 10,000,000 and 1,000,000 rows on the single Redis (`db`, emptied
/// before and after), 1,000,000 on the cluster without replicas; and `read` before and during
/// the 10,000,000-row load.
pub async fn rows(
    redis_url: &str,
    port: &str,
    db: u32,
    cluster_url: &str,
    read: ReadDuring<'_>,
) -> Vec<Row> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench/materialize");
    std::fs::create_dir_all(&dir).unwrap();
    let flush = || {
        let out = Command::new("redis-cli")
            .args(["-p", port, "-n", &db.to_string(), "FLUSHDB"])
            .output()
            .unwrap();
        assert!(out.status.success());
    };
    let single_url = format!("{redis_url}/{db}");
    let (script_us, hset_us) = floors(port, db, flush);
    let mut runs = Vec::new();
    let mut reads = None;
    for rows in [1_000_000, 10_000_000] {
        say(&format!(
            "materialize: writing a Parquet file of {rows} rows"
        ));
        let file = format!("rows-{rows}.parquet");
        write_parquet(&dir.join(&file), rows);
        flush();
        let registry = registry(&dir, &file, "mb:item:");
        if rows == 10_000_000 {
            say("materialize: a read at c=1 before the load, then while it writes");
            let idle = wrk(read.url, 1, READ_SECONDS, Some(read.body));
            say(&format!("materialize: {rows} rows into an empty Redis"));
            let during = read.during(|| runs.push(materialize(&registry, &single_url, rows)));
            flush();
            say(&format!(
                "materialize: the read while at most {PACED_ROWS_PER_SECOND} rows/s go in"
            ));
            let mut load = None;
            let paced = read.during(|| {
                load = Some(start_materialize(
                    &registry,
                    &single_url,
                    &["--max-rows-per-second", PACED_ROWS_PER_SECOND],
                ));
                std::thread::sleep(READ_AFTER + Duration::from_secs(READ_SECONDS));
            });
            // The read is over; the rest of the load is not measured.
            let mut load = load.expect("the paced load started");
            load.kill().unwrap();
            load.wait().unwrap();
            reads = Some((idle, during, paced));
        } else {
            say(&format!("materialize: {rows} rows into an empty Redis"));
            runs.push(materialize(&registry, &single_url, rows));
        }
        flush();
    }
    let (idle, during, paced) = reads.expect("the 10,000,000-row load ran");
    say("materialize: 1,000,000 rows into the cluster (3 masters, no replicas)");
    let cluster = materialize(
        &registry(&dir, "rows-1000000.parquet", "mb:cluster:"),
        cluster_url,
        1_000_000,
    );
    connect(cluster_url, "mb:cluster:")
        .await
        .reset()
        .await
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let (one, ten) = (&runs[0], &runs[1]);
    let us = |run: &Run| 1e6 / run.rows_per_second;
    vec![
        single(
            "materialize 10,000,000 Parquet rows × 10 features into an empty Redis, 5,000,000 entities stored (µs per row)",
            us(ten),
            "µs",
            (script_us, "redis-benchmark: the write script, as many rows per call, µs per row"),
            Some(1.25),
            format!(
                "{:.0} rows/s; a plain HSET of the same fields (no key TTL, no checks) is {:.0} rows/s here",
                ten.rows_per_second,
                1e6 / hset_us
            ),
        ),
        single(
            "materialize 10,000,000 rows, 5,000,000 entities stored: against the 200,000 rows/s target (µs per row)",
            us(ten),
            "µs",
            (5.0, "200,000 rows/s"),
            Some(1.0),
            format!(
                "Redis alone writes plain HSETs of these rows at {:.0} rows/s on this machine",
                1e6 / hset_us
            ),
        ),
        single(
            "materialize peak RSS, 10,000,000 rows (MB)",
            ten.peak_rss_mb,
            "MB",
            (one.peak_rss_mb, "the same at 1,000,000 rows"),
            Some(1.25),
            format!("≤ 256 MB whatever the file: {:.0} MB", ten.peak_rss_mb),
        ),
        single(
            "HTTP POST /api/read c=1 p99 while materialize writes 10,000,000 rows into the same Redis, 200 stored (ms)",
            during.p99_ms,
            "ms",
            (idle.p99_ms, "the same read just before the load"),
            None,
            format!(
                "p50 {:.2} ms against {:.2}; the load (build-features, {:.0} rows/s) and Redis \
                 share the machine's cores with the server and wrk: information",
                during.p50_ms,
                idle.p50_ms,
                ten.rows_per_second
            ),
        ),
        single(
            &format!(
                "HTTP POST /api/read c=1 p99 while materialize writes at most {PACED_ROWS_PER_SECOND} rows/s into the same Redis, 200 stored (ms)"
            ),
            paced.p99_ms,
            "ms",
            (idle.p99_ms, "the same read just before the full-speed load"),
            None,
            format!(
                "p50 {:.2} ms against {:.2}: build-features --max-rows-per-second, which leaves \
                 Redis idle between its slices: information",
                paced.p50_ms, idle.p50_ms
            ),
        ),
        single(
            "materialize 1,000,000 rows into the cluster (3 masters, no replicas), 500,000 entities stored (µs per row)",
            us(&cluster),
            "µs",
            (us(one), "the same rows into the single Redis"),
            Some(1.25),
            format!(
                "{:.0} rows/s against {:.0} (target: at least 80 % of the single node)",
                cluster.rows_per_second, one.rows_per_second
            ),
        ),
    ]
}

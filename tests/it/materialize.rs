//! `build-features materialize` and `materialize-incremental` over a view's own Parquet and
//! CSV files, as a team runs them: the latest row per entity in the window (ties to the later
//! created), both ends included, values refused per column, nulls clearing the field, a watermark in
//! Redis, and files or columns that are missing refused when the registry is loaded.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use feature_store_core::ops::bootstrap;
use feature_store_core::store::{FeatureStore, StoreConfig};
use parquet::arrow::ArrowWriter;
use redis::AsyncCommands;
use serde_json::json;

use crate::support::{
    cluster_url, eventually, free_port, raw, raw_on, redis_url, unique_prefix, OwnRedis, Target,
    TestServer,
};

const BUILD_FEATURES: &str = env!("CARGO_BIN_EXE_build-features");
/// 2025-11-01T00:00:00Z, and an hour, in Unix ms.
const T0: i64 = 1_761_955_200_000;
const HOUR: i64 = 3_600_000;

/// One row of the view's table: entity, event time, created time, n, s, f (None is a null).
type Row = (
    &'static str,
    i64,
    i64,
    Option<i64>,
    Option<&'static str>,
    Option<f64>,
);

/// A directory of its own for one test's files, removed at the end.
struct Dir(PathBuf);

impl Dir {
    fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(unique_prefix(test).replace(':', "-"));
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }

    /// A registry whose batch view `card_batch` reads `path` (relative to the registry).
    fn registry(&self, prefix: &str, path: &str) -> PathBuf {
        let file = self.0.join("features.toml");
        std::fs::write(
            &file,
            format!(
                "[entity]\nname = \"card\"\njoin_key = \"card_id\"\nkey_prefix = \"{prefix}\"\n\
                 [[views]]\nname = \"card_batch\"\nkind = \"batch\"\nttl_seconds = 86400\n\
                 source = {{ path = \"{path}\", created_column = \"created\", columns = {{ s = \"label\" }} }}\n\
                 features = [{{ name = \"n\", type = \"int\" }}, {{ name = \"s\", type = \"string\" }}, {{ name = \"f\", type = \"float\" }}]\n"
            ),
        )
        .unwrap();
        file
    }

    fn parquet(&self, name: &str, rows: &[Row]) {
        let column = |values: ArrayRef| values;
        let batch = RecordBatch::try_from_iter([
            (
                "card_id",
                column(Arc::new(StringArray::from_iter_values(
                    rows.iter().map(|r| r.0),
                ))),
            ),
            (
                "event_timestamp",
                column(Arc::new(Int64Array::from_iter_values(
                    rows.iter().map(|r| r.1),
                ))),
            ),
            (
                "created",
                column(Arc::new(Int64Array::from_iter_values(
                    rows.iter().map(|r| r.2),
                ))),
            ),
            (
                "n",
                column(Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.3)))),
            ),
            (
                "label",
                column(Arc::new(StringArray::from_iter(rows.iter().map(|r| r.4)))),
            ),
            (
                "f",
                column(Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.5)))),
            ),
        ])
        .unwrap();
        let file = std::fs::File::create(self.0.join(name)).unwrap();
        let mut writer = ArrowWriter::try_new(file, batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
    }

    /// The same rows as CSV, times as text a person writes (`2025-11-01 02:00:00.000`).
    fn csv(&self, name: &str, rows: &[Row]) {
        let time = |ms: i64| {
            let at =
                time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).unwrap();
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
                at.year(),
                at.month() as u8,
                at.day(),
                at.hour(),
                at.minute(),
                at.second(),
                at.millisecond()
            )
        };
        let mut text = String::from("card_id,event_timestamp,created,n,label,f\n");
        for r in rows {
            text.push_str(&format!(
                "{},{},{},{},{},{}\n",
                r.0,
                time(r.1),
                time(r.2),
                r.3.map(|n| n.to_string()).unwrap_or_default(),
                r.4.unwrap_or_default(),
                r.5.map(|f| f.to_string()).unwrap_or_default()
            ));
        }
        std::fs::write(self.0.join(name), text).unwrap();
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn build_features(registry: &Path, args: &[&str]) -> Output {
    build_features_on(Target::Single, registry, args)
}

fn build_features_on(on: Target, registry: &Path, args: &[&str]) -> Output {
    let url = match on {
        Target::Single => redis_url(),
        Target::Cluster => cluster_url(),
    };
    Command::new(BUILD_FEATURES)
        .args(args)
        .arg("--features")
        .arg(registry)
        .arg("--redis-url")
        .arg(url)
        .env_remove("REDIS_URL")
        .stdin(Stdio::null())
        .output()
        .expect("run build-features")
}

fn rfc3339(ms: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).unwrap();
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// The stored features of `card` (without the store's own fields).
async fn stored(prefix: &str, card: &str) -> Vec<(String, String)> {
    stored_on(Target::Single, prefix, card).await
}

async fn stored_on(on: Target, prefix: &str, card: &str) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = raw_on(on)
        .await
        .hgetall(format!("{prefix}{card}"))
        .await
        .unwrap();
    fields.retain(|(name, _)| !name.starts_with('_'));
    fields.sort();
    fields
}

fn pairs(n: &str, s: &str) -> Vec<(String, String)> {
    vec![("n".into(), n.into()), ("s".into(), s.into())]
}

/// Rows for the window [T0, T0 + 3 h]: c1 twice (the later event wins), c2 twice at the same
/// event (the later created wins, though it comes first in the file), c3 at both ends (both
/// included: the end wins), c4 only after the end and c5 only before the start.
const WINDOWED: [Row; 8] = [
    ("c1", T0 + HOUR, T0, Some(1), Some("early"), None),
    ("c1", T0 + 2 * HOUR, T0, Some(2), Some("late"), None),
    (
        "c2",
        T0 + HOUR,
        T0 + 2,
        Some(22),
        Some("created later"),
        None,
    ),
    (
        "c2",
        T0 + HOUR,
        T0 + 1,
        Some(21),
        Some("created first"),
        None,
    ),
    ("c3", T0, T0, Some(30), Some("at the start"), None),
    ("c3", T0 + 3 * HOUR, T0, Some(33), Some("at the end"), None),
    ("c4", T0 + 3 * HOUR + 1, T0, Some(4), Some("after"), None),
    ("c5", T0 - 1, T0, Some(5), Some("before"), None),
];

async fn assert_windowed(on: Target, prefix: &str) {
    assert_eq!(stored_on(on, prefix, "c1").await, pairs("2", "late"));
    assert_eq!(
        stored_on(on, prefix, "c2").await,
        pairs("22", "created later")
    );
    assert_eq!(stored_on(on, prefix, "c3").await, pairs("33", "at the end"));
    assert!(stored_on(on, prefix, "c4").await.is_empty());
    assert!(stored_on(on, prefix, "c5").await.is_empty());
}

crate::on_single_and_cluster!(the_latest_row_per_entity_in_the_window_from_parquet_and_csv_alike);

async fn the_latest_row_per_entity_in_the_window_from_parquet_and_csv_alike(on: Target) {
    let (start, end) = (rfc3339(T0), rfc3339(T0 + 3 * HOUR));
    for (format, test) in [("parquet", "mat-parquet"), ("csv", "mat-csv")] {
        let dir = Dir::new(test);
        let prefix = unique_prefix(test);
        let file = format!("cards.{format}");
        match format {
            "parquet" => dir.parquet(&file, &WINDOWED),
            _ => dir.csv(&file, &WINDOWED),
        }
        let registry = dir.registry(&prefix, &file);
        // A dry run says what it would write and writes nothing.
        let dry = build_features_on(
            on,
            &registry,
            &["materialize", "--dry-run", "--start", &start, "--end", &end],
        );
        let stdout = String::from_utf8_lossy(&dry.stdout);
        assert!(dry.status.success(), "{stdout}");
        assert!(
            stdout.contains("8 rows read, 6 would be written"),
            "{format}: {stdout}"
        );
        assert!(stdout.contains("\n  c1: n=1, s=early, f=null"), "{stdout}");
        assert!(stored_on(on, &prefix, "c1").await.is_empty());
        let out = build_features_on(
            on,
            &registry,
            &["materialize", "--start", &start, "--end", &end],
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("8 rows read, 5 written, 1 older skipped, 2 outside the window"),
            "{format}: {stdout}"
        );
        assert_windowed(on, &prefix).await;
        // A float column of nulls wrote nothing; the entity has its key TTL.
        let ttl: i64 = raw_on(on).await.ttl(format!("{prefix}c1")).await.unwrap();
        assert!((86_390..=86_400).contains(&ttl), "{format}: TTL {ttl}");
        // Run again: nothing changes, nothing is written twice.
        let again = build_features_on(
            on,
            &registry,
            &["materialize", "--start", &start, "--end", &end],
        );
        assert!(String::from_utf8_lossy(&again.stdout).contains("0 written, 6 older skipped"));
        assert_windowed(on, &prefix).await;
    }
}

#[tokio::test]
async fn incremental_runs_continue_from_the_watermark_kept_in_redis() {
    let dir = Dir::new("mat-incremental");
    let prefix = unique_prefix("mat-incremental");
    dir.parquet(
        "day1.parquet",
        &[("c1", T0 + HOUR, T0, Some(1), Some("one"), None)],
    );
    let registry = dir.registry(&prefix, "day*.parquet");
    let first = build_features(
        &registry,
        &["materialize-incremental", "--end", &rfc3339(T0 + 2 * HOUR)],
    );
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert_eq!(stored(&prefix, "c1").await, pairs("1", "one"));
    let watermark: i64 = raw()
        .await
        .get(format!("{prefix}_materialized:card_batch"))
        .await
        .unwrap();
    assert_eq!(watermark, T0 + 2 * HOUR);

    // A new file arrives; the next run reads from the watermark on, not the rows before it.
    dir.parquet(
        "day2.parquet",
        &[
            ("c1", T0 + 3 * HOUR, T0, Some(3), Some("three"), None),
            (
                "c2",
                T0 + HOUR,
                T0,
                Some(2),
                Some("before the watermark"),
                None,
            ),
        ],
    );
    let second = build_features(
        &registry,
        &["materialize-incremental", "--end", &rfc3339(T0 + 4 * HOUR)],
    );
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert!(second.status.success(), "{stdout}");
    assert!(stdout.contains("from 2 files"), "{stdout}");
    assert_eq!(stored(&prefix, "c1").await, pairs("3", "three"));
    assert!(
        stored(&prefix, "c2").await.is_empty(),
        "a row before the watermark"
    );
    let watermark: i64 = raw()
        .await
        .get(format!("{prefix}_materialized:card_batch"))
        .await
        .unwrap();
    assert_eq!(watermark, T0 + 4 * HOUR);

    // A reset deletes the rows and the mark: the next run starts as the first one did (one view
    // TTL before its end), not after rows that are gone.
    let loaded = feature_store_core::registry_file::load(Some(&registry)).unwrap();
    let store = FeatureStore::connect(
        &redis_url(),
        StoreConfig::of_entity(&loaded, &loaded.entities[0]),
    )
    .await
    .unwrap();
    assert_eq!(bootstrap::reset(&store, &loaded).await.unwrap(), 1);
    let mark: Option<i64> = raw()
        .await
        .get(format!("{prefix}_materialized:card_batch"))
        .await
        .unwrap();
    assert_eq!(mark, None, "the mark outlived the reset");
    let third = build_features(
        &registry,
        &["materialize-incremental", "--end", &rfc3339(T0 + 4 * HOUR)],
    );
    assert!(third.status.success(), "{third:?}");
    assert_eq!(stored(&prefix, "c1").await, pairs("3", "three"));
    assert_eq!(
        stored(&prefix, "c2").await,
        pairs("2", "before the watermark")
    );
}

#[tokio::test]
async fn values_that_do_not_fit_are_reported_per_column_and_nulls_clear_the_field() {
    let dir = Dir::new("mat-refused");
    let prefix = unique_prefix("mat-refused");
    let text = "card_id,event_timestamp,created,n,label,f\n\
                c1,2026-11-01 01:00:00,2026-11-01 00:00:00,7,ok,1.5\n\
                c2,2026-11-01 01:00:00,2026-11-01 00:00:00,seven,ok,2.5\n\
                c3,2026-11-01 01:00:00,2026-11-01 00:00:00,99999999999999999999,,\n\
                bad:id,2026-11-01 01:00:00,2026-11-01 00:00:00,1,ok,1\n\
                c4,yesterday,2026-11-01 00:00:00,1,ok,1\n";
    std::fs::write(dir.0.join("cards.csv"), text).unwrap();
    let registry = dir.registry(&prefix, "cards.csv");
    let out = build_features(
        &registry,
        &[
            "materialize",
            "--start",
            "2026-11-01",
            "--end",
            "2026-11-02",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "refused values fail the run: {stdout}"
    );
    assert!(stdout.contains("5 rows read, 3 written"), "{stdout}");
    assert!(
        stdout.contains("refused 2 values of column \"n\" (must be whole number"),
        "{stdout}"
    );
    assert!(stdout.contains("cards.csv row 2, "), "{stdout}");
    assert!(stdout.contains("cards.csv row 3"), "{stdout}");
    assert!(
        stdout.contains("refused 1 value of column \"card_id\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("refused 1 value of column \"event_timestamp\""),
        "{stdout}"
    );
    assert_eq!(
        stored(&prefix, "c1").await,
        [
            ("f".into(), "1.5".into()),
            ("n".into(), "7".into()),
            ("s".into(), "ok".into())
        ]
    );
    // The refused value and the nulls are left out; the rest of the row is written.
    assert_eq!(
        stored(&prefix, "c2").await,
        [("f".into(), "2.5".into()), ("s".into(), "ok".into())]
    );
    assert!(stored(&prefix, "c3").await.is_empty());
    assert!(raw()
        .await
        .exists::<_, bool>(format!("{prefix}c3"))
        .await
        .unwrap());

    // A newer row with nulls: the entity's latest row has no n nor f, so the older values go.
    let text = "card_id,event_timestamp,created,n,label,f\n\
                c1,2026-11-01 02:00:00,2026-11-01 00:00:00,,newer,\n";
    std::fs::write(dir.0.join("cards.csv"), text).unwrap();
    let args = [
        "materialize",
        "--start",
        "2026-11-01",
        "--end",
        "2026-11-02",
    ];
    let out = build_features(&registry, &args);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stored(&prefix, "c1").await, [("s".into(), "newer".into())]);
}

/// 600 cards, one row each, in `dir`'s `cards.csv`: what a paced run of 1,000 rows a second
/// takes at least 590 ms to send (60 slices of 10, each a hundredth of a second after the one
/// before).
fn six_hundred_cards(dir: &Dir) {
    let mut text = String::from("card_id,event_timestamp,created,n,label,f\n");
    for card in 0..600 {
        text.push_str(&format!(
            "p{card},2026-11-01 01:00:00,2026-11-01 00:00:00,{card},ok,1\n"
        ));
    }
    std::fs::write(dir.0.join("cards.csv"), text).unwrap();
}

const PACED_AT_LEAST: Duration = Duration::from_millis(590);

#[tokio::test]
async fn a_paced_run_sends_no_more_rows_a_second_than_asked() {
    let dir = Dir::new("mat-paced");
    let prefix = unique_prefix("mat-paced");
    six_hundred_cards(&dir);
    let registry = dir.registry(&prefix, "cards.csv");
    let window = [
        "materialize",
        "--start",
        "2026-11-01",
        "--end",
        "2026-11-02",
    ];
    let paced = |rate: &str| {
        let started = std::time::Instant::now();
        let out = build_features(
            &registry,
            &[&window[..], &["--max-rows-per-second", rate]].concat(),
        );
        (out, started.elapsed())
    };
    let (out, took) = paced("1000");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("600 rows read, 600 written"), "{stdout}");
    assert!(took >= PACED_AT_LEAST, "600 rows in {took:?}");
    assert_eq!(stored(&prefix, "p599").await, pairs_of("599"));
    let (zero, _) = paced("0");
    assert_eq!(zero.status.code(), Some(2), "{zero:?}");

    // The server's runs take the server's pace.
    let server = TestServer::start(
        "mat-paced",
        &[
            "--features",
            registry.to_str().unwrap(),
            "--materialize-max-rows-per-second",
            "1000",
        ],
    )
    .await;
    let started = std::time::Instant::now();
    let (status, done) = server
        .feast(
            "/materialize",
            &json!({"feature_views": ["card_batch"], "start_ts": "2026-11-01T00:00:00Z", "end_ts": "2026-11-02T00:00:00Z"}),
        )
        .await;
    let took = started.elapsed();
    assert_eq!(status, 200, "{done}");
    assert!(took >= PACED_AT_LEAST, "600 rows in {took:?}");
    // The state says so, for the panel to tell a paced run from a stuck one.
    let state = server.state().await;
    let run = &state["materializations"][0];
    assert_eq!(
        (run["written"].clone(), run["max_rows_per_second"].clone()),
        (json!(600), json!(1000)),
        "{run}"
    );
    // One load, not 60 of a slice each.
    assert_eq!(
        state["store"]["last_bulk_load_rows"], 600,
        "{}",
        state["store"]
    );
}

/// A paced run whose Redis restarts between two of its rows ends failed, saying why and how far
/// it got (its progress is told after each slice, not only after each batch of 8,192 rows); the
/// next run, into the Redis that came back empty, writes every row, as one load.
#[tokio::test]
async fn a_paced_run_across_a_redis_restart_fails_saying_why_and_the_next_writes_every_row() {
    let dir = Dir::new("mat-outage");
    // A row a second: Redis is gone and back between two of them.
    let mut text = String::from("card_id,event_timestamp,created,n,label,f\n");
    for card in 0..3 {
        text.push_str(&format!(
            "r{card},2026-11-01 01:00:00,2026-11-01 00:00:00,{card},ok,1\n"
        ));
    }
    std::fs::write(dir.0.join("cards.csv"), text).unwrap();
    let registry = dir.registry(&unique_prefix("mat-outage"), "cards.csv");
    let port = free_port();
    let redis = OwnRedis::start(port).await;
    let server = TestServer::start_on(
        &redis.url(),
        "mat-outage",
        &[
            "--features",
            registry.to_str().unwrap(),
            "--initial-users",
            "0",
            "--materialize-max-rows-per-second",
            "1",
        ],
    )
    .await;
    let window = json!({"feature_views": ["card_batch"], "start_ts": "2026-11-01T00:00:00Z", "end_ts": "2026-11-02T00:00:00Z"});
    let (status, accepted) = server.feast("/materialize?async=true", &window).await;
    assert_eq!(status, 202, "{accepted}");
    // The state answers 503 while Redis is away.
    let last_run = || async {
        let (status, body) = server.request("GET", "/api/state", &[], b"").await;
        (status == 200)
            .then(|| serde_json::from_str::<serde_json::Value>(&body).unwrap())
            .map(|state| state["materializations"][0].clone())
    };
    let wrote_some = || async {
        last_run()
            .await
            .is_some_and(|run| run["written"].as_u64() > Some(0))
    };
    eventually(Duration::from_secs(10), "the first rows", wrote_some).await;
    drop(redis);
    let redis = OwnRedis::start(port).await;
    let ended = || async {
        last_run()
            .await
            .is_some_and(|run| !run["finished_unix_ms"].is_null())
    };
    eventually(Duration::from_secs(30), "the run to end", ended).await;
    // The first write after the restart finds the connection gone: the run ends there, and
    // its error names the cause under "Redis error".
    let failed = last_run().await.unwrap();
    let error = failed["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with("Redis error: ") && error.len() > "Redis error: ".len(),
        "{failed}"
    );
    assert_eq!(failed["written"], 1, "{failed}");

    let (status, done) = server.feast("/materialize", &window).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["views"][0]["written"], 3, "{done}");
    assert_eq!(server.state().await["store"]["last_bulk_load_rows"], 3);
    let mut conn = redis.connection().await;
    let n: Option<String> = conn
        .hget(format!("{}r2", server.prefix), "n")
        .await
        .unwrap();
    assert_eq!(n.as_deref(), Some("2"));
}

/// A card's stored n, s and f as the paced runs write them.
fn pairs_of(n: &str) -> Vec<(String, String)> {
    vec![
        ("f".into(), "1".into()),
        ("n".into(), n.into()),
        ("s".into(), "ok".into()),
    ]
}

#[test]
fn a_missing_file_or_column_is_refused_when_the_registry_is_loaded() {
    let dir = Dir::new("mat-missing");
    let prefix = unique_prefix("mat-missing");
    let load = |registry: &Path| {
        feature_store_core::registry_file::load(Some(registry))
            .unwrap_err()
            .to_string()
    };
    let refused = load(&dir.registry(&prefix, "nowhere-*.parquet"));
    assert!(
        refused.contains("features.toml:9: view \"card_batch\" source: source path"),
        "{refused}"
    );
    assert!(refused.contains("matches no file"), "{refused}");
    std::fs::write(
        dir.0.join("cards.csv"),
        "card_id,event_timestamp,created,n,f\n",
    )
    .unwrap();
    let refused = load(&dir.registry(&prefix, "cards.csv"));
    assert!(
        refused.contains("cards.csv has no column \"label\""),
        "{refused}"
    );
}

/// Killed half-way and run again, a materialization ends where one uninterrupted run does: the
/// latest row of every entity, whatever the order of the file's rows.
#[tokio::test]
async fn a_run_killed_half_way_and_run_again_ends_in_the_same_state() {
    const ENTITIES: usize = 60_000;
    let dir = Dir::new("mat-killed");
    let prefix = unique_prefix("mat-killed");
    // Each entity twice; for every other one the newer row comes first in the file.
    let mut rows: Vec<(String, i64, i64)> = Vec::with_capacity(2 * ENTITIES);
    for n in 0..ENTITIES {
        let (older, newer) = (
            (format!("k{n}"), T0, n as i64),
            (format!("k{n}"), T0 + HOUR, n as i64 + 1),
        );
        if n % 2 == 0 {
            rows.extend([older, newer]);
        } else {
            rows.extend([newer, older]);
        }
    }
    let column = |values: ArrayRef| values;
    let batch = RecordBatch::try_from_iter([
        (
            "card_id",
            column(Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.0.as_str()),
            ))),
        ),
        (
            "event_timestamp",
            column(Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|r| r.1),
            ))),
        ),
        (
            "created",
            column(Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|_| T0),
            ))),
        ),
        (
            "n",
            column(Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|r| r.2),
            ))),
        ),
        (
            "label",
            column(Arc::new(StringArray::from_iter_values(
                rows.iter().map(|_| "x"),
            ))),
        ),
        (
            "f",
            column(Arc::new(Float64Array::from_iter_values(
                rows.iter().map(|_| 1.0),
            ))),
        ),
    ])
    .unwrap();
    let file = std::fs::File::create(dir.0.join("big.parquet")).unwrap();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let registry = dir.registry(&prefix, "big.parquet");
    let (start, end) = (rfc3339(T0), rfc3339(T0 + 2 * HOUR));
    let window = ["materialize", "--start", &start, "--end", &end];
    let args = |registry: &Path| -> Vec<String> {
        let mut args: Vec<String> = window.iter().map(|a| a.to_string()).collect();
        args.extend(["--features".into(), registry.display().to_string()]);
        args.extend(["--redis-url".into(), redis_url()]);
        args
    };
    let mut child = Command::new(BUILD_FEATURES)
        .args(args(&registry))
        .env_remove("REDIS_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Killed once some rows are in, and (almost certainly) before all are.
    let mut conn = raw().await;
    let started = std::time::Instant::now();
    while !conn
        .exists::<_, bool>(format!("{prefix}k10"))
        .await
        .unwrap()
    {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "nothing was written"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let again = build_features(&registry, &window);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let mut read = redis::pipe();
    for n in 0..ENTITIES {
        read.hget(format!("{prefix}k{n}"), "n");
    }
    let stored: Vec<Option<i64>> = read.query_async(&mut conn).await.unwrap();
    let wrong: Vec<_> = stored
        .iter()
        .enumerate()
        .filter(|(n, value)| **value != Some(*n as i64 + 1))
        .take(5)
        .collect();
    assert!(wrong.is_empty(), "not the latest row: {wrong:?}");
    // Gone again: the tests that walk the keyspace share this Redis.
    let mut unlink = redis::pipe();
    for n in 0..ENTITIES {
        unlink.unlink(format!("{prefix}k{n}")).ignore();
    }
    let () = unlink.query_async(&mut conn).await.unwrap();
}

/// Feast's `?async=true`: accepted at once (202, the views named), a second run of the same
/// view refused while the first goes on (409 in Feast's shape) unless forced, and each run's
/// end in `/api/state`: what it wrote, or why it failed where nobody waited for it.
#[tokio::test]
async fn a_background_materialization_is_accepted_at_once_and_its_end_shows_in_the_state() {
    let dir = Dir::new("mat-async");
    let prefix = unique_prefix("mat-async");
    dir.parquet("cards.parquet", &WINDOWED);
    let registry = dir.registry(&prefix, "cards.parquet");
    // A Redis of its own, frozen while the runs are asked for: the first cannot end before the
    // second is asked.
    let redis = OwnRedis::start(free_port()).await;
    let server = TestServer::start_on(
        &redis.url(),
        "mat-async",
        &["--features", registry.to_str().unwrap()],
    )
    .await;
    let window = json!({
        "feature_views": ["card_batch"],
        "start_ts": rfc3339(T0),
        "end_ts": rfc3339(T0 + 3 * HOUR),
    });
    redis.freeze();
    let (status, accepted) = server.feast("/materialize?async=true", &window).await;
    assert_eq!(status, 202, "{accepted}");
    assert_eq!(
        accepted,
        json!({"status": "accepted", "feature_views": ["card_batch"]})
    );
    let (status, busy) = server.feast("/materialize?async=1", &window).await;
    assert_eq!(status, 409, "{busy}");
    assert_eq!(busy["feature_views"], json!(["card_batch"]), "{busy}");
    assert!(
        busy["error"].as_str().unwrap().contains("force=true"),
        "{busy}"
    );
    // The UI's route keeps the same rule (it has no force).
    let (status, busy) = server
        .post_json("/api/materialize", r#"{"views": ["card_batch"]}"#)
        .await;
    assert_eq!(status, 409, "{busy}");
    assert!(busy.contains("already materializing"), "{busy}");
    assert!(!busy.contains("force"), "{busy}");
    // Forced, a run starts anyway (after the one before), up to the server's 8 going on.
    for n in 2..=8 {
        let (status, forced) = server
            .feast("/materialize?async=true&force=true", &window)
            .await;
        assert_eq!(status, 202, "run {n}: {forced}");
    }
    let (status, full) = server
        .feast("/materialize?async=true&force=true", &window)
        .await;
    assert_eq!(status, 503, "{full}");
    redis.thaw();
    // Every run of the state ended (the last 5 are kept).
    let ended = || async {
        let state = server.state().await;
        let all = state["materializations"].as_array().unwrap().clone();
        all.iter().all(|run| !run["finished_unix_ms"].is_null())
    };
    eventually(Duration::from_secs(30), "the runs to end", ended).await;
    let state = server.state().await;
    let runs = state["materializations"].as_array().unwrap();
    assert_eq!(runs.len(), 5, "{state}");
    for run in runs {
        assert_eq!(run["background"], true, "{run}");
        assert_eq!(run["views"], json!(["card_batch"]), "{run}");
        assert!(run["error"].is_null(), "{run}");
        assert_eq!(run["rows_read"], WINDOWED.len(), "{run}");
        // The first run wrote the window's latest rows; these, after it, found them stored.
        assert_eq!(run["written"], 0, "{run}");
    }
    let mut conn = redis.connection().await;
    let label: Option<String> = conn
        .hget(format!("{}c1", server.prefix), "s")
        .await
        .unwrap();
    assert_eq!(label.as_deref(), Some("late"));

    // The file gone since the registry was loaded: accepted, then the run fails, and says so.
    std::fs::remove_file(dir.0.join("cards.parquet")).unwrap();
    let (status, accepted) = server
        .feast(
            "/materialize-incremental?async=true",
            &json!({"end_ts": rfc3339(T0)}),
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    eventually(Duration::from_secs(30), "the failing run to end", ended).await;
    let state = server.state().await;
    let failed = &state["materializations"][0];
    assert_eq!(failed["incremental"], true, "{failed}");
    let error = failed["error"].as_str().unwrap_or_default();
    assert!(error.contains("matches no file"), "{failed}");
    // Counted for alerts, every run since start, not only the 5 listed.
    let metrics = crate::metrics::scrape(&server).await;
    let count = |outcome: &str| {
        let outcome = [("outcome", outcome)];
        crate::metrics::value(&metrics, "feature_store_materializations_total", &outcome)
    };
    assert_eq!((count("done"), count("failed")), (Some(8.0), Some(1.0)));
    let running = crate::metrics::value(&metrics, "feature_store_materializations_running", &[]);
    assert_eq!(running, Some(0.0));
    // A flag FastAPI would not read as a boolean.
    let (status, refused) = server.feast("/materialize?async=maybe", &window).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["detail"][0]["loc"], json!(["query", "async"]));
}

/// The UI's `/api/materialize`: a window, or incrementally, in the background, every view with
/// a source when none is named; the run shows in the state as Feast's do. The registry tells a
/// view with a source without telling where its files are.
#[tokio::test]
async fn the_api_materializes_views_from_their_files_in_the_background() {
    let dir = Dir::new("mat-api");
    let prefix = unique_prefix("mat-api");
    dir.parquet("cards.parquet", &WINDOWED);
    let registry = dir.registry(&prefix, "cards.parquet");
    let server = TestServer::start("mat-api", &["--features", registry.to_str().unwrap()]).await;
    let (status, views) = server.request("GET", "/api/registry", &[], b"").await;
    assert_eq!(status, 200, "{views}");
    let views: serde_json::Value = serde_json::from_str(&views).unwrap();
    assert_eq!(views["views"][0]["source"], json!({}), "{views}");
    assert!(!views.to_string().contains("cards.parquet"), "{views}");

    let last_run = || async {
        let state = server.state().await;
        state["materializations"][0].clone()
    };
    let ended = || async { !last_run().await["finished_unix_ms"].is_null() };
    let marks = || async { server.state().await["watermarks"].clone() };
    let mark = |ended: serde_json::Value, unreadable: bool| json!([{"view": "card_batch", "ended_unix_ms": ended, "unreadable": unreadable}]);
    assert_eq!(marks().await, mark(json!(null), false));
    let window = json!({"start": rfc3339(T0), "end": rfc3339(T0 + 3 * HOUR)}).to_string();
    let (status, accepted) = server.post_json("/api/materialize", &window).await;
    assert_eq!(status, 200, "{accepted}");
    let accepted: serde_json::Value = serde_json::from_str(&accepted).unwrap();
    assert_eq!(
        accepted,
        json!({"feature_views": ["card_batch"], "start_unix_ms": T0, "end_unix_ms": T0 + 3 * HOUR})
    );
    eventually(Duration::from_secs(30), "the windowed run to end", ended).await;
    let run = last_run().await;
    assert_eq!(
        (&run["background"], &run["incremental"], &run["error"]),
        (&json!(true), &json!(false), &json!(null)),
        "{run}"
    );
    assert_eq!(run["rows_read"], WINDOWED.len(), "{run}");
    let window = json!([{"view": "card_batch", "start_unix_ms": T0, "end_unix_ms": T0 + 3 * HOUR}]);
    assert_eq!(run["windows"], window, "{run}");
    assert_windowed(Target::Single, &server.prefix).await;

    // No start: from where the view's last incremental run ended (none yet: its TTL back). A
    // view named twice runs once.
    let incremental =
        json!({"views": ["card_batch", "card_batch"], "end": rfc3339(T0 + 3 * HOUR)}).to_string();
    let (status, accepted) = server.post_json("/api/materialize", &incremental).await;
    assert_eq!(status, 200, "{accepted}");
    assert!(
        accepted.contains(r#""feature_views":["card_batch"],"start_unix_ms":null"#),
        "{accepted}"
    );
    eventually(
        Duration::from_secs(30),
        "the incremental run to end",
        || async {
            let run = last_run().await;
            run["incremental"] == json!(true) && !run["finished_unix_ms"].is_null()
        },
    )
    .await;
    let run = last_run().await;
    assert!(run["error"].is_null(), "{run}");
    // The window it resolved: never run incrementally before, so the view's TTL (a day) back.
    let window = json!([{"view": "card_batch", "start_unix_ms": T0 + 3 * HOUR - 24 * HOUR,
        "end_unix_ms": T0 + 3 * HOUR}]);
    assert_eq!(run["windows"], window, "{run}");
    // The next starts where it ended; a windowed run moved nothing.
    assert_eq!(marks().await, mark(json!(T0 + 3 * HOUR), false));

    // A mark someone else wrote, a word or a hash: the state says so (and still answers), and
    // an incremental run fails saying what to do.
    let mut conn = raw().await;
    let mark_key = format!("{}_materialized:card_batch", server.prefix);
    let _: () = conn.set(&mark_key, "soon").await.unwrap();
    assert_eq!(marks().await, mark(json!(null), true));
    let _: () = conn.del(&mark_key).await.unwrap();
    let _: () = conn.hset(&mark_key, "at", 1).await.unwrap();
    assert_eq!(marks().await, mark(json!(null), true));
    let (status, accepted) = server.post_json("/api/materialize", "{}").await;
    assert_eq!(status, 200, "{accepted}");
    eventually(
        Duration::from_secs(30),
        "the run on an unreadable mark to fail",
        || async { last_run().await["error"].is_string() },
    )
    .await;
    let run = last_run().await;
    let error = run["error"].as_str().unwrap();
    assert!(
        error.contains("holds something other than a time: delete it"),
        "{run}"
    );
    let _: () = conn.del(&mark_key).await.unwrap();

    for (body, status_wanted, said) in [
        (
            json!({"views": ["nope"]}),
            404,
            "Feature view nope does not exist",
        ),
        (json!({"start": "yesterday"}), 422, r#""field":"start""#),
        (
            json!({"start": rfc3339(T0 + HOUR), "end": rfc3339(T0)}),
            422,
            "must not be after end",
        ),
    ] {
        let (status, refused) = server
            .post_json("/api/materialize", &body.to_string())
            .await;
        assert_eq!(status, status_wanted, "{body}: {refused}");
        assert!(refused.contains(said), "{body}: {refused}");
    }
    // Feast's route finds its views by the same rule, and refuses in Feast's shape.
    let unknown =
        json!({"feature_views": ["nope"], "start_ts": rfc3339(T0), "end_ts": rfc3339(T0)});
    let (status, refused) = server.feast("/materialize", &unknown).await;
    assert_eq!(status, 404, "{refused}");
    assert!(
        refused.to_string().contains("FeatureViewNotFoundException"),
        "{refused}"
    );
}

/// Behind a load balancer a page's poll reaches any server, so each lists every server's runs,
/// naming the one running it; a run whose server fell silent reads as ended there, not as
/// running for ever; what another wrote in that hash that does not read is left out, and the
/// entries of servers silent for an hour are dropped.
#[tokio::test]
async fn every_server_sharing_the_lease_lists_every_servers_runs() {
    let dir = Dir::new("mat-shared");
    let prefix = unique_prefix("mat-shared");
    dir.parquet("cards.parquet", &WINDOWED);
    let registry = dir.registry(&prefix, "cards.parquet");
    let shared = [
        "--features",
        registry.to_str().unwrap(),
        "--key-prefix",
        &prefix,
    ];
    let first = TestServer::start("mat-shared", &shared).await;
    let quiet = ["--no-reset", "--initial-users", "0"];
    let second = TestServer::start("mat-shared", &[&shared[..], &quiet].concat()).await;
    let name = |state: &serde_json::Value| state["lease"]["replica"].as_str().unwrap().to_owned();
    let (first_name, second_name) = (name(&first.state().await), name(&second.state().await));
    assert_ne!(first_name, second_name);

    // Silent for a minute with a run going on, for two hours, and a value that does not read.
    let mut conn = raw().await;
    let runs_key = format!("{{{prefix}}}runs");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let lost = json!([{"views": ["card_batch"], "background": true, "asked_unix_ms": now - 90_000,
        "rows_read": 4, "written": 3, "finished_unix_ms": null}]);
    let _: () = conn
        .hset_multiple(
            &runs_key,
            &[
                ("gone:8093#1-0001", format!("{} {lost}", now - 60_000)),
                ("ancient:8093#1-0002", format!("{} []", now - 2 * HOUR)),
                ("junk", "not a word".to_owned()),
            ],
        )
        .await
        .unwrap();

    let window = json!({"start": rfc3339(T0), "end": rfc3339(T0 + 3 * HOUR)}).to_string();
    let (status, accepted) = first.post_json("/api/materialize", &window).await;
    assert_eq!(status, 200, "{accepted}");
    let first_run_ended = |state: &serde_json::Value| {
        state["materializations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|run| run["server"] == json!(first_name) && !run["finished_unix_ms"].is_null())
    };
    eventually(
        Duration::from_secs(30),
        "the other server to list the first's run, ended",
        || async { first_run_ended(&second.state().await) },
    )
    .await;
    let state = second.state().await;
    let runs = state["materializations"].as_array().unwrap();
    let run = (runs.iter())
        .find(|run| run["server"] == json!(first_name))
        .unwrap();
    assert_eq!(run["rows_read"], WINDOWED.len(), "{run}");
    assert!(run["error"].is_null(), "{run}");
    let gone = (runs.iter())
        .find(|run| run["server"] == "gone:8093#1-0001")
        .unwrap_or_else(|| panic!("{state}"));
    assert_eq!(gone["finished_unix_ms"], now - 60_000, "{gone}");
    assert!(
        gone["error"].as_str().unwrap().contains("said nothing"),
        "{gone}"
    );
    assert_eq!(runs.len(), 2, "nothing of the others: {state}");
    // The first lists the same runs.
    assert!(first_run_ended(&first.state().await));
    // Its publishing dropped the server silent for two hours, and kept the others.
    let ancient: bool = conn
        .hexists(&runs_key, "ancient:8093#1-0002")
        .await
        .unwrap();
    assert!(!ancient);
    let fields: Vec<String> = conn.hkeys(&runs_key).await.unwrap();
    assert!(fields.contains(&first_name), "{fields:?}");
    assert!(
        !fields.contains(&second_name),
        "it never ran one: {fields:?}"
    );

    // A run going on at another server, as it said a moment ago: a background run of the same
    // view is refused here too, unless forced.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let busy = json!([{"views": ["card_batch"], "background": true, "asked_unix_ms": now,
        "finished_unix_ms": null}]);
    let _: () = conn
        .hset(&runs_key, "busy:8093#1-0003", format!("{now} {busy}"))
        .await
        .unwrap();
    eventually(
        Duration::from_secs(5),
        "the other server's run to hold the view",
        || async {
            let (status, _) = second.post_json("/api/materialize", &window).await;
            status == 409
        },
    )
    .await;
    let forced = json!({"feature_views": ["card_batch"], "start_ts": rfc3339(T0),
        "end_ts": rfc3339(T0 + 3 * HOUR)});
    let (status, accepted) = second
        .feast("/materialize?async=true&force=true", &forced)
        .await;
    assert_eq!(status, 202, "{accepted}");
}

//! `make bench`'s rows beside Feast's benchmark matrix: a registry of 250 features over 5 views
//! of one entity (`item`), 1,000,000 items stored, read through `/get-online-features` by
//! feature service: 1 row × 50 features, 10 × 50, 100 × 50 and 1 × 250, at c=1 (p50, p99) and
//! c=32 (requests per second); and 20 features from 20 views against 20 from 1 view, on a
//! second entity (`wide`) of the same registry.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use feature_store_core::registry_file;
use feature_store_core::store::{FeatureStore, StoreConfig};
use feature_store_core::synth::{entity_id, synthesize};
use serde_json::json;

use crate::{median, say, wrk, HostTicks, ReleaseServer, Rounds, Row, Wrk, ROUNDS, WRK_SECONDS};

/// Items stored while the matrix is read.
const ITEMS: u64 = 1_000_000;
/// Entities of the 20-view comparison.
const WIDES: u64 = 10_000;
/// Rows of each 20-view (and 1-view) read: one HMGET each.
const WIDE_ROWS: u64 = 50;
/// The shapes of Feast's matrix: rows, features, and the feature service that reads them.
const SHAPES: [(u64, usize, &str); 4] = [
    (1, 50, "s50"),
    (10, 50, "s50"),
    (100, 50, "s50"),
    (1, 250, "s250"),
];
/// Feast's published p99 of its Go feature server (16 vCPUs), for the shapes it measured.
const FEAST_GO_P99_MS: [(usize, usize, f64); 2] = [(1, 50, 1.78), (100, 50, 22.18)];

/// The matrix registry: `item` with views v0…v4 of 50 features each (ints and floats in turn),
/// and `wide` with `solo` (20 features) and w00…w19 (one feature each); a service per read.
fn registry(dir: &Path) -> PathBuf {
    let mut text = String::new();
    for (name, key) in [("item", "item_id"), ("wide", "wide_id")] {
        text += &format!(
            "[[entities]]\nname = \"{name}\"\njoin_key = \"{key}\"\nkey_prefix = \"mx:{name}:\"\n\n"
        );
    }
    let mut view = |name: &str, entity: &str, features: Vec<String>| {
        let features: Vec<String> = features
            .iter()
            .enumerate()
            .map(|(at, f)| {
                let kind = if at % 2 == 0 { "int" } else { "float" };
                format!("{{ name = \"{f}\", type = \"{kind}\" }}")
            })
            .collect();
        text += &format!(
            "[[views]]\nname = \"{name}\"\nentity = \"{entity}\"\nkind = \"batch\"\n\
             ttl_seconds = 864000\nfeatures = [{}]\n\n",
            features.join(", ")
        );
    };
    for v in 0..5 {
        view(
            &format!("v{v}"),
            "item",
            (0..50).map(|f| format!("v{v}f{f:02}")).collect(),
        );
    }
    view(
        "solo",
        "wide",
        (0..20).map(|f| format!("s{f:02}")).collect(),
    );
    for v in 0..20 {
        view(&format!("w{v:02}"), "wide", vec![format!("w{v:02}f")]);
    }
    let spread: Vec<String> = (0..20).map(|v| format!("\"w{v:02}\"")).collect();
    for (name, views) in [
        ("s50", "\"v0\"".to_owned()),
        ("s250", "\"v0\", \"v1\", \"v2\", \"v3\", \"v4\"".to_owned()),
        ("solo20", "\"solo\"".to_owned()),
        ("spread20", spread.join(", ")),
    ] {
        text += &format!("[[services]]\nname = \"{name}\"\nfeatures = [{views}]\n\n");
    }
    let path = dir.join("matrix.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// HMGET's calls and µs so far, from `INFO commandstats`.
fn hmget_stats(info: &str) -> (f64, f64) {
    let line = info
        .lines()
        .find_map(|line| line.strip_prefix("cmdstat_hmget:"))
        .unwrap_or("");
    let field = |name: &str| {
        line.split(',')
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
            .and_then(|value| value.parse().ok())
            .unwrap_or(0.0)
    };
    (field("calls"), field("usec"))
}

/// A read of `service` for the first `rows` entities of `entity`.
fn body(service: &str, join_key: &str, entity: &str, rows: u64) -> String {
    let ids: Vec<String> = (1..=rows)
        .map(|n| entity_id(entity, n).to_string())
        .collect();
    json!({"features": service, "entities": {join_key: ids}}).to_string()
}

pub async fn rows(redis_url: &str, port: &str, db: u8) -> Vec<Row> {
    let dir = std::env::temp_dir().join(format!("fs-bench-matrix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let registry_path = registry(&dir);
    let registry = registry_file::load(Some(&registry_path)).unwrap();
    let url = format!("{redis_url}/{db}");
    // A hash of up to 512 fields as a listpack (hash-max-listpack-entries: Redis 8.2's default,
    // set for a Redis whose default is 7's 128): an item's 260 fields take about 3 KB, 3 GB for
    // the million. HMGET searches a listpack field by field: 27 µs for 50 fields, 360 µs for
    // 255; as hash tables 15 and 45 µs, but 15 KB an item, 15 GB for the million.
    let cli = |args: &[&str]| {
        let out = Command::new("redis-cli")
            .args(["-p", port, "-n", &db.to_string()])
            .args(args)
            .output()
            .expect("run redis-cli");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let entries = cli(&["config", "get", "hash-max-listpack-entries"]);
    let entries = entries.lines().nth(1).unwrap_or("512").to_owned();
    cli(&["config", "set", "hash-max-listpack-entries", "512"]);
    for (entity, count) in [
        (&registry.entities[0], ITEMS),
        (&registry.entities[1], WIDES),
    ] {
        say(&format!("matrix: bulk load of {count} {}s", entity.name));
        let store = FeatureStore::connect(&url, StoreConfig::of_entity(&registry, entity))
            .await
            .unwrap();
        store.reset().await.unwrap();
        let started = Instant::now();
        store
            .bulk_load(synthesize(&registry.of_entity(entity), count, 11), None)
            .await
            .unwrap();
        say(&format!(
            "matrix: {count} {}s in {:.1} s",
            entity.name,
            started.elapsed().as_secs_f64()
        ));
    }
    let memory = cli(&["info", "memory"]);
    let memory = memory
        .lines()
        .find_map(|line| line.strip_prefix("used_memory_human:"))
        .unwrap_or("?")
        .to_owned();
    let server = ReleaseServer::start(&[
        "--features",
        registry_path.to_str().unwrap(),
        "--redis-url",
        &url,
        "--no-worker",
        "--no-reset",
        "--initial-users",
        "0",
    ]);
    let endpoint = format!("{}/get-online-features", server.url);
    let stored = format!("{ITEMS} items stored");
    let wide_stored = format!("{WIDES} wide entities stored beside {stored}");
    let mut rows = Vec::new();
    let requests: Vec<String> = SHAPES
        .iter()
        .map(|&(entities, _, service)| body(service, "item_id", "item", entities))
        .collect();
    // c=1 in interleaved rounds, each row's figure the median p99: one stall of a shared host is
    // not the row's figure, and what drifts over the rounds weighs the same on every shape.
    let mut c1: Vec<Vec<Wrk>> = SHAPES.iter().map(|_| Vec::new()).collect();
    // 20 features of `WIDE_ROWS` entities: from 20 views (one feature and one event time each)
    // against the same from 1 view, in the same rounds, which goes first alternating.
    let spread = body("spread20", "wide_id", "wide", WIDE_ROWS);
    let solo = body("solo20", "wide_id", "wide", WIDE_ROWS);
    // Each also split in two: Redis's own time per HMGET (its command statistics, taken around
    // the run), and what is left of the read's p50 besides its HMGETs.
    let (mut views, mut redis_views, mut rest_views) =
        (Rounds::new(), Rounds::new(), Rounds::new());
    let read = |request: &str| {
        let before = hmget_stats(&cli(&["info", "commandstats"]));
        let run = wrk(&endpoint, 1, WRK_SECONDS, Some(request));
        let (calls, usec) = hmget_stats(&cli(&["info", "commandstats"]));
        let per_call_us = (usec - before.1) / (calls - before.0).max(1.0);
        (run, per_call_us)
    };
    // The host's own tail in the same rounds: `/livez` of the same server, which asks nothing
    // of Redis, so a p99 target missed can be told from the machine's floor under it.
    let livez = format!("{}/livez", server.url);
    let mut floor = Vec::new();
    let started = HostTicks::now();
    for round in 1..=ROUNDS {
        say(&format!("matrix: round {round} of {ROUNDS} at c=1"));
        for (runs, request) in c1.iter_mut().zip(&requests) {
            runs.push(wrk(&endpoint, 1, WRK_SECONDS, Some(request)));
        }
        floor.push(wrk(&livez, 1, WRK_SECONDS, None));
        let ((spread_run, spread_us), (solo_run, solo_us)) = if round % 2 == 1 {
            let spread_read = read(&spread);
            (spread_read, read(&solo))
        } else {
            let solo_read = read(&solo);
            (read(&spread), solo_read)
        };
        views.push(spread_run.p99_ms, solo_run.p99_ms);
        redis_views.push(spread_us, solo_us);
        let rest_ms =
            |run: &Wrk, per_call_us: f64| run.p50_ms - WIDE_ROWS as f64 * per_call_us / 1000.0;
        rest_views.push(rest_ms(&spread_run, spread_us), rest_ms(&solo_run, solo_us));
    }
    let steal = started.steal_since();
    let mut floor_p99s: Vec<f64> = floor.iter().map(|run| run.p99_ms).collect();
    let floor_p99 = median(&mut floor_p99s);
    for (at, &(entities, features, _)) in SHAPES.iter().enumerate() {
        let c32 = wrk(&endpoint, 32, WRK_SECONDS, Some(&requests[at]));
        let target = match (entities, features) {
            (1, 50) => Some(1.0),
            (100, 50) => Some(5.0),
            _ => None,
        };
        // A shape with a target is held to it; the others are set beside 1 row × 50 features
        // of the same round.
        let mut rounds = Rounds::new();
        for (run, one_by_50) in c1[at].iter().zip(&c1[0]) {
            rounds.push(run.p99_ms, target.unwrap_or(one_by_50.p99_ms));
        }
        let p99s: Vec<String> = c1[at]
            .iter()
            .map(|run| format!("{:.2}", run.p99_ms))
            .collect();
        let mut p50s: Vec<f64> = c1[at].iter().map(|run| run.p50_ms).collect();
        let mut detail = format!(
            "p99 of each round {} ms, median p50 {:.3} ms; GET /livez (no Redis) p99 {floor_p99:.2} ms in the same rounds; host steal {steal:.0} % over the c=1 rounds; c=32: {:.0} requests/s (p99 {:.2} ms); Redis holds {memory}",
            p99s.join(" / "),
            median(&mut p50s),
            c32.per_second,
            c32.p99_ms
        );
        if let Some((_, _, feast_ms)) = FEAST_GO_P99_MS
            .iter()
            .find(|(e, f, _)| (*e as u64, *f) == (entities, features))
        {
            detail += &format!("; Feast's Go server p99 {feast_ms} ms on 16 vCPUs");
        }
        let path = format!(
            "matrix: POST /get-online-features, feature service of {features} features from {} view(s), {entities} row(s), c=1, {stored} (p99 ms)",
            features / 50
        );
        rows.push(match target {
            Some(_) => rounds.row(
                &path,
                "ms",
                "the target; Feast's Go server: see detail",
                Some(1.0),
                detail,
            ),
            None => rounds.row(
                &path,
                "ms",
                "the 1 row × 50 features row, same round",
                None,
                detail,
            ),
        });
    }
    let mut livez_rounds = Rounds::new();
    for (run, one_by_50) in floor.iter().zip(&c1[0]) {
        livez_rounds.push(run.p99_ms, one_by_50.p99_ms);
    }
    rows.push(
        livez_rounds.row(
            &format!("matrix: GET /livez of the same server, c=1, {stored} (p99 ms)"),
            "ms",
            "the 1 row × 50 features read, same round",
            None,
            "the host's and the HTTP stack's own tail, no Redis asked: the part of the read's p99 \
         that no store code sets; information"
                .into(),
        ),
    );
    rows.push(views.row(
        &format!("matrix: {WIDE_ROWS} rows × 20 features from 20 views, c=1, {wide_stored} (p99 ms)"),
        "ms",
        "the same 20 features from 1 view, same round",
        Some(1.5),
        format!("host steal {steal:.0} % over the c=1 rounds; Feast over Redis: 21.21 ms at 20 views against 1.32 ms at 1 (16×)"),
    ));
    rows.push(
        redis_views.row(
            &format!("matrix: the 20-view read's HMGET in Redis itself (INFO commandstats), {wide_stored} (µs per entity)"),
            "µs",
            "the 1-view read's, same round",
            None,
            "a listpack HMGET searches each field from the hash's head: the 20-view read asks 40 \
         fields (a feature and an event time per view) of an 82-field hash, the 1-view read 21, \
         the first 20 of them at its head"
                .into(),
        ),
    );
    rows.push(rest_views.row(
        &format!("matrix: the 20-view read's c=1 p50 less its {WIDE_ROWS} HMGETs in Redis, {wide_stored} (ms)"),
        "ms",
        "the 1-view read's, same round",
        None,
        "the server, the network and the client: what is left once Redis's own time is taken out"
            .into(),
    ));
    drop(server);
    cli(&["flushdb"]);
    cli(&["config", "set", "hash-max-listpack-entries", &entries]);
    let _ = std::fs::remove_dir_all(&dir);
    rows
}

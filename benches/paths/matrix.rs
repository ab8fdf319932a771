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

use crate::{back_to_back, say, single, wrk, ReleaseServer, Row, WRK_SECONDS};

/// Items stored while the matrix is read.
const ITEMS: u64 = 1_000_000;
/// Entities of the 20-view comparison.
const WIDES: u64 = 10_000;
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
    // 1,000,000 hashes of 260 fields as Redis's hash tables would need some 18 GB; as listpacks
    // (hash-max-listpack-entries above 260) about 4 GB, which this 24 GB machine holds.
    let cli = |args: &[&str]| {
        let out = Command::new("redis-cli")
            .args(["-p", port, "-n", &db.to_string()])
            .args(args)
            .output()
            .expect("run redis-cli");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let entries = cli(&["config", "get", "hash-max-listpack-entries"]);
    let entries = entries.lines().nth(1).unwrap_or("128").to_owned();
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
    let mut rows = Vec::new();
    let mut p99_1x50 = 0.0;
    for (entities, features, service) in [
        (1, 50, "s50"),
        (10, 50, "s50"),
        (100, 50, "s50"),
        (1, 250, "s250"),
    ] {
        let request = body(service, "item_id", "item", entities);
        let c1 = wrk(&endpoint, 1, WRK_SECONDS, Some(&request));
        let c32 = wrk(&endpoint, 32, WRK_SECONDS, Some(&request));
        let detail = format!(
            "p50 {:.3} ms; c=32: {:.0} requests/s (p99 {:.2} ms)",
            c1.p50_ms, c32.per_second, c32.p99_ms
        );
        let path = format!(
            "matrix: POST /get-online-features, feature service of {features} features from {} view(s), {entities} row(s), c=1, {stored} (p99 ms)",
            features / 50
        );
        let target = match (entities, features) {
            (1, 50) => Some(1.0),
            (100, 50) => Some(5.0),
            _ => None,
        };
        let feast = FEAST_GO_P99_MS
            .iter()
            .find(|(e, f, _)| (*e as u64, *f) == (entities, features));
        rows.push(match (target, feast) {
            (Some(target_ms), Some((_, _, feast_ms))) => single(
                &path,
                c1.p99_ms,
                "ms",
                (target_ms, "the target; Feast's Go server: see detail"),
                Some(1.0),
                format!("{detail}; Feast's Go server p99 {feast_ms} ms on 16 vCPUs"),
            ),
            _ => single(
                &path,
                c1.p99_ms,
                "ms",
                (p99_1x50, "the 1 row × 50 features row"),
                None,
                detail,
            ),
        });
        if (entities, features) == (1, 50) {
            p99_1x50 = c1.p99_ms;
        }
    }
    // 20 features of 50 entities: from 1 view, then from 20 (one feature and one event time each).
    let solo = body("solo20", "wide_id", "wide", 50);
    let spread = body("spread20", "wide_id", "wide", 50);
    let (spread_p99, solo_p99) = back_to_back(
        || wrk(&endpoint, 1, WRK_SECONDS, Some(&spread)).p99_ms,
        || wrk(&endpoint, 1, WRK_SECONDS, Some(&solo)).p99_ms,
    );
    rows.push(single(
        &format!("matrix: 50 rows × 20 features from 20 views, c=1, {WIDES} wide entities stored beside {stored} (p99 ms)"),
        spread_p99,
        "ms",
        (solo_p99, "the same 20 features from 1 view, measured back to back"),
        Some(1.5),
        "Feast over Redis: 21.21 ms at 20 views against 1.32 ms at 1 (16×)".into(),
    ));
    drop(server);
    cli(&["flushdb"]);
    cli(&["config", "set", "hash-max-listpack-entries", &entries]);
    let _ = std::fs::remove_dir_all(&dir);
    rows
}

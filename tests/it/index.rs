//! The background entity index: it converges to the truth after loads, resets and expiry, and
//! requests read it instead of scanning the store.

use std::sync::Arc;
use std::time::Duration;

use feature_store_core::index::EntityIndex;
use feature_store_core::store::{reset_all, FeatureStore, StoreConfig};
use feature_store_core::synth::synthesize_users;
use feature_store_types::domain::KeyPrefix;

use crate::support::{
    eventually, free_port, id, lease_of, store_with, OwnRedis, TestServer, RISK, TX_7D,
};

#[tokio::test]
async fn the_index_converges_after_loads_resets_and_expiry() {
    let store = Arc::new(store_with("index", 3600, 300).await);
    let index = EntityIndex::start(Arc::clone(&store), lease_of(&store).await, "user");
    assert_eq!(index.refresh().await.count, 0);
    store
        .bulk_load(synthesize_users(1_500, 1), None)
        .await
        .unwrap();
    let snapshot = index.refresh().await;
    assert_eq!(snapshot.count, 1_500);
    assert_eq!(snapshot.ids.len(), feature_store_core::index::ID_LIST_LIMIT);
    assert_eq!(snapshot.ids[..3], [id("u0001"), id("u0002"), id("u0003")]);
    assert_eq!(snapshot.sample.len(), 1_500);
    assert!(snapshot.as_of.is_some());
    store.reset().await.unwrap();
    assert_eq!(index.refresh().await.count, 0);
    // Expiry is seen by the passes the index makes on its own, without being asked.
    store
        .bulk_load(synthesize_users(40, 1), Some(2))
        .await
        .unwrap();
    assert_eq!(index.refresh().await.count, 40);
    eventually(
        Duration::from_secs(10),
        "the index to see expiry",
        || async { index.snapshot().count == 0 },
    )
    .await;
}

/// SCAN calls Redis has served, from `INFO commandstats`.
async fn scan_calls(url: &str) -> u64 {
    let mut conn = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await
        .unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix("cmdstat_scan:calls="))
        .map_or(0, |rest| rest.split(',').next().unwrap().parse().unwrap())
}

/// Several entities, even of prefixes with no common start, are counted in one walk: a pass
/// costs Redis the SCAN calls of one prefix's walk, not one walk per entity.
#[tokio::test]
async fn one_walk_indexes_every_entity() {
    let redis = OwnRedis::start(free_port()).await;
    let store_of = |prefix: &str| StoreConfig {
        key_prefix: KeyPrefix::parse(prefix).unwrap(),
        ..StoreConfig::default()
    };
    let users = Arc::new(
        FeatureStore::connect(&redis.url(), store_of("p:user:"))
            .await
            .unwrap(),
    );
    let merchants = Arc::new(users.for_entity(store_of("p:user.merchant:")));
    let devices = Arc::new(users.for_entity(store_of("q:device:")));
    for (store, count) in [(&users, 300), (&merchants, 200), (&devices, 100)] {
        store
            .bulk_load(synthesize_users(count, 1), Some(600))
            .await
            .unwrap();
    }
    let indexes = EntityIndex::start_all(
        vec![
            (Arc::clone(&users), "user"),
            (Arc::clone(&merchants), "merchant"),
            (Arc::clone(&devices), "device"),
        ],
        lease_of(&users).await,
    );
    let counts = |indexes: &[EntityIndex]| -> Vec<u64> {
        indexes.iter().map(|index| index.snapshot().count).collect()
    };
    indexes[0].refresh().await;
    assert_eq!(counts(&indexes), [300, 200, 100]);
    assert_eq!(indexes[1].snapshot().ids[0], id("u0001"));
    // The fewest SCAN calls of a few refreshes (a pass of the index's own may overlap one).
    let mut pass = u64::MAX;
    let mut walk = u64::MAX;
    for _ in 0..3 {
        let before = scan_calls(&redis.url()).await;
        indexes[2].refresh().await;
        pass = pass.min(scan_calls(&redis.url()).await - before);
        let before = scan_calls(&redis.url()).await;
        assert_eq!(devices.count().await.unwrap(), 100);
        walk = walk.min(scan_calls(&redis.url()).await - before);
    }
    assert!(
        pass <= walk,
        "a pass over 3 entities made {pass} SCAN calls, a walk of one prefix {walk}"
    );
    assert_eq!(counts(&indexes), [300, 200, 100]);
    // A reset of all three is one walk too, and leaves what is no entity of theirs.
    let mut raw = redis.connection().await;
    let _: () = redis::pipe()
        .set("p:user:u9999", "a string")
        .hset("p:other:x", "f", "1")
        .hset("p:user:a:b", "f", "1")
        .query_async(&mut raw)
        .await
        .unwrap();
    // No pass of the index's own meanwhile: dropping the last entity's index stops its task.
    drop(indexes);
    let before = scan_calls(&redis.url()).await;
    let deleted = reset_all(&[&*users, &*merchants, &*devices]).await.unwrap();
    let calls = scan_calls(&redis.url()).await - before;
    assert_eq!(deleted, [300, 200, 100]);
    assert!(
        calls <= walk + 1,
        "a reset of 3 entities made {calls} SCAN calls, a walk {walk}"
    );
    let left: u64 = redis::cmd("DBSIZE").query_async(&mut raw).await.unwrap();
    let kept: u64 = redis::cmd("EXISTS")
        .arg(&["p:user:u9999", "p:other:x", "p:user:a:b"])
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(kept, 3, "{left} keys left");
}

#[tokio::test]
async fn state_and_batch_read_make_no_scan_of_their_own() {
    let redis = OwnRedis::start(free_port()).await;
    let server = TestServer::start_on(&redis.url(), "no-scan", &[]).await;
    let before = scan_calls(&redis.url()).await;
    for _ in 0..25 {
        let (status, body) = server.request("GET", "/api/state", &[], b"").await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = server
            .post_json("/api/batch-read", r#"{"count":100}"#)
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let scans = scan_calls(&redis.url()).await - before;
    // 50 requests; the only SCANs are the index's own passes (one call each at 20 entities).
    assert!(scans <= 5, "{scans} SCAN calls during 50 requests");
}

#[tokio::test]
async fn batch_read_by_ids_keeps_order_and_reports_missing_ids() {
    let server = TestServer::start("batch-ids", &[]).await;
    let (status, body) = server
        .post_json(
            "/api/batch-read",
            &serde_json::json!({"ids": ["u0003", "ghost", "u0003", "u0001"], "fields": [RISK, TX_7D]})
                .to_string(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let batch: serde_json::Value = serde_json::from_str(&body).unwrap();
    let rows: Vec<(String, u64)> = batch["sample"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row["id"].as_str().unwrap().to_owned(),
                row["field_count"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected = [("u0003", 2), ("ghost", 0), ("u0003", 2), ("u0001", 2)];
    assert_eq!(rows, expected.map(|(id, n)| (id.to_owned(), n)));
    for body in [
        serde_json::json!({"count": 5, "ids": ["u0001"]}),
        serde_json::json!({"fields": [RISK]}),
        serde_json::json!({"ids": []}),
        serde_json::json!({"ids": ["a:b"]}),
    ] {
        let (status, answer) = server.post_json("/api/batch-read", &body.to_string()).await;
        assert_eq!(status, 422, "{body}: {answer}");
    }
}

//! Integrity: every entity key has a key TTL, always; a streaming write never creates an entity;
//! keys under the prefix that are not entities are reported, skipped and never touched.

use std::sync::Arc;
use std::time::{Duration, Instant};

use feature_store_core::index::EntityIndex;
use feature_store_core::store::{
    EntityRow, EventRule, FeatureStore, SkipReason, StoreConfig, StoreError, StreamingOutcome,
    WrongType,
};
use feature_store_core::synth::{streaming_features, synthesize_users, user_id};
use feature_store_core::worker::{StreamingWorker, WorkerConfig};
use feature_store_types::domain::KeyPrefix;
use feature_store_types::schema::FeatureKind;
use rand::SeedableRng;
use redis::AsyncCommands;

use crate::support::{id, lease_of, names_of, present, raw, redis_url, store_with, unique_prefix};

fn event() -> Vec<(String, String)> {
    streaming_features(
        &feature_store_core::registry_file::demo(),
        &mut rand_chacha::ChaCha8Rng::seed_from_u64(1),
        0,
    )
}

/// Every key under `prefix` with its key TTL, read with a raw connection.
async fn key_ttls(prefix: &str) -> Vec<(String, i64)> {
    let mut conn = raw().await;
    let keys: Vec<String> = conn.keys(format!("{prefix}*")).await.unwrap();
    let mut ttls = Vec::new();
    for key in keys {
        let ttl: i64 = conn.ttl(&key).await.unwrap();
        ttls.push((key, ttl));
    }
    ttls
}

/// The trigger of the zombie bug: the worker samples an entity, its key expires, the write
/// recreated it with only streaming fields and no key TTL, and it then lived for ever.
#[tokio::test]
async fn expired_entities_stay_expired_while_the_worker_runs() {
    let store = Arc::new(store_with("zombies", 3, 300).await);
    let prefix = store.config().key_prefix.to_string();
    let index = Arc::new(EntityIndex::start(
        Arc::clone(&store),
        lease_of(&store).await,
        "user",
    ));
    let worker = StreamingWorker::new(
        Arc::clone(&store),
        Arc::clone(&index),
        WorkerConfig {
            tick: Duration::from_millis(50),
            users_per_tick: 500,
            seed: 3,
            ..WorkerConfig::default()
        },
    );
    worker.start();
    store
        .bulk_load(synthesize_users(2_000, 1), None)
        .await
        .unwrap();
    let started = Instant::now();
    let mut seen_empty_since = None;
    // Past the 3 s TTL, and then long enough to see that nothing comes back.
    while started.elapsed() < Duration::from_secs(12) {
        let ttls = key_ttls(&prefix).await;
        let immortal: Vec<_> = ttls.iter().filter(|(_, ttl)| *ttl == -1).collect();
        assert!(immortal.is_empty(), "keys without a key TTL: {immortal:?}");
        if ttls.is_empty() {
            seen_empty_since.get_or_insert(started.elapsed());
        } else {
            assert!(seen_empty_since.is_none(), "an entity came back: {ttls:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stats = worker.stats();
    worker.stop().await;
    assert!(seen_empty_since.is_some(), "entities never expired");
    assert_eq!(store.count().await.unwrap(), 0);
    assert!(stats.writes_count > 0, "the worker never wrote: {stats:?}");
    assert!(stats.skipped_count > 0, "no write was skipped: {stats:?}");
}

#[tokio::test]
async fn a_streaming_write_never_creates_an_entity_nor_touches_a_foreign_key() {
    let store = store_with("streaming-guard", 3600, 300).await;
    let mut conn = raw().await;
    // No entity: nothing is created.
    assert_no_entity_is_created(&store).await;
    // A string under the prefix: untouched.
    let _: () = conn.set(store.key(&id("text")), "x").await.unwrap();
    assert_eq!(
        store.update_streaming(&id("text"), &event()).await.unwrap(),
        StreamingOutcome::Skipped(SkipReason::NotAHash)
    );
    assert_eq!(
        conn.get::<_, String>(store.key(&id("text"))).await.unwrap(),
        "x"
    );
    // A hash nobody gave a key TTL: not an entity of the batch path, left as it is.
    let _: () = conn.hset(store.key(&id("bare")), "a", "1").await.unwrap();
    assert_eq!(
        store.update_streaming(&id("bare"), &event()).await.unwrap(),
        StreamingOutcome::Skipped(SkipReason::NoKeyTtl)
    );
    assert_eq!(
        conn.hlen::<_, u64>(store.key(&id("bare"))).await.unwrap(),
        1
    );
    // The 7.4 write path keeps the same promise.
    assert_no_entity_is_created(&store.with_multi_exec_streaming_writes()).await;
}

async fn assert_no_entity_is_created(store: &FeatureStore) {
    let ghost = id("ghost");
    assert_eq!(
        store.update_streaming(&ghost, &event()).await.unwrap(),
        StreamingOutcome::Skipped(SkipReason::NoEntity)
    );
    let created: bool = raw().await.exists(store.key(&ghost)).await.unwrap();
    assert!(!created, "a streaming write created {ghost}");
}

#[tokio::test]
async fn a_key_that_is_not_a_hash_fails_only_its_own_entity() {
    let store = store_with("foreign", 3600, 300).await;
    store.bulk_load(synthesize_users(3, 1), None).await.unwrap();
    let mut conn = raw().await;
    let foreign = store.key(&id("aaa"));
    let _: () = conn.set(&foreign, "x").await.unwrap();
    let names = names_of(FeatureKind::Batch);

    let err = store.read(&id("aaa"), &names).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::NotAHash { found, .. } if found == "string"),
        "{err:?}"
    );
    assert!(matches!(
        store.read_with_ttls(&id("aaa"), &names).await,
        Err(StoreError::NotAHash { .. })
    ));
    assert!(matches!(
        store.read_all(&id("aaa")).await,
        Err(StoreError::NotAHash { .. })
    ));
    let ids = [user_id(1), id("aaa"), user_id(2)];
    let rows = store.batch_read(&ids, &names).await.unwrap();
    assert_eq!(present(&names, &rows[0]).unwrap().len(), names.len());
    assert_eq!(rows[1], Err(WrongType));
    assert_eq!(present(&names, &rows[2]).unwrap().len(), names.len());

    // Not counted, not listed, not deleted, and a bulk load over it leaves it alone.
    assert_eq!(store.count().await.unwrap(), 3);
    let report = store
        .bulk_load(
            [EntityRow {
                id: id("aaa"),
                fields: vec![("a".into(), "1".into())],
                cleared: Vec::new(),
            }],
            None,
        )
        .await
        .unwrap();
    assert_eq!((report.written, report.not_hashes.len()), (0, 1));
    assert_eq!(
        conn.ttl::<_, i64>(&foreign).await.unwrap(),
        -1,
        "a TTL was added"
    );
    assert_eq!(store.reset().await.unwrap(), 3);
    assert_eq!(conn.get::<_, String>(&foreign).await.unwrap(), "x");
}

#[tokio::test]
async fn reset_deletes_only_keys_that_are_prefix_plus_an_entity_id() {
    let base = unique_prefix("nested");
    let outer = FeatureStore::connect(
        &redis_url(),
        StoreConfig {
            key_prefix: KeyPrefix::parse(&base).unwrap(),
            ..StoreConfig::default()
        },
    )
    .await
    .unwrap();
    // Another store whose prefix starts with ours: its keys are prefix + "inner:" + id.
    let inner = FeatureStore::connect(
        &redis_url(),
        StoreConfig {
            key_prefix: KeyPrefix::parse(&format!("{base}inner:")).unwrap(),
            ..StoreConfig::default()
        },
    )
    .await
    .unwrap();
    outer.bulk_load(synthesize_users(5, 1), None).await.unwrap();
    inner.bulk_load(synthesize_users(7, 1), None).await.unwrap();
    assert_eq!(outer.count().await.unwrap(), 5);
    assert_eq!(outer.reset().await.unwrap(), 5);
    assert_eq!(inner.count().await.unwrap(), 7);
    assert_eq!(inner.reset().await.unwrap(), 7);
}

#[tokio::test]
async fn the_write_scripts_write_nothing_with_a_ttl_redis_would_refuse() {
    let huge = 9_223_372_036_854_775_807;
    let store = store_with("ttl-script", 600, huge).await;
    let rows: Vec<EntityRow> = synthesize_users(2, 1).collect();
    assert!(store.bulk_load(rows.clone(), Some(huge)).await.is_err());
    let prefix = store.config().key_prefix.to_string();
    assert!(
        key_ttls(&prefix).await.is_empty(),
        "a failed batch write left a key"
    );
    // A streaming write of an existing entity with a field TTL Redis refuses: nothing written.
    store.bulk_load(rows, None).await.unwrap();
    assert!(store.update_streaming(&user_id(1), &event()).await.is_err());
    let name = &event()[0].0;
    let value: Option<String> = raw()
        .await
        .hget(store.key(&user_id(1)), name)
        .await
        .unwrap();
    assert_eq!(
        value, None,
        "a failed streaming write left {name} without its TTL"
    );
    store.reset().await.unwrap();
}

#[tokio::test]
async fn concurrent_writes_keep_the_newest_event_whatever_their_order() {
    use rand::seq::SliceRandom;
    let store = Arc::new(store_with("event-race", 600, 600).await);
    store.bulk_load(synthesize_users(1, 1), None).await.unwrap();
    let base = feature_store_core::store::unix_ms_now();
    let mut times: Vec<u64> = (1..=200).map(|n| base + n).collect();
    times.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(9));
    let u1 = user_id(1);
    let writes = times.iter().map(|&at| {
        let (store, u1) = (Arc::clone(&store), u1.clone());
        tokio::spawn(async move {
            let event = [
                ("tx_count_5m", at.to_string()),
                ("_ts:user_stream", at.to_string()),
            ];
            store
                .write_streaming(&u1, &event, EventRule::NewerOnly)
                .await
                .unwrap()
        })
    });
    let outcomes = futures::future::join_all(writes).await;
    let written = outcomes
        .iter()
        .filter(|outcome| matches!(outcome, Ok(StreamingOutcome::Written)))
        .count();
    let older = outcomes
        .iter()
        .filter(|outcome| matches!(outcome, Ok(StreamingOutcome::Skipped(SkipReason::Older))))
        .count();
    assert_eq!(written + older, 200, "{outcomes:?}");
    assert!(older > 0, "the shuffled order must have met an older event");
    let newest = (base + 200).to_string();
    let stored: Vec<Option<String>> = redis::cmd("HMGET")
        .arg(store.key(&u1))
        .arg("tx_count_5m")
        .arg("_ts:user_stream")
        .query_async(&mut raw().await)
        .await
        .unwrap();
    assert_eq!(stored, [Some(newest.clone()), Some(newest)]);
    assert_eq!(store.stats().older_events_skipped_total, older as u64);

    // The batch path: an older row is reported and leaves the newer one as it was.
    let mut row = synthesize_users(1, 1).next().unwrap();
    for (name, value) in &mut row.fields {
        if name.starts_with("_ts:") {
            *value = "978307200000".into();
        }
    }
    let report = store.bulk_load([row.clone()], None).await.unwrap();
    assert_eq!(
        (report.written, report.older.clone()),
        (0, vec![u1.clone()])
    );
    let report = store
        .bulk_load_with_progress([row], None, EventRule::Overwrite, |_| {})
        .await
        .unwrap();
    assert_eq!(report.written, 1);
    store.reset().await.unwrap();
}

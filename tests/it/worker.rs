//! The streaming worker against a real Redis: lifecycle, the pause/wait/reset guarantee, and
//! carrying on through a Redis outage.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::{eventually, lease_of, names_of, present, store_with};
use feature_store_core::index::EntityIndex;
use feature_store_core::store::{FeatureStore, StoreConfig};
use feature_store_core::synth::synthesize_users;
use feature_store_core::worker::{StreamingWorker, WorkerConfig};
use feature_store_types::model::Ttl;
use feature_store_types::schema::FeatureKind;

fn fast(users_per_tick: usize) -> WorkerConfig {
    WorkerConfig {
        tick: Duration::from_millis(20),
        users_per_tick,
        seed: 1337,
        ..WorkerConfig::default()
    }
}

async fn loaded_store(test: &str, users: u64) -> Arc<FeatureStore> {
    let store = store_with(test, 3600, 60).await;
    store
        .bulk_load(synthesize_users(users, 42), Some(3600))
        .await
        .unwrap();
    Arc::new(store)
}

/// The store's entity index, after one complete pass.
async fn index_of(store: &Arc<FeatureStore>) -> Arc<EntityIndex> {
    let index = Arc::new(EntityIndex::start(
        Arc::clone(store),
        lease_of(store).await,
        "user",
    ));
    index.refresh().await;
    index
}

#[tokio::test]
async fn the_worker_writes_all_five_streaming_features_with_their_ttl() {
    let store = loaded_store("worker-writes", 10).await;
    let worker = StreamingWorker::new(Arc::clone(&store), index_of(&store).await, fast(10));
    worker.start();
    eventually(Duration::from_secs(10), "a tick to write", || async {
        worker.stats().writes_count >= 10
    })
    .await;
    worker.stop().await;
    let streaming = names_of(FeatureKind::Streaming);
    let ids: Vec<_> = (1..=10).map(feature_store_core::synth::user_id).collect();
    let rows: Vec<_> = store
        .batch_read(&ids, &streaming)
        .await
        .unwrap()
        .iter()
        .zip(&ids)
        .map(|(row, id)| (id.clone(), present(&streaming, row).unwrap()))
        .collect();
    let written = rows.iter().filter(|(_, f)| f.len() == 5).count();
    assert!(written > 0, "no user got all five streaming features");
    for (id, features) in rows.iter().filter(|(_, f)| !f.is_empty()) {
        let ttls = store.field_ttls(id, &streaming).await.unwrap();
        assert!(
            ttls.iter().all(|t| matches!(t, Ttl::Left(1..=60))),
            "{id}: {ttls:?} {features:?}"
        );
    }
}

#[tokio::test]
async fn lifecycle_run_pause_resume_and_a_double_stop() {
    let store = loaded_store("worker-lifecycle", 5).await;
    let worker = StreamingWorker::new(Arc::clone(&store), index_of(&store).await, fast(2));
    assert!(!worker.stats().running);

    worker.run().await.unwrap();
    let started = worker.stats();
    assert!(started.running && !started.paused);
    eventually(Duration::from_secs(10), "ticks", || async {
        worker.stats().tick_count >= 2
    })
    .await;

    worker.pause().await.unwrap();
    worker.pause().await.unwrap();
    let paused = worker.stats();
    assert!(
        paused.running && paused.paused,
        "pausing twice stays paused"
    );
    worker.wait_for_idle().await;
    let frozen = worker.stats().writes_count;
    tokio::time::sleep(Duration::from_millis(150)).await; // several ticks' worth
    assert_eq!(worker.stats().writes_count, frozen, "a paused worker wrote");

    worker.run().await.unwrap();
    worker.run().await.unwrap();
    let resumed = worker.stats();
    assert!(
        resumed.running && !resumed.paused,
        "running twice stays running"
    );
    eventually(Duration::from_secs(10), "writes after resume", || async {
        worker.stats().writes_count > frozen
    })
    .await;

    let before = Instant::now();
    worker.stop().await;
    assert!(
        before.elapsed() < Duration::from_secs(1),
        "stop took {:?}",
        before.elapsed()
    );
    assert!(!worker.stats().running);
    worker.stop().await;
    assert_eq!(worker.stats().last_error, None);
}

#[tokio::test]
async fn after_pause_and_wait_for_idle_no_tick_ever_writes() {
    let store = loaded_store("worker-race", 50).await;
    // Many users per tick and a 1 ms tick keep a write in flight most of the time.
    let worker = StreamingWorker::new(
        Arc::clone(&store),
        index_of(&store).await,
        WorkerConfig {
            tick: Duration::from_millis(1),
            users_per_tick: 50,
            seed: 7,
            ..WorkerConfig::default()
        },
    );
    worker.start();
    for round in 0..100 {
        worker.pause().await.unwrap();
        worker.wait_for_idle().await;
        let writes = worker.stats().writes_count;
        store.reset().await.unwrap();
        tokio::task::yield_now().await;
        assert_eq!(
            store.count().await.unwrap(),
            0,
            "round {round}: a tick wrote after the wait"
        );
        assert_eq!(worker.stats().writes_count, writes, "round {round}");
        store
            .bulk_load(synthesize_users(50, 42), Some(3600))
            .await
            .unwrap();
        worker.resume().await.unwrap();
        let resumed_at = worker.stats().writes_count;
        eventually(Duration::from_secs(10), "a write after resume", || async {
            worker.stats().writes_count > resumed_at
        })
        .await;
    }
    worker.stop().await;
}

#[tokio::test]
async fn a_redis_outage_is_counted_and_the_worker_recovers_by_itself() {
    let redis = crate::support::OwnRedis::start(crate::support::free_port()).await;
    let store = Arc::new(
        FeatureStore::connect(&redis.url(), StoreConfig::default())
            .await
            .unwrap(),
    );
    store
        .bulk_load(synthesize_users(5, 1), Some(3600))
        .await
        .unwrap();
    let worker = StreamingWorker::new(Arc::clone(&store), index_of(&store).await, fast(5));
    worker.start();
    eventually(Duration::from_secs(10), "writes", || async {
        worker.stats().writes_count > 0
    })
    .await;

    let port = redis.port;
    drop(redis);
    eventually(
        Duration::from_secs(15),
        "failing ticks to be counted",
        || async { worker.stats().error_count >= 2 },
    )
    .await;
    let during = worker.stats();
    assert!(during.running, "an error killed the worker");
    assert!(during.last_error.is_some());

    let redis = crate::support::OwnRedis::start(port).await;
    let writes = worker.stats().writes_count;
    eventually(
        Duration::from_secs(20),
        "writes after Redis came back",
        || async {
            // The restarted Redis is empty: reload (retrying while the connection is rebuilt)
            // so the worker has users to write to.
            let _ = store.bulk_load(synthesize_users(5, 1), Some(3600)).await;
            worker.stats().writes_count > writes
        },
    )
    .await;
    worker.stop().await;
    drop(redis);
}

#[tokio::test]
async fn the_worker_remembers_its_last_writes_newest_first_until_a_reset() {
    let server = crate::support::TestServer::start("recent", &["--tick-seconds", "0.05"]).await;
    server.switch_worker("start").await;
    let recent = |state: &serde_json::Value| state["worker"]["recent"].as_array().unwrap().clone();
    // Twenty of each of the demo's entities.
    let remembered = 20 * crate::support::demo_entities() as usize;
    eventually(
        Duration::from_secs(10),
        "twenty remembered writes of each entity",
        || async { recent(&server.state().await).len() == remembered },
    )
    .await;
    let writes = recent(&server.state().await);
    let times: Vec<u64> = writes
        .iter()
        .map(|write| write["unix_ms"].as_u64().unwrap())
        .collect();
    assert!(times.windows(2).all(|pair| pair[0] >= pair[1]), "{times:?}");
    let ids: std::collections::HashSet<(&str, &str)> = writes
        .iter()
        .map(|write| {
            (
                write["entity"].as_str().unwrap(),
                write["id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(ids.len(), remembered, "each entity once");
    server.switch_worker("pause").await;
    let (status, body) = server.request("POST", "/api/reset", &[], b"").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        recent(&server.state().await).len(),
        0,
        "a reset deleted them"
    );
}

#[tokio::test]
async fn the_worker_streams_every_entity_with_streaming_views_under_its_own_prefix() {
    use feature_store_core::ops::bootstrap::{self, Seeding};
    use feature_store_core::ops::Served;
    let store = store_with("worker-entities", 3600, 60).await;
    let prefix = store.config().key_prefix.clone();
    let registry = Arc::new(
        feature_store_core::registry_file::demo()
            .as_ref()
            .clone()
            .with_overrides(Some(&prefix), None, None)
            .unwrap(),
    );
    // More of each per tick than the worker remembers: one entity must not push the other out.
    let seeding = Seeding {
        count: 30,
        seed: 1,
        ttl_seconds: None,
        rule: feature_store_core::store::EventRule::NewerOnly,
    };
    bootstrap::seed(&store, &registry, seeding, |_| {})
        .await
        .unwrap();
    let lease = lease_of(&Arc::new(store.clone())).await;
    let served = Served::start_all(&registry, &store, &lease);
    for entity in &served {
        entity.index.refresh().await;
    }
    let worker = Served::worker(
        &served,
        WorkerConfig {
            registry: Arc::clone(&registry),
            ..fast(30)
        },
    );
    worker.start();
    eventually(
        Duration::from_secs(10),
        "both entities streamed",
        || async {
            let recent = worker.stats().recent;
            ["user", "merchant"]
                .iter()
                .all(|entity| recent.iter().filter(|w| w.entity == *entity).count() == 20)
        },
    )
    .await;
    worker.stop().await;
    let merchants = &served[1];
    let written = worker
        .stats()
        .recent
        .into_iter()
        .find(|w| w.entity == "merchant")
        .unwrap();
    let id = feature_store_types::domain::EntityId::parse(&written.id).unwrap();
    let all = merchants.store.read_all(&id).await.unwrap();
    let names: Vec<&str> = all.iter().map(|(name, _)| name.as_str()).collect();
    // The merchant's streaming features and its view's times, none of the user's.
    for name in [
        "tx_count_1m",
        "declines_5m",
        "_ts:merchant_stream",
        "category",
    ] {
        assert!(names.contains(&name), "{names:?}");
    }
    assert!(!names.contains(&"tx_count_5m"), "{names:?}");
    assert!(merchants.store.key(&id).starts_with(&format!(
        "{}.merchant:",
        prefix.as_str().trim_end_matches(':')
    )));
}

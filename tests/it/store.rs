//! The store against a real Redis: every operation and both TTL layers.

use std::collections::HashMap;
use std::time::Duration;

use crate::support::{
    eventually, id, present, raw_on, store_on, store_with_on, Target, DEVICE, RISK, TX_5M, TX_7D,
};
use feature_store_core::store::{EntityRow, EventRule, FeatureStore, LoadReport, StreamingOutcome};
use feature_store_core::synth::synthesize_users;
use feature_store_types::model::Ttl;
use futures::future::join_all;
use redis::AsyncCommands;

fn row(id: &str, fields: &[(&str, &str)]) -> EntityRow {
    EntityRow {
        id: crate::support::id(id),
        fields: fields
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        cleared: Vec::new(),
    }
}

fn streaming_event(tx: u32) -> Vec<(&'static str, String)> {
    vec![(DEVICE, "ios-9f02".to_string()), (TX_5M, tx.to_string())]
}

async fn bulk_load_writes_every_field_and_a_key_ttl(on: Target) {
    let store = store_on(on, "bulk").await;
    let written = store
        .bulk_load(synthesize_users(30, 42), Some(3600))
        .await
        .unwrap();
    assert_eq!(written.written, 30);
    let mut conn = raw_on(on).await;
    let mut stored: HashMap<String, String> = conn.hgetall(store.key(&id("u0001"))).await.unwrap();
    let mut expected: HashMap<_, _> = synthesize_users(1, 42)
        .next()
        .unwrap()
        .fields
        .into_iter()
        .collect();
    // The event and write times are the load's own: within the test's run, not equal to a
    // second draw's.
    let written_at = stored.remove("_wt:user_batch").unwrap();
    expected.remove("_wt:user_batch");
    let stamp = "_ts:user_batch";
    let event_at = stored.remove(stamp).unwrap();
    assert_eq!(
        event_at, written_at,
        "a load's event time is its write time"
    );
    let written: u64 = event_at.parse().unwrap();
    let drawn: u64 = expected.remove(stamp).unwrap().parse().unwrap();
    assert!(
        written <= drawn && drawn - written < 60_000,
        "{written} {drawn}"
    );
    assert_eq!(stored, expected);
    let ttl = store.key_ttl(&id("u0030")).await.unwrap();
    assert!(matches!(ttl, Ttl::Left(3590..=3600)), "key TTL {ttl:?}");
    assert_eq!(store.stats().batch_writes_total, 30);
}

async fn bulk_load_of_nothing_writes_nothing(on: Target) {
    let store = store_on(on, "bulk-empty").await;
    assert_eq!(
        store.bulk_load(Vec::new(), Some(60)).await.unwrap(),
        LoadReport::default()
    );
    assert_eq!(store.count().await.unwrap(), 0);
}

async fn streaming_fields_get_their_own_ttl_and_batch_fields_keep_none(on: Target) {
    let store = store_with_on(on, "streaming", 86_400, 120).await;
    store
        .bulk_load([row("u1", &[(RISK, "low")])], Some(3600))
        .await
        .unwrap();
    store
        .update_streaming(&id("u1"), &streaming_event(3))
        .await
        .unwrap();
    let ttls = store
        .field_ttls(&id("u1"), &[RISK, DEVICE, TX_5M, "nope"])
        .await
        .unwrap();
    assert_eq!(ttls[0], Ttl::Persistent, "batch field has no field TTL");
    assert!(matches!(ttls[1], Ttl::Left(110..=120)), "{ttls:?}");
    assert!(matches!(ttls[2], Ttl::Left(110..=120)), "{ttls:?}");
    assert_eq!(ttls[3], Ttl::Missing, "missing field");
    assert_eq!(store.stats().streaming_writes_total, 1);
    // An empty update is a no-op, not an error.
    let nothing: [(&str, String); 0] = [];
    store.update_streaming(&id("u1"), &nothing).await.unwrap();
}

async fn the_redis_7_4_write_path_sets_every_field_ttl_too(on: Target) {
    let store = store_with_on(on, "streaming-7.4", 86_400, 90)
        .await
        .with_multi_exec_streaming_writes();
    store
        .bulk_load([row("u1", &[(RISK, "low")])], Some(3600))
        .await
        .unwrap();
    store
        .update_streaming(&id("u1"), &streaming_event(4))
        .await
        .unwrap();
    let ttls = store
        .field_ttls(&id("u1"), &[RISK, DEVICE, TX_5M])
        .await
        .unwrap();
    assert_eq!(ttls[0], Ttl::Persistent);
    assert!(
        ttls[1..].iter().all(|t| matches!(t, Ttl::Left(80..=90))),
        "{ttls:?}"
    );
    assert_eq!(
        store.read(&id("u1"), &[TX_5M]).await.unwrap(),
        vec![(TX_5M.to_string(), "4".to_string())]
    );
}

async fn read_returns_present_fields_in_request_order(on: Target) {
    let store = store_on(on, "read").await;
    store
        .bulk_load(
            [row("u1", &[("a", "1"), ("b", "true"), ("c", "2.5")])],
            Some(600),
        )
        .await
        .unwrap();
    let got = store.read(&id("u1"), &["c", "missing", "a"]).await.unwrap();
    assert_eq!(
        got,
        vec![
            ("c".to_string(), "2.5".to_string()),
            ("a".into(), "1".into())
        ]
    );
    assert!(store
        .read(&id("u1"), &[] as &[&str])
        .await
        .unwrap()
        .is_empty());
    assert!(store.read(&id("nobody"), &["a"]).await.unwrap().is_empty());
    let stats = store.stats();
    assert_eq!((stats.reads_total, stats.read_fields_total), (2, 2));
    let all = store.read_all(&id("u1")).await.unwrap();
    assert_eq!(all.len(), 3);
}

async fn read_with_ttls_reports_values_and_freshness_in_one_go(on: Target) {
    let store = store_with_on(on, "read-ttls", 86_400, 120).await;
    store
        .bulk_load([row("u1", &[(RISK, "low")])], Some(600))
        .await
        .unwrap();
    store
        .update_streaming(&id("u1"), &streaming_event(2))
        .await
        .unwrap();
    let read = store
        .read_with_ttls(&id("u1"), &[RISK, TX_5M, "nope"])
        .await
        .unwrap();
    assert_eq!(
        read.values,
        vec![Some("low".to_string()), Some("2".to_string()), None]
    );
    assert_eq!(read.field_ttls[0], Ttl::Persistent);
    assert!(
        matches!(read.field_ttls[1], Ttl::Left(110..=120)),
        "{:?}",
        read.field_ttls
    );
    assert_eq!(read.field_ttls[2], Ttl::Missing);
    assert!(matches!(read.key_ttl, Ttl::Left(590..=600)));
    let ghost = store.read_with_ttls(&id("ghost"), &["a"]).await.unwrap();
    assert_eq!(
        (ghost.values, ghost.field_ttls, ghost.key_ttl),
        (vec![None], vec![Ttl::Missing], Ttl::Missing)
    );
    let nothing = store
        .read_with_ttls(&id("u1"), &[] as &[&str])
        .await
        .unwrap();
    assert!(nothing.values.is_empty() && nothing.field_ttls.is_empty());
}

async fn batch_read_keeps_input_order_and_gives_missing_entities_empty_rows(on: Target) {
    let store = store_on(on, "batch").await;
    store
        .bulk_load(synthesize_users(1200, 5), Some(600))
        .await
        .unwrap();
    let mut ids: Vec<_> = (1..=1200)
        .rev()
        .map(feature_store_core::synth::user_id)
        .collect();
    ids.insert(3, id("ghost"));
    let names = [RISK, TX_7D, "nope"];
    let rows = store.batch_read(&ids, &names).await.unwrap();
    assert_eq!(rows.len(), ids.len());
    for (row, asked) in rows.iter().zip(&ids) {
        let expected = if asked.as_str() == "ghost" { 0 } else { 2 };
        assert_eq!(present(&names, row).unwrap().len(), expected, "{asked}");
    }
    assert_eq!(present(&names, &rows[0]).unwrap()[0].0, RISK);
}

async fn key_ttl_reports_missing_and_persistent_keys(on: Target) {
    let store = store_on(on, "key-ttl").await;
    assert_eq!(store.key_ttl(&id("nobody")).await.unwrap(), Ttl::Missing);
    let mut conn = raw_on(on).await;
    let _: () = conn
        .hset(store.key(&id("forever")), "a", "1")
        .await
        .unwrap();
    assert_eq!(
        store.key_ttl(&id("forever")).await.unwrap(),
        Ttl::Persistent
    );
    assert_eq!(
        store.field_ttls(&id("nobody"), &["a", "b"]).await.unwrap(),
        vec![Ttl::Missing; 2]
    );
}

async fn housekeeping_lists_counts_and_deletes(on: Target) {
    let store = store_on(on, "housekeeping").await;
    store
        .bulk_load(synthesize_users(12, 1), Some(600))
        .await
        .unwrap();
    store
        .bulk_load([row("u10000", &[("a", "1")])], Some(600))
        .await
        .unwrap();
    assert_eq!(store.count().await.unwrap(), 13);
    let mut scanned = Vec::new();
    let mut scan = store.scan_entities();
    while let Some(batch) = scan.next_batch().await.unwrap() {
        scanned.extend(batch.ids.into_iter().map(|(_, id)| id));
    }
    scanned.sort();
    assert_eq!(scanned.len(), 13);
    assert_eq!(scanned.last().unwrap().as_str(), "u10000");
    assert!(store.delete(&id("u0001")).await.unwrap());
    assert!(!store.delete(&id("u0001")).await.unwrap());
    assert_eq!(store.count().await.unwrap(), 12);
}

async fn reset_deletes_only_its_own_prefix_even_with_glob_characters(on: Target) {
    let url = on.url();
    let base = crate::support::unique_prefix("reset");
    let connect = |prefix: String| {
        let prefix = feature_store_types::domain::KeyPrefix::parse(&prefix).unwrap();
        let url = url.clone();
        async move {
            FeatureStore::connect(
                &url,
                feature_store_core::store::StoreConfig {
                    key_prefix: prefix,
                    ..Default::default()
                },
            )
            .await
            .unwrap()
        }
    };
    // `[1]` as a glob would match the key `...t1:x`; escaped, it matches only itself.
    let globby = connect(format!("{base}t[1]:")).await;
    let lookalike = connect(format!("{base}t1:")).await;
    let other = connect(format!("{base}other:")).await;
    for store in [&globby, &lookalike, &other] {
        store
            .bulk_load(synthesize_users(25, 3), Some(600))
            .await
            .unwrap();
    }
    assert_eq!(globby.count().await.unwrap(), 25);
    assert_eq!(globby.reset().await.unwrap(), 25);
    assert_eq!(globby.count().await.unwrap(), 0);
    assert_eq!(lookalike.count().await.unwrap(), 25);
    assert_eq!(other.count().await.unwrap(), 25);
    assert_eq!(other.reset().await.unwrap(), 25);
    assert_eq!(lookalike.count().await.unwrap(), 25);
    lookalike.reset().await.unwrap();
}

async fn mixed_staleness_streaming_fields_expire_and_batch_fields_stay(on: Target) {
    let store = store_with_on(on, "stale-fields", 3600, 2).await;
    store
        .bulk_load([row("u1", &[(RISK, "high")])], Some(3600))
        .await
        .unwrap();
    store
        .update_streaming(&id("u1"), &streaming_event(7))
        .await
        .unwrap();
    let names = [RISK, DEVICE, TX_5M];
    assert_eq!(store.read(&id("u1"), &names).await.unwrap().len(), 3);
    eventually(
        Duration::from_secs(6),
        "streaming fields to expire",
        || async { store.read(&id("u1"), &names).await.unwrap().len() == 1 },
    )
    .await;
    assert_eq!(
        store.read(&id("u1"), &names).await.unwrap(),
        vec![(RISK.to_string(), "high".to_string())]
    );
    assert!(matches!(
        store.key_ttl(&id("u1")).await.unwrap(),
        Ttl::Left(3501..)
    ));
}

async fn mixed_staleness_a_stale_batch_makes_the_whole_entity_disappear(on: Target) {
    let store = store_on(on, "stale-entity").await;
    store
        .bulk_load([row("u1", &[(RISK, "high")])], Some(2))
        .await
        .unwrap();
    store
        .update_streaming(&id("u1"), &streaming_event(1))
        .await
        .unwrap();
    eventually(Duration::from_secs(6), "the entity to expire", || async {
        store.key_ttl(&id("u1")).await.unwrap() == Ttl::Missing
    })
    .await;
    assert!(store
        .read(&id("u1"), &[RISK, TX_5M])
        .await
        .unwrap()
        .is_empty());
}

async fn concurrent_streaming_updates_never_leave_a_field_without_ttl(on: Target) {
    let store = store_on(on, "concurrent-ttl").await;
    store
        .bulk_load(synthesize_users(20, 9), Some(3600))
        .await
        .unwrap();
    let names = [DEVICE, TX_5M];
    let writers = (0..8).map(|w| {
        let store = &store;
        async move {
            for i in 0..50 {
                let id = feature_store_core::synth::user_id((w * 50 + i) % 20 + 1);
                let written = store
                    .update_streaming(&id, &streaming_event(i as u32))
                    .await
                    .unwrap();
                assert_eq!(written, StreamingOutcome::Written);
            }
        }
    });
    let checker = async {
        for i in 0..200 {
            let id = feature_store_core::synth::user_id(i % 20 + 1);
            let present = store.read(&id, &names).await.unwrap();
            let ttls = store.field_ttls(&id, &names).await.unwrap();
            for ((name, _), ttl) in present.iter().zip(&ttls) {
                assert!(
                    matches!(ttl, Ttl::Left(1..) | Ttl::Missing),
                    "{id}.{name} was readable with TTL {ttl:?}"
                );
            }
        }
    };
    tokio::join!(join_all(writers), checker);
    for n in 1..=20 {
        let id = feature_store_core::synth::user_id(n);
        for ttl in store.field_ttls(&id, &names).await.unwrap() {
            assert!(
                matches!(ttl, Ttl::Left(1..)),
                "{id} has a streaming field with TTL {ttl:?}"
            );
        }
    }
}

async fn concurrent_bulk_loads_and_streaming_updates_lose_no_field(on: Target) {
    let store = store_on(on, "no-lost-fields").await;
    let loads = async {
        for _ in 0..5 {
            store
                .bulk_load(synthesize_users(300, 11), Some(3600))
                .await
                .unwrap();
        }
    };
    let updates = async {
        for round in 0..3 {
            for n in 1..=300 {
                let id = feature_store_core::synth::user_id(n);
                store
                    .update_streaming(&id, &streaming_event(round))
                    .await
                    .unwrap();
            }
        }
    };
    tokio::join!(loads, updates);
    let batch = crate::support::names_of(feature_store_types::schema::FeatureKind::Batch);
    let mut names = batch.clone();
    names.extend([DEVICE, TX_5M]);
    let ids: Vec<_> = (1..=300).map(feature_store_core::synth::user_id).collect();
    let rows = store.batch_read(&ids, &names).await.unwrap();
    for (row, id) in rows.iter().zip(&ids) {
        let features = present(&names, row).unwrap();
        assert_eq!(
            features.len(),
            names.len(),
            "{id} lost a field: {features:?}"
        );
    }
}

async fn a_hundred_thousand_rows_load_in_chunks_and_count(on: Target) {
    let store = store_on(on, "100k").await;
    let mut progress = Vec::new();
    let written = store
        .bulk_load_with_progress(
            synthesize_users(100_000, 42),
            Some(600),
            EventRule::NewerOnly,
            |done| progress.push(done),
        )
        .await
        .unwrap();
    assert_eq!(written.written, 100_000);
    assert!(progress.len() > 1, "loaded in one chunk");
    assert!(progress.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(progress.last(), Some(&100_000));
    assert_eq!(store.count().await.unwrap(), 100_000);
    assert_eq!(store.reset().await.unwrap(), 100_000);
}

/// Rows of one load go several to a script call: rows of the same entity in one call see each
/// other (the newest event wins whatever the order), and a newer row's null clears the field.
async fn rows_of_one_entity_in_one_load_keep_the_newest_event(on: Target) {
    let store = store_on(on, "same-call").await;
    let at = |ts: &str, n: Option<&str>| {
        let mut row = row("e1", &[("s", "at"), ("_ts:v", ts)]);
        row.fields[0].1 = format!("at {ts}");
        match n {
            Some(n) => row.fields.push(("n".into(), n.into())),
            None => row.cleared.push("n".into()),
        }
        row
    };
    // Other entities between them, so the rows of e1 share calls with rows of other keys.
    let others = (0..200).map(|n| row(&format!("o{n}"), &[("s", "other"), ("_ts:v", "1")]));
    let rows: Vec<EntityRow> = [at("10", Some("1")), at("30", Some("3"))]
        .into_iter()
        .chain(others)
        .chain([at("20", Some("2"))])
        .collect();
    let report = store.bulk_load(rows, Some(600)).await.unwrap();
    assert_eq!(report.written, 202);
    assert_eq!(report.older, [id("e1")]);
    let mut conn = raw_on(on).await;
    let stored: HashMap<String, String> = conn.hgetall(store.key(&id("e1"))).await.unwrap();
    assert_eq!(stored["s"], "at 30");
    assert_eq!(stored["n"], "3");
    // A newer row without n: the older value of n does not outlive it.
    let report = store.bulk_load([at("40", None)], Some(600)).await.unwrap();
    assert_eq!(report.written, 1);
    let stored: HashMap<String, String> = conn.hgetall(store.key(&id("e1"))).await.unwrap();
    assert_eq!(stored.get("n"), None, "{stored:?}");
    assert_eq!(stored["s"], "at 40");
    assert_eq!(store.reset().await.unwrap(), 201);
}

/// A load sent in parts (a materialization's batches, a paced run's slices) is one load: the
/// store's last load counts its rows so far, not its last part's; and a Redis that forgot the
/// write script between parts (restarted, or its scripts flushed) is given it again.
#[tokio::test]
async fn a_load_in_parts_is_one_load_and_outlives_a_forgotten_script() {
    let redis = crate::support::OwnRedis::start(crate::support::free_port()).await;
    let store = FeatureStore::connect(&redis.url(), Default::default())
        .await
        .unwrap();
    let mut rows = synthesize_users(50, 42);
    let mut load = store.bulk_load_in_parts(Some(600), EventRule::NewerOnly);
    let first = load.write(rows.by_ref().take(20), |_| {}).await.unwrap();
    assert_eq!(first.written, 20);
    assert_eq!(store.stats().last_bulk_load_rows, 20);
    let mut conn = redis.connection().await;
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut conn)
        .await
        .unwrap();
    let second = load.write(rows, |_| {}).await.unwrap();
    assert_eq!(second.written, 30);
    assert_eq!(store.stats().last_bulk_load_rows, 50);
    assert_eq!(store.count().await.unwrap(), 50);
    // The next load is a load of its own.
    store.bulk_load(synthesize_users(1, 7), None).await.unwrap();
    assert_eq!(store.stats().last_bulk_load_rows, 1);
}

#[tokio::test]
async fn unreachable_redis_is_one_clear_error() {
    let err = FeatureStore::connect("redis://127.0.0.1:1", Default::default())
        .await
        .err()
        .expect("port 1 must not answer");
    let message = feature_store_core::chain(&err);
    assert!(
        message.starts_with("cannot connect to Redis at redis://127.0.0.1:1:"),
        "{message}"
    );
    assert!(!message.contains('\n'));
}

crate::on_single_and_cluster!(
    bulk_load_writes_every_field_and_a_key_ttl,
    bulk_load_of_nothing_writes_nothing,
    streaming_fields_get_their_own_ttl_and_batch_fields_keep_none,
    the_redis_7_4_write_path_sets_every_field_ttl_too,
    read_returns_present_fields_in_request_order,
    read_with_ttls_reports_values_and_freshness_in_one_go,
    batch_read_keeps_input_order_and_gives_missing_entities_empty_rows,
    key_ttl_reports_missing_and_persistent_keys,
    housekeeping_lists_counts_and_deletes,
    reset_deletes_only_its_own_prefix_even_with_glob_characters,
    mixed_staleness_streaming_fields_expire_and_batch_fields_stay,
    mixed_staleness_a_stale_batch_makes_the_whole_entity_disappear,
    concurrent_streaming_updates_never_leave_a_field_without_ttl,
    concurrent_bulk_loads_and_streaming_updates_lose_no_field,
    a_hundred_thousand_rows_load_in_chunks_and_count,
    rows_of_one_entity_in_one_load_keep_the_newest_event,
);

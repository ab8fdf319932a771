//! The store on a real Redis Cluster (3 masters with a replica each, started by `make test`):
//! multi-key work planned per master and kept in input order, exact count and reset across
//! masters, the atomic streaming write, and reads that keep working while slots move.

use std::collections::HashMap;
use std::time::Duration;

use feature_store_core::store::{EventRule, RedisMode, StreamingOutcome};
use feature_store_core::synth::{synthesize_users, user_id};
use feature_store_types::model::Ttl;

use crate::support::cluster::master_of;
use crate::support::{
    cluster_store, cluster_url, id, present, TestServer, CLUSTER_TOPOLOGY, DEVICE, RISK, TX_5M,
    TX_7D,
};

#[tokio::test]
async fn bulk_load_and_batch_read_span_every_master_in_input_order() {
    let _stable = CLUSTER_TOPOLOGY.read().await;
    let store = cluster_store("cl-batch").await;
    let RedisMode::Cluster { masters } = store.redis_mode() else {
        panic!("not a cluster: {:?}", store.redis_mode());
    };
    assert_eq!(masters.len(), 3, "{masters:?}");
    let rows: Vec<_> = synthesize_users(3_000, 11).collect();
    let report = store.bulk_load(rows.clone(), Some(600)).await.unwrap();
    assert_eq!(report.written, 3_000);
    let expected: HashMap<_, _> = rows.into_iter().map(|row| (row.id, row.fields)).collect();
    // Reversed, with a duplicate and an unknown id: the answer keeps this order.
    let mut ids: Vec<_> = (1..=1_200).rev().map(user_id).collect();
    ids.insert(7, id("ghost"));
    ids.push(user_id(3));
    let names = [RISK, TX_7D];
    let read = store.batch_read(&ids, &names).await.unwrap();
    assert_eq!(read.len(), ids.len());
    for (row, asked) in read.iter().zip(&ids) {
        let features = present(&names, row).unwrap();
        match expected.get(asked) {
            None => assert!(features.is_empty(), "{asked} is unknown"),
            Some(fields) => {
                for (name, value) in &features {
                    let stored = fields.iter().find(|(n, _)| n == name).map(|(_, v)| v);
                    assert_eq!(Some(value), stored, "{asked}.{name}");
                }
                assert_eq!(features.len(), 2, "{asked}");
            }
        }
    }
    store.reset().await.unwrap();
}

#[tokio::test]
async fn count_and_reset_are_exact_across_masters_and_spare_other_prefixes() {
    let _stable = CLUSTER_TOPOLOGY.read().await;
    let ours = cluster_store("cl-reset").await;
    let theirs = cluster_store("cl-other").await;
    ours.bulk_load(synthesize_users(2_500, 1), None)
        .await
        .unwrap();
    theirs
        .bulk_load(synthesize_users(40, 2), None)
        .await
        .unwrap();
    assert_eq!(ours.count().await.unwrap(), 2_500);
    assert_eq!(ours.reset().await.unwrap(), 2_500);
    assert_eq!(ours.count().await.unwrap(), 0);
    assert_eq!(theirs.count().await.unwrap(), 40);
    assert_eq!(theirs.reset().await.unwrap(), 40);
}

#[tokio::test]
async fn the_streaming_write_stays_one_atomic_command_on_the_cluster() {
    let _stable = CLUSTER_TOPOLOGY.read().await;
    let store = cluster_store("cl-stream").await;
    store
        .bulk_load(synthesize_users(50, 3), Some(600))
        .await
        .unwrap();
    let event = vec![(DEVICE, "ios-9f02".to_string()), (TX_5M, "4".to_string())];
    for n in 1..=50 {
        let outcome = store.update_streaming(&user_id(n), &event).await.unwrap();
        assert_eq!(outcome, StreamingOutcome::Written);
    }
    let outcome = store.update_streaming(&id("ghost"), &event).await.unwrap();
    assert!(
        matches!(outcome, StreamingOutcome::Skipped(_)),
        "{outcome:?}"
    );
    let read = store
        .read_with_ttls(&user_id(17), &[RISK, TX_5M])
        .await
        .unwrap();
    assert_eq!(read.values[1].as_deref(), Some("4"));
    assert!(matches!(read.field_ttls[1], Ttl::Left(1..=300)), "{read:?}");
    assert!(matches!(read.key_ttl, Ttl::Left(590..=600)), "{read:?}");
    store.reset().await.unwrap();
}

#[tokio::test]
async fn the_server_runs_on_the_cluster_and_says_so() {
    let _stable = CLUSTER_TOPOLOGY.read().await;
    let server = TestServer::start_on(&cluster_url(), "cl-server", &[]).await;
    let (status, body) = server.request("GET", "/api/health", &[], b"").await;
    assert_eq!(status, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["redis_mode"], "cluster");
    assert_eq!(health["masters"].as_array().unwrap().len(), 3);
    assert_eq!(server.entity_count().await, 20);
    let (_, body) = server.request("GET", "/api/state", &[], b"").await;
    let state: serde_json::Value = serde_json::from_str(&body).unwrap();
    let per_master = state["entities_per_master"].as_array().unwrap();
    assert_eq!(per_master.len(), 3, "{body}");
    let total: u64 = per_master
        .iter()
        .map(|m| m["entities"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 20, "{body}");
    let body = serde_json::json!({"ids": ["u0003", "u0001", "ghost"]}).to_string();
    let (status, answer) = server.post_json("/api/batch-read", &body).await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = server.request("POST", "/api/reset", &[], b"").await;
    assert_eq!(status, 200, "{answer}");
    // 20 of each of the demo's entities.
    let deleted = format!(r#""deleted":{}"#, 20 * crate::support::demo_entities());
    assert!(answer.contains(&deleted), "{answer}");
}

/// Moves `slots` slots from the master that serves `key` to another master, keys and all, with
/// `redis-cli --cluster reshard`.
fn reshard_away_from(key: &str, slots: u32) {
    let (from, others) = master_of(key);
    let out = std::process::Command::new("redis-cli")
        .args(["--cluster", "reshard", &format!("127.0.0.1:{}", from.port)])
        .args(["--cluster-from", &from.id, "--cluster-to", &others[0].id])
        .args(["--cluster-slots", &slots.to_string(), "--cluster-yes"])
        .output()
        .expect("run redis-cli --cluster reshard");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn batch_reads_keep_answering_while_slots_move() {
    let _moving = CLUSTER_TOPOLOGY.write().await;
    let store = cluster_store("cl-move").await;
    store
        .bulk_load(synthesize_users(2_000, 5), Some(600))
        .await
        .unwrap();
    let ids: Vec<_> = (1..=2_000).map(user_id).collect();
    let first_key = store.key(&ids[0]);
    let mover = tokio::task::spawn_blocking(move || reshard_away_from(&first_key, 300));
    let mut reads = 0;
    while !mover.is_finished() || reads < 3 {
        for rows in ids.chunks(500) {
            let read = store.batch_read(rows, &[RISK]).await.unwrap();
            let found = read
                .iter()
                .filter(|row| matches!(row, Ok(values) if values[0].is_some()))
                .count();
            assert_eq!(found, rows.len(), "every entity answers during the move");
        }
        reads += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    mover.await.unwrap();
    assert_eq!(store.count().await.unwrap(), 2_000);
    assert_eq!(store.reset().await.unwrap(), 2_000);
}

/// A load sends many rows per script call, routed by the first row's key; a slot that moves
/// under a call fails it whole before it writes, and its rows are sent again one by one.
#[tokio::test]
async fn bulk_loads_keep_writing_while_slots_move() {
    let _moving = CLUSTER_TOPOLOGY.write().await;
    let store = cluster_store("cl-move-load").await;
    let first_key = store.key(&user_id(1));
    let mover = tokio::task::spawn_blocking(move || reshard_away_from(&first_key, 300));
    let mut loads = 0;
    while !mover.is_finished() || loads < 3 {
        let report = store
            .bulk_load_with_progress(
                synthesize_users(2_000, loads),
                Some(600),
                EventRule::Overwrite,
                |_| {},
            )
            .await
            .unwrap();
        assert_eq!(
            report.written, 2_000,
            "every row is written during the move"
        );
        loads += 1;
    }
    mover.await.unwrap();
    assert_eq!(store.count().await.unwrap(), 2_000);
    assert_eq!(store.reset().await.unwrap(), 2_000);
}

/// Per master: (HMGET calls, read events other than the index's SCAN steps) since the node
/// started.
fn hmgets_and_reads(port: &str) -> (u64, u64) {
    // One INFO, so the counters are of one instant.
    let info = crate::support::cluster::cli_on(port, &["info", "everything"]).unwrap_or_default();
    let field = |name: &str| -> u64 {
        info.lines()
            .find_map(|line| line.strip_prefix(name))
            .map_or(0, |rest| {
                rest.trim_start_matches(':')
                    .split([',', '\r'])
                    .next()
                    .unwrap_or("0")
                    .trim_start_matches("calls=")
                    .parse()
                    .unwrap_or(0)
            })
    };
    (
        field("cmdstat_hmget:"),
        field("total_reads_processed").saturating_sub(field("cmdstat_scan:")),
    )
}

#[tokio::test]
async fn a_read_of_two_entities_is_one_hmget_per_entity_key_in_one_pipeline_per_master() {
    // Alone on the cluster: its counters are global.
    let _alone = CLUSTER_TOPOLOGY.write().await;
    let server = TestServer::start_on(&cluster_url(), "cluster-two-entities", &[]).await;
    let users: Vec<String> = (1..=20).map(|n| format!("u{n:04}")).collect();
    let merchants: Vec<String> = (1..=20).map(|n| format!("m{n:04}")).collect();
    let body = serde_json::json!({
        "features": "fraud_model",
        "entities": {"user_id": users, "merchant_id": merchants},
    });
    let keys_read = || async {
        let (_, state) = server.request("GET", "/api/state", &[], b"").await;
        let state: serde_json::Value = serde_json::from_str(&state).unwrap();
        state["store"]["reads_total"].as_u64().unwrap()
    };
    let masters = crate::support::cluster::masters();
    let before: Vec<(u64, u64)> = masters.iter().map(|m| hmgets_and_reads(&m.port)).collect();
    let read_before = keys_read().await;
    const READS: u64 = 30;
    for _ in 0..READS {
        let (status, answer) = server.feast("/get-online-features", &body).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["results"][5]["statuses"][19], "PRESENT", "{answer}");
    }
    let deltas: Vec<(u64, u64)> = masters
        .iter()
        .zip(&before)
        .map(|(m, (hmgets, reads))| {
            let (h, r) = hmgets_and_reads(&m.port);
            (h - hmgets, r.saturating_sub(*reads))
        })
        .collect();
    // 40 keys a read (two entities × 20 rows), each one HMGET holding every view of its entity.
    assert_eq!(keys_read().await - read_before, READS * 40);
    let hmgets: u64 = deltas.iter().map(|(h, _)| h).sum();
    assert!(hmgets >= READS * 40, "{deltas:?}");
    let serving = deltas.iter().filter(|(h, _)| *h > 0).count();
    assert!(serving >= 2, "the keys sit on one master only: {deltas:?}");
    // One pipeline per master a read: about one read event each, beside replication acks; a
    // command per key would be some 13 per master a read.
    for (hmgets, reads) in &deltas {
        if *hmgets > 0 {
            assert!(*reads <= READS * 3, "{deltas:?}");
        }
    }
}

/// A master promoted after a failover has an empty script cache. A store that has loaded no
/// script yet must still run its lease on it: the NOSCRIPT answer loads the script and runs the
/// call again, where it used to send an empty pipeline of "the scripts loaded so far" and fail
/// with "empty command" on every renewal.
#[tokio::test]
async fn a_store_that_loaded_no_script_runs_its_scripts_on_masters_that_forgot_them() {
    // Flushing the masters' script caches is a change every cluster test sees.
    let _alone = CLUSTER_TOPOLOGY.write().await;
    let store = cluster_store("cl-noscript").await;
    for master in crate::support::cluster::masters() {
        let flushed = crate::support::cluster::cli_on(&master.port, &["script", "flush"]);
        assert_eq!(flushed.as_deref().map(str::trim), Some("OK"), "{master:?}");
    }
    let group = "cl-noscript-group";
    let held = store.take_lease(group, "me", 5_000, 1).await.unwrap();
    assert_eq!(held.holder, "me");
    store.raise_fences(group, held.token).await.unwrap();
    assert!(store.release_lease(group, "me").await.unwrap());
}

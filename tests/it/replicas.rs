//! Several servers on one Redis: one lease picks the one that streams and walks the keyspace,
//! another takes over when it dies, a holder paused past its lease never writes again, a
//! `serve` replica's pause reaches the holder, and a `worker` serves only probes and metrics.
//! The servers are processes of their own, so they can be killed and frozen.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use feature_store_core::store::{FeatureStore, Fence, SkipReason, StoreConfig, StreamingOutcome};
use feature_store_core::synth::synthesize_users;
use feature_store_types::domain::KeyPrefix;
use prometheus_parse::{Scrape, Value};

use crate::support::{
    eventually, free_port, http, id, unique_prefix, OwnRedis, Target, CLUSTER_TOPOLOGY,
};

/// Long enough that a loaded CI machine (two tests of four debug servers each on 2 cores) still
/// renews in time; two of them bound the takeover.
const LEASE_TTL: Duration = Duration::from_secs(3);

/// One server process; killed when dropped.
struct Replica {
    child: Child,
    port: u16,
}

impl Replica {
    fn spawn(url: &str, prefix: &str, role: &str) -> Self {
        let port = free_port();
        let log = std::env::temp_dir().join(format!("fs-replica-{port}.log"));
        let log = std::fs::File::create(log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_feature-store"))
            .args(["--port", &port.to_string(), "--redis-url", url])
            .args(["--key-prefix", prefix, "--role", role])
            .args([
                "--initial-users",
                "0",
                "--no-reset",
                "--tick-seconds",
                "0.1",
            ])
            .args(["--lease-ttl-ms", &LEASE_TTL.as_millis().to_string()])
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start a server");
        Replica { child, port }
    }

    fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill {signal}");
    }

    async fn request(&self, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        let headers = [("content-type", "application/json")];
        let response = tokio::time::timeout(
            Duration::from_secs(5),
            http(addr, method, path, &headers, body.as_bytes()),
        )
        .await
        .ok()?
        .ok()?;
        Some((response.status().as_u16(), response.into_body()))
    }

    /// What this process itself did (its /metrics), or `None` while it does not answer.
    async fn own(&self) -> Option<Own> {
        let (status, text) = self.request("GET", "/metrics", "").await?;
        (status == 200).then(|| Own::of(&text))
    }

    async fn state(&self) -> serde_json::Value {
        let (status, body) = self.request("GET", "/api/state", "").await.unwrap();
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One process's own counters, from its /metrics.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Own {
    held: bool,
    writes: f64,
    fenced: f64,
    scans: f64,
    token: f64,
    held_seconds: f64,
}

impl Own {
    fn of(text: &str) -> Self {
        let scrape = Scrape::parse(text.lines().map(|line| Ok(line.to_owned()))).unwrap();
        let value = |metric: &str, label: Option<(&str, &str)>| {
            scrape
                .samples
                .iter()
                .find(|s| {
                    s.metric == metric
                        && label.is_none_or(|(name, value)| s.labels.get(name) == Some(value))
                })
                .map_or(0.0, |s| match s.value {
                    Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
                    _ => 0.0,
                })
        };
        Own {
            held: value("feature_store_lease_held", None) == 1.0,
            writes: value("feature_store_worker_writes_total", None),
            fenced: value("feature_store_worker_fenced_total", None),
            scans: value(
                "feature_store_redis_op_duration_seconds_count",
                Some(("op", "scan")),
            ),
            token: value("feature_store_lease_token", None),
            held_seconds: value("feature_store_lease_held_seconds", None),
        }
    }
}

/// Every replica's own counters, `None` for one that does not answer.
async fn all_own(replicas: &[Replica]) -> Vec<Option<Own>> {
    let mut own = Vec::new();
    for replica in replicas {
        own.push(replica.own().await);
    }
    own
}

/// The one replica (of those answering, `skip` aside) that holds the lease and has written
/// since the call: its position. Panics with `what` after two lease TTLs and some.
async fn streaming_holder(replicas: &[Replica], skip: Option<usize>, what: &str) -> usize {
    let deadline = LEASE_TTL * 2 + Duration::from_secs(8);
    let started = Instant::now();
    let first = all_own(replicas).await;
    loop {
        let now = all_own(replicas).await;
        let holders: Vec<usize> = (0..replicas.len())
            .filter(|&at| Some(at) != skip && now[at].is_some_and(|own| own.held))
            .collect();
        if let [at] = holders[..] {
            let before = first[at].map_or(0.0, |own| own.writes);
            if now[at].is_some_and(|own| own.writes > before) {
                return at;
            }
        }
        assert!(
            started.elapsed() < deadline,
            "timed out waiting for {what}: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `replica`'s own counters once they stand still for half a second.
async fn settled(replica: &Replica) -> Own {
    let started = Instant::now();
    loop {
        let writes = replica.own().await.unwrap().writes;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let again = replica.own().await.unwrap();
        if again.writes == writes {
            return again;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "it keeps writing"
        );
    }
}

async fn three_servers_stream_once_and_hand_over(on: Target, url: &str) {
    let prefix = unique_prefix("replicas");
    let store = FeatureStore::connect(
        url,
        StoreConfig {
            key_prefix: KeyPrefix::parse(&prefix).unwrap(),
            ..StoreConfig::default()
        },
    )
    .await
    .unwrap();
    store
        .bulk_load(synthesize_users(2_500, 5), Some(3_600))
        .await
        .unwrap();
    let replicas: Vec<Replica> = ["all", "all", "worker", "serve"]
        .into_iter()
        .map(|role| Replica::spawn(url, &prefix, role))
        .collect();
    let serve = &replicas[3];
    eventually(
        Duration::from_secs(30),
        "every server to answer",
        || async { all_own(&replicas).await.iter().all(Option::is_some) },
    )
    .await;

    // Exactly one streams; the others, the `serve` one too, write nothing and walk nothing.
    let holder = streaming_holder(&replicas, None, "one server to hold the lease and stream").await;
    // Redis's window inside the servers': a slow read of the servers' counters on a loaded
    // machine must not let Redis count SCANs the holder's window left out.
    let before = all_own(&replicas).await;
    let scans_before = redis_scans(on, url).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let scans_after = redis_scans(on, url).await;
    let after = all_own(&replicas).await;
    for at in 0..replicas.len() {
        let (before, after) = (before[at].unwrap(), after[at].unwrap());
        if at == holder {
            assert!(
                after.writes > before.writes,
                "the holder streams: {after:?}"
            );
            assert!(after.scans > before.scans, "the holder walks: {after:?}");
        } else {
            assert!(!after.held, "{at} holds too: {after:?}");
            assert_eq!(after.writes, 0.0, "{at} wrote without the lease");
            assert_eq!(after.scans, before.scans, "{at} walked the keyspace too");
        }
    }
    if let (Some(redis_before), Some(redis_after)) = (scans_before, scans_after) {
        // Redis itself saw no SCAN but the holder's: four servers walk it as often as one.
        let redis_ran = redis_after - redis_before;
        let own = after[holder].unwrap().scans - before[holder].unwrap().scans;
        assert!(
            redis_ran <= own * 1.2,
            "Redis ran {redis_ran} SCANs in the window, the holder {own}"
        );
    }
    // The holder's sample, for the next holder's worker: every id, at this size.
    let (_, sample) = store.read_group(&prefix, &["sample:user"]).await.unwrap();
    let sample: Vec<String> = serde_json::from_str(
        sample[0]
            .as_deref()
            .expect("the holder publishes its sample"),
    )
    .unwrap();
    assert_eq!(sample.len(), 2_500);
    let state = serve.state().await;
    assert_eq!(state["lease"]["role"], "serve");
    assert_eq!(state["lease"]["held_here"], false);
    assert!(state["lease"]["holder"].is_string(), "{}", state["lease"]);
    assert_eq!(
        state["entity_count"], 2_500,
        "the serve replica reads the holder's index"
    );
    assert!(
        state["worker"]["writes_count"].as_u64().unwrap() > 0,
        "the holder's worker shows"
    );
    let (status, body) = replicas[2].request("GET", "/api/state", "").await.unwrap();
    assert_eq!(status, 404, "a worker serves no API: {body}");

    // A pause sent to the `serve` replica stops the holder's stream; a resume restarts it.
    let (status, body) = serve
        .request("POST", "/api/worker", r#"{"action":"pause"}"#)
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        serde_json::json!({"running": true, "paused": true}),
        "the answer is the stream's, not the serve replica's own idle worker"
    );
    let last = settled(&replicas[holder]).await.writes;
    eventually(
        Duration::from_secs(5),
        "the serve replica to show the pause",
        || async { serve.state().await["worker"]["paused"] == true },
    )
    .await;
    serve
        .request("POST", "/api/worker", r#"{"action":"resume"}"#)
        .await
        .unwrap();
    eventually(Duration::from_secs(10), "the stream to resume", || async {
        replicas[holder].own().await.unwrap().writes > last
    })
    .await;

    // Frozen past its lease, the holder loses it; thawed, it never writes again.
    let token = after[holder].unwrap().token;
    replicas[holder].signal("-STOP");
    let frozen_at = Instant::now();
    let second = streaming_holder(&replicas, Some(holder), "another server to take over").await;
    assert_ne!(second, holder);
    let took = frozen_at.elapsed();
    let second_own = replicas[second].own().await.unwrap();
    assert!(second_own.token > token, "a new holder has a greater token");
    assert!(
        took.saturating_sub(Duration::from_secs_f64(second_own.held_seconds)) <= LEASE_TTL * 2,
        "taken over {took:?} after the freeze (held {} s)",
        second_own.held_seconds
    );
    eprintln!(
        "{on:?}: taken over {:?} after the freeze",
        took.saturating_sub(Duration::from_secs_f64(second_own.held_seconds))
    );
    replicas[holder].signal("-CONT");
    let thawed = replicas[holder]
        .own()
        .await
        .expect("the thawed server answers");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let later = replicas[holder].own().await.unwrap();
    assert!(
        !later.held,
        "the thawed server still thinks it holds the lease"
    );
    assert_eq!(
        later.writes, thawed.writes,
        "the deposed holder wrote after another took over"
    );

    // Killed, the new holder's stream moves to a third within two lease TTLs.
    let killed = &replicas[second];
    let _ = Command::new("kill")
        .args(["-KILL", &killed.child.id().to_string()])
        .status();
    let killed_at = Instant::now();
    let third = streaming_holder(&replicas, Some(second), "a third server to take over").await;
    let took = killed_at.elapsed();
    let third_own = replicas[third].own().await.unwrap();
    eprintln!(
        "{on:?}: taken over {:?} after the kill",
        took.saturating_sub(Duration::from_secs_f64(third_own.held_seconds))
    );
    assert!(
        took.saturating_sub(Duration::from_secs_f64(third_own.held_seconds)) <= LEASE_TTL * 2,
        "taken over {took:?} after the kill (held {} s)",
        third_own.held_seconds
    );
}

/// SCAN calls Redis has run (`INFO commandstats`), on a Redis of the test's own only: the shared
/// ones serve other tests' scans too.
async fn redis_scans(on: Target, url: &str) -> Option<f64> {
    if on == Target::Cluster || url == crate::support::redis_url() {
        return None;
    }
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await
        .unwrap();
    let line = info
        .lines()
        .find(|line| line.starts_with("cmdstat_scan:"))?;
    let calls = line.split(['=', ',']).nth(1)?;
    calls.parse().ok()
}

#[tokio::test]
async fn three_servers_on_one_redis_stream_once_walk_once_and_hand_over() {
    let redis = OwnRedis::start(free_port()).await;
    three_servers_stream_once_and_hand_over(Target::Single, &redis.url()).await;
}

#[tokio::test]
async fn three_servers_on_the_cluster_stream_once_and_hand_over() {
    let _topology = CLUSTER_TOPOLOGY.read().await;
    three_servers_stream_once_and_hand_over(Target::Cluster, &Target::Cluster.url()).await;
}

/// A streaming write of each of `ids` under `fence`: what each did.
async fn written(
    store: &FeatureStore,
    ids: &[feature_store_types::domain::EntityId],
    fence: &Fence,
) -> Vec<StreamingOutcome> {
    let event = [("tx_count_5m", "1".to_owned())];
    let mut outcomes = Vec::new();
    for id in ids {
        outcomes.push(
            store
                .update_streaming_fenced(id, &event, fence)
                .await
                .unwrap(),
        );
    }
    outcomes
}

/// The fence alone, without the lease's own timing: a write under a token older than the
/// lease's latest is refused wherever its key lands (each slot has its fence on a cluster).
async fn a_write_under_an_old_token_is_refused(on: Target) {
    let store = crate::support::store_on(on, "fence").await;
    let group = store.config().key_prefix.to_string();
    store
        .bulk_load(synthesize_users(40, 9), Some(3_600))
        .await
        .unwrap();
    let ids: Vec<_> = (1..=40).map(|n| id(&format!("u{n:04}"))).collect();

    let first = store.take_lease(&group, "a", 200, 1).await.unwrap();
    assert_eq!(first.holder, "a");
    store.raise_fences(&group, first.token).await.unwrap();
    let old = Fence {
        group: group.clone(),
        token: first.token,
    };
    assert!(written(&store, &ids, &old)
        .await
        .iter()
        .all(|outcome| *outcome == StreamingOutcome::Written));
    let mut second = store.take_lease(&group, "b", 60_000, 2).await.unwrap();
    let started = Instant::now();
    while second.holder != "b" {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "a's lease never ran out"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        second = store.take_lease(&group, "b", 60_000, 2).await.unwrap();
    }
    assert!(second.token > first.token);
    store.raise_fences(&group, second.token).await.unwrap();
    // The deposed holder raising its own fences late cannot lower them.
    store.raise_fences(&group, first.token).await.unwrap();
    let new = Fence {
        group: group.clone(),
        token: second.token,
    };
    // Every slot's fence refuses the old token, and takes the new one.
    assert!(written(&store, &ids, &old)
        .await
        .iter()
        .all(|outcome| *outcome == StreamingOutcome::Skipped(SkipReason::Fenced)));
    assert!(written(&store, &ids, &new)
        .await
        .iter()
        .all(|outcome| *outcome == StreamingOutcome::Written));
    assert!(!store
        .publish_fenced(&group, first.token, &[("worker", "old".into())])
        .await
        .unwrap());
    assert!(store
        .publish_fenced(&group, second.token, &[("worker", "new".into())])
        .await
        .unwrap());
    let (holder, values) = store.read_group(&group, &["worker"]).await.unwrap();
    assert_eq!(holder.map(|h| h.holder).as_deref(), Some("b"));
    assert_eq!(values, vec![Some("new".to_owned())]);
    // The holder gives it up; nobody else can.
    assert!(!store.release_lease(&group, "a").await.unwrap());
    assert!(store.release_lease(&group, "b").await.unwrap());
}

#[tokio::test]
async fn a_write_under_an_old_token_is_refused_on_one_redis() {
    a_write_under_an_old_token_is_refused(Target::Single).await;
}

#[tokio::test]
async fn a_write_under_an_old_token_is_refused_on_the_cluster() {
    a_write_under_an_old_token_is_refused(Target::Cluster).await;
}

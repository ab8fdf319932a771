//! A Redis Cluster master crashing (SIGKILL) while reads run: the server recovers by itself, and
//! every path follows the new slot map within seconds of the replica's promotion, twice in a
//! row, with no read ever answering a wrong value.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use feature_store_core::synth::user_id;
use serde_json::{json, Value};

use crate::support::cluster::{kill, master_of, restart_as_replica, wait_for_promotion};
use crate::support::{cluster_url, TestServer, CLUSTER_TOPOLOGY, RISK};

const ENTITIES: u64 = 300;
/// From the replica's promotion to every path answering 200 again.
const RECOVERY: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_path_recovers_by_itself_after_two_master_crashes_under_reads() {
    let _moving = CLUSTER_TOPOLOGY.write().await;
    let server = Arc::new(
        TestServer::start_on(
            &cluster_url(),
            "cl-failover",
            &["--initial-users", "300", "--read-timeout-ms", "1000"],
        )
        .await,
    );
    let expected = Arc::new(stored_risk(&server).await);
    let load = Load::start(&server, &expected);
    for round in 1..=2 {
        let key = format!("{}{}", server.prefix, user_id(1));
        let (doomed, _) = master_of(&key);
        let dir = kill(&doomed);
        let killed = Instant::now();
        let dead = doomed.clone();
        let promoted =
            tokio::task::spawn_blocking(move || wait_for_promotion(&dead, Duration::from_secs(30)))
                .await
                .unwrap();
        let recovering = Instant::now();
        every_path_answers(&server, &promoted.port, &doomed.port, &expected).await;
        eprintln!(
            "failover {round}: {} promoted {:?} after the kill; every path answered 200 {:?} later",
            promoted.port,
            recovering - killed,
            recovering.elapsed(),
        );
        tokio::task::spawn_blocking(move || restart_as_replica(&doomed, &dir))
            .await
            .unwrap();
    }
    let seen = load.stop().await;
    assert!(
        seen.wrong.is_empty(),
        "wrong values served: {:?}",
        seen.wrong
    );
    assert!(seen.answered > 0, "no read answered at all: {seen:?}");
    eprintln!("reads during the failovers: {seen:?}");
}

/// Every entity's `risk_segment`, as the Feast route serves it before anything fails.
async fn stored_risk(server: &TestServer) -> HashMap<String, Value> {
    let ids: Vec<String> = (1..=ENTITIES).map(|n| user_id(n).to_string()).collect();
    let (status, answer) = feast_read(server, &ids).await;
    assert_eq!(status, 200, "{answer}");
    let values = answer["results"][1]["values"].as_array().unwrap();
    ids.into_iter().zip(values.iter().cloned()).collect()
}

async fn feast_read(server: &TestServer, ids: &[String]) -> (u16, Value) {
    let body = json!({
        "features": [format!("user_batch:{RISK}")],
        "entities": {"user_id": ids},
    });
    server.feast("/get-online-features", &body).await
}

/// Each path a caller has, in the order `every_path_answers` tries them.
#[derive(Clone, Copy, Debug)]
enum Path {
    Ready,
    Read,
    BatchRead,
    FeastRead,
    Health,
    State,
    BulkLoad,
    Reset,
    /// A second bulk load puts back what the reset deleted.
    BulkLoadAgain,
}

/// Polls every path until each answers 200 (health and state showing the new master, the
/// Feast read the stored values), failing `RECOVERY` after the promotion. Loads and resets the
/// store once each, leaving it as it was.
async fn every_path_answers(
    server: &TestServer,
    promoted: &str,
    dead: &str,
    expected: &HashMap<String, Value>,
) {
    let ids: Vec<String> = (1..=ENTITIES).map(|n| user_id(n).to_string()).collect();
    let started = Instant::now();
    let new_master = format!("127.0.0.1:{promoted}");
    let dead_master = format!("127.0.0.1:{dead}");
    let read = json!({"user": "u0001", "fields": [RISK]}).to_string();
    let batch = json!({"ids": ids, "fields": [RISK]}).to_string();
    let bulk = json!({"count": ENTITIES, "ttl_seconds": 600}).to_string();
    for path in [
        Path::Ready,
        Path::Read,
        Path::BatchRead,
        Path::FeastRead,
        Path::Health,
        Path::State,
        Path::BulkLoad,
        Path::Reset,
        Path::BulkLoadAgain,
    ] {
        loop {
            let (status, body) = match path {
                Path::Ready => server.request("GET", "/readyz", &[], b"").await,
                Path::Read => server.post_json("/api/read", &read).await,
                Path::BatchRead => server.post_json("/api/batch-read", &batch).await,
                Path::FeastRead => {
                    let (status, answer) = feast_read(server, &ids).await;
                    (status, answer.to_string())
                }
                Path::Health => server.request("GET", "/api/health", &[], b"").await,
                Path::State => server.request("GET", "/api/state", &[], b"").await,
                Path::BulkLoad | Path::BulkLoadAgain => {
                    server.post_json("/api/bulk-load", &bulk).await
                }
                Path::Reset => server.request("POST", "/api/reset", &[], b"").await,
            };
            let json: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            let answered = status == 200
                && match path {
                    Path::BatchRead => json["entity_count"] == ENTITIES,
                    Path::FeastRead => ids
                        .iter()
                        .enumerate()
                        .all(|(at, id)| json["results"][1]["values"][at] == expected[id]),
                    Path::Health => {
                        let masters = json["masters"].to_string();
                        masters.contains(&new_master) && !masters.contains(&dead_master)
                    }
                    Path::State => {
                        json["entity_count"] == ENTITIES
                            && json["entities_per_master"]
                                .to_string()
                                .contains(&new_master)
                    }
                    // As many of each of the demo's entities.
                    Path::BulkLoad | Path::BulkLoadAgain => {
                        json["loaded"] == ENTITIES * crate::support::demo_entities()
                    }
                    Path::Reset => json["deleted"] == ENTITIES * crate::support::demo_entities(),
                    Path::Ready | Path::Read => true,
                };
            if answered {
                break;
            }
            assert!(
                started.elapsed() < RECOVERY,
                "{path:?} still answers {status} {:?} after the promotion: {body:.300}",
                started.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// What the readers saw.
#[derive(Debug, Default)]
struct Seen {
    /// Reads answered 200.
    answered: u64,
    /// Reads refused (503 or 504), as a failover may.
    refused: u64,
    /// Any other status, or a 200 whose value is not the stored one.
    wrong: Vec<String>,
}

/// Single reads, batch reads, Feast reads and streaming pushes in a loop, each answer checked
/// against the stored values; an entity deleted by the reset may be absent, never different.
struct Load {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(server: &Arc<TestServer>, expected: &Arc<HashMap<String, Value>>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let round = Arc::new(AtomicU64::new(0));
        let tasks = (0..4)
            .map(|reader| {
                let (server, expected) = (Arc::clone(server), Arc::clone(expected));
                let (stop, seen, round) =
                    (Arc::clone(&stop), Arc::clone(&seen), Arc::clone(&round));
                tokio::spawn(async move {
                    while !stop.load(Relaxed) {
                        let n = round.fetch_add(1, Relaxed);
                        let outcome = match reader {
                            0 => single_read(&server, &expected, n).await,
                            1 => batch_read(&server, &expected).await,
                            2 => feast_batch(&server, &expected).await,
                            _ => streaming_push(&server, n).await,
                        };
                        let mut seen = seen.lock().unwrap();
                        match outcome {
                            Ok(true) => seen.answered += 1,
                            Ok(false) => seen.refused += 1,
                            Err(wrong) => seen.wrong.push(wrong),
                        }
                    }
                })
            })
            .collect();
        Load { stop, seen, tasks }
    }

    async fn stop(self) -> Seen {
        self.stop.store(true, Relaxed);
        for task in self.tasks {
            task.await.unwrap();
        }
        std::mem::take(&mut self.seen.lock().unwrap())
    }
}

/// `Ok(true)` for a right answer, `Ok(false)` for a 503/504, `Err` for anything else.
type Outcome = Result<bool, String>;

fn refused_or_wrong(status: u16, body: &str) -> Outcome {
    match status {
        503 | 504 => Ok(false),
        _ => Err(format!("{status}: {body:.300}")),
    }
}

fn same_or_absent(id: &str, served: Option<&Value>, expected: &HashMap<String, Value>) -> Outcome {
    match served {
        None | Some(Value::Null) => Ok(true),
        Some(value) if value == &expected[id] => Ok(true),
        Some(value) => Err(format!("{id}: {value}, stored {}", expected[id])),
    }
}

async fn single_read(server: &TestServer, expected: &HashMap<String, Value>, n: u64) -> Outcome {
    let id = user_id(n % ENTITIES + 1).to_string();
    let body = json!({"user": id, "fields": [RISK]}).to_string();
    let (status, body) = server.post_json("/api/read", &body).await;
    if status != 200 {
        return refused_or_wrong(status, &body);
    }
    let answer: Value = serde_json::from_str(&body).unwrap();
    same_or_absent(&id, Some(&answer["fields"][0]["typed"]), expected)
}

async fn batch_read(server: &TestServer, expected: &HashMap<String, Value>) -> Outcome {
    let ids: Vec<String> = (1..=ENTITIES).map(|n| user_id(n).to_string()).collect();
    let body = json!({"ids": ids, "fields": [RISK]}).to_string();
    let (status, body) = server.post_json("/api/batch-read", &body).await;
    if status != 200 {
        return refused_or_wrong(status, &body);
    }
    let answer: Value = serde_json::from_str(&body).unwrap();
    for row in answer["sample"].as_array().unwrap() {
        let id = row["id"].as_str().unwrap();
        let served = row["values"].get(RISK);
        same_or_absent(id, served, expected)?;
    }
    Ok(true)
}

async fn feast_batch(server: &TestServer, expected: &HashMap<String, Value>) -> Outcome {
    let ids: Vec<String> = (1..=ENTITIES).map(|n| user_id(n).to_string()).collect();
    let (status, answer) = feast_read(server, &ids).await;
    if status != 200 {
        return refused_or_wrong(status, &answer.to_string());
    }
    let values = answer["results"][1]["values"].as_array().unwrap();
    for (id, value) in ids.iter().zip(values) {
        same_or_absent(id, Some(value), expected)?;
    }
    Ok(true)
}

/// A streaming push of one entity: written, skipped (the entity is gone after a reset), or
/// refused while its master fails over; never an error of another kind.
async fn streaming_push(server: &TestServer, n: u64) -> Outcome {
    let id = user_id(n % ENTITIES + 1).to_string();
    let body = json!({
        "push_source_name": "user_stream_push",
        "df": {
            "user_id": [id], "last_login_ts": [1], "last_device_id": ["d"],
            "tx_count_5m": [n as i64], "failed_logins_15m": [0], "session_country": ["US"],
        },
    });
    let (status, answer) = server.feast("/push", &body).await;
    match status {
        200 => Ok(true),
        _ => refused_or_wrong(status, &answer.to_string()),
    }
}

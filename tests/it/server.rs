//! The server process end to end, without a browser: a Redis outage is a 503 that heals by
//! itself, and SIGTERM is a clean exit.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{eventually, free_port, http, unique_prefix, OwnRedis, TestServer, RISK};

/// A GET to the server on `port`: (status, body), or `None` if it does not answer in time.
async fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let response = tokio::time::timeout(Duration::from_secs(10), http(addr, "GET", path, &[], b""))
        .await
        .ok()?
        .ok()?;
    Some((response.status().as_u16(), response.into_body()))
}

/// Kills the server if the test fails before it is stopped.
struct ServerProcess(std::process::Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn redis_down_is_a_503_the_server_recovers_from_and_sigterm_exits_cleanly() {
    let redis = OwnRedis::start(free_port()).await;
    let port = free_port();
    // A file, not a pipe: nobody drains a pipe while the server runs.
    let log_path = std::env::temp_dir().join(format!("fs-server-test-{port}.log"));
    let log_file = std::fs::File::create(&log_path).unwrap();
    let mut server = ServerProcess(
        Command::new(env!("CARGO_BIN_EXE_feature-store"))
            .args(["--port", &port.to_string(), "--redis-url", &redis.url()])
            .args(["--initial-users", "20", "--tick-seconds", "0.2"])
            .args(["--log-format", "json"])
            .stdout(Stdio::from(log_file.try_clone().unwrap()))
            .stderr(Stdio::from(log_file))
            .spawn()
            .expect("start the server"),
    );
    eventually(Duration::from_secs(20), "the server to answer", || async {
        get(port, "/api/health")
            .await
            .is_some_and(|(status, _)| status == 200)
    })
    .await;
    let (status, body) = get(port, "/api/state").await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""entity_count":20"#), "{body}");

    let redis_port = redis.port;
    drop(redis);
    eventually(
        Duration::from_secs(15),
        "a 503 while Redis is down",
        || async {
            get(port, "/api/state").await.is_some_and(|(status, body)| {
                status == 503 && body.contains("Redis is unavailable")
            })
        },
    )
    .await;

    let redis = OwnRedis::start(redis_port).await;
    eventually(
        Duration::from_secs(20),
        "a 200 once Redis is back",
        || async {
            get(port, "/api/state")
                .await
                .is_some_and(|(status, _)| status == 200)
        },
    )
    .await;
    // The bulk loads' connection sat idle through the outage: the first load after it works.
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let json = [("content-type", "application/json")];
    let body = br#"{"count":5,"ttl_seconds":60}"#;
    let loaded = http(addr, "POST", "/api/bulk-load", &json, body)
        .await
        .unwrap();
    assert_eq!(loaded.status(), 200, "{}", loaded.body());

    let terminated = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    let mut exited = None;
    eventually(Duration::from_secs(10), "the server to exit", || {
        exited = server.0.try_wait().unwrap();
        let done = exited.is_some();
        async move { done }
    })
    .await;
    assert_eq!(exited.unwrap().code(), Some(0));
    let log = std::fs::read_to_string(&log_path).unwrap();
    let _ = std::fs::remove_file(&log_path);
    // One JSON object per line, for a log shipper.
    let messages: Vec<String> = log
        .lines()
        .map(|line| {
            let event: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
            event["fields"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    let logged = |text: &str| messages.iter().any(|m| m.contains(text));
    assert!(logged("listening on http://127.0.0.1:"), "{log}");
    assert!(logged("Materialized 20 user entities"), "{log}");
    assert!(logged("Materialized 20 merchant entities"), "{log}");
    assert!(logged("shutting down"), "{log}");
    drop(redis);
}

#[tokio::test]
async fn every_answer_carries_a_request_id_and_keeps_a_plain_incoming_one() {
    let server = TestServer::start("request-id", &[]).await;
    let id_of = |response: &hyper::Response<String>| {
        let id = response.headers().get("x-request-id");
        id.expect("an x-request-id header")
            .to_str()
            .unwrap()
            .to_owned()
    };
    let kept = server
        .send(
            "GET",
            "/api/health",
            &[("x-request-id", "trace-42.a:b")],
            b"",
        )
        .await;
    assert_eq!(id_of(&kept), "trace-42.a:b");
    let first = id_of(&server.send("GET", "/api/health", &[], b"").await);
    let second = id_of(&server.send("GET", "/api/health", &[], b"").await);
    assert_ne!(first, second);
    let fresh = |id: &str| (1..=20).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit());
    assert!(fresh(&first), "{first}");
    for hostile in ["x".repeat(65), "a b".into(), "<script>".into()] {
        let replaced = server
            .send("GET", "/api/health", &[("x-request-id", &hostile)], b"")
            .await;
        assert!(fresh(&id_of(&replaced)), "{hostile:?} is replaced");
    }
    // A refused request has one too.
    let refused = server
        .send(
            "POST",
            "/api/reset",
            &[("origin", "http://evil.example")],
            b"",
        )
        .await;
    assert_eq!(refused.status(), 403);
    assert!(fresh(&id_of(&refused)));
}

#[tokio::test]
async fn readiness_follows_redis_and_liveness_does_not() {
    let redis = OwnRedis::start(free_port()).await;
    let server = TestServer::start_on(&redis.url(), "probes", &[]).await;
    // Feast's /health follows Redis the same way.
    let ready = |status: u16| {
        let server = &server;
        async move {
            server.request("GET", "/readyz", &[], b"").await.0 == status
                && server.request("GET", "/health", &[], b"").await.0 == status
        }
    };
    assert!(ready(200).await);
    assert_eq!(server.request("GET", "/livez", &[], b"").await.0, 200);

    let port = redis.port;
    drop(redis);
    eventually(
        Duration::from_secs(10),
        "readyz 503 with Redis gone",
        || ready(503),
    )
    .await;
    // One answer for "Redis unreachable", whether the client is refused or still reconnecting.
    for _ in 0..20 {
        assert!(ready(503).await, "readyz must stay 503 while Redis is gone");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(server.request("GET", "/livez", &[], b"").await.0, 200);

    let _redis = OwnRedis::start(port).await;
    eventually(
        Duration::from_secs(20),
        "readyz 200 with Redis back",
        || ready(200),
    )
    .await;
}

#[tokio::test]
async fn a_frozen_redis_answers_reads_with_504_within_the_deadline() {
    let redis = OwnRedis::start(free_port()).await;
    let server =
        TestServer::start_on(&redis.url(), "deadline", &["--read-timeout-ms", "300"]).await;
    let body = serde_json::json!({"user": "u0001", "fields": [RISK]}).to_string();
    let read = |headers: &'static [(&'static str, &'static str)]| {
        let (server, body) = (&server, body.clone());
        async move {
            let started = std::time::Instant::now();
            let headers: Vec<_> = [("content-type", "application/json")]
                .into_iter()
                .chain(headers.iter().copied())
                .collect();
            let (status, answer) = server
                .request("POST", "/api/read", &headers, body.as_bytes())
                .await;
            (status, answer, started.elapsed())
        }
    };
    assert_eq!(read(&[]).await.0, 200);
    let (status, answer, _) = read(&[("x-deadline-ms", "soon")]).await;
    assert_eq!(status, 422, "{answer}");

    redis.freeze();
    let (status, answer, took) = read(&[]).await;
    assert_eq!(status, 504, "{answer}");
    assert!(answer.contains("300 ms"), "names the deadline: {answer}");
    assert!(took < Duration::from_millis(1_000), "took {took:?}");
    let (status, _, took) = read(&[("x-deadline-ms", "50")]).await;
    assert_eq!(status, 504);
    assert!(
        took < Duration::from_millis(600),
        "a caller's shorter deadline: {took:?}"
    );
    let (status, answer) = server.request("GET", "/readyz", &[], b"").await;
    assert_eq!(
        status, 503,
        "not ready while frozen, the same status as unreachable"
    );
    assert!(answer.contains("did not answer within 300 ms"), "{answer}");

    redis.thaw();
    eventually(Duration::from_secs(10), "reads answer again", || async {
        read(&[]).await.0 == 200
    })
    .await;
}

/// A bulk load goes over a connection of its own, named so in `CLIENT LIST`: reads never queue
/// behind its pipelined chunks, and never touch it.
#[tokio::test]
async fn bulk_loads_have_a_connection_of_their_own() {
    let redis = OwnRedis::start(free_port()).await;
    let server = TestServer::start_on(&redis.url(), "bulk-connection", &[]).await;
    let conn = redis.connection().await;
    // (lib-name, last command, commands sent) of each connection of the server.
    let clients = || {
        let mut conn = conn.clone();
        async move {
            let list: String = redis::cmd("CLIENT")
                .arg("LIST")
                .query_async(&mut conn)
                .await
                .unwrap();
            let field = |line: &str, name: &str| -> String {
                let prefix = format!("{name}=");
                (line
                    .split(' ')
                    .find_map(|f| f.strip_prefix(prefix.as_str())))
                .unwrap_or_default()
                .to_owned()
            };
            list.lines()
                .map(|line| {
                    let commands = field(line, "tot-cmds").parse::<u64>().unwrap_or(0);
                    (field(line, "lib-name"), field(line, "cmd"), commands)
                })
                .filter(|(name, _, _)| name.starts_with("feature-store"))
                .collect::<Vec<_>>()
        }
    };
    let bulk = |clients: &[(String, String, u64)]| {
        let bulk: Vec<_> = clients
            .iter()
            .filter(|(name, _, _)| name == "feature-store-bulk")
            .collect();
        assert_eq!(bulk.len(), 1, "{clients:?}");
        bulk[0].clone()
    };
    // The initial users were loaded over it.
    let loaded = bulk(&clients().await);
    assert_eq!(loaded.1, "evalsha", "{loaded:?}");
    let body = serde_json::json!({"user": "u0001", "fields": [RISK]}).to_string();
    for _ in 0..5 {
        assert_eq!(server.post_json("/api/read", &body).await.0, 200);
    }
    let after = clients().await;
    assert_eq!(bulk(&after), loaded, "a read went over the bulk connection");
    assert!(
        after.iter().any(|(name, _, _)| name == "feature-store"),
        "{after:?}"
    );
}

/// Pausing the worker does not wait for a bulk load (or a materialization) to end: the switch
/// has a lock of its own.
#[tokio::test]
async fn the_worker_switch_answers_while_a_long_bulk_load_runs() {
    let server = TestServer::start("switch-during-load", &["--initial-users", "0"]).await;
    assert_eq!(server.switch_worker("start").await, (true, false));
    let addr = server.addr;
    let load = tokio::spawn(async move {
        let body = br#"{"count":20000,"ttl_seconds":60}"#;
        let json = [("content-type", "application/json")];
        let answer = http(addr, "POST", "/api/bulk-load", &json, body).await;
        answer.unwrap().status().as_u16()
    });
    let conn = crate::support::raw().await;
    let first = format!("{}u0001", server.prefix);
    eventually(Duration::from_secs(10), "the load to begin writing", || {
        let (mut conn, first) = (conn.clone(), &first);
        async move {
            redis::AsyncCommands::exists(&mut conn, first)
                .await
                .unwrap_or(false)
        }
    })
    .await;
    assert_eq!(server.switch_worker("pause").await, (true, true));
    assert!(
        !load.is_finished(),
        "the switch was answered once the load had ended"
    );
    assert_eq!(load.await.unwrap(), 200);
}

#[tokio::test]
async fn worker_actions_name_their_outcome_so_a_stale_page_cannot_invert_them() {
    let server = TestServer::start("worker-actions", &[]).await;
    assert_eq!(
        server.switch_worker("pause").await,
        (false, false),
        "pause never starts it"
    );
    assert_eq!(server.switch_worker("start").await, (true, false));
    assert_eq!(
        server.switch_worker("start").await,
        (true, false),
        "start twice: still running"
    );
    assert_eq!(server.switch_worker("pause").await, (true, true));
    assert_eq!(
        server.switch_worker("pause").await,
        (true, true),
        "pause twice: still paused"
    );
    assert_eq!(
        server.switch_worker("start").await,
        (true, false),
        "start on a paused worker resumes it"
    );
    assert_eq!(server.switch_worker("pause").await, (true, true));
    assert_eq!(server.switch_worker("resume").await, (true, false));
    assert_eq!(
        server.switch_worker("resume").await,
        (true, false),
        "resume never pauses it"
    );
    let (status, body) = server
        .post_json("/api/worker", r#"{"action":"toggle"}"#)
        .await;
    assert_eq!(status, 422, "{body}");
}

#[tokio::test]
async fn reads_past_the_work_in_flight_are_shed_at_once_with_retry_after() {
    let redis = OwnRedis::start(free_port()).await;
    let server = std::sync::Arc::new(
        TestServer::start_on(
            &redis.url(),
            "admission",
            &["--max-read-cells", "100", "--read-timeout-ms", "2000"],
        )
        .await,
    );
    let ids: Vec<String> = (1..=100).map(|n| format!("u{n:04}")).collect();
    let holding = serde_json::json!({"ids": ids, "fields": [RISK]}).to_string();
    // A frozen Redis keeps the first read, which takes every cell, in flight until its deadline.
    redis.freeze();
    let first = {
        let server = std::sync::Arc::clone(&server);
        tokio::spawn(async move { server.post_json("/api/batch-read", &holding).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    let read = serde_json::json!({"user": "u0001", "fields": [RISK]}).to_string();
    let shed = server
        .send(
            "POST",
            "/api/read",
            &[("content-type", "application/json")],
            read.as_bytes(),
        )
        .await;
    assert_eq!(shed.status(), 503, "{}", shed.body());
    assert!(
        started.elapsed() < Duration::from_millis(600),
        "shed after {:?}",
        started.elapsed()
    );
    assert_eq!(shed.headers()["retry-after"], "1");
    assert!(
        shed.body().contains(r#""error":"overloaded""#),
        "{}",
        shed.body()
    );
    // The Feast route sheds the same way.
    let feast = serde_json::json!({"features": ["user_batch:risk_segment"], "entities": {"user_id": ["u0001"]}});
    let shed = server
        .send(
            "POST",
            "/get-online-features",
            &[],
            feast.to_string().as_bytes(),
        )
        .await;
    assert_eq!(shed.status(), 503, "{}", shed.body());
    assert_eq!(shed.headers()["retry-after"], "1");
    redis.thaw();
    let (status, _) = first.await.unwrap();
    assert!(matches!(status, 200 | 504), "{status}");
    let (status, body) = server.post_json("/api/read", &read).await;
    assert_eq!(
        status, 200,
        "room again once the first read is done: {body}"
    );
}

/// Each entity's TTLs are its own views', not the first entity's: the UI's TTL facts and a
/// merchant's freshness bars are measured against them.
#[tokio::test]
async fn the_state_gives_each_entity_its_own_ttls() {
    let dir = std::env::temp_dir().join(unique_prefix("state-ttls").replace(':', "-"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("features.toml");
    let view = |name: &str, entity: &str, kind: &str, ttl: u64, feature: &str| {
        format!(
            "[[views]]\nname = \"{name}\"\nentity = \"{entity}\"\nkind = \"{kind}\"\n\
             ttl_seconds = {ttl}\nfeatures = [{{ name = \"{feature}\", type = \"int\" }}]\n"
        )
    };
    let registry = [
        "[[entities]]\nname = \"card\"\njoin_key = \"card_id\"\nkey_prefix = \"c:\"\n".to_owned(),
        "[[entities]]\nname = \"shop\"\njoin_key = \"shop_id\"\nkey_prefix = \"s:\"\n".to_owned(),
        view("card_profile", "card", "batch", 3600, "limit"),
        view("card_activity", "card", "streaming", 60, "swipes_1m"),
        view("shop_profile", "shop", "batch", 7200, "tills"),
    ];
    std::fs::write(&file, registry.join("\n")).unwrap();
    let server = TestServer::start("state-ttls", &["--features", file.to_str().unwrap()]).await;
    let state = server.state().await;
    let ttls: Vec<String> = state["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {} {}",
                e["entity"], e["batch_ttl_seconds"], e["streaming_ttl_seconds"]
            )
        })
        .collect();
    assert_eq!(
        ttls,
        [r#""card" 3600 60"#, r#""shop" 7200 null"#],
        "{state}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn read_batch_read_and_inspect_serve_the_entity_they_name() {
    let server = TestServer::start("api-entities", &[]).await;
    let json = |text: &str| -> serde_json::Value { serde_json::from_str(text).unwrap() };
    // Each entity is counted by its own index, under its own prefix.
    let (status, state) = server.request("GET", "/api/state", &[], b"").await;
    assert_eq!(status, 200, "{state}");
    let state = json(&state);
    let entities = state["entities"].as_array().unwrap();
    let names: Vec<&str> = entities
        .iter()
        .map(|e| e["entity"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["user", "merchant"], "{state}");
    assert_eq!(entities[0]["key_prefix"], server.prefix);
    let merchant_prefix = format!("{}.merchant:", server.prefix.trim_end_matches(':'));
    assert_eq!(entities[1]["key_prefix"], merchant_prefix.as_str());
    for entity in entities {
        assert_eq!(entity["count"], 20, "{state}");
    }
    assert_eq!(entities[1]["ids"][0], "m0001", "{state}");

    let body =
        r#"{"user": "m0002", "fields": ["category", "avg_ticket_30d"], "entity": "merchant"}"#;
    let (status, read) = server.post_json("/api/read", body).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(json(&read)["returned_count"], 2, "{read}");
    // The same id and fields without the entity are the first entity's: no such user.
    let body = r#"{"user": "m0002", "fields": ["category"]}"#;
    let (status, read) = server.post_json("/api/read", body).await;
    assert_eq!(
        (status, json(&read)["returned_count"].clone()),
        (200, 0.into()),
        "{read}"
    );

    let body = r#"{"count": 5, "entity": "merchant"}"#;
    let (status, batch) = server.post_json("/api/batch-read", body).await;
    assert_eq!(status, 200, "{batch}");
    let batch = json(&batch);
    assert_eq!(batch["entity_count"], 5, "{batch}");
    assert_eq!(batch["sample"][0]["id"], "m0001", "{batch}");
    // By default, a batch read of merchants asks for their streaming feature beside every batch
    // feature the registry marks (none for merchants): their own views, never the user's.
    assert_eq!(
        batch["fields"],
        serde_json::json!(["tx_count_1m", "declines_5m"]),
        "{batch}"
    );

    let (status, inspected) = server
        .request("GET", "/api/inspect?user=m0003&entity=merchant", &[], b"")
        .await;
    assert_eq!(status, 200, "{inspected}");
    let inspected = json(&inspected);
    assert_eq!(inspected["exists"], true, "{inspected}");
    let fields: Vec<&str> = inspected["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        &fields[..4],
        [
            "category",
            "merchant_risk",
            "chargeback_rate_90d",
            "avg_ticket_30d"
        ]
    );

    let body = r#"{"user": "m0002", "fields": ["category"], "entity": "card"}"#;
    let (status, refused) = server.post_json("/api/read", body).await;
    assert_eq!(status, 422, "{refused}");
    assert!(
        refused.contains("no entity \\\"card\\\": the registry defines user, merchant"),
        "{refused}"
    );
}

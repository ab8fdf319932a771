//! The server process end to end, without a browser: a Redis outage is a 503 that heals by
//! itself, and SIGTERM is a clean exit.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{eventually, free_port, OwnRedis};

/// A minimal HTTP/1.1 GET: (status, body). No client library needed for one request.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n")?.1.to_owned();
    Some((status, body))
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
            .stdout(Stdio::from(log_file.try_clone().unwrap()))
            .stderr(Stdio::from(log_file))
            .spawn()
            .expect("start the server"),
    );
    eventually(Duration::from_secs(20), "the server to answer", || async {
        get(port, "/api/health").is_some_and(|(status, _)| status == 200)
    })
    .await;
    let (status, body) = get(port, "/api/state").unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""entity_count":20"#), "{body}");

    let redis_port = redis.port;
    drop(redis);
    eventually(
        Duration::from_secs(15),
        "a 503 while Redis is down",
        || async {
            get(port, "/api/state").is_some_and(|(status, body)| {
                status == 503 && body.contains("Redis is unavailable")
            })
        },
    )
    .await;

    let redis = OwnRedis::start(redis_port).await;
    eventually(
        Duration::from_secs(20),
        "a 200 once Redis is back",
        || async { get(port, "/api/state").is_some_and(|(status, _)| status == 200) },
    )
    .await;

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
    assert!(log.contains("listening on http://127.0.0.1:"), "{log}");
    assert!(log.contains("materialized 20 users"), "{log}");
    drop(redis);
}

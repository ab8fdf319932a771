//! The HTTP read's same-stack floor: this bench binary run again as a plain axum server whose one
//! route does what `POST /api/read` asks of Redis (the JSON body in; HMGET, HTTL and TTL of the
//! key in one redis-rs pipeline; the values and TTLs out as JSON), with none of the server's own
//! code: no edge, no server functions, no registry, no deadline. Its latency and its CPU per
//! request are what hyper, axum, serde_json and redis-rs cost on this machine.

use std::process::Command;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use redis::aio::MultiplexedConnection;
use serde::{Deserialize, Serialize};

use crate::ReleaseServer;

/// Set (to a Redis URL and a key prefix, space apart) when the binary is to be the floor server.
const SERVE: &str = "BENCH_HTTP_FLOOR";

#[derive(Deserialize)]
struct Asked {
    user: String,
    fields: Vec<String>,
}

#[derive(Serialize)]
struct Field {
    name: String,
    value: Option<String>,
    ttl_seconds: i64,
}

#[derive(Serialize)]
struct Answer {
    user: String,
    fields: Vec<Field>,
    key_ttl_seconds: i64,
}

struct Floor {
    conn: MultiplexedConnection,
    prefix: String,
}

async fn read(
    State(floor): State<std::sync::Arc<Floor>>,
    Json(asked): Json<Asked>,
) -> Json<Answer> {
    let key = format!("{}{}", floor.prefix, asked.user);
    let mut pipeline = redis::pipe();
    pipeline.cmd("HMGET").arg(&key).arg(&asked.fields);
    pipeline
        .cmd("HTTL")
        .arg(&key)
        .arg("FIELDS")
        .arg(asked.fields.len())
        .arg(&asked.fields);
    pipeline.cmd("TTL").arg(&key);
    let (values, ttls, key_ttl_seconds): (Vec<Option<String>>, Option<Vec<i64>>, i64) = pipeline
        .query_async(&mut floor.conn.clone())
        .await
        .expect("the floor's pipeline");
    let fields = asked
        .fields
        .into_iter()
        .zip(values)
        .zip(ttls.unwrap_or_default())
        .map(|((name, value), ttl_seconds)| Field {
            name,
            value,
            ttl_seconds,
        })
        .collect();
    Json(Answer {
        user: asked.user,
        fields,
        key_ttl_seconds,
    })
}

/// Serves the floor and never returns, if this process was started as the floor server.
pub async fn serve_if_asked() {
    let Ok(asked) = std::env::var(SERVE) else {
        return;
    };
    let (redis_url, prefix) = asked.split_once(' ').expect("URL and prefix");
    let port: u16 = std::env::args()
        .skip_while(|arg| arg != "--port")
        .nth(1)
        .and_then(|port| port.parse().ok())
        .expect("--port");
    let conn = crate::bare_connection(redis_url).await;
    let floor = std::sync::Arc::new(Floor {
        conn,
        prefix: prefix.to_owned(),
    });
    let app = Router::new()
        .route("/api/read", post(read))
        .route("/readyz", axum::routing::get(|| async { "ready" }))
        .with_state(floor);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    axum::serve(listener, app).await.unwrap();
    std::process::exit(0);
}

/// The floor server on `redis_url`, reading keys under `prefix`, until dropped.
pub fn start(redis_url: &str, prefix: &str) -> ReleaseServer {
    let mut command = Command::new(std::env::current_exe().expect("the bench binary"));
    command.env(SERVE, format!("{redis_url} {prefix}"));
    ReleaseServer::spawn(command, &[])
}

//! The HTTP edge under attack: requests from other sites, bodies that are not what they claim,
//! oversized or hostile input, and keys under the prefix that are not entities.

use redis::AsyncCommands;

use crate::support::{raw, TestServer, RISK};

#[tokio::test]
async fn another_site_cannot_reset_or_load_the_store() {
    let server = TestServer::start("csrf", &[]).await;
    assert_eq!(server.entity_count().await, 20);
    let evil = [("origin", "http://evil.example")];
    let (status, body) = server.request("POST", "/api/reset", &evil, b"").await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("forbidden"), "{body}");
    // The same port on another host name is another origin too.
    let (status, _) = server
        .request(
            "POST",
            "/api/worker",
            &[("origin", "http://localhost:1")],
            b"",
        )
        .await;
    assert_eq!(status, 403);
    // A browser that says the request is cross-site, with or without an Origin.
    for site in ["cross-site", "same-site"] {
        let (status, _) = server
            .request("POST", "/api/reset", &[("sec-fetch-site", site)], b"")
            .await;
        assert_eq!(status, 403, "sec-fetch-site: {site}");
    }
    // The classic no-preflight form: text/plain with a JSON-looking body.
    let (status, body) = server
        .request(
            "POST",
            "/api/bulk-load",
            &[
                ("origin", "http://evil.example"),
                ("content-type", "text/plain"),
            ],
            br#"{"count":100,"ttl_seconds":60}"#,
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        server.entity_count().await,
        20,
        "a refused request changed the store"
    );

    // The server's own pages, and clients that send no Origin, still work.
    let own = server.origin();
    let (status, body) = server
        .request(
            "POST",
            "/api/reset",
            &[("origin", own.as_str()), ("sec-fetch-site", "same-origin")],
            b"",
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(server.entity_count().await, 0);
    let (status, body) = server
        .post_json("/api/bulk-load", r#"{"count":7,"ttl_seconds":60}"#)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(server.entity_count().await, 7);
}

#[tokio::test]
async fn a_body_must_be_json_and_one_object_with_known_fields() {
    let server = TestServer::start("strict-json", &[]).await;
    let load = br#"{"count":5,"ttl_seconds":60}"#;
    for content_type in ["text/plain", "application/x-www-form-urlencoded"] {
        let (status, body) = server
            .request(
                "POST",
                "/api/bulk-load",
                &[("content-type", content_type)],
                load,
            )
            .await;
        assert_eq!(status, 415, "{content_type}: {body}");
    }
    let (status, body) = server.post_json("/api/bulk-load", "[5, 60]").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("JSON object"), "{body}");
    let (status, body) = server
        .post_json("/api/bulk-load", r#"{"count":5,"ttl_second":60}"#)
        .await;
    assert_eq!(status, 422, "{body}");
    let error: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["field"], "ttl_second", "{body}");
    assert_eq!(server.entity_count().await, 20, "a refused load wrote");
    // application/json with a charset is still JSON.
    let (status, body) = server
        .request(
            "POST",
            "/api/bulk-load",
            &[("content-type", "application/json; charset=utf-8")],
            load,
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn hostile_input_gets_a_bounded_answer() {
    let server = TestServer::start("hostile", &[]).await;
    let long_name = "x".repeat(100_000);
    let (status, body) = server
        .post_json(
            "/api/read",
            &format!(r#"{{"user":"u0001","fields":["{long_name}"]}}"#),
        )
        .await;
    assert_eq!(status, 422);
    assert!(
        body.len() < 1_000,
        "a {} byte answer echoes the input",
        body.len()
    );
    let (status, body) = server
        .post_json(
            "/api/bulk-load",
            &format!(r#"{{"count":"{long_name}","ttl_seconds":60}}"#),
        )
        .await;
    assert_eq!(status, 422, "a wrong type names its field");
    assert!(
        body.len() < 1_000,
        "a {} byte answer echoes the input",
        body.len()
    );

    let huge = format!(
        r#"{{"user":"u0001","fields":["{}"]}}"#,
        "x".repeat(1_000_000)
    );
    let (status, _) = server.post_json("/api/read", &huge).await;
    assert_eq!(status, 413);

    let (status, body) = server
        .request("GET", "/api/inspect?user=%FF", &[], b"")
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = server
        .request("GET", "/api/inspect?user=u%C3%A9", &[], b"")
        .await;
    assert_eq!(status, 200, "valid UTF-8 still works: {body}");
}

#[tokio::test]
async fn a_key_that_is_not_an_entity_fails_only_itself() {
    let server = TestServer::start("foreign-http", &[]).await;
    let mut conn = raw().await;
    let _: () = conn
        .set(format!("{}aaa", server.prefix), "x")
        .await
        .unwrap();

    let (status, body) = server
        .post_json(
            "/api/read",
            &serde_json::json!({"user": "aaa", "fields": [RISK]}).to_string(),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("string"), "names the key's type: {body}");
    assert!(!body.contains("WRONGTYPE"), "raw Redis error text: {body}");
    let (status, body) = server
        .request("GET", "/api/inspect?user=aaa", &[], b"")
        .await;
    assert_eq!(status, 409, "{body}");

    // Batch reads, on both transports: that row fails, named; the rows around it are served.
    let (status, body) = server
        .post_json(
            "/api/batch-read",
            &serde_json::json!({"ids": ["u0001", "aaa", "u0002"], "fields": [RISK]}).to_string(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let batch: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(batch["entity_count"], 2, "{body}");
    assert_eq!(batch["failed"][0]["id"], "aaa", "{body}");
    assert!(batch["failed"][0]["error"]
        .as_str()
        .unwrap()
        .contains("not an entity hash"));
    let (status, body) = server
        .post_json(
            "/get-online-features",
            &serde_json::json!({
                "features": [format!("user_batch:{RISK}")],
                "entities": {"user_id": ["u0001", "aaa", "u0002"]},
            })
            .to_string(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        answer["results"][1]["statuses"],
        serde_json::json!(["PRESENT", "INVALID", "PRESENT"]),
        "{body}"
    );
    assert_eq!(
        answer["results"][1]["values"][1],
        serde_json::Value::Null,
        "{body}"
    );

    // Everything else is served and counted as before.
    let (status, body) = server
        .post_json(
            "/api/read",
            &serde_json::json!({"user": "u0001", "fields": [RISK]}).to_string(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = server
        .post_json("/api/batch-read", r#"{"count":100}"#)
        .await;
    assert_eq!(status, 200, "{body}");
    let batch: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(batch["entity_count"], 20, "{body}");
    assert_eq!(server.entity_count().await, 20);
    let (status, body) = server.request("POST", "/api/reset", &[], b"").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        conn.get::<_, String>(format!("{}aaa", server.prefix))
            .await
            .unwrap(),
        "x",
        "reset deleted a key that is not an entity"
    );
}

#[tokio::test]
async fn a_rebound_host_name_is_refused_everywhere_but_the_probes() {
    let server = TestServer::start("hosts", &["--allowed-hosts", "features.example"]).await;
    // DNS rebinding: the attacker's page controls both Host and Origin, and they agree.
    let port = server.addr.port();
    let evil_host = format!("evil.example:{port}");
    let evil_origin = format!("http://{evil_host}");
    let rebound = [
        ("host", evil_host.as_str()),
        ("origin", evil_origin.as_str()),
        ("content-type", "application/json"),
    ];
    for (method, path) in [
        ("POST", "/api/reset"),
        ("POST", "/api/bulk-load"),
        ("GET", "/api/state"),
        ("GET", "/"),
        ("POST", "/get-online-features"),
        ("GET", "/pkg/feature-store.js"),
    ] {
        let (status, body) = server.request(method, path, &rebound, b"{}").await;
        assert_eq!(status, 421, "{method} {path}: {body}");
        assert!(body.contains("evil.example"), "names the host: {body}");
    }
    assert_eq!(
        server.entity_count().await,
        20,
        "a refused reset changed the store"
    );
    // Probes and metrics answer whatever name a pod is called by.
    for path in ["/livez", "/readyz", "/metrics"] {
        let (status, _) = server
            .request("GET", path, &[("host", "10.1.2.3:8093")], b"")
            .await;
        assert_eq!(status, 200, "{path}");
    }
    // Names the server is known by: the loopback names on any port, and the flag's.
    for host in [
        "localhost:1",
        "127.0.0.1",
        "[::1]:8093",
        "features.example:443",
    ] {
        let (status, body) = server
            .request("GET", "/api/state", &[("host", host)], b"")
            .await;
        assert_eq!(status, 200, "{host}: {body}");
    }
}

#[tokio::test]
async fn refusals_name_the_field_and_echo_little() {
    let server = TestServer::start("refusals", &[]).await;
    // A wrong type names the field and what it takes, whatever was sent.
    for body in [
        r#"{"action":1}"#,
        r#"{"action":"toggle"}"#,
        r#"{"action":null}"#,
    ] {
        let (status, answer) = server.post_json("/api/worker", body).await;
        assert_eq!(status, 422, "{body}: {answer}");
        assert!(answer.contains(r#""field":"action""#), "{body}: {answer}");
        assert!(
            answer.contains("start") && answer.contains("resume"),
            "{body}: {answer}"
        );
        assert!(!answer.contains("line 1"), "{body}: {answer}");
    }
    let (status, answer) = server
        .post_json("/api/bulk-load", r#"{"count":"x","ttl_seconds":5}"#)
        .await;
    assert_eq!(status, 422, "{answer}");
    assert!(answer.contains(r#""field":"count""#), "{answer}");
    // A 10 KB name is cut in the answer.
    let long = "v".repeat(10_000);
    let body =
        serde_json::json!({"features": [format!("{long}:x")], "entities": {"user_id": ["u0001"]}});
    let (status, answer) = server.feast("/get-online-features", &body).await;
    assert_eq!(status, 404, "{answer:.300}");
    let answered = answer.to_string().len();
    assert!(answered < 500, "echoed {answered} bytes");
}

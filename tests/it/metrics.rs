//! `/metrics` as a scraper sees it: it parses, counters move by exactly the requests made, and
//! the worker's freshness gauge climbs while it is paused.

use std::time::Duration;

use prometheus_parse::{Scrape, Value};

use crate::support::{eventually, free_port, raw, OwnRedis, TestServer, RISK};

pub async fn scrape(server: &TestServer) -> Scrape {
    let (status, text) = server.request("GET", "/metrics", &[], b"").await;
    assert_eq!(status, 200, "{text}");
    Scrape::parse(text.lines().map(|line| Ok(line.to_owned()))).expect("Prometheus text")
}

/// The value of the one sample of `metric` whose labels include `labels`.
pub fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let sample = scrape.samples.iter().find(|sample| {
        sample.metric == metric
            && labels
                .iter()
                .all(|(name, value)| sample.labels.get(name) == Some(value))
    })?;
    match sample.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(v),
        _ => panic!("{metric} is not a single number"),
    }
}

#[tokio::test]
async fn counters_move_by_exactly_the_requests_made() {
    let server = TestServer::start("metrics-count", &[]).await;
    let reads = [
        ("route", "/api/read"),
        ("method", "POST"),
        ("status", "200"),
    ];
    let refused = [("route", "/api/read"), ("status", "422")];
    let before = scrape(&server).await;
    let state_before = server.state().await;
    let body = serde_json::json!({"user": "u0001", "fields": [RISK, "nope"]}).to_string();
    for _ in 0..7 {
        assert_eq!(server.post_json("/api/read", &body).await.0, 200);
    }

    assert_eq!(
        server
            .post_json("/api/read", r#"{"user":"","fields":[]}"#)
            .await
            .0,
        422
    );
    let after = scrape(&server).await;
    let moved = |metric: &str, labels: &[(&str, &str)]| {
        value(&after, metric, labels).unwrap_or(0.0) - value(&before, metric, labels).unwrap_or(0.0)
    };
    assert_eq!(moved("feature_store_http_requests_total", &reads), 7.0);
    assert_eq!(moved("feature_store_http_requests_total", &refused), 1.0);
    assert_eq!(moved("feature_store_reads_total", &[]), 7.0);
    // Each read is one Redis round trip of the store's read operation.
    let read_trips = [("op", "read")];
    assert_eq!(
        moved("feature_store_redis_op_duration_seconds_count", &read_trips),
        7.0
    );
    let served = "feature_store_feature_values_served_total";
    assert_eq!(moved(served, &[("status", "present")]), 7.0);
    assert_eq!(moved(served, &[("status", "missing")]), 7.0);
    assert_eq!(value(&after, "feature_store_entities", &[]), Some(20.0));

    // The service's read latency, in /metrics and in the state the UI draws from.
    let batch = serde_json::json!({"ids": ["u0001", "u0002"]}).to_string();
    assert_eq!(server.post_json("/api/batch-read", &batch).await.0, 200);
    let (after, state_after) = (scrape(&server).await, server.state().await);
    let latency = "feature_store_read_duration_seconds_count";
    let moved = |labels: &[(&str, &str)]| {
        value(&after, latency, labels).unwrap() - value(&before, latency, labels).unwrap()
    };
    assert_eq!(moved(&[("kind", "read")]), 7.0);
    assert_eq!(moved(&[("kind", "batch_read")]), 1.0);
    // A Feast read counts the features it served, not the views' write times read with them.
    let served = |scrape: &Scrape, status: &str| {
        value(
            scrape,
            "feature_store_feature_values_served_total",
            &[("status", status)],
        )
        .unwrap()
    };
    let feast = serde_json::json!({
        "features": ["user_batch:risk_segment", "user_stream:tx_count_5m"],
        "entities": {"user_id": ["u0001", "ghost"]},
    });
    let (status, body) = server
        .request(
            "POST",
            "/get-online-features",
            &[],
            feast.to_string().as_bytes(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let feast_after = scrape(&server).await;
    assert_eq!(
        served(&feast_after, "present") - served(&after, "present"),
        1.0
    );
    assert_eq!(
        served(&feast_after, "missing") - served(&after, "missing"),
        3.0
    );
    let observed = |state: &serde_json::Value, histogram: &str| -> u64 {
        let counts = state[histogram]["counts"].as_array().unwrap();
        counts.iter().map(|count| count.as_u64().unwrap()).sum()
    };
    for (histogram, reads) in [("read_latency", 7), ("batch_read_latency", 1)] {
        let moved = observed(&state_after, histogram) - observed(&state_before, histogram);
        assert_eq!(moved, reads, "{histogram}");
    }

    // A key of another type under the prefix: one failed round trip, counted by its kind.
    let mut redis = raw().await;
    let _: () = redis::AsyncCommands::set(&mut redis, format!("{}aaa", server.prefix), "x")
        .await
        .unwrap();
    let body = serde_json::json!({"user": "aaa", "fields": [RISK]}).to_string();
    assert_eq!(server.post_json("/api/read", &body).await.0, 409);
    let wrong_type = [("op", "read"), ("kind", "wrong_type")];
    let errors = value(
        &scrape(&server).await,
        "feature_store_redis_errors_total",
        &wrong_type,
    );
    assert_eq!(errors, Some(1.0));
    let info = value(
        &after,
        "feature_store_build_info",
        &[("redis_mode", "single")],
    );
    assert_eq!(info, Some(1.0));
}

#[tokio::test]
async fn the_worker_freshness_gauge_climbs_while_it_is_paused() {
    let server = TestServer::start("metrics-fresh", &["--tick-seconds", "0.1"]).await;
    let age = |scrape: &Scrape| value(scrape, "feature_store_worker_last_write_age_seconds", &[]);
    assert_eq!(age(&scrape(&server).await), None, "no write yet, no age");
    server.switch_worker("start").await;
    eventually(Duration::from_secs(10), "a first worker write", || async {
        age(&scrape(&server).await).is_some_and(|age| age < 1.0)
    })
    .await;
    server.switch_worker("pause").await;
    let paused_at = age(&scrape(&server).await).unwrap();
    eventually(
        Duration::from_secs(10),
        "the age to climb past 1.5 s",
        || async { age(&scrape(&server).await).unwrap() > paused_at + 1.5 },
    )
    .await;
    let paused = value(&scrape(&server).await, "feature_store_worker_paused", &[]);
    assert_eq!(paused, Some(1.0));
}

#[tokio::test]
async fn round_trips_cut_off_by_the_read_deadline_count_as_deadline_errors() {
    let redis = OwnRedis::start(free_port()).await;
    let server = TestServer::start_on(
        &redis.url(),
        "metrics-frozen",
        &["--read-timeout-ms", "200"],
    )
    .await;
    let (_, text) = server.request("GET", "/metrics", &[], b"").await;
    for line in [
        "# TYPE feature_store_redis_errors counter",
        "# HELP feature_store_redis_errors",
    ] {
        assert!(text.contains(line), "{line:?} before any error:\n{text}");
    }
    let before = scrape(&server).await;
    redis.freeze();
    let body = serde_json::json!({"user": "u0001", "fields": [RISK]}).to_string();
    for _ in 0..5 {
        assert_eq!(server.post_json("/api/read", &body).await.0, 504);
    }
    let after = scrape(&server).await;
    redis.thaw();
    let read = [("op", "read")];
    let moved = |metric: &str, labels: &[(&str, &str)]| {
        value(&after, metric, labels).unwrap_or(0.0) - value(&before, metric, labels).unwrap_or(0.0)
    };
    assert_eq!(
        moved("feature_store_redis_op_duration_seconds_count", &read),
        5.0
    );
    let cut_off = [("op", "read"), ("kind", "deadline")];
    assert_eq!(moved("feature_store_redis_errors_total", &cut_off), 5.0);
}

#[tokio::test]
async fn hostile_requests_add_no_series() {
    let server = TestServer::start("metrics-bounded", &[]).await;
    // Each shape of hostile request once, so its series exists.
    let shapes = |n: usize| {
        let method = format!("X{n}");
        [
            (method.clone(), "/livez".to_owned()),
            (method, format!("/nope/{n}")),
            ("GET".to_owned(), format!("/api/nope{n}?q={n}")),
            ("POST".to_owned(), format!("/{n}/%00%ff")),
        ]
    };
    for (method, path) in shapes(0) {
        server.request(&method, &path, &[], b"").await;
    }
    // A scrape counts in the next one: the first brings the /metrics series in.
    scrape(&server).await;
    let first = scrape(&server).await;
    let series = |scrape: &Scrape| scrape.samples.len();
    let before = series(&first);
    for n in 1..=125 {
        for (method, path) in shapes(n) {
            server.request(&method, &path, &[], b"").await;
        }
    }
    let after = scrape(&server).await;
    let names = |scrape: &Scrape| -> Vec<String> {
        scrape
            .samples
            .iter()
            .map(|sample| {
                let mut labels: Vec<_> = sample.labels.iter().collect();
                labels.sort();
                format!("{}{labels:?}", sample.metric)
            })
            .collect()
    };
    let known = names(&first);
    let added: Vec<String> = names(&after)
        .into_iter()
        .filter(|name| !known.contains(name))
        .collect();
    assert_eq!(
        series(&after),
        before,
        "500 hostile requests added {added:?}"
    );
    let other = [("method", "other"), ("route", "unmatched")];
    assert!(value(&after, "feature_store_http_requests_total", &other).unwrap() >= 125.0);
}

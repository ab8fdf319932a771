//! Feast's feature-server API as its clients call it (no content type, as the SDK posts), and
//! the registry file behind it.

use std::time::Duration;

use clap::Parser;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;

use crate::support::{eventually, TestServer};

/// A POST the way the Feast SDK sends it; the answer must be JSON.
async fn feast(server: &TestServer, path: &str, body: &Value) -> (u16, Value) {
    let (status, answer) = server.feast(path, body).await;
    assert!(!answer.is_null(), "{path}: not JSON ({status})");
    (status, answer)
}

/// Each body answered with its status and an answer naming what is at fault.
async fn refused(
    server: &TestServer,
    path: &str,
    cases: impl IntoIterator<Item = (Value, u16, &str)>,
) {
    for (body, expected, named) in cases {
        let (status, answer) = feast(server, path, &body).await;
        assert_eq!(status, expected, "{body}: {answer}");
        assert!(answer.to_string().contains(named), "{body}: {answer}");
    }
}

async fn online(server: &TestServer, body: Value) -> Value {
    let (status, answer) = feast(server, "/get-online-features", &body).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

/// Column `at` of an answer: (values, statuses, event timestamps).
fn column(answer: &Value, at: usize) -> (Vec<Value>, Vec<String>, Vec<String>) {
    let result = &answer["results"][at];
    let strings = |field: &str| {
        result[field]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    (
        result["values"].as_array().unwrap().clone(),
        strings("statuses"),
        strings("event_timestamps"),
    )
}

fn is_recent_rfc3339(timestamp: &str) -> bool {
    // 2026-11-26T05:37:44.250Z (or …44Z on a whole second): UTC, and within the last minute.
    let Ok(time) = time::OffsetDateTime::parse(timestamp, &Rfc3339) else {
        return false;
    };
    let age = time::OffsetDateTime::now_utc() - time;
    timestamp.ends_with('Z') && age.whole_seconds() < 60 && age.whole_seconds() >= 0
}

/// Now, as a push's `event_timestamp`.
fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc().format(&Rfc3339).unwrap()
}

#[tokio::test]
async fn online_features_answer_column_major_with_true_statuses() {
    let server = TestServer::start("feast-read", &[]).await;
    let answer = online(
        &server,
        json!({
            "features": ["user_batch:risk_segment", "user_batch:account_age_days", "user_stream:tx_count_5m"],
            "entities": {"user_id": ["u0002", "ghost", "u0001"]},
        }),
    )
    .await;
    let names: Vec<&str> = answer["metadata"]["feature_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["user_id", "risk_segment", "account_age_days", "tx_count_5m"]
    );
    let (ids, statuses, times) = column(&answer, 0);
    assert_eq!(ids, [json!("u0002"), json!("ghost"), json!("u0001")]);
    assert_eq!(statuses, ["PRESENT"; 3]);
    assert_eq!(times, ["1970-01-01T00:00:00Z"; 3]);

    // The same values /api/read serves, typed as the registry says.
    let (status, read) = server
        .post_json(
            "/api/read",
            &json!({"user": "u0002", "fields": ["risk_segment", "account_age_days"]}).to_string(),
        )
        .await;
    assert_eq!(status, 200, "{read}");
    let read: Value = serde_json::from_str(&read).unwrap();
    for (at, field) in [(1, 0), (2, 1)] {
        let (values, statuses, times) = column(&answer, at);
        assert_eq!(values[0], read["fields"][field]["typed"], "column {at}");
        assert!(values[0].is_string() || values[0].is_i64());
        assert_eq!(statuses, ["PRESENT", "NOT_FOUND", "PRESENT"]);
        assert!(is_recent_rfc3339(&times[0]), "{times:?}");
        assert_eq!(times[1], "1970-01-01T00:00:00Z");
        assert_eq!(values[1], Value::Null);
    }
    // Nothing streamed yet (no worker): absent, so NOT_FOUND with null.
    let (values, statuses, _) = column(&answer, 3);
    assert_eq!(values, [Value::Null, Value::Null, Value::Null]);
    assert_eq!(statuses, ["NOT_FOUND"; 3]);

    let full = online(
        &server,
        json!({
            "features": ["user_stream:tx_count_5m"],
            "entities": {"user_id": ["u0001"]},
            "full_feature_names": true,
        }),
    )
    .await;
    assert_eq!(
        full["metadata"]["feature_names"],
        json!(["user_id", "user_stream__tx_count_5m"])
    );
    assert_eq!(full["metadata"].get("feature_view_metadata"), None);

    // What the Feast SDK asks for with include_feature_view_version_metadata: each view read.
    let named = online(
        &server,
        json!({
            "features": ["user_stream:tx_count_5m", "user_batch:risk_segment", "user_stream:failed_logins_15m"],
            "entities": {"user_id": ["u0001"]},
            "include_feature_view_version_metadata": true,
        }),
    )
    .await;
    assert_eq!(
        named["metadata"]["feature_view_metadata"],
        json!([{"name": "user_stream"}, {"name": "user_batch"}])
    );

    // No rows, as Feast answers them: every column, empty.
    let none = online(
        &server,
        json!({"features": ["user_batch:risk_segment"], "entities": {"user_id": []}}),
    )
    .await;
    assert_eq!(
        none["metadata"]["feature_names"],
        json!(["user_id", "risk_segment"])
    );
    assert_eq!(column(&none, 1), (vec![], vec![], vec![]));

    // A column that is no join key (request data, say) is skipped as Feast skips it.
    let beside = online(
        &server,
        json!({
            "features": ["user_batch:risk_segment"],
            "entities": {"user_id": ["u0002"], "request_hour": [9]},
        }),
    )
    .await;
    assert_eq!(
        beside["metadata"]["feature_names"],
        json!(["user_id", "risk_segment"])
    );
    assert_eq!(column(&beside, 1).0, column(&answer, 1).0[..1]);
}

#[tokio::test]
async fn a_pushed_streaming_row_is_served_then_expires_with_its_field_ttl() {
    let server = TestServer::start("feast-push", &["--streaming-ttl-seconds", "2"]).await;
    let push = json!({
        "push_source_name": "user_stream_push",
        "df": {
            "user_id": ["u0003", "ghost"],
            "last_login_ts": [1_764_000_000_000_i64, 1],
            "last_device_id": ["ios-1a4c", "x"],
            "tx_count_5m": [4, 5],
            "failed_logins_15m": [0, 1],
            "session_country": ["NL", "DE"],
            "event_timestamp": [now_rfc3339(), now_rfc3339()],
        },
        "to": "online",
    });
    let (status, pushed) = feast(&server, "/push", &push).await;
    assert_eq!(status, 200, "{pushed}");
    assert_eq!(pushed["written"], 1, "{pushed}");
    assert_eq!(pushed["skipped"][0]["id"], "ghost", "{pushed}");

    let read = json!({
        "features": ["user_stream:tx_count_5m", "user_stream:session_country", "user_batch:risk_segment"],
        "entities": {"user_id": ["u0003"]},
    });
    let (_, inspected) = server
        .request("GET", "/api/inspect?user=u0003", &[], b"")
        .await;
    let inspected: Value = serde_json::from_str(&inspected).unwrap();
    let ttl_of = |name: &str| {
        inspected["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .map(|f| f["ttl_seconds"].as_i64().unwrap())
    };
    let stamp_ttl = ttl_of("_ts:user_stream").expect("the write time is stored");
    assert!((1..=2).contains(&stamp_ttl), "{inspected}");
    assert_eq!(ttl_of("tx_count_5m"), Some(stamp_ttl), "{inspected}");
    let answer = online(&server, read.clone()).await;
    assert_eq!(column(&answer, 1).0, [json!(4)]);
    assert_eq!(column(&answer, 2).0, [json!("NL")]);
    assert_eq!(column(&answer, 1).1, ["PRESENT"]);
    assert!(is_recent_rfc3339(&column(&answer, 1).2[0]));
    eventually(
        Duration::from_secs(10),
        "the pushed fields to expire",
        || async {
            let answer = online(&server, read.clone()).await;
            column(&answer, 1).1 == ["NOT_FOUND"] && column(&answer, 2).1 == ["NOT_FOUND"]
        },
    )
    .await;
    // The batch view's value outlives them, under the key TTL.
    let answer = online(&server, read).await;
    assert_eq!(column(&answer, 3).1, ["PRESENT"]);
    // The view's write time was written in the same command with the same TTL: gone with them.
    let (status, inspected) = server
        .request("GET", "/api/inspect?user=u0003", &[], b"")
        .await;
    assert_eq!(status, 200, "{inspected}");
    let inspected: Value = serde_json::from_str(&inspected).unwrap();
    let names: Vec<&str> = inspected["fields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| !f["value"].is_null())
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"_ts:user_batch"), "{names:?}");
    assert!(!names.contains(&"_ts:user_stream"), "{names:?}");
}

#[tokio::test]
async fn a_value_kept_longer_than_its_view_ttl_is_outside_max_age() {
    // The registry's batch TTL is 1 s; a load with its own 60 s key TTL outlives it.
    let server = TestServer::start(
        "feast-age",
        &["--batch-ttl-seconds", "1", "--initial-users", "0"],
    )
    .await;
    let (status, body) = server
        .post_json("/api/bulk-load", r#"{"count":2,"ttl_seconds":60}"#)
        .await;
    assert_eq!(status, 200, "{body}");
    let read = json!({"features": ["user_batch:risk_segment"], "entities": {"user_id": ["u0001"]}});
    eventually(
        Duration::from_secs(10),
        "the value to age past its view's TTL",
        || async { column(&online(&server, read.clone()).await, 1).1 == ["OUTSIDE_MAX_AGE"] },
    )
    .await;
    let answer = online(&server, read).await;
    assert!(
        column(&answer, 1).0[0].is_string(),
        "the value is still served"
    );
}

#[tokio::test]
async fn bad_requests_are_refused_with_the_name_at_fault_and_nothing_written() {
    let server = TestServer::start("feast-errors", &[]).await;
    let ids = json!({"user_id": ["u0001"]});
    let cases = [
        (
            json!({"features": ["nope:x"], "entities": ids}),
            404,
            "nope",
        ),
        (
            json!({"features": ["user_batch:nope"], "entities": ids}),
            404,
            "nope",
        ),
        (
            json!({"feature_service": "fraud_v1", "entities": ids}),
            404,
            "fraud_v1",
        ),
        (
            json!({"features": ["risk_segment"], "entities": ids}),
            422,
            "view:feature",
        ),
        (
            json!({"features": ["user_batch:risk_segment"]}),
            422,
            "entities",
        ),
        (
            json!({"features": ["user_batch:risk_segment", "user_batch:risk_segment"], "entities": ids}),
            422,
            "FeatureNameCollisionError",
        ),
        (
            json!({"features": ["user_batch:risk_segment"], "entities": {"card": ["1"]}}),
            422,
            "user_id",
        ),
        (
            json!({"features": ["user_batch:risk_segment"], "entities": {"user_id": vec!["u1"; 1001]}}),
            422,
            "1000",
        ),
    ];
    refused(&server, "/get-online-features", cases).await;
    let (status, text) = server
        .request("POST", "/get-online-features", &[], b"{not json")
        .await;
    assert_eq!(status, 422, "{text}");

    let row = |column: &str, values: Value| {
        let mut df = json!({
            "user_id": ["u0001"], "last_login_ts": [1], "last_device_id": ["d"],
            "tx_count_5m": [1], "failed_logins_15m": [0], "session_country": ["US"],
        });
        df[column] = values;
        json!({"push_source_name": "user_stream_push", "df": df})
    };
    let pushes = [
        (json!({"push_source_name": "nope", "df": {}}), 422, "nope"),
        (row("tx_count_5m", json!(["many"])), 422, "tx_count_5m"),
        // Integers must fit an i64, as Redis's and Feast's Int64 do.
        (row("tx_count_5m", json!([u64::MAX])), 422, "tx_count_5m"),
        (
            row(
                "last_login_ts",
                serde_json::from_str("[-9223372036854775809]").unwrap(),
            ),
            422,
            "last_login_ts",
        ),
        (
            row("session_country", json!(["US", "DE"])),
            422,
            "session_country",
        ),
        (
            json!({"push_source_name": "user_stream_push", "df": {"user_id": ["u0001"], "tx_count_5m": [1]}}),
            422,
            "missing",
        ),
        (
            json!({"push_source_name": "user_stream_push", "df": {"user_id": ["u0001"]}, "to": "offline"}),
            422,
            "offline",
        ),
        (
            json!({"push_source_name": "user_stream_push", "df": {"user_id": ["u0001"]}, "transform_on_write": "yes"}),
            422,
            "transform_on_write",
        ),
    ];
    refused(&server, "/push", pushes).await;
    let window = |field: &str, value: Value| {
        let mut body = json!({"start_ts": "2026-11-01T00:00:00", "end_ts": "2026-12-01T00:00:00"});
        body[field] = value;
        body
    };
    refused(
        &server,
        "/materialize",
        [
            (window("version", json!("v2")), 422, "version"),
            (window("disable_event_timestamp", json!(true)), 422, "event"),
            (window("feature_views", json!(["nope"])), 404, "nope"),
            (
                window("start_ts", json!("2026-12-02T00:00:00")),
                422,
                "start_ts",
            ),
        ],
    )
    .await;
    let answer = online(
        &server,
        json!({"features": ["user_stream:tx_count_5m"], "entities": ids}),
    )
    .await;
    assert_eq!(column(&answer, 1).1, ["NOT_FOUND"], "a refused push wrote");
    // An empty frame (a stream's empty batch) writes nothing, as in Feast.
    let mut empty = row("tx_count_5m", json!([]));
    for column in empty["df"].as_object_mut().unwrap().values_mut() {
        *column = json!([]);
    }
    let (status, pushed) = feast(&server, "/push", &empty).await;
    assert_eq!(status, 200, "{pushed}");
    assert_eq!(pushed["written"], 0, "{pushed}");
    let registry = feature_store_core::registry_file::demo();
    let batch = registry.view("user_batch").unwrap();
    let df: serde_json::Map<String, Value> = std::iter::once("user_id")
        .chain(batch.features.iter().map(|f| f.name.as_str()))
        .map(|column| (column.to_owned(), json!([])))
        .collect();
    let (status, written) = feast(
        &server,
        "/write-to-online-store",
        &json!({"feature_view_name": "user_batch", "df": df}),
    )
    .await;
    assert_eq!(status, 200, "{written}");
    assert_eq!(written["written"], 0, "{written}");
    // A column that is no feature of the view is ignored, as Feast ignores it, and named.
    let before = online(
        &server,
        json!({"features": ["user_batch:risk_segment"], "entities": ids}),
    )
    .await;
    let (status, pushed) = feast(&server, "/push", &row("risk_segment", json!(["gone"]))).await;
    assert_eq!(status, 200, "{pushed}");
    assert_eq!(
        pushed["ignored_columns"],
        json!(["risk_segment"]),
        "{pushed}"
    );
    assert_eq!(pushed["written"], 1, "{pushed}");
    let after = online(
        &server,
        json!({"features": ["user_batch:risk_segment", "user_stream:tx_count_5m"], "entities": ids}),
    )
    .await;
    assert_eq!(column(&after, 1).0, column(&before, 1).0);
    assert_eq!(column(&after, 2).0, [json!(1)]);
    // A page of another site cannot push.
    let (status, _) = server
        .request(
            "POST",
            "/push",
            &[("origin", "http://evil.example")],
            row("tx_count_5m", json!([1])).to_string().as_bytes(),
        )
        .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn health_answers_200() {
    let server = TestServer::start("feast-health", &[]).await;
    let (status, body) = server.request("GET", "/health", &[], b"").await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_registry_file_defines_the_entity_views_and_types_served() {
    let dir = std::env::temp_dir().join(format!("fs-registry-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("cards.toml");
    std::fs::write(
        &file,
        r#"
[entity]
name = "card"
join_key = "card_id"
key_prefix = "ignored:"

[[views]]
name = "card_profile"
kind = "batch"
ttl_seconds = 3600
features = [{ name = "limit_eur", type = "float" }, { name = "blocked", type = "bool" }]

[[views]]
name = "card_activity"
kind = "streaming"
ttl_seconds = 60
push_source = "card_push"
features = [{ name = "swipes_1m", type = "int" }]

[[services]]
name = "card_risk"
features = ["card_activity", "card_profile:limit_eur"]
"#,
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let server = TestServer::start("feast-cards", &["--features", path]).await;
    let (status, registry) = server.request("GET", "/api/registry", &[], b"").await;
    assert_eq!(status, 200, "{registry}");
    let registry: Value = serde_json::from_str(&registry).unwrap();
    assert_eq!(registry["entities"][0]["join_key"], "card_id");
    assert_eq!(
        registry["entities"][0]["key_prefix"], server.prefix,
        "the flag wins"
    );
    assert_eq!(registry["views"][1]["push_source"], "card_push");
    assert_eq!(
        registry["services"],
        json!([{"name": "card_risk", "features": ["card_activity:swipes_1m", "card_profile:limit_eur"]}])
    );
    // A feature service is asked for by name, either way Feast's clients send it.
    for body in [
        json!({"features": "card_risk", "entities": {"card_id": ["c0001"]}}),
        json!({"feature_service": "card_risk", "entities": {"card_id": ["c0001"]}}),
    ] {
        let answer = online(&server, body).await;
        assert_eq!(
            answer["metadata"]["feature_names"],
            json!(["card_id", "swipes_1m", "limit_eur"])
        );
        assert!(column(&answer, 2).0[0].is_f64(), "{answer}");
    }

    let answer = online(
        &server,
        json!({
            "features": ["card_profile:limit_eur", "card_profile:blocked", "card_activity:swipes_1m"],
            "entities": {"card_id": ["c0001"]},
        }),
    )
    .await;
    assert!(column(&answer, 1).0[0].is_f64(), "{answer}");
    assert!(column(&answer, 2).0[0].is_boolean(), "{answer}");
    let (status, pushed) = feast(
        &server,
        "/push",
        &json!({"push_source_name": "card_push", "df": {"card_id": ["c0001"], "swipes_1m": [3]}}),
    )
    .await;
    assert_eq!(
        (status, pushed["written"].clone()),
        (200, json!(1)),
        "{pushed}"
    );

    // A broken file stops the server before it starts, naming the line.
    let broken = std::fs::read_to_string(&file)
        .unwrap()
        .replace("\"card_id\"", "\"card id\"");
    std::fs::write(&file, broken).unwrap();
    let args =
        feature_store::server::ServerArgs::try_parse_from(["feature-store", "--features", path])
            .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let error = match feature_store::server::Server::build(args, listener).await {
        Ok(_) => panic!("a broken registry was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(error.contains("cards.toml:4: entity join_key"), "{error}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn an_older_event_never_overwrites_a_newer_one_unless_asked() {
    let server = TestServer::start("feast-event-time", &[]).await;
    let push = |count: i64, at: &str, overwrite: Option<bool>| {
        let mut body = json!({
            "push_source_name": "user_stream_push",
            "df": {
                "user_id": ["u0001"], "last_login_ts": [1], "last_device_id": ["d"],
                "tx_count_5m": [count], "failed_logins_15m": [0], "session_country": ["US"],
                "event_timestamp": [at],
            },
        });
        if let Some(overwrite) = overwrite {
            body["overwrite"] = json!(overwrite);
        }
        body
    };
    let read = json!({"features": ["user_stream:tx_count_5m"], "entities": {"user_id": ["u0001"]}});
    let (status, pushed) = feast(&server, "/push", &push(111, &now_rfc3339(), None)).await;
    assert_eq!((status, &pushed["written"]), (200, &json!(1)), "{pushed}");

    // With milliseconds, which the answer keeps.
    let old = "2001-01-01T00:00:00.250Z";
    let (status, pushed) = feast(&server, "/push", &push(7, old, Some(false))).await;
    assert_eq!(status, 200, "{pushed}");
    assert_eq!(pushed["written"], 0, "{pushed}");
    assert_eq!(pushed["skipped"][0]["id"], "u0001", "{pushed}");
    let reason = pushed["skipped"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("at least as new"), "{reason}");
    let answer = online(&server, read.clone()).await;
    let (values, statuses, times) = column(&answer, 1);
    assert_eq!(
        (values, statuses),
        (vec![json!(111)], vec!["PRESENT".to_owned()])
    );
    assert!(
        is_recent_rfc3339(&times[0]),
        "the newer event's time: {times:?}"
    );
    let (_, metrics) = server.request("GET", "/metrics", &[], b"").await;
    assert!(
        metrics.contains("feature_store_older_events_skipped_total 1"),
        "{metrics}"
    );

    // A reload after fixing a source writes regardless.
    let (status, pushed) = feast(&server, "/push", &push(7, old, Some(true))).await;
    assert_eq!((status, &pushed["written"]), (200, &json!(1)), "{pushed}");
    let (values, statuses, times) = column(&online(&server, read).await, 1);
    assert_eq!(values, [json!(7)]);
    assert_eq!(
        statuses,
        ["OUTSIDE_MAX_AGE"],
        "the event is older than the view's TTL"
    );
    assert_eq!(times, [old]);

    let mut not_a_flag = push(1, old, None);
    not_a_flag["overwrite"] = json!("yes");
    for (body, named) in [
        (push(1, "yesterday", None), "event_timestamp"),
        (not_a_flag, "overwrite"),
    ] {
        let (status, answer) = feast(&server, "/push", &body).await;
        assert_eq!(status, 422, "{answer}");
        assert!(answer.to_string().contains(named), "{answer}");
    }
}

#[tokio::test]
async fn errors_take_the_shapes_the_feast_sdk_reads() {
    let server = TestServer::start("feast-errors", &[]).await;
    let ids = json!({"user_id": ["u0001"]});
    // FeastError subclasses: a JSON string of {module, class, message}, which the SDK turns
    // back into the exception class itself.
    for (path, body, status, class) in [
        (
            "/get-online-features",
            json!({"features": ["retired:x"], "entities": ids}),
            404,
            "FeatureViewNotFoundException",
        ),
        (
            "/get-online-features",
            json!({"feature_service": "fraud_v1", "entities": ids}),
            404,
            "FeatureServiceNotFoundException",
        ),
        (
            "/push",
            json!({"push_source_name": "nope", "df": {}}),
            422,
            "PushSourceNotFoundException",
        ),
    ] {
        let (got, answer) = feast(&server, path, &body).await;
        assert_eq!(got, status, "{answer}");
        let detail: Value = serde_json::from_str(answer.as_str().expect("a JSON string")).unwrap();
        assert_eq!(detail["module"], "feast.errors", "{detail}");
        assert_eq!(detail["class"], class, "{detail}");
        assert!(detail["message"].as_str().unwrap().len() > 10, "{detail}");
    }
    // A body validation refuses: FastAPI's {"detail": [{loc, msg, type}]}.
    let (status, answer) = feast(
        &server,
        "/get-online-features",
        &json!({"features": ["user_batch:risk_segment"]}),
    )
    .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(
        answer["detail"][0]["loc"],
        json!(["body", "entities"]),
        "{answer}"
    );
    // A key given twice is refused on the Feast routes too, never read as its last value.
    for (path, body) in [
        (
            "/get-online-features",
            r#"{"features": ["user_batch:risk_segment"], "entities": {"user_id": ["u0001"]}, "entities": {"user_id": ["u0002"]}}"#,
        ),
        (
            "/push",
            r#"{"push_source_name": "user_stream_push", "df": {"user_id": ["u0001"], "user_id": ["u0002"]}}"#,
        ),
    ] {
        let (status, text) = server.request("POST", path, &[], body.as_bytes()).await;
        assert_eq!(status, 422, "{path}: {text}");
        assert!(text.contains("given twice"), "{path}: {text}");
    }
}

/// A failure only the log explains (here, Redis refusing HMGET to the server's user) is a 500
/// that quotes the request's id, the id the log line carries, on Feast's routes as on ours.
#[tokio::test]
async fn a_feast_500_quotes_its_request_id() {
    let user = "fs-no-hmget";
    let mut conn = crate::support::raw().await;
    let _: () = redis::cmd("ACL")
        .arg(&["SETUSER", user, "on", ">pw", "~*", "&*", "+@all", "-hmget"][..])
        .query_async(&mut conn)
        .await
        .unwrap();
    let url = crate::support::redis_url().replacen("redis://", &format!("redis://{user}:pw@"), 1);
    let server = TestServer::start_on(&url, "feast-500", &["--no-worker"]).await;
    let body = json!({
        "features": ["user_batch:risk_segment"],
        "entities": {"user_id": ["u0001"]},
    })
    .to_string();
    let (status, answer) = server
        .request(
            "POST",
            "/get-online-features",
            &[
                ("content-type", "application/json"),
                ("x-request-id", "trace-me-42"),
            ],
            body.as_bytes(),
        )
        .await;
    assert_eq!(status, 500, "{answer}");
    assert!(answer.contains("under request trace-me-42"), "{answer}");
    assert!(answer.contains("FeastError"), "{answer}");
    assert!(
        !answer.contains("NOPERM"),
        "the cause stays in the log: {answer}"
    );
}

/// What the Feast SDK's remote online store sends for each materialized batch: a view by name,
/// naive ISO event times, a `created` column (null here), Feast's flags. Written through the
/// batch path with the event-time rule; a null is not written.
#[tokio::test]
async fn write_to_online_store_takes_what_feast_materialize_sends() {
    let server = TestServer::start("feast-write", &["--initial-users", "0"]).await;
    let an_hour_ago = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    let naive = |at: time::OffsetDateTime| {
        let text = at.format(&Rfc3339).unwrap();
        text.trim_end_matches('Z').to_owned()
    };
    let write = |risk: Value, at: time::OffsetDateTime| {
        json!({
            "feature_view_name": "user_batch",
            "df": {
                "user_id": ["u0001", "u0002"],
                "country_iso": ["DE", null],
                "risk_segment": [risk, "high"],
                "account_age_days": [10, 20],
                "tx_count_7d": [1, 2],
                "avg_amount_30d": [1.5, 2.5],
                "chargeback_count_180d": [0, 1],
                "event_timestamp": [naive(at), naive(at)],
                "created": [null, null],
            },
            "allow_registry_cache": false,
        })
    };
    let (status, written) = feast(
        &server,
        "/write-to-online-store",
        &write(json!("low"), an_hour_ago),
    )
    .await;
    assert_eq!((status, &written["written"]), (200, &json!(2)), "{written}");
    // The entities exist now: the batch path creates them.
    eventually(
        Duration::from_secs(10),
        "the index to count them",
        || async { server.entity_count().await == 2 },
    )
    .await;
    let read = json!({
        "features": ["user_batch:risk_segment", "user_batch:country_iso"],
        "entities": {"user_id": ["u0001", "u0002"]},
    });
    let answer = online(&server, read.clone()).await;
    let (risks, _, times) = column(&answer, 1);
    assert_eq!(risks, [json!("low"), json!("high")]);
    // The row's own event time, to the second and beyond, answered in UTC.
    assert!(
        times[0].starts_with(&naive(an_hour_ago)[..19]) && times[0].ends_with('Z'),
        "{times:?}"
    );
    let (countries, statuses, _) = column(&answer, 2);
    assert_eq!(countries, [json!("DE"), Value::Null]);
    assert_eq!(statuses, ["PRESENT", "NOT_FOUND"], "a null is not written");

    // An older materialization never overwrites a newer one.
    let two_hours_ago = an_hour_ago - time::Duration::hours(1);
    let (status, written) = feast(
        &server,
        "/write-to-online-store",
        &write(json!("medium"), two_hours_ago),
    )
    .await;
    assert_eq!((status, &written["written"]), (200, &json!(0)), "{written}");
    assert_eq!(
        column(&online(&server, read).await, 1).0,
        [json!("low"), json!("high")]
    );

    let (status, answer) = feast(
        &server,
        "/write-to-online-store",
        &json!({"feature_view_name": "nope", "df": {}}),
    )
    .await;
    assert_eq!(status, 404, "{answer}");
    assert!(
        answer.to_string().contains("FeatureViewNotFoundException"),
        "{answer}"
    );
    let mut bad_flag = write(json!("low"), an_hour_ago);
    bad_flag["transform_on_write"] = json!("yes");
    let (status, answer) = feast(&server, "/write-to-online-store", &bad_flag).await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer.to_string().contains("transform_on_write"),
        "{answer}"
    );
}

/// The demo's `fraud_model` across its two entities: join keys first, then its features.
const FRAUD_MODEL: [&str; 10] = [
    "user_id",
    "merchant_id",
    "risk_segment",
    "avg_amount_30d",
    "tx_count_5m",
    "category",
    "merchant_risk",
    "chargeback_rate_90d",
    "avg_ticket_30d",
    "declines_5m",
];

#[tokio::test]
async fn a_service_across_two_entities_reads_aligned_rows_not_found_only_where_absent() {
    let server = TestServer::start("feast-two-entities", &[]).await;
    let answer = online(
        &server,
        json!({
            "features": "fraud_model",
            "entities": {"merchant_id": ["m0003", "m0001", "nobody"], "user_id": ["u0001", "ghost", "u0002"]},
        }),
    )
    .await;
    assert_eq!(answer["metadata"]["feature_names"], json!(FRAUD_MODEL));
    assert_eq!(
        column(&answer, 0).0,
        [json!("u0001"), json!("ghost"), json!("u0002")]
    );
    assert_eq!(
        column(&answer, 1).0,
        [json!("m0003"), json!("m0001"), json!("nobody")]
    );
    let statuses = |at: usize| column(&answer, at).1;
    // The user's batch features: absent only for the ghost; the merchant's: only for nobody.
    for at in [2, 3] {
        assert_eq!(
            statuses(at),
            ["PRESENT", "NOT_FOUND", "PRESENT"],
            "{answer}"
        );
    }
    for at in 5..=8 {
        assert_eq!(
            statuses(at),
            ["PRESENT", "PRESENT", "NOT_FOUND"],
            "{answer}"
        );
    }
    // Each row holds its own ids' values: what a read of one entity alone answers.
    for (row, view, feature, at, key, id) in [
        (0, "merchant_batch", "category", 5, "merchant_id", "m0003"),
        (
            1,
            "merchant_batch",
            "avg_ticket_30d",
            8,
            "merchant_id",
            "m0001",
        ),
        (2, "user_batch", "risk_segment", 2, "user_id", "u0002"),
    ] {
        let alone = online(
            &server,
            json!({"features": [format!("{view}:{feature}")], "entities": {key: [id]}}),
        )
        .await;
        assert_eq!(
            column(&alone, 1).0[0],
            column(&answer, at).0[row],
            "{id} {feature}"
        );
    }
    refused(
        &server,
        "/get-online-features",
        [
            (
                json!({"features": "fraud_model", "entities": {"user_id": ["u0001"]}}),
                422,
                "merchant_id",
            ),
            (
                json!({"features": "fraud_model", "entities": {"user_id": ["u0001"], "merchant_id": ["m0001", "m0002"]}}),
                422,
                "each row takes one of each",
            ),
            (
                json!({"features": "fraud_model", "entities": {"user_id": ["u0001"], "merchant_id": ["m0001"], "card_id": ["c", "d"]}}),
                422,
                "card_id",
            ),
        ],
    )
    .await;
}

/// A Redis command's calls so far, by `INFO commandstats`.
async fn calls(conn: &mut redis::aio::MultiplexedConnection, command: &str) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await
        .unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix(&format!("cmdstat_{command}:calls=")))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |calls| calls.parse().unwrap())
}

#[tokio::test]
async fn a_read_of_most_of_a_wide_row_takes_the_whole_hash_and_answers_as_by_name() {
    let redis = crate::support::OwnRedis::start(crate::support::free_port()).await;
    let dir = std::env::temp_dir().join(format!("fs-wide-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("wide.toml");
    let names: Vec<String> = (0..70).map(|n| format!("f{n:02}")).collect();
    let features: Vec<String> = names
        .iter()
        .map(|name| format!("{{ name = \"{name}\", type = \"int\" }}"))
        .collect();
    let some: Vec<String> = names[..10]
        .iter()
        .map(|n| format!("\"wide:{n}\""))
        .collect();
    std::fs::write(
        &file,
        format!(
            "[entity]\nname = \"item\"\njoin_key = \"item_id\"\nkey_prefix = \"ignored:\"\n\n\
             [[views]]\nname = \"wide\"\nkind = \"batch\"\nttl_seconds = 3600\n\
             push_source = \"wide_push\"\nfeatures = [{}]\n\n\
             [[services]]\nname = \"all\"\nfeatures = [\"wide\"]\n\n\
             [[services]]\nname = \"some\"\nfeatures = [{}]\n",
            features.join(", "),
            some.join(", ")
        ),
    )
    .unwrap();
    let server = TestServer::start_on(
        &redis.url(),
        "feast-wide",
        &["--features", file.to_str().unwrap(), "--initial-users", "0"],
    )
    .await;
    let mut df = serde_json::Map::new();
    df.insert("item_id".into(), json!(["i1", "i2"]));
    for (n, name) in names.iter().enumerate() {
        df.insert(name.clone(), json!([100 + n, 200 + n]));
    }
    let (status, pushed) = feast(
        &server,
        "/push",
        &json!({"push_source_name": "wide_push", "df": df}),
    )
    .await;
    assert_eq!(status, 200, "{pushed}");
    let mut conn = redis.connection().await;
    // Beside the rows: a field of someone else's, a feature gone from one row, a key that is
    // not a hash.
    let key = |id: &str| format!("{}{id}", server.prefix);
    let () = redis::pipe()
        .hset(key("i1"), "someone_elses", "x")
        .ignore()
        .hdel(key("i2"), "f05")
        .ignore()
        .set(key("i4"), "a word")
        .ignore()
        .query_async(&mut conn)
        .await
        .unwrap();
    let rows = json!(["i1", "i2", "i3", "i4"]);
    let (hgetalls, hmgets) = (
        calls(&mut conn, "hgetall").await,
        calls(&mut conn, "hmget").await,
    );
    let all = online(
        &server,
        json!({"features": "all", "entities": {"item_id": rows}}),
    )
    .await;
    // 70 features and the view's event time of a 72-field row: each row's hash read whole.
    assert_eq!(calls(&mut conn, "hgetall").await - hgetalls, 4);
    assert_eq!(calls(&mut conn, "hmget").await, hmgets);
    for (n, _) in names.iter().enumerate() {
        let (values, statuses, times) = column(&all, 1 + n);
        let i2 = if n == 5 {
            (json!(null), "NOT_FOUND")
        } else {
            (json!(200 + n), "PRESENT")
        };
        assert_eq!(
            values,
            [json!(100 + n), i2.0, json!(null), json!(null)],
            "f{n:02}"
        );
        assert_eq!(
            statuses,
            ["PRESENT", i2.1, "NOT_FOUND", "INVALID"],
            "f{n:02}"
        );
        assert!(is_recent_rfc3339(&times[0]), "{times:?}");
    }
    // Ten of them are named: the same values, by HMGET.
    let some = online(
        &server,
        json!({"features": "some", "entities": {"item_id": rows}}),
    )
    .await;
    assert_eq!(calls(&mut conn, "hmget").await - hmgets, 4);
    assert_eq!(
        some["results"],
        json!(all["results"].as_array().unwrap()[..11])
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

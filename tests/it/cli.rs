//! The two binaries as a user runs them: build-features writing users, and both refusing a bad
//! Redis with one clear line and a non-zero exit.

use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::support::{eventually, free_port, http, raw, redis_url, unique_prefix, RISK};
use redis::AsyncCommands;

const SERVER: &str = env!("CARGO_BIN_EXE_feature-store");
const BUILD_FEATURES: &str = env!("CARGO_BIN_EXE_build-features");

/// Runs a binary without the test's REDIS_URL; the server on a port of its own, so runs in
/// parallel never fail on each other's port.
fn run(bin: &str, args: &[&str]) -> Output {
    let own_port = bin == SERVER && !args.contains(&"--port");
    let port: &[&str] = if own_port { &["--port", "0"] } else { &[] };
    Command::new(bin)
        .args(port)
        .args(args)
        .env_remove("REDIS_URL")
        .stdin(Stdio::null())
        .output()
        .expect("run the binary")
}

/// Asserts a failed run printed exactly one line, starting with `start`.
fn assert_one_line_failure(out: &Output, start: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line, got:\n{stderr}");
    assert!(lines[0].starts_with(start), "{}", lines[0]);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test]
async fn build_features_materializes_users_with_a_key_ttl() {
    let prefix = unique_prefix("cli");
    let url = redis_url();
    let out = run(
        BUILD_FEATURES,
        &[
            "--count",
            "500",
            "--ttl-seconds",
            "3600",
            "--key-prefix",
            &prefix,
            "--redis-url",
            &url,
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!(
            "Materialized 500 user entities at {prefix}* with a 3600s key-level TTL. \
             Materialized 500 merchant entities at {}.merchant:* with a 3600s key-level TTL.",
            prefix.trim_end_matches(':')
        )
    );
    let mut conn = raw().await;
    let fields: Vec<(String, String)> = conn.hgetall(format!("{prefix}u0001")).await.unwrap();
    // Six batch features and the view's event and write times.
    assert_eq!(fields.len(), 8, "{fields:?}");
    assert!(fields.iter().any(|(name, _)| name == "_ts:user_batch"));
    let ttl: i64 = conn.ttl(format!("{prefix}u0500")).await.unwrap();
    assert!((3590..=3600).contains(&ttl), "TTL {ttl}");
    let missing: bool = conn.exists(format!("{prefix}u0501")).await.unwrap();
    assert!(!missing);
}

#[test]
fn help_documents_every_flag() {
    let help = String::from_utf8(run(BUILD_FEATURES, &["--help"]).stdout).unwrap();
    for flag in [
        "--count",
        "--ttl-seconds",
        "--redis-url",
        "--key-prefix",
        "--seed",
    ] {
        assert!(help.contains(flag), "build-features --help lacks {flag}");
    }
    let help = String::from_utf8(run(SERVER, &["--help"]).stdout).unwrap();
    for flag in [
        "--host",
        "--port",
        "--redis-url",
        "--key-prefix",
        "--batch-ttl-seconds",
        "--streaming-ttl-seconds",
        "--tick-seconds",
        "--users-per-tick",
        "--initial-users",
        "--no-reset",
        "--no-worker",
    ] {
        assert!(help.contains(flag), "feature-store --help lacks {flag}");
    }
}

#[test]
fn an_unreachable_redis_is_one_line_and_exit_1() {
    for bin in [SERVER, BUILD_FEATURES] {
        let out = run(bin, &["--redis-url", "redis://127.0.0.1:1"]);
        assert_one_line_failure(
            &out,
            "error: cannot connect to Redis at redis://127.0.0.1:1:",
        );
    }
}

/// Debian's Redis 7.0, which has no HEXPIRE. `make test` points OLD_REDIS_SERVER_BIN at it.
struct OldRedis(Child, u16);

impl Drop for OldRedis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_redis_older_than_7_4_is_refused_with_one_line() {
    let bin = std::env::var("OLD_REDIS_SERVER_BIN")
        .expect("OLD_REDIS_SERVER_BIN must name a Redis 7.0 server; run with `make test`");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(bin)
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("start the old redis-server");
    let old = OldRedis(child, port);
    let url = format!("redis://127.0.0.1:{}", old.1);
    eventually(Duration::from_secs(10), "the old Redis to answer", || {
        let url = url.clone();
        async move {
            let Ok(client) = redis::Client::open(url) else {
                return false;
            };
            client.get_multiplexed_async_connection().await.is_ok()
        }
    })
    .await;
    for bin in [SERVER, BUILD_FEATURES] {
        let out = run(bin, &["--redis-url", &url]);
        assert_one_line_failure(&out, "error: Redis 7.0.");
        assert!(String::from_utf8_lossy(&out.stderr).contains("need Redis >= 7.4"));
    }
}

#[tokio::test]
async fn a_taken_port_fails_before_any_data_is_touched() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let prefix = unique_prefix("taken-port");
    let mut conn = raw().await;
    let _: () = conn
        .hset(format!("{prefix}u0001"), RISK, "low")
        .await
        .unwrap();
    let url = redis_url();
    let out = run(
        SERVER,
        &[
            "--port",
            &port,
            "--redis-url",
            &url,
            "--key-prefix",
            &prefix,
        ],
    );
    assert_one_line_failure(&out, &format!("error: cannot listen on 127.0.0.1:{port}:"));
    let kept: Option<String> = conn.hget(format!("{prefix}u0001"), RISK).await.unwrap();
    assert_eq!(
        kept.as_deref(),
        Some("low"),
        "the failed start reset the store"
    );
    let _: () = conn.del(format!("{prefix}u0001")).await.unwrap();
}

#[test]
fn help_never_shows_the_redis_password_from_the_environment() {
    for bin in [SERVER, BUILD_FEATURES] {
        let out = Command::new(bin)
            .arg("--help")
            .env("REDIS_URL", "redis://:s3cret@127.0.0.1:1")
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains("--redis-url"), "{help}");
        assert!(
            !help.contains("s3cret"),
            "{bin} --help shows the password:\n{help}"
        );
    }
}

#[tokio::test]
async fn a_prefix_that_could_match_other_keys_is_refused_before_anything_is_touched() {
    let mut conn = raw().await;
    let bystander = unique_prefix("bystander");
    let _: () = conn.set(format!("{bystander}x"), "keep").await.unwrap();
    let url = redis_url();
    for bin in [SERVER, BUILD_FEATURES] {
        for (prefix, rule) in [("", "must not be empty"), ("fs:user", "must end with ':'")] {
            let out = run(bin, &["--redis-url", &url, "--key-prefix", prefix]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{bin} {prefix:?}: {stderr}");
            let first = stderr.lines().next().unwrap_or_default();
            assert!(
                first.starts_with("error: invalid value") && first.contains(rule),
                "{bin} {prefix:?}: {stderr}"
            );
        }
        // The environment variable follows the same rule.
        let out = Command::new(bin)
            .args(["--redis-url", &url])
            .env("FS_KEY_PREFIX", "")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bin} with FS_KEY_PREFIX=''");
    }
    let kept: Option<String> = conn.get(format!("{bystander}x")).await.unwrap();
    assert_eq!(kept.as_deref(), Some("keep"));
}

#[tokio::test]
async fn an_unknown_path_is_a_quiet_404_json_for_api_callers() {
    let log = std::env::temp_dir().join(format!("feature-store-404-{}.log", free_port()));
    let stdout = std::fs::File::create(&log).unwrap();
    let prefix = unique_prefix("not-found");
    let (server, addr) = ServerProcess::start(
        &[
            "--key-prefix",
            &prefix,
            "--initial-users",
            "0",
            "--no-worker",
        ],
        None,
        |command| {
            command.env_remove("RUST_LOG").stdout(stdout);
        },
    )
    .await;
    let long = format!("/{}", "a".repeat(60_000));
    let json = ("content-type", "application/json");
    let html = ("accept", "text/html");
    for (method, path, headers, json_answer) in [
        ("GET", "/api/nope", vec![], true),
        ("POST", "/api/nope", vec![json], true),
        ("POST", "/get-online-features/extra", vec![], true),
        ("GET", "/push/x", vec![], true),
        ("POST", long.as_str(), vec![json], true),
        ("GET", "/no-such-page", vec![html], false),
        ("GET", long.as_str(), vec![html], false),
    ] {
        let response = http(addr, method, path, &headers, b"{}").await.unwrap();
        let shown = &path[..path.len().min(40)];
        assert_eq!(response.status(), 404, "{method} {shown}");
        let body = response.body();
        if json_answer {
            assert!(
                body.starts_with(r#"{"error":"not_found""#),
                "{method} {shown}: {body:.300}"
            );
            assert!(
                body.len() < 400,
                "the path is cut in the answer: {}",
                body.len()
            );
        } else {
            assert!(body.contains("<html"), "{method} {shown}: the app's page");
        }
    }
    drop(server);
    let logged = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);
    assert!(
        !logged.contains("ERROR"),
        "an unknown path logged an error:\n{logged:.2000}"
    );
    assert!(
        logged.lines().all(|line| line.len() < 1_000),
        "a log line quotes a whole path:\n{logged:.2000}"
    );
}

/// The server binary as a child process on a free port against the test Redis, killed when
/// dropped.
struct ServerProcess(Child);

impl ServerProcess {
    /// Starts it with `args` after the port and Redis, under a file limit if one is given,
    /// after `setup` has changed the command; answers once `/livez` does.
    async fn start(
        args: &[&str],
        file_limit: Option<u32>,
        setup: impl FnOnce(&mut Command),
    ) -> (Self, std::net::SocketAddr) {
        let port = free_port();
        let mut command = match file_limit {
            Some(limit) => {
                let mut shell = Command::new("bash");
                shell.args([
                    "-c",
                    &format!("ulimit -n {limit} && exec \"$@\""),
                    "bash",
                    SERVER,
                ]);
                shell
            }
            None => Command::new(SERVER),
        };
        command
            .args(["--port", &port.to_string(), "--redis-url", &redis_url()])
            .args(args)
            .env("LEPTOS_OUTPUT_NAME", "feature-store")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        setup(&mut command);
        let server = ServerProcess(command.spawn().expect("start the server"));
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        eventually(Duration::from_secs(20), "the server to answer", || async {
            http(addr, "GET", "/livez", &[], b"").await.is_ok()
        })
        .await;
        (server, addr)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_ttl_redis_would_refuse_is_refused_before_anything_is_written() {
    let prefix = unique_prefix("ttl-flag");
    let url = redis_url();
    let huge = "9223372036854775807";
    let registry = std::env::temp_dir().join(format!("{}.toml", prefix.replace(':', "-")));
    std::fs::write(
        &registry,
        feature_store_core::registry_file::DEFAULT_FILE
            .replace("ttl_seconds = 86400", &format!("ttl_seconds = {huge}")),
    )
    .unwrap();
    let registry_arg = registry.display().to_string();
    let common = ["--redis-url", url.as_str(), "--key-prefix", prefix.as_str()];
    for (bin, args, code) in [
        (
            SERVER,
            vec!["--batch-ttl-seconds", huge, "--initial-users", "3"],
            2,
        ),
        (
            SERVER,
            vec!["--streaming-ttl-seconds", huge, "--initial-users", "3"],
            2,
        ),
        (
            BUILD_FEATURES,
            vec!["--ttl-seconds", huge, "--count", "3"],
            2,
        ),
        (
            SERVER,
            vec!["--features", &registry_arg, "--initial-users", "3"],
            1,
        ),
        (
            BUILD_FEATURES,
            vec!["--features", &registry_arg, "--count", "3"],
            1,
        ),
    ] {
        let out = run(bin, &[&common[..], &args[..]].concat());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(
            stderr.contains("3153600000") || stderr.contains(huge),
            "{args:?}: {stderr}"
        );
    }
    let _ = std::fs::remove_file(&registry);
    let written: Vec<String> = raw().await.keys(format!("{prefix}*")).await.unwrap();
    assert!(written.is_empty(), "a refused TTL wrote {written:?}");
}

#[test]
fn a_registry_redis_could_not_write_is_refused_at_load_with_its_line() {
    let features: String = (0..5_000)
        .map(|n| format!("  {{ name = \"f{n}\", type = \"int\" }},\n"))
        .collect();
    let text = format!(
        "[entity]\nname = \"user\"\njoin_key = \"user_id\"\nkey_prefix = \"wide:\"\n\
         [[views]]\nname = \"wide\"\nkind = \"batch\"\nttl_seconds = 60\nfeatures = [\n{features}]\n"
    );
    let path = std::env::temp_dir().join(format!("wide-{}.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    let file = path.display().to_string();
    for bin in [SERVER, BUILD_FEATURES] {
        let out = run(
            bin,
            &["--features", &file, "--redis-url", "redis://127.0.0.1:1"],
        );
        assert_one_line_failure(
            &out,
            &format!("error: {file}:1010: more than 1000 batch features"),
        );
    }
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn the_page_names_the_build_files_the_site_has_whatever_built_the_binary() {
    let site = std::env::temp_dir().join(format!("fs-site-{}", free_port()));
    let pkg = site.join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    for extension in ["js", "wasm", "css"] {
        std::fs::write(pkg.join(format!("feature-store.{extension}")), "plain").unwrap();
    }
    let hash_file = site.join("hash.txt");
    let cases = [
        // cargo leptos without hashing: no hash.txt.
        (None, "/pkg/feature-store.js"),
        // A hashed build beside a binary that plain cargo rebuilt (`cargo bench`).
        (Some(("h1", true)), "/pkg/feature-store.h1.js"),
        // A stale hash.txt naming files the site no longer has: never a page that 404s its JS.
        (Some(("gone", false)), "/pkg/feature-store.js"),
    ];
    for (hashes, script) in cases {
        let _ = std::fs::remove_file(&hash_file);
        if let Some((hash, present)) = hashes {
            let lines: String = ["js", "wasm", "css"]
                .iter()
                .map(|extension| format!("{extension}: {hash}\n"))
                .collect();
            std::fs::write(&hash_file, lines).unwrap();
            for extension in ["js", "wasm", "css"] {
                if present {
                    std::fs::write(
                        pkg.join(format!("feature-store.{hash}.{extension}")),
                        "hashed",
                    )
                    .unwrap();
                }
            }
        }
        let prefix = unique_prefix("site");
        let (_server, addr) = ServerProcess::start(
            &[
                "--key-prefix",
                &prefix,
                "--initial-users",
                "0",
                "--no-worker",
            ],
            None,
            |command| {
                command
                    .env("LEPTOS_SITE_ROOT", &site)
                    .env("LEPTOS_HASH_FILE_NAME", &hash_file);
            },
        )
        .await;
        let page = http(addr, "GET", "/", &[], b"").await.unwrap();
        assert_eq!(page.status(), 200, "{hashes:?}");
        assert!(
            page.body().contains(script),
            "{hashes:?}: the page does not name {script}"
        );
        let file = http(addr, "GET", script, &[], b"").await.unwrap();
        assert_eq!(file.status(), 200, "{hashes:?}: {script}");
    }
    let _ = std::fs::remove_dir_all(&site);
}

#[tokio::test]
async fn a_slowloris_of_1100_connections_cannot_stop_probes_or_reads() {
    use tokio::io::AsyncWriteExt;
    // The file limit the attack was first seen under.
    let prefix = unique_prefix("slowloris");
    let (_server, addr) = ServerProcess::start(
        &["--key-prefix", &prefix, "--no-worker"],
        Some(1_024),
        |_| {},
    )
    .await;
    // Each sends half a request head, then nothing.
    let mut held = Vec::new();
    for _ in 0..1_100 {
        let connect = tokio::net::TcpStream::connect(addr);
        let Ok(Ok(mut stream)) = tokio::time::timeout(Duration::from_millis(200), connect).await
        else {
            continue;
        };
        let _ = stream
            .write_all(b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            .await;
        held.push(stream);
    }
    assert!(
        held.len() >= 1_000,
        "only {} connections opened",
        held.len()
    );
    let read = serde_json::json!({"user": "u0001", "fields": [RISK]}).to_string();
    let json = [("content-type", "application/json")];
    for (method, path, headers, body) in [
        ("GET", "/livez", &[][..], &b""[..]),
        ("POST", "/api/read", &json[..], read.as_bytes()),
        ("GET", "/readyz", &[][..], &b""[..]),
    ] {
        let answered = tokio::time::timeout(
            Duration::from_secs(3),
            http(addr, method, path, headers, body),
        )
        .await;
        let response = answered
            .unwrap_or_else(|_| panic!("{path} did not answer within 3 s under the slowloris"))
            .unwrap();
        assert_eq!(response.status(), 200, "{path}: {}", response.body());
    }
    drop(held);
}

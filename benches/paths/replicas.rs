//! `make bench`'s rows for several servers: HTTP read throughput at c=64 through haproxy
//! (round robin) to one `serve` replica and to two, with the CPU each process used; and what
//! `/api/state` costs on a `serve` replica against the lease holder, 1,000,000 entities stored.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{
    back_to_back, cpu_us, free_port, say, single, wait_for, wrk, ReleaseServer, Row, WRK_SECONDS,
};

/// Connections of the throughput rows.
const CONNECTIONS: usize = 64;

/// haproxy in front of `backends`, round robin, connections to them kept and reused.
struct Proxy {
    child: Child,
    url: String,
}

impl Proxy {
    fn start(dir: &Path, name: &str, backends: &[u16]) -> Proxy {
        let port = free_port();
        let servers: String = backends
            .iter()
            .enumerate()
            .map(|(at, backend)| format!("  server r{at} 127.0.0.1:{backend}\n"))
            .collect();
        let config = dir.join(format!("{name}.cfg"));
        std::fs::write(
            &config,
            format!(
                "global\n  maxconn 4096\n\ndefaults\n  mode http\n  timeout connect 2s\n  \
                 timeout client 30s\n  timeout server 30s\n\nfrontend in\n  bind 127.0.0.1:{port}\n  \
                 default_backend replicas\n\nbackend replicas\n  balance roundrobin\n  \
                 http-reuse always\n{servers}"
            ),
        )
        .unwrap();
        let child = Command::new("/usr/sbin/haproxy")
            .args(["-db", "-f"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run haproxy (scripts/setup.sh bench installs it)");
        let url = format!("http://127.0.0.1:{port}");
        wait_for(&format!("{url}/livez"), Duration::from_secs(20));
        Proxy { child, url }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU µs per request of each process in `pids` over one `wrk` run of `url`: (req/s, per pid).
fn measured(url: &str, body: &str, pids: &[String]) -> (f64, Vec<f64>) {
    let before: Vec<f64> = pids.iter().map(|pid| cpu_us(pid)).collect();
    let run = wrk(url, CONNECTIONS, WRK_SECONDS, Some(body));
    let per_request = pids
        .iter()
        .zip(before)
        .map(|(pid, before)| (cpu_us(pid) - before) / run.requests)
        .collect();
    (run.per_second, per_request)
}

pub fn rows(redis_url: &str, read_body: &str, large: &str, large_pid: &str) -> Vec<Row> {
    let mut rows = Vec::new();
    let dir = std::env::temp_dir().join(format!("fs-bench-replicas-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let serve = |db: u8| {
        ReleaseServer::start(&[
            "--redis-url",
            &format!("{redis_url}/{db}"),
            "--role",
            "serve",
            "--no-reset",
            "--initial-users",
            "0",
        ])
    };

    say("replicas: HTTP reads at c=64 through haproxy to 1 and to 2 `serve` replicas");
    // Database 0 holds the SMALL server's 200 users; these replicas serve them too.
    let replicas = [serve(0), serve(0)];
    let one = Proxy::start(&dir, "one", &[replicas[0].port]);
    let two = Proxy::start(&dir, "two", &[replicas[0].port, replicas[1].port]);
    let pids = |proxy: &Proxy| {
        vec![
            replicas[0].pid(),
            replicas[1].pid(),
            proxy.child.id().to_string(),
        ]
    };
    let (mut alone, mut shared) = (Vec::new(), Vec::new());
    back_to_back(
        || {
            let (rps, cpu) = measured(&format!("{}/api/read", one.url), read_body, &pids(&one));
            alone.push((rps, cpu));
            rps
        },
        || {
            let (rps, cpu) = measured(&format!("{}/api/read", two.url), read_body, &pids(&two));
            shared.push((rps, cpu));
            rps
        },
    );
    let mean = |runs: &[(f64, Vec<f64>)], at: usize| {
        runs.iter().map(|(_, cpu)| cpu[at]).sum::<f64>() / runs.len() as f64
    };
    let rps =
        |runs: &[(f64, Vec<f64>)]| runs.iter().map(|(rps, _)| rps).sum::<f64>() / runs.len() as f64;
    let (alone_rps, shared_rps) = (rps(&alone), rps(&shared));
    let server_cpu = mean(&shared, 0) + mean(&shared, 1);
    rows.push(single(
        "HTTP POST /api/read, c=64 through haproxy, 2 `serve` replicas against 1, 200 stored (µs per request)",
        1e6 / shared_rps,
        "µs",
        (1e6 / alone_rps, "the same through haproxy to 1 replica"),
        None,
        format!(
            "{alone_rps:.0} req/s with 1 replica (its CPU {:.1} µs/req, haproxy {:.1}), {shared_rps:.0} \
             with 2 (CPU {:.1} + {:.1} µs/req, haproxy {:.1}); wrk, haproxy, Redis and the replicas \
             share 2 cores, so a second replica cannot add a core here. Projected: the servers need \
             {server_cpu:.1} µs of CPU per read, so each core given to a replica adds about {:.0} \
             reads/s until Redis or the proxy saturates",
            mean(&alone, 0),
            mean(&alone, 2),
            mean(&shared, 0),
            mean(&shared, 1),
            mean(&shared, 2),
            1e6 / server_cpu,
        ),
    ));
    drop((one, two, replicas));

    say("replicas: /api/state on a `serve` replica against the lease holder, 1,000,000 stored");
    let follower = serve(1);
    let state = |url: &str, pid: &str| {
        let before = cpu_us(pid);
        let run = wrk(&format!("{url}/api/state"), 1, WRK_SECONDS, None);
        (run.p50_ms, (cpu_us(pid) - before) / run.requests)
    };
    let mut holder_runs = Vec::new();
    let mut follower_runs = Vec::new();
    let (holder_p50, follower_p50) = back_to_back(
        || {
            let (p50, cpu) = state(large, large_pid);
            holder_runs.push(cpu);
            p50
        },
        || {
            let (p50, cpu) = state(&follower.url, &follower.pid());
            follower_runs.push(cpu);
            p50
        },
    );
    let cpu = |runs: &[f64]| runs.iter().sum::<f64>() / runs.len() as f64;
    rows.push(single(
        "GET /api/state on a `serve` replica against the lease holder, c=1, 1,000,000 stored (p50 ms)",
        follower_p50,
        "ms",
        (holder_p50, "the same on the holder (the LARGE server), same round"),
        Some(1.5),
        format!(
            "CPU {:.0} µs/request on the replica, {:.0} on the holder; the replica reads the \
             holder's published pass (one MGET a second) and never walks the keyspace",
            cpu(&follower_runs),
            cpu(&holder_runs)
        ),
    ));
    rows
}

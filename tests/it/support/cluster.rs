//! The test cluster's nodes, driven as an operator would: `redis-cli` to find who serves a key,
//! SIGKILL for a crash, the same binary and data folder to bring a node back as a replica.

use std::time::{Duration, Instant};

use super::cluster_url;

/// `redis-cli -p <a live node> args…`, its standard output.
pub fn cli(args: &[&str]) -> String {
    let url = cluster_url();
    for node in url.trim_start_matches("redis+cluster://").split(',') {
        let port = node.rsplit(':').next().unwrap();
        if let Some(text) = cli_on(port, args) {
            return text;
        }
    }
    panic!("no cluster node answered redis-cli {args:?}");
}

/// `redis-cli -p port args…`, or `None` when that node does not answer.
pub fn cli_on(port: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("redis-cli")
        .args(["-p", port])
        .args(args)
        .output()
        .expect("run redis-cli");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.success() && !text.contains("Could not connect") && !text.is_empty())
        .then_some(text)
}

/// One line of `CLUSTER NODES`.
#[derive(Clone, Debug)]
pub struct NodeLine {
    pub id: String,
    pub port: String,
    /// The cluster bus port.
    pub bus: String,
    pub master: bool,
    pub failed: bool,
    /// The slot ranges a master serves, as `first-last` or `slot`.
    pub slots: Vec<String>,
}

/// Every node the cluster knows, as a live node sees it.
pub fn nodes() -> Vec<NodeLine> {
    cli(&["cluster", "nodes"])
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let parts: Vec<&str> = line.split_whitespace().collect();
            let (host_port, bus) = parts[1].split_once('@').unwrap();
            let bus = bus.split(',').next().unwrap();
            NodeLine {
                id: parts[0].to_owned(),
                port: host_port.rsplit(':').next().unwrap().to_owned(),
                bus: bus.to_owned(),
                master: parts[2].contains("master"),
                failed: parts[2].contains("fail"),
                slots: parts.iter().skip(8).map(|s| (*s).to_owned()).collect(),
            }
        })
        .collect()
}

/// The live masters.
pub fn masters() -> Vec<NodeLine> {
    nodes()
        .into_iter()
        .filter(|node| node.master && !node.failed)
        .collect()
}

/// The live master that serves `key`, and the other live masters.
pub fn master_of(key: &str) -> (NodeLine, Vec<NodeLine>) {
    let slot: u32 = cli(&["cluster", "keyslot", key]).trim().parse().unwrap();
    let owns = |node: &NodeLine| {
        node.slots.iter().any(|range| {
            let (first, last) = range.split_once('-').unwrap_or((range, range));
            first.parse::<u32>().is_ok_and(|f| f <= slot)
                && last.parse::<u32>().is_ok_and(|l| slot <= l)
        })
    };
    let (owner, others): (Vec<_>, Vec<_>) = masters().into_iter().partition(owns);
    let owner = owner
        .into_iter()
        .next()
        .expect("a master serves every slot");
    (owner, others)
}

/// Polls `check` every 100 ms (blocking) until it gives a value; panics with `what` after
/// `deadline`.
pub fn wait_for<T>(deadline: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(
            started.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Kills the master `node` with SIGKILL, as a crash would; answers its data folder, for
/// `restart_as_replica`.
pub fn kill(node: &NodeLine) -> String {
    let info = cli_on(&node.port, &["info", "server"]).expect("the node answers before the kill");
    let pid = info
        .lines()
        .find_map(|line| line.strip_prefix("process_id:"))
        .expect("INFO names the process")
        .trim()
        .to_owned();
    let dir = cli_on(&node.port, &["config", "get", "dir"])
        .and_then(|reply| reply.lines().nth(1).map(str::to_owned))
        .expect("CONFIG GET dir");
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &pid])
        .status()
        .expect("run kill");
    assert!(killed.success(), "kill -KILL {pid}");
    dir
}

/// Waits until a replica of the killed master `dead` serves its slots; answers the new master.
pub fn wait_for_promotion(dead: &NodeLine, deadline: Duration) -> NodeLine {
    wait_for(deadline, "a replica to take over the killed master", || {
        let promoted = nodes()
            .into_iter()
            .find(|node| node.master && !node.failed && node.slots == dead.slots)?;
        let ok = cli_on(&promoted.port, &["cluster", "info"])?.contains("cluster_state:ok");
        ok.then_some(promoted)
    })
}

/// Starts the killed `node` again from its data folder `dir`, as a daemon whose pid file
/// `make test` cleans up; it rejoins as a replica of the master that took its place. Waits until
/// that replica is in sync.
pub fn restart_as_replica(node: &NodeLine, dir: &str) {
    let bin = std::env::var("REDIS_SERVER_BIN")
        .expect("REDIS_SERVER_BIN must name a redis-server >= 7.4; run with `make test`");
    let pidfile = format!("{}.pid", dir.trim_end_matches('/'));
    let started = std::process::Command::new(bin)
        .args(["--port", &node.port, "--cluster-port", &node.bus])
        .args([
            "--bind",
            "127.0.0.1",
            "--dir",
            dir,
            "--cluster-enabled",
            "yes",
        ])
        .args(["--cluster-config-file", "nodes.conf"])
        .args([
            "--cluster-node-timeout",
            "2000",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .args(["--daemonize", "yes", "--pidfile", &pidfile])
        .args(["--logfile", &format!("{dir}/redis.log")])
        .status()
        .expect("start redis-server");
    assert!(started.success(), "restart of node {}", node.port);
    wait_for(
        Duration::from_secs(30),
        "the restarted node to sync",
        || {
            let info = cli_on(&node.port, &["info", "replication"])?;
            (info.contains("role:slave") && info.contains("master_link_status:up")).then_some(())
        },
    );
}

//! SCAN over the keyspace: one node's, or every master's of a cluster, all at once (a step is
//! one SCAN on each master still walking, in parallel: a pass takes as long as the largest
//! master's walk, and each master is held only by its own step).

use futures::future::try_join_all;
use redis::{Cmd, RedisError};

use super::slots::Node;
use super::{checked, Conn, RedisLink};
use crate::limits::SCAN_COUNT;
use crate::store::StoreError;

impl RedisLink {
    /// Starts a SCAN with MATCH over the hashes of the keyspace: of every master, in
    /// parallel, on a cluster.
    pub(crate) fn scan(&self, pattern: String) -> KeyScan<'_> {
        let nodes = match &self.conn {
            Conn::Single(_) => vec![None],
            Conn::Cluster(cluster) => cluster.map().masters.iter().cloned().map(Some).collect(),
        };
        KeyScan {
            link: self,
            pattern,
            walking: nodes.into_iter().map(|node| (node, 0)).collect(),
        }
    }

    /// One SCAN step on `node` (the one Redis when `None`).
    async fn scan_step(
        &self,
        node: Option<&Node>,
        scan: Cmd,
    ) -> Result<(u64, Vec<String>), StoreError> {
        let reply = match (&self.conn, node) {
            (Conn::Cluster(cluster), Some(node)) => checked(cluster.on_node(node, &scan).await?)?,
            (Conn::Single(conn), _) => scan.query_async(&mut conn.clone()).await?,
            (Conn::Cluster(_), None) => unreachable!("a cluster scan walks its masters"),
        };
        Ok(redis::from_redis_value(reply).map_err(RedisError::from)?)
    }
}

/// A SCAN in progress: each `next_step` is one round trip to each node still walking.
pub(crate) struct KeyScan<'a> {
    link: &'a RedisLink,
    pattern: String,
    /// The nodes still to walk (the one Redis is `None`), each with its cursor.
    walking: Vec<(Option<Node>, u64)>,
}

/// The keys one SCAN step found on one node.
pub(crate) struct ScanBatch {
    /// The master (`host:port`) they came from; `None` on a single Redis.
    pub master: Option<String>,
    pub keys: Vec<String>,
}

impl KeyScan<'_> {
    /// How many SCAN calls the next step sends: one per node still walking.
    pub(crate) fn calls(&self) -> usize {
        self.walking.len()
    }

    /// The matching keys of the next SCAN step on each node still walking (often none: a step
    /// visits COUNT slots of the keyspace, whoever's keys they hold), or `None` when the scan
    /// is complete.
    pub(crate) async fn next_step(&mut self) -> Result<Option<Vec<ScanBatch>>, StoreError> {
        if self.walking.is_empty() {
            return Ok(None);
        }
        let steps = self.walking.iter().map(|(node, cursor)| {
            let mut scan = redis::cmd("SCAN");
            scan.arg(cursor)
                .arg("MATCH")
                .arg(&self.pattern)
                .arg("COUNT")
                .arg(SCAN_COUNT)
                // Entities are hashes; a key of another type is never ours.
                .arg("TYPE")
                .arg("hash");
            self.link.scan_step(node.as_ref(), scan)
        });
        let replies = try_join_all(steps).await?;
        let mut batches = Vec::with_capacity(replies.len());
        for ((node, cursor), (next, keys)) in self.walking.iter_mut().zip(replies) {
            *cursor = next;
            batches.push(ScanBatch {
                master: node.as_ref().map(ToString::to_string),
                keys,
            });
        }
        // A cursor back at 0 ends that node's walk.
        self.walking.retain(|(_, cursor)| *cursor != 0);
        Ok(Some(batches))
    }
}

//! SCAN over the keyspace: one node's, or every master's of a cluster, one after the other.

use redis::{Cmd, RedisError};

use super::slots::Node;
use super::{checked, Conn, RedisLink};
use crate::limits::SCAN_COUNT;
use crate::store::StoreError;

impl RedisLink {
    /// Starts a SCAN with MATCH over the hashes of the keyspace: of every master, one after the
    /// other, on a cluster.
    pub(crate) fn scan(&self, pattern: String) -> KeyScan<'_> {
        let nodes = match &self.conn {
            Conn::Single(_) => vec![None],
            Conn::Cluster(cluster) => cluster.map().masters.iter().cloned().map(Some).collect(),
        };
        KeyScan {
            link: self,
            pattern,
            nodes,
            cursor: 0,
            last_master: None,
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

/// A SCAN in progress: each `next_batch` is one round trip.
pub(crate) struct KeyScan<'a> {
    link: &'a RedisLink,
    pattern: String,
    /// The nodes still to walk, the current one first; empty when the scan is complete.
    nodes: Vec<Option<Node>>,
    cursor: u64,
    /// The master the last batch came from, on a cluster.
    last_master: Option<String>,
}

impl KeyScan<'_> {
    /// The next non-empty batch of matching keys, or `None` when the scan is complete.
    pub(crate) async fn next_batch(&mut self) -> Result<Option<Vec<String>>, StoreError> {
        while let Some(node) = self.nodes.first() {
            let mut scan = redis::cmd("SCAN");
            scan.arg(self.cursor)
                .arg("MATCH")
                .arg(&self.pattern)
                .arg("COUNT")
                .arg(SCAN_COUNT)
                // Entities are hashes; a key of another type is never ours.
                .arg("TYPE")
                .arg("hash");
            let (next, keys) = self.link.scan_step(node.as_ref(), scan).await?;
            self.last_master = node.as_ref().map(ToString::to_string);
            if next == 0 {
                self.nodes.remove(0);
            }
            self.cursor = next;
            if !keys.is_empty() {
                return Ok(Some(keys));
            }
        }
        Ok(None)
    }

    /// The master (`host:port`) the last batch came from; `None` on a single Redis.
    pub(crate) fn master(&self) -> Option<&str> {
        self.last_master.as_deref()
    }
}

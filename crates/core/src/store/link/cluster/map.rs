//! The cluster's slot map, our own copy: read at connect, again every `MAP_PERIOD`, and at
//! once when a reply says a slot moved or a node cannot be reached, by a task no request waits
//! for and that ends with the link.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Weak};
use std::time::Duration;

use redis::{ErrorKind, RedisError, RedisResult};
use tokio::sync::Notify;

use super::super::slots::{Node, SlotMap};
use super::{ClusterLink, Sent};

/// How often the map is read again when nothing says it changed: a failover that no request
/// has noticed yet (health, the index) is seen within this.
const MAP_PERIOD: Duration = Duration::from_secs(2);
/// The longest one node may take to give the map before the next node is asked.
const MAP_TIMEOUT: Duration = Duration::from_secs(1);
/// The shortest time between two reads of the map, however many replies ask for one.
const MAP_GAP: Duration = Duration::from_millis(100);

impl ClusterLink {
    pub fn map(&self) -> Arc<SlotMap> {
        Arc::clone(&self.map.read().expect("slot map lock"))
    }

    pub(super) fn install(&self, map: SlotMap) {
        self.connections
            .lock()
            .expect("connections lock")
            .retain(|node, _| {
                map.masters.contains(node)
                    || map.replicas.contains(node)
                    || self.seeds.contains(node)
            });
        let masters_moved = {
            let mut installed = self.map.write().expect("slot map lock");
            let moved = installed.masters != map.masters;
            *installed = Arc::new(map);
            moved
        };
        if masters_moved {
            self.masters_changed.send_modify(|changes| *changes += 1);
        }
    }

    /// Asks the known masters, then their replicas, then the URL's nodes for `CLUSTER SLOTS`;
    /// the first answer wins.
    pub(super) async fn read_map(&self) -> RedisResult<SlotMap> {
        let known = self.map();
        let mut candidates: Vec<&Node> = Vec::new();
        for node in known
            .masters
            .iter()
            .chain(&known.replicas)
            .chain(&self.seeds)
        {
            if !candidates.contains(&node) {
                candidates.push(node);
            }
        }
        let mut last_error = None;
        for node in candidates {
            let mut slots = redis::cmd("CLUSTER");
            slots.arg("SLOTS");
            let asked = self.send(node, Sent::One(&slots));
            match tokio::time::timeout(MAP_TIMEOUT, asked).await {
                Ok(Ok(mut reply)) => match SlotMap::parse(&reply.remove(0)) {
                    Some(map) if !map.masters.is_empty() => return Ok(map),
                    _ => {
                        last_error = Some(RedisError::from((
                            ErrorKind::Parse,
                            "unexpected CLUSTER SLOTS reply",
                        )))
                    }
                },
                Ok(Err(e)) => last_error = Some(e),
                Err(_) => {
                    self.forget(node);
                    last_error = Some(RedisError::from((
                        ErrorKind::Io,
                        "no answer to CLUSTER SLOTS",
                        node.to_string(),
                    )));
                }
            }
        }
        Err(last_error.unwrap_or_else(|| {
            RedisError::from((
                ErrorKind::ClusterConnectionNotFound,
                "no cluster node to ask",
            ))
        }))
    }

    /// Reads the map again now, then keeps it if it could be read.
    async fn refresh(&self) {
        match self.read_map().await {
            Ok(map) => {
                if self.map_failing.swap(false, Relaxed) {
                    tracing::info!("the cluster's slot map can be read again");
                }
                self.install(map);
            }
            Err(e) => {
                if !self.map_failing.swap(true, Relaxed) {
                    tracing::warn!("cannot read the cluster's slot map: {e}");
                }
            }
        }
    }
}

/// Reads the map every `MAP_PERIOD`, or sooner when told it is stale, until the link is gone.
pub(super) async fn refresh_forever(link: Weak<ClusterLink>, stale: Arc<Notify>) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(MAP_PERIOD) => {}
            () = stale.notified() => {}
        }
        let Some(link) = link.upgrade() else {
            return;
        };
        link.refresh().await;
        drop(link);
        tokio::time::sleep(MAP_GAP).await;
    }
}

//! A Redis Cluster's slot map as `CLUSTER SLOTS` gives it, and the slot of a key.

use std::fmt;

use redis::Value;

/// A cluster node, as `host:port`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) struct Node {
    pub host: String,
    pub port: u16,
}

impl Node {
    /// `host:port`, as a URL and a MOVED reply name a node.
    pub fn parse(address: &str) -> Option<Node> {
        let (host, port) = address.trim().rsplit_once(':')?;
        Some(Node {
            host: host.to_owned(),
            port: port.parse().ok()?,
        })
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// Which master serves which slots, and every node the cluster named.
#[derive(Debug, Default)]
pub(super) struct SlotMap {
    /// (first slot, last slot, master), sorted by first slot.
    ranges: Vec<(u16, u16, Node)>,
    /// Every master once, sorted.
    pub masters: Vec<Node>,
    /// Every replica once, sorted: more nodes to ask for the map when masters fail.
    pub replicas: Vec<Node>,
}

impl SlotMap {
    /// Reads `[[first, last, [host, port, id, …], [replica host, port, …]…], …]`.
    pub fn parse(reply: &Value) -> Option<SlotMap> {
        let Value::Array(ranges) = reply else {
            return None;
        };
        let mut map = SlotMap::default();
        for range in ranges {
            let Value::Array(items) = range else {
                return None;
            };
            let [Value::Int(first), Value::Int(last), master, replicas @ ..] = items.as_slice()
            else {
                return None;
            };
            let master = node_of(master)?;
            let (first, last) = (u16::try_from(*first).ok()?, u16::try_from(*last).ok()?);
            map.ranges.push((first, last, master.clone()));
            map.masters.push(master);
            map.replicas.extend(replicas.iter().filter_map(node_of));
        }
        map.ranges.sort_by_key(|(first, _, _)| *first);
        for nodes in [&mut map.masters, &mut map.replicas] {
            nodes.sort();
            nodes.dedup();
        }
        Some(map)
    }

    /// The master that serves `slot`, if the map knows one.
    pub fn owner(&self, slot: u16) -> Option<&Node> {
        let at = self.ranges.partition_point(|(first, _, _)| *first <= slot);
        let (_, last, node) = self.ranges.get(at.checked_sub(1)?)?;
        (slot <= *last).then_some(node)
    }
}

/// `[host, port, …]`; a node whose host is empty (its address unknown) is left out.
fn node_of(value: &Value) -> Option<Node> {
    let Value::Array(fields) = value else {
        return None;
    };
    let [host, Value::Int(port), ..] = fields.as_slice() else {
        return None;
    };
    let host = match host {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok()?,
        Value::SimpleString(text) => text.clone(),
        _ => return None,
    };
    (!host.is_empty()).then_some(Node {
        host,
        port: u16::try_from(*port).ok()?,
    })
}

/// The cluster slot of a key: CRC16 of the key, or of its `{hash tag}` when it has one.
pub(super) fn key_slot(key: &str) -> u16 {
    let bytes = key.as_bytes();
    let tagged = bytes.iter().position(|&b| b == b'{').and_then(|open| {
        let close = bytes[open + 1..].iter().position(|&b| b == b'}')?;
        (close > 0).then(|| &bytes[open + 1..open + 1 + close])
    });
    crc16::State::<crc16::XMODEM>::calculate(tagged.unwrap_or(bytes)) % 16384
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_slots_match_redis_cluster() {
        // Values from `CLUSTER KEYSLOT`.
        assert_eq!(key_slot("foo"), 12182);
        assert_eq!(key_slot("{user1000}.following"), key_slot("user1000"));
        assert_eq!(key_slot("foo{}{bar}"), key_slot("foo{}{bar}"));
        assert_ne!(key_slot("foo{}{bar}"), key_slot("bar"));
    }

    fn node(host: &str, port: i64) -> Value {
        Value::Array(vec![
            Value::BulkString(host.as_bytes().to_vec()),
            Value::Int(port),
            Value::BulkString(b"id".to_vec()),
        ])
    }

    #[test]
    fn the_map_names_masters_replicas_and_owners() {
        let reply = Value::Array(vec![
            Value::Array(vec![
                Value::Int(5461),
                Value::Int(16383),
                node("10.0.0.2", 7001),
                node("10.0.0.5", 7004),
            ]),
            Value::Array(vec![
                Value::Int(0),
                Value::Int(5460),
                node("10.0.0.1", 7000),
                node("", 7003),
            ]),
        ]);
        let map = SlotMap::parse(&reply).unwrap();
        assert_eq!(map.owner(0), Node::parse("10.0.0.1:7000").as_ref());
        assert_eq!(map.owner(5461), Node::parse("10.0.0.2:7001").as_ref());
        assert_eq!(map.owner(16383), Node::parse("10.0.0.2:7001").as_ref());
        assert_eq!(map.masters.len(), 2);
        assert_eq!(map.replicas, [Node::parse("10.0.0.5:7004").unwrap()]);
        assert!(SlotMap::parse(&Value::Nil).is_none());
    }
}

//! Where a lease's fencing token is kept so a script writing an entity can check it in the same
//! call. A script may only touch keys of its key's slot on a cluster, so a cluster keeps one
//! copy of the token per slot, each under a hash tag chosen to land in that slot; a single Redis
//! keeps one.

use std::sync::OnceLock;

use super::slots::key_slot;
use super::{Conn, RedisLink};

const SLOTS: usize = 16_384;

impl RedisLink {
    /// The key holding `group`'s fencing token that a script on `key` can read.
    pub(crate) fn fence_key(&self, group: &str, key: &str) -> String {
        match &self.conn {
            Conn::Single(_) => group_key(group, FENCE),
            Conn::Cluster(_) => slot_fence_key(group, usize::from(key_slot(key))),
        }
    }

    /// Every key holding `group`'s fencing token: one on a single Redis, one per slot on a
    /// cluster.
    pub(crate) fn fence_keys(&self, group: &str) -> Vec<String> {
        match &self.conn {
            Conn::Single(_) => vec![group_key(group, FENCE)],
            Conn::Cluster(_) => (0..SLOTS).map(|slot| slot_fence_key(group, slot)).collect(),
        }
    }
}

/// The name of the fence beside the lease, which the lease script sets.
pub(crate) const FENCE: &str = "fence";

/// A key of the servers sharing `group` (their first entity's prefix): hash-tagged by the group,
/// so on a cluster all of them sit in one slot and one script or `MGET` reaches them together.
/// Never an entity key: it does not start with the prefix.
pub(crate) fn group_key(group: &str, name: &str) -> String {
    format!("{{{group}}}{name}")
}

/// The fence of one slot: the tag comes first, so the group cannot change the slot.
fn slot_fence_key(group: &str, slot: usize) -> String {
    format!("{{{}}}{group}{FENCE}", slot_tags()[slot])
}

/// For each slot, the shortest decimal number whose hash tag lands in it.
fn slot_tags() -> &'static [u32] {
    static TAGS: OnceLock<Vec<u32>> = OnceLock::new();
    TAGS.get_or_init(|| {
        let mut tags = vec![u32::MAX; SLOTS];
        let mut missing = SLOTS;
        let mut n = 0_u32;
        while missing > 0 {
            let slot = usize::from(key_slot(&format!("{{{n}}}")));
            if tags[slot] == u32::MAX {
                tags[slot] = n;
                missing -= 1;
            }
            n += 1;
        }
        tags
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_slot_has_a_fence_in_it_whatever_the_group() {
        for group in ["fs:user:", "odd{group}:", "x{:"] {
            for slot in [0, 1, 5_000, SLOTS - 1] {
                assert_eq!(usize::from(key_slot(&slot_fence_key(group, slot))), slot);
            }
        }
    }
}

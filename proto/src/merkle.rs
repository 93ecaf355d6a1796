//! A Merkle tree over the machines a delivery is meant for, so that one signature can cover
//! them all while each machine still proves that it was one of them.
//!
//! Signing every machine's envelope on its own costs one Ed25519 signature per machine (30 µs
//! here): after a publish to 10,000 machines, most of the time they wait. With this tree the
//! server signs the root once per publish, and hands each machine its inclusion proof (a few
//! hundred bytes); a machine checks the signature and that the proof leads from its own id to
//! the signed root. A machine therefore accepts only a delivery the server signed for a set of
//! machines that includes it: for any other set, no proof leads from its id to the root.
//!
//! The tree is RFC 9162's (Certificate Transparency 2.0, section 2.1): leaves are hashed as
//! `SHA-256(0x00 || leaf)`, inner nodes as `SHA-256(0x01 || left || right)`, so a leaf can never
//! pass for a node; a level with an odd count carries its last node up unchanged. A leaf is a
//! machine's device id (its 16 bytes); leaves are in ascending order.

use std::collections::HashMap;

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// A SHA-256 hash in the tree.
pub type Hash = [u8; 32];

/// The longest inclusion proof accepted: a tree of 2^64 leaves needs no more.
pub const MAX_PROOF_LENGTH: usize = 64;

/// The hash of the leaf for machine `id`.
pub fn leaf_hash(id: Uuid) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(id.as_bytes());
    hasher.finalize().into()
}

/// The hash of an inner node over `left` and `right`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The tree over a set of machines.
#[derive(Debug, Clone)]
pub struct MachineTree {
    /// Each machine's leaf: leaves are in ascending order of id. Looked up by every answer
    /// after a publish, so not searched for.
    leaves: HashMap<Uuid, usize>,
    /// Every level's hashes, from the leaves up to the root alone.
    levels: Vec<Vec<Hash>>,
}

/// What shows that a machine is leaf `index` of a tree: the sibling hashes from the leaf up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    /// The leaf's position.
    pub index: u64,
    /// The hashes to combine with, leaf level first.
    pub path: Vec<Hash>,
}

impl MachineTree {
    /// The tree over `ids` (in any order; a repeated id counts once). `None` for no machines:
    /// an empty tree proves nothing.
    pub fn new(ids: impl IntoIterator<Item = Uuid>) -> Option<Self> {
        let mut ids: Vec<Uuid> = ids.into_iter().collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return None;
        }
        let mut levels = vec![ids.iter().map(|id| leaf_hash(*id)).collect::<Vec<_>>()];
        while let Some(below) = levels.last().filter(|level| level.len() > 1) {
            let above = below
                .chunks(2)
                .map(|pair| match pair {
                    [left, right] => node_hash(left, right),
                    // The last of an odd count goes up as it is.
                    [alone, ..] => *alone,
                    [] => Hash::default(),
                })
                .collect();
            levels.push(above);
        }
        let leaves = ids
            .into_iter()
            .enumerate()
            .map(|(leaf, id)| (id, leaf))
            .collect();
        Some(Self { leaves, levels })
    }

    /// The root, which the delivery's signature covers.
    pub fn root(&self) -> Hash {
        self.levels
            .last()
            .and_then(|top| top.first())
            .copied()
            .unwrap_or_default()
    }

    /// How many machines.
    pub fn size(&self) -> u64 {
        self.leaves.len() as u64
    }

    /// Whether machine `id` is in the tree.
    pub fn contains(&self, id: Uuid) -> bool {
        self.leaves.contains_key(&id)
    }

    /// The proof for machine `id`, if it is in the tree.
    pub fn proof(&self, id: Uuid) -> Option<InclusionProof> {
        let leaf = *self.leaves.get(&id)?;
        let mut path = Vec::with_capacity(self.levels.len());
        let mut at = leaf;
        for level in &self.levels[..self.levels.len() - 1] {
            let sibling = at ^ 1;
            // The last node of an odd level has no sibling: it goes up as it is.
            if let Some(hash) = level.get(sibling) {
                path.push(*hash);
            }
            at /= 2;
        }
        Some(InclusionProof {
            index: leaf as u64,
            path,
        })
    }
}

impl InclusionProof {
    /// Whether this proves that machine `id` is a leaf of the tree of `size` leaves whose root
    /// is `root` (RFC 9162, section 2.1.3.2).
    pub fn verifies(&self, id: Uuid, size: u64, root: &Hash) -> bool {
        if self.index >= size || self.path.len() > MAX_PROOF_LENGTH {
            return false;
        }
        let (mut position, mut last) = (self.index, size - 1);
        let mut hash = leaf_hash(id);
        for sibling in &self.path {
            if last == 0 {
                return false;
            }
            if position % 2 == 1 || position == last {
                hash = node_hash(sibling, &hash);
                // Levels where this node was carried up unchanged have no sibling in the path.
                while position % 2 == 0 && position != 0 {
                    position >>= 1;
                    last >>= 1;
                }
            } else {
                hash = node_hash(&hash, sibling);
            }
            position >>= 1;
            last >>= 1;
        }
        last == 0 && hash == *root
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 9162's recursive definition of the root, to check the levels against.
    fn reference_root(leaves: &[Hash]) -> Hash {
        if leaves.len() == 1 {
            return leaves[0];
        }
        // The largest power of two below the count.
        let split = 1 << (usize::BITS - 1 - (leaves.len() - 1).leading_zeros());
        node_hash(
            &reference_root(&leaves[..split]),
            &reference_root(&leaves[split..]),
        )
    }

    fn ids(count: usize) -> Vec<Uuid> {
        (0..count as u128)
            .map(|n| Uuid::from_u128(n * 7919 + 1))
            .collect()
    }

    #[test]
    fn the_root_is_rfc_9162s_and_every_machine_proves_it_is_in_the_tree() {
        for count in 1..=70 {
            let machines = ids(count);
            let tree = MachineTree::new(machines.iter().rev().copied()).unwrap();
            let mut sorted = machines.clone();
            sorted.sort();
            let leaves: Vec<Hash> = sorted.iter().map(|id| leaf_hash(*id)).collect();
            assert_eq!(tree.root(), reference_root(&leaves), "{count} machines");
            assert_eq!(tree.size(), count as u64);
            for id in &machines {
                let proof = tree.proof(*id).unwrap();
                assert!(proof.path.len() <= 7, "{count}: {}", proof.path.len());
                assert!(
                    proof.verifies(*id, tree.size(), &tree.root()),
                    "{count}: {id}"
                );
            }
        }
    }

    #[test]
    fn no_machines_make_no_tree_and_a_repeated_one_counts_once() {
        assert!(MachineTree::new(Vec::new()).is_none());
        let one = Uuid::from_u128(5);
        let tree = MachineTree::new([one, one]).unwrap();
        assert_eq!(tree.size(), 1);
        assert_eq!(tree.root(), leaf_hash(one));
        assert!(tree.proof(one).unwrap().verifies(one, 1, &leaf_hash(one)));
    }

    #[test]
    fn a_proof_holds_for_its_machine_only_and_only_as_it_was_given() {
        let machines = ids(13);
        let tree = MachineTree::new(machines.clone()).unwrap();
        let (root, size) = (tree.root(), tree.size());
        let stranger = Uuid::from_u128(u128::MAX);
        assert!(tree.proof(stranger).is_none());
        assert!(!tree.contains(stranger));
        for id in &machines {
            let proof = tree.proof(*id).unwrap();
            assert!(!proof.verifies(stranger, size, &root));
            for other in machines.iter().filter(|other| *other != id) {
                assert!(
                    !proof.verifies(*other, size, &root),
                    "{id}'s proof for {other}"
                );
            }
            // The size is signed with the root; one that leaves the leaf out, or needs a
            // longer path, fails.
            for wrong_size in [0, proof.index, u64::MAX] {
                assert!(!proof.verifies(*id, wrong_size, &root), "size {wrong_size}");
            }
            let mut other_root = root;
            other_root[0] ^= 1;
            assert!(!proof.verifies(*id, size, &other_root));
            for at in 0..proof.path.len() {
                let mut bent = proof.clone();
                bent.path[at][31] ^= 0x80;
                assert!(!bent.verifies(*id, size, &root), "hash {at} changed");
                let mut cut = proof.clone();
                cut.path.remove(at);
                assert!(!cut.verifies(*id, size, &root), "hash {at} left out");
            }
            let mut longer = proof.clone();
            longer.path.push(root);
            assert!(!longer.verifies(*id, size, &root));
            let moved = InclusionProof {
                index: (proof.index + 1) % size,
                ..proof.clone()
            };
            assert!(!moved.verifies(*id, size, &root));
        }
    }

    #[test]
    fn leaves_and_nodes_are_hashed_with_different_prefixes() {
        // So that an inner node's two hashes can never be presented as a leaf, or a leaf as one.
        let id = Uuid::from_u128(0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10);
        let mut leaf = vec![0x00];
        leaf.extend_from_slice(id.as_bytes());
        assert_eq!(leaf_hash(id), <[u8; 32]>::from(Sha256::digest(&leaf)));
        let (left, right) = ([7; 32], [9; 32]);
        let mut node = vec![0x01];
        node.extend_from_slice(&left);
        node.extend_from_slice(&right);
        assert_eq!(
            node_hash(&left, &right),
            <[u8; 32]>::from(Sha256::digest(&node))
        );
    }

    proptest! {
        #[test]
        fn any_fleet_proves_every_member_and_no_one_else(
            raw in proptest::collection::vec(any::<u128>(), 1..300),
            stranger in any::<u128>(),
        ) {
            let machines: Vec<Uuid> = raw.iter().map(|n| Uuid::from_u128(*n)).collect();
            let tree = MachineTree::new(machines.clone()).unwrap();
            for id in &machines {
                let proof = tree.proof(*id).unwrap();
                prop_assert!(proof.verifies(*id, tree.size(), &tree.root()));
            }
            let stranger = Uuid::from_u128(stranger);
            if !machines.contains(&stranger) {
                prop_assert!(tree.proof(stranger).is_none());
                let borrowed = tree.proof(machines[0]).unwrap();
                prop_assert!(!borrowed.verifies(stranger, tree.size(), &tree.root()));
            }
        }
    }
}

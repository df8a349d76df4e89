//! The Merkle log: RFC 6962 tree hashing, inclusion and consistency proofs.
//!
//! The proof code is `tlog_tiles`, a port of Go's `golang.org/x/mod/sumdb/tlog`,
//! rather than our own: verifiable-log maths is easy to get subtly wrong, and
//! that code has years of use behind it. This module wraps it with our error type,
//! the one rule it leaves to callers (proofs against the empty tree), and a
//! storage-agnostic way to grow a tree.
//!
//! Hashes are stored the tlog way: record `n` adds the leaf hash and one hash per
//! subtree it completes, at "stored hash indexes" ([`stored_hash_index`]). Any
//! store that can read those back by index (the [`HashReader`] trait) can produce
//! tree heads and proofs in O(log n) reads.

pub use tlog_tiles::{
    node_hash, record_hash, split_stored_hash_index, stored_hash_count, stored_hash_index, Hash,
    HashReader, EMPTY_HASH,
};

/// The error type of [`HashReader`] implementations (from `tlog_tiles`).
pub use tlog_tiles::tlog::Error as TlogError;

/// Why a proof, or a read of stored hashes, failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MerkleError {
    #[error("the proof does not verify")]
    InvalidProof,
    #[error("bad proof request: {0}")]
    InvalidInput(String),
    #[error("stored hashes could not be read: {0}")]
    Storage(String),
}

impl From<TlogError> for MerkleError {
    fn from(e: TlogError) -> Self {
        match e {
            TlogError::InvalidProof => MerkleError::InvalidProof,
            TlogError::InvalidInput(s) => MerkleError::InvalidInput(s),
            other => MerkleError::Storage(other.to_string()),
        }
    }
}

/// The root hash of the first `n` records.
pub fn tree_hash<R: HashReader>(n: u64, r: &R) -> Result<Hash, MerkleError> {
    Ok(tlog_tiles::tree_hash(n, r)?)
}

/// The hashes to store when appending record `n` whose leaf hash is `leaf`,
/// to be written at `stored_hash_index(0, n)` onwards.
pub fn hashes_to_store<R: HashReader>(n: u64, leaf: Hash, r: &R) -> Result<Vec<Hash>, MerkleError> {
    Ok(tlog_tiles::stored_hashes_for_record_hash(n, leaf, r)?)
}

/// Proof that record `n` is in the tree of size `t`.
pub fn prove_inclusion<R: HashReader>(t: u64, n: u64, r: &R) -> Result<Vec<Hash>, MerkleError> {
    if n >= t {
        return Err(MerkleError::InvalidInput(format!(
            "record {n} is not in a tree of size {t}"
        )));
    }
    Ok(tlog_tiles::prove_record(t, n, r)?)
}

/// Checks that record `n` with leaf hash `leaf` is in the tree of size `t` with root `root`.
pub fn check_inclusion(
    proof: &[Hash],
    t: u64,
    root: Hash,
    n: u64,
    leaf: Hash,
) -> Result<(), MerkleError> {
    if n >= t {
        return Err(MerkleError::InvalidProof);
    }
    Ok(tlog_tiles::check_record(&proof.to_vec(), t, root, n, leaf)?)
}

/// Proof that the tree of size `t` extends the tree of size `n <= t`.
pub fn prove_consistency<R: HashReader>(t: u64, n: u64, r: &R) -> Result<Vec<Hash>, MerkleError> {
    if n > t {
        return Err(MerkleError::InvalidInput(format!(
            "a tree of size {n} cannot be a prefix of one of size {t}"
        )));
    }
    if n == 0 {
        // Every tree extends the empty tree; RFC 6962 has no proof for it.
        return Ok(Vec::new());
    }
    Ok(tlog_tiles::prove_tree(t, n, r)?)
}

/// Checks that the tree (`t`, `root`) extends the tree (`n`, `old_root`).
pub fn check_consistency(
    proof: &[Hash],
    t: u64,
    root: Hash,
    n: u64,
    old_root: Hash,
) -> Result<(), MerkleError> {
    if n > t {
        return Err(MerkleError::InvalidProof);
    }
    if n == 0 {
        return if proof.is_empty() && old_root == EMPTY_HASH {
            Ok(())
        } else {
            Err(MerkleError::InvalidProof)
        };
    }
    Ok(tlog_tiles::check_tree(
        &proof.to_vec(),
        t,
        root,
        n,
        old_root,
    )?)
}

/// An in-memory tree: the stored hashes in a vector. Used by verifiers that
/// rebuild a tree from entries (audit, tests) and as the reference the sled
/// store is tested against.
#[derive(Clone, Debug, Default)]
pub struct MemoryTree {
    hashes: Vec<Hash>,
    size: u64,
}

impl MemoryTree {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn size(&self) -> u64 {
        self.size
    }
    /// Appends a record by its leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let new = hashes_to_store(self.size, leaf, self)
            .expect("invariant: a memory tree holds every hash it needs");
        debug_assert_eq!(self.hashes.len() as u64, stored_hash_index(0, self.size));
        self.hashes.extend(new);
        self.size += 1;
    }
    pub fn root(&self) -> Hash {
        tree_hash(self.size, self).expect("invariant: a memory tree holds every hash it needs")
    }
    pub fn root_at(&self, n: u64) -> Result<Hash, MerkleError> {
        if n > self.size {
            return Err(MerkleError::InvalidInput(format!(
                "tree has {} records, not {n}",
                self.size
            )));
        }
        tree_hash(n, self)
    }
}

impl HashReader for MemoryTree {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, TlogError> {
        indexes
            .iter()
            .map(|&i| {
                self.hashes
                    .get(i as usize)
                    .copied()
                    .ok_or(TlogError::IndexesNotInTree)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6962's reference tree hash, written recursively from section 2.1,
    /// independent of the stored-hash machinery under test.
    fn reference_root(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => EMPTY_HASH,
            1 => leaves[0],
            n => {
                // The largest power of two smaller than n (RFC 6962, 2.1).
                let k = 1usize << (n - 1).ilog2();
                node_hash(reference_root(&leaves[..k]), reference_root(&leaves[k..]))
            }
        }
    }

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n)
            .map(|i| record_hash(format!("leaf {i}").as_bytes()))
            .collect()
    }

    #[test]
    fn roots_match_the_rfc_definition() {
        let ls = leaves(70);
        let mut t = MemoryTree::new();
        assert_eq!(t.root(), EMPTY_HASH);
        for (i, l) in ls.iter().enumerate() {
            t.push(*l);
            assert_eq!(t.root(), reference_root(&ls[..=i]), "size {}", i + 1);
        }
    }

    #[test]
    fn every_inclusion_proof_up_to_64_verifies_and_every_altered_hash_fails() {
        let ls = leaves(64);
        let mut tree = MemoryTree::new();
        for l in &ls {
            tree.push(*l);
        }
        for t in 1..=64u64 {
            let root = tree.root_at(t).unwrap();
            for n in 0..t {
                let proof = prove_inclusion(t, n, &tree).unwrap();
                check_inclusion(&proof, t, root, n, ls[n as usize]).unwrap();
                // Wrong leaf, wrong index, wrong size, wrong root: all refused.
                assert!(
                    check_inclusion(&proof, t, root, n, ls[((n + 1) % 64) as usize]).is_err()
                        || t == 1
                );
                if t > 1 {
                    assert!(check_inclusion(&proof, t, root, (n + 1) % t, ls[n as usize]).is_err());
                }
                for i in 0..proof.len() {
                    for bit in [0usize, 77, 255] {
                        let mut bad = proof.clone();
                        bad[i].0[bit / 8] ^= 1 << (bit % 8);
                        assert_eq!(
                            check_inclusion(&bad, t, root, n, ls[n as usize]),
                            Err(MerkleError::InvalidProof)
                        );
                    }
                }
                let mut longer = proof.clone();
                longer.push(EMPTY_HASH);
                assert!(check_inclusion(&longer, t, root, n, ls[n as usize]).is_err());
                if !proof.is_empty() {
                    assert!(check_inclusion(&proof[1..], t, root, n, ls[n as usize]).is_err());
                }
            }
        }
    }

    #[test]
    fn every_consistency_proof_up_to_64_verifies_and_every_altered_hash_fails() {
        let mut tree = MemoryTree::new();
        for l in leaves(64) {
            tree.push(l);
        }
        for t in 0..=64u64 {
            let root = tree.root_at(t).unwrap();
            for n in 0..=t {
                let old = tree.root_at(n).unwrap();
                let proof = prove_consistency(t, n, &tree).unwrap();
                check_consistency(&proof, t, root, n, old).unwrap();
                if n > 0 && n < t {
                    // A different old tree (the one of size n-1 or n+1) is refused.
                    let other = tree.root_at(n + 1).unwrap();
                    assert!(check_consistency(&proof, t, root, n, other).is_err());
                }
                for i in 0..proof.len() {
                    for bit in [0usize, 128, 255] {
                        let mut bad = proof.clone();
                        bad[i].0[bit / 8] ^= 1 << (bit % 8);
                        assert_eq!(
                            check_consistency(&bad, t, root, n, old),
                            Err(MerkleError::InvalidProof),
                            "t={t} n={n} i={i}"
                        );
                    }
                }
                let mut longer = proof.clone();
                longer.push(EMPTY_HASH);
                assert!(check_consistency(&longer, t, root, n, old).is_err());
            }
        }
        assert!(check_consistency(&[], 5, tree.root_at(5).unwrap(), 6, EMPTY_HASH).is_err());
    }
}

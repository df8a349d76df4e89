//! The proof stages of `tallylog bench`: inclusion proofs for one entry
//! against the latest tree (what the gateway and `watch` ask for), for a
//! batch of neighbouring entries (what the ledger does for a batch's
//! receipts), and consistency proofs (what witnesses and monitors ask for),
//! all read from a ledger's own sled store.
//!
//! A proof is read more than computed: the store keeps every RFC 6962
//! subtree hash the tlog way, so a proof for a tree of n entries is about
//! log2(n) stored hashes read back, plus a few SHA-256 node hashes for the
//! incomplete subtrees at the tree's right edge. The limit each proof is
//! compared with is the same proof, by the same tlog code, over the same
//! leaves held in memory (`MemoryTree`), measured in the same run: the proof
//! with storage free, bound only by those hashes and the algorithm. The ratio
//! is then what reading the hashes from sled costs. (A plain sled read rate
//! would be no ceiling: a proof's hashes come from a few batch records that
//! stay hot, so proofs run well above "one random sled read per hash".)

use std::cell::Cell;

use tallylog_core::merkle::{self, Hash, HashReader, MemoryTree, TlogError};
use tallylog_core::types::LogIndex;
use tallylog_store::Store;

use crate::bench::{rate, Report};

/// A small deterministic generator of indexes (xorshift64): the same proofs
/// asked for in every run.
struct Indexes(u64);

impl Indexes {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// Counts the stored hashes a proof reads.
struct Counting<'a> {
    store: &'a Store,
    reads: Cell<u64>,
}

impl HashReader for Counting<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, TlogError> {
        self.reads.set(self.reads.get() + indexes.len() as u64);
        self.store.read_hashes(indexes)
    }
}

fn other(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// Measures proof generation from `store` (its whole log, at its current
/// size) against the same proofs from memory, and adds the figures to the
/// report. `source` says where the log came from, for the notes.
pub fn run(r: &mut Report, store: &Store, secs: f64, source: &str) -> std::io::Result<()> {
    let head = store.head();
    let size = head.size;
    if size < 2 {
        return Err(other("the proof stages need a log of at least two entries"));
    }

    // The in-memory tree of the same leaves, checked against the store's root.
    let mut memory = MemoryTree::new();
    for item in store.entry_bytes(0, size) {
        let (_, bytes) = item.map_err(other)?;
        memory.push(merkle::record_hash(&bytes));
    }
    if memory.size() != size || memory.root() != head.root {
        return Err(other(
            "the store's entries do not hash to its root: a bug to report",
        ));
    }

    // Off the clock: count the hashes each kind of proof reads, and check
    // every sampled proof against the root (a benchmark of wrong proofs would
    // mean nothing). This also warms sled's cache, as a serving ledger's is.
    const SAMPLE: u64 = 2000;
    let counting = Counting {
        store,
        reads: Cell::new(0),
    };
    let mut at = Indexes(0x9e37_79b9_7f4a_7c15);
    let mut proof_hashes = 0u64;
    for _ in 0..SAMPLE {
        let i = at.below(size);
        let proof = merkle::prove_inclusion(size, i, &counting).map_err(other)?;
        proof_hashes += proof.len() as u64;
        let entry = store
            .entry(LogIndex(i))
            .map_err(other)?
            .ok_or_else(|| other(format!("entry {i} is missing")))?;
        merkle::check_inclusion(&proof, size, head.root, i, entry.chain_hash())
            .map_err(|e| other(format!("the inclusion proof of entry {i}: {e}")))?;
    }
    let inclusion_reads = counting.reads.get() as f64 / SAMPLE as f64;
    let inclusion_len = proof_hashes as f64 / SAMPLE as f64;
    counting.reads.set(0);
    for _ in 0..SAMPLE {
        let old = 1 + at.below(size - 1);
        let proof = merkle::prove_consistency(size, old, &counting).map_err(other)?;
        let old_root = memory.root_at(old).map_err(other)?;
        merkle::check_consistency(&proof, size, head.root, old, old_root)
            .map_err(|e| other(format!("the consistency proof from size {old}: {e}")))?;
    }
    let consistency_reads = counting.reads.get() as f64 / SAMPLE as f64;

    let mut at = Indexes(0xd1b5_4a32_d192_ed03);
    r.limit(
        "inclusion_proof_in_memory",
        rate(secs, 100, || {
            for _ in 0..100 {
                let i = at.below(size);
                std::hint::black_box(merkle::prove_inclusion(size, i, &memory).expect("a proof"));
            }
        }),
        "proofs/s",
        format!(
            "the same inclusion proof over the same {size} leaf hashes held in memory, one \
             thread: storage free, only the tlog algorithm and the right edge's SHA-256 left"
        ),
    );
    r.stage(
        "inclusion_proof",
        rate(secs, 100, || {
            for _ in 0..100 {
                let i = at.below(size);
                std::hint::black_box(store.inclusion_proof(i, size).expect("a proof"));
            }
        }),
        "proofs/s",
        "inclusion_proof_in_memory",
        format!(
            "Store::inclusion_proof of a random entry against the latest tree, one thread \
             ({inclusion_len:.1} hashes long, {inclusion_reads:.1} stored hashes read from sled); \
             {source}"
        ),
    );
    // The ledger proves a whole batch's entries at once for their receipts.
    let batch = 1024u64.min(size);
    let batches: Vec<Vec<u64>> = (0..64)
        .map(|_| {
            let from = at.below(size - batch + 1);
            (from..from + batch).collect()
        })
        .collect();
    let mut k = 0usize;
    r.stage(
        "inclusion_proofs_batch1024",
        rate(secs, batch, || {
            std::hint::black_box(
                store
                    .inclusion_proofs(&batches[k % batches.len()], size)
                    .expect("proofs"),
            );
            k += 1;
        }),
        "proofs/s",
        "inclusion_proof_in_memory",
        "Store::inclusion_proofs of 1,024 neighbouring entries at once, as for a batch's \
         receipts: each batch record of hashes is read once for all of them",
    );
    r.limit(
        "consistency_proof_in_memory",
        rate(secs, 100, || {
            for _ in 0..100 {
                let old = 1 + at.below(size - 1);
                std::hint::black_box(
                    merkle::prove_consistency(size, old, &memory).expect("a proof"),
                );
            }
        }),
        "proofs/s",
        "the same consistency proof over the leaf hashes held in memory, one thread",
    );
    r.stage(
        "consistency_proof",
        rate(secs, 100, || {
            for _ in 0..100 {
                let old = 1 + at.below(size - 1);
                std::hint::black_box(store.consistency_proof(old, size).expect("a proof"));
            }
        }),
        "proofs/s",
        "consistency_proof_in_memory",
        format!(
            "Store::consistency_proof from a random earlier size to the latest, one thread \
             ({consistency_reads:.1} stored hashes read from sled)"
        ),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_stay_below_their_bound() {
        let mut at = Indexes(1);
        assert!((0..10_000).all(|_| at.below(7) < 7));
        assert_eq!(Indexes(5).below(0), 0);
    }

    #[test]
    fn every_proof_figure_is_a_stage_with_its_in_memory_limit() {
        let g = crate::election::generate(crate::election::Size::Tiny, 1);
        let signer = tallylog_core::checkpoint::LogSigner::new(g.origin.as_str(), g.log_key)
            .expect("a valid origin");
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut store = Store::open(&dir.path().join("store")).expect("a store");
        for batch in g.events.chunks(50) {
            store
                .append_checked(batch.to_vec(), &signer)
                .expect("the simulated election is accepted");
        }
        let mut r = Report::default();
        run(&mut r, &store, 0.01, "a test").expect("measured");
        let names: Vec<_> = r.figures.iter().map(|f| (f.name, f.limit)).collect();
        assert_eq!(
            names,
            [
                ("inclusion_proof_in_memory", None),
                ("inclusion_proof", Some("inclusion_proof_in_memory")),
                (
                    "inclusion_proofs_batch1024",
                    Some("inclusion_proof_in_memory")
                ),
                ("consistency_proof_in_memory", None),
                ("consistency_proof", Some("consistency_proof_in_memory")),
            ]
        );
        assert!(r.figures.iter().all(|f| f.value > 0.0));
    }
}

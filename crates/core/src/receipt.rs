//! Receipts: the ledger's proof to a publisher that its event is in the log.
//!
//! A receipt is a c2sp.org/tlog-proof: the entry's index, the Merkle inclusion
//! proof, and the signed checkpoint it is proven against, with the previous
//! entry's chain hash as the proof's `extra` data, because the log's leaf is the
//! *entry* (event + index + prev), and the publisher knows only the event:
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! extra <base64 of the previous entry's chain hash>
//! index <entry index>
//! <base64 proof hash, one per line>
//!
//! <signed checkpoint>
//! ```
//!
//! Anyone holding the event and the receipt can check, offline and trusting only
//! the log's public key, that the log committed to the event at that index.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{CheckpointError, LogVerifier, VerifiedCheckpoint};
use crate::entry::Entry;
use crate::event::SignedEvent;
use crate::merkle::{self, Hash};
use crate::types::{EventId, LogIndex};

const HEADER: &str = "c2sp.org/tlog-proof@v1";

/// An inclusion proof for one entry, as a c2sp.org/tlog-proof.
#[derive(Clone, Debug, PartialEq)]
pub struct Receipt {
    pub index: LogIndex,
    /// The chain hash of the entry before (zeros for entry 0).
    pub prev: Hash,
    pub proof: Vec<Hash>,
    /// The signed checkpoint note the proof is against.
    pub checkpoint: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiptError {
    #[error("not a c2sp.org/tlog-proof: {0}")]
    Format(String),
    #[error("the receipt's checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    #[error("the entry at index {0} is not in the checkpointed tree: the inclusion proof fails")]
    NotIncluded(u64),
}

impl Receipt {
    /// The tlog-proof text.
    pub fn encode(&self) -> String {
        let mut s = format!(
            "{HEADER}\nextra {}\nindex {}\n",
            B64.encode(self.prev.0),
            self.index.0
        );
        for h in &self.proof {
            s.push_str(&B64.encode(h.0));
            s.push('\n');
        }
        s.push('\n');
        s.push_str(&String::from_utf8_lossy(&self.checkpoint));
        s
    }

    /// Parses tlog-proof text strictly (canonical base64, no stray lines).
    pub fn decode(text: &str) -> Result<Receipt, ReceiptError> {
        let bad = |why: &str| ReceiptError::Format(why.to_owned());
        let (head, checkpoint) = text
            .split_once("\n\n")
            .ok_or_else(|| bad("no blank line before the checkpoint"))?;
        let mut lines = head.split('\n');
        if lines.next() != Some(HEADER) {
            return Err(bad("the first line is not c2sp.org/tlog-proof@v1"));
        }
        let hash = |s: &str| -> Result<Hash, ReceiptError> {
            let b = B64.decode(s).map_err(|_| bad("a hash is not base64"))?;
            let h: [u8; 32] = b.try_into().map_err(|_| bad("a hash is not 32 bytes"))?;
            if B64.encode(h) != s {
                return Err(bad("a hash is not canonical base64"));
            }
            Ok(Hash(h))
        };
        let prev = lines
            .next()
            .and_then(|l| l.strip_prefix("extra "))
            .ok_or_else(|| bad("no extra line with the previous chain hash"))
            .and_then(hash)?;
        let index = lines
            .next()
            .and_then(|l| l.strip_prefix("index "))
            .ok_or_else(|| bad("no index line"))?;
        // Digits only: Rust's integer parser would also take a leading `+`.
        if index.is_empty()
            || !index.bytes().all(|b| b.is_ascii_digit())
            || (index.len() > 1 && index.starts_with('0'))
        {
            return Err(bad("the index is not a canonical decimal"));
        }
        let index: u64 = index
            .parse()
            .map_err(|_| bad("the index is not a number"))?;
        let proof = lines.map(hash).collect::<Result<Vec<_>, _>>()?;
        Ok(Receipt {
            index: LogIndex(index),
            prev,
            proof,
            checkpoint: checkpoint.as_bytes().to_vec(),
        })
    }

    /// Checks that `event` is in the log signed by `log` at this receipt's index;
    /// returns the verified checkpoint.
    pub fn verify(
        &self,
        event: &SignedEvent,
        log: &LogVerifier,
    ) -> Result<VerifiedCheckpoint, ReceiptError> {
        let cp = log.verify(&self.checkpoint)?;
        self.verify_against(event, &cp)?;
        Ok(cp)
    }

    /// As [`verify`](Self::verify), with the receipt's checkpoint already
    /// verified (a batch's receipts share one checkpoint; check its signature
    /// once). `cp` must be the verification of exactly this receipt's note.
    pub fn verify_against(
        &self,
        event: &SignedEvent,
        cp: &VerifiedCheckpoint,
    ) -> Result<(), ReceiptError> {
        if cp.note() != self.checkpoint.as_slice() {
            return Err(ReceiptError::Format(
                "the verified checkpoint is not this receipt's".to_owned(),
            ));
        }
        let leaf = Entry::new(self.index, self.prev, event.clone()).chain_hash();
        merkle::check_inclusion(&self.proof, cp.size(), cp.root(), self.index.0, leaf)
            .map_err(|_| ReceiptError::NotIncluded(self.index.0))
    }
}

/// The ledger's answer to a submission, as sent on NATS and over HTTP.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case", deny_unknown_fields)]
pub enum Reply {
    /// In the log; `receipt` is the tlog-proof text.
    Accepted {
        id: EventId,
        index: u64,
        receipt: String,
    },
    /// Refused; nothing was added to the log.
    Rejected {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<EventId>,
        code: String,
        message: String,
    },
    /// The ledger has no record of this event (an answer to a receipt lookup).
    Unknown { id: EventId },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::MemoryTree;
    use crate::sample;

    fn entries_receipt_text(entries: &[Entry], tree: &MemoryTree, cp: &[u8], i: usize) -> String {
        Receipt {
            index: entries[i].index(),
            prev: entries[i].prev(),
            proof: merkle::prove_inclusion(tree.size(), i as u64, tree).unwrap(),
            checkpoint: cp.to_vec(),
        }
        .encode()
    }

    #[test]
    fn a_receipt_round_trips_and_proves_its_event() {
        let events = sample::events();
        let signer = sample::log_signer();
        let mut tree = MemoryTree::new();
        let mut prev = crate::entry::GENESIS_PREV;
        let mut entries = Vec::new();
        for (i, ev) in events.iter().enumerate() {
            let e = Entry::new(LogIndex(i as u64), prev, ev.event().clone());
            prev = e.chain_hash();
            tree.push(prev);
            entries.push(e);
        }
        let cp = signer.sign(tree.size(), tree.root());
        for (i, e) in entries.iter().enumerate() {
            let r = Receipt {
                index: e.index(),
                prev: e.prev(),
                proof: merkle::prove_inclusion(tree.size(), i as u64, &tree).unwrap(),
                checkpoint: cp.clone(),
            };
            let text = r.encode();
            let back = Receipt::decode(&text).unwrap();
            assert_eq!(back, r);
            back.verify(e.event(), &signer.verifier()).unwrap();
            // The wrong event, index or prev is refused.
            let other = entries[(i + 1) % entries.len()].event();
            assert!(back.verify(other, &signer.verifier()).is_err());
            let mut moved = back.clone();
            moved.index = LogIndex((i as u64 + 1) % tree.size());
            assert!(moved.verify(e.event(), &signer.verifier()).is_err());
        }
        // The index is written one way only.
        let text = entries_receipt_text(&entries, &tree, &cp, 5);
        assert!(Receipt::decode(&text).is_ok());
        for other in [
            "index +5\n",
            "index 05\n",
            "index 5 \n",
            "index -5\n",
            "index \n",
        ] {
            let bad = text.replace("index 5\n", other);
            assert!(Receipt::decode(&bad).is_err(), "{other:?} was accepted");
        }
        // Every flipped byte of a receipt's text is refused.
        let r = Receipt {
            index: entries[5].index(),
            prev: entries[5].prev(),
            proof: merkle::prove_inclusion(tree.size(), 5, &tree).unwrap(),
            checkpoint: cp,
        };
        let text = r.encode().into_bytes();
        for i in 0..text.len() {
            let mut bad = text.clone();
            bad[i] ^= 0x01;
            let ok = std::str::from_utf8(&bad)
                .ok()
                .and_then(|t| Receipt::decode(t).ok())
                .is_some_and(|r| r.verify(entries[5].event(), &signer.verifier()).is_ok());
            assert!(!ok, "flipping byte {i} of the receipt was accepted");
        }
    }
}

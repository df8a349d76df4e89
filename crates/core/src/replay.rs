//! Replaying a log from its first entry: every link, signature and rule checked,
//! the Merkle tree and the rules' state rebuilt. The crash tests use it today;
//! it is the core of the auditor to come.

use crate::entry::{Entry, GENESIS_PREV};
use crate::event::{EventError, SignedEvent, VerifiedEvent};
use crate::merkle::{Hash, MemoryTree};
use crate::rules::{CheckError, MemoryState};
use crate::types::LogIndex;

/// What was wrong at the first bad entry.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    #[error("entry {index} is at position {position}")]
    WrongIndex { index: u64, position: u64 },
    #[error("entry {0} does not link to the entry before it")]
    BrokenChain(u64),
    #[error("entry {index}: {error}")]
    Signature { index: u64, error: EventError },
    #[error("entry {index} breaks the rules: {error}")]
    Rule { index: u64, error: CheckError },
}

/// What the chain needs of an entry: its index, its link and its own hash.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EntryHead {
    pub index: LogIndex,
    pub prev: Hash,
    pub chain: Hash,
}

impl EntryHead {
    pub fn of(e: &Entry) -> EntryHead {
        EntryHead {
            index: e.index(),
            prev: e.prev(),
            chain: e.chain_hash(),
        }
    }
}

/// What an earlier audit verified: the first `size` entries of a log, known
/// by their leaf hashes, whose tree root is the root that audit verified.
/// An entry whose bytes hash to the leaf at its index is byte-identical to
/// one whose signature was checked then, so it need not be checked again.
pub struct EarlierAudit {
    leaves: Vec<Hash>,
}

impl EarlierAudit {
    /// Confirms that `leaves` (the leaf hashes of a log's first entries, as
    /// read now) have the root an earlier audit verified; `None` if not.
    pub fn confirm(leaves: Vec<Hash>, root: Hash) -> Option<EarlierAudit> {
        let mut tree = MemoryTree::new();
        for l in &leaves {
            tree.push(*l);
        }
        (tree.root() == root).then_some(EarlierAudit { leaves })
    }
    pub fn size(&self) -> u64 {
        self.leaves.len() as u64
    }
    /// The entry's event as verified, if the entry is one the earlier audit
    /// covered, byte for byte (its head's hash is the leaf at its index);
    /// otherwise the event back, to be verified.
    // The error hands the caller's event back; moving it is the point.
    #[allow(clippy::result_large_err)]
    pub fn verified(
        &self,
        head: &EntryHead,
        event: SignedEvent,
    ) -> Result<VerifiedEvent, SignedEvent> {
        let covered = usize::try_from(head.index.0)
            .ok()
            .and_then(|i| self.leaves.get(i))
            .is_some_and(|leaf| *leaf == head.chain);
        if covered {
            Ok(VerifiedEvent::verified_earlier(event))
        } else {
            Err(event)
        }
    }
}

/// The state reached after the entries replayed so far.
#[derive(Debug, Default)]
pub struct Replay {
    chain: Hash,
    tree: MemoryTree,
    state: MemoryState,
}

impl Replay {
    pub fn new() -> Replay {
        Replay {
            chain: GENESIS_PREV,
            ..Default::default()
        }
    }

    /// Checks the next entry and takes it in.
    pub fn push(&mut self, entry: &Entry) -> Result<(), ReplayError> {
        let index = entry.index().0;
        let ev = entry
            .event()
            .clone()
            .verify()
            .map_err(|error| ReplayError::Signature { index, error })?;
        self.push_verified(entry, &ev)
    }

    /// Takes in the next entry whose event was verified elsewhere (on another
    /// thread, say): `ev` must be the verification of `entry`'s event, which
    /// a `VerifiedEvent` can only be the result of.
    pub fn push_verified(&mut self, entry: &Entry, ev: &VerifiedEvent) -> Result<(), ReplayError> {
        assert_eq!(
            ev.id(),
            entry.event().id(),
            "invariant: the caller verified this entry's event"
        );
        self.push_head(&EntryHead::of(entry), ev)
    }

    /// As [`push_verified`](Self::push_verified), for a caller that kept
    /// only the entry's head and moved its event into verification. `ev`
    /// must be the verification of the event of the entry `head` describes.
    pub fn push_head(&mut self, head: &EntryHead, ev: &VerifiedEvent) -> Result<(), ReplayError> {
        let index = head.index.0;
        if index != self.tree.size() {
            return Err(ReplayError::WrongIndex {
                index,
                position: self.tree.size(),
            });
        }
        if head.prev != self.chain {
            return Err(ReplayError::BrokenChain(index));
        }
        self.state
            .accept(ev)
            .map_err(|error| ReplayError::Rule { index, error })?;
        self.chain = head.chain;
        self.tree.push(self.chain);
        Ok(())
    }

    pub fn size(&self) -> u64 {
        self.tree.size()
    }
    /// The chain hash of the last entry (zeros before the first).
    pub fn chain(&self) -> Hash {
        self.chain
    }
    pub fn root(&self) -> Hash {
        self.tree.root()
    }
    pub fn state(&self) -> &MemoryState {
        &self.state
    }
    pub fn tree(&self) -> &MemoryTree {
        &self.tree
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample;
    use crate::types::LogIndex;

    fn entries() -> Vec<Entry> {
        let mut prev = GENESIS_PREV;
        sample::events()
            .into_iter()
            .enumerate()
            .map(|(i, ev)| {
                let e = Entry::new(LogIndex(i as u64), prev, ev.into_event());
                prev = e.chain_hash();
                e
            })
            .collect()
    }

    #[test]
    fn the_sample_log_replays_and_a_broken_one_names_its_first_bad_entry() {
        let log = entries();
        let mut r = Replay::new();
        for e in &log {
            r.push(e).unwrap();
        }
        assert_eq!(r.chain(), log.last().unwrap().chain_hash());

        // Entry 5 linked to the wrong predecessor.
        let mut r = Replay::new();
        for e in &log[..5] {
            r.push(e).unwrap();
        }
        let relinked = Entry::new(LogIndex(5), GENESIS_PREV, log[5].event().clone());
        assert_eq!(r.push(&relinked), Err(ReplayError::BrokenChain(5)));
        // Entry 6 where 5 should be.
        let moved = Entry::new(LogIndex(6), log[4].chain_hash(), log[6].event().clone());
        assert!(matches!(
            r.push(&moved),
            Err(ReplayError::WrongIndex {
                index: 6,
                position: 5
            })
        ));
        // Entry 6 (a result form) with a figure changed: the signature fails.
        let mut r = Replay::new();
        for e in &log[..6] {
            r.push(e).unwrap();
        }
        let text = String::from_utf8(log[6].bytes().to_vec()).unwrap();
        let forged = text.replacen("\"registered\":600", "\"registered\":601", 1);
        assert_ne!(forged, text);
        let forged = Entry::decode(forged.as_bytes()).unwrap();
        assert!(matches!(
            r.push(&forged),
            Err(ReplayError::Signature { index: 6, .. })
        ));
        // Entry 0 again later: a replayed event breaks the rules.
        let mut r = Replay::new();
        r.push(&log[0]).unwrap();
        let again = Entry::new(LogIndex(1), log[0].chain_hash(), log[0].event().clone());
        assert!(matches!(
            r.push(&again),
            Err(ReplayError::Rule { index: 1, .. })
        ));
    }
}

//! Replaying a log from its first entry: every link, signature and rule checked,
//! the Merkle tree and the rules' state rebuilt. The auditor (`crates/audit`)
//! is built on it, and the crash tests use it to check a store.
//!
//! An entry reaches the replay only as a [`VerifiedEntry`], which only
//! verification makes: its event's signature checked, or its bytes found
//! identical to an entry an earlier audit verified ([`EarlierAudit`]). Its
//! index, link and chain hash are taken from the same entry as its event, so
//! a caller cannot pair one entry's place in the chain with another's event.

use crate::entry::{Entry, GENESIS_PREV};
use crate::event::{EventError, VerifiedEvent};
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

/// An entry whose event was verified: what the chain needs of it (its index,
/// its link and its own hash) and the verified event, all from one entry.
/// The entry's bytes are not kept: an auditor moves the event into
/// verification and needs nothing else of them.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifiedEntry {
    index: LogIndex,
    prev: Hash,
    chain: Hash,
    event: VerifiedEvent,
}

impl VerifiedEntry {
    /// Verifies the entry's event (`verify_strict`, §2 of PROTOCOL.md).
    /// `point`, when given, is the author's key already decoded (a verifier
    /// that sees one key many times decodes it once); a point that is not
    /// the author's key makes a bad signature.
    pub fn verify(
        entry: Entry,
        point: Option<&ed25519_dalek::VerifyingKey>,
    ) -> Result<VerifiedEntry, EventError> {
        let (index, prev, chain) = (entry.index(), entry.prev(), entry.chain_hash());
        let event = entry.into_event();
        let event = match point {
            Some(p) => event.verify_with(p)?,
            None => event.verify()?,
        };
        Ok(VerifiedEntry {
            index,
            prev,
            chain,
            event,
        })
    }

    /// The index the entry claims.
    pub fn index(&self) -> LogIndex {
        self.index
    }
    /// The chain hash of the previous entry, as this entry claims it.
    pub fn prev(&self) -> Hash {
        self.prev
    }
    /// This entry's chain hash (its Merkle leaf hash).
    pub fn chain_hash(&self) -> Hash {
        self.chain
    }
    pub fn event(&self) -> &VerifiedEvent {
        &self.event
    }
    pub fn into_event(self) -> VerifiedEvent {
        self.event
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
    ///
    /// `root` is the one thing taken on trust here: the caller vouches that
    /// an audit verified every entry under it (a monitor's own record of its
    /// last audit). It is the only way to a [`VerifiedEvent`] without
    /// checking its signature, and it yields one only for an entry whose
    /// bytes that root commits to.
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
    /// The entry as verified, if it is one the earlier audit covered, byte
    /// for byte (its chain hash is the leaf at its index); otherwise the
    /// entry back, to be verified.
    // The error hands the caller's entry back; moving it is the point.
    #[allow(clippy::result_large_err)]
    pub fn verified(&self, entry: Entry) -> Result<VerifiedEntry, Entry> {
        let Some(leaf) = usize::try_from(entry.index().0)
            .ok()
            .and_then(|i| self.leaves.get(i))
        else {
            return Err(entry);
        };
        // The chain hash is computed here from the entry's own bytes, which
        // hold its event's bytes: a match means this very event was verified.
        let chain = entry.chain_hash();
        if *leaf != chain {
            return Err(entry);
        }
        Ok(VerifiedEntry {
            index: entry.index(),
            prev: entry.prev(),
            chain,
            event: VerifiedEvent::verified_earlier(entry.into_event()),
        })
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
        let event = entry
            .event()
            .clone()
            .verify()
            .map_err(|error| ReplayError::Signature { index, error })?;
        self.push_verified(&VerifiedEntry {
            index: entry.index(),
            prev: entry.prev(),
            chain: entry.chain_hash(),
            event,
        })
    }

    /// Takes in the next entry, whose event was verified elsewhere (on
    /// another thread, say).
    pub fn push_verified(&mut self, entry: &VerifiedEntry) -> Result<(), ReplayError> {
        let index = entry.index.0;
        if index != self.tree.size() {
            return Err(ReplayError::WrongIndex {
                index,
                position: self.tree.size(),
            });
        }
        if entry.prev != self.chain {
            return Err(ReplayError::BrokenChain(index));
        }
        self.state
            .accept(&entry.event)
            .map_err(|error| ReplayError::Rule { index, error })?;
        self.chain = entry.chain;
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

    #[test]
    fn an_earlier_audit_vouches_only_for_the_entries_it_covered_byte_for_byte() {
        let log = entries();
        let leaves: Vec<Hash> = log[..10].iter().map(Entry::chain_hash).collect();
        let mut tree = MemoryTree::new();
        for l in &leaves {
            tree.push(*l);
        }
        assert!(EarlierAudit::confirm(leaves.clone(), Hash([7; 32])).is_none());
        let earlier = EarlierAudit::confirm(leaves, tree.root()).unwrap();
        assert_eq!(earlier.size(), 10);

        // The covered entries replay, each carrying its own place in the chain.
        let mut r = Replay::new();
        for e in &log[..10] {
            let v = earlier.verified(e.clone()).unwrap();
            assert_eq!(
                (v.index(), v.prev(), v.chain_hash(), v.event().id()),
                (e.index(), e.prev(), e.chain_hash(), e.event().id())
            );
            r.push_verified(&v).unwrap();
        }
        assert_eq!(r.root(), tree.root());

        // Entry 6 with a figure changed, in entry 6's place: it is handed
        // back, and its signature then fails.
        let text = String::from_utf8(log[6].bytes().to_vec()).unwrap();
        let forged = text.replacen("\"registered\":600", "\"registered\":601", 1);
        assert_ne!(forged, text);
        let forged = Entry::decode(forged.as_bytes()).unwrap();
        let back = earlier.verified(forged.clone()).unwrap_err();
        assert_eq!(back, forged);
        assert_eq!(
            VerifiedEntry::verify(back, None),
            Err(EventError::BadSignature)
        );
        // A genuine event at another covered index, or past the covered
        // prefix, is not vouched for either.
        let moved = Entry::new(LogIndex(3), log[2].chain_hash(), log[6].event().clone());
        assert!(earlier.verified(moved).is_err());
        assert!(earlier.verified(log[10].clone()).is_err());
        // Verified the ordinary way, entry 10 continues the replay.
        r.push_verified(&VerifiedEntry::verify(log[10].clone(), None).unwrap())
            .unwrap();
        assert_eq!(r.size(), 11);
    }
}

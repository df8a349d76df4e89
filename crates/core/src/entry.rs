//! Log entries and the hash chain.
//!
//! Entry `n` is the canonical JSON `{"event":E,"index":n,"prev":P}` where `E` is
//! the signed event exactly as published and `P` is the chain hash of entry
//! `n-1` (64 zero digits for entry 0). The chain hash of an entry is its RFC 6962
//! leaf hash, `SHA-256(0x00 || entry bytes)`: one hash serves both the Merkle
//! tree and the chain, so an entry changed, removed or reordered anywhere breaks
//! every later `prev` link and the auditor can name the first bad index.

use crate::event::{EventError, SignedEvent, MAX_EVENT_BYTES};
use crate::json::DecodeError;
use crate::merkle::{record_hash, Hash};
use crate::types::LogIndex;

/// The chain hash before the first entry.
pub const GENESIS_PREV: Hash = Hash([0u8; 32]);

/// The largest entry: the largest event plus the entry's own fields
/// (`{"event":`, `,"index":` with at most 20 digits, `,"prev":"`, 64 hex
/// digits, `"}`: 113 bytes).
pub const MAX_ENTRY_BYTES: usize = MAX_EVENT_BYTES + 113;

// Every entry fits a tlog-tiles entry bundle, whose length prefix is two bytes.
const _: () = assert!(MAX_ENTRY_BYTES <= u16::MAX as usize);

/// One position of the log.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    index: LogIndex,
    prev: Hash,
    event: SignedEvent,
    bytes: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EntryError {
    #[error("entry is not well formed: {0}")]
    Format(String),
    #[error("entry's event: {0}")]
    Event(#[from] EventError),
}

impl EntryError {
    pub fn code(&self) -> &'static str {
        match self {
            EntryError::Format(_) => "bad_entry",
            EntryError::Event(e) => e.code(),
        }
    }
}

const HEAD: &[u8] = b"{\"event\":";
const MID: &[u8] = b",\"index\":";
const PREV: &[u8] = b",\"prev\":\"";
const TAIL: &[u8] = b"\"}";

/// What a reader of its own stored log needs from an entry, read quickly.
pub struct StoredEntry {
    pub index: LogIndex,
    pub prev: Hash,
    pub id: crate::types::EventId,
    pub body: crate::event::Body,
}

/// Reads an entry from bytes that were strictly decoded and verified before
/// (a projector's or ledger's own stored copy of its log): the layout of
/// §4 of PROTOCOL.md is taken apart by position, and the body is read without
/// the canonical-form check. Never for bytes from the network or someone
/// else's file; [`Entry::decode`] is for those.
pub fn decode_stored(bytes: &[u8]) -> Result<StoredEntry, EntryError> {
    let bad = |what: &str| EntryError::Format(format!("stored entry: {what}"));
    const SIG_TAIL: usize = 8 + 128 + 2; // ,"sig":" + hex + "}
    let tail = PREV.len() + 64 + TAIL.len();
    if bytes.len() < HEAD.len() + tail || !bytes.starts_with(HEAD) || !bytes.ends_with(TAIL) {
        return Err(bad("not an entry"));
    }
    let prev_at = bytes.len() - tail;
    if &bytes[prev_at..prev_at + PREV.len()] != PREV {
        return Err(bad("no prev"));
    }
    let mid = bytes[..prev_at]
        .windows(MID.len())
        .rposition(|w| w == MID)
        .ok_or_else(|| bad("no index"))?;
    let index: u64 = std::str::from_utf8(&bytes[mid + MID.len()..prev_at])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("index is not a number"))?;
    let prev_hex = std::str::from_utf8(&bytes[prev_at + PREV.len()..bytes.len() - TAIL.len()])
        .map_err(|_| bad("prev is not text"))?;
    let prev = Hash(crate::types::parse_hex32(prev_hex).map_err(|e| bad(&e))?);
    let event = &bytes[HEAD.len()..mid];
    let body_start = b"{\"body\":".len();
    if event.len() < body_start + SIG_TAIL {
        return Err(bad("event too short"));
    }
    let (id, body) = crate::event::Body::decode_stored(&event[body_start..event.len() - SIG_TAIL])?;
    Ok(StoredEntry {
        index: LogIndex(index),
        prev,
        id,
        body,
    })
}

impl Entry {
    /// Builds entry `index` holding `event`, chained to `prev`.
    pub fn new(index: LogIndex, prev: Hash, event: SignedEvent) -> Entry {
        // Canonical JSON is compositional and "event" < "index" < "prev", so the
        // entry can be assembled from the event's own canonical bytes. A test
        // checks this against the general encoder.
        let mut bytes = Vec::with_capacity(event.bytes().len() + 100);
        bytes.extend_from_slice(HEAD);
        bytes.extend_from_slice(event.bytes());
        bytes.extend_from_slice(MID);
        bytes.extend_from_slice(index.0.to_string().as_bytes());
        bytes.extend_from_slice(PREV);
        bytes.extend_from_slice(hex::encode(prev.0).as_bytes());
        bytes.extend_from_slice(TAIL);
        Entry {
            index,
            prev,
            event,
            bytes,
        }
    }

    /// Strictly decodes an entry's canonical bytes (the event's signature is not
    /// checked here; that is the verifier's job).
    pub fn decode(bytes: &[u8]) -> Result<Entry, EntryError> {
        if bytes.len() > MAX_ENTRY_BYTES {
            return Err(EntryError::Event(EventError::Decode(
                DecodeError::TooLarge {
                    size: bytes.len(),
                    limit: MAX_ENTRY_BYTES,
                },
            )));
        }
        let bad = |why: &str| EntryError::Format(why.to_owned());
        let rest = bytes
            .strip_prefix(HEAD)
            .ok_or_else(|| bad("does not start with {\"event\":"))?;
        // The suffix `,"index":N,"prev":"…"}` contains no other `,"index":`, so
        // its last occurrence is the boundary even if the event mentions one.
        let mid = rest
            .windows(MID.len())
            .rposition(|w| w == MID)
            .ok_or_else(|| bad("has no index field"))?;
        let (event_bytes, suffix) = rest.split_at(mid);
        let suffix = &suffix[MID.len()..];
        let digits_end = suffix
            .iter()
            .position(|b| !b.is_ascii_digit())
            .ok_or_else(|| bad("ends inside the index"))?;
        let digits = std::str::from_utf8(&suffix[..digits_end]).expect("ascii digits");
        if digits.is_empty() || (digits.len() > 1 && digits.starts_with('0')) || digits.len() > 16 {
            return Err(bad("index is not a canonical integer"));
        }
        let index: u64 = digits.parse().map_err(|_| bad("index is not an integer"))?;
        if index > crate::json::MAX_SAFE_INTEGER {
            return Err(bad("index is above 2^53-1"));
        }
        let after = suffix[digits_end..]
            .strip_prefix(PREV)
            .ok_or_else(|| bad("prev field missing after index"))?;
        if after.len() != 64 + TAIL.len() || &after[64..] != TAIL {
            return Err(bad("prev is not 64 hex digits ending the entry"));
        }
        let prev_hex = std::str::from_utf8(&after[..64]).map_err(|_| bad("prev is not hex"))?;
        let prev = crate::types::parse_hex32(prev_hex).map_err(EntryError::Format)?;
        let event = SignedEvent::decode(event_bytes)?;
        let entry = Entry::new(LogIndex(index), Hash(prev), event);
        // Every part was checked to be canonical, so this cannot fail; it is kept
        // as a cheap guard that decode and encode never drift apart.
        if entry.bytes != bytes {
            return Err(bad("is not in canonical form"));
        }
        Ok(entry)
    }

    pub fn index(&self) -> LogIndex {
        self.index
    }
    /// The chain hash of the previous entry, as this entry claims it.
    pub fn prev(&self) -> Hash {
        self.prev
    }
    pub fn event(&self) -> &SignedEvent {
        &self.event
    }
    pub fn into_event(self) -> SignedEvent {
        self.event
    }
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
    /// This entry's chain hash, which is also its Merkle leaf hash.
    pub fn chain_hash(&self) -> Hash {
        record_hash(&self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Attestation, Body, Payload};
    use crate::keys::test_key;
    use crate::types::{EventId, Seq};

    fn event(note: &str) -> SignedEvent {
        let k = test_key(3);
        Body {
            election: "e1".parse().unwrap(),
            author: k.verifying_key().into(),
            seq: Seq(1),
            prev: None,
            time: "2024-01-01T00:00:00Z".parse().unwrap(),
            payload: Payload::Attestation(Attestation {
                event: EventId([7; 32]),
                note: Some(note.parse().unwrap()),
            }),
        }
        .sign(&k)
        .unwrap()
    }

    #[test]
    fn entry_bytes_are_the_canonical_json_of_the_entry() {
        let ev = event("contains ,\"index\":5 inside a string");
        let e = Entry::new(LogIndex(42), Hash([9; 32]), ev.clone());
        let general = crate::json::encode(&serde_json::json!({
            "event": serde_json::from_slice::<serde_json::Value>(ev.bytes()).unwrap(),
            "index": 42,
            "prev": hex::encode([9u8; 32]),
        }));
        assert_eq!(e.bytes(), &general[..]);
        assert_eq!(Entry::decode(e.bytes()).unwrap(), e);
    }

    #[test]
    fn non_canonical_entries_are_refused() {
        let e = Entry::new(LogIndex(7), GENESIS_PREV, event("x"));
        let s = String::from_utf8(e.bytes().to_vec()).unwrap();
        for bad in [
            s.replace(",\"index\":7", ",\"index\":07"),
            s.replace(",\"index\":7", ",\"index\": 7"),
            s.replace(",\"index\":7", ",\"index\":-7"),
            s.replacen("\"prev\":\"00", "\"prev\":\"0", 1),
            s.replacen("{\"event\":", "{ \"event\":", 1),
            format!("{s}\n"),
            s.replace("\"prev\":\"00", "\"prev\":\"AA"),
        ] {
            assert!(Entry::decode(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}

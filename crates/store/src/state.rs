//! The validation state the store keeps beside the entries, and its encodings.
//!
//! The rules need to know, for the log so far, every key's role, every
//! publisher's chain head, every complaint's status and a few facts about every
//! event. All of it is derived from the entries, so an auditor recomputes it;
//! the store persists it in the same atomic batch as the entries it comes from,
//! so the ledger can restart without replaying the log. These encodings are
//! internal to the store (nothing here is hashed or signed).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use tallylog_core::event::{ElectionDef, Kind, Role};
use tallylog_core::rules::{ComplaintState, ComplaintStatus, ElectionRoot, EventFacts, KeyState};
use tallylog_core::types::{ElectionId, EventId, PublicKey, Seq};

/// The part of the state small enough to hold in memory: one record per key,
/// per publisher and per complaint.
#[derive(Clone, Debug, Default)]
pub(crate) struct State {
    pub election: Option<ElectionRoot>,
    pub keys: HashMap<PublicKey, KeyState>,
    pub chains: HashMap<PublicKey, (Seq, EventId)>,
    pub complaints: HashMap<EventId, ComplaintState>,
    /// The intake position (stream sequence) of the last submission judged.
    pub cursor: u64,
}

const ROLES: [Role; 4] = [
    Role::Authority,
    Role::Observer,
    Role::PartyAgent,
    Role::Witness,
];
const STATUSES: [ComplaintStatus; 6] = [
    ComplaintStatus::Filed,
    ComplaintStatus::Acknowledged,
    ComplaintStatus::UnderReview,
    ComplaintStatus::Resolved,
    ComplaintStatus::Appealed,
    ComplaintStatus::Final,
];

fn pos<T: PartialEq>(all: &[T], x: &T) -> u8 {
    all.iter()
        .position(|y| y == x)
        .expect("invariant: every variant is listed") as u8
}

pub(crate) fn encode_key(k: &KeyState) -> Vec<u8> {
    let mut v = vec![pos(&ROLES, &k.role), u8::from(k.revoked)];
    v.extend_from_slice(k.org.as_str().as_bytes());
    v
}

pub(crate) fn decode_key(v: &[u8]) -> Option<KeyState> {
    let role = *ROLES.get(*v.first()? as usize)?;
    let revoked = match *v.get(1)? {
        0 => false,
        1 => true,
        _ => return None,
    };
    let org = std::str::from_utf8(&v[2..]).ok()?.parse().ok()?;
    Some(KeyState { role, org, revoked })
}

pub(crate) fn encode_complaint(c: &ComplaintState) -> Vec<u8> {
    let mut v = vec![pos(&STATUSES, &c.status)];
    v.extend_from_slice(c.filer_org.as_str().as_bytes());
    v
}

pub(crate) fn decode_complaint(v: &[u8]) -> Option<ComplaintState> {
    let status = *STATUSES.get(*v.first()? as usize)?;
    let filer_org = std::str::from_utf8(&v[1..]).ok()?.parse().ok()?;
    Some(ComplaintState { status, filer_org })
}

pub(crate) fn encode_chain(seq: Seq, id: &EventId) -> [u8; 40] {
    let mut v = [0u8; 40];
    v[..8].copy_from_slice(&seq.0.to_be_bytes());
    v[8..].copy_from_slice(id.as_bytes());
    v
}

pub(crate) fn decode_chain(v: &[u8]) -> Option<(Seq, EventId)> {
    if v.len() != 40 {
        return None;
    }
    Some((
        Seq(u64::from_be_bytes(v[..8].try_into().ok()?)),
        EventId(v[8..].try_into().ok()?),
    ))
}

/// The event-id index value: the entry index, then the event's facts.
pub(crate) fn encode_facts(index: u64, f: &EventFacts) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + 35 + 40);
    v.extend_from_slice(&index.to_be_bytes());
    v.push(pos(&Kind::ALL, &f.kind));
    v.push(u8::from(f.superseded));
    v.extend_from_slice(f.author.as_bytes());
    if let Some((station, contest)) = &f.form {
        for s in [station.as_str(), contest.as_str()] {
            v.push(s.len() as u8);
            v.extend_from_slice(s.as_bytes());
        }
    }
    v
}

pub(crate) fn decode_facts(v: &[u8]) -> Option<(u64, EventFacts)> {
    let index = u64::from_be_bytes(v.get(..8)?.try_into().ok()?);
    let kind = *Kind::ALL.get(*v.get(8)? as usize)?;
    let superseded = match *v.get(9)? {
        0 => false,
        1 => true,
        _ => return None,
    };
    let author = PublicKey::from_bytes(v.get(10..42)?.try_into().ok()?).ok()?;
    let mut rest = &v[42..];
    let mut next = || -> Option<&str> {
        let n = *rest.first()? as usize;
        let s = std::str::from_utf8(rest.get(1..1 + n)?).ok()?;
        rest = &rest[1 + n..];
        Some(s)
    };
    let form = match (next(), next()) {
        (Some(st), Some(c)) => Some((st.parse().ok()?, c.parse().ok()?)),
        (None, None) => None,
        _ => return None,
    };
    Some((
        index,
        EventFacts {
            kind,
            author,
            form,
            superseded,
        },
    ))
}

#[derive(Serialize, Deserialize)]
struct ElectionRecord {
    id: ElectionId,
    root: PublicKey,
    def: ElectionDef,
}

pub(crate) fn encode_election(e: &ElectionRoot) -> Vec<u8> {
    serde_json::to_vec(&ElectionRecord {
        id: e.id.clone(),
        root: e.root,
        def: e.def.clone(),
    })
    .expect("invariant: an election definition serialises")
}

pub(crate) fn decode_election(v: &[u8]) -> Option<ElectionRoot> {
    let r: ElectionRecord = serde_json::from_slice(v).ok()?;
    Some(ElectionRoot {
        id: r.id,
        root: r.root,
        def: r.def,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_round_trip_with_and_without_a_form() {
        let author: PublicKey = tallylog_core::keys::test_key(1).verifying_key().into();
        for form in [
            None,
            Some(("12/03/04/0042".parse().unwrap(), "na".parse().unwrap())),
        ] {
            let f = EventFacts {
                kind: Kind::Correction,
                author,
                form,
                superseded: true,
            };
            assert_eq!(decode_facts(&encode_facts(77, &f)), Some((77, f)));
        }
        assert_eq!(decode_facts(&[0; 12]), None);
    }

    #[test]
    fn keys_and_complaints_round_trip() {
        let k = KeyState {
            role: Role::PartyAgent,
            org: "Candlelight Party / គណបក្សភ្លើងទៀន".parse().unwrap(),
            revoked: true,
        };
        assert_eq!(decode_key(&encode_key(&k)), Some(k));
        let c = ComplaintState {
            status: ComplaintStatus::Appealed,
            filer_org: "COMFREL".parse().unwrap(),
        };
        assert_eq!(decode_complaint(&encode_complaint(&c)), Some(c));
    }
}

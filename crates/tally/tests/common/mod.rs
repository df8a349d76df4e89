//! Helpers shared by the projection's tests: folding a list of events (each
//! checked by the rules first) and the sample election's sources by name.
#![allow(dead_code)]

use tallylog_core::event::{Role, VerifiedEvent};
use tallylog_core::rules::MemoryState;
use tallylog_core::types::{ContestId, LogIndex, Timestamp};
use tallylog_tally::{Projection, Source};

pub fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// Folds `events` as log entries 0, 1, ...; every event must be one the
/// ledger would accept, since the fold is only defined on valid logs.
pub fn fold(events: &[VerifiedEvent]) -> Projection {
    let mut rules = MemoryState::new();
    let mut p = Projection::new();
    for (i, ev) in events.iter().enumerate() {
        rules
            .accept(ev)
            .unwrap_or_else(|e| panic!("event {i} rejected: {e}"));
        p.apply(LogIndex(i as u64), ev.id(), ev.body().clone())
            .unwrap();
    }
    p
}

pub fn source(role: Role, org: &str) -> Source {
    Source {
        role,
        org: org.parse().unwrap(),
    }
}
pub fn official() -> Source {
    source(Role::Authority, "National Election Committee")
}
pub fn observer() -> Source {
    source(Role::Observer, "Citizens Observer Network")
}
pub fn watch() -> Source {
    source(Role::Observer, "Election \"Watch\" Coalition")
}
pub fn agent() -> Source {
    source(Role::PartyAgent, "BETA")
}
pub fn na() -> ContestId {
    "na".parse().unwrap()
}

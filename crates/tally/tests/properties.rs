//! Properties of the fold over random valid logs: the incrementally kept
//! totals always equal a from-scratch sum of the forms that count, and the
//! projection hash depends only on the log (the same log folded twice, or
//! folded in two parts, hashes the same; a different log hashes differently).

use std::collections::{BTreeMap, HashSet};

use proptest::prelude::*;
use tallylog_core::event::{Correction, Payload, Recount, VerifiedEvent};
use tallylog_core::keys::test_key;
use tallylog_core::publisher::{ChainState, Publisher};
use tallylog_core::rules::MemoryState;
use tallylog_core::sample::{self, AGENT_KEY, AUTHORITY_KEY, OBSERVER_KEY};
use tallylog_core::types::{EventId, LogIndex, Timestamp};
use tallylog_tally::state::MAX_FIGURE;
use tallylog_tally::{projection_hash, Projection};

#[derive(Clone, Debug)]
enum Op {
    /// Publisher `who` publishes a form at station `at` with these votes.
    Result {
        who: usize,
        at: usize,
        votes: [u64; 3],
        invalid: u64,
    },
    /// Publisher `who` corrects the `nth` form in the log (if it may).
    Correct {
        who: usize,
        nth: usize,
        votes: [u64; 3],
    },
    /// The authority recounts the `nth` form in the log.
    Recount { nth: usize, votes: [u64; 3] },
}

const STATIONS: [&str; 5] = [
    "01/01/01/0001",
    "01/01/01/0002",
    "02/01/01/0001",
    "02/01/01/0002",
    "09/09/09/0009", // not in the geography
];

fn votes() -> impl Strategy<Value = [u64; 3]> {
    prop_oneof![
        9 => [0u64..400, 0u64..400, 0u64..100],
        1 => (Just(MAX_FIGURE + 1), 0u64..10, 0u64..10).prop_map(|(a, b, c)| [a, b, c]),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3usize, 0..STATIONS.len(), votes(), 0u64..20)
            .prop_map(|(who, at, votes, invalid)| Op::Result { who, at, votes, invalid }),
        2 => (0..3usize, 0..40usize, votes()).prop_map(|(who, nth, votes)| Op::Correct { who, nth, votes }),
        1 => (0..40usize, votes()).prop_map(|(nth, votes)| Op::Recount { nth, votes }),
    ]
}

/// The sample's opening (definition, geography, keys) and then the ops, each
/// kept only if the rules accept it.
fn log(ops: &[Op]) -> Vec<VerifiedEvent> {
    let mut evs: Vec<VerifiedEvent> = sample::events().into_iter().take(6).collect();
    let mut rules = MemoryState::new();
    for e in &evs {
        rules.accept(e).expect("the sample's opening is valid");
    }
    // The sample's opening registers these keys and has no events from them.
    let keys = [AUTHORITY_KEY, OBSERVER_KEY, AGENT_KEY];
    let publisher = |n: u32, chain: ChainState| {
        Publisher::resume(test_key(n), sample::ELECTION.parse().unwrap(), chain)
    };
    let mut chains = vec![ChainState::default(); keys.len()];
    let time: Timestamp = "2023-07-23T12:00:00Z".parse().unwrap();
    let mut forms: Vec<(EventId, tallylog_core::event::ResultForm)> = Vec::new();
    for op in ops {
        let (who, payload) = match op {
            Op::Result {
                who,
                at,
                votes,
                invalid,
            } => {
                let f = sample::form(STATIONS[*at], 600, *votes, *invalid);
                (*who, Payload::Result(f))
            }
            Op::Correct { who, nth, votes } if !forms.is_empty() => {
                let (id, old) = &forms[nth % forms.len()];
                let f = sample::form(old.station.as_str(), 600, *votes, 0);
                (
                    *who,
                    Payload::Correction(Correction {
                        supersedes: *id,
                        reason: "corrected".parse().unwrap(),
                        form: f,
                    }),
                )
            }
            Op::Recount { nth, votes } if !forms.is_empty() => {
                let (id, old) = &forms[nth % forms.len()];
                let f = sample::form(old.station.as_str(), 600, *votes, 1);
                (
                    0,
                    Payload::Recount(Recount {
                        supersedes: *id,
                        reason: "recounted".parse().unwrap(),
                        ordered_by: None,
                        form: f,
                    }),
                )
            }
            _ => continue,
        };
        // Sign on a copy of the publisher: a rejected event must not advance
        // its chain.
        let mut p = publisher(keys[who], chains[who].clone());
        let ev = p.sign(time, payload).unwrap();
        if rules.accept(&ev).is_ok() {
            chains[who] = p.chain().clone();
            if let Some(f) = ev.body().payload.form() {
                forms.push((ev.id(), f.clone()));
            }
            evs.push(ev);
        }
    }
    evs
}

fn fold(evs: &[VerifiedEvent]) -> Projection {
    let mut p = Projection::new();
    for (i, ev) in evs.iter().enumerate() {
        p.apply(LogIndex(i as u64), ev.id(), ev.body().clone())
            .unwrap();
    }
    p
}

/// The national totals per source, summed from scratch: per source, station
/// and contest the latest form nobody superseded, if the station is in the
/// geography and no figure is implausible.
fn oracle(evs: &[VerifiedEvent], p: &Projection) -> BTreeMap<String, (u64, u64, u64)> {
    let superseded: HashSet<EventId> = evs
        .iter()
        .filter_map(|e| match &e.body().payload {
            Payload::Correction(c) => Some(c.supersedes),
            Payload::Recount(r) => Some(r.supersedes),
            _ => None,
        })
        .collect();
    let mut latest = BTreeMap::new();
    for e in evs {
        let Some(f) = e.body().payload.form() else {
            continue;
        };
        if superseded.contains(&e.id()) {
            continue;
        }
        let source = p.source_of(&e.body().author).unwrap().to_string();
        latest.insert((source, f.station.clone()), f.clone());
    }
    let mut out = BTreeMap::new();
    for ((source, station), f) in latest {
        let big = [f.registered, f.cast, f.valid, f.invalid]
            .into_iter()
            .chain(f.votes.values().copied())
            .any(|v| v > MAX_FIGURE);
        if big || !p.stations().contains_key(&station) {
            continue;
        }
        let t: &mut (u64, u64, u64) = out.entry(source).or_default();
        t.0 += 1;
        t.1 += f.cast;
        t.2 += f.votes.values().sum::<u64>();
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn totals_equal_a_sum_from_scratch(ops in prop::collection::vec(op(), 0..40)) {
        let evs = log(&ops);
        let p = fold(&evs);
        let contest = "na".parse().unwrap();
        let mut kept = BTreeMap::new();
        for source in p.sources().keys() {
            if let Some(t) = p.totals(&contest, source, None).filter(|t| t.stations > 0) {
                kept.insert(source.to_string(), (t.stations, t.cast, t.votes.values().sum::<u64>()));
            }
        }
        prop_assert_eq!(kept, oracle(&evs, &p));
    }

    #[test]
    fn the_hash_depends_only_on_the_log(ops in prop::collection::vec(op(), 1..30), cut in 0usize..100) {
        let evs = log(&ops);
        let whole = projection_hash(&fold(&evs));
        prop_assert_eq!(whole, projection_hash(&fold(&evs)));
        let cut = cut % (evs.len() + 1);
        let mut p = fold(&evs[..cut]);
        for (i, ev) in evs.iter().enumerate().skip(cut) {
            p.apply(LogIndex(i as u64), ev.id(), ev.body().clone()).unwrap();
        }
        prop_assert_eq!(whole, projection_hash(&p));
        if evs.len() > 6 {
            prop_assert_ne!(whole, projection_hash(&fold(&evs[..evs.len() - 1])));
        }
    }
}

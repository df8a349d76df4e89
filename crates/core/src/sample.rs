//! A small, hand-written, fully deterministic election: two provinces, four
//! stations, three parties, an authority, an observer group and a party agent,
//! with a mismatch, a correction, a complaint taken through its lifecycle, a
//! recount and a certification. Tests, the golden vectors in `testdata/` and the
//! documentation examples are all built from it, so they agree with each other.
//! Its keys are [`test_key`]s: public, and never to be used for anything real.

use std::collections::BTreeMap;

use crate::checkpoint::LogSigner;
use crate::event::*;
use crate::keys::test_key;
use crate::publisher::Publisher;
use crate::types::{Digest, Timestamp};

pub const ELECTION: &str = "sample-2023";
pub const ORIGIN: &str = "tallylog.example/sample-2023";

/// Key numbers of the sample's participants (see [`test_key`]).
pub const ROOT_KEY: u32 = 1;
pub const LOG_KEY: u32 = 2;
pub const AUTHORITY_KEY: u32 = 3;
pub const OBSERVER_KEY: u32 = 4;
pub const AGENT_KEY: u32 = 5;

pub fn log_signer() -> LogSigner {
    LogSigner::new(ORIGIN, test_key(LOG_KEY)).expect("invariant: ORIGIN is a valid key name")
}

fn t(s: &str) -> Timestamp {
    s.parse().expect("invariant: sample times are valid")
}

fn p<T: std::str::FromStr>(s: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    s.parse().expect("invariant: sample values are valid")
}

pub fn definition() -> ElectionDef {
    ElectionDef {
        name: p("Sample National Assembly Election 2023"),
        polls_close: t("2023-07-23T08:00:00Z"),
        log: LogRef {
            origin: p(ORIGIN),
            key: test_key(LOG_KEY).verifying_key().into(),
        },
        parties: vec![
            Party {
                id: p("ALPHA"),
                name: p("Alpha Party"),
            },
            Party {
                id: p("BETA"),
                name: p("Beta Party"),
            },
            Party {
                id: p("GAMMA"),
                name: p("Gamma Party"),
            },
        ],
        contests: vec![Contest {
            id: p("na"),
            name: p("National Assembly"),
            constituency: crate::types::Level::Province,
            formula: SeatFormula::Dhondt,
            parties: vec![p("ALPHA"), p("BETA"), p("GAMMA")],
        }],
        deadlines: Deadlines {
            filing_hours: 72,
            resolution_hours: 48,
            appeal_filing_hours: 72,
            appeal_resolution_hours: 72,
        },
    }
}

pub fn form(station: &str, registered: u64, votes: [u64; 3], invalid: u64) -> ResultForm {
    let valid = votes.iter().sum();
    ResultForm {
        station: p(station),
        contest: p("na"),
        registered,
        cast: valid + invalid,
        valid,
        invalid,
        votes: ["ALPHA", "BETA", "GAMMA"]
            .iter()
            .zip(votes)
            .map(|(party, v)| (p(party), v))
            .collect::<BTreeMap<_, _>>(),
        image_sha256: None,
    }
}

/// A second observer organisation's key, revoked after its first result.
pub const WATCH_KEY: u32 = 6;
/// The key the observer's key is rotated to, mid-election.
pub const OBSERVER_NEW_KEY: u32 = 7;

fn region(code: &str, name: &str, seats: u32) -> Region {
    Region {
        code: p(code),
        name: p(name),
        seats: if seats > 0 {
            [(p("na"), seats)].into()
        } else {
            BTreeMap::new()
        },
    }
}

/// The sample election's events, in log order. Besides the happy path it
/// covers every kind but `certified` (which needs the projector), non-ASCII
/// names and strings that JSON must escape, a key rotation and a revocation.
pub fn events() -> Vec<VerifiedEvent> {
    let e = || p(ELECTION);
    let mut root = Publisher::new(test_key(ROOT_KEY), e());
    let mut nec = Publisher::new(test_key(AUTHORITY_KEY), e());
    let mut obs = Publisher::new(test_key(OBSERVER_KEY), e());
    let mut agent = Publisher::new(test_key(AGENT_KEY), e());
    let mut watch = Publisher::new(test_key(WATCH_KEY), e());
    let mut out = Vec::new();
    let mut push = |ev: Result<VerifiedEvent, EventError>| {
        let ev = ev.expect("invariant: sample events sign");
        let id = ev.id();
        out.push(ev);
        id
    };
    let day0 = t("2023-07-01T00:00:00Z");

    push(root.sign(day0, Payload::Election(definition())));
    push(root.sign(
        day0,
        Payload::Geography(Geography {
            regions: vec![
                region("01", "Battambang / បាត់ដំបង", 3),
                region("01/01", "Sangkae / សង្កែ", 0),
                region("01/01/01", "Ou Dambang / អូរដំបង", 0),
                region("02", "Kampot / កំពត", 2),
                region("02/01", "Chhuk / ឈូក", 0),
                region("02/01/01", "Trapeang Bei / ត្រពាំងបី", 0),
            ],
            stations: vec![
                Station {
                    code: p("01/01/01/0001"),
                    registered: 600,
                },
                Station {
                    code: p("01/01/01/0002"),
                    registered: 550,
                },
                Station {
                    code: p("02/01/01/0001"),
                    registered: 700,
                },
                Station {
                    code: p("02/01/01/0002"),
                    registered: 450,
                },
            ],
        }),
    ));
    for (n, role, org) in [
        (
            AUTHORITY_KEY,
            Role::Authority,
            "National Election Committee",
        ),
        (OBSERVER_KEY, Role::Observer, "Citizens Observer Network"),
        (AGENT_KEY, Role::PartyAgent, "BETA"),
        (WATCH_KEY, Role::Observer, "Election \"Watch\" Coalition"),
    ] {
        push(root.sign(
            day0,
            Payload::KeyRegister(KeyRegister {
                key: test_key(n).verifying_key().into(),
                role,
                org: p(org),
            }),
        ));
    }

    // Official results; station 02/01/01/0002 has an arithmetic slip.
    let official = [
        ("01/01/01/0001", 600, [250, 200, 50], 10),
        ("01/01/01/0002", 550, [300, 120, 30], 5),
        ("02/01/01/0001", 700, [200, 350, 60], 12),
    ];
    let mut official_ids = Vec::new();
    for (st, reg, votes, inv) in official {
        official_ids.push(push(nec.sign(
            t("2023-07-23T12:00:00Z"),
            Payload::Result(form(st, reg, votes, inv)),
        )));
    }
    let mut slip = form("02/01/01/0002", 450, [150, 140, 20], 8);
    slip.valid += 10;
    slip.image_sha256 = Some(Digest(sha2_of(b"photo of form 02/01/01/0002")));
    let slip_id = push(nec.sign(t("2023-07-23T12:30:00Z"), Payload::Result(slip)));

    // The observers' and the party agent's copies: 01/01/01/0002 disagrees
    // with the official figures.
    push(obs.sign(
        t("2023-07-23T11:00:00Z"),
        Payload::Result(form("01/01/01/0001", 600, [250, 200, 50], 10)),
    ));
    push(obs.sign(
        t("2023-07-23T11:05:00Z"),
        Payload::Result(form("01/01/01/0002", 550, [260, 160, 30], 5)),
    ));
    push(agent.sign(
        t("2023-07-23T11:10:00Z"),
        Payload::Result(form("01/01/01/0002", 550, [260, 160, 30], 5)),
    ));
    push(watch.sign(
        t("2023-07-23T11:20:00Z"),
        Payload::Result(form("02/01/01/0001", 700, [200, 350, 60], 12)),
    ));

    // The watch coalition loses its device; its key is revoked.
    push(root.sign(
        t("2023-07-23T13:00:00Z"),
        Payload::KeyRevoke(KeyRevoke {
            key: test_key(WATCH_KEY).verifying_key().into(),
            reason: p("Device reported lost at 12:40;\tkey withdrawn."),
        }),
    ));

    // The authority corrects its slip.
    push(nec.sign(
        t("2023-07-24T09:00:00Z"),
        Payload::Correction(Correction {
            supersedes: slip_id,
            reason: p("valid ballots mistyped when the form was entered"),
            form: form("02/01/01/0002", 450, [150, 140, 20], 8),
        }),
    ));

    // The party agent files a complaint about 01/01/01/0002; it is upheld and a
    // recount ordered, which supersedes the official form.
    let complaint = push(agent.sign(
        t("2023-07-24T10:00:00Z"),
        Payload::ComplaintFiled(ComplaintFiled {
            region: Some(p("01/01/01/0002")),
            contest: Some(p("na")),
            category: ComplaintCategory::ResultMismatch,
            summary: p("Posted figures differ from the copy our agent signed at the count."),
            evidence: vec![Digest(sha2_of(b"agent's photo"))],
            refs: vec![official_ids[1]],
        }),
    ));
    push(nec.sign(
        t("2023-07-24T12:00:00Z"),
        Payload::ComplaintAcknowledged(ComplaintStep { complaint }),
    ));
    let ruling = push(nec.sign(
        t("2023-07-25T12:00:00Z"),
        Payload::ComplaintResolved(ComplaintResolved {
            complaint,
            outcome: Outcome::Upheld,
            reasoning: p("The tally sheet shows a transcription error.\nA recount is ordered."),
            recounts: vec![p("01/01/01/0002")],
        }),
    ));
    push(nec.sign(
        t("2023-07-26T12:00:00Z"),
        Payload::Recount(Recount {
            supersedes: official_ids[1],
            reason: p("recount ordered by the complaint ruling"),
            ordered_by: Some(ruling),
            form: form("01/01/01/0002", 550, [262, 158, 30], 5),
        }),
    ));

    // A complaint left unanswered past its deadline.
    push(obs.sign(
        t("2023-07-24T15:00:00Z"),
        Payload::ComplaintFiled(ComplaintFiled {
            region: Some(p("02/01/01")),
            contest: None,
            category: ComplaintCategory::ClosedCounting,
            summary: p("Observers were told \"come back tomorrow\" before the count began."),
            evidence: vec![],
            refs: vec![],
        }),
    ));
    push(obs.sign(
        t("2023-07-24T16:00:00Z"),
        Payload::Attestation(Attestation {
            event: official_ids[0],
            note: Some(p("matches our copy")),
        }),
    ));

    // The observer's key is rotated; the new key continues its organisation's
    // work with a chain of its own.
    push(root.sign(
        t("2023-07-25T00:00:00Z"),
        Payload::KeyRotate(KeyRotate {
            old: test_key(OBSERVER_KEY).verifying_key().into(),
            new: test_key(OBSERVER_NEW_KEY).verifying_key().into(),
            reason: p("scheduled rotation"),
        }),
    ));
    let mut obs = Publisher::new(test_key(OBSERVER_NEW_KEY), e());

    // A complaint that is reviewed, dismissed, appealed and decided.
    let roll = push(obs.sign(
        t("2023-07-25T09:00:00Z"),
        Payload::ComplaintFiled(ComplaintFiled {
            region: Some(p("01")),
            contest: Some(p("na")),
            category: ComplaintCategory::VoterRoll,
            summary: p("412 voters in Battambang were missing from the rolls."),
            evidence: vec![],
            refs: vec![],
        }),
    ));
    push(nec.sign(
        t("2023-07-25T15:00:00Z"),
        Payload::ComplaintReview(ComplaintStep { complaint: roll }),
    ));
    push(nec.sign(
        t("2023-07-26T15:00:00Z"),
        Payload::ComplaintResolved(ComplaintResolved {
            complaint: roll,
            outcome: Outcome::Dismissed,
            reasoning: p("The voters had moved and were registered in their new commune."),
            recounts: vec![],
        }),
    ));
    push(obs.sign(
        t("2023-07-27T09:00:00Z"),
        Payload::ComplaintAppealed(ComplaintAppealed {
            complaint: roll,
            reasoning: p("Several of the voters never moved; affidavits are held."),
        }),
    ));
    push(nec.sign(
        t("2023-07-29T09:00:00Z"),
        Payload::ComplaintAppealDecided(ComplaintAppealDecided {
            complaint: roll,
            outcome: Outcome::PartlyUpheld,
            reasoning: p("37 voters are restored to the roll; the rest had moved."),
        }),
    ));
    out
}

/// A publisher for test key `n`, positioned after its events in the sample
/// (at the start of its chain if it has none there).
pub fn continue_after_sample(n: u32) -> Publisher {
    let key = test_key(n);
    let author: crate::types::PublicKey = key.verifying_key().into();
    let chain = events()
        .into_iter()
        .rfind(|e| e.body().author == author)
        .map(|e| crate::publisher::ChainState {
            seq: e.body().seq.0,
            last: Some(e.id()),
        })
        .unwrap_or_default();
    Publisher::resume(key, p(ELECTION), chain)
}

/// `n` more result forms signed by `publisher`, chained, each at a different
/// station (load for tests and benchmarks; the figures vary with `i`).
pub fn more_results(publisher: &mut Publisher, n: usize) -> Vec<VerifiedEvent> {
    let time = t("2023-07-23T12:00:00Z");
    (0..n as u64)
        .map(|i| {
            let votes = [i % 400, (i * 7) % 300, (i * 13) % 100];
            let mut f = form("01/01/01/0001", 700, votes, i % 9);
            f.station = p(&format!("01/01/{:02}/{:04}", i % 97, i % 9973));
            publisher
                .sign(time, Payload::Result(f))
                .expect("invariant: sample events sign")
        })
        .collect()
}

fn sha2_of(b: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(b).into()
}

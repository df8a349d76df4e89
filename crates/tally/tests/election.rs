//! The projection of a small hand-written election: the sample election of
//! `core` (a mismatch, a correction, a recount ordered by an upheld complaint,
//! an unanswered complaint, an appeal) plus forms made to trip every anomaly
//! and two certifications. Every expected figure below was worked out by hand
//! from the forms; the comments show the sums.

use tallylog_core::event::{
    Certified, Correction, Geography, Payload, ResultForm, Station, VerifiedEvent,
};
use tallylog_core::keys::test_key;
use tallylog_core::publisher::Publisher;
use tallylog_core::sample::{self, AGENT_KEY, AUTHORITY_KEY, OBSERVER_NEW_KEY, ROOT_KEY};
use tallylog_core::types::{Digest, LogIndex};
use tallylog_tally::projection_hash;
use tallylog_tally::state::{AnomalyKind, Status};
use tallylog_tally::views::{self, Verdict};

mod common;
use common::*;

fn form(station: &str, registered: u64, votes: [u64; 3], invalid: u64) -> ResultForm {
    sample::form(station, registered, votes, invalid)
}

/// The sample, then forms that trip each anomaly, then the late geography of
/// a station that was unknown when its form came.
fn election() -> Vec<VerifiedEvent> {
    let mut evs = sample::events();
    let mut agent = sample::continue_after_sample(AGENT_KEY);
    let mut obs = sample::continue_after_sample(OBSERVER_NEW_KEY);
    let mut root = sample::continue_after_sample(ROOT_KEY);
    let at = t("2023-07-23T12:00:00Z");
    let sign = |p: &mut Publisher, payload| p.sign(at, payload).unwrap();

    // Cast 460 at a station with 450 registered, on the form and in the
    // geography.
    let over = sign(
        &mut agent,
        Payload::Result(form("02/01/01/0002", 450, [200, 200, 50], 10)),
    );
    let over_id = over.id();
    evs.push(over);
    // 650 registered on the form, 700 in the geography.
    evs.push(sign(
        &mut agent,
        Payload::Result(form("02/01/01/0001", 650, [200, 350, 60], 12)),
    ));
    // DELTA is not on the ballot.
    let mut delta = form("01/01/01/0001", 600, [250, 200, 45], 10);
    delta.votes.insert("DELTA".parse().unwrap(), 5);
    delta.valid += 5;
    delta.cast += 5;
    evs.push(sign(&mut agent, Payload::Result(delta)));
    // A station the geography does not have (yet).
    evs.push(sign(
        &mut agent,
        Payload::Result(form("03/01/01/0001", 500, [100, 100, 100], 0)),
    ));
    // A second original form for 02/01/01/0001, not a correction.
    evs.push(sign(
        &mut agent,
        Payload::Result(form("02/01/01/0001", 700, [200, 350, 60], 12)),
    ));
    // A contest the election does not define.
    let mut cc = form("01/01/01/0002", 550, [1, 2, 3], 0);
    cc.contest = "cc".parse().unwrap();
    evs.push(sign(&mut agent, Payload::Result(cc)));
    // A correction to an implausible figure: it replaces the over-turnout
    // form, and is itself not counted.
    evs.push(sign(
        &mut agent,
        Payload::Correction(Correction {
            supersedes: over_id,
            reason: "typed in the wrong box".parse().unwrap(),
            form: form("02/01/01/0002", 450, [20_000_000, 0, 0], 0),
        }),
    ));
    // The official slip's image, under another station.
    let mut dup = form("02/01/01/0001", 700, [200, 350, 60], 12);
    dup.image_sha256 = sample::events()
        .iter()
        .find_map(|e| e.body().payload.form().and_then(|f| f.image_sha256));
    evs.push(sign(&mut obs, Payload::Result(dup)));
    // The unknown station is published after its form.
    evs.push(sign(
        &mut root,
        Payload::Geography(Geography {
            regions: vec![],
            stations: vec![Station {
                code: "03/01/01/0001".parse().unwrap(),
                registered: 500,
            }],
        }),
    ));
    evs
}

#[test]
fn official_tallies_add_up_at_every_level() {
    let p = fold(&election());
    let nat = p.totals(&na(), &official(), None).unwrap();
    // 01/01/01/0001 [250,200,50]+10; 01/01/01/0002 recounted [262,158,30]+5;
    // 02/01/01/0001 [200,350,60]+12; 02/01/01/0002 corrected [150,140,20]+8.
    assert_eq!(nat.stations, 4);
    assert_eq!(nat.registered, 600 + 550 + 700 + 450);
    assert_eq!(nat.valid, 500 + 450 + 610 + 310);
    assert_eq!(nat.invalid, 10 + 5 + 12 + 8);
    assert_eq!(nat.cast, 510 + 455 + 622 + 318);
    let v = |party: &str| nat.votes[&party.parse().unwrap()];
    assert_eq!((v("ALPHA"), v("BETA"), v("GAMMA")), (862, 848, 160));

    let provinces = views::tallies(
        &p,
        &na(),
        &official(),
        tallylog_core::types::Level::Province,
        None,
    );
    let codes: Vec<_> = provinces
        .iter()
        .map(|r| r.region.as_ref().unwrap().to_string())
        .collect();
    assert_eq!(codes, ["01", "02", "03"]);
    assert_eq!(
        provinces[0].totals.votes[&"ALPHA".parse().unwrap()],
        250 + 262
    );
    assert_eq!(
        provinces[1].totals.votes[&"BETA".parse().unwrap()],
        350 + 140
    );
    // Coverage: the official source has no form at the late station 03.
    assert_eq!(
        (provinces[2].stations, provinces[2].totals.stations),
        (1, 0)
    );
    assert_eq!(p.station_count(None), 5);
    let missing = views::missing(&p, &na(), &official(), None);
    assert_eq!(missing, vec!["03/01/01/0001".parse().unwrap()]);

    // Station level rows are the current forms themselves.
    let stations = views::tallies(
        &p,
        &na(),
        &official(),
        tallylog_core::types::Level::Station,
        Some(&"01/01/01".parse().unwrap()),
    );
    assert_eq!(stations.len(), 2);
    assert_eq!(stations[1].totals.votes[&"ALPHA".parse().unwrap()], 262);
}

#[test]
fn corrections_and_recounts_keep_every_version() {
    let p = fold(&election());
    let v = views::station(&p, &"01/01/01/0002".parse().unwrap());
    let nec: Vec<_> = v
        .versions
        .iter()
        .filter(|x| x.version.source.as_ref() == Some(&official()))
        .collect();
    assert_eq!(nec.len(), 2, "the first count and its recount");
    assert!(!nec[0].current);
    assert_eq!(nec[0].version.superseded_by, Some(nec[1].version.event));
    assert!(nec[1].current);
    assert_eq!(nec[1].version.kind, tallylog_core::event::Kind::Recount);
    assert!(nec[1].version.ordered_by.is_some());
    assert_eq!(
        nec[1].version.reason.as_ref().unwrap().as_str(),
        "recount ordered by the complaint ruling"
    );

    let w = views::station(&p, &"02/01/01/0002".parse().unwrap());
    let kinds: Vec<_> = w
        .versions
        .iter()
        .filter(|x| x.version.source.as_ref() == Some(&official()))
        .map(|x| (x.version.kind, x.current))
        .collect();
    use tallylog_core::event::Kind;
    assert_eq!(kinds, [(Kind::Result, false), (Kind::Correction, true)]);
    // The endorsement of an official form is shown with it.
    let e = views::station(&p, &"01/01/01/0001".parse().unwrap());
    let endorsed: Vec<_> = e
        .versions
        .iter()
        .filter(|x| !x.endorsements.is_empty())
        .collect();
    assert_eq!(endorsed.len(), 1);
    assert_eq!(endorsed[0].endorsements[0].source, Some(observer()));
}

#[test]
fn sources_are_compared_station_by_station() {
    let p = fold(&election());
    let c = views::compare(
        &p,
        &na(),
        &official(),
        &observer(),
        tallylog_core::types::Level::Province,
        None,
    );
    // 01/01/01/0001 matches; 01/01/01/0002 differs (recount 262/158, observer
    // 260/160); 02/01/01/0001 matches (the observer's late copy); 02/01/01/0002
    // only official.
    assert_eq!(
        (
            c.overall.matched,
            c.overall.mismatched,
            c.overall.only_a,
            c.overall.only_b
        ),
        (2, 1, 1, 0)
    );
    assert_eq!(c.overall.match_rate, Some(2.0 / 3.0));
    let mismatch = c
        .stations
        .iter()
        .find(|s| s.verdict == Verdict::Mismatch)
        .unwrap();
    assert_eq!(mismatch.station.to_string(), "01/01/01/0002");
    let diffs: Vec<_> = mismatch
        .differences
        .iter()
        .map(|d| (d.field.as_str(), d.a, d.b))
        .collect();
    assert_eq!(diffs, [("votes.ALPHA", 262, 260), ("votes.BETA", 158, 160)]);
    assert_eq!(c.regions.len(), 2);
    assert_eq!((c.regions[0].matched, c.regions[0].mismatched), (1, 1));
    assert_eq!((c.regions[1].matched, c.regions[1].only_a), (1, 1));

    // Against the party agent: only 01/01/01/0002 was in the sample's copy.
    let d = views::compare(
        &p,
        &na(),
        &official(),
        &agent(),
        tallylog_core::types::Level::National,
        None,
    );
    assert!(d.overall.mismatched >= 1);
}

#[test]
fn every_anomaly_is_flagged_and_the_form_kept() {
    let p = fold(&election());
    let found = |k: AnomalyKind| -> Vec<String> {
        p.anomalies()
            .iter()
            .filter(|a| a.kind == k)
            .map(|a| a.station.to_string())
            .collect()
    };
    // The official slip: valid 320 + invalid 8 = 328, cast 318; votes 310.
    assert_eq!(found(AnomalyKind::CastMismatch), ["02/01/01/0002"]);
    assert_eq!(found(AnomalyKind::ValidMismatch), ["02/01/01/0002"]);
    // The agent's 460 cast at 450 registered, and the implausible
    // correction's 20,000,000.
    assert_eq!(
        found(AnomalyKind::CastAboveRegistered),
        ["02/01/01/0002", "02/01/01/0002"]
    );
    assert_eq!(
        found(AnomalyKind::TurnoutAbove100),
        ["02/01/01/0002", "02/01/01/0002"]
    );
    assert_eq!(found(AnomalyKind::RegisteredMismatch), ["02/01/01/0001"]);
    assert_eq!(found(AnomalyKind::PartyNotOnBallot), ["01/01/01/0001"]);
    assert_eq!(found(AnomalyKind::UnknownStation), ["03/01/01/0001"]);
    assert_eq!(found(AnomalyKind::DuplicateForm), ["02/01/01/0001"]);
    assert_eq!(found(AnomalyKind::UnknownContest), ["01/01/01/0002"]);
    assert_eq!(found(AnomalyKind::ImplausibleFigure), ["02/01/01/0002"]);
    assert_eq!(found(AnomalyKind::DuplicateImage), ["02/01/01/0001"]);
    assert!(
        p.anomalies().iter().all(|a| p.form(&a.event).is_some()),
        "flagged forms are kept"
    );

    // The agent's totals: 01/01/01/0002 [260,160,30]; 02/01/01/0001 the
    // second form [200,350,60]; 01/01/01/0001 [250,200,45]+DELTA 5; the late
    // station 03 [100,100,100]. Not counted: the implausible correction and
    // the unknown contest.
    let nat = p.totals(&na(), &agent(), None).unwrap();
    assert_eq!(nat.stations, 4);
    let v = |party: &str| nat.votes.get(&party.parse().unwrap()).copied().unwrap_or(0);
    assert_eq!(
        (v("ALPHA"), v("BETA"), v("GAMMA"), v("DELTA")),
        (
            260 + 200 + 250 + 100,
            160 + 350 + 200 + 100,
            30 + 60 + 45 + 100,
            5
        )
    );
    assert!(p.totals(&"cc".parse().unwrap(), &agent(), None).is_none());
}

#[test]
fn the_complaints_board_shows_overdue_and_resolved_complaints() {
    let p = fold(&election());
    let b = views::board(&p, t("2023-08-01T00:00:00Z"));
    let statuses: Vec<_> = b.complaints.iter().map(|c| c.complaint.status).collect();
    assert_eq!(statuses, [Status::Resolved, Status::Filed, Status::Final]);
    // Resolution is due 48 hours after filing; only the closed-door counting
    // complaint (filed 07-24 15:00) has none.
    assert_eq!(b.overdue, 1);
    assert!(b.complaints[1].overdue);
    assert_eq!(b.complaints[1].resolution_due, t("2023-07-26T15:00:00Z"));
    assert_eq!(b.complaints[1].age_hours, 7 * 24 + 9);
    assert_eq!(b.unanswered_by_region.get("02"), Some(&1));
    assert_eq!(b.unanswered_by_region.len(), 1);
    // The upheld complaint ordered a recount of 01/01/01/0002, and the
    // recount is linked to it.
    let upheld = &b.complaints[0];
    assert!(!upheld.overdue && !upheld.answered_late);
    assert_eq!(
        upheld.complaint.recounts_ordered,
        ["01/01/01/0002".parse().unwrap()]
    );
    assert_eq!(upheld.complaint.recounts.len(), 1);
    assert!(upheld.complaint.resolution().unwrap().reasoning.is_some());
    // The appeal was decided within its 72 hours.
    let appealed = &b.complaints[2];
    assert_eq!(appealed.complaint.steps.len(), 4);
    assert!(!appealed.overdue);
    // Before the deadline nothing is overdue.
    assert_eq!(views::board(&p, t("2023-07-25T00:00:00Z")).overdue, 0);
}

#[test]
fn seats_follow_the_highest_averages() {
    let p = fold(&election());
    let (_, def) = p.election().unwrap();
    let contest = &def.contests[0];
    let s = views::seats(&p, contest, &official());
    // Province 01 (3 seats): ALPHA 512, BETA 358, GAMMA 80 -> ALPHA 512,
    // BETA 358, ALPHA 256. Province 02 (2 seats): ALPHA 350, BETA 490 ->
    // BETA 490, ALPHA 350.
    assert_eq!(s.len(), 2);
    let won = |i: usize| -> Vec<u32> { s[i].allocation.won.iter().map(|(_, n)| *n).collect() };
    assert_eq!(won(0), [2, 1, 0]);
    assert_eq!(won(1), [1, 1, 0]);
    let order: Vec<_> = s[0]
        .allocation
        .rounds
        .iter()
        .map(|r| (r.party.to_string(), r.divisor))
        .collect();
    assert_eq!(
        order,
        [
            ("ALPHA".to_owned(), 1),
            ("BETA".to_owned(), 1),
            ("ALPHA".to_owned(), 2)
        ]
    );
    let total = views::seat_totals(contest, &s);
    assert_eq!(total.iter().map(|(_, n)| *n).collect::<Vec<_>>(), [3, 2, 0]);
}

#[test]
fn a_certification_is_checked_by_replay() {
    let mut evs = election();
    let before = fold(&evs);
    let mut nec = sample::continue_after_sample(AUTHORITY_KEY);
    let at = t("2023-08-10T00:00:00Z");
    evs.push(
        nec.sign(
            at,
            Payload::Certified(Certified {
                log_size: evs.len() as u64,
                projection: projection_hash(&before),
            }),
        )
        .unwrap(),
    );
    let p = fold(&evs);
    assert_eq!(p.certifications()[0].confirmed, Some(true));

    // A claim with a hash that is not the projection's is caught.
    let mut wrong = projection_hash(&before);
    wrong.0[0] ^= 1;
    evs.push(
        nec.sign(
            at,
            Payload::Certified(Certified {
                log_size: evs.len() as u64,
                projection: wrong,
            }),
        )
        .unwrap(),
    );
    let p = fold(&evs);
    assert_eq!(p.certifications()[1].confirmed, Some(false));
    // And a claim about an earlier size is left for the auditor.
    evs.push(
        nec.sign(
            at,
            Payload::Certified(Certified {
                log_size: 3,
                projection: Digest([0; 32]),
            }),
        )
        .unwrap(),
    );
    assert_eq!(fold(&evs).certifications()[2].confirmed, None);
}

#[test]
fn the_projection_hash_is_a_function_of_the_log() {
    let evs = election();
    let a = projection_hash(&fold(&evs));
    assert_eq!(a, projection_hash(&fold(&evs)));
    // Folding half, cloning (what a restart restores) and folding the rest
    // gives the same state as one pass.
    let mut half = fold(&evs[..evs.len() / 2]);
    let mut resumed = half.clone();
    for (i, ev) in evs.iter().enumerate().skip(evs.len() / 2) {
        resumed
            .apply(LogIndex(i as u64), ev.id(), ev.body().clone())
            .unwrap();
    }
    assert_eq!(projection_hash(&resumed), a);
    // Any prefix hashes differently from the whole: size is in the hash, and
    // so is every form's state.
    assert_ne!(projection_hash(&half), a);
    // Out of order is refused, and changes nothing.
    let h = projection_hash(&half);
    let ev = &evs[evs.len() - 1];
    assert!(half
        .apply(LogIndex(evs.len() as u64 - 1), ev.id(), ev.body().clone())
        .is_err());
    assert_eq!(projection_hash(&half), h);
    let _ = test_key(1);
}

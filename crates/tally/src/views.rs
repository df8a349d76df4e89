//! The views people ask for, computed from a [`Projection`] on demand: tallies
//! at a level, the comparison of two sources station by station, the
//! complaints board at a given moment, seats, and everything about one
//! station. They are derived, not stored, so they can never disagree with the
//! state they are read from; the heavy lifting (totals per region) is kept up
//! to date by the fold.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use tallylog_core::event::{Contest, Deadlines, Kind};
use tallylog_core::types::{
    ContestId, EventId, Level, PartyId, RegionCode, StationCode, Text, Timestamp,
};

use crate::seats::{dhondt, Allocation};
use crate::state::{Complaint, Endorsement, FormVersion, Projection, Source, Status, Totals};

/// One row of a tally: a region (or the whole election) and its totals.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TallyRow {
    /// `None` for the whole election.
    pub region: Option<RegionCode>,
    pub name: Option<Text>,
    /// Stations of the geography in the region; `totals.stations` of them
    /// have a form from the source.
    pub stations: u64,
    pub totals: Totals,
}

/// The regions of a level (within `within`, if given), in code order, each
/// with the source's totals. At station level each row is one station's
/// current form.
pub fn tallies(
    p: &Projection,
    contest: &ContestId,
    source: &Source,
    level: Level,
    within: Option<&RegionCode>,
) -> Vec<TallyRow> {
    if level == Level::National {
        return vec![row(p, contest, source, None)];
    }
    regions_at(p, level, within)
        .into_iter()
        .map(|r| row(p, contest, source, Some(r)))
        .collect()
}

fn row(p: &Projection, contest: &ContestId, source: &Source, r: Option<RegionCode>) -> TallyRow {
    if let Some(code) = r.as_ref().filter(|r| r.level() == Level::Station) {
        let station: StationCode = code
            .as_str()
            .parse()
            .expect("invariant: station-level region codes are station codes");
        let known = p.stations().contains_key(&station);
        let totals = p
            .counted(&(station, contest.clone(), source.clone()))
            .map(|f| Totals::of(&f.form))
            .unwrap_or_default();
        return TallyRow {
            name: None,
            stations: u64::from(known),
            totals,
            region: r,
        };
    }
    TallyRow {
        name: r
            .as_ref()
            .and_then(|r| p.regions().get(r))
            .map(|i| i.name.clone()),
        stations: p.station_count(r.as_ref()),
        totals: p
            .totals(contest, source, r.as_ref())
            .cloned()
            .unwrap_or_default(),
        region: r,
    }
}

/// Every region at a level that the geography names or that holds one of its
/// stations, within `within`.
pub fn regions_at(p: &Projection, level: Level, within: Option<&RegionCode>) -> Vec<RegionCode> {
    let inside = |r: &RegionCode| within.is_none_or(|w| r.within(w));
    let mut out: BTreeSet<RegionCode> = p
        .regions()
        .keys()
        .filter(|r| r.level() == level && inside(r))
        .cloned()
        .collect();
    for s in p.stations().keys() {
        let mut r = Some(s.region().clone());
        while let Some(code) = r {
            if code.level() == level {
                if inside(&code) {
                    out.insert(code);
                }
                break;
            }
            r = code.parent();
        }
    }
    out.into_iter().collect()
}

/// Stations of the geography (within `within`) with no current form from the
/// source in the contest.
pub fn missing(
    p: &Projection,
    contest: &ContestId,
    source: &Source,
    within: Option<&RegionCode>,
) -> Vec<StationCode> {
    p.stations()
        .keys()
        .filter(|s| within.is_none_or(|w| s.region().within(w)))
        .filter(|s| {
            p.current(&((*s).clone(), contest.clone(), source.clone()))
                .is_none()
        })
        .cloned()
        .collect()
}

/// How one station's forms from two sources compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Match,
    Mismatch,
    OnlyA,
    OnlyB,
}

/// One figure that differs between two forms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// `registered`, `cast`, `valid`, `invalid`, or `votes.<party>`.
    pub field: String,
    pub a: u64,
    pub b: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StationComparison {
    pub station: StationCode,
    pub verdict: Verdict,
    pub a: Option<EventId>,
    pub b: Option<EventId>,
    pub differences: Vec<Difference>,
}

/// Counts of verdicts over a region.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MatchRate {
    pub region: Option<RegionCode>,
    pub matched: u64,
    pub mismatched: u64,
    pub only_a: u64,
    pub only_b: u64,
    /// matched / (matched + mismatched): of the stations both sources
    /// published, the share where they agree. `None` when there are none.
    pub match_rate: Option<f64>,
}

impl MatchRate {
    fn add(&mut self, v: Verdict) {
        match v {
            Verdict::Match => self.matched += 1,
            Verdict::Mismatch => self.mismatched += 1,
            Verdict::OnlyA => self.only_a += 1,
            Verdict::OnlyB => self.only_b += 1,
        }
        let both = self.matched + self.mismatched;
        self.match_rate = (both > 0).then(|| self.matched as f64 / both as f64);
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    pub contest: ContestId,
    pub a: Source,
    pub b: Source,
    pub overall: MatchRate,
    /// Per region at the level asked for.
    pub regions: Vec<MatchRate>,
    /// Every station where the sources do not match, in code order.
    pub stations: Vec<StationComparison>,
}

/// Compares the current forms of sources `a` and `b`, station by station,
/// over every station either published (within `within`), with match rates
/// per region at `level`.
pub fn compare(
    p: &Projection,
    contest: &ContestId,
    a: &Source,
    b: &Source,
    level: Level,
    within: Option<&RegionCode>,
) -> Comparison {
    let mut overall = MatchRate::default();
    let mut regions: BTreeMap<Option<RegionCode>, MatchRate> = BTreeMap::new();
    let mut stations = Vec::new();
    for (station, slots) in p.slots() {
        if !within.is_none_or(|w| station.region().within(w)) {
            continue;
        }
        let cur = |s: &Source| {
            slots
                .get(&(contest.clone(), s.clone()))
                .and_then(|slot| slot.current)
                .map(|i| &p.forms()[i])
        };
        let (fa, fb) = (cur(a), cur(b));
        let c = match (fa, fb) {
            (None, None) => continue,
            (Some(fa), None) => one(station, Verdict::OnlyA, Some(fa), None),
            (None, Some(fb)) => one(station, Verdict::OnlyB, None, Some(fb)),
            (Some(fa), Some(fb)) => {
                let differences = differences(fa, fb);
                let v = if differences.is_empty() {
                    Verdict::Match
                } else {
                    Verdict::Mismatch
                };
                StationComparison {
                    differences,
                    ..one(station, v, Some(fa), Some(fb))
                }
            }
        };
        overall.add(c.verdict);
        let region = region_of(station, level);
        regions
            .entry(region.clone())
            .or_insert_with(|| MatchRate {
                region,
                ..Default::default()
            })
            .add(c.verdict);
        if c.verdict != Verdict::Match {
            stations.push(c);
        }
    }
    Comparison {
        contest: contest.clone(),
        a: a.clone(),
        b: b.clone(),
        overall,
        regions: regions.into_values().collect(),
        stations,
    }
}

fn one(
    station: &StationCode,
    verdict: Verdict,
    a: Option<&FormVersion>,
    b: Option<&FormVersion>,
) -> StationComparison {
    StationComparison {
        station: station.clone(),
        verdict,
        a: a.map(|f| f.event),
        b: b.map(|f| f.event),
        differences: Vec::new(),
    }
}

/// The figures that differ between two forms, votes of every party either
/// names (a party one form leaves out has 0 votes on it).
pub fn differences(a: &FormVersion, b: &FormVersion) -> Vec<Difference> {
    let (a, b) = (&a.form, &b.form);
    let mut out = Vec::new();
    for (field, x, y) in [
        ("registered", a.registered, b.registered),
        ("cast", a.cast, b.cast),
        ("valid", a.valid, b.valid),
        ("invalid", a.invalid, b.invalid),
    ] {
        if x != y {
            out.push(Difference {
                field: field.to_owned(),
                a: x,
                b: y,
            });
        }
    }
    let parties: BTreeSet<&PartyId> = a.votes.keys().chain(b.votes.keys()).collect();
    for party in parties {
        let x = a.votes.get(party).copied().unwrap_or(0);
        let y = b.votes.get(party).copied().unwrap_or(0);
        if x != y {
            out.push(Difference {
                field: format!("votes.{party}"),
                a: x,
                b: y,
            });
        }
    }
    out
}

/// The region at `level` that holds a station (`None` at national level).
pub fn region_of(station: &StationCode, level: Level) -> Option<RegionCode> {
    let mut r = Some(station.region().clone());
    while let Some(code) = r {
        if code.level() <= level {
            return Some(code);
        }
        r = code.parent();
    }
    None
}

/// The seats of one constituency from one source's tallies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConstituencySeats {
    pub contest: ContestId,
    pub source: Source,
    pub region: RegionCode,
    pub name: Text,
    /// The constituency's votes per party on the ballot, in ballot order.
    pub votes: Vec<(PartyId, u64)>,
    pub allocation: Allocation,
}

/// Seats in every constituency of a contest, from a source's tallies.
pub fn seats(p: &Projection, contest: &Contest, source: &Source) -> Vec<ConstituencySeats> {
    p.regions()
        .iter()
        .filter(|(code, _)| code.level() == contest.constituency)
        .filter_map(|(code, info)| {
            let n = info.seats.get(&contest.id).copied().filter(|n| *n > 0)?;
            let totals = p.totals(&contest.id, source, Some(code));
            let votes: Vec<(PartyId, u64)> = contest
                .parties
                .iter()
                .map(|party| {
                    let v = totals.and_then(|t| t.votes.get(party)).copied();
                    (party.clone(), v.unwrap_or(0))
                })
                .collect();
            Some(ConstituencySeats {
                contest: contest.id.clone(),
                source: source.clone(),
                region: code.clone(),
                name: info.name.clone(),
                allocation: dhondt(n, &votes),
                votes,
            })
        })
        .collect()
}

/// Seats per party over all constituencies, in ballot order.
pub fn seat_totals(contest: &Contest, seats: &[ConstituencySeats]) -> Vec<(PartyId, u32)> {
    contest
        .parties
        .iter()
        .map(|party| {
            let won = seats
                .iter()
                .flat_map(|c| &c.allocation.won)
                .filter(|(p, _)| p == party)
                .map(|(_, n)| n)
                .sum();
            (party.clone(), won)
        })
        .collect()
}

/// Seats in every contest from every source that has published forms in it.
pub fn all_seats(p: &Projection) -> Vec<ConstituencySeats> {
    let Some((_, def)) = p.election() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for contest in &def.contests {
        for source in p.sources().keys() {
            if p.totals(&contest.id, source, None)
                .is_some_and(|t| t.stations > 0)
            {
                out.extend(seats(p, contest, source));
            }
        }
    }
    out
}

/// A complaint as the board shows it at a given moment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BoardRow {
    #[serde(flatten)]
    pub complaint: Complaint,
    /// Hours from its filing to the board's moment.
    pub age_hours: i64,
    /// Filed after the filing deadline (polls close + filing hours).
    pub filed_late: bool,
    /// When the authority's resolution is due, and whether it is past due
    /// with none (or came late).
    pub resolution_due: Timestamp,
    pub overdue: bool,
    pub answered_late: bool,
    pub appeal_due: Option<Timestamp>,
    pub appeal_decision_due: Option<Timestamp>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Board {
    pub now: Timestamp,
    pub complaints: Vec<BoardRow>,
    pub by_status: BTreeMap<String, u64>,
    pub overdue: u64,
    /// Complaints with no resolution yet, by province ("" for complaints
    /// about the whole election).
    pub unanswered_by_region: BTreeMap<String, u64>,
}

/// The complaints board as it stands at `now` (deadlines from the election
/// definition; a complaint's own times are those its publishers signed).
pub fn board(p: &Projection, now: Timestamp) -> Board {
    let deadlines = p
        .election()
        .map(|(_, def)| (def.polls_close, def.deadlines.clone()));
    let mut out = Board {
        now,
        complaints: Vec::new(),
        by_status: BTreeMap::new(),
        overdue: 0,
        unanswered_by_region: BTreeMap::new(),
    };
    for c in p.complaints() {
        let (close, d) = match &deadlines {
            Some((close, d)) => (*close, d.clone()),
            None => (
                c.filed,
                Deadlines {
                    filing_hours: 0,
                    resolution_hours: 0,
                    appeal_filing_hours: 0,
                    appeal_resolution_hours: 0,
                },
            ),
        };
        let resolution_due = c.filed.plus_hours(d.resolution_hours);
        let resolved = c.resolution().map(|s| s.time);
        let appeal_due = resolved.map(|t| t.plus_hours(d.appeal_filing_hours));
        let appeal_decision_due = c
            .appeal()
            .map(|s| s.time.plus_hours(d.appeal_resolution_hours));
        let unanswered = matches!(
            c.status,
            Status::Filed | Status::Acknowledged | Status::UnderReview
        );
        let overdue = (unanswered && now > resolution_due)
            || (c.status == Status::Appealed && appeal_decision_due.is_some_and(|due| now > due));
        if overdue {
            out.overdue += 1;
        }
        if unanswered {
            let province = c
                .region
                .as_ref()
                .and_then(|r| r.segments().next().map(str::to_owned))
                .unwrap_or_default();
            *out.unanswered_by_region.entry(province).or_default() += 1;
        }
        *out.by_status
            .entry(status_name(c.status).to_owned())
            .or_default() += 1;
        out.complaints.push(BoardRow {
            age_hours: (now.unix() - c.filed.unix()) / 3600,
            filed_late: c.filed > close.plus_hours(d.filing_hours),
            resolution_due,
            overdue,
            answered_late: resolved.is_some_and(|t| t > resolution_due),
            appeal_due,
            appeal_decision_due,
            complaint: c.clone(),
        });
    }
    out
}

pub fn status_name(s: Status) -> &'static str {
    match s {
        Status::Filed => "filed",
        Status::Acknowledged => "acknowledged",
        Status::UnderReview => "under_review",
        Status::Resolved => "resolved",
        Status::Appealed => "appealed",
        Status::Final => "final",
    }
}

/// One version of a form as the station view shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VersionView {
    #[serde(flatten)]
    pub version: FormVersion,
    pub current: bool,
    pub endorsements: Vec<Endorsement>,
}

/// Everything about one station.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StationView {
    pub station: StationCode,
    /// Registered voters per the geography; `None` if it is not in it.
    pub registered: Option<u64>,
    /// Every version of every source's form, in log order.
    pub versions: Vec<VersionView>,
    /// Each other source's current form against the official one, per contest.
    pub comparisons: Vec<StationComparison>,
    pub complaints: Vec<EventId>,
}

pub fn station(p: &Projection, code: &StationCode) -> StationView {
    let mut versions = Vec::new();
    let mut comparisons = Vec::new();
    if let Some(slots) = p.slots().get(code) {
        let mut all: Vec<(usize, bool)> = Vec::new();
        for slot in slots.values() {
            all.extend(slot.versions.iter().map(|&v| (v, slot.current == Some(v))));
        }
        all.sort_unstable();
        for (v, current) in all {
            let version = p.forms()[v].clone();
            versions.push(VersionView {
                endorsements: p.endorsements(&version.event).to_vec(),
                current,
                version,
            });
        }
        for ((contest, official), slot) in slots.iter().filter(|((_, s), _)| s.is_official()) {
            let Some(fa) = slot.current.map(|i| &p.forms()[i]) else {
                continue;
            };
            for ((c2, other), slot2) in slots {
                if c2 != contest || other == official {
                    continue;
                }
                if let Some(fb) = slot2.current.map(|i| &p.forms()[i]) {
                    let d = differences(fa, fb);
                    let verdict = if d.is_empty() {
                        Verdict::Match
                    } else {
                        Verdict::Mismatch
                    };
                    comparisons.push(StationComparison {
                        differences: d,
                        ..one(code, verdict, Some(fa), Some(fb))
                    });
                }
            }
        }
    }
    let complaints = p
        .complaints()
        .filter(|c| {
            c.region.as_ref().is_some_and(|r| code.region().within(r))
                || c.refs
                    .iter()
                    .any(|r| p.form(r).is_some_and(|f| &f.form.station == code))
                || c.recounts_ordered.contains(code)
        })
        .map(|c| c.event)
        .collect();
    StationView {
        station: code.clone(),
        registered: p.stations().get(code).copied(),
        versions,
        comparisons,
        complaints,
    }
}

/// The official source: the authority's organisation (the first, should an
/// election have several).
pub fn official(p: &Projection) -> Option<&Source> {
    p.sources().keys().find(|s| s.is_official())
}

/// Whether a form kind is one of the three that carry a result form.
pub fn is_form(kind: Kind) -> bool {
    matches!(kind, Kind::Result | Kind::Correction | Kind::Recount)
}

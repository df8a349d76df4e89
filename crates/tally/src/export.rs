//! One source's results in two formats that other election tools already
//! read, so that journalists, observers and results sites can load tallylog's
//! figures without learning its JSON: the NIST SP 1500-100 version 2 Election
//! Results Reporting common data format (JSON), and the precinct-level CSV
//! layout of the OpenElections project.
//!
//! Both are pure functions of a [`Projection`] and a [`Source`]: no clock (the
//! caller passes the report's time), no I/O, and the same projection always
//! gives the same bytes. Both export exactly what the tallies count: at each
//! station of the geography, the source's current form (a correction or a
//! recount replaces the version it supersedes), unless the fold keeps it out
//! of the totals (a figure above [`MAX_FIGURE`](crate::state::MAX_FIGURE)).
//! Forms for stations outside the published geography are not exported, as
//! they are not counted. A source with no forms gives a valid document with no
//! counts in it.
//!
//! # NIST SP 1500-100 v2 (`ElectionResults.ElectionReport`)
//!
//! Field names, `@type` values and enumerations are those of the version 2
//! JSON schema (`NIST_V2_election_results_reporting.json` in
//! usnistgov/ElectionResultsReporting), in which every object carries its
//! `@type` and contests hold `ContestSelection` and `ElectionDistrictId`.
//!
//! | tallylog | NIST |
//! |---|---|
//! | the export | `ElectionReport`: `Format` `precinct-level`; `SequenceStart` = `SequenceEnd` = 1; `GeneratedDate` from the caller; `VendorApplicationId` `tallylog-tally <version>`; `Notes` say which source and how many log entries |
//! | the source | `Issuer` = its organisation's name |
//! | election id | `IssuerAbbreviation` (the schema's "abbreviation of the jurisdiction whose results are reported"), and an `ExternalIdentifier` of the `Election` |
//! | report status | `Status`: `certified` for the official source when a certification was confirmed by replay and the source published no form after the log size it certifies; else `unofficial-complete` when every station of the geography has a counted form in every contest; else `unofficial-partial` |
//! | election definition | one `Election`: `Name`, `Type` `general`, `StartDate` = `EndDate` = the UTC date of the close of polls, `ElectionScopeId` the whole-election unit |
//! | the whole election | a `ReportingUnit` of `Type` `country`, `@id` `election-scope` |
//! | province, district, commune | `ReportingUnit`s of `Type` `other`, `OtherType` `province` / `district` / `commune`, named as the geography names them |
//! | polling station | a `ReportingUnit` of `Type` `precinct` |
//! | region or station code | `ExternalIdentifier` (`Type` `other`, `OtherType` `tallylog-region-code`) of its unit; the hierarchy in `ComposingGpUnitIds` |
//! | registered voters (geography) | `VotersRegistered` of every unit (sums over its stations) |
//! | party | `Party`: `Name` its name, `Abbreviation` its id |
//! | contest | `PartyContest`: `Name`, `Abbreviation` its id, `VoteVariation` `proportional` (D'Hondt), `ElectionDistrictId` the whole-election unit, `SequenceOrder` its place in the definition, `SubUnitsReported` / `TotalSubUnits` stations counted / stations in the geography |
//! | party on a contest's ballot | `PartySelection` with `PartyIds` [the party] and `SequenceOrder` its ballot position |
//! | votes | `VoteCounts` of `Type` `total`, one per unit with at least one counted form: the whole election, every province, district and commune (sums, as the tallies give them) and every station (its form). Sum one level only, or votes are counted more than once |
//! | seats | `VoteCounts` of `Type` `seats` (the schema's count for "legislative balance-of-power results") with `GpUnitId` the constituency: the D'Hondt allocation of [`views::seats`] over this source's figures, for constituencies where it has counted forms. They are computed, not declared |
//! | ballots cast, invalid ballots | `Election.BallotCounts` (`Type` `total`) per unit: `BallotsCast`, and `BallotsRejected` for the invalid (spoilt) ballots. Only when the election has one contest: `BallotCounts` name no contest, and each contest has its own form |
//!
//! `@id`s are XML NCNames, as the schema's references are `IDREF`s: `party-`
//! and the party id, `contest-` and the contest id, `selection-` and
//! `<contest>.<party>`, `gpu-` and the region code with `/` written as `.`
//! (codes never contain a `.`, so no two codes give the same id). Text whose
//! language the definition does not say is an `InternationalizedText` in the
//! language `und` (undetermined, BCP 47).
//!
//! Left out: candidates, offices, ballot styles, contact information, counts
//! by voting method or device (a form has one total), over- and undervotes (a
//! form does not break invalid ballots down), votes for parties that are not
//! on a contest's ballot (they stay in the ballots cast; the CSV has them),
//! complaints, anomalies and other sources' figures.
//!
//! # OpenElections CSV
//!
//! OpenElections publishes results "long": one result per row, under the
//! header `county,precinct,office,district,party,candidate,votes`, with the
//! pseudo-offices `Registered Voters` and `Ballots Cast` (party and candidate
//! empty) and contest-level figures such as `Over Votes` in the candidate
//! column. The export keeps those seven columns with their OpenElections
//! meaning and adds the levels OpenElections has no column for. Its header is
//!
//! ```text
//! province,county,commune,precinct,office,district,party,candidate,votes,source
//! ```
//!
//! | column | value |
//! |---|---|
//! | `province` | the province's name |
//! | `county` | the district's name: the level OpenElections calls county (it puts parishes and towns there too). Not `district`, which in OpenElections is the office's electoral district |
//! | `commune` | the commune's name |
//! | `precinct` | the station code, which also names its province, district and commune |
//! | `office` | the contest's name, or `Registered Voters` / `Ballots Cast` |
//! | `district` | the station's constituency for the contest (the region code at the contest's constituency level); empty on the pseudo-office rows and for an election-wide constituency |
//! | `party` | the party id |
//! | `candidate` | the party's name (in a party-list contest the party is the choice, as on OpenElections' `Straight Party` rows), or `Invalid Ballots` |
//! | `votes` | the figure |
//! | `source` | who published the form, e.g. `authority:National Election Committee`, so that exports of several sources can be concatenated and compared |
//!
//! A file covers one contest, so that the `Registered Voters` and `Ballots
//! Cast` rows, which come from that contest's form, are never ambiguous. Each
//! counted station, in station code order, gives: `Registered Voters`, `Ballots
//! Cast`, one row per party on the ballot in ballot order, one row per other
//! party the form gives votes to (in id order), and `Invalid Ballots`. A
//! region's name is empty where the geography does not name it.
//!
//! Fields are quoted as RFC 4180 says: a field holding a comma, a double
//! quote, CR or LF is put in double quotes, with its double quotes doubled.
//! Lines end in CRLF (RFC 4180 §2). The text is UTF-8 without a byte-order
//! mark; names stay as the definition writes them (Khmer included).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::Serialize;
use tallylog_core::event::{Contest, ElectionDef, SeatFormula};
use tallylog_core::types::{
    ContestId, ElectionId, Level, PartyId, RegionCode, StationCode, Timestamp,
};

use crate::state::{FormVersion, Projection, Source};
use crate::views;

/// Why an export could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    #[error("the log has no election definition yet: export after its first entry (the election) is folded")]
    NoElection,
    #[error("contest {0} is not defined in this election: choose one of the contests its definition lists")]
    UnknownContest(ContestId),
}

/// The source's results as a NIST SP 1500-100 v2 `ElectionReport` (JSON, one
/// line, ending in a newline), generated at `generated`. See the module
/// documentation for what goes where.
pub fn nist_json(
    p: &Projection,
    source: &Source,
    generated: Timestamp,
) -> Result<String, ExportError> {
    let (election, def) = p.election().ok_or(ExportError::NoElection)?;
    let contests = unique_contests(def);
    let geo = Geo::of(p);

    let mut parties: Vec<Party> = Vec::new();
    let mut seen: HashSet<&PartyId> = HashSet::new();
    let ballot_only = contests
        .iter()
        .flat_map(|c| &c.parties)
        .map(|id| (id, id.as_str()));
    for (id, name) in def
        .parties
        .iter()
        .map(|party| (&party.id, party.name.as_str()))
        .chain(ballot_only)
    {
        // Every party a selection names gets a `Party` (a ballot may name one
        // the definition's list lacks), and each only once.
        if seen.insert(id) {
            parties.push(Party {
                ty: "ElectionResults.Party",
                id: party_id(id),
                name: text(name),
                abbreviation: text(id.as_str()),
            });
        }
    }

    let mut contest_objects = Vec::new();
    let mut ballot_counts = Vec::new();
    for (i, c) in contests.iter().enumerate() {
        let figures = figures(p, source, &geo, c);
        // `BallotCounts` name no contest, so they are given only when there
        // is one contest whose form they can come from.
        if contests.len() == 1 {
            ballot_counts = geo
                .units
                .iter()
                .zip(&figures)
                .filter_map(|(u, f)| {
                    let f = f.as_ref()?;
                    Some(BallotCounts {
                        ty: "ElectionResults.BallotCounts",
                        gp_unit_id: u.id.clone(),
                        kind: "total",
                        ballots_cast: f.cast,
                        ballots_rejected: f.invalid,
                    })
                })
                .collect();
        }
        contest_objects.push(party_contest(p, source, &geo, c, &figures, i + 1));
    }

    let gp_units: Vec<ReportingUnit> = geo
        .units
        .iter()
        .map(|u| {
            let (kind, other_type) = match &u.code {
                UnitCode::Election => ("country", None),
                UnitCode::Station(_) => ("precinct", None),
                UnitCode::Region(r) => (
                    "other",
                    Some(match r.level() {
                        Level::Province => "province",
                        Level::District => "district",
                        _ => "commune",
                    }),
                ),
            };
            let code = match &u.code {
                UnitCode::Election => None,
                UnitCode::Region(r) => Some(r.as_str()),
                UnitCode::Station(s) => Some(s.as_str()),
            };
            ReportingUnit {
                ty: "ElectionResults.ReportingUnit",
                id: u.id.clone(),
                composing_gp_unit_ids: geo.children.get(&u.id).cloned().unwrap_or_default(),
                external_identifier: code
                    .map(|c| {
                        vec![ExternalIdentifier {
                            ty: "ElectionResults.ExternalIdentifier",
                            other_type: "tallylog-region-code",
                            kind: "other",
                            value: c.to_owned(),
                        }]
                    })
                    .unwrap_or_default(),
                name: u.name.map(text),
                other_type,
                kind,
                voters_registered: u.registered,
            }
        })
        .collect();

    let date = utc_date(def.polls_close);
    let report = ElectionReport {
        ty: "ElectionResults.ElectionReport",
        format: "precinct-level",
        generated_date: generated.to_string(),
        issuer: source.org.as_str().to_owned(),
        issuer_abbreviation: election.as_str().to_owned(),
        notes: notes(p, election, source),
        sequence_start: 1,
        sequence_end: 1,
        status: status(p, &contests, source),
        vendor_application_id: concat!("tallylog-tally ", env!("CARGO_PKG_VERSION")),
        party: parties,
        gp_unit: gp_units,
        election: vec![Election {
            ty: "ElectionResults.Election",
            name: text(def.name.as_str()),
            kind: "general",
            start_date: date.clone(),
            end_date: date,
            election_scope_id: ELECTION_SCOPE,
            external_identifier: vec![ExternalIdentifier {
                ty: "ElectionResults.ExternalIdentifier",
                other_type: "tallylog-election-id",
                kind: "other",
                value: election.as_str().to_owned(),
            }],
            ballot_counts,
            contest: contest_objects,
        }],
    };
    let mut out =
        serde_json::to_string(&report).expect("invariant: the report has only string keys");
    out.push('\n');
    Ok(out)
}

/// The source's results in one contest as an OpenElections-style precinct
/// CSV. See the module documentation for the columns and rows.
pub fn openelections_csv(
    p: &Projection,
    source: &Source,
    contest: &ContestId,
) -> Result<String, ExportError> {
    let (_, def) = p.election().ok_or(ExportError::NoElection)?;
    let contest = def
        .contests
        .iter()
        .find(|c| &c.id == contest)
        .ok_or_else(|| ExportError::UnknownContest(contest.clone()))?;
    let mut names: HashMap<&PartyId, &str> = HashMap::new();
    for party in &def.parties {
        names.entry(&party.id).or_insert(party.name.as_str());
    }
    let ballot = unique(&contest.parties);
    let on_ballot: HashSet<&PartyId> = ballot.iter().copied().collect();
    let region_name = |code: Option<RegionCode>| -> &str {
        code.and_then(|c| p.regions().get(&c))
            .map_or("", |info| info.name.as_str())
    };
    let source_name = source.to_string();

    let mut out = String::new();
    push_row(&mut out, &CSV_HEADER);
    for station in p.stations().keys() {
        let Some(f) = counted(p, station, &contest.id, source) else {
            continue;
        };
        let f = &f.form;
        let province = region_name(views::region_of(station, Level::Province));
        let county = region_name(views::region_of(station, Level::District));
        let commune = region_name(views::region_of(station, Level::Commune));
        let district = views::region_of(station, contest.constituency);
        let district = district.as_ref().map_or("", RegionCode::as_str);
        let mut row = |office: &str, district: &str, party: &str, candidate: &str, votes: u64| {
            let votes = votes.to_string();
            push_row(
                &mut out,
                &[
                    province,
                    county,
                    commune,
                    station.as_str(),
                    office,
                    district,
                    party,
                    candidate,
                    &votes,
                    &source_name,
                ],
            );
        };
        row("Registered Voters", "", "", "", f.registered);
        row("Ballots Cast", "", "", "", f.cast);
        for party in &ballot {
            let votes = f.votes.get(*party).copied().unwrap_or(0);
            let name = names.get(party).copied().unwrap_or(party.as_str());
            row(contest.name.as_str(), district, party.as_str(), name, votes);
        }
        // Votes for a party not on the ballot are an anomaly the fold flags,
        // but they are on the form and in its valid ballots: kept, after the
        // ballot, so that the party rows still add up to the valid ballots.
        for (party, votes) in &f.votes {
            if !on_ballot.contains(party) && *votes > 0 {
                let name = names.get(party).copied().unwrap_or(party.as_str());
                row(
                    contest.name.as_str(),
                    district,
                    party.as_str(),
                    name,
                    *votes,
                );
            }
        }
        row(
            contest.name.as_str(),
            district,
            "",
            "Invalid Ballots",
            f.invalid,
        );
    }
    Ok(out)
}

/// The CSV export's header.
pub const CSV_HEADER: [&str; 10] = [
    "province",
    "county",
    "commune",
    "precinct",
    "office",
    "district",
    "party",
    "candidate",
    "votes",
    "source",
];

const ELECTION_SCOPE: &str = "election-scope";

fn counted<'a>(
    p: &'a Projection,
    station: &StationCode,
    contest: &ContestId,
    source: &Source,
) -> Option<&'a FormVersion> {
    p.counted(&(station.clone(), contest.clone(), source.clone()))
}

/// The source's totals in a region, if it has counted a form there. The fold
/// keeps a region's entry when its last form is taken back out, so an entry
/// with no stations counts as none.
fn region_totals<'a>(
    p: &'a Projection,
    contest: &ContestId,
    source: &Source,
    region: Option<&RegionCode>,
) -> Option<&'a crate::state::Totals> {
    p.totals(contest, source, region).filter(|t| t.stations > 0)
}

/// The report's status, as the module documentation defines it.
fn status(p: &Projection, contests: &[&Contest], source: &Source) -> &'static str {
    if source.is_official() {
        // A certification vouches for the figures of the log up to its size;
        // a form the source published after it may have changed them.
        let last_form = p
            .forms()
            .iter()
            .filter(|f| f.source.as_ref() == Some(source))
            .map(|f| f.index.0)
            .max();
        let certified = p
            .certifications()
            .iter()
            .any(|c| c.confirmed == Some(true) && last_form.is_none_or(|last| last < c.log_size));
        if certified {
            return "certified";
        }
    }
    let stations = p.station_count(None);
    let complete = stations > 0
        && contests
            .iter()
            .all(|c| region_totals(p, &c.id, source, None).is_some_and(|t| t.stations == stations));
    if complete {
        "unofficial-complete"
    } else {
        "unofficial-partial"
    }
}

fn notes(p: &Projection, election: &ElectionId, source: &Source) -> String {
    format!(
        "Results published by {source} in the tallylog log of election {election}, \
         as of its first {} entries: at each polling station, the source's current form \
         (corrections and recounts replace the versions they supersede). Region counts are \
         sums of station counts. Seats are D'Hondt allocations computed from these figures, \
         not declared results.",
        p.size()
    )
}

/// `YYYY-MM-DD` of a time, in UTC.
fn utc_date(t: Timestamp) -> String {
    t.to_string()[..10].to_owned()
}

fn party_contest(
    p: &Projection,
    source: &Source,
    geo: &Geo,
    c: &Contest,
    figures: &[Option<Figures>],
    order: usize,
) -> PartyContest {
    let vote_variation = match c.formula {
        SeatFormula::Dhondt => "proportional",
    };
    // Seats per party and constituency, where the source has counted forms.
    let mut seats: HashMap<&PartyId, Vec<VoteCounts>> = HashMap::new();
    let allocations = views::seats(p, c, source);
    for a in &allocations {
        let id = gpu_id(a.region.as_str());
        if !geo.ids.contains(&id) || region_totals(p, &c.id, source, Some(&a.region)).is_none() {
            continue;
        }
        for (party, won) in &a.allocation.won {
            seats.entry(party).or_default().push(VoteCounts {
                ty: "ElectionResults.VoteCounts",
                count: u64::from(*won),
                gp_unit_id: id.clone(),
                kind: "seats",
            });
        }
    }
    let selections = unique(&c.parties)
        .into_iter()
        .enumerate()
        .map(|(i, party)| {
            let mut counts: Vec<VoteCounts> = geo
                .units
                .iter()
                .zip(figures)
                .filter_map(|(u, f)| {
                    Some(VoteCounts {
                        ty: "ElectionResults.VoteCounts",
                        gp_unit_id: u.id.clone(),
                        kind: "total",
                        count: f.as_ref()?.votes.get(party).copied().unwrap_or(0),
                    })
                })
                .collect();
            counts.extend(seats.remove(party).unwrap_or_default());
            PartySelection {
                ty: "ElectionResults.PartySelection",
                id: format!("selection-{}.{}", c.id, party),
                party_ids: vec![party_id(party)],
                sequence_order: i + 1,
                vote_counts: counts,
            }
        })
        .collect();
    PartyContest {
        ty: "ElectionResults.PartyContest",
        id: format!("contest-{}", c.id),
        name: c.name.as_str().to_owned(),
        abbreviation: c.id.as_str().to_owned(),
        election_district_id: ELECTION_SCOPE,
        sequence_order: order,
        sub_units_reported: region_totals(p, &c.id, source, None).map_or(0, |t| t.stations),
        total_sub_units: p.station_count(None),
        vote_variation,
        contest_selection: selections,
    }
}

/// What a unit counts in a contest.
struct Figures<'a> {
    cast: u64,
    invalid: u64,
    votes: &'a BTreeMap<PartyId, u64>,
}

/// Each unit's figures from the source in a contest, in the order of
/// `geo.units`: a station's counted form, a region's totals. `None` where the
/// source has counted no form.
fn figures<'a>(
    p: &'a Projection,
    source: &Source,
    geo: &Geo,
    c: &Contest,
) -> Vec<Option<Figures<'a>>> {
    let of_totals = |t: &'a crate::state::Totals| Figures {
        cast: t.cast,
        invalid: t.invalid,
        votes: &t.votes,
    };
    geo.units
        .iter()
        .map(|u| match &u.code {
            UnitCode::Station(s) => counted(p, s, &c.id, source).map(|f| Figures {
                cast: f.form.cast,
                invalid: f.form.invalid,
                votes: &f.form.votes,
            }),
            UnitCode::Region(r) => region_totals(p, &c.id, source, Some(r)).map(of_totals),
            UnitCode::Election => region_totals(p, &c.id, source, None).map(of_totals),
        })
        .collect()
}

/// The contests of the definition, each id once (the first wins), so that no
/// two objects get the same `@id`.
fn unique_contests(def: &ElectionDef) -> Vec<&Contest> {
    let mut seen = HashSet::new();
    def.contests.iter().filter(|c| seen.insert(&c.id)).collect()
}

/// A ballot's parties, each once, at its first position.
fn unique(ballot: &[PartyId]) -> Vec<&PartyId> {
    let mut seen = HashSet::new();
    ballot.iter().filter(|p| seen.insert(*p)).collect()
}

fn party_id(p: &PartyId) -> String {
    format!("party-{p}")
}

fn gpu_id(code: &str) -> String {
    format!("gpu-{}", code.replace('/', "."))
}

fn text(s: &str) -> IText<'_> {
    IText {
        ty: "ElectionResults.InternationalizedText",
        text: [LanguageString {
            ty: "ElectionResults.LanguageString",
            content: s,
            language: "und",
        }],
    }
}

/// What a unit of the report stands for.
enum UnitCode {
    Election,
    Region(RegionCode),
    Station(StationCode),
}

struct Unit<'a> {
    id: String,
    code: UnitCode,
    name: Option<&'a str>,
    registered: u64,
}

/// The reporting units: the whole election, then every region of the
/// geography (named, or holding a station) and every station, in code order.
struct Geo<'a> {
    units: Vec<Unit<'a>>,
    ids: HashSet<String>,
    /// The ids of each unit's units one level down.
    children: HashMap<String, Vec<String>>,
}

impl<'a> Geo<'a> {
    fn of(p: &'a Projection) -> Geo<'a> {
        let mut regions: BTreeSet<RegionCode> = BTreeSet::new();
        for level in [Level::Province, Level::District, Level::Commune] {
            regions.extend(views::regions_at(p, level, None));
        }
        // Registered voters of the geography, summed over each region's
        // stations.
        let mut registered: HashMap<RegionCode, u64> = HashMap::new();
        let mut total = 0u64;
        for (station, n) in p.stations() {
            total = total.saturating_add(*n);
            let mut r = station.region().parent();
            while let Some(code) = r {
                r = code.parent();
                let sum = registered.entry(code).or_default();
                *sum = sum.saturating_add(*n);
            }
        }

        // Regions and stations in code order, each with its parent.
        let mut coded: BTreeMap<&str, (Unit<'a>, Option<RegionCode>)> = BTreeMap::new();
        for r in &regions {
            let unit = Unit {
                id: gpu_id(r.as_str()),
                code: UnitCode::Region(r.clone()),
                name: p.regions().get(r).map(|i| i.name.as_str()),
                registered: registered.get(r).copied().unwrap_or(0),
            };
            coded.insert(r.as_str(), (unit, r.parent()));
        }
        for (s, n) in p.stations() {
            let unit = Unit {
                id: gpu_id(s.as_str()),
                code: UnitCode::Station(s.clone()),
                name: None,
                registered: *n,
            };
            coded.insert(s.as_str(), (unit, s.region().parent()));
        }
        let mut units = vec![Unit {
            id: ELECTION_SCOPE.to_owned(),
            code: UnitCode::Election,
            name: None,
            registered: total,
        }];
        let mut children: HashMap<String, Vec<String>> = HashMap::new();
        for (unit, parent) in coded.into_values() {
            let parent = match parent {
                None => Some(ELECTION_SCOPE.to_owned()),
                // A named region whose parent is neither named nor holds a
                // station has no unit to belong to; it stands on its own.
                Some(r) => regions.contains(&r).then(|| gpu_id(r.as_str())),
            };
            if let Some(parent) = parent {
                children.entry(parent).or_default().push(unit.id.clone());
            }
            units.push(unit);
        }
        let ids = units.iter().map(|u| u.id.clone()).collect();
        Geo {
            units,
            ids,
            children,
        }
    }
}

fn push_row(out: &mut String, fields: &[&str]) {
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if field.contains([',', '"', '\r', '\n']) {
            out.push('"');
            out.push_str(&field.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(field);
        }
    }
    out.push_str("\r\n");
}

// The report's objects, with the schema's field names. Fields are in the
// order a reader wants them (identity first, long lists last); the schema
// does not order them.

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ElectionReport<'a> {
    #[serde(rename = "@type")]
    ty: &'static str,
    format: &'static str,
    generated_date: String,
    issuer: String,
    issuer_abbreviation: String,
    notes: String,
    sequence_start: u32,
    sequence_end: u32,
    status: &'static str,
    vendor_application_id: &'static str,
    party: Vec<Party<'a>>,
    gp_unit: Vec<ReportingUnit<'a>>,
    election: Vec<Election<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Party<'a> {
    #[serde(rename = "@type")]
    ty: &'static str,
    #[serde(rename = "@id")]
    id: String,
    name: IText<'a>,
    abbreviation: IText<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ReportingUnit<'a> {
    #[serde(rename = "@type")]
    ty: &'static str,
    #[serde(rename = "@id")]
    id: String,
    #[serde(rename = "Type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    other_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<IText<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    external_identifier: Vec<ExternalIdentifier>,
    voters_registered: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    composing_gp_unit_ids: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ExternalIdentifier {
    #[serde(rename = "@type")]
    ty: &'static str,
    #[serde(rename = "Type")]
    kind: &'static str,
    other_type: &'static str,
    value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Election<'a> {
    #[serde(rename = "@type")]
    ty: &'static str,
    name: IText<'a>,
    #[serde(rename = "Type")]
    kind: &'static str,
    start_date: String,
    end_date: String,
    election_scope_id: &'static str,
    external_identifier: Vec<ExternalIdentifier>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ballot_counts: Vec<BallotCounts>,
    contest: Vec<PartyContest>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct BallotCounts {
    #[serde(rename = "@type")]
    ty: &'static str,
    gp_unit_id: String,
    #[serde(rename = "Type")]
    kind: &'static str,
    ballots_cast: u64,
    ballots_rejected: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PartyContest {
    #[serde(rename = "@type")]
    ty: &'static str,
    #[serde(rename = "@id")]
    id: String,
    name: String,
    abbreviation: String,
    election_district_id: &'static str,
    vote_variation: &'static str,
    sequence_order: usize,
    sub_units_reported: u64,
    total_sub_units: u64,
    contest_selection: Vec<PartySelection>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PartySelection {
    #[serde(rename = "@type")]
    ty: &'static str,
    #[serde(rename = "@id")]
    id: String,
    party_ids: Vec<String>,
    sequence_order: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    vote_counts: Vec<VoteCounts>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct VoteCounts {
    #[serde(rename = "@type")]
    ty: &'static str,
    gp_unit_id: String,
    #[serde(rename = "Type")]
    kind: &'static str,
    count: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct IText<'a> {
    #[serde(rename = "@type")]
    ty: &'static str,
    text: [LanguageString<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct LanguageString<'a> {
    #[serde(rename = "@type")]
    ty: &'static str,
    content: &'a str,
    language: &'static str,
}

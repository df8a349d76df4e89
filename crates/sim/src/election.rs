//! A simulated election, the same bytes every time for a size and a seed.
//!
//! The projector, the gateway and the benchmarks need elections of real size
//! with real mess in them: observer copies that disagree with the official
//! figures, official forms that do not add up, corrections, complaints at
//! every stage of their lifecycle, recounts, appeals, and complaints nobody
//! answered. Hand-written samples cannot be that big, and random ones cannot be
//! compared between runs, so everything here is a pure function of
//! `(size, seed)`: the keys, the geography, every figure, every time, and so
//! every signed byte. Every event is one the rules accept, in the order given.
//!
//! Randomness comes from SplitMix64 streams derived from the seed, a stream
//! name and an index (a station, a province), so a station's figures do not
//! depend on the order in which anything else was drawn. Only integer
//! arithmetic touches the figures, so the bytes are the same on every platform.
//!
//! The keys are derived from public strings: anyone can sign as these
//! simulated publishers. They are for simulation and testing only, never for
//! a real election.
//!
//! The log ends before certification: a `certified` event names the hash of
//! the projection, which the projector computes, so whoever runs both appends
//! it.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::fmt;
use std::ops::ControlFlow;
use std::str::FromStr;

use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tallylog_core::entry::{Entry, GENESIS_PREV};
use tallylog_core::event::{
    ComplaintAppealDecided, ComplaintAppealed, ComplaintCategory, ComplaintFiled,
    ComplaintResolved, ComplaintStep, Contest, Correction, Deadlines, ElectionDef, Geography,
    KeyRegister, LogRef, Outcome, Party, Payload, Recount, Region, ResultForm, Role, SeatFormula,
    Station, VerifiedEvent,
};
use tallylog_core::publisher::Publisher;
use tallylog_core::types::{
    ContestId, Digest, ElectionId, EventId, Level, LogIndex, Origin, PartyId, RegionCode,
    StationCode, Text, Timestamp,
};

/// The sizes of election the simulator knows, after the countries whose
/// numbers they borrow (DOMAIN.md, "Sizes to design for").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Size {
    /// Forty stations: for tests.
    Tiny,
    /// About 23,800 stations, 125 seats.
    Cambodia,
    /// About 176,800 polling units, 360 seats.
    Nigeria,
    /// About 820,000 polling stations, 580 seats.
    Indonesia,
}

impl Size {
    pub const ALL: [Size; 4] = [Size::Tiny, Size::Cambodia, Size::Nigeria, Size::Indonesia];

    /// The lowercase name, as parsed and as used in election ids.
    pub fn name(self) -> &'static str {
        match self {
            Size::Tiny => "tiny",
            Size::Cambodia => "cambodia",
            Size::Nigeria => "nigeria",
            Size::Indonesia => "indonesia",
        }
    }

    /// How big the election is and who takes part.
    pub fn spec(self) -> Spec {
        let close = |s: &str| -> Timestamp { s.parse().expect("invariant: fixed times are valid") };
        match self {
            Size::Tiny => Spec {
                provinces: 2,
                districts: 4,
                communes: 8,
                stations: 40,
                registered_min: 300,
                registered_max: 800,
                parties: 5,
                seats: 10,
                observers: 2,
                party_agents: 2,
                complaints: 8,
                polls_close: close("2028-07-23T08:00:00Z"),
            },
            // Cambodia: 25 provinces, about 200 districts, 1,650 communes,
            // 23,800 stations, 18 parties on the 2023 ballot, 125 seats.
            Size::Cambodia => Spec {
                provinces: 25,
                districts: 200,
                communes: 1_650,
                stations: 23_800,
                registered_min: 300,
                registered_max: 800,
                parties: 18,
                seats: 125,
                observers: 3,
                party_agents: 4,
                complaints: 320,
                polls_close: close("2028-07-23T08:00:00Z"),
            },
            // Nigeria 2023: 36 states and the capital territory, 774 local
            // government areas, 8,809 wards, 176,846 polling units, 18 parties,
            // 360 seats in the House of Representatives.
            Size::Nigeria => Spec {
                provinces: 37,
                districts: 774,
                communes: 8_809,
                stations: 176_846,
                registered_min: 300,
                registered_max: 800,
                parties: 18,
                seats: 360,
                observers: 4,
                party_agents: 6,
                complaints: 2_400,
                polls_close: close("2027-02-20T13:30:00Z"),
            },
            // Indonesia 2024: 38 provinces, 514 regencies and cities, 7,277
            // subdistricts, 820,161 polling stations of at most 300 voters, 18
            // national parties, 580 seats in the DPR.
            Size::Indonesia => Spec {
                provinces: 38,
                districts: 514,
                communes: 7_277,
                stations: 820_161,
                registered_min: 150,
                registered_max: 300,
                parties: 18,
                seats: 580,
                observers: 4,
                party_agents: 8,
                complaints: 9_000,
                polls_close: close("2029-02-14T06:00:00Z"),
            },
        }
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A size name that is not one of [`Size::ALL`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownSize(pub String);

impl fmt::Display for UnknownSize {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "unknown election size {:?}: use tiny, cambodia, nigeria or indonesia",
            self.0
        )
    }
}

impl std::error::Error for UnknownSize {}

impl FromStr for Size {
    type Err = UnknownSize;
    fn from_str(s: &str) -> Result<Size, UnknownSize> {
        Size::ALL
            .into_iter()
            .find(|size| size.name() == s)
            .ok_or_else(|| UnknownSize(s.to_owned()))
    }
}

/// The numbers of an election: totals per level (spread unevenly over their
/// parents), parties, seats and publishers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spec {
    pub provinces: u32,
    pub districts: u32,
    pub communes: u32,
    pub stations: u32,
    /// Registered voters per station, drawn evenly from this range.
    pub registered_min: u32,
    pub registered_max: u32,
    pub parties: u32,
    /// National Assembly seats, shared over the provinces.
    pub seats: u32,
    /// Observer organisations, one key each.
    pub observers: u32,
    /// Parties with agents copying forms, one key each (the leading parties).
    pub party_agents: u32,
    pub complaints: u32,
    pub polls_close: Timestamp,
}

impl Spec {
    /// Stations where some observer's copy differs from the official form:
    /// 7%, rounded (the 2017 Situation Room matched 93.1%).
    pub fn disagreeing_stations(&self) -> u32 {
        per_mille(self.stations, 70)
    }
    /// Official forms whose arithmetic is wrong: 0.5%, rounded, at least one.
    pub fn arithmetic_errors(&self) -> u32 {
        per_mille(self.stations, 5).max(1)
    }
    /// How many of those the authority corrects: half, rounded up.
    pub fn corrections(&self) -> u32 {
        self.arithmetic_errors().div_ceil(2)
    }
    /// Complaints about a disagreeing station; the rest concern a region or
    /// the whole election.
    pub fn mismatch_complaints(&self) -> u32 {
        (self.complaints * 3 / 4).min(self.disagreeing_stations())
    }
}

fn per_mille(n: u32, rate: u64) -> u32 {
    u32::try_from((u64::from(n) * rate + 500) / 1000).expect("invariant: a share of a u32 fits")
}

/// The keys and names of one simulated election. The keys are public (see
/// the module documentation): never use them for anything real.
pub struct Participants {
    /// Signs the definition, the geography and the key registrations.
    pub root_key: SigningKey,
    /// The log's checkpoint key, named in the definition.
    pub log_key: SigningKey,
    pub origin: Origin,
    pub election: ElectionId,
    /// The publishers' keys by name: `authority`, `observer-1`..,
    /// `party-<PARTY>`, in the order they are registered.
    pub keys: Vec<(String, SigningKey)>,
}

/// A whole simulated election held in memory.
pub struct Generated {
    pub root_key: SigningKey,
    pub log_key: SigningKey,
    pub origin: Origin,
    pub election: ElectionId,
    pub keys: Vec<(String, SigningKey)>,
    /// Every event in log order; each is accepted by the rules after the ones
    /// before it.
    pub events: Vec<VerifiedEvent>,
}

/// Generates the election of `size` for `seed`, held in memory. For the two
/// largest sizes (millions of events) prefer [`stream`].
pub fn generate(size: Size, seed: u64) -> Generated {
    let mut events = Vec::new();
    let p = stream(size, seed, |ev| events.push(ev));
    Generated {
        root_key: p.root_key,
        log_key: p.log_key,
        origin: p.origin,
        election: p.election,
        keys: p.keys,
        events,
    }
}

/// Generates the election of `size` for `seed`, handing each event to `sink`
/// in log order as soon as it is signed. What is held meanwhile grows with
/// the stations (their codes and a plan of tens of bytes each), not the events.
pub fn stream(size: Size, seed: u64, mut sink: impl FnMut(VerifiedEvent)) -> Participants {
    try_stream(size, seed, |ev| {
        sink(ev);
        ControlFlow::Continue(())
    })
}

/// As [`stream`], stopping soon after `sink` breaks (a full disk, a consumer
/// gone): the events it was given are the first ones of the election, in
/// order, and no more are signed after the current station.
pub fn try_stream(
    size: Size,
    seed: u64,
    mut sink: impl FnMut(VerifiedEvent) -> ControlFlow<()>,
) -> Participants {
    let plan = Plan::new(size, seed);
    let participants = plan.participants();
    Run::new(&plan, &participants, &mut sink).run();
    participants
}

/// The log entries for `events` in order: indexes from 0, each chained to the
/// one before it.
pub fn entries(events: &[VerifiedEvent]) -> Vec<Entry> {
    let mut prev = GENESIS_PREV;
    events
        .iter()
        .enumerate()
        .map(|(i, ev)| {
            let entry = Entry::new(LogIndex(i as u64), prev, ev.event().clone());
            prev = entry.chain_hash();
            entry
        })
        .collect()
}

/// The geography of the election of `size` for `seed`, in the chunks it is
/// published in: provinces, districts and communes first, then stations,
/// each chunk well under the event size limit. Cheap: nothing is signed.
pub fn geography(size: Size, seed: u64) -> Vec<Geography> {
    Layout::new(&size.spec(), seed).chunks(&contest_id())
}

// ---------------------------------------------------------------------------
// Randomness

/// SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number
/// generators", 2014): tiny, fast, and good enough to draw figures from. Its
/// output function also mixes a seed with a stream name and an index into an
/// independent starting state.
struct Rng(u64);

/// The independent streams of the simulation, one per purpose, so that adding
/// draws to one does not change the others. The numbers are part of what a
/// seed means: changing one changes every election generated.
#[derive(Clone, Copy)]
enum Stream {
    Layout = 1,
    Names = 2,
    Profiles = 3,
    Coverage = 4,
    Votes = 5,
    Alteration = 6,
    Paper = 7,
    Picks = 8,
    Times = 9,
    Images = 10,
    Complaints = 11,
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Rng {
    fn derive(seed: u64, stream: Stream, index: u64) -> Rng {
        Rng(mix(mix(seed ^ mix(stream as u64)) ^ index))
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }
    /// Uniform in `0..n` (multiply-shift; the bias is below 2^-40 for the
    /// ranges used here).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }
    /// An index into `weights`, drawn in proportion to them.
    fn pick(&mut self, weights: &[u64]) -> usize {
        let mut r = self.below(weights.iter().sum());
        for (i, &w) in weights.iter().enumerate() {
            if r < w {
                return i;
            }
            r -= w;
        }
        unreachable!("invariant: r is below the sum of the weights")
    }
}

/// Shares `total` out in proportion to `weights` by largest remainder (ties
/// to the lower index), so the parts always add up to `total` exactly.
fn apportion(total: u64, weights: &[u64]) -> Vec<u64> {
    let sum: u128 = weights.iter().map(|&w| u128::from(w)).sum();
    assert!(sum > 0, "invariant: weights are positive");
    let mut parts = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    for (i, &w) in weights.iter().enumerate() {
        let x = u128::from(total) * u128::from(w);
        parts.push((x / sum) as u64);
        remainders.push((Reverse(x % sum), i));
    }
    let left = total - parts.iter().sum::<u64>();
    remainders.sort_unstable();
    for &(_, i) in remainders.iter().take(left as usize) {
        parts[i] += 1;
    }
    parts
}

/// `total` over `weights.len()` parts, at least one each.
fn split(total: u32, weights: &[u64]) -> Vec<u32> {
    let n = weights.len() as u32;
    assert!(
        total >= n,
        "invariant: the spec has a child for every parent"
    );
    apportion(u64::from(total - n), weights)
        .into_iter()
        .map(|x| 1 + x as u32)
        .collect()
}

fn weights(rng: &mut Rng, n: u32, lo: u64, hi: u64) -> Vec<u64> {
    (0..n).map(|_| rng.range(lo, hi)).collect()
}

fn sha256(s: &str) -> Digest {
    Digest(Sha256::digest(s.as_bytes()).into())
}

fn text(s: impl Into<String>) -> Text {
    let s = s.into();
    s.parse()
        .unwrap_or_else(|e| panic!("invariant: simulated text {s:?} is valid: {e}"))
}

fn parse<T: FromStr>(s: &str) -> T
where
    T::Err: fmt::Display,
{
    s.parse()
        .unwrap_or_else(|e| panic!("invariant: simulated value {s:?} is valid: {e}"))
}

// ---------------------------------------------------------------------------
// Names

/// Fictional parties. The first ones lead in the simulated results, so their
/// names are kept clear of real parties: results about a real party that
/// never happened would be a bad thing to publish, even in a demo.
const PARTIES: [(&str, &str); 18] = [
    ("UPP", "United People's Party"),
    ("NRM", "National Renewal Movement"),
    ("DLP", "Democratic Lotus Party"),
    ("FRP", "Farmers' and Rivers Party"),
    ("CSP", "Civic Solidarity Party"),
    ("GRP", "Green Rice Party"),
    ("LWP", "Labour and Workers' Party"),
    ("NDF", "National Development Front"),
    ("YPP", "Young Patriots Party"),
    ("RLP", "Rural League Party"),
    ("FDA", "Freedom and Dignity Alliance"),
    ("PCP", "People's Conscience Party"),
    ("HRP", "Harmony and Reform Party"),
    ("TPP", "Teachers' and Professionals' Party"),
    ("SJP", "Social Justice Party"),
    ("ICP", "Independent Citizens' Party"),
    ("EPP", "Economic Progress Party"),
    ("UNF", "United National Front"),
];

const OBSERVERS: [&str; 4] = [
    "Civic Count Network",
    "Ballot Watch Coalition",
    "Independent Situation Room",
    "Transparency Monitors Alliance",
];

const AUTHORITY: &str = "National Election Authority";

const PREFIXES: [&str; 8] = [
    "Kampong", "Prey", "Phnom", "Tuol", "Boeng", "Ou", "Chrey", "Trapeang",
];
const SYLLABLES: [&str; 32] = [
    "kam", "pong", "prey", "veng", "svay", "rieng", "tak", "eo", "kan", "dal", "siem", "reap",
    "bat", "dam", "bang", "kra", "tie", "stung", "treng", "mon", "dul", "kiri", "rata", "nak",
    "oddar", "mean", "chey", "pur", "sat", "kep", "thom", "speu",
];

/// A fictional place name, such as "Prey Kandal" or "Siemrieng".
fn place_name(rng: &mut Rng) -> Text {
    let mut word = String::new();
    for _ in 0..rng.range(2, 3) {
        word.push_str(SYLLABLES[rng.below(SYLLABLES.len() as u64) as usize]);
    }
    let mut chars = word.chars();
    let first = chars.next().expect("invariant: syllables are not empty");
    let word: String = first.to_ascii_uppercase().to_string() + chars.as_str();
    if rng.percent(30) {
        text(format!(
            "{} {word}",
            PREFIXES[rng.below(PREFIXES.len() as u64) as usize]
        ))
    } else {
        text(word)
    }
}

fn contest_id() -> ContestId {
    parse("na")
}

// ---------------------------------------------------------------------------
// Geography

struct Area {
    code: RegionCode,
    name: Text,
}

/// The places of the election. Codes are `PP/DD/CC/SSSS`: province, district
/// within the province, commune within the district, station within the
/// commune, each numbered from 1 and zero-padded.
struct Layout {
    provinces: Vec<Area>,
    seats: Vec<u32>,
    districts: Vec<Area>,
    communes: Vec<Area>,
    district_province: Vec<u32>,
    commune_district: Vec<u32>,
    stations: Vec<StationCode>,
    registered: Vec<u16>,
    station_commune: Vec<u32>,
}

impl Layout {
    fn new(spec: &Spec, seed: u64) -> Layout {
        let mut rng = Rng::derive(seed, Stream::Layout, 0);
        // Provinces vary more than districts and communes do.
        let districts = split(spec.districts, &weights(&mut rng, spec.provinces, 30, 170));
        let communes = split(spec.communes, &weights(&mut rng, spec.districts, 50, 150));
        let stations = split(spec.stations, &weights(&mut rng, spec.communes, 50, 150));
        assert!(
            districts.iter().chain(&communes).all(|&n| n < 100)
                && stations.iter().all(|&n| n < 10_000),
            "invariant: every size's children fit the code's digits (a test checks every size)"
        );
        let mut names = Rng::derive(seed, Stream::Names, 0);
        let mut layout = Layout {
            provinces: Vec::new(),
            seats: Vec::new(),
            districts: Vec::new(),
            communes: Vec::new(),
            district_province: Vec::new(),
            commune_district: Vec::new(),
            stations: Vec::with_capacity(spec.stations as usize),
            registered: Vec::with_capacity(spec.stations as usize),
            station_commune: Vec::with_capacity(spec.stations as usize),
        };
        let mut province_stations = Vec::new();
        let (mut d_next, mut c_next) = (0usize, 0usize);
        for (p, &n_districts) in districts.iter().enumerate() {
            let p_code = format!("{:02}", p + 1);
            layout.provinces.push(Area {
                code: parse(&p_code),
                name: place_name(&mut names),
            });
            let first_station = layout.stations.len();
            for d in 0..n_districts {
                let d_code = format!("{p_code}/{:02}", d + 1);
                layout.districts.push(Area {
                    code: parse(&d_code),
                    name: place_name(&mut names),
                });
                layout.district_province.push(p as u32);
                for c in 0..communes[d_next] {
                    let c_code = format!("{d_code}/{:02}", c + 1);
                    layout.communes.push(Area {
                        code: parse(&c_code),
                        name: place_name(&mut names),
                    });
                    layout.commune_district.push(d_next as u32);
                    for s in 0..stations[c_next] {
                        let i = layout.stations.len() as u64;
                        let mut r = Rng::derive(seed, Stream::Layout, 1 + i);
                        layout
                            .stations
                            .push(parse(&format!("{c_code}/{:04}", s + 1)));
                        layout.registered.push(r.range(
                            u64::from(spec.registered_min),
                            u64::from(spec.registered_max),
                        ) as u16);
                        layout.station_commune.push(c_next as u32);
                    }
                    c_next += 1;
                }
                d_next += 1;
            }
            province_stations.push((layout.stations.len() - first_station) as u64);
        }
        // Seats follow the number of stations, at least one per province.
        layout.seats = split(spec.seats, &province_stations);
        layout
    }

    fn province_of(&self, station: u32) -> usize {
        let commune = self.station_commune[station as usize];
        let district = self.commune_district[commune as usize];
        self.district_province[district as usize] as usize
    }

    fn commune_of(&self, station: u32) -> &Area {
        &self.communes[self.station_commune[station as usize] as usize]
    }

    fn district_of(&self, station: u32) -> &Area {
        let commune = self.station_commune[station as usize];
        &self.districts[self.commune_district[commune as usize] as usize]
    }

    /// The geography events' payloads. A chunk is closed when its estimated
    /// encoding passes 48 KiB, well under the 64 KiB event limit with the
    /// header and signature.
    fn chunks(&self, contest: &ContestId) -> Vec<Geography> {
        const BUDGET: usize = 48 * 1024;
        let mut out = Vec::new();
        let mut chunk = Geography {
            regions: Vec::new(),
            stations: Vec::new(),
        };
        let mut used = 0;
        let mut close = |chunk: &mut Geography, used: &mut usize, add: usize| {
            if *used + add > BUDGET {
                out.push(std::mem::replace(
                    chunk,
                    Geography {
                        regions: Vec::new(),
                        stations: Vec::new(),
                    },
                ));
                *used = 0;
            }
            *used += add;
        };
        let provinces = self.provinces.iter().zip(&self.seats).map(|(a, &s)| (a, s));
        let others = self.districts.iter().chain(&self.communes).map(|a| (a, 0));
        for (area, seats) in provinces.chain(others) {
            close(
                &mut chunk,
                &mut used,
                64 + area.code.as_str().len() + area.name.as_str().len(),
            );
            chunk.regions.push(Region {
                code: area.code.clone(),
                name: area.name.clone(),
                seats: if seats > 0 {
                    [(contest.clone(), seats)].into()
                } else {
                    BTreeMap::new()
                },
            });
        }
        for (code, &registered) in self.stations.iter().zip(&self.registered) {
            close(&mut chunk, &mut used, 32 + code.as_str().len());
            chunk.stations.push(Station {
                code: code.clone(),
                registered: u64::from(registered),
            });
        }
        out.push(chunk);
        out
    }
}

// ---------------------------------------------------------------------------
// Figures

/// What one form says, with votes in the order of the ballot.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Figures {
    registered: u64,
    cast: u64,
    valid: u64,
    invalid: u64,
    votes: Vec<u64>,
}

impl Figures {
    /// The parties with the most and second most votes (ties to the earlier).
    fn leaders(&self) -> (usize, usize) {
        let mut order: Vec<usize> = (0..self.votes.len()).collect();
        order.sort_by_key(|&p| (Reverse(self.votes[p]), p));
        (order[0], order[1])
    }
}

/// What is wrong, if anything, at a station.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flag {
    Normal,
    /// The official form moves votes from one party to another; every copy
    /// has the figures counted at the station.
    Altered,
    /// This observer's copy has a digit slipped; the official form is right.
    Slip(u8),
    /// The paper form itself does not add up, so the official form and every
    /// copy carry the same mistake; the authority may correct it later.
    PaperError {
        corrected: bool,
    },
}

/// How far a complaint gets before the log ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Reach {
    Filed,
    Acknowledged,
    UnderReview,
    Resolved,
    Appealed,
    Final,
}

enum About {
    /// A disagreeing station; the complaint refers to its official form.
    Station(u32),
    /// Something that happened in a region (or, without one, everywhere);
    /// `anchor` is a station in the region, `detail` a number for the text.
    Region {
        category: ComplaintCategory,
        region: Option<RegionCode>,
        anchor: u32,
        detail: u64,
    },
}

/// When each step of a complaint happens (Unix seconds); `None` for a step
/// that never does.
struct Steps {
    filed: i64,
    acknowledged: Option<i64>,
    review: Option<i64>,
    resolved: Option<i64>,
    recount: Option<i64>,
    appealed: Option<i64>,
    decided: Option<i64>,
}

struct ComplaintPlan {
    /// The filing publisher (a source index, see [`Plan`]).
    filer: usize,
    about: About,
    outcome: Outcome,
    appeal_outcome: Outcome,
    /// The station whose recount the resolution orders.
    recount: Option<u32>,
    steps: Steps,
}

const MINUTE: i64 = 60;
const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;

/// Everything decided before the first signature. Publishers are numbered as
/// sources: 0 is the authority, then the observers, then the party agents
/// (agent `a` speaks for party `a`).
struct Plan {
    size: Size,
    spec: Spec,
    seed: u64,
    layout: Layout,
    parties: Vec<PartyId>,
    contest: ContestId,
    /// Per province, each party's weight in the vote.
    profiles: Vec<Vec<u64>>,
    /// Per observer and per agent, the per-mille share of stations covered.
    observer_cover: Vec<u64>,
    agent_cover: Vec<u64>,
    flags: Vec<Flag>,
    complaints: Vec<ComplaintPlan>,
}

impl Plan {
    fn new(size: Size, seed: u64) -> Plan {
        let spec = size.spec();
        let layout = Layout::new(&spec, seed);
        let parties: Vec<PartyId> = PARTIES[..spec.parties as usize]
            .iter()
            .map(|(id, _)| parse(id))
            .collect();
        let mut rng = Rng::derive(seed, Stream::Profiles, 0);
        let profiles = (0..spec.provinces)
            .map(|_| profile(&mut rng, parties.len()))
            .collect();
        let mut rng = Rng::derive(seed, Stream::Coverage, 0);
        let observer_cover = (0..spec.observers).map(|_| rng.range(600, 900)).collect();
        let agent_cover = (0..spec.party_agents)
            .map(|_| rng.range(300, 500))
            .collect();
        let mut plan = Plan {
            size,
            spec,
            seed,
            layout,
            parties,
            contest: contest_id(),
            profiles,
            observer_cover,
            agent_cover,
            flags: vec![Flag::Normal; spec.stations as usize],
            complaints: Vec::new(),
        };
        let disputed = plan.pick_flags();
        plan.plan_complaints(&disputed);
        plan
    }

    fn observers(&self) -> usize {
        self.spec.observers as usize
    }
    fn sources(&self) -> usize {
        1 + self.observers() + self.spec.party_agents as usize
    }
    fn rng(&self, stream: Stream, index: u64) -> Rng {
        Rng::derive(self.seed, stream, index)
    }

    /// Marks the disagreeing stations and the paper errors, and returns the
    /// disagreeing ones in the (random) order drawn.
    fn pick_flags(&mut self) -> Vec<u32> {
        let n = self.spec.stations;
        let k1 = self.spec.disagreeing_stations() as usize;
        let k2 = self.spec.arithmetic_errors() as usize;
        // A partial Fisher-Yates shuffle: the first k1 + k2 of a random order.
        let mut order: Vec<u32> = (0..n).collect();
        let mut rng = self.rng(Stream::Picks, 0);
        for j in 0..k1 + k2 {
            let r = j + rng.below((n as usize - j) as u64) as usize;
            order.swap(j, r);
        }
        for (j, &i) in order[..k1].iter().enumerate() {
            // Coverage forced onto disputed stations depends only on the flag
            // being a dispute, so mark one before looking at the coverage.
            self.flags[i as usize] = Flag::Altered;
            let altered = match j {
                0 => true,
                1 => false,
                _ => rng.percent(60),
            };
            if !altered {
                let mask = self.observer_mask(i);
                let covering: Vec<u8> = (0..self.observers() as u8)
                    .filter(|o| mask & (1 << o) != 0)
                    .collect();
                let o = covering[rng.below(covering.len() as u64) as usize];
                self.flags[i as usize] = Flag::Slip(o);
            }
        }
        let corrected = self.spec.corrections() as usize;
        for (j, &i) in order[k1..k1 + k2].iter().enumerate() {
            self.flags[i as usize] = Flag::PaperError {
                corrected: j < corrected,
            };
        }
        order.truncate(k1);
        order
    }

    fn disputed(&self, i: u32) -> bool {
        matches!(self.flags[i as usize], Flag::Altered | Flag::Slip(_))
    }

    /// Which observers hold a copy of station `i`'s form (bit `o`). A
    /// disagreeing station always has at least one.
    fn observer_mask(&self, i: u32) -> u32 {
        let mut mask = 0;
        for (o, &cover) in self.observer_cover.iter().enumerate() {
            if self
                .rng(Stream::Coverage, u64::from(i) * 64 + o as u64)
                .below(1000)
                < cover
            {
                mask |= 1 << o;
            }
        }
        if mask == 0 && self.disputed(i) {
            mask = 1 << (i as usize % self.observers());
        }
        mask
    }

    /// Which party agents hold a copy of station `i`'s form (bit `a`).
    fn agent_mask(&self, i: u32) -> u32 {
        let mut mask = 0;
        for (a, &cover) in self.agent_cover.iter().enumerate() {
            if self
                .rng(Stream::Coverage, u64::from(i) * 64 + 32 + a as u64)
                .below(1000)
                < cover
            {
                mask |= 1 << a;
            }
        }
        mask
    }

    fn covers(&self, i: u32, source: usize) -> bool {
        let o = self.observers();
        match source {
            0 => true,
            s if s <= o => self.observer_mask(i) & (1 << (s - 1)) != 0,
            s => self.agent_mask(i) & (1 << (s - 1 - o)) != 0,
        }
    }

    /// What was counted at station `i`: turnout 60-90%, 1-3% invalid, votes
    /// following the province's profile with noise per station.
    fn truth(&self, i: u32) -> Figures {
        let mut rng = self.rng(Stream::Votes, u64::from(i));
        let registered = u64::from(self.layout.registered[i as usize]);
        let cast = registered * rng.range(600, 900) / 1000;
        let invalid = (cast * rng.range(10, 30) + 500) / 1000;
        let valid = cast - invalid;
        let weights: Vec<u64> = self.profiles[self.layout.province_of(i)]
            .iter()
            .map(|&w| w * rng.range(70, 130))
            .collect();
        Figures {
            registered,
            cast,
            valid,
            invalid,
            votes: apportion(valid, &weights),
        }
    }

    /// What the paper form says: the count, unless the officials added up
    /// wrongly.
    fn paper(&self, i: u32) -> Figures {
        let mut f = self.truth(i);
        if let Flag::PaperError { .. } = self.flags[i as usize] {
            let mut rng = self.rng(Stream::Paper, u64::from(i));
            if rng.percent(50) {
                f.cast += rng.range(1, 20);
            } else {
                let (leader, _) = f.leaders();
                f.votes[leader] += rng.range(1, 30);
            }
        }
        f
    }

    /// For an altered station: (from party, to party, votes moved). Votes go
    /// from the runner-up to the leader.
    fn alteration(&self, i: u32) -> (usize, usize, u64) {
        let truth = self.truth(i);
        let (mut to, mut from) = truth.leaders();
        if truth.votes[from] == 0 {
            std::mem::swap(&mut to, &mut from);
        }
        let moved = self
            .rng(Stream::Alteration, u64::from(i))
            .range(5, 40)
            .min(truth.votes[from]);
        (from, to, moved)
    }

    fn official(&self, i: u32) -> Figures {
        let mut f = self.paper(i);
        if self.flags[i as usize] == Flag::Altered {
            let (from, to, moved) = self.alteration(i);
            f.votes[from] -= moved;
            f.votes[to] += moved;
        }
        f
    }

    /// A copy of station `i`'s form by `source`: the paper form, except for a
    /// slipped digit in the leader's votes on one observer's copy.
    fn copy(&self, i: u32, source: usize) -> Figures {
        if source == 0 {
            return self.official(i);
        }
        let mut f = self.paper(i);
        if self.flags[i as usize] == Flag::Slip((source - 1) as u8) {
            let (leader, _) = f.leaders();
            let v = f.votes[leader];
            let (tens, units) = (v / 10 % 10, v % 10);
            f.votes[leader] = if v >= 10 && tens != units {
                v - tens * 10 - units + units * 10 + tens
            } else {
                v + 10
            };
        }
        f
    }

    fn form(&self, i: u32, f: Figures, image: Option<Digest>) -> ResultForm {
        ResultForm {
            station: self.layout.stations[i as usize].clone(),
            contest: self.contest.clone(),
            registered: f.registered,
            cast: f.cast,
            valid: f.valid,
            invalid: f.invalid,
            votes: self.parties.iter().cloned().zip(f.votes).collect(),
            image_sha256: image,
        }
    }

    /// Some forms come with the digest of a scan or photograph: 5% of the
    /// official forms, 3% of the copies.
    fn image(&self, i: u32, source: usize) -> Option<Digest> {
        let per_mille = if source == 0 { 50 } else { 30 };
        let mut rng = self.rng(Stream::Images, u64::from(i) * 64 + source as u64);
        (rng.below(1000) < per_mille).then(|| {
            sha256(&format!(
                "tallylog sim image {} {} {i} {source}",
                self.size, self.seed
            ))
        })
    }

    fn close(&self) -> i64 {
        self.spec.polls_close.unix()
    }

    /// Counts end between one and 23 hours after the polls close, in station
    /// order, so that results arrive over the day as they do on election night.
    fn counted(&self, i: u32) -> i64 {
        self.close() + HOUR + i64::from(i) * 22 * HOUR / i64::from(self.spec.stations)
    }

    /// When `source` publishes its form for station `i`: observers within
    /// half an hour of the count, agents within 45 minutes, the authority
    /// two to six hours later.
    fn form_time(&self, i: u32, source: usize) -> i64 {
        let mut rng = self.rng(Stream::Times, u64::from(i) * 64 + source as u64);
        let lag = match source {
            0 => 2 * HOUR + rng.below(4 * HOUR as u64) as i64,
            s if s <= self.observers() => rng.below(30 * MINUTE as u64) as i64,
            _ => rng.below(45 * MINUTE as u64) as i64,
        };
        self.counted(i) + lag
    }

    fn correction_time(&self, i: u32) -> i64 {
        let mut rng = self.rng(Stream::Times, u64::from(i) * 64 + 63);
        self.form_time(i, 0) + rng.range(20 * HOUR as u64, 60 * HOUR as u64) as i64
    }

    fn plan_complaints(&mut self, disputed: &[u32]) {
        let mut rng = self.rng(Stream::Complaints, 0);
        let m = self.spec.mismatch_complaints() as usize;
        let (mut first_altered, mut first_slip) = (true, true);
        for &i in &disputed[..m] {
            let altered = self.flags[i as usize] == Flag::Altered;
            let (filer, outcome, reach) = if altered {
                // The party that lost the votes complains if its agent saw
                // the count; otherwise an observer who did.
                let (from, _, _) = self.alteration(i);
                let filer = if self.agent_mask(i) & (1 << from) != 0 {
                    1 + self.observers() + from
                } else {
                    let mask = self.observer_mask(i);
                    let covering: Vec<usize> = (0..self.observers())
                        .filter(|o| mask & (1 << o) != 0)
                        .collect();
                    1 + covering[rng.below(covering.len() as u64) as usize]
                };
                let (outcome, reach) = if std::mem::take(&mut first_altered) {
                    (Outcome::Upheld, Reach::Resolved)
                } else {
                    let outcome = if rng.percent(75) {
                        Outcome::Upheld
                    } else {
                        Outcome::PartlyUpheld
                    };
                    (outcome, random_reach(&mut rng))
                };
                (filer, outcome, reach)
            } else {
                let Flag::Slip(o) = self.flags[i as usize] else {
                    unreachable!("invariant: a disputed station is altered or slipped")
                };
                let reach = if std::mem::take(&mut first_slip) {
                    Reach::Final
                } else {
                    random_reach(&mut rng)
                };
                (1 + o as usize, Outcome::Dismissed, reach)
            };
            let reach = no_appeal_when_upheld(outcome, reach);
            let filed = self.form_time(i, 0).max(self.form_time(i, filer))
                + rng.range(2 * HOUR as u64, 30 * HOUR as u64) as i64;
            let recount = (altered && reach >= Reach::Resolved).then_some(i);
            let after = recount.map(|i| self.form_time(i, 0));
            let steps = steps(&mut rng, filed, reach, after);
            self.complaints.push(ComplaintPlan {
                filer,
                about: About::Station(i),
                outcome,
                appeal_outcome: appeal_outcome(&mut rng),
                recount,
                steps,
            });
        }

        // The first few complaints about regions cover every stage of the
        // lifecycle and every outcome, so that even the tiny election has them.
        use ComplaintCategory::*;
        let fixed = [
            (Procedure, Reach::Filed, Outcome::Dismissed),
            (VoterRoll, Reach::Acknowledged, Outcome::Dismissed),
            (Intimidation, Reach::UnderReview, Outcome::Dismissed),
            (VoteBuying, Reach::Appealed, Outcome::Dismissed),
            (ClosedCounting, Reach::Resolved, Outcome::PartlyUpheld),
        ];
        let others = (self.spec.complaints as usize).saturating_sub(m);
        for j in 0..others {
            let (category, reach, outcome) = match fixed.get(j) {
                Some(&f) => f,
                None => {
                    let categories = [
                        ClosedCounting,
                        VoterRoll,
                        Intimidation,
                        VoteBuying,
                        Procedure,
                        Other,
                    ];
                    let category = categories[rng.pick(&[25, 25, 20, 15, 10, 5])];
                    let outcome = [Outcome::Dismissed, Outcome::PartlyUpheld, Outcome::Upheld]
                        [rng.pick(&[50, 25, 25])];
                    (category, random_reach(&mut rng), outcome)
                }
            };
            let reach = no_appeal_when_upheld(outcome, reach);
            // A station where nothing else happens, so that a recount there
            // supersedes nothing but its official form.
            let anchor = loop {
                let i = rng.below(u64::from(self.spec.stations)) as u32;
                if self.flags[i as usize] == Flag::Normal {
                    break i;
                }
            };
            let region = match category {
                ClosedCounting | VoteBuying => Some(self.layout.commune_of(anchor).code.clone()),
                Intimidation => Some(self.layout.district_of(anchor).code.clone()),
                VoterRoll => Some(
                    self.layout.provinces[self.layout.province_of(anchor)]
                        .code
                        .clone(),
                ),
                _ => None,
            };
            let recount = (category == ClosedCounting
                && outcome != Outcome::Dismissed
                && reach >= Reach::Resolved)
                .then_some(anchor);
            // A complaint about a count comes after that count's official
            // form, so a recount it leads to has a form to supersede; the
            // others may come from the day of the vote on.
            let filed = if category == ClosedCounting {
                self.form_time(anchor, 0) + hours(&mut rng, 1, 40)
            } else {
                self.close() + hours(&mut rng, 3, 70)
            };
            let filer = 1 + rng.below((self.sources() - 1) as u64) as usize;
            let detail = rng.range(40, 2_000);
            let after = recount.map(|i| self.form_time(i, 0));
            let steps = steps(&mut rng, filed, reach, after);
            self.complaints.push(ComplaintPlan {
                filer,
                about: About::Region {
                    category,
                    region,
                    anchor,
                    detail,
                },
                outcome,
                appeal_outcome: appeal_outcome(&mut rng),
                recount,
                steps,
            });
        }
    }

    /// The name used in key derivation and in [`Participants::keys`].
    fn source_name(&self, source: usize) -> String {
        let o = self.observers();
        match source {
            0 => "authority".to_owned(),
            s if s <= o => format!("observer-{s}"),
            s => format!("party-{}", self.parties[s - 1 - o]),
        }
    }

    fn source_org(&self, source: usize) -> (Role, Text) {
        let o = self.observers();
        match source {
            0 => (Role::Authority, text(AUTHORITY)),
            s if s <= o => (Role::Observer, text(OBSERVERS[s - 1])),
            s => (Role::PartyAgent, text(self.parties[s - 1 - o].as_str())),
        }
    }

    fn key(&self, name: &str) -> SigningKey {
        let secret = Sha256::digest(format!(
            "tallylog sim key {} {} {name}",
            self.size, self.seed
        ));
        SigningKey::from_bytes(&secret.into())
    }

    fn participants(&self) -> Participants {
        let name = format!("sim-{}-{}", self.size, self.seed);
        Participants {
            root_key: self.key("root"),
            log_key: self.key("log"),
            origin: parse(&format!("tallylog.example/{name}")),
            election: parse(&name),
            keys: (0..self.sources())
                .map(|s| {
                    let name = self.source_name(s);
                    let key = self.key(&name);
                    (name, key)
                })
                .collect(),
        }
    }

    fn definition(&self, p: &Participants) -> ElectionDef {
        ElectionDef {
            name: text(format!(
                "Simulated National Assembly Election ({}, seed {})",
                self.size, self.seed
            )),
            polls_close: self.spec.polls_close,
            log: LogRef {
                origin: p.origin.clone(),
                key: p.log_key.verifying_key().into(),
            },
            parties: PARTIES[..self.parties.len()]
                .iter()
                .map(|(id, name)| Party {
                    id: parse(id),
                    name: text(*name),
                })
                .collect(),
            contests: vec![Contest {
                id: self.contest.clone(),
                name: text("National Assembly"),
                constituency: Level::Province,
                formula: SeatFormula::Dhondt,
                parties: self.parties.clone(),
            }],
            deadlines: Deadlines {
                filing_hours: 72,
                resolution_hours: 48,
                appeal_filing_hours: 72,
                appeal_resolution_hours: 72,
            },
        }
    }
}

/// One or two strong parties, then a tail of small ones. In 70% of
/// provinces one party dominates; in the rest the two leaders compete. The
/// first party leads in most provinces, the second in the others.
fn profile(rng: &mut Rng, parties: usize) -> Vec<u64> {
    let mut w: Vec<u64> = (0..parties as u64)
        .map(|k| rng.range(10, 80) * 3 / (k + 1) + 1)
        .collect();
    let (lead, second) = if rng.percent(70) {
        (rng.range(450, 700), rng.range(120, 300))
    } else {
        (rng.range(330, 450), rng.range(300, 420))
    };
    let leader = usize::from(!rng.percent(80));
    w[leader] = lead;
    w[1 - leader] = second;
    w
}

fn random_reach(rng: &mut Rng) -> Reach {
    [
        Reach::Filed,
        Reach::Acknowledged,
        Reach::UnderReview,
        Reach::Resolved,
        Reach::Appealed,
        Reach::Final,
    ][rng.pick(&[8, 5, 5, 57, 7, 18])]
}

/// A complainant whose complaint was upheld has nothing to appeal.
fn no_appeal_when_upheld(outcome: Outcome, reach: Reach) -> Reach {
    if outcome == Outcome::Upheld {
        reach.min(Reach::Resolved)
    } else {
        reach
    }
}

fn appeal_outcome(rng: &mut Rng) -> Outcome {
    [Outcome::Dismissed, Outcome::PartlyUpheld, Outcome::Upheld][rng.pick(&[70, 20, 10])]
}

fn hours(rng: &mut Rng, lo: i64, hi: i64) -> i64 {
    rng.range((lo * HOUR) as u64, (hi * HOUR) as u64) as i64
}

/// The times of a complaint's steps, each later than the one before. Nine in
/// ten resolutions come within the 48 hours the law allows; appeals within
/// their 72. A recount, if one is ordered, comes after `recount_after` (the
/// official form it supersedes) whatever the draws.
fn steps(rng: &mut Rng, filed: i64, reach: Reach, recount_after: Option<i64>) -> Steps {
    let mut t = filed;
    let acknowledged =
        if reach == Reach::Acknowledged || (reach > Reach::Acknowledged && rng.percent(85)) {
            t += hours(rng, 1, 12);
            Some(t)
        } else {
            None
        };
    let review = if reach == Reach::UnderReview || (reach > Reach::UnderReview && rng.percent(70)) {
        t += hours(rng, 2, 18);
        Some(t)
    } else {
        None
    };
    let resolved = (reach >= Reach::Resolved).then(|| {
        if rng.percent(10) {
            filed + hours(rng, 50, 90)
        } else {
            t + hours(rng, 4, 14)
        }
    });
    // One ordered recount in ten is never published: the board shows it as
    // ordered and outstanding.
    let recount = match (resolved, recount_after) {
        (Some(r), Some(after)) if !rng.percent(10) => {
            Some((r + hours(rng, 12, 48)).max(after + HOUR))
        }
        _ => None,
    };
    let appealed = match resolved {
        Some(r) if reach >= Reach::Appealed => Some(r + hours(rng, 6, 60)),
        _ => None,
    };
    let decided = match appealed {
        Some(a) if reach == Reach::Final => Some(a + hours(rng, 24, 66)),
        _ => None,
    };
    Steps {
        filed,
        acknowledged,
        review,
        resolved,
        recount,
        appealed,
        decided,
    }
}

// ---------------------------------------------------------------------------
// Signing, in time order

/// Something a publisher does at a time. After the setup every event comes
/// off one queue ordered by time, so the log reads like the night and the
/// days after it, and every event comes after those it refers to (each is
/// planned strictly later than them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    Form { station: u32, source: usize },
    Correction(u32),
    Filed(usize),
    Acknowledged(usize),
    Review(usize),
    Resolved(usize),
    Recount(usize),
    Appealed(usize),
    AppealDecided(usize),
}

struct Run<'a> {
    plan: &'a Plan,
    root: Publisher,
    publishers: Vec<Publisher>,
    definition: ElectionDef,
    sink: &'a mut dyn FnMut(VerifiedEvent) -> ControlFlow<()>,
    /// The sink asked for no more events.
    stopped: bool,
    queue: BinaryHeap<Reverse<(i64, u64, Action)>>,
    pushed: u64,
    /// Stations whose event ids are needed later.
    watched: HashSet<u32>,
    /// The latest official version of each watched station's form.
    official: HashMap<u32, EventId>,
    /// Each watched station's copies, by source.
    copies: HashMap<(u32, usize), EventId>,
    filed: Vec<Option<EventId>>,
    resolutions: Vec<Option<EventId>>,
}

impl<'a> Run<'a> {
    fn new(
        plan: &'a Plan,
        p: &Participants,
        sink: &'a mut dyn FnMut(VerifiedEvent) -> ControlFlow<()>,
    ) -> Run<'a> {
        let publishers = p
            .keys
            .iter()
            .map(|(_, k)| Publisher::new(k.clone(), p.election.clone()))
            .collect();
        let mut watched = HashSet::new();
        for c in &plan.complaints {
            if let About::Station(i) = c.about {
                watched.insert(i);
            }
            watched.extend(c.recount);
        }
        for (i, f) in plan.flags.iter().enumerate() {
            if *f == (Flag::PaperError { corrected: true }) {
                watched.insert(i as u32);
            }
        }
        Run {
            plan,
            root: Publisher::new(p.root_key.clone(), p.election.clone()),
            publishers,
            definition: plan.definition(p),
            sink,
            stopped: false,
            queue: BinaryHeap::new(),
            pushed: 0,
            watched,
            official: HashMap::new(),
            copies: HashMap::new(),
            filed: vec![None; plan.complaints.len()],
            resolutions: vec![None; plan.complaints.len()],
        }
    }

    fn at(&self, time: i64) -> Timestamp {
        Timestamp::from_unix(time).expect("invariant: simulated times are in range")
    }

    fn emit(&mut self, source: Option<usize>, time: i64, payload: Payload) -> EventId {
        let time = self.at(time);
        let publisher = match source {
            None => &mut self.root,
            Some(s) => &mut self.publishers[s],
        };
        let ev = publisher
            .sign(time, payload)
            .expect("invariant: simulated events are well formed and under the size limit");
        let id = ev.id();
        if !self.stopped && (self.sink)(ev).is_break() {
            self.stopped = true;
        }
        id
    }

    fn push(&mut self, time: i64, action: Action) {
        self.pushed += 1;
        self.queue.push(Reverse((time, self.pushed, action)));
    }

    fn run(mut self) {
        let plan = self.plan;
        let close = plan.close();
        self.emit(
            None,
            close - 30 * DAY,
            Payload::Election(self.definition.clone()),
        );
        for chunk in plan.layout.chunks(&plan.contest) {
            self.emit(None, close - 29 * DAY, Payload::Geography(chunk));
        }
        for s in 0..plan.sources() {
            let key = self.publishers[s].public_key();
            let (role, org) = plan.source_org(s);
            self.emit(
                None,
                close - 28 * DAY,
                Payload::KeyRegister(KeyRegister { key, role, org }),
            );
        }

        for (c, plan_c) in plan.complaints.iter().enumerate() {
            let s = &plan_c.steps;
            self.push(s.filed, Action::Filed(c));
            for (t, a) in [
                (s.acknowledged, Action::Acknowledged(c)),
                (s.review, Action::Review(c)),
                (s.resolved, Action::Resolved(c)),
                (s.recount, Action::Recount(c)),
                (s.appealed, Action::Appealed(c)),
                (s.decided, Action::AppealDecided(c)),
            ] {
                if let Some(t) = t {
                    self.push(t, a);
                }
            }
        }
        for (i, f) in plan.flags.iter().enumerate() {
            if *f == (Flag::PaperError { corrected: true }) {
                self.push(plan.correction_time(i as u32), Action::Correction(i as u32));
            }
        }

        // Sweep the stations in the order their counts end; every form is
        // published at or after its count, so by the time the sweep reaches a
        // moment everything due by then is in the queue.
        for i in 0..plan.spec.stations {
            if self.stopped {
                return;
            }
            for source in 0..plan.sources() {
                if plan.covers(i, source) {
                    self.push(
                        plan.form_time(i, source),
                        Action::Form { station: i, source },
                    );
                }
            }
            let now = plan.counted(i);
            while let Some(Reverse((t, _, a))) = self.queue.peek().copied() {
                if t > now {
                    break;
                }
                self.queue.pop();
                self.act(t, a);
            }
        }
        while let Some(Reverse((t, _, a))) = self.queue.pop() {
            if self.stopped {
                return;
            }
            self.act(t, a);
        }
    }

    fn act(&mut self, t: i64, action: Action) {
        let plan = self.plan;
        match action {
            Action::Form { station, source } => {
                let form = plan.form(
                    station,
                    plan.copy(station, source),
                    plan.image(station, source),
                );
                let id = self.emit(Some(source), t, Payload::Result(form));
                if self.watched.contains(&station) {
                    if source == 0 {
                        self.official.insert(station, id);
                    }
                    self.copies.insert((station, source), id);
                }
            }
            Action::Correction(station) => {
                let supersedes = self.official[&station];
                let form = plan.form(station, plan.truth(station), None);
                let id = self.emit(
                    Some(0),
                    t,
                    Payload::Correction(Correction {
                        supersedes,
                        reason: text(
                            "The commune election committee added up the tally sheet again; \
                             the totals on form 1102 are corrected.",
                        ),
                        form,
                    }),
                );
                self.official.insert(station, id);
            }
            Action::Filed(c) => {
                let payload = self.filing(c);
                let id = self.emit(Some(plan.complaints[c].filer), t, payload);
                self.filed[c] = Some(id);
            }
            Action::Acknowledged(c) => {
                let complaint = self.complaint(c);
                self.emit(
                    Some(0),
                    t,
                    Payload::ComplaintAcknowledged(ComplaintStep { complaint }),
                );
            }
            Action::Review(c) => {
                let complaint = self.complaint(c);
                self.emit(
                    Some(0),
                    t,
                    Payload::ComplaintReview(ComplaintStep { complaint }),
                );
            }
            Action::Resolved(c) => {
                let payload = Payload::ComplaintResolved(ComplaintResolved {
                    complaint: self.complaint(c),
                    outcome: plan.complaints[c].outcome,
                    reasoning: self.reasoning(c),
                    recounts: plan.complaints[c]
                        .recount
                        .map(|i| plan.layout.stations[i as usize].clone())
                        .into_iter()
                        .collect(),
                });
                let id = self.emit(Some(0), t, payload);
                self.resolutions[c] = Some(id);
            }
            Action::Recount(c) => {
                let station = plan.complaints[c]
                    .recount
                    .expect("invariant: only complaints with a recount plan one");
                let image = sha256(&format!(
                    "tallylog sim recount {} {} {station}",
                    plan.size, plan.seed
                ));
                let id = self.emit(
                    Some(0),
                    t,
                    Payload::Recount(Recount {
                        supersedes: self.official[&station],
                        reason: text(format!(
                            "Recount in the presence of observers and party agents, as ordered \
                             in the ruling on complaint {}.",
                            self.complaint(c)
                        )),
                        ordered_by: self.resolutions[c],
                        form: plan.form(station, plan.truth(station), Some(image)),
                    }),
                );
                self.official.insert(station, id);
            }
            Action::Appealed(c) => {
                let complaint = self.complaint(c);
                self.emit(
                    Some(plan.complaints[c].filer),
                    t,
                    Payload::ComplaintAppealed(ComplaintAppealed {
                        complaint,
                        reasoning: text(
                            "The committee did not hear the witnesses we named and did not \
                             examine the evidence we filed. We ask the Constitutional Council to \
                             review the ruling.",
                        ),
                    }),
                );
            }
            Action::AppealDecided(c) => {
                let outcome = plan.complaints[c].appeal_outcome;
                let reasoning = match outcome {
                    Outcome::Dismissed => {
                        "The Constitutional Council finds no error in the committee's ruling and \
                         confirms it."
                    }
                    Outcome::PartlyUpheld => {
                        "The Constitutional Council confirms the ruling on the facts but finds \
                         that the committee should have heard the complainant's witnesses; it \
                         orders that they be heard before any later complaint is decided."
                    }
                    Outcome::Upheld => {
                        "The Constitutional Council finds that the committee did not examine the \
                         evidence filed and upholds the complaint."
                    }
                };
                let complaint = self.complaint(c);
                self.emit(
                    Some(0),
                    t,
                    Payload::ComplaintAppealDecided(ComplaintAppealDecided {
                        complaint,
                        outcome,
                        reasoning: text(reasoning),
                    }),
                );
            }
        }
    }

    fn complaint(&self, c: usize) -> EventId {
        self.filed[c].expect("invariant: a complaint is filed before any step on it")
    }

    fn filing(&self, c: usize) -> Payload {
        let plan = self.plan;
        let cp = &plan.complaints[c];
        let evidence = vec![sha256(&format!(
            "tallylog sim evidence {} {} {c}",
            plan.size, plan.seed
        ))];
        let filed = match &cp.about {
            About::Station(i) => {
                let (official, copy) = (plan.official(*i), plan.copy(*i, cp.filer));
                let differ: Vec<usize> = (0..plan.parties.len())
                    .filter(|&p| official.votes[p] != copy.votes[p])
                    .collect();
                assert!(
                    !differ.is_empty(),
                    "invariant: a disputed station's copy differs in some party's votes"
                );
                let list = |f: &Figures| {
                    differ
                        .iter()
                        .map(|&p| format!("{} {}", plan.parties[p], f.votes[p]))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let who = if cp.filer <= plan.observers() {
                    "our observer"
                } else {
                    "our party agent"
                };
                let code = &plan.layout.stations[*i as usize];
                ComplaintFiled {
                    region: Some(code.region().clone()),
                    contest: Some(plan.contest.clone()),
                    category: ComplaintCategory::ResultMismatch,
                    summary: text(format!(
                        "The official form 1102 for station {code} gives {} votes; the copy \
                         {who} made at the count gives {}.",
                        list(&official),
                        list(&copy)
                    )),
                    evidence,
                    refs: vec![self.official[i], self.copies[&(*i, cp.filer)]],
                }
            }
            About::Region {
                category,
                region,
                anchor,
                detail,
            } => {
                let l = &plan.layout;
                let ours = if cp.filer <= plan.observers() {
                    "Our observers"
                } else {
                    "Our party agents"
                };
                let summary = match category {
                    ComplaintCategory::ClosedCounting => format!(
                        "{ours} in {} were asked to leave before the count began, and the count \
                         was held behind closed doors.",
                        l.commune_of(*anchor).name
                    ),
                    ComplaintCategory::VoterRoll => format!(
                        "{detail} voters in {} found their names missing from the list at the \
                         polling station where they had registered.",
                        l.provinces[l.province_of(*anchor)].name
                    ),
                    ComplaintCategory::Intimidation => format!(
                        "Local officials in {} told voters that public services would depend on \
                         how their commune voted.",
                        l.district_of(*anchor).name
                    ),
                    ComplaintCategory::VoteBuying => format!(
                        "Envelopes of cash were handed out near the polling stations of {} on the \
                         eve of the vote; {detail} people are said to have received one.",
                        l.commune_of(*anchor).name
                    ),
                    ComplaintCategory::Procedure => "Polling stations in several provinces \
                        closed before the legal hour, and the number of ballots issued was not \
                        published."
                        .to_owned(),
                    _ => "One party received most of the campaign airtime on the national \
                          broadcaster."
                        .to_owned(),
                };
                ComplaintFiled {
                    region: region.clone(),
                    contest: region.as_ref().map(|_| plan.contest.clone()),
                    category: *category,
                    summary: text(summary),
                    evidence: if c.is_multiple_of(2) {
                        evidence
                    } else {
                        Vec::new()
                    },
                    refs: Vec::new(),
                }
            }
        };
        Payload::ComplaintFiled(filed)
    }

    /// The authority's reasoning, which the law requires it to disclose.
    fn reasoning(&self, c: usize) -> Text {
        let plan = self.plan;
        let cp = &plan.complaints[c];
        let recount = cp
            .recount
            .map(|i| {
                format!(
                    " A recount of station {} is ordered.",
                    plan.layout.stations[i as usize]
                )
            })
            .unwrap_or_default();
        let s = match (&cp.about, cp.outcome) {
            (About::Station(i), Outcome::Dismissed) => format!(
                "The signed form 1102 for station {} agrees with the polling officials' tally \
                 sheet; the complainant's copy differs from it in one figure, which points to an \
                 error in copying. The complaint is dismissed.",
                plan.layout.stations[*i as usize]
            ),
            (About::Station(i), Outcome::Upheld) => {
                let (from, to, moved) = plan.alteration(*i);
                format!(
                    "The tally sheet for station {} agrees with the observers' and party agents' \
                     copies: {moved} votes for {} were entered for {}. The complaint is \
                     upheld.{recount}",
                    plan.layout.stations[*i as usize], plan.parties[from], plan.parties[to]
                )
            }
            (About::Station(i), Outcome::PartlyUpheld) => format!(
                "A transcription error on the form for station {} is confirmed; the claim that it \
                 was deliberate is not supported by the evidence.{recount}",
                plan.layout.stations[*i as usize]
            ),
            (About::Region { .. }, Outcome::Dismissed) => "The committee heard the complainant \
                and the officials concerned and examined the station records; the evidence \
                does not support the complaint, which is dismissed."
                .to_owned(),
            (About::Region { .. }, Outcome::PartlyUpheld) => format!(
                "The breach of procedure is confirmed and the officials concerned are \
                 reprimanded; it did not change the figures counted.{recount}"
            ),
            (About::Region { .. }, Outcome::Upheld) => format!(
                "The committee finds the complaint established on the testimony of the \
                 witnesses and the station records, and refers the officials concerned for \
                 discipline.{recount}"
            ),
        };
        text(s)
    }
}

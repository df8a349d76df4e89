//! The NIST SP 1500-100 and OpenElections exports of the sample election.
//! Every expected figure was worked out by hand from the sample's forms (see
//! `core::sample` and tests/election.rs); the comments show the sums.

use std::collections::{BTreeMap, HashSet};

use serde_json::Value;
use tallylog_core::event::{
    Certified, Correction, Geography, Payload, Region, ResultForm, Role, Station, VerifiedEvent,
};
use tallylog_core::keys::test_key;
use tallylog_core::publisher::Publisher;
use tallylog_core::sample::{self, AGENT_KEY, AUTHORITY_KEY, ROOT_KEY};
use tallylog_core::types::{EventId, PublicKey};
use tallylog_tally::export::{nist_json, openelections_csv, ExportError, CSV_HEADER};
use tallylog_tally::{projection_hash, Projection, Source};

mod common;
use common::*;

const GENERATED: &str = "2023-08-01T00:00:00Z";

fn form(station: &str, registered: u64, votes: [u64; 3], invalid: u64) -> ResultForm {
    sample::form(station, registered, votes, invalid)
}

/// A third province, named with every character CSV must quote.
const PROVINCE_03: &str = "Preah \"North\", Vihear\nប្រះវិហារ";
/// Its district, named with a line break and nothing else CSV must quote.
const DISTRICT_03: &str = "Tbaeng\nMeanchey";

/// The sample, then party agent forms that carry a party not on the ballot,
/// an implausible correction, and a station the geography publishes late (in
/// a province whose name needs quoting in CSV).
fn election() -> Vec<VerifiedEvent> {
    let mut evs = sample::events();
    let mut agent = sample::continue_after_sample(AGENT_KEY);
    let mut root = sample::continue_after_sample(ROOT_KEY);
    let at = t("2023-07-23T12:00:00Z");
    let sign = |p: &mut Publisher, payload| p.sign(at, payload).unwrap();

    let over = sign(
        &mut agent,
        Payload::Result(form("02/01/01/0002", 450, [200, 200, 50], 10)),
    );
    let over_id = over.id();
    evs.push(over);
    // DELTA is not on the ballot.
    let mut delta = form("01/01/01/0001", 600, [250, 200, 45], 10);
    delta.votes.insert("DELTA".parse().unwrap(), 5);
    delta.valid += 5;
    delta.cast += 5;
    evs.push(sign(&mut agent, Payload::Result(delta)));
    // A station the geography does not have yet.
    evs.push(sign(
        &mut agent,
        Payload::Result(form("03/01/01/0001", 500, [100, 100, 100], 0)),
    ));
    evs.push(sign(
        &mut agent,
        Payload::Result(form("02/01/01/0001", 700, [200, 350, 60], 12)),
    ));
    // A correction to an implausible figure: it replaces the agent's form at
    // 02/01/01/0002 and is itself not counted.
    evs.push(sign(
        &mut agent,
        Payload::Correction(Correction {
            supersedes: over_id,
            reason: "typed in the wrong box".parse().unwrap(),
            form: form("02/01/01/0002", 450, [20_000_000, 0, 0], 0),
        }),
    ));
    evs.push(sign(
        &mut root,
        Payload::Geography(Geography {
            regions: vec![
                Region {
                    code: "03".parse().unwrap(),
                    name: PROVINCE_03.parse().unwrap(),
                    seats: [(na(), 1)].into(),
                },
                Region {
                    code: "03/01".parse().unwrap(),
                    name: DISTRICT_03.parse().unwrap(),
                    seats: Default::default(),
                },
            ],
            stations: vec![Station {
                code: "03/01/01/0001".parse().unwrap(),
                registered: 500,
            }],
        }),
    ));
    evs
}

fn json(p: &Projection, s: &Source) -> Value {
    let text = nist_json(p, s, t(GENERATED)).unwrap();
    assert!(text.ends_with('\n'));
    serde_json::from_str(&text).unwrap()
}

fn contest(doc: &Value) -> &Value {
    &doc["Election"][0]["Contest"][0]
}

/// A party selection's counts of one type, by unit id.
fn counts(doc: &Value, party: &str, kind: &str) -> BTreeMap<String, u64> {
    let sel = contest(doc)["ContestSelection"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["PartyIds"][0] == format!("party-{party}"))
        .unwrap();
    sel["VoteCounts"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|c| c["Type"] == kind)
        .map(|c| {
            (
                c["GpUnitId"].as_str().unwrap().to_owned(),
                c["Count"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn unit<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["GpUnit"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["@id"] == id)
        .unwrap_or_else(|| panic!("no unit {id}"))
}

#[test]
fn nist_report_has_the_official_figures_at_every_level() {
    let p = fold(&election());
    let doc = json(&p, &official());

    assert_eq!(doc["@type"], "ElectionResults.ElectionReport");
    assert_eq!(doc["Format"], "precinct-level");
    assert_eq!(doc["GeneratedDate"], GENERATED);
    assert_eq!(doc["Issuer"], "National Election Committee");
    assert_eq!(doc["IssuerAbbreviation"], "sample-2023");
    assert_eq!(
        (&doc["SequenceStart"], &doc["SequenceEnd"]),
        (&1.into(), &1.into())
    );
    // The late station 03/01/01/0001 has no official form.
    assert_eq!(doc["Status"], "unofficial-partial");
    assert!(doc["VendorApplicationId"]
        .as_str()
        .unwrap()
        .starts_with("tallylog-tally "));

    let e = &doc["Election"][0];
    assert_eq!(e["@type"], "ElectionResults.Election");
    assert_eq!(
        e["Name"]["Text"][0]["Content"],
        "Sample National Assembly Election 2023"
    );
    assert_eq!(
        (&e["StartDate"], &e["EndDate"]),
        (&"2023-07-23".into(), &"2023-07-23".into())
    );
    assert_eq!(e["Type"], "general");
    assert_eq!(e["ElectionScopeId"], "election-scope");

    let c = contest(&doc);
    assert_eq!(c["@type"], "ElectionResults.PartyContest");
    assert_eq!(c["@id"], "contest-na");
    assert_eq!(c["Name"], "National Assembly");
    assert_eq!(c["VoteVariation"], "proportional");
    assert_eq!(
        (c["SubUnitsReported"].as_u64(), c["TotalSubUnits"].as_u64()),
        (Some(4), Some(5))
    );
    let order: Vec<_> = c["ContestSelection"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert_eq!(s["@type"], "ElectionResults.PartySelection");
            s["PartyIds"][0].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(order, ["party-ALPHA", "party-BETA", "party-GAMMA"]);

    // ALPHA per station: 250; 262 (the recount, not the first count's 300);
    // 200; 150 (the correction). Province 01: 250 + 262 = 512; province 02:
    // 200 + 150 = 350; national 862. Nothing for province 03.
    let alpha = counts(&doc, "ALPHA", "total");
    let expect: BTreeMap<String, u64> = [
        ("election-scope", 862),
        ("gpu-01", 512),
        ("gpu-01.01", 512),
        ("gpu-01.01.01", 512),
        ("gpu-01.01.01.0001", 250),
        ("gpu-01.01.01.0002", 262),
        ("gpu-02", 350),
        ("gpu-02.01", 350),
        ("gpu-02.01.01", 350),
        ("gpu-02.01.01.0001", 200),
        ("gpu-02.01.01.0002", 150),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(alpha, expect);
    assert_eq!(counts(&doc, "BETA", "total")["election-scope"], 848);
    assert_eq!(counts(&doc, "GAMMA", "total")["gpu-02"], 60 + 20);

    // Seats, by D'Hondt from the official figures. Province 01 (3 seats):
    // ALPHA 512, BETA 358, GAMMA 80 -> ALPHA 2, BETA 1. Province 02 (2 seats):
    // ALPHA 350, BETA 490 -> 1 each. Province 03 has no official form.
    let seats =
        |party| -> Vec<(String, u64)> { counts(&doc, party, "seats").into_iter().collect() };
    assert_eq!(
        seats("ALPHA"),
        [("gpu-01".to_owned(), 2), ("gpu-02".to_owned(), 1)]
    );
    assert_eq!(
        seats("BETA"),
        [("gpu-01".to_owned(), 1), ("gpu-02".to_owned(), 1)]
    );
    assert_eq!(
        seats("GAMMA"),
        [("gpu-01".to_owned(), 0), ("gpu-02".to_owned(), 0)]
    );

    // Ballots cast and invalid: 510 + 455 + 622 + 318 = 1905; 10 + 5 + 12 + 8.
    let ballots: BTreeMap<&str, (u64, u64)> = e["BallotCounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            assert_eq!(b["Type"], "total");
            (
                b["GpUnitId"].as_str().unwrap(),
                (
                    b["BallotsCast"].as_u64().unwrap(),
                    b["BallotsRejected"].as_u64().unwrap(),
                ),
            )
        })
        .collect();
    assert_eq!(ballots["election-scope"], (1905, 35));
    assert_eq!(ballots["gpu-01.01.01.0002"], (455, 5));
    assert_eq!(ballots.len(), 11);

    // The geography: every region and station, with registered voters, the
    // hierarchy, and the code.
    let scope = unit(&doc, "election-scope");
    assert_eq!(scope["Type"], "country");
    assert_eq!(scope["VotersRegistered"], 600 + 550 + 700 + 450 + 500);
    assert_eq!(
        scope["ComposingGpUnitIds"],
        serde_json::json!(["gpu-01", "gpu-02", "gpu-03"])
    );
    let kampot = unit(&doc, "gpu-02");
    assert_eq!(
        (&kampot["Type"], &kampot["OtherType"]),
        (&"other".into(), &"province".into())
    );
    assert_eq!(kampot["Name"]["Text"][0]["Content"], "Kampot / កំពត");
    assert_eq!(kampot["Name"]["Text"][0]["Language"], "und");
    assert_eq!(kampot["VotersRegistered"], 700 + 450);
    let commune = unit(&doc, "gpu-02.01.01");
    assert_eq!(commune["OtherType"], "commune");
    assert_eq!(
        commune["ComposingGpUnitIds"],
        serde_json::json!(["gpu-02.01.01.0001", "gpu-02.01.01.0002"])
    );
    let station = unit(&doc, "gpu-02.01.01.0002");
    assert_eq!(station["Type"], "precinct");
    assert_eq!(station["VotersRegistered"], 450);
    assert_eq!(station["ExternalIdentifier"][0]["Value"], "02/01/01/0002");
    assert_eq!(doc["GpUnit"].as_array().unwrap().len(), 1 + 3 + 3 + 3 + 5);

    let parties: Vec<_> = doc["Party"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            assert_eq!(p["@type"], "ElectionResults.Party");
            (
                p["@id"].as_str().unwrap(),
                p["Name"]["Text"][0]["Content"].as_str().unwrap(),
                p["Abbreviation"]["Text"][0]["Content"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        parties,
        [
            ("party-ALPHA", "Alpha Party", "ALPHA"),
            ("party-BETA", "Beta Party", "BETA"),
            ("party-GAMMA", "Gamma Party", "GAMMA")
        ]
    );
}

/// Every `@id` is unique, every reference names one, and every object says
/// its type.
fn check_ids(doc: &Value) {
    fn walk<'a>(v: &'a Value, ids: &mut Vec<&'a str>, refs: &mut Vec<(&'a str, &'a str)>) {
        match v {
            Value::Object(m) => {
                let ty = m["@type"].as_str().expect("every object has a @type");
                assert!(ty.starts_with("ElectionResults."), "{ty}");
                for (k, x) in m {
                    if k == "@id" {
                        ids.push(x.as_str().unwrap());
                    } else if k.ends_with("Id") && k != "VendorApplicationId" {
                        refs.push((k, x.as_str().unwrap()));
                    } else if k.ends_with("Ids") {
                        for r in x.as_array().unwrap() {
                            refs.push((k, r.as_str().unwrap()));
                        }
                    } else {
                        walk(x, ids, refs);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, ids, refs)),
            _ => {}
        }
    }
    let (mut ids, mut refs) = (Vec::new(), Vec::new());
    walk(doc, &mut ids, &mut refs);
    let set: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(set.len(), ids.len(), "duplicate @id");
    for id in &ids {
        // XML NCName: a letter first, then letters, digits, '-', '.', '_'.
        assert!(id.starts_with(|c: char| c.is_ascii_alphabetic()), "{id}");
        assert!(
            id.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c)),
            "{id}"
        );
    }
    assert!(!refs.is_empty());
    for (k, r) in refs {
        assert!(set.contains(r), "{k} {r} names nothing");
    }
}

#[test]
fn nist_ids_resolve_for_every_source() {
    let p = fold(&election());
    for s in [official(), observer(), watch(), agent()] {
        check_ids(&json(&p, &s));
    }
}

/// Each region's count is the sum of its stations' counts: the export counts
/// a station exactly when the tallies do, implausible forms included.
#[test]
fn nist_station_counts_add_up_to_the_regions() {
    let p = fold(&election());
    for s in [official(), observer(), agent()] {
        let doc = json(&p, &s);
        for party in ["ALPHA", "BETA", "GAMMA"] {
            let c = counts(&doc, party, "total");
            for (unit, count) in &c {
                let prefix = match unit.as_str() {
                    "election-scope" => "gpu-".to_owned(),
                    u if u.matches('.').count() == 3 => continue,
                    u => format!("{u}."),
                };
                let sum: u64 = c
                    .iter()
                    .filter(|(k, _)| k.starts_with(&prefix) && k.matches('.').count() == 3)
                    .map(|(_, v)| v)
                    .sum();
                assert_eq!(sum, *count, "{s} {party} {unit}");
            }
        }
    }
    // The agent's implausible correction at 02/01/01/0002 is current but not
    // counted; its late station 03/01/01/0001 is.
    let doc = json(&p, &agent());
    let alpha = counts(&doc, "ALPHA", "total");
    assert!(!alpha.contains_key("gpu-02.01.01.0002"));
    assert_eq!(alpha["gpu-03.01.01.0001"], 100);
    // 01/01/01/0001 250, 01/01/01/0002 260, 02/01/01/0001 200, 03 100.
    assert_eq!(alpha["election-scope"], 810);
    // DELTA is not on the ballot: no selection, but its ballots are cast.
    assert_eq!(
        contest(&doc)["ContestSelection"].as_array().unwrap().len(),
        3
    );
    let e = &doc["Election"][0]["BallotCounts"];
    let at = |id: &str| {
        e.as_array()
            .unwrap()
            .iter()
            .find(|b| b["GpUnitId"] == id)
            .unwrap()
    };
    assert_eq!(
        at("gpu-01.01.01.0001")["BallotsCast"],
        250 + 200 + 45 + 5 + 10
    );
    // Province 03 has one seat: BETA and ALPHA tie at 100, GAMMA too; ALPHA is
    // first on the ballot.
    assert_eq!(counts(&doc, "ALPHA", "seats")["gpu-03"], 1);
}

#[test]
fn nist_status_follows_coverage_and_certification() {
    // The plain sample: the authority has a form at every station.
    let mut evs = sample::events();
    let p = fold(&evs);
    assert_eq!(json(&p, &official())["Status"], "unofficial-complete");
    assert_eq!(json(&p, &observer())["Status"], "unofficial-partial");

    // Certified, and confirmed by replay.
    let mut nec = sample::continue_after_sample(AUTHORITY_KEY);
    let at = t("2023-08-10T00:00:00Z");
    evs.push(
        nec.sign(
            at,
            Payload::Certified(Certified {
                log_size: evs.len() as u64,
                projection: projection_hash(&p),
            }),
        )
        .unwrap(),
    );
    let p = fold(&evs);
    assert_eq!(p.certifications()[0].confirmed, Some(true));
    assert_eq!(json(&p, &official())["Status"], "certified");
    // The authority's certification is not an observer's.
    assert_eq!(json(&p, &observer())["Status"], "unofficial-partial");

    // A correction after the certification: the figures are no longer the
    // certified ones.
    evs.push(
        nec.sign(
            at,
            Payload::Correction(Correction {
                supersedes: official_form("01/01/01/0001"),
                reason: "late correction".parse().unwrap(),
                form: form("01/01/01/0001", 600, [251, 199, 50], 10),
            }),
        )
        .unwrap(),
    );
    let p = fold(&evs);
    let doc = json(&p, &official());
    assert_eq!(doc["Status"], "unofficial-complete");
    assert_eq!(counts(&doc, "ALPHA", "total")["gpu-01.01.01.0001"], 251);
}

/// The authority's first form at a station in the sample.
fn official_form(station: &str) -> EventId {
    let nec: PublicKey = test_key(AUTHORITY_KEY).verifying_key().into();
    sample::events()
        .iter()
        .find(|e| {
            e.body().author == nec
                && e.body()
                    .payload
                    .form()
                    .is_some_and(|f| f.station.as_str() == station)
        })
        .unwrap()
        .id()
}

#[test]
fn a_source_with_no_forms_gives_a_report_with_no_counts() {
    let p = fold(&election());
    let nobody = source(Role::Observer, "Nobody");
    let doc = json(&p, &nobody);
    check_ids(&doc);
    assert_eq!(doc["Status"], "unofficial-partial");
    assert_eq!(doc["GpUnit"].as_array().unwrap().len(), 15);
    let c = contest(&doc);
    assert_eq!(c["SubUnitsReported"], 0);
    for s in c["ContestSelection"].as_array().unwrap() {
        assert!(s.get("VoteCounts").is_none());
    }
    assert!(doc["Election"][0].get("BallotCounts").is_none());

    let csv = openelections_csv(&p, &nobody, &na()).unwrap();
    assert_eq!(csv, format!("{}\r\n", CSV_HEADER.join(",")));
}

#[test]
fn nothing_to_export_before_the_election_is_defined() {
    let p = Projection::new();
    assert_eq!(
        nist_json(&p, &official(), t(GENERATED)),
        Err(ExportError::NoElection)
    );
    assert_eq!(
        openelections_csv(&p, &official(), &na()),
        Err(ExportError::NoElection)
    );
    let p = fold(&sample::events());
    assert_eq!(
        openelections_csv(&p, &official(), &"cc".parse().unwrap()),
        Err(ExportError::UnknownContest("cc".parse().unwrap()))
    );
}

#[test]
fn exports_are_a_function_of_the_log() {
    let evs = election();
    let (a, b) = (fold(&evs), fold(&evs));
    for s in [official(), agent(), watch()] {
        let one = nist_json(&a, &s, t(GENERATED)).unwrap();
        assert_eq!(one, nist_json(&a, &s, t(GENERATED)).unwrap());
        assert_eq!(one, nist_json(&b, &s, t(GENERATED)).unwrap());
        let one = openelections_csv(&a, &s, &na()).unwrap();
        assert_eq!(one, openelections_csv(&b, &s, &na()).unwrap());
    }
}

/// A strict RFC 4180 reader: CRLF line ends, quoted fields with doubled
/// quotes; anything else is a test failure.
fn parse_csv(s: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut chars = s.chars().peekable();
    let mut at_start = true;
    while let Some(c) = chars.next() {
        match c {
            '"' if at_start => {
                at_start = false;
                loop {
                    match chars.next().expect("unterminated quoted field") {
                        '"' if chars.peek() == Some(&'"') => {
                            chars.next();
                            field.push('"');
                        }
                        '"' => break,
                        c => field.push(c),
                    }
                }
                assert!(
                    matches!(chars.peek(), Some(',') | Some('\r') | None),
                    "text after a closing quote"
                );
            }
            '"' => panic!("a quote inside an unquoted field"),
            ',' => {
                row.push(std::mem::take(&mut field));
                at_start = true;
            }
            '\r' => {
                assert_eq!(chars.next(), Some('\n'), "CR without LF");
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
                at_start = true;
            }
            '\n' => panic!("LF without CR outside quotes"),
            c => {
                at_start = false;
                field.push(c);
            }
        }
    }
    assert!(row.is_empty() && field.is_empty(), "last line not ended");
    rows
}

fn rows_of(csv: &str) -> Vec<BTreeMap<&'static str, String>> {
    let rows = parse_csv(csv);
    assert_eq!(rows[0], CSV_HEADER);
    rows[1..]
        .iter()
        .map(|r| {
            assert_eq!(r.len(), CSV_HEADER.len());
            CSV_HEADER.iter().copied().zip(r.iter().cloned()).collect()
        })
        .collect()
}

#[test]
fn openelections_csv_has_a_row_per_station_and_figure() {
    let p = fold(&election());
    let csv = openelections_csv(&p, &official(), &na()).unwrap();
    let rows = rows_of(&csv);
    // Four stations with an official form (not 03/01/01/0001), each with
    // Registered Voters, Ballots Cast, three parties and Invalid Ballots.
    assert_eq!(rows.len(), 4 * (3 + 3));
    let line = |r: &BTreeMap<&str, String>| -> Vec<String> {
        CSV_HEADER.iter().map(|h| r[h].clone()).collect()
    };
    let first: Vec<Vec<String>> = rows[..6].iter().map(line).collect();
    let nec = "authority:National Election Committee";
    let geo = [
        "Battambang / បាត់ដំបង",
        "Sangkae / សង្កែ",
        "Ou Dambang / អូរដំបង",
        "01/01/01/0001",
    ];
    let expect = |office: &str, district: &str, party: &str, candidate: &str, votes: u64| {
        geo.iter()
            .map(|s| s.to_string())
            .chain([office, district, party, candidate].map(str::to_owned))
            .chain([votes.to_string(), nec.to_owned()])
            .collect::<Vec<_>>()
    };
    assert_eq!(
        first,
        [
            expect("Registered Voters", "", "", "", 600),
            expect("Ballots Cast", "", "", "", 510),
            expect("National Assembly", "01", "ALPHA", "Alpha Party", 250),
            expect("National Assembly", "01", "BETA", "Beta Party", 200),
            expect("National Assembly", "01", "GAMMA", "Gamma Party", 50),
            expect("National Assembly", "01", "", "Invalid Ballots", 10),
        ]
    );
    // Station code order; the recount and the correction are what count.
    let stations: Vec<&str> = rows
        .iter()
        .step_by(6)
        .map(|r| r["precinct"].as_str())
        .collect();
    assert_eq!(
        stations,
        [
            "01/01/01/0001",
            "01/01/01/0002",
            "02/01/01/0001",
            "02/01/01/0002"
        ]
    );
    let votes = |station: &str, office: &str, candidate: &str| -> u64 {
        rows.iter()
            .find(|r| {
                r["precinct"] == station && r["office"] == office && r["candidate"] == candidate
            })
            .unwrap()["votes"]
            .parse()
            .unwrap()
    };
    assert_eq!(
        votes("01/01/01/0002", "National Assembly", "Alpha Party"),
        262
    );
    assert_eq!(votes("02/01/01/0002", "Ballots Cast", ""), 318);
    assert_eq!(
        votes("02/01/01/0002", "National Assembly", "Invalid Ballots"),
        8
    );
    // The national ALPHA total: 250 + 262 + 200 + 150.
    let alpha: u64 = rows
        .iter()
        .filter(|r| r["party"] == "ALPHA")
        .map(|r| r["votes"].parse::<u64>().unwrap())
        .sum();
    assert_eq!(alpha, 862);
    assert!(rows
        .iter()
        .filter(|r| r["party"] == "ALPHA")
        .all(|r| !r["county"].is_empty()));
    assert!(rows[6..].iter().all(|r| r["province"] != PROVINCE_03));
}

#[test]
fn openelections_csv_quotes_what_it_must_and_keeps_off_ballot_votes() {
    let p = fold(&election());

    // The watch coalition's one form (02/01/01/0001): its name has quotes.
    let csv = openelections_csv(&p, &watch(), &na()).unwrap();
    assert!(csv.contains(r#","observer:Election ""Watch"" Coalition""#));
    let rows = rows_of(&csv);
    assert_eq!(rows.len(), 6);
    assert!(rows
        .iter()
        .all(|r| r["source"] == "observer:Election \"Watch\" Coalition"));
    assert_eq!(rows[3]["candidate"], "Beta Party");
    assert_eq!(rows[3]["votes"], "350");

    // The party agent: four stations counted (the implausible correction at
    // 02/01/01/0002 is not), one of them with DELTA, which is not on the
    // ballot, and the late station in a province whose name has a quote, a
    // comma and a newline.
    let csv = openelections_csv(&p, &agent(), &na()).unwrap();
    assert!(csv.contains("\"Preah \"\"North\"\", Vihear\nប្រះវិហារ\","));
    assert!(csv.contains(",\"Tbaeng\nMeanchey\","));
    let rows = rows_of(&csv);
    assert_eq!(rows.len(), 4 * 6 + 1);
    let station: Vec<(&str, &str, &str)> = rows
        .iter()
        .filter(|r| r["precinct"] == "01/01/01/0001")
        .map(|r| {
            (
                r["party"].as_str(),
                r["candidate"].as_str(),
                r["votes"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        station,
        [
            ("", "", "600"),
            ("", "", "510"),
            ("ALPHA", "Alpha Party", "250"),
            ("BETA", "Beta Party", "200"),
            ("GAMMA", "Gamma Party", "45"),
            ("DELTA", "DELTA", "5"),
            ("", "Invalid Ballots", "10"),
        ]
    );
    let late: Vec<_> = rows
        .iter()
        .filter(|r| r["precinct"] == "03/01/01/0001")
        .collect();
    assert_eq!(late.len(), 6);
    assert!(late.iter().all(|r| r["province"] == PROVINCE_03
        && r["county"] == DISTRICT_03
        && r["commune"].is_empty()));
    assert_eq!(late[2]["district"], "03");
    assert!(rows.iter().all(|r| r["precinct"] != "02/01/01/0002"));
}

#[test]
fn csv_and_nist_agree() {
    let p = fold(&election());
    for s in [official(), observer(), agent()] {
        let doc = json(&p, &s);
        let rows = rows_of(&openelections_csv(&p, &s, &na()).unwrap());
        for party in ["ALPHA", "BETA", "GAMMA"] {
            let csv: u64 = rows
                .iter()
                .filter(|r| r["party"] == party)
                .map(|r| r["votes"].parse::<u64>().unwrap())
                .sum();
            let nist = counts(&doc, party, "total")
                .get("election-scope")
                .copied()
                .unwrap_or(0);
            assert_eq!(csv, nist, "{s} {party}");
        }
    }
}

/// What the NIST SP 1500-100 v2 JSON schema
/// (`NIST_V2_election_results_reporting.json`, usnistgov/ElectionResultsReporting)
/// says of the object types the export writes: required properties, the other
/// properties allowed (every type has `additionalProperties: false`), and the
/// enumerations of the values used.
fn schema(ty: &str) -> (&'static [&'static str], &'static [&'static str]) {
    match ty {
        "ElectionResults.ElectionReport" => (
            &[
                "@type",
                "Format",
                "GeneratedDate",
                "Issuer",
                "IssuerAbbreviation",
                "SequenceEnd",
                "SequenceStart",
                "Status",
                "VendorApplicationId",
            ],
            &[
                "Election",
                "ExternalIdentifier",
                "GpUnit",
                "Header",
                "IsTest",
                "Notes",
                "Office",
                "OfficeGroup",
                "Party",
                "Person",
                "TestType",
            ],
        ),
        "ElectionResults.Election" => (
            &[
                "@type",
                "ElectionScopeId",
                "EndDate",
                "Name",
                "StartDate",
                "Type",
            ],
            &[
                "BallotCounts",
                "BallotStyle",
                "Candidate",
                "ContactInformation",
                "Contest",
                "CountStatus",
                "ExternalIdentifier",
                "OtherType",
            ],
        ),
        "ElectionResults.BallotCounts" => (
            &["@type", "GpUnitId", "Type"],
            &[
                "BallotsCast",
                "BallotsOutstanding",
                "BallotsRejected",
                "DeviceClass",
                "IsSuppressedForPrivacy",
                "OtherType",
                "Round",
            ],
        ),
        "ElectionResults.Party" => (
            &["@id", "@type", "Name"],
            &[
                "Abbreviation",
                "Color",
                "ContactInformation",
                "ExternalIdentifier",
                "IsRecognizedParty",
                "LeaderPersonIds",
                "LogoUri",
                "PartyScopeGpUnitIds",
                "Slogan",
            ],
        ),
        "ElectionResults.PartyContest" => (
            &["@id", "@type", "ElectionDistrictId", "Name"],
            &[
                "Abbreviation",
                "BallotSubTitle",
                "BallotTitle",
                "ContestSelection",
                "CountStatus",
                "ExternalIdentifier",
                "HasRotation",
                "OtherCounts",
                "OtherVoteVariation",
                "SequenceOrder",
                "SubUnitsReported",
                "TotalSubUnits",
                "VoteVariation",
            ],
        ),
        "ElectionResults.PartySelection" => (
            &["@id", "@type", "PartyIds"],
            &["SequenceOrder", "VoteCounts"],
        ),
        "ElectionResults.ReportingUnit" => (
            &["@id", "@type", "Type"],
            &[
                "AuthorityIds",
                "ComposingGpUnitIds",
                "ContactInformation",
                "CountStatus",
                "ElectionAdministration",
                "ExternalIdentifier",
                "IsDistricted",
                "IsMailOnly",
                "Name",
                "Number",
                "OtherType",
                "PartyRegistration",
                "SpatialDimension",
                "SubUnitsReported",
                "TotalSubUnits",
                "VotersParticipated",
                "VotersRegistered",
            ],
        ),
        "ElectionResults.VoteCounts" => (
            &["@type", "Count", "GpUnitId", "Type"],
            &[
                "DeviceClass",
                "IsSuppressedForPrivacy",
                "OtherType",
                "Round",
            ],
        ),
        "ElectionResults.ExternalIdentifier" => {
            (&["@type", "Type", "Value"], &["Label", "OtherType"])
        }
        "ElectionResults.InternationalizedText" => (&["@type", "Text"], &["Label"]),
        "ElectionResults.LanguageString" => (&["@type", "Content", "Language"], &[]),
        other => panic!("the export writes no {other}"),
    }
}

#[test]
fn nist_objects_have_the_schema_properties_and_values() {
    fn walk(v: &Value, seen: &mut HashSet<String>) {
        match v {
            Value::Object(m) => {
                let ty = m["@type"].as_str().unwrap();
                seen.insert(ty.to_owned());
                let (required, optional) = schema(ty);
                for r in required {
                    assert!(m.contains_key(*r), "{ty} lacks {r}");
                }
                for k in m.keys() {
                    assert!(
                        required.contains(&k.as_str()) || optional.contains(&k.as_str()),
                        "{ty} has no property {k}"
                    );
                }
                let enumeration: &[&str] = match (ty, m.get("Type")) {
                    ("ElectionResults.ReportingUnit", _) => &["country", "other", "precinct"],
                    ("ElectionResults.VoteCounts" | "ElectionResults.BallotCounts", _) => {
                        &["total", "seats"]
                    }
                    ("ElectionResults.Election", _) => &["general"],
                    ("ElectionResults.ExternalIdentifier", _) => &["other"],
                    _ => &[],
                };
                if let Some(t) = m.get("Type") {
                    assert!(enumeration.contains(&t.as_str().unwrap()), "{ty} Type {t}");
                }
                m.values().for_each(|x| walk(x, seen));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, seen)),
            _ => {}
        }
    }
    let p = fold(&election());
    for (s, types) in [
        (official(), 11),
        (agent(), 11),
        (source(Role::Observer, "Nobody"), 9),
    ] {
        let doc = json(&p, &s);
        let mut seen = HashSet::new();
        walk(&doc, &mut seen);
        // Every type above, but counts only where there are counts.
        assert_eq!(seen.len(), types, "{seen:?}");
        // ReportDetailLevel, ResultsStatus, VoteVariation.
        assert!(["precinct-level", "summary-contest"].contains(&doc["Format"].as_str().unwrap()));
        assert!([
            "certified",
            "correction",
            "pre-election",
            "recount",
            "unofficial-complete",
            "unofficial-partial"
        ]
        .contains(&doc["Status"].as_str().unwrap()));
        assert_eq!(contest(&doc)["VoteVariation"], "proportional");
        // DateTimeWithZone: no fraction, a zone; dates are xs:date.
        assert_eq!(doc["GeneratedDate"].as_str().unwrap().len(), 20);
        assert_eq!(doc["Election"][0]["StartDate"].as_str().unwrap().len(), 10);
    }
}

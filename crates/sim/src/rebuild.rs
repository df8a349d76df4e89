//! The projection and audit stages of `tallylog bench`: rebuilding the
//! projection from a local copy of the log, as a projector does on every
//! start; the fold alone, with decoding off the clock; and a full audit of
//! the same log as a bundle. Over a Cambodia-sized election (about 24,000
//! stations, an official form for each and observer and party copies for
//! many), so that the fold meets realistic numbers of stations and sources.

use std::collections::BTreeMap;
use std::time::Instant;

use tallylog_core::entry::{Entry, GENESIS_PREV};
use tallylog_core::event::*;
use tallylog_core::keys::test_key;
use tallylog_core::publisher::Publisher;
use tallylog_core::types::{ElectionId, Level, LogIndex};
use tallylog_projector::db::Db;
use tallylog_tally::{projection_hash, Projection};

use crate::bench::Report;

/// Measures the rebuild of `entries` (stored in a projector database under
/// `dir`) and the fold alone, and adds both to the report.
pub fn run(
    r: &mut Report,
    dir: &std::path::Path,
    election: &ElectionId,
    entries: &[Entry],
) -> std::io::Result<()> {
    let n = entries.len() as f64;
    {
        let mut db = Db::open(&dir.join("projector"), election).map_err(std::io::Error::other)?;
        for chunk in entries.chunks(4096) {
            db.append(chunk).map_err(std::io::Error::other)?;
        }
    }
    // Reopened, as after a restart: the rebuild reads from sled, decodes
    // every entry strictly and folds it.
    let db = Db::open(&dir.join("projector"), election).map_err(std::io::Error::other)?;
    let t = Instant::now();
    let rebuilt = tallylog_projector::rebuild(&db).map_err(std::io::Error::other)?;
    let secs = t.elapsed().as_secs_f64();
    r.stage(
        "projection_rebuild",
        n / secs,
        "events/s",
        "json_parse_1t",
        "projector start: read its sled copy of the log, quick decode of its own copy + chain check (second thread), fold",
    );

    let bodies: Vec<_> = entries
        .iter()
        .map(|e| (e.index(), e.event().id(), e.event().body().clone()))
        .collect();
    let t = Instant::now();
    let mut p = Projection::new();
    for (index, id, body) in bodies {
        p.apply(index, id, body).map_err(std::io::Error::other)?;
    }
    let secs = t.elapsed().as_secs_f64();
    r.stage(
        "projection_fold_1t",
        n / secs,
        "events/s",
        "json_parse_1t",
        "the fold alone over decoded entries, one thread",
    );
    // The same log as an audit bundle, audited from the bytes up.
    let path = dir.join("bundle.jsonl");
    write_bundle(&path, election, entries)?;
    let t = Instant::now();
    let report = tallylog_audit::audit_bundle(&path, tallylog_audit::Options::default(), |_, _| {})
        .map_err(std::io::Error::other)?;
    let secs = t.elapsed().as_secs_f64();
    if !report.verified {
        return Err(std::io::Error::other(format!(
            "the benchmark's own log did not audit: {:?}",
            report.failure
        )));
    }
    r.stage(
        "audit_full",
        n / secs,
        "events/s",
        "ed25519_verify_strict_2t",
        "tallylog audit of the bundle: decode, verify_strict on both cores, rules, tree, checkpoints, fold",
    );
    r.stage(
        "audit_full_vs_batch",
        n / secs,
        "events/s",
        "ed25519_verify_batch256_2t",
        "the same, against the batch-verify ceiling the issue names (batching is not sound here: PROTOCOL.md §2)",
    );

    // Audited again by a monitor that verified it before: the entries are
    // recognised by their root, and no signature is checked again.
    let t = Instant::now();
    let again = tallylog_audit::audit_bundle(
        &path,
        tallylog_audit::Options {
            root_key: None,
            known: report.latest,
        },
        |_, _| {},
    )
    .map_err(std::io::Error::other)?;
    let secs = t.elapsed().as_secs_f64();
    if !again.verified || again.verified_before != entries.len() as u64 {
        return Err(std::io::Error::other(
            "the second audit did not recognise the log",
        ));
    }
    r.stage(
        "audit_again_known",
        n / secs,
        "events/s",
        "json_parse_1t",
        "the same audit by a monitor that verified this log before: signatures not checked again",
    );

    if projection_hash(&p) != projection_hash(&rebuilt) {
        return Err(std::io::Error::other(
            "the rebuilt projection differs from the fold: a bug to report",
        ));
    }
    Ok(())
}

/// A deterministic election of `provinces` × 8 × 8 × 15 stations: the
/// definition, the geography in chunks, keys for the authority, three
/// observer groups and four party agents, an official form for every
/// station, observer copies of four in five and party copies of two in five,
/// with one copy in fourteen differing from the official figures. Its keys
/// are `test_key`s: public, for benchmarks only.
pub fn election(provinces: u32) -> (ElectionId, Vec<Entry>) {
    let id: ElectionId = "bench-2023".parse().expect("invariant: a valid id");
    fn p<T: std::str::FromStr>(s: &str) -> T
    where
        T::Err: std::fmt::Debug,
    {
        s.parse().expect("invariant: valid bench values")
    }
    let time = "2023-07-23T12:00:00Z"
        .parse()
        .expect("invariant: a valid time");
    let parties: Vec<String> = (1..=6).map(|i| format!("P{i}")).collect();
    let mut root = Publisher::new(test_key(1), id.clone());
    let mut events = Vec::new();
    let mut push = |pubr: &mut Publisher, payload: Payload| {
        events.push(
            pubr.sign(time, payload)
                .expect("invariant: bench events sign"),
        );
    };
    push(
        &mut root,
        Payload::Election(ElectionDef {
            name: p("Benchmark election"),
            polls_close: time,
            log: LogRef {
                origin: p("tallylog.example/bench"),
                key: test_key(2).verifying_key().into(),
            },
            parties: parties
                .iter()
                .map(|id| Party {
                    id: p(id),
                    name: p(id),
                })
                .collect(),
            contests: vec![Contest {
                id: p("na"),
                name: p("National Assembly"),
                constituency: Level::Province,
                formula: SeatFormula::Dhondt,
                parties: parties.iter().map(|id| p(id)).collect(),
            }],
            deadlines: Deadlines {
                filing_hours: 72,
                resolution_hours: 48,
                appeal_filing_hours: 72,
                appeal_resolution_hours: 72,
            },
        }),
    );
    let mut stations = Vec::new();
    let mut regions = Vec::new();
    for a in 1..=provinces {
        regions.push(Region {
            code: p(&format!("{a:02}")),
            name: p(&format!("Province {a}")),
            seats: [(p("na"), 5)].into(),
        });
        for b in 1..=8 {
            for c in 1..=8 {
                for d in 1..=15 {
                    stations.push(format!("{a:02}/{b:02}/{c:02}/{d:04}"));
                }
            }
        }
    }
    push(
        &mut root,
        Payload::Geography(Geography {
            regions,
            stations: vec![],
        }),
    );
    for chunk in stations.chunks(1000) {
        push(
            &mut root,
            Payload::Geography(Geography {
                regions: vec![],
                stations: chunk
                    .iter()
                    .map(|s| Station {
                        code: p(s),
                        registered: 600,
                    })
                    .collect(),
            }),
        );
    }
    let orgs = [
        (3, Role::Authority, "Election Authority"),
        (4, Role::Observer, "Observers One"),
        (5, Role::Observer, "Observers Two"),
        (6, Role::Observer, "Observers Three"),
        (7, Role::PartyAgent, "P1"),
        (8, Role::PartyAgent, "P2"),
        (9, Role::PartyAgent, "P3"),
        (10, Role::PartyAgent, "P4"),
    ];
    for (n, role, org) in orgs {
        push(
            &mut root,
            Payload::KeyRegister(KeyRegister {
                key: test_key(n).verifying_key().into(),
                role,
                org: p(org),
            }),
        );
    }
    let mut pubs: Vec<Publisher> = orgs
        .iter()
        .map(|(n, _, _)| Publisher::new(test_key(*n), id.clone()))
        .collect();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for s in &stations {
        let votes: Vec<u64> = (0..6).map(|i| rnd() % (150 / (i + 1))).collect();
        let invalid = rnd() % 10;
        let form = |votes: &[u64]| {
            let valid: u64 = votes.iter().sum();
            ResultForm {
                station: p(s),
                contest: p("na"),
                registered: 600,
                cast: valid + invalid,
                valid,
                invalid,
                votes: parties
                    .iter()
                    .zip(votes)
                    .map(|(id, v)| (p(id), *v))
                    .collect::<BTreeMap<_, _>>(),
                image_sha256: None,
            }
        };
        for (k, pubr) in pubs.iter_mut().enumerate() {
            let publishes = match k {
                0 => true,
                1..=3 => rnd() % 5 != 0,
                _ => rnd() % 5 < 2,
            };
            if !publishes {
                continue;
            }
            let mut v = votes.clone();
            if k > 0 && rnd() % 14 == 0 {
                v[0] += 3;
                v[1] = v[1].saturating_sub(3);
            }
            push(pubr, Payload::Result(form(&v)));
        }
    }
    let mut prev = GENESIS_PREV;
    let entries = events
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let entry = Entry::new(LogIndex(i as u64), prev, e.into_event());
            prev = entry.chain_hash();
            entry
        })
        .collect();
    (id, entries)
}

/// Writes `entries` as an audit bundle, with a checkpoint every 1024
/// entries (as the ledger signs one per batch) and after the last, signed by
/// the benchmark election's log key (`test_key(2)`).
pub fn write_bundle(
    path: &std::path::Path,
    election: &ElectionId,
    entries: &[Entry],
) -> std::io::Result<()> {
    let signer = tallylog_core::checkpoint::LogSigner::new("tallylog.example/bench", test_key(2))
        .map_err(std::io::Error::other)?;
    let f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let header = tallylog_audit::bundle::Header {
        bundle: tallylog_audit::bundle::FORMAT.to_owned(),
        election: election.clone(),
        origin: "tallylog.example/bench"
            .parse()
            .map_err(std::io::Error::other)?,
        size: entries.len() as u64,
    };
    let mut w = tallylog_audit::bundle::Writer::new(f, &header)?;
    let mut tree = tallylog_core::merkle::MemoryTree::new();
    for (i, e) in entries.iter().enumerate() {
        w.entry(e.bytes())?;
        tree.push(e.chain_hash());
        if (i + 1) % 1024 == 0 || i + 1 == entries.len() {
            w.checkpoint(&signer.sign(tree.size(), tree.root()))?;
        }
    }
    w.finish()?;
    Ok(())
}

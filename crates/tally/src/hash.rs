//! The projection hash: one digest of everything the fold derived from the
//! log's first `size` entries, so that an authority's "results certified"
//! event can be checked by anyone who replays the log, and two projectors can
//! compare their states by comparing 32 bytes.
//!
//! The state is written as a sequence of small canonical JSON (RFC 8785)
//! records, one per line, in an order fixed by the specification in
//! docs/PROTOCOL.md §13, and hashed as one stream:
//!
//! ```text
//! projection = SHA-256("tallylog/projection/v1\n" || record_1 || "\n" || record_2 || "\n" || ...)
//! ```
//!
//! Records rather than one big JSON document so that the hash can be computed
//! in a single streaming pass over an election of a million stations, and
//! re-implemented in a few dozen lines of any language.

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest as _, Sha256};
use tallylog_core::json;
use tallylog_core::types::{Digest, EventId, PartyId, RegionCode};

use crate::state::{Projection, Source, Status};

pub const DOMAIN: &[u8] = b"tallylog/projection/v1\n";

/// The projection hash of the state.
pub fn projection_hash(p: &Projection) -> Digest {
    let mut h = Sha256::new();
    h.update(DOMAIN);
    records(p, &mut |line| {
        h.update(line);
        h.update(b"\n");
    });
    Digest(h.finalize().into())
}

/// Calls `out` with each record's canonical bytes, in order.
pub fn records(p: &Projection, out: &mut dyn FnMut(&[u8])) {
    let mut emit = |r: &Record| out(&json::encode(r));

    emit(&Record::Log {
        election: p.election().map(|(id, _)| id.to_string()),
        size: p.size(),
    });
    for (code, info) in p.regions() {
        emit(&Record::Region {
            region: code.as_str(),
            seats: &info.seats,
        });
    }
    for (code, registered) in p.stations() {
        emit(&Record::Station {
            station: code.as_str(),
            registered: *registered,
        });
    }
    for (source, forms) in p.sources() {
        emit(&Record::Source {
            source,
            forms: *forms,
        });
    }
    for f in p.forms() {
        let current = f
            .source
            .as_ref()
            .and_then(|s| p.current(&(f.form.station.clone(), f.form.contest.clone(), s.clone())))
            .is_some_and(|c| c.event == f.event);
        let mut anomalies: Vec<&str> = f.anomalies.iter().map(|a| a.code()).collect();
        anomalies.sort_unstable();
        emit(&Record::Form {
            index: f.index.0,
            event: f.event,
            source: f.source.as_ref(),
            station: f.form.station.as_str(),
            contest: f.form.contest.as_str(),
            current,
            superseded_by: f.superseded_by,
            anomalies,
        });
    }
    let mut totals: Vec<_> = p
        .totals
        .iter()
        .flat_map(|(c, by_source)| {
            by_source
                .iter()
                .flat_map(move |(s, by_region)| by_region.iter().map(move |(r, t)| ((c, s, r), t)))
        })
        .filter(|(_, t)| t.stations > 0)
        .collect();
    totals.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    for ((contest, source, region), t) in totals {
        emit(&Record::Total {
            contest: contest.as_str(),
            source,
            region: region.as_ref().map_or("", RegionCode::as_str),
            stations: t.stations,
            registered: t.registered,
            cast: t.cast,
            valid: t.valid,
            invalid: t.invalid,
            votes: &t.votes,
        });
    }
    for c in p.complaints() {
        emit(&Record::Complaint {
            event: c.event,
            status: c.status,
            steps: c.steps.iter().map(|s| s.event).collect(),
            recounts: c.recounts.clone(),
        });
    }
    for a in crate::views::all_seats(p) {
        emit(&Record::Seats {
            contest: a.contest.as_str(),
            source: &a.source,
            region: a.region.as_str(),
            won: a
                .allocation
                .won
                .iter()
                .filter(|(_, n)| *n > 0)
                .map(|(p, n)| (p.clone(), *n))
                .collect(),
            unfilled: a.allocation.unfilled,
        });
    }
    for c in p.certifications() {
        emit(&Record::Certification {
            event: c.event,
            log_size: c.log_size,
            claimed: c.claimed,
        });
    }
    let mut endorsed: Vec<_> = p
        .endorsements
        .iter()
        .flat_map(|(of, list)| list.iter().map(move |e| (e.index, e.event, *of)))
        .collect();
    endorsed.sort_unstable();
    for (_, event, of) in endorsed {
        emit(&Record::Attestation { event, of });
    }
}

/// The records, as the specification names their fields. `record` says which
/// one a line is.
#[derive(Serialize)]
#[serde(tag = "record", rename_all = "snake_case")]
enum Record<'a> {
    Log {
        election: Option<String>,
        size: u64,
    },
    Region {
        region: &'a str,
        seats: &'a BTreeMap<tallylog_core::types::ContestId, u32>,
    },
    Station {
        station: &'a str,
        registered: u64,
    },
    Source {
        source: &'a Source,
        forms: u64,
    },
    Form {
        index: u64,
        event: EventId,
        source: Option<&'a Source>,
        station: &'a str,
        contest: &'a str,
        current: bool,
        superseded_by: Option<EventId>,
        anomalies: Vec<&'static str>,
    },
    Total {
        contest: &'a str,
        source: &'a Source,
        region: &'a str,
        stations: u64,
        registered: u64,
        cast: u64,
        valid: u64,
        invalid: u64,
        votes: &'a BTreeMap<PartyId, u64>,
    },
    Complaint {
        event: EventId,
        status: Status,
        steps: Vec<EventId>,
        recounts: Vec<EventId>,
    },
    Seats {
        contest: &'a str,
        source: &'a Source,
        region: &'a str,
        won: BTreeMap<PartyId, u32>,
        unfilled: u32,
    },
    Certification {
        event: EventId,
        log_size: u64,
        claimed: Digest,
    },
    Attestation {
        event: EventId,
        of: EventId,
    },
}

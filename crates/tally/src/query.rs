//! Questions to a projection and their answers, as JSON: the one dispatcher
//! behind the projector's NATS request-reply endpoint and `tallylog tally`
//! reading a log directly, so the two always answer alike.
//!
//! Lists are paged (`offset`, `limit`) because an answer travels as one NATS
//! message, and a station-level table of a large election does not fit in one.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tallylog_core::event::Contest;
use tallylog_core::types::{ContestId, Level, RegionCode, StationCode, Timestamp};

use crate::state::{AnomalyKind, Projection, Source};
use crate::views;

/// The most rows one answer holds.
pub const MAX_LIMIT: usize = 10_000;
const DEFAULT_LIMIT: usize = 1_000;

/// A question, as JSON: `{"view":"tallies","level":"province",...}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "view", rename_all = "snake_case", deny_unknown_fields)]
pub enum Query {
    /// The log size folded, the projection hash, the election and sources.
    Status,
    Tallies {
        #[serde(default)]
        contest: Option<ContestId>,
        #[serde(default)]
        source: Option<String>,
        #[serde(default)]
        level: Option<Level>,
        #[serde(default)]
        within: Option<RegionCode>,
        #[serde(default, flatten)]
        page: Page,
    },
    /// Stations of the geography with no form from the source.
    Missing {
        #[serde(default)]
        contest: Option<ContestId>,
        #[serde(default)]
        source: Option<String>,
        #[serde(default)]
        within: Option<RegionCode>,
        #[serde(default, flatten)]
        page: Page,
    },
    Compare {
        #[serde(default)]
        contest: Option<ContestId>,
        /// Defaults to the official source.
        #[serde(default)]
        a: Option<String>,
        b: String,
        #[serde(default)]
        level: Option<Level>,
        #[serde(default)]
        within: Option<RegionCode>,
        #[serde(default, flatten)]
        page: Page,
    },
    Anomalies {
        #[serde(default)]
        kind: Option<AnomalyKind>,
        #[serde(default)]
        within: Option<RegionCode>,
        #[serde(default, flatten)]
        page: Page,
    },
    Complaints {
        /// The moment deadlines are judged at; the caller's clock if absent.
        #[serde(default)]
        now: Option<Timestamp>,
        #[serde(default, flatten)]
        page: Page,
    },
    Seats {
        #[serde(default)]
        contest: Option<ContestId>,
        #[serde(default)]
        source: Option<String>,
    },
    Station {
        station: StationCode,
    },
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    #[serde(default)]
    pub offset: usize,
    #[serde(default)]
    pub limit: Option<usize>,
}

impl Page {
    fn cut<T: Serialize>(&self, rows: Vec<T>) -> Value {
        let total = rows.len();
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT);
        let rows: Vec<T> = rows.into_iter().skip(self.offset).take(limit).collect();
        json!({ "total": total, "offset": self.offset, "rows": rows })
    }
}

/// Why a question could not be answered; the message says how to ask better.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    #[error("the log has no election definition yet")]
    NoElection,
    #[error("{0}")]
    Unknown(String),
}

/// Answers `q` from `p`. `clock` is used when a complaints query names no
/// moment.
pub fn answer(p: &Projection, q: &Query, clock: Timestamp) -> Result<Value, QueryError> {
    let body = match q {
        Query::Status => json!({
            "election": p.election().map(|(id, def)| json!({"id": id, "name": def.name})),
            "sources": p.sources().iter().map(|(s, n)| json!({"source": s, "name": s.to_string(), "forms": n})).collect::<Vec<_>>(),
            "stations": p.station_count(None),
            "forms": p.forms().len(),
            "anomalies": p.anomalies().len(),
            "complaints": p.complaints().count(),
            "certifications": p.certifications(),
            "projection": crate::hash::projection_hash(p),
        }),
        Query::Tallies {
            contest,
            source,
            level,
            within,
            page,
        } => {
            let c = contest_of(p, contest.as_ref())?;
            let s = source_of(p, source.as_deref())?;
            let level = level.unwrap_or(Level::National);
            let rows = views::tallies(p, &c.id, &s, level, within.as_ref());
            let mut v = page.cut(rows);
            v["contest"] = json!(c.id);
            v["source"] = json!(s);
            v["level"] = json!(level);
            v["parties"] = json!(c.parties);
            v
        }
        Query::Missing {
            contest,
            source,
            within,
            page,
        } => {
            let c = contest_of(p, contest.as_ref())?;
            let s = source_of(p, source.as_deref())?;
            page.cut(views::missing(p, &c.id, &s, within.as_ref()))
        }
        Query::Compare {
            contest,
            a,
            b,
            level,
            within,
            page,
        } => {
            let c = contest_of(p, contest.as_ref())?;
            let a = source_of(p, a.as_deref())?;
            let b = source_of(p, Some(b))?;
            let level = level.unwrap_or(Level::Province);
            let cmp = views::compare(p, &c.id, &a, &b, level, within.as_ref());
            let mut v = page.cut(cmp.stations);
            v["contest"] = json!(c.id);
            v["a"] = json!(cmp.a);
            v["b"] = json!(cmp.b);
            v["overall"] = json!(cmp.overall);
            v["regions"] = json!(cmp.regions);
            v
        }
        Query::Anomalies { kind, within, page } => {
            let rows: Vec<_> = p
                .anomalies()
                .iter()
                .filter(|a| kind.is_none_or(|k| a.kind == k))
                .filter(|a| within.as_ref().is_none_or(|w| a.station.region().within(w)))
                .collect();
            page.cut(rows)
        }
        Query::Complaints { now, page } => {
            let board = views::board(p, now.unwrap_or(clock));
            let mut v = page.cut(board.complaints);
            v["now"] = json!(board.now);
            v["by_status"] = json!(board.by_status);
            v["overdue"] = json!(board.overdue);
            v["unanswered_by_region"] = json!(board.unanswered_by_region);
            v
        }
        Query::Seats { contest, source } => {
            let c = contest_of(p, contest.as_ref())?;
            let s = source_of(p, source.as_deref())?;
            let seats = views::seats(p, c, &s);
            json!({
                "contest": c.id,
                "source": s,
                "totals": views::seat_totals(c, &seats).into_iter().map(|(party, seats)| json!({"party": party, "seats": seats})).collect::<Vec<_>>(),
                "constituencies": seats,
            })
        }
        Query::Station { station } => json!(views::station(p, station)),
    };
    Ok(json!({ "size": p.size(), "answer": body }))
}

fn contest_of<'a>(p: &'a Projection, id: Option<&ContestId>) -> Result<&'a Contest, QueryError> {
    let (_, def) = p.election().ok_or(QueryError::NoElection)?;
    let names = || {
        def.contests
            .iter()
            .map(|c| c.id.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match id {
        Some(id) => def.contests.iter().find(|c| &c.id == id).ok_or_else(|| {
            QueryError::Unknown(format!("no contest {id}; the contests are: {}", names()))
        }),
        None if def.contests.len() == 1 => Ok(&def.contests[0]),
        None => Err(QueryError::Unknown(format!(
            "say which contest: {}",
            names()
        ))),
    }
}

/// Finds a source by name: `official` (the authority), the full
/// `role:organisation` name, or an organisation's name alone when only one
/// source has it.
pub fn source_of(p: &Projection, name: Option<&str>) -> Result<Source, QueryError> {
    let name = name.unwrap_or("official");
    let all = || {
        p.sources()
            .keys()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if name == "official" {
        return views::official(p).cloned().ok_or_else(|| {
            QueryError::Unknown(format!(
                "the authority has published no forms yet; sources so far: {}",
                all()
            ))
        });
    }
    if let Some(s) = p.sources().keys().find(|s| s.to_string() == name) {
        return Ok(s.clone());
    }
    let by_org: Vec<&Source> = p
        .sources()
        .keys()
        .filter(|s| s.org.as_str() == name)
        .collect();
    match by_org.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(QueryError::Unknown(format!(
            "no source {name:?}; sources are: official, {}",
            all()
        ))),
        _ => Err(QueryError::Unknown(format!(
            "{name:?} names several sources; use one of: {}",
            all()
        ))),
    }
}

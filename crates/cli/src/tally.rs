//! `tallylog tally`: the results, the disagreements, the complaints and the
//! seats, as tables or JSON, asked of a running projector over NATS or folded
//! here from a log (the ledger's store, or a file of entries).
//!
//! Both paths go through the same query dispatcher (`tallylog_tally::query`),
//! so a table printed from a local log and one printed from a projector are
//! the same table.

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tallylog_core::entry::Entry;
use tallylog_core::event::MAX_EVENT_BYTES;
use tallylog_core::types::{
    ContestId, ElectionId, Level, LogIndex, RegionCode, StationCode, Timestamp,
};
use tallylog_nats::Names;
use tallylog_tally::query::{self, Page, Query};
use tallylog_tally::state::AnomalyKind;
use tallylog_tally::Projection;

use crate::Outcome;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    view: View,
    /// Fold this log instead of asking a projector: a ledger's store
    /// directory (or the data directory of `tallylog up`).
    #[arg(long, global = true, conflicts_with = "entries")]
    log: Option<PathBuf>,
    /// Fold this file of log entries (JSON lines, or an audit bundle) instead
    /// of asking a projector.
    #[arg(long, global = true)]
    entries: Option<PathBuf>,
    /// The NATS server a projector answers on.
    #[arg(
        long,
        global = true,
        env = "TALLYLOG_NATS",
        hide_env_values = true,
        default_value = "nats://127.0.0.1:4222"
    )]
    nats: String,
    /// The election (needed when asking a projector).
    #[arg(long, global = true, env = "TALLYLOG_ELECTION")]
    election: Option<ElectionId>,
    /// Print the answer as JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(clap::Args, Clone, Default)]
struct Paging {
    /// Rows to skip.
    #[arg(long, default_value_t = 0)]
    offset: usize,
    /// Rows to show at most (up to 10,000).
    #[arg(long)]
    limit: Option<usize>,
}

impl Paging {
    fn page(&self) -> Page {
        Page {
            offset: self.offset,
            limit: self.limit,
        }
    }
}

#[derive(clap::Subcommand)]
enum View {
    /// The log size, projection hash, sources and counts.
    Status,
    /// Totals per region at a level, for one source.
    Tallies {
        #[arg(long)]
        contest: Option<ContestId>,
        /// `official` (default), `role:organisation`, or an organisation's name.
        #[arg(long)]
        source: Option<String>,
        /// national (default), province, district, commune or station.
        #[arg(long, value_parser = parse_level)]
        level: Option<Level>,
        /// Only regions inside this one (a code such as 01/02).
        #[arg(long)]
        within: Option<RegionCode>,
        #[command(flatten)]
        paging: Paging,
    },
    /// Stations with no form from a source.
    Missing {
        #[arg(long)]
        contest: Option<ContestId>,
        #[arg(long)]
        source: Option<String>,
        #[arg(long)]
        within: Option<RegionCode>,
        #[command(flatten)]
        paging: Paging,
    },
    /// Two sources station by station: match rates and every mismatch.
    Compare {
        /// The source compared against the first (an observer, a party).
        #[arg(long = "with")]
        with: String,
        /// The first source (default: official).
        #[arg(long)]
        source: Option<String>,
        #[arg(long)]
        contest: Option<ContestId>,
        /// The level of the per-region match rates (default province).
        #[arg(long, value_parser = parse_level)]
        level: Option<Level>,
        #[arg(long)]
        within: Option<RegionCode>,
        #[command(flatten)]
        paging: Paging,
    },
    /// Forms flagged as anomalous (kept in the log, never dropped).
    Anomalies {
        /// Only this kind (e.g. cast_mismatch, turnout_above_100).
        #[arg(long, value_parser = parse_kind)]
        kind: Option<AnomalyKind>,
        #[arg(long)]
        within: Option<RegionCode>,
        #[command(flatten)]
        paging: Paging,
    },
    /// The complaints board: status, deadlines, overdue, reasoning.
    Complaints {
        /// Judge deadlines at this time (default now).
        #[arg(long)]
        now: Option<Timestamp>,
        #[command(flatten)]
        paging: Paging,
    },
    /// Seats per constituency (D'Hondt) from a source's tallies.
    Seats {
        #[arg(long)]
        contest: Option<ContestId>,
        #[arg(long)]
        source: Option<String>,
        /// Show every round of every allocation.
        #[arg(long)]
        rounds: bool,
    },
    /// Every version of every source's form at one station.
    Station { station: StationCode },
    /// Export the results (from a local log only).
    Export {
        /// nist (NIST SP 1500-100 JSON) or csv (OpenElections style).
        #[arg(long)]
        format: String,
        #[arg(long)]
        source: Option<String>,
        /// The contest (CSV only; default: the election's only contest).
        #[arg(long)]
        contest: Option<ContestId>,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn parse_level(s: &str) -> Result<Level, String> {
    serde_json::from_value(json!(s)).map_err(|_| {
        format!("{s:?} is not a level: national, province, district, commune or station")
    })
}

fn parse_kind(s: &str) -> Result<AnomalyKind, String> {
    serde_json::from_value(json!(s)).map_err(|_| format!("{s:?} is not an anomaly kind"))
}

pub fn run(a: Args) -> Result<Outcome> {
    let now = now();
    let mut rounds = false;
    let q = match &a.view {
        View::Status => Query::Status,
        View::Tallies {
            contest,
            source,
            level,
            within,
            paging,
        } => Query::Tallies {
            contest: contest.clone(),
            source: source.clone(),
            level: *level,
            within: within.clone(),
            page: paging.page(),
        },
        View::Missing {
            contest,
            source,
            within,
            paging,
        } => Query::Missing {
            contest: contest.clone(),
            source: source.clone(),
            within: within.clone(),
            page: paging.page(),
        },
        View::Compare {
            with,
            source,
            contest,
            level,
            within,
            paging,
        } => Query::Compare {
            contest: contest.clone(),
            a: source.clone(),
            b: with.clone(),
            level: *level,
            within: within.clone(),
            page: paging.page(),
        },
        View::Anomalies {
            kind,
            within,
            paging,
        } => Query::Anomalies {
            kind: *kind,
            within: within.clone(),
            page: paging.page(),
        },
        View::Complaints { now: at, paging } => Query::Complaints {
            now: Some(at.unwrap_or(now)),
            page: paging.page(),
        },
        View::Seats {
            contest,
            source,
            rounds: r,
        } => {
            rounds = *r;
            Query::Seats {
                contest: contest.clone(),
                source: source.clone(),
            }
        }
        View::Station { station } => Query::Station {
            station: station.clone(),
        },
        View::Export {
            format,
            source,
            contest,
            out,
        } => {
            let p = local(&a)?.context("export reads a log: give --log DIR or --entries FILE")?;
            return export(
                &p,
                format,
                source.as_deref(),
                contest.as_ref(),
                out.as_deref(),
                now,
            );
        }
    };
    let answer = match local(&a)? {
        Some(p) => query::answer(&p, &q, now).map_err(|e| anyhow::anyhow!("{e}"))?,
        None => ask(&a, &q)?,
    };
    let mut out = std::io::stdout().lock();
    if a.json {
        serde_json::to_writer_pretty(&mut out, &answer)?;
        writeln!(out)?;
    } else {
        render(&mut out, &q, &answer, rounds)?;
    }
    Ok(Outcome::Ok)
}

fn now() -> Timestamp {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    Timestamp::from_unix(secs)
        .unwrap_or_else(|_| Timestamp::from_unix(0).expect("invariant: the epoch is valid"))
}

/// The projection of a local log, if one was named.
fn local(a: &Args) -> Result<Option<Projection>> {
    if let Some(dir) = &a.log {
        return fold_store(dir).map(Some);
    }
    if let Some(file) = &a.entries {
        return fold_file(file).map(Some);
    }
    Ok(None)
}

fn fold_store(dir: &Path) -> Result<Projection> {
    // The data directory of `tallylog up` holds the store in ledger/.
    let dir = if dir.join("ledger").join("db").exists() {
        dir.join("ledger")
    } else {
        dir.to_owned()
    };
    if !dir.join("db").exists() {
        bail!("{} holds no ledger store (no db file)", dir.display());
    }
    let store = tallylog_store::Store::open(&dir)
        .with_context(|| format!("opening the log in {}", dir.display()))?;
    let mut p = Projection::new();
    for i in 0..store.head().size {
        let e = store
            .entry(LogIndex(i))
            .with_context(|| format!("reading entry {i}"))?
            .with_context(|| format!("entry {i} is missing from the store"))?;
        p.apply_entry(e)?;
    }
    Ok(p)
}

fn fold_file(path: &Path) -> Result<Projection> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut p = Projection::new();
    let mut chain = tallylog_core::entry::GENESIS_PREV;
    let mut reader = std::io::BufReader::new(f);
    let mut line = Vec::new();
    let mut n = 0u64;
    loop {
        line.clear();
        let read = reader
            .by_ref()
            .take(MAX_EVENT_BYTES as u64 * 2)
            .read_until(b'\n', &mut line)
            .with_context(|| format!("reading {}", path.display()))?;
        if read == 0 {
            break;
        }
        n += 1;
        if !line.ends_with(b"\n") && read as u64 == MAX_EVENT_BYTES as u64 * 2 {
            bail!(
                "{}:{n}: the line is longer than any entry can be",
                path.display()
            );
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        // An audit bundle is entries too, with a header and checkpoints
        // between them (PROTOCOL.md §14).
        if text.is_empty()
            || (n == 1 && text.starts_with(b"{\"bundle\":"))
            || text.starts_with(b"{\"checkpoint\":")
        {
            continue;
        }
        let e = Entry::decode(text)
            .with_context(|| format!("{}:{n}: not a log entry", path.display()))?;
        if e.index().0 != p.size() || e.prev() != chain {
            bail!(
                "{}:{n}: entry {} does not continue the log at {} (entries must be complete and in order)",
                path.display(),
                e.index(),
                p.size()
            );
        }
        chain = e.chain_hash();
        p.apply_entry(e)?;
    }
    Ok(p)
}

/// Asks a projector over NATS.
fn ask(a: &Args, q: &Query) -> Result<Value> {
    let election = a.election.clone().context(
        "say which election (--election or TALLYLOG_ELECTION), or fold a local log with --log DIR",
    )?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async {
        let client = tallylog_nats::connect(
            &a.nats,
            async_nats::ConnectOptions::new().connection_timeout(Duration::from_secs(5)),
        )
        .await?;
        let names = Names::new(election);
        let reply = tokio::time::timeout(
            Duration::from_secs(30),
            client.request(names.query(), serde_json::to_vec(q)?.into()),
        )
        .await
        .context("no projector answered within 30 s")?
        .map_err(|e| {
            anyhow::anyhow!(
                "asking the projector on {}: {e} (is `tallylog projector` running?)",
                names.query()
            )
        })?;
        let v: Value =
            serde_json::from_slice(&reply.payload).context("reading the projector's answer")?;
        if let Some(e) = v.get("error").and_then(Value::as_str) {
            bail!("the projector says: {e}");
        }
        Ok(v)
    })
}

/// The contest named, or the election's only one.
fn contest_of(p: &Projection, contest: Option<&ContestId>) -> Result<ContestId> {
    let (_, def) = p
        .election()
        .context("the log has no election definition yet")?;
    match contest {
        Some(c) => Ok(c.clone()),
        None if def.contests.len() == 1 => Ok(def.contests[0].id.clone()),
        None => bail!(
            "say which contest with --contest: {}",
            def.contests
                .iter()
                .map(|c| c.id.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn export(
    p: &Projection,
    format: &str,
    source: Option<&str>,
    contest: Option<&ContestId>,
    out: Option<&Path>,
    now: Timestamp,
) -> Result<Outcome> {
    let source = query::source_of(p, source).map_err(|e| anyhow::anyhow!("{e}"))?;
    let bytes = match format {
        "nist" => tallylog_tally::export::nist_json(p, &source, now)
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .into_bytes(),
        "csv" => tallylog_tally::export::openelections_csv(p, &source, &contest_of(p, contest)?)
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .into_bytes(),
        other => bail!("unknown export format {other:?}: use nist or csv"),
    };
    match out {
        Some(path) => crate::files::replace(path, &bytes)?,
        None => std::io::stdout().lock().write_all(&bytes)?,
    }
    Ok(Outcome::Ok)
}

/// Prints an answer as a table.
fn render(out: &mut impl Write, q: &Query, v: &Value, rounds: bool) -> Result<()> {
    let a = &v["answer"];
    let s = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    };
    let source = |v: &Value| format!("{}:{}", s(&v["role"]), s(&v["org"]));
    writeln!(out, "log size {}", v["size"])?;
    match q {
        Query::Status => {
            writeln!(
                out,
                "election   {} ({})",
                s(&a["election"]["id"]),
                s(&a["election"]["name"])
            )?;
            writeln!(out, "projection {}", s(&a["projection"]))?;
            writeln!(
                out,
                "stations {}  forms {}  anomalies {}  complaints {}",
                a["stations"], a["forms"], a["anomalies"], a["complaints"]
            )?;
            let mut t = Table::new(&["source", "forms"]);
            for src in a["sources"].as_array().into_iter().flatten() {
                t.row(vec![s(&src["name"]), s(&src["forms"])]);
            }
            t.print(out)?;
            for c in a["certifications"].as_array().into_iter().flatten() {
                let state = match c["confirmed"].as_bool() {
                    Some(true) => "confirmed by replay",
                    Some(false) => "DOES NOT MATCH the replayed projection",
                    None => "not checked here (run tallylog audit)",
                };
                writeln!(
                    out,
                    "certified at entry {} for size {}: {state}",
                    c["index"], c["log_size"]
                )?;
            }
        }
        Query::Tallies { .. } => {
            let parties: Vec<String> = a["parties"]
                .as_array()
                .into_iter()
                .flatten()
                .map(s)
                .collect();
            writeln!(
                out,
                "contest {}  source {}  level {}",
                s(&a["contest"]),
                source(&a["source"]),
                s(&a["level"])
            )?;
            let mut head = vec![
                "region",
                "name",
                "reporting",
                "registered",
                "cast",
                "valid",
                "invalid",
            ];
            head.extend(parties.iter().map(String::as_str));
            let mut t = Table::new(&head);
            for r in a["rows"].as_array().into_iter().flatten() {
                let tot = &r["totals"];
                let mut row = vec![
                    r["region"].as_str().unwrap_or("(all)").to_owned(),
                    s(&r["name"]),
                    format!("{} of {}", tot["stations"], r["stations"]),
                    s(&tot["registered"]),
                    s(&tot["cast"]),
                    s(&tot["valid"]),
                    s(&tot["invalid"]),
                ];
                row.extend(
                    parties
                        .iter()
                        .map(|p| tot["votes"].get(p).map(s).unwrap_or_else(|| "0".to_owned())),
                );
                t.row(row);
            }
            t.print(out)?;
            paged(out, a)?;
        }
        Query::Missing { .. } => {
            for st in a["rows"].as_array().into_iter().flatten() {
                writeln!(out, "{}", s(st))?;
            }
            paged(out, a)?;
        }
        Query::Compare { .. } => {
            let o = &a["overall"];
            writeln!(
                out,
                "{} against {} in contest {}",
                source(&a["b"]),
                source(&a["a"]),
                s(&a["contest"])
            )?;
            writeln!(
                out,
                "match rate {} ({} of {} stations both published); only in the first {}, only in the second {}",
                rate(&o["match_rate"]),
                o["matched"],
                o["matched"].as_u64().unwrap_or(0) + o["mismatched"].as_u64().unwrap_or(0),
                o["only_a"],
                o["only_b"]
            )?;
            let mut t = Table::new(&[
                "region",
                "match rate",
                "matched",
                "mismatched",
                "only first",
                "only second",
            ]);
            for r in a["regions"].as_array().into_iter().flatten() {
                t.row(vec![
                    r["region"].as_str().unwrap_or("(all)").to_owned(),
                    rate(&r["match_rate"]),
                    s(&r["matched"]),
                    s(&r["mismatched"]),
                    s(&r["only_a"]),
                    s(&r["only_b"]),
                ]);
            }
            t.print(out)?;
            let mut t = Table::new(&["station", "verdict", "differences (first vs second)"]);
            for st in a["rows"].as_array().into_iter().flatten() {
                let d: Vec<String> = st["differences"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|d| format!("{} {} vs {}", s(&d["field"]), d["a"], d["b"]))
                    .collect();
                t.row(vec![s(&st["station"]), s(&st["verdict"]), d.join("; ")]);
            }
            t.print(out)?;
            paged(out, a)?;
        }
        Query::Anomalies { .. } => {
            let mut t = Table::new(&["entry", "station", "contest", "source", "anomaly", "detail"]);
            for r in a["rows"].as_array().into_iter().flatten() {
                let src = if r["source"].is_null() {
                    "-".to_owned()
                } else {
                    source(&r["source"])
                };
                t.row(vec![
                    s(&r["index"]),
                    s(&r["station"]),
                    s(&r["contest"]),
                    src,
                    s(&r["kind"]),
                    s(&r["detail"]),
                ]);
            }
            t.print(out)?;
            paged(out, a)?;
        }
        Query::Complaints { .. } => {
            writeln!(
                out,
                "as of {}: {} overdue; by status {}",
                s(&a["now"]),
                a["overdue"],
                a["by_status"]
            )?;
            writeln!(out, "unanswered by province: {}", a["unanswered_by_region"])?;
            let mut t = Table::new(&[
                "entry",
                "filed",
                "status",
                "region",
                "category",
                "age (h)",
                "resolution due",
                "overdue",
                "summary / last reasoning",
            ]);
            for r in a["rows"].as_array().into_iter().flatten() {
                let last = r["steps"]
                    .as_array()
                    .and_then(|st| st.iter().rev().find_map(|x| x["reasoning"].as_str()))
                    .map(|x| format!(" / {x}"))
                    .unwrap_or_default();
                t.row(vec![
                    s(&r["index"]),
                    s(&r["filed"]),
                    s(&r["status"]),
                    r["region"]
                        .as_str()
                        .unwrap_or("(whole election)")
                        .to_owned(),
                    s(&r["category"]),
                    s(&r["age_hours"]),
                    s(&r["resolution_due"]),
                    if r["overdue"] == json!(true) {
                        "OVERDUE".to_owned()
                    } else {
                        String::new()
                    },
                    format!("{}{last}", s(&r["summary"])).replace('\n', " "),
                ]);
            }
            t.print(out)?;
            paged(out, a)?;
        }
        Query::Seats { .. } => {
            writeln!(
                out,
                "contest {}  source {}",
                s(&a["contest"]),
                source(&a["source"])
            )?;
            let mut t = Table::new(&["party", "seats"]);
            for r in a["totals"].as_array().into_iter().flatten() {
                t.row(vec![s(&r["party"]), s(&r["seats"])]);
            }
            t.print(out)?;
            for c in a["constituencies"].as_array().into_iter().flatten() {
                let won: Vec<String> = c["allocation"]["won"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|w| w["seats"].as_u64() != Some(0))
                    .map(|w| format!("{} {}", s(&w["party"]), w["seats"]))
                    .collect();
                writeln!(
                    out,
                    "{} {} ({} seats): {}",
                    s(&c["region"]),
                    s(&c["name"]),
                    c["allocation"]["seats"],
                    won.join(", ")
                )?;
                if rounds {
                    for r in c["allocation"]["rounds"].as_array().into_iter().flatten() {
                        let tie = if r["tie"] == json!(true) {
                            "  (tie broken)"
                        } else {
                            ""
                        };
                        writeln!(
                            out,
                            "  round {}: {} {} / {}{tie}",
                            r["number"],
                            s(&r["party"]),
                            r["votes"],
                            r["divisor"]
                        )?;
                    }
                }
            }
        }
        Query::Station { .. } => {
            writeln!(
                out,
                "station {}  registered (geography) {}",
                s(&a["station"]),
                s(&a["registered"])
            )?;
            let mut t = Table::new(&[
                "entry",
                "source",
                "kind",
                "current",
                "signed at",
                "cast",
                "valid",
                "invalid",
                "votes",
                "anomalies",
                "superseded by / reason",
            ]);
            for r in a["versions"].as_array().into_iter().flatten() {
                let f = &r["form"];
                let votes: Vec<String> = f["votes"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect();
                let anomalies: Vec<String> = r["anomalies"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(s)
                    .collect();
                t.row(vec![
                    s(&r["index"]),
                    if r["source"].is_null() {
                        "-".to_owned()
                    } else {
                        source(&r["source"])
                    },
                    s(&r["kind"]),
                    if r["current"] == json!(true) {
                        "yes".to_owned()
                    } else {
                        "no".to_owned()
                    },
                    s(&r["time"]),
                    s(&f["cast"]),
                    s(&f["valid"]),
                    s(&f["invalid"]),
                    votes.join(", "),
                    anomalies.join(", "),
                    format!(
                        "{} {}",
                        s(&r["superseded_by"]),
                        r["reason"].as_str().unwrap_or("")
                    ),
                ]);
            }
            t.print(out)?;
            for c in a["comparisons"].as_array().into_iter().flatten() {
                let d: Vec<String> = c["differences"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|d| format!("{} {} vs {}", s(&d["field"]), d["a"], d["b"]))
                    .collect();
                writeln!(
                    out,
                    "official {} vs {}: {} {}",
                    s(&c["a"]),
                    s(&c["b"]),
                    s(&c["verdict"]),
                    d.join("; ")
                )?;
            }
        }
    }
    Ok(())
}

fn rate(v: &Value) -> String {
    v.as_f64()
        .map(|r| format!("{:.1}%", r * 100.0))
        .unwrap_or_else(|| "-".to_owned())
}

fn paged(out: &mut impl Write, a: &Value) -> Result<()> {
    let total = a["total"].as_u64().unwrap_or(0);
    let shown = a["rows"].as_array().map_or(0, Vec::len) as u64;
    if shown < total {
        writeln!(
            out,
            "({shown} of {total} rows from offset {}; use --offset and --limit for more)",
            a["offset"]
        )?;
    }
    Ok(())
}

/// A plain text table with columns padded to their widest cell.
struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(head: &[&str]) -> Table {
        Table {
            rows: vec![head.iter().map(|h| (*h).to_owned()).collect()],
        }
    }
    fn row(&mut self, r: Vec<String>) {
        self.rows.push(r);
    }
    fn print(&self, out: &mut impl Write) -> Result<()> {
        let cols = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let width: Vec<usize> = (0..cols)
            .map(|c| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(|x| x.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for r in &self.rows {
            let mut line = String::new();
            for (c, cell) in r.iter().enumerate() {
                if c + 1 < r.len() {
                    line.push_str(&format!("{cell:<w$}  ", w = width[c]));
                } else {
                    line.push_str(cell);
                }
            }
            writeln!(out, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

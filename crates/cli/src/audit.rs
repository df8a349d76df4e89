//! `tallylog export` writes a ledger's log as an audit bundle;
//! `tallylog audit` checks a bundle from the bytes up (see `tallylog_audit`).
//!
//! Exit codes of `audit`: 0 the log verified; 1 verification failed (the
//! first failure is printed, and written to the report); 2 the audit could
//! not run (an unreadable file, a malformed bundle header).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use tallylog_audit::bundle::{Header, Writer, FORMAT};
use tallylog_audit::{Known, Options};
use tallylog_core::event::Payload;
use tallylog_core::types::{LogIndex, PublicKey};

use crate::Outcome;

#[derive(clap::Args)]
pub struct ExportArgs {
    /// The ledger's store (or the data directory of `tallylog up`, stopped).
    #[arg(long)]
    log: PathBuf,
    /// The bundle file to write.
    #[arg(long)]
    out: PathBuf,
}

#[derive(clap::Args)]
pub struct AuditArgs {
    /// The audit bundle to check (from `tallylog export`).
    bundle: PathBuf,
    /// The election's root key: the log's first entry must be signed by it.
    #[arg(long, env = "TALLYLOG_ROOT_KEY")]
    root_key: Option<PublicKey>,
    /// Monitor state: remembers the last checkpoint verified per log, and
    /// treats a log that does not extend it as rolled back or forked.
    #[arg(long)]
    state: Option<PathBuf>,
    /// Write the full report as JSON here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// No progress on stderr.
    #[arg(long)]
    quiet: bool,
}

pub fn export(a: ExportArgs) -> Result<Outcome> {
    let dir = if a.log.join("ledger").join("db").exists() {
        a.log.join("ledger")
    } else {
        a.log.clone()
    };
    if !dir.join("db").exists() {
        bail!("{} holds no ledger store (no db file)", dir.display());
    }
    let store = tallylog_store::Store::open(&dir)
        .with_context(|| format!("opening the log in {}", dir.display()))?;
    let size = store.head().size;
    let first = store
        .entry(LogIndex(0))?
        .context("the log is empty: there is nothing to export")?;
    let Payload::Election(def) = &first.event().body().payload else {
        bail!("the log's first entry is not the election definition");
    };
    let header = Header {
        bundle: FORMAT.to_owned(),
        election: first.event().body().election.clone(),
        origin: def.log.origin.clone(),
        size,
    };
    let mut checkpoints: BTreeMap<u64, Vec<Vec<u8>>> = BTreeMap::new();
    for c in store.checkpoints(1) {
        let (s, note) = c.context("reading the stored checkpoints")?;
        if s <= size {
            checkpoints.entry(s).or_default().push(note.to_vec());
        }
    }
    let tmp = a.out.with_extension("partial");
    let f = std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let mut w = Writer::new(std::io::BufWriter::new(f), &header)?;
    let mut next = 0u64;
    for item in store.entry_bytes(0, size) {
        let (i, bytes) = item.with_context(|| format!("reading entry {next}"))?;
        if i != next {
            bail!("entry {next} is missing from the store");
        }
        next += 1;
        w.entry(&bytes)?;
        for note in checkpoints.get(&(i + 1)).into_iter().flatten() {
            w.checkpoint(note)?;
        }
    }
    if next != size {
        bail!("the store's head says {size} entries, but it holds {next}");
    }
    let f = w.finish()?.into_inner().map_err(|e| e.into_error())?;
    f.sync_all().context("syncing the bundle")?;
    std::fs::rename(&tmp, &a.out).with_context(|| format!("writing {}", a.out.display()))?;
    eprintln!(
        "exported {size} entries and {} checkpoints of election {} to {}",
        checkpoints.values().map(Vec::len).sum::<usize>(),
        header.election,
        a.out.display()
    );
    Ok(Outcome::Ok)
}

/// The monitor state file: the last verified checkpoint of each log, by origin.
type MonitorState = BTreeMap<String, Known>;

fn origin_of(bundle: &Path) -> Result<String> {
    let f = std::fs::File::open(bundle).with_context(|| format!("opening {}", bundle.display()))?;
    let (h, _) = tallylog_audit::bundle::Reader::open(std::io::BufReader::new(f))
        .with_context(|| format!("reading {}", bundle.display()))?;
    Ok(h.origin.to_string())
}

pub fn audit(a: AuditArgs) -> Result<Outcome> {
    let origin = origin_of(&a.bundle)?;
    let mut state: MonitorState = match &a.state {
        Some(p) if p.exists() => {
            serde_json::from_slice(&crate::files::read_limited(p, 1 << 20)?)
                .with_context(|| format!("reading the monitor state {}", p.display()))?
        }
        _ => MonitorState::new(),
    };
    let opts = Options {
        root_key: a.root_key,
        known: state.get(&origin).copied(),
    };
    let quiet = a.quiet;
    let started = std::time::Instant::now();
    let report = tallylog_audit::audit_bundle(&a.bundle, opts, |done, total| {
        if !quiet {
            eprint!("\rchecked {done} of {total} entries");
        }
    })
    .with_context(|| format!("auditing {}", a.bundle.display()))?;
    if !quiet {
        eprintln!();
    }
    if let Some(p) = &a.report {
        crate::files::replace(p, &serde_json::to_vec_pretty(&report)?)?;
    }
    let mut out = std::io::stdout().lock();
    let secs = started.elapsed().as_secs_f64();
    match &report.failure {
        None => {
            writeln!(
                out,
                "verified: {} entries, {} checkpoints, {} certifications, root {} ({:.0} entries/s)",
                report.entries,
                report.checkpoints,
                report.certifications.len(),
                tallylog_core::types::to_hex(&report.root.0),
                report.entries as f64 / secs.max(1e-9)
            )?;
            writeln!(out, "projection {}", report.projection)?;
            if let (Some(p), Some(latest)) = (&a.state, report.latest) {
                state.insert(origin, latest);
                crate::files::replace(p, &serde_json::to_vec_pretty(&state)?)?;
            }
            Ok(Outcome::Ok)
        }
        Some(f) => {
            writeln!(out, "FAILED: {f} [{}]", f.code)?;
            if let Some((from, to)) = f.range {
                writeln!(out, "the fault lies in entries {from} to {to}")?;
            }
            Ok(Outcome::CheckFailed)
        }
    }
}

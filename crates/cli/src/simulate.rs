//! `tallylog simulate`: a deterministic election of a given size, written to
//! a directory (`tallylog_sim::output`) or published to a running ledger at
//! a fixed rate (`tallylog_sim::live`).
//!
//! The directory is filled under a temporary name beside it and renamed into
//! place once complete, so DIR never holds half an election, even after a
//! crash or a full disk. --force replaces only a directory that an earlier
//! simulation wrote (its manifest says so), never one holding anything else.

use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tallylog_sim::election::Size;
use tallylog_sim::{live, output};

use crate::Outcome;

#[derive(clap::Args)]
pub struct Args {
    /// tiny (40 stations), cambodia (23,800), nigeria (176,846) or indonesia
    /// (820,161).
    #[arg(long)]
    size: Size,
    /// The same size and seed give the same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write the election into this directory (created if missing; it must be
    /// empty): keys, participants.json, events files, manifest.json, README.md.
    #[arg(long, required_unless_present = "live", conflicts_with = "live")]
    out: Option<PathBuf>,
    /// Replace --out if it holds an earlier simulation (with everything in it).
    #[arg(long, requires = "out")]
    force: bool,
    /// Publish to a running ledger instead, at --rate events per second. The
    /// ledger must run for election sim-SIZE-SEED with the simulated log key
    /// (`--out` writes it to DIR/keys/log.key).
    #[arg(long, requires = "rate")]
    live: bool,
    /// The NATS server the ledger listens on (with --live).
    #[arg(long, env = "TALLYLOG_NATS", default_value = "nats://127.0.0.1:4222")]
    nats: String,
    /// Events offered per second, whatever the replies do (with --live).
    #[arg(long, requires = "live")]
    rate: Option<f64>,
    /// Submissions awaiting their receipt at once, at most (with --live).
    #[arg(long, default_value_t = 4096)]
    in_flight: usize,
    /// Seconds to wait for a receipt before asking for it again (with --live).
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// Print the --live report as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> Result<Outcome> {
    match &a.out {
        Some(out) => write(&a, out),
        None => publish(&a),
    }
}

/// What is at --out before writing.
enum Target {
    /// Nothing, or an empty directory: the new one is renamed onto it.
    Free,
    /// An earlier simulation, replaced with --force.
    Earlier,
}

fn write(a: &Args, out: &Path) -> Result<Outcome> {
    let target = check_out(out, a.force)?;
    let name = out
        .file_name()
        .expect("invariant: check_out allows only paths ending in a name")
        .to_string_lossy()
        .into_owned();
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let started = Instant::now();
    // Removed with whatever it holds if anything below fails.
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}.simulating-"))
        .tempdir_in(parent)
        .with_context(|| format!("creating a temporary directory in {}", parent.display()))?;
    let mut last = Instant::now();
    let manifest = output::write(a.size, a.seed, tmp.path(), |n| {
        if last.elapsed() > Duration::from_millis(500) {
            last = Instant::now();
            eprint!("\rwrote {n} events");
        }
    })
    .with_context(|| format!("writing the election into {}", tmp.path().display()))?;
    sync_dir(tmp.path())?;
    match target {
        // rename(2) replaces an empty directory.
        Target::Free => std::fs::rename(tmp.path(), out)
            .with_context(|| format!("moving the election into {}", out.display()))?,
        Target::Earlier => {
            let old = tempfile::Builder::new()
                .prefix(&format!(".{name}.replaced-"))
                .tempdir_in(parent)
                .with_context(|| {
                    format!("creating a temporary directory in {}", parent.display())
                })?;
            std::fs::rename(out, old.path()).with_context(|| {
                format!("moving the earlier simulation {} aside", out.display())
            })?;
            if let Err(e) = std::fs::rename(tmp.path(), out) {
                // Put the earlier one back rather than leave nothing.
                let back = std::fs::rename(old.path(), out);
                let _ = old.keep();
                return Err(e).with_context(|| {
                    format!(
                        "moving the election into {} (the earlier one is {})",
                        out.display(),
                        if back.is_ok() {
                            "back in place"
                        } else {
                            "lost"
                        }
                    )
                });
            }
            // Dropping `old` removes the earlier simulation.
        }
    }
    sync_dir(parent)?;
    // Renamed away: nothing left for the guard to remove.
    let _ = tmp.keep();
    if started.elapsed() > Duration::from_millis(500) {
        eprintln!();
    }
    let files: Vec<&str> = manifest.files.iter().map(|f| f.file.as_str()).collect();
    println!(
        "wrote election {} ({}, seed {}) to {}: {} events in {} ({:.1} s)",
        manifest.election,
        manifest.size,
        manifest.seed,
        out.display(),
        manifest.events,
        files.join(", "),
        started.elapsed().as_secs_f64()
    );
    println!("to run it: see {}", out.join(output::README).display());
    Ok(Outcome::Ok)
}

/// Refuses what --out must not be: empty, `..` anywhere (the directory
/// should be where it looks), a name that is not a name (`.`, `/`), a
/// symbolic link, a file, or a non-empty directory other than an earlier
/// simulation with --force.
fn check_out(out: &Path, force: bool) -> Result<Target> {
    let shown = out.display();
    if out.as_os_str().is_empty() {
        bail!("--out is empty: name a directory");
    }
    if out.components().any(|c| c == Component::ParentDir) {
        bail!("--out {shown}: give the directory without `..`");
    }
    if !matches!(out.components().next_back(), Some(Component::Normal(_))) {
        bail!("--out {shown}: name a new or empty directory, not `.` or `/`");
    }
    let meta = match std::fs::symlink_metadata(out) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Target::Free),
        Err(e) => return Err(e).with_context(|| format!("looking at {shown}")),
        Ok(m) => m,
    };
    if meta.file_type().is_symlink() {
        bail!("--out {shown} is a symbolic link: give the directory itself, or a new one");
    }
    if !meta.is_dir() {
        bail!("--out {shown} exists and is not a directory");
    }
    let empty = std::fs::read_dir(out)
        .with_context(|| format!("reading {shown}"))?
        .next()
        .is_none();
    if empty {
        return Ok(Target::Free);
    }
    if !force {
        bail!(
            "--out {shown} is not empty: give a new or empty directory, or --force to replace \
             an earlier simulation there"
        );
    }
    match output::read_manifest(out) {
        Ok(_) => Ok(Target::Earlier),
        Err(e) => bail!(
            "--out {shown} is not empty and holds no earlier simulation ({}: {e}); --force \
             replaces only a directory `tallylog simulate` wrote",
            output::MANIFEST
        ),
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing directory {}", dir.display()))
}

fn publish(a: &Args) -> Result<Outcome> {
    let cfg = live::Config {
        nats_url: a.nats.clone(),
        size: a.size,
        seed: a.seed,
        rate: a.rate.context("--live needs --rate")?,
        in_flight: a.in_flight.max(1),
        reply_timeout: Duration::from_secs(a.timeout.max(1)),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    eprintln!(
        "publishing the {} election (seed {}) to {} at {} events/s",
        a.size, a.seed, a.nats, cfg.rate
    );
    let report = rt
        .block_on(live::publish(&cfg, |sent, accepted| {
            eprint!("\r{sent} sent, {accepted} accepted   ");
        }))
        .context("publishing the election")?;
    eprintln!();
    let mut out = std::io::stdout().lock();
    if a.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        for p in &report.problems {
            writeln!(out, "{p}")?;
        }
        let l = &report.latency_ms;
        writeln!(
            out,
            "election {}: {} sent, {} accepted with verified receipts, {} rejected, {} bad \
             receipts, {} failed",
            report.election,
            report.sent,
            report.accepted,
            report.rejected_total(),
            report.bad_receipts,
            report.failed
        )?;
        for (code, n) in &report.rejected {
            writeln!(out, "  rejected {code}: {n}")?;
        }
        writeln!(
            out,
            "offered {:.0}/s, achieved {:.0}/s over {:.1} s",
            report.offered_rate, report.achieved_rate, report.seconds
        )?;
        writeln!(
            out,
            "receipt latency (ms): p50 {:.1}, p90 {:.1}, p99 {:.1}, max {:.1}",
            l.p50, l.p90, l.p99, l.max
        )?;
    }
    Ok(if report.all_accepted() {
        Outcome::Ok
    } else {
        Outcome::CheckFailed
    })
}

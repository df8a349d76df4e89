//! `tallylog export` writes a ledger's log as an audit bundle;
//! `tallylog audit` checks a bundle from the bytes up (see `tallylog_audit`).
//!
//! Exit codes of `audit`: 0 the log verified; 1 verification failed (the
//! first failure is printed, and written to the report); 2 the audit could
//! not run (an unreadable file, a malformed bundle header).

use std::collections::BTreeMap;
use std::io::{Read, Write};
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
    #[arg(required_unless_present_any = ["equivocation", "nats", "gateway"])]
    bundle: Option<PathBuf>,
    /// Audit a running ledger over NATS instead of a bundle: every entry up
    /// to its latest checkpoint, read through its entry lookups.
    #[arg(long, conflicts_with = "bundle", requires = "election")]
    nats: Option<String>,
    /// Audit the log a gateway serves over HTTP(S) instead of a bundle: its
    /// checkpoint (with cosignatures), then every entry it covers, read page
    /// by page. The gateway is trusted for nothing: everything is checked.
    #[arg(long, conflicts_with_all = ["bundle", "nats"], value_name = "URL")]
    gateway: Option<String>,
    /// The election (with --nats; with --gateway, by default the one it serves).
    #[arg(long, env = "TALLYLOG_ELECTION")]
    election: Option<tallylog_core::types::ElectionId>,
    /// Check an equivocation file (from a witness) instead: exit 0 if it
    /// proves the log signed two conflicting checkpoints, 1 if it does not
    /// (including when it shows only that the log did not prove one
    /// checkpoint extends the other).
    #[arg(long, conflicts_with = "bundle")]
    equivocation: Option<PathBuf>,
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

/// The monitor state file: the last verified checkpoint of each log, by the
/// origin its election definition names.
type MonitorState = BTreeMap<String, Known>;

/// The origin a bundle's header claims. Nothing signs the header: the
/// auditor fails the audit unless the election definition names the same
/// origin, so what is looked up by it is what is then stored by it.
fn claimed_origin(bundle: &Path) -> Result<String> {
    let f = std::fs::File::open(bundle).with_context(|| format!("opening {}", bundle.display()))?;
    let (h, _) = tallylog_audit::bundle::Reader::open(std::io::BufReader::new(f))
        .with_context(|| format!("reading {}", bundle.display()))?;
    Ok(h.origin.to_string())
}

#[derive(clap::Args)]
pub struct WitnessArgs {
    /// The NATS server the ledger answers on.
    #[arg(long, env = "TALLYLOG_NATS", default_value = "nats://127.0.0.1:4222")]
    nats: String,
    #[arg(long, env = "TALLYLOG_ELECTION")]
    election: tallylog_core::types::ElectionId,
    /// This witness's name, a schema-less URL such as witness.example.org/w1.
    #[arg(long)]
    name: String,
    /// This witness's secret key file (from `tallylog keygen`).
    #[arg(long)]
    key: PathBuf,
    /// The log's public key and origin, as the election definition names them.
    #[arg(long)]
    log_key: PublicKey,
    #[arg(long)]
    origin: tallylog_core::types::Origin,
    /// Where the witness keeps the last checkpoint it cosigned.
    #[arg(long)]
    state: PathBuf,
    /// Where equivocation files are written.
    #[arg(long, default_value = ".")]
    evidence: PathBuf,
    /// Milliseconds between looks at the ledger's latest checkpoint.
    #[arg(long, default_value_t = 1000)]
    interval_ms: u64,
}

pub fn witness(a: WitnessArgs) -> Result<Outcome> {
    let key = tallylog_core::keys::decode_secret(&crate::files::read_limited(&a.key, 4096)?)
        .with_context(|| format!("reading the witness key {}", a.key.display()))?;
    let public: PublicKey = key.verifying_key().into();
    let log = tallylog_core::checkpoint::LogVerifier::new(a.origin.as_str(), a.log_key)
        .context("checking the log's origin and key")?;
    println!("witness {}+{public} for {} on {}", a.name, a.origin, a.nats);
    let config = tallylog_audit::witness::Config {
        nats_url: a.nats,
        election: a.election,
        name: a.name,
        key,
        log,
        state: a.state,
        evidence: a.evidence,
        interval: std::time::Duration::from_millis(a.interval_ms.max(10)),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async {
        let stop = tokio_util::sync::CancellationToken::new();
        let s = stop.clone();
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            s.cancel();
        });
        match tallylog_audit::witness::run(config, stop).await {
            Ok(()) => Ok(Outcome::Ok),
            Err(e @ tallylog_audit::witness::WitnessError::Equivocation(_)) => {
                eprintln!("{e}");
                Ok(Outcome::CheckFailed)
            }
            Err(e) => Err(e).context("running the witness"),
        }
    })
}

fn equivocation(path: &Path) -> Result<Outcome> {
    let e: tallylog_core::cosign::Equivocation =
        serde_json::from_slice(&crate::files::read_limited(path, 1 << 20)?)
            .with_context(|| format!("reading the equivocation file {}", path.display()))?;
    match e.check() {
        Ok(tallylog_core::cosign::EquivocationFinding::SameSizeDifferentRoots { size }) => {
            println!(
                "PROVEN: the log {} (key {}) signed two different trees of size {size}",
                e.origin, e.log_key
            );
            Ok(Outcome::Ok)
        }
        Ok(tallylog_core::cosign::EquivocationFinding::Unproven { old, new }) => {
            println!(
                "NOT PROVEN: the log {} signed checkpoints of sizes {old} and {new}, and the \
                 consistency proof in the file does not link them; that shows the log has not \
                 proven the larger extends the smaller, not that it signed two histories (ask the \
                 log for a consistency proof between them, or find a checkpoint of the same size \
                 with another root)",
                e.origin
            );
            Ok(Outcome::CheckFailed)
        }
        Err(why) => {
            println!("not an equivocation: {why}");
            Ok(Outcome::CheckFailed)
        }
    }
}

pub fn audit(a: AuditArgs) -> Result<Outcome> {
    if let Some(f) = &a.equivocation {
        return equivocation(f);
    }
    if let Some(url) = &a.nats {
        let election = a.election.clone().context("--nats needs --election")?;
        let dir = tempfile::tempdir().context("creating a scratch directory")?;
        let bundle = dir.path().join("from-nats.jsonl");
        fetch_bundle(url, &election, &bundle)?;
        return audit_file(&a, &bundle);
    }
    if let Some(url) = &a.gateway {
        let dir = tempfile::tempdir().context("creating a scratch directory")?;
        let bundle = dir.path().join("from-gateway.jsonl");
        fetch_bundle_http(url, a.election.as_ref(), &bundle, a.quiet)?;
        return audit_file(&a, &bundle);
    }
    let bundle = a.bundle.clone().context("name the bundle to audit")?;
    audit_file(&a, &bundle)
}

/// Reads the log a gateway serves into a bundle file: its checkpoint (with
/// cosignatures), then every entry it covers, 1,000 to a request.
fn fetch_bundle_http(
    base: &str,
    election: Option<&tallylog_core::types::ElectionId>,
    out: &Path,
    quiet: bool,
) -> Result<()> {
    let base = base.trim_end_matches('/');
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(std::time::Duration::from_secs(10))
        .timeout_read(std::time::Duration::from_secs(60))
        .build();
    let get = |path: &str| -> Result<Vec<u8>> {
        let url = format!("{base}{path}");
        let r = agent.get(&url).call().map_err(|e| match e {
            ureq::Error::Status(code, r) => anyhow::anyhow!(
                "{url}: HTTP {code}: {}",
                r.into_string().unwrap_or_default()
            ),
            e => anyhow::anyhow!("{url}: {e}"),
        })?;
        let mut body = Vec::new();
        // A page is at most 1,000 entries of at most 65,113 bytes.
        std::io::Read::take(r.into_reader(), 70 * 1024 * 1024)
            .read_to_end(&mut body)
            .with_context(|| format!("reading {url}"))?;
        Ok(body)
    };
    let note = get("/checkpoint")?;
    let text = String::from_utf8_lossy(&note).into_owned();
    let size: u64 = text
        .lines()
        .nth(1)
        .and_then(|l| l.parse().ok())
        .context("the gateway's checkpoint has no size line")?;
    let origin = text.lines().next().unwrap_or_default().to_owned();
    let election = match election {
        Some(e) => e.clone(),
        None => {
            let status: serde_json::Value = serde_json::from_slice(&get("/v1/status")?)
                .context("reading the gateway's status")?;
            status["answer"]["election"]["id"]
                .as_str()
                .context("the gateway names no election; give --election")?
                .parse()
                .map_err(|e| anyhow::anyhow!("the gateway's election id: {e:?}"))?
        }
    };
    let header = Header {
        bundle: FORMAT.to_owned(),
        election,
        origin: origin.parse().map_err(|e: String| anyhow::anyhow!(e))?,
        size,
    };
    let f = std::fs::File::create(out)?;
    let mut w = Writer::new(std::io::BufWriter::new(f), &header)?;
    let mut i = 0u64;
    while i < size {
        let limit = (size - i).min(1000);
        let page = get(&format!("/v1/entries?from={i}&limit={limit}"))?;
        let before = i;
        for line in page.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            w.entry(line)?;
            i += 1;
        }
        if i == before {
            bail!("the gateway's checkpoint covers {size} entries but it serves only {i}");
        }
        if !quiet {
            eprint!("\rread {i} of {size} entries");
        }
    }
    if !quiet && size > 0 {
        eprintln!();
    }
    w.checkpoint(&note)?;
    w.finish()?;
    Ok(())
}

/// Reads a ledger's log over NATS into a bundle file: its latest checkpoint
/// (with cosignatures), then every entry it covers.
fn fetch_bundle(url: &str, election: &tallylog_core::types::ElectionId, out: &Path) -> Result<()> {
    use futures::StreamExt;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async {
        let client = tallylog_nats::connect(
            url,
            async_nats::ConnectOptions::new().connection_timeout(std::time::Duration::from_secs(5)),
        )
        .await
        .context("connecting to NATS")?;
        let names = tallylog_nats::Names::new(election.clone());
        let ask = |subject: String, body: String| {
            let client = client.clone();
            async move {
                let r = tokio::time::timeout(
                    std::time::Duration::from_secs(10),
                    client.request(subject.clone(), body.into()),
                )
                .await
                .with_context(|| format!("no answer on {subject} (is the ledger running?)"))?
                .with_context(|| format!("asking on {subject}"))?;
                if r.payload.starts_with(b"error:") {
                    bail!("the ledger says {}", String::from_utf8_lossy(&r.payload));
                }
                Ok::<_, anyhow::Error>(r.payload.to_vec())
            }
        };
        let note = ask(names.checkpoint(), "latest".to_owned()).await?;
        let text = String::from_utf8_lossy(&note).into_owned();
        let size: u64 = text
            .lines()
            .nth(1)
            .and_then(|l| l.parse().ok())
            .context("the ledger's checkpoint has no size line")?;
        let origin = text.lines().next().unwrap_or_default().to_owned();
        let header = Header {
            bundle: FORMAT.to_owned(),
            election: election.clone(),
            origin: origin.parse().map_err(|e: String| anyhow::anyhow!(e))?,
            size,
        };
        let f = std::fs::File::create(out)?;
        let mut w = Writer::new(std::io::BufWriter::new(f), &header)?;
        // Many lookups in flight, written in order.
        let mut entries = futures::stream::iter(0..size)
            .map(|i| ask(names.entry(), i.to_string()))
            .buffered(128);
        let mut i = 0u64;
        while let Some(e) = entries.next().await {
            w.entry(&e.with_context(|| format!("reading entry {i}"))?)?;
            i += 1;
            if i.is_multiple_of(10_000) {
                eprint!("\rread {i} of {size} entries");
            }
        }
        w.checkpoint(&note)?;
        w.finish()?;
        Ok(())
    })
}

fn audit_file(a: &AuditArgs, bundle: &Path) -> Result<Outcome> {
    let bundle = bundle.to_owned();
    let origin = claimed_origin(&bundle)?;
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
    let report = tallylog_audit::audit_bundle(&bundle, opts, |done, total| {
        if !quiet {
            eprint!("\rchecked {done} of {total} entries");
        }
    })
    .with_context(|| format!("auditing {}", bundle.display()))?;
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
            if report.verified_before > 0 {
                writeln!(
                    out,
                    "the first {} entries are the ones verified before (same root); their signatures were not checked again",
                    report.verified_before
                )?;
            }
            // Keyed by the origin the verified election definition names
            // (the header's claim was checked against it).
            if let (Some(p), Some(latest), Some(verified)) =
                (&a.state, report.latest, &report.origin)
            {
                state.insert(verified.to_string(), latest);
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

//! `tallylog event sign`, `tallylog event certify` and `tallylog event
//! verify`: the publisher's and the sceptic's local tools. Nothing here talks
//! to a server: `certify` reads what `tallylog tally status --json` printed.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use tallylog_core::event::{Certified, Draft, Payload, SignedEvent, MAX_EVENT_BYTES};
use tallylog_core::keys;
use tallylog_core::publisher::{ChainState, Publisher};
use tallylog_core::types::{Digest, ElectionId, EventId, Timestamp};

use crate::Outcome;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Sign an event. Reads a draft from --data FILE or standard input:
    /// {"kind":"result","election":"...","time":"...","data":{...}}
    /// and prints the signed event as one line of canonical JSON.
    Sign(SignArgs),
    /// Sign the authority's certification of the results: the log size and
    /// projection hash from `tallylog tally status --json` (read from
    /// --status FILE or standard input), as a `certified` event.
    Certify(CertifyArgs),
    /// Verify signed events (one per line) from FILE, or standard input for -.
    /// Checks canonical encoding and the signature; exits 1 if any fails.
    Verify(VerifyArgs),
}

#[derive(clap::Args)]
pub struct SignArgs {
    /// The secret key file (from `tallylog keygen`).
    #[arg(long, env = "TALLYLOG_KEY")]
    key: PathBuf,
    /// The draft event; standard input if absent or -.
    #[arg(long)]
    data: Option<PathBuf>,
    /// The election id (overrides the draft's).
    #[arg(long, env = "TALLYLOG_ELECTION")]
    election: Option<ElectionId>,
    /// The claimed time, YYYY-MM-DDTHH:MM:SSZ (overrides the draft's; default now).
    #[arg(long)]
    time: Option<Timestamp>,
    /// Where this key's chain position is kept (default: KEY.chain.json). It is
    /// advanced after each signature, so events must be published in order.
    #[arg(long)]
    state: Option<PathBuf>,
    /// Sign as this sequence number instead of the next one in the state file
    /// (to re-sign an event that was never published). Requires --prev unless 1.
    #[arg(long)]
    seq: Option<u64>,
    /// The id of this key's previous event, with --seq.
    #[arg(long, requires = "seq")]
    prev: Option<EventId>,
    /// Append the signed event to this file instead of printing it.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct CertifyArgs {
    /// The authority's secret key file.
    #[arg(long, env = "TALLYLOG_KEY")]
    key: PathBuf,
    /// The output of `tallylog tally status --json`, from a projector or a
    /// log you folded yourself; standard input if absent or -.
    #[arg(long)]
    status: Option<PathBuf>,
    /// The election id (default: the one the status names; if given, they
    /// must agree).
    #[arg(long, env = "TALLYLOG_ELECTION")]
    election: Option<ElectionId>,
    /// The claimed time, YYYY-MM-DDTHH:MM:SSZ (default now).
    #[arg(long)]
    time: Option<Timestamp>,
    /// Where this key's chain position is kept (default: KEY.chain.json).
    #[arg(long)]
    state: Option<PathBuf>,
    /// Append the signed event to this file instead of printing it.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// A file of signed events, one per line; - for standard input.
    file: PathBuf,
}

pub fn run(c: Command) -> Result<Outcome> {
    match c {
        Command::Sign(a) => sign(a),
        Command::Certify(a) => certify(a),
        Command::Verify(a) => verify(&a.file),
    }
}

fn now() -> Result<Timestamp> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("reading the system clock")?
        .as_secs();
    Timestamp::from_unix(secs as i64).map_err(anyhow::Error::msg)
}

fn sign(a: SignArgs) -> Result<Outcome> {
    let draft_path = a.data.clone().unwrap_or_else(|| PathBuf::from("-"));
    let draft_bytes = crate::files::read_limited(&draft_path, MAX_EVENT_BYTES as u64)?;
    let draft = Draft::parse(&draft_bytes)
        .with_context(|| format!("reading the draft event from {}", draft_path.display()))?;
    let payload = draft.payload().with_context(|| {
        format!(
            "reading the draft's data as a {} event",
            draft.kind.as_str()
        )
    })?;
    let Some(election) = a.election.clone().or(draft.election.clone()) else {
        bail!("no election: give --election or an \"election\" field in the draft");
    };
    let time = match a.time.or(draft.time) {
        Some(t) => t,
        None => now()?,
    };
    let chain = match a.seq {
        Some(seq) if seq >= 1 => Some(ChainState {
            seq: seq - 1,
            last: a.prev,
        }),
        Some(_) => bail!("--seq starts at 1"),
        None => None,
    };
    let signer = Signer {
        key: &a.key,
        state: a.state.as_deref(),
        out: a.out.as_deref(),
    };
    signer.sign(election, time, chain, payload)
}

/// Signs the certification that the projection of the log's first `size`
/// entries has the hash the status names.
fn certify(a: CertifyArgs) -> Result<Outcome> {
    let path = a.status.clone().unwrap_or_else(|| PathBuf::from("-"));
    let bytes = crate::files::read_limited(&path, 1 << 20)?;
    let not_status = || {
        format!(
            "{} is not the output of `tallylog tally status --json`",
            path.display()
        )
    };
    let status: serde_json::Value = serde_json::from_slice(&bytes).with_context(not_status)?;
    let log_size = status["size"].as_u64().with_context(not_status)?;
    let projection: Digest = status["answer"]["projection"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .with_context(not_status)?;
    let named: Option<ElectionId> = status["answer"]["election"]["id"]
        .as_str()
        .and_then(|s| s.parse().ok());
    let election = match (a.election.clone(), named) {
        (Some(given), Some(named)) if given != named => {
            bail!("the status is of election {named}, not {given}")
        }
        (Some(e), _) | (None, Some(e)) => e,
        (None, None) => bail!("the status names no election (is the log empty?); give --election"),
    };
    let time = match a.time {
        Some(t) => t,
        None => now()?,
    };
    eprintln!("certifying the projection of the first {log_size} entries: {projection}");
    let signer = Signer {
        key: &a.key,
        state: a.state.as_deref(),
        out: a.out.as_deref(),
    };
    signer.sign(
        election,
        time,
        None,
        Payload::Certified(Certified {
            log_size,
            projection,
        }),
    )
}

/// A key, its chain state file, and where its signed events go.
struct Signer<'a> {
    key: &'a Path,
    state: Option<&'a Path>,
    out: Option<&'a Path>,
}

impl Signer<'_> {
    /// Signs `payload` as the key's next event (or after `chain`, if given),
    /// writes it out, and only then advances the chain state file.
    fn sign(
        &self,
        election: ElectionId,
        time: Timestamp,
        chain: Option<ChainState>,
        payload: Payload,
    ) -> Result<Outcome> {
        let key_bytes = crate::files::read_limited(self.key, 4096)?;
        let key = keys::decode_secret(&key_bytes)
            .with_context(|| format!("reading the key file {}", self.key.display()))?;
        let state_path = self
            .state
            .map(Path::to_owned)
            .unwrap_or_else(|| crate::files::chain_path(self.key));
        let mut chains = crate::files::ChainFile::load(&state_path)?;
        let chain = chain.unwrap_or_else(|| chains.get(&election));
        let mut publisher = Publisher::resume(key, election.clone(), chain);
        let ev = publisher.sign(time, payload).context("signing the event")?;

        let mut line = ev.bytes().to_vec();
        line.push(b'\n');
        match self.out {
            Some(out) => {
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(out)
                    .with_context(|| format!("opening {}", out.display()))?;
                f.write_all(&line)
                    .and_then(|()| f.sync_all())
                    .with_context(|| format!("appending to {}", out.display()))?;
            }
            None => std::io::stdout()
                .write_all(&line)
                .context("writing the event")?,
        }
        // The state advances only once the event has been written out.
        chains.advance(&election, publisher.chain().clone());
        chains.save(&state_path)?;
        eprintln!(
            "signed {} event {} (seq {})",
            ev.kind().as_str(),
            ev.id(),
            ev.body().seq.0
        );
        Ok(Outcome::Ok)
    }
}

fn verify(path: &Path) -> Result<Outcome> {
    let input: Box<dyn Read> = if path == Path::new("-") {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?)
    };
    let mut reader = BufReader::new(input);
    let (mut ok, mut bad) = (0u64, 0u64);
    let mut line = Vec::new();
    let mut n = 0u64;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    loop {
        line.clear();
        n += 1;
        // Read at most one byte more than an event may have, so a huge line is
        // reported, not loaded.
        let read = (&mut reader)
            .take(MAX_EVENT_BYTES as u64 + 2)
            .read_until(b'\n', &mut line)
            .with_context(|| format!("reading {}", path.display()))?;
        if read == 0 {
            break;
        }
        let complete = line.last() == Some(&b'\n');
        if complete {
            line.pop();
        } else if read as u64 > MAX_EVENT_BYTES as u64 {
            writeln!(out, "line {n}: too_large: over {MAX_EVENT_BYTES} bytes")?;
            bad += 1;
            // Skip the rest of the oversized line a buffer at a time: it may
            // be larger than memory (a file of zeros, a device).
            loop {
                let buf = reader
                    .fill_buf()
                    .with_context(|| format!("reading {}", path.display()))?;
                match buf.iter().position(|&b| b == b'\n') {
                    Some(at) => {
                        reader.consume(at + 1);
                        break;
                    }
                    None if buf.is_empty() => break,
                    None => {
                        let n = buf.len();
                        reader.consume(n);
                    }
                }
            }
            continue;
        }
        if line.is_empty() {
            continue;
        }
        match SignedEvent::decode_verified(&line) {
            Ok(ev) => {
                ok += 1;
                let b = ev.body();
                writeln!(
                    out,
                    "line {n}: ok {} {} election={} author={} seq={} time={}",
                    ev.id(),
                    ev.kind().as_str(),
                    b.election,
                    b.author,
                    b.seq.0,
                    b.time
                )?;
            }
            Err(e) => {
                bad += 1;
                writeln!(out, "line {n}: {}: {e}", e.code())?;
            }
        }
    }
    eprintln!("{ok} verified, {bad} failed");
    if ok + bad == 0 {
        bail!("{} holds no events", path.display());
    }
    Ok(if bad == 0 {
        Outcome::Ok
    } else {
        Outcome::CheckFailed
    })
}

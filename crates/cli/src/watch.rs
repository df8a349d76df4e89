//! `tallylog watch`: a party agent's live view of the log, filtered by
//! region and kind, that survives disconnects and restarts without a gap or
//! a repeat, and checks what it shows.
//!
//! Each entry is decoded strictly, its signature verified, and its inclusion
//! in a checkpoint signed by the log key proven (from the ledger's receipt
//! for it) before it is printed. With `--out FILE` the output file is the
//! watcher's state: on start it reads the index of the last complete line
//! and resumes after it (a line cut off by a crash is dropped and printed
//! again), so every entry for the region lands in the file exactly once.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use async_nats::jetstream::{self, consumer};
use futures::StreamExt;
use serde_json::{json, Value};
use tallylog_core::checkpoint::LogVerifier;
use tallylog_core::entry::Entry;
use tallylog_core::event::{Kind, Payload};
use tallylog_core::receipt::{Receipt, Reply};
use tallylog_core::types::{ElectionId, Origin, PublicKey, RegionCode};
use tallylog_nats::{Backoff, Names};

use crate::Outcome;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, env = "TALLYLOG_NATS", default_value = "nats://127.0.0.1:4222")]
    nats: String,
    #[arg(long, env = "TALLYLOG_ELECTION")]
    election: ElectionId,
    /// Only entries about this region or inside it: a province (01), a
    /// district (01/02), a commune or a station code.
    #[arg(long)]
    region: Option<RegionCode>,
    /// Only entries of this kind (result, correction, complaint_filed, ...).
    #[arg(long)]
    kind: Option<String>,
    /// Append JSON lines to this file, and resume after its last line.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Without --out: keep the next index to show in this small file, and
    /// resume from it (an entry shown just before a crash may be shown again).
    #[arg(long, conflicts_with = "out")]
    state: Option<PathBuf>,
    /// Print JSON lines instead of a table (always so with --out).
    #[arg(long)]
    json: bool,
    /// Start at this index (without --out, which resumes after its own last
    /// line; default: the beginning).
    #[arg(long, default_value_t = 0, conflicts_with = "out")]
    from: u64,
    /// The log's key and origin; by default the ones the election definition
    /// (entry 0) names, checked against --root-key if given.
    #[arg(long, requires = "origin")]
    log_key: Option<PublicKey>,
    #[arg(long)]
    origin: Option<Origin>,
    #[arg(long, env = "TALLYLOG_ROOT_KEY")]
    root_key: Option<PublicKey>,
}

/// The subject filter for a region and kind (see `tallylog_nats`).
fn filter(names: &Names, kind: Option<&str>, region: Option<&RegionCode>) -> String {
    let mut s = format!("tallylog.{}.log.{}", names.election(), kind.unwrap_or("*"));
    match region {
        None => s.push_str(".>"),
        Some(r) => {
            let segments: Vec<&str> = r.segments().collect();
            for seg in &segments {
                s.push('.');
                s.push_str(seg);
            }
            if segments.len() < 4 {
                s.push_str(".>");
            }
        }
    }
    s
}

/// The index after the last complete line of `out`, dropping a line a
/// crash cut off.
fn resume_from(out: &Path) -> Result<u64> {
    let mut f = match std::fs::OpenOptions::new().read(true).write(true).open(out) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e).with_context(|| format!("opening {}", out.display())),
    };
    let len = f.metadata()?.len();
    let tail_len = len.min(1 << 20);
    f.seek(SeekFrom::Start(len - tail_len))?;
    let mut tail = Vec::new();
    f.read_to_end(&mut tail)?;
    let complete = match tail.iter().rposition(|&b| b == b'\n') {
        Some(p) => p + 1,
        None if len == 0 => return Ok(0),
        None => bail!("{} holds no complete line in its last MiB", out.display()),
    };
    if complete < tail.len() {
        f.set_len(len - tail_len + complete as u64)
            .context("dropping a line cut off by a crash")?;
    }
    let lines = &tail[..complete];
    let last = lines[..lines.len() - 1]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(lines, |p| &lines[p + 1..]);
    let v: Value = serde_json::from_slice(last)
        .with_context(|| format!("reading the last line of {}", out.display()))?;
    let index = v["index"]
        .as_u64()
        .with_context(|| format!("the last line of {} has no index", out.display()))?;
    Ok(index + 1)
}

pub fn run(a: Args) -> Result<Outcome> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(watch(a))
}

async fn watch(a: Args) -> Result<Outcome> {
    if let Some(k) = &a.kind {
        if !Kind::ALL.iter().any(|c| c.as_str() == k) {
            bail!(
                "unknown --kind {k:?}; kinds are {}",
                Kind::ALL.map(|k| k.as_str()).join(", ")
            );
        }
    }
    let mut next = match (&a.out, &a.state) {
        (Some(out), _) => resume_from(out)?,
        (None, Some(state)) => match std::fs::read_to_string(state) {
            Ok(t) => t
                .trim()
                .parse()
                .with_context(|| format!("{} does not hold an index", state.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => a.from,
            Err(e) => return Err(e).with_context(|| format!("reading {}", state.display())),
        },
        (None, None) => a.from,
    };
    let client = tallylog_nats::connect(
        &a.nats,
        async_nats::ConnectOptions::new().retry_on_initial_connect(),
    )
    .await
    .context("connecting to NATS")?;
    let names = Names::new(a.election.clone());
    let log = log_verifier(&client, &names, &a).await?;
    let js = jetstream::new(client.clone());
    let subject = filter(&names, a.kind.as_deref(), a.region.as_ref());
    eprintln!("watching {subject} from entry {next}");
    let mut out: Box<dyn Write> = match &a.out {
        Some(p) => Box::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .with_context(|| format!("opening {}", p.display()))?,
        ),
        None => Box::new(std::io::stdout()),
    };
    let json = a.json || a.out.is_some();
    let stop = tokio_util::sync::CancellationToken::new();
    let s = stop.clone();
    tokio::spawn(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("invariant: SIGTERM can be handled");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        s.cancel();
    });
    let mut retry = Backoff::default();
    'consumer: loop {
        if stop.is_cancelled() {
            return Ok(Outcome::Ok);
        }
        let mut messages = match open(&js, &names, &subject, next).await {
            Ok(m) => m,
            Err(e) => {
                eprintln!("cannot read the log stream yet: {e:#}");
                retry.wait(&stop).await;
                continue 'consumer;
            }
        };
        loop {
            let msg = tokio::select! {
                m = messages.next() => m,
                _ = stop.cancelled() => return Ok(Outcome::Ok),
            };
            let msg = match msg {
                Some(Ok(m)) => m,
                _ => {
                    eprintln!("the log stream broke off; reading again from entry {next}");
                    retry.wait(&stop).await;
                    continue 'consumer;
                }
            };
            let Ok(info) = msg.info() else { continue };
            let index = info.stream_sequence - 1;
            if index < next {
                continue;
            }
            let entry = Entry::decode(&msg.payload)
                .with_context(|| format!("entry {index} from the log stream does not decode"))?;
            if entry.index().0 != index {
                bail!(
                    "the log stream holds entry {} at position {index}",
                    entry.index()
                );
            }
            let event =
                entry.event().clone().verify().map_err(|e| {
                    anyhow::anyhow!("entry {index}: its event does not verify: {e}")
                })?;
            // The ledger may be restarting or busy: wait for the proof
            // rather than give up the watch.
            loop {
                match prove(&client, &names, &log, &entry).await? {
                    Proof::Verified => break,
                    Proof::Unavailable(why) => {
                        eprintln!(
                            "entry {index}: cannot get its inclusion proof yet ({why}); retrying"
                        );
                        retry.wait(&stop).await;
                        if stop.is_cancelled() {
                            return Ok(Outcome::Ok);
                        }
                    }
                }
            }
            let line = render(&entry, &event, json);
            out.write_all(line.as_bytes())?;
            out.flush()?;
            next = index + 1;
            if let Some(state) = &a.state {
                crate::files::replace(state, format!("{next}\n").as_bytes())?;
            }
            retry = Backoff::default();
        }
    }
}

/// The log's verifier: from the flags, or from the election definition.
async fn log_verifier(client: &async_nats::Client, names: &Names, a: &Args) -> Result<LogVerifier> {
    if let (Some(key), Some(origin)) = (a.log_key, &a.origin) {
        return LogVerifier::new(origin.as_str(), key).context("checking --origin and --log-key");
    }
    let first = ask(client, names.entry(), "0".to_owned()).await?;
    let entry = Entry::decode(&first).context("the log's first entry does not decode")?;
    let ev = entry
        .event()
        .clone()
        .verify()
        .context("the election definition's signature does not verify")?;
    if let Some(root) = a.root_key {
        if ev.body().author != root {
            bail!("the election definition is not signed by the root key you gave");
        }
    } else {
        eprintln!(
            "trusting the log key the election definition names (signed by {}); give --root-key to check it",
            ev.body().author
        );
    }
    let Payload::Election(def) = &ev.body().payload else {
        bail!("the log's first entry is not the election definition");
    };
    LogVerifier::new(def.log.origin.as_str(), def.log.key).context("reading the log key")
}

async fn ask(client: &async_nats::Client, subject: String, body: String) -> Result<Vec<u8>> {
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        client.request(subject.clone(), body.into()),
    )
    .await
    .with_context(|| format!("no answer on {subject} (is the ledger running?)"))?
    .with_context(|| format!("asking on {subject}"))?;
    if r.payload.starts_with(b"error:") {
        bail!("the ledger says {}", String::from_utf8_lossy(&r.payload));
    }
    Ok(r.payload.to_vec())
}

enum Proof {
    Verified,
    /// No answer from the ledger (not a failed check): try again.
    Unavailable(String),
}

/// Proves the entry is in the log: its receipt's inclusion proof against a
/// checkpoint signed by the log key, for exactly this entry (its index and
/// its link to the entry before, not only its event).
async fn prove(
    client: &async_nats::Client,
    names: &Names,
    log: &LogVerifier,
    entry: &Entry,
) -> Result<Proof> {
    let id = entry.event().id();
    let index = entry.index().0;
    let subject = names.receipt();
    let reply = match tokio::time::timeout(
        Duration::from_secs(10),
        client.request(subject.clone(), id.to_string().into()),
    )
    .await
    {
        Ok(Ok(r)) => r.payload,
        Ok(Err(e)) => return Ok(Proof::Unavailable(format!("asking on {subject}: {e}"))),
        Err(_) => return Ok(Proof::Unavailable(format!("no answer on {subject}"))),
    };
    match serde_json::from_slice::<Reply>(&reply).context("reading the ledger's receipt")? {
        Reply::Accepted {
            index: i, receipt, ..
        } if i == index => {
            let r = Receipt::decode(&receipt).context("reading the receipt")?;
            if r.index != entry.index() || r.prev != entry.prev() {
                bail!(
                    "entry {index}: the receipt proves entry {} after {}, not this entry (after {})",
                    r.index,
                    hex::encode(r.prev.0),
                    hex::encode(entry.prev().0)
                );
            }
            r.verify(entry.event(), log).map_err(|e| {
                anyhow::anyhow!("entry {index}: its inclusion proof does not verify: {e}")
            })?;
            Ok(Proof::Verified)
        }
        other => bail!("entry {index}: the ledger's receipt does not match it: {other:?}"),
    }
}

fn render(entry: &Entry, event: &tallylog_core::event::VerifiedEvent, json: bool) -> String {
    let body = event.body();
    let region = match &body.payload {
        Payload::Result(f) => Some(f.station.to_string()),
        Payload::Correction(c) => Some(c.form.station.to_string()),
        Payload::Recount(r) => Some(r.form.station.to_string()),
        Payload::ComplaintFiled(c) => c.region.as_ref().map(|r| r.to_string()),
        _ => None,
    };
    if json {
        let data: Value = serde_json::from_slice(event.event().body_bytes())
            .map(|b: Value| b["data"].clone())
            .unwrap_or(Value::Null);
        let line = json!({
            "index": entry.index().0,
            "id": event.id(),
            "kind": body.payload.kind(),
            "region": region,
            "author": body.author,
            "time": body.time,
            "data": data,
        });
        format!("{line}\n")
    } else {
        let figures = body
            .payload
            .form()
            .map(|f| {
                let votes: Vec<String> = f.votes.iter().map(|(p, v)| format!("{p} {v}")).collect();
                format!(
                    "cast {} valid {} invalid {}: {}",
                    f.cast,
                    f.valid,
                    f.invalid,
                    votes.join(", ")
                )
            })
            .unwrap_or_default();
        format!(
            "{:>8}  {:<24} {:<16} {}  {}\n",
            entry.index(),
            body.payload.kind().as_str(),
            region.unwrap_or_else(|| "-".to_owned()),
            body.time,
            figures
        )
    }
}

async fn open(
    js: &jetstream::Context,
    names: &Names,
    subject: &str,
    from: u64,
) -> Result<consumer::pull::Stream> {
    let stream = js
        .get_stream(names.log_stream())
        .await
        .context("finding the log stream (is the ledger running?)")?;
    let consumer: consumer::PullConsumer = stream
        .create_consumer(consumer::pull::Config {
            description: Some("tallylog watch".to_owned()),
            deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                start_sequence: from + 1,
            },
            ack_policy: consumer::AckPolicy::None,
            filter_subject: subject.to_owned(),
            inactive_threshold: Duration::from_secs(60),
            ..Default::default()
        })
        .await
        .context("creating a log consumer")?;
    consumer
        .stream()
        .max_messages_per_batch(512)
        .heartbeat(Duration::from_secs(5))
        .messages()
        .await
        .context("pulling entries")
}

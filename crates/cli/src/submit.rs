//! `tallylog submit`: publish signed events to a ledger, wait for and verify
//! their receipts, and keep the receipts beside the input.
//!
//! Safe to run again after any failure: events already in the log are answered
//! with their original entries, and nothing is ever added twice. A CSV export is
//! signed once, into FILE.signed.jsonl; to retry, submit that file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tallylog_core::checkpoint::LogVerifier;
use tallylog_core::entry::Entry;
use tallylog_core::event::{Payload, SignedEvent, MAX_EVENT_BYTES};
use tallylog_core::publisher::Publisher;
use tallylog_core::receipt::{Receipt, Reply};
use tallylog_core::types::{ElectionId, LogIndex, Origin, PublicKey, Timestamp};
use tallylog_nats::submit::{Options, Submitter};
use tallylog_nats::Names;

use crate::files::with_suffix;
use crate::Outcome;

#[derive(clap::Args)]
pub struct Args {
    /// Files of signed events, one per line (or CSV result forms with --csv).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The NATS server the ledger listens on.
    #[arg(
        long,
        env = "TALLYLOG_NATS",
        hide_env_values = true,
        default_value = "nats://127.0.0.1:4222"
    )]
    nats: String,
    /// The election (default: the one the events name).
    #[arg(long, env = "TALLYLOG_ELECTION")]
    election: Option<ElectionId>,
    /// The files are CSV exports of result forms, to be signed with --key.
    #[arg(long, requires = "key")]
    csv: bool,
    /// The secret key to sign CSV rows with (its chain continues from KEY.chain.json).
    #[arg(long, env = "TALLYLOG_KEY")]
    key: Option<PathBuf>,
    /// The claimed time for CSV rows (default now).
    #[arg(long)]
    time: Option<Timestamp>,
    /// The log's public key, to check receipts against (default: the key the
    /// election definition names, read from the log's first entry).
    #[arg(long, requires = "origin")]
    log_key: Option<PublicKey>,
    /// The log's origin, with --log-key.
    #[arg(long)]
    origin: Option<Origin>,
    /// The election's root key: trust the log the definition names only if the
    /// definition is signed by this key (recommended when not giving --log-key).
    #[arg(long, env = "TALLYLOG_ROOT_KEY")]
    root_key: Option<PublicKey>,
    /// Submissions awaiting their receipt at once.
    #[arg(long, default_value_t = 512)]
    in_flight: usize,
    /// Seconds to wait for a receipt before asking for it again.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
}

/// One event to send, and where it came from (for messages and receipts).
struct Item {
    event: SignedEvent,
    file: usize,
    line: usize,
    /// An earlier run already holds a verified receipt for it.
    receipted: bool,
}

/// Marks the items whose receipts an earlier run kept (and which still verify
/// against `log`); returns how many.
fn kept_receipts(files: &[PathBuf], log: &LogVerifier, items: &mut [Item]) -> u64 {
    let mut known: std::collections::HashMap<(usize, tallylog_core::types::EventId), Receipt> =
        std::collections::HashMap::new();
    for (f, file) in files.iter().enumerate() {
        let Ok(text) = std::fs::read_to_string(with_suffix(file, ".receipts.jsonl")) else {
            continue;
        };
        for line in text.lines() {
            let parsed = serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|v| {
                    let id = v["id"].as_str()?.parse().ok()?;
                    let r = Receipt::decode(v["receipt"].as_str()?).ok()?;
                    Some((id, r))
                });
            if let Some((id, r)) = parsed {
                known.insert((f, id), r);
            }
        }
    }
    let mut n = 0;
    for item in items {
        if let Some(r) = known.get(&(item.file, item.event.id())) {
            if r.verify(&item.event, log).is_ok() {
                item.receipted = true;
                n += 1;
            }
        }
    }
    n
}

pub fn run(a: Args) -> Result<Outcome> {
    // Refuse a receipts file that cannot be written before sending anything,
    // not after every receipt has come back.
    for file in &a.files {
        crate::files::refuse_symlink(&with_suffix(file, ".receipts.jsonl"))?;
    }
    let (items, mut bad) = load(&a)?;
    if items.is_empty() {
        bail!("nothing to submit ({bad} lines refused locally)");
    }
    let election = match &a.election {
        Some(e) => e.clone(),
        None => items[0].event.body().election.clone(),
    };
    if let Some(other) = items.iter().find(|i| i.event.body().election != election) {
        bail!(
            "{}:{}: the event is for election {}, not {election}; submit each election separately",
            a.files[other.file].display(),
            other.line,
            other.event.body().election
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async {
        let names = Names::new(election.clone());
        let submitter = Submitter::connect(&a.nats, names)
            .await
            .context("connecting to NATS")?;
        let all: Vec<SignedEvent> = items.iter().map(|i| i.event.clone()).collect();
        // Whom to believe is settled before anything is sent.
        let verifier = trust(&a, &submitter, &all).await?;
        // A run started again after a failure sends only what has no verified
        // receipt yet from an earlier run.
        let mut items = items;
        let kept = kept_receipts(&a.files, &verifier, &mut items);
        if kept > 0 {
            eprintln!("{kept} events already have verified receipts from an earlier run; not sent again");
        }
        let items: Vec<Item> = items
            .into_iter()
            .filter(|i| !i.receipted)
            .collect();
        let events: Vec<SignedEvent> = items.iter().map(|i| i.event.clone()).collect();
        let total = events.len() as u64;
        let done = AtomicU64::new(0);
        let started = Instant::now();
        let last_print = std::sync::Mutex::new(Instant::now());
        let opts = Options {
            in_flight: a.in_flight.max(1),
            reply_timeout: Duration::from_secs(a.timeout.max(1)),
            ..Options::default()
        };
        let replies = submitter
            .submit(&events, &opts, |_, _| {
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                let mut last = last_print.lock().expect("lock");
                if n == total || last.elapsed() > Duration::from_millis(500) {
                    *last = Instant::now();
                    let rate = n as f64 / started.elapsed().as_secs_f64().max(1e-3);
                    eprint!("\r{n}/{total} replies ({rate:.0}/s)   ");
                }
            })
            .await;
        eprintln!();

        let mut receipts: Vec<Vec<u8>> = vec![Vec::new(); a.files.len()];
        let (mut ok, mut rejected) = (kept, 0u64);
        let mut checkpoints: std::collections::HashMap<
            Vec<u8>,
            tallylog_core::checkpoint::VerifiedCheckpoint,
        > = std::collections::HashMap::new();
        for (item, reply) in items.iter().zip(replies) {
            let at = format!("{}:{}", a.files[item.file].display(), item.line);
            match reply {
                Ok(Reply::Accepted { index, receipt, id }) => {
                    let checked = Receipt::decode(&receipt)
                        .map_err(|e| e.to_string())
                        .and_then(|r| {
                            if id != item.event.id() || index != r.index.0 {
                                return Err(format!(
                                    "the reply names event {id} at index {index}, the receipt index {}",
                                    r.index
                                ));
                            }
                            // One signature check per distinct checkpoint.
                            let cp = match checkpoints.get(&r.checkpoint) {
                                Some(cp) => cp.clone(),
                                None => {
                                    let cp = verifier
                                        .verify(&r.checkpoint)
                                        .map_err(|e| e.to_string())?;
                                    checkpoints.insert(r.checkpoint.clone(), cp.clone());
                                    cp
                                }
                            };
                            r.verify_against(&item.event, &cp)
                                .map_err(|e| e.to_string())
                        });
                    match checked {
                        Ok(()) => {
                            ok += 1;
                            let line =
                                serde_json::json!({"id": id, "index": index, "receipt": receipt});
                            receipts[item.file].extend_from_slice(line.to_string().as_bytes());
                            receipts[item.file].push(b'\n');
                        }
                        Err(e) => {
                            rejected += 1;
                            // The id commits to the body only, so the intake
                            // stream drops this as a duplicate of a logged
                            // event with the same body and another signature,
                            // and the receipt is that event's: this one's own
                            // signature is at fault, not the ledger.
                            match item.event.clone().verify() {
                                Err(bad) => println!(
                                    "{at}: {}: {bad} (not judged: the log holds this body under \
                                     another signature, at index {index})",
                                    bad.code()
                                ),
                                Ok(_) => {
                                    println!("{at}: the ledger's receipt does not verify: {e}")
                                }
                            }
                        }
                    }
                }
                Ok(Reply::Rejected { code, message, .. }) => {
                    rejected += 1;
                    println!("{at}: rejected: {code}: {message}");
                }
                Ok(Reply::Unknown { id }) => {
                    rejected += 1;
                    println!("{at}: the ledger does not know event {id}");
                }
                Err(e) => {
                    rejected += 1;
                    println!("{at}: {e}");
                }
            }
        }
        // Every file's receipts are written before the first failure is told.
        let mut written = Ok(());
        for (file, lines) in a.files.iter().zip(&receipts) {
            if !lines.is_empty() {
                let w = crate::files::append_durably(&with_suffix(file, ".receipts.jsonl"), lines);
                if written.is_ok() {
                    written = w;
                }
            }
        }
        written?;
        bad += rejected;
        eprintln!(
            "{ok} accepted with verified receipts, {bad} not ({:.1} s)",
            started.elapsed().as_secs_f64()
        );
        Ok::<_, anyhow::Error>(if bad == 0 {
            Outcome::Ok
        } else {
            Outcome::CheckFailed
        })
    })
}

/// The largest input file `submit` reads (about 8,000 events of the largest
/// size, or a million typical result forms).
const MAX_FILE_BYTES: u64 = 512 * 1024 * 1024;

/// Reads the events to send; lines that cannot be events are reported and
/// counted, not sent.
fn load(a: &Args) -> Result<(Vec<Item>, u64)> {
    let mut items = Vec::new();
    let mut bad = 0u64;
    for (f, path) in a.files.iter().enumerate() {
        // Everything is held until its receipt comes, so a file is bounded:
        // /dev/zero is refused rather than read until memory runs out.
        // (A file, never standard input: receipts are written beside it.)
        let mut text = Vec::new();
        std::io::Read::read_to_end(
            &mut std::io::Read::take(
                std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?,
                MAX_FILE_BYTES + 1,
            ),
            &mut text,
        )
        .with_context(|| format!("reading {}", path.display()))?;
        if text.len() as u64 > MAX_FILE_BYTES {
            anyhow::bail!(
                "{} is larger than {MAX_FILE_BYTES} bytes: split larger files",
                path.display()
            );
        }
        if a.csv {
            items.extend(sign_csv(a, f, path, &text)?);
            continue;
        }
        for (n, line) in text.split(|&b| b == b'\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            if line.len() > MAX_EVENT_BYTES {
                println!("{}:{}: too_large: not sent", path.display(), n + 1);
                bad += 1;
                continue;
            }
            match SignedEvent::decode(line) {
                Ok(event) => items.push(Item {
                    event,
                    file: f,
                    line: n + 1,
                    receipted: false,
                }),
                Err(e) => {
                    println!("{}:{}: {}: {e} (not sent)", path.display(), n + 1, e.code());
                    bad += 1;
                }
            }
        }
    }
    Ok((items, bad))
}

/// Signs the CSV rows of `path` with --key, continuing the key's chain, and
/// keeps the signed events in PATH.signed.jsonl.
fn sign_csv(a: &Args, f: usize, path: &Path, text: &[u8]) -> Result<Vec<Item>> {
    let key_path = a.key.as_ref().expect("clap: --csv requires --key");
    let signed_path = with_suffix(path, ".signed.jsonl");
    if signed_path.exists() {
        // Signing the rows again would make new events for the same forms.
        bail!(
            "{} was signed before, into {}: submit that file instead (`tallylog submit {}`)",
            path.display(),
            signed_path.display(),
            signed_path.display()
        );
    }
    let key = tallylog_core::keys::decode_secret(&crate::files::read_limited(key_path, 4096)?)
        .with_context(|| format!("reading the key file {}", key_path.display()))?;
    let Some(election) = a.election.clone() else {
        bail!("--csv needs --election");
    };
    let text =
        std::str::from_utf8(text).with_context(|| format!("{} is not UTF-8", path.display()))?;
    let forms = tallylog_core::import::csv_forms(text)
        .with_context(|| format!("reading {}", path.display()))?;
    let time = match a.time {
        Some(t) => t,
        None => Timestamp::from_unix(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs() as i64,
        )
        .map_err(anyhow::Error::msg)?,
    };
    let state_path = crate::files::chain_path(key_path);
    let mut chains = crate::files::ChainFile::load(&state_path)?;
    let mut publisher = Publisher::resume(key, election.clone(), chains.get(&election));
    let mut out = Vec::new();
    let mut signed = Vec::new();
    for (i, form) in forms.into_iter().enumerate() {
        let ev = publisher.sign(time, Payload::Result(form))?.into_event();
        signed.extend_from_slice(ev.bytes());
        signed.push(b'\n');
        out.push(Item {
            event: ev,
            file: f,
            line: i + 2,
            receipted: false,
        });
    }
    // Keep the signed events before the chain advances: if this run dies, they
    // can be submitted as they are.
    let mut file = std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .open(&signed_path)
        .with_context(|| format!("opening {}", signed_path.display()))?;
    let kept = file
        .write_all(&signed)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", signed_path.display()))
        // Its name too: the chain state saved next must never name events
        // that a crash could lose.
        .and_then(|()| crate::files::sync_parent(&signed_path));
    if let Err(e) = kept {
        // Not kept, so the chain does not advance: a file left here would be
        // refused as "signed before" and the next signing would reuse its
        // sequence numbers.
        let _ = std::fs::remove_file(&signed_path);
        return Err(e);
    }
    chains.advance(&election, publisher.chain().clone());
    chains.save(&state_path).with_context(|| {
        format!(
            "the forms were signed and kept in {}, but the key's chain position was not saved: \
             submit that file, and check {} before signing more with this key",
            signed_path.display(),
            state_path.display()
        )
    })?;
    eprintln!(
        "signed {} forms from {} (kept in {})",
        out.len(),
        path.display(),
        signed_path.display()
    );
    Ok(out)
}

/// Whose checkpoints to trust: --log-key/--origin, or the log the election
/// definition names (from the events being sent, or the log's first entry).
async fn trust(a: &Args, s: &Submitter, events: &[SignedEvent]) -> Result<LogVerifier> {
    if let (Some(key), Some(origin)) = (&a.log_key, &a.origin) {
        return LogVerifier::new(origin.as_str(), *key).map_err(anyhow::Error::msg);
    }
    let def_event = match events
        .iter()
        .find(|e| matches!(e.body().payload, Payload::Election(_)))
    {
        Some(e) => e.clone(),
        None => {
            let bytes = s
                .entry(LogIndex(0))
                .await
                .context("reading the log's first entry (the election definition)")?;
            Entry::decode(&bytes)
                .context("decoding the log's first entry")?
                .event()
                .clone()
        }
    };
    let root = def_event.body().author;
    if let Some(pinned) = a.root_key {
        if pinned != root {
            bail!("the election definition is signed by {root}, not by the root key {pinned} you gave");
        }
    }
    let def_event = def_event
        .verify()
        .context("the election definition's signature does not verify")?;
    let Payload::Election(def) = &def_event.body().payload else {
        bail!("the log's first entry is not an election definition");
    };
    eprintln!(
        "checking receipts against log {} (key {}), as named by the election's root key {root}{}",
        def.log.origin,
        def.log.key,
        if a.root_key.is_some() {
            ""
        } else {
            " (not pinned: give --root-key to be sure it is the real one)"
        }
    );
    LogVerifier::new(def.log.origin.as_str(), def.log.key).map_err(anyhow::Error::msg)
}

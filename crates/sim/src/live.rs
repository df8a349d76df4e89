//! A simulated election published to a running ledger at a fixed rate, as
//! independent publishers would send it (`tallylog simulate --live`): every
//! receipt checked against the log the definition names, and the time from
//! publishing each event to its receipt measured.
//!
//! Events are signed on a thread of their own and handed over in chunks, so
//! memory stays bounded at any size. Within a chunk the load is open loop:
//! each event starts at its time whatever the replies do. The submitter keeps
//! first sends in order within the slice it is given, so the next chunk
//! starts once the last reply of the one before is in; a chunk lasts about
//! five seconds at the offered rate, so that pause (one receipt's latency) is
//! a small part of the run.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::ops::ControlFlow;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;
use tallylog_core::checkpoint::{LogVerifier, VerifiedCheckpoint};
use tallylog_core::event::{Payload, SignedEvent};
use tallylog_core::receipt::{Receipt, Reply};
use tallylog_core::types::ElectionId;
use tallylog_nats::submit::{Options, Submitter};
use tallylog_nats::Names;

use crate::election::{self, Size};

/// What to publish, where, and how fast.
#[derive(Clone, Debug)]
pub struct Config {
    pub nats_url: String,
    pub size: Size,
    pub seed: u64,
    /// Events offered per second.
    pub rate: f64,
    /// Submissions awaiting their reply at once, at most.
    pub in_flight: usize,
    /// How long to wait for a reply before asking the ledger for the receipt.
    pub reply_timeout: Duration,
}

/// What happened to the events published.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub election: ElectionId,
    pub offered_rate: f64,
    pub sent: u64,
    /// Accepted, with a receipt that verifies against the log the election
    /// definition names.
    pub accepted: u64,
    /// Refused by the ledger, by reason code.
    pub rejected: BTreeMap<String, u64>,
    /// Accepted, but the receipt does not verify.
    pub bad_receipts: u64,
    /// No reply after every attempt, or NATS failed.
    pub failed: u64,
    /// The first few problems, as said.
    pub problems: Vec<String>,
    pub seconds: f64,
    pub achieved_rate: f64,
    /// From the first send of an event to its accepting reply, in ms.
    pub latency_ms: Latency,
}

impl Report {
    /// Every event sent was accepted with a receipt that verifies.
    pub fn all_accepted(&self) -> bool {
        self.accepted == self.sent
    }
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }
}

/// Latency percentiles (nearest rank); zero when nothing was accepted.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

#[derive(Debug)]
#[non_exhaustive]
pub enum LiveError {
    /// NATS could not be reached.
    Connect(String),
    /// No ledger for the election answers on the server.
    NoLedger { election: ElectionId, url: String },
    /// The rate is not a positive number.
    Rate(f64),
}

impl fmt::Display for LiveError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            LiveError::Connect(e) => write!(f, "connecting to NATS: {e}"),
            LiveError::NoLedger { election, url } => write!(
                f,
                "no ledger for election {election} answers on {url}: start one with \
                 `tallylog up --election {election}` and the simulated log key \
                 (`tallylog simulate --out DIR` writes it to DIR/keys/log.key)"
            ),
            LiveError::Rate(r) => write!(f, "the rate must be a positive number, not {r}"),
        }
    }
}

impl std::error::Error for LiveError {}

/// The chunk size for `rate`: about five seconds of events, within bounds.
fn chunk_size(rate: f64) -> usize {
    ((rate * 5.0) as usize).clamp(1_000, 20_000)
}

/// Problems listed in the report at most.
const MAX_PROBLEMS: usize = 10;

/// Publishes the election of `cfg.size` and `cfg.seed` to the ledger at
/// `cfg.nats_url`. `progress` is told, after each chunk, how many events have
/// been sent and how many were accepted.
pub async fn publish(cfg: &Config, progress: impl Fn(u64, u64)) -> Result<Report, LiveError> {
    if !(cfg.rate.is_finite() && cfg.rate > 0.0) {
        return Err(LiveError::Rate(cfg.rate));
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<SignedEvent>>(1);
    let (size, seed, chunk) = (cfg.size, cfg.seed, chunk_size(cfg.rate));
    // Signing runs beside the publishing; it stops once nobody takes chunks.
    let generator = std::thread::spawn(move || {
        let mut buf = Vec::with_capacity(chunk);
        election::try_stream(size, seed, |ev| {
            buf.push(ev.into_event());
            if buf.len() == chunk && tx.blocking_send(std::mem::take(&mut buf)).is_err() {
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        });
        if !buf.is_empty() {
            let _ = tx.blocking_send(buf);
        }
    });
    let result = run(cfg, &mut rx, progress).await;
    // Dropping the receiver makes the generator's next send fail, so it stops.
    drop(rx);
    let _ = tokio::task::spawn_blocking(move || generator.join()).await;
    result
}

async fn run(
    cfg: &Config,
    rx: &mut tokio::sync::mpsc::Receiver<Vec<SignedEvent>>,
    progress: impl Fn(u64, u64),
) -> Result<Report, LiveError> {
    let first = rx
        .recv()
        .await
        .expect("invariant: every simulated election has a first chunk");
    let Payload::Election(def) = &first[0].body().payload else {
        unreachable!("invariant: a simulated election starts with its definition")
    };
    let election = first[0].body().election.clone();
    let log = LogVerifier::new(def.log.origin.as_str(), def.log.key)
        .expect("invariant: the simulated log's origin and key are valid");
    let names = Names::new(election.clone());
    let submitter = Submitter::connect(&cfg.nats_url, names.clone())
        .await
        .map_err(|e| LiveError::Connect(e.to_string()))?;
    // A ledger just started may not be listening yet: give it a few seconds.
    let until = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let asked = tokio::time::timeout(
            Duration::from_secs(1),
            submitter.client().request(names.stats(), "".into()),
        )
        .await;
        if matches!(asked, Ok(Ok(_))) {
            break;
        }
        if tokio::time::Instant::now() >= until {
            return Err(LiveError::NoLedger {
                election,
                url: cfg.nats_url.clone(),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let opts = Options {
        in_flight: cfg.in_flight.max(1),
        reply_timeout: cfg.reply_timeout,
        pace: Some(cfg.rate),
        ..Options::default()
    };
    let mut report = Report {
        election,
        offered_rate: cfg.rate,
        sent: 0,
        accepted: 0,
        rejected: BTreeMap::new(),
        bad_receipts: 0,
        failed: 0,
        problems: Vec::new(),
        seconds: 0.0,
        achieved_rate: 0.0,
        latency_ms: Latency::default(),
    };
    // Microseconds, four bytes an event even at the largest size.
    let latencies = Mutex::new(Vec::<u32>::new());
    let started = Instant::now();
    let mut chunk = Some(first);
    while let Some(events) = chunk {
        let replies = submitter
            .submit(&events, &opts, |reply, took| {
                if matches!(reply, Reply::Accepted { .. }) {
                    let us = u32::try_from(took.as_micros()).unwrap_or(u32::MAX);
                    latencies.lock().expect("lock").push(us);
                }
            })
            .await;
        report.sent += events.len() as u64;
        // One signature check per checkpoint: a batch's receipts share one.
        let mut checkpoints: HashMap<Vec<u8>, VerifiedCheckpoint> = HashMap::new();
        for (ev, reply) in events.iter().zip(replies) {
            let problem = match reply {
                Ok(Reply::Accepted { id, receipt, .. }) => {
                    match check(&log, &mut checkpoints, ev, id, &receipt) {
                        Ok(()) => {
                            report.accepted += 1;
                            None
                        }
                        Err(e) => {
                            report.bad_receipts += 1;
                            Some(format!(
                                "event {}: the receipt does not verify: {e}",
                                ev.id()
                            ))
                        }
                    }
                }
                Ok(Reply::Rejected { code, message, .. }) => {
                    let p = format!("event {}: rejected: {code}: {message}", ev.id());
                    *report.rejected.entry(code).or_default() += 1;
                    Some(p)
                }
                Ok(Reply::Unknown { .. }) => {
                    report.failed += 1;
                    Some(format!("event {}: the ledger does not know it", ev.id()))
                }
                Err(e) => {
                    report.failed += 1;
                    Some(format!("event {}: {e}", ev.id()))
                }
            };
            if let Some(p) = problem {
                if report.problems.len() < MAX_PROBLEMS {
                    report.problems.push(p);
                }
            }
        }
        progress(report.sent, report.accepted);
        chunk = rx.recv().await;
    }
    report.seconds = started.elapsed().as_secs_f64();
    report.achieved_rate = report.sent as f64 / report.seconds.max(1e-9);
    let mut l = latencies.into_inner().expect("lock");
    l.sort_unstable();
    report.latency_ms = percentiles(&l);
    Ok(report)
}

fn check(
    log: &LogVerifier,
    checkpoints: &mut HashMap<Vec<u8>, VerifiedCheckpoint>,
    ev: &SignedEvent,
    id: tallylog_core::types::EventId,
    receipt: &str,
) -> Result<(), String> {
    if id != ev.id() {
        return Err(format!("the reply names event {id}"));
    }
    let r = Receipt::decode(receipt).map_err(|e| e.to_string())?;
    let cp = match checkpoints.get(&r.checkpoint) {
        Some(cp) => cp,
        None => {
            let cp = log.verify(&r.checkpoint).map_err(|e| e.to_string())?;
            checkpoints.entry(r.checkpoint.clone()).or_insert(cp)
        }
    };
    r.verify_against(ev, cp).map_err(|e| e.to_string())
}

/// Nearest-rank percentiles of sorted microseconds, in milliseconds.
fn percentiles(sorted: &[u32]) -> Latency {
    let at = |p: f64| -> f64 {
        if sorted.is_empty() {
            return 0.0;
        }
        let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
        f64::from(sorted[i]) / 1e3
    };
    Latency {
        p50: at(0.50),
        p90: at(0.90),
        p99: at(0.99),
        max: at(1.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let us: Vec<u32> = (1..=100).map(|i| i * 1000).collect();
        let l = percentiles(&us);
        assert_eq!((l.p50, l.p90, l.p99, l.max), (50.0, 90.0, 99.0, 100.0));
        let one = percentiles(&[2500]);
        assert_eq!((one.p50, one.max), (2.5, 2.5));
        assert_eq!(percentiles(&[]).max, 0.0);
    }

    #[test]
    fn chunks_last_about_five_seconds_within_bounds() {
        assert_eq!(chunk_size(1.0), 1_000);
        assert_eq!(chunk_size(2_000.0), 10_000);
        assert_eq!(chunk_size(1e9), 20_000);
    }
}

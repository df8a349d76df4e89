//! The ledger's judgement of a batch of submissions, with no async and no NATS,
//! in two steps that run as a pipeline: the [`Verifier`] decodes and verifies
//! a batch (on both cores; it needs no store, so it works on the next batch
//! while the [`Engine`] appends this one), and the [`Engine`] judges it in
//! intake order against the store plus the batch so far, appends the accepted
//! events in one durable batch, and builds the replies. Whether a submission is accepted, and where, depends only
//! on the log and the submissions before it, never on timing or configuration
//! other than the log's own identity.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ed25519_dalek::VerifyingKey;
use tallylog_core::checkpoint::LogSigner;
use tallylog_core::event::{EventError, Payload, SignedEvent, VerifiedEvent};
use tallylog_core::receipt::{Receipt, Reply};
use tallylog_core::rules::{CheckError, Overlay};
use tallylog_core::types::{ElectionId, EventId, LogIndex, PublicKey};
use tallylog_store::{Head, Store};

use crate::LedgerError;

/// One message from the intake stream.
pub struct Submission {
    /// Its intake stream sequence number.
    pub seq: u64,
    pub payload: Bytes,
    /// Where the publisher wants the reply, if anywhere.
    pub reply_to: Option<String>,
}

/// What judging a batch produced.
pub struct Judged {
    /// Replies to send, now that the batch is durable.
    pub replies: Vec<(String, Reply)>,
    pub head: Head,
    pub accepted: usize,
    pub duplicates: usize,
    /// Reason codes of the rejections, one per rejected submission.
    pub rejected: Vec<&'static str>,
    pub sync_time: Duration,
    /// Decoding and signature verification.
    pub verify_time: Duration,
    /// The rules, before the append (decoding and verification are not in it).
    pub judge_time: Duration,
    /// Building the receipts after the append.
    pub receipt_time: Duration,
    /// The entries appended, for the republisher.
    pub entries: Vec<tallylog_core::entry::Entry>,
}

enum Verdict {
    /// Appended in this batch as its `n`-th accepted event.
    Accepted(usize),
    /// Already in the log, at this index or in this batch.
    Duplicate(Option<LogIndex>, Option<usize>),
    Rejected {
        id: Option<EventId>,
        code: &'static str,
        message: String,
    },
}

pub struct Engine {
    store: Arc<RwLock<Store>>,
    signer: LogSigner,
    election: ElectionId,
}

/// Decodes and verifies batches of submissions: everything about a
/// submission that depends on its bytes alone.
#[derive(Default)]
pub struct Verifier {
    /// Decoded author keys: decoding a point costs a field inversion, and a
    /// handful of publishers sign millions of events.
    points: Points,
    /// Started with the first large batch.
    helper: Option<Helper>,
}

/// A batch with each submission decoded and its signature checked, in order.
pub struct Checked {
    batch: Vec<Submission>,
    decoded: Vec<Result<VerifiedEvent, Refused>>,
    verify_time: Duration,
}

impl Checked {
    /// Submissions in the batch.
    pub fn len(&self) -> usize {
        self.batch.len()
    }
    pub fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }
    /// Bytes of submissions in the batch.
    pub fn bytes(&self) -> usize {
        self.batch.iter().map(|s| s.payload.len()).sum()
    }
    /// Appends `later`, checked after this batch and following it in intake
    /// order, so the two are judged and appended as one.
    pub fn extend(&mut self, later: Checked) {
        self.batch.extend(later.batch);
        self.decoded.extend(later.decoded);
        self.verify_time += later.verify_time;
    }
}

/// Why a submission failed before the rules: the event's id if it decoded.
type Refused = (Option<EventId>, EventError);

/// Batches this large are verified on both cores. Handing half a batch to the
/// helper thread costs a wake-up, some microseconds, against about half a
/// millisecond to verify sixteen signatures on one core.
const SPLIT_AT: usize = 16;

/// Keys kept decoded at most; beyond this the cache starts again (bounded memory
/// whatever the number of keys registered).
const MAX_CACHED_KEYS: usize = 100_000;

/// Decoding and verifying one submission, with the author's point from
/// `cache` or decoded here (and returned, for the cache).
fn check_one(
    cache: &HashMap<PublicKey, VerifyingKey>,
    s: &Submission,
) -> (Result<VerifiedEvent, Refused>, Option<VerifyingKey>) {
    let ev = match SignedEvent::decode(&s.payload) {
        Ok(ev) => ev,
        Err(e) => return (Err((None, e)), None),
    };
    // A decodable event has an id even if its signature fails: the publisher
    // is told which event was refused.
    let id = Some(ev.id());
    let author = ev.body().author;
    match cache.get(&author) {
        Some(p) => (ev.verify_with(p).map_err(|e| (id, e)), None),
        None => match author.point() {
            Some(p) => (ev.verify_with(&p).map_err(|e| (id, e)), Some(p)),
            None => (Err((id, EventError::BadSignature)), None),
        },
    }
}

type Outcomes = Vec<(Result<VerifiedEvent, Refused>, Option<VerifyingKey>)>;
/// Decoded author points, shared read-only with the helper during a batch.
type Points = Arc<HashMap<PublicKey, VerifyingKey>>;

/// The verifier's second thread, kept for its life (a thread per batch would
/// cost a start and, with mimalloc, a fresh heap each time).
struct Helper {
    work: std::sync::mpsc::Sender<(Vec<Submission>, Points)>,
    done: std::sync::mpsc::Receiver<(Vec<Submission>, Outcomes)>,
}

impl Helper {
    fn start() -> Helper {
        let (work, jobs) = std::sync::mpsc::channel::<(Vec<Submission>, Points)>();
        let (finished, done) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("verify".to_owned())
            .spawn(move || {
                // Ends when the verifier (and so `work`) is dropped.
                for (subs, cache) in jobs {
                    let out: Outcomes = subs.iter().map(|s| check_one(&cache, s)).collect();
                    drop(cache);
                    if finished.send((subs, out)).is_err() {
                        return;
                    }
                }
            })
            .expect("invariant: a thread can be started");
        Helper { work, done }
    }
}

impl Verifier {
    /// Decodes and verifies every submission of `batch`.
    pub fn check(&mut self, batch: Vec<Submission>) -> Checked {
        let started = Instant::now();
        let (batch, decoded) = self.decode_all(batch);
        Checked {
            batch,
            decoded,
            verify_time: started.elapsed(),
        }
    }

    /// Decodes and verifies every payload, half of a large batch on the
    /// helper thread.
    fn decode_all(
        &mut self,
        mut batch: Vec<Submission>,
    ) -> (Vec<Submission>, Vec<Result<VerifiedEvent, Refused>>) {
        let mut results: Outcomes = Vec::with_capacity(batch.len());
        if batch.len() >= SPLIT_AT {
            let second = batch.split_off(batch.len() / 2);
            let helper = self.helper.get_or_insert_with(Helper::start);
            helper
                .work
                .send((second, self.points.clone()))
                .expect("invariant: the helper thread runs while the verifier lives");
            results.extend(batch.iter().map(|s| check_one(&self.points, s)));
            let (second, theirs) = helper
                .done
                .recv()
                .expect("invariant: decoding does not panic");
            batch.extend(second);
            results.extend(theirs);
        } else {
            results.extend(batch.iter().map(|s| check_one(&self.points, s)));
        }
        // The helper has dropped its reference: this does not copy.
        let points = Arc::make_mut(&mut self.points);
        if points.len() > MAX_CACHED_KEYS {
            points.clear();
        }
        let decoded = results
            .into_iter()
            .map(|(r, point)| {
                if let (Ok(ev), Some(p)) = (&r, point) {
                    points.insert(ev.body().author, p);
                }
                r
            })
            .collect();
        (batch, decoded)
    }
}

impl Engine {
    pub fn new(store: Arc<RwLock<Store>>, signer: LogSigner, election: ElectionId) -> Engine {
        Engine {
            store,
            signer,
            election,
        }
    }

    /// Judges a checked batch (in intake order), appends what is accepted
    /// durably, and returns the replies to send.
    pub fn judge(&mut self, checked: Checked) -> Result<Judged, LedgerError> {
        let started = Instant::now();
        let Checked {
            batch,
            decoded,
            verify_time,
        } = checked;
        let last_seq = batch.last().map(|s| s.seq).unwrap_or(0);

        let store = self
            .store
            .read()
            .expect("invariant: the store lock is not poisoned");
        let mut overlay = Overlay::on(&*store);
        let mut accepted: Vec<(VerifiedEvent, tallylog_core::rules::Change)> = Vec::new();
        let mut in_batch: HashMap<EventId, usize> = HashMap::new();
        let mut verdicts = Vec::with_capacity(batch.len());
        for result in decoded {
            let ev = match result {
                Ok(ev) => ev,
                Err((id, e)) => {
                    verdicts.push(Verdict::Rejected {
                        id,
                        code: e.code(),
                        message: e.to_string(),
                    });
                    continue;
                }
            };
            let id = ev.id();
            if let Some(&n) = in_batch.get(&id) {
                verdicts.push(Verdict::Duplicate(None, Some(n)));
                continue;
            }
            if let Some(index) = store.index_of_event(ev.event())? {
                verdicts.push(Verdict::Duplicate(Some(index), None));
                continue;
            }
            if let Some((code, message)) = self.ledger_rules(&ev) {
                verdicts.push(Verdict::Rejected {
                    id: Some(id),
                    code,
                    message,
                });
                continue;
            }
            match overlay.accept(&ev) {
                Ok(change) => {
                    in_batch.insert(id, accepted.len());
                    verdicts.push(Verdict::Accepted(accepted.len()));
                    accepted.push((ev, change));
                }
                Err(CheckError::Rejected(r)) => verdicts.push(Verdict::Rejected {
                    id: Some(id),
                    code: r.code(),
                    message: r.to_string(),
                }),
                Err(e) => return Err(LedgerError::Store(e.to_string())),
            }
        }
        drop(overlay);
        drop(store);
        let judge_time = started.elapsed();

        let n_accepted = accepted.len();
        let mut store = self
            .store
            .write()
            .expect("invariant: the store lock is not poisoned");
        let appended = store.append(accepted, last_seq, &self.signer)?;
        let store = std::sync::RwLockWriteGuard::downgrade(store);

        let receipts_started = Instant::now();
        let mut replies = Vec::new();
        let mut rejected = Vec::new();
        let mut duplicates = 0;
        let first_new = appended.head.size - n_accepted as u64;
        // Every new entry is proven against the new checkpoint, in one pass.
        let wanted: Vec<u64> = batch
            .iter()
            .zip(&verdicts)
            .filter_map(|(sub, v)| match v {
                Verdict::Accepted(n) if sub.reply_to.is_some() => Some(first_new + *n as u64),
                _ => None,
            })
            .collect();
        let mut proofs: HashMap<u64, Vec<tallylog_core::merkle::Hash>> = wanted
            .iter()
            .copied()
            .zip(store.inclusion_proofs(&wanted, appended.head.size)?)
            .collect();
        for (sub, verdict) in batch.iter().zip(verdicts) {
            let reply = match verdict {
                Verdict::Accepted(_) if sub.reply_to.is_none() => None,
                Verdict::Accepted(n) => {
                    let entry = &appended.entries[n];
                    let index = entry.index();
                    Some(Reply::Accepted {
                        id: entry.event().id(),
                        index: index.0,
                        receipt: Receipt {
                            index,
                            prev: entry.prev(),
                            proof: proofs.remove(&index.0).expect("invariant: proven above"),
                            checkpoint: appended.checkpoint.clone(),
                        }
                        .encode(),
                    })
                }
                Verdict::Duplicate(index, n) => {
                    duplicates += 1;
                    let index = index.unwrap_or_else(|| {
                        LogIndex(first_new + n.expect("invariant: a duplicate has an index") as u64)
                    });
                    Some(receipt_for(&store, index)?)
                }
                Verdict::Rejected { id, code, message } => {
                    rejected.push(code);
                    Some(Reply::Rejected {
                        id,
                        code: code.to_owned(),
                        message,
                    })
                }
            };
            if let (Some(to), Some(reply)) = (&sub.reply_to, reply) {
                replies.push((to.clone(), reply));
            }
        }
        Ok(Judged {
            replies,
            head: appended.head,
            accepted: n_accepted,
            duplicates,
            rejected,
            sync_time: appended.sync_time,
            verify_time,
            judge_time,
            receipt_time: receipts_started.elapsed(),
            entries: appended.entries,
        })
    }

    /// Rules that depend on which log this ledger is: the election it serves
    /// and, for the definition, the log identity it must name.
    fn ledger_rules(&self, ev: &VerifiedEvent) -> Option<(&'static str, String)> {
        let body = ev.body();
        if body.election != self.election {
            return Some((
                "wrong_election",
                format!(
                    "event is for election {}, this ledger serves {}",
                    body.election, self.election
                ),
            ));
        }
        if let Payload::Election(def) = &body.payload {
            if def.log.origin.as_str() != self.signer.origin()
                || def.log.key != self.signer.public_key()
            {
                return Some((
                    "wrong_log",
                    format!(
                        "the definition names log {} with key {}, this ledger is {} with key {}",
                        def.log.origin,
                        def.log.key,
                        self.signer.origin(),
                        self.signer.public_key()
                    ),
                ));
            }
        }
        None
    }
}

/// The receipt for entry `index`, proven against the checkpoint of the batch
/// that appended it: the same receipt however often it is asked for.
pub fn receipt_for(store: &Store, index: LogIndex) -> Result<Reply, LedgerError> {
    let entry = store
        .entry(index)?
        .ok_or_else(|| LedgerError::Store(format!("entry {index} vanished")))?;
    let (size, checkpoint) = store
        .checkpoint_covering(index.0)?
        .ok_or_else(|| LedgerError::Store(format!("no checkpoint covers entry {index}")))?;
    let receipt = Receipt {
        index,
        prev: entry.prev(),
        proof: store.inclusion_proof(index.0, size)?,
        checkpoint,
    };
    Ok(Reply::Accepted {
        id: entry.event().id(),
        index: index.0,
        receipt: receipt.encode(),
    })
}

/// The reply to a receipt lookup for `id`.
pub fn lookup(store: &Store, id: EventId) -> Result<Reply, LedgerError> {
    match store.index_of(&id)? {
        Some(index) => receipt_for(store, index),
        None => Ok(Reply::Unknown { id }),
    }
}

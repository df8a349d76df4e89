//! The ledger: the one writer of an election's log.
//!
//! It reads submissions from the election's JetStream intake stream in order,
//! judges each (strict decoding, `verify_strict`, the rules of `core::rules`, and
//! the log's own identity), appends the accepted ones to the sled store in one
//! atomic, fsynced batch, and only then replies to the publishers with receipts
//! (or reasons for rejection) and copies the new entries to the log stream.
//!
//! - [`engine`]: judging and appending a batch (synchronous, no NATS).
//! - [`republish`]: the log stream follower, gap-free and exactly once.
//!
//! Where it reads: the store records the intake sequence of the last submission
//! judged, in the same batch as the entries, so on every start the ledger
//! (re)creates its consumer from the next one. The consumer acknowledges
//! nothing; the store is the only cursor, and a gap in delivered sequence
//! numbers makes the ledger re-read from the cursor.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer};
use ed25519_dalek::SigningKey;
use futures::StreamExt;
use serde::Serialize;
use tallylog_core::checkpoint::LogSigner;
use tallylog_core::cosign::WitnessKey;
use tallylog_core::receipt::Reply;
use tallylog_core::types::{ElectionId, EventId, LogIndex, Origin};
use tallylog_nats::{Backoff, Names, Replicas, REPLY_TO};
use tallylog_store::{Store, StoreError};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub mod engine;
pub mod republish;
pub mod witnesses;

use engine::{Engine, Submission, Verifier};

/// Everything the ledger needs, passed explicitly.
pub struct Config {
    pub nats_url: String,
    pub election: ElectionId,
    /// The store lives here.
    pub data_dir: PathBuf,
    /// The log's checkpoint signing key and origin, as the election definition
    /// names them.
    pub log_key: SigningKey,
    pub origin: Origin,
    /// Submissions judged and appended together at most (group commit).
    pub max_batch: usize,
    /// The witnesses whose cosignatures the ledger collects.
    pub witnesses: Vec<WitnessKey>,
    /// Cosignatures a checkpoint needs before `tallylog.E.checkpoint` serves
    /// it as the latest (0: serve the latest checkpoint at once).
    pub quorum: usize,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    #[error("NATS: {0}")]
    Nats(String),
    #[error("the store: {0}")]
    Store(String),
    #[error("the log identity: {0}")]
    Identity(String),
}

impl From<StoreError> for LedgerError {
    fn from(e: StoreError) -> Self {
        LedgerError::Store(e.to_string())
    }
}

/// Counters a person or a dashboard can read (`tallylog.E.stats`).
#[derive(Default, Serialize)]
pub struct Metrics {
    pub accepted: AtomicU64,
    pub duplicates: AtomicU64,
    pub rejected: AtomicU64,
    pub batches: AtomicU64,
    pub largest_batch: AtomicU64,
    /// Total and worst time spent making batches durable, microseconds.
    pub sync_us_total: AtomicU64,
    pub sync_us_max: AtomicU64,
    pub log_size: AtomicU64,
    #[serde(serialize_with = "serialize_reasons")]
    pub rejected_by_reason: Mutex<std::collections::BTreeMap<String, u64>>,
}

fn serialize_reasons<S: serde::Serializer>(
    m: &Mutex<std::collections::BTreeMap<String, u64>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    m.lock().expect("lock").serialize(s)
}

/// Runs the ledger until `shutdown` is cancelled. Every batch whose replies
/// were sent is durable; on shutdown the batches in hand are finished first.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), LedgerError> {
    run_with_replicas(config, Replicas::ONE, shutdown).await
}

/// As [`run`], creating the election's streams with `replicas` copies (3 on
/// a three-node cluster). A parameter rather than a `Config` field only so
/// that the many `Config` literals in other crates' tests need not change at
/// once; an existing stream keeps its count (see `ensure_streams`).
pub async fn run_with_replicas(
    config: Config,
    replicas: Replicas,
    shutdown: CancellationToken,
) -> Result<(), LedgerError> {
    use tracing::Instrument;
    let span = tracing::info_span!("ledger", election = %config.election);
    run_inner(config, replicas, shutdown).instrument(span).await
}

async fn run_inner(
    config: Config,
    replicas: Replicas,
    shutdown: CancellationToken,
) -> Result<(), LedgerError> {
    let names = Names::new(config.election.clone());
    let signer = LogSigner::new(config.origin.as_str(), config.log_key.clone())
        .map_err(|e| LedgerError::Identity(e.to_string()))?;
    let dir = config.data_dir.clone();
    let store = tokio::task::spawn_blocking(move || Store::open(&dir))
        .await
        .expect("invariant: opening the store does not panic")?;
    if let Some(e) = tallylog_core::rules::LogView::election(&store) {
        if e.id != config.election {
            return Err(LedgerError::Identity(format!(
                "the store at {} holds election {}, not {}",
                config.data_dir.display(),
                e.id,
                config.election
            )));
        }
        if e.def.log.key != signer.public_key() || e.def.log.origin.as_str() != signer.origin() {
            return Err(LedgerError::Identity(format!(
                "the election definition names log {} with key {}, but this ledger was given {} with key {}",
                e.def.log.origin,
                e.def.log.key,
                signer.origin(),
                signer.public_key()
            )));
        }
    }
    let store = Arc::new(RwLock::new(store));
    let head_size = store.read().expect("lock").head().size;
    tracing::info!(election = %config.election, size = head_size, "ledger starting");

    // Its own requests use an inbox prefix of their own, so that its `_INBOX.`
    // traffic is only replies to publishers (deploy/nats/accounts.conf).
    let client = tallylog_nats::connect(
        &config.nats_url,
        async_nats::ConnectOptions::new()
            .name("tallylog-ledger")
            .custom_inbox_prefix(tallylog_nats::LEDGER_INBOX_PREFIX),
    )
    .await
    .map_err(|e| LedgerError::Nats(e.to_string()))?;
    let js = jetstream::new(client.clone());
    let (intake, _log) = tallylog_nats::ensure_streams(&js, &names, replicas)
        .await
        .map_err(|e| LedgerError::Nats(e.to_string()))?;

    let metrics = Arc::new(Metrics::default());
    metrics.log_size.store(head_size, Ordering::Relaxed);
    let (head_tx, head_rx) = watch::channel(head_size);
    let fresh: republish::Fresh = Default::default();
    let tracker = TaskTracker::new();
    let stop_helpers = CancellationToken::new();

    tracker.spawn(
        republish::Republisher {
            js: js.clone(),
            names: names.clone(),
            store: store.clone(),
            head: head_rx,
            fresh: fresh.clone(),
            regions: Default::default(),
            published: None,
        }
        .run(stop_helpers.clone()),
    );
    tracker.spawn(serve_lookups(
        client.clone(),
        names.clone(),
        store.clone(),
        metrics.clone(),
        stop_helpers.clone(),
    ));
    tracker.spawn(witnesses::serve(
        client.clone(),
        names.clone(),
        store.clone(),
        witnesses::Witnessing {
            witnesses: config.witnesses.clone(),
            quorum: config.quorum,
        },
        stop_helpers.clone(),
    ));

    // The pipeline: this task reads submissions into batches; a verifier
    // task decodes and verifies each batch (both cores) while the committer
    // task judges, appends and fsyncs what was verified before it, then
    // replies. Batches stay in intake order. Nothing waits in a queue that
    // could instead have joined a later, larger batch:
    // - a batch is formed only when the verifier is free (it holds
    //   `verifier_free` until its output is queued for the committer), so
    //   whatever arrived while it worked becomes one batch, not several small
    //   ones queued behind each other;
    // - the committer takes everything verified so far as one append (one
    //   fsync), up to a batch's worth of submissions and bytes.
    // Under load batches grow and each costs one fsync; idle, a submission
    // goes through alone at once.
    let (to_verify, verify_rx) = tokio::sync::mpsc::channel::<Stage<Intake>>(1);
    let (to_commit, commit_rx) = tokio::sync::mpsc::channel::<Stage<engine::Checked>>(COMMIT_QUEUE);
    let verifier_free = Arc::new(tokio::sync::Semaphore::new(1));
    let verifier = tokio::spawn(verify_batches(verify_rx, to_commit));
    let max_batch = config.max_batch.clamp(1, MAX_BATCH);
    let committer = tokio::spawn(commit_batches(
        commit_rx,
        max_batch,
        Engine::new(store.clone(), signer, config.election.clone()),
        client.clone(),
        metrics.clone(),
        head_tx,
        fresh,
    ));
    let intake_result = async {
        let mut expected = store.read().expect("lock").cursor() + 1;
        let mut retry = Backoff::default();
        'consumer: loop {
            if shutdown.is_cancelled() {
                return Ok(());
            }
            let mut messages = match open_intake(&intake, &names, expected, max_batch).await {
                Ok(m) => m,
                Err(e @ LedgerError::Identity(_)) => return Err(e),
                Err(e) => {
                    // NATS is away or restarting: wait and try again, forever;
                    // nothing was taken, so nothing is lost.
                    tracing::warn!(error = %e, "cannot read the intake stream yet");
                    retry.wait(&shutdown).await;
                    continue 'consumer;
                }
            };
            loop {
                // Wait for the verifier to be free and for one submission,
                // then take whatever else has already arrived, up to a batch:
                // no added latency when idle, large batches (one fsync for
                // many events) under load.
                let free = tokio::select! {
                    p = verifier_free.clone().acquire_owned() => {
                        p.expect("invariant: the semaphore is never closed")
                    }
                    _ = shutdown.cancelled() => return Ok(()),
                    _ = to_verify.closed() => return Ok(()),
                };
                let first = tokio::select! {
                    m = messages.next() => m,
                    _ = shutdown.cancelled() => return Ok(()),
                    // The committer stopped (a store error): its result says why.
                    _ = to_verify.closed() => return Ok(()),
                };
                let mut batch = Vec::new();
                let mut bytes = 0;
                // Set when the delivered sequence broke off: after judging what
                // is in hand, read again from the cursor.
                let mut reread = false;
                let mut next = first;
                loop {
                    match next {
                        None => {
                            tracing::warn!("the submission stream ended; re-reading from the cursor");
                            reread = true;
                        }
                        Some(Err(e)) => {
                            tracing::warn!(error = %e, "pulling submissions failed; re-reading from the cursor");
                            reread = true;
                        }
                        Some(Ok(msg)) => match msg.info() {
                            // Only deliveries of this stream to this consumer
                            // count; anything else in the inbox is not intake.
                            Ok(info)
                                if info.stream == names.intake_stream()
                                    && info.consumer == CONSUMER =>
                            {
                                let seq = info.stream_sequence;
                                if seq > expected {
                                    tracing::warn!(expected, got = seq, "a gap in delivered submissions; re-reading from the cursor");
                                    reread = true;
                                } else if seq == expected {
                                    expected += 1;
                                    bytes += msg.payload.len();
                                    batch.push(Submission {
                                        seq,
                                        payload: msg.payload.clone(),
                                        reply_to: reply_subject(&msg),
                                    });
                                }
                                // seq < expected: delivered twice, already judged.
                            }
                            _ => tracing::warn!(subject = %msg.subject, "ignoring a message that is not an intake delivery"),
                        },
                    }
                    if reread || batch.len() >= max_batch || bytes >= BATCH_BYTES {
                        break;
                    }
                    match futures::FutureExt::now_or_never(messages.next()) {
                        Some(m) => next = m,
                        None => break,
                    }
                }
                if !batch.is_empty() {
                    retry = Backoff::default();
                    let intake = Intake { batch, free };
                    if to_verify.send(Stage::Batch(intake)).await.is_err() {
                        return Ok(());
                    }
                }
                if reread {
                    // Whatever was taken is judged (the pipeline drained up to
                    // here); the rest comes again from the cursor. Wait a
                    // little if nothing was taken, so a hole that does not fill
                    // cannot spin.
                    let (done, drained) = tokio::sync::oneshot::channel();
                    if to_verify.send(Stage::Barrier(done)).await.is_err() || drained.await.is_err() {
                        return Ok(());
                    }
                    if store.read().expect("lock").cursor() + 1 != expected {
                        expected = store.read().expect("lock").cursor() + 1;
                    }
                    retry.wait(&shutdown).await;
                    continue 'consumer;
                }
            }
        }
    }
    .await;
    // The batches in hand are finished (judged, made durable, answered)
    // before the ledger stops, whatever stopped the intake.
    drop(to_verify);
    let verifier_ended = verifier.await;
    let committer_ended = committer.await;
    // The helpers stop whatever happened to the pipeline's tasks.
    stop_helpers.cancel();
    tracker.close();
    tracker.wait().await;
    let _ = client.flush().await;
    verifier_ended.expect("invariant: the verifier task does not panic");
    let commit_result = committer_ended.expect("invariant: the committer task does not panic");
    tracing::info!("ledger stopped");
    intake_result.and(commit_result)
}

/// What flows down the pipeline, in intake order: a batch, or a barrier that
/// is answered once every batch before it has been committed.
enum Stage<T> {
    Batch(T),
    Barrier(tokio::sync::oneshot::Sender<()>),
}

/// A batch for the verifier, with the permit that keeps the intake from
/// forming the next one until this one is verified and queued for the
/// committer.
struct Intake {
    batch: Vec<Submission>,
    free: tokio::sync::OwnedSemaphorePermit,
}

/// Verified batches (and barriers) waiting for the committer, at most. It
/// takes as many as fit one batch at once, so this bounds memory rather than
/// adding latency.
const COMMIT_QUEUE: usize = 2;

/// The verifier task: decodes and verifies each batch on a blocking thread
/// (which uses both cores) and passes it on. Stops when the intake closes or
/// the committer has stopped.
async fn verify_batches(
    mut rx: tokio::sync::mpsc::Receiver<Stage<Intake>>,
    tx: tokio::sync::mpsc::Sender<Stage<engine::Checked>>,
) {
    let mut verifier = Some(Verifier::default());
    loop {
        let work = tokio::select! {
            w = rx.recv() => w,
            _ = tx.closed() => None,
        };
        let (next, free) = match work {
            None => return,
            Some(Stage::Barrier(done)) => (Stage::Barrier(done), None),
            Some(Stage::Batch(Intake { batch, free })) => {
                let mut v = verifier
                    .take()
                    .expect("invariant: the verifier is back after each batch");
                let (v, checked) = tokio::task::spawn_blocking(move || {
                    let checked = v.check(batch);
                    (v, checked)
                })
                .await
                .expect("invariant: verifying does not panic");
                verifier = Some(v);
                (Stage::Batch(checked), Some(free))
            }
        };
        if tx.send(next).await.is_err() {
            return;
        }
        // Only now may the intake form the next batch.
        drop(free);
    }
}

/// The committer task: judges, appends durably and answers each checked
/// batch in turn. Returns the first error (the store could not append), after
/// which nothing more is judged.
async fn commit_batches(
    mut rx: tokio::sync::mpsc::Receiver<Stage<engine::Checked>>,
    max_batch: usize,
    engine: Engine,
    client: async_nats::Client,
    metrics: Arc<Metrics>,
    head_tx: watch::Sender<u64>,
    fresh: republish::Fresh,
) -> Result<(), LedgerError> {
    let mut engine = Some(engine);
    // A stage taken from the queue that did not fit the batch before it.
    let mut held = None;
    loop {
        let stage = match held.take() {
            Some(s) => s,
            None => match rx.recv().await {
                Some(s) => s,
                None => return Ok(()),
            },
        };
        match stage {
            Stage::Barrier(done) => {
                let _ = done.send(());
            }
            Stage::Batch(mut checked) => {
                // Everything else verified by now joins this append, up to a
                // barrier or a batch's worth of submissions.
                while let Ok(next) = rx.try_recv() {
                    match next {
                        Stage::Batch(more)
                            if checked.len() + more.len() <= max_batch
                                && checked.bytes() + more.bytes() <= BATCH_BYTES =>
                        {
                            checked.extend(more)
                        }
                        other => {
                            held = Some(other);
                            break;
                        }
                    }
                }
                judge_and_reply(&mut engine, checked, &client, &metrics, &head_tx, &fresh).await?
            }
        }
    }
}

fn record(m: &Metrics, batch: usize, j: &engine::Judged) {
    m.accepted.fetch_add(j.accepted as u64, Ordering::Relaxed);
    m.duplicates
        .fetch_add(j.duplicates as u64, Ordering::Relaxed);
    m.rejected
        .fetch_add(j.rejected.len() as u64, Ordering::Relaxed);
    m.batches.fetch_add(1, Ordering::Relaxed);
    m.largest_batch.fetch_max(batch as u64, Ordering::Relaxed);
    let us = j.sync_time.as_micros() as u64;
    m.sync_us_total.fetch_add(us, Ordering::Relaxed);
    m.sync_us_max.fetch_max(us, Ordering::Relaxed);
    m.log_size.store(j.head.size, Ordering::Relaxed);
    if !j.rejected.is_empty() {
        let mut by = m.rejected_by_reason.lock().expect("lock");
        for code in &j.rejected {
            *by.entry((*code).to_owned()).or_default() += 1;
        }
    }
}

/// The ledger's consumer on the intake stream.
const CONSUMER: &str = "ledger";

/// The largest batch judged at once (bounds memory with the byte limit below).
pub const MAX_BATCH: usize = 4096;

/// Bytes of submissions pulled from the server at once, at most.
const PULL_BYTES: usize = 8 * 1024 * 1024;

/// Bytes of submissions in one batch, reached or just passed by its last
/// submission (a batch also ends at `max_batch` submissions); the committer
/// merges verified batches up to the same limits. At most five batches are in
/// hand (one being verified or waiting to be queued, `COMMIT_QUEUE` queued,
/// one taken from the queue that did not fit the merge, one being committed),
/// each with a decoded copy once verified: under 100 MiB however large the
/// submissions, besides the client's pull buffer (`PULL_BYTES`).
const BATCH_BYTES: usize = 8 * 1024 * 1024;

/// Where the publisher asked for the reply, if it is a subject the ledger may
/// answer on: a client inbox, never a wildcard, a system subject or one of
/// tallylog's own (a reply aimed at the log stream would be stored in it).
fn reply_subject(msg: &async_nats::jetstream::Message) -> Option<String> {
    let to = msg.headers.as_ref()?.get(REPLY_TO)?.as_str();
    let ok = to.starts_with("_INBOX.")
        && to.len() <= 256
        && to
            .split('.')
            .all(|t| !t.is_empty() && t != "*" && t != ">" && !t.contains(char::is_whitespace));
    if ok {
        Some(to.to_owned())
    } else {
        tracing::warn!(
            reply_to = to,
            "not replying to a subject that is not an inbox"
        );
        None
    }
}

/// (Re)creates the ledger's consumer from intake sequence `from`, after
/// checking that the stream still holds everything from there: a stream that
/// lost messages the ledger has not judged, or that is behind the ledger's own
/// cursor, is not something to read past silently.
async fn open_intake(
    intake: &jetstream::stream::Stream,
    names: &Names,
    from: u64,
    max_batch: usize,
) -> Result<consumer::pull::Stream, LedgerError> {
    let nats = |what: &str, e: &dyn std::fmt::Display| LedgerError::Nats(format!("{what}: {e}"));
    let mut stream = intake.clone();
    let state = stream
        .info()
        .await
        .map_err(|e| nats("reading the intake stream's state", &e))?
        .state
        .clone();
    if state.last_sequence + 1 < from {
        return Err(LedgerError::Identity(format!(
            "the intake stream ends at {} but this ledger has judged up to {}: the stream was \
             recreated or lost data the server had acknowledged; restore it, or start a new log",
            state.last_sequence,
            from - 1
        )));
    }
    if state.messages > 0 && state.first_sequence > from {
        return Err(LedgerError::Identity(format!(
            "the intake stream starts at {} but submission {from} was never judged: messages were \
             removed from the intake",
            state.first_sequence
        )));
    }
    let _ = intake.delete_consumer(CONSUMER).await;
    let consumer: consumer::PullConsumer = intake
        .create_consumer(consumer::pull::Config {
            durable_name: Some(CONSUMER.to_owned()),
            description: Some("tallylog ledger; its position is kept in the store".to_owned()),
            deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                start_sequence: from,
            },
            ack_policy: consumer::AckPolicy::None,
            filter_subject: names.submit_all(),
            ..Default::default()
        })
        .await
        .map_err(|e| nats("creating the intake consumer", &e))?;
    consumer
        .stream()
        .max_messages_per_batch(max_batch)
        .max_bytes_per_batch(PULL_BYTES)
        .heartbeat(Duration::from_secs(5))
        .messages()
        .await
        .map_err(|e| nats("pulling submissions", &e))
}

/// Judges a batch on a blocking thread, then sends the replies (the batch is
/// durable by then) and hands the new entries to the republisher.
async fn judge_and_reply(
    engine: &mut Option<Engine>,
    batch: engine::Checked,
    client: &async_nats::Client,
    metrics: &Metrics,
    head_tx: &watch::Sender<u64>,
    fresh: &republish::Fresh,
) -> Result<(), LedgerError> {
    let size = batch.len();
    let cycle = Instant::now();
    let eng = engine
        .take()
        .expect("invariant: the engine is back after each batch");
    let (eng, judged) = tokio::task::spawn_blocking(move || {
        let mut eng = eng;
        let r = eng.judge(batch);
        (eng, r)
    })
    .await
    .expect("invariant: judging does not panic");
    *engine = Some(eng);
    let mut judged = judged?;
    republish::hand_over(fresh, std::mem::take(&mut judged.entries));
    // Counters first: whoever has a reply can then read stats that include it.
    record(metrics, size, &judged);
    let _ = head_tx.send(judged.head.size);
    for (to, reply) in &judged.replies {
        let body = serde_json::to_vec(reply).expect("invariant: replies serialise");
        if let Err(e) = client.publish(to.clone(), body.into()).await {
            // The entry is durable; the publisher can ask again.
            tracing::warn!(error = %e, "sending a reply failed");
        }
    }
    let _ = client.flush().await;
    tracing::debug!(
        first_index = judged.head.size - judged.accepted as u64,
        size = judged.head.size,
        batch = size,
        accepted = judged.accepted,
        rejected = judged.rejected.len(),
        verify_ms = judged.verify_time.as_secs_f64() * 1e3,
        judge_ms = judged.judge_time.as_secs_f64() * 1e3,
        sync_ms = judged.sync_time.as_secs_f64() * 1e3,
        receipts_ms = judged.receipt_time.as_secs_f64() * 1e3,
        cycle_ms = cycle.elapsed().as_secs_f64() * 1e3,
        "batch appended"
    );
    Ok(())
}

/// Answers receipt lookups, entry reads and stats requests.
async fn serve_lookups(
    client: async_nats::Client,
    names: Names,
    store: Arc<RwLock<Store>>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> Result<(), LedgerError> {
    let sub = |s: String| {
        let client = client.clone();
        async move {
            client
                .subscribe(s.clone())
                .await
                .map_err(|e| LedgerError::Nats(format!("subscribing to {s}: {e}")))
        }
    };
    let mut receipts = sub(names.receipt()).await?;
    let mut entries = sub(names.entry()).await?;
    let mut stats = sub(names.stats()).await?;
    loop {
        let (msg, what) = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            Some(m) = receipts.next() => (m, 0),
            Some(m) = entries.next() => (m, 1),
            Some(m) = stats.next() => (m, 2),
            else => return Ok(()),
        };
        let Some(reply_to) = msg.reply.clone() else {
            continue;
        };
        let started = Instant::now();
        let body: Vec<u8> = match what {
            0 => {
                let text = String::from_utf8_lossy(&msg.payload).trim().to_owned();
                match text.parse::<EventId>() {
                    Err(e) => serde_json::to_vec(&Reply::Rejected {
                        id: None,
                        code: "invalid_value".to_owned(),
                        message: format!("a receipt request carries one event id: {e}"),
                    }),
                    Ok(id) => {
                        let store = store.clone();
                        let reply = tokio::task::spawn_blocking(move || {
                            engine::lookup(&store.read().expect("lock"), id)
                        })
                        .await
                        .expect("invariant: lookups do not panic")
                        .unwrap_or_else(|e| {
                            // Say so and keep serving: the next lookup may work.
                            tracing::error!(error = %e, "a receipt lookup failed");
                            Reply::Rejected {
                                id: Some(id),
                                code: "unavailable".to_owned(),
                                message: "the ledger could not read its store; ask again"
                                    .to_owned(),
                            }
                        });
                        serde_json::to_vec(&reply)
                    }
                }
                .expect("invariant: replies serialise")
            }
            1 => {
                let text = String::from_utf8_lossy(&msg.payload).trim().to_owned();
                match text.parse::<u64>() {
                    Err(_) => b"error: an entry request carries one decimal index".to_vec(),
                    Ok(i) => {
                        let store = store.clone();
                        let entry = tokio::task::spawn_blocking(move || {
                            store.read().expect("lock").entry(LogIndex(i))
                        })
                        .await
                        .expect("invariant: reads do not panic");
                        match entry {
                            Ok(Some(e)) => e.bytes().to_vec(),
                            Ok(None) => format!("error: no entry {i}").into_bytes(),
                            Err(e) => {
                                tracing::error!(error = %e, "an entry read failed");
                                b"error: the ledger could not read its store; ask again".to_vec()
                            }
                        }
                    }
                }
            }
            _ => serde_json::to_vec(&*metrics).expect("invariant: metrics serialise"),
        };
        if let Err(e) = client.publish(reply_to, body.into()).await {
            tracing::warn!(error = %e, "answering a lookup failed");
        }
        tracing::trace!(
            took_us = started.elapsed().as_micros() as u64,
            "lookup answered"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tallylog_core::event::VerifiedEvent;
    use tallylog_core::keys::test_key;
    use tallylog_core::sample;
    use tallylog_nats::LocalServer;
    use tokio::sync::{mpsc, oneshot};

    /// Checks `events` as the verifier would, numbered from intake sequence
    /// `first_seq`.
    fn checked(v: &mut Verifier, events: &[VerifiedEvent], first_seq: u64) -> engine::Checked {
        let batch = events
            .iter()
            .zip(first_seq..)
            .map(|(e, seq)| Submission {
                seq,
                payload: bytes::Bytes::copy_from_slice(e.event().bytes()),
                reply_to: None,
            })
            .collect();
        v.check(batch)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_committer_appends_everything_verified_so_far_at_once_up_to_a_batch_and_a_barrier()
    {
        let server = LocalServer::start(None).await.unwrap();
        let client = async_nats::connect(server.url()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(RwLock::new(Store::open(dir.path()).unwrap()));
        let signer = LogSigner::new(sample::ORIGIN, test_key(sample::LOG_KEY)).unwrap();
        let engine = Engine::new(store.clone(), signer, sample::ELECTION.parse().unwrap());

        let a = sample::events();
        let mut authority = sample::continue_after_sample(sample::AUTHORITY_KEY);
        let more = sample::more_results(&mut authority, 7);
        let (b, c, d) = (&more[0..3], &more[3..6], &more[6..7]);
        let mut v = Verifier::default();
        let mut seq = 1;
        let mut next = |events: &[VerifiedEvent]| {
            let ch = checked(&mut v, events, seq);
            seq += events.len() as u64;
            Stage::Batch(ch)
        };
        // Queued before the committer starts, as when it was busy with an
        // fsync: A, B, C, a barrier, D.
        let (tx, rx) = mpsc::channel(8);
        let (barrier, answered) = oneshot::channel();
        for stage in [next(&a), next(b), next(c), Stage::Barrier(barrier), next(d)] {
            tx.send(stage).await.ok().unwrap();
        }
        drop(tx);
        let metrics = Arc::new(Metrics::default());
        let (head_tx, _head_rx) = watch::channel(0);
        // A and B fit in one batch, C does not; C and D would, but for the
        // barrier between them.
        let max_batch = a.len() + b.len();
        assert!(c.len() + d.len() <= max_batch);
        let committer = tokio::spawn(commit_batches(
            rx,
            max_batch,
            engine,
            client,
            metrics.clone(),
            head_tx,
            Default::default(),
        ));

        answered.await.unwrap();
        let before = (a.len() + b.len() + c.len()) as u64;
        {
            // D may already be committed as well; C must be.
            let store = store.read().unwrap();
            assert!(
                store.head().size >= before,
                "the barrier waited for A, B and C"
            );
            // Every submission was accepted, so the cursor is the head: a
            // merged batch that recorded its first submission's sequence
            // rather than its last would leave the cursor behind.
            assert_eq!(store.cursor(), store.head().size);
        }

        committer.await.unwrap().unwrap();
        assert_eq!(store.read().unwrap().head().size, before + 1);
        assert_eq!(store.read().unwrap().cursor(), before + 1);
        assert_eq!(metrics.accepted.load(Ordering::Relaxed), before + 1);
        assert_eq!(
            metrics.batches.load(Ordering::Relaxed),
            3,
            "A+B, then C, then D: nothing merges across a barrier"
        );
        assert_eq!(
            metrics.largest_batch.load(Ordering::Relaxed),
            max_batch as u64
        );
    }
}

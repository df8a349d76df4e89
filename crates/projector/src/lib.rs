//! The projector: follows an election's log stream, folds every entry into
//! the projection (tallies, comparisons, anomalies, complaints, seats; see
//! `tallylog-tally`) and answers queries about it over NATS request-reply.
//!
//! - [`db`]: its own sled database: its copy of the log and its position.
//!
//! What it trusts: nothing it can check cheaply. Each entry must continue the
//! chain of the one before (index and `prev`), belong to the configured
//! election, and (unless `verify_signatures` is off) carry a valid signature.
//! A log that fails these is not folded past: the projector stops with an
//! error, because a person must look. Whether each event obeys the rules is
//! the auditor's check, not the projector's.
//!
//! Where it reads: the log stream holds entry `i` at stream sequence `i + 1`
//! (the ledger publishes with an expected last sequence), so the projector
//! (re)creates an ephemeral consumer from its position and re-reads from there
//! after any gap or error.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use futures::StreamExt;
use tallylog_core::entry::{decode_stored, Entry, StoredEntry};
use tallylog_core::merkle::MemoryTree;
use tallylog_core::types::{ElectionId, Timestamp};
use tallylog_nats::{Backoff, Names};
use tallylog_tally::query::{self, Query};
use tallylog_tally::Projection;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub mod db;

use db::Db;

/// Everything the projector needs, passed explicitly.
pub struct Config {
    pub nats_url: String,
    pub election: ElectionId,
    /// Its database lives here.
    pub data_dir: PathBuf,
    /// Check each entry's signature before folding it (a projector run by a
    /// party or an observer should; one next to its own ledger may skip it).
    pub verify_signatures: bool,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProjectorError {
    #[error("NATS: {0}")]
    Nats(String),
    #[error("the projector's database: {0}")]
    Db(String),
    #[error("{0}")]
    Identity(String),
    /// The log itself is wrong: an entry that does not decode, link or verify.
    #[error("the log is not valid at entry {index}: {what}")]
    BadLog { index: u64, what: String },
}

impl From<sled::Error> for ProjectorError {
    fn from(e: sled::Error) -> Self {
        ProjectorError::Db(e.to_string())
    }
}

/// Entries read from the stream and folded together at most.
const MAX_BATCH: usize = 2048;
/// The largest query accepted, in bytes.
const MAX_QUERY_BYTES: usize = 16 * 1024;

/// Folds the entries stored in `db` into a fresh projection. Decoding runs on
/// a second thread while this one folds: the two are about equally costly.
///
/// The stored entries were decoded strictly and checked when they arrived,
/// so they are read here with the quick reader of the projector's own copy
/// (`entry::decode_stored`); the chain is checked again, which catches a
/// database altered or damaged on disk.
pub fn rebuild(db: &Db) -> Result<Projection, ProjectorError> {
    rebuild_with_tree(db).map(|(p, _)| p)
}

/// [`rebuild`], and the Merkle tree of the stored entries (built on the
/// decoding thread, from the chain hashes it computes anyway: an entry's
/// chain hash is its leaf hash).
pub fn rebuild_with_tree(db: &Db) -> Result<(Projection, MemoryTree), ProjectorError> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<StoredEntry>>(8);
    std::thread::scope(|s| {
        let folder = s.spawn(move || -> Result<Projection, ProjectorError> {
            let mut p = Projection::new();
            for chunk in rx {
                for e in chunk {
                    let index = e.index.0;
                    p.apply(e.index, e.id, e.body)
                        .map_err(|e| ProjectorError::BadLog {
                            index,
                            what: e.to_string(),
                        })?;
                }
            }
            Ok(p)
        });
        let mut chunk = Vec::with_capacity(1024);
        let mut chain = tallylog_core::entry::GENESIS_PREV;
        let mut tree = MemoryTree::new();
        let decoded = db.for_each(|index, bytes| {
            let bad = |what: String| ProjectorError::BadLog {
                index: index.0,
                what,
            };
            let e = decode_stored(bytes)
                .map_err(|e| bad(format!("stored entry does not decode: {e}")))?;
            if e.index != index || e.prev != chain {
                return Err(bad(
                    "the stored entry does not continue the chain".to_owned()
                ));
            }
            chain = tallylog_core::merkle::record_hash(bytes);
            tree.push(chain);
            chunk.push(e);
            if chunk.len() == 1024 {
                // A send fails only when the folder stopped on an error,
                // which its result reports.
                let _ = tx.send(std::mem::replace(&mut chunk, Vec::with_capacity(1024)));
            }
            Ok(())
        });
        let _ = tx.send(chunk);
        drop(tx);
        let folded = folder.join().expect("invariant: the fold does not panic");
        decoded?;
        if chain != db.chain() {
            return Err(ProjectorError::Db(
                "the stored chain hash is not the last stored entry's".to_owned(),
            ));
        }
        Ok((folded?, tree))
    })
}

/// A projector's state, shared by the task that follows the log and whoever
/// reads it (its NATS query responder; the gateway's HTTP handlers).
///
/// Readers see a consistent log: entries, tree and projection only grow, and
/// [`Follower::size`] is announced after all three hold the new entries.
pub struct Follower {
    config: Config,
    db: Mutex<Db>,
    reader: db::Reader,
    projection: RwLock<Projection>,
    tree: RwLock<MemoryTree>,
    size: tokio::sync::watch::Sender<u64>,
}

impl Follower {
    /// Opens the database and rebuilds the projection and tree from it.
    pub async fn open(config: Config) -> Result<Arc<Follower>, ProjectorError> {
        let dir = config.data_dir.clone();
        let election = config.election.clone();
        let (db, projection, tree) = tokio::task::spawn_blocking(move || {
            let db = Db::open(&dir, &election)?;
            let started = std::time::Instant::now();
            let (p, tree) = rebuild_with_tree(&db)?;
            tracing::info!(
                entries = p.size(),
                seconds = started.elapsed().as_secs_f64(),
                "rebuilt the projection from the local copy of the log"
            );
            Ok::<_, ProjectorError>((db, p, tree))
        })
        .await
        .expect("invariant: opening the database does not panic")?;
        let (size, _) = tokio::sync::watch::channel(db.position());
        Ok(Arc::new(Follower {
            config,
            reader: db.reader(),
            db: Mutex::new(db),
            projection: RwLock::new(projection),
            tree: RwLock::new(tree),
            size,
        }))
    }

    pub fn election(&self) -> &ElectionId {
        &self.config.election
    }
    /// The number of entries held, folded and in the tree.
    pub fn size(&self) -> u64 {
        *self.size.borrow()
    }
    /// Changes whenever entries are added.
    pub fn watch_size(&self) -> tokio::sync::watch::Receiver<u64> {
        self.size.subscribe()
    }
    pub fn projection(&self) -> std::sync::RwLockReadGuard<'_, Projection> {
        self.projection.read().expect("lock")
    }
    /// The Merkle tree of the entries held (it may run ahead of
    /// [`Follower::size`] while a batch is being added).
    pub fn tree(&self) -> std::sync::RwLockReadGuard<'_, MemoryTree> {
        self.tree.read().expect("lock")
    }
    /// The bytes of the entries `from..to` (capped at the announced size).
    pub fn entries(&self, from: u64, to: u64) -> Result<Vec<(u64, sled::IVec)>, ProjectorError> {
        self.reader.entries(from, to.min(self.size()))
    }
    /// The answer to a query, as [`respond`] gives it.
    pub fn respond(&self, request: &[u8], max_payload: usize) -> Vec<u8> {
        respond(&self.projection, request, max_payload)
    }

    /// Follows the log stream and answers queries over NATS until
    /// `shutdown`, or until the log turns out invalid.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) -> Result<(), ProjectorError> {
        let span = tracing::info_span!("projector", election = %self.config.election);
        let _enter = span.enter();
        let client = tallylog_nats::connect(
            &self.config.nats_url,
            async_nats::ConnectOptions::new().retry_on_initial_connect(),
        )
        .await
        .map_err(|e| ProjectorError::Nats(e.to_string()))?;
        let names = Names::new(self.config.election.clone());
        let js = jetstream::new(client.clone());

        let tracker = TaskTracker::new();
        let stop_helpers = CancellationToken::new();
        tracker.spawn(serve_queries(
            client.clone(),
            names.clone(),
            self.clone(),
            stop_helpers.clone(),
        ));

        let result = self.follow(&js, &names, &shutdown).await;
        stop_helpers.cancel();
        tracker.close();
        tracker.wait().await;
        let flushed = self.db.lock().expect("lock").flush();
        let _ = client.flush().await;
        tracing::info!("projector stopped");
        result.and(flushed)
    }

    /// Reads the log stream from the projector's position, forever.
    async fn follow(
        self: &Arc<Self>,
        js: &jetstream::Context,
        names: &Names,
        shutdown: &CancellationToken,
    ) -> Result<(), ProjectorError> {
        let mut retry = Backoff::default();
        'consumer: loop {
            if shutdown.is_cancelled() {
                return Ok(());
            }
            let position = self.size();
            let mut messages = match open_log(js, names, position).await {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the log stream yet");
                    retry.wait(shutdown).await;
                    continue 'consumer;
                }
            };
            loop {
                let first = tokio::select! {
                    m = messages.next() => m,
                    _ = shutdown.cancelled() => return Ok(()),
                };
                let mut batch: Vec<Entry> = Vec::new();
                let mut expected = self.size();
                let mut reread = false;
                let mut next = first;
                loop {
                    match next {
                        None | Some(Err(_)) => {
                            tracing::warn!(
                                "reading the log stream failed; reading again from the position"
                            );
                            reread = true;
                        }
                        Some(Ok(msg)) => {
                            let index = match msg.info() {
                                Ok(info) if info.stream == names.log_stream() => {
                                    info.stream_sequence - 1
                                }
                                _ => {
                                    tracing::warn!(subject = %msg.subject, "ignoring a message that is not a log delivery");
                                    u64::MAX
                                }
                            };
                            if index == expected {
                                let entry = Entry::decode(&msg.payload).map_err(|e| {
                                    ProjectorError::BadLog {
                                        index,
                                        what: format!("the entry does not decode: {e}"),
                                    }
                                })?;
                                if entry.index().0 != index {
                                    return Err(ProjectorError::BadLog {
                                        index,
                                        what: format!(
                                            "the stream holds entry {} at this position",
                                            entry.index()
                                        ),
                                    });
                                }
                                batch.push(entry);
                                expected += 1;
                            } else if index != u64::MAX && index > expected {
                                tracing::warn!(
                                    expected,
                                    got = index,
                                    "a gap in the log stream; reading again from the position"
                                );
                                reread = true;
                            }
                        }
                    }
                    if reread || batch.len() >= MAX_BATCH {
                        break;
                    }
                    match futures::FutureExt::now_or_never(messages.next()) {
                        Some(m) => next = m,
                        None => break,
                    }
                }
                if !batch.is_empty() {
                    retry = Backoff::default();
                    let me = self.clone();
                    tokio::task::spawn_blocking(move || me.take(batch))
                        .await
                        .expect("invariant: folding does not panic")?;
                }
                if reread {
                    retry.wait(shutdown).await;
                    continue 'consumer;
                }
            }
        }
    }

    /// Checks a batch (chain, election, signatures), stores it, adds it to the
    /// tree, folds it, then announces the new size.
    fn take(&self, batch: Vec<Entry>) -> Result<(), ProjectorError> {
        let election = &self.config.election;
        let mut db = self.db.lock().expect("lock");
        let mut chain = db.chain();
        for e in &batch {
            let index = e.index().0;
            let bad = |what: String| ProjectorError::BadLog { index, what };
            if e.prev() != chain {
                return Err(bad("it does not link to the entry before it".to_owned()));
            }
            chain = e.chain_hash();
            if &e.event().body().election != election {
                return Err(bad(format!(
                    "its event is for election {}, not {election}",
                    e.event().body().election
                )));
            }
            if self.config.verify_signatures {
                e.event()
                    .clone()
                    .verify()
                    .map_err(|err| bad(format!("its event does not verify: {err}")))?;
            }
        }
        db.append(&batch)?;
        let size = db.position();
        {
            let mut tree = self.tree.write().expect("lock");
            for e in &batch {
                tree.push(e.chain_hash());
            }
        }
        {
            let mut p = self.projection.write().expect("lock");
            for e in batch {
                let index = e.index().0;
                p.apply_entry(e).map_err(|e| ProjectorError::BadLog {
                    index,
                    what: e.to_string(),
                })?;
            }
        }
        self.size.send_replace(size);
        tracing::debug!(size, "folded");
        Ok(())
    }
}

/// Runs the projector until `shutdown`, or until the log turns out invalid.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), ProjectorError> {
    Follower::open(config).await?.run(shutdown).await
}

/// (Re)creates an ephemeral consumer on the log stream from entry `from`.
async fn open_log(
    js: &jetstream::Context,
    names: &Names,
    from: u64,
) -> Result<consumer::pull::Stream, ProjectorError> {
    let nats = |what: &str, e: &dyn std::fmt::Display| ProjectorError::Nats(format!("{what}: {e}"));
    let stream = js
        .get_stream(names.log_stream())
        .await
        .map_err(|e| nats("finding the log stream (is the ledger running?)", &e))?;
    let consumer: consumer::PullConsumer = stream
        .create_consumer(consumer::pull::Config {
            description: Some(
                "tallylog projector; its position is kept in its database".to_owned(),
            ),
            deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                start_sequence: from + 1,
            },
            ack_policy: consumer::AckPolicy::None,
            filter_subject: names.log_all(),
            inactive_threshold: Duration::from_secs(60),
            ..Default::default()
        })
        .await
        .map_err(|e| nats("creating a log consumer", &e))?;
    consumer
        .stream()
        .max_messages_per_batch(MAX_BATCH)
        .heartbeat(Duration::from_secs(5))
        .messages()
        .await
        .map_err(|e| nats("pulling entries", &e))
}

/// Answers queries on `tallylog.E.query` until stopped.
async fn serve_queries(
    client: async_nats::Client,
    names: Names,
    follower: Arc<Follower>,
    stop: CancellationToken,
) {
    let mut retry = Backoff::default();
    loop {
        let mut sub = match client
            .queue_subscribe(names.query(), "tallylog-projector".to_owned())
            .await
        {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot subscribe to queries yet");
                retry.wait(&stop).await;
                if stop.is_cancelled() {
                    return;
                }
                continue;
            }
        };
        loop {
            let msg = tokio::select! {
                m = sub.next() => m,
                _ = stop.cancelled() => return,
            };
            let Some(msg) = msg else { break };
            let Some(reply) = msg.reply.clone() else {
                continue;
            };
            let follower = follower.clone();
            let max = client.server_info().max_payload;
            let answer = tokio::task::spawn_blocking(move || follower.respond(&msg.payload, max))
                .await
                .unwrap_or_else(|_| error_json("the query failed inside the projector"));
            if let Err(e) = client.publish(reply, answer.into()).await {
                tracing::warn!(error = %e, "could not send a query's answer");
            }
        }
    }
}

/// The answer to one query, as the bytes of a JSON object: `{"size":…,
/// "answer":…}` or `{"error":"…"}`.
pub fn respond(state: &RwLock<Projection>, request: &[u8], max_payload: usize) -> Vec<u8> {
    if request.len() > MAX_QUERY_BYTES {
        return error_json(&format!(
            "the query is {} bytes; the most accepted is {MAX_QUERY_BYTES}",
            request.len()
        ));
    }
    let q: Query = match serde_json::from_slice(request) {
        Ok(q) => q,
        Err(e) => return error_json(&format!("the query is not understood: {e}")),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let clock = Timestamp::from_unix(now)
        .unwrap_or_else(|_| Timestamp::from_unix(0).expect("invariant: the epoch is a valid time"));
    let p = state.read().expect("lock");
    let out = match query::answer(&p, &q, clock) {
        Ok(v) => serde_json::to_vec(&v).expect("invariant: answers serialise"),
        Err(e) => return error_json(&e.to_string()),
    };
    if out.len() > max_payload {
        return error_json(&format!(
            "the answer is {} bytes, more than one NATS message holds ({max_payload}); ask for fewer rows with \"limit\"",
            out.len()
        ));
    }
    out
}

fn error_json(message: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "error": message }))
        .expect("invariant: a string serialises")
}

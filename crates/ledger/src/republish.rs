//! Copies the log into the log stream, gap-free and exactly once.
//!
//! Entry `i` is published with `Nats-Msg-Id: i` and
//! `Nats-Expected-Last-Sequence: i`, so the server stores it only as stream
//! message `i + 1`: a gap or a duplicate is refused by the server itself. The
//! republisher follows the store's head, keeps many publishes in flight, and
//! after any error (or a restart, or a crash of either side) asks the stream how
//! far it got and resumes from there.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_nats::jetstream::{self, context::PublishAckFuture};
use async_nats::HeaderMap;
use tallylog_core::entry::Entry;
use tallylog_core::event::Payload;
use tallylog_core::types::{EventId, LogIndex, RegionCode};
use tallylog_nats::Names;
use tallylog_store::Store;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::LedgerError;

/// Publishes in flight at most (the measured knee of JetStream throughput).
const IN_FLIGHT: usize = 256;

pub struct Republisher {
    pub js: jetstream::Context,
    pub names: Names,
    pub store: Arc<RwLock<Store>>,
    pub head: watch::Receiver<u64>,
    /// Entries just appended, handed over by the ledger loop so that they need
    /// not be read back and decoded from the store. Bounded: see [`Fresh`].
    pub fresh: Fresh,
    /// Regions of filed complaints, so their later steps go to the same subject.
    pub regions: HashMap<EventId, Option<RegionCode>>,
    /// How many entries the log stream holds, when known.
    pub published: Option<u64>,
}

/// The most recently appended entries, oldest first, bounded by count and bytes.
pub type Fresh = Arc<std::sync::Mutex<FreshEntries>>;

/// Entries kept for the republisher at most; beyond that (NATS down for a
/// while) it reads them back from the store.
pub const FRESH_MAX: usize = 65_536;

/// Bytes of entries kept for the republisher at most.
pub const FRESH_MAX_BYTES: usize = 64 * 1024 * 1024;

/// The hand-over buffer, with a running byte count so that bounding it costs
/// nothing on the ingest path.
#[derive(Default)]
pub struct FreshEntries {
    entries: VecDeque<Entry>,
    bytes: usize,
}

impl FreshEntries {
    fn pop_front(&mut self) -> Option<Entry> {
        let e = self.entries.pop_front()?;
        self.bytes -= e.bytes().len();
        Some(e)
    }
}

/// Hands newly appended entries to the republisher, dropping the oldest past
/// the bounds (the republisher then reads those from the store).
pub fn hand_over(fresh: &Fresh, entries: Vec<Entry>) {
    let mut f = fresh.lock().expect("lock");
    for e in entries {
        f.bytes += e.bytes().len();
        f.entries.push_back(e);
    }
    while f.entries.len() > FRESH_MAX || f.bytes > FRESH_MAX_BYTES {
        if f.pop_front().is_none() {
            break;
        }
    }
}

impl Republisher {
    /// Runs until `shutdown`, then publishes what the store holds and returns.
    pub async fn run(mut self, shutdown: CancellationToken) -> Result<(), LedgerError> {
        loop {
            let target = *self.head.borrow_and_update();
            match self.catch_up(target).await {
                Ok(()) => {}
                Err(e @ LedgerError::Identity(_)) => {
                    // The stream holds something that is not this log: never
                    // publish past it. A person must look.
                    tracing::error!(error = %e, "the log stream does not match the log; republishing stopped");
                    return Err(e);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "republishing failed; resuming from the stream's position");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(500)) => continue,
                        // Shutting down while NATS is away: what is not yet in
                        // the stream is in the store, and the next start sends it.
                        _ = shutdown.cancelled() => return Ok(()),
                    }
                }
            }
            if shutdown.is_cancelled() {
                return Ok(());
            }
            tokio::select! {
                changed = self.head.changed() => {
                    if changed.is_err() {
                        // The ledger loop has ended; publish what is left and stop.
                        let target = *self.head.borrow();
                        return self.catch_up(target).await;
                    }
                }
                _ = shutdown.cancelled() => {
                    let target = *self.head.borrow();
                    return self.catch_up(target).await;
                }
            }
        }
    }

    /// Publishes entries until the stream holds `target` of them.
    async fn catch_up(&mut self, target: u64) -> Result<(), LedgerError> {
        // Ask the stream where it stands only when we do not know: at start and
        // after an error (the position is then whatever the server kept).
        let mut next = match self.published.take() {
            Some(n) => n,
            None => self.stream_position(target).await?,
        };
        let mut pending: VecDeque<(u64, PublishAckFuture)> = VecDeque::new();
        while next < target || !pending.is_empty() {
            while next < target && pending.len() < IN_FLIGHT {
                let entry = match self.take_fresh(next) {
                    Some(e) => e,
                    None => {
                        let store = self.store.clone();
                        tokio::task::spawn_blocking(move || {
                            store.read().expect("lock").entry(LogIndex(next))
                        })
                        .await
                        .expect("invariant: reading an entry does not panic")?
                        .ok_or_else(|| LedgerError::Store(format!("entry {next} is missing")))?
                    }
                };
                let subject = self.subject(&entry).await?;
                let mut headers = HeaderMap::new();
                headers.insert("Nats-Msg-Id", next.to_string().as_str());
                headers.insert("Nats-Expected-Last-Sequence", next.to_string().as_str());
                let ack = self
                    .js
                    .publish_with_headers(subject, headers, entry.bytes().to_vec().into())
                    .await
                    .map_err(|e| LedgerError::Nats(format!("publishing entry {next}: {e}")))?;
                pending.push_back((next, ack));
                next += 1;
            }
            if let Some((index, ack)) = pending.pop_front() {
                ack.await.map_err(|e| {
                    LedgerError::Nats(format!("the log stream refused entry {index}: {e}"))
                })?;
            }
        }
        self.published = Some(next);
        Ok(())
    }

    /// How many entries the log stream holds, after checking that what it
    /// holds is this log: its last message must be entry `last_sequence - 1`,
    /// byte for byte. Anything else (a foreign message, another log's stream, a
    /// store rolled back) is an identity error, never something to publish past.
    async fn stream_position(&self, target: u64) -> Result<u64, LedgerError> {
        let mut stream = self
            .js
            .get_stream(self.names.log_stream())
            .await
            .map_err(|e| LedgerError::Nats(format!("opening the log stream: {e}")))?;
        let last = stream
            .info()
            .await
            .map_err(|e| LedgerError::Nats(format!("reading the log stream's state: {e}")))?
            .state
            .last_sequence;
        if last == 0 {
            return Ok(0);
        }
        if last > target {
            return Err(LedgerError::Identity(format!(
                "the log stream holds {last} messages but the log only {target} entries: \
                 it holds messages that are not this log's, or the store was rolled back"
            )));
        }
        let msg = stream
            .get_raw_message(last)
            .await
            .map_err(|e| LedgerError::Nats(format!("reading log stream message {last}: {e}")))?;
        let store = self.store.clone();
        let index = last - 1;
        let entry =
            tokio::task::spawn_blocking(move || store.read().expect("lock").entry(LogIndex(index)))
                .await
                .expect("invariant: reading an entry does not panic")?;
        match entry {
            Some(e) if e.bytes() == &msg.payload[..] => Ok(last),
            _ => Err(LedgerError::Identity(format!(
                "log stream message {last} is not entry {index} of this log"
            ))),
        }
    }

    /// Entry `index` from the hand-over buffer, dropping older ones.
    fn take_fresh(&self, index: u64) -> Option<Entry> {
        let mut f = self.fresh.lock().expect("lock");
        while let Some(e) = f.entries.front() {
            match e.index().0.cmp(&index) {
                std::cmp::Ordering::Less => {
                    f.pop_front();
                }
                std::cmp::Ordering::Equal => return f.pop_front(),
                std::cmp::Ordering::Greater => return None,
            }
        }
        None
    }

    /// The log subject of an entry: its kind and the region it is about.
    async fn subject(&mut self, entry: &Entry) -> Result<String, LedgerError> {
        let body = entry.event().body();
        let kind = entry.event().kind();
        let region = match &body.payload {
            Payload::Result(f) => Some(f.station.region().clone()),
            Payload::Correction(c) => Some(c.form.station.region().clone()),
            Payload::Recount(r) => Some(r.form.station.region().clone()),
            Payload::ComplaintFiled(c) => {
                self.remember_region(entry.event().id(), c.region.clone());
                c.region.clone()
            }
            Payload::ComplaintAcknowledged(s) | Payload::ComplaintReview(s) => {
                self.complaint_region(s.complaint).await?
            }
            Payload::ComplaintResolved(s) => self.complaint_region(s.complaint).await?,
            Payload::ComplaintAppealed(s) => self.complaint_region(s.complaint).await?,
            Payload::ComplaintAppealDecided(s) => self.complaint_region(s.complaint).await?,
            _ => None,
        };
        Ok(self.names.log(kind, region.as_ref()))
    }

    async fn complaint_region(&mut self, id: EventId) -> Result<Option<RegionCode>, LedgerError> {
        if let Some(r) = self.regions.get(&id) {
            return Ok(r.clone());
        }
        let store = self.store.clone();
        let entry = tokio::task::spawn_blocking(move || -> Result<Option<Entry>, LedgerError> {
            let store = store.read().expect("lock");
            match store.index_of(&id)? {
                Some(i) => Ok(store.entry(i)?),
                None => Ok(None),
            }
        })
        .await
        .expect("invariant: reading an entry does not panic")?;
        let region = match entry.as_ref().map(|e| &e.event().body().payload) {
            Some(Payload::ComplaintFiled(c)) => c.region.clone(),
            _ => None,
        };
        self.remember_region(id, region.clone());
        Ok(region)
    }

    /// Caches a complaint's region; the cache starts again past a million
    /// (a miss only costs a store read).
    fn remember_region(&mut self, id: EventId, region: Option<RegionCode>) {
        if self.regions.len() >= 1_000_000 {
            self.regions.clear();
        }
        self.regions.insert(id, region);
    }
}

//! Submitting signed events to a ledger and collecting its replies.
//!
//! A publisher's connection may be flaky and its process may die; the protocol
//! makes retrying safe. Each submission is published to the intake stream with
//! its event id as `Nats-Msg-Id` (so a resent copy within the server's window is
//! stored once) and a reply subject in the `Tallylog-Reply-To` header. The
//! ledger replies only after the event is durable. If no reply comes in time the
//! submitter asks the ledger for the event's receipt by id, and resends only if
//! the ledger has never seen it; the ledger answers an event it already holds
//! with the original entry, so a retry can never add a second copy.
//!
//! Only the ledger's reply counts as an acknowledgement. JetStream's own ack
//! means the intake stream has the message, which the server syncs to disk
//! lazily; it is necessary but not sufficient.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{
    self,
    context::{PublishAckFuture, PublishErrorKind},
};
use async_nats::HeaderMap;
use bytes::Bytes;
use futures::stream::{FuturesUnordered, StreamExt};
use sha2::{Digest, Sha256};
use tallylog_core::event::SignedEvent;
use tallylog_core::receipt::Reply;
use tallylog_core::types::{EventId, LogIndex};
use tokio::sync::oneshot;

use crate::{Names, REPLY_TO};

/// How hard to try.
#[derive(Clone, Debug)]
pub struct Options {
    /// Submissions awaiting their reply at once.
    pub in_flight: usize,
    /// How long to wait for a reply before asking for the receipt.
    pub reply_timeout: Duration,
    /// Sends of one submission at most before giving up on it.
    pub attempts: u32,
    /// Start submissions at this rate (per second) whatever the replies do, as
    /// independent publishers would: an open-loop load for measuring latency.
    /// `None` starts each as soon as one of the `in_flight` places frees up.
    pub pace: Option<f64>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            in_flight: 512,
            reply_timeout: Duration::from_secs(10),
            attempts: 5,
            pace: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    #[error("NATS: {0}")]
    Nats(String),
    #[error("no reply from the ledger after {0} attempts (is `tallylog ledger` running for this election?)")]
    NoReply(u32),
    #[error("the ledger's reply is not understood: {0}")]
    BadReply(String),
    #[error("the message is larger than the NATS server accepts: {0}")]
    TooLarge(String),
}

type Waiters = Arc<Mutex<HashMap<u64, oneshot::Sender<Bytes>>>>;

/// A connection to one election's ledger.
pub struct Submitter {
    client: async_nats::Client,
    js: jetstream::Context,
    names: Names,
    inbox: String,
    waiters: Waiters,
    next: AtomicU64,
    _router: tokio::task::JoinHandle<()>,
}

impl Submitter {
    /// Connects to `url`: one server or a comma-separated list, with
    /// credentials if the server needs them (see [`crate::connect`]).
    pub async fn connect(url: &str, names: Names) -> Result<Submitter, SubmitError> {
        let client = crate::connect(
            url,
            async_nats::ConnectOptions::new().name("tallylog-submit"),
        )
        .await
        .map_err(|e| SubmitError::Nats(e.to_string()))?;
        Self::with_client(client, names).await
    }

    pub async fn with_client(
        client: async_nats::Client,
        names: Names,
    ) -> Result<Submitter, SubmitError> {
        let inbox = client.new_inbox();
        let mut sub = client
            .subscribe(format!("{inbox}.*"))
            .await
            .map_err(|e| SubmitError::Nats(format!("subscribing for replies: {e}")))?;
        let waiters: Waiters = Default::default();
        let w = waiters.clone();
        let router = tokio::spawn(async move {
            while let Some(msg) = sub.next().await {
                let n = msg
                    .subject
                    .rsplit('.')
                    .next()
                    .and_then(|t| t.parse::<u64>().ok());
                if let Some(tx) = n.and_then(|n| w.lock().expect("lock").remove(&n)) {
                    let _ = tx.send(msg.payload);
                }
            }
        });
        Ok(Submitter {
            js: jetstream::new(client.clone()),
            client,
            names,
            inbox,
            waiters,
            next: AtomicU64::new(0),
            _router: router,
        })
    }

    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// Submits signed events, many at a time; returns each one's reply, in the
    /// order given. `progress` is called once per reply, with the time from
    /// the first send to the reply.
    pub async fn submit(
        &self,
        events: &[SignedEvent],
        opts: &Options,
        progress: impl Fn(&Reply, Duration),
    ) -> Vec<Result<Reply, SubmitError>> {
        let raw: Vec<(Bytes, Option<EventId>, String)> = events
            .iter()
            .map(|e| {
                (
                    Bytes::copy_from_slice(e.bytes()),
                    Some(e.id()),
                    self.names.submit(e.kind()),
                )
            })
            .collect();
        self.submit_raw(raw, opts, progress).await
    }

    /// Submits payloads as they are (tests send malformed ones): each with the
    /// event id it claims to be, if any, and its subject.
    ///
    /// First sends go out strictly in the order given (a publisher's events
    /// depend on each other: a key's registration before its first result, a
    /// chain in sequence order), and only the waiting is concurrent. A resend
    /// after a failure can land after later events; so if any submission had to
    /// be resent, those refused for a missing predecessor are submitted once
    /// more, in order, at the end.
    pub async fn submit_raw(
        &self,
        payloads: Vec<(Bytes, Option<EventId>, String)>,
        opts: &Options,
        progress: impl Fn(&Reply, Duration),
    ) -> Vec<Result<Reply, SubmitError>> {
        let resent = AtomicBool::new(false);
        let all = (0..payloads.len()).collect();
        let mut out = self.pass(&payloads, all, opts, 0, &resent, &progress).await;
        if resent.load(Ordering::Relaxed) {
            let again: Vec<usize> = out
                .iter()
                .enumerate()
                .filter(|(_, r)| {
                    matches!(r, Ok(Reply::Rejected { code, .. }) if ORDER_CODES.contains(&code.as_str()))
                })
                .map(|(i, _)| i)
                .collect();
            if !again.is_empty() {
                tracing::info!(
                    count = again.len(),
                    "resubmitting events refused for a missing predecessor"
                );
                // Numbered after the first pass's attempts, so that the server's
                // dedup window does not swallow these sends.
                let second = self
                    .pass(
                        &payloads,
                        again.clone(),
                        opts,
                        opts.attempts.max(1),
                        &AtomicBool::new(false),
                        &progress,
                    )
                    .await;
                for (i, r) in again.into_iter().zip(second) {
                    out[i] = r;
                }
            }
        }
        out
    }

    /// Submits `which` of `payloads`, first sends in that order.
    async fn pass(
        &self,
        payloads: &[(Bytes, Option<EventId>, String)],
        which: Vec<usize>,
        opts: &Options,
        first_attempt: u32,
        resent: &AtomicBool,
        progress: &impl Fn(&Reply, Duration),
    ) -> Vec<Result<Reply, SubmitError>> {
        let t0 = tokio::time::Instant::now();
        let mut running = FuturesUnordered::new();
        let mut out: Vec<Option<Result<Reply, SubmitError>>> = which.iter().map(|_| None).collect();
        let mut finish = |(k, r, took): (usize, Result<Reply, SubmitError>, Duration)| {
            if let Ok(reply) = &r {
                progress(reply, took);
            }
            out[k] = Some(r);
        };
        for (k, &i) in which.iter().enumerate() {
            let (payload, id, subject) = &payloads[i];
            if let Some(rate) = opts.pace {
                let at = t0 + Duration::from_secs_f64(k as f64 / rate.max(1e-3));
                // Keep collecting replies while waiting for the next start.
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => break,
                        Some(done) = running.next() => finish(done),
                    }
                }
            }
            // A free place first. The running submissions only make progress
            // while polled, so wait for one to finish rather than on a lock.
            while running.len() >= opts.in_flight.max(1) {
                match running.next().await {
                    Some(done) => finish(done),
                    None => break,
                }
            }
            let started = tokio::time::Instant::now();
            let first = self.send(payload, *id, subject, first_attempt + 1).await;
            running.push(async move {
                let r = self
                    .complete(first, &payloads[i], opts, first_attempt, resent)
                    .await;
                (k, r, started.elapsed())
            });
            // Collect finished ones as we go, so memory stays bounded.
            while let Some(Some(done)) = futures::FutureExt::now_or_never(running.next()) {
                finish(done);
            }
        }
        while let Some(done) = running.next().await {
            finish(done);
        }
        out.into_iter()
            .map(|r| r.expect("invariant: every submission finished"))
            .collect()
    }

    /// Publishes one attempt; returns where its reply will arrive and the
    /// stream's acknowledgement, still to be awaited.
    async fn send(
        &self,
        payload: &Bytes,
        id: Option<EventId>,
        subject: &str,
        attempt: u32,
    ) -> Result<Sent, SubmitError> {
        // Without a decodable id, dedup by the payload's own hash.
        let dedup = id.map(|i| i.to_hex()).unwrap_or_else(|| {
            let h: [u8; 32] = Sha256::digest(payload).into();
            tallylog_core::types::to_hex(&h)
        });
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.waiters.lock().expect("lock").insert(n, tx);
        let mut headers = HeaderMap::new();
        // The first send's message id is the event id, so the intake stream
        // stores an event once however often it is sent within the server's
        // dedup window (a crashed run of `tallylog submit` started again). A
        // resend after the ledger said it has never seen the event carries the
        // attempt too, so the server does not swallow it.
        // The resend's id is not guessable, so nobody can claim it in advance
        // and have the server swallow the resend as a duplicate.
        let msg_id = if attempt == 1 {
            dedup
        } else {
            use rand_core::RngCore;
            format!("{dedup}-{attempt}-{:016x}", rand_core::OsRng.next_u64())
        };
        headers.insert("Nats-Msg-Id", msg_id.as_str());
        headers.insert(REPLY_TO, format!("{}.{n}", self.inbox).as_str());
        match self
            .js
            .publish_with_headers(subject.to_owned(), headers, payload.clone())
            .await
        {
            Ok(ack) => Ok((n, rx, ack)),
            Err(e) => {
                self.waiters.lock().expect("lock").remove(&n);
                if e.kind() == PublishErrorKind::MaxPayloadExceeded {
                    Err(SubmitError::TooLarge(e.to_string()))
                } else {
                    Err(SubmitError::Nats(e.to_string()))
                }
            }
        }
    }

    /// Waits for the reply to a first send, resending (after asking) as needed.
    async fn complete(
        &self,
        first: Result<Sent, SubmitError>,
        item: &(Bytes, Option<EventId>, String),
        opts: &Options,
        first_attempt: u32,
        resent: &AtomicBool,
    ) -> Result<Reply, SubmitError> {
        let (payload, id, subject) = (&item.0, item.1, item.2.as_str());
        let mut sent = first;
        for attempt in first_attempt + 1..=first_attempt + opts.attempts.max(1) {
            if attempt > first_attempt + 1 {
                resent.store(true, Ordering::Relaxed);
                sent = self.send(payload, id, subject, attempt).await;
            }
            let (n, rx, ack) = match sent {
                Ok(s) => s,
                Err(e @ SubmitError::TooLarge(_)) => return Err(e),
                Err(e) => {
                    tracing::warn!(attempt, error = %e, "publishing a submission failed; retrying");
                    tokio::time::sleep(backoff(attempt)).await;
                    sent = Err(e);
                    continue;
                }
            };
            let duplicate = match ack.await {
                Ok(ack) => ack.duplicate,
                Err(e) => {
                    self.waiters.lock().expect("lock").remove(&n);
                    tracing::warn!(attempt, error = %e, "the intake stream did not take a submission; retrying");
                    tokio::time::sleep(backoff(attempt)).await;
                    sent = Err(SubmitError::Nats(e.to_string()));
                    continue;
                }
            };
            if duplicate {
                // The stream already had this message from an earlier send, so
                // the ledger replied (or will) to that send, not this one: ask
                // for the receipt until it has one or the wait is over.
                self.waiters.lock().expect("lock").remove(&n);
                if let Some(id) = id {
                    let until = tokio::time::Instant::now() + opts.reply_timeout;
                    while tokio::time::Instant::now() < until {
                        if let Ok(reply @ Reply::Accepted { .. }) = self.lookup(id).await {
                            return Ok(reply);
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
                sent = Err(SubmitError::NoReply(attempt));
                continue;
            }
            match tokio::time::timeout(opts.reply_timeout, rx).await {
                Ok(Ok(bytes)) => {
                    let reply: Reply = serde_json::from_slice(&bytes)
                        .map_err(|e| SubmitError::BadReply(e.to_string()))?;
                    // A reply about another event is not this one's verdict
                    // (misdirected or forged): ask the ledger instead.
                    if id.is_none() || reply_id(&reply) == id {
                        return Ok(reply);
                    }
                    tracing::warn!("a reply named another event; asking the ledger");
                }
                _ => {
                    self.waiters.lock().expect("lock").remove(&n);
                }
            }
            // No reply in time: perhaps it was lost, perhaps the ledger is slow
            // or restarting. Ask before sending again.
            if let Some(id) = id {
                if let Ok(reply @ Reply::Accepted { .. }) = self.lookup(id).await {
                    return Ok(reply);
                }
            }
            tokio::time::sleep(backoff(attempt)).await;
            sent = Err(SubmitError::NoReply(attempt));
        }
        Err(SubmitError::NoReply(opts.attempts.max(1)))
    }

    /// Asks the ledger for the receipt of event `id`.
    pub async fn lookup(&self, id: EventId) -> Result<Reply, SubmitError> {
        let msg = tokio::time::timeout(
            Duration::from_secs(5),
            self.client
                .request(self.names.receipt(), id.to_hex().into()),
        )
        .await
        .map_err(|_| SubmitError::Nats("receipt lookup timed out".to_owned()))?
        .map_err(|e| SubmitError::Nats(e.to_string()))?;
        serde_json::from_slice(&msg.payload).map_err(|e| SubmitError::BadReply(e.to_string()))
    }

    /// Reads entry `index` from the ledger.
    pub async fn entry(&self, index: LogIndex) -> Result<Bytes, SubmitError> {
        let msg = tokio::time::timeout(
            Duration::from_secs(5),
            self.client
                .request(self.names.entry(), index.0.to_string().into()),
        )
        .await
        .map_err(|_| SubmitError::Nats("entry request timed out".to_owned()))?
        .map_err(|e| SubmitError::Nats(e.to_string()))?;
        if msg.payload.starts_with(b"error:") {
            return Err(SubmitError::BadReply(
                String::from_utf8_lossy(&msg.payload).into_owned(),
            ));
        }
        Ok(msg.payload)
    }
}

/// Reason codes that may only mean an event arrived before one it depends on.
/// `illegal_transition` is one of them: a complaint's appeal that overtook its
/// resolution (another author's event, sent earlier in the same file) is
/// refused as an appeal of a complaint still filed. Seen when `submit` started
/// before the ledger had created its streams, and every first send was resent.
/// A transition that is illegal in any order is refused again, once.
const ORDER_CODES: [&str; 6] = [
    "seq_gap",
    "prev_mismatch",
    "unknown_key",
    "unknown_reference",
    "no_election",
    "illegal_transition",
];

fn reply_id(r: &Reply) -> Option<EventId> {
    match r {
        Reply::Accepted { id, .. } | Reply::Unknown { id } => Some(*id),
        Reply::Rejected { id, .. } => *id,
    }
}

/// A sent attempt: its reply slot, where the reply will arrive, and the
/// stream's acknowledgement still to await.
type Sent = (u64, oneshot::Receiver<Bytes>, PublishAckFuture);

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(100 * 2u64.pow(attempt.min(6)))
}

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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream;
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
    pub async fn connect(url: &str, names: Names) -> Result<Submitter, SubmitError> {
        let client = async_nats::ConnectOptions::new()
            .name("tallylog-submit")
            .connect(url)
            .await
            .map_err(|e| SubmitError::Nats(format!("connecting to {url}: {e}")))?;
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
    pub async fn submit_raw(
        &self,
        payloads: Vec<(Bytes, Option<EventId>, String)>,
        opts: &Options,
        progress: impl Fn(&Reply, Duration),
    ) -> Vec<Result<Reply, SubmitError>> {
        let t0 = tokio::time::Instant::now();
        let mut running = FuturesUnordered::new();
        let total = payloads.len();
        let mut out: Vec<Option<Result<Reply, SubmitError>>> = (0..total).map(|_| None).collect();
        let mut finish = |(i, r, took): (usize, Result<Reply, SubmitError>, Duration)| {
            if let Ok(reply) = &r {
                progress(reply, took);
            }
            out[i] = Some(r);
        };
        for (i, (payload, id, subject)) in payloads.into_iter().enumerate() {
            if let Some(rate) = opts.pace {
                let at = t0 + Duration::from_secs_f64(i as f64 / rate.max(1e-3));
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
            running.push(async move {
                let started = tokio::time::Instant::now();
                let r = self.submit_one(payload, id, subject, opts).await;
                (i, r, started.elapsed())
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

    async fn submit_one(
        &self,
        payload: Bytes,
        id: Option<EventId>,
        subject: String,
        opts: &Options,
    ) -> Result<Reply, SubmitError> {
        // Without a decodable id, dedup by the payload's own hash.
        let dedup = id.map(|i| i.to_hex()).unwrap_or_else(|| {
            let h: [u8; 32] = Sha256::digest(&payload).into();
            tallylog_core::types::to_hex(&h)
        });
        for attempt in 1..=opts.attempts {
            let n = self.next.fetch_add(1, Ordering::Relaxed);
            let (tx, rx) = oneshot::channel();
            self.waiters.lock().expect("lock").insert(n, tx);
            let mut headers = HeaderMap::new();
            // A deliberate resend after a timeout gets a new message id, or the
            // server's dedup window would swallow it; the ledger still dedups
            // by event id.
            headers.insert("Nats-Msg-Id", format!("{dedup}-{attempt}").as_str());
            headers.insert(REPLY_TO, format!("{}.{n}", self.inbox).as_str());
            let sent = async {
                self.js
                    .publish_with_headers(subject.clone(), headers, payload.clone())
                    .await
                    .map_err(|e| {
                        if e.kind()
                            == async_nats::jetstream::context::PublishErrorKind::MaxPayloadExceeded
                        {
                            SubmitError::TooLarge(e.to_string())
                        } else {
                            SubmitError::Nats(e.to_string())
                        }
                    })?
                    .await
                    .map_err(|e| SubmitError::Nats(e.to_string()))
            }
            .await;
            if let Err(e @ SubmitError::TooLarge(_)) = sent {
                self.waiters.lock().expect("lock").remove(&n);
                return Err(e);
            }
            if let Err(e) = sent {
                self.waiters.lock().expect("lock").remove(&n);
                tracing::warn!(attempt, error = %e, "publishing a submission failed; retrying");
                tokio::time::sleep(backoff(attempt)).await;
                continue;
            }
            match tokio::time::timeout(opts.reply_timeout, rx).await {
                Ok(Ok(bytes)) => {
                    return serde_json::from_slice(&bytes)
                        .map_err(|e| SubmitError::BadReply(e.to_string()))
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
        }
        Err(SubmitError::NoReply(opts.attempts))
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

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(100 * 2u64.pow(attempt.min(6)))
}

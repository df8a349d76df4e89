//! `GET /v1/stream`: the log live, as server-sent events, filtered by region
//! and kind, resumable with no gap and no duplicate.
//!
//! Each entry is an event `entry` whose `id` is its log index and whose
//! data is the entry's exact bytes. Where a run of entries matches nothing,
//! an event with only an `id` moves the client's last event id past them
//! without dispatching anything, so that a reconnect does not scan them
//! again. A new checkpoint arrives as an event `checkpoint` (no id) whose
//! data is the signed note, so a client can check inclusion as it goes.
//!
//! A client resumes by sending `Last-Event-ID` (browsers do so by
//! themselves): the stream starts right after that index. Without it, it
//! starts at `from` (default: the end, that is only new entries).
//!
//! Memory per client is bounded: the stream reads the next chunk of entries
//! from the gateway's copy of the log only when the connection has taken the
//! previous one, so a slow client falls behind on disk, not in memory.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Deserialize;
use tallylog_core::entry::decode_stored;
use tallylog_core::event::{Kind, Payload};
use tallylog_core::types::{RegionCode, StationCode};
use tallylog_tally::Projection;

use crate::limits::{error, StreamSlot};
use crate::App;

/// Entries read per step, at most.
const CHUNK_ENTRIES: u64 = 64;
/// Bytes of entries read per step, at most (past one entry).
const CHUNK_BYTES: usize = 512 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// A province, district, commune (`01`, `01/02`, `01/02/03`) or station.
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    /// The first index wanted, when no `Last-Event-ID` is sent.
    #[serde(default)]
    from: Option<u64>,
}

/// Which entries a client wants.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub region: Option<String>,
    pub kind: Option<Kind>,
}

impl Filter {
    /// Parses and checks the parameters.
    pub fn new(region: Option<&str>, kind: Option<&str>) -> Result<Filter, String> {
        let kind = match kind {
            None => None,
            Some(k) => Some(*Kind::ALL.iter().find(|c| c.as_str() == k).ok_or_else(|| {
                format!(
                    "unknown kind {k:?}; kinds are {}",
                    Kind::ALL.map(|k| k.as_str()).join(", ")
                )
            })?),
        };
        let region = match region {
            None => None,
            Some(r) => {
                if r.parse::<RegionCode>().is_err() && r.parse::<StationCode>().is_err() {
                    return Err(format!(
                        "{r:?} is not a region or station code (such as 01, 01/02 or 01/02/03)"
                    ));
                }
                Some(r.to_owned())
            }
        };
        Ok(Filter { region, kind })
    }

    /// Whether an entry of `kind` about `place` (a station or region code)
    /// is wanted.
    pub fn wants(&self, kind: Kind, place: Option<&str>) -> bool {
        if self.kind.is_some_and(|k| k != kind) {
            return false;
        }
        match (&self.region, place) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(f), Some(p)) => {
                p == f
                    || (p.len() > f.len()
                        && p.starts_with(f.as_str())
                        && p.as_bytes()[f.len()] == b'/')
            }
        }
    }
}

/// The station or region an entry is about, as the log subjects name it
/// (PROTOCOL.md §9): a form's station, a complaint's region, for a
/// complaint's later steps the region of the complaint.
fn place(payload: &Payload, p: &Projection) -> Option<String> {
    let complaint = |id| {
        p.complaint(id)
            .and_then(|c| c.region.as_ref().map(|r| r.to_string()))
    };
    match payload {
        Payload::Result(f) => Some(f.station.to_string()),
        Payload::Correction(c) => Some(c.form.station.to_string()),
        Payload::Recount(r) => Some(r.form.station.to_string()),
        Payload::ComplaintFiled(c) => c.region.as_ref().map(|r| r.to_string()),
        Payload::ComplaintAcknowledged(s) | Payload::ComplaintReview(s) => complaint(&s.complaint),
        Payload::ComplaintResolved(s) => complaint(&s.complaint),
        Payload::ComplaintAppealed(s) => complaint(&s.complaint),
        Payload::ComplaintAppealDecided(s) => complaint(&s.complaint),
        _ => None,
    }
}

/// Reads entries from `from` on (up to the size the gateway has announced)
/// and turns the wanted ones into events; returns them and the next index.
fn read(app: &App, filter: &Filter, from: u64) -> Result<(Vec<Event>, u64), String> {
    let rows = app
        .follower
        .entries(from, from + CHUNK_ENTRIES)
        .map_err(|e| e.to_string())?;
    let p = app.follower.projection();
    let mut events = Vec::new();
    let mut next = from;
    let mut bytes = 0;
    for (index, entry) in rows {
        let e = decode_stored(&entry).map_err(|e| format!("entry {index}: {e}"))?;
        let kind = e.body.payload.kind();
        if filter.wants(kind, place(&e.body.payload, &p).as_deref()) {
            let text = std::str::from_utf8(&entry).map_err(|e| format!("entry {index}: {e}"))?;
            events.push(
                Event::default()
                    .id(index.to_string())
                    .event("entry")
                    .data(text),
            );
            bytes += entry.len();
        }
        next = index + 1;
        if bytes >= CHUNK_BYTES {
            break;
        }
    }
    if events.is_empty() && next > from {
        // Nothing wanted: move the client's last event id on.
        events.push(Event::default().id((next - 1).to_string()));
    }
    Ok((events, next))
}

struct Follow {
    app: Arc<App>,
    _slot: StreamSlot,
    filter: Filter,
    next: u64,
    sizes: tokio::sync::watch::Receiver<u64>,
    checkpoints: tokio::sync::watch::Receiver<Option<crate::Latest>>,
}

impl Follow {
    /// The next events to send, or `None` when the stream ends.
    async fn step(mut self) -> Option<(Vec<Result<Event, Infallible>>, Follow)> {
        loop {
            if self.app.shutdown.is_cancelled() {
                return None;
            }
            if self.checkpoints.has_changed().unwrap_or(false) {
                let cp = self.checkpoints.borrow_and_update().clone();
                if let Some(cp) = cp {
                    let note = String::from_utf8_lossy(&cp.note).into_owned();
                    let ev = Event::default().event("checkpoint").data(note);
                    return Some((vec![Ok(ev)], self));
                }
            }
            if self.next < self.app.follower.size() {
                let app = self.app.clone();
                let filter = self.filter.clone();
                let from = self.next;
                let read = tokio::task::spawn_blocking(move || read(&app, &filter, from)).await;
                return match read {
                    Ok(Ok((events, next))) => {
                        self.next = next;
                        Some((events.into_iter().map(Ok).collect(), self))
                    }
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "a live stream could not read the log");
                        None
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "a live stream's read failed");
                        None
                    }
                };
            }
            tokio::select! {
                r = self.sizes.changed() => if r.is_err() { return None },
                r = self.checkpoints.changed() => if r.is_err() { return None },
                _ = self.app.shutdown.cancelled() => return None,
            }
        }
    }
}

/// `GET /v1/stream?region=R&kind=K&from=N`.
pub async fn stream(
    State(app): State<Arc<App>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    params: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Query(params) = match params {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_query", &e.body_text()),
    };
    let filter = match Filter::new(params.region.as_deref(), params.kind.as_deref()) {
        Ok(f) => f,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_query", &e),
    };
    let resume = match headers.get("last-event-id") {
        None => None,
        Some(v) => match v.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok()) {
            Some(i) => Some(i.saturating_add(1)),
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "bad_last_event_id",
                    "Last-Event-ID must be an entry index this stream sent",
                )
            }
        },
    };
    let next = resume
        .or(params.from)
        .unwrap_or_else(|| app.follower.size());
    let slot = match StreamSlot::open(&app, addr.ip()) {
        Ok(s) => s,
        Err((status, message)) => return error(status, "too_many_streams", &message),
    };
    // The checkpoint held now is the first thing sent.
    let mut checkpoints = app.checkpoint.subscribe();
    checkpoints.mark_changed();
    let follow = Follow {
        sizes: app.follower.watch_size(),
        checkpoints,
        app,
        _slot: slot,
        filter,
        next,
    };
    let events = futures::stream::unfold(follow, Follow::step).flat_map(futures::stream::iter);
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

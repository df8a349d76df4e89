//! What protects the gateway and what it tells its operator: a per-client
//! rate limit, a time limit on every request but the live stream, caps on
//! live streams, JSON errors, and `/metrics` in the Prometheus text format.
//!
//! A slow stream client costs bounded memory without a cap of its own: a
//! stream reads the next entries from the gateway's copy of the log only
//! when the connection has taken the last ones (see [`crate::stream`]).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

use crate::App;

/// The limits, per gateway.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Requests per second each client address may make, on average.
    pub requests_per_second: f64,
    /// Requests a client may make at once after being idle.
    pub burst: f64,
    /// The longest any request but a live stream may take.
    pub request_timeout: Duration,
    /// Live streams open at once, in all.
    pub max_streams: usize,
    /// Live streams open at once from one client address.
    pub max_streams_per_client: usize,
    /// Submissions forwarded to the ledger and awaiting its verdict at once;
    /// past this a submission is refused with 503 and `Retry-After`, so a
    /// flood slows publishers down instead of growing the gateway's memory.
    pub max_submissions: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            requests_per_second: 50.0,
            burst: 200.0,
            request_timeout: Duration::from_secs(30),
            max_streams: 1_000,
            max_streams_per_client: 16,
            max_submissions: 512,
        }
    }
}

/// Client addresses remembered at most by the rate limiter; past this, idle
/// ones are forgotten (a forgotten client starts with a full bucket, which
/// is what an idle one has anyway).
const MAX_CLIENTS: usize = 100_000;

/// A JSON error: `{"error":{"code":…,"message":…}}`.
pub fn error(status: StatusCode, code: &str, message: &str) -> Response {
    json_response(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

pub fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
    let bytes = serde_json::to_vec(body).expect("invariant: responses serialise");
    (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The rate limiter's buckets and the live streams' counts.
#[derive(Default)]
pub struct Guard {
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
    streams: Mutex<HashMap<IpAddr, usize>>,
}

impl Guard {
    /// Takes one request's token for `ip`, or says how many seconds until
    /// one is available.
    fn take(&self, ip: IpAddr, limits: &Limits) -> Result<(), f64> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().expect("lock");
        if buckets.len() >= MAX_CLIENTS && !buckets.contains_key(&ip) {
            buckets.retain(|_, b| {
                let refilled =
                    b.tokens + now.duration_since(b.at).as_secs_f64() * limits.requests_per_second;
                refilled < limits.burst
            });
        }
        let b = buckets.entry(ip).or_insert(Bucket {
            tokens: limits.burst,
            at: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * limits.requests_per_second)
            .min(limits.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err((1.0 - b.tokens) / limits.requests_per_second)
        }
    }
}

/// A live stream's place; freed when the stream ends.
pub struct StreamSlot {
    app: Arc<App>,
    ip: IpAddr,
}

impl StreamSlot {
    /// Takes a place for a stream from `ip`, or says why not (as the
    /// status and message of the refusal).
    pub fn open(app: &Arc<App>, ip: IpAddr) -> Result<StreamSlot, (StatusCode, String)> {
        let mut streams = app.guard.streams.lock().expect("lock");
        let total: usize = streams.values().sum();
        if total >= app.limits.max_streams {
            return Err((
                StatusCode::SERVICE_UNAVAILABLE,
                "the gateway serves as many live streams as it can; try again later".to_owned(),
            ));
        }
        let mine = streams.entry(ip).or_default();
        if *mine >= app.limits.max_streams_per_client {
            return Err((
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "at most {} live streams per client; close one first",
                    app.limits.max_streams_per_client
                ),
            ));
        }
        *mine += 1;
        app.metrics.streams.fetch_add(1, Ordering::Relaxed);
        Ok(StreamSlot {
            app: app.clone(),
            ip,
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut streams = self.app.guard.streams.lock().expect("lock");
        if let Some(n) = streams.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                streams.remove(&self.ip);
            }
        }
        self.app.metrics.streams.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Refuses a client over its rate with 429 and `Retry-After`.
pub async fn rate_limit(
    State(app): State<Arc<App>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    match app.guard.take(addr.ip(), &app.limits) {
        Ok(()) => next.run(req).await,
        Err(wait) => {
            app.metrics.rate_limited.fetch_add(1, Ordering::Relaxed);
            let mut r = error(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                &format!(
                    "more than {} requests per second from this address; slow down",
                    app.limits.requests_per_second
                ),
            );
            let secs = wait.ceil().max(1.0) as u64;
            r.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_str(&secs.to_string()).expect("invariant: digits"),
            );
            r
        }
    }
}

/// Ends a request that takes longer than the limit with 503.
pub async fn timeout(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(app.limits.request_timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            &format!(
                "the request took longer than {} s",
                app.limits.request_timeout.as_secs_f64()
            ),
        ),
    }
}

/// Counts requests by route and status.
pub async fn count(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let r = next.run(req).await;
    *app.metrics
        .requests
        .lock()
        .expect("lock")
        .entry((route, r.status().as_u16()))
        .or_default() += 1;
    r
}

/// The gateway's counters.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    submissions: Mutex<BTreeMap<String, u64>>,
    rate_limited: AtomicU64,
    streams: AtomicUsize,
}

impl Metrics {
    /// Counts a submission's outcome: `accepted`, a reason code, or
    /// `unavailable`.
    pub fn submission(&self, outcome: &str) {
        *self
            .submissions
            .lock()
            .expect("lock")
            .entry(outcome.to_owned())
            .or_default() += 1;
    }
}

/// `GET /metrics`, in the Prometheus text format.
pub async fn metrics(State(app): State<Arc<App>>) -> Response {
    let m = &app.metrics;
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, samples: Vec<(String, u64)>| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    let one = |v: u64| vec![(String::new(), v)];
    family(
        "tallylog_log_entries",
        "gauge",
        "Entries of the log the gateway holds, checked and folded.",
        one(app.follower.size()),
    );
    family(
        "tallylog_checkpoint_size",
        "gauge",
        "Size of the newest ledger checkpoint checked against the gateway's tree.",
        one(app.latest().map_or(0, |l| l.size)),
    );
    family(
        "tallylog_log_inconsistent",
        "gauge",
        "1 if a ledger checkpoint disagreed with the gateway's copy of the log.",
        one(u64::from(app.trouble.read().expect("lock").is_some())),
    );
    family(
        "tallylog_streams_open",
        "gauge",
        "Live server-sent event streams open.",
        one(m.streams.load(Ordering::Relaxed) as u64),
    );
    family(
        "tallylog_rate_limited_total",
        "counter",
        "Requests refused for exceeding the per-client rate.",
        one(m.rate_limited.load(Ordering::Relaxed)),
    );
    let requests = m
        .requests
        .lock()
        .expect("lock")
        .iter()
        .map(|((route, status), n)| {
            (
                format!("{{route=\"{}\",status=\"{status}\"}}", escape(route)),
                *n,
            )
        })
        .collect();
    family(
        "tallylog_http_requests_total",
        "counter",
        "HTTP requests answered, by route and status.",
        requests,
    );
    let submissions = m
        .submissions
        .lock()
        .expect("lock")
        .iter()
        .map(|(outcome, n)| (format!("{{outcome=\"{}\"}}", escape(outcome)), *n))
        .collect();
    family(
        "tallylog_submissions_total",
        "counter",
        "Submissions over HTTP, by outcome (accepted, or the reason code).",
        submissions,
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response()
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

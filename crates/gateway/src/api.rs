//! The JSON API: submissions, the checkpoint, entries, proofs and tallies.
//!
//! Errors are `{"error":{"code":…,"message":…}}` with a fitting status,
//! except for submissions, whose every answer is the ledger's reply object
//! (PROTOCOL.md §9), so that a publisher reads one format whether it submits
//! over NATS or HTTP.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tallylog_core::event::{SignedEvent, DECODING_CODES, MAX_EVENT_BYTES};
use tallylog_core::merkle::{self, record_hash};
use tallylog_core::receipt::Reply;
use tallylog_core::types::{Level, RegionCode, StationCode, Timestamp};
use tallylog_nats::submit::{Options, SubmitError};
use tallylog_tally::query::{self, QueryError};
use tallylog_tally::{views, Projection};

use crate::limits::{error, json_response};
use crate::App;

/// The largest request body read. Events above [`MAX_EVENT_BYTES`] are
/// refused with `too_large` either way; the margin lets an event followed by
/// a line break through to be judged.
pub const MAX_BODY_BYTES: usize = MAX_EVENT_BYTES + 2;

/// Entries per page of `/v1/entries`, at most.
pub const MAX_ENTRIES: u64 = 1000;

/// The views of the projection served under `/v1/VIEW`.
pub const VIEWS: [&str; 7] = [
    "status",
    "tallies",
    "missing",
    "compare",
    "anomalies",
    "complaints",
    "seats",
];

/// The HTTP status for a reason code (PROTOCOL.md §10).
pub fn status_for(code: &str) -> StatusCode {
    match code {
        "too_large" => StatusCode::PAYLOAD_TOO_LARGE,
        c if DECODING_CODES.contains(&c) || c == "wrong_signer" => StatusCode::BAD_REQUEST,
        "unknown_key" | "revoked_key" | "wrong_role" | "not_root" | "weak_key" | "not_same_org" => {
            StatusCode::FORBIDDEN
        }
        "seq_gap"
        | "replayed_seq"
        | "prev_mismatch"
        | "election_exists"
        | "key_exists"
        | "already_revoked"
        | "already_superseded"
        | "duplicate_definition" => StatusCode::CONFLICT,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

fn rejected(code: &str, message: String) -> Response {
    let reply = Reply::Rejected {
        id: None,
        code: code.to_owned(),
        message,
    };
    json_response(status_for(code), &reply)
}

/// `POST /v1/submissions`: one signed event (the exact bytes its publisher
/// signed, optionally followed by one line break). The answer comes after the
/// ledger has made the event durable, or refused it.
pub async fn submit(State(app): State<Arc<App>>, body: Result<Bytes, BytesRejection>) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            app.metrics.submission("too_large");
            return rejected(
                "too_large",
                format!("the event is larger than {MAX_EVENT_BYTES} bytes"),
            );
        }
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_request", &e.body_text()),
    };
    // One line ending may follow the event: LF or CR LF (PROTOCOL §15), not
    // a lone CR.
    let bytes = match body.strip_suffix(b"\n") {
        Some(b) => b.strip_suffix(b"\r").unwrap_or(b),
        None => &body[..],
    };
    let event = match SignedEvent::decode(bytes) {
        Ok(e) => e,
        Err(e) => {
            app.metrics.submission(e.code());
            return rejected(e.code(), e.to_string());
        }
    };
    // The ledger checks the signature again; checking it here keeps forged
    // events off the intake stream.
    if let Err(e) = event.clone().verify() {
        app.metrics.submission(e.code());
        return rejected(e.code(), e.to_string());
    }
    let Ok(_place) = app.submissions.try_acquire() else {
        app.metrics.submission("busy");
        let mut r = error(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "the gateway has as many submissions awaiting the ledger as it takes; try again in a second",
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        return r;
    };
    let opts = Options {
        in_flight: 1,
        reply_timeout: Duration::from_secs(5),
        attempts: 3,
        pace: None,
    };
    let payload = vec![(
        bytes::Bytes::copy_from_slice(event.bytes()),
        Some(event.id()),
        app.names.submit(event.kind()),
    )];
    let reply = app
        .submitter
        .submit_raw(payload, &opts, |_, _| {})
        .await
        .into_iter()
        .next();
    match reply {
        Some(Ok(r @ Reply::Accepted { .. })) => {
            app.metrics.submission("accepted");
            json_response(StatusCode::OK, &r)
        }
        Some(Ok(r @ Reply::Rejected { .. })) => {
            let Reply::Rejected { code, .. } = &r else {
                unreachable!()
            };
            app.metrics.submission(code);
            json_response(status_for(code), &r)
        }
        Some(Ok(Reply::Unknown { .. })) | None => error(
            StatusCode::BAD_GATEWAY,
            "ledger_confused",
            "the ledger's answer was not a verdict on this event; submit it again",
        ),
        Some(Err(e @ (SubmitError::NoReply(_) | SubmitError::Nats(_)))) => {
            app.metrics.submission("unavailable");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "ledger_unavailable",
                &format!("{e}; submitting the same event again is safe"),
            )
        }
        Some(Err(e)) => error(StatusCode::BAD_GATEWAY, "ledger_error", &e.to_string()),
    }
}

/// `GET /v1/checkpoint` and `GET /checkpoint`: the newest signed checkpoint
/// the gateway has checked, with its witnesses' cosignatures.
pub async fn checkpoint(State(app): State<Arc<App>>) -> Response {
    match app.latest() {
        Some(l) => (
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            l.note,
        )
            .into_response(),
        None => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_checkpoint",
            "no checkpoint has been checked yet; try again shortly",
        ),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range {
    #[serde(default)]
    from: u64,
    #[serde(default)]
    limit: Option<u64>,
}

/// `GET /v1/entries?from=N&limit=M`: entries `N..N+M` as JSON lines (each
/// line the entry's exact bytes, PROTOCOL.md §4).
pub async fn entries(
    State(app): State<Arc<App>>,
    range: Result<Query<Range>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Query(range) = match range {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_query", &e.body_text()),
    };
    let limit = range.limit.unwrap_or(100).min(MAX_ENTRIES);
    let to = range.from.saturating_add(limit);
    let app2 = app.clone();
    let read = tokio::task::spawn_blocking(move || app2.follower.entries(range.from, to)).await;
    match read {
        Ok(Ok(rows)) => {
            let mut body = Vec::new();
            for (_, bytes) in rows {
                body.extend_from_slice(&bytes);
                body.push(b'\n');
            }
            (
                [
                    (header::CONTENT_TYPE, "application/x-ndjson".to_owned()),
                    (
                        header::HeaderName::from_static("tallylog-size"),
                        app.follower.size().to_string(),
                    ),
                ],
                body,
            )
                .into_response()
        }
        _ => storage_error(),
    }
}

/// `GET /v1/entries/N`: one entry's exact bytes.
pub async fn entry(State(app): State<Arc<App>>, Path(index): Path<String>) -> Response {
    let Ok(index) = index.parse::<u64>() else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_index",
            "an entry index is a decimal number",
        );
    };
    let size = app.follower.size();
    if index >= size {
        return error(
            StatusCode::NOT_FOUND,
            "no_such_entry",
            &format!(
                "the log holds {size} entries (0 to {})",
                size.saturating_sub(1)
            ),
        );
    }
    match app.follower.entries(index, index + 1) {
        Ok(mut rows) if rows.len() == 1 => {
            let (_, bytes) = rows.remove(0);
            ([(header::CONTENT_TYPE, "application/json")], bytes.to_vec()).into_response()
        }
        _ => storage_error(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionParams {
    index: u64,
    #[serde(default)]
    size: Option<u64>,
}

fn hexes(hashes: &[merkle::Hash]) -> Vec<String> {
    hashes.iter().map(|h| hex::encode(h.0)).collect()
}

/// Refuses a tree size beyond the log the gateway holds.
#[allow(clippy::result_large_err)] // the error is the response itself
fn held(app: &App, size: u64) -> Result<(), Response> {
    let held = app.follower.size();
    if size > held {
        return Err(error(
            StatusCode::NOT_FOUND,
            "beyond_log",
            &format!("the log held here has {held} entries, not {size}"),
        ));
    }
    Ok(())
}

fn storage_error() -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "storage",
        "the gateway could not read its copy of the log",
    )
}

/// The size proofs are against when none is named: the checkpoint's.
fn default_size(app: &App) -> u64 {
    app.latest().map_or_else(|| app.follower.size(), |l| l.size)
}

/// `GET /v1/proofs/inclusion?index=I[&size=N]`: the RFC 6962 inclusion proof
/// of entry `I` in the tree of size `N` (by default the checkpoint's).
pub async fn inclusion(
    State(app): State<Arc<App>>,
    params: Result<Query<InclusionParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Query(p) = match params {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_query", &e.body_text()),
    };
    let size = p.size.unwrap_or_else(|| default_size(&app));
    if let Err(r) = held(&app, size) {
        return r;
    }
    if p.index >= size {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_index",
            &format!("entry {} is not in a tree of {size} entries", p.index),
        );
    }
    let leaf = match app.follower.entries(p.index, p.index + 1) {
        Ok(rows) if rows.len() == 1 => record_hash(&rows[0].1),
        _ => return storage_error(),
    };
    let tree = app.follower.tree();
    let proof = merkle::prove_inclusion(size, p.index, &*tree);
    let root = tree.root_at(size);
    drop(tree);
    match (proof, root) {
        (Ok(proof), Ok(root)) => json_response(
            StatusCode::OK,
            &json!({
                "index": p.index,
                "size": size,
                "leaf": hex::encode(leaf.0),
                "root": hex::encode(root.0),
                "proof": hexes(&proof),
            }),
        ),
        _ => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "proof",
            "the proof could not be made",
        ),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyParams {
    old: u64,
    #[serde(default)]
    new: Option<u64>,
}

/// `GET /v1/proofs/consistency?old=M[&new=N]`: the RFC 6962 consistency
/// proof from the tree of size `M` to that of size `N` (by default the
/// checkpoint's).
pub async fn consistency(
    State(app): State<Arc<App>>,
    params: Result<Query<ConsistencyParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Query(p) = match params {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_query", &e.body_text()),
    };
    let new = p.new.unwrap_or_else(|| default_size(&app));
    if let Err(r) = held(&app, new) {
        return r;
    }
    if p.old > new {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_range",
            &format!("old ({}) must not exceed new ({new})", p.old),
        );
    }
    let tree = app.follower.tree();
    let proof = merkle::prove_consistency(new, p.old, &*tree);
    let roots = (tree.root_at(p.old), tree.root_at(new));
    drop(tree);
    match (proof, roots) {
        (Ok(proof), (Ok(old_root), Ok(new_root))) => json_response(
            StatusCode::OK,
            &json!({
                "old": p.old,
                "new": new,
                "old_root": hex::encode(old_root.0),
                "new_root": hex::encode(new_root.0),
                "proof": hexes(&proof),
            }),
        ),
        _ => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "proof",
            "the proof could not be made",
        ),
    }
}

/// `GET /v1/VIEW?…`: a view of the projection (the projector's query,
/// PROTOCOL.md §9, with the query string as its parameters).
pub async fn view(
    State(app): State<Arc<App>>,
    Path(view): Path<String>,
    params: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if !VIEWS.contains(&view.as_str()) {
        return not_found().await;
    }
    let Query(params) = match params {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_query", &e.body_text()),
    };
    let mut q = Map::new();
    q.insert("view".to_owned(), Value::String(view));
    for (k, v) in params {
        let value = if k == "offset" || k == "limit" {
            match v.parse::<u64>() {
                Ok(n) => Value::from(n),
                Err(_) => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "bad_query",
                        &format!("{k} must be a whole number, not {v:?}"),
                    )
                }
            }
        } else {
            Value::String(v)
        };
        q.insert(k, value);
    }
    answer(app, Value::Object(q)).await
}

/// `GET /v1/stations/CODE`: every version of every source's form for one
/// station, the comparison of sources and its anomalies.
pub async fn station(State(app): State<Arc<App>>, Path(code): Path<String>) -> Response {
    answer(app, json!({"view": "station", "station": code})).await
}

async fn answer(app: Arc<App>, q: Value) -> Response {
    let q: query::Query = match serde_json::from_value(q) {
        Ok(q) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_query", &e.to_string()),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let clock = Timestamp::from_unix(now)
        .unwrap_or_else(|_| Timestamp::from_unix(0).expect("invariant: the epoch is a valid time"));
    let answered = tokio::task::spawn_blocking(move || {
        let p = app.follower.projection();
        query::answer(&p, &q, clock)
    })
    .await;
    match answered {
        Ok(Ok(v)) => json_response(StatusCode::OK, &v),
        Ok(Err(QueryError::NoElection)) => error(
            StatusCode::NOT_FOUND,
            "no_election",
            "the log has no election definition yet",
        ),
        Ok(Err(e)) => error(StatusCode::NOT_FOUND, "not_found", &e.to_string()),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the query failed inside the gateway",
        ),
    }
}

/// `GET /healthz`: 200 while the gateway follows a log consistent with the
/// ledger's checkpoints, 503 once it has seen otherwise. `ledger` says
/// whether the ledger answered the gateway's last request (so submissions
/// can go through).
pub async fn healthz(State(app): State<Arc<App>>) -> Response {
    let trouble = app.trouble.read().expect("lock").clone();
    let status = if trouble.is_some() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    json_response(
        status,
        &json!({
            "status": if trouble.is_some() { "trouble" } else { "ok" },
            "size": app.follower.size(),
            "checkpoint": app.latest().map(|l| l.size),
            "ledger": app.ledger_up.load(std::sync::atomic::Ordering::Relaxed),
            "trouble": trouble,
        }),
    )
}

/// `GET /openapi.json`: the OpenAPI 3.1 description of this API.
pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// The OpenAPI document served at `/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

pub async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such resource; /openapi.json lists them",
    )
}

/// `GET /v1/election`: the election definition the log opens with (name,
/// parties with their names, contests, deadlines, the log's origin and key),
/// with its id and the sources that have published forms so far. The portal
/// names parties and offers sources from it on every page; `/v1/status`
/// says the same about sources but also hashes the whole projection, which
/// takes seconds for a large election.
pub async fn election(State(app): State<Arc<App>>) -> Response {
    let answered = tokio::task::spawn_blocking(move || {
        let p = app.follower.projection();
        let (id, def) = p.election()?;
        let mut v = serde_json::to_value(def).ok()?;
        v["id"] = json!(id);
        v["sources"] = p
            .sources()
            .iter()
            .map(|(s, n)| json!({"source": s, "name": s.to_string(), "forms": n}))
            .collect();
        Some(json!({ "size": p.size(), "answer": v }))
    })
    .await;
    match answered {
        Ok(Some(v)) => json_response(StatusCode::OK, &v),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            "no_election",
            "the log has no election definition yet",
        ),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the query failed inside the gateway",
        ),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionParams {
    #[serde(default)]
    offset: usize,
    #[serde(default)]
    limit: Option<usize>,
}

/// `GET /v1/regions`: the whole election as a region: its provinces.
pub async fn regions(
    State(app): State<Arc<App>>,
    params: Result<Query<RegionParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    region_answer(app, None, params).await
}

/// `GET /v1/regions/CODE`: one region of the geography (or one station):
/// its name, the names of the regions above it, how many stations it holds,
/// its seats, and its children one level down with their names and station
/// counts (paged). Enough to draw a drill-down without ever listing every
/// station of the election.
pub async fn region(
    State(app): State<Arc<App>>,
    Path(code): Path<String>,
    params: Result<Query<RegionParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    match code.parse::<RegionCode>() {
        Ok(code) => region_answer(app, Some(code), params).await,
        Err(e) => error(StatusCode::BAD_REQUEST, "bad_region", &e),
    }
}

async fn region_answer(
    app: Arc<App>,
    code: Option<RegionCode>,
    params: Result<Query<RegionParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Query(page) = match params {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_query", &e.body_text()),
    };
    let answered = tokio::task::spawn_blocking(move || {
        let p = app.follower.projection();
        p.election()?;
        region_view(&p, code.as_ref(), &page)
    })
    .await;
    match answered {
        Ok(Some(v)) => json_response(StatusCode::OK, &v),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            "no_such_region",
            "the geography published so far has no such region or station",
        ),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the query failed inside the gateway",
        ),
    }
}

/// The answer of `/v1/regions[/CODE]`, or `None` if the geography knows
/// nothing of `code`.
fn region_view(p: &Projection, code: Option<&RegionCode>, page: &RegionParams) -> Option<Value> {
    let name = |r: &RegionCode| p.regions().get(r).map(|i| &i.name);
    let station = code.and_then(|c| c.as_str().parse::<StationCode>().ok());
    let (level, stations, registered) = match (code, &station) {
        (None, _) => (Level::National, p.station_count(None), None),
        (Some(_), Some(s)) => {
            let registered = *p.stations().get(s)?;
            (Level::Station, 1, Some(registered))
        }
        (Some(c), None) => {
            let n = p.station_count(Some(c));
            if n == 0 && name(c).is_none() {
                return None;
            }
            (c.level(), n, None)
        }
    };
    let mut path = Vec::new();
    let mut up = code.and_then(|c| c.parent());
    while let Some(r) = up {
        path.push(json!({"region": r, "name": name(&r)}));
        up = r.parent();
    }
    path.reverse();
    let child_level = match level {
        Level::National => Some(Level::Province),
        Level::Province => Some(Level::District),
        Level::District => Some(Level::Commune),
        Level::Commune => Some(Level::Station),
        Level::Station => None,
    };
    let children: Vec<Value> = child_level
        .map(|l| views::regions_at(p, l, code))
        .unwrap_or_default()
        .into_iter()
        .map(|r| match r.as_str().parse::<StationCode>() {
            Ok(s) => json!({
                "region": r,
                "name": null,
                "stations": 1,
                "registered": p.stations().get(&s),
            }),
            Err(_) => json!({
                "region": r,
                "name": name(&r),
                "stations": p.station_count(Some(&r)),
            }),
        })
        .collect();
    let total = children.len();
    let limit = page.limit.unwrap_or(1_000).min(query::MAX_LIMIT);
    let rows: Vec<Value> = children.into_iter().skip(page.offset).take(limit).collect();
    let seats = code
        .and_then(|c| p.regions().get(c))
        .map(|i| json!(i.seats))
        .unwrap_or_else(|| json!({}));
    Some(json!({
        "size": p.size(),
        "answer": {
            "region": code,
            "level": level,
            "name": match code {
                Some(c) => json!(name(c)),
                None => json!(p.election().map(|(_, d)| &d.name)),
            },
            "stations": stations,
            "registered": registered,
            "seats": seats,
            "path": path,
            "children": {
                "level": child_level,
                "total": total,
                "offset": page.offset,
                "rows": rows,
            },
        },
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MismatchParams {
    b: String,
    #[serde(default)]
    a: Option<String>,
    #[serde(default)]
    contest: Option<String>,
    #[serde(default)]
    within: Option<String>,
    #[serde(default)]
    offset: usize,
    #[serde(default)]
    limit: Option<usize>,
}

/// `GET /v1/mismatches?b=SOURCE[&a=SOURCE][&within=R]`: only the stations
/// where both sources published and their figures differ, with the
/// differences (paged). `/v1/compare` lists every station that is not a
/// match, including those only one source published; in a large election
/// those are most of the list, and a reader looking for disputed figures
/// would page through thousands of them to find the few that differ.
pub async fn mismatches(
    State(app): State<Arc<App>>,
    params: Result<Query<MismatchParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Query(m) = match params {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_query", &e.body_text()),
    };
    let within = match m.within.as_deref().map(str::parse::<RegionCode>) {
        None => None,
        Some(Ok(r)) => Some(r),
        Some(Err(e)) => return error(StatusCode::BAD_REQUEST, "bad_region", &e),
    };
    let answered = tokio::task::spawn_blocking(move || {
        let p = app.follower.projection();
        let (_, def) = p.election().ok_or(QueryError::NoElection)?;
        let contest = match &m.contest {
            Some(id) => def.contests.iter().find(|c| c.id.as_str() == id),
            None => def.contests.first(),
        }
        .ok_or_else(|| QueryError::Unknown(format!("no contest {:?}", m.contest)))?;
        let a = query::source_of(&p, m.a.as_deref())?;
        let b = query::source_of(&p, Some(&m.b))?;
        let cmp = views::compare(&p, &contest.id, &a, &b, Level::National, within.as_ref());
        let rows: Vec<_> = cmp
            .stations
            .into_iter()
            .filter(|s| s.verdict == views::Verdict::Mismatch)
            .collect();
        let total = rows.len();
        let limit = m.limit.unwrap_or(1_000).min(query::MAX_LIMIT);
        let rows: Vec<_> = rows.into_iter().skip(m.offset).take(limit).collect();
        Ok::<_, QueryError>(json!({
            "size": p.size(),
            "answer": {
                "contest": contest.id,
                "a": cmp.a,
                "b": cmp.b,
                "overall": cmp.overall,
                "total": total,
                "offset": m.offset,
                "rows": rows,
            },
        }))
    })
    .await;
    match answered {
        Ok(Ok(v)) => json_response(StatusCode::OK, &v),
        Ok(Err(QueryError::NoElection)) => error(
            StatusCode::NOT_FOUND,
            "no_election",
            "the log has no election definition yet",
        ),
        Ok(Err(e)) => error(StatusCode::NOT_FOUND, "not_found", &e.to_string()),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the query failed inside the gateway",
        ),
    }
}

//! The gateway over real sockets: a real nats-server (started per test on a
//! free port), a real ledger with sled on disk, the gateway on a free port,
//! and a plain HTTP client.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::time::{Duration, Instant};

use serde_json::Value;
use tallylog_core::checkpoint::LogVerifier;
use tallylog_core::entry::Entry;
use tallylog_core::event::{Kind, VerifiedEvent};
use tallylog_core::keys::test_key;
use tallylog_core::merkle::{self, record_hash, Hash};
use tallylog_core::receipt::Receipt;
use tallylog_core::sample;
use tallylog_core::types::LogIndex;
use tlog_tiles::tile::{Tile, TileHashReader, TileReader};

mod common;
use common::{agent, start, Stack};

impl Stack {
    #[allow(clippy::result_large_err)] // ureq's own error type, in a test
    fn get(&self, path: &str) -> Result<ureq::Response, ureq::Error> {
        agent().get(&format!("{}{path}", self.http)).call()
    }

    fn json(&self, path: &str) -> Value {
        let r = self.get(path).unwrap_or_else(|e| panic!("GET {path}: {e}"));
        serde_json::from_reader(r.into_reader()).unwrap()
    }

    fn post(&self, body: &[u8]) -> (u16, Value) {
        let r = agent()
            .post(&format!("{}/v1/submissions", self.http))
            .set("Content-Type", "application/json")
            .send_bytes(body);
        let r = match r {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("POST: {e}"),
        };
        let status = r.status();
        (status, serde_json::from_reader(r.into_reader()).unwrap())
    }

    /// Waits until the gateway holds `size` entries and a checkpoint of that
    /// size; returns the checkpoint note.
    fn wait_for(&self, size: u64) -> Vec<u8> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let h = self.json("/healthz");
            if h["size"] == size && h["checkpoint"] == size {
                let mut note = Vec::new();
                self.get("/checkpoint")
                    .unwrap()
                    .into_reader()
                    .read_to_end(&mut note)
                    .unwrap();
                return note;
            }
            assert!(
                Instant::now() < deadline,
                "the gateway never reached {size}: {h}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn verifier() -> LogVerifier {
    sample::log_signer().verifier()
}

fn unhex(s: &Value) -> Hash {
    Hash(
        hex::decode(s.as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap(),
    )
}

#[test]
fn submissions_over_http_get_receipts_that_verify_and_bad_ones_clear_errors() {
    let stack = start(Default::default());
    let events = sample::events();
    let log = verifier();
    let mut receipts = Vec::new();
    for ev in &events {
        let mut body = ev.event().bytes().to_vec();
        body.push(b'\n');
        let (status, reply) = stack.post(&body);
        assert_eq!(status, 200, "{reply}");
        assert_eq!(reply["status"], "accepted");
        let receipt = Receipt::decode(reply["receipt"].as_str().unwrap()).unwrap();
        let cp = receipt.verify(ev.event(), &log).unwrap();
        assert!(cp.size() > reply["index"].as_u64().unwrap());
        receipts.push(reply);
    }
    // The same event again: the same receipt, nothing added.
    let (status, again) = stack.post(events[3].event().bytes());
    assert_eq!(status, 200);
    assert_eq!(again, receipts[3]);
    let size = events.len() as u64;
    stack.wait_for(size);

    // Each bad submission is refused with its reason and status.
    let good = events.last().unwrap().event().bytes().to_vec();
    let mut flipped = good.clone();
    let sig_at = flipped.len() - 10;
    flipped[sig_at] = if flipped[sig_at] == b'0' { b'1' } else { b'0' };
    let stranger =
        tallylog_core::publisher::Publisher::new(test_key(99), sample::ELECTION.parse().unwrap())
            .sign(
                "2023-07-23T12:00:00Z".parse().unwrap(),
                tallylog_core::event::Payload::Result(sample::form(
                    "01/01/01/0001",
                    700,
                    [1, 2, 3],
                    0,
                )),
            )
            .unwrap();
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("not JSON", b"{\"body\":".to_vec(), 400, "malformed_json"),
        ("a flipped signature", flipped, 400, "bad_signature"),
        ("65 kB", vec![b' '; 70_000], 413, "too_large"),
        (
            "an unknown key",
            stranger.event().bytes().to_vec(),
            403,
            "unknown_key",
        ),
        (
            "an authority event replayed with another body",
            sample::more_results(
                &mut tallylog_core::publisher::Publisher::new(
                    test_key(sample::AUTHORITY_KEY),
                    sample::ELECTION.parse().unwrap(),
                ),
                1,
            )[0]
            .event()
            .bytes()
            .to_vec(),
            409,
            "replayed_seq",
        ),
    ];
    for (what, body, status, code) in cases {
        let (got, reply) = stack.post(&body);
        assert_eq!(
            (got, reply["code"].as_str().unwrap()),
            (status, code),
            "{what}: {reply}"
        );
        assert_eq!(reply["status"], "rejected", "{what}");
        assert!(!reply["message"].as_str().unwrap().is_empty());
    }
    let h = stack.json("/healthz");
    assert_eq!(h["size"], size, "nothing refused was added");
    assert_eq!(
        (&h["status"], &h["ledger"]),
        (&"ok".into(), &true.into()),
        "{h}"
    );
    let metrics = stack.get("/metrics").unwrap().into_string().unwrap();
    assert!(
        metrics.contains("tallylog_submissions_total{outcome=\"too_large\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!("tallylog_log_entries {size}")),
        "{metrics}"
    );
}

/// Reads c2sp tiles from the gateway, as a tile client does.
struct HttpTiles<'a>(&'a Stack);

impl TileReader for HttpTiles<'_> {
    fn height(&self) -> u8 {
        8
    }
    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, tlog_tiles::tlog::Error> {
        Ok(tiles
            .iter()
            .map(|t| {
                let mut data = Vec::new();
                self.0
                    .get(&format!("/tile/{}", tallylog_gateway::tiles::path(t)))
                    .unwrap()
                    .into_reader()
                    .read_to_end(&mut data)
                    .unwrap();
                data
            })
            .collect())
    }
    fn save_tiles(&self, _: &[Tile], _: &[Vec<u8>]) {}
}

#[test]
fn proofs_and_tiles_from_the_gateway_rebuild_the_signed_root() {
    let stack = start(Default::default());
    let mut events = sample::events();
    let mut authority = sample::continue_after_sample(sample::AUTHORITY_KEY);
    events.extend(sample::more_results(&mut authority, 600));
    stack.submit_nats(&events);
    let size = events.len() as u64;
    let note = stack.wait_for(size);
    let cp = verifier().verify(&note).unwrap();
    assert_eq!(cp.size(), size);

    // Inclusion proofs against the checkpoint, for entries across the log.
    for index in [0, 1, 255, 256, 300, size - 1] {
        let p = stack.json(&format!("/v1/proofs/inclusion?index={index}"));
        let entry = stack.get(&format!("/v1/entries/{index}")).unwrap();
        let mut bytes = Vec::new();
        entry.into_reader().read_to_end(&mut bytes).unwrap();
        let e = Entry::decode(&bytes).unwrap();
        assert_eq!(e.index(), LogIndex(index));
        assert_eq!(e.event().id(), events[index as usize].id());
        let proof: Vec<Hash> = p["proof"].as_array().unwrap().iter().map(unhex).collect();
        merkle::check_inclusion(&proof, cp.size(), cp.root(), index, record_hash(&bytes))
            .unwrap_or_else(|e| panic!("entry {index}: {e}"));
        // The same proof does not prove another entry.
        assert!(merkle::check_inclusion(
            &proof,
            cp.size(),
            cp.root(),
            index,
            record_hash(b"another entry")
        )
        .is_err());
    }
    // A consistency proof from an earlier size to the checkpoint.
    let c = stack.json("/v1/proofs/consistency?old=100");
    let proof: Vec<Hash> = c["proof"].as_array().unwrap().iter().map(unhex).collect();
    merkle::check_consistency(&proof, cp.size(), cp.root(), 100, unhex(&c["old_root"])).unwrap();

    // A tile client rebuilds the root from hash tiles alone.
    let tiles = HttpTiles(&stack);
    let reader = TileHashReader::new(cp.size(), cp.root(), &tiles);
    let root = tlog_tiles::tlog::tree_hash(cp.size(), &reader).unwrap();
    assert_eq!(root, cp.root());
    // Entry bundles hold every entry; their hashes are the level-0 tiles'.
    let mut bundle = Vec::new();
    let mut n = 0;
    while n * 256 < size {
        let width = (size - n * 256).min(256);
        let path = if width == 256 {
            format!("/tile/entries/{n:03}")
        } else {
            format!("/tile/entries/{n:03}.p/{width}")
        };
        stack
            .get(&path)
            .unwrap()
            .into_reader()
            .read_to_end(&mut bundle)
            .unwrap();
        n += 1;
    }
    let mut leaves = Vec::new();
    let mut rest = &bundle[..];
    while !rest.is_empty() {
        let len = u16::from_be_bytes([rest[0], rest[1]]) as usize;
        let e = Entry::decode(&rest[2..2 + len]).unwrap();
        assert_eq!(e.index().0, leaves.len() as u64);
        leaves.push(record_hash(&rest[2..2 + len]));
        rest = &rest[2 + len..];
    }
    let mut tree = merkle::MemoryTree::new();
    for l in &leaves {
        tree.push(*l);
    }
    assert_eq!(tree.root(), cp.root());

    // Tiles beyond the log, bad paths, bad ranges: clear errors.
    for (path, status, code) in [
        ("/tile/entries/005", 404, "no_such_tile"),
        ("/tile/0/x001/000", 404, "no_such_tile"),
        ("/tile/0/1", 400, "bad_tile_path"),
        ("/tile/0/000.p/0", 400, "bad_tile_path"),
        ("/v1/proofs/inclusion?index=99999", 400, "bad_index"),
        ("/v1/proofs/inclusion?index=1&size=99999", 404, "beyond_log"),
        ("/v1/proofs/consistency?old=9&new=5", 400, "bad_range"),
        ("/v1/proofs/inclusion?index=x", 400, "bad_query"),
        ("/v1/entries/99999", 404, "no_such_entry"),
        ("/v1/nothing", 404, "not_found"),
    ] {
        match stack.get(path) {
            Err(ureq::Error::Status(s, r)) => {
                let v: Value = serde_json::from_reader(r.into_reader()).unwrap();
                assert_eq!(
                    (s, v["error"]["code"].as_str().unwrap()),
                    (status, code),
                    "{path}"
                );
            }
            other => panic!("{path}: {:?}", other.map(|r| r.status())),
        }
    }
    // Entries by range, as JSON lines.
    let page = stack
        .get("/v1/entries?from=250&limit=10")
        .unwrap()
        .into_string()
        .unwrap();
    let indexes: Vec<u64> = page
        .lines()
        .map(|l| Entry::decode(l.as_bytes()).unwrap().index().0)
        .collect();
    assert_eq!(indexes, (250..260).collect::<Vec<_>>());
}

/// One server-sent event.
#[derive(Debug, Default)]
struct Sse {
    id: Option<String>,
    event: Option<String>,
    data: String,
}

/// Reads events until `stop` says so; returns them.
fn read_sse(r: &mut impl BufRead, mut stop: impl FnMut(&Sse) -> bool) -> Vec<Sse> {
    let mut out = Vec::new();
    let mut cur = Sse::default();
    let mut line = String::new();
    loop {
        line.clear();
        assert!(r.read_line(&mut line).unwrap() > 0, "the stream ended");
        let l = line.trim_end_matches('\n');
        if l.is_empty() {
            let done = stop(&cur);
            out.push(std::mem::take(&mut cur));
            if done {
                return out;
            }
        } else if let Some(v) = l.strip_prefix("id: ") {
            cur.id = Some(v.to_owned());
        } else if let Some(v) = l.strip_prefix("event: ") {
            cur.event = Some(v.to_owned());
        } else if let Some(v) = l.strip_prefix("data: ") {
            if !cur.data.is_empty() {
                cur.data.push('\n');
            }
            cur.data.push_str(v);
        }
    }
}

#[test]
fn a_live_stream_resumes_after_a_disconnect_with_no_gap_and_no_duplicate() {
    let stack = start(Default::default());
    let first = sample::events();
    stack.submit_nats(&first);
    stack.wait_for(first.len() as u64);
    let mut authority = sample::continue_after_sample(sample::AUTHORITY_KEY);
    let more = sample::more_results(&mut authority, 300);

    // Results in district 01/01, from the start of the log.
    let wanted = |ev: &VerifiedEvent| {
        ev.kind() == Kind::Result
            && matches!(&ev.body().payload, tallylog_core::event::Payload::Result(f)
                if f.station.to_string().starts_with("01/01/"))
    };
    let all: Vec<&VerifiedEvent> = first.iter().chain(more.iter()).collect();
    let expected: Vec<u64> = all
        .iter()
        .enumerate()
        .filter(|(_, e)| wanted(e))
        .map(|(i, _)| i as u64)
        .collect();
    assert!(expected.len() > 250);

    let open = |last: Option<&str>| {
        let mut req = agent().get(&format!(
            "{}/v1/stream?region=01/01&kind=result&from=0",
            stack.http
        ));
        if let Some(id) = last {
            req = req.set("Last-Event-ID", id);
        }
        let r = req.call().unwrap();
        assert_eq!(r.header("content-type"), Some("text/event-stream"));
        BufReader::new(r.into_reader())
    };
    let mut got: Vec<u64> = Vec::new();
    let mut last_id: Option<String> = None;
    let take = |events: Vec<Sse>, got: &mut Vec<u64>, last_id: &mut Option<String>| {
        for e in events {
            if let Some(id) = &e.id {
                *last_id = Some(id.clone());
            }
            if e.event.as_deref() == Some("entry") {
                let entry = Entry::decode(e.data.as_bytes()).unwrap();
                assert_eq!(Some(entry.index().0.to_string()), e.id);
                got.push(entry.index().0);
            } else if e.event.as_deref() == Some("checkpoint") {
                verifier().verify(e.data.as_bytes()).unwrap();
            }
        }
    };
    // The stream starts with the checkpoint, then the sample's results.
    let mut r = open(None);
    let before = expected.iter().filter(|&&i| i < first.len() as u64).count();
    let events = read_sse(&mut r, |e| {
        e.event.as_deref() == Some("entry")
            && e.id.as_deref() == Some(&expected[before - 1].to_string())
    });
    take(events, &mut got, &mut last_id);
    // Submissions go on while the client is connected; it reads some, then
    // its connection drops mid-stream.
    let (part1, part2) = more.split_at(150);
    stack.submit_nats(part1);
    let events = read_sse(&mut r, |e| {
        e.event.as_deref() == Some("entry")
            && e.id
                .as_deref()
                .is_some_and(|i| i.parse::<u64>().unwrap() >= first.len() as u64 + 50)
    });
    take(events, &mut got, &mut last_id);
    drop(r);
    stack.submit_nats(part2);
    stack.wait_for(all.len() as u64);
    // It comes back with the last id it saw and reads to the end.
    let mut r = open(last_id.as_deref());
    let last = *expected.last().unwrap();
    let events = read_sse(&mut r, |e| {
        e.event.as_deref() == Some("entry") && e.id.as_deref() == Some(&last.to_string())
    });
    take(events, &mut got, &mut last_id);
    assert_eq!(got, expected, "every wanted entry once, in order");
    let unique: BTreeSet<u64> = got.iter().copied().collect();
    assert_eq!(unique.len(), got.len());

    // A bad filter or resume point is refused with a reason.
    for q in ["kind=nonsense", "region=..%2F..", "from=x"] {
        match stack.get(&format!("/v1/stream?{q}")) {
            Err(ureq::Error::Status(400, r)) => {
                let v: Value = serde_json::from_reader(r.into_reader()).unwrap();
                assert_eq!(v["error"]["code"], "bad_query", "{q}");
            }
            other => panic!("{q}: {:?}", other.map(|r| r.status())),
        }
    }
}

#[test]
fn tallies_and_stations_are_served_and_the_api_is_described_and_limited() {
    let stack = start(tallylog_gateway::Limits {
        requests_per_second: 2.0,
        burst: 150.0,
        ..Default::default()
    });
    let events = sample::events();
    stack.submit_nats(&events);
    stack.wait_for(events.len() as u64);

    let status = stack.json("/v1/status");
    assert_eq!(status["size"], events.len() as u64);
    assert_eq!(status["answer"]["election"]["id"], sample::ELECTION);
    let tallies = stack.json("/v1/tallies?level=province&source=official");
    assert!(
        tallies["answer"]["rows"]
            .as_array()
            .is_some_and(|r| !r.is_empty()),
        "{tallies}"
    );
    let station = events
        .iter()
        .find_map(|e| match &e.body().payload {
            tallylog_core::event::Payload::Result(f) => Some(f.station.to_string()),
            _ => None,
        })
        .unwrap();
    let s = stack.json(&format!("/v1/stations/{station}"));
    assert!(s["answer"].is_object(), "{s}");
    match stack.get("/v1/tallies?level=planet") {
        Err(ureq::Error::Status(400, r)) => {
            let v: Value = serde_json::from_reader(r.into_reader()).unwrap();
            assert_eq!(v["error"]["code"], "bad_query");
        }
        other => panic!("{:?}", other.map(|r| r.status())),
    }

    // The OpenAPI document describes every route the gateway serves.
    let doc = stack.json("/openapi.json");
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/v1/submissions",
        "/v1/checkpoint",
        "/checkpoint",
        "/tile/{path}",
        "/v1/entries",
        "/v1/entries/{index}",
        "/v1/proofs/inclusion",
        "/v1/proofs/consistency",
        "/v1/stations/{station}",
        "/v1/stream",
        "/healthz",
        "/metrics",
        "/openapi.json",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain(
        tallylog_gateway::api::VIEWS
            .iter()
            .map(|v| format!("/v1/{v}")),
    ) {
        assert!(paths.contains_key(&p), "{p} is not documented");
    }

    // A client over its rate is told to wait.
    let mut limited = None;
    for _ in 0..500 {
        if let Err(ureq::Error::Status(429, r)) = stack.get("/healthz") {
            limited = Some(r);
            break;
        }
    }
    let r = limited.expect("the rate limit applies");
    assert!(r.header("retry-after").is_some());
    let v: Value = serde_json::from_reader(r.into_reader()).unwrap();
    assert_eq!(v["error"]["code"], "rate_limited");
}

#[test]
fn submissions_past_the_limit_in_flight_are_refused_with_retry_after() {
    // No place at all for submissions: every one is turned away at the door
    // (the same path a flood takes once the places are full).
    let stack = start(tallylog_gateway::Limits {
        max_submissions: 0,
        ..Default::default()
    });
    let r = agent()
        .post(&format!("{}/v1/submissions", stack.http))
        .send_bytes(sample::events()[0].event().bytes());
    match r {
        Err(ureq::Error::Status(503, r)) => {
            assert_eq!(r.header("retry-after"), Some("1"));
            let v: Value = serde_json::from_reader(r.into_reader()).unwrap();
            assert_eq!(v["error"]["code"], "busy");
        }
        other => panic!("{:?}", other.map(|r| r.status())),
    }
    assert_eq!(stack.json("/healthz")["size"], 0, "nothing was submitted");
}

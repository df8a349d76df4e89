//! The hostile-input corpus (`testdata/bad/`, see crates/core/tests/bad_corpus.rs)
//! over HTTP: every case is POSTed as it is to `/v1/submissions` of a real
//! gateway (in front of a real ledger and nats-server, on free ports) after
//! its prefix, and must get exactly the status and reason code the corpus
//! gives (PROTOCOL.md §15); afterwards the log holds only the prefix, and good
//! events still go through.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use tallylog_core::event::{SignedEvent, VerifiedEvent};
use tallylog_core::receipt::{Receipt, Reply};
use tallylog_core::sample;
use tallylog_nats::submit::{Options, Submitter};
use tallylog_nats::Names;

mod common;
use common::{agent, start, Stack};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/bad")
}

/// One case of the corpus, as this entry point needs it.
struct Case {
    name: String,
    prefix: String,
    bytes: Vec<u8>,
    /// The status and the reason code, or `accepted` for an event already
    /// in the log (answered with its original receipt).
    want: (u16, String),
}

fn corpus() -> Vec<Case> {
    let dir = corpus_dir();
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("cases.json")).unwrap()).unwrap();
    manifest["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            name: c["name"].as_str().unwrap().to_owned(),
            prefix: c["prefix"].as_str().unwrap().to_owned(),
            bytes: std::fs::read(dir.join(c["file"].as_str().unwrap())).unwrap(),
            want: (
                c["expect"]["http"]["status"].as_u64().unwrap() as u16,
                c["expect"]["http"]["code"].as_str().unwrap().to_owned(),
            ),
        })
        .collect()
}

impl Stack {
    /// POSTs `body` as a submission: the status and the reply object.
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
        (
            r.status(),
            serde_json::from_reader(r.into_reader()).unwrap(),
        )
    }

    /// Submits the sample over NATS, every event accepted in order.
    fn submit_prefix(&self, events: &[VerifiedEvent]) {
        let evs: Vec<SignedEvent> = events.iter().map(|e| e.event().clone()).collect();
        self.rt.block_on(async {
            let s = Submitter::connect(&self.url, Names::new(sample::ELECTION.parse().unwrap()))
                .await
                .unwrap();
            let opts = Options {
                in_flight: 64,
                reply_timeout: Duration::from_secs(20),
                attempts: 3,
                pace: None,
            };
            for (i, r) in s.submit(&evs, &opts, |_, _| {}).await.iter().enumerate() {
                match r {
                    Ok(Reply::Accepted { index, .. }) => assert_eq!(*index, i as u64),
                    other => panic!("sample event {i}: {other:?}"),
                }
            }
        });
    }

    /// Waits until the gateway's copy of the log holds `size` entries.
    fn wait_for(&self, size: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let h = self.healthz();
            if h["size"] == size {
                return h;
            }
            assert!(
                Instant::now() < deadline,
                "the gateway never saw {size}: {h}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// POSTs every case and checks each answer; returns the failures.
fn post_cases(stack: &Stack, cases: &[&Case]) -> Vec<String> {
    let mut failures = Vec::new();
    for c in cases {
        let (status, reply) = stack.post(&c.bytes);
        let got = match reply["status"].as_str() {
            Some("accepted") => "accepted",
            Some("rejected") => reply["code"].as_str().unwrap_or("?"),
            _ => "?",
        };
        if (status, got) != (c.want.0, c.want.1.as_str()) {
            failures.push(format!(
                "{}: want {} {}, got {status} {reply}",
                c.name, c.want.0, c.want.1
            ));
        }
        if got != "accepted" && reply["message"].as_str().is_none_or(str::is_empty) {
            failures.push(format!("{}: a rejection says why: {reply}", c.name));
        }
    }
    failures
}

#[test]
fn every_hostile_submission_gets_its_exact_status_and_code_over_http_and_changes_nothing() {
    let cases = corpus();
    assert!(cases.len() >= 50);
    // The corpus is posted from one address faster than a client may post;
    // the rate limit is not what is under test here.
    let stack = start(tallylog_gateway::Limits {
        requests_per_second: 1e6,
        burst: 1e6,
        ..Default::default()
    });

    // First what must be refused by an empty log.
    let empty: Vec<&Case> = cases.iter().filter(|c| c.prefix == "empty").collect();
    assert!(!empty.is_empty());
    let mut failures = post_cases(&stack, &empty);
    assert_eq!(stack.healthz()["size"], 0, "nothing entered the empty log");

    // Then the sample election, and what must be refused after it.
    let prefix = sample::events();
    stack.submit_prefix(&prefix);
    let size = prefix.len() as u64;
    stack.wait_for(size);
    let after: Vec<&Case> = cases.iter().filter(|c| c.prefix == "sample").collect();
    assert_eq!(
        empty.len() + after.len(),
        cases.len(),
        "every case has a known prefix"
    );
    failures.extend(post_cases(&stack, &after));
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Good events still go through, right after the sample, with receipts
    // that prove them.
    let log = sample::log_signer().verifier();
    let mut authority = sample::continue_after_sample(sample::AUTHORITY_KEY);
    let good = sample::more_results(&mut authority, 3);
    for (i, ev) in good.iter().enumerate() {
        let (status, reply) = stack.post(ev.bytes());
        assert_eq!(status, 200, "{reply}");
        assert_eq!(reply["index"], size + i as u64, "{reply}");
        let receipt = Receipt::decode(reply["receipt"].as_str().unwrap()).unwrap();
        receipt.verify(ev.event(), &log).unwrap();
    }
    let h = stack.wait_for(size + good.len() as u64);
    assert_eq!(h["ledger"], true, "{h}");
}

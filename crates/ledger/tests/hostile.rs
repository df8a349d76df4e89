//! The hostile-input corpus (`testdata/bad/`, see crates/core/tests/bad_corpus.rs)
//! over NATS: every case is published as it is to the intake stream of a real
//! ledger (a nats-server per test on a free port, sled on disk) after its
//! prefix, and must get exactly the reason code the corpus gives; afterwards
//! the log holds only the prefix, and good events still go through.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use tallylog_core::event::{Kind, SignedEvent};
use tallylog_core::keys::test_key;
use tallylog_core::receipt::Reply;
use tallylog_core::replay::Replay;
use tallylog_core::sample;
use tallylog_core::types::LogIndex;
use tallylog_ledger::Config;
use tallylog_nats::submit::{Options, Submitter};
use tallylog_nats::{LocalServer, Names};
use tallylog_store::Store;
use tokio_util::sync::CancellationToken;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/bad")
}

/// One case of the corpus, as this entry point needs it.
struct Case {
    name: String,
    prefix: String,
    bytes: Bytes,
    /// The ledger's answer: a reason code, or `accepted` for an event
    /// already in the log (answered with its original receipt).
    want: String,
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
            bytes: std::fs::read(dir.join(c["file"].as_str().unwrap()))
                .unwrap()
                .into(),
            want: c["expect"]["nats"].as_str().unwrap().to_owned(),
        })
        .collect()
}

struct Ledger {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), tallylog_ledger::LedgerError>>,
}

impl Ledger {
    /// Starts the ledger and waits until it answers (its streams exist).
    async fn start(url: &str, dir: &Path) -> Ledger {
        let shutdown = CancellationToken::new();
        let config = Config {
            nats_url: url.to_owned(),
            election: sample::ELECTION.parse().unwrap(),
            data_dir: dir.to_owned(),
            log_key: test_key(sample::LOG_KEY),
            origin: sample::ORIGIN.parse().unwrap(),
            max_batch: 256,
            witnesses: Vec::new(),
            quorum: 0,
        };
        let task = tokio::spawn(tallylog_ledger::run(config, shutdown.clone()));
        let client = async_nats::connect(url).await.unwrap();
        for _ in 0..400 {
            if client.request(names().stats(), "".into()).await.is_ok() {
                return Ledger { shutdown, task };
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the ledger did not start");
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }
}

fn names() -> Names {
    Names::new(sample::ELECTION.parse().unwrap())
}

fn opts() -> Options {
    Options {
        in_flight: 64,
        reply_timeout: Duration::from_secs(20),
        attempts: 3,
        pace: None,
    }
}

fn outcome(reply: &Reply) -> &str {
    match reply {
        Reply::Accepted { .. } => "accepted",
        Reply::Rejected { code, .. } => code,
        Reply::Unknown { .. } => "unknown",
    }
}

/// Publishes every case as it is, all at once, and checks each answer.
/// Returns how many were rejected.
async fn submit_cases(s: &Submitter, cases: &[&Case]) -> u64 {
    let payloads = cases
        .iter()
        .map(|c| (c.bytes.clone(), None, names().submit(Kind::Result)))
        .collect();
    let replies = s.submit_raw(payloads, &opts(), |_, _| {}).await;
    let mut failures = Vec::new();
    for (c, reply) in cases.iter().zip(replies) {
        let reply = reply.unwrap_or_else(|e| panic!("{}: no answer: {e}", c.name));
        if outcome(&reply) != c.want {
            failures.push(format!("{}: want {}, got {reply:?}", c.name, c.want));
        }
        if let Reply::Rejected { message, .. } = &reply {
            assert!(!message.is_empty(), "{}: a rejection says why", c.name);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    cases.iter().filter(|c| c.want != "accepted").count() as u64
}

async fn stats(s: &Submitter) -> Value {
    let reply = s
        .client()
        .request(names().stats(), "".into())
        .await
        .unwrap();
    serde_json::from_slice(&reply.payload).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hostile_submission_gets_its_exact_code_over_nats_and_changes_nothing() {
    let cases = corpus();
    assert!(cases.len() >= 50);
    let server = LocalServer::start(None).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let ledger = Ledger::start(server.url(), data.path()).await;
    let s = Submitter::connect(server.url(), names()).await.unwrap();

    // First what must be refused by an empty log.
    let empty: Vec<&Case> = cases.iter().filter(|c| c.prefix == "empty").collect();
    assert!(!empty.is_empty());
    let mut rejected = submit_cases(&s, &empty).await;
    assert_eq!(
        stats(&s).await["log_size"],
        0,
        "nothing entered the empty log"
    );

    // Then the sample election, and what must be refused after it.
    let prefix: Vec<SignedEvent> = sample::events()
        .into_iter()
        .map(|e| e.into_event())
        .collect();
    for (i, r) in s
        .submit(&prefix, &opts(), |_, _| {})
        .await
        .iter()
        .enumerate()
    {
        match r {
            Ok(Reply::Accepted { index, .. }) => assert_eq!(*index, i as u64),
            other => panic!("sample event {i}: {other:?}"),
        }
    }
    let after: Vec<&Case> = cases.iter().filter(|c| c.prefix == "sample").collect();
    assert_eq!(
        empty.len() + after.len(),
        cases.len(),
        "every case has a known prefix"
    );
    rejected += submit_cases(&s, &after).await;
    let st = stats(&s).await;
    assert_eq!(st["log_size"], prefix.len() as u64, "{st}");
    assert_eq!(st["rejected"], rejected, "{st}");

    // Good events still go through, right after the sample.
    let mut authority = sample::continue_after_sample(sample::AUTHORITY_KEY);
    let good: Vec<SignedEvent> = sample::more_results(&mut authority, 3)
        .into_iter()
        .map(|e| e.into_event())
        .collect();
    for (i, r) in s.submit(&good, &opts(), |_, _| {}).await.iter().enumerate() {
        match r {
            Ok(Reply::Accepted { index, .. }) => {
                assert_eq!(*index, (prefix.len() + i) as u64)
            }
            other => panic!("good event {i}: {other:?}"),
        }
    }
    let want = (prefix.len() + good.len()) as u64;

    // Nothing refused reached the log stream either.
    let js = async_nats::jetstream::new(s.client().clone());
    let mut log = js.get_stream(names().log_stream()).await.unwrap();
    for _ in 0..200 {
        if log.info().await.unwrap().state.messages >= want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let state = log.info().await.unwrap().state.clone();
    assert_eq!((state.messages, state.last_sequence), (want, want));
    ledger.stop().await;
    server.stop().await;

    // The store holds the sample and the good events, byte for byte, and
    // verifies from its first entry.
    let store = Store::open(data.path()).unwrap();
    assert_eq!(store.head().size, want);
    let mut replay = Replay::new();
    for (i, ev) in prefix.iter().chain(&good).enumerate() {
        let entry = store.entry(LogIndex(i as u64)).unwrap().unwrap();
        assert_eq!(entry.event().bytes(), ev.bytes(), "entry {i}");
        replay.push(&entry).unwrap();
    }
    assert_eq!(replay.root(), store.head().root);
}

//! The projector following a real ledger through a real nats-server (started
//! per test on a free port), with its own sled database on disk.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use tallylog_core::event::{SignedEvent, VerifiedEvent};
use tallylog_core::keys::test_key;
use tallylog_core::sample;
use tallylog_core::types::LogIndex;
use tallylog_nats::submit::{Options, Submitter};
use tallylog_nats::{LocalServer, Names};
use tallylog_tally::{projection_hash, Projection};
use tokio_util::sync::CancellationToken;

type Task<E> = tokio::task::JoinHandle<Result<(), E>>;

struct Service<E> {
    shutdown: CancellationToken,
    task: Task<E>,
}

impl<E: std::fmt::Debug> Service<E> {
    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }
}

fn ledger(url: &str, dir: &Path) -> Service<tallylog_ledger::LedgerError> {
    let shutdown = CancellationToken::new();
    let config = tallylog_ledger::Config {
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
    Service { shutdown, task }
}

fn projector(url: &str, dir: &Path) -> Service<tallylog_projector::ProjectorError> {
    let shutdown = CancellationToken::new();
    let config = tallylog_projector::Config {
        nats_url: url.to_owned(),
        election: sample::ELECTION.parse().unwrap(),
        data_dir: dir.to_owned(),
        verify_signatures: true,
    };
    let task = tokio::spawn(tallylog_projector::run(config, shutdown.clone()));
    Service { shutdown, task }
}

fn names() -> Names {
    Names::new(sample::ELECTION.parse().unwrap())
}

async fn submit(url: &str, events: &[VerifiedEvent]) {
    let s = Submitter::connect(url, names()).await.unwrap();
    let evs: Vec<SignedEvent> = events.iter().map(|e| e.event().clone()).collect();
    let opts = Options {
        in_flight: 64,
        reply_timeout: Duration::from_secs(10),
        attempts: 3,
        pace: None,
    };
    for r in s.submit(&evs, &opts, |_, _| {}).await {
        assert!(
            matches!(r.unwrap(), tallylog_core::receipt::Reply::Accepted { .. }),
            "every event is accepted"
        );
    }
}

async fn ask(client: &async_nats::Client, q: Value) -> Value {
    let reply = client
        .request(names().query(), serde_json::to_vec(&q).unwrap().into())
        .await
        .expect("the projector answers");
    serde_json::from_slice(&reply.payload).unwrap()
}

/// Asks for the status until the projector has folded `size` entries.
async fn wait_for(client: &async_nats::Client, size: u64) -> Value {
    for _ in 0..400 {
        if let Ok(Ok(reply)) = tokio::time::timeout(
            Duration::from_secs(1),
            client.request(names().query(), r#"{"view":"status"}"#.into()),
        )
        .await
        {
            let v: Value = serde_json::from_slice(&reply.payload).unwrap();
            if v["size"] == json!(size) {
                return v;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the projector did not reach {size} entries");
}

fn fold(events: &[VerifiedEvent]) -> Projection {
    let mut p = Projection::new();
    for (i, ev) in events.iter().enumerate() {
        p.apply(LogIndex(i as u64), ev.id(), ev.body().clone())
            .unwrap();
    }
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_projector_folds_the_live_log_and_resumes_after_a_restart() {
    let server = LocalServer::start(None).await.unwrap();
    let ledger_dir = tempfile::tempdir().unwrap();
    let proj_dir = tempfile::tempdir().unwrap();
    let l = ledger(server.url(), ledger_dir.path());
    let p = projector(server.url(), proj_dir.path());
    let client = async_nats::connect(server.url()).await.unwrap();

    let mut events = sample::events();
    submit(server.url(), &events).await;
    let status = wait_for(&client, events.len() as u64).await;
    let expected = projection_hash(&fold(&events));
    assert_eq!(status["answer"]["projection"], json!(expected));

    // The official national tally, over NATS.
    let t = ask(&client, json!({"view": "tallies"})).await;
    let row = &t["answer"]["rows"][0];
    assert_eq!(row["totals"]["votes"]["ALPHA"], json!(862));
    assert_eq!(row["totals"]["stations"], json!(4));
    assert_eq!(row["stations"], json!(4));

    // A bad question gets a clear answer, and the projector keeps serving.
    let bad = ask(&client, json!({"view": "tallies", "source": "nobody"})).await;
    assert!(
        bad["error"]
            .as_str()
            .unwrap()
            .contains("no source \"nobody\""),
        "{bad}"
    );
    let bad = ask(&client, json!({"view": "nonsense"})).await;
    assert!(
        bad["error"].as_str().unwrap().contains("not understood"),
        "{bad}"
    );

    // Stopped, then more entries arrive while it is down; restarted, it
    // rebuilds from its own copy and continues from its position.
    p.stop().await;
    let more = sample::more_results(
        &mut sample::continue_after_sample(sample::AUTHORITY_KEY),
        300,
    );
    submit(server.url(), &more).await;
    let p = projector(server.url(), proj_dir.path());
    events.extend(more);
    let status = wait_for(&client, events.len() as u64).await;
    assert_eq!(
        status["answer"]["projection"],
        json!(projection_hash(&fold(&events))),
        "the restarted projector reaches the same state as one pass over the log"
    );

    // And a projector started from nothing reaches the same hash.
    p.stop().await;
    let fresh_dir = tempfile::tempdir().unwrap();
    let fresh = projector(server.url(), fresh_dir.path());
    let status = wait_for(&client, events.len() as u64).await;
    assert_eq!(
        status["answer"]["projection"],
        json!(projection_hash(&fold(&events)))
    );
    fresh.stop().await;
    l.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_of_another_election_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    tallylog_projector::db::Db::open(dir.path(), &"one-election".parse().unwrap()).unwrap();
    let err = match tallylog_projector::db::Db::open(dir.path(), &"another".parse().unwrap()) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("opened another election's database"),
    };
    assert!(err.contains("election one-election, not another"), "{err}");
}

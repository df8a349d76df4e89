//! The ledger on a three-node nats-server cluster with replicated streams: a
//! node killed with SIGKILL in the middle of ingest loses nothing that was
//! acknowledged, and ingest goes on with the two that are left.
//!
//! The servers run on loopback with their own temporary directories
//! (`LocalServer::start_cluster`: deploy/nats/cluster/'s cluster settings as
//! flags, every node routed to every node, without its accounts); all of them
//! are killed when the test ends, however it ends.

use std::path::Path;
use std::time::Duration;

use async_nats::jetstream;
use tallylog_core::entry::Entry;
use tallylog_core::event::SignedEvent;
use tallylog_core::keys::test_key;
use tallylog_core::receipt::{Receipt, Reply};
use tallylog_core::replay::Replay;
use tallylog_core::sample;
use tallylog_core::types::LogIndex;
use tallylog_ledger::Config;
use tallylog_nats::submit::{Options, Submitter};
use tallylog_nats::{LocalServer, Names, Replicas};
use tallylog_store::Store;
use tokio_util::sync::CancellationToken;

fn names() -> Names {
    Names::new(sample::ELECTION.parse().unwrap())
}

fn start_ledger(
    urls: &str,
    dir: &Path,
) -> (
    CancellationToken,
    tokio::task::JoinHandle<Result<(), tallylog_ledger::LedgerError>>,
) {
    let shutdown = CancellationToken::new();
    let config = Config {
        nats_url: urls.to_owned(),
        election: sample::ELECTION.parse().unwrap(),
        data_dir: dir.to_owned(),
        log_key: test_key(sample::LOG_KEY),
        origin: sample::ORIGIN.parse().unwrap(),
        max_batch: 256,
        witnesses: Vec::new(),
        quorum: 0,
    };
    let task = tokio::spawn(tallylog_ledger::run_with_replicas(
        config,
        Replicas::new(3).unwrap(),
        shutdown.clone(),
    ));
    (shutdown, task)
}

/// The sample, then `n` result forms by the authority continuing its chain.
fn workload(n: usize) -> Vec<SignedEvent> {
    let mut authority = sample::continue_after_sample(sample::AUTHORITY_KEY);
    sample::events()
        .into_iter()
        .chain(sample::more_results(&mut authority, n))
        .map(|e| e.into_event())
        .collect()
}

/// Patient enough to ride out a leader election (seconds on a loaded machine).
fn opts() -> Options {
    Options {
        in_flight: 128,
        reply_timeout: Duration::from_secs(3),
        attempts: 40,
        pace: Some(300.0),
    }
}

/// Every reply is an acceptance whose receipt verifies; returns the indexes.
fn receipts(
    events: &[SignedEvent],
    replies: &[Result<Reply, tallylog_nats::submit::SubmitError>],
) -> Vec<u64> {
    let verifier = sample::log_signer().verifier();
    events
        .iter()
        .zip(replies)
        .map(|(ev, r)| match r {
            Ok(Reply::Accepted { index, receipt, .. }) => {
                Receipt::decode(receipt)
                    .unwrap()
                    .verify(ev, &verifier)
                    .unwrap();
                *index
            }
            other => panic!("expected a receipt, got {other:?}"),
        })
        .collect()
}

async fn log_size(client: &async_nats::Client) -> u64 {
    let reply = client
        .request(format!("tallylog.{}.stats", sample::ELECTION), "".into())
        .await;
    match reply {
        Ok(m) => serde_json::from_slice::<serde_json::Value>(&m.payload).unwrap()["log_size"]
            .as_u64()
            .unwrap(),
        Err(_) => 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_ingest_loses_nothing_acknowledged() {
    let mut cluster = LocalServer::start_cluster(3).await.unwrap();
    let urls = cluster
        .iter()
        .map(|s| s.url())
        .collect::<Vec<_>>()
        .join(",");
    let data = tempfile::tempdir().unwrap();
    let (shutdown, ledger) = start_ledger(&urls, data.path());

    let submitter = Submitter::connect(&urls, names()).await.unwrap();
    let client = submitter.client().clone();
    let js = jetstream::new(client.clone());
    let mut ready = false;
    for _ in 0..400 {
        if client
            .request(format!("tallylog.{}.stats", sample::ELECTION), "".into())
            .await
            .is_ok()
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "the ledger did not start");
    for stream in [names().intake_stream(), names().log_stream()] {
        let info = js.get_stream(&stream).await.unwrap().cached_info().clone();
        assert_eq!(info.config.num_replicas, 3, "{stream}");
    }

    // Phase 1: a stream of submissions, during which the server leading the
    // intake stream (where acknowledged submissions live) is killed.
    let all = workload(1500);
    let (first, second) = all.split_at(1200);
    let sending = {
        let first = first.to_vec();
        let submitter = Submitter::connect(&urls, names()).await.unwrap();
        tokio::spawn(async move { submitter.submit(&first, &opts(), |_, _| {}).await })
    };
    let mut size = 0;
    for _ in 0..2400 {
        size = log_size(&client).await;
        if size >= 400 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(size >= 400, "ingest did not get going");
    let leader = js
        .get_stream(names().intake_stream())
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .cluster
        .clone()
        .and_then(|c| c.leader)
        .expect("the intake stream has a leader");
    let at = cluster
        .iter()
        .position(|s| s.name() == leader)
        .expect("the leader is one of ours");
    eprintln!("killing {leader} (the intake stream's leader) at log size {size}");
    cluster.remove(at).kill().await;
    let replies = sending.await.unwrap();
    let mut indexes = receipts(first, &replies);
    assert!(
        size < first.len() as u64,
        "the node died while submissions were still coming in"
    );

    // Phase 2: ingest goes on with two of three nodes.
    let replies = submitter.submit(second, &opts(), |_, _| {}).await;
    indexes.extend(receipts(second, &replies));

    // The log stream catches up on the surviving nodes.
    let want = all.len() as u64;
    let mut last = 0;
    for _ in 0..600 {
        if let Ok(mut s) = js.get_stream(names().log_stream()).await {
            if let Ok(info) = s.info().await {
                last = info.state.last_sequence;
                if last == want {
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(last, want, "the log stream holds every entry");
    shutdown.cancel();
    ledger.await.unwrap().unwrap();

    // Exactly once, in submission order, and the chain, tree and rules verify
    // from the first entry.
    assert_eq!(indexes, (0..want).collect::<Vec<_>>());
    let store = Store::open(data.path()).unwrap();
    assert_eq!(store.head().size, want);
    let mut replay = Replay::new();
    for i in 0..want {
        replay
            .push(&store.entry(LogIndex(i)).unwrap().unwrap())
            .unwrap();
    }
    assert_eq!(
        (replay.chain(), replay.root()),
        (store.head().chain, store.head().root)
    );
    for (i, ev) in all.iter().enumerate() {
        assert_eq!(store.index_of(&ev.id()).unwrap(), Some(LogIndex(i as u64)));
    }
    // The log stream holds each entry once, as stream message index + 1,
    // byte for byte the store's.
    let stream = js.get_stream(names().log_stream()).await.unwrap();
    for i in 0..want {
        let msg = stream.get_raw_message(i + 1).await.unwrap();
        let entry = Entry::decode(&msg.payload).unwrap();
        assert_eq!(entry.index(), LogIndex(i));
        assert_eq!(
            entry.bytes(),
            store.entry(LogIndex(i)).unwrap().unwrap().bytes()
        );
    }
}

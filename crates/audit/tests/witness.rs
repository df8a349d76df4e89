//! Two witnesses cosign a live ledger (real nats-server, real sled), the
//! ledger serves checkpoints only with a quorum of both; then a forged fork,
//! a checkpoint of the same size over another tree signed with the log key,
//! is caught by a witness and proven in a file anyone can check.

use std::time::Duration;

use tallylog_audit::witness::{self, WitnessError};
use tallylog_core::cosign::{Cosigner, Equivocation, EquivocationFinding, WitnessKey};
use tallylog_core::event::SignedEvent;
use tallylog_core::keys::test_key;
use tallylog_core::merkle::record_hash;
use tallylog_core::sample;
use tallylog_nats::submit::{Options, Submitter};
use tallylog_nats::{LocalServer, Names};
use tokio_util::sync::CancellationToken;

fn names() -> Names {
    Names::new(sample::ELECTION.parse().unwrap())
}

fn witness_config(url: &str, n: u32, dir: &std::path::Path) -> witness::Config {
    witness::Config {
        nats_url: url.to_owned(),
        election: sample::ELECTION.parse().unwrap(),
        name: format!("witness.test/w{n}"),
        key: test_key(200 + n),
        log: sample::log_signer().verifier(),
        state: dir.join(format!("w{n}.json")),
        evidence: dir.join("evidence"),
        interval: Duration::from_millis(50),
    }
}

fn witness_key(n: u32) -> WitnessKey {
    Cosigner::new(&format!("witness.test/w{n}"), test_key(200 + n))
        .unwrap()
        .verifier()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_witnesses_cosign_a_live_ledger_and_a_fork_is_proven() {
    let server = LocalServer::start(None).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let stop = CancellationToken::new();
    let ledger = tokio::spawn(tallylog_ledger::run(
        tallylog_ledger::Config {
            nats_url: server.url().to_owned(),
            election: sample::ELECTION.parse().unwrap(),
            data_dir: dir.path().join("ledger"),
            log_key: test_key(sample::LOG_KEY),
            origin: sample::ORIGIN.parse().unwrap(),
            max_batch: 8,
            witnesses: vec![witness_key(1), witness_key(2)],
            quorum: 2,
        },
        stop.clone(),
    ));
    let w1 = tokio::spawn(witness::run(
        witness_config(server.url(), 1, dir.path()),
        stop.clone(),
    ));
    let w2 = tokio::spawn(witness::run(
        witness_config(server.url(), 2, dir.path()),
        stop.clone(),
    ));

    let s = Submitter::connect(server.url(), names()).await.unwrap();
    let events: Vec<SignedEvent> = sample::events()
        .into_iter()
        .map(|e| e.into_event())
        .collect();
    let opts = Options {
        in_flight: 8,
        reply_timeout: Duration::from_secs(10),
        attempts: 3,
        pace: None,
    };
    for r in s.submit(&events, &opts, |_, _| {}).await {
        r.unwrap();
    }

    // The ledger's latest checkpoint with a quorum reaches the whole log,
    // cosigned by both witnesses.
    let client = async_nats::connect(server.url()).await.unwrap();
    let log = sample::log_signer().verifier();
    let mut cosigned = None;
    for _ in 0..400 {
        let r = client
            .request(names().checkpoint(), "".into())
            .await
            .unwrap();
        if let Ok(cp) = log.verify(&r.payload) {
            if cp.size() == events.len() as u64 {
                cosigned = Some(cp);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let cp = cosigned.expect("a checkpoint of the whole log with a quorum");
    assert!(witness_key(1).cosigned(cp.note()).is_some());
    assert!(witness_key(2).cosigned(cp.note()).is_some());
    // A third party's key is not among them; a cosignature from an unknown
    // witness is refused by the ledger.
    assert!(witness_key(3).cosigned(cp.note()).is_none());
    let stranger = Cosigner::new("witness.test/w3", test_key(203)).unwrap();
    let line = stranger.cosign(&cp, 1);
    let req = serde_json::json!({"size": cp.size(), "line": String::from_utf8(line).unwrap()});
    let r = client
        .request(names().cosign(), serde_json::to_vec(&req).unwrap().into())
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&r.payload)
        .starts_with("error: the line is not a valid cosignature"));

    stop.cancel();
    ledger.await.unwrap().unwrap();
    w1.await.unwrap().unwrap();
    w2.await.unwrap().unwrap();

    // A forked ledger: the same log key signs a checkpoint of the same size
    // over another tree, and serves it to witness 1.
    let fake = LocalServer::start(None).await.unwrap();
    let forged = sample::log_signer().sign(cp.size(), record_hash(b"another history"));
    let fake_client = async_nats::connect(fake.url()).await.unwrap();
    let mut sub = fake_client.subscribe(names().checkpoint()).await.unwrap();
    let responder = tokio::spawn(async move {
        use futures::StreamExt;
        while let Some(m) = sub.next().await {
            if let Some(r) = m.reply {
                fake_client.publish(r, forged.clone().into()).await.unwrap();
            }
        }
    });
    let stop = CancellationToken::new();
    let caught = tokio::time::timeout(
        Duration::from_secs(30),
        witness::run(witness_config(fake.url(), 1, dir.path()), stop.clone()),
    )
    .await
    .expect("the witness stops on the fork");
    let file = match caught {
        Err(WitnessError::Equivocation(file)) => file,
        other => panic!("expected an equivocation, got {other:?}"),
    };
    responder.abort();
    let e: Equivocation = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(
        e.check(),
        Ok(EquivocationFinding::SameSizeDifferentRoots { size: cp.size() })
    );
}

/// A witness that crashed after its cosignature left but before it saved
/// what it cosigned would wake up remembering an older checkpoint, free to
/// cosign a fork of the one it vouched for. So by the time a ledger sees a
/// cosignature, the witness's state already holds that checkpoint; and a
/// cosignature the ledger did not keep is sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_witness_saves_what_it_cosigns_before_sending_the_cosignature() {
    use futures::StreamExt;
    let server = LocalServer::start(None).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = witness_config(server.url(), 1, dir.path());
    let state = config.state.clone();

    // A ledger with one checkpoint: it serves it, and this test answers the
    // cosignatures itself, looking at the witness's state as each arrives.
    let note = sample::log_signer().sign(5, record_hash(b"five entries"));
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut checkpoints = client.subscribe(names().checkpoint()).await.unwrap();
    let mut cosigns = client.subscribe(names().cosign()).await.unwrap();
    client.flush().await.unwrap();
    let serve = {
        let (client, note) = (client.clone(), note.clone());
        tokio::spawn(async move {
            while let Some(m) = checkpoints.next().await {
                if let Some(r) = m.reply {
                    client.publish(r, note.clone().into()).await.unwrap();
                }
            }
        })
    };
    let stop = CancellationToken::new();
    let w = tokio::spawn(witness::run(config, stop.clone()));

    // The first cosignature is refused, the second kept; each time, the
    // witness has already saved the checkpoint it cosigns.
    let text = tallylog_core::cosign::note_text(&note).unwrap();
    for answer in ["error: not now", "ok"] {
        let m = tokio::time::timeout(Duration::from_secs(30), cosigns.next())
            .await
            .expect("the witness sends a cosignature")
            .unwrap();
        let saved = std::fs::read(&state).ok();
        client
            .publish(m.reply.clone().unwrap(), answer.into())
            .await
            .unwrap();
        let req: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
        assert_eq!(req["size"], 5);
        let line = req["line"].as_str().unwrap();
        assert!(witness_key(1).check(text, line.as_bytes()).is_some());
        let saved = saved.expect("the state was saved before the cosignature was sent");
        let saved: serde_json::Value = serde_json::from_slice(&saved).unwrap();
        assert_eq!(saved["size"], 5);
        assert_eq!(saved["note"].as_str().unwrap().as_bytes(), &note[..]);
    }
    stop.cancel();
    w.await.unwrap().unwrap();
    serve.abort();
    assert!(!state.with_extension("tmp").exists());
}

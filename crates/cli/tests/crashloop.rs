//! The crash loop: submissions stream in while the ledger is killed with
//! SIGKILL again and again, and nats-server is restarted once in the middle.
//! At the end every event with a delivered receipt is in the log exactly
//! once, the chain, tree and rules verify from the first entry, the log
//! stream has no gap, and a projector that followed it all live, one rebuilt
//! from scratch afterwards and a fold of the ledger's own store agree.
//!
//! `TALLYLOG_SOAK_KILLS` sets the number of kills (default 12);
//! `scripts/soak` runs it with hundreds.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use tallylog_core::entry::Entry;
use tallylog_core::event::SignedEvent;
use tallylog_core::keys::{encode_secret, test_key};
use tallylog_core::receipt::{Receipt, Reply};
use tallylog_core::replay::Replay;
use tallylog_core::sample;
use tallylog_core::types::LogIndex;
use tallylog_nats::submit::{Options, Submitter};
use tallylog_nats::{LocalServer, Names};
use tallylog_store::Store;

const BIN: &str = env!("CARGO_BIN_EXE_tallylog");

fn names() -> Names {
    Names::new(sample::ELECTION.parse().unwrap())
}

/// A child process killed when dropped (a failed assertion leaves nothing).
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn log_file(dir: &Path, name: &str) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(name))
        .unwrap()
}

fn ledger(url: &str, dir: &Path) -> Proc {
    let key = dir.join("log.key");
    if !key.exists() {
        std::fs::write(&key, encode_secret(&test_key(sample::LOG_KEY))).unwrap();
    }
    Proc(
        Command::new(BIN)
            .env("TALLYLOG_LOG", "info")
            .args(["ledger", "--nats", url, "--data"])
            .arg(dir.join("ledger"))
            .args([
                "--election",
                sample::ELECTION,
                "--origin",
                sample::ORIGIN,
                "--log-key",
            ])
            .arg(&key)
            .stdout(Stdio::null())
            .stderr(log_file(dir, "ledger.log"))
            .spawn()
            .unwrap(),
    )
}

fn projector(url: &str, dir: &Path, name: &str) -> Proc {
    Proc(
        Command::new(BIN)
            .env("TALLYLOG_LOG", "info")
            .args(["projector", "--nats", url, "--data"])
            .arg(dir.join(name))
            .args(["--election", sample::ELECTION])
            .stdout(Stdio::null())
            .stderr(log_file(dir, &format!("{name}.log")))
            .spawn()
            .unwrap(),
    )
}

/// `tallylog tally ... status --json`, as JSON, or the error it printed.
fn status(args: &[&str]) -> Result<Value, String> {
    let out = Command::new(BIN)
        .arg("tally")
        .args(args)
        .args(["status", "--json"])
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(serde_json::from_slice(&out.stdout).unwrap())
}

/// The projection hash a running projector reports once it has folded
/// `size` entries (its log, `name.log`, is shown if it never does).
fn projected(url: &str, size: u64, dir: &Path, name: &str) -> String {
    let mut last = Err(String::new());
    for _ in 0..600 {
        last = status(&["--nats", url, "--election", sample::ELECTION]);
        if let Ok(v) = &last {
            if v["size"] == size {
                return v["answer"]["projection"].as_str().unwrap().to_owned();
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default();
    panic!("the projector never folded {size} entries: {last:?}\nits log:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_loop_loses_nothing_acknowledged_and_every_projection_agrees() {
    let kills: usize = std::env::var("TALLYLOG_SOAK_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12)
        .max(2);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    eprintln!("working in {}", dir.display());
    let nats_dir = dir.join("nats");
    let server = LocalServer::start_on(Some(&nats_dir), None).await.unwrap();
    let url = server.url().to_owned();
    let port = server.port();
    let mut ledger_proc = ledger(&url, dir);
    let live = projector(&url, dir, "projector-live");

    // Enough submissions at 1,000 a second to outlast every kill.
    let rate = 1000.0;
    let n = (rate * (kills as f64 * 0.5 + 4.0)) as usize;
    let mut authority = sample::continue_after_sample(sample::AUTHORITY_KEY);
    let events: Vec<SignedEvent> = sample::events()
        .into_iter()
        .chain(sample::more_results(&mut authority, n))
        .map(|e| e.into_event())
        .collect();
    let submitter = Submitter::connect(&url, names()).await.unwrap();
    let opts = Options {
        in_flight: 256,
        reply_timeout: Duration::from_secs(2),
        attempts: 60,
        pace: Some(rate),
    };
    let killer = {
        let url = url.clone();
        let dir = dir.to_owned();
        tokio::spawn(async move {
            let mut server = server;
            for k in 0..kills {
                tokio::time::sleep(Duration::from_millis(350)).await;
                if k == kills / 2 {
                    // nats-server restarted on the same port and storage;
                    // every client reconnects by itself.
                    server.stop().await;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    server = LocalServer::start_on(Some(&dir.join("nats")), Some(port))
                        .await
                        .unwrap();
                } else {
                    ledger_proc.0.kill().unwrap();
                    ledger_proc.0.wait().unwrap();
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    ledger_proc = ledger(&url, &dir);
                }
            }
            (ledger_proc, server)
        })
    };
    let replies = submitter.submit(&events, &opts, |_, _| {}).await;
    let (ledger_proc, server) = killer.await.unwrap();

    // Every event got a receipt, and every receipt verifies.
    let verifier = sample::log_signer().verifier();
    for (ev, r) in events.iter().zip(&replies) {
        match r {
            Ok(Reply::Accepted { receipt, .. }) => {
                Receipt::decode(receipt)
                    .unwrap()
                    .verify(ev, &verifier)
                    .unwrap();
            }
            other => panic!("expected a receipt, got {other:?}"),
        }
    }
    let want = events.len() as u64;
    // The log stream catches up.
    let js = async_nats::jetstream::new(submitter.client().clone());
    let mut last = 0;
    let mut why = String::new();
    for _ in 0..600 {
        match js.get_stream(names().log_stream()).await {
            Ok(mut s) => match s.info().await {
                Ok(info) => last = info.state.last_sequence,
                Err(e) => why = e.to_string(),
            },
            Err(e) => why = e.to_string(),
        }
        if last == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(last, want, "the log stream caught up ({why})");

    // The projector that lived through it all, then one rebuilt from
    // scratch, and a fold of the ledger's store: one projection.
    let live_hash = projected(&url, want, dir, "projector-live");
    drop(live);
    let fresh = projector(&url, dir, "projector-fresh");
    let fresh_hash = projected(&url, want, dir, "projector-fresh");
    drop(fresh);

    let stream = js.get_stream(names().log_stream()).await.unwrap();
    drop(ledger_proc);
    // Exactly once, in order, and everything verifies from the first entry.
    // (`tallylog ledger --data D` keeps its store in D/ledger.)
    let store =
        Store::open(&dir.join("ledger").join("ledger")).expect("the store opens after the crashes");
    let head = store.head();
    assert_eq!(head.size, want);
    let mut replay = Replay::new();
    for i in 0..want {
        let e = store.entry(LogIndex(i)).unwrap().expect("no gaps");
        replay
            .push(&e)
            .unwrap_or_else(|e| panic!("entry {i} does not verify: {e}"));
    }
    assert_eq!((replay.chain(), replay.root()), (head.chain, head.root));
    for (i, ev) in events.iter().enumerate() {
        assert_eq!(
            store.index_of(&ev.id()).unwrap(),
            Some(LogIndex(i as u64)),
            "event {i} once, in its place"
        );
    }
    // The log stream holds every entry once, byte for byte, with no gap.
    for i in 0..want {
        let msg = stream.get_raw_message(i + 1).await.unwrap();
        let entry = Entry::decode(&msg.payload).unwrap();
        assert_eq!(entry.index(), LogIndex(i));
        assert_eq!(
            entry.bytes(),
            store.entry(LogIndex(i)).unwrap().unwrap().bytes()
        );
    }
    drop(store);
    let folded = status(&["--log", dir.join("ledger").to_str().unwrap()]).unwrap();
    assert_eq!(folded["size"], want);
    let folded_hash = folded["answer"]["projection"].as_str().unwrap();
    assert_eq!(
        live_hash, fresh_hash,
        "the live projector and a rebuilt one agree"
    );
    assert_eq!(
        live_hash, folded_hash,
        "and so does a fold of the ledger's store"
    );
    server.stop().await;
}

//! A process appending to the store is killed with SIGKILL at random moments,
//! over and over. After each kill the reopened store must hold every batch whose
//! append returned (and at most the one in flight, whole), and its chain, Merkle
//! tree, checkpoint and rules state must verify from the first entry to the last.
//!
//! A kill is not a power cut: what this shows is that sled's batches are atomic,
//! that a batch killed after its entries reached the entries file but before
//! sled took it is cut off on open (when a kill lands there; `store.rs` makes
//! that case on purpose), and that our head checks hold; fsync before
//! returning is what extends the promise to power loss (see ARCHITECTURE.md,
//! "Durability").

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tallylog_core::keys::test_key;
use tallylog_core::replay::Replay;
use tallylog_core::rules::LogView;
use tallylog_core::sample;
use tallylog_core::types::{LogIndex, PublicKey};
use tallylog_store::Store;

const BATCH: u64 = 25;

fn appender() -> PathBuf {
    // Integration tests live in target/<profile>/deps; examples next door.
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let path = dir.join("examples").join("append_forever");
    assert!(
        path.exists(),
        "{} missing: cargo test builds examples",
        path.display()
    );
    path
}

/// Verifies the whole store from the bytes up; returns its size.
fn verify_all(dir: &Path) -> u64 {
    let store = Store::open(dir).unwrap_or_else(|e| panic!("store refused after a kill: {e}"));
    let head = store.head();
    let mut replay = Replay::new();
    for i in 0..head.size {
        let e = store.entry(LogIndex(i)).unwrap().expect("no gaps");
        replay
            .push(&e)
            .unwrap_or_else(|e| panic!("the stored log does not verify: {e}"));
    }
    assert_eq!(replay.chain(), head.chain);
    assert_eq!(replay.root(), head.root);
    let rules = replay.state();
    // The state the store keeps for the rules is the state its entries imply.
    for n in [
        sample::AUTHORITY_KEY,
        sample::OBSERVER_NEW_KEY,
        sample::AGENT_KEY,
    ] {
        let k: PublicKey = test_key(n).verifying_key().into();
        assert_eq!(store.chain_head(&k), rules.chain_head(&k));
        assert_eq!(store.key(&k), rules.key(&k));
    }
    if head.size > 0 {
        let cp = sample::log_signer()
            .verifier()
            .verify(&store.checkpoint().unwrap().unwrap())
            .unwrap();
        assert_eq!((cp.size(), cp.root()), (head.size, head.root));
    }
    head.size
}

#[test]
fn sigkill_between_and_during_batches_loses_no_returned_batch() {
    let dir = tempfile::tempdir().unwrap();
    let exe = appender();
    let sample = sample::events().len() as u64;
    let mut committed = 0u64;
    for run in 0..12u32 {
        let mut child = Command::new(&exe)
            .args([dir.path().to_str().unwrap(), &BATCH.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // A cheap deterministic spread of kill points: after 1..=6 committed
        // batches (the first run's first report is the sample election).
        let wait_for = 1 + u64::from(run * 7 % 6) + u64::from(run == 0);
        let mut last = None;
        for _ in 0..wait_for {
            let line = lines.next().expect("the appender reports").unwrap();
            let size: u64 = line.strip_prefix("committed ").unwrap().parse().unwrap();
            last = Some(size);
        }
        // Kill it while it is (most likely) in the middle of the next batch.
        child.kill().unwrap();
        child.wait().unwrap();
        let reported = last.unwrap();
        assert!(reported > committed);
        committed = reported;
        let size = verify_all(dir.path());
        assert!(
            size >= committed,
            "run {run}: lost acknowledged entries ({size} < {committed})"
        );
        assert!(
            size <= committed + BATCH,
            "run {run}: more than one batch in flight"
        );
        assert_eq!(
            (size - sample) % BATCH,
            0,
            "run {run}: a partial batch survived"
        );
        committed = size;
    }
    let cut = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("entries.cut-at-")
        })
        .count();
    println!("{cut} of 12 kills left an unfinished batch in the entries file");
}

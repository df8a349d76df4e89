//! The store against real sled on disk: appends, reopening, lookups, proofs
//! checked against the signed checkpoint, and refusal of damaged stores.

use tallylog_core::entry::GENESIS_PREV;
use tallylog_core::event::VerifiedEvent;
use tallylog_core::merkle::{self, MemoryTree};
use tallylog_core::rules::Overlay;
use tallylog_core::sample;
use tallylog_core::types::{LogIndex, Seq};
use tallylog_store::{Store, StoreError};

/// `n` more result forms by the sample's authority, after the sample (which is
/// all `store` holds when this is called).
fn results(store: &Store, n: u64) -> Vec<VerifiedEvent> {
    assert_eq!(store.head().size, sample::events().len() as u64);
    sample::more_results(
        &mut sample::continue_after_sample(sample::AUTHORITY_KEY),
        n as usize,
    )
}

#[test]
fn appended_batches_survive_reopening_and_prove_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let signer = sample::log_signer();
    let events = sample::events();
    let mut reference = MemoryTree::new();
    {
        let mut store = Store::open(dir.path()).unwrap();
        assert_eq!(store.head().size, 0);
        // Batches of 1, 2, 3, ... entries, so batch edges fall everywhere.
        let mut rest = events.clone();
        let mut n = 1;
        while !rest.is_empty() {
            let batch: Vec<_> = rest.drain(..n.min(rest.len())).collect();
            let before = store.head().size;
            let appended = store.append_checked(batch, &signer).unwrap();
            for (i, e) in appended.entries.iter().enumerate() {
                assert_eq!(e.index(), LogIndex(before + i as u64));
                reference.push(e.chain_hash());
            }
            assert_eq!(appended.head.root, reference.root());
            n += 1;
        }
    }
    let store = Store::open(dir.path()).unwrap();
    let head = store.head();
    assert_eq!(head.size, events.len() as u64);
    assert_eq!(head.root, reference.root());

    // The chain links every entry to the one before.
    let mut prev = GENESIS_PREV;
    for (i, ev) in events.iter().enumerate() {
        let e = store.entry(LogIndex(i as u64)).unwrap().unwrap();
        assert_eq!(e.prev(), prev);
        assert_eq!(e.event().bytes(), ev.bytes());
        prev = e.chain_hash();
        assert_eq!(store.index_of(&ev.id()).unwrap(), Some(LogIndex(i as u64)));
        let b = ev.body();
        assert_eq!(
            store.index_of_author_seq(&b.author, b.seq).unwrap(),
            Some(LogIndex(i as u64))
        );
    }
    assert_eq!(prev, head.chain);

    // Every entry's inclusion proof verifies against the stored, signed checkpoint.
    let cp = signer
        .verifier()
        .verify(&store.checkpoint().unwrap().unwrap())
        .unwrap();
    assert_eq!((cp.size(), cp.root()), (head.size, head.root));
    for i in 0..head.size {
        let e = store.entry(LogIndex(i)).unwrap().unwrap();
        let proof = store.inclusion_proof(i, head.size).unwrap();
        merkle::check_inclusion(&proof, cp.size(), cp.root(), i, e.chain_hash()).unwrap();
    }
    for old in 0..=head.size {
        let proof = store.consistency_proof(old, head.size).unwrap();
        merkle::check_consistency(
            &proof,
            head.size,
            head.root,
            old,
            reference.root_at(old).unwrap(),
        )
        .unwrap();
    }
    assert!(store.inclusion_proof(0, head.size + 1).is_err());
    assert_eq!(store.entry(LogIndex(head.size)).unwrap(), None);
    assert_eq!(
        store
            .index_of_author_seq(&events[0].body().author, Seq(99))
            .unwrap(),
        None
    );
}

#[test]
fn a_duplicate_event_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let signer = sample::log_signer();
    let mut store = Store::open(dir.path()).unwrap();
    store.append_checked(sample::events(), &signer).unwrap();
    let evs = results(&store, 5);
    store.append_checked(evs[..3].to_vec(), &signer).unwrap();
    let head = store.head();
    // Judged by the rules, a replayed event reuses a sequence number...
    let err = store
        .append_checked(vec![evs[3].clone(), evs[1].clone()], &signer)
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Rejected { index: 1, rejection } if rejection.code() == "replayed_seq"),
        "{err}"
    );
    // ...and the store itself refuses an event id it already holds, whatever
    // change it is handed with it.
    let change = Overlay::on(&store).accept(&evs[3]).unwrap();
    let err = store
        .append(vec![(evs[1].clone(), change)], store.cursor(), &signer)
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Duplicate(id) if id == evs[1].id()),
        "{err}"
    );
    assert_eq!(store.head(), head);
    drop(store);
    assert_eq!(Store::open(dir.path()).unwrap().head(), head);
}

/// Opens sled directly once the store dropped just before has released its
/// file lock (sled's background flusher lets go of it a moment after the drop;
/// `Store::open` waits the same way).
fn sled_after_store(dir: &std::path::Path) -> sled::Db {
    for _ in 0..100 {
        match sled::open(dir) {
            Ok(db) => return db,
            Err(e) if e.to_string().contains("could not acquire lock") => {
                std::thread::sleep(std::time::Duration::from_millis(50))
            }
            Err(e) => panic!("{e}"),
        }
    }
    panic!("sled's lock was not released");
}

/// Opens the store's sled database directly, as a careless operator or a disk
/// fault might change it, then checks that `Store::open` refuses it.
fn damage(f: impl FnOnce(&sled::Tree)) -> String {
    let dir = tempfile::tempdir().unwrap();
    {
        // The sample election, then two batches of six results: 40 entries.
        let mut store = Store::open(dir.path()).unwrap();
        let signer = sample::log_signer();
        store.append_checked(sample::events(), &signer).unwrap();
        let more = results(&store, 12);
        store.append_checked(more[..6].to_vec(), &signer).unwrap();
        store.append_checked(more[6..].to_vec(), &signer).unwrap();
        assert_eq!(store.head().size, 40);
    }
    {
        let db = sled_after_store(dir.path());
        f(&db.open_tree("log").unwrap());
        db.flush().unwrap();
    }
    match Store::open(dir.path()) {
        Err(e @ StoreError::Inconsistent { .. }) => e.to_string(),
        Err(e) => panic!("expected an inconsistency, got {e}"),
        Ok(_) => panic!("a damaged store was opened"),
    }
}

fn entry_key(i: u64) -> Vec<u8> {
    let mut k = vec![b'e'];
    k.extend_from_slice(&i.to_be_bytes());
    k
}

#[test]
fn a_damaged_store_is_refused_with_a_reason() {
    let msg = damage(|t| {
        t.remove(entry_key(39)).unwrap();
    });
    assert!(msg.contains("last entry 39 is missing"), "{msg}");

    let msg = damage(|t| {
        let e = t.get(entry_key(3)).unwrap().unwrap();
        t.insert(entry_key(40), e).unwrap();
    });
    assert!(msg.contains("beyond the head"), "{msg}");

    let msg = damage(|t| {
        let e = t.get(entry_key(38)).unwrap().unwrap();
        t.insert(entry_key(39), e).unwrap();
    });
    assert!(msg.contains("does not hash to the head"), "{msg}");

    let msg = damage(|t| {
        t.insert(b"mhead", b"garbage".to_vec()).unwrap();
    });
    assert!(msg.contains("head record is damaged"), "{msg}");

    let msg = damage(|t| {
        // Overwrite the stored hash of the subtree of entries 0..32, which the
        // root of 40 entries is built from. (Hashes off that path are checked
        // by the auditor, which recomputes every one.) Hashes are stored as one
        // record per batch, keyed by the first stored hash index it holds.
        let target = merkle::stored_hash_index(5, 0);
        let (k, v) = t
            .scan_prefix(b"h")
            .map(Result::unwrap)
            .filter(|(k, _)| u64::from_be_bytes(k[1..].try_into().unwrap()) <= target)
            .last()
            .unwrap();
        let start = u64::from_be_bytes(k[1..].try_into().unwrap());
        let mut v = v.to_vec();
        let at = ((target - start) * 32) as usize;
        v[at] ^= 1;
        t.insert(k, v).unwrap();
    });
    assert!(msg.contains("do not give the head's root"), "{msg}");

    let msg = damage(|t| {
        // Drop the last batch's hash record: fewer hashes than entries need.
        let (k, _) = t.scan_prefix(b"h").last().unwrap().unwrap();
        t.remove(k).unwrap();
    });
    assert!(
        msg.contains("Merkle hashes are stored, but a log of 40 entries has"),
        "{msg}"
    );
}

#[test]
fn a_store_in_use_by_another_process_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let _ = Store::open(dir.path()).unwrap();
    // A second process holding it: the crash test's appender, stopped mid-way
    // would do, but a child that just opens and waits is simpler.
    let mut child = std::process::Command::new("flock")
        .args(["-x", dir.path().join("db").to_str().unwrap(), "sleep", "30"])
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let err = Store::open(dir.path())
        .err()
        .expect("the store is locked by another process");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        err.to_string()
            .contains("another process is using this database"),
        "{err}"
    );
}

#[test]
fn an_empty_log_that_refused_submissions_reopens() {
    // A ledger that has so far only refused submissions stores its cursor
    // and nothing else; that store must open again.
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = Store::open(dir.path()).unwrap();
        store.record_cursor(7, &sample::log_signer()).unwrap();
    }
    let mut store = Store::open(dir.path()).unwrap();
    assert_eq!((store.head().size, store.cursor()), (0, 7));
    store
        .append_checked(sample::events(), &sample::log_signer())
        .unwrap();
    drop(store);
    assert_eq!(Store::open(dir.path()).unwrap().cursor(), 7);
}

#[test]
fn a_checkpoint_that_disagrees_with_the_head_is_refused() {
    let msg = damage(|t| {
        // A validly formed checkpoint for another root.
        let other = sample::log_signer().sign(40, tallylog_core::merkle::EMPTY_HASH);
        t.insert(b"mcheckpoint", other).unwrap();
    });
    assert!(
        msg.contains("stored checkpoint is for size Some(40)"),
        "{msg}"
    );
}

#[test]
fn a_store_marked_after_a_failed_fsync_is_refused_until_checked() {
    // The marker is what a failed fsync leaves (a real fsync failure cannot be
    // provoked here); the store must then refuse to open, saying what to do.
    let dir = tempfile::tempdir().unwrap();
    Store::open(dir.path())
        .unwrap()
        .append_checked(sample::events(), &sample::log_signer())
        .unwrap();
    std::fs::write(
        dir.path().join(tallylog_store::NEEDS_CHECK),
        "fdatasync: EIO\n",
    )
    .unwrap();
    let err = Store::open(dir.path())
        .err()
        .expect("a marked store is refused");
    assert!(err.to_string().contains("fdatasync: EIO"), "{err}");
    assert!(err.to_string().contains("remove"), "{err}");
    std::fs::remove_file(dir.path().join(tallylog_store::NEEDS_CHECK)).unwrap();
    assert_eq!(
        Store::open(dir.path()).unwrap().head().size,
        sample::events().len() as u64
    );
}

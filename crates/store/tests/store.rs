//! The store against real sled on disk: appends, reopening, lookups, proofs
//! checked against the signed checkpoint, and refusal of damaged stores.

use tallylog_core::entry::GENESIS_PREV;
use tallylog_core::event::VerifiedEvent;
use tallylog_core::merkle::{self, MemoryTree};
use tallylog_core::rules::{LogView, Overlay};
use tallylog_core::sample;
use tallylog_core::types::LogIndex;
use tallylog_store::{entries, Store, StoreError, MAX_BATCH_BYTES};

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
        assert_eq!(
            store.index_of_event(ev.event()).unwrap(),
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
    // Events not in the log: the next one of a chain (its seq is past the
    // chain head, so no lookup is needed), and a fork of an entry's seq (the
    // chain has reached it, so the id is looked up, and is not there).
    let mut publisher = sample::continue_after_sample(sample::AUTHORITY_KEY);
    let next = sample::more_results(&mut publisher, 1).remove(0);
    assert_eq!(store.index_of_event(next.event()).unwrap(), None);
    let mut forker = tallylog_core::publisher::Publisher::resume(
        tallylog_core::keys::test_key(sample::AUTHORITY_KEY),
        sample::ELECTION.parse().unwrap(),
        Default::default(),
    );
    let fork = sample::more_results(&mut forker, 1).remove(0);
    let (head_seq, _) = store.chain_head(&fork.body().author).unwrap();
    assert!(
        fork.body().seq <= head_seq,
        "the fork's seq is one the chain has reached"
    );
    assert!(events.iter().all(|e| e.id() != fork.id()));
    assert_eq!(store.index_of_event(fork.event()).unwrap(), None);
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

/// A store of 40 entries in `dir`: the sample election, then two batches of
/// six results. Returns three more results that would continue it.
fn forty(dir: &std::path::Path) -> Vec<VerifiedEvent> {
    let mut store = Store::open(dir).unwrap();
    let signer = sample::log_signer();
    store.append_checked(sample::events(), &signer).unwrap();
    let mut more = results(&store, 15);
    store.append_checked(more[..6].to_vec(), &signer).unwrap();
    store.append_checked(more[6..12].to_vec(), &signer).unwrap();
    assert_eq!(store.head().size, 40);
    more.split_off(12)
}

/// Changes a store's files as a careless operator or a disk fault might
/// (sled's tree, or the entries file's bytes), then checks that `Store::open`
/// refuses it.
fn damage(f: impl FnOnce(&sled::Tree, &mut Vec<u8>)) -> String {
    let dir = tempfile::tempdir().unwrap();
    forty(dir.path());
    {
        let db = sled_after_store(dir.path());
        let path = dir.path().join(entries::FILE_NAME);
        let mut file = std::fs::read(&path).unwrap();
        f(&db.open_tree("log").unwrap(), &mut file);
        db.flush().unwrap();
        std::fs::write(&path, file).unwrap();
    }
    match Store::open(dir.path()) {
        Err(e @ StoreError::Inconsistent { .. }) => e.to_string(),
        Err(e) => panic!("expected an inconsistency, got {e}"),
        Ok(_) => panic!("a damaged store was opened"),
    }
}

/// Where the last entry's record starts in the entries file: the last
/// location record's start plus the records before it.
fn last_record(t: &sled::Tree) -> usize {
    let (_, v) = t.scan_prefix(b"l").last().unwrap().unwrap();
    let mut at = u64::from_be_bytes(v[..8].try_into().unwrap()) as usize;
    let lens: Vec<usize> = v[8..]
        .chunks(4)
        .map(|c| u32::from_be_bytes(c.try_into().unwrap()) as usize)
        .collect();
    for l in &lens[..lens.len() - 1] {
        at += 4 + l;
    }
    at
}

#[test]
fn a_damaged_store_is_refused_with_a_reason() {
    let msg = damage(|t, _| {
        let (k, _) = t.scan_prefix(b"l").last().unwrap().unwrap();
        t.remove(k).unwrap();
    });
    assert!(
        msg.contains("34 entries have locations, but the head says the log has 40"),
        "{msg}"
    );

    let msg = damage(|t, _| {
        let (_, v) = t.scan_prefix(b"l").last().unwrap().unwrap();
        let mut k = b"l".to_vec();
        k.extend_from_slice(&40u64.to_be_bytes());
        t.insert(k, v).unwrap();
    });
    assert!(msg.contains("46 entries have locations"), "{msg}");

    let msg = damage(|_, file| {
        file.pop();
    });
    assert!(
        msg.contains("but the entries located in the database end at byte"),
        "{msg}"
    );

    let msg = damage(|t, file| {
        // The last entry's link to the one before, one hex digit changed: it
        // still decodes, but no longer hashes to the head.
        let at = last_record(t);
        let prev = at + 4 + find(&file[at + 4..], br#""prev":""#) + 8;
        file[prev] = if file[prev] == b'0' { b'1' } else { b'0' };
    });
    assert!(msg.contains("does not hash to the head"), "{msg}");

    let msg = damage(|t, file| {
        let at = last_record(t);
        file[at + 3] ^= 1;
    });
    assert!(
        msg.contains("a record's length prefix says") && msg.contains("entry 39"),
        "{msg}"
    );

    let msg = damage(|t, file| {
        // The last batch's header in the file, its first index changed.
        let (_, v) = t.scan_prefix(b"l").last().unwrap().unwrap();
        let header = u64::from_be_bytes(v[..8].try_into().unwrap()) as usize - 32;
        file[header + 11] ^= 1;
    });
    assert!(
        msg.contains("header of the last batch (entries 34..40"),
        "{msg}"
    );

    let msg = damage(|t, _| {
        t.insert(b"mhead", b"garbage".to_vec()).unwrap();
    });
    assert!(msg.contains("head record is damaged"), "{msg}");

    let msg = damage(|t, _| {
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

    let msg = damage(|t, _| {
        // Drop the last batch's hash record: fewer hashes than entries need.
        let (k, _) = t.scan_prefix(b"h").last().unwrap().unwrap();
        t.remove(k).unwrap();
    });
    assert!(
        msg.contains("Merkle hashes are stored, but a log of 40 entries has"),
        "{msg}"
    );

    let msg = damage(|_, file| {
        // More past the last located entry than one batch may write: not the
        // remains of an interrupted append, so not cut off.
        file.resize(
            file.len() + (MAX_BATCH_BYTES + entries::HEADER) as usize + 1,
            b'x',
        );
    });
    assert!(msg.contains("restored from a backup?"), "{msg}");
}

fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .position(|w| w == needle)
        .expect("present")
}

#[test]
fn an_entries_file_without_its_database_is_refused_not_emptied() {
    let dir = tempfile::tempdir().unwrap();
    forty(dir.path());
    let path = dir.path().join(entries::FILE_NAME);
    let before = std::fs::read(&path).unwrap();
    std::fs::remove_file(dir.path().join("db")).unwrap();
    let err = Store::open(dir.path()).err().expect("refused");
    assert!(err.to_string().contains("no database beside it"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn an_interrupted_batch_past_the_last_entry_is_cut_off_and_kept_aside() {
    // What a crash between the entries file's fsync and sled's batch leaves:
    // records past the last located entry. They were never acknowledged.
    let dir = tempfile::tempdir().unwrap();
    let more = forty(dir.path());
    let path = dir.path().join(entries::FILE_NAME);
    let good = std::fs::read(&path).unwrap();
    let mut file = good.clone();
    file.extend_from_slice(b"\x00\x00\x01\x00{\"event\":half a record");
    std::fs::write(&path, &file).unwrap();

    let mut store = Store::open(dir.path()).unwrap();
    assert_eq!(store.head().size, 40);
    assert_eq!(std::fs::read(&path).unwrap(), good, "the tail was cut off");
    let kept = dir
        .path()
        .join(format!("{}.cut-at-{}.0", entries::FILE_NAME, good.len()));
    assert_eq!(std::fs::read(&kept).unwrap(), &file[good.len()..]);

    // The next batch goes where the tail was, and every entry reads back.
    store.append_checked(more, &sample::log_signer()).unwrap();
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    let mut replay = tallylog_core::replay::Replay::new();
    for item in store.entry_bytes(0, 43) {
        let (i, bytes) = item.unwrap();
        let e = tallylog_core::entry::Entry::decode(&bytes).unwrap();
        assert_eq!(e.index().0, i);
        replay.push(&e).unwrap();
    }
    assert_eq!(replay.root(), store.head().root);
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
    let msg = damage(|t, _| {
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

/// Turns a store of layout 2 into what layout 1 kept: each entry in sled as
/// `e` + index, an author+seq index, no location records, no layout mark, and
/// (unless `keep_file`) no entries file.
fn to_layout_1(dir: &std::path::Path, keep_file: bool) {
    let store = Store::open(dir).unwrap();
    let all: Vec<(u64, Vec<u8>)> = store
        .entry_bytes(0, store.head().size)
        .map(Result::unwrap)
        .collect();
    drop(store);
    let db = sled_after_store(dir);
    let t = db.open_tree("log").unwrap();
    for (i, bytes) in all {
        let mut k = b"e".to_vec();
        k.extend_from_slice(&i.to_be_bytes());
        t.insert(k, bytes).unwrap();
        // Layout 1's author+seq index (the key's author and seq do not
        // matter here: the records are only dropped).
        let mut k = b"a".to_vec();
        k.extend_from_slice(&[7; 32]);
        k.extend_from_slice(&i.to_be_bytes());
        t.insert(k, &i.to_be_bytes()[..]).unwrap();
    }
    for k in t.scan_prefix(b"l").keys() {
        t.remove(k.unwrap()).unwrap();
    }
    t.remove(b"mformat").unwrap().expect("layout 2 has a mark");
    db.flush().unwrap();
    if !keep_file {
        std::fs::remove_file(dir.join(entries::FILE_NAME)).unwrap();
    }
}

#[test]
fn a_store_of_layout_1_has_its_entries_moved_into_the_entries_file() {
    let dir = tempfile::tempdir().unwrap();
    let more = forty(dir.path());
    let head = Store::open(dir.path()).unwrap().head();
    to_layout_1(dir.path(), false);
    // A move interrupted before its layout mark left part of a file: it is
    // written again from the start.
    std::fs::write(dir.path().join(entries::FILE_NAME), b"partial copy").unwrap();

    let mut store = Store::open(dir.path()).unwrap();
    assert_eq!(store.head(), head);
    let mut replay = tallylog_core::replay::Replay::new();
    for i in 0..head.size {
        replay
            .push(&store.entry(LogIndex(i)).unwrap().unwrap())
            .unwrap();
    }
    assert_eq!(replay.root(), head.root);
    store.append_checked(more, &sample::log_signer()).unwrap();
    let head = store.head();
    drop(store);

    let db = sled_after_store(dir.path());
    let t = db.open_tree("log").unwrap();
    assert_eq!(t.scan_prefix(b"e").count(), 0, "the old records are gone");
    assert_eq!(t.scan_prefix(b"a").count(), 0, "the old index is gone");
    assert_eq!(&*t.get(b"mformat").unwrap().unwrap(), &[2]);
    // A move that wrote its mark but was stopped before removing every old
    // record: the leftovers are removed on the next open, and nothing else
    // changes.
    t.insert(b"e\0\0\0\0\0\0\0\x05", b"leftover".to_vec())
        .unwrap();
    db.flush().unwrap();
    drop(t);
    drop(db);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.head(), head);
    assert_eq!(store.entry_bytes(0, head.size).count() as u64, head.size);
    drop(store);
    let db = sled_after_store(dir.path());
    assert_eq!(db.open_tree("log").unwrap().scan_prefix(b"e").count(), 0);
}

#[test]
fn a_store_of_an_unknown_layout_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    forty(dir.path());
    let db = sled_after_store(dir.path());
    db.open_tree("log")
        .unwrap()
        .insert(b"mformat", &[3])
        .unwrap();
    db.flush().unwrap();
    drop(db);
    let err = Store::open(dir.path()).err().expect("refused");
    assert!(err.to_string().contains("layout is [3]"), "{err}");
}

/// Copies sled's files (everything but the entries file) of `from` into `to`.
fn copy_database(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        if name.to_string_lossy().starts_with(entries::FILE_NAME) {
            continue;
        }
        if e.file_type().unwrap().is_dir() {
            copy_database(&e.path(), &to.join(&name));
        } else {
            std::fs::copy(e.path(), to.join(&name)).unwrap();
        }
    }
}

/// A store of 40 entries whose database was saved, then two more batches
/// (two events, then one) appended, then the saved database put back: the
/// database is older than its entries file. Returns where the saved log's
/// entries end in the file.
fn database_behind(dir: &std::path::Path) -> u64 {
    let more = forty(dir);
    let saved_dir = tempfile::tempdir().unwrap();
    let saved = saved_dir.path();
    copy_database(dir, saved);
    let end = std::fs::metadata(dir.join(entries::FILE_NAME))
        .unwrap()
        .len();
    {
        let mut store = Store::open(dir).unwrap();
        store
            .append_checked(more[..2].to_vec(), &sample::log_signer())
            .unwrap();
        store
            .append_checked(more[2..].to_vec(), &sample::log_signer())
            .unwrap();
        assert_eq!(store.head().size, 43);
    }
    sled_after_store(dir); // waits for the lock to go
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_name()
            .to_string_lossy()
            .starts_with(entries::FILE_NAME)
        {
            continue;
        }
        if e.file_type().unwrap().is_dir() {
            std::fs::remove_dir_all(e.path()).unwrap();
        } else {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
    copy_database(saved, dir);
    end
}

/// Clears the commit flag (byte 24 of its 32-byte header) of the batch whose
/// header is at `at`.
fn uncommit(dir: &std::path::Path, at: u64) {
    let path = dir.join(entries::FILE_NAME);
    let mut file = std::fs::read(&path).unwrap();
    assert_eq!(
        &file[at as usize..at as usize + 4],
        &[0xff; 4],
        "a batch header"
    );
    assert_eq!(file[at as usize + 24], 1, "committed");
    file[at as usize + 24] = 0;
    std::fs::write(&path, file).unwrap();
}

#[test]
fn a_database_older_than_its_entries_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    database_behind(dir.path());
    let len = std::fs::metadata(dir.path().join(entries::FILE_NAME))
        .unwrap()
        .len();
    let err = Store::open(dir.path()).err().expect("refused");
    assert!(
        err.to_string()
            .contains("holds a committed batch of entries 40..42")
            && err
                .to_string()
                .contains("the database is older than the entries file"),
        "{err}"
    );
    // Nothing was cut.
    assert_eq!(
        std::fs::metadata(dir.path().join(entries::FILE_NAME))
            .unwrap()
            .len(),
        len
    );
}

#[test]
fn an_uncommitted_batch_followed_by_more_is_refused() {
    // Not what a crash leaves (that is at most one batch), even though the
    // first batch past the end is not flagged committed.
    let dir = tempfile::tempdir().unwrap();
    let end = database_behind(dir.path());
    uncommit(dir.path(), end);
    let err = Store::open(dir.path()).err().expect("refused");
    assert!(err.to_string().contains("more than one batch"), "{err}");
}

#[test]
fn one_uncommitted_batch_past_the_end_is_cut_off_and_kept() {
    // What a crash after the entries' fsync and before sled's batch leaves:
    // the batch's header, never flagged committed.
    let dir = tempfile::tempdir().unwrap();
    let end = database_behind(dir.path());
    let path = dir.path().join(entries::FILE_NAME);
    let mut file = std::fs::read(&path).unwrap();
    let second = {
        // The header of the second added batch follows the first's records.
        let first_bytes = u64::from_be_bytes(
            file[end as usize + 16..end as usize + 24]
                .try_into()
                .unwrap(),
        );
        end + 32 + first_bytes
    };
    file.truncate(second as usize);
    std::fs::write(&path, &file).unwrap();
    uncommit(dir.path(), end);
    let file = std::fs::read(&path).unwrap();

    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.head().size, 40);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), end);
    let kept = dir
        .path()
        .join(format!("{}.cut-at-{end}.0", entries::FILE_NAME));
    assert!(std::fs::read(kept).unwrap() == file[end as usize..]);
}

#[test]
fn a_layout_1_database_beside_a_layout_2_entries_file_is_refused_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    forty(dir.path());
    to_layout_1(dir.path(), true);
    let path = dir.path().join(entries::FILE_NAME);
    let before = std::fs::read(&path).unwrap();
    let err = Store::open(dir.path()).err().expect("refused");
    assert!(
        err.to_string().contains("holding committed batches"),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn a_last_batch_whose_commit_flag_never_reached_the_disk_gets_it_on_open() {
    // A power cut after sled's batch but before the flag's page was written:
    // the database locates the batch, so it is part of the log.
    let dir = tempfile::tempdir().unwrap();
    forty(dir.path());
    let header = {
        let db = sled_after_store(dir.path());
        let t = db.open_tree("log").unwrap();
        let (_, v) = t.scan_prefix(b"l").last().unwrap().unwrap();
        u64::from_be_bytes(v[..8].try_into().unwrap()) - entries::HEADER
    };
    uncommit(dir.path(), header);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.head().size, 40);
    drop(store);
    let file = std::fs::read(dir.path().join(entries::FILE_NAME)).unwrap();
    assert_eq!(file[header as usize + 24], 1, "the flag is set again");
}

#[test]
fn an_upgrade_refuses_an_entries_file_with_any_committed_batch() {
    // The first batch's flag unset (an upgrade killed before it set the
    // flags), a later one set: still a file that is not the upgrade's own.
    let dir = tempfile::tempdir().unwrap();
    forty(dir.path());
    to_layout_1(dir.path(), true);
    uncommit(dir.path(), 0);
    let err = Store::open(dir.path()).err().expect("refused");
    assert!(
        err.to_string().contains("holding committed batches"),
        "{err}"
    );
}

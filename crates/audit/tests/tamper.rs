//! The tamper suite: a generated log of a few thousand entries, written as an
//! audit bundle, audits clean; then every kind of tampering makes the audit
//! fail and name the entry that was tampered with.

use std::io::Write;

use tallylog_audit::bundle::{Header, Writer, FORMAT};
use tallylog_audit::{audit_bundle, Options, Report};
use tallylog_core::entry::{Entry, GENESIS_PREV};
use tallylog_core::event::{Payload, SignedEvent, VerifiedEvent};
use tallylog_core::keys::test_key;
use tallylog_core::merkle::MemoryTree;
use tallylog_core::publisher::{ChainState, Publisher};
use tallylog_core::sample;
use tallylog_core::types::LogIndex;

/// Checkpoints are signed every this many entries, as the ledger signs one per batch.
const BATCH: usize = 16;

fn events() -> Vec<VerifiedEvent> {
    let mut evs = sample::events();
    evs.extend(sample::more_results(
        &mut sample::continue_after_sample(sample::AUTHORITY_KEY),
        2500,
    ));
    evs
}

fn entries(events: &[SignedEvent]) -> Vec<Entry> {
    let mut prev = GENESIS_PREV;
    events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let entry = Entry::new(LogIndex(i as u64), prev, e.clone());
            prev = entry.chain_hash();
            entry
        })
        .collect()
}

/// A bundle's lines: entries, with a checkpoint after every BATCH entries
/// and after the last, signed over `entries` themselves.
fn lines(entries: &[Entry]) -> Vec<Vec<u8>> {
    let signer = sample::log_signer();
    let mut tree = MemoryTree::new();
    let mut out = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        out.push(e.bytes().to_vec());
        tree.push(e.chain_hash());
        if (i + 1) % BATCH == 0 || i + 1 == entries.len() {
            let note = signer.sign(tree.size(), tree.root());
            out.push(
                format!(
                    "{{\"checkpoint\":{}}}",
                    serde_json::to_string(&String::from_utf8(note).unwrap()).unwrap()
                )
                .into_bytes(),
            );
        }
    }
    out
}

fn header(size: u64) -> Header {
    Header {
        bundle: FORMAT.to_owned(),
        election: sample::ELECTION.parse().unwrap(),
        origin: sample::ORIGIN.parse().unwrap(),
        size,
    }
}

fn audit(lines: &[Vec<u8>], size: u64, opts: Options) -> Report {
    audit_as(lines, &header(size), opts)
}

fn audit_as(lines: &[Vec<u8>], header: &Header, opts: Options) -> Report {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bundle.jsonl");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut w = Writer::new(&mut f, header).unwrap();
    for l in lines {
        // Written raw: a tampered line may not even be JSON any more.
        w.entry(l).unwrap();
    }
    w.finish().unwrap();
    f.flush().unwrap();
    drop(f);
    audit_bundle(&path, opts, |_, _| {}).unwrap()
}

/// The position in `lines` of entry `i`.
fn line_of(lines: &[Vec<u8>], i: u64) -> usize {
    let needle = format!(",\"index\":{i},\"prev\":");
    lines
        .iter()
        .position(|l| l.starts_with(b"{\"event\":") && String::from_utf8_lossy(l).contains(&needle))
        .unwrap()
}

fn assert_names(r: &Report, i: u64, case: &str) {
    assert!(!r.verified, "{case}: the audit passed");
    let f = r.failure.as_ref().unwrap();
    assert!(
        f.names(i),
        "{case}: expected entry {i} to be named, got {f:?}"
    );
}

#[test]
fn the_untouched_log_audits_clean() {
    let evs: Vec<SignedEvent> = events().into_iter().map(|e| e.into_event()).collect();
    let es = entries(&evs);
    let r = audit(&lines(&es), es.len() as u64, Options::default());
    assert!(r.verified, "{:?}", r.failure);
    assert_eq!(r.entries, es.len() as u64);
    assert_eq!(r.checkpoints, es.len().div_ceil(BATCH) as u64);
    assert_eq!(r.origin, Some(sample::ORIGIN.parse().unwrap()));
    assert_eq!(r.election, Some(sample::ELECTION.parse().unwrap()));
    // With the right root key too; with a wrong one, entry 0 is named.
    let root = test_key(sample::ROOT_KEY).verifying_key().into();
    let r = audit(
        &lines(&es),
        es.len() as u64,
        Options {
            root_key: Some(root),
            known: None,
        },
    );
    assert!(r.verified);
    let other = test_key(99).verifying_key().into();
    let r = audit(
        &lines(&es),
        es.len() as u64,
        Options {
            root_key: Some(other),
            known: None,
        },
    );
    assert_names(&r, 0, "wrong root key");
    assert_eq!(r.failure.unwrap().code, "not_root");
}

#[test]
fn a_flipped_byte_anywhere_is_caught_at_its_entry() {
    let evs: Vec<SignedEvent> = events().into_iter().map(|e| e.into_event()).collect();
    let es = entries(&evs);
    let base = lines(&es);
    // A deterministic spread of entries and byte positions, first and last
    // included.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut picks = vec![(0u64, 0usize), (es.len() as u64 - 1, 5)];
    for _ in 0..60 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let i = seed % es.len() as u64;
        let at = (seed >> 20) as usize % es[i as usize].bytes().len();
        picks.push((i, at));
    }
    for (i, at) in picks {
        let mut tampered = base.clone();
        let l = line_of(&base, i);
        tampered[l][at] ^= 0x01;
        let r = audit(&tampered, es.len() as u64, Options::default());
        assert_names(&r, i, &format!("byte {at} of entry {i} flipped"));
    }
}

#[test]
fn deleted_swapped_and_truncated_entries_are_caught() {
    let evs: Vec<SignedEvent> = events().into_iter().map(|e| e.into_event()).collect();
    let es = entries(&evs);
    let base = lines(&es);
    let n = es.len() as u64;

    for i in [0, 7, 1000, n - 1] {
        let mut t = base.clone();
        t.remove(line_of(&base, i));
        assert_names(
            &audit(&t, n, Options::default()),
            i,
            &format!("entry {i} deleted"),
        );
    }
    for i in [3, 500, n - 2] {
        let mut t = base.clone();
        let (a, b) = (line_of(&base, i), line_of(&base, i + 1));
        t.swap(a, b);
        assert_names(
            &audit(&t, n, Options::default()),
            i,
            &format!("entries {i} and {} swapped", i + 1),
        );
    }
    // Cut after entry 2000: its checkpoint and everything later are gone.
    let cut = line_of(&base, 2000);
    let t = base[..cut].to_vec();
    let r = audit(&t, n, Options::default());
    assert_names(&r, 2000, "truncated");
    assert_eq!(r.failure.unwrap().code, "truncated");
}

/// Entry `i` replaced by an event its own author signed again with another
/// figure, in the same place of the author's chain.
fn resigned(evs: &[VerifiedEvent], i: usize) -> SignedEvent {
    let old = evs[i].body();
    let mut p = Publisher::resume(
        test_key(sample::AUTHORITY_KEY),
        sample::ELECTION.parse().unwrap(),
        ChainState {
            seq: old.seq.0 - 1,
            last: old.prev,
        },
    );
    let Payload::Result(mut form) = old.payload.clone() else {
        panic!("entry {i} is a result form");
    };
    form.votes.values_mut().for_each(|v| *v += 1);
    form.valid += 3;
    form.cast += 3;
    p.sign(old.time, Payload::Result(form))
        .unwrap()
        .into_event()
}

#[test]
fn a_validly_resigned_entry_is_caught() {
    let evs = events();
    let mut signed: Vec<SignedEvent> = evs.iter().map(|e| e.event().clone()).collect();
    let n = signed.len() as u64;
    let i = 1234usize;
    assert_eq!(
        evs[i].body().author,
        test_key(sample::AUTHORITY_KEY).verifying_key().into()
    );
    signed[i] = resigned(&evs, i);

    // Spliced into the original entries: the next entry's link breaks.
    let original = entries(&evs.iter().map(|e| e.event().clone()).collect::<Vec<_>>());
    let mut spliced = original.clone();
    spliced[i] = Entry::new(LogIndex(i as u64), original[i].prev(), signed[i].clone());
    let mut t = lines(&original);
    let l = line_of(&t, i as u64);
    t[l] = spliced[i].bytes().to_vec();
    assert_names(
        &audit(&t, n, Options::default()),
        i as u64,
        "re-signed entry spliced in",
    );

    // With the chain rebuilt after it and the old checkpoints kept: the
    // author's next event no longer follows its chain, and the checkpoint
    // covering the entry has another root.
    let rebuilt = entries(&signed);
    let mut t = lines(&rebuilt);
    let old = lines(&original);
    for (k, line) in old.iter().enumerate() {
        if line.starts_with(b"{\"checkpoint\":") {
            t[k] = line.clone();
        }
    }
    assert_names(
        &audit(&t, n, Options::default()),
        i as u64,
        "re-signed entry, chain rebuilt",
    );
}

#[test]
fn a_checkpoint_resigned_over_a_forked_tree_is_caught_by_the_monitor() {
    let evs = events();
    let original: Vec<SignedEvent> = evs.iter().map(|e| e.event().clone()).collect();
    let n = original.len() as u64;
    // An auditor verified the log once and kept its latest checkpoint.
    let first = audit(&lines(&entries(&original)), n, Options::default());
    assert!(first.verified);
    let known = first.latest.unwrap();
    assert_eq!(known.size, n);

    // The operator, who holds the log key, rewrites the last entry (the
    // authority's last form: no later event of its author gives it away),
    // rebuilds the chain and signs new checkpoints over the forked tree.
    let mut forked = original.clone();
    let last = original.len() - 1;
    forked[last] = resigned(&evs, last);
    let forked_lines = lines(&entries(&forked));
    // On its own, the forked log is consistent: that is what a fork is.
    assert!(audit(&forked_lines, n, Options::default()).verified);
    // Against what was verified before, it is caught, at the entry rewritten.
    let r = audit(
        &forked_lines,
        n,
        Options {
            root_key: None,
            known: Some(known),
        },
    );
    assert_names(&r, last as u64, "fork");
    assert_eq!(r.failure.as_ref().unwrap().code, "fork");

    // And a log rolled back to fewer entries is caught too.
    let shorter = lines(&entries(&original[..last]));
    let r = audit(
        &shorter,
        n - 1,
        Options {
            root_key: None,
            known: Some(known),
        },
    );
    assert_eq!(r.failure.unwrap().code, "rollback");
}

#[test]
fn a_second_audit_checks_only_the_new_signatures_and_still_catches_tampering() {
    let evs = events();
    let signed: Vec<SignedEvent> = evs.iter().map(|e| e.event().clone()).collect();
    let first_part = 2000;
    let first = audit(
        &lines(&entries(&signed[..first_part])),
        first_part as u64,
        Options::default(),
    );
    assert!(first.verified);
    let known = first.latest.unwrap();
    let opts = || Options {
        root_key: None,
        known: Some(known),
    };

    // The log has grown: the earlier entries are recognised by their root,
    // and only the new ones have their signatures checked.
    let all = entries(&signed);
    let n = all.len() as u64;
    let r = audit(&lines(&all), n, opts());
    assert!(r.verified, "{:?}", r.failure);
    assert_eq!(r.verified_before, first_part as u64);

    // A new entry with a bad signature is still caught, at its index.
    let mut t = lines(&all);
    let i = 2300u64;
    let l = line_of(&t, i);
    let at = t[l].windows(7).position(|w| w == b"\"sig\":\"").unwrap() + 10;
    t[l][at] = if t[l][at] == b'0' { b'1' } else { b'0' };
    let r = audit(&t, n, opts());
    assert_names(&r, i, "bad signature after the verified prefix");
    assert_eq!(r.failure.unwrap().code, "bad_signature");

    // And an entry changed inside the verified prefix no longer matches its
    // root: nothing is taken as verified before, and the change is caught.
    let mut t = lines(&all);
    let l = line_of(&t, 1500);
    let at = t[l].windows(7).position(|w| w == b"\"sig\":\"").unwrap() + 10;
    t[l][at] = if t[l][at] == b'0' { b'1' } else { b'0' };
    let r = audit(&t, n, opts());
    assert_eq!(r.verified_before, 0);
    assert_names(&r, 1500, "bad signature inside the verified prefix");
}

#[test]
fn a_header_naming_another_log_fails_the_audit() {
    // The header is not signed: a monitor that looked up what it verified
    // before by the header's origin could be shown this log as another one,
    // and miss its fork or rollback. So the header must be the log's own.
    let evs: Vec<SignedEvent> = events().into_iter().map(|e| e.into_event()).collect();
    let es = entries(&evs);
    let n = es.len() as u64;
    let base = lines(&es);
    let other_origin = Header {
        origin: "tallylog.example/another-log".parse().unwrap(),
        ..header(n)
    };
    let other_election = Header {
        election: "another-2023".parse().unwrap(),
        ..header(n)
    };
    for (h, says) in [
        (other_origin, "log tallylog.example/another-log"),
        (other_election, "election another-2023"),
    ] {
        let r = audit_as(&base, &h, Options::default());
        assert!(!r.verified, "{says}: the audit passed");
        let f = r.failure.unwrap();
        assert_eq!((f.index, f.code.as_str()), (Some(0), "header_mismatch"));
        assert!(f.what.contains(says), "{}", f.what);
        assert!(f.what.contains(sample::ORIGIN), "{}", f.what);
    }
}

fn is_checkpoint(line: &[u8]) -> bool {
    line.starts_with(b"{\"checkpoint\":")
}

#[test]
fn entries_after_the_last_checkpoint_are_unanchored() {
    let evs: Vec<SignedEvent> = events().into_iter().map(|e| e.into_event()).collect();
    let es = entries(&evs);
    let n = es.len() as u64;
    let base = lines(&es);

    // The last checkpoint dropped: the entries after the one before it are
    // in no tree the log key signed.
    let mut t = base.clone();
    assert!(is_checkpoint(&t.pop().unwrap()));
    let at = t.iter().rposition(|l| is_checkpoint(l)).unwrap();
    let anchored = t[..at].iter().filter(|l| !is_checkpoint(l)).count() as u64;
    assert!(anchored < n);
    let r = audit(&t, n, Options::default());
    assert!(!r.verified, "trailing entries passed");
    assert_eq!(r.checkpoints, anchored.div_ceil(BATCH as u64));
    let f = r.failure.unwrap();
    assert_eq!((f.index, f.code.as_str()), (Some(anchored), "unanchored"));
    assert_eq!(f.range, Some((anchored, n - 1)));
    assert!(f.what.contains(&format!("entries {anchored} to {}", n - 1)));

    // No checkpoint at all: from the first entry.
    let bare: Vec<Vec<u8>> = base.iter().filter(|l| !is_checkpoint(l)).cloned().collect();
    let r = audit(&bare, n, Options::default());
    let f = r.failure.unwrap();
    assert_eq!((f.index, f.code.as_str()), (Some(0), "unanchored"));

    // Checkpoints only at some sizes are enough when the last covers all.
    let sparse: Vec<Vec<u8>> = base
        .iter()
        .enumerate()
        .filter(|(k, l)| !is_checkpoint(l) || *k == base.len() - 1)
        .map(|(_, l)| l.clone())
        .collect();
    let r = audit(&sparse, n, Options::default());
    assert!(r.verified, "{:?}", r.failure);
    assert_eq!(r.checkpoints, 1);
}

#[test]
fn two_certifications_of_earlier_sizes_are_both_replayed() {
    use tallylog_core::event::Certified;
    use tallylog_tally::{projection_hash, Projection};

    let mut evs = sample::events();
    let mut authority = sample::continue_after_sample(sample::AUTHORITY_KEY);
    evs.extend(sample::more_results(&mut authority, 40));
    let n = evs.len() as u64;
    let hash_at = |evs: &[VerifiedEvent], size: u64| {
        let mut p = Projection::new();
        for (i, e) in evs[..size as usize].iter().enumerate() {
            p.apply(LogIndex(i as u64), e.id(), e.body().clone())
                .unwrap();
        }
        projection_hash(&p)
    };
    // Two claims, each about a size before its own entry.
    let time = "2023-07-24T09:00:00Z".parse().unwrap();
    let (first, second) = (n - 25, n);
    for size in [first, second] {
        let projection = hash_at(&evs, size);
        let c = authority
            .sign(
                time,
                Payload::Certified(Certified {
                    log_size: size,
                    projection,
                }),
            )
            .unwrap();
        evs.push(c);
    }
    let signed: Vec<SignedEvent> = evs.iter().map(|e| e.event().clone()).collect();
    let es = entries(&signed);
    let r = audit(&lines(&es), es.len() as u64, Options::default());
    assert!(r.verified, "{:?}", r.failure);
    assert_eq!(r.certifications.len(), 2);
    for (c, size) in r.certifications.iter().zip([first, second]) {
        assert_eq!(c.log_size, size);
        assert_eq!(c.replayed, Some(c.claimed));
        assert_eq!(c.replayed, Some(hash_at(&evs, size)));
    }

    // The second claim wrong (the first one's hash): caught, at its entry.
    evs.pop();
    let wrong = authority_after(&evs)
        .sign(
            time,
            Payload::Certified(Certified {
                log_size: second,
                projection: hash_at(&evs, first),
            }),
        )
        .unwrap();
    evs.push(wrong);
    let signed: Vec<SignedEvent> = evs.iter().map(|e| e.event().clone()).collect();
    let es = entries(&signed);
    let r = audit(&lines(&es), es.len() as u64, Options::default());
    let f = r.failure.unwrap();
    assert_eq!(
        (f.index, f.code.as_str()),
        (Some(n + 1), "certification_mismatch")
    );
    assert_eq!(
        r.certifications[0].replayed,
        Some(r.certifications[0].claimed)
    );
    assert_eq!(r.certifications[1].replayed, Some(hash_at(&evs, second)));
}

/// The authority's publisher positioned after its last event in `evs`.
fn authority_after(evs: &[VerifiedEvent]) -> Publisher {
    let key = test_key(sample::AUTHORITY_KEY);
    let author: tallylog_core::types::PublicKey = key.verifying_key().into();
    let last = evs.iter().rfind(|e| e.body().author == author).unwrap();
    Publisher::resume(
        key,
        sample::ELECTION.parse().unwrap(),
        ChainState {
            seq: last.body().seq.0,
            last: Some(last.id()),
        },
    )
}

//! Fuzz targets: the decoders that read bytes from strangers, each as a
//! function of arbitrary bytes that panics only when an invariant breaks.
//!
//! The same functions run under libFuzzer (`fuzz/`, with `cargo fuzz` on a
//! nightly toolchain) and under a stable, deterministic smoke run in the test
//! suite (crates/core/tests/fuzz_smoke.rs); docs/FUZZING.md says how to run
//! both. A panic here is a finding: a decoder that panics on input, or one
//! that accepts bytes which are not their own canonical encoding, or two
//! readers of the same bytes that disagree.
//!
//! - [`event`]: signed events and log entries (PROTOCOL.md §3.3, §4), and drafts.
//! - [`checkpoint`]: signed notes and checkpoints (§7), witness cosignatures
//!   and equivocation files.
//! - [`receipt`]: receipts (§8) and the ledger's reply objects (§9).
//! - [`proof`]: inclusion and consistency proofs (§5).

use std::sync::OnceLock;

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use crate::checkpoint::{LogSigner, MAX_CHECKPOINT_BYTES};
use crate::cosign::{self, Cosigner, Equivocation, MAX_COSIGNATURE_TIME};
use crate::entry::{self, Entry};
use crate::event::{Body, Draft, SignedEvent, EVENT_CONTEXT, MAX_EVENT_BYTES};
use crate::json;
use crate::keys::test_key;
use crate::merkle::{self, Hash, MemoryTree, EMPTY_HASH};
use crate::receipt::{Receipt, Reply};
use crate::rules::{self, MemoryState};
use crate::sample;
use crate::types::LogIndex;

/// Every code a signed event can be refused with on its own bytes.
use crate::event::DECODING_CODES as EVENT_CODES;

/// The sample election, accepted in memory, and what the targets check
/// against; built once.
struct Fixture {
    state: MemoryState,
    events: Vec<crate::event::VerifiedEvent>,
    log: LogSigner,
    witness: Cosigner,
    entries: Vec<Entry>,
    checkpoint: Vec<u8>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let events = sample::events();
        let mut state = MemoryState::new();
        let mut tree = MemoryTree::new();
        let mut entries = Vec::new();
        let mut prev = entry::GENESIS_PREV;
        for (i, ev) in events.iter().enumerate() {
            state
                .accept(ev)
                .expect("invariant: the sample election is accepted");
            let e = Entry::new(LogIndex(i as u64), prev, ev.event().clone());
            prev = e.chain_hash();
            tree.push(prev);
            entries.push(e);
        }
        let log = sample::log_signer();
        let checkpoint = log.sign(tree.size(), tree.root());
        Fixture {
            state,
            events,
            log,
            witness: Cosigner::new("witness.example/w1", test_key(90))
                .expect("invariant: a valid witness name"),
            entries,
            checkpoint,
        }
    })
}

/// Decodes `data` as a signed event, an entry and a draft. An event that
/// decodes must be its own canonical encoding, agree with the generic JSON
/// encoder, with the fast reader of stored bytes and, as an entry, with the
/// entry decoders; whatever verifies must be judged by the rules without a
/// panic.
pub fn event(data: &[u8]) {
    if let Ok(d) = Draft::parse(data) {
        let _ = d.payload();
    }
    // The typed fast path answers exactly when the reference accepts, with
    // the same event; `decode` is the one or the other.
    let strict = SignedEvent::decode_strict(data);
    match (SignedEvent::decode_fast(data), &strict) {
        (Some(fast), Ok(ev)) => assert_eq!(&fast, ev, "the fast path read another event"),
        (Some(_), Err(e)) => panic!("the fast path accepted what the reference refuses: {e}"),
        (None, Ok(_)) => panic!("the fast path missed an event the reference accepts"),
        (None, Err(_)) => {}
    }
    assert_eq!(SignedEvent::decode(data), strict);
    // The encoder against the JCS crate it replaced, on any strictly parsed value.
    if let Ok(value) = json::parse(data, MAX_EVENT_BYTES) {
        let oracle = serde_json_canonicalizer::to_vec(&value).expect("no floats after parse");
        assert_eq!(json::encode(&value), oracle, "the JCS encoders disagree");
    }
    match strict {
        Ok(ev) => decoded_event(data, ev),
        Err(e) => assert!(EVENT_CODES.contains(&e.code()), "unknown code {e:?}"),
    }
    match Entry::decode(data) {
        Ok(e) => {
            assert_eq!(e.bytes(), data, "an entry decodes only from its own bytes");
            let back = Entry::new(e.index(), e.prev(), e.event().clone());
            assert_eq!(back.bytes(), data);
        }
        Err(e) => assert!(
            e.code() == "bad_entry" || EVENT_CODES.contains(&e.code()),
            "unknown code {e:?}"
        ),
    }
}

fn decoded_event(data: &[u8], ev: SignedEvent) {
    assert!(data.len() <= MAX_EVENT_BYTES);
    assert_eq!(ev.bytes(), data, "an event decodes only from its own bytes");
    assert_eq!(SignedEvent::decode(ev.bytes()).as_ref(), Ok(&ev));
    let value = json::parse(data, MAX_EVENT_BYTES).expect("invariant: it decoded");
    assert_eq!(json::encode(&value), data, "the generic encoder agrees");
    assert_eq!(ev.body().canonical_bytes(), ev.body_bytes());
    let id: [u8; 32] = Sha256::new()
        .chain_update(EVENT_CONTEXT)
        .chain_update(ev.body_bytes())
        .finalize()
        .into();
    assert_eq!(ev.id().0, id, "the id hashes the signing preimage");
    let (stored_id, stored) =
        Body::decode_stored(ev.body_bytes()).expect("stored bytes of a decoded event read back");
    assert_eq!((stored_id, &stored), (ev.id(), ev.body()));

    // As an entry: built, decoded and read back fast, all alike.
    let e = Entry::new(LogIndex(9), Hash([3; 32]), ev.clone());
    assert_eq!(Entry::decode(e.bytes()).as_ref(), Ok(&e));
    let fast = entry::decode_stored(e.bytes()).expect("a fresh entry reads back");
    assert_eq!(
        (fast.index, fast.prev, fast.id, &fast.body),
        (e.index(), e.prev(), ev.id(), ev.body())
    );

    // The signature: both verifiers agree, and what verifies is judged.
    let verified = ev.clone().verify();
    if let Some(point) = ev.body().author.point() {
        assert_eq!(ev.clone().verify_with(&point).is_ok(), verified.is_ok());
    }
    if let Ok(v) = verified {
        assert!(v.body().author.is_usable(), "only usable keys sign");
        let f = fixture();
        let _ = rules::check(&f.state, &v);
        let _ = rules::check(&MemoryState::new(), &v);
    }
}

/// Verifies `data` as a signed checkpoint of the sample's log, reads it as a
/// cosigned note and an equivocation file; then signs `data` itself as a
/// note text with the sample's log key (a test key), so that the checkpoint
/// parser behind the signature is reached too. A checkpoint that verifies
/// must name exactly the size and root it was read as.
pub fn checkpoint(data: &[u8]) {
    let f = fixture();
    let verifier = f.log.verifier();
    if let Ok(cp) = verifier.verify(data) {
        verified_checkpoint(data, &cp);
    }
    let witness = f.witness.verifier();
    if let Some(time) = witness.cosigned(data) {
        assert!(time <= MAX_COSIGNATURE_TIME);
    }
    if let Some(text) = cosign::note_text(data) {
        assert!(text.ends_with(b"\n") && data.starts_with(text));
        let ours = cosign::note_text(&f.checkpoint).expect("invariant: a signed note");
        let _ = witness.check(ours, &data[text.len()..]);
    }
    if let Ok(e) = serde_json::from_slice::<Equivocation>(data) {
        let _ = e.check();
    }

    // The same bytes as a note text, signed by the log.
    let Ok(mut note) = signed_note::Note::new(data, &[]) else {
        return;
    };
    let signer: &dyn signed_note::Signer = &f.log;
    note.add_sigs(&[signer])
        .expect("invariant: the sample's origin is a valid key name");
    let signed = note.to_bytes();
    if signed.len() > MAX_CHECKPOINT_BYTES {
        return;
    }
    if let Ok(cp) = verifier.verify(&signed) {
        verified_checkpoint(&signed, &cp);
        // Cosigned by a witness, it still verifies, and the witness's line
        // is found.
        let line = f.witness.cosign(&cp, 1_700_000_000);
        let cosigned = cosign::add_lines(&signed, std::slice::from_ref(&line));
        if cosigned.len() <= MAX_CHECKPOINT_BYTES {
            let again = verifier
                .verify(&cosigned)
                .expect("a witness's line does not spoil a verified checkpoint");
            assert_eq!((again.size(), again.root()), (cp.size(), cp.root()));
            assert_eq!(witness.cosigned(&cosigned), Some(1_700_000_000));
        }
    }
}

fn verified_checkpoint(note: &[u8], cp: &crate::checkpoint::VerifiedCheckpoint) {
    let f = fixture();
    assert_eq!(cp.note(), note);
    let text = cosign::note_text(note).expect("a verified note has a text");
    let head = format!(
        "{}\n{}\n{}\n",
        f.log.origin(),
        cp.size(),
        base64::engine::general_purpose::STANDARD.encode(cp.root().0)
    );
    assert!(
        text.starts_with(head.as_bytes()),
        "a checkpoint names its size and root canonically"
    );
}

/// Decodes `data` as a receipt and as a reply object. A receipt that decodes
/// must be its own canonical encoding; checking it against any event must
/// not panic, and it proves only the event at its index.
pub fn receipt(data: &[u8]) {
    let _ = serde_json::from_slice::<Reply>(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(r) = Receipt::decode(text) else {
        return;
    };
    assert_eq!(r.encode(), text, "a receipt decodes only from its own text");
    let f = fixture();
    let log = f.log.verifier();
    for (i, ev) in f.events.iter().enumerate().take(3) {
        if r.verify(ev.event(), &log).is_ok() {
            // Only the entry that is there is proven: its index and link.
            let e = &f.entries[r.index.0 as usize];
            assert_eq!((e.index(), e.prev()), (r.index, r.prev), "event {i}");
            assert_eq!(e.event(), ev.event());
        }
    }
}

/// Reads from fuzz input; past its end, zeros.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn u64(&mut self) -> u64 {
        (0..8).fold(0, |n, _| (n << 8) | u64::from(self.u8()))
    }
    fn hash(&mut self) -> Hash {
        let mut h = [0u8; 32];
        h.iter_mut().for_each(|b| *b = self.u8());
        Hash(h)
    }
}

/// The leaves of the tree the proof target checks against.
const PROOF_TREE: u64 = 70;

fn proof_tree() -> &'static (MemoryTree, Vec<Hash>) {
    static TREE: OnceLock<(MemoryTree, Vec<Hash>)> = OnceLock::new();
    TREE.get_or_init(|| {
        let leaves: Vec<Hash> = (0..PROOF_TREE)
            .map(|i| merkle::record_hash(format!("leaf {i}").as_bytes()))
            .collect();
        let mut tree = MemoryTree::new();
        leaves.iter().for_each(|l| tree.push(*l));
        (tree, leaves)
    })
}

/// Checks proofs read from `data`: first any sizes, hashes and proofs at
/// all (no panic, whatever the sizes), then honest proofs of a small tree,
/// altered as `data` says: a proof verifies exactly when it is the honest
/// proof for what it claims (RFC 6962 proofs are unique, short of a SHA-256
/// collision).
pub fn proof(data: &[u8]) {
    let mut input = Input(data);
    let mode = input.u8();
    if mode & 1 == 0 {
        let (t, n) = (input.u64(), input.u64());
        let (root, other) = (input.hash(), input.hash());
        let len = usize::from(input.u8() % 80);
        let p: Vec<Hash> = (0..len).map(|_| input.hash()).collect();
        let _ = merkle::check_inclusion(&p, t, root, n, other);
        let _ = merkle::check_consistency(&p, t, root, n, other);
        return;
    }
    let (tree, leaves) = proof_tree();
    let t = u64::from(input.u8()) % (PROOF_TREE + 1);
    let n = u64::from(input.u8()) % (PROOF_TREE + 1);
    let consistency = mode & 2 != 0;
    let honest = if consistency {
        (n <= t).then(|| merkle::prove_consistency(t, n, tree).expect("invariant: in the tree"))
    } else {
        (n < t).then(|| merkle::prove_inclusion(t, n, tree).expect("invariant: in the tree"))
    };
    let mut p = honest.clone().unwrap_or_default();
    let (mut t2, mut n2) = (t, n);
    // Up to four alterations, each chosen by the input.
    for _ in 0..(mode >> 2) % 5 {
        match input.u8() % 7 {
            0 if !p.is_empty() => {
                let i = usize::from(input.u8()) % p.len();
                let bit = input.u8();
                p[i].0[usize::from(bit / 8) % 32] ^= 1 << (bit % 8);
            }
            1 => {
                p.pop();
            }
            2 => p.push(input.hash()),
            3 if p.len() > 1 => {
                let (i, j) = (usize::from(input.u8()), usize::from(input.u8()));
                let len = p.len();
                p.swap(i % len, j % len);
            }
            4 => t2 = u64::from(input.u8()) % (PROOF_TREE + 1),
            5 => n2 = u64::from(input.u8()) % (PROOF_TREE + 1),
            6 => p.insert(0, EMPTY_HASH),
            _ => {}
        }
    }
    let root = tree.root_at(t2).expect("invariant: t2 is within the tree");
    if consistency {
        let old = tree.root_at(n2).expect("invariant: n2 is within the tree");
        let ok = merkle::check_consistency(&p, t2, root, n2, old).is_ok();
        let want = n2 <= t2
            && merkle::prove_consistency(t2, n2, tree).expect("invariant: in the tree") == p;
        assert_eq!(ok, want, "consistency {n2} -> {t2} with {} hashes", p.len());
    } else {
        let leaf = leaves[(n2 % PROOF_TREE) as usize];
        let ok = merkle::check_inclusion(&p, t2, root, n2, leaf).is_ok();
        let want =
            n2 < t2 && merkle::prove_inclusion(t2, n2, tree).expect("invariant: in the tree") == p;
        assert_eq!(
            ok,
            want,
            "inclusion of {n2} in {t2} with {} hashes",
            p.len()
        );
    }
}

//! Golden vectors: published ones (RFC 6962, RFC 8032) that our code must
//! reproduce, and our own (`testdata/vectors/`) that pin tallylog's formats, so
//! that a change to any hashed or signed byte fails here first.
//!
//! To regenerate our own vectors after a deliberate, documented format change:
//! `TALLYLOG_BLESS=1 cargo test -p tallylog-core --test vectors`, then update
//! docs/PROTOCOL.md to match.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use tallylog_core::checkpoint::{verifier_key, LogVerifier};
use tallylog_core::entry::{Entry, GENESIS_PREV};
use tallylog_core::event::{SignedEvent, VerifiedEvent, EVENT_CONTEXT};
use tallylog_core::keys::test_key;
use tallylog_core::merkle::{self, record_hash, Hash, MemoryTree, MerkleError};
use tallylog_core::sample;
use tallylog_core::types::LogIndex;

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

fn read_json(name: &str) -> Value {
    let p = testdata().join(name);
    serde_json::from_slice(&std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .unwrap()
}

fn h(s: &Value) -> Hash {
    Hash(
        hex::decode(s.as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap(),
    )
}

fn hashes(v: &Value) -> Vec<Hash> {
    v.as_array().unwrap().iter().map(h).collect()
}

#[test]
fn rfc6962_reference_tree() {
    let v = read_json("rfc6962.json");
    let mut tree = MemoryTree::new();
    let roots = hashes(&v["roots"]);
    assert_eq!(tree.root(), roots[0]);
    for (i, leaf) in v["leaves"].as_array().unwrap().iter().enumerate() {
        tree.push(record_hash(&hex::decode(leaf.as_str().unwrap()).unwrap()));
        assert_eq!(tree.root(), roots[i + 1], "root of size {}", i + 1);
    }
    for case in v["inclusion"].as_array().unwrap() {
        let (n, t) = (
            case["index"].as_u64().unwrap(),
            case["size"].as_u64().unwrap(),
        );
        let want = hashes(&case["proof"]);
        assert_eq!(merkle::prove_inclusion(t, n, &tree).unwrap(), want);
        let leaf = record_hash(&hex::decode(v["leaves"][n as usize].as_str().unwrap()).unwrap());
        merkle::check_inclusion(&want, t, roots[t as usize], n, leaf).unwrap();
    }
    for case in v["consistency"].as_array().unwrap() {
        let (n, t) = (case["old"].as_u64().unwrap(), case["new"].as_u64().unwrap());
        let want = hashes(&case["proof"]);
        assert_eq!(merkle::prove_consistency(t, n, &tree).unwrap(), want);
        merkle::check_consistency(&want, t, roots[t as usize], n, roots[n as usize]).unwrap();
    }
}

#[test]
fn rfc8032_signatures_verify_strictly() {
    let v = read_json("rfc8032.json");
    for case in v["vectors"].as_array().unwrap() {
        let b = |k: &str| hex::decode(case[k].as_str().unwrap()).unwrap();
        let key = ed25519_dalek::SigningKey::from_bytes(&b("secret").try_into().unwrap());
        assert_eq!(key.verifying_key().as_bytes().to_vec(), b("public"));
        use ed25519_dalek::Signer;
        let sig = key.sign(&b("message"));
        assert_eq!(sig.to_bytes().to_vec(), b("signature"));
        key.verifying_key()
            .verify_strict(&b("message"), &sig)
            .unwrap();
    }
}

/// Everything our vectors contain, computed from the code.
fn our_vectors() -> BTreeMap<&'static str, Vec<u8>> {
    let events = sample::events();
    let signer = sample::log_signer();
    let mut out = BTreeMap::new();

    let keys: Vec<Value> = [
        ("root", sample::ROOT_KEY),
        ("log", sample::LOG_KEY),
        ("authority", sample::AUTHORITY_KEY),
        ("observer", sample::OBSERVER_KEY),
        ("party_agent", sample::AGENT_KEY),
        ("watch", sample::WATCH_KEY),
        ("observer_rotated", sample::OBSERVER_NEW_KEY),
    ]
    .iter()
    .map(|(name, n)| {
        let k = test_key(*n);
        json!({
            "name": name,
            "test_key": n,
            "secret": hex::encode(k.to_bytes()),
            "public": hex::encode(k.verifying_key().to_bytes()),
        })
    })
    .collect();
    let log_public = signer.public_key();
    out.insert(
        "keys.json",
        pretty(&json!({
            "note": "Test keys: secret = SHA-256(\"tallylog test key \" || n). Public knowledge; never use them for anything real.",
            "keys": keys,
            "log_origin": sample::ORIGIN,
            "log_verifier_key": verifier_key(sample::ORIGIN, &log_public),
        })),
    );

    let mut lines = Vec::new();
    let mut meta = Vec::new();
    for ev in &events {
        lines.extend_from_slice(ev.bytes());
        lines.push(b'\n');
        let preimage = ev.event().signing_preimage();
        assert_eq!(&preimage[..EVENT_CONTEXT.len()], EVENT_CONTEXT);
        meta.push(json!({
            "kind": ev.kind().as_str(),
            "id": ev.id().to_hex(),
            "body_bytes": preimage.len() - EVENT_CONTEXT.len(),
        }));
    }
    out.insert("events.jsonl", lines);
    out.insert("events.json", pretty(&json!(meta)));

    let mut tree = MemoryTree::new();
    let mut prev = GENESIS_PREV;
    let mut entries = Vec::new();
    let mut chain = Vec::new();
    let mut roots = vec![hex::encode(tree.root().0)];
    for (i, ev) in events.iter().enumerate() {
        let e = Entry::new(LogIndex(i as u64), prev, ev.event().clone());
        entries.extend_from_slice(e.bytes());
        entries.push(b'\n');
        prev = e.chain_hash();
        chain.push(hex::encode(prev.0));
        tree.push(prev);
        roots.push(hex::encode(tree.root().0));
    }
    out.insert("entries.jsonl", entries);
    let size = tree.size();
    let hexes = |v: Vec<Hash>| v.iter().map(|h| hex::encode(h.0)).collect::<Vec<_>>();
    let inclusion: Vec<Value> = [(0, size), (5, size), (size - 1, size), (3, 7)]
        .iter()
        .map(|&(n, t)| json!({"index": n, "size": t, "proof": hexes(merkle::prove_inclusion(t, n, &tree).unwrap())}))
        .collect();
    let consistency: Vec<Value> = [(1, size), (7, size), (8, 13), (size - 1, size)]
        .iter()
        .map(|&(n, t)| json!({"old": n, "new": t, "proof": hexes(merkle::prove_consistency(t, n, &tree).unwrap())}))
        .collect();
    out.insert(
        "log.json",
        pretty(&json!({
            "chain_hashes": chain,
            "roots": roots,
            "inclusion": inclusion,
            "consistency": consistency,
        })),
    );
    out.insert("checkpoint.txt", signer.sign(size, tree.root()));
    out
}

fn pretty(v: &Value) -> Vec<u8> {
    let mut b = serde_json::to_vec_pretty(v).unwrap();
    b.push(b'\n');
    b
}

#[test]
fn our_vectors_are_reproduced_byte_for_byte() {
    let dir = testdata().join("vectors");
    let bless = std::env::var_os("TALLYLOG_BLESS").is_some();
    for (name, want) in our_vectors() {
        let path = dir.join(name);
        if bless {
            std::fs::write(&path, &want).unwrap();
            continue;
        }
        let have = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            have == want,
            "{} differs from what the code produces: a hashed or signed format changed. \
             If deliberate, re-bless (see this file's header) and update docs/PROTOCOL.md.",
            path.display()
        );
    }
}

fn vector_events() -> Vec<Vec<u8>> {
    std::fs::read(testdata().join("vectors/events.jsonl"))
        .unwrap()
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

#[test]
fn every_vector_event_verifies_and_every_flipped_byte_is_refused() {
    let lines = vector_events();
    assert!(lines.len() > 10);
    for (n, line) in lines.iter().enumerate() {
        let ev = SignedEvent::decode_verified(line).unwrap_or_else(|e| panic!("event {n}: {e}"));
        let sig_start = line.len() - 130; // `"` + 128 hex digits + `"}`
        assert_eq!(&line[sig_start - 7..sig_start], b"\"sig\":\"");
        for i in 0..line.len() {
            for bit in [0x01u8, 0x20, 0x80] {
                let mut bad = line.clone();
                bad[i] ^= bit;
                match SignedEvent::decode_verified(&bad) {
                    Ok(_) => panic!("event {n}: flipping {bit:#x} at byte {i} was accepted"),
                    // A flip that still decodes must be caught by the signature.
                    Err(e) if SignedEvent::decode(&bad).is_ok() => {
                        assert_eq!(e.code(), "bad_signature", "event {n} byte {i}")
                    }
                    Err(_) => {}
                }
            }
        }
        let _ = ev;
    }
}

#[test]
fn every_vector_entry_chains_and_every_flipped_byte_breaks_the_chain() {
    let log = read_json("vectors/log.json");
    let chain = hashes(&log["chain_hashes"]);
    let entries: Vec<Vec<u8>> = std::fs::read(testdata().join("vectors/entries.jsonl"))
        .unwrap()
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    let mut prev = GENESIS_PREV;
    for (i, bytes) in entries.iter().enumerate() {
        let e = Entry::decode(bytes).unwrap();
        assert_eq!((e.index().0, e.prev()), (i as u64, prev));
        assert_eq!(e.chain_hash(), chain[i]);
        prev = chain[i];
        // Any single flipped byte either fails to decode or hashes differently,
        // which breaks the next entry's prev link and the Merkle root.
        for j in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[j] ^= 0x04;
            if let Ok(e) = Entry::decode(&bad) {
                assert_ne!(e.chain_hash(), chain[i], "entry {i} byte {j}");
            }
        }
    }
}

#[test]
fn vector_proofs_and_checkpoint_verify_and_every_flip_fails() {
    let log = read_json("vectors/log.json");
    let keys = read_json("vectors/keys.json");
    let chain = hashes(&log["chain_hashes"]);
    let roots = hashes(&log["roots"]);
    for case in log["inclusion"].as_array().unwrap() {
        let (n, t) = (
            case["index"].as_u64().unwrap(),
            case["size"].as_u64().unwrap(),
        );
        let proof = hashes(&case["proof"]);
        merkle::check_inclusion(&proof, t, roots[t as usize], n, chain[n as usize]).unwrap();
        for k in 0..proof.len() {
            for byte in 0..32 {
                let mut bad = proof.clone();
                bad[k].0[byte] ^= 0x10;
                assert_eq!(
                    merkle::check_inclusion(&bad, t, roots[t as usize], n, chain[n as usize]),
                    Err(MerkleError::InvalidProof)
                );
            }
        }
    }
    for case in log["consistency"].as_array().unwrap() {
        let (n, t) = (case["old"].as_u64().unwrap(), case["new"].as_u64().unwrap());
        let proof = hashes(&case["proof"]);
        merkle::check_consistency(&proof, t, roots[t as usize], n, roots[n as usize]).unwrap();
        for k in 0..proof.len() {
            for byte in 0..32 {
                let mut bad = proof.clone();
                bad[k].0[byte] ^= 0x10;
                assert_eq!(
                    merkle::check_consistency(&bad, t, roots[t as usize], n, roots[n as usize]),
                    Err(MerkleError::InvalidProof)
                );
            }
        }
    }

    let cp = std::fs::read(testdata().join("vectors/checkpoint.txt")).unwrap();
    let public: [u8; 32] = hex::decode(keys["keys"][1]["public"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let verifier = LogVerifier::new(
        keys["log_origin"].as_str().unwrap(),
        tallylog_core::types::PublicKey::from_bytes(&public).unwrap(),
    )
    .unwrap();
    let v = verifier.verify(&cp).unwrap();
    assert_eq!(v.size() as usize, chain.len());
    assert_eq!(v.root(), *roots.last().unwrap());
    for i in 0..cp.len() {
        let mut bad = cp.clone();
        bad[i] ^= 0x01;
        assert!(verifier.verify(&bad).is_err(), "checkpoint byte {i}");
    }
}

#[test]
fn the_vector_log_is_accepted_by_the_rules_in_order() {
    let mut state = tallylog_core::rules::MemoryState::new();
    for line in vector_events() {
        let ev: VerifiedEvent = SignedEvent::decode_verified(&line).unwrap();
        state.accept(&ev).unwrap();
    }
}

#[test]
fn stored_entries_read_quickly_agree_with_the_strict_decoder() {
    let text = std::fs::read_to_string(testdata().join("vectors/entries.jsonl")).unwrap();
    for line in text.lines() {
        let strict = Entry::decode(line.as_bytes()).unwrap();
        let quick = tallylog_core::entry::decode_stored(line.as_bytes()).unwrap();
        assert_eq!(quick.index, strict.index());
        assert_eq!(quick.prev, strict.prev());
        assert_eq!(quick.id, strict.event().id());
        assert_eq!(&quick.body, strict.event().body());
    }
    // Not an entry at all: an error, not a panic.
    for bad in ["", "{}", "{\"event\":1}", &text[..100]] {
        assert!(tallylog_core::entry::decode_stored(bad.as_bytes()).is_err());
    }
}

//! The projection hash's golden vector: the sample election's projection as
//! its records (`testdata/vectors/projection.jsonl`, one canonical JSON record
//! per line) and its hash (`testdata/vectors/projection.txt`). A change to the
//! fold or to the record format fails here first.
//!
//! To regenerate after a deliberate, documented change:
//! `TALLYLOG_BLESS=1 cargo test -p tallylog-tally --test vectors`, then update
//! docs/PROTOCOL.md §13 to match.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tallylog_core::sample;
use tallylog_core::types::LogIndex;
use tallylog_tally::hash::{records, DOMAIN};
use tallylog_tally::{projection_hash, Projection};

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/vectors")
}

#[test]
fn the_sample_projection_is_reproduced_byte_for_byte() {
    let mut p = Projection::new();
    for (i, ev) in sample::events().into_iter().enumerate() {
        p.apply(LogIndex(i as u64), ev.id(), ev.body().clone())
            .unwrap();
    }
    let mut lines = Vec::new();
    records(&p, &mut |r| {
        lines.extend_from_slice(r);
        lines.push(b'\n');
    });
    let hash = projection_hash(&p);
    // The hash is the stream hash of the records, as PROTOCOL.md §13 says.
    let again: [u8; 32] = Sha256::new()
        .chain_update(DOMAIN)
        .chain_update(&lines)
        .finalize()
        .into();
    assert_eq!(hash.0, again);

    let want = [
        ("projection.jsonl", lines),
        (
            "projection.txt",
            format!("{}\n", hash.to_hex()).into_bytes(),
        ),
    ];
    for (name, bytes) in want {
        let path = vectors().join(name);
        if std::env::var_os("TALLYLOG_BLESS").is_some() {
            std::fs::write(&path, &bytes).unwrap();
            continue;
        }
        let have = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            have == bytes,
            "{} differs from what the fold produces; if deliberate, re-bless (see this file's header)",
            path.display()
        );
    }
}

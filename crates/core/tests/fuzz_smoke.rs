//! A short, deterministic run of the fuzz targets (`tallylog_core::fuzz`) on
//! the stable toolchain, as part of the test suite: every target gets its
//! seeds (the hostile-input corpus, the golden vectors, receipts, cosigned
//! checkpoints and equivocation files made here) and then a few thousand
//! mutations of them. A target panics on a finding (a panic of a decoder, an
//! accepted input that is not its own canonical encoding, two readers that
//! disagree, a proof that verifies but is not the honest one).
//!
//! This is no substitute for coverage-guided fuzzing (fuzz/, docs/FUZZING.md)
//! but it keeps the targets compiling and honest and catches shallow
//! regressions in seconds. For a longer run:
//! `TALLYLOG_FUZZ_ITERATIONS=200000 TALLYLOG_FUZZ_SEED=7 cargo test --release
//! -p tallylog-core --test fuzz_smoke -- --nocapture`. With
//! `TALLYLOG_FUZZ_SEEDS=fuzz/corpus` it also writes each target's seeds there,
//! as libFuzzer's starting corpus.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Instant;

use tallylog_core::checkpoint::LogSigner;
use tallylog_core::cosign::{self, Cosigner, Equivocation};
use tallylog_core::entry::{Entry, GENESIS_PREV};
use tallylog_core::event::SignedEvent;
use tallylog_core::fuzz;
use tallylog_core::keys::test_key;
use tallylog_core::merkle::{self, record_hash, MemoryTree};
use tallylog_core::receipt::{Receipt, Reply};
use tallylog_core::sample;
use tallylog_core::types::LogIndex;

/// Mutated inputs per target unless `TALLYLOG_FUZZ_ITERATIONS` says otherwise.
const ITERATIONS: u64 = 5_000;

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

fn iterations() -> u64 {
    std::env::var("TALLYLOG_FUZZ_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(ITERATIONS)
}

/// xorshift64*: small, fast and the same everywhere, so a failure seen in CI
/// is the same failure on a laptop.
struct Rng(u64);

impl Rng {
    fn new(target: &str) -> Rng {
        let seed: u64 = std::env::var("TALLYLOG_FUZZ_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1);
        // Each target its own stream, from the target's name.
        let mut x = seed ^ 0x9e37_79b9_7f4a_7c15;
        for b in target.bytes() {
            x = (x ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
        Rng(x | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Bytes and tokens that decoders treat specially.
const TOKENS: &[&[u8]] = &[
    b"\"",
    b"\\",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b" ",
    b"\n",
    b"\r\n",
    b"\n\n",
    b"-0",
    b"-1",
    b"1e3",
    b"0.5",
    b"01",
    b"+1",
    b"9007199254740992",
    b"18446744073709551616",
    b"null",
    b"true",
    b"{}",
    b"[]",
    b"\\u0000",
    b"\\ud800",
    b"\\u00e9",
    b"\\/",
    b"\"seq\":1,",
    b"\"\\u0073eq\":1,",
    b"\"prev\":null,",
    b"\xef\xbb\xbf",
    b"\xff",
    b"\xc0\xaf",
    b"\xed\xa0\x80",
    b"\xe2\x80\x94 ",
    b"=",
    b"+",
    b"/",
    b"index ",
    b"extra ",
    b"\xe2\x80\x94 tallylog.example/sample-2023 ",
];

const HEX: &[u8] = b"0123456789abcdef";
const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// One to four random edits of `input`, some aware of JSON, hex and base64.
fn mutate(rng: &mut Rng, input: &[u8], seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut b = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(b.len() + 1);
        match rng.below(12) {
            0 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            1 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] = [0u8, 0x7f, 0x80, 0xff, b'"', b'\\', b'0', b'9', b'a', b'A'][rng.below(10)];
            }
            2 | 3 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                b.splice(at..at, t.iter().copied());
            }
            4 if !b.is_empty() => {
                let end = (at + 1 + rng.below(16)).min(b.len());
                b.drain(at.min(end)..end);
            }
            5 if !b.is_empty() => {
                let start = rng.below(b.len());
                let end = (start + 1 + rng.below(32)).min(b.len());
                let chunk = b[start..end].to_vec();
                b.splice(at..at, chunk);
            }
            6 => b.truncate(at),
            7 => {
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len() + 1);
                b.truncate(at);
                b.extend_from_slice(&other[from..]);
            }
            8 => {
                // A digit run becomes a number decoders must refuse or read
                // exactly.
                if let Some(start) = (at..b.len()).find(|&i| b[i].is_ascii_digit()) {
                    let end = (start..b.len())
                        .find(|&i| !b[i].is_ascii_digit())
                        .unwrap_or(b.len());
                    let n: &[u8] = [
                        &b"0"[..],
                        b"-0",
                        b"00",
                        b"9007199254740991",
                        b"9007199254740992",
                        b"18446744073709551615",
                        b"4294967296",
                        b"1.0",
                    ][rng.below(8)];
                    b.splice(start..end, n.iter().copied());
                }
            }
            9 => {
                // One hex digit of an id, key or signature: well-formed, wrong.
                let hex: Vec<usize> = (0..b.len()).filter(|&i| HEX.contains(&b[i])).collect();
                if !hex.is_empty() {
                    let i = hex[rng.below(hex.len())];
                    b[i] = HEX[rng.below(16)];
                }
            }
            10 => {
                let b64: Vec<usize> = (0..b.len()).filter(|&i| B64.contains(&b[i])).collect();
                if !b64.is_empty() {
                    let i = b64[rng.below(b64.len())];
                    b[i] = B64[rng.below(64)];
                }
            }
            _ if b.len() > 1 => {
                let (i, j) = (rng.below(b.len()), rng.below(b.len()));
                b.swap(i, j);
            }
            _ => {}
        }
    }
    b
}

/// Runs `target` on every seed, then on `iterations()` mutations; a panic
/// fails the test, naming the input (and saving it for a rerun).
fn run(name: &str, target: fn(&[u8]), seeds: &[Vec<u8>]) {
    assert!(!seeds.is_empty());
    // Seeds for libFuzzer's corpus directories (docs/FUZZING.md).
    if let Some(dir) = std::env::var_os("TALLYLOG_FUZZ_SEEDS") {
        let dir = Path::new(&dir).join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for (i, s) in seeds.iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i:04}")), s).unwrap();
        }
    }
    let started = Instant::now();
    let mut rng = Rng::new(name);
    let n = iterations();
    let call = |input: &[u8], what: &str| {
        if catch_unwind(AssertUnwindSafe(|| target(input))).is_err() {
            let file =
                Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("fuzz-smoke-{name}.bin"));
            let _ = std::fs::write(&file, input);
            panic!(
                "fuzz target {name} failed on {what}, saved to {}: {}",
                file.display(),
                String::from_utf8_lossy(&input[..input.len().min(2000)]).escape_debug()
            );
        }
    };
    for (i, s) in seeds.iter().enumerate() {
        call(s, &format!("seed {i}"));
    }
    for i in 0..n {
        let seed = &seeds[rng.below(seeds.len())];
        let input = mutate(&mut rng, seed, seeds);
        call(&input, &format!("mutation {i}"));
    }
    eprintln!(
        "fuzz smoke {name}: {} seeds, {n} mutations in {:.1} s",
        seeds.len(),
        started.elapsed().as_secs_f64()
    );
}

fn lines(file: &Path) -> Vec<Vec<u8>> {
    std::fs::read(file)
        .unwrap()
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

/// The hostile-input corpus, every file.
fn corpus() -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(testdata().join("bad/cases"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|f| std::fs::read(f).unwrap())
        .collect()
}

/// The sample's log: its entries, tree, log signer and signed checkpoint.
struct Log {
    entries: Vec<Entry>,
    tree: MemoryTree,
    signer: LogSigner,
}

fn sample_log() -> Log {
    let mut tree = MemoryTree::new();
    let mut entries = Vec::new();
    let mut prev = GENESIS_PREV;
    for (i, ev) in sample::events().iter().enumerate() {
        let e = Entry::new(LogIndex(i as u64), prev, ev.event().clone());
        prev = e.chain_hash();
        tree.push(prev);
        entries.push(e);
    }
    Log {
        entries,
        tree,
        signer: sample::log_signer(),
    }
}

#[test]
fn events_and_entries() {
    let vectors = testdata().join("vectors");
    let mut seeds = corpus();
    seeds.extend(lines(&vectors.join("events.jsonl")));
    seeds.extend(lines(&vectors.join("entries.jsonl")));
    let decodable = seeds
        .iter()
        .filter(|s| SignedEvent::decode(s).is_ok())
        .count();
    assert!(decodable >= 28, "the vectors decode: {decodable}");
    run("event", fuzz::event, &seeds);
}

#[test]
fn checkpoints_cosignatures_and_equivocations() {
    let log = sample_log();
    let mut seeds = vec![std::fs::read(testdata().join("vectors/checkpoint.txt")).unwrap()];
    let witness = Cosigner::new("witness.example/w1", test_key(90)).unwrap();
    for size in [0, 1, 7, 28] {
        let note = log.signer.sign(size, log.tree.root_at(size).unwrap());
        let cp = log.signer.verifier().verify(&note).unwrap();
        let line = witness.cosign(&cp, 1_700_000_000 + size);
        seeds.push(cosign::add_lines(&note, &[line]));
        seeds.push(cosign::note_text(&note).unwrap().to_vec());
        seeds.push(note);
    }
    let a = String::from_utf8(log.signer.sign(5, record_hash(b"a"))).unwrap();
    let b = String::from_utf8(log.signer.sign(5, record_hash(b"b"))).unwrap();
    let c = String::from_utf8(log.signer.sign(9, log.tree.root_at(9).unwrap())).unwrap();
    for (x, y, proof) in [(a.clone(), b, vec![]), (a, c, vec!["00".repeat(32)])] {
        let e = Equivocation {
            origin: sample::ORIGIN.to_owned(),
            log_key: log.signer.public_key(),
            a: x,
            b: y,
            proof,
        };
        seeds.push(serde_json::to_vec(&e).unwrap());
    }
    run("checkpoint", fuzz::checkpoint, &seeds);
}

#[test]
fn receipts_and_replies() {
    let log = sample_log();
    let note = log.signer.sign(log.tree.size(), log.tree.root());
    let mut seeds = Vec::new();
    for (i, e) in log.entries.iter().enumerate() {
        let r = Receipt {
            index: e.index(),
            prev: e.prev(),
            proof: merkle::prove_inclusion(log.tree.size(), i as u64, &log.tree).unwrap(),
            checkpoint: note.clone(),
        };
        // Each receipt proves its event, as the target assumes of seeds.
        r.verify(e.event(), &log.signer.verifier()).unwrap();
        let text = r.encode();
        seeds.push(
            serde_json::to_vec(&Reply::Accepted {
                id: e.event().id(),
                index: i as u64,
                receipt: text.clone(),
            })
            .unwrap(),
        );
        seeds.push(text.into_bytes());
    }
    seeds.push(
        serde_json::to_vec(&Reply::Rejected {
            id: None,
            code: "malformed_json".to_owned(),
            message: "x".to_owned(),
        })
        .unwrap(),
    );
    run("receipt", fuzz::receipt, &seeds);
}

#[test]
fn proofs() {
    // Mode byte, then sizes and alterations; odd modes use the honest tree.
    let mut seeds = Vec::new();
    for mode in 0..16u8 {
        for (t, n) in [(1, 0), (2, 1), (7, 3), (8, 8), (64, 31), (70, 69), (70, 0)] {
            seeds.push(vec![mode, t, n, 1, 2, 3, 4, 5, 6, 7, 8]);
        }
    }
    seeds.push([&[0u8][..], &[0xff; 16], &[0; 64], &[40]].concat());
    run("proof", fuzz::proof, &seeds);
}

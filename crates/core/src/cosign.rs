//! Witness cosignatures on checkpoints (c2sp.org/tlog-cosignature, the
//! Ed25519 `cosignature/v1` type), and equivocation proofs.
//!
//! A witness that has checked a checkpoint is consistent with the last one it
//! cosigned adds a signature line to the checkpoint's note:
//!
//! ```text
//! — <witness name> base64(key ID (4 bytes) || timestamp (8 bytes, big-endian) || Ed25519 signature (64))
//! key ID    = SHA-256(<name> || "\n" || 0x04 || public key)[:4]
//! signed    = "cosignature/v1\n" || "time " || <timestamp in decimal> || "\n" || <checkpoint text>
//! ```
//!
//! The timestamp (seconds since the epoch) is the witness's own clock: the
//! first independent evidence of when a log held its entries. As
//! c2sp.org/tlog-cosignature requires, it is below 2^63: a line with a larger
//! one is not a valid cosignature, whatever its signature.

use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey};
use sha2::{Digest as _, Sha256};

use crate::checkpoint::{CheckpointError, LogVerifier, VerifiedCheckpoint};
use crate::types::PublicKey;

const ALG_COSIGNATURE_V1: u8 = 0x04;

/// The largest timestamp a cosignature may carry, 2^63 − 1 (it must fit a
/// signed 64-bit integer, as c2sp.org/tlog-cosignature says).
pub const MAX_COSIGNATURE_TIME: u64 = i64::MAX as u64;
const DASH: &str = "\u{2014} ";

fn key_id(name: &str, key: &PublicKey) -> [u8; 4] {
    let h = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update(b"\n")
        .chain_update([ALG_COSIGNATURE_V1])
        .chain_update(key.as_bytes())
        .finalize();
    [h[0], h[1], h[2], h[3]]
}

fn message(time: u64, text: &[u8]) -> Vec<u8> {
    let mut m = format!("cosignature/v1\ntime {time}\n").into_bytes();
    m.extend_from_slice(text);
    m
}

/// The checkpoint text of a note: everything before the blank line.
pub fn note_text(note: &[u8]) -> Option<&[u8]> {
    let at = note.windows(2).position(|w| w == b"\n\n")?;
    Some(&note[..at + 1])
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(char::is_whitespace) && !name.contains('+')
}

/// A witness's signing side.
pub struct Cosigner {
    name: String,
    key: SigningKey,
}

impl Cosigner {
    pub fn new(name: &str, key: SigningKey) -> Result<Cosigner, CheckpointError> {
        if !valid_name(name) {
            return Err(CheckpointError::BadOrigin(name.to_owned()));
        }
        Ok(Cosigner {
            name: name.to_owned(),
            key,
        })
    }
    pub fn verifier(&self) -> WitnessKey {
        WitnessKey {
            name: self.name.clone(),
            key: self.key.verifying_key().into(),
        }
    }
    /// The signature line (ending in a newline) cosigning `checkpoint` at
    /// `time`, which must be at most [`MAX_COSIGNATURE_TIME`] for the line to
    /// verify.
    pub fn cosign(&self, checkpoint: &VerifiedCheckpoint, time: u64) -> Vec<u8> {
        let text = note_text(checkpoint.note()).expect("invariant: a verified note has a text");
        let sig = self.key.sign(&message(time, text));
        let mut blob = Vec::with_capacity(76);
        blob.extend_from_slice(&key_id(&self.name, &self.verifier().key));
        blob.extend_from_slice(&time.to_be_bytes());
        blob.extend_from_slice(&sig.to_bytes());
        format!(
            "{DASH}{} {}\n",
            self.name,
            base64::engine::general_purpose::STANDARD.encode(blob)
        )
        .into_bytes()
    }
}

/// A witness as verifiers know it: its name and public key.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WitnessKey {
    pub name: String,
    pub key: PublicKey,
}

impl WitnessKey {
    /// Parses `NAME+KEYHEX` (the form used in flags and configuration).
    pub fn parse(s: &str) -> Result<WitnessKey, String> {
        let (name, key) = s
            .rsplit_once('+')
            .ok_or_else(|| format!("{s:?} is not NAME+PUBLICKEY"))?;
        if !valid_name(name) {
            return Err(format!("{name:?} is not a valid witness name"));
        }
        Ok(WitnessKey {
            name: name.to_owned(),
            key: key.parse()?,
        })
    }

    /// The time this witness cosigned the checkpoint `note` at, if one of its
    /// signature lines is a valid cosignature (verify_strict) of its text.
    pub fn cosigned(&self, note: &[u8]) -> Option<u64> {
        let text = note_text(note)?;
        let sigs = &note[text.len() + 1..];
        let id = key_id(&self.name, &self.key);
        let point = self.key.point().filter(|p| !p.is_weak())?;
        for line in sigs.split(|&b| b == b'\n') {
            if let Some(t) = self.check_line(line, &id, &point, text) {
                return Some(t);
            }
        }
        None
    }

    /// Whether `line` (with or without its newline) is this witness's valid
    /// cosignature of the checkpoint text `text`; returns its time.
    pub fn check(&self, text: &[u8], line: &[u8]) -> Option<u64> {
        let point = self.key.point().filter(|p| !p.is_weak())?;
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        self.check_line(line, &key_id(&self.name, &self.key), &point, text)
    }

    fn check_line(
        &self,
        line: &[u8],
        id: &[u8; 4],
        point: &ed25519_dalek::VerifyingKey,
        text: &[u8],
    ) -> Option<u64> {
        let line = std::str::from_utf8(line).ok()?;
        let rest = line.strip_prefix(DASH)?;
        let (name, b64) = rest.split_once(' ')?;
        if name != self.name {
            return None;
        }
        let blob = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
        if blob.len() != 76 || &blob[..4] != id {
            return None;
        }
        let time = u64::from_be_bytes(blob[4..12].try_into().ok()?);
        if time > MAX_COSIGNATURE_TIME {
            return None;
        }
        let sig = ed25519_dalek::Signature::from_bytes(&blob[12..76].try_into().ok()?);
        point
            .verify_strict(&message(time, text), &sig)
            .ok()
            .map(|_| time)
    }
}

/// Adds signature lines to a signed note (lines already present are kept once).
pub fn add_lines(note: &[u8], lines: &[Vec<u8>]) -> Vec<u8> {
    let mut out = note.to_vec();
    for l in lines {
        let mut l = l.clone();
        if !l.ends_with(b"\n") {
            l.push(b'\n');
        }
        if !out.windows(l.len()).any(|w| w == l.as_slice()) {
            out.extend_from_slice(&l);
        }
    }
    out
}

/// Proof that a log signed two views of itself that cannot both be true.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Equivocation {
    pub origin: String,
    pub log_key: PublicKey,
    /// The two signed checkpoints.
    pub a: String,
    pub b: String,
    /// For checkpoints of different sizes: the consistency proof the log
    /// served, which does not link them (hex hashes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proof: Vec<String>,
}

/// What an equivocation file shows, once checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EquivocationFinding {
    /// Both checkpoints are signed by the log and name the same size with
    /// different roots: the log signed two different histories. Conclusive.
    SameSizeDifferentRoots { size: u64 },
    /// Both are signed by the log, of different sizes, and the log's own
    /// consistency proof does not link them: the log failed to show that the
    /// larger extends the smaller.
    Unproven { old: u64, new: u64 },
}

impl Equivocation {
    /// Checks the file: both notes must be signed by the log key for the
    /// origin, and disagree.
    pub fn check(&self) -> Result<EquivocationFinding, String> {
        let v = LogVerifier::new(&self.origin, self.log_key).map_err(|e| e.to_string())?;
        let a = v
            .verify(self.a.as_bytes())
            .map_err(|e| format!("checkpoint a: {e}"))?;
        let b = v
            .verify(self.b.as_bytes())
            .map_err(|e| format!("checkpoint b: {e}"))?;
        if a.size() == b.size() {
            return if a.root() != b.root() {
                Ok(EquivocationFinding::SameSizeDifferentRoots { size: a.size() })
            } else {
                Err("the two checkpoints agree: no equivocation".to_owned())
            };
        }
        let (old, new) = if a.size() < b.size() { (a, b) } else { (b, a) };
        let proof: Result<Vec<_>, String> = self
            .proof
            .iter()
            .map(|h| crate::types::parse_hex32(h).map(crate::merkle::Hash))
            .collect();
        let proof = proof?;
        match crate::merkle::check_consistency(
            &proof,
            new.size(),
            new.root(),
            old.size(),
            old.root(),
        ) {
            Ok(()) => {
                Err("the consistency proof links the two checkpoints: no equivocation".to_owned())
            }
            Err(_) => Ok(EquivocationFinding::Unproven {
                old: old.size(),
                new: new.size(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::LogSigner;
    use crate::keys::test_key;
    use crate::merkle::record_hash;

    #[test]
    fn a_cosignature_verifies_and_any_change_fails() {
        let log = LogSigner::new("tallylog.test/e1", test_key(100)).unwrap();
        let cp = log
            .verifier()
            .verify(&log.sign(10, record_hash(b"r")))
            .unwrap();
        let w = Cosigner::new("witness.test/w1", test_key(101)).unwrap();
        let line = w.cosign(&cp, 1_700_000_000);
        let note = add_lines(cp.note(), std::slice::from_ref(&line));
        // The log's verifier still accepts the note with the extra line.
        assert!(log.verifier().verify(&note).is_ok());
        assert_eq!(w.verifier().cosigned(&note), Some(1_700_000_000));
        // Another witness's key, another checkpoint, a flipped bit: refused.
        let other = Cosigner::new("witness.test/w1", test_key(102)).unwrap();
        assert_eq!(other.verifier().cosigned(&note), None);
        let cp2 = log
            .verifier()
            .verify(&log.sign(11, record_hash(b"r")))
            .unwrap();
        let moved = add_lines(cp2.note(), std::slice::from_ref(&line));
        assert_eq!(w.verifier().cosigned(&moved), None);
        for i in 0..line.len() - 1 {
            let mut bad = line.clone();
            bad[i] ^= 1;
            let note = add_lines(cp.note(), &[bad]);
            assert_eq!(w.verifier().cosigned(&note), None, "flip at {i} accepted");
        }
    }

    #[test]
    fn a_cosignature_time_above_2_63_minus_1_is_refused() {
        let log = LogSigner::new("tallylog.test/e1", test_key(100)).unwrap();
        let cp = log
            .verifier()
            .verify(&log.sign(10, record_hash(b"r")))
            .unwrap();
        let w = Cosigner::new("witness.test/w1", test_key(101)).unwrap();
        let text = note_text(cp.note()).unwrap();
        // Correctly signed in every case: only the time decides.
        for (time, ok) in [
            (MAX_COSIGNATURE_TIME, true),
            (MAX_COSIGNATURE_TIME + 1, false),
            (u64::MAX, false),
        ] {
            let line = w.cosign(&cp, time);
            let note = add_lines(cp.note(), std::slice::from_ref(&line));
            let want = ok.then_some(time);
            assert_eq!(w.verifier().cosigned(&note), want, "time {time}");
            assert_eq!(w.verifier().check(text, &line), want, "time {time}");
        }
    }

    #[test]
    fn two_roots_for_one_size_prove_equivocation() {
        let log = LogSigner::new("tallylog.test/e1", test_key(100)).unwrap();
        let a = String::from_utf8(log.sign(10, record_hash(b"a"))).unwrap();
        let b = String::from_utf8(log.sign(10, record_hash(b"b"))).unwrap();
        let e = Equivocation {
            origin: "tallylog.test/e1".to_owned(),
            log_key: log.public_key(),
            a: a.clone(),
            b,
            proof: vec![],
        };
        assert_eq!(
            e.check(),
            Ok(EquivocationFinding::SameSizeDifferentRoots { size: 10 })
        );
        // The same checkpoint twice proves nothing; a forged one is refused.
        let same = Equivocation {
            b: a.clone(),
            ..e.clone()
        };
        assert!(same.check().is_err());
        let other = LogSigner::new("tallylog.test/e1", test_key(103)).unwrap();
        let forged = Equivocation {
            b: String::from_utf8(other.sign(10, record_hash(b"b"))).unwrap(),
            ..e
        };
        assert!(forged.check().is_err());
    }
}

//! Signed checkpoints: c2sp.org/tlog-checkpoint inside a c2sp.org/signed-note.
//!
//! A checkpoint says "the log named ORIGIN has SIZE entries and this root hash",
//! signed by the log's Ed25519 key. Parsing and the note format come from the
//! `tlog_tiles` and `signed_note` crates so that existing tlog tooling (Go's
//! `sumdb/note`, witnesses, monitors) reads our checkpoints as they are. The
//! one thing we do differently from `signed_note`'s own verifier is to use
//! `verify_strict`, the same acceptance rule as for events.

use ed25519_dalek::{Signer as _, SigningKey};
use signed_note::{Note, NoteError, VerifierList};
use tlog_tiles::Checkpoint;

use crate::merkle::Hash;
use crate::types::PublicKey;

/// Signature type byte for Ed25519 keys in signed notes (c2sp.org/signed-note).
const ALG_ED25519: u8 = 0x01;

/// The largest signed checkpoint accepted (a text of three lines and up to a
/// hundred witness cosignatures is far below this).
pub const MAX_CHECKPOINT_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    #[error("checkpoint is over {MAX_CHECKPOINT_BYTES} bytes")]
    TooLarge,
    #[error("not a well-formed signed note: {0}")]
    Note(String),
    #[error("the log's signature on the checkpoint does not verify")]
    BadSignature,
    #[error("the checkpoint carries no signature by the log key {0}")]
    Unsigned(String),
    #[error("the note text is not a well-formed checkpoint")]
    Malformed,
    #[error("checkpoint is for origin {found:?}, expected {expected:?}")]
    WrongOrigin { expected: String, found: String },
    #[error("invalid log origin {0:?}: it must be non-empty with no spaces or '+'")]
    BadOrigin(String),
}

impl CheckpointError {
    pub fn code(&self) -> &'static str {
        match self {
            CheckpointError::TooLarge => "checkpoint_too_large",
            CheckpointError::Note(_) => "malformed_note",
            CheckpointError::BadSignature => "bad_checkpoint_signature",
            CheckpointError::Unsigned(_) => "unsigned_checkpoint",
            CheckpointError::Malformed => "malformed_checkpoint",
            CheckpointError::WrongOrigin { .. } => "wrong_origin",
            CheckpointError::BadOrigin(_) => "bad_origin",
        }
    }
}

/// The c2sp key id: the first four bytes of SHA-256(name || "\n" || 0x01 || key).
pub fn key_id(origin: &str, key: &PublicKey) -> u32 {
    let mut k = vec![ALG_ED25519];
    k.extend_from_slice(key.as_bytes());
    signed_note::key_id(origin, &k)
}

/// The verifier key string (`origin+keyid+base64(0x01||key)`) that tlog tools
/// such as Go's `note.NewVerifier` accept.
pub fn verifier_key(origin: &str, key: &PublicKey) -> String {
    let mut k = vec![ALG_ED25519];
    k.extend_from_slice(key.as_bytes());
    format!(
        "{origin}+{:08x}+{}",
        key_id(origin, key),
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, k)
    )
}

/// The log's signing identity. Lives only inside the ledger.
pub struct LogSigner {
    origin: String,
    key: SigningKey,
    id: u32,
}

impl LogSigner {
    pub fn new(origin: &str, key: SigningKey) -> Result<Self, CheckpointError> {
        if !signed_note::is_key_name_valid(origin) {
            return Err(CheckpointError::BadOrigin(origin.to_owned()));
        }
        let id = key_id(origin, &key.verifying_key().into());
        Ok(LogSigner {
            origin: origin.to_owned(),
            key,
            id,
        })
    }
    pub fn origin(&self) -> &str {
        &self.origin
    }
    pub fn public_key(&self) -> PublicKey {
        self.key.verifying_key().into()
    }
    pub fn verifier(&self) -> LogVerifier {
        LogVerifier {
            origin: self.origin.clone(),
            key: self.public_key(),
            point: Some(self.key.verifying_key()),
            id: self.id,
        }
    }

    /// Signs a checkpoint for the tree of `size` entries with root `root`, and
    /// returns the signed note's bytes.
    pub fn sign(&self, size: u64, root: Hash) -> Vec<u8> {
        let cp = Checkpoint::new(&self.origin, size, root, "")
            .expect("invariant: origin was validated in LogSigner::new");
        let mut note = Note::new(&cp.to_bytes(), &[])
            .expect("invariant: a checkpoint's text is a valid note text");
        note.add_sigs(&[self])
            .expect("invariant: origin is a valid key name and signing cannot fail");
        note.to_bytes()
    }
}

impl signed_note::Signer for LogSigner {
    fn name(&self) -> &str {
        &self.origin
    }
    fn key_id(&self) -> u32 {
        self.id
    }
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        Ok(self.key.sign(msg).to_bytes().to_vec())
    }
}

/// What a verifier needs to know about a log: its origin and public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogVerifier {
    origin: String,
    key: PublicKey,
    /// The decoded point; `None` if the key is unusable, and then nothing verifies.
    point: Option<ed25519_dalek::VerifyingKey>,
    id: u32,
}

impl LogVerifier {
    pub fn new(origin: &str, key: PublicKey) -> Result<Self, CheckpointError> {
        if !signed_note::is_key_name_valid(origin) {
            return Err(CheckpointError::BadOrigin(origin.to_owned()));
        }
        Ok(LogVerifier {
            origin: origin.to_owned(),
            id: key_id(origin, &key),
            point: key.point().filter(|p| !p.is_weak()),
            key,
        })
    }
    pub fn origin(&self) -> &str {
        &self.origin
    }
    pub fn key(&self) -> &PublicKey {
        &self.key
    }

    /// Parses and verifies a signed checkpoint. Signatures by other keys (witness
    /// cosignatures) are allowed and returned for the caller to judge.
    pub fn verify(&self, bytes: &[u8]) -> Result<VerifiedCheckpoint, CheckpointError> {
        if bytes.len() > MAX_CHECKPOINT_BYTES {
            return Err(CheckpointError::TooLarge);
        }
        let note = Note::from_bytes(bytes).map_err(|e| CheckpointError::Note(e.to_string()))?;
        // The note's canonical bytes must be the input: no second spelling.
        if note.to_bytes() != bytes {
            return Err(CheckpointError::Note("not in canonical form".to_owned()));
        }
        let known = VerifierList::new(vec![Box::new(self.clone())]);
        let (_, others) = match note.verify(&known) {
            Ok(v) => v,
            Err(NoteError::InvalidSignature { .. }) => return Err(CheckpointError::BadSignature),
            Err(NoteError::UnverifiedNote) => {
                return Err(CheckpointError::Unsigned(verifier_key(
                    &self.origin,
                    &self.key,
                )))
            }
            Err(e) => return Err(CheckpointError::Note(e.to_string())),
        };
        let cp = Checkpoint::from_bytes(note.text()).map_err(|_| CheckpointError::Malformed)?;
        if cp.origin() != self.origin {
            return Err(CheckpointError::WrongOrigin {
                expected: self.origin.clone(),
                found: cp.origin().to_owned(),
            });
        }
        Ok(VerifiedCheckpoint {
            size: cp.size(),
            root: *cp.hash(),
            note: bytes.to_vec(),
            cosignatures: others.iter().map(|s| s.to_bytes()).collect(),
        })
    }
}

impl signed_note::Verifier for LogVerifier {
    fn name(&self) -> &str {
        &self.origin
    }
    fn key_id(&self) -> u32 {
        self.id
    }
    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Ok(sig) = <[u8; 64]>::try_from(sig) else {
            return false;
        };
        self.point.is_some_and(|k| {
            k.verify_strict(msg, &ed25519_dalek::Signature::from_bytes(&sig))
                .is_ok()
        })
    }
}

/// A checkpoint whose log signature has been checked.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifiedCheckpoint {
    size: u64,
    root: Hash,
    note: Vec<u8>,
    /// Signature lines by keys other than the log's, unverified.
    cosignatures: Vec<Vec<u8>>,
}

impl VerifiedCheckpoint {
    pub fn size(&self) -> u64 {
        self.size
    }
    pub fn root(&self) -> Hash {
        self.root
    }
    pub fn note(&self) -> &[u8] {
        &self.note
    }
    pub fn cosignatures(&self) -> &[Vec<u8>] {
        &self.cosignatures
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::test_key;
    use crate::merkle::record_hash;

    #[test]
    fn a_signed_checkpoint_verifies_and_every_flipped_byte_fails() {
        let signer = LogSigner::new("tallylog.test/e1", test_key(100)).unwrap();
        let root = record_hash(b"root");
        let note = signer.sign(1234, root);
        let v = signer.verifier().verify(&note).unwrap();
        assert_eq!((v.size(), v.root()), (1234, root));
        for i in 0..note.len() {
            for bit in 0..8 {
                let mut bad = note.clone();
                bad[i] ^= 1 << bit;
                assert!(
                    signer.verifier().verify(&bad).is_err(),
                    "flipping bit {bit} of byte {i} was accepted"
                );
            }
        }
    }

    #[test]
    fn another_logs_key_or_origin_is_refused() {
        let signer = LogSigner::new("tallylog.test/e1", test_key(100)).unwrap();
        let note = signer.sign(1, record_hash(b"x"));
        let other =
            LogVerifier::new("tallylog.test/e1", test_key(101).verifying_key().into()).unwrap();
        assert_eq!(
            other.verify(&note).unwrap_err().code(),
            "unsigned_checkpoint"
        );
        let renamed = LogVerifier::new("tallylog.test/e2", signer.public_key()).unwrap();
        assert_eq!(
            renamed.verify(&note).unwrap_err().code(),
            "unsigned_checkpoint"
        );
    }
}

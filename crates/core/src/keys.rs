//! Signing keys and the secret key file format.
//!
//! A publisher's private key never leaves its machine; this module only says how
//! it is generated and written down. The file is a small JSON object so that a
//! publisher can read which public key it holds without special tools. Writing
//! it with mode 0600 is the caller's job (core does no I/O).

use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};

use crate::json::{self, DecodeError};
use crate::types::PublicKey;

/// The `type` field of a secret key file; versioned like everything signed.
pub const SECRET_KEY_TYPE: &str = "tallylog-ed25519-secret-key-v1";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: String,
    public: PublicKey,
    secret: String,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    #[error("key file is not valid: {0}")]
    Decode(#[from] DecodeError),
    #[error("key file type is {0:?}, expected {SECRET_KEY_TYPE:?}")]
    Type(String),
    #[error("key file secret is not 64 lowercase hex digits")]
    Secret,
    #[error("key file's public key does not match its secret key: the file is damaged")]
    Mismatch,
}

/// Generates a new key from the operating system's random number generator.
pub fn generate() -> SigningKey {
    SigningKey::generate(&mut rand_core::OsRng)
}

/// The secret key file's contents (canonical JSON plus a newline).
pub fn encode_secret(key: &SigningKey) -> Vec<u8> {
    let mut out = json::encode(&KeyFile {
        kind: SECRET_KEY_TYPE.to_owned(),
        public: key.verifying_key().into(),
        secret: hex::encode(key.to_bytes()),
    });
    out.push(b'\n');
    out
}

/// Reads a secret key file, checking that its public key matches.
pub fn decode_secret(bytes: &[u8]) -> Result<SigningKey, KeyFileError> {
    let trimmed = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let f: KeyFile = json::decode(trimmed, 4096)?;
    if f.kind != SECRET_KEY_TYPE {
        return Err(KeyFileError::Type(f.kind));
    }
    let secret = crate::types::parse_hex32(&f.secret).map_err(|_| KeyFileError::Secret)?;
    let key = SigningKey::from_bytes(&secret);
    if key.verifying_key().as_bytes() != f.public.as_bytes() {
        return Err(KeyFileError::Mismatch);
    }
    Ok(key)
}

/// A deterministic key for tests, examples and test vectors: the secret is
/// SHA-256("tallylog test key " || n). Never use one for anything real.
pub fn test_key(n: u32) -> SigningKey {
    use sha2::{Digest, Sha256};
    let seed: [u8; 32] = Sha256::digest(format!("tallylog test key {n}")).into();
    SigningKey::from_bytes(&seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_round_trip_and_detect_damage() {
        let k = generate();
        let file = encode_secret(&k);
        assert_eq!(decode_secret(&file).unwrap().to_bytes(), k.to_bytes());
        let other = test_key(9);
        let s = String::from_utf8(file).unwrap();
        let swapped = s.replace(&hex::encode(k.to_bytes()), &hex::encode(other.to_bytes()));
        assert!(matches!(
            decode_secret(swapped.as_bytes()),
            Err(KeyFileError::Mismatch)
        ));
    }
}

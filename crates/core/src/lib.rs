//! tallylog's protocol, with no I/O: everything that decides which bytes are
//! hashed or signed, and whether an event may enter the log.
//!
//! - [`json`]: the strict decoder and the single canonical (RFC 8785) encoder.
//! - [`types`]: ids, keys, codes and times as newtypes with one spelling each.
//! - [`event`]: the event model of the whole domain, signing and verification.
//! - [`import`]: result forms from spreadsheet (CSV) exports.
//! - [`keys`]: key generation and the secret key file format.
//! - [`entry`]: log entries and the hash chain.
//! - [`merkle`]: RFC 6962 tree hashes and proofs (via `tlog_tiles`).
//! - [`checkpoint`]: signed checkpoints (c2sp tlog-checkpoint, signed-note).
//! - [`cosign`]: witness cosignatures (c2sp tlog-cosignature) and equivocation proofs.
//! - [`fuzz`]: the fuzz targets (every decoder of strangers' bytes), shared by
//!   `fuzz/` (cargo fuzz) and the stable smoke run in the tests.
//! - [`publisher`]: a key and its own chain, for whoever signs events.
//! - [`sample`]: a small deterministic election for tests, vectors and docs.
//! - [`receipt`]: receipts (c2sp tlog-proof) and the ledger's replies.
//! - [`replay`]: a log replayed from its first entry, everything checked.
//! - [`rules`]: the validation rules that decide acceptance, as a pure function
//!   of the log so far and the next event.
//!
//! This crate must not depend on tokio, NATS or sled: auditors, the ledger and
//! the projector all build on it, and it must stay small enough to read.
#![forbid(unsafe_code)]

pub mod checkpoint;
pub mod cosign;
pub mod entry;
pub mod event;
pub mod fuzz;
pub mod import;
pub mod jcs;
pub mod json;
pub mod keys;
pub mod merkle;
pub mod publisher;
pub mod receipt;
pub mod replay;
pub mod rules;
pub mod sample;
pub mod types;

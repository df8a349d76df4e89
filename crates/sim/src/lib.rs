//! Elections and load for testing and measuring tallylog. Nothing at run time
//! depends on this crate.
//!
//! - [`bench`]: `tallylog bench`, the machine's limits and tallylog's stages
//!   measured in one run and reported as ratios.
//! - [`ingest`]: the end-to-end ingest stage (NATS, ledger, receipts).
//! - [`election`]: simulated elections from tiny to Indonesia-sized, the same
//!   bytes for the same size and seed, every event one the rules accept.
#![forbid(unsafe_code)]

pub mod bench;
pub mod election;
pub mod ingest;
pub mod rebuild;

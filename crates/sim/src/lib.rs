//! Elections and load for testing and measuring tallylog. Nothing at run time
//! depends on this crate.
//!
//! - [`bench`]: `tallylog bench`, the machine's limits and tallylog's stages
//!   measured in one run and reported as ratios.
//! - [`ingest`]: the end-to-end ingest stages (NATS, ledger, receipts), the
//!   ledger's own memory and disk.
//! - [`rebuild`]: the projection rebuild and audit stages.
//! - [`proofs`]: inclusion and consistency proofs from a ledger's store.
//! - [`election`]: simulated elections from tiny to Indonesia-sized, the same
//!   bytes for the same size and seed, every event one the rules accept.
//! - [`output`]: a simulated election written to a directory (`tallylog
//!   simulate --out`): keys, who is who, events files, manifest, README.
//! - [`live`]: a simulated election published to a running ledger at a fixed
//!   rate (`tallylog simulate --live`), receipts checked, latency measured.
#![forbid(unsafe_code)]

pub mod bench;
pub mod election;
pub mod ingest;
pub mod live;
pub mod output;
pub mod proofs;
pub mod rebuild;

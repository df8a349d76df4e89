//! The projection: what people come for, folded from the log.
//!
//! - [`state`]: the fold from log entries to a [`Projection`]: every form
//!   version per source and station, totals per region, anomalies,
//!   complaints, certifications.
//! - [`views`]: what is read from it: tallies at a level, the comparison of
//!   two sources, the complaints board at a moment, seats, one station.
//! - [`seats`]: highest-average (D'Hondt) seat allocation, every round shown.
//! - [`query`]: questions and JSON answers, for the projector and the CLI.
//! - [`hash`]: the projection hash that "results certified" events name.
//! - [`export`]: one source's results as NIST SP 1500-100 JSON and as an
//!   OpenElections-style CSV.
//!
//! Like `core`, this crate does no I/O: the projector service, the auditor and
//! `tallylog tally` all fold with it, and must agree to the byte.
#![forbid(unsafe_code)]

pub mod export;
pub mod hash;
pub mod query;
pub mod seats;
pub mod state;
pub mod views;

pub use hash::projection_hash;
pub use state::{Projection, Source};

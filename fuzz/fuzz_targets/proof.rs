//! libFuzzer target: Merkle inclusion and consistency proofs (§5).
//! The checks live in `tallylog_core::fuzz::proof`, shared with the stable smoke run.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tallylog_core::fuzz::proof(data));

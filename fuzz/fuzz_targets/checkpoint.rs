//! libFuzzer target: signed checkpoints, witness cosignatures and equivocation files (§7).
//! The checks live in `tallylog_core::fuzz::checkpoint`, shared with the stable smoke run.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tallylog_core::fuzz::checkpoint(data));

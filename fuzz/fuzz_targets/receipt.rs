//! libFuzzer target: receipts (§8) and the ledger's reply objects (§9).
//! The checks live in `tallylog_core::fuzz::receipt`, shared with the stable smoke run.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tallylog_core::fuzz::receipt(data));

//! libFuzzer target: signed events, log entries and drafts (PROTOCOL.md §3.3, §4).
//! The checks live in `tallylog_core::fuzz::event`, shared with the stable smoke run.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tallylog_core::fuzz::event(data));

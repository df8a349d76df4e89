//! Appends batches of signed events to a store until it is killed, printing
//! `committed SIZE` after every append that returned. The crash test in
//! `tests/crash.rs` runs this and kills it with SIGKILL at random moments.
//!
//! The log is the sample election followed by the authority's result forms;
//! each run resumes the authority's chain from the store, as a publisher would.
//!
//! Usage: append_forever DIR BATCH_SIZE

use std::io::Write;

use tallylog_core::event::Payload;
use tallylog_core::keys::test_key;
use tallylog_core::publisher::{ChainState, Publisher};
use tallylog_core::rules::LogView;
use tallylog_core::sample;
use tallylog_store::Store;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, batch] = &args[..] else {
        eprintln!("usage: append_forever DIR BATCH_SIZE");
        std::process::exit(2);
    };
    let batch: u64 = batch.parse().expect("BATCH_SIZE is a number");
    let mut store = Store::open(dir.as_ref()).expect("the store opens");
    let signer = sample::log_signer();
    let mut out = std::io::stdout().lock();
    if store.head().size == 0 {
        let appended = store
            .append_checked(sample::events(), &signer)
            .expect("the sample is valid");
        writeln!(out, "committed {}", appended.head.size).unwrap();
    }
    let key = test_key(sample::AUTHORITY_KEY);
    let (seq, last) = store
        .chain_head(&key.verifying_key().into())
        .expect("the authority has published");
    let mut publisher = Publisher::resume(
        key,
        sample::ELECTION.parse().unwrap(),
        ChainState {
            seq: seq.0,
            last: Some(last),
        },
    );
    let time = "2023-07-23T12:00:00Z".parse().unwrap();
    for n in 0u64.. {
        let events = (0..batch)
            .map(|i| {
                let votes = [n % 500, i % 300, (n + i) % 100];
                let form = sample::form("01/01/01/0001", 600, votes, 1);
                publisher.sign(time, Payload::Result(form)).unwrap()
            })
            .collect();
        let appended = store
            .append_checked(events, &signer)
            .expect("append succeeds");
        writeln!(out, "committed {}", appended.head.size).unwrap();
        out.flush().unwrap();
    }
}

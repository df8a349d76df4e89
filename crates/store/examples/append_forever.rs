//! Appends batches of signed events to a store until it is killed, printing
//! `committed SIZE` after every append that returned. The crash test in
//! `tests/crash.rs` runs this and kills it with SIGKILL at random moments.
//!
//! Usage: append_forever DIR BATCH_SIZE KEY_NUMBER

use std::io::Write;

use tallylog_core::event::Payload;
use tallylog_core::keys::test_key;
use tallylog_core::publisher::Publisher;
use tallylog_core::sample;
use tallylog_store::Store;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, batch, key] = &args[..] else {
        eprintln!("usage: append_forever DIR BATCH_SIZE KEY_NUMBER");
        std::process::exit(2);
    };
    let batch: usize = batch.parse().expect("BATCH_SIZE is a number");
    let key: u32 = key.parse().expect("KEY_NUMBER is a number");
    let mut store = Store::open(dir.as_ref()).expect("the store opens");
    let signer = sample::log_signer();
    // Each run signs with its own key so its events are new to the log.
    let mut publisher = Publisher::new(test_key(key), sample::ELECTION.parse().unwrap());
    let time = "2023-07-23T12:00:00Z".parse().unwrap();
    let mut out = std::io::stdout().lock();
    for n in 0u64.. {
        let events = (0..batch as u64)
            .map(|i| {
                let votes = [n % 500, i % 300, (n + i) % 100];
                let form = sample::form("01/01/01/0001", 600, votes, 1);
                publisher.sign(time, Payload::Result(form)).unwrap()
            })
            .collect();
        let appended = store.append(events, &signer).expect("append succeeds");
        writeln!(out, "committed {}", appended.head.size).unwrap();
        out.flush().unwrap();
    }
}

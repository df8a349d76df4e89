//! Generates a simulated election, checks every event against the rules, and
//! prints what it made and how long it took:
//!
//! ```text
//! cargo run --release -p tallylog-sim --example generate -- cambodia 1
//! ```
//!
//! Events are streamed, not held, so even the Indonesia size needs little
//! memory beyond the rules' own state.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tallylog_core::event::Kind;
use tallylog_core::rules::{LogView, MemoryState};
use tallylog_sim::election::{self, Size};

fn main() {
    let mut args = std::env::args().skip(1);
    let size: Size = match args.next().unwrap_or_else(|| "tiny".to_owned()).parse() {
        Ok(size) => size,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let seed: u64 = match args.next().map(|s| s.parse()) {
        None => 1,
        Some(Ok(seed)) => seed,
        Some(Err(_)) => {
            eprintln!("the seed must be a number from 0 to 2^64-1");
            std::process::exit(2);
        }
    };

    let mut kinds: BTreeMap<&'static str, u64> = BTreeMap::new();
    let (mut events, mut bytes) = (0u64, 0u64);
    let mut state = MemoryState::new();
    let mut checking = Duration::ZERO;
    let mut complaints = Vec::new();
    let start = Instant::now();
    let participants = election::stream(size, seed, |ev| {
        events += 1;
        bytes += ev.bytes().len() as u64;
        *kinds.entry(ev.kind().as_str()).or_default() += 1;
        let t = Instant::now();
        if let Err(e) = state.accept(&ev) {
            eprintln!("event {events} ({}) refused: {e}", ev.kind().as_str());
            std::process::exit(1);
        }
        checking += t.elapsed();
        if ev.kind() == Kind::ComplaintFiled {
            complaints.push(ev.id());
        }
    });
    let total = start.elapsed();

    println!("election {} ({size}, seed {seed})", participants.election);
    for (kind, n) in &kinds {
        println!("  {kind:<26} {n:>10}");
    }
    println!("  {:<26} {events:>10}", "events");
    println!(
        "  {:<26} {:>10.1}",
        "MB of signed events",
        bytes as f64 / 1e6
    );
    let mut statuses: BTreeMap<String, u64> = BTreeMap::new();
    for id in &complaints {
        let status = state
            .complaint(id)
            .expect("a filed complaint has a state")
            .status;
        *statuses.entry(format!("{status:?}")).or_default() += 1;
    }
    println!("complaints, by how far they got:");
    for (status, n) in &statuses {
        println!("  {status:<26} {n:>10}");
    }
    let generating = total - checking;
    println!(
        "generated in {:.2} s ({:.0} events/s); rules checked in {:.2} s",
        generating.as_secs_f64(),
        events as f64 / generating.as_secs_f64(),
        checking.as_secs_f64()
    );
}

//! Writes the benchmark's Cambodia-sized election as an audit bundle, for
//! profiling `tallylog audit` and `tallylog tally` on a realistic log:
//! `cargo run --release -p tallylog-sim --example bench_bundle -- OUT.jsonl`.

fn main() -> std::io::Result<()> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "bench-bundle.jsonl".to_owned());
    let (election, entries) = tallylog_sim::rebuild::election(25);
    tallylog_sim::rebuild::write_bundle(std::path::Path::new(&out), &election, &entries)?;
    eprintln!("wrote {} entries to {out}", entries.len());
    Ok(())
}

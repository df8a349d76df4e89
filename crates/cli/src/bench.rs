//! `tallylog bench`: see `tallylog_sim::bench`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use tallylog_sim::bench;

use crate::Outcome;

#[derive(clap::Args)]
pub struct Args {
    /// Print the figures as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Directory on the disk to measure (scratch files are removed afterwards).
    #[arg(long, default_value_os_t = std::env::temp_dir())]
    dir: PathBuf,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// Skip the end-to-end ingest stage (which starts a nats-server).
    #[arg(long)]
    no_ingest: bool,
}

pub fn run(a: Args) -> Result<Outcome> {
    let report = bench::run(&bench::Config {
        dir: a.dir,
        seconds: a.seconds,
        ingest: !a.no_ingest,
    })
    .context("running the benchmark")?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(Outcome::Ok)
}

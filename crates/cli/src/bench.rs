//! `tallylog bench`: see `tallylog_sim::bench`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use tallylog_sim::bench;
use tallylog_sim::election::Size;

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
    /// Skip the stages that start a nats-server: JetStream publishing,
    /// end-to-end ingest, and the ledger process's memory and disk.
    #[arg(long)]
    no_ingest: bool,
    /// The simulated election (seed 1) the ledger process ingests: tiny (163
    /// events), cambodia (111,379: under a minute here), nigeria (about 1.1
    /// million) or indonesia (about 6 million: the size the memory target is
    /// for, most of an hour on two cores).
    #[arg(long, default_value = "cambodia")]
    ingest_size: Size,
    /// The tallylog binary whose `ledger` command is measured as a process of
    /// its own (default: this one).
    #[arg(long)]
    ledger_bin: Option<PathBuf>,
}

pub fn run(a: Args) -> Result<Outcome> {
    if !(a.seconds.is_finite() && a.seconds > 0.0) {
        anyhow::bail!("--seconds must be a positive number, not {}", a.seconds);
    }
    let ledger_bin = match a.ledger_bin {
        Some(bin) => bin,
        None => std::env::current_exe()
            .context("finding this tallylog binary to run its ledger (give --ledger-bin)")?,
    };
    let report = bench::run(&bench::Config {
        dir: a.dir,
        seconds: a.seconds,
        ingest: !a.no_ingest,
        ledger_bin: Some(ledger_bin),
        ingest_size: a.ingest_size,
    })
    .context("running the benchmark")?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(Outcome::Ok)
}

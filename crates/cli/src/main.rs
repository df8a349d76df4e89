//! `tallylog`: the one binary. Each subcommand parses its flags and calls into
//! the library crates; logic that is worth testing without a process lives there.
//!
//! Exit codes: 0 success; 1 a check failed (a signature, a proof, an audit);
//! 2 the command could not run (bad flags, unreadable files, I/O errors).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc instead of glibc's malloc: profiled while ingesting, the ledger
/// spent about a fifth of its CPU in glibc's allocator (`_int_malloc`,
/// `malloc_consolidate`, `_int_realloc`), allocating for sled, serde and
/// receipts. See docs/BENCHMARKS.md, issue 3.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod audit;
mod bench;
mod event;
mod files;
mod keygen;
mod services;
mod simulate;
mod submit;
mod tally;
mod watch;

#[derive(Parser)]
#[command(
    name = "tallylog",
    version,
    about = "A verifiable, append-only ledger of election results and complaints",
    long_about = "tallylog records every published result form, correction and complaint in a \
                  hash-chained Merkle log with signed checkpoints, so that anyone can verify \
                  the whole history without trusting whoever runs the servers."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate an Ed25519 signing key (written 0600; the public key is printed).
    Keygen(keygen::Args),
    /// Sign and verify events locally.
    #[command(subcommand)]
    Event(event::Command),
    /// Publish signed events to a ledger and verify their receipts.
    Submit(submit::Args),
    /// Run the ledger service (intake, validation, durable append, receipts).
    Ledger(services::LedgerArgs),
    /// Run the projector service (tallies, comparisons, complaints, seats).
    Projector(services::ProjectorArgs),
    /// Print tallies, comparisons, anomalies, complaints and seats, or export results.
    Tally(tally::Args),
    /// Run the HTTP gateway: submissions, proofs, tiles, tallies and live streams.
    Gateway(services::GatewayArgs),
    /// Run everything on one machine: a local nats-server, the ledger and the gateway.
    Up(services::UpArgs),
    /// Write a ledger's log as an audit bundle (entries and checkpoints).
    Export(audit::ExportArgs),
    /// Verify a log from the bytes up: exit 0 verified, 1 failed, 2 could not run.
    Audit(audit::AuditArgs),
    /// Follow the log live, filtered by region and kind, every entry verified.
    Watch(watch::Args),
    /// Follow a ledger's checkpoints and cosign each consistent one.
    Witness(audit::WitnessArgs),
    /// Measure this machine's limits and tallylog's stages against them.
    Bench(bench::Args),
    /// Generate a deterministic election: write it to a directory, or publish it live.
    Simulate(simulate::Args),
}

/// The outcome of a command that ran: success, or a check that failed.
pub enum Outcome {
    Ok,
    CheckFailed,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TALLYLOG_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keygen(a) => keygen::run(a),
        Command::Event(c) => event::run(c),
        Command::Submit(a) => submit::run(a),
        Command::Ledger(a) => services::ledger(a),
        Command::Projector(a) => services::projector(a),
        Command::Tally(a) => tally::run(a),
        Command::Gateway(a) => services::gateway(a),
        Command::Up(a) => services::up(a),
        Command::Export(a) => audit::export(a),
        Command::Audit(a) => audit::audit(a),
        Command::Witness(a) => audit::witness(a),
        Command::Watch(a) => watch::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Simulate(a) => simulate::run(a),
    };
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::CheckFailed) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

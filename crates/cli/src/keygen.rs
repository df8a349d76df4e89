//! `tallylog keygen`: a new Ed25519 key in a 0600 file.

use std::path::PathBuf;

use anyhow::Result;
use tallylog_core::keys;
use tallylog_core::types::PublicKey;

use crate::Outcome;

#[derive(clap::Args)]
pub struct Args {
    /// Where to write the secret key. The file must not exist yet.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(a: Args) -> Result<Outcome> {
    let key = keys::generate();
    crate::files::write_secret(&a.out, &keys::encode_secret(&key))?;
    let public: PublicKey = key.verifying_key().into();
    // The public key goes to stdout alone, so scripts can capture it.
    println!("{public}");
    eprintln!(
        "wrote the secret key to {} (mode 0600). Give the public key above to the election's root key holder to be registered.",
        a.out.display()
    );
    Ok(Outcome::Ok)
}

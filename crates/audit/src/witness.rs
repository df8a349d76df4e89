//! `tallylog witness`: follows a ledger's checkpoints, checks that each new
//! one is consistent with the last it cosigned, and cosigns it
//! (c2sp.org/tlog-cosignature). A witness is what lets a party agent trust a
//! checkpoint without trusting the ledger: the log cannot show one history to
//! the witnesses and another to anyone else without signing both, and the
//! witness keeps the proof.
//!
//! The witness writes down the checkpoint it is about to cosign, durably,
//! before the cosignature leaves it: a witness that crashed after sending
//! but before saving would wake up remembering an older checkpoint, and
//! could then cosign a fork of the one it had vouched for.
//!
//! On two checkpoints of one size with different roots, or a larger one the
//! log cannot prove extends the last one cosigned, the witness writes an
//! equivocation file (`tallylog audit --equivocation FILE` checks it) and
//! stops: a person must act.

use std::path::PathBuf;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use tallylog_core::checkpoint::{LogVerifier, VerifiedCheckpoint};
use tallylog_core::cosign::{Cosigner, Equivocation};
use tallylog_core::merkle::{check_consistency, Hash};
use tallylog_core::types::{parse_hex32, ElectionId};
use tokio_util::sync::CancellationToken;

pub struct Config {
    pub nats_url: String,
    pub election: ElectionId,
    /// The witness's name (a schema-less URL) and signing key.
    pub name: String,
    pub key: SigningKey,
    /// The log it witnesses, as the election definition names it.
    pub log: LogVerifier,
    /// Where it keeps the last checkpoint it cosigned.
    pub state: PathBuf,
    /// Where equivocation files go.
    pub evidence: PathBuf,
    pub interval: Duration,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WitnessError {
    #[error("NATS: {0}")]
    Nats(String),
    #[error("{0}")]
    Io(String),
    #[error("the log equivocated; the proof is in {0}")]
    Equivocation(PathBuf),
}

/// What the witness remembers.
#[derive(Serialize, Deserialize)]
struct State {
    size: u64,
    note: String,
}

fn io(what: &str) -> impl Fn(std::io::Error) -> WitnessError + '_ {
    move |e| WitnessError::Io(format!("{what}: {e}"))
}

pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), WitnessError> {
    let cosigner = Cosigner::new(&config.name, config.key.clone())
        .map_err(|e| WitnessError::Io(e.to_string()))?;
    let names = tallylog_nats::Names::new(config.election.clone());
    let client = tallylog_nats::connect(
        &config.nats_url,
        async_nats::ConnectOptions::new().retry_on_initial_connect(),
    )
    .await
    .map_err(|e| WitnessError::Nats(e.to_string()))?;
    let mut last: Option<VerifiedCheckpoint> = match std::fs::read(&config.state) {
        Ok(b) => {
            let s: State = serde_json::from_slice(&b).map_err(|e| {
                WitnessError::Io(format!("reading {}: {e}", config.state.display()))
            })?;
            Some(config.log.verify(s.note.as_bytes()).map_err(|e| {
                WitnessError::Io(format!(
                    "the checkpoint in {} does not verify: {e}",
                    config.state.display()
                ))
            })?)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io("reading the witness state")(e)),
    };
    // The size of the last cosignature the ledger said it kept. Until it
    // does (a refusal, a lost reply, a restart between saving and sending),
    // the witness sends its cosignature of the same checkpoint again.
    let mut acked: Option<u64> = None;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(config.interval) => {}
        }
        let Ok(Ok(reply)) = tokio::time::timeout(
            Duration::from_secs(5),
            client.request(names.checkpoint(), "latest".into()),
        )
        .await
        else {
            continue;
        };
        if reply.payload.starts_with(b"error:") {
            continue;
        }
        let cp = match config.log.verify(&reply.payload) {
            Ok(cp) => cp,
            Err(e) => {
                tracing::warn!(error = %e, "the log served a checkpoint that does not verify");
                continue;
            }
        };
        if let Some(old) = &last {
            if cp.size() < old.size() {
                continue;
            }
            if cp.size() == old.size() {
                if cp.root() != old.root() {
                    return Err(equivocation(&config, old, &cp, Vec::new())?);
                }
                if acked == Some(cp.size()) {
                    continue;
                }
            } else {
                let proof = consistency(&client, &names, old.size(), cp.size()).await;
                let Some(proof) = proof else { continue };
                if check_consistency(&proof, cp.size(), cp.root(), old.size(), old.root()).is_err()
                {
                    return Err(equivocation(&config, old, &cp, proof)?);
                }
            }
        }
        // Remembered before the cosignature is sent, whether or not the
        // ledger then keeps the line: what the witness vouches for is the
        // checkpoint, and it must never cosign a history that does not
        // extend it, even after a crash.
        if last.as_ref().is_none_or(|old| old.size() != cp.size()) {
            let state = State {
                size: cp.size(),
                note: String::from_utf8_lossy(cp.note()).into_owned(),
            };
            save_state(&config.state, &state)?;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let line = cosigner.cosign(&cp, now);
        let req = serde_json::json!({
            "size": cp.size(),
            "line": String::from_utf8_lossy(&line),
        });
        match client
            .request(
                names.cosign(),
                serde_json::to_vec(&req).expect("invariant: JSON").into(),
            )
            .await
        {
            Ok(r) if &r.payload[..] == b"ok" => acked = Some(cp.size()),
            Ok(r) => {
                tracing::warn!(reply = %String::from_utf8_lossy(&r.payload), "the ledger refused the cosignature")
            }
            Err(e) => tracing::warn!(error = %e, "sending the cosignature failed"),
        }
        tracing::info!(size = cp.size(), "cosigned");
        last = Some(cp);
    }
}

/// Writes the state so that it survives a crash or power cut whole: a
/// temporary file, synced, renamed over the old one, and the directory
/// synced so that the rename itself is on disk.
fn save_state(path: &std::path::Path, state: &State) -> Result<(), WitnessError> {
    use std::io::Write as _;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    // Created new, after removing a leftover (or a planted link: removing a
    // link never touches its target), so nothing is written through a link.
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(io("removing a stale witness state")(e))
        }
        _ => {}
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(io("creating the witness state"))?;
    f.write_all(&serde_json::to_vec(state).expect("invariant: JSON"))
        .map_err(io("writing the witness state"))?;
    f.sync_all().map_err(io("syncing the witness state"))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io("replacing the witness state"))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("syncing the witness state's directory"))
}

async fn consistency(
    client: &async_nats::Client,
    names: &tallylog_nats::Names,
    old: u64,
    new: u64,
) -> Option<Vec<Hash>> {
    let r = tokio::time::timeout(
        Duration::from_secs(5),
        client.request(names.consistency(), format!("{old} {new}").into()),
    )
    .await
    .ok()?
    .ok()?;
    let hex: Vec<String> = serde_json::from_slice(&r.payload).ok()?;
    hex.iter().map(|h| parse_hex32(h).ok().map(Hash)).collect()
}

fn equivocation(
    config: &Config,
    a: &VerifiedCheckpoint,
    b: &VerifiedCheckpoint,
    proof: Vec<Hash>,
) -> Result<WitnessError, WitnessError> {
    let e = Equivocation {
        origin: config.log.origin().to_owned(),
        log_key: *config.log.key(),
        a: String::from_utf8_lossy(a.note()).into_owned(),
        b: String::from_utf8_lossy(b.note()).into_owned(),
        proof: proof
            .iter()
            .map(|h| tallylog_core::types::to_hex(&h.0))
            .collect(),
    };
    std::fs::create_dir_all(&config.evidence).map_err(io("creating the evidence directory"))?;
    let path = config
        .evidence
        .join(format!("equivocation-{}-{}.json", a.size(), b.size()));
    std::fs::write(
        &path,
        serde_json::to_vec_pretty(&e).expect("invariant: JSON"),
    )
    .map_err(io("writing the equivocation file"))?;
    tracing::error!(file = %path.display(), "the log equivocated: stopped cosigning");
    Ok(WitnessError::Equivocation(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_is_replaced_whole_and_never_written_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep me").unwrap();
        let path = dir.path().join("witness.json");
        std::os::unix::fs::symlink(&victim, dir.path().join("witness.json.tmp")).unwrap();
        let state = State {
            size: 7,
            note: "a note".to_owned(),
        };
        save_state(&path, &state).unwrap();
        let back: State = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!((back.size, back.note.as_str()), (7, "a note"));
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep me");
        assert!(!dir.path().join("witness.json.tmp").exists());
    }
}

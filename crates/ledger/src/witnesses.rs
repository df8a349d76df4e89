//! The ledger's side of witnessing: it serves checkpoints and consistency
//! proofs to witnesses, collects their cosignatures, and serves as "the
//! latest checkpoint" the newest one that a quorum of its witnesses cosigned.
//!
//! A cosignature is kept only if it verifies for one of the configured
//! witnesses over the stored checkpoint of that size; anything else is
//! refused with the reason. Witnesses are not trusted by the ledger for
//! anything but their signatures: they are there so that others need not
//! trust the ledger.

use std::sync::{Arc, RwLock};

use futures::StreamExt;
use serde::Deserialize;
use tallylog_core::cosign::{note_text, WitnessKey};
use tallylog_core::types::to_hex;
use tallylog_nats::Names;
use tallylog_store::Store;
use tokio_util::sync::CancellationToken;

use crate::LedgerError;

/// The ledger's witnessing configuration.
pub struct Witnessing {
    pub witnesses: Vec<WitnessKey>,
    pub quorum: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CosignRequest {
    size: u64,
    line: String,
}

/// The largest request accepted on these subjects.
const MAX_REQUEST: usize = 4096;

pub async fn serve(
    client: async_nats::Client,
    names: Names,
    store: Arc<RwLock<Store>>,
    w: Witnessing,
    shutdown: CancellationToken,
) -> Result<(), LedgerError> {
    let sub = |s: String| {
        let client = client.clone();
        async move {
            client
                .subscribe(s.clone())
                .await
                .map_err(|e| LedgerError::Nats(format!("subscribing to {s}: {e}")))
        }
    };
    let mut checkpoints = sub(names.checkpoint()).await?;
    let mut proofs = sub(names.consistency()).await?;
    let mut cosigns = sub(names.cosign()).await?;
    let w = Arc::new(w);
    loop {
        let (msg, what) = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            Some(m) = checkpoints.next() => (m, 0),
            Some(m) = proofs.next() => (m, 1),
            Some(m) = cosigns.next() => (m, 2),
            else => return Ok(()),
        };
        let Some(reply_to) = msg.reply.clone() else {
            continue;
        };
        let (store, w) = (store.clone(), w.clone());
        let body = tokio::task::spawn_blocking(move || {
            if msg.payload.len() > MAX_REQUEST {
                return b"error: the request is too large".to_vec();
            }
            let text = String::from_utf8_lossy(&msg.payload).trim().to_owned();
            let r = match what {
                0 => checkpoint(&store.read().expect("lock"), &w, &text),
                1 => consistency(&store.read().expect("lock"), &text),
                _ => cosign(&store.read().expect("lock"), &w, &msg.payload),
            };
            r.unwrap_or_else(|e| format!("error: {e}").into_bytes())
        })
        .await
        .expect("invariant: witness requests do not panic");
        if let Err(e) = client.publish(reply_to, body.into()).await {
            tracing::warn!(error = %e, "answering a witness request failed");
        }
    }
}

/// The checkpoint of the size asked for, or the latest that has a quorum.
fn checkpoint(store: &Store, w: &Witnessing, text: &str) -> Result<Vec<u8>, String> {
    let read = |e: tallylog_store::StoreError| {
        tracing::error!(error = %e, "reading a checkpoint failed");
        "the ledger could not read its store; ask again".to_owned()
    };
    if !text.is_empty() && text != "latest" {
        let size: u64 = text.parse().map_err(|_| {
            "a checkpoint request is empty, `latest`, or one decimal size".to_owned()
        })?;
        return store
            .cosigned_checkpoint(size)
            .map_err(read)?
            .ok_or_else(|| format!("no checkpoint of size {size}"));
    }
    // Witnesses ask for the newest checkpoint, cosigned or not.
    if w.quorum == 0 || text == "latest" {
        let size = store.head().size;
        return store
            .cosigned_checkpoint(size)
            .map_err(read)?
            .ok_or_else(|| "the log has no checkpoint yet".to_owned());
    }
    for item in store.cosigned_sizes() {
        let (size, lines) = item.map_err(read)?;
        if lines < w.quorum {
            continue;
        }
        let note = store
            .cosigned_checkpoint(size)
            .map_err(read)?
            .ok_or_else(|| format!("cosignatures kept for a missing checkpoint {size}"))?;
        let valid = w
            .witnesses
            .iter()
            .filter(|k| k.cosigned(&note).is_some())
            .count();
        if valid >= w.quorum {
            return Ok(note);
        }
    }
    Err(format!(
        "no checkpoint has been cosigned by {} of the ledger's witnesses yet",
        w.quorum
    ))
}

fn consistency(store: &Store, text: &str) -> Result<Vec<u8>, String> {
    let mut it = text.split_whitespace().map(str::parse::<u64>);
    let (Some(Ok(old)), Some(Ok(new)), None) = (it.next(), it.next(), it.next()) else {
        return Err("a consistency request is two decimal sizes: OLD NEW".to_owned());
    };
    if old > new || new > store.head().size {
        return Err(format!(
            "no proof from {old} to {new}: the log has {} entries",
            store.head().size
        ));
    }
    let proof = store
        .consistency_proof(old, new)
        .map_err(|e| e.to_string())?;
    let hex: Vec<String> = proof.iter().map(|h| to_hex(&h.0)).collect();
    Ok(serde_json::to_vec(&hex).expect("invariant: strings serialise"))
}

fn cosign(store: &Store, w: &Witnessing, payload: &[u8]) -> Result<Vec<u8>, String> {
    let req: CosignRequest =
        serde_json::from_slice(payload).map_err(|e| format!("not a cosign request: {e}"))?;
    let note = store
        .cosigned_checkpoint(req.size)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no checkpoint of size {}", req.size))?;
    let text = note_text(&note).ok_or("the stored checkpoint has no text")?;
    let witness = w
        .witnesses
        .iter()
        .find(|k| k.check(text, req.line.as_bytes()).is_some())
        .ok_or_else(|| {
            format!(
                "the line is not a valid cosignature of checkpoint {} by any of this ledger's witnesses",
                req.size
            )
        })?;
    let mut line = req.line.into_bytes();
    if !line.ends_with(b"\n") {
        line.push(b'\n');
    }
    store
        .add_cosignature(req.size, &witness.name, &line)
        .map_err(|e| e.to_string())?;
    tracing::info!(size = req.size, witness = %witness.name, "cosignature kept");
    Ok(b"ok".to_vec())
}

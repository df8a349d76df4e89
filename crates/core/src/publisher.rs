//! A publisher's side of the protocol: its key and its own chain.
//!
//! Every event a key signs carries the next sequence number and the id of the
//! key's previous event. Getting that wrong gets the event rejected, so the
//! bookkeeping lives here once, for the CLI, the simulator and tests. The state
//! is a plain value ([`ChainState`]) that a caller may persist between runs.

use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};

use crate::event::{Body, EventError, Payload, VerifiedEvent};
use crate::types::{ElectionId, EventId, PublicKey, Seq, Timestamp};

/// Where a key's chain stands: the last sequence number used and its event id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainState {
    pub seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<EventId>,
}

/// A signing key bound to one election, producing chained, signed events.
pub struct Publisher {
    key: SigningKey,
    election: ElectionId,
    chain: ChainState,
}

impl Publisher {
    pub fn new(key: SigningKey, election: ElectionId) -> Self {
        Self::resume(key, election, ChainState::default())
    }
    pub fn resume(key: SigningKey, election: ElectionId, chain: ChainState) -> Self {
        Publisher {
            key,
            election,
            chain,
        }
    }
    pub fn public_key(&self) -> PublicKey {
        self.key.verifying_key().into()
    }
    pub fn chain(&self) -> &ChainState {
        &self.chain
    }
    pub fn election(&self) -> &ElectionId {
        &self.election
    }

    /// Signs `payload` as this key's next event and advances the chain.
    pub fn sign(&mut self, time: Timestamp, payload: Payload) -> Result<VerifiedEvent, EventError> {
        let body = Body {
            election: self.election.clone(),
            author: self.public_key(),
            seq: Seq(self.chain.seq + 1),
            prev: self.chain.last,
            time,
            payload,
        };
        let ev = crate::event::sign_verified(body, &self.key)?;
        self.chain = ChainState {
            seq: self.chain.seq + 1,
            last: Some(ev.id()),
        };
        Ok(ev)
    }
}

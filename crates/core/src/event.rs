//! Events: what publishers sign, how it is encoded, and how a signature is checked.
//!
//! A signed event is the canonical JSON `{"body":{...},"sig":"..."}`. The body
//! carries a common header (version, kind, election, author, the author's own
//! sequence number and previous event id, the claimed time) and a `data` object
//! whose shape depends on `kind`. The signature is Ed25519 over
//! `"tallylog/event/v1\n" || JCS(body)`, and the event id is SHA-256 of those same
//! bytes. See docs/PROTOCOL.md, section "Events".

use std::collections::BTreeMap;

use ed25519_dalek::{Signer as _, SigningKey};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::json::{self, DecodeError};
use crate::types::{
    ContestId, Digest, ElectionId, EventId, Level, Origin, PartyId, PublicKey, RegionCode, Seq,
    Signature, StationCode, Text, Timestamp,
};

/// Domain separation for event signatures and ids. The trailing version is bumped
/// if the body format ever changes incompatibly.
pub const EVENT_CONTEXT: &[u8] = b"tallylog/event/v1\n";

/// The only body version this code reads and writes.
pub const BODY_VERSION: u64 = 1;

/// The largest signed event accepted anywhere (network, files, the log): just
/// under 64 KiB, so that every log entry (the event and at most 113 bytes of
/// its own fields) fits the two-byte length prefix of a c2sp.org/tlog-tiles
/// entry bundle.
pub const MAX_EVENT_BYTES: usize = 65_000;

/// The roles a registered key can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Authority,
    Observer,
    PartyAgent,
    Witness,
}

/// Every kind of event, as written in the body's `kind` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Election,
    Geography,
    KeyRegister,
    KeyRevoke,
    KeyRotate,
    Result,
    Correction,
    Recount,
    ComplaintFiled,
    ComplaintAcknowledged,
    ComplaintReview,
    ComplaintResolved,
    ComplaintAppealed,
    ComplaintAppealDecided,
    Certified,
    Attestation,
}

impl Kind {
    pub const ALL: [Kind; 16] = [
        Kind::Election,
        Kind::Geography,
        Kind::KeyRegister,
        Kind::KeyRevoke,
        Kind::KeyRotate,
        Kind::Result,
        Kind::Correction,
        Kind::Recount,
        Kind::ComplaintFiled,
        Kind::ComplaintAcknowledged,
        Kind::ComplaintReview,
        Kind::ComplaintResolved,
        Kind::ComplaintAppealed,
        Kind::ComplaintAppealDecided,
        Kind::Certified,
        Kind::Attestation,
    ];

    /// The snake_case name used in JSON and in NATS subjects.
    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::Election => "election",
            Kind::Geography => "geography",
            Kind::KeyRegister => "key_register",
            Kind::KeyRevoke => "key_revoke",
            Kind::KeyRotate => "key_rotate",
            Kind::Result => "result",
            Kind::Correction => "correction",
            Kind::Recount => "recount",
            Kind::ComplaintFiled => "complaint_filed",
            Kind::ComplaintAcknowledged => "complaint_acknowledged",
            Kind::ComplaintReview => "complaint_review",
            Kind::ComplaintResolved => "complaint_resolved",
            Kind::ComplaintAppealed => "complaint_appealed",
            Kind::ComplaintAppealDecided => "complaint_appeal_decided",
            Kind::Certified => "certified",
            Kind::Attestation => "attestation",
        }
    }
}

/// How seats in a contest are shared out within each constituency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeatFormula {
    /// Highest averages with divisors 1, 2, 3, ... (D'Hondt).
    Dhondt,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Party {
    pub id: PartyId,
    pub name: Text,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contest {
    pub id: ContestId,
    pub name: Text,
    /// The level whose regions are the constituencies (province for the
    /// National Assembly, commune for commune councils).
    pub constituency: Level,
    pub formula: SeatFormula,
    /// The parties on this contest's ballot.
    pub parties: Vec<PartyId>,
}

/// Complaint deadlines set by law, in hours.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deadlines {
    /// From the close of polls to the last moment a complaint may be filed.
    pub filing_hours: u32,
    /// From filing to the authority's resolution.
    pub resolution_hours: u32,
    /// From resolution to the last moment an appeal may be filed.
    pub appeal_filing_hours: u32,
    /// From the appeal to its decision.
    pub appeal_resolution_hours: u32,
}

/// The log an election is published in: its checkpoint origin and key. Naming
/// them in the root-signed definition tells auditors which log key to trust.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogRef {
    pub origin: Origin,
    pub key: PublicKey,
}

/// The election definition: always the first entry of an election's log,
/// signed by the root key, which it thereby establishes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElectionDef {
    pub name: Text,
    pub polls_close: Timestamp,
    pub log: LogRef,
    pub parties: Vec<Party>,
    pub contests: Vec<Contest>,
    pub deadlines: Deadlines,
}

/// A region of the geography above station level (province, district, commune).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Region {
    pub code: RegionCode,
    pub name: Text,
    /// Seats per contest, for regions that are constituencies of that contest.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub seats: BTreeMap<ContestId, u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Station {
    pub code: StationCode,
    pub registered: u64,
}

/// A chunk of the geography. Large elections publish it in many events, each
/// under the event size limit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Geography {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<Region>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stations: Vec<Station>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRegister {
    pub key: PublicKey,
    pub role: Role,
    /// The organisation (observer group, authority) or party the key speaks for.
    pub org: Text,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRevoke {
    pub key: PublicKey,
    pub reason: Text,
}

/// Replaces `old` by `new` with the same role and organisation; `old` is revoked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRotate {
    pub old: PublicKey,
    pub new: PublicKey,
    pub reason: Text,
}

/// The figures of one result form ("1102") for one contest at one station.
/// Whether they add up is not checked here: a form that does not is evidence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResultForm {
    pub station: StationCode,
    pub contest: ContestId,
    pub registered: u64,
    pub cast: u64,
    pub valid: u64,
    pub invalid: u64,
    pub votes: BTreeMap<PartyId, u64>,
    /// SHA-256 of the photographed or scanned paper form, if there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_sha256: Option<Digest>,
}

/// A publisher corrects one of its own organisation's earlier forms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Correction {
    pub supersedes: EventId,
    pub reason: Text,
    pub form: ResultForm,
}

/// The authority's recount result, superseding an earlier form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recount {
    pub supersedes: EventId,
    pub reason: Text,
    /// The complaint resolution that ordered this recount, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordered_by: Option<EventId>,
    pub form: ResultForm,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComplaintCategory {
    ClosedCounting,
    VoterRoll,
    Intimidation,
    VoteBuying,
    ResultMismatch,
    Procedure,
    Other,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComplaintFiled {
    /// Where it happened; absent for a complaint about the whole election.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<RegionCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contest: Option<ContestId>,
    pub category: ComplaintCategory,
    pub summary: Text,
    /// SHA-256 digests of evidence files kept by the complainant.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<Digest>,
    /// Events the complaint is about (for example the disputed result forms).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refs: Vec<EventId>,
}

/// Refers to a complaint by the id of its `complaint_filed` event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComplaintStep {
    pub complaint: EventId,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Upheld,
    Dismissed,
    PartlyUpheld,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComplaintResolved {
    pub complaint: EventId,
    pub outcome: Outcome,
    /// Required: the authority must disclose its reasoning in each case.
    pub reasoning: Text,
    /// Stations whose count is to be redone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recounts: Vec<StationCode>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComplaintAppealed {
    pub complaint: EventId,
    pub reasoning: Text,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComplaintAppealDecided {
    pub complaint: EventId,
    pub outcome: Outcome,
    pub reasoning: Text,
}

/// The authority certifies the results: the projection of the log's first
/// `log_size` entries has hash `projection` (checkable by anyone by replay).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Certified {
    pub log_size: u64,
    pub projection: Digest,
}

/// A publisher endorses another event, for example "this official form matches
/// our copy".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attestation {
    pub event: EventId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<Text>,
}

/// `Ok(Payload::K(read?))` for the variant of `kind`, where `read` is an
/// expression that reads that variant's data (so each kind's type is named
/// once, in this list).
macro_rules! payload_of_kind {
    ($kind:expr, $read:expr) => {
        Ok(match $kind {
            Kind::Election => Payload::Election($read?),
            Kind::Geography => Payload::Geography($read?),
            Kind::KeyRegister => Payload::KeyRegister($read?),
            Kind::KeyRevoke => Payload::KeyRevoke($read?),
            Kind::KeyRotate => Payload::KeyRotate($read?),
            Kind::Result => Payload::Result($read?),
            Kind::Correction => Payload::Correction($read?),
            Kind::Recount => Payload::Recount($read?),
            Kind::ComplaintFiled => Payload::ComplaintFiled($read?),
            Kind::ComplaintAcknowledged => Payload::ComplaintAcknowledged($read?),
            Kind::ComplaintReview => Payload::ComplaintReview($read?),
            Kind::ComplaintResolved => Payload::ComplaintResolved($read?),
            Kind::ComplaintAppealed => Payload::ComplaintAppealed($read?),
            Kind::ComplaintAppealDecided => Payload::ComplaintAppealDecided($read?),
            Kind::Certified => Payload::Certified($read?),
            Kind::Attestation => Payload::Attestation($read?),
        })
    };
}

/// The kind-specific part of a body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Payload {
    Election(ElectionDef),
    Geography(Geography),
    KeyRegister(KeyRegister),
    KeyRevoke(KeyRevoke),
    KeyRotate(KeyRotate),
    Result(ResultForm),
    Correction(Correction),
    Recount(Recount),
    ComplaintFiled(ComplaintFiled),
    ComplaintAcknowledged(ComplaintStep),
    ComplaintReview(ComplaintStep),
    ComplaintResolved(ComplaintResolved),
    ComplaintAppealed(ComplaintAppealed),
    ComplaintAppealDecided(ComplaintAppealDecided),
    Certified(Certified),
    Attestation(Attestation),
}

impl Payload {
    pub fn kind(&self) -> Kind {
        match self {
            Payload::Election(_) => Kind::Election,
            Payload::Geography(_) => Kind::Geography,
            Payload::KeyRegister(_) => Kind::KeyRegister,
            Payload::KeyRevoke(_) => Kind::KeyRevoke,
            Payload::KeyRotate(_) => Kind::KeyRotate,
            Payload::Result(_) => Kind::Result,
            Payload::Correction(_) => Kind::Correction,
            Payload::Recount(_) => Kind::Recount,
            Payload::ComplaintFiled(_) => Kind::ComplaintFiled,
            Payload::ComplaintAcknowledged(_) => Kind::ComplaintAcknowledged,
            Payload::ComplaintReview(_) => Kind::ComplaintReview,
            Payload::ComplaintResolved(_) => Kind::ComplaintResolved,
            Payload::ComplaintAppealed(_) => Kind::ComplaintAppealed,
            Payload::ComplaintAppealDecided(_) => Kind::ComplaintAppealDecided,
            Payload::Certified(_) => Kind::Certified,
            Payload::Attestation(_) => Kind::Attestation,
        }
    }

    /// Decodes `data` as the payload of `kind`.
    pub fn decode(kind: Kind, data: &Value) -> Result<Payload, DecodeError> {
        payload_of_kind!(kind, json::from_value(data))
    }

    /// Reads the payload of `kind` from JSON text that was strictly decoded
    /// before (see [`Body::decode_stored`]).
    fn decode_stored(kind: Kind, data: &str) -> Result<Payload, serde_json::Error> {
        payload_of_kind!(kind, serde_json::from_str(data))
    }

    /// The result form carried by this payload, if any.
    pub fn form(&self) -> Option<&ResultForm> {
        match self {
            Payload::Result(f) => Some(f),
            Payload::Correction(c) => Some(&c.form),
            Payload::Recount(r) => Some(&r.form),
            _ => None,
        }
    }
}

/// The signed part of an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Body {
    pub election: ElectionId,
    pub author: PublicKey,
    pub seq: Seq,
    /// The id of the author's previous event; absent exactly when `seq` is 1.
    pub prev: Option<EventId>,
    /// When the publisher says it made this event. Not trusted for ordering.
    pub time: Timestamp,
    pub payload: Payload,
}

/// The body's JSON shape. `kind` selects how `data` is read.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BodyWire<P> {
    v: u64,
    kind: Kind,
    election: ElectionId,
    author: PublicKey,
    seq: Seq,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    prev: Option<EventId>,
    time: Timestamp,
    data: P,
}

impl<P> BodyWire<P> {
    /// The body these fields describe, with `data` read as `payload`.
    fn with_payload(self, payload: Payload) -> Body {
        Body {
            election: self.election,
            author: self.author,
            seq: self.seq,
            prev: self.prev,
            time: self.time,
            payload,
        }
    }
}

impl Body {
    /// The canonical bytes of this body signed with `sig`: the signed event.
    fn signed_bytes(&self, sig: Signature) -> Vec<u8> {
        json::encode(&SignedWire {
            body: self.wire(),
            sig,
        })
    }

    fn wire(&self) -> BodyWire<&Payload> {
        BodyWire {
            v: BODY_VERSION,
            kind: self.payload.kind(),
            election: self.election.clone(),
            author: self.author,
            seq: self.seq,
            prev: self.prev,
            time: self.time,
            data: &self.payload,
        }
    }

    /// Reads a body, and computes its event id, from canonical body bytes
    /// that were strictly decoded and verified before: a projector's or
    /// ledger's own stored copy of its log. It skips the canonical-form check
    /// (the costly half of [`SignedEvent::decode`]) and so must never be
    /// given bytes from the network or a file someone else wrote.
    pub fn decode_stored(bytes: &[u8]) -> Result<(EventId, Body), EventError> {
        let bad = |e: serde_json::Error| EventError::Decode(DecodeError::Syntax(e.to_string()));
        let b: BodyWire<&serde_json::value::RawValue> =
            serde_json::from_slice(bytes).map_err(bad)?;
        if b.v != BODY_VERSION {
            return Err(EventError::Version(b.v));
        }
        let payload = Payload::decode_stored(b.kind, b.data.get()).map_err(bad)?;
        let id = EventId(
            Sha256::new()
                .chain_update(EVENT_CONTEXT)
                .chain_update(bytes)
                .finalize()
                .into(),
        );
        Ok((id, b.with_payload(payload)))
    }

    /// The canonical bytes of the body alone.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        json::encode(&self.wire())
    }

    /// `EVENT_CONTEXT || JCS(body)`: what is signed and what the id hashes.
    pub fn signing_preimage(&self) -> Vec<u8> {
        let mut out = EVENT_CONTEXT.to_vec();
        out.extend_from_slice(&self.canonical_bytes());
        out
    }

    /// Signs the body. Only a publisher, on its own machine, calls this.
    pub fn sign(self, key: &SigningKey) -> Result<SignedEvent, EventError> {
        if key.verifying_key().as_bytes() != self.author.as_bytes() {
            return Err(EventError::WrongSigner);
        }
        self.check_header()?;
        let preimage = self.signing_preimage();
        let sig = Signature(key.sign(&preimage).to_bytes());
        let id = EventId(Sha256::digest(&preimage).into());
        let bytes = self.signed_bytes(sig);
        if bytes.len() > MAX_EVENT_BYTES {
            return Err(EventError::Decode(DecodeError::TooLarge {
                size: bytes.len(),
                limit: MAX_EVENT_BYTES,
            }));
        }
        Ok(SignedEvent {
            body: self,
            sig,
            id,
            bytes,
        })
    }

    /// Rules that need nothing but the body itself.
    fn check_header(&self) -> Result<(), EventError> {
        match (self.seq.0, &self.prev) {
            (0, _) => Err(EventError::BadSeq),
            (1, Some(_)) | (2.., None) => Err(EventError::PrevMismatch),
            _ => Ok(()),
        }
    }
}

/// `{"body":`, which starts every signed event.
const SIGNED_PREFIX: &[u8] = b"{\"body\":";
/// `,"sig":"` + 128 hex digits + `"}`, which ends every signed event.
const SIGNED_SUFFIX_LEN: usize = 8 + 128 + 2;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignedWire<B> {
    body: B,
    sig: Signature,
}

/// What can be wrong with a single event, judged on its own bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("unsupported body version {0}; this software reads version 1")]
    Version(u64),
    #[error("seq must start at 1")]
    BadSeq,
    #[error("prev must be absent for seq 1 and present for every later seq")]
    PrevMismatch,
    #[error("signature does not verify under the author's key")]
    BadSignature,
    #[error("the signing key is not the body's author")]
    WrongSigner,
}

/// The decoding reason codes of PROTOCOL.md §10: every code a signed event
/// can be refused with on its own bytes, before any acceptance rule.
pub const DECODING_CODES: [&str; 13] = [
    "too_large",
    "malformed_json",
    "duplicate_key",
    "inexact_number",
    "unknown_field",
    "missing_field",
    "wrong_type",
    "invalid_value",
    "unsupported_version",
    "non_canonical",
    "bad_seq",
    "bad_prev",
    "bad_signature",
];

impl EventError {
    /// Stable reason code (see PROTOCOL.md, "Reason codes").
    pub fn code(&self) -> &'static str {
        match self {
            EventError::Decode(d) => d.code(),
            EventError::Version(_) => "unsupported_version",
            EventError::BadSeq => "bad_seq",
            EventError::PrevMismatch => "bad_prev",
            EventError::BadSignature => "bad_signature",
            EventError::WrongSigner => "wrong_signer",
        }
    }
}

/// A decoded event whose bytes are canonical; its signature is not yet checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedEvent {
    body: Body,
    sig: Signature,
    id: EventId,
    bytes: Vec<u8>,
}

impl SignedEvent {
    /// Strictly decodes a signed event from its canonical bytes: the same
    /// answer as [`decode_strict`](Self::decode_strict), the reference, for
    /// every input. An input that is an event is read by the typed fast path
    /// ([`decode_fast`](Self::decode_fast)); anything it does not accept is
    /// read again by the reference, which says exactly what is wrong.
    pub fn decode(bytes: &[u8]) -> Result<SignedEvent, EventError> {
        match SignedEvent::decode_fast(bytes) {
            Some(ev) => Ok(ev),
            None => SignedEvent::decode_strict(bytes),
        }
    }

    /// The reference decoder (PROTOCOL.md §1): a strict parse into a JSON
    /// value (size, syntax, duplicate keys, inexact numbers), typed decoding
    /// with distinct reasons, then the canonical-form check.
    pub fn decode_strict(bytes: &[u8]) -> Result<SignedEvent, EventError> {
        let value = json::parse(bytes, MAX_EVENT_BYTES)?;
        let wire: SignedWire<BodyWire<Value>> = json::from_value(&value)?;
        let b = wire.body;
        if b.v != BODY_VERSION {
            return Err(EventError::Version(b.v));
        }
        let payload = Payload::decode(b.kind, &b.data)?;
        let body = b.with_payload(payload);
        // Canonical form: re-encoding the typed value must give back the input.
        let again = body.signed_bytes(wire.sig);
        if again != bytes {
            return Err(DecodeError::NonCanonical {
                expected: String::from_utf8_lossy(&again).chars().take(200).collect(),
            }
            .into());
        }
        body.check_header()?;
        Ok(SignedEvent::from_canonical(body, wire.sig, again))
    }

    /// Reads `bytes` with serde_json's typed reader straight into the event's
    /// types (no intermediate JSON value), and returns the event only if the
    /// reference would return the same one; `None` says nothing about why.
    ///
    /// Why that holds: the result is re-encoded, and kept only if that gives
    /// back exactly `bytes`, with every integer in the safe range and a valid
    /// header. So `bytes` is the canonical encoding of a typed event, which
    /// holds no duplicate key (an encoding never repeats one), no fraction,
    /// exponent or unsafe integer (checked), no escape or whitespace but the
    /// canonical ones, and valid UTF-8; the reference's parse and typed
    /// decoding accept such bytes and, re-encoding to the same bytes, read the
    /// same event. The fuzz target `event` checks this agreement on every input.
    pub fn decode_fast(bytes: &[u8]) -> Option<SignedEvent> {
        if bytes.len() > MAX_EVENT_BYTES {
            return None;
        }
        let wire: SignedWire<BodyWire<&serde_json::value::RawValue>> =
            serde_json::from_slice(bytes).ok()?;
        let b = wire.body;
        if b.v != BODY_VERSION {
            return None;
        }
        let payload = Payload::decode_stored(b.kind, b.data.get()).ok()?;
        let body = b.with_payload(payload);
        body.check_header().ok()?;
        let again = body.signed_bytes(wire.sig);
        if again != bytes || !json::integers_are_safe(&again) {
            return None;
        }
        Some(SignedEvent::from_canonical(body, wire.sig, again))
    }

    /// The event whose canonical bytes are `bytes`, with its id.
    fn from_canonical(body: Body, sig: Signature, bytes: Vec<u8>) -> SignedEvent {
        let mut ev = SignedEvent {
            id: EventId([0; 32]),
            body,
            sig,
            bytes,
        };
        ev.id = EventId(
            Sha256::new()
                .chain_update(EVENT_CONTEXT)
                .chain_update(ev.body_bytes())
                .finalize()
                .into(),
        );
        ev
    }

    pub fn body(&self) -> &Body {
        &self.body
    }
    /// The body, for a reader that has what else it needs (the id).
    pub fn into_body(self) -> Body {
        self.body
    }
    /// The canonical body bytes: the signed event is `{"body":` + these +
    /// `,"sig":"…"}` (PROTOCOL.md §3.3), so they are a slice of it.
    pub fn body_bytes(&self) -> &[u8] {
        &self.bytes[SIGNED_PREFIX.len()..self.bytes.len() - SIGNED_SUFFIX_LEN]
    }
    /// `EVENT_CONTEXT || body bytes`, the message the signature covers.
    pub fn signing_preimage(&self) -> Vec<u8> {
        let body = self.body_bytes();
        let mut out = Vec::with_capacity(EVENT_CONTEXT.len() + body.len());
        out.extend_from_slice(EVENT_CONTEXT);
        out.extend_from_slice(body);
        out
    }
    pub fn id(&self) -> EventId {
        self.id
    }
    pub fn signature(&self) -> &Signature {
        &self.sig
    }
    /// The canonical bytes, exactly as signed, stored and hashed.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
    pub fn kind(&self) -> Kind {
        self.body.payload.kind()
    }

    /// Checks the signature with `verify_strict` (no small-order keys or `R`,
    /// canonical `S`), the same acceptance set the batch verifier is held to.
    pub fn verify(self) -> Result<VerifiedEvent, EventError> {
        let ok = match self.body.author.point() {
            Some(key) => key
                .verify_strict(&self.signing_preimage(), &self.sig.to_dalek())
                .is_ok(),
            None => false,
        };
        if ok {
            Ok(VerifiedEvent(self))
        } else {
            Err(EventError::BadSignature)
        }
    }

    /// As [`verify`](Self::verify), with the author's point already decoded
    /// (a verifier that sees one key many times decodes it once). `point` must
    /// be the decoding of the author's key; a mismatch is a bad signature.
    pub fn verify_with(
        self,
        point: &ed25519_dalek::VerifyingKey,
    ) -> Result<VerifiedEvent, EventError> {
        let ok = point.as_bytes() == self.body.author.as_bytes()
            && point
                .verify_strict(&self.signing_preimage(), &self.sig.to_dalek())
                .is_ok();
        if ok {
            Ok(VerifiedEvent(self))
        } else {
            Err(EventError::BadSignature)
        }
    }

    /// Decodes and verifies in one step.
    pub fn decode_verified(bytes: &[u8]) -> Result<VerifiedEvent, EventError> {
        SignedEvent::decode(bytes)?.verify()
    }
}

/// An event whose canonical encoding and signature have been checked. It can
/// only be made by [`SignedEvent::verify`] (or by signing, which is the same
/// promise), or, for an auditor's second look at a log, by
/// [`crate::replay::EarlierAudit`] from an entry byte-identical to one it
/// verified before; so a function taking one need not check again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedEvent(SignedEvent);

impl VerifiedEvent {
    /// For `replay::EarlierAudit` only: the event of an entry whose bytes a
    /// verified Merkle root already committed to.
    pub(crate) fn verified_earlier(ev: SignedEvent) -> VerifiedEvent {
        VerifiedEvent(ev)
    }

    pub fn event(&self) -> &SignedEvent {
        &self.0
    }
    pub fn into_event(self) -> SignedEvent {
        self.0
    }
    pub fn body(&self) -> &Body {
        &self.0.body
    }
    pub fn id(&self) -> EventId {
        self.0.id
    }
    pub fn bytes(&self) -> &[u8] {
        &self.0.bytes
    }
    pub fn kind(&self) -> Kind {
        self.0.kind()
    }
}

/// Signs a body and returns it as already verified: a freshly made signature by
/// the author's own key needs no second check.
pub fn sign_verified(body: Body, key: &SigningKey) -> Result<VerifiedEvent, EventError> {
    body.sign(key).map(VerifiedEvent)
}

/// An unsigned event as a person or a script writes it: the kind, the
/// election, the claimed time and the data, with the chain fields optional
/// (a [`Publisher`](crate::publisher::Publisher) fills them in). Drafts need not be
/// canonical JSON, but are otherwise read as strictly as events.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Draft {
    pub kind: Kind,
    #[serde(default)]
    pub election: Option<ElectionId>,
    #[serde(default)]
    pub time: Option<Timestamp>,
    pub data: Value,
}

impl Draft {
    pub fn parse(bytes: &[u8]) -> Result<Draft, DecodeError> {
        let value = json::parse(bytes, MAX_EVENT_BYTES)?;
        json::from_value(&value)
    }

    /// The typed payload the draft's data describes.
    pub fn payload(&self) -> Result<Payload, DecodeError> {
        Payload::decode(self.kind, &self.data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::test_key;

    fn result_body(key: &SigningKey) -> Body {
        Body {
            election: "kh-2023-na".parse().unwrap(),
            author: key.verifying_key().into(),
            seq: Seq(1),
            prev: None,
            time: "2023-07-23T17:05:00Z".parse().unwrap(),
            payload: Payload::Result(ResultForm {
                station: "12/03/04/0042".parse().unwrap(),
                contest: "na".parse().unwrap(),
                registered: 600,
                cast: 480,
                valid: 470,
                invalid: 10,
                votes: [("CPP".parse().unwrap(), 300), ("CRP".parse().unwrap(), 170)]
                    .into_iter()
                    .collect(),
                image_sha256: None,
            }),
        }
    }

    #[test]
    fn a_signed_event_decodes_to_itself_and_verifies() {
        let k = test_key(1);
        let ev = result_body(&k).sign(&k).unwrap();
        let back = SignedEvent::decode(ev.bytes()).unwrap();
        assert_eq!(back, ev);
        let v = back.verify().unwrap();
        assert_eq!(v.id(), ev.id());
    }

    #[test]
    fn signing_with_another_key_is_refused() {
        let body = result_body(&test_key(1));
        assert_eq!(
            body.sign(&test_key(2)).unwrap_err(),
            EventError::WrongSigner
        );
    }

    #[test]
    fn seq_and_prev_must_agree() {
        let k = test_key(1);
        let mut b = result_body(&k);
        b.seq = Seq(2);
        assert_eq!(b.clone().sign(&k).unwrap_err().code(), "bad_prev");
        b.seq = Seq(0);
        assert_eq!(b.sign(&k).unwrap_err().code(), "bad_seq");
    }

    #[test]
    fn unknown_kind_and_version_are_refused() {
        let k = test_key(1);
        let ev = result_body(&k).sign(&k).unwrap();
        let s = String::from_utf8(ev.bytes().to_vec()).unwrap();
        let bad_kind = s.replace("\"kind\":\"result\"", "\"kind\":\"resutl\"");
        assert_eq!(
            SignedEvent::decode(bad_kind.as_bytes()).unwrap_err().code(),
            "invalid_value"
        );
        let bad_v = s.replace("\"v\":1", "\"v\":2");
        assert_eq!(
            SignedEvent::decode(bad_v.as_bytes()).unwrap_err().code(),
            "unsupported_version"
        );
        let extra = s.replace("\"cast\":480", "\"bonus\":1,\"cast\":480");
        assert_eq!(
            SignedEvent::decode(extra.as_bytes()).unwrap_err().code(),
            "unknown_field"
        );
    }

    #[test]
    fn a_changed_figure_breaks_the_signature() {
        let k = test_key(1);
        let ev = result_body(&k).sign(&k).unwrap();
        let s = String::from_utf8(ev.bytes().to_vec()).unwrap();
        let forged = s.replace("\"CPP\":300", "\"CPP\":301");
        let dec = SignedEvent::decode(forged.as_bytes()).unwrap();
        assert_eq!(dec.verify().unwrap_err(), EventError::BadSignature);
    }
}

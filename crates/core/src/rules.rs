//! The validation rules: whether a verified event may enter the log now.
//!
//! Acceptance is a pure function of the log so far and the next event, never of
//! a clock or a configuration file, so every replica that reads the same intake
//! in the same order accepts the same events and builds byte-identical logs.
//! The log so far is seen through the small [`LogView`] trait (the ledger backs
//! it with sled, auditors with memory); [`check`] returns either a
//! [`Rejection`] with a stable reason code or the [`Change`] that accepting the
//! event makes to that view.
//!
//! What is rejected is what is cryptographically or structurally wrong: an
//! unregistered, revoked or wrong-role key, a broken publisher chain, a reference
//! to nothing, an illegal complaint step. What is merely implausible (a form that
//! does not add up, a station not in the geography) is accepted: it is evidence,
//! and the projector flags it.

use std::collections::HashMap;

use crate::event::{ElectionDef, Kind, Payload, Role, VerifiedEvent};
use crate::types::{ContestId, ElectionId, EventId, PublicKey, Seq, StationCode, Text};

/// The election a log belongs to, fixed by its first entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElectionRoot {
    pub id: ElectionId,
    pub root: PublicKey,
    pub def: ElectionDef,
}

/// A registered key as the log knows it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyState {
    pub role: Role,
    pub org: Text,
    pub revoked: bool,
}

/// What later rules need to know about an accepted event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventFacts {
    pub kind: Kind,
    pub author: PublicKey,
    /// For forms (result, correction, recount): which count it is.
    pub form: Option<(StationCode, ContestId)>,
    /// For forms: whether a later correction or recount replaced it.
    pub superseded: bool,
}

/// Where a complaint is in its lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ComplaintStatus {
    Filed,
    Acknowledged,
    UnderReview,
    Resolved,
    Appealed,
    Final,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComplaintState {
    pub status: ComplaintStatus,
    /// The organisation that filed it; only it may appeal.
    pub filer_org: Text,
}

/// Read access to the log so far.
///
/// Everything but [`event`](Self::event) is small enough for any implementation
/// to hold in memory (one record per key, per publisher, per complaint); the
/// facts of every event are not, so that one lookup may fail with a
/// [`ViewError`], which is not a judgement on the event and must stop the caller.
pub trait LogView {
    fn size(&self) -> u64;
    fn election(&self) -> Option<&ElectionRoot>;
    fn key(&self, key: &PublicKey) -> Option<KeyState>;
    /// The author's latest sequence number and event id.
    fn chain_head(&self, author: &PublicKey) -> Option<(Seq, EventId)>;
    fn event(&self, id: &EventId) -> Result<Option<EventFacts>, ViewError>;
    fn complaint(&self, id: &EventId) -> Option<ComplaintState>;
}

/// The log could not be read; the event was not judged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the log could not be read: {0}")]
pub struct ViewError(pub String);

/// Why [`check`] did not accept an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    /// The event is refused; tell the publisher why.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// The log could not be read: nothing was decided, try again later.
    #[error(transparent)]
    Unavailable(#[from] ViewError),
}

impl CheckError {
    /// The rejection, if the event was judged and refused.
    pub fn rejection(&self) -> Option<&Rejection> {
        match self {
            CheckError::Rejected(r) => Some(r),
            CheckError::Unavailable(_) => None,
        }
    }
}

/// Why an event was refused. Each variant has a stable [`code`](Self::code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    #[error("the log is empty: its first event must be the election definition")]
    NoElection,
    #[error("this log already holds the definition of election {0}")]
    ElectionExists(ElectionId),
    #[error("event is for election {found}, this log is election {expected}")]
    WrongElection {
        expected: ElectionId,
        found: ElectionId,
    },
    #[error("only the election's root key may publish {0:?} events")]
    NotRoot(Kind),
    #[error("the root key may only publish the election, geography and key events, not {0:?}")]
    RootMisuse(Kind),
    #[error("author {0} is not a registered key")]
    UnknownKey(PublicKey),
    #[error("author {0} was revoked")]
    RevokedKey(PublicKey),
    #[error("a {role:?} key may not publish {kind:?} events")]
    WrongRole { role: Role, kind: Kind },
    #[error("key {0} is not on the curve or is weak (small order), and cannot be registered")]
    WeakKey(PublicKey),
    #[error("key {0} is already registered")]
    KeyExists(PublicKey),
    #[error("key {0} is already revoked")]
    AlreadyRevoked(PublicKey),
    #[error("the author's sequence number {found} was already used by another event: a publisher may not fork its own history")]
    ReplayedSeq { found: u64 },
    #[error("the author's next sequence number is {expected}, this event has {found}")]
    SeqGap { expected: u64, found: u64 },
    #[error("prev does not name the author's previous event {expected}")]
    PrevMismatch { expected: String },
    #[error("event {0} is not in the log")]
    UnknownReference(EventId),
    #[error("event {id} is a {found:?}, expected {expected}")]
    BadReference {
        id: EventId,
        found: Kind,
        expected: &'static str,
    },
    #[error("the form being replaced is for {old}, this one is for {new}")]
    FormMismatch { old: String, new: String },
    #[error("form {0} was already superseded; supersede its latest version")]
    AlreadySuperseded(EventId),
    #[error("only the organisation that published a form or filed a complaint may do this")]
    NotSameOrg,
    #[error("a complaint that is {status:?} cannot be {step}")]
    IllegalTransition {
        status: ComplaintStatus,
        step: &'static str,
    },
    #[error("cannot certify {claimed} entries: the log has {size}")]
    FutureCertification { claimed: u64, size: u64 },
    #[error("duplicate {0} in the election definition")]
    DuplicateDefinition(String),
}

impl Rejection {
    /// Stable reason code (see PROTOCOL.md, "Reason codes").
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::NoElection => "no_election",
            Rejection::ElectionExists(_) => "election_exists",
            Rejection::WrongElection { .. } => "wrong_election",
            Rejection::NotRoot(_) => "not_root",
            Rejection::RootMisuse(_) => "wrong_role",
            Rejection::UnknownKey(_) => "unknown_key",
            Rejection::RevokedKey(_) => "revoked_key",
            Rejection::WrongRole { .. } => "wrong_role",
            Rejection::WeakKey(_) => "weak_key",
            Rejection::KeyExists(_) => "key_exists",
            Rejection::AlreadyRevoked(_) => "already_revoked",
            Rejection::ReplayedSeq { .. } => "replayed_seq",
            Rejection::SeqGap { .. } => "seq_gap",
            Rejection::PrevMismatch { .. } => "prev_mismatch",
            Rejection::UnknownReference(_) => "unknown_reference",
            Rejection::BadReference { .. } => "bad_reference",
            Rejection::FormMismatch { .. } => "form_mismatch",
            Rejection::AlreadySuperseded(_) => "already_superseded",
            Rejection::NotSameOrg => "not_same_org",
            Rejection::IllegalTransition { .. } => "illegal_transition",
            Rejection::FutureCertification { .. } => "future_certification",
            Rejection::DuplicateDefinition(_) => "duplicate_definition",
        }
    }
}

/// What accepting an event changes in the view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub id: EventId,
    pub facts: EventFacts,
    pub chain: (PublicKey, Seq),
    pub election: Option<ElectionRoot>,
    pub keys: Vec<(PublicKey, KeyState)>,
    pub complaint: Option<(EventId, ComplaintState)>,
    /// A form this event replaces.
    pub supersedes: Option<EventId>,
}

/// Decides whether `ev` may be appended to the log seen through `view`.
///
/// An event whose id is already in the log is not judged here: that is a
/// duplicate, answered with the original entry by the caller.
pub fn check(view: &impl LogView, ev: &VerifiedEvent) -> Result<Change, CheckError> {
    let body = ev.body();
    let author = body.author;
    let kind = ev.kind();

    // The election: the first event defines it; every later one must match it.
    let election = match (view.election(), &body.payload) {
        (None, Payload::Election(def)) => {
            check_definition(def)?;
            Some(ElectionRoot {
                id: body.election.clone(),
                root: author,
                def: def.clone(),
            })
        }
        (None, _) => return Err(Rejection::NoElection.into()),
        (Some(e), _) if e.id != body.election => {
            return Err(Rejection::WrongElection {
                expected: e.id.clone(),
                found: body.election.clone(),
            }
            .into())
        }
        (Some(e), Payload::Election(_)) => {
            return Err(Rejection::ElectionExists(e.id.clone()).into())
        }
        (Some(_), _) => None,
    };
    let root = election
        .as_ref()
        .map(|e| e.root)
        .or_else(|| view.election().map(|e| e.root))
        .expect("invariant: an election is known by now");

    // Who may publish this kind.
    let author_state = if author == root {
        if !matches!(
            kind,
            Kind::Election
                | Kind::Geography
                | Kind::KeyRegister
                | Kind::KeyRevoke
                | Kind::KeyRotate
        ) {
            // The root key only defines the election and its keys; results,
            // complaints and rulings come from registered keys, so that each is
            // attributable to a named body.
            return Err(Rejection::RootMisuse(kind).into());
        }
        None
    } else {
        if matches!(
            kind,
            Kind::Election
                | Kind::Geography
                | Kind::KeyRegister
                | Kind::KeyRevoke
                | Kind::KeyRotate
        ) {
            return Err(Rejection::NotRoot(kind).into());
        }
        let state = view.key(&author).ok_or(Rejection::UnknownKey(author))?;
        if state.revoked {
            return Err(Rejection::RevokedKey(author).into());
        }
        if !role_may(state.role, kind) {
            return Err(Rejection::WrongRole {
                role: state.role,
                kind,
            }
            .into());
        }
        Some(state)
    };

    // The author's own chain continues exactly.
    match view.chain_head(&author) {
        None if body.seq.0 != 1 => {
            return Err(Rejection::SeqGap {
                expected: 1,
                found: body.seq.0,
            }
            .into())
        }
        None => {}
        Some((seq, _)) if body.seq.0 <= seq.0 => {
            return Err(Rejection::ReplayedSeq { found: body.seq.0 }.into())
        }
        Some((seq, _)) if body.seq.0 != seq.0 + 1 => {
            return Err(Rejection::SeqGap {
                expected: seq.0 + 1,
                found: body.seq.0,
            }
            .into())
        }
        Some((_, last)) if body.prev != Some(last) => {
            return Err(Rejection::PrevMismatch {
                expected: last.to_hex(),
            }
            .into())
        }
        Some(_) => {}
    }

    let mut change = Change {
        id: ev.id(),
        facts: EventFacts {
            kind,
            author,
            form: body
                .payload
                .form()
                .map(|f| (f.station.clone(), f.contest.clone())),
            superseded: false,
        },
        chain: (author, body.seq),
        election,
        keys: Vec::new(),
        complaint: None,
        supersedes: None,
    };
    let org = || {
        author_state
            .as_ref()
            .expect("invariant: non-root authors have a key state")
            .org
            .clone()
    };

    match &body.payload {
        Payload::Election(_) | Payload::Geography(_) => {}
        Payload::KeyRegister(r) => {
            if !r.key.is_usable() {
                return Err(Rejection::WeakKey(r.key).into());
            }
            if r.key == root || view.key(&r.key).is_some() {
                return Err(Rejection::KeyExists(r.key).into());
            }
            change.keys.push((
                r.key,
                KeyState {
                    role: r.role,
                    org: r.org.clone(),
                    revoked: false,
                },
            ));
        }
        Payload::KeyRevoke(r) => {
            let mut st = view.key(&r.key).ok_or(Rejection::UnknownKey(r.key))?;
            if st.revoked {
                return Err(Rejection::AlreadyRevoked(r.key).into());
            }
            st.revoked = true;
            change.keys.push((r.key, st));
        }
        Payload::KeyRotate(r) => {
            let mut old = view.key(&r.old).ok_or(Rejection::UnknownKey(r.old))?;
            if old.revoked {
                return Err(Rejection::AlreadyRevoked(r.old).into());
            }
            if !r.new.is_usable() {
                return Err(Rejection::WeakKey(r.new).into());
            }
            if r.new == root || view.key(&r.new).is_some() {
                return Err(Rejection::KeyExists(r.new).into());
            }
            let new = KeyState {
                revoked: false,
                ..old.clone()
            };
            old.revoked = true;
            change.keys.push((r.old, old));
            change.keys.push((r.new, new));
        }
        Payload::Result(_) => {}
        Payload::Correction(c) => {
            let old = superseded_form(view, &c.supersedes, &c.form.station, &c.form.contest)?;
            let old_org = view.key(&old.author).map(|k| k.org);
            if old_org.as_ref() != Some(&org()) {
                return Err(Rejection::NotSameOrg.into());
            }
            change.supersedes = Some(c.supersedes);
        }
        Payload::Recount(r) => {
            superseded_form(view, &r.supersedes, &r.form.station, &r.form.contest)?;
            if let Some(order) = &r.ordered_by {
                expect_kind(
                    view,
                    order,
                    Kind::ComplaintResolved,
                    "a complaint resolution",
                )?;
            }
            change.supersedes = Some(r.supersedes);
        }
        Payload::ComplaintFiled(c) => {
            for r in &c.refs {
                view.event(r)?.ok_or(Rejection::UnknownReference(*r))?;
            }
            change.complaint = Some((
                ev.id(),
                ComplaintState {
                    status: ComplaintStatus::Filed,
                    filer_org: org(),
                },
            ));
        }
        Payload::ComplaintAcknowledged(s) => {
            change.complaint = Some(step(view, &s.complaint, "acknowledged", |st| {
                (st == ComplaintStatus::Filed).then_some(ComplaintStatus::Acknowledged)
            })?);
        }
        Payload::ComplaintReview(s) => {
            change.complaint = Some(step(view, &s.complaint, "put under review", |st| {
                matches!(st, ComplaintStatus::Filed | ComplaintStatus::Acknowledged)
                    .then_some(ComplaintStatus::UnderReview)
            })?);
        }
        Payload::ComplaintResolved(s) => {
            change.complaint = Some(step(view, &s.complaint, "resolved", |st| {
                matches!(
                    st,
                    ComplaintStatus::Filed
                        | ComplaintStatus::Acknowledged
                        | ComplaintStatus::UnderReview
                )
                .then_some(ComplaintStatus::Resolved)
            })?);
        }
        Payload::ComplaintAppealed(s) => {
            let (id, st) = step(view, &s.complaint, "appealed", |st| {
                (st == ComplaintStatus::Resolved).then_some(ComplaintStatus::Appealed)
            })?;
            if st.filer_org != org() {
                return Err(Rejection::NotSameOrg.into());
            }
            change.complaint = Some((id, st));
        }
        Payload::ComplaintAppealDecided(s) => {
            change.complaint = Some(step(view, &s.complaint, "decided on appeal", |st| {
                (st == ComplaintStatus::Appealed).then_some(ComplaintStatus::Final)
            })?);
        }
        Payload::Certified(c) => {
            if c.log_size > view.size() {
                return Err(Rejection::FutureCertification {
                    claimed: c.log_size,
                    size: view.size(),
                }
                .into());
            }
        }
        Payload::Attestation(a) => {
            view.event(&a.event)?
                .ok_or(Rejection::UnknownReference(a.event))?;
        }
    }
    Ok(change)
}

fn role_may(role: Role, kind: Kind) -> bool {
    use Kind::*;
    match kind {
        Election | Geography | KeyRegister | KeyRevoke | KeyRotate => false,
        Result | Correction => matches!(role, Role::Authority | Role::Observer | Role::PartyAgent),
        ComplaintFiled | ComplaintAppealed => matches!(role, Role::Observer | Role::PartyAgent),
        Recount
        | ComplaintAcknowledged
        | ComplaintReview
        | ComplaintResolved
        | ComplaintAppealDecided
        | Certified => role == Role::Authority,
        Attestation => true,
    }
}

fn check_definition(def: &ElectionDef) -> Result<(), Rejection> {
    if !def.log.key.is_usable() {
        return Err(Rejection::WeakKey(def.log.key));
    }
    let mut seen = std::collections::HashSet::new();
    for p in &def.parties {
        if !seen.insert(format!("party {}", p.id)) {
            return Err(Rejection::DuplicateDefinition(format!("party {}", p.id)));
        }
    }
    for c in &def.contests {
        if !seen.insert(format!("contest {}", c.id)) {
            return Err(Rejection::DuplicateDefinition(format!("contest {}", c.id)));
        }
        let mut on_ballot = std::collections::HashSet::new();
        for p in &c.parties {
            if !seen.contains(&format!("party {p}")) {
                return Err(Rejection::DuplicateDefinition(format!(
                    "contest {} lists party {p}, which is not defined",
                    c.id
                )));
            }
            if !on_ballot.insert(p) {
                return Err(Rejection::DuplicateDefinition(format!(
                    "party {p} on contest {}",
                    c.id
                )));
            }
        }
    }
    Ok(())
}

fn expect_kind(
    view: &impl LogView,
    id: &EventId,
    kind: Kind,
    expected: &'static str,
) -> Result<EventFacts, CheckError> {
    let facts = view.event(id)?.ok_or(Rejection::UnknownReference(*id))?;
    if facts.kind != kind {
        return Err(Rejection::BadReference {
            id: *id,
            found: facts.kind,
            expected,
        }
        .into());
    }
    Ok(facts)
}

fn superseded_form(
    view: &impl LogView,
    id: &EventId,
    station: &StationCode,
    contest: &ContestId,
) -> Result<EventFacts, CheckError> {
    let facts = view.event(id)?.ok_or(Rejection::UnknownReference(*id))?;
    let Some((old_station, old_contest)) = &facts.form else {
        return Err(Rejection::BadReference {
            id: *id,
            found: facts.kind,
            expected: "a result form",
        }
        .into());
    };
    if old_station != station || old_contest != contest {
        return Err(Rejection::FormMismatch {
            old: format!("{old_station} {old_contest}"),
            new: format!("{station} {contest}"),
        }
        .into());
    }
    if facts.superseded {
        return Err(Rejection::AlreadySuperseded(*id).into());
    }
    Ok(facts)
}

fn step(
    view: &impl LogView,
    id: &EventId,
    step: &'static str,
    next: impl Fn(ComplaintStatus) -> Option<ComplaintStatus>,
) -> Result<(EventId, ComplaintState), CheckError> {
    expect_kind(view, id, Kind::ComplaintFiled, "a filed complaint")?;
    let mut st = view
        .complaint(id)
        .expect("invariant: every complaint_filed event has a complaint state");
    st.status = next(st.status).ok_or(Rejection::IllegalTransition {
        status: st.status,
        step,
    })?;
    Ok((*id, st))
}

/// The empty log.
#[derive(Clone, Copy, Debug, Default)]
pub struct Empty;

impl LogView for Empty {
    fn size(&self) -> u64 {
        0
    }
    fn election(&self) -> Option<&ElectionRoot> {
        None
    }
    fn key(&self, _: &PublicKey) -> Option<KeyState> {
        None
    }
    fn chain_head(&self, _: &PublicKey) -> Option<(Seq, EventId)> {
        None
    }
    fn event(&self, _: &EventId) -> Result<Option<EventFacts>, ViewError> {
        Ok(None)
    }
    fn complaint(&self, _: &EventId) -> Option<ComplaintState> {
        None
    }
}

impl<T: LogView> LogView for &T {
    fn size(&self) -> u64 {
        (**self).size()
    }
    fn election(&self) -> Option<&ElectionRoot> {
        (**self).election()
    }
    fn key(&self, key: &PublicKey) -> Option<KeyState> {
        (**self).key(key)
    }
    fn chain_head(&self, author: &PublicKey) -> Option<(Seq, EventId)> {
        (**self).chain_head(author)
    }
    fn event(&self, id: &EventId) -> Result<Option<EventFacts>, ViewError> {
        (**self).event(id)
    }
    fn complaint(&self, id: &EventId) -> Option<ComplaintState> {
        (**self).complaint(id)
    }
}

/// A base view plus the changes accepted on top of it, held in memory. The
/// ledger judges a batch with an overlay on its store (each event sees the ones
/// before it in the batch) and writes the changes in one atomic append; an
/// auditor or a test uses an overlay on [`Empty`], which is [`MemoryState`].
#[derive(Clone, Debug, Default)]
pub struct Overlay<B> {
    base: B,
    added: u64,
    election: Option<ElectionRoot>,
    keys: HashMap<PublicKey, KeyState>,
    chains: HashMap<PublicKey, (Seq, EventId)>,
    events: HashMap<EventId, EventFacts>,
    complaints: HashMap<EventId, ComplaintState>,
}

/// The whole view in memory: for auditors, tests and small logs.
pub type MemoryState = Overlay<Empty>;

impl MemoryState {
    pub fn new() -> Self {
        Self::default()
    }
}

impl<B: LogView> Overlay<B> {
    pub fn on(base: B) -> Self {
        Overlay {
            base,
            added: 0,
            election: None,
            keys: HashMap::new(),
            chains: HashMap::new(),
            events: HashMap::new(),
            complaints: HashMap::new(),
        }
    }

    pub fn base(&self) -> &B {
        &self.base
    }

    /// Checks `ev` and, if it is accepted, applies it.
    pub fn accept(&mut self, ev: &VerifiedEvent) -> Result<Change, CheckError> {
        let change = check(&*self, ev)?;
        self.apply(change.clone())?;
        Ok(change)
    }

    /// Applies a change produced by [`check`] against this same view.
    pub fn apply(&mut self, c: Change) -> Result<(), ViewError> {
        if let Some(e) = c.election {
            self.election = Some(e);
        }
        for (k, st) in c.keys {
            self.keys.insert(k, st);
        }
        if let Some(old) = c.supersedes {
            if let Some(mut f) = self.event(&old)? {
                f.superseded = true;
                self.events.insert(old, f);
            }
        }
        if let Some((id, st)) = c.complaint {
            self.complaints.insert(id, st);
        }
        self.chains.insert(c.chain.0, (c.chain.1, c.id));
        self.events.insert(c.id, c.facts);
        self.added += 1;
        Ok(())
    }

    pub fn contains(&self, id: &EventId) -> Result<bool, ViewError> {
        Ok(self.event(id)?.is_some())
    }

    /// The pending changes, to be written by whoever owns the base.
    pub fn pending_events(&self) -> &HashMap<EventId, EventFacts> {
        &self.events
    }
}

impl<B: LogView> LogView for Overlay<B> {
    fn size(&self) -> u64 {
        self.base.size() + self.added
    }
    fn election(&self) -> Option<&ElectionRoot> {
        self.election.as_ref().or_else(|| self.base.election())
    }
    fn key(&self, key: &PublicKey) -> Option<KeyState> {
        self.keys.get(key).cloned().or_else(|| self.base.key(key))
    }
    fn chain_head(&self, author: &PublicKey) -> Option<(Seq, EventId)> {
        self.chains
            .get(author)
            .copied()
            .or_else(|| self.base.chain_head(author))
    }
    fn event(&self, id: &EventId) -> Result<Option<EventFacts>, ViewError> {
        match self.events.get(id) {
            Some(f) => Ok(Some(f.clone())),
            None => self.base.event(id),
        }
    }
    fn complaint(&self, id: &EventId) -> Option<ComplaintState> {
        self.complaints
            .get(id)
            .cloned()
            .or_else(|| self.base.complaint(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::*;
    use crate::keys::test_key;
    use crate::publisher::{ChainState, Publisher};
    use crate::sample;
    use crate::types::Timestamp;

    fn t() -> Timestamp {
        "2023-07-30T00:00:00Z".parse().unwrap()
    }

    /// The sample election accepted into a fresh state, and the publishers
    /// positioned at the end of their chains.
    fn setup() -> (MemoryState, Vec<VerifiedEvent>) {
        let mut st = MemoryState::new();
        let evs = sample::events();
        for ev in &evs {
            st.accept(ev)
                .unwrap_or_else(|e| panic!("sample event refused: {e}"));
        }
        (st, evs)
    }

    fn publisher(st: &MemoryState, n: u32) -> Publisher {
        let key = test_key(n);
        let pk: PublicKey = key.verifying_key().into();
        let chain = st
            .chain_head(&pk)
            .map(|(seq, last)| ChainState {
                seq: seq.0,
                last: Some(last),
            })
            .unwrap_or_default();
        Publisher::resume(key, sample::ELECTION.parse().unwrap(), chain)
    }

    fn code(st: &MemoryState, ev: VerifiedEvent) -> &'static str {
        match check(st, &ev) {
            Ok(_) => "accepted",
            Err(CheckError::Rejected(e)) => e.code(),
            Err(e) => panic!("a memory view cannot fail: {e}"),
        }
    }

    fn find(evs: &[VerifiedEvent], kind: Kind) -> EventId {
        evs.iter().find(|e| e.kind() == kind).unwrap().id()
    }

    fn form() -> ResultForm {
        sample::form("01/01/01/0001", 600, [1, 2, 3], 0)
    }

    #[test]
    fn the_sample_election_is_accepted_in_order() {
        let (st, evs) = setup();
        assert_eq!(st.size(), evs.len() as u64);
    }

    #[test]
    fn the_first_event_must_define_the_election() {
        let st = MemoryState::new();
        let mut obs = Publisher::new(test_key(4), sample::ELECTION.parse().unwrap());
        assert_eq!(
            code(&st, obs.sign(t(), Payload::Result(form())).unwrap()),
            "no_election"
        );
        let (st, _) = setup();
        let mut root = publisher(&st, sample::ROOT_KEY);
        assert_eq!(
            code(
                &st,
                root.sign(t(), Payload::Election(sample::definition()))
                    .unwrap()
            ),
            "election_exists"
        );
    }

    #[test]
    fn keys_must_be_registered_unrevoked_and_in_role() {
        let (mut st, _) = setup();
        let mut stranger = Publisher::new(test_key(77), sample::ELECTION.parse().unwrap());
        assert_eq!(
            code(&st, stranger.sign(t(), Payload::Result(form())).unwrap()),
            "unknown_key"
        );

        let mut obs = publisher(&st, sample::OBSERVER_NEW_KEY);
        let recount = Payload::Recount(Recount {
            supersedes: EventId([0; 32]),
            reason: "x".parse().unwrap(),
            ordered_by: None,
            form: form(),
        });
        assert_eq!(code(&st, obs.sign(t(), recount).unwrap()), "wrong_role");

        let mut nec = publisher(&st, sample::AUTHORITY_KEY);
        let reg = Payload::KeyRegister(KeyRegister {
            key: test_key(50).verifying_key().into(),
            role: Role::Observer,
            org: "x".parse().unwrap(),
        });
        assert_eq!(code(&st, nec.sign(t(), reg.clone()).unwrap()), "not_root");

        let mut root = publisher(&st, sample::ROOT_KEY);
        assert_eq!(
            code(&st, root.sign(t(), Payload::Result(form())).unwrap()),
            "wrong_role"
        );

        // Revoke the observer; its next event is refused.
        let mut root = publisher(&st, sample::ROOT_KEY);
        let revoke = root
            .sign(
                t(),
                Payload::KeyRevoke(KeyRevoke {
                    key: test_key(sample::OBSERVER_NEW_KEY).verifying_key().into(),
                    reason: "laptop stolen".parse().unwrap(),
                }),
            )
            .unwrap();
        st.accept(&revoke).unwrap();
        assert_eq!(
            code(&st, obs.sign(t(), Payload::Result(form())).unwrap()),
            "revoked_key"
        );
        let again = root
            .sign(
                t(),
                Payload::KeyRevoke(KeyRevoke {
                    key: test_key(sample::OBSERVER_NEW_KEY).verifying_key().into(),
                    reason: "twice".parse().unwrap(),
                }),
            )
            .unwrap();
        assert_eq!(code(&st, again), "already_revoked");
    }

    #[test]
    fn weak_and_existing_keys_cannot_be_registered() {
        let (st, _) = setup();
        let mut root = publisher(&st, sample::ROOT_KEY);
        // The identity point (encoded as 1 followed by zeros) has small order.
        let mut weak = [0u8; 32];
        weak[0] = 1;
        let weak = PublicKey::from_bytes(&weak).unwrap();
        assert!(!weak.is_usable());
        let reg = |key| {
            Payload::KeyRegister(KeyRegister {
                key,
                role: Role::Observer,
                org: "x".parse().unwrap(),
            })
        };
        assert_eq!(code(&st, root.sign(t(), reg(weak)).unwrap()), "weak_key");
        let mut root = publisher(&st, sample::ROOT_KEY);
        let existing = test_key(sample::AGENT_KEY).verifying_key().into();
        assert_eq!(
            code(&st, root.sign(t(), reg(existing)).unwrap()),
            "key_exists"
        );
    }

    #[test]
    fn a_rotated_key_hands_over_its_role() {
        let (mut st, _) = setup();
        let mut root = publisher(&st, sample::ROOT_KEY);
        let rotate = root
            .sign(
                t(),
                Payload::KeyRotate(KeyRotate {
                    old: test_key(sample::OBSERVER_NEW_KEY).verifying_key().into(),
                    new: test_key(40).verifying_key().into(),
                    reason: "scheduled rotation".parse().unwrap(),
                }),
            )
            .unwrap();
        st.accept(&rotate).unwrap();
        let mut old = publisher(&st, sample::OBSERVER_NEW_KEY);
        assert_eq!(
            code(&st, old.sign(t(), Payload::Result(form())).unwrap()),
            "revoked_key"
        );
        let mut new = publisher(&st, 40);
        assert_eq!(
            code(&st, new.sign(t(), Payload::Result(form())).unwrap()),
            "accepted"
        );
        assert_eq!(st.key(&new.public_key()).unwrap().role, Role::Observer);
    }

    #[test]
    fn a_publisher_chain_cannot_skip_fork_or_misname_its_past() {
        let (st, evs) = setup();
        let obs = publisher(&st, sample::OBSERVER_NEW_KEY);
        let head = obs.chain().clone();
        let key = test_key(sample::OBSERVER_NEW_KEY);
        let e = || sample::ELECTION.parse().unwrap();

        let mut gap = Publisher::resume(
            key.clone(),
            e(),
            ChainState {
                seq: head.seq + 1,
                last: head.last,
            },
        );
        assert_eq!(
            code(&st, gap.sign(t(), Payload::Result(form())).unwrap()),
            "seq_gap"
        );

        let mut fork = Publisher::resume(
            key.clone(),
            e(),
            ChainState {
                seq: head.seq - 1,
                last: Some(evs[0].id()),
            },
        );
        assert_eq!(
            code(&st, fork.sign(t(), Payload::Result(form())).unwrap()),
            "replayed_seq"
        );

        let mut wrong_prev = Publisher::resume(
            key,
            e(),
            ChainState {
                seq: head.seq,
                last: Some(evs[0].id()),
            },
        );
        assert_eq!(
            code(&st, wrong_prev.sign(t(), Payload::Result(form())).unwrap()),
            "prev_mismatch"
        );

        let mut other = Publisher::resume(
            test_key(sample::OBSERVER_NEW_KEY),
            "other-election".parse().unwrap(),
            head,
        );
        assert_eq!(
            code(&st, other.sign(t(), Payload::Result(form())).unwrap()),
            "wrong_election"
        );
    }

    #[test]
    fn corrections_follow_their_form_and_organisation() {
        let (st, evs) = setup();
        let official = evs.iter().find(|e| e.kind() == Kind::Result).unwrap();
        let official_form = official.body().payload.form().unwrap().clone();
        let correction = |supersedes, form| {
            Payload::Correction(Correction {
                supersedes,
                reason: "typo".parse().unwrap(),
                form,
            })
        };
        // Another organisation may not correct the authority's form.
        let mut obs = publisher(&st, sample::OBSERVER_NEW_KEY);
        assert_eq!(
            code(
                &st,
                obs.sign(t(), correction(official.id(), official_form.clone()))
                    .unwrap()
            ),
            "not_same_org"
        );
        let mut nec = publisher(&st, sample::AUTHORITY_KEY);
        assert_eq!(
            code(
                &st,
                nec.sign(t(), correction(official.id(), official_form.clone()))
                    .unwrap()
            ),
            "accepted"
        );
        let mut nec = publisher(&st, sample::AUTHORITY_KEY);
        let other_station = sample::form("02/01/01/0001", 700, [1, 1, 1], 0);
        assert_eq!(
            code(
                &st,
                nec.sign(t(), correction(official.id(), other_station))
                    .unwrap()
            ),
            "form_mismatch"
        );
        let mut nec = publisher(&st, sample::AUTHORITY_KEY);
        assert_eq!(
            code(
                &st,
                nec.sign(t(), correction(EventId([3; 32]), official_form.clone()))
                    .unwrap()
            ),
            "unknown_reference"
        );
        let mut nec = publisher(&st, sample::AUTHORITY_KEY);
        let complaint = find(&evs, Kind::ComplaintFiled);
        assert_eq!(
            code(
                &st,
                nec.sign(t(), correction(complaint, official_form)).unwrap()
            ),
            "bad_reference"
        );
        // The slip was already corrected once: correct the correction, not it.
        let slip = evs.iter().find(|e| e.kind() == Kind::Correction).unwrap();
        let Payload::Correction(c) = &slip.body().payload else {
            unreachable!()
        };
        let mut nec = publisher(&st, sample::AUTHORITY_KEY);
        assert_eq!(
            code(
                &st,
                nec.sign(t(), correction(c.supersedes, c.form.clone()))
                    .unwrap()
            ),
            "already_superseded"
        );
    }

    #[test]
    fn complaints_move_only_along_their_lifecycle() {
        let (mut st, evs) = setup();
        let resolved = find(&evs, Kind::ComplaintFiled);
        let open = evs
            .iter()
            .filter(|e| e.kind() == Kind::ComplaintFiled)
            .nth(1)
            .unwrap()
            .id();
        let mut nec = publisher(&st, sample::AUTHORITY_KEY);
        // Already resolved: cannot be acknowledged again.
        assert_eq!(
            code(
                &st,
                nec.sign(
                    t(),
                    Payload::ComplaintAcknowledged(ComplaintStep {
                        complaint: resolved
                    })
                )
                .unwrap()
            ),
            "illegal_transition"
        );
        let mut nec = publisher(&st, sample::AUTHORITY_KEY);
        // Not appealed: no appeal decision.
        let decide = |complaint| {
            Payload::ComplaintAppealDecided(ComplaintAppealDecided {
                complaint,
                outcome: Outcome::Dismissed,
                reasoning: "x".parse().unwrap(),
            })
        };
        assert_eq!(
            code(&st, nec.sign(t(), decide(resolved)).unwrap()),
            "illegal_transition"
        );
        // Only the filer's organisation appeals.
        let appeal = |complaint| {
            Payload::ComplaintAppealed(ComplaintAppealed {
                complaint,
                reasoning: "the recount was not observed".parse().unwrap(),
            })
        };
        let mut obs = publisher(&st, sample::OBSERVER_NEW_KEY);
        assert_eq!(
            code(&st, obs.sign(t(), appeal(resolved)).unwrap()),
            "not_same_org"
        );
        let mut agent = publisher(&st, sample::AGENT_KEY);
        let ev = agent.sign(t(), appeal(resolved)).unwrap();
        st.accept(&ev).unwrap();
        let mut nec = publisher(&st, sample::AUTHORITY_KEY);
        let ev = nec.sign(t(), decide(resolved)).unwrap();
        st.accept(&ev).unwrap();
        assert_eq!(
            st.complaint(&resolved).unwrap().status,
            ComplaintStatus::Final
        );
        // The open one can go straight to review, then resolution.
        let mut nec = publisher(&st, sample::AUTHORITY_KEY);
        let ev = nec
            .sign(
                t(),
                Payload::ComplaintReview(ComplaintStep { complaint: open }),
            )
            .unwrap();
        st.accept(&ev).unwrap();
        assert_eq!(
            st.complaint(&open).unwrap().status,
            ComplaintStatus::UnderReview
        );
        // A step on something that is not a complaint.
        let mut nec = publisher(&st, sample::AUTHORITY_KEY);
        assert_eq!(
            code(
                &st,
                nec.sign(
                    t(),
                    Payload::ComplaintReview(ComplaintStep {
                        complaint: evs[0].id()
                    })
                )
                .unwrap()
            ),
            "bad_reference"
        );
    }

    #[test]
    fn certification_cannot_name_a_future_log_size() {
        let (st, _) = setup();
        let cert = |log_size| {
            Payload::Certified(Certified {
                log_size,
                projection: crate::types::Digest([1; 32]),
            })
        };
        let mut nec = publisher(&st, sample::AUTHORITY_KEY);
        assert_eq!(
            code(&st, nec.sign(t(), cert(st.size() + 1)).unwrap()),
            "future_certification"
        );
        let mut nec = publisher(&st, sample::AUTHORITY_KEY);
        assert_eq!(
            code(&st, nec.sign(t(), cert(st.size())).unwrap()),
            "accepted"
        );
    }
}

//! The fold: one pass over the log, in log order, building everything the
//! views need. It is deterministic (no clock, no randomness, no hash-map
//! iteration order reaches the output) so that anyone replaying the same log
//! reaches the same state and the same [projection hash](crate::hash).
//!
//! The fold trusts that its input is a log the rules accepted (the ledger
//! checks every event before appending it, and `tallylog audit` checks the
//! ledger). It never panics on a log that breaks the rules: a reference to
//! nothing is ignored, a form from an unknown key is attributed to no source.
//! What a valid log can still contain (forms that do not add up, stations
//! outside the geography) is kept and flagged as an [`Anomaly`].

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use tallylog_core::entry::Entry;
use tallylog_core::event::{
    Body, ComplaintCategory, ElectionDef, Kind, Outcome, Payload, ResultForm, Role,
};
use tallylog_core::types::{
    ContestId, Digest, ElectionId, EventId, LogIndex, PartyId, PublicKey, RegionCode, StationCode,
    Text, Timestamp,
};

/// The largest figure a station's form may carry and still be added to the
/// tallies. A polling station serves hundreds or a few thousand voters; ten
/// million is beyond any real one, and the bound keeps every national total
/// far below 2^53, the largest integer every JSON reader handles exactly.
pub const MAX_FIGURE: u64 = 10_000_000;

/// Who published a form: the authority's official figures, an observer
/// organisation's copy, or a party's copy. Keys of one organisation, including
/// rotated ones, are one source.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Source {
    pub role: Role,
    pub org: Text,
}

impl Source {
    pub fn is_official(&self) -> bool {
        self.role == Role::Authority
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let role = match self.role {
            Role::Authority => "authority",
            Role::Observer => "observer",
            Role::PartyAgent => "party_agent",
            Role::Witness => "witness",
        };
        write!(f, "{role}:{}", self.org)
    }
}

/// A region of the geography, as its definition said.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RegionInfo {
    pub name: Text,
    pub seats: BTreeMap<ContestId, u32>,
}

/// Something wrong with a form. The form stays in the log and in the views;
/// the flag says what a reader should look at.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyKind {
    /// valid + invalid is not the number of ballots cast.
    CastMismatch,
    /// The party votes do not add up to the valid ballots.
    ValidMismatch,
    /// More ballots cast than the form's own count of registered voters.
    CastAboveRegistered,
    /// More ballots cast than the geography's count of registered voters at
    /// the station: turnout above 100%.
    TurnoutAbove100,
    /// The form's registered voters differ from the geography's.
    RegisteredMismatch,
    /// Votes for a party that is not on the contest's ballot.
    PartyNotOnBallot,
    /// A contest the election does not define.
    UnknownContest,
    /// A station the geography (as published so far) does not have.
    UnknownStation,
    /// The same form image under another station.
    DuplicateImage,
    /// A figure above [`MAX_FIGURE`]; the form is not added to the tallies.
    ImplausibleFigure,
    /// A second original form from the same source for the same station and
    /// contest, not published as a correction; it replaces the earlier one.
    DuplicateForm,
}

impl AnomalyKind {
    pub fn code(self) -> &'static str {
        match self {
            AnomalyKind::CastMismatch => "cast_mismatch",
            AnomalyKind::ValidMismatch => "valid_mismatch",
            AnomalyKind::CastAboveRegistered => "cast_above_registered",
            AnomalyKind::TurnoutAbove100 => "turnout_above_100",
            AnomalyKind::RegisteredMismatch => "registered_mismatch",
            AnomalyKind::PartyNotOnBallot => "party_not_on_ballot",
            AnomalyKind::UnknownContest => "unknown_contest",
            AnomalyKind::UnknownStation => "unknown_station",
            AnomalyKind::DuplicateImage => "duplicate_image",
            AnomalyKind::ImplausibleFigure => "implausible_figure",
            AnomalyKind::DuplicateForm => "duplicate_form",
        }
    }
}

/// One flagged anomaly, with a sentence saying what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Anomaly {
    pub kind: AnomalyKind,
    pub index: LogIndex,
    pub event: EventId,
    pub station: StationCode,
    pub contest: ContestId,
    pub source: Option<Source>,
    pub detail: String,
}

/// One version of one source's form for one station and contest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FormVersion {
    pub index: LogIndex,
    pub event: EventId,
    pub kind: Kind,
    /// `None` when the author is not a registered key (never in a valid log).
    pub source: Option<Source>,
    pub author: PublicKey,
    /// When the publisher says it signed the form.
    pub time: Timestamp,
    pub form: ResultForm,
    /// For corrections and recounts: the version this one replaces, and why.
    pub supersedes: Option<EventId>,
    pub reason: Option<Text>,
    /// For recounts: the complaint resolution that ordered it.
    pub ordered_by: Option<EventId>,
    /// The correction or recount that replaced this version, if any.
    pub superseded_by: Option<EventId>,
    pub anomalies: Vec<AnomalyKind>,
}

impl FormVersion {
    /// Whether this version's figures go into the tallies when it is current.
    fn countable(&self) -> bool {
        !self.anomalies.contains(&AnomalyKind::ImplausibleFigure)
            && !self.anomalies.contains(&AnomalyKind::UnknownContest)
    }
}

/// Sums of forms over a region, for one contest and one source.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Stations of the geography in the region with a current form counted.
    pub stations: u64,
    pub registered: u64,
    pub cast: u64,
    pub valid: u64,
    pub invalid: u64,
    pub votes: BTreeMap<PartyId, u64>,
}

impl Totals {
    /// The totals of one form.
    pub fn of(f: &ResultForm) -> Totals {
        let mut t = Totals::default();
        t.add(f);
        t
    }
    fn add(&mut self, f: &ResultForm) {
        self.stations += 1;
        self.registered = self.registered.saturating_add(f.registered);
        self.cast = self.cast.saturating_add(f.cast);
        self.valid = self.valid.saturating_add(f.valid);
        self.invalid = self.invalid.saturating_add(f.invalid);
        // Only parties with votes are kept, so that the totals are a function
        // of the forms counted and not of the order they came and went in.
        for (p, v) in f.votes.iter().filter(|(_, v)| **v > 0) {
            match self.votes.get_mut(p) {
                Some(t) => *t = t.saturating_add(*v),
                None => {
                    self.votes.insert(p.clone(), *v);
                }
            }
        }
    }
    /// Takes back exactly what [`add`](Self::add) put in. Figures are bounded
    /// by [`MAX_FIGURE`], so the saturating adds above never saturated.
    fn remove(&mut self, f: &ResultForm) {
        self.stations -= 1;
        self.registered -= f.registered;
        self.cast -= f.cast;
        self.valid -= f.valid;
        self.invalid -= f.invalid;
        for (p, v) in f.votes.iter().filter(|(_, v)| **v > 0) {
            let t = self
                .votes
                .get_mut(p)
                .expect("invariant: a removed form's parties were added");
            *t -= v;
            if *t == 0 {
                self.votes.remove(p);
            }
        }
    }
}

/// Where every version of one source's form for one station and contest is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Slot {
    /// Indexes into [`Projection::forms`], in log order.
    pub versions: Vec<usize>,
    /// The version that counts now: the latest not superseded.
    pub current: Option<usize>,
}

/// Names a slot: one source's form for one station in one contest.
pub type SlotKey = (StationCode, ContestId, Source);

/// The slots of one station, by contest and source.
pub type StationSlots = BTreeMap<(ContestId, Source), Slot>;

/// The lifecycle of a complaint (the rules' own states).
pub use tallylog_core::rules::ComplaintStatus as Status;

/// One step taken on a complaint after its filing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    pub index: LogIndex,
    pub event: EventId,
    pub kind: Kind,
    pub time: Timestamp,
    pub source: Option<Source>,
    pub outcome: Option<Outcome>,
    pub reasoning: Option<Text>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Complaint {
    pub index: LogIndex,
    pub event: EventId,
    pub filer: Option<Source>,
    pub filed: Timestamp,
    pub region: Option<RegionCode>,
    pub contest: Option<ContestId>,
    pub category: ComplaintCategory,
    pub summary: Text,
    pub evidence: Vec<Digest>,
    pub refs: Vec<EventId>,
    pub status: Status,
    pub steps: Vec<Step>,
    /// Stations whose recount the resolution ordered.
    pub recounts_ordered: Vec<StationCode>,
    /// Recounts published under the resolution.
    pub recounts: Vec<EventId>,
}

impl Complaint {
    /// The step that resolved it, if one did.
    pub fn resolution(&self) -> Option<&Step> {
        self.steps
            .iter()
            .find(|s| s.kind == Kind::ComplaintResolved)
    }
    pub fn appeal(&self) -> Option<&Step> {
        self.steps
            .iter()
            .find(|s| s.kind == Kind::ComplaintAppealed)
    }
    pub fn appeal_decision(&self) -> Option<&Step> {
        self.steps
            .iter()
            .find(|s| s.kind == Kind::ComplaintAppealDecided)
    }
}

/// An authority's claim that the projection of the first `log_size` entries
/// has hash `claimed`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Certification {
    pub index: LogIndex,
    pub event: EventId,
    pub log_size: u64,
    pub claimed: Digest,
    /// Whether replay confirmed the claim: `None` until someone checked (the
    /// fold checks claims about the log up to the claim itself; `tallylog
    /// audit` checks the others).
    pub confirmed: Option<bool>,
}

/// An endorsement of an event by a publisher.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Endorsement {
    pub index: LogIndex,
    pub event: EventId,
    pub source: Option<Source>,
    pub note: Option<Text>,
}

/// The fold was given an entry out of order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("entry {got} given to a projection of {expected} entries: entries must come in log order")]
pub struct OutOfOrder {
    pub expected: u64,
    pub got: u64,
}

/// Everything the log says, folded.
#[derive(Clone, Debug, Default)]
pub struct Projection {
    pub(crate) size: u64,
    pub(crate) election: Option<(ElectionId, ElectionDef)>,
    pub(crate) regions: BTreeMap<RegionCode, RegionInfo>,
    /// Stations of the geography with their registered voters.
    pub(crate) stations: BTreeMap<StationCode, u64>,
    /// How many stations of the geography each region holds; `None` is the
    /// whole election.
    pub(crate) station_counts: HashMap<Option<RegionCode>, u64>,
    pub(crate) keys: HashMap<PublicKey, Source>,
    pub(crate) sources: BTreeMap<Source, u64>,
    pub(crate) forms: Vec<FormVersion>,
    pub(crate) form_at: HashMap<EventId, usize>,
    /// By station first, so that one station's forms are together.
    pub(crate) slots: BTreeMap<StationCode, StationSlots>,
    /// Totals by contest, source and region (`None`: the whole election),
    /// nested so that a lookup borrows its keys instead of building them.
    pub(crate) totals: HashMap<ContestId, HashMap<Source, HashMap<Option<RegionCode>, Totals>>>,
    /// Each station's regions, from the whole election down to its commune.
    pub(crate) ancestry: HashMap<StationCode, Vec<Option<RegionCode>>>,
    pub(crate) images: HashMap<Digest, StationCode>,
    pub(crate) anomalies: Vec<Anomaly>,
    pub(crate) complaints: BTreeMap<EventId, Complaint>,
    pub(crate) complaint_order: Vec<EventId>,
    pub(crate) resolutions: HashMap<EventId, EventId>,
    pub(crate) certifications: Vec<Certification>,
    pub(crate) endorsements: HashMap<EventId, Vec<Endorsement>>,
}

impl Projection {
    pub fn new() -> Projection {
        Projection::default()
    }

    /// How many entries have been folded.
    pub fn size(&self) -> u64 {
        self.size
    }
    pub fn election(&self) -> Option<(&ElectionId, &ElectionDef)> {
        self.election.as_ref().map(|(id, def)| (id, def))
    }
    pub fn regions(&self) -> &BTreeMap<RegionCode, RegionInfo> {
        &self.regions
    }
    pub fn stations(&self) -> &BTreeMap<StationCode, u64> {
        &self.stations
    }
    /// Every source that has published, with how many forms.
    pub fn sources(&self) -> &BTreeMap<Source, u64> {
        &self.sources
    }
    /// Every form version, in log order.
    pub fn forms(&self) -> &[FormVersion] {
        &self.forms
    }
    pub fn form(&self, id: &EventId) -> Option<&FormVersion> {
        self.form_at.get(id).map(|&i| &self.forms[i])
    }
    pub fn slots(&self) -> &BTreeMap<StationCode, StationSlots> {
        &self.slots
    }
    fn slot(&self, (station, contest, source): &SlotKey) -> Option<&Slot> {
        self.slots
            .get(station)?
            .get(&(contest.clone(), source.clone()))
    }
    fn slot_mut(&mut self, (station, contest, source): &SlotKey) -> &mut Slot {
        self.slots
            .entry(station.clone())
            .or_default()
            .entry((contest.clone(), source.clone()))
            .or_default()
    }
    /// The form that counts now for a source at a station in a contest.
    pub fn current(&self, key: &SlotKey) -> Option<&FormVersion> {
        self.slot(key)?.current.map(|i| &self.forms[i])
    }
    /// The form the totals count for a source at a station in a contest: its
    /// current version, if the station is in the geography and the form
    /// carries no flag that keeps it out of the totals.
    pub fn counted(&self, key: &SlotKey) -> Option<&FormVersion> {
        if !self.stations.contains_key(&key.0) {
            return None;
        }
        self.current(key).filter(|f| f.countable())
    }
    /// Totals of a source's current forms in a region (`None`: everywhere).
    pub fn totals(
        &self,
        contest: &ContestId,
        source: &Source,
        region: Option<&RegionCode>,
    ) -> Option<&Totals> {
        self.totals.get(contest)?.get(source)?.get(&region.cloned())
    }
    /// How many stations of the geography lie in a region (`None`: everywhere).
    pub fn station_count(&self, region: Option<&RegionCode>) -> u64 {
        self.station_counts
            .get(&region.cloned())
            .copied()
            .unwrap_or(0)
    }
    pub fn anomalies(&self) -> &[Anomaly] {
        &self.anomalies
    }
    /// Complaints in the order they were filed.
    pub fn complaints(&self) -> impl Iterator<Item = &Complaint> {
        self.complaint_order.iter().map(|id| &self.complaints[id])
    }
    pub fn complaint(&self, id: &EventId) -> Option<&Complaint> {
        self.complaints.get(id)
    }
    pub fn certifications(&self) -> &[Certification] {
        &self.certifications
    }
    pub fn endorsements(&self, id: &EventId) -> &[Endorsement] {
        self.endorsements.get(id).map(Vec::as_slice).unwrap_or(&[])
    }
    pub fn source_of(&self, key: &PublicKey) -> Option<&Source> {
        self.keys.get(key)
    }

    /// Folds a log entry (which must be the next one) into the state.
    pub fn apply_entry(&mut self, entry: Entry) -> Result<(), OutOfOrder> {
        let index = entry.index();
        let event = entry.into_event();
        let id = event.id();
        self.apply(index, id, event.into_body())
    }

    /// Folds the entry at `index` (which must be the next one) into the state.
    pub fn apply(&mut self, index: LogIndex, id: EventId, body: Body) -> Result<(), OutOfOrder> {
        if index.0 != self.size {
            return Err(OutOfOrder {
                expected: self.size,
                got: index.0,
            });
        }
        let source = self.keys.get(&body.author).cloned();
        let kind = body.payload.kind();
        match body.payload {
            Payload::Election(def) => {
                if self.election.is_none() {
                    self.election = Some((body.election, def));
                }
            }
            Payload::Geography(g) => {
                for r in g.regions {
                    self.regions.insert(
                        r.code,
                        RegionInfo {
                            name: r.name,
                            seats: r.seats,
                        },
                    );
                }
                for s in g.stations {
                    self.add_station(s.code, s.registered);
                }
            }
            Payload::KeyRegister(r) => {
                self.keys.insert(
                    r.key,
                    Source {
                        role: r.role,
                        org: r.org,
                    },
                );
            }
            // A revoked key's past forms stay its source's; it signs no more.
            Payload::KeyRevoke(_) => {}
            Payload::KeyRotate(r) => {
                if let Some(s) = self.keys.get(&r.old).cloned() {
                    self.keys.insert(r.new, s);
                }
            }
            Payload::Result(form) => {
                self.add_form(index, id, kind, source, body.author, body.time, form, None)
            }
            Payload::Correction(c) => self.add_form(
                index,
                id,
                kind,
                source,
                body.author,
                body.time,
                c.form,
                Some((c.supersedes, c.reason, None)),
            ),
            Payload::Recount(r) => {
                if let Some(order) = &r.ordered_by {
                    if let Some(c) = self.resolutions.get(order) {
                        let c = self
                            .complaints
                            .get_mut(c)
                            .expect("invariant: resolutions point at complaints");
                        c.recounts.push(id);
                    }
                }
                self.add_form(
                    index,
                    id,
                    kind,
                    source,
                    body.author,
                    body.time,
                    r.form,
                    Some((r.supersedes, r.reason, r.ordered_by)),
                )
            }
            Payload::ComplaintFiled(c) => {
                self.complaints.insert(
                    id,
                    Complaint {
                        index,
                        event: id,
                        filer: source,
                        filed: body.time,
                        region: c.region,
                        contest: c.contest,
                        category: c.category,
                        summary: c.summary,
                        evidence: c.evidence,
                        refs: c.refs,
                        status: Status::Filed,
                        steps: Vec::new(),
                        recounts_ordered: Vec::new(),
                        recounts: Vec::new(),
                    },
                );
                self.complaint_order.push(id);
            }
            Payload::ComplaintAcknowledged(s) => self.step(
                s.complaint,
                Status::Acknowledged,
                index,
                id,
                kind,
                body.time,
                source,
                None,
                None,
            ),
            Payload::ComplaintReview(s) => self.step(
                s.complaint,
                Status::UnderReview,
                index,
                id,
                kind,
                body.time,
                source,
                None,
                None,
            ),
            Payload::ComplaintResolved(s) => {
                if self.complaints.contains_key(&s.complaint) {
                    self.resolutions.insert(id, s.complaint);
                }
                if let Some(c) = self.complaints.get_mut(&s.complaint) {
                    c.recounts_ordered.extend(s.recounts.iter().cloned());
                }
                self.step(
                    s.complaint,
                    Status::Resolved,
                    index,
                    id,
                    kind,
                    body.time,
                    source,
                    Some(s.outcome),
                    Some(s.reasoning),
                )
            }
            Payload::ComplaintAppealed(s) => self.step(
                s.complaint,
                Status::Appealed,
                index,
                id,
                kind,
                body.time,
                source,
                None,
                Some(s.reasoning),
            ),
            Payload::ComplaintAppealDecided(s) => self.step(
                s.complaint,
                Status::Final,
                index,
                id,
                kind,
                body.time,
                source,
                Some(s.outcome),
                Some(s.reasoning),
            ),
            Payload::Certified(c) => self.certifications.push(Certification {
                index,
                event: id,
                log_size: c.log_size,
                claimed: c.projection,
                confirmed: None,
            }),
            Payload::Attestation(a) => {
                self.endorsements
                    .entry(a.event)
                    .or_default()
                    .push(Endorsement {
                        index,
                        event: id,
                        source,
                        note: a.note,
                    })
            }
        }
        self.size += 1;
        // A claim about the log up to this very entry can be checked now, at
        // the one moment the state is the one it describes. The certifying
        // event itself is not part of what it certifies.
        if self
            .certifications
            .last()
            .is_some_and(|c| c.index == index && c.log_size == index.0)
        {
            let mut c = self
                .certifications
                .pop()
                .expect("invariant: checked just above");
            self.size = index.0;
            c.confirmed = Some(crate::hash::projection_hash(self) == c.claimed);
            self.size += 1;
            self.certifications.push(c);
        }
        Ok(())
    }

    fn add_station(&mut self, code: StationCode, registered: u64) {
        if self.stations.insert(code.clone(), registered).is_some() {
            return;
        }
        for r in ancestors(&code) {
            *self.station_counts.entry(r).or_default() += 1;
        }
        // Forms that arrived before their station was published start
        // counting now.
        let current: Vec<(SlotKey, usize)> = self
            .slots
            .get(&code)
            .into_iter()
            .flatten()
            .filter_map(|((c, s), slot)| {
                Some(((code.clone(), c.clone(), s.clone()), slot.current?))
            })
            .collect();
        for (k, cur) in current {
            if self.forms[cur].countable() {
                self.count(&k, cur, true);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn step(
        &mut self,
        complaint: EventId,
        status: Status,
        index: LogIndex,
        event: EventId,
        kind: Kind,
        time: Timestamp,
        source: Option<Source>,
        outcome: Option<Outcome>,
        reasoning: Option<Text>,
    ) {
        if let Some(c) = self.complaints.get_mut(&complaint) {
            c.status = status;
            c.steps.push(Step {
                index,
                event,
                kind,
                time,
                source,
                outcome,
                reasoning,
            });
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn add_form(
        &mut self,
        index: LogIndex,
        event: EventId,
        kind: Kind,
        source: Option<Source>,
        author: PublicKey,
        time: Timestamp,
        form: ResultForm,
        replaces: Option<(EventId, Text, Option<EventId>)>,
    ) {
        let (supersedes, reason, ordered_by) = match replaces {
            Some((s, r, o)) => (Some(s), Some(r), o),
            None => (None, None, None),
        };
        let mut found = Vec::new();
        self.check_form(&form, &mut found);
        let at = self.forms.len();

        // The version it replaces, if that is a form this log holds.
        let old = supersedes.and_then(|s| self.form_at.get(&s).copied());
        let old_slot = old.map(|o| {
            let f = &self.forms[o];
            (
                f.form.station.clone(),
                f.form.contest.clone(),
                f.source.clone(),
            )
        });

        let slot_key = source
            .clone()
            .map(|s| (form.station.clone(), form.contest.clone(), s));
        if let Some(k) = &slot_key {
            if supersedes.is_none() && self.slot(k).is_some_and(|s| s.current.is_some()) {
                found.push((
                    AnomalyKind::DuplicateForm,
                    "this source already has a form for this station and contest; \
                     a change should be published as a correction"
                        .to_owned(),
                ));
            }
        }
        found.sort();
        for (kind, detail) in &found {
            self.anomalies.push(Anomaly {
                kind: *kind,
                index,
                event,
                station: form.station.clone(),
                contest: form.contest.clone(),
                source: source.clone(),
                detail: detail.clone(),
            });
        }
        if let Some(s) = &source {
            *self.sources.entry(s.clone()).or_default() += 1;
        }
        if let Some(img) = form.image_sha256 {
            self.images
                .entry(img)
                .or_insert_with(|| form.station.clone());
        }
        self.forms.push(FormVersion {
            index,
            event,
            kind,
            source: source.clone(),
            author,
            time,
            form,
            supersedes,
            reason,
            ordered_by,
            superseded_by: None,
            anomalies: found.into_iter().map(|(k, _)| k).collect(),
        });
        self.form_at.insert(event, at);

        // The replaced version stops counting; if it was its slot's current
        // one, the slot falls back to its latest version still standing.
        if let (Some(o), Some(Some(okey))) = (old, old_slot.map(|(st, c, s)| s.map(|s| (st, c, s))))
        {
            if self.forms[o].superseded_by.is_none() {
                self.forms[o].superseded_by = Some(event);
                self.recompute_current(&okey);
            }
        }
        if let Some(k) = slot_key {
            self.slot_mut(&k).versions.push(at);
            self.recompute_current(&k);
        }
    }

    /// Sets a slot's current version to its latest version not superseded,
    /// and moves its figures in the totals accordingly.
    fn recompute_current(&mut self, key: &SlotKey) {
        let slot = self.slot(key).expect("invariant: caller made the slot");
        let new = slot
            .versions
            .iter()
            .rev()
            .copied()
            .find(|&v| self.forms[v].superseded_by.is_none());
        let old = slot.current;
        if new == old {
            return;
        }
        let known = self.stations.contains_key(&key.0);
        if let Some(o) = old {
            if known && self.forms[o].countable() {
                self.count(key, o, false);
            }
        }
        if let Some(n) = new {
            if known && self.forms[n].countable() {
                self.count(key, n, true);
            }
        }
        self.slot_mut(key).current = new;
    }

    /// Adds a form's figures to (or takes them from) every region above its
    /// station, and to the whole election.
    fn count(&mut self, key: &SlotKey, form: usize, add: bool) {
        let (station, contest, source) = key;
        if !self.ancestry.contains_key(station) {
            self.ancestry
                .insert(station.clone(), ancestors(station).collect());
        }
        let regions = &self.ancestry[station];
        if !self.totals.contains_key(contest) {
            self.totals.insert(contest.clone(), HashMap::new());
        }
        let by_source = self
            .totals
            .get_mut(contest)
            .expect("invariant: inserted above");
        if !by_source.contains_key(source) {
            by_source.insert(source.clone(), HashMap::new());
        }
        let by_region = by_source
            .get_mut(source)
            .expect("invariant: inserted above");
        let f = &self.forms[form].form;
        for r in regions {
            let t = match by_region.get_mut(r) {
                Some(t) => t,
                None => by_region.entry(r.clone()).or_default(),
            };
            if add {
                t.add(f);
            } else {
                t.remove(f);
            }
        }
    }

    /// The anomalies of a form as the log so far can tell.
    fn check_form(&self, f: &ResultForm, found: &mut Vec<(AnomalyKind, String)>) {
        let mut push = |k: AnomalyKind, d: String| found.push((k, d));
        let figures = [f.registered, f.cast, f.valid, f.invalid]
            .into_iter()
            .chain(f.votes.values().copied());
        if let Some(big) = figures.clone().find(|&v| v > MAX_FIGURE) {
            push(
                AnomalyKind::ImplausibleFigure,
                format!("figure {big} is above {MAX_FIGURE}, more than any polling station holds; not counted"),
            );
        }
        let sum = |it: &mut dyn Iterator<Item = u64>| it.fold(0u128, |a, v| a + u128::from(v));
        if u128::from(f.valid) + u128::from(f.invalid) != u128::from(f.cast) {
            push(
                AnomalyKind::CastMismatch,
                format!(
                    "valid {} + invalid {} = {}, but ballots cast is {}",
                    f.valid,
                    f.invalid,
                    u128::from(f.valid) + u128::from(f.invalid),
                    f.cast
                ),
            );
        }
        let votes = sum(&mut f.votes.values().copied());
        if votes != u128::from(f.valid) {
            push(
                AnomalyKind::ValidMismatch,
                format!(
                    "party votes add up to {votes}, but valid ballots is {}",
                    f.valid
                ),
            );
        }
        if f.cast > f.registered {
            push(
                AnomalyKind::CastAboveRegistered,
                format!(
                    "{} ballots cast at a station the form says has {} registered voters",
                    f.cast, f.registered
                ),
            );
        }
        match self.stations.get(&f.station) {
            None => push(
                AnomalyKind::UnknownStation,
                format!("station {} is not in the published geography", f.station),
            ),
            Some(&reg) => {
                if f.cast > reg {
                    push(
                        AnomalyKind::TurnoutAbove100,
                        format!(
                            "{} ballots cast where the geography lists {reg} registered voters",
                            f.cast
                        ),
                    );
                }
                if f.registered != reg {
                    push(
                        AnomalyKind::RegisteredMismatch,
                        format!(
                            "the form says {} registered voters, the geography {reg}",
                            f.registered
                        ),
                    );
                }
            }
        }
        let contest = self
            .election
            .as_ref()
            .and_then(|(_, def)| def.contests.iter().find(|c| c.id == f.contest));
        match contest {
            None => push(
                AnomalyKind::UnknownContest,
                format!(
                    "contest {} is not defined in this election; not counted",
                    f.contest
                ),
            ),
            Some(c) => {
                let off: Vec<String> = f
                    .votes
                    .keys()
                    .filter(|p| !c.parties.contains(p))
                    .map(|p| p.to_string())
                    .collect();
                if !off.is_empty() {
                    push(
                        AnomalyKind::PartyNotOnBallot,
                        format!("votes for {} not on the {} ballot", off.join(", "), c.id),
                    );
                }
            }
        }
        if let Some(img) = &f.image_sha256 {
            if let Some(other) = self.images.get(img) {
                if other != &f.station {
                    push(
                        AnomalyKind::DuplicateImage,
                        format!("the same form image was published for station {other}"),
                    );
                }
            }
        }
    }
}

/// The regions a station lies in, from the whole election down to its commune.
pub(crate) fn ancestors(station: &StationCode) -> impl Iterator<Item = Option<RegionCode>> {
    let mut out = vec![None];
    let mut r = station.region().parent();
    let mut chain = Vec::new();
    while let Some(p) = r {
        r = p.parent();
        chain.push(p);
    }
    out.extend(chain.into_iter().rev().map(Some));
    out.into_iter()
}

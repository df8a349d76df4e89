//! The auditor: everything about a log checked from the bytes up, trusting
//! nothing but (optionally) the election's root key.
//!
//! - [`bundle`]: the audit bundle file format, reader and writer.
//! - [`witness`]: the witness service, which cosigns consistent checkpoints.
//!
//! For each entry, in order: strict decoding, its index, its link to the entry
//! before, its signature (`verify_strict`), the rules (the key registered and
//! unrevoked in its role at that point, the publisher's own chain, references,
//! complaint steps: `core::rules`, the ledger's own judge), the Merkle tree,
//! and the projection fold. For each checkpoint: the log key's signature
//! (the key and origin the root-signed election definition names) and that its
//! root is the root of the first `size` entries, which also makes every
//! checkpoint consistent with every later one (they are all roots of the one
//! tree rebuilt here). Every entry must be covered by a checkpoint: entries
//! after the last one are no part of any tree the log key signed. For each
//! "results certified" event: the projection hash of the log at the size it
//! names, by replay (one more pass over the log for all the claims about
//! earlier sizes together).
//!
//! What a source says about the log without signing it (a bundle's header)
//! is checked against what is signed: the header's election and origin must
//! be those of the election definition, which names the log key.
//!
//! Signatures are checked on both cores: a chunk of entries is decoded and
//! verified in two halves in parallel, then taken in order by one thread.
//! Batch verification is not used: its acceptance set differs from
//! `verify_strict`'s (docs/PROTOCOL.md §2 explains why), and a log must not
//! verify here that the ledger would have refused.
//!
//! The auditor stops at the first failure and names its index and what failed.

pub mod bundle;
pub mod witness;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use tallylog_core::checkpoint::{LogVerifier, VerifiedCheckpoint};
use tallylog_core::entry::Entry;
use tallylog_core::event::Payload;
use tallylog_core::merkle::Hash;
use tallylog_core::replay::{EarlierAudit, Replay, ReplayError, VerifiedEntry};
use tallylog_core::types::{to_hex, Digest, ElectionId, LogIndex, Origin, PublicKey};
use tallylog_tally::{projection_hash, Projection};

/// What the auditor may take as known.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The election's root key: the log's first entry must be signed by it.
    /// Without it, the auditor trusts whichever key signed the definition.
    pub root_key: Option<PublicKey>,
    /// A checkpoint verified before (monitor state): the log must extend it.
    pub known: Option<Known>,
}

/// A tree size and root an earlier audit verified.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct Known {
    pub size: u64,
    #[serde(with = "hex_hash")]
    pub root: Hash,
}

/// The first thing found wrong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{}: {what}", match .index { Some(i) => format!("entry {i}"), None => "the log".to_owned() })]
pub struct Failure {
    /// The entry at fault, when one is.
    pub index: Option<u64>,
    /// A stable code: `bad_entry`, `wrong_index`, `broken_chain`,
    /// `bad_signature`, `rule:<reason>`, `not_root`, `header_mismatch`,
    /// `bad_checkpoint`, `checkpoint_mismatch`, `truncated`, `unanchored`,
    /// `certification_mismatch`, `fork`, `rollback`.
    pub code: String,
    pub what: String,
    /// When the fault can be narrowed only to a stretch of entries (a broken
    /// link: this entry or the one before; a checkpoint's root: somewhere
    /// since the last verified checkpoint), the first and last of them.
    pub range: Option<(u64, u64)>,
}

impl Failure {
    fn at(index: u64, code: impl Into<String>, what: impl Into<String>) -> Failure {
        Failure {
            index: Some(index),
            code: code.into(),
            what: what.into(),
            range: None,
        }
    }
    fn within(mut self, from: u64, to: u64) -> Failure {
        self.range = Some((from, to));
        self
    }
    /// Whether the failure points at entry `i` (itself, or a stretch holding it).
    pub fn names(&self, i: u64) -> bool {
        self.index == Some(i) || self.range.is_some_and(|(a, b)| a <= i && i <= b)
    }
}

/// A certification and what replay found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CertificationCheck {
    pub index: u64,
    pub log_size: u64,
    pub claimed: Digest,
    pub replayed: Option<Digest>,
}

/// The outcome of an audit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub verified: bool,
    pub failure: Option<Failure>,
    pub entries: u64,
    pub checkpoints: u64,
    /// The largest checkpoint verified, for the monitor state.
    pub latest: Option<Known>,
    #[serde(with = "hex_hash")]
    pub root: Hash,
    pub certifications: Vec<CertificationCheck>,
    /// The projection hash of the whole log.
    pub projection: Digest,
    /// Entries an earlier audit had verified (same bytes, same root), whose
    /// signatures were not checked again.
    pub verified_before: u64,
    /// The election and the log's origin as the log's first entry, the
    /// election definition, names them (what a monitor keys its state by).
    pub election: Option<ElectionId>,
    pub origin: Option<Origin>,
}

/// Entries taken in per chunk: large enough to keep both cores busy, small
/// enough to bound memory.
pub const CHUNK: usize = 2048;

/// An entry decoded and its signature verified, or why not.
pub type Checked = Result<VerifiedEntry, Failure>;

/// Decodes entries and verifies their signatures on two threads, keeping
/// each author's decoded point (there are few keys and many events).
#[derive(Default)]
pub struct Checker {
    points: HashMap<PublicKey, ed25519_dalek::VerifyingKey>,
    /// Entries an earlier audit verified: their signatures are not checked
    /// again when their bytes are the same.
    earlier: Option<EarlierAudit>,
}

impl Checker {
    /// Checks `lines`, entries `first`, `first + 1`, ...
    /// A checker that trusts what `earlier` covers.
    pub fn after(earlier: EarlierAudit) -> Checker {
        Checker {
            points: HashMap::new(),
            earlier: Some(earlier),
        }
    }

    pub fn check(&mut self, first: u64, lines: &[Vec<u8>]) -> Vec<Checked> {
        let points = &self.points;
        let earlier = &self.earlier;
        let one = |(i, l): (usize, &Vec<u8>)| -> (Checked, Option<ed25519_dalek::VerifyingKey>) {
            let index = first + i as u64;
            let e = match Entry::decode(l) {
                Ok(e) => e,
                Err(e) => {
                    return (
                        Err(Failure::at(
                            index,
                            "bad_entry",
                            format!("does not decode: {e}"),
                        )),
                        None,
                    )
                }
            };
            let e = match earlier {
                Some(a) => match a.verified(e) {
                    Ok(v) => return (Ok(v), None),
                    Err(e) => e,
                },
                None => e,
            };
            let author = e.event().body().author;
            let (checked, new) = match points.get(&author) {
                Some(p) => (VerifiedEntry::verify(e, Some(p)), None),
                None => (VerifiedEntry::verify(e, None), author.point()),
            };
            let checked = checked.map_err(|err| {
                Failure::at(
                    index,
                    "bad_signature",
                    format!("its event does not verify: {err}"),
                )
            });
            (checked, new)
        };
        let half = lines.len() / 2;
        let (front, back) = lines.split_at(half);
        let results: Vec<(Checked, Option<ed25519_dalek::VerifyingKey>)> =
            std::thread::scope(|s| {
                let h = s.spawn(|| {
                    back.iter()
                        .enumerate()
                        .map(|(i, l)| one((i + half, l)))
                        .collect::<Vec<_>>()
                });
                let mut out: Vec<_> = front.iter().enumerate().map(one).collect();
                out.extend(h.join().expect("invariant: verification does not panic"));
                out
            });
        results
            .into_iter()
            .map(|(c, new)| {
                if let Some(p) = new {
                    self.points.insert(PublicKey::from(p), p);
                }
                c
            })
            .collect()
    }
}

pub struct Auditor {
    opts: Options,
    replay: Replay,
    fold: Projection,
    checker: Checker,
    log: Option<LogVerifier>,
    checkpoints: u64,
    latest: Option<Known>,
    /// Verified checkpoints for sizes not yet reached.
    pending: BTreeMap<u64, Vec<Hash>>,
    /// The index of each author's latest event, to say where a broken
    /// publisher chain broke.
    heads: HashMap<PublicKey, u64>,
    /// Sizes certified with a hash, as `(index, size, claimed)`.
    claims: Vec<(u64, u64, Digest)>,
    /// The election and origin the source claims (a bundle's header).
    claimed: Option<(ElectionId, Origin)>,
    /// The election and origin the election definition names.
    identity: Option<(ElectionId, Origin)>,
    failure: Option<Failure>,
}

impl Auditor {
    pub fn new(opts: Options) -> Auditor {
        Auditor {
            opts,
            replay: Replay::new(),
            fold: Projection::new(),
            checker: Checker::default(),
            log: None,
            checkpoints: 0,
            latest: None,
            pending: BTreeMap::new(),
            claims: Vec::new(),
            heads: HashMap::new(),
            claimed: None,
            identity: None,
            failure: None,
        }
    }

    /// The election and log origin the source of the entries says they are
    /// (a bundle's header, which nothing signs). The election definition
    /// must name the same, or the audit fails with `header_mismatch`: a
    /// monitor looks up what it verified before by this origin, and a
    /// header naming another log must not let a fork or rollback of this
    /// one pass as a log never seen.
    pub fn expect_identity(&mut self, election: ElectionId, origin: Origin) {
        self.claimed = Some((election, origin));
    }

    /// Entries checked so far.
    pub fn size(&self) -> u64 {
        self.replay.size()
    }

    pub fn failure(&self) -> Option<&Failure> {
        self.failure.as_ref()
    }

    /// Checks the next entries (their bytes, in order). After a failure it
    /// takes nothing more.
    pub fn entries(&mut self, lines: &[Vec<u8>]) -> Result<(), Failure> {
        let first = self.replay.size();
        let checked = self.checker.check(first, lines);
        self.take_checked(checked)
    }

    /// Takes in entries a [`Checker`] decoded and verified, which must be
    /// the next ones in order (a pipeline checks the next chunk while this
    /// one is taken in).
    pub fn take_checked(&mut self, checked: Vec<Checked>) -> Result<(), Failure> {
        if let Some(f) = &self.failure {
            return Err(f.clone());
        }
        let first = self.replay.size();
        for (i, item) in checked.into_iter().enumerate() {
            let index = first + i as u64;
            let r = item.and_then(|v| self.take(index, v));
            if let Err(f) = r {
                self.failure = Some(f.clone());
                return Err(f);
            }
        }
        Ok(())
    }

    fn take(&mut self, index: u64, v: VerifiedEntry) -> Result<(), Failure> {
        let ev = v.event();
        if index == 0 {
            if let Some(root) = &self.opts.root_key {
                if &ev.body().author != root {
                    return Err(Failure::at(
                        0,
                        "not_root",
                        format!(
                            "the election definition is signed by {}, not by the root key {root} you gave",
                            ev.body().author
                        ),
                    ));
                }
            }
        }
        let author = ev.body().author;
        let last_of_author = self.heads.get(&author).copied();
        self.replay
            .push_verified(&v)
            .map_err(|e| match e {
                ReplayError::WrongIndex { index: got, .. } => Failure::at(
                    index,
                    "wrong_index",
                    format!("the entry here says it is entry {got}: entries are missing, repeated or out of order"),
                ),
                ReplayError::BrokenChain(_) => Failure::at(
                    index,
                    "broken_chain",
                    "its prev is not the chain hash of the entry before it: one of the two was altered",
                )
                .within(index.saturating_sub(1), index),
                ReplayError::Rule { error, .. } => {
                    let code = error.rejection().map(|r| r.code()).unwrap_or("unavailable");
                    let f = Failure::at(
                        index,
                        format!("rule:{code}"),
                        format!("the ledger's rules refuse it: {error}"),
                    );
                    // A publisher chain that does not continue: this event,
                    // or the author's previous one, is not the original.
                    match (code, last_of_author) {
                        ("prev_mismatch" | "seq_gap" | "replayed_seq", Some(h)) => {
                            f.within(h, index)
                        }
                        _ => f,
                    }
                }
                other => Failure::at(index, "bad_entry", other.to_string()),
            })?;
        if index == 0 {
            if let Payload::Election(def) = &ev.body().payload {
                let election = &ev.body().election;
                if let Some((e, o)) = &self.claimed {
                    if e != election || o != &def.log.origin {
                        return Err(Failure::at(
                            0,
                            "header_mismatch",
                            format!(
                                "the source says this is election {e}, log {o}, but the election \
                                 definition names election {election}, log {}: the header does \
                                 not describe these entries",
                                def.log.origin
                            ),
                        ));
                    }
                }
                self.identity = Some((election.clone(), def.log.origin.clone()));
                self.log = LogVerifier::new(def.log.origin.as_str(), def.log.key).ok();
            }
        }
        self.heads.insert(author, index);
        if let Payload::Certified(c) = &ev.body().payload {
            self.claims.push((index, c.log_size, c.projection));
        }
        let at = v.index();
        let ev = v.into_event();
        let id = ev.id();
        let body = ev.into_event().into_body();
        self.fold
            .apply(at, id, body)
            .map_err(|e| Failure::at(index, "wrong_index", e.to_string()))?;
        let size = self.replay.size();
        if let Some(roots) = self.pending.remove(&size) {
            for root in roots {
                self.check_root(size, root)?;
            }
        }
        if let Some(k) = self.opts.known {
            if k.size == size && self.replay.root() != k.root {
                return Err(Failure::at(
                    index,
                    "fork",
                    format!(
                        "the first {size} entries are not the log verified before (root {} then, {} now): the log was rewritten",
                        to_hex(&k.root.0),
                        to_hex(&self.replay.root().0)
                    ),
                ));
            }
        }
        Ok(())
    }

    fn check_root(&mut self, size: u64, root: Hash) -> Result<(), Failure> {
        let have = self
            .replay
            .tree()
            .root_at(size)
            .expect("invariant: size is at most the tree's size");
        if have != root {
            let since = self.latest.map_or(0, |k| k.size.min(size));
            return Err(Failure::at(
                size.saturating_sub(1),
                "checkpoint_mismatch",
                format!(
                    "the signed checkpoint for size {size} has root {}, but the entries give {}: \
                     the log was altered, or the log key signed a forked tree",
                    to_hex(&root.0),
                    to_hex(&have.0)
                ),
            )
            .within(since, size.saturating_sub(1)));
        }
        self.checkpoints += 1;
        if self.latest.is_none_or(|k| k.size <= size) {
            self.latest = Some(Known { size, root });
        }
        Ok(())
    }

    /// Checks a signed checkpoint (now, or when the log reaches its size).
    pub fn checkpoint(&mut self, note: &[u8]) -> Result<(), Failure> {
        if let Some(f) = &self.failure {
            return Err(f.clone());
        }
        let r = self.checkpoint_inner(note);
        if let Err(f) = &r {
            self.failure = Some(f.clone());
        }
        r
    }

    fn checkpoint_inner(&mut self, note: &[u8]) -> Result<(), Failure> {
        let Some(log) = &self.log else {
            return Err(Failure {
                index: None,
                code: "bad_checkpoint".to_owned(),
                what: "a checkpoint before the election definition, which names the log key"
                    .to_owned(),
                range: None,
            });
        };
        let c: VerifiedCheckpoint = log.verify(note).map_err(|e| Failure {
            index: None,
            code: "bad_checkpoint".to_owned(),
            what: format!(
                "a checkpoint does not verify against the log key the election names: {e}"
            ),
            range: None,
        })?;
        if c.size() <= self.replay.size() {
            self.check_root(c.size(), c.root())
        } else {
            self.pending.entry(c.size()).or_default().push(c.root());
            Ok(())
        }
    }

    /// Finishes the audit. `expected` is the size the source said the log
    /// has (a bundle's header), if it said. `refold` computes the projection
    /// hashes of the log's first entries at each of the sizes given (for
    /// certifications about earlier sizes, which the fold cannot check as it
    /// goes); it is called once, with every such size, and only if there are
    /// any.
    pub fn finish(
        mut self,
        expected: Option<u64>,
        refold: impl FnOnce(&BTreeSet<u64>) -> BTreeMap<u64, Digest>,
    ) -> Report {
        let size = self.replay.size();
        if self.failure.is_none() {
            if let Some((&want, _)) = self.pending.iter().next() {
                self.failure = Some(Failure::at(
                    size,
                    "truncated",
                    format!("a signed checkpoint covers {want} entries but the log ends after {size}: entries were removed"),
                ));
            } else if let Some(e) = expected.filter(|&e| e != size) {
                self.failure = Some(Failure::at(
                    size.min(e),
                    "truncated",
                    format!("the source says the log has {e} entries, but {size} were read"),
                ));
            } else if let Some(k) = self.opts.known.filter(|k| k.size > size) {
                self.failure = Some(Failure {
                    index: None,
                    code: "rollback".to_owned(),
                    what: format!(
                        "the log has {size} entries but {} were verified before: it was rolled back",
                        k.size
                    ),
                    range: None,
                });
            } else if let Some(from) = self.unanchored() {
                self.failure = Some(
                    Failure::at(
                        from,
                        "unanchored",
                        format!(
                            "entries {from} to {} are covered by no signed checkpoint: the log key \
                             never committed to them, so they prove nothing (export the log again \
                             once the ledger has signed a checkpoint of all {size} entries)",
                            size - 1
                        ),
                    )
                    .within(from, size - 1),
                );
            }
        }
        // Certifications: the fold confirmed claims about the log up to
        // themselves; others need the projection at an earlier size, all
        // computed in one more pass.
        let certified = self.fold.certifications();
        let earlier: BTreeSet<u64> = certified
            .iter()
            .zip(&self.claims)
            .filter(|(c, _)| c.confirmed.is_none())
            .map(|(_, &(_, log_size, _))| log_size)
            .collect();
        let refolded = if earlier.is_empty() {
            BTreeMap::new()
        } else {
            refold(&earlier)
        };
        let mut certifications = Vec::new();
        for (c, &(index, log_size, claimed)) in certified.iter().zip(&self.claims) {
            let replayed = match c.confirmed {
                Some(true) => Some(claimed),
                Some(false) => None,
                None => refolded.get(&log_size).copied(),
            };
            if self.failure.is_none() && replayed != Some(claimed) {
                self.failure = Some(Failure::at(
                    index,
                    "certification_mismatch",
                    format!(
                        "the authority certified the projection of {log_size} entries as {claimed}, \
                         but replaying them gives {}",
                        replayed.map_or("a different hash".to_owned(), |d| d.to_string())
                    ),
                ));
            }
            certifications.push(CertificationCheck {
                index,
                log_size,
                claimed,
                replayed,
            });
        }
        let (election, origin) = self.identity.unzip();
        Report {
            verified: self.failure.is_none(),
            failure: self.failure,
            entries: size,
            checkpoints: self.checkpoints,
            latest: self.latest,
            root: self.replay.root(),
            certifications,
            projection: projection_hash(&self.fold),
            verified_before: 0,
            election,
            origin,
        }
    }

    /// The first entry no verified checkpoint covers, if any.
    fn unanchored(&self) -> Option<u64> {
        let size = self.replay.size();
        let anchored = self.latest.map_or(0, |k| k.size);
        (anchored < size).then_some(anchored)
    }
}

/// The projection hashes of the first `sizes` entries of `lines`, for
/// certifications about earlier sizes (the entries were verified already),
/// in one pass. A size the entries do not reach is left out.
pub fn projections_at(
    lines: impl Iterator<Item = Vec<u8>>,
    sizes: &BTreeSet<u64>,
) -> BTreeMap<u64, Digest> {
    let mut out = BTreeMap::new();
    let Some(&last) = sizes.last() else {
        return out;
    };
    let mut p = Projection::new();
    if sizes.contains(&0) {
        out.insert(0, projection_hash(&p));
    }
    for l in lines.take(usize::try_from(last).unwrap_or(usize::MAX)) {
        let Ok(e) = Entry::decode(&l) else {
            break;
        };
        let applied = p.apply(
            LogIndex(p.size()),
            e.event().id(),
            e.into_event().into_body(),
        );
        if applied.is_err() {
            break;
        }
        if sizes.contains(&p.size()) {
            out.insert(p.size(), projection_hash(&p));
        }
    }
    out
}

mod hex_hash {
    use serde::{Deserialize, Deserializer, Serializer};
    use tallylog_core::merkle::Hash;

    pub fn serialize<S: Serializer>(h: &Hash, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&tallylog_core::types::to_hex(&h.0))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Hash, D::Error> {
        let s = String::deserialize(d)?;
        tallylog_core::types::parse_hex32(&s)
            .map(Hash)
            .map_err(serde::de::Error::custom)
    }
}

/// Audits a bundle file from front to back. `progress` is called with the
/// entries checked so far and the size the header announces.
pub fn audit_bundle(
    path: &std::path::Path,
    opts: Options,
    mut progress: impl FnMut(u64, u64),
) -> Result<Report, bundle::BundleError> {
    let open = || -> Result<_, bundle::BundleError> {
        let f = std::fs::File::open(path)?;
        bundle::Reader::open(std::io::BufReader::with_capacity(1 << 20, f))
    };
    // With a checkpoint verified before, a first, cheap pass hashes the
    // entries it covers: if they still have its root, they are the entries
    // verified then, and only the new ones need their signatures checked.
    let earlier = match opts.known {
        Some(k) => {
            let (_, mut r) = open()?;
            let mut leaves = Vec::new();
            while (leaves.len() as u64) < k.size {
                match r.next_item()? {
                    Some(bundle::Item::Entry(e)) => {
                        leaves.push(tallylog_core::merkle::record_hash(&e))
                    }
                    Some(bundle::Item::Checkpoint(_)) => {}
                    None => break,
                }
            }
            EarlierAudit::confirm(leaves, k.root)
        }
        None => None,
    };
    let earlier_size = earlier.as_ref().map_or(0, EarlierAudit::size);
    let (header, mut reader) = open()?;
    let mut a = Auditor::new(opts);
    a.expect_identity(header.election.clone(), header.origin.clone());
    // Two stages that overlap: this thread takes chunks in order (rules,
    // tree, fold) while a second reads the bundle and decodes and verifies
    // the next chunk (on two threads of its own).
    enum Step {
        Entries(Vec<Checked>),
        Checkpoint(Vec<u8>),
    }
    let read: Result<(), bundle::BundleError> = std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Step>(2);
        let producer = s.spawn(move || -> Result<(), bundle::BundleError> {
            let mut checker = match earlier {
                Some(e) => Checker::after(e),
                None => Checker::default(),
            };
            let mut next = 0u64;
            let mut chunk: Vec<Vec<u8>> = Vec::with_capacity(CHUNK);
            loop {
                let item = reader.next_item()?;
                let flush = !matches!(item, Some(bundle::Item::Entry(_))) || chunk.len() >= CHUNK;
                if flush && !chunk.is_empty() {
                    let checked = checker.check(next, &chunk);
                    next += chunk.len() as u64;
                    chunk.clear();
                    // A closed channel means the auditor stopped on a failure.
                    if tx.send(Step::Entries(checked)).is_err() {
                        return Ok(());
                    }
                }
                match item {
                    None => return Ok(()),
                    Some(bundle::Item::Entry(e)) => chunk.push(e),
                    Some(bundle::Item::Checkpoint(c)) => {
                        if tx.send(Step::Checkpoint(c)).is_err() {
                            return Ok(());
                        }
                    }
                }
            }
        });
        for step in rx.iter() {
            let r = match step {
                Step::Entries(c) => {
                    let r = a.take_checked(c);
                    progress(a.size(), header.size);
                    r
                }
                Step::Checkpoint(c) => a.checkpoint(&c),
            };
            if r.is_err() {
                break;
            }
        }
        drop(rx);
        producer.join().expect("invariant: reading does not panic")
    });
    read?;
    let refold = |sizes: &BTreeSet<u64>| -> BTreeMap<u64, Digest> {
        let Ok((_, mut r)) = open() else {
            return BTreeMap::new();
        };
        let lines = std::iter::from_fn(move || loop {
            match r.next_item() {
                Ok(Some(bundle::Item::Entry(e))) => return Some(e),
                Ok(Some(bundle::Item::Checkpoint(_))) => continue,
                _ => return None,
            }
        });
        projections_at(lines, sizes)
    };
    let mut report = a.finish(Some(header.size), refold);
    report.verified_before = earlier_size;
    Ok(report)
}

//! A simulated election written to a directory, as `tallylog simulate --out`
//! leaves it: everyone's keys, a file saying who is who, the signed events as
//! JSON lines in the order the ledger must take them, a manifest and a README.
//!
//! Events are written as they are signed, so the Indonesia size needs no more
//! memory than the generator's own plan. Nothing written depends on the clock,
//! the machine or the directory's name: the same size and seed give the same
//! bytes, file for file. Choosing and replacing the directory is the caller's
//! business; this module only fills an empty one and never overwrites a file.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::ops::ControlFlow;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tallylog_core::event::{Kind, Payload, Role, VerifiedEvent};
use tallylog_core::keys::encode_secret;
use tallylog_core::publisher::ChainState;
use tallylog_core::types::{Digest, ElectionId, Origin, PublicKey, Text, Timestamp};

use crate::election::{self, Size, Spec};

/// The `format` of a manifest written here; a directory whose manifest says
/// so was written by the simulator (and may be replaced by it).
pub const FORMAT: &str = "tallylog-sim-v1";
/// What every simulated directory holds besides its events files.
pub const MANIFEST: &str = "manifest.json";
pub const PARTICIPANTS: &str = "participants.json";
pub const README: &str = "README.md";
pub const KEYS: &str = "keys";
/// The root key's events (the definition, the geography, the key registry).
pub const SETUP: &str = "setup.jsonl";
/// The other events are split into files of at most this many, so that
/// `tallylog submit` (which reads a file whole) can take an Indonesia-sized
/// election a file at a time.
pub const EVENTS_PER_FILE: u64 = 100_000;

/// What was written: `manifest.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub size: String,
    pub seed: u64,
    pub election: ElectionId,
    pub origin: Origin,
    pub root_key: PublicKey,
    pub log_key: PublicKey,
    pub spec: Spec,
    pub events: u64,
    /// The claimed time of the last event: a certification comes after it.
    pub last_time: Timestamp,
    pub kinds: BTreeMap<Kind, u64>,
    /// The events files, in the order the ledger must take them.
    pub files: Vec<EventsFile>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsFile {
    pub file: String,
    /// The log index of its first event, in a log holding nothing else.
    pub first_index: u64,
    pub events: u64,
    pub bytes: u64,
    pub sha256: Digest,
}

/// Who is who: `participants.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Participants {
    pub election: ElectionId,
    pub origin: Origin,
    /// Signs the definition, the geography and the key registry.
    pub root: KeyFile,
    /// The ledger's checkpoint key, named in the definition.
    pub log: KeyFile,
    /// In the order they are registered; the first is the authority.
    pub publishers: Vec<PublisherEntry>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    pub public_key: PublicKey,
    /// Relative to the directory.
    pub key_file: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublisherEntry {
    pub name: String,
    pub role: Role,
    pub organisation: Text,
    pub public_key: PublicKey,
    pub key_file: String,
    /// Events it signed here.
    pub events: u64,
}

/// Writes the election of `size` for `seed` into `dir`, which must exist and
/// be empty. `progress` is told the number of events written every 10,000.
pub fn write(
    size: Size,
    seed: u64,
    dir: &Path,
    mut progress: impl FnMut(u64),
) -> io::Result<Manifest> {
    DirBuilder::new().mode(0o700).create(dir.join(KEYS))?;
    let mut w = EventsWriter {
        dir,
        current: None,
        files: Vec::new(),
        written: 0,
        root: None,
        chains: HashMap::new(),
        counts: HashMap::new(),
        registered: Vec::new(),
        kinds: BTreeMap::new(),
        last_time: None,
    };
    let mut failed = None;
    let p = election::try_stream(size, seed, |ev| match w.add(&ev) {
        Ok(()) => {
            if w.written.is_multiple_of(10_000) {
                progress(w.written);
            }
            ControlFlow::Continue(())
        }
        Err(e) => {
            failed = Some(e);
            ControlFlow::Break(())
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }
    w.close()?;

    let key_path = |name: &str| {
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
            "invariant: simulated key names are plain file names"
        );
        format!("{KEYS}/{name}.key")
    };
    let mut keys = vec![
        ("root".to_owned(), p.root_key.clone()),
        ("log".to_owned(), p.log_key.clone()),
    ];
    keys.extend(p.keys.iter().cloned());
    for (name, key) in &keys {
        let file = key_path(name);
        create(&dir.join(&file), 0o600, &encode_secret(key))?;
        // Where the key's chain stands, in the form `tallylog event sign`
        // keeps it, so that signing as this publisher continues its chain.
        let public = PublicKey::from(key.verifying_key());
        if let Some(chain) = w.chains.get(&public) {
            let state: BTreeMap<&ElectionId, &ChainState> = [(&p.election, chain)].into();
            create(
                &dir.join(format!("{file}.chain.json")),
                0o600,
                &serde_json::to_vec_pretty(&state).map_err(io::Error::other)?,
            )?;
        }
    }

    let public = |k: &ed25519_dalek::SigningKey| PublicKey::from(k.verifying_key());
    let publishers = p
        .keys
        .iter()
        .map(|(name, key)| {
            let pk = public(key);
            let (role, org) = w
                .registered
                .iter()
                .find(|(k, _, _)| *k == pk)
                .map(|(_, r, o)| (*r, o.clone()))
                .expect("invariant: every simulated publisher is registered in the setup");
            PublisherEntry {
                name: name.clone(),
                role,
                organisation: org,
                public_key: pk,
                key_file: key_path(name),
                events: w.counts.get(&pk).copied().unwrap_or(0),
            }
        })
        .collect();
    let who = Participants {
        election: p.election.clone(),
        origin: p.origin.clone(),
        root: KeyFile {
            public_key: public(&p.root_key),
            key_file: key_path("root"),
        },
        log: KeyFile {
            public_key: public(&p.log_key),
            key_file: key_path("log"),
        },
        publishers,
    };
    let manifest = Manifest {
        format: FORMAT.to_owned(),
        size: size.name().to_owned(),
        seed,
        election: p.election.clone(),
        origin: p.origin.clone(),
        root_key: who.root.public_key,
        log_key: who.log.public_key,
        spec: size.spec(),
        events: w.written,
        last_time: w
            .last_time
            .expect("invariant: every simulated election has events"),
        kinds: w.kinds,
        files: w.files,
    };
    create(&dir.join(PARTICIPANTS), 0o644, &json(&who)?)?;
    create(&dir.join(MANIFEST), 0o644, &json(&manifest)?)?;
    create(&dir.join(README), 0o644, readme(&manifest, &who).as_bytes())?;
    Ok(manifest)
}

/// Reads the manifest of a directory written by [`write`].
pub fn read_manifest(dir: &Path) -> io::Result<Manifest> {
    let bytes = std::fs::read(dir.join(MANIFEST))?;
    let m: Manifest = serde_json::from_slice(&bytes).map_err(io::Error::other)?;
    if m.format != FORMAT {
        return Err(io::Error::other(format!(
            "the manifest's format is {:?}, not {FORMAT:?}",
            m.format
        )));
    }
    Ok(m)
}

fn json(v: &impl Serialize) -> io::Result<Vec<u8>> {
    let mut out = serde_json::to_vec_pretty(v).map_err(io::Error::other)?;
    out.push(b'\n');
    Ok(out)
}

/// Creates `path` (never replacing a file) with `mode`, writes and syncs it.
fn create(path: &Path, mode: u32, bytes: &[u8]) -> io::Result<()> {
    let mut f = new_file(path, mode)?;
    f.write_all(bytes)?;
    f.sync_all()
}

fn new_file(path: &Path, mode: u32) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("creating {}: {e}", path.display())))
}

struct OpenFile {
    info: EventsFile,
    out: BufWriter<File>,
    hash: Sha256,
}

/// The events files, filled as the events are signed, and what is learnt
/// from the events on the way.
struct EventsWriter<'a> {
    dir: &'a Path,
    current: Option<OpenFile>,
    files: Vec<EventsFile>,
    written: u64,
    /// The author of the first event (the definition).
    root: Option<PublicKey>,
    chains: HashMap<PublicKey, ChainState>,
    counts: HashMap<PublicKey, u64>,
    registered: Vec<(PublicKey, Role, Text)>,
    kinds: BTreeMap<Kind, u64>,
    last_time: Option<Timestamp>,
}

impl EventsWriter<'_> {
    fn add(&mut self, ev: &VerifiedEvent) -> io::Result<()> {
        let body = ev.body();
        let root = *self.root.get_or_insert(body.author);
        let name = match &self.current {
            None => Some(SETUP.to_owned()),
            // The setup ends with the root key's last event; the rest is cut
            // into files of EVENTS_PER_FILE.
            Some(f) if f.info.file == SETUP && body.author != root => {
                Some(events_file(self.files.len() + 1))
            }
            Some(f) if f.info.file != SETUP && f.info.events == EVENTS_PER_FILE => {
                Some(events_file(self.files.len() + 1))
            }
            Some(_) => None,
        };
        if let Some(name) = name {
            self.close()?;
            self.current = Some(OpenFile {
                out: BufWriter::with_capacity(1 << 20, new_file(&self.dir.join(&name), 0o644)?),
                info: EventsFile {
                    file: name,
                    first_index: self.written,
                    events: 0,
                    bytes: 0,
                    sha256: Digest([0; 32]),
                },
                hash: Sha256::new(),
            });
        }
        let f = self
            .current
            .as_mut()
            .expect("invariant: a file is open once the first event arrives");
        f.out.write_all(ev.bytes())?;
        f.out.write_all(b"\n")?;
        f.hash.update(ev.bytes());
        f.hash.update(b"\n");
        f.info.events += 1;
        f.info.bytes += ev.bytes().len() as u64 + 1;

        self.written += 1;
        self.chains.insert(
            body.author,
            ChainState {
                seq: body.seq.0,
                last: Some(ev.id()),
            },
        );
        *self.counts.entry(body.author).or_default() += 1;
        *self.kinds.entry(ev.kind()).or_default() += 1;
        self.last_time = Some(body.time);
        if let Payload::KeyRegister(r) = &body.payload {
            self.registered.push((r.key, r.role, r.org.clone()));
        }
        Ok(())
    }

    fn close(&mut self) -> io::Result<()> {
        if let Some(mut f) = self.current.take() {
            f.out.flush()?;
            f.out.get_ref().sync_all()?;
            f.info.sha256 = Digest(f.hash.finalize().into());
            self.files.push(f.info);
        }
        Ok(())
    }
}

/// `events-0001.jsonl` and on: four digits sort in submission order up to
/// 999,900,000 events, more than any size here.
fn events_file(n: usize) -> String {
    format!("events-{n:04}.jsonl")
}

fn readme(m: &Manifest, who: &Participants) -> String {
    let mut s = String::new();
    let files: Vec<&str> = m.files.iter().map(|f| f.file.as_str()).collect();
    let _ = write!(
        s,
        "# Simulated election {election}\n\
         \n\
         Written by `tallylog simulate --size {size} --seed {seed}`: the same size and seed always\n\
         give these same bytes. The places, parties, organisations and figures are fictional.\n\
         \n\
         The secret keys in `{KEYS}/` are derived from public strings: anyone can sign as these\n\
         publishers. They are for simulation and testing only, never for a real election.\n\
         \n\
         ## Files\n\
         \n\
         - `{MANIFEST}`: what was generated: size, seed, the spec, events by kind, and each events\n  \
           file with its first log index, its number of events and its SHA-256.\n\
         - `{PARTICIPANTS}`: who is who: the root key, the log key, and each publisher's role,\n  \
           organisation, public key and key file.\n\
         - `{KEYS}/NAME.key`: secret key files (mode 0600). `root` signs the definition, the\n  \
           geography and the key registry; `log` is the ledger's checkpoint key, which the\n  \
           definition names; the others are the publishers' (`authority`, `observer-N`,\n  \
           `party-PARTY`).\n\
         - `{KEYS}/NAME.key.chain.json`: where each key's chain stands after the last event here,\n  \
           so that `tallylog event sign` and `tallylog event certify` continue it.\n\
         - `{SETUP}`: the election definition, the geography and the key registry, signed by the\n  \
           root key.\n\
         - `events-NNNN.jsonl`: results, corrections, recounts and complaints in time order, at\n  \
           most {per_file} a file.\n\
         \n\
         Each line is one signed event. The ledger must take them in this order: the files as\n\
         listed in the manifest, and the lines of each in order.\n\
         \n\
         ## Events\n\
         \n",
        election = m.election,
        size = m.size,
        seed = m.seed,
        per_file = thousands(EVENTS_PER_FILE),
    );
    for (kind, n) in &m.kinds {
        let _ = writeln!(s, "    {:<26} {n:>10}", kind.as_str());
    }
    let _ = writeln!(s, "    {:<26} {:>10}", "total", m.events);
    let _ = write!(
        s,
        "\n\
         The log stops before certification: a `certified` event names the projection's hash,\n\
         which the projector computes once it has folded the log.\n\
         \n\
         ## Run it (from this directory)\n\
         \n    \
         tallylog up --data ../{election}-data --election {election} \\\n        \
         --origin {origin} --log-key {log_key}\n    \
         tallylog submit --nats URL --root-key {root} \\\n        \
         {files}\n    \
         tallylog tally --nats URL --election {election} status\n    \
         tallylog tally --nats URL --election {election} compare --with \"{observer}\"\n\
         \n\
         Then certify what the projector computed, as the authority, and submit it:\n\
         \n    \
         tallylog tally --nats URL --election {election} status --json \\\n        \
         | tallylog event certify --key {authority} --time {time} --out certify.jsonl\n    \
         tallylog submit --nats URL certify.jsonl\n",
        election = m.election,
        origin = m.origin,
        log_key = who.log.key_file,
        root = m.root_key,
        files = files.join(" "),
        observer = who
            .publishers
            .iter()
            .find(|p| p.role == Role::Observer)
            .map_or("", |p| p.organisation.as_str()),
        authority = who.publishers[0].key_file,
        time = certification_time(m),
    );
    s
}

/// `n` with a comma every three digits, as the README's prose has numbers.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A time for the certification: an hour after the last event.
pub fn certification_time(m: &Manifest) -> Timestamp {
    Timestamp::from_unix(m.last_time.unix() + 3600)
        .expect("invariant: simulated times are far from the end of the range")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(7), "7");
        assert_eq!(thousands(100_000), "100,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}

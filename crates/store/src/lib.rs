//! The log on disk: the entries in an append-only file, and beside them a sled
//! database holding where each entry is, the stored Merkle hashes, the indexes
//! and the head, written in atomic batches that are durable (fsynced) before
//! [`Store::append`] returns.
//!
//! The entries file is described in [`entries`]. Everything in sled lives in one
//! tree under one-byte key prefixes, because `apply_batch` is atomic only within
//! a tree, and a batch must land whole or not at all. A batch's Merkle hashes
//! (about two per entry) and its entries' locations are each stored as one
//! record per batch: sled's cost is per key, and this saves two keys an entry.
//!
//! | key | value |
//! |---|---|
//! | `l` + first index (u64 BE) | where a batch's entries are in the entries file: the offset of its first entry's record, just after the batch header (u64 BE), then each entry's length (u32 BE) |
//! | `h` + stored hash index (u64 BE) | the Merkle hashes (tlog layout) a batch added, from that index on, 32 bytes each |
//! | `i` + event id | the entry index (u64 BE), then the event's facts for the rules |
//! | `k` + public key | a registered key's role, organisation, revocation |
//! | `c` + author key | the author's chain head: seq (u64 BE) and event id |
//! | `o` + complaint id | the complaint's status and filing organisation |
//! | `m` `head` | size (u64 BE), chain hash of the last entry, tree root |
//! | `m` `checkpoint` | the latest signed checkpoint note |
//! | `p` + size (u64 BE) | every signed checkpoint, by tree size (one per batch) |
//! | `m` `election` | the election definition and root key |
//! | `m` `cursor` | the intake position of the last submission judged (u64 BE) |
//! | `m` `format` | the store's layout: 2 (entries in their own file) |
//!
//! Stores of layout 1 kept each entry in sled (`e` + index, u64 BE), and an
//! index by author and seq (`a` + key + seq) that nothing read. Opening one
//! moves its entries into the entries file once and drops that index (see
//! [`Store::open`]).
//!
//! The rules' state (keys, chains, complaints, event facts) is derived from the
//! entries and written with them, so the store is a [`LogView`] the ledger can
//! judge new events against after a restart without replaying the log.
//!
//! Durability: sled's `flush()` writes and calls `sync_file_range`, which is
//! not a durability barrier (it neither flushes the disk cache nor metadata).
//! So each batch fsyncs the entries file, then applies sled's batch, flushes
//! and fsyncs sled's data file itself (see [`Store::sync`]); only then does
//! `append` return.
//!
//! On open the store checks that the head, the last entries, their locations,
//! the stored hashes and the checkpoint agree, and refuses to start if they do
//! not.
#![forbid(unsafe_code)]

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tallylog_core::checkpoint::LogSigner;
use tallylog_core::entry::{Entry, EntryError, GENESIS_PREV};
use tallylog_core::event::{SignedEvent, VerifiedEvent};
use tallylog_core::merkle::{self, Hash, HashReader, MerkleError};
use tallylog_core::rules::{
    Change, CheckError, ComplaintState, ElectionRoot, EventFacts, KeyState, LogView, Overlay,
    Rejection, ViewError,
};
use tallylog_core::types::{EventId, LogIndex, PublicKey, Seq};

/// Layout 1's entries, one sled record each; moved out on open.
const OLD_ENTRY: u8 = b'e';
const LOCATION: u8 = b'l';
const HASH: u8 = b'h';
const BY_ID: u8 = b'i';
/// Layout 1's author+seq index, which nothing read; removed on open.
const OLD_BY_AUTHOR: u8 = b'a';
const KEY_STATE: u8 = b'k';
const CHAIN: u8 = b'c';
const COMPLAINT: u8 = b'o';
const CHECKPOINTS: u8 = b'p';
/// Witness cosignature lines: `w` + size + witness name.
const COSIGNATURES: u8 = b'w';
const HEAD_KEY: &[u8] = b"mhead";
const CHECKPOINT_KEY: &[u8] = b"mcheckpoint";
const ELECTION_KEY: &[u8] = b"melection";
const CURSOR_KEY: &[u8] = b"mcursor";
const FORMAT_KEY: &[u8] = b"mformat";
/// The store's layout: 2 keeps the entries in their own file.
const FORMAT: u8 = 2;

/// The most entry bytes one batch may write. Opening a store cuts off at most
/// this much past the last located entry (a batch a crash interrupted); more
/// than that means the database and the entries file have parted, and the
/// store refuses to open rather than guess. The ledger's batches are far
/// smaller (8 MiB of submissions).
pub const MAX_BATCH_BYTES: u64 = 64 * 1024 * 1024;

pub mod entries;
use entries::{EntriesFile, Location};

mod state;
use state::State;

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("sled failed: {0}")]
    Sled(#[from] sled::Error),
    #[error("disk I/O failed while {context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("the store at {dir} is inconsistent and will not be used: {what}. Restore it from a backup or an export; do not delete files by hand")]
    Inconsistent { dir: PathBuf, what: String },
    #[error(
        "a write to disk failed in {dir} ({what}); the store may hold data that never \
         reached the disk. Check the disk, restart the machine, verify the store from its bytes \
         (the chain, tree and checkpoints){}",
        match marker {
            Some(m) => format!(", then remove {}", m.display()),
            None => String::new(),
        }
    )]
    NeedsCheck {
        dir: PathBuf,
        what: String,
        /// The marker that keeps the store from opening, if it was written.
        marker: Option<PathBuf>,
    },
    #[error(
        "appends to the store at {dir} stopped in this process: {what}. The appended batches are \
         durable; restart the service, and opening the store completes the last one"
    )]
    Stopped { dir: PathBuf, what: String },
    #[error("stored entry {index} does not decode: {source}")]
    BadEntry { index: u64, source: EntryError },
    #[error("Merkle computation failed: {0}")]
    Merkle(#[from] MerkleError),
    #[error("event {0} is already in the log")]
    Duplicate(EventId),
    #[error("a batch of {bytes} bytes of entries is larger than one batch may be ({MAX_BATCH_BYTES}); append fewer events at a time")]
    BatchTooLarge { bytes: u64 },
    #[error("event {index} of the batch was refused: {rejection}")]
    Rejected { index: usize, rejection: Rejection },
    #[error(transparent)]
    View(#[from] ViewError),
}

impl From<CheckError> for StoreError {
    fn from(e: CheckError) -> Self {
        match e {
            CheckError::Rejected(rejection) => StoreError::Rejected {
                index: 0,
                rejection,
            },
            CheckError::Unavailable(v) => StoreError::View(v),
            other => StoreError::View(ViewError(other.to_string())),
        }
    }
}

fn io(context: &str) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        context: context.to_owned(),
        source,
    }
}

/// The log's state after the last durable batch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Head {
    /// Number of entries.
    pub size: u64,
    /// The chain hash of the last entry (zeros when empty).
    pub chain: Hash,
    /// The Merkle root of all entries.
    pub root: Hash,
}

impl Head {
    fn empty() -> Head {
        Head {
            size: 0,
            chain: GENESIS_PREV,
            root: merkle::EMPTY_HASH,
        }
    }
    fn encode(&self) -> [u8; 72] {
        let mut out = [0u8; 72];
        out[..8].copy_from_slice(&self.size.to_be_bytes());
        out[8..40].copy_from_slice(&self.chain.0);
        out[40..].copy_from_slice(&self.root.0);
        out
    }
    fn decode(b: &[u8]) -> Option<Head> {
        if b.len() != 72 {
            return None;
        }
        Some(Head {
            size: u64::from_be_bytes(b[..8].try_into().ok()?),
            chain: Hash(b[8..40].try_into().ok()?),
            root: Hash(b[40..].try_into().ok()?),
        })
    }
}

/// What one durable append produced.
#[derive(Debug)]
pub struct Appended {
    pub entries: Vec<Entry>,
    pub head: Head,
    /// The signed checkpoint for the new head, stored with the batch.
    pub checkpoint: Vec<u8>,
    /// Time spent making the batch durable: the entries file's fsync, then
    /// sled's flush and fsync (applying sled's batch in memory is not counted).
    pub sync_time: Duration,
}

/// The sled log. One writer at a time (`append` takes `&mut self`); readers may
/// share it through `&self`.
pub struct Store {
    dir: PathBuf,
    db: sled::Db,
    log: sled::Tree,
    data_file: File,
    entries: EntriesFile,
    synced_blobs: HashSet<OsString>,
    head: Head,
    state: State,
    /// Why no further appends are made from this handle, if a write failed.
    poisoned: Option<Poison>,
}

/// Why a store handle takes no further appends.
#[derive(Clone, Debug)]
enum Poison {
    /// A write or fsync failed: the store must be checked before it is used
    /// again, and [`NEEDS_CHECK`] (at the path, if it could be written) says so.
    NeedsCheck(String, Option<PathBuf>),
    /// A durable batch could not be marked committed; opening the store again
    /// marks it, so no check is needed.
    Stopped(String),
}

impl Poison {
    /// The error each refused append gets, for the store in `dir`.
    fn error(&self, dir: &Path) -> StoreError {
        match self {
            Poison::NeedsCheck(what, marker) => StoreError::NeedsCheck {
                dir: dir.to_owned(),
                what: what.clone(),
                marker: marker.clone(),
            },
            Poison::Stopped(what) => StoreError::Stopped {
                dir: dir.to_owned(),
                what: what.clone(),
            },
        }
    }
}

/// sled's page cache, at most.
const CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// The file that marks a store whose last fsync failed.
pub const NEEDS_CHECK: &str = "NEEDS-CHECK";

fn key(prefix: u8, n: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = prefix;
    k[1..].copy_from_slice(&n.to_be_bytes());
    k
}

fn id_key(id: &EventId) -> [u8; 33] {
    let mut k = [0u8; 33];
    k[0] = BY_ID;
    k[1..].copy_from_slice(id.as_bytes());
    k
}

fn key32(prefix: u8, k: &[u8; 32]) -> [u8; 33] {
    let mut out = [0u8; 33];
    out[0] = prefix;
    out[1..].copy_from_slice(k);
    out
}

fn be_u64(v: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(v.try_into().ok()?))
}

/// Writes the [`NEEDS_CHECK`] marker in `dir` saying why, and makes it
/// durable (the file and its name) as far as the failing disk allows.
fn write_marker(dir: &Path, why: &StoreError) -> Result<(), StoreError> {
    use std::io::Write as _;
    let mut f = File::create(dir.join(NEEDS_CHECK)).map_err(io("creating the marker"))?;
    f.write_all(format!("{why}\n").as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(io("writing the marker"))?;
    sync_dir(dir)
}

impl Store {
    /// Opens (or creates) the store in `dir` and checks that it is consistent.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let marker = dir.join(NEEDS_CHECK);
        // Only a marker that is certainly absent lets the store open: one that
        // cannot be read (torn, not a file, unreadable) refuses it as well.
        match std::fs::read(&marker) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            read => {
                let what = match read {
                    Ok(bytes) if bytes.iter().any(|b| !b.is_ascii_whitespace()) => {
                        String::from_utf8_lossy(&bytes).trim().to_owned()
                    }
                    Ok(_) => {
                        "the marker is empty: it was being written when a write failed".to_owned()
                    }
                    Err(e) => format!("the marker is there but cannot be read: {e}"),
                };
                return Err(StoreError::NeedsCheck {
                    dir: dir.to_owned(),
                    what,
                    marker: Some(marker),
                });
            }
        }
        let fresh = !dir.join("db").exists();
        std::fs::create_dir_all(dir).map_err(io("creating the store directory"))?;
        let entries = EntriesFile::open(dir).map_err(io("opening the entries file"))?;
        if fresh {
            let len = entries
                .len_on_disk()
                .map_err(io("reading the entries file's length"))?;
            if len > 0 {
                return Err(StoreError::Inconsistent {
                    dir: dir.to_owned(),
                    what: format!(
                        "the entries file holds {len} bytes but there is no database beside it (was `db` removed?)"
                    ),
                });
            }
        }
        let db = open_sled(dir)?;
        let log = db.open_tree("log")?;
        let data_file = File::open(dir.join("db")).map_err(io("opening sled's data file"))?;
        let mut store = Store {
            dir: dir.to_owned(),
            db,
            log,
            data_file,
            entries,
            synced_blobs: HashSet::new(),
            head: Head::empty(),
            state: State::default(),
            poisoned: None,
        };
        if fresh {
            // A new database's files must survive a crash too: sync them and the
            // directory entries that name them.
            store.log.insert(FORMAT_KEY, &[FORMAT])?;
            store.sync()?;
            store
                .entries
                .sync()
                .map_err(io("fsyncing the entries file"))?;
            sync_dir(dir)?;
            if let Some(parent) = dir.parent() {
                sync_dir(parent)?;
            }
        } else {
            // The entries file may be new (a layout-1 store), or an earlier
            // open may have created it and stopped before syncing its name.
            sync_dir(dir)?;
            store.upgrade()?;
        }
        store.head = store.check_consistency()?;
        store.state = store.load_state()?;
        store.remove_layout_1()?;
        Ok(store)
    }

    /// Loads the in-memory part of the rules' state.
    fn load_state(&self) -> Result<State, StoreError> {
        let mut st = State::default();
        let damaged = |what: &str| self.inconsistent(format!("a stored {what} record is damaged"));
        if let Some(v) = self.log.get(ELECTION_KEY)? {
            st.election = Some(state::decode_election(&v).ok_or_else(|| damaged("election"))?);
        }
        if let Some(v) = self.log.get(CURSOR_KEY)? {
            st.cursor = be_u64(&v).ok_or_else(|| damaged("cursor"))?;
        }
        let key_of = |k: &[u8]| -> Option<[u8; 32]> { k.get(1..33)?.try_into().ok() };
        for r in self.log.scan_prefix([KEY_STATE]) {
            let (k, v) = r?;
            let pk = key_of(&k)
                .and_then(|b| PublicKey::from_bytes(&b).ok())
                .ok_or_else(|| damaged("key"))?;
            st.keys
                .insert(pk, state::decode_key(&v).ok_or_else(|| damaged("key"))?);
        }
        for r in self.log.scan_prefix([CHAIN]) {
            let (k, v) = r?;
            let pk = key_of(&k)
                .and_then(|b| PublicKey::from_bytes(&b).ok())
                .ok_or_else(|| damaged("chain"))?;
            st.chains
                .insert(pk, state::decode_chain(&v).ok_or_else(|| damaged("chain"))?);
        }
        for r in self.log.scan_prefix([COMPLAINT]) {
            let (k, v) = r?;
            let id = key_of(&k)
                .map(EventId)
                .ok_or_else(|| damaged("complaint"))?;
            st.complaints.insert(
                id,
                state::decode_complaint(&v).ok_or_else(|| damaged("complaint"))?,
            );
        }
        if (self.head.size > 0) != st.election.is_some() {
            return Err(
                self.inconsistent("the log and its stored election definition disagree".into())
            );
        }
        Ok(st)
    }

    /// Brings a store of an older layout to the current one, up to the
    /// removal of the old records, which waits until the store has passed its
    /// checks ([`remove_layout_1`](Self::remove_layout_1)).
    ///
    /// Layout 1 (before the entries file) kept each entry in sled as `e` +
    /// index, and an author+seq index. The entries are copied into the entries
    /// file in order, the file is fsynced, and then one sled batch adds their
    /// location records and the layout mark. A crash before the mark is
    /// written leaves layout 1 whole (the copy starts again); a crash after it
    /// leaves old records that are only garbage, removed on the next open.
    fn upgrade(&mut self) -> Result<(), StoreError> {
        match self.log.get(FORMAT_KEY)?.as_deref() {
            Some([FORMAT]) => Ok(()),
            None => self.move_entries_out(),
            Some(other) => Err(self.inconsistent(format!(
                "its layout is {other:?}, which this tallylog does not know (written by a newer version?)"
            ))),
        }
    }

    /// Removes what layout 1 kept that layout 2 does not.
    fn remove_layout_1(&mut self) -> Result<(), StoreError> {
        let mut removed = 0u64;
        for prefix in [OLD_ENTRY, OLD_BY_AUTHOR] {
            loop {
                let keys: Vec<sled::IVec> = self
                    .log
                    .scan_prefix([prefix])
                    .keys()
                    .take(10_000)
                    .collect::<Result<_, _>>()?;
                if keys.is_empty() {
                    break;
                }
                let mut batch = sled::Batch::default();
                removed += keys.len() as u64;
                for k in keys {
                    batch.remove(k);
                }
                self.log.apply_batch(batch)?;
            }
        }
        if removed > 0 {
            self.sync()?;
            tracing::info!(
                removed,
                "removed the layout-1 entry and author records from the database"
            );
        }
        Ok(())
    }

    fn move_entries_out(&mut self) -> Result<(), StoreError> {
        if self.log.scan_prefix([LOCATION]).next().is_some() {
            return Err(self.inconsistent(
                "the database locates entries in the entries file but has no layout mark".into(),
            ));
        }
        let len = self
            .entries
            .len_on_disk()
            .map_err(io("reading the entries file's length"))?;
        if len > 0 {
            // A move interrupted before its mark writes its batches
            // uncommitted; a committed batch means an entries file of layout
            // 2 beside an older database, which is not to be overwritten.
            if self.any_committed(len)? {
                return Err(self.inconsistent(format!(
                    "the database is of layout 1 (entries inside it), but beside it is an entries file of {len} bytes holding committed batches: the database is older than the file (restored from a backup?)"
                )));
            }
            let kept = self.keep_aside(0, "before-upgrade")?;
            tracing::warn!(
                kept_in = %kept.display(),
                "an entries file from an interrupted upgrade was kept aside; the upgrade starts again"
            );
        }
        self.entries
            .cut_to(0)
            .map_err(io("emptying the entries file"))?;
        let mut batch = sled::Batch::default();
        let mut chunk = entries::BatchBytes::new(1024);
        let mut next = 0u64;
        let mut headers = Vec::new();
        let mut write = |store: &mut Store,
                         batch: &mut sled::Batch,
                         chunk: entries::BatchBytes,
                         next: u64|
         -> Result<(), StoreError> {
            let first = next - chunk.lengths.len() as u64;
            let (at, chunk) = store.locate_batch(batch, chunk, first);
            store
                .entries
                .write_batch(&chunk)
                .map_err(io("writing to the entries file"))?;
            store.entries.advance(chunk.bytes.len() as u64);
            headers.push(at);
            Ok(())
        };
        for r in self.log.scan_prefix([OLD_ENTRY]) {
            let (k, v) = r?;
            if be_u64(&k[1..]) != Some(next) {
                return Err(self.inconsistent(format!(
                    "moving the entries out of the database: entry {next} is missing"
                )));
            }
            chunk.push(&v);
            next += 1;
            if chunk.lengths.len() == 1024 {
                let full = std::mem::replace(&mut chunk, entries::BatchBytes::new(1024));
                write(self, &mut batch, full, next)?;
            }
        }
        if !chunk.lengths.is_empty() {
            write(self, &mut batch, chunk, next)?;
        }
        self.entries
            .sync()
            .map_err(io("fsyncing the entries file"))?;
        batch.insert(FORMAT_KEY, &[FORMAT]);
        self.log.apply_batch(batch)?;
        self.sync()?;
        for at in headers {
            self.entries
                .mark_committed(at)
                .map_err(io("marking a batch committed in the entries file"))?;
        }
        self.entries
            .sync()
            .map_err(io("fsyncing the entries file"))?;
        tracing::info!(
            entries = next,
            "moved the entries from the database into the entries file (store layout 2)"
        );
        Ok(())
    }

    /// Seals `records` as the batch from entry `first`, to be written at the
    /// entries file's end, and adds its location record to `batch`. Returns
    /// where its header goes.
    fn locate_batch(
        &self,
        batch: &mut sled::Batch,
        mut records: entries::BatchBytes,
        first: u64,
    ) -> (u64, entries::BatchBytes) {
        records.seal(first);
        let at = self.entries.end();
        batch.insert(
            &key(LOCATION, first)[..],
            Location::encode(at + entries::HEADER, &records.lengths),
        );
        (at, records)
    }

    /// Whether any batch header in the entries file's first `len` bytes, walked
    /// from byte 0 while the headers last, is flagged committed.
    fn any_committed(&self, len: u64) -> Result<bool, StoreError> {
        let mut at = 0u64;
        while at.saturating_add(entries::HEADER) <= len {
            let b = self
                .entries
                .read(at, entries::HEADER)
                .map_err(io("reading the entries file"))?;
            match entries::BatchHeader::parse(&b) {
                Some(h) if h.committed => return Ok(true),
                Some(h) => at = at.saturating_add(entries::HEADER).saturating_add(h.bytes),
                None => break,
            }
        }
        Ok(false)
    }

    /// Copies the entries file from byte `from` on into a file of its own
    /// beside it, named for `why` and `from`, and says so in the log.
    fn keep_aside(&self, from: u64, why: &str) -> Result<PathBuf, StoreError> {
        let mut n = 0u32;
        let path = loop {
            let p = self
                .dir
                .join(format!("{}.{why}-{from}.{n}", entries::FILE_NAME));
            if !p.exists() {
                break p;
            }
            n += 1;
        };
        self.entries
            .copy_tail(from, &path)
            .map_err(io("copying part of the entries file aside"))?;
        sync_dir(&self.dir)?;
        Ok(path)
    }

    /// The intake position of the last submission the ledger judged.
    pub fn cursor(&self) -> u64 {
        self.state.cursor
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn head(&self) -> Head {
        self.head
    }

    fn inconsistent(&self, what: String) -> StoreError {
        StoreError::Inconsistent {
            dir: self.dir.clone(),
            what,
        }
    }

    /// Checks what must hold after any sequence of complete batches. It reads the
    /// head, the last two entries, the boundary of the stored hashes and the
    /// checkpoint; the full history is the auditor's job.
    fn check_consistency(&mut self) -> Result<Head, StoreError> {
        let head = match self.log.get(HEAD_KEY)? {
            None => Head::empty(),
            Some(b) => Head::decode(&b)
                .ok_or_else(|| self.inconsistent("the head record is damaged".into()))?,
        };
        // Reads below are bounded by the head, as every read is.
        self.head = head;
        let (located, end) = match self.last_location()? {
            None => (0, 0),
            Some((first, v)) => {
                let loc = Location::decode(&v).ok_or_else(|| {
                    self.inconsistent("the last location record is damaged".into())
                })?;
                (first + loc.count(), loc.end())
            }
        };
        if located != head.size {
            return Err(self.inconsistent(format!(
                "{located} entries have locations, but the head says the log has {}",
                head.size
            )));
        }
        let len = self
            .entries
            .len_on_disk()
            .map_err(io("reading the entries file's length"))?;
        if len < end {
            return Err(self.inconsistent(format!(
                "the entries file holds {len} bytes, but the entries located in the database end at byte {end}"
            )));
        }
        if len - end > MAX_BATCH_BYTES + entries::HEADER {
            return Err(self.inconsistent(format!(
                "the entries file holds {} bytes past the last located entry, more than one batch writes: the database may be older than the file (restored from a backup?)",
                len - end
            )));
        }
        let hashes = merkle::stored_hash_count(head.size);
        let stored = match self.last_hash_record()? {
            None => 0,
            Some((start, v)) => start + (v.len() / 32) as u64,
        };
        if stored != hashes {
            return Err(self.inconsistent(format!(
                "{stored} Merkle hashes are stored, but a log of {} entries has {hashes}",
                head.size
            )));
        }
        if head.size == 0 {
            // An empty log may have judged (and refused) submissions already:
            // its intake cursor is the one record it can hold.
            for k in self.log.iter().keys() {
                let k = k?;
                if &*k != CURSOR_KEY && &*k != FORMAT_KEY {
                    return Err(self.inconsistent("the head says empty but records exist".into()));
                }
            }
            self.cut_entries(end, 0)?;
            return Ok(head);
        }
        let last = self.entry(LogIndex(head.size - 1))?.ok_or_else(|| {
            self.inconsistent(format!("the last entry {} is missing", head.size - 1))
        })?;
        if last.chain_hash() != head.chain {
            return Err(self.inconsistent(format!(
                "the last entry {} does not hash to the head's chain hash",
                head.size - 1
            )));
        }
        let leaf = self
            .read_hashes(&[merkle::stored_hash_index(0, head.size - 1)])
            .map_err(MerkleError::from)?[0];
        if leaf != head.chain {
            return Err(self.inconsistent(format!(
                "the stored leaf hash of entry {} is not the entry's hash",
                head.size - 1
            )));
        }
        let prev_chain = if head.size >= 2 {
            self.entry(LogIndex(head.size - 2))?
                .ok_or_else(|| self.inconsistent(format!("entry {} is missing", head.size - 2)))?
                .chain_hash()
        } else {
            GENESIS_PREV
        };
        if last.prev() != prev_chain {
            return Err(self.inconsistent(format!(
                "entry {} does not link to entry {}",
                head.size - 1,
                head.size.wrapping_sub(2) as i64
            )));
        }
        if merkle::tree_hash(head.size, self)? != head.root {
            return Err(
                self.inconsistent("the stored Merkle hashes do not give the head's root".into())
            );
        }
        // The checkpoint is written in the same batch as the head, so it must
        // describe exactly the head: its size and its root. (Its signature is
        // the auditor's to check; the store does not hold the log key.)
        let cp = self
            .checkpoint()?
            .ok_or_else(|| self.inconsistent("the log has entries but no checkpoint".into()))?;
        let text = String::from_utf8_lossy(&cp);
        let mut lines = text.lines().skip(1);
        let size = lines.next().and_then(|l| l.parse::<u64>().ok());
        let root = lines.next().map(str::to_owned);
        let want_root =
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, head.root.0);
        if size != Some(head.size) || root.as_deref() != Some(want_root.as_str()) {
            return Err(self.inconsistent(format!(
                "the stored checkpoint is for size {size:?}, root {root:?}; the head is size {}, root {want_root}",
                head.size
            )));
        }
        self.check_last_header()?;
        self.cut_entries(end, head.size)?;
        Ok(head)
    }

    /// Sets the end of the entries file to `end`, where the located entries
    /// of a log of `size` end. What lies past it may only be the one batch a
    /// crash interrupted before sled took it (or the torn start of one): it is
    /// copied aside (never acknowledged, but nothing is thrown away) and cut
    /// off. A committed batch past the end, a batch that does not continue the
    /// log, or more than one batch mean the database is older than the file,
    /// and the store is refused.
    fn cut_entries(&mut self, end: u64, size: u64) -> Result<(), StoreError> {
        let len = self
            .entries
            .len_on_disk()
            .map_err(io("reading the entries file's length"))?;
        if len > end {
            let start = self
                .entries
                .read(end, (len - end).min(entries::HEADER))
                .map_err(io("reading the entries file's unlocated tail"))?;
            let older = |what: String| {
                self.inconsistent(format!(
                    "{what} past the last located entry (byte {end}): the database is older than the entries file (restored from a backup?)"
                ))
            };
            if let Some(h) = entries::BatchHeader::parse(&start) {
                if h.committed {
                    return Err(older(format!(
                        "the entries file holds a committed batch of entries {}..{}",
                        h.first,
                        h.first + u64::from(h.count)
                    )));
                }
                if h.first != size {
                    return Err(older(format!(
                        "the entries file holds a batch starting at entry {}, not {size},",
                        h.first
                    )));
                }
                if entries::HEADER.saturating_add(h.bytes) < len - end {
                    return Err(older(format!(
                        "the entries file holds more than one batch ({} bytes)",
                        len - end
                    )));
                }
            }
            let kept = self.keep_aside(end, "cut-at")?;
            tracing::warn!(
                bytes = len - end,
                kept_in = %kept.display(),
                "the entries file held the unfinished batch of an interrupted append; it is not part of the log and was cut off"
            );
        }
        self.entries
            .cut_to(end)
            .map_err(io("cutting the entries file to its located end"))?;
        Ok(())
    }

    /// Checks that the last located batch's header in the entries file says
    /// what its location record says, and sets its commit flag if a crash came
    /// between sled's batch and the flag.
    fn check_last_header(&mut self) -> Result<(), StoreError> {
        let Some((first, v)) = self.last_location()? else {
            return Ok(());
        };
        let loc = self.decode_location(first, &v)?;
        let at = loc.header();
        let bytes = self
            .entries
            .read(at, entries::HEADER)
            .map_err(io("reading a batch header"))?;
        let want = entries::BatchHeader {
            first,
            count: loc.count() as u32,
            bytes: loc.end() - loc.start,
            committed: true,
        };
        match entries::BatchHeader::parse(&bytes) {
            Some(h) if h == want => Ok(()),
            Some(h) if h == entries::BatchHeader { committed: false, ..want } => {
                // Durably now: the flag is what later tells this batch from
                // one a crash interrupted.
                self.entries
                    .mark_committed(at)
                    .and_then(|()| self.entries.sync())
                    .map_err(io("marking a batch committed in the entries file"))?;
                Ok(())
            }
            got => Err(self.inconsistent(format!(
                "the entries file's header of the last batch (entries {first}..{}, at byte {at}) is {got:?}, not what the database locates there",
                first + loc.count()
            ))),
        }
    }

    /// Records that the submissions up to intake position `cursor` were judged
    /// and all refused; durable before it returns.
    pub fn record_cursor(
        &mut self,
        cursor: u64,
        signer: &LogSigner,
    ) -> Result<Appended, StoreError> {
        self.append(Vec::new(), cursor, signer)
    }

    /// Checks each event against the rules (each seeing the ones before it) and
    /// appends them all as one batch; refuses the whole batch if any is refused.
    /// For tests, tools and benchmarks; the ledger judges events one by one.
    pub fn append_checked(
        &mut self,
        events: Vec<VerifiedEvent>,
        signer: &LogSigner,
    ) -> Result<Appended, StoreError> {
        let mut overlay = Overlay::on(&*self);
        let mut accepted = Vec::with_capacity(events.len());
        for (index, ev) in events.into_iter().enumerate() {
            let change = overlay.accept(&ev).map_err(|e| match e {
                CheckError::Rejected(rejection) => StoreError::Rejected { index, rejection },
                other => other.into(),
            })?;
            accepted.push((ev, change));
        }
        drop(overlay);
        let cursor = self.state.cursor;
        self.append(accepted, cursor, signer)
    }

    /// Appends accepted events, with the changes the rules computed for them
    /// (in order, each against the log plus the ones before it), as one batch,
    /// records `cursor` as the intake position judged, and signs a checkpoint
    /// for the new head. Returns only after the batch is durable on disk.
    /// Events already in the log are refused (the caller answers duplicates
    /// with the original entry).
    pub fn append(
        &mut self,
        accepted: Vec<(VerifiedEvent, Change)>,
        cursor: u64,
        signer: &LogSigner,
    ) -> Result<Appended, StoreError> {
        if let Some(p) = &self.poisoned {
            return Err(p.error(&self.dir));
        }
        let mut batch = sled::Batch::default();
        batch.insert(CURSOR_KEY, &cursor.to_be_bytes()[..]);
        if accepted.is_empty() {
            // Only rejections were judged. The cursor is made durable like any
            // batch before the caller replies, so a submission is judged once.
            let applied = self.log.apply_batch(batch).map_err(StoreError::from);
            self.poison_on(applied)?;
            let started = Instant::now();
            self.sync_or_poison()?;
            self.state.cursor = cursor;
            return Ok(Appended {
                entries: Vec::new(),
                head: self.head,
                checkpoint: Vec::new(),
                sync_time: started.elapsed(),
            });
        }
        let mut pending = PendingHashes {
            store: self,
            base: merkle::stored_hash_count(self.head.size),
            new: Vec::new(),
        };
        let mut head = self.head;
        let mut entries = Vec::with_capacity(accepted.len());
        let mut facts: Vec<(EventId, u64, EventFacts)> = Vec::with_capacity(accepted.len());
        // The state's changes, applied once the batch is durable (cloning the
        // whole state per batch cost time in proportion to every key, chain
        // and complaint ever seen).
        let mut election = None;
        let mut keys = Vec::new();
        let mut chains = Vec::with_capacity(accepted.len());
        let mut complaints = Vec::new();
        let mut superseded_in_store = Vec::new();
        let mut seen = HashSet::new();
        let mut records = entries::BatchBytes::new(accepted.len());
        for (ev, change) in accepted {
            let id = ev.id();
            if !seen.insert(id) || self.index_of_event(ev.event())?.is_some() {
                return Err(StoreError::Duplicate(id));
            }
            if let Some(e) = change.election {
                batch.insert(ELECTION_KEY, state::encode_election(&e));
                election = Some(e);
            }
            for (k, st) in change.keys {
                batch.insert(&key32(KEY_STATE, k.as_bytes())[..], state::encode_key(&st));
                keys.push((k, st));
            }
            if let Some((cid, st)) = change.complaint {
                batch.insert(
                    &key32(COMPLAINT, cid.as_bytes())[..],
                    state::encode_complaint(&st),
                );
                complaints.push((cid, st));
            }
            let (author, seq) = change.chain;
            batch.insert(
                &key32(CHAIN, author.as_bytes())[..],
                &state::encode_chain(seq, &id)[..],
            );
            chains.push((author, (seq, id)));
            if let Some(old) = change.supersedes {
                match facts.iter_mut().find(|(fid, _, _)| *fid == old) {
                    Some((_, _, f)) => f.superseded = true,
                    None => superseded_in_store.push(old),
                }
            }
            facts.push((id, head.size, change.facts));

            let entry = Entry::new(LogIndex(head.size), head.chain, ev.into_event());
            let leaf = entry.chain_hash();
            let hashes = merkle::hashes_to_store(head.size, leaf, &pending)?;
            pending.new.extend(hashes);
            records.push(entry.bytes());
            head.size += 1;
            head.chain = leaf;
            entries.push(entry);
        }
        for old in superseded_in_store {
            let (index, mut f) = self.facts(&old)?.ok_or_else(|| {
                self.inconsistent(format!("superseded event {old} is not stored"))
            })?;
            f.superseded = true;
            batch.insert(&id_key(&old)[..], state::encode_facts(index, &f));
        }
        for (id, index, f) in &facts {
            batch.insert(&id_key(id)[..], state::encode_facts(*index, f));
        }
        let record: Vec<u8> = pending.new.iter().flat_map(|h| h.0).collect();
        batch.insert(&key(HASH, pending.base)[..], record);
        head.root = merkle::tree_hash(head.size, &pending)?;
        let checkpoint = signer.sign(head.size, head.root);
        batch.insert(HEAD_KEY, &head.encode()[..]);
        batch.insert(CHECKPOINT_KEY, &checkpoint[..]);
        batch.insert(&key(CHECKPOINTS, head.size)[..], &checkpoint[..]);
        if records.records_len() > MAX_BATCH_BYTES {
            return Err(StoreError::BatchTooLarge {
                bytes: records.records_len(),
            });
        }
        let (header_at, records) = self.locate_batch(&mut batch, records, self.head.size);
        // The entries first, durable before sled's batch locates them.
        let written = self
            .entries
            .write_batch(&records)
            .map_err(io("writing to the entries file"));
        // A write that failed part-way leaves bytes past the end that a later,
        // shorter batch would not overwrite: no further appends.
        self.poison_on(written)?;
        let started = Instant::now();
        let synced = self.entries.sync().map_err(io("fsyncing the entries file"));
        self.poison_on(synced)?;
        let mut sync_time = started.elapsed();
        // sled applies a batch key by key and stops at an error, leaving the
        // keys before it in its tree: the store must not go on from there.
        let applied = self.log.apply_batch(batch).map_err(StoreError::from);
        self.poison_on(applied)?;
        let started = Instant::now();
        self.sync_or_poison()?;
        sync_time += started.elapsed();
        self.entries.advance(records.bytes.len() as u64);
        // Durable with the next batch's fsync; a crash before then leaves it
        // unset, and opening the store sets it. The batch is durable whatever
        // happens here, so a failure only stops further appends from this
        // handle: this batch stays the last, and the next open sets its flag.
        if let Err(e) = self.entries.mark_committed(header_at) {
            tracing::error!(error = %e, "setting a batch's commit flag failed; no further appends from this process");
            self.poisoned = Some(Poison::Stopped(format!(
                "setting the commit flag of the batch that brought the log to {} entries failed: {e}",
                head.size
            )));
        }
        self.head = head;
        let state = &mut self.state;
        if let Some(e) = election {
            state.election = Some(e);
        }
        state.keys.extend(keys);
        state.chains.extend(chains);
        state.complaints.extend(complaints);
        state.cursor = cursor;
        Ok(Appended {
            entries,
            head,
            checkpoint,
            sync_time,
        })
    }

    /// The stored facts of event `id` and its entry index.
    fn facts(&self, id: &EventId) -> Result<Option<(u64, EventFacts)>, StoreError> {
        match self.log.get(id_key(id))? {
            None => Ok(None),
            Some(v) => state::decode_facts(&v).map(Some).ok_or_else(|| {
                self.inconsistent(format!("the index record of event {id} is damaged"))
            }),
        }
    }

    /// [`sync`](Self::sync), and if it fails, mark the store so that it is not
    /// opened again before a person has checked it: after a failed fsync Linux
    /// may mark the unwritten pages clean, and a later read would serve data
    /// the disk never got as if it were durable.
    fn sync_or_poison(&mut self) -> Result<(), StoreError> {
        let synced = self.sync();
        self.poison_on(synced)
    }

    fn poison_on(&mut self, synced: Result<(), StoreError>) -> Result<(), StoreError> {
        match synced {
            Ok(()) => Ok(()),
            Err(e) => {
                let path = self.dir.join(NEEDS_CHECK);
                let (what, marker) = match write_marker(&self.dir, &e) {
                    Ok(()) => (format!("{e}"), Some(path)),
                    Err(m) => (
                        format!(
                            "{e}; writing the marker {} failed too ({m}), so the store may open \
                             again without this warning: check it before restarting",
                            path.display()
                        ),
                        None,
                    ),
                };
                tracing::error!(store = %self.dir.display(), "{what}");
                let poison = Poison::NeedsCheck(what, marker);
                let refused = poison.error(&self.dir);
                self.poisoned = Some(poison);
                Err(refused)
            }
        }
    }

    /// Makes everything written so far durable: sled's flush, then an fsync of
    /// its data file and of any new blob files (sled writes values too large for
    /// its log into `blobs/` and never fsyncs them).
    pub fn sync(&mut self) -> Result<(), StoreError> {
        self.db.flush()?;
        self.data_file
            .sync_data()
            .map_err(io("fsyncing sled's data file"))?;
        let blobs = self.dir.join("blobs");
        let mut new_blob = false;
        if let Ok(rd) = std::fs::read_dir(&blobs) {
            for ent in rd {
                let ent = ent.map_err(io("listing sled's blob directory"))?;
                if self.synced_blobs.contains(&ent.file_name()) {
                    continue;
                }
                match File::open(ent.path()) {
                    Ok(f) => f.sync_data().map_err(io("fsyncing a sled blob file"))?,
                    // sled removes blobs it no longer needs; one may go between
                    // listing and opening.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(io("opening a sled blob file")(e)),
                }
                self.synced_blobs.insert(ent.file_name());
                new_blob = true;
            }
        }
        if new_blob {
            sync_dir(&blobs)?;
        }
        Ok(())
    }

    /// The entry at `index`, if the log has one.
    pub fn entry(&self, index: LogIndex) -> Result<Option<Entry>, StoreError> {
        let Some(bytes) = self.entry_raw(index.0)? else {
            return Ok(None);
        };
        Entry::decode(&bytes)
            .map(Some)
            .map_err(|source| StoreError::BadEntry {
                index: index.0,
                source,
            })
    }

    /// The bytes of the entry at `index`, if the log has one.
    fn entry_raw(&self, index: u64) -> Result<Option<Vec<u8>>, StoreError> {
        if index >= self.head.size {
            return Ok(None);
        }
        let Some((first, v)) = self.location(index)? else {
            return Ok(None);
        };
        let loc = self.decode_location(first, &v)?;
        let k = index - first;
        if k >= loc.count() {
            return Ok(None);
        }
        let len = loc.len(k);
        let bytes = self
            .entries
            .read(loc.offset(k), entries::PREFIX + len)
            .map_err(io("reading the entries file"))?;
        let body = entries::split(&bytes, std::iter::once(len))
            .map_err(|what| self.inconsistent(format!("entry {index}: {what}")))?;
        Ok(Some(body[0].to_vec()))
    }

    fn decode_location<'v>(&self, first: u64, v: &'v [u8]) -> Result<Location<'v>, StoreError> {
        Location::decode(v).ok_or_else(|| {
            self.inconsistent(format!(
                "the location record of the batch from entry {first} is damaged"
            ))
        })
    }

    /// The raw bytes of entries `from..to`, in order, read a batch at a time.
    pub fn entry_bytes(
        &self,
        from: u64,
        to: u64,
    ) -> impl Iterator<Item = Result<(u64, Vec<u8>), StoreError>> + '_ {
        let to = to.min(self.head.size);
        let mut next = from;
        let mut ready = std::collections::VecDeque::new();
        std::iter::from_fn(move || {
            if ready.is_empty() && next < to {
                if let Err(e) = self.read_batch_from(next, to, &mut ready) {
                    next = to;
                    return Some(Err(e));
                }
                next += ready.len() as u64;
            }
            ready.pop_front().map(Ok)
        })
    }

    /// Reads entries `from..to` that lie in the batch holding `from`.
    fn read_batch_from(
        &self,
        from: u64,
        to: u64,
        out: &mut std::collections::VecDeque<(u64, Vec<u8>)>,
    ) -> Result<(), StoreError> {
        let Some((first, v)) = self.location(from)? else {
            return Ok(());
        };
        let loc = self.decode_location(first, &v)?;
        let (k0, k1) = (from - first, loc.count().min(to - first));
        if k0 >= k1 {
            return Ok(());
        }
        let start = loc.offset(k0);
        let bytes = self
            .entries
            .read(start, loc.offset(k1) - start)
            .map_err(io("reading the entries file"))?;
        let bodies = entries::split(&bytes, (k0..k1).map(|k| loc.len(k)))
            .map_err(|what| self.inconsistent(format!("entries from {from}: {what}")))?;
        out.extend((from..).zip(bodies.into_iter().map(<[u8]>::to_vec)));
        Ok(())
    }

    /// The index of the entry holding event `id`.
    pub fn index_of(&self, id: &EventId) -> Result<Option<LogIndex>, StoreError> {
        Ok(self.facts(id)?.map(|(i, _)| LogIndex(i)))
    }

    /// The index of the entry holding `event`, if the log has it. An event
    /// whose author's chain has not yet reached its seq cannot be in the log,
    /// which the in-memory chain heads tell without a lookup: that is every
    /// new submission, so only possible duplicates cost a read.
    pub fn index_of_event(&self, event: &SignedEvent) -> Result<Option<LogIndex>, StoreError> {
        let body = event.body();
        match self.state.chains.get(&body.author) {
            Some((seq, _)) if body.seq <= *seq => self.index_of(&event.id()),
            _ => Ok(None),
        }
    }

    /// Keeps a witness's cosignature line of the checkpoint of `size` (the
    /// caller verified it). Not fsynced: cosignatures can be asked for again,
    /// and nothing is acknowledged on their strength.
    pub fn add_cosignature(&self, size: u64, witness: &str, line: &[u8]) -> Result<(), StoreError> {
        let mut k = key(COSIGNATURES, size).to_vec();
        k.extend_from_slice(witness.as_bytes());
        self.log.insert(k, line)?;
        self.db.flush()?;
        Ok(())
    }

    /// The checkpoint of `size` with every cosignature kept for it.
    pub fn cosigned_checkpoint(&self, size: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(note) = self.log.get(key(CHECKPOINTS, size))? else {
            return Ok(None);
        };
        let lines: Result<Vec<Vec<u8>>, StoreError> = self
            .log
            .scan_prefix(key(COSIGNATURES, size))
            .map(|r| Ok(r?.1.to_vec()))
            .collect();
        Ok(Some(tallylog_core::cosign::add_lines(&note, &lines?)))
    }

    /// Sizes with at least one cosignature, newest first, with how many.
    pub fn cosigned_sizes(&self) -> impl Iterator<Item = Result<(u64, usize), StoreError>> + '_ {
        let mut iter = self
            .log
            .range(key(COSIGNATURES, 0)..=key(COSIGNATURES, u64::MAX))
            .rev()
            .peekable();
        std::iter::from_fn(move || {
            let first = iter.next()?;
            let size = match first {
                Ok((k, _)) => {
                    be_u64(&k[1..9]).expect("invariant: cosignature keys start with a size")
                }
                Err(e) => return Some(Err(e.into())),
            };
            let mut n = 1;
            while let Some(Ok((k, _))) = iter.peek() {
                if be_u64(&k[1..9]) != Some(size) {
                    break;
                }
                n += 1;
                iter.next();
            }
            Some(Ok((size, n)))
        })
    }

    /// The signed checkpoint stored with the last batch.
    pub fn checkpoint(&self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.log.get(CHECKPOINT_KEY)?.map(|v| v.to_vec()))
    }

    /// The checkpoint signed for the batch that appended entry `index`: the
    /// first one whose tree contains it. Receipts are proven against it, so the
    /// receipt for an entry is the same whenever it is asked for.
    pub fn checkpoint_covering(&self, index: u64) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let Some(r) = self
            .log
            .range(key(CHECKPOINTS, index.saturating_add(1))..=key(CHECKPOINTS, u64::MAX))
            .next()
        else {
            return Ok(None);
        };
        let (k, v) = r?;
        let size = be_u64(&k[1..]).expect("invariant: checkpoint keys are 9 bytes");
        Ok(Some((size, v.to_vec())))
    }

    /// Every stored checkpoint from tree size `from` on, in order of size.
    pub fn checkpoints(
        &self,
        from: u64,
    ) -> impl Iterator<Item = Result<(u64, sled::IVec), StoreError>> + '_ {
        self.log
            .range(key(CHECKPOINTS, from)..=key(CHECKPOINTS, u64::MAX))
            .map(|r| {
                let (k, v) = r?;
                Ok((
                    be_u64(&k[1..]).expect("invariant: checkpoint keys are 9 bytes"),
                    v,
                ))
            })
    }

    /// Proof that entry `index` is in the tree of `size` entries.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, StoreError> {
        self.check_size(size)?;
        Ok(merkle::prove_inclusion(size, index, self)?)
    }

    /// Proofs that each of `indexes` is in the tree of `size` entries. Proofs of
    /// neighbouring entries share most of their hashes, and the stored hashes
    /// come in one record per batch, so each record is read once for all.
    pub fn inclusion_proofs(
        &self,
        indexes: &[u64],
        size: u64,
    ) -> Result<Vec<Vec<Hash>>, StoreError> {
        self.check_size(size)?;
        let reader = CachedHashes {
            store: self,
            cache: std::cell::RefCell::new(std::collections::HashMap::new()),
        };
        indexes
            .iter()
            .map(|&i| Ok(merkle::prove_inclusion(size, i, &reader)?))
            .collect()
    }

    /// Proof that the tree of `new` entries extends the tree of `old`.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, StoreError> {
        self.check_size(new)?;
        Ok(merkle::prove_consistency(new, old, self)?)
    }

    /// The root of the tree of the first `size` entries.
    pub fn root_at(&self, size: u64) -> Result<Hash, StoreError> {
        self.check_size(size)?;
        Ok(merkle::tree_hash(size, self)?)
    }

    fn check_size(&self, size: u64) -> Result<(), StoreError> {
        if size > self.head.size {
            return Err(MerkleError::InvalidInput(format!(
                "the log has {} entries, not {size}",
                self.head.size
            ))
            .into());
        }
        Ok(())
    }
}

impl Store {
    /// The per-batch record under `prefix` (stored hashes, or entry
    /// locations) that holds item `i`: the last one keyed at or before it,
    /// with the first item it holds.
    fn batch_record(&self, prefix: u8, i: u64) -> Result<Option<(u64, sled::IVec)>, sled::Error> {
        let Some((k, v)) = self
            .log
            .range(key(prefix, 0)..=key(prefix, i))
            .next_back()
            .transpose()?
        else {
            return Ok(None);
        };
        let first = be_u64(&k[1..]).expect("invariant: batch record keys are 9 bytes");
        Ok(Some((first, v)))
    }

    /// The batch record of stored hashes that holds stored hash `i`.
    fn hash_record(&self, i: u64) -> Result<Option<(u64, sled::IVec)>, sled::Error> {
        self.batch_record(HASH, i)
    }

    fn last_hash_record(&self) -> Result<Option<(u64, sled::IVec)>, sled::Error> {
        self.hash_record(u64::MAX)
    }

    /// The location record of the batch that holds entry `i` (if `i` is in
    /// the log; otherwise of the last batch before it).
    fn location(&self, i: u64) -> Result<Option<(u64, sled::IVec)>, sled::Error> {
        self.batch_record(LOCATION, i)
    }

    fn last_location(&self) -> Result<Option<(u64, sled::IVec)>, sled::Error> {
        self.location(u64::MAX)
    }

    fn read_hash(&self, i: u64) -> Option<Hash> {
        let (start, v) = self.hash_record(i).ok()??;
        let at = usize::try_from(i - start).ok()?.checked_mul(32)?;
        let bytes = v.get(at..at + 32)?;
        Some(Hash(
            bytes.try_into().expect("invariant: slice is 32 bytes"),
        ))
    }
}

impl LogView for Store {
    fn size(&self) -> u64 {
        self.head.size
    }
    fn election(&self) -> Option<&ElectionRoot> {
        self.state.election.as_ref()
    }
    fn key(&self, key: &PublicKey) -> Option<KeyState> {
        self.state.keys.get(key).cloned()
    }
    fn chain_head(&self, author: &PublicKey) -> Option<(Seq, EventId)> {
        self.state.chains.get(author).copied()
    }
    fn event(&self, id: &EventId) -> Result<Option<EventFacts>, ViewError> {
        self.facts(id)
            .map(|f| f.map(|(_, f)| f))
            .map_err(|e| ViewError(e.to_string()))
    }
    fn complaint(&self, id: &EventId) -> Option<ComplaintState> {
        self.state.complaints.get(id).cloned()
    }
}

impl HashReader for Store {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles_error::Error> {
        indexes
            .iter()
            .map(|&i| {
                self.read_hash(i)
                    .ok_or(tlog_tiles_error::Error::IndexesNotInTree)
            })
            .collect()
    }
}

/// `tlog_tiles`' error type, named through core so this crate need not depend
/// on tlog_tiles directly.
mod tlog_tiles_error {
    pub use tallylog_core::merkle::TlogError as Error;
}

/// Stored hashes read through a cache filled a whole batch record at a time.
struct CachedHashes<'a> {
    store: &'a Store,
    cache: std::cell::RefCell<std::collections::HashMap<u64, Hash>>,
}

impl HashReader for CachedHashes<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles_error::Error> {
        let mut out = Vec::with_capacity(indexes.len());
        for &i in indexes {
            if let Some(h) = self.cache.borrow().get(&i) {
                out.push(*h);
                continue;
            }
            let (start, v) = self
                .store
                .hash_record(i)
                .ok()
                .flatten()
                .ok_or(tlog_tiles_error::Error::IndexesNotInTree)?;
            let mut cache = self.cache.borrow_mut();
            for (k, chunk) in v.chunks_exact(32).enumerate() {
                cache.insert(start + k as u64, Hash(chunk.try_into().expect("32 bytes")));
            }
            out.push(
                *cache
                    .get(&i)
                    .ok_or(tlog_tiles_error::Error::IndexesNotInTree)?,
            );
        }
        Ok(out)
    }
}

/// Stored hashes during an append: those on disk plus the batch's new ones.
struct PendingHashes<'a> {
    store: &'a Store,
    base: u64,
    new: Vec<Hash>,
}

impl HashReader for PendingHashes<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles_error::Error> {
        indexes
            .iter()
            .map(|&i| {
                if i >= self.base {
                    self.new
                        .get((i - self.base) as usize)
                        .copied()
                        .ok_or(tlog_tiles_error::Error::IndexesNotInTree)
                } else {
                    self.store.read_hashes(&[i]).map(|v| v[0])
                }
            })
            .collect()
    }
}

/// Opens a sled database with the store's bounded cache, waiting up to five
/// seconds for its file lock: a store closed by this same process a moment ago
/// releases the lock only when sled's background flusher has stopped. A lock
/// held longer means another process has the store.
pub fn open_sled(dir: &Path) -> Result<sled::Db, StoreError> {
    // sled reports a held lock as an `Other` I/O error with this message.
    let locked = |e: &std::io::Error| e.to_string().contains("could not acquire lock");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match sled::Config::new()
            .path(dir)
            // sled caches up to 1 GiB by default; the store's memory must stay
            // bounded well below the ledger's budget (issue 8: 256 MiB).
            .cache_capacity(CACHE_BYTES)
            .open()
        {
            Err(sled::Error::Io(e)) if locked(&e) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(sled::Error::Io(e)) if locked(&e) => {
                return Err(StoreError::Io {
                    context: format!(
                        "opening {}: another process is using this database (is a ledger or projector already running on it?)",
                        dir.display()
                    ),
                    source: e,
                })
            }
            other => return Ok(other?),
        }
    }
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("fsyncing a directory"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tallylog_core::sample;

    fn fsync_failed() -> StoreError {
        StoreError::Io {
            context: "fsyncing sled's data file".to_owned(),
            source: std::io::Error::from_raw_os_error(5),
        }
    }

    #[test]
    fn after_a_failed_fsync_appends_stop_and_the_store_is_marked_for_a_check() {
        // A real fsync failure cannot be provoked here: hand the store one.
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let first = store
            .poison_on(Err(fsync_failed()))
            .unwrap_err()
            .to_string();
        assert!(first.contains("fsyncing sled's data file"), "{first}");
        assert!(first.contains("then remove"), "{first}");
        let err = store
            .append_checked(sample::events(), &sample::log_signer())
            .expect_err("no appends after a failed fsync");
        let msg = err.to_string();
        assert!(matches!(err, StoreError::NeedsCheck { .. }), "{msg}");
        assert!(msg.contains("fsyncing sled's data file"), "{msg}");
        assert!(!msg.contains("failed too"), "{msg}");
        assert_eq!(store.head().size, 0);
        drop(store);
        let marked = std::fs::read_to_string(dir.path().join(NEEDS_CHECK)).unwrap();
        assert!(marked.contains("fsyncing sled's data file"), "{marked}");
        assert!(Store::open(dir.path()).is_err());
    }

    #[test]
    fn when_the_marker_cannot_be_written_the_error_says_so_rather_than_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        // A directory where the marker goes: writing it fails, even as root.
        std::fs::create_dir(dir.path().join(NEEDS_CHECK)).unwrap();
        assert!(store.poison_on(Err(fsync_failed())).is_err());
        let msg = store
            .append_checked(sample::events(), &sample::log_signer())
            .expect_err("no appends after a failed fsync")
            .to_string();
        assert!(msg.contains("failed too"), "{msg}");
        assert!(msg.contains("may open again without this warning"), "{msg}");
        assert!(!msg.contains("then remove"), "{msg}");
        assert_eq!(store.head().size, 0);
        drop(store);
        // Something at the marker's name that cannot be read refuses the
        // store too, as does an empty marker (a write torn by the failure).
        let refused = Store::open(dir.path()).err().expect("refused").to_string();
        assert!(refused.contains("cannot be read"), "{refused}");
        std::fs::remove_dir(dir.path().join(NEEDS_CHECK)).unwrap();
        std::fs::write(dir.path().join(NEEDS_CHECK), b"").unwrap();
        let refused = Store::open(dir.path()).err().expect("refused").to_string();
        assert!(refused.contains("the marker is empty"), "{refused}");
        std::fs::remove_file(dir.path().join(NEEDS_CHECK)).unwrap();
        assert!(Store::open(dir.path()).is_ok());
    }
}
